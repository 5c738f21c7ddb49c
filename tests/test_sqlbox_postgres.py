"""The SQL box on PostgreSQL: queries run as a read-only role granted SELECT on the three
customer tables only, inside a READ ONLY transaction with a time limit. Each wall is tested
with the others out of the way: the role on a connection of its own (no check, a read-write
transaction), the READ ONLY transaction with the role given more than it should have, and
the parse check through the page's path."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest

from dashboard import Store, UserError, sqlbox
from dashboard.sqlbox import run_sql
from dashboard.sqlbox_pg import reader_role
from dashboard.tokens import add_token
from dashboard.users import add_user


@pytest.fixture
def backend():
    """Every test here runs on Postgres (the `store` and `demo` fixtures follow this)."""
    return "postgres"


@pytest.fixture
def pg(demo):
    """The demo database with a user and a token (rows the SQL box must never reach), and
    the SQL box's reader role made by a first query."""
    add_user(demo, "alice", "admin", "a long enough password")
    add_token(demo, "alice", label="secret")
    assert run_sql(demo, "SELECT count(*) AS n FROM customers").data.n[0] == 400
    return demo


@pytest.fixture
def owner(pg_server, pg):
    """A connection as the dashboard's own database user (the test server's superuser)."""
    with psycopg.connect(pg_server.url(database(pg)), autocommit=True) as conn:
        yield conn


def database(store: Store) -> str:
    return store.scalar("SELECT current_database()")


@pytest.fixture
def unchecked(pg, monkeypatch):
    """The SQL box's parse check made a no-op: only Postgres's walls stand."""
    monkeypatch.setattr(sqlbox, "check_sql", lambda store, sql: sql.strip().rstrip(";"))
    return pg


def test_selects_over_the_three_tables_run_with_the_row_limit(pg):
    got = run_sql(pg, "SELECT status, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1")
    assert dict(zip(got.data.status, got.data.n, strict=True)) == dict(
        pg.rows("SELECT status, count(*) FROM customers GROUP BY 1"))  # fmt: skip
    joined = run_sql(pg, """SELECT c.name, count(k.id) AS contacts, sum(u.calls) AS calls
        FROM customers c JOIN contacts k ON k.customer_id = c.id
        LEFT JOIN usage_daily u ON u.customer_id = c.id WHERE c.name ILIKE '%a%'
        GROUP BY 1 ORDER BY 1 LIMIT 5""")  # fmt: skip
    assert len(joined.data) == 5
    capped = run_sql(pg, "SELECT * FROM usage_daily", limit=7)
    assert len(capped.data) == 7 and capped.truncated and "first 7 rows" in capped.notice
    assert "tags" in run_sql(pg, "SELECT * FROM customers LIMIT 1").data.columns


# --- the role, alone ---------------------------------------------------------------------

REFUSED_TO_THE_ROLE = [
    "SELECT * FROM users",
    "SELECT * FROM api_tokens",
    "SELECT * FROM audit_log",
    "SELECT * FROM batches",
    "SELECT * FROM messages",
    "SELECT * FROM rates",
    "SELECT * FROM saved_views",
    "SELECT * FROM schema_migrations",
    "SELECT * FROM sqlbox_reader",
    "SELECT * FROM pg_authid",
    "SELECT * FROM pg_shadow",
    "SELECT nextval('customer_id_seq')",
    "INSERT INTO customers (name, name_key, status, currency) VALUES ('X', 'x', 'Active', 'EUR')",
    "UPDATE customers SET channels = 1",
    "DELETE FROM contacts",
    "CREATE TABLE public.stolen (a int)",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/customer-dashboard-owned'",
    "SET ROLE postgres",
    "SET SESSION AUTHORIZATION postgres",
    "SELECT set_config('role', 'postgres', false)",
]


def test_the_reader_role_alone_reaches_only_the_three_tables(pg):
    """On a connection of the role's own, in read-write transactions, with no check: the
    role's privileges are the wall."""
    conninfo = sqlbox._sandbox(pg)._reader_conninfo(pg)
    before = pg.scalar("SELECT count(*) FROM customers")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == before
        for sql in REFUSED_TO_THE_ROLE:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        # RESET ROLE leaves it itself: it was never anyone else
        conn.execute("RESET ROLE")
        conn.execute("RESET SESSION AUTHORIZATION")
        assert conn.execute("SELECT current_user, session_user").fetchone() == (
            reader_role(database(pg)), reader_role(database(pg)))  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM users")
    assert pg.scalar("SELECT count(*) FROM customers") == before
    assert pg.scalar("SELECT count(*) FROM contacts") > 0


@pytest.mark.parametrize("sql", ["SELECT * FROM users", "SELECT * FROM api_tokens",
                                 "SELECT * FROM pg_authid", "SELECT passwd FROM pg_shadow",
                                 "SELECT * FROM sqlbox_reader"])  # fmt: skip
def test_without_the_check_the_box_still_cannot_read_other_tables(unchecked, sql):
    with pytest.raises(UserError, match="permission denied") as refused:
        run_sql(unchecked, sql)
    assert "Traceback" not in str(refused.value) and "password_hash" not in str(refused.value)


# --- the READ ONLY transaction, alone -------------------------------------------------------


def test_the_transaction_is_read_only_even_for_a_role_given_too_much(unchecked, owner):
    """The role is given INSERT (a mistake an operator could make) and a function that
    writes: the READ ONLY transaction still refuses the write, and set_config cannot
    lift it."""
    role = reader_role(database(unchecked))
    owner.execute(f'GRANT INSERT, UPDATE ON customers TO "{role}"')
    owner.execute(f'GRANT USAGE ON SEQUENCE customer_id_seq TO "{role}"')
    owner.execute("""CREATE FUNCTION sneak() RETURNS int LANGUAGE sql AS $$
        INSERT INTO customers (name, name_key, status, currency)
        VALUES ('Sneaky', 'sneaky', 'Active', 'EUR') RETURNING 1 $$""")
    # a role may change its own defaults (outside the SQL box, whose transaction forbids
    # it): the box's sessions set their own
    conninfo = sqlbox._sandbox(unchecked)._reader_conninfo(unchecked)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        for where in ("", f' IN DATABASE "{database(unchecked)}"'):
            conn.execute(f"ALTER ROLE CURRENT_USER{where} SET default_transaction_read_only = off")
            conn.execute(f"ALTER ROLE CURRENT_USER{where} SET statement_timeout = 0")
    before = unchecked.scalar("SELECT count(*) FROM customers")
    for sql in (
        "SELECT sneak() AS x",
        "SELECT set_config('transaction_read_only', 'off', true) AS a, sneak() AS x",
        "SELECT set_config('default_transaction_read_only', 'off', false) AS a",
        "SELECT sneak() AS x",  # (after the query above, in a new transaction)
    ):
        try:
            run_sql(unchecked, sql)
        except UserError as exc:
            assert "Traceback" not in str(exc)
    with pytest.raises(UserError, match="nothing can be changed"):
        run_sql(unchecked, "SELECT sneak() AS x")
    assert unchecked.scalar("SELECT count(*) FROM customers") == before


# --- the check, and what the person sees -------------------------------------------------


@pytest.mark.parametrize("sql", [
    "INSERT INTO customers (name) VALUES ('x')", "UPDATE customers SET channels = 1",
    "DELETE FROM customers", "CREATE TABLE x (a int)", "COPY (SELECT 1) TO PROGRAM 'id'",
    "SET ROLE postgres", "RESET ROLE", "SET SESSION AUTHORIZATION postgres",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT * FROM users", "SELECT * FROM pg_authid", "SELECT * FROM pg_shadow",
    "SELECT 1; SELECT * FROM users", "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_ls_dir('.')", "SELECT pg_advisory_lock(1)", "SELECT lo_import('/etc/passwd')",
    "SELECT table_to_xml('users', true, false, '')", "SELECT pg_terminate_backend(1)",
])  # fmt: skip
def test_what_the_box_refuses_is_said_in_one_line(pg, sql):
    before = pg.scalar("SELECT count(*) FROM customers")
    with pytest.raises(UserError) as refused:
        run_sql(pg, sql)
    assert "\n" not in str(refused.value) and "Traceback" not in str(refused.value)
    assert pg.scalar("SELECT count(*) FROM customers") == before


def test_a_query_past_the_time_limit_is_stopped_and_the_next_one_runs(pg, monkeypatch):
    monkeypatch.setattr(sqlbox, "TIME_LIMIT", 1.0)
    started = time.monotonic()
    with pytest.raises(UserError, match="ran longer than 1 s and was stopped"):
        run_sql(pg, "SELECT pg_sleep(30) AS slept")
    assert time.monotonic() - started < 10
    assert run_sql(pg, "SELECT count(*) AS n FROM customers").data.n[0] == 400


def test_the_role_itself_times_out_a_query(pg):
    """The role's own statement_timeout: a session of it that lifted nothing is stopped
    even without the SQL box's timer."""
    conninfo = sqlbox._sandbox(pg)._reader_conninfo(pg)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        timeout = conn.execute("SHOW statement_timeout").fetchone()[0]
        readonly = conn.execute("SHOW default_transaction_read_only").fetchone()[0]
    assert timeout == f"{int(sqlbox.TIME_LIMIT)}s" and readonly == "on"


def test_the_cli_says_no_in_one_line(pg):
    url = pg.path  # (no password on the test server)
    for sql in ("SELECT * FROM users", "SELECT pg_read_file('/etc/passwd')"):
        done = subprocess.run([sys.executable, "-m", "dashboard.cli", "sql", "--db", url, sql],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_user_who_may_not_make_the_role_is_told_what_to_do(pg_server, pg, owner):
    pg_server.admin("DROP ROLE IF EXISTS plain_owner")
    pg_server.admin("CREATE ROLE plain_owner LOGIN NOCREATEROLE")
    owner.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO plain_owner")
    try:
        url = pg_server.url(database(pg)).replace("postgres@", "plain_owner@")
        with Store(url, migrate=False) as plain:
            with pytest.raises(UserError, match="CREATEROLE"):
                run_sql(plain, "SELECT count(*) AS n FROM customers")
    finally:
        owner.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM plain_owner")
        pg_server.admin("DROP ROLE plain_owner")


#: NUMERIC/DECIMAL results of every kind: a column as stored, an aggregate (unconstrained
#: NUMERIC on Postgres), a negative one (a CSV cell starting "-" is text made safe when it
#: is text), and a literal.
DECIMALS = ("SELECT credit, (SELECT sum(credit) FROM customers) AS total, -abs(credit) - 0.5 AS negative, "
            "CAST(2.25 AS DECIMAL(6,2)) AS literal FROM customers WHERE id = 1")  # fmt: skip


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_decimal_results_come_back_as_numbers_on_both_engines(demo, tmp_path):
    import openpyxl
    import pandas as pd

    credit = float(demo.scalar("SELECT credit FROM customers WHERE id = 1"))
    total = float(demo.scalar("SELECT sum(credit) FROM customers"))
    want = [credit, total, -abs(credit) - 0.5, 2.25]
    shown = run_sql(demo, DECIMALS).data
    assert [shown[c].dtype.kind for c in shown.columns] == ["f"] * 4
    assert shown.iloc[0].tolist() == pytest.approx(want)
    sqlbox.export_sql(demo, DECIMALS, tmp_path / "d.csv")
    read = pd.read_csv(tmp_path / "d.csv")
    assert [read[c].dtype.kind for c in read.columns] == ["f"] * 4, (tmp_path / "d.csv").read_text()
    assert read.iloc[0].tolist() == pytest.approx(want)
    sqlbox.export_sql(demo, DECIMALS, tmp_path / "d.xlsx")
    cells = [c.value for c in next(openpyxl.load_workbook(tmp_path / "d.xlsx").active.iter_rows(
        min_row=2, max_row=2))]  # fmt: skip
    assert all(isinstance(v, float | int) for v in cells), cells
    assert cells == pytest.approx(want)
