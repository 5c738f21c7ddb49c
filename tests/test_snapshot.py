"""Reading a database another process owns: the owner publishes a snapshot after each
change; readers (this process, the CLI) open it. Real processes throughout."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dashboard import DatabaseBusyError, View, run
from dashboard.snapshot import Publisher, open_store, snapshot_path, taken_at, wait_for_snapshot
from tests.browser import served

WRITER = """
import sys
from dashboard import Store, add_customer, add_demo_customers
from dashboard.snapshot import Publisher
store = Store(sys.argv[1])
add_demo_customers(store, 200, seed=7)
publisher = Publisher(store, poll=0.2).start() if sys.argv[2] == "publish" else None
print("ready", flush=True)
for line in sys.stdin:
    if not line.strip():
        break
    add_customer(store, {"name": line.strip(), "status": "Pending Approval", "currency": "USD"})
    print("added", flush=True)
if publisher:
    publisher.stop()
store.close()
"""


class Writer:
    def __init__(self, db, publish=True):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), "publish" if publish else "no"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout.readline().strip() == "ready"

    def add(self, name):
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "added"

    def close(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=30)


def _names(db) -> set[str]:
    with open_store(db) as store:
        return {n for (n,) in store.rows("SELECT name FROM customers")}


def _eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "customers.duckdb"


def test_reader_sees_the_owners_changes_within_seconds(db):
    writer = Writer(db)
    try:
        wait_for_snapshot(db)
        with open_store(db) as store:
            assert store.snapshot_of == str(db)
            assert store.scalar("SELECT count(*) FROM customers") == 200
            assert taken_at(store) is not None
            held = store.scalar("SELECT count(*) FROM customers")
            writer.add("Snapshot Reader Test Ltd")
            assert _eventually(lambda: "Snapshot Reader Test Ltd" in _names(db))
            # a reader that kept the older copy open keeps reading it undisturbed
            assert store.scalar("SELECT count(*) FROM customers") == held
        with open_store(db) as fresh:
            result = run(fresh, View(status="Pending Approval", search="Snapshot Reader"))
            assert list(result.data["name"]) == ["Snapshot Reader Test Ltd"]
    finally:
        writer.close()
    # once the owner is gone the file itself opens
    with open_store(db) as store:
        assert store.snapshot_of is None
        assert store.scalar("SELECT count(*) FROM customers") == 201


def test_cli_read_commands_use_the_snapshot(db, tmp_path):
    writer = Writer(db)
    try:
        wait_for_snapshot(db)
        writer.add("Cli Snapshot Carrier")
        assert _eventually(lambda: "Cli Snapshot Carrier" in _names(db))
        out = tmp_path / "pending.csv"
        done = subprocess.run(
            [sys.executable, "-m", "dashboard.cli", "export", str(out), "--db", str(db),
             "--where", "name=Cli Snapshot Carrier"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Cli Snapshot Carrier" in out.read_text()
        pivot = subprocess.run(
            [sys.executable, "-m", "dashboard.cli", "pivot", "--db", str(db), "--rows", "status",
             "--format", "csv"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert pivot.returncode == 0, pivot.stderr
        with open_store(db) as store:
            pending = store.scalar(
                "SELECT count(*) FROM customers WHERE status = 'Pending Approval'"
            )
        assert f"Pending Approval,{pending}" in pivot.stdout
    finally:
        writer.close()


def test_without_a_snapshot_the_message_says_what_to_do(db):
    writer = Writer(db, publish=False)
    try:
        assert not snapshot_path(db).exists()
        with pytest.raises(DatabaseBusyError, match="no snapshot to read"):
            open_store(db)
    finally:
        writer.close()


def test_the_dashboard_server_publishes_a_snapshot(tmp_path):
    db = tmp_path / "served.duckdb"
    with served(db, demo=150):
        wait_for_snapshot(db)
        with open_store(db) as store:
            assert store.snapshot_of == str(db)
            assert store.scalar("SELECT count(*) FROM customers") == 150
            assert store.scalar("SELECT count(*) FROM usage_daily") > 0


def _published_after(publisher, count, timeout=10.0):
    return _eventually(lambda: publisher.published >= count, timeout)


def test_a_restarted_server_keeps_a_current_snapshot_and_copies_after_a_change(db):
    """A copy is a full scan (seconds of CPU at 1M customers): a server started on an
    unchanged database reuses the snapshot it finds; a change still gets a new one."""
    from dashboard import Store, add_customer, add_demo_customers
    from dashboard.snapshot import published_state, state

    store = Store(db)
    try:
        add_demo_customers(store, 50, seed=3)
        first = Publisher(store, poll=0.05).start()
        assert _published_after(first, 1)
        first.stop()
        assert published_state(db) == state(store)
        link = snapshot_path(db).resolve()

        again = Publisher(store, poll=0.05).start()
        time.sleep(0.5)  # several polls: none may copy
        assert again.published == 0 and again.reused
        assert snapshot_path(db).resolve() == link

        add_customer(store, {"name": "After Restart", "status": "Active", "currency": "EUR"})
        assert _published_after(again, 1)
        again.stop()
        assert snapshot_path(db).resolve() != link
        assert published_state(db) == state(store)

        # a change of shape without a batch (as a migration makes) is a change too
        store.execute("CREATE TABLE later_table (x INTEGER)")
        third = Publisher(store, poll=0.05).start()
        assert _published_after(third, 1)
        third.stop()
    finally:
        store.close()


def test_copies_pause_in_proportion_to_their_cost(db, monkeypatch):
    """After a copy that took d seconds the next waits PAUSE_FACTOR x d: with a huge
    factor, a second change is not copied while the pause lasts."""
    from dashboard import Store, add_customer, add_demo_customers, snapshot

    monkeypatch.setattr(snapshot, "PAUSE_FACTOR", 10_000.0)
    monkeypatch.setattr(snapshot, "PAUSE_FROM", 0.0)
    store = Store(db)
    try:
        add_demo_customers(store, 20, seed=4)
        publisher = Publisher(store, poll=0.05).start()
        assert _published_after(publisher, 1)
        add_customer(store, {"name": "Waits", "status": "Active", "currency": "EUR"})
        time.sleep(0.6)
        assert publisher.published == 1
        publisher.stop()
    finally:
        store.close()


PUBLISHER = """
import sys, threading
from dashboard import Store, add_demo_customers
from dashboard.snapshot import publish
store = Store(sys.argv[1])
add_demo_customers(store, 20, seed=7)
publish(store)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), done.set()), daemon=True).start()
print("ready", flush=True)
while not done.is_set():
    publish(store)  # a new copy replaces the last one, as fast as the machine goes
store.close()
"""


def test_a_reader_opens_a_copy_while_newer_ones_replace_it(db):
    """The server replaces its snapshot (and removes the older copy) whenever data changed: a
    reader that read the link just before must open the newer copy, not fail on the gone
    one ("Cannot open database ... snapshot.<n> ... does not exist")."""
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(300):
            with open_store(db) as store:
                assert store.snapshot_of == str(db)
                assert store.scalar("SELECT count(*) FROM customers") == 20
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
