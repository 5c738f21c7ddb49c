"""Backups and restores: a consistent copy (also while the dashboard serves the file),
a restore that checks the backup first and keeps what it replaces."""

from __future__ import annotations

import pytest

from dashboard import Store, UserError, add_customer, add_demo_customers
from dashboard.backup import backup, restore
from dashboard.cli import main
from dashboard.users import add_user, verify
from tests.browser import served


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "customers.duckdb"
    with Store(path) as store:
        add_demo_customers(store, 150, seed=5)
        add_user(store, "ana", "admin", "correct horse battery")
    return path


def _facts(path):
    with Store(path, read_only=True) as s:
        return s.rows("SELECT count(*), sum(credit), (SELECT count(*) FROM contacts), "
                      "(SELECT count(*) FROM audit_log), (SELECT count(*) FROM usage_daily) "
                      "FROM customers")  # fmt: skip


def test_backup_and_restore_round_trip(db, tmp_path):
    out = tmp_path / "backups" / "monday.duckdb"
    before = _facts(db)
    backup(db, out)
    assert _facts(out) == before
    with Store(db) as store:
        add_customer(store, {"name": "After Backup Ltd", "currency": "EUR"})
    kept = restore(out, db)
    assert _facts(db) == before
    assert kept is not None and kept.exists()
    with Store(db) as store:
        assert verify(store, "ana", "correct horse battery") is not None
        # sequences came back too: a new customer gets a fresh id
        batch = add_customer(store, {"name": "New After Restore", "currency": "USD"})
        assert batch.ids[0] > 150


def test_backup_refuses_to_overwrite(db, tmp_path):
    out = tmp_path / "b.duckdb"
    out.write_text("keep me")
    with pytest.raises(UserError, match="exists"):
        backup(db, out)
    assert out.read_text() == "keep me"


def test_restore_checks_the_backup_first(db, tmp_path):
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_bytes(b"not a database at all" * 100)
    before = _facts(db)
    with pytest.raises(UserError, match="not a DuckDB database|not a usable backup"):
        restore(bogus, db)
    other = tmp_path / "other.duckdb"
    import duckdb

    duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(UserError, match="not a customer-dashboard backup|not a usable"):
        restore(other, db)
    assert _facts(db) == before


def test_backup_while_served_and_restore_refused(db, tmp_path, capsys):
    out = tmp_path / "served-backup.duckdb"
    with served(db, demo=0):
        assert main(["backup", str(out), "--db", str(db)]) == 0
        assert main(["restore", str(out), "--db", str(db), "--yes"]) == 1
        assert "stop it, restore" in capsys.readouterr().err
    assert _facts(out) == _facts(db)


def test_a_backup_gets_the_database_files_mode_never_wider_than_0600_with_users(db, tmp_path):
    import os
    import stat

    def mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)

    os.chmod(db, 0o640)
    backup(db, tmp_path / "with-users.duckdb")
    assert mode(tmp_path / "with-users.duckdb") == 0o600  # the users table: owner only
    os.chmod(db, 0o600)
    backup(db, tmp_path / "private.duckdb")
    assert mode(tmp_path / "private.duckdb") == 0o600
    plain = tmp_path / "no-users.duckdb"
    with Store(plain) as store:
        add_demo_customers(store, 5, seed=1, usage_days=0)
    os.chmod(plain, 0o640)
    backup(plain, tmp_path / "no-users-copy.duckdb")
    assert mode(tmp_path / "no-users-copy.duckdb") == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left over


def test_a_backup_request_never_overwrites_a_file(db, tmp_path):
    import json

    from dashboard.backup import request_dir, serve_requests

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    folder = request_dir(db)
    folder.mkdir()
    (folder / "r1.backup.json").write_text(json.dumps({"out": str(victim)}))
    with Store(db) as store:
        assert serve_requests(store) == 1
    answer = json.loads((folder / "r1.done.json").read_text())
    assert "exists" in answer["error"] and victim.read_text() == "keep me"
