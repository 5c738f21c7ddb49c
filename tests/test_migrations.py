"""Ordered, recorded migrations; an older file opens in this version."""

from __future__ import annotations

import duckdb
import pytest

from dashboard import Store, migrations
from dashboard.errors import UserError
from dashboard.fields import CONTACT_FIELDS, CUSTOMER_FIELDS


def test_every_registry_field_has_a_column_of_its_type(store):
    cols = dict(store.rows(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'customers'"))  # fmt: skip
    for f in CUSTOMER_FIELDS:
        assert f.name in cols, f.name
        assert cols[f.name].replace(" ", "") == f.sql_type.replace(" ", ""), f.name
    contact_cols = {r[0] for r in store.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'contacts'")}  # fmt: skip
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
