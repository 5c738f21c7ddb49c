"""Undo: every kind of batch is put back exactly; refusals are clear."""

from __future__ import annotations

import pytest

from dashboard import (
    View,
    add_customer,
    bulk_edit,
    delete_customers,
    get_customer,
    last_batch,
    undo,
    update_customer,
)  # fmt: skip
from dashboard.errors import ConflictError, UserError

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends

TABLES = ("customers", "contacts")


def snapshot(store):
    """Both tables, whole, minus the bookkeeping that an undo moves on by design."""
    cust = store.df("SELECT * FROM customers ORDER BY id").drop(
        columns=["updated_at", "row_version"]
    )
    cont = store.df("SELECT * FROM contacts ORDER BY id")
    return cust, cont


def same(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.astype(str).equals(y.astype(str))


def test_undo_a_multi_delete_restores_rows_and_contacts_with_their_ids(demo):
    before = snapshot(demo)
    ids = [r[0] for r in demo.rows("SELECT id FROM customers ORDER BY id LIMIT 3")]
    batch = delete_customers(demo, ids)
    undone = undo(demo, batch.batch_id, user="ops")
    assert undone.count == 3
    same(snapshot(demo), before)
    assert (
        demo.scalar("SELECT undone_by FROM batches WHERE batch_id = ?", [batch.batch_id])
        == undone.batch_id
    )


def test_undo_a_bulk_edit_of_several_fields_including_tags(demo):
    before = snapshot(demo)
    view = View(filters=[{"field": "country", "op": "in", "value": ["GB", "FR", "DE"]}])
    batch = bulk_edit(demo, view, {"channels": "*2, at most 400", "tags": "+=promo",
                                   "status": "Inactive", "tax": "12.5"})  # fmt: skip
    assert batch.count > 0
    undo(demo, batch.batch_id)
    same(snapshot(demo), before)


def test_undo_an_edit_restores_values_and_contacts(store):
    cid = add_customer(store, {"name": "Acme", "currency": "USD", "paypal_email": "p@acme.example"},
                       [{"name": "Ann", "email": "ann@acme.example"}]).ids[0]  # fmt: skip
    before = get_customer(store, cid)
    batch = update_customer(store, cid, {"name": "Acme Two", "paypal_email": "", "channels": 9},
                            [{"name": "Bob", "mobile": "+447911123456"}])  # fmt: skip
    undo(store, batch.batch_id)
    after = get_customer(store, cid)
    for key in ("name", "paypal_email", "channels", "contacts"):
        assert after[key] == before[key], key
    from dashboard.customers import find_by_name

    assert find_by_name(store, "acme") == cid  # the unique key followed the name back


def test_undo_an_add_removes_it_and_can_itself_be_seen_in_history(store):
    batch = add_customer(store, {"name": "Temp", "currency": "EUR"}, [{"name": "T"}])
    undo(store, batch.batch_id)
    assert store.scalar("SELECT count(*) FROM customers") == 0
    assert store.scalar("SELECT count(*) FROM contacts") == 0


def test_undo_refuses_when_a_later_change_touched_the_same_customers(demo):
    ids = [r[0] for r in demo.rows("SELECT id FROM customers ORDER BY id LIMIT 5")]
    first = bulk_edit(demo, ids, {"channels": "+1"})
    later = bulk_edit(demo, ids[:1], {"status": "Inactive"})
    with pytest.raises(ConflictError, match=later.batch_id):
        undo(demo, first.batch_id)
    undo(demo, later.batch_id)  # undoing the later one first clears the way
    undo(demo, first.batch_id)


def test_undo_refuses_twice_unknown_and_restored_name_clashes(store):
    batch = add_customer(store, {"name": "Once", "currency": "EUR"})
    deleted = delete_customers(store, batch.ids)
    add_customer(store, {"name": "ONCE", "currency": "USD"})
    with pytest.raises(
        ConflictError, match="the name ONCE now belongs to another customer; rename it first"
    ):
        undo(store, deleted.batch_id)
    with pytest.raises(UserError, match="no batch"):
        undo(store, "b-nope")
    other = add_customer(store, {"name": "Twice", "currency": "EUR"})
    undo(store, other.batch_id)
    with pytest.raises(UserError, match="already undone"):
        undo(store, other.batch_id)


def test_last_batch_is_the_newest_undoable_one(store):
    add_customer(store, {"name": "A", "currency": "EUR"}, user="ann")
    b = add_customer(store, {"name": "B", "currency": "EUR"}, user="bob")
    assert last_batch(store)["batch_id"] == b.batch_id
    assert last_batch(store, user="ann")["action"] == "add"
    undo(store, b.batch_id)
    assert last_batch(store)["batch_id"] != b.batch_id


def test_an_undo_says_what_it_did_for_every_kind_of_batch(store, tmp_path):
    """ "3 customers restored" was said of an undo that removed the 3 an upload added: an
    undo names what it does, in its message and in the list of changes."""
    from dashboard import import_file
    from dashboard.undo import recent_batches

    sheet = tmp_path / "new.csv"
    sheet.write_text("Company,Currency\nOne Ltd,EUR\nTwo Ltd,EUR\nThree Ltd,USD\n")
    _, upload = import_file(store, sheet)
    assert undo(store, upload.batch_id).details["effect"] == "removing the 3 customers it added"
    _, upload = import_file(store, sheet)
    ids = [r[0] for r in store.rows("SELECT id FROM customers ORDER BY id")]
    sheet.write_text("Company,Currency,Channels\nOne Ltd,EUR,9\nFour Ltd,GBP,1\n")
    _, mixed = import_file(store, sheet, on_duplicate="update")
    assert undo(store, mixed.batch_id).details["effect"] == (
        "removing the customer it added and restoring the earlier values of 1 customer"
    )
    added = add_customer(store, {"name": "Five Ltd", "currency": "EUR"})
    assert undo(store, added.batch_id).details["effect"] == "removing the customer it added"
    edited = update_customer(store, ids[0], {"channels": "7"})
    assert undo(store, edited.batch_id).details["effect"] == (
        "restoring the earlier values of 1 customer"
    )
    bulk = bulk_edit(store, ids[:2], {"channels": "+1"})
    assert undo(store, bulk.batch_id).details["effect"] == (
        "restoring the earlier values of 2 customers"
    )
    gone = delete_customers(store, ids)
    done = undo(store, gone.batch_id)
    assert done.details["effect"] == "putting back the 3 customers it deleted"
    entry = next(e for e in recent_batches(store).entries if e.batch_id == done.batch_id)
    assert entry.headline() == "Undo, putting back the 3 customers it deleted"
    first = next(e for e in recent_batches(store, page_size=50).entries if e.action == "undo"
                 and e.effect.startswith("removing the 3"))  # fmt: skip
    assert first.headline() == "Undo, removing the 3 customers it added"
