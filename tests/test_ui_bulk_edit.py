"""Bulk Edit in the page, without a browser: preview, bounds, apply, undo."""

from __future__ import annotations

import pytest
from bokeh.document import Document

from dashboard.ui.app import customers_page


@pytest.fixture
def page(demo):
    p = customers_page(demo, user="ann")
    p.__panel__().get_root(Document())
    return p


def test_bulk_edit_needs_a_selection(page):
    page.toolbar.param.trigger("bulk_edit")
    assert "Tick the customers" in page.message


def test_preview_then_apply_to_all_matching_then_undo(page, demo, frame):
    page.view.status = "Pending Approval"
    page.selection.param.trigger("select_all")
    page.toolbar.param.trigger("bulk_edit")
    dialog = page.bulk_dialog
    n = int((frame.status == "Pending Approval").sum())
    assert dialog.is_open and f"{n} customers selected" in dialog._summary.object
    dialog.field = "channels"
    dialog.value = "*2, at most 300"
    dialog.param.trigger("preview")
    assert "will change" in dialog._summary.object
    first = dialog._table.value.iloc[0]
    assert first["Field"] == "Channels" and int(first["New"]) == min(int(first["Old"]) * 2, 300)
    dialog.param.trigger("apply")
    assert not dialog.is_open and "Changed" in page.message
    got = demo.df(
        "SELECT id, channels FROM customers WHERE status = 'Pending Approval' ORDER BY id"
    )
    want = (
        frame[frame.status == "Pending Approval"].channels.map(lambda c: min(c * 2, 300)).tolist()
    )
    assert got.channels.tolist() == want
    page.notices.param.trigger("undo")
    back = demo.df("SELECT channels FROM customers WHERE status = 'Pending Approval' ORDER BY id")
    assert back.channels.tolist() == frame[frame.status == "Pending Approval"].channels.tolist()


def test_out_of_bounds_and_choice_fields(page, demo):
    page.grid.table.selection = [0, 1]
    page.toolbar.param.trigger("bulk_edit")
    dialog = page.bulk_dialog
    dialog.field = "tax"
    dialog.value = "+200"
    dialog.param.trigger("apply")
    assert dialog.is_open and "outside" in dialog.message
    dialog.field = "status"
    assert dialog._choice.visible and not dialog._value.visible
    dialog.choice = "Inactive"
    dialog.param.trigger("apply")
    ids = page.selection.ids
    assert {
        r[0]
        for r in demo.rows(
            "SELECT status FROM customers WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
        )
    } == {"Inactive"}
