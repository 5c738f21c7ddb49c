"""The gateway: transactions all-or-nothing, one writer process, clear busy messages."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from dashboard import Store, add_customer
from dashboard.errors import DatabaseBusyError, UserError
from dashboard.store import server_file

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def test_a_failed_transaction_leaves_nothing_behind(store):
    with pytest.raises(RuntimeError), store.transaction() as cur:
        cur.execute(
            "INSERT INTO customers (name, name_key, status, currency) "
            "VALUES ('Half', 'half', 'Active', 'USD')"
        )
        raise RuntimeError("power cut")
    assert store.scalar("SELECT count(*) FROM customers") == 0
    assert store.scalar("SELECT count(*) FROM batches") == 0


def test_read_only_store_refuses_writes(db_path):
    Store(db_path).close()
    with Store(db_path, read_only=True) as ro, pytest.raises(UserError, match="read-only"):
        add_customer(ro, {"name": "X", "currency": "USD"})


def test_read_only_open_of_a_missing_file_says_how_to_create_it(tmp_path):
    with pytest.raises(UserError, match="customer-dashboard init"):
        Store(tmp_path / "nope.duckdb", read_only=True)


def test_a_database_held_by_another_process_is_named_not_a_traceback(db_path):
    Store(db_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(db_path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        server_file(db_path).write_text(
            json.dumps({"pid": holder.pid, "url": "http://127.0.0.1:5999"})
        )
        with pytest.raises(DatabaseBusyError) as info:
            Store(db_path)
        message = str(info.value)
        assert f"pid {holder.pid}" in message and "http://127.0.0.1:5999" in message
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        server_file(db_path).unlink(missing_ok=True)


def test_change_token_moves_with_every_write(store):
    before = store.change_token()
    time.sleep(0.001)
    add_customer(store, {"name": "Token Co", "currency": "USD"})
    assert store.change_token() != before


def test_cursors_are_per_thread(store):
    import threading

    seen = []
    t = threading.Thread(target=lambda: seen.append(store.cursor()))
    t.start()
    t.join()
    assert seen[0] is not store.cursor()


@pytest.mark.parametrize(("name", "content"), [("customers.csv", b"Company,Currency\nA,EUR\n"),
                                               ("data.duckdb", b"not a database" * 20),
                                               ("empty.duckdb", b"")])  # fmt: skip
def test_db_that_is_not_a_duckdb_file_is_refused_by_the_cli(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    for args in (["init", "--demo", "3"], ["batches"], ["users", "list"]):
        done = subprocess.run([sys.executable, "-m", "dashboard.cli", *args, "--db", str(path)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "is not a DuckDB database" in done.stderr and "Traceback" not in done.stderr
    assert path.read_bytes() == content
    with pytest.raises(UserError, match="not a DuckDB database"):
        Store(path)
