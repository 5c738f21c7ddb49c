"""A full disk and a read-only database file: a clear message, nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dashboard import Store, add_demo_customers

FULL_DISK = r"""
import resource, signal, sys
from dashboard.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
# no file may grow past 256 KB: the bulk edit's write-ahead log cannot be written
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "customers.duckdb"
    with Store(path) as store:
        add_demo_customers(store, 20_000, seed=2, usage_days=0)
    return path


def _facts(path):
    with Store(path, read_only=True) as s:
        return s.rows("SELECT count(*), sum(channels), (SELECT count(*) FROM batches), "
                      "(SELECT count(*) FROM audit_log) FROM customers")  # fmt: skip


def test_a_full_disk_is_a_clear_message_and_nothing_is_written(db):
    before = _facts(db)
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, "edit", "--db", str(db), "--set", "channels=+1",
         "--where", "channels>=0"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "nothing was written" in done.stderr and "the disk is full" in done.stderr
    assert "Traceback" not in done.stderr
    assert _facts(db) == before
    # and the database works afterwards
    with Store(db) as store:
        assert store.scalar("SELECT count(*) FROM customers") == 20_000


@pytest.fixture
def read_only_db(db):
    """The database file and its folder made read-only (chattr +i when running as root, where
    file modes do not stop writes)."""
    folder = db.parent
    if os.getuid() == 0:
        made = [subprocess.run(["chattr", "+i", str(p)], capture_output=True) for p in (db, folder)]
        if any(m.returncode for m in made):
            for p in (db, folder):
                subprocess.run(["chattr", "-i", str(p)], capture_output=True)
            pytest.skip("running as root without CAP_LINUX_IMMUTABLE: a file cannot be made "
                        "read-only for root here")  # fmt: skip
        yield db
        for p in (folder, db):
            subprocess.run(["chattr", "-i", str(p)], check=True)
    else:
        db.chmod(0o444)
        folder.chmod(0o555)
        yield db
        folder.chmod(0o755)
        db.chmod(0o644)


def test_a_read_only_database_is_a_clear_message(read_only_db):
    before = _facts(read_only_db)
    done = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "edit", "--db", str(read_only_db), "--set",
         "channels=+1", "--where", "channels>=0"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "is read-only here, so nothing can be written" in done.stderr
    assert "Traceback" not in done.stderr
    assert _facts(read_only_db) == before
    pivot = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "pivot", "--db", str(read_only_db), "--rows",
         "status", "--format", "csv"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert pivot.returncode == 0 and pivot.stdout.strip().endswith("Total,20000")
