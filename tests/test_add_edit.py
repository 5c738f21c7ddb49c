"""Adding and editing one customer: validation, uniqueness, currency, conflicts, audit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from dashboard import add_customer, get_customer, history, update_customer
from dashboard.errors import ConflictError, UserError, ValidationError

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends

ACME = {"name": "Acme Telecom", "currency": "usd", "channels": "30", "country": "United Kingdom"}


def test_add_applies_defaults_and_parses_values(store):
    batch = add_customer(store, ACME, [{"name": "Ann", "email": "ann@acme.example",
                                         "mobile": "07911 123456"}])  # fmt: skip
    c = get_customer(store, batch.ids[0])
    assert (c["name"], c["currency"], c["channels"], c["country"]) == (
        "Acme Telecom",
        "USD",
        30,
        "GB",
    )
    assert c["status"] == "Active" and c["portal_access"] is True and c["tags"] == []
    assert c["credit"] == Decimal("0") and c["created_at"] is not None
    assert c["contacts"][0]["mobile"] == "+447911123456"  # national number read in GB
    assert batch.batch_id.startswith("b-")


def test_add_reports_every_problem_and_writes_nothing(store):
    bad = {"name": " ", "currency": "XXX1", "tax": "150", "channels": "-1",
           "paypal_email": "nope", "toml": "a = = 1"}  # fmt: skip
    with pytest.raises(ValidationError) as info:
        add_customer(store, bad, [{"email": "bad@", "mobile": "+44 12"}])
    fields = {p.field for p in info.value.problems}
    assert {"name", "currency", "tax", "channels", "paypal_email", "toml",
            "contacts[1].email", "contacts[1].mobile"} <= fields  # fmt: skip
    assert store.scalar("SELECT count(*) FROM customers") == 0
    assert store.scalar("SELECT count(*) FROM batches") == 0


def test_names_are_unique_trimmed_and_case_insensitively(store):
    add_customer(store, ACME)
    with pytest.raises(ValidationError, match="already used"):
        add_customer(store, {**ACME, "name": "  acme TELECOM "})
    assert store.scalar("SELECT count(*) FROM customers") == 1


def test_edit_changes_only_what_changed_and_audits_old_and_new(store):
    cid = add_customer(store, ACME).ids[0]
    batch = update_customer(
        store, cid, {"channels": "45", "status": "Inactive", "name": "Acme Telecom"}
    )
    c = get_customer(store, cid)
    assert (c["channels"], c["status"], c["row_version"]) == (45, "Inactive", 2)
    entry = store.rows("SELECT before, after FROM audit_log WHERE batch_id = ?", [batch.batch_id])
    before, after = (json.loads(x) for x in entry[0])
    assert before == {"channels": 30, "status": "Active"}
    assert after == {"channels": 45, "status": "Inactive"}
    h = history(store, cid)
    assert set(h.loc[h.action == "edit", "field"]) == {"Channels", "Status"}
    assert h.iloc[0]["user"] == "tester"


def test_currency_cannot_change_once_created(store):
    cid = add_customer(store, ACME).ids[0]
    with pytest.raises(ValidationError, match="cannot be changed"):
        update_customer(store, cid, {"currency": "EUR"})
    update_customer(store, cid, {"currency": "usd"})  # the same code is not a change
    assert get_customer(store, cid)["currency"] == "USD"


def test_a_stale_edit_is_refused_and_says_what_changed(store):
    cid = add_customer(store, ACME).ids[0]
    loaded = get_customer(store, cid)["row_version"]
    update_customer(store, cid, {"channels": 99}, user="alice", expected_version=loaded)
    with pytest.raises(ConflictError) as info:
        update_customer(store, cid, {"tax": 5}, user="bob", expected_version=loaded)
    assert "alice" in str(info.value) and "Channels" in str(info.value)
    assert info.value.changes["Channels"] == (30, 99)
    assert get_customer(store, cid)["tax"] == Decimal("0")


def test_renaming_to_another_customers_name_is_refused(store):
    add_customer(store, ACME)
    other = add_customer(store, {"name": "Beta", "currency": "EUR"}).ids[0]
    with pytest.raises(ValidationError, match="already used"):
        update_customer(store, other, {"name": "ACME telecom"})


def test_contacts_are_replaced_in_the_same_transaction(store):
    cid = add_customer(store, ACME, [{"name": "Ann"}, {"name": "Bob"}]).ids[0]
    contacts = get_customer(store, cid)["contacts"]
    update_customer(store, cid, {}, [contacts[1], {"name": "Cy", "email": "cy@acme.example"}])
    names = [c["name"] for c in get_customer(store, cid)["contacts"]]
    assert names == ["Bob", "Cy"]
    with pytest.raises(ValidationError, match="Contact 2"):
        update_customer(store, cid, {"channels": 5}, [{"name": "Ok"}, {"email": "bad"}])
    assert get_customer(store, cid)["channels"] == 30  # nothing written


def test_unknown_customer_is_a_clear_error(store):
    with pytest.raises(UserError, match="no customer with id 42"):
        update_customer(store, 42, {"channels": 1})
