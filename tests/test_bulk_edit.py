"""Bulk edit: one UPDATE in one transaction, relative changes, bounds, refusals, audit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from dashboard import View, bulk_edit
from dashboard.bulk import parse_change
from dashboard.errors import UserError, ValidationError
from tests.conftest import all_customers

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def test_set_a_field_for_a_view_changes_exactly_the_matching_customers(demo, frame):
    view = View(filters=[{"field": "country", "op": "=", "value": "GB"}])
    expected = frame[(frame.country == "GB") & (frame.status != "Inactive")]
    batch = bulk_edit(demo, view, {"status": "Inactive"})
    assert batch.count == len(expected)
    after = all_customers(demo)
    assert set(after.loc[after.country == "GB", "status"]) == {"Inactive"}
    others = after[after.country != "GB"].reset_index(drop=True)
    assert others.status.tolist() == frame[frame.country != "GB"].status.tolist()
    assert (
        demo.scalar("SELECT count(*) FROM audit_log WHERE batch_id = ?", [batch.batch_id])
        == batch.count
    )


def test_relative_numbers_with_a_bound(demo, frame):
    ids = frame.id.head(50).tolist()
    bulk_edit(demo, ids, {"flow_speed": "*1.2, at most 50"})
    after = all_customers(demo).set_index("id").loc[ids]
    for cid, old in frame.set_index("id").loc[ids].flow_speed.items():
        expected = min(Decimal(str(old)) * Decimal("1.2"), Decimal(50)).quantize(Decimal("0.01"))
        assert Decimal(str(after.loc[cid, "flow_speed"])) == expected
    bulk_edit(demo, ids, {"channels": "+5"})
    assert (all_customers(demo).set_index("id").loc[ids].channels
            == frame.set_index("id").loc[ids].channels + 5).all()  # fmt: skip


def test_going_out_of_bounds_is_refused_naming_customers(demo, frame):
    ids = frame.id.head(10).tolist()
    with pytest.raises(ValidationError, match="would get a Channels outside") as info:
        bulk_edit(demo, ids, {"channels": "-100000"})
    assert "(id " in str(info.value)
    assert all_customers(demo).channels.tolist() == frame.channels.tolist()
    bulk_edit(demo, ids, {"channels": "-100000, at least 0"})
    assert set(all_customers(demo).set_index("id").loc[ids].channels) == {0}


def test_tags_add_remove_replace_keep_order(demo):
    ids = [demo.scalar("SELECT min(id) FROM customers")]
    bulk_edit(demo, ids, {"tags": ["a", "b"]})
    bulk_edit(demo, ids, {"tags": "+=c, a"})
    assert demo.scalar("SELECT tags FROM customers WHERE id = ?", ids) == ["a", "b", "c"]
    bulk_edit(demo, ids, {"tags": "-=b"})
    assert demo.scalar("SELECT tags FROM customers WHERE id = ?", ids) == ["a", "c"]


@pytest.mark.parametrize("name", ["name", "currency", "credit", "id", "created_at"])
def test_fields_that_are_not_bulk_editable_are_refused(demo, name):
    with pytest.raises(UserError, match="cannot be bulk-edited"):
        bulk_edit(demo, [1], {name: "x"})


def test_dry_run_reports_but_writes_nothing(demo, frame):
    batch = bulk_edit(demo, View(), {"tax": "12.5"}, dry_run=True)
    assert batch.count == int((frame.tax != 12.5).sum())
    assert batch.details["preview"]
    assert all_customers(demo).tax.tolist() == frame.tax.tolist()
    assert demo.scalar("SELECT count(*) FROM batches WHERE action = 'bulk_edit'") == 0


def test_audit_holds_before_and_after_of_the_edited_field(demo, frame):
    cid = int(frame.id.iloc[0])
    old = int(frame.channels.iloc[0])
    batch = bulk_edit(demo, [cid], {"channels": old + 1})
    before, after = demo.rows("SELECT before, after FROM audit_log WHERE batch_id = ?",
                              [batch.batch_id])[0]  # fmt: skip
    assert json.loads(before) == {"channels": old} and json.loads(after) == {"channels": old + 1}


@pytest.mark.parametrize(
    ("field", "text", "op", "value"),
    [
        ("channels", "10", "set", 10),
        ("channels", "+5", "add", 5),
        ("channels", "-5", "subtract", 5),
        ("flow_speed", "x1.5", "multiply", Decimal("1.5")),
        ("debit_limit", "=-5", "set", Decimal("-5")),
        ("tags", "+=vip", "tags_add", ["vip"]),
        ("status", "pending approval", "set", "Pending Approval"),
    ],
)
def test_changes_are_parsed_as_people_type_them(field, text, op, value):
    change = parse_change(field, text)
    assert (change.op, change.value) == (op, value)
