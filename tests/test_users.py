"""Users: scrypt hashes, verification, the last admin, the CLI (passwords never as
arguments), and the snapshot keeping hashes away from readers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboard import Store, UserError
from dashboard.cli import UsageError, build_parser, main
from dashboard.snapshot import publish
from dashboard.users import (
    add_user,
    check_password,
    hash_password,
    list_users,
    remove_user,
    role_of,
    set_password,
    verify,
)

PASSWORD = "correct horse battery"


def test_hashes_are_salted_scrypt_and_never_the_password():
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert PASSWORD not in a
    assert check_password(PASSWORD, a) and check_password(PASSWORD, b)
    assert not check_password(PASSWORD + "!", a)
    assert not check_password(PASSWORD, "md5$abc") and not check_password(PASSWORD, "")


def test_add_verify_passwd_remove(store):
    add_user(store, "ana", "admin", PASSWORD)
    add_user(store, "vic", "viewer", "viewer password 1")
    assert verify(store, "ana", PASSWORD).role == "admin"
    assert verify(store, "ana", "wrong password!") is None
    assert verify(store, "nobody", PASSWORD) is None
    assert store.scalar("SELECT password_hash FROM users WHERE name = 'ana'") != PASSWORD
    set_password(store, "vic", "a brand new secret")
    assert verify(store, "vic", "viewer password 1") is None
    assert verify(store, "vic", "a brand new secret").name == "vic"
    assert [(u.name, u.role) for u in list_users(store)] == [("ana", "admin"), ("vic", "viewer")]
    remove_user(store, "vic")
    assert role_of(store, "vic") is None


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [("x y", "viewer", PASSWORD, "user name"), ("ok", "root", PASSWORD, "unknown role"),
     ("ok", "viewer", "short", "at least 10"), ("", "viewer", PASSWORD, "user name")],
)  # fmt: skip
def test_bad_users_are_refused(store, name, role, password, message):
    with pytest.raises(UserError, match=message):
        add_user(store, name, role, password)
    assert list_users(store) == []


def test_the_last_admin_stays_and_names_are_unique(store):
    add_user(store, "ana", "admin", PASSWORD)
    with pytest.raises(UserError, match="exists"):
        add_user(store, "ana", "viewer", PASSWORD)
    with pytest.raises(UserError, match="last admin"):
        remove_user(store, "ana")


def test_cli_takes_passwords_from_stdin_or_a_prompt_never_an_argument(tmp_path):
    db = tmp_path / "c.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "users", "add", "ana", "--role", "admin",
         "--password-stdin", "--db", str(db)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with pytest.raises(UsageError, match="unrecognized arguments"):
        build_parser().parse_args(["users", "add", "bob", "--role", "viewer", "--password", "x"])
    listed = subprocess.run([sys.executable, "-m", "dashboard.cli", "users", "list", "--db",
                             str(db)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listed.stdout.split() == ["ana", "admin"]
    with Store(db) as store:
        assert verify(store, "ana", PASSWORD) is not None


def test_cli_refuses_a_short_password_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import io

    db = tmp_path / "c.duckdb"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code = main(["users", "add", "ana", "--role", "admin", "--password-stdin", "--db", str(db)])
    assert code == 1 and "at least 10" in capsys.readouterr().err
    with Store(db) as store:
        assert list_users(store) == []


def test_readers_snapshot_holds_no_password_hashes(tmp_path):
    db = tmp_path / "c.duckdb"
    with Store(db) as store:
        add_user(store, "ana", "admin", PASSWORD)
        copy = publish(store)
    with Store(copy, read_only=True) as snap:
        tables = {t for (t,) in snap.rows("SELECT table_name FROM duckdb_tables()")}
    assert "users" not in tables and "customers" in tables
    assert b"scrypt$" not in copy.read_bytes()


def test_the_users_page_for_admins(store):
    from bokeh.document import Document

    from dashboard.ui.users_page import UsersPage

    add_user(store, "ana", "admin", PASSWORD)
    page = UsersPage(store=store.acting_as("ana", "admin"))
    page.__panel__().get_root(Document())
    page.param.update(name_="ed", role="editor", password="an editor's password")
    page.add = True
    assert page.message == "Added ed (editor)." and page.password == ""
    assert list(page._table.value["Name"]) == ["ana", "ed"]
    page.param.update(name_="ana", role="viewer")
    page.change_role = True
    assert "last admin" in page.message and role_of(store, "ana") == "admin"
    page.param.update(name_="ed", role="admin")
    page.change_role = True
    assert role_of(store, "ed") == "admin"
    page.param.update(name_="ed", password="short")
    page.change_password = True
    assert "at least 10" in page.message
    # the service refuses a viewer whatever a page would offer
    with pytest.raises(UserError, match="may not manage users"):
        add_user(store.acting_as("vic", "viewer"), "x1", "viewer", PASSWORD)
