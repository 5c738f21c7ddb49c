"""Ordered, recorded migrations; an older file opens in this version."""

from __future__ import annotations

import duckdb
import pytest

from dashboard import Store, migrations
from dashboard.errors import UserError
from dashboard.fields import CONTACT_FIELDS, CUSTOMER_FIELDS

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def test_every_registry_field_has_a_column_of_its_type(store):
    # the engine's catalogue, in DuckDB's type names (Postgres says bigint, numeric(18,4))
    cols = store.dialect.column_types(store.cursor(), "customers")
    for f in CUSTOMER_FIELDS:
        assert f.name in cols, f.name
        assert cols[f.name].replace(" ", "") == f.sql_type.replace(" ", ""), f.name
    contact_cols = set(store.dialect.column_types(store.cursor(), "contacts"))
    assert {f.name for f in CONTACT_FIELDS} <= contact_cols


def test_migrations_are_recorded_in_order(store):
    assert store.rows("SELECT version FROM schema_migrations ORDER BY version") == [
        (m.version,) for m in migrations.MIGRATIONS
    ]
    assert store.schema_version() == migrations.LATEST


def test_an_older_database_file_opens_and_is_migrated(db_path):
    con = duckdb.connect(str(db_path))
    assert migrations.migrate(con, target=1) == [1]
    con.execute(
        "INSERT INTO customers (name, name_key, status, currency) VALUES ('Old Co', 'old co', "
        "'Active', 'EUR')"
    )
    con.close()
    with Store(db_path) as s:
        assert s.schema_version() == migrations.LATEST
        assert s.scalar("SELECT name FROM customers") == "Old Co"
        assert s.scalar("SELECT count(*) FROM saved_views") == 0
    with Store(db_path) as s:  # opening again applies nothing twice
        assert s.scalar("SELECT count(*) FROM schema_migrations") == migrations.LATEST


def test_a_newer_database_is_refused_with_a_clear_message(db_path):
    with Store(db_path) as s:
        s.execute_write("INSERT INTO schema_migrations VALUES (999, 'future', now()::TIMESTAMP)")
    with pytest.raises(UserError, match="newer customer-dashboard"):
        Store(db_path)


def test_read_only_store_refuses_an_old_schema(db_path):
    con = duckdb.connect(str(db_path))
    migrations.migrate(con, target=1)
    con.close()
    with pytest.raises(UserError, match="open it once for writing"):
        Store(db_path, read_only=True)


def test_users_of_a_schema_5_database_get_a_generation_and_still_sign_in(db_path):
    from dashboard.users import hash_password, verify

    con = duckdb.connect(str(db_path))
    migrations.migrate(con, target=5)
    con.execute("INSERT INTO users VALUES ('ana', 'admin', ?, now()::TIMESTAMP, "
                "now()::TIMESTAMP)", [hash_password("ana's long password")])  # fmt: skip
    con.close()
    with Store(db_path) as s:
        assert s.schema_version() == migrations.LATEST >= 6
        assert s.rows("SELECT name, generation FROM users") == [("ana", 0)]
        assert verify(s, "ana", "ana's long password").generation == 0


def _first_release(db_path) -> None:
    """A database file as release 1 left it: the frozen step-1 SQL, two customers with a
    contact, and the add batch with its audit rows, written by hand as release 1 did."""
    con = duckdb.connect(str(db_path))
    con.execute(
        "CREATE TABLE schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    for sql in migrations.V1_SQL:
        con.execute(sql)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'customers, contacts, audit log', "
                "TIMESTAMP '2026-01-05 10:00:00')")  # fmt: skip
    con.execute(
        "INSERT INTO customers (name, name_key, status, currency, channels, debit_limit, tags, "
        "portal_access, created_at, updated_at) VALUES "
        "('Old Co', 'old co', 'Active', 'EUR', 30, 250.5, ['gold'], true, "
        " TIMESTAMP '2026-01-05 10:00:00', TIMESTAMP '2026-01-05 10:00:00'), "
        "('Older Ltd', 'older ltd', 'Inactive', 'GBP', 5, 0, [], false, "
        " TIMESTAMP '2026-01-05 10:00:00', TIMESTAMP '2026-01-05 10:00:00')"
    )
    con.execute(
        "INSERT INTO contacts (customer_id, position, name, email, mobile, sms_opt_out, "
        "email_opt_out) VALUES (1, 0, 'Ann', 'ann@old.example', '+447911123456', false, false)"
    )
    con.execute("INSERT INTO batches VALUES ('b-000000000001', TIMESTAMP '2026-01-05 10:00:00', "
                "'admin', 'add', 'add Old Co', 1, NULL, NULL)")  # fmt: skip
    con.execute(
        "INSERT INTO audit_log (batch_id, happened_at, user_name, action, customer_id, after) "
        "SELECT 'b-000000000001', TIMESTAMP '2026-01-05 10:00:00', 'admin', 'add', id, "
        "to_json(c) FROM customers c WHERE id = 1"
    )
    con.close()


def test_a_first_release_database_is_migrated_and_keeps_its_data(db_path):
    _first_release(db_path)
    from dashboard import customers
    from dashboard.undo import undo as undo_batch

    with Store(db_path, user="admin") as s:
        assert s.schema_version() == migrations.LATEST
        assert [v for (v,) in s.rows("SELECT version FROM schema_migrations ORDER BY 1")] == [
            m.version for m in migrations.MIGRATIONS
        ]
        old = customers.get_customer(s, 1)
        assert (old["name"], old["currency"], old["channels"], old["tags"]) == (
            "Old Co", "EUR", 30, ["gold"])  # fmt: skip
        assert str(old["debit_limit"]) == "250.5000"
        assert [c["email"] for c in customers.get_contacts(s, 1)] == ["ann@old.example"]
        assert customers.get_customer(s, 2)["status"] == "Inactive"
        # the release's history is still undoable with today's code, and new writes work
        assert s.scalar("SELECT count(*) FROM audit_log WHERE batch_id = 'b-000000000001'") == 1
        edit = customers.update_customer(s, 2, {"channels": 9})
        assert customers.get_customer(s, 2)["channels"] == 9
        undo_batch(s, edit.batch_id)
        assert customers.get_customer(s, 2)["channels"] == 5
        new = customers.add_customer(s, {"name": "New Co", "currency": "USD"})
        assert new.ids and new.ids[0] == 3  # the sequence carried on from the old rows
        assert s.scalar("SELECT count(*) FROM saved_views") == 0
        assert s.scalar("SELECT count(*) FROM usage_daily") == 0


def test_the_frozen_first_step_is_the_released_schema(store):
    # the tables the frozen SQL makes are the tables the current store has (plus later steps)
    con = duckdb.connect()
    for sql in migrations.V1_SQL:
        con.execute(sql)
    first = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "ORDER BY 1, ordinal_position"
    ).fetchall()
    now = {(table, column, spelled) for table in {t for t, _, _ in first}
           for column, spelled in store.dialect.column_types(store.cursor(), table).items()}  # fmt: skip
    assert set(first) <= now


def _table_with_index(con) -> None:
    con.execute("CREATE SEQUENCE t_id START 1")
    con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY DEFAULT nextval('t_id'), "
                "name VARCHAR NOT NULL, k VARCHAR NOT NULL)")  # fmt: skip
    con.execute("CREATE UNIQUE INDEX t_k ON t(k)")
    con.execute("INSERT INTO t (name, k) VALUES ('a', 'a'), ('b', 'b')")


def test_alter_table_add_required_column_fails_on_duckdb_with_an_index():
    # why add_column rebuilds: if DuckDB learns this, the rebuild can go
    con = duckdb.connect()
    _table_with_index(con)
    with pytest.raises(duckdb.Error, match="depend on it"):
        con.execute("ALTER TABLE t ADD COLUMN tier INTEGER NOT NULL DEFAULT 1")


def test_add_column_adds_a_required_column_with_a_default_by_rebuilding():
    con = duckdb.connect()
    _table_with_index(con)
    con.execute("BEGIN TRANSACTION")
    migrations.add_column(con, "t", "tier", "INTEGER", default=1, required=True)
    migrations.add_column(con, "t", "note", "VARCHAR")
    migrations.add_column(con, "t", "labels", "VARCHAR[]", default=["x"])
    con.execute("COMMIT")
    assert con.execute("SELECT id, name, k, tier, note, labels FROM t ORDER BY id").fetchall() == [
        (1, "a", "a", 1, None, ["x"]), (2, "b", "b", 1, None, ["x"])]  # fmt: skip
    nullable = dict(con.execute(
        "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 't'"
    ).fetchall())  # fmt: skip
    assert nullable["tier"] == "NO" and nullable["note"] == "YES"
    with pytest.raises(duckdb.Error):
        con.execute("INSERT INTO t (name, k, tier) VALUES ('c', 'c', NULL)")
    with pytest.raises(duckdb.Error):  # the unique index came back
        con.execute("INSERT INTO t (name, k) VALUES ('c', 'a')")
    con.execute("INSERT INTO t (name, k) VALUES ('c', 'c')")  # the id default too
    ((new_id, tier),) = con.execute("SELECT id, tier FROM t WHERE k = 'c'").fetchall()
    assert new_id > 2 and tier == 1


def test_add_column_needs_a_default_for_a_required_column_and_rolls_back_whole():
    con = duckdb.connect()
    _table_with_index(con)
    with pytest.raises(ValueError, match="needs a default"):
        migrations.add_column(con, "t", "tier", "INTEGER", required=True)
    con.execute("BEGIN TRANSACTION")
    migrations.add_column(con, "t", "tier", "INTEGER", default=1, required=True)
    con.execute("ROLLBACK")
    cols = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't'").fetchall()]  # fmt: skip
    assert cols == ["id", "name", "k"]
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(2,)]


def test_add_field_adds_a_registry_fields_column_to_the_customers_table(store):
    from dashboard.fields import Field
    from dashboard.types import Choice

    tier = Field("tier", "Tier", Choice(choices=("A", "B")), "Basic", required=True,
                 default="B", since=7)  # fmt: skip
    store.execute_write(
        "INSERT INTO customers (name, name_key, status, currency) VALUES ('X', 'x', 'Active', 'EUR')"
    )
    with store.transaction() as cur:
        migrations.add_field(cur, "customers", tier)
    assert store.rows("SELECT name, tier FROM customers") == [("X", "B")]
