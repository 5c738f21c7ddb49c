"""Bulk Edit in the page, without a browser: nothing chosen at first, Apply only after a
Preview of the current choice, a confirmation naming the count and direction, undo."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bokeh.document import Document

from dashboard.ui.app import customers_page


@pytest.fixture
def page(demo):
    p = customers_page(demo, user="ann")
    p.__panel__().get_root(Document())
    return p


def _open(page, rows=(0, 1, 2, 3)):
    page.grid.table.selection = list(rows)
    page.toolbar.param.trigger("bulk_edit")
    return page.bulk_dialog


def _written(demo) -> int:
    return demo.scalar("SELECT count(*) FROM batches WHERE action = 'bulk_edit'")


def test_bulk_edit_needs_a_selection(page):
    page.toolbar.param.trigger("bulk_edit")
    assert "Tick the customers" in page.message


def test_nothing_is_chosen_and_apply_is_disabled_when_it_opens(page, demo):
    dialog = _open(page)
    assert dialog.is_open and dialog.field == "" and dialog.value == ""
    assert not dialog.apply_enabled
    dialog.param.trigger("apply")  # an event that reached the server all the same
    dialog.param.trigger("confirm")
    assert "Preview the change first" in dialog.message and _written(demo) == 0
    dialog.param.trigger("preview")
    assert "Choose the field" in dialog.message and not dialog.apply_enabled
    dialog.field = "status"
    assert dialog.choice == "" and dialog._choice.visible
    dialog.param.trigger("preview")
    assert "Choose the new Status" in dialog.message and not dialog.apply_enabled


def test_apply_is_enabled_only_by_a_preview_of_the_current_choice(page, demo):
    dialog = _open(page)
    dialog.param.update(field="channels", value="+5")
    assert not dialog.apply_enabled
    dialog.param.trigger("preview")
    assert dialog.apply_enabled
    dialog.value = "+6"  # a different value: the preview was of something else
    assert not dialog.apply_enabled
    dialog.param.trigger("apply")
    assert not dialog.asking and _written(demo) == 0
    dialog.param.trigger("preview")
    assert dialog.apply_enabled
    dialog._value.value_input = "+60"  # typing, not yet committed
    assert not dialog.apply_enabled
    dialog._value.value_input = "+6"
    dialog.param.trigger("preview")
    dialog.field = "flow_speed"  # another field
    assert not dialog.apply_enabled and dialog.value == "+6"
    dialog.param.trigger("preview")
    assert dialog.apply_enabled
    dialog.field = "status"
    dialog.choice = "Inactive"
    assert not dialog.apply_enabled


def test_apply_asks_naming_the_count_and_direction_then_writes_and_undoes(page, demo, frame):
    page.view.status = "Active"
    page.selection.param.trigger("select_all")
    page.toolbar.param.trigger("bulk_edit")
    dialog = page.bulk_dialog
    active = frame[frame.status == "Active"]
    dialog.param.update(field="debit_limit", value="*0.9, at least 1000")
    dialog.param.trigger("preview")
    old = active.debit_limit.map(lambda v: Decimal(str(v)))
    new = old.map(lambda v: max(v * Decimal("0.9"), Decimal(1000)))
    up, down, same = int((new > old).sum()), int((new < old).sum()), int((new == old).sum())
    changed = up + down
    assert f"{len(active)} customers selected: {changed} will change" in dialog._summary.object
    assert f"{up} increases, {down} decreases, {same} unchanged" in dialog._summary.object
    assert dialog._table.visible and len(dialog._table.value) >= 5
    dialog.param.trigger("apply")
    assert dialog.asking and not dialog._actions.visible
    question = dialog.question
    assert f"Change Debit Limit for {changed} customers?" in question
    assert f"{up} increases, {down} decreases, {same} unchanged" in question
    assert "new values 1,000.00 to" in question and "First:" in question and "→" in question
    assert dialog._confirm.label == f"Yes, change {changed} customers"
    assert _written(demo) == 0  # asking writes nothing
    dialog.param.trigger("back")
    assert not dialog.asking and dialog.apply_enabled and _written(demo) == 0
    dialog.param.trigger("apply")
    dialog.param.trigger("confirm")
    assert not dialog.is_open and page.message.startswith(f"Changed {changed} customers")
    got = demo.df("SELECT debit_limit FROM customers WHERE status = 'Active' ORDER BY id")
    assert [Decimal(str(v)) for v in got.debit_limit] == new.tolist()
    page.notices.param.trigger("undo")
    back = demo.df("SELECT debit_limit FROM customers WHERE status = 'Active' ORDER BY id")
    assert back.debit_limit.tolist() == active.debit_limit.tolist()
    page.toolbar.param.trigger("bulk_edit")  # opened again: nothing chosen, nothing to apply
    assert dialog.field == "" and not dialog.apply_enabled and not dialog.asking


def test_a_preview_that_no_longer_holds_is_refused_at_confirm(page, demo):
    dialog = _open(page)
    ids = page.selection.ids
    dialog.field = "status"
    dialog.choice = "Inactive"
    dialog.param.trigger("preview")
    dialog.param.trigger("apply")
    assert dialog.asking and dialog._confirm.label.startswith("Yes, change ")
    from dashboard import bulk_edit

    # another session sets one of them meanwhile: the confirmed count no longer holds
    active = [i for (i,) in demo.rows("SELECT id FROM customers WHERE status <> 'Inactive' "
                                      "AND id IN (SELECT unnest(?::BIGINT[]))", [ids])]  # fmt: skip
    bulk_edit(demo, active[:1], {"status": "Inactive"})
    dialog.param.trigger("confirm")
    assert "changed since the preview" in dialog.message and dialog.is_open
    assert not dialog.apply_enabled and not dialog.asking
    assert _written(demo) == 1


def test_out_of_bounds_and_choice_fields(page, demo):
    dialog = _open(page, [0, 1])
    dialog.field = "tax"
    dialog.value = "+200"
    dialog.param.trigger("preview")
    assert "outside" in dialog.message and not dialog.apply_enabled
    dialog.field = "status"
    assert dialog._choice.visible and not dialog._value.visible
    dialog.choice = "Inactive"
    dialog.param.trigger("preview")
    dialog.param.trigger("apply")
    dialog.param.trigger("confirm")
    ids = page.selection.ids
    assert {
        r[0]
        for r in demo.rows(
            "SELECT status FROM customers WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
        )
    } == {"Inactive"}


def test_a_preview_where_nothing_changes_offers_no_apply(page, demo):
    dialog = _open(page, [0])
    current = demo.scalar("SELECT channels FROM customers WHERE id = ?", page.selection.ids)
    dialog.param.update(field="channels", value=str(current))
    dialog.param.trigger("preview")
    assert "Nothing would change" in dialog.message and not dialog.apply_enabled
