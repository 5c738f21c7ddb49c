"""API tokens: made once and stored hashed, listed and revoked by admins, acting as their
user with that user's current role."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dashboard import Store
from dashboard.access import PermissionDenied
from dashboard.cli import main
from dashboard.errors import UserError
from dashboard.tokens import add_token, authenticate, digest, list_tokens, revoke_token
from dashboard.users import add_user, remove_user, set_role

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


@pytest.fixture
def people(store):
    add_user(store, "vic", "viewer", "vic's long password")
    add_user(store, "ann", "admin", "ann's long password")
    return store


def test_a_token_is_stored_only_as_its_hash_and_acts_as_its_user(people):
    token, secret = add_token(people, "vic", label="billing sync", expires="90d")
    assert secret.startswith("cdt_") and len(secret) >= 40
    stored = people.rows("SELECT token_hash FROM api_tokens")
    assert stored == [(digest(secret),)]
    assert secret not in json.dumps(
        [str(v) for r in people.rows("SELECT * FROM api_tokens") for v in r]
    )
    caller = authenticate(people, secret)
    assert (caller.user, caller.role, caller.token_id) == ("vic", "viewer", token.token_id)
    assert 89 <= (token.expires_at - token.created_at).days <= 90
    assert authenticate(people, secret[:-1] + "x") is None
    assert authenticate(people, "") is None and authenticate(people, None) is None


def test_the_role_is_read_each_time_and_revoking_or_removing_ends_the_token(people):
    _, secret = add_token(people, "vic")
    set_role(people, "vic", "editor")
    assert authenticate(people, secret).role == "editor"
    token2, secret2 = add_token(people, "vic", expires="never")
    assert token2.expires_at is None
    revoked = revoke_token(people, token2.token_id)
    assert revoked.state == "revoked" and authenticate(people, secret2) is None
    remove_user(people, "vic")
    assert authenticate(people, secret) is None


def test_an_expired_token_is_refused(people):
    token, secret = add_token(people, "vic", expires="1h")
    people.execute_write("UPDATE api_tokens SET expires_at = ? WHERE token_id = ?",
                         [dt.datetime(2000, 1, 1), token.token_id])  # fmt: skip
    assert authenticate(people, secret) is None
    assert [t.state for t in list_tokens(people)] == ["expired"]


def test_only_admins_manage_tokens_and_bad_input_is_one_line(people):
    viewer = people.acting_as("vic", "viewer")
    with pytest.raises(PermissionDenied):
        add_token(viewer, "vic")
    with pytest.raises(PermissionDenied):
        list_tokens(viewer)
    with pytest.raises(UserError, match="no user 'bob'"):
        add_token(people, "bob")
    with pytest.raises(UserError, match="--expires '5x'"):
        add_token(people, "vic", expires="5x")
    with pytest.raises(UserError, match="no token"):
        revoke_token(people, "t-nothere")


def test_tokens_are_never_in_the_readers_snapshot():
    from dashboard.snapshot import PRIVATE_TABLES

    assert "api_tokens" in PRIVATE_TABLES


def test_cli_prints_the_token_once_lists_and_revokes(tmp_path, capsys):
    db = str(tmp_path / "c.duckdb")
    with Store(db) as s:
        add_user(s, "vic", "viewer", "vic's long password")
    assert main(["tokens", "add", "vic", "--label", "crm", "--db", db]) == 0
    out = capsys.readouterr().out
    secret = out.splitlines()[1]
    assert secret.startswith("cdt_")
    assert main(["tokens", "list", "--db", db, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["user"], t["label"], t["state"]) for t in listed] == [("vic", "crm", "active")]
    assert secret not in json.dumps(listed)
    assert main(["tokens", "revoke", listed[0]["token_id"], "--db", db]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["tokens", "add", "nobody", "--db", db]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err


def test_the_tokens_part_of_setup_users(people):
    from bokeh.document import Document

    from dashboard.ui.tokens_page import TokensPage

    page = TokensPage(store=people.acting_as("ann", "admin"))
    page.__panel__().get_root(Document())
    page.param.update(user="vic", label="crm", expires="30d")
    page.make = True
    assert page.message.startswith("Token t-") and "copy it now" in page.message
    secret = page.message.rsplit("\n", 1)[1]
    assert authenticate(people, secret).user == "vic"
    assert (
        list(page._table.value["User"]) == ["vic"] and secret not in page._table.value.to_string()
    )
    token_id = page._table.value["Token"][0]
    page.token_id = token_id
    page.revoke = True
    assert page.message == f"Revoked {token_id} (vic)." and authenticate(people, secret) is None
    assert list(page._table.value["State"]) == ["revoked"]
    page.param.update(user="nobody")
    page.make = True
    assert "no user 'nobody'" in page.message
