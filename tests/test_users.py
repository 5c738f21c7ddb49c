"""Users: argon2id hashes (old scrypt ones upgraded), verification, generations that end
sessions, the sign-in throttle, the last admin, the CLI (passwords never as arguments), and
the snapshot keeping hashes away from readers."""

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

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends

PASSWORD = "correct horse battery"


def _scrypt(password: str) -> str:
    """A hash as versions before argon2id wrote it."""
    import base64
    import hashlib
    import secrets

    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1,
                            maxmem=64 * 1024 * 1024, dklen=32)  # fmt: skip
    b64 = base64.b64encode
    return f"scrypt$16384$8$1${b64(salt).decode()}${b64(digest).decode()}"


def test_hashes_are_salted_argon2id_at_owasp_cost_and_never_the_password():
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in a
    assert check_password(PASSWORD, a) and check_password(PASSWORD, b)
    assert not check_password(PASSWORD + "!", a)
    assert not check_password(PASSWORD, "md5$abc") and not check_password(PASSWORD, "")


def test_an_old_scrypt_hash_verifies_and_is_upgraded_at_the_next_good_sign_in(store):
    add_user(store, "ana", "admin", PASSWORD)
    store.execute_write("UPDATE users SET password_hash = ? WHERE name = 'ana'",
                        [_scrypt(PASSWORD)])  # fmt: skip
    generation = store.scalar("SELECT generation FROM users WHERE name = 'ana'")
    assert check_password(PASSWORD, store.scalar("SELECT password_hash FROM users"))
    assert verify(store, "ana", "wrong password!") is None
    assert store.scalar("SELECT password_hash FROM users").startswith("scrypt$")
    assert verify(store, "ana", PASSWORD).role == "admin"
    upgraded = store.scalar("SELECT password_hash FROM users WHERE name = 'ana'")
    assert upgraded.startswith("$argon2id$") and check_password(PASSWORD, upgraded)
    # the same password: the upgrade ends no session
    assert store.scalar("SELECT generation FROM users WHERE name = 'ana'") == generation


def test_a_password_change_role_change_or_removal_moves_the_generation_on(store):
    from dashboard.users import current, set_role

    add_user(store, "ana", "admin", PASSWORD)
    ed = add_user(store, "ed", "editor", "an editor's password")
    seen = [current(store, "ed").generation]
    assert seen[0] == ed.generation == verify(store, "ed", "an editor's password").generation
    set_password(store, "ed", "a brand new secret")
    seen.append(current(store, "ed").generation)
    set_role(store, "ed", "viewer")
    seen.append(current(store, "ed").generation)
    assert len(set(seen)) == 3
    remove_user(store, "ed")
    assert current(store, "ed") is None
    # a removed and re-added name does not bring back old cookies' generations
    again = add_user(store, "ed", "editor", "an editor's password")
    assert again.generation not in seen


def test_the_throttle_locks_a_name_and_an_address_for_growing_times():
    from dashboard.users import LoginThrottle

    now = [1000.0]
    t = LoginThrottle(clock=lambda: now[0])
    for _ in range(4):
        assert t.wait("ana", "10.0.0.1") == 0
        t.attempt("ana", "10.0.0.1")
    assert t.wait("ana", "10.0.0.1") == 0  # four failures are free
    t.attempt("ana", "10.0.0.1")
    assert t.wait("ana", "10.0.0.1") == 3  # the fifth: 2 s (rounded up)
    # the guesser locked themselves out, not ana signing in from her own desk
    assert t.wait("ana", "10.0.0.2") == 0
    assert t.wait("bob", "10.0.0.1") == 0
    now[0] += 3
    t.attempt("ana", "10.0.0.1")
    assert t.wait("ana", "10.0.0.1") == 5  # the sixth: 4 s
    for _ in range(20):
        now[0] += 60  # within the 15-minute window of the last failure
        t.attempt("ana", "10.0.0.1")
    assert t.wait("ana", "10.0.0.1") == 15 * 60 + 1  # at most 15 minutes
    assert t.wait("bob", "10.0.0.1") > 0  # 10 failures lock the address for every name
    t.succeeded("ana", "10.0.0.1")
    assert t.wait("ana", "10.0.0.1") == 0
    # one address trying many names (spraying) is locked too
    for i in range(10):
        t.attempt(f"user{i}", "10.0.0.5")
    assert t.wait("someone", "10.0.0.5") > 0 and t.wait("someone", "10.0.0.6") == 0
    # guessing one name from many addresses locks the name everywhere, after 50
    for i in range(50):
        t.attempt("root", f"192.0.2.{i}")
    assert t.wait("root", "198.51.100.1") > 0
    # names nobody has count too (the lock does not tell who exists), in bounded memory
    small = LoginThrottle(clock=lambda: now[0], max_entries=50)
    for i in range(200):
        small.attempt(f"made-up-{i}", "10.0.0.3")
    assert len(small._seen) <= 50 and small.wait("made-up-199", "10.0.0.4") == 0
    assert small.wait("x", "10.0.0.3") > 0
    # after 15 quiet minutes the count starts again
    now[0] += 15 * 60 + 1 + 2**20
    small.attempt("x", "10.0.0.3")
    assert small.wait("x", "10.0.0.3") == 0


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
    assert b"$argon2id$" not in copy.read_bytes()


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
