"""Deleting many customers: contacts go too, in one transaction, kept in the audit log."""

from __future__ import annotations

import json

import pytest

from dashboard import View, delete_customers
from dashboard.customers import preview_targets

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def test_delete_removes_customers_and_their_contacts_and_keeps_them_in_audit(demo):
    ids = [r[0] for r in demo.rows("SELECT id FROM customers ORDER BY id LIMIT 3")]
    contacts = demo.scalar(
        "SELECT count(*) FROM contacts WHERE customer_id IN (SELECT unnest(?::BIGINT[]))", [ids]
    )
    batch = delete_customers(demo, ids)
    assert batch.count == 3 and sorted(batch.ids) == ids
    assert (
        demo.scalar(
            "SELECT count(*) FROM customers WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
        )
        == 0
    )
    assert (
        demo.scalar(
            "SELECT count(*) FROM contacts WHERE customer_id IN (SELECT unnest(?::BIGINT[]))", [ids]
        )
        == 0
    )
    saved = [json.loads(b) for (b,) in demo.rows(
        "SELECT before FROM audit_log WHERE batch_id = ? ORDER BY customer_id", [batch.batch_id])]  # fmt: skip
    assert [s["customer"]["id"] for s in saved] == ids
    assert sum(len(s["contacts"]) for s in saved) == contacts


def test_delete_by_view_and_the_confirmation_preview(demo):
    view = View(status="Pending Approval")
    n, names = preview_targets(demo, view)
    assert n == demo.scalar("SELECT count(*) FROM customers WHERE status = 'Pending Approval'")
    assert names == sorted(names) and len(names) == 5
    assert delete_customers(demo, view).count == n
    assert demo.scalar("SELECT count(*) FROM customers WHERE status = 'Pending Approval'") == 0


def test_deleting_nothing_writes_no_batch(demo):
    assert delete_customers(demo, []).count == 0
    assert demo.scalar("SELECT count(*) FROM batches WHERE action = 'delete'") == 0
