"""Live refresh across processes on PostgreSQL (dashboard.live, LISTEN/NOTIFY): a write
another process commits reaches this process's listeners; a rolled-back one reaches nobody;
the listening connection comes back after the server drops it. The writers are real other
processes (the CLI, `python -c`), so this process's own fan-out cannot stand in for them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from dashboard import customers, live

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

ROOT = Path(__file__).resolve().parents[1]


class Page:
    """Stands for a served page: counts how often it was told, and when."""

    def __init__(self) -> None:
        self.told: list[float] = []
        self.event = threading.Event()

    def told_of_change(self) -> None:
        self.told.append(time.monotonic())
        self.event.set()

    def wait(self, timeout: float) -> bool:
        got = self.event.wait(timeout)
        self.event.clear()
        return got


def _url(store) -> str:
    return store._url  # noqa: SLF001 - the test's own throw-away database, password-free


def _listeners(url: str) -> list[int]:
    """The backends LISTENing on the database, as Postgres itself reports them."""
    with psycopg.connect(url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()").fetchall()]  # fmt: skip


def _wait_listening(url: str, timeout: float = 10, other_than: int | None = None) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = [p for p in _listeners(url) if p != other_than]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no connection LISTENs on the database within {timeout} s")


def _python(code: str) -> subprocess.CompletedProcess:
    """Run `code` in another Python process (the worktree's dashboard package)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_a_write_committed_by_another_process_reaches_this_process_within_a_second(demo):
    url = _url(demo)
    page = Page()
    listening = live.listen(demo.acting_as("ann", "editor"), page.told_of_change)
    _wait_listening(url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    cli = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "edit", "--ids", "1",
                            "--set", "channels=7", "--db", url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    out, err = cli.communicate(timeout=120)
    committed = time.monotonic()
    assert cli.returncode == 0, err
    assert page.wait(5), "the other process's write never reached this process's listener"
    # told at the commit (between the CLI's start and its exit), not at some later poll
    assert started < page.told[0] < committed + 1.0
    assert demo.scalar("SELECT channels FROM customers WHERE id = 1") == 7
    listening.close()


def test_a_rolled_back_or_refused_write_tells_nobody(demo):
    url = _url(demo)
    page = Page()
    listening = live.listen(demo, page.told_of_change)
    _wait_listening(url)
    _python(f"""
from dashboard import Store, customers
from dashboard.audit import open_batch
from dashboard.errors import ValidationError
from dashboard.store import Rollback
with Store({url!r}) as s:
    with s.transaction() as cur:        # a batch opened, then rolled back
        open_batch(cur, "edit", "ann")
        cur.execute("UPDATE customers SET channels = 99 WHERE id = 2")
        raise Rollback
    try:                                # refused: nothing written
        customers.update_customer(s, 2, {{"channels": -5}})
        raise SystemExit("a negative number of channels was accepted")
    except ValidationError:
        pass
    with s.transaction() as cur:        # committed, but no batch: no customer data written
        cur.execute("SELECT 1")
""")
    assert not page.wait(1.5), "a write that was rolled back told a listener"
    assert page.told == []
    assert demo.scalar("SELECT channels FROM customers WHERE id = 2") != 99
    # the same listener is told of a write that commits (the test could fail)
    _python(f"""
from dashboard import Store, customers
with Store({url!r}) as s:
    customers.update_customer(s, 2, {{"channels": 3}})
""")
    assert page.wait(5) and len(page.told) == 1
    listening.close()


def test_the_listener_comes_back_after_its_connection_is_terminated(demo):
    url = _url(demo)
    page = Page()
    listening = live.listen(demo, page.told_of_change)
    first = _wait_listening(url)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", [first]).fetchone()[0]
    second = _wait_listening(url, other_than=first)
    assert second != first
    page.wait(5)  # back: told once, since what was committed meanwhile reached nobody
    page.told.clear()
    _python(f"""
from dashboard import Store, customers
with Store({url!r}) as s:
    customers.update_customer(s, 3, {{"channels": 4}})
""")
    assert page.wait(5), "after its connection was terminated, the listener heard nothing"
    listening.close()


def test_this_process_is_told_once_of_its_own_write_and_the_listener_stops_with_the_store(
    demo,
):
    url = _url(demo)
    page = Page()
    listening = live.listen(demo, page.told_of_change)
    _wait_listening(url)
    customers.update_customer(demo, 4, {"channels": 5})
    assert page.wait(1) and len(page.told) == 1  # by live.changed, at once
    time.sleep(1)  # its own notice, arriving on the listening connection, is not a second tell
    assert len(page.told) == 1
    listening.close()
    demo.close()
    end = time.monotonic() + 5
    while _listeners(url) and time.monotonic() < end:
        time.sleep(0.05)
    assert _listeners(url) == []
