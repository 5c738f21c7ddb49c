"""The CLI on a served database writes through the dashboard's API: same output, exit
codes and batch ids as on a file of its own, in real subprocesses; open pages see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dashboard import Store, add_demo_customers
from dashboard.remote import connect, endpoint_file
from dashboard.users import add_user
from tests.browser import served


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True,
                          text=True, input=stdin, env=dict(os.environ), timeout=300)  # fmt: skip


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "customers.duckdb"
    with Store(path) as store:
        add_demo_customers(store, 60, seed=5, usage_days=0)
    return path


def test_edit_and_undo_through_the_server_in_a_subprocess(db):
    with served(db, demo=0) as url:
        token = json.loads(endpoint_file(db).read_text())["token"]
        client = connect(url, token)
        before = client.get_customer(7)["channels"]
        done = cli("edit", "--db", str(db), "--ids", "7", "--set", "channels=+3")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("changed 1 customer; batch b-")
        batch = done.stdout.split("batch ")[1].split()[0]
        assert client.get_customer(7)["channels"] == before + 3
        listed = client.batches(1)["batches"][0]
        assert (listed["batch_id"], listed["user_name"], listed["action"]) == (
            batch,
            "cli",
            "bulk_edit",
        )
        done = cli("undo", batch, "--db", str(db), "--json")
        assert done.returncode == 0, done.stderr
        got = json.loads(done.stdout)
        assert got["undone"] == batch and got["restored"] == 1 and got["batch_id"].startswith("b-")
        assert client.get_customer(7)["channels"] == before
        # a refusal keeps its exit code and one-line message
        done = cli("edit", "--db", str(db), "--ids", "7", "--set", "channels=-99999999")
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr.startswith("error: ")
        done = cli("undo", "b-000000000000", "--db", str(db))
        assert done.returncode == 1 and "b-000000000000" in done.stderr


def test_delete_import_users_and_tokens_through_the_server(db, tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("Customer Name,Status,Currency\nServed One,Active,USD\nServed Two,Bad,USD\n")
    with served(db, demo=0) as url:
        done = cli("import", str(csv), "--db", str(db))
        assert done.returncode == 1 and "nothing written" in done.stdout
        assert "row 3" in done.stderr and "field status" in done.stderr
        done = cli("import", str(csv), "--db", str(db), "--valid-only", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["written"] and report["counts"]["new"] == 1
        assert "blocked" not in report and report["mapping"]["Customer Name"] == "name"
        done = cli("delete", "--db", str(db), "--where", "name=Served One")
        assert done.returncode == 1 and "add --yes to confirm" in done.stderr
        done = cli("delete", "--db", str(db), "--where", "name=Served One", "--yes")
        assert done.returncode == 0 and done.stdout.startswith("deleted 1 customer; batch b-")
        done = cli("users", "add", "vic", "--role", "viewer", "--password-stdin", "--db",
                   str(db), stdin="vic's long password\n")  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = cli("tokens", "add", "vic", "--db", str(db))
        assert done.returncode == 0, done.stderr
        secret = done.stdout.splitlines()[1]
        token_id = done.stdout.split()[1]
        viewer = connect(url, secret)
        assert viewer.customers(page_size=1)["total"] >= 60
        done = cli("tokens", "list", "--db", str(db))
        assert token_id in done.stdout and "active" in done.stdout
        assert cli("tokens", "revoke", token_id, "--db", str(db)).returncode == 0
        with pytest.raises(Exception, match="valid token"):
            viewer.customers()
        done = cli("users", "list", "--db", str(db), "--json")
        assert {"name": "vic", "role": "viewer"} in json.loads(done.stdout)


def test_without_a_server_the_cli_writes_the_file_itself(db):
    assert not endpoint_file(db).exists()
    done = cli("edit", "--db", str(db), "--ids", "3", "--set", "channels=5")
    assert done.returncode == 0 and "batch b-" in done.stdout
    with Store(db) as store:
        add_user(store, "ann", "admin", "ann's long password")


@pytest.mark.browser
def test_a_cli_edit_and_undo_through_the_server_show_in_an_open_page(db):
    """A write through the API is a batch like any other: the open grid is told as it
    commits, and shows it and its undo without a reload (the page's poll is set to 10
    minutes here, so only that push can explain it)."""
    import time

    from tests.browser import cells, one_page, require_chromium

    require_chromium()
    with served(db, demo=0, poll_ms=600_000) as url, one_page(url) as page:
        token = json.loads(endpoint_file(db).read_text())["token"]
        name = cells(page, "name")[0]
        cid = connect(url, token).customers(search=name)["rows"][0]["id"]

        def shown(value: str) -> bool:
            return value in [c.replace(",", "") for c in cells(page, "channels")]

        def wait(value: str, present: bool = True) -> float:
            started = time.monotonic()
            while shown(value) != present:
                assert time.monotonic() - started < 10, f"the page never showed {value}"
                page.wait_for_timeout(100)
            return time.monotonic() - started

        done = cli("edit", "--db", str(db), "--ids", str(cid), "--set", "channels=4242")
        assert done.returncode == 0, done.stderr
        took = wait("4242")
        batch = done.stdout.split("batch ")[1].split()[0]
        assert cli("undo", batch, "--db", str(db)).returncode == 0
        wait("4242", present=False)
        print(f"a CLI edit through the server showed in the open page after {took:.1f} s")
        assert took < 5  # typically well under 1 s after the CLI returns; room for load
