"""The SQL box's sandbox on its own: with the parse check switched off it still reaches only
the three customer tables (no users, audit log, files, settings or sequences); it follows
the store's changes, serves every acting_as copy of a store, works on a read-only
snapshot, stops long queries, and goes away with the store."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dashboard import Store, UserError, add_customer, add_demo_customers, sqlbox
from dashboard.snapshot import open_store, publish
from dashboard.sqlbox import run_sql
from dashboard.users import add_user


@pytest.fixture
def unchecked(demo, monkeypatch):
    """The demo store with the SQL box's parse check made a no-op: only the sandbox stands."""
    add_user(demo, "alice", "admin", "a long enough password")
    monkeypatch.setattr(sqlbox, "check_sql", lambda store, sql: sql.strip().rstrip(";"))
    return demo


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM users",
        "SELECT * FROM audit_log",
        "SELECT * FROM batches",
        "SELECT * FROM messages",
        "SELECT * FROM saved_views",
        "SELECT name, role, password_hash FROM (WITH users AS (SELECT 1) SELECT 1) a, users",
        "SELECT nextval('customer_id_seq')",
        "SELECT * FROM (SHOW 'users')",
    ],
)
def test_without_the_check_only_the_customer_tables_exist(unchecked, sql):
    with pytest.raises(UserError, match="does not exist"):
        run_sql(unchecked, sql)


def test_without_the_check_no_file_can_be_read(unchecked, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nTOP-SECRET-42\n")
    box = sqlbox._sandbox(unchecked)
    run_sql(unchecked, "SELECT 1 AS x")  # the copy exists: its own directory can be tried
    beside = box._dir / "beside.csv"
    beside.write_text("token\nTOP-SECRET-43\n")
    for path in (secret, beside, unchecked.path if unchecked.path != ":memory:" else secret):
        for sql in (f"SELECT * FROM '{path}'", f"SELECT * FROM read_csv('{path}')",
                    f"SELECT * FROM read_text('{path}')",
                    f"SELECT * FROM (WITH \"{path}\" AS (SELECT 1) SELECT 1) a, \"{path}\""):  # fmt: skip
            with pytest.raises(UserError, match="disabled by configuration"):
                run_sql(unchecked, sql)
    with pytest.raises(UserError, match="disabled by configuration"):
        run_sql(unchecked, "SELECT * FROM glob('/*')")


@pytest.mark.parametrize(
    "statement",
    [
        "SET enable_external_access = true",
        "SET memory_limit = '100GB'",
        "SET allowed_directories = ['/']",
        "RESET threads",
        "PRAGMA threads = 8",
        "ATTACH '/tmp/sqlbox-attack.duckdb' AS attack",
        "COPY (SELECT * FROM customers) TO '/tmp/sqlbox-attack.csv'",
        "EXPORT DATABASE '/tmp/sqlbox-attack'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE stolen AS SELECT * FROM customers",
        "CREATE SEQUENCE s",
        "DELETE FROM customers",
        "UPDATE customers SET credit = 0",
        "DROP TABLE customers",
    ],
)
def test_the_sandbox_refuses_every_change(demo, statement):
    """Statements sent straight to a worker, as a query that slipped past every check."""
    box = sqlbox._sandbox(demo)
    before = demo.rows("SELECT count(*), sum(credit) FROM customers")
    with box.worker(demo) as worker:
        with pytest.raises(UserError, match="the query failed"):
            _rows(worker, statement)
        settings = {
            r["name"]: r["value"]
            for r in _rows(worker, "SELECT name, value FROM duckdb_settings()")
        }
        copied = _rows(worker, "SELECT count(*) AS n FROM customers")
    assert settings["enable_external_access"] == "false"
    assert settings["lock_configuration"] == "true"
    # DuckDB's own spill directory, empty but for its spill files, is all it may open
    assert settings["allowed_directories"] == f"[{box._current.spill}/]"
    assert copied == [{"n": 400}]
    assert demo.rows("SELECT count(*), sum(credit) FROM customers") == before


def _rows(worker, sql: str) -> list[dict]:
    return [row for batch in worker.stream(sql, [], 100) for row in batch.to_pylist()]


def test_the_sandbox_follows_the_store(demo):
    assert run_sql(demo, "SELECT count(*) AS n FROM customers").data.n[0] == 400
    add_customer(demo, {"name": "Sandbox Follows Ltd", "currency": "USD"})
    result = run_sql(demo, "SELECT count(*) AS n FROM customers WHERE name LIKE 'Sandbox%'")
    assert result.data.n[0] == 1


def test_one_sandbox_per_store_shared_by_sessions_and_closed_with_it():
    store = Store(":memory:")
    add_demo_customers(store, 20, seed=3)
    viewer, editor = store.acting_as("v", "viewer"), store.acting_as("e", "editor")
    assert run_sql(viewer, "SELECT count(*) AS n FROM customers").data.n[0] == 20
    assert run_sql(editor, "SELECT count(*) AS n FROM customers").data.n[0] == 20
    box = sqlbox._sandbox(store)
    assert sqlbox._sandbox(viewer) is box and sqlbox._sandbox(editor) is box
    workers = list(box._idle)
    assert len(workers) == 1 and workers[0].proc.poll() is None  # one worker served both
    folder = box._dir
    assert folder.exists() and oct(folder.stat().st_mode & 0o777) == "0o700"
    store.close()
    assert not folder.exists()
    assert all(w.proc.poll() is not None for w in workers)
    with pytest.raises(UserError, match="closed"):
        run_sql(viewer, "SELECT 1 AS x")


def test_a_read_only_snapshot_runs_the_sql_box(tmp_path):
    db = tmp_path / "c.duckdb"
    with Store(db) as owner:
        add_demo_customers(owner, 30, seed=5)
        publish(owner)
        # while the owner holds the file, readers get its snapshot (the CLI's case)
        with open_store(db) as reader:
            assert reader.snapshot_of == str(db)
            assert run_sql(reader, "SELECT count(*) AS n FROM customers").data.n[0] == 30
    with Store(db, read_only=True) as reader:
        assert run_sql(reader, "SELECT count(*) AS n FROM contacts").data.n[0] > 0


def test_a_long_query_is_stopped_and_the_next_one_runs(demo, monkeypatch):
    monkeypatch.setattr(sqlbox, "TIME_LIMIT", 0.5)
    with pytest.raises(UserError, match="ran longer than"):
        run_sql(demo, "SELECT count(*) AS n FROM usage_daily a, usage_daily b, usage_daily c")
    assert run_sql(demo, "SELECT count(*) AS n FROM customers").data.n[0] == 400


def test_a_killed_process_leaves_no_copy_behind(demo):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"customer-dashboard-sql-{gone.pid}-"))
    (stale / "tables-1.duckdb").write_bytes(b"copy of the customer tables")
    run_sql(demo, "SELECT 1 AS x")  # a new sandbox sweeps up after dead processes
    assert not stale.exists()
    assert sqlbox._sandbox(demo)._dir.exists()
