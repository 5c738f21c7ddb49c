"""More › Changes: the recent batches, paged by the database, each with Undo for those who
may undo it (the service decides, `undo.recent_batches`); the page reloads after an undo."""

from __future__ import annotations

import pytest
from bokeh.document import Document

from dashboard import add_customer, bulk_edit, delete_customers, import_file, undo
from dashboard.ui.app import customers_page
from dashboard.ui.changes import ChangesPanel
from dashboard.ui.controls import Button
from dashboard.ui.safe import Text
from dashboard.undo import recent_batches

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def _sheet(tmp_path, name):
    sheet = tmp_path / f"{name}.csv"
    sheet.write_text(f"Company,Currency\n{name} Import Co,EUR\n{name} Two Ltd,USD\n")
    return sheet


def _panel(store, user=None, role=None, **params) -> ChangesPanel:
    acting = store.acting_as(user, role) if user else store
    panel = ChangesPanel(store=acting, user=user or "operator", **params)
    panel.__panel__().get_root(Document())
    panel.open()
    return panel


def _undo_buttons(panel) -> list[str]:
    """The batch ids whose rows offer Undo (named in the button's accessible name)."""
    return [b.description.rsplit("(", 1)[1].rstrip(")") for b in panel._rows.select(Button)]


def _row_text(panel, batch_id) -> str:
    for row in panel._rows.objects:
        texts = [t.object for t in row.select(Text)]
        if any(t.endswith(f"· {batch_id}") for t in texts):  # its who · when · id line
            return "\n".join(texts)
    raise AssertionError(f"{batch_id} is not listed")


def test_the_batches_newest_first_paged_by_the_database(demo):
    made = [bulk_edit(demo, [i], {"channels": "+1"}).batch_id for i in range(1, 13)]
    listed = demo.rows("SELECT batch_id FROM batches ORDER BY happened_at DESC, batch_id")
    pages = [recent_batches(demo, page=p, page_size=5) for p in (1, 2, 3)]
    assert [p.total for p in pages] == [13] * 3 and pages[0].pages == 3
    got = [e.batch_id for p in pages for e in p.entries]
    assert got == [r[0] for r in listed] and got[:12] == made[::-1]
    assert recent_batches(demo, page=9, page_size=5).page == 3  # past the end: the last page
    panel = _panel(demo, page_size=5)
    assert panel._where.object == "1–5 of 13" and panel._newer.disabled
    panel.param.trigger("older")
    panel.param.trigger("older")
    assert panel._where.object == "11–13 of 13" and panel._older.disabled
    assert [e.batch_id for e in panel.entries] == got[10:]
    entry = pages[0].entries[0]
    assert entry.headline() == "Bulk edit of 1 customer"
    text = _row_text(_panel(demo, page_size=5), entry.batch_id)
    assert "Bulk edit of 1 customer" in text and "Channels + 1" in text and "tester" in text
    assert "UTC" in text


def test_a_viewer_sees_the_changes_and_no_undo(demo):
    batch = bulk_edit(demo, [1], {"channels": "+1"})
    page = recent_batches(demo.acting_as("vic", "viewer"))
    assert not page.may_undo and "may not undo" in page.note
    assert not any(e.undoable for e in page.entries)
    panel = _panel(demo, "vic", "viewer")
    assert _undo_buttons(panel) == [] and panel._note.visible
    assert "Bulk edit of 1 customer" in _row_text(panel, batch.batch_id)


def test_an_editor_undoes_their_own_import_but_not_anothers(demo, tmp_path):
    _, own = import_file(demo.acting_as("ed", "editor"), _sheet(tmp_path, "Ed"))
    _, theirs = import_file(demo.acting_as("eve", "editor"), _sheet(tmp_path, "Eve"))
    edit = bulk_edit(demo.acting_as("eve", "editor"), [1], {"channels": "+1"})
    gone = delete_customers(demo, [5])
    by_id = {e.batch_id: e for e in recent_batches(demo.acting_as("ed", "editor")).entries}
    assert by_id[own.batch_id].undoable
    assert not by_id[theirs.batch_id].undoable
    assert "needs the admin role" in by_id[theirs.batch_id].refusal
    assert by_id[edit.batch_id].undoable  # someone's edit: writing values back is an edit
    assert not by_id[gone.batch_id].undoable
    assert "re-creates the customers it deleted" in by_id[gone.batch_id].refusal
    panel = _panel(demo, "ed", "editor")
    assert set(_undo_buttons(panel)) == {own.batch_id, edit.batch_id}
    assert "needs the admin role" in _row_text(panel, theirs.batch_id)
    admin = {e.batch_id: e for e in recent_batches(demo.acting_as("al", "admin")).entries}
    assert all(admin[b.batch_id].undoable for b in (own, theirs, edit, gone))
    assert set(_undo_buttons(_panel(demo, "al", "admin"))) >= {
        own.batch_id, theirs.batch_id, edit.batch_id, gone.batch_id}  # fmt: skip


def test_a_batch_a_later_change_touched_shows_why_and_comes_back_when_that_is_undone(demo):
    first = bulk_edit(demo, [1, 2, 3], {"channels": "+1"})
    later = bulk_edit(demo, [2], {"flow_speed": "+1"})
    panel = _panel(demo)
    assert _undo_buttons(panel) == [later.batch_id]
    text = _row_text(panel, first.batch_id)
    assert f"a later change (bulk_edit batch {later.batch_id} by tester)" in text
    assert "touched 1 of its customers" in text
    panel.undo_batch(later.batch_id)
    assert "Undone: Bulk edit of 1 customer by tester" in panel.message
    assert first.batch_id in _undo_buttons(panel) and later.batch_id not in _undo_buttons(panel)
    assert "Undone by operator just now" in _row_text(panel, later.batch_id)
    with pytest.raises(Exception, match="already undone"):
        undo(demo, later.batch_id)


def test_a_refusal_met_on_click_is_shown_on_its_row(store):
    batch = add_customer(store, {"name": "Once", "currency": "EUR"})
    gone = delete_customers(store, batch.ids)
    add_customer(store, {"name": "ONCE", "currency": "USD"})  # the name is taken meanwhile
    panel = _panel(store)
    assert gone.batch_id in _undo_buttons(panel)
    panel.undo_batch(gone.batch_id)
    assert "now belongs to another customer" in panel.message
    assert panel._alert.severity == "error"
    assert "now belongs to another customer" in _row_text(panel, gone.batch_id)
    assert store.scalar("SELECT count(*) FROM customers") == 1


def test_undo_in_the_panel_reloads_the_page_and_says_what(demo, frame):
    page = customers_page(demo, user="ann")
    page.__panel__().get_root(Document())
    page.grid.table.selection = [0, 1]
    page.toolbar.param.trigger("bulk_edit")
    dialog = page.bulk_dialog
    dialog.param.update(field="channels", value="+100")
    dialog.param.trigger("preview")
    dialog.param.trigger("apply")
    dialog.param.trigger("confirm")
    done = dialog.done_batch
    assert page.last_batch == done and page.notices._undo.visible
    page.toolbar.param.trigger("changes")
    panel = page._dialogs["changes"]
    assert panel.is_open and panel.entries[0].batch_id == done
    assert _undo_buttons(panel)[0] == done
    panel.undo_batch(done)
    assert page.message.startswith("Undone: Bulk edit of 2 customers by ann, restoring")
    assert not page.notices._undo.visible and page.last_batch == ""
    shown = page.grid.table.value.set_index("id").channels  # the grid was reloaded
    assert shown.to_dict() == frame.set_index("id").channels.loc[shown.index].to_dict()
    assert demo.df("SELECT channels FROM customers ORDER BY id").channels.tolist() == (
        frame.channels.tolist()
    )
