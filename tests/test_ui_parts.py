"""Each part of the Customers page on its own (the page is their composition): the toolbar,
the grid and its selection, the groups panel, the footer, the delete dialog, the escaping
and naming helpers. What they show in a browser is tested in tests/test_browser_*.py."""

from __future__ import annotations

import pandas as pd
import pytest
from bokeh.document import Document

from dashboard import View, query
from dashboard.ui.aggregates import AggregatePanel
from dashboard.ui.confirm import DeleteDialog
from dashboard.ui.controls import Button, labelled
from dashboard.ui.display import aggregate_display, rows_display, sort_keys, sorters_for, widths
from dashboard.ui.footer import Footer
from dashboard.ui.grid import CustomerGrid, Selection
from dashboard.ui.toolbar import Toolbar


def rendered(viewer):
    viewer.__panel__().get_root(Document()) if hasattr(viewer, "__panel__") else None
    return viewer


# --- toolbar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "shown"),
    [("viewer", set()), ("editor", {"add", "upload", "bulk_edit"}),
     ("admin", {"add", "upload", "bulk_edit", "delete", "send"})],
)  # fmt: skip
def test_the_toolbar_shows_what_the_role_may_use(role, shown):
    bar = Toolbar(view=View(), role=role)
    writes = {"add", "upload", "bulk_edit", "delete", "send"}
    assert {k for k in writes if bar.buttons[k].visible} == shown
    for key, b in bar.buttons.items():  # every name starts with what the button says
        assert b.description.startswith(b.label), (key, b.label, b.description)


def test_the_toolbar_edits_the_view_and_reports_actions():
    view = View()
    bar = Toolbar(view=view)
    bar._status.value = "Inactive"
    bar._search.value = "acme"
    assert view.status == "Inactive" and view.search == "acme"
    heard = []
    bar.param.watch(lambda e: heard.append(e.name), ["sql", "code", "changes", "refresh"])
    for item in ("SQL", "Code", "Changes"):
        bar._on_more({"label": item})
    bar.param.trigger("refresh")
    assert heard == ["sql", "code", "changes", "refresh"]
    bar.show_filters(2)
    assert bar.buttons["filters"].label == "Filters (2)"
    assert bar.buttons["filters"].description.startswith("Filters (2)")


# --- grid and selection ----------------------------------------------------------------


@pytest.fixture
def grid(demo):
    view = View()
    selection = Selection(view=view)
    g = CustomerGrid(view=view, selection=selection)
    rendered(g.table)
    g.show(rows_display(query.run(demo, view, key=True)))
    return g


def test_ticks_survive_paging_and_select_all_ticks_the_page(grid, demo):
    sel = grid.selection
    grid.table.selection = [0, 3]
    first = grid.ids
    assert sel.ids == [first[0], first[3]] and sel.count == 2
    grid.view.page = 2
    grid.show(rows_display(query.run(demo, grid.view, key=True)))
    assert grid.table.selection == []
    grid.table.selection = [1]
    assert sel.count == 3
    sel.matching = 400
    sel.param.trigger("select_all")
    assert sel.all_matching and sel.count == 400 and grid.table.selection == list(range(50))
    grid.table.selection = list(range(1, 50))  # unticking one row of "all matching"
    assert not sel.all_matching and sel.count == 49
    sel.param.trigger("clear")
    assert sel.count == 0 and grid.table.selection == []


def test_a_click_on_a_name_opens_that_customer(grid):
    grid._on_click(type("E", (), {"row": 2, "column": "name"})())
    assert grid.opened == grid.ids[2]
    grid._on_click(type("E", (), {"row": 0, "column": "status"})())
    assert grid.opened == grid.ids[2]  # only the name opens the card


def test_a_phone_sees_the_on_phone_fields_and_uncut_numbers(grid):
    grid.compact = True
    shown = [c for c in grid.table.value.columns if c not in grid.table.hidden_columns]
    assert shown == ["name", "status", "credit"]
    assert grid.table.widths["credit"] == grid._display.widths["credit"]  # a number: never cut
    assert grid.table.widths["name"] <= 130 and grid.table.frozen_columns == {}
    grid.compact = False
    assert grid.table.hidden_columns == [] and grid.table.frozen_columns


def test_header_sorters_read_most_significant_first(demo):
    view = View()
    display = rows_display(query.run(demo, view, key=True))
    # Panel holds Tabulator's sorters least significant first
    sorters = [{"field": "credit", "dir": "desc"}, {"field": "status", "dir": "asc"}]
    assert sort_keys(display, view, sorters) == [["status", "asc"], ["credit", "desc"]]
    view.sort = [["status", "asc"], ["credit", "desc"]]
    assert sorters_for(display, view) == sorters


def test_widths_fit_the_longest_value_shown():
    frame = pd.DataFrame({"credit": [1.5, 1234567.891], "name": ["A", "B" * 200]})
    fm = {"credit": {"type": "money", "precision": 2}}
    got = widths(frame, {"credit": "Balance", "name": "Customer Name"}, fm)
    assert got["credit"] >= len("1,234,567.89") * 8  # a number is never cut
    assert got["name"] <= 340  # long text is, with its value on hover


# --- groups, pivot, opened group -------------------------------------------------------


def test_pivot_rows_open_a_group_and_a_link_reopens_it(demo, frame):
    # a pivot row still lists its customers below (group views are a tree now: issue 18)
    view = View(groups=["country"], pivot="status")
    panel = AggregatePanel(store=demo, view=view)
    rendered(panel)
    panel.show(query.run(demo, view))
    country = panel._result.data["country"].iloc[0]
    panel._on_click(type("E", (), {"row": 0, "column": "c0"})())
    assert panel.opened == {"country": country}
    assert set(panel.group._table.value["country"]) == {country}
    assert len(panel.group._table.value) == min(50, int((frame.country == country).sum()))
    assert panel.group._title.object.startswith(f"Customers with Country: {country}")
    panel.close_group()
    assert panel.opened is None and not panel.group._box.visible
    panel.open_group({"country": country})  # what a link's &group= does
    assert len(panel.group._table.value) == min(50, int((frame.country == country).sum()))
    # the Total row opens nothing, and the table is as tall as its rows
    panel.close_group()
    panel._on_click(type("E", (), {"row": len(panel._result.data), "column": "c0"})())
    assert panel.opened is None
    assert panel.table.height >= 44 + 37 * (len(panel._result.data) + 1)


def test_a_pivot_sorts_by_its_row_totals(demo):
    view = View(groups=["status"], pivot="currency", values=[["credit", "sum"]])
    panel = AggregatePanel(store=demo, view=view)
    rendered(panel)
    panel.show(query.run(demo, view))
    display = aggregate_display(panel._result, view)
    total = next(k for k, t in display.titles.items() if t.startswith("Total"))  # "Total (EUR)"
    eur = next(k for k, t in display.titles.items() if t == "EUR")
    panel._on_sorters(type("E", (), {"new": [{"field": eur, "dir": "asc"},
                                             {"field": total, "dir": "desc"}]})())  # fmt: skip
    # one currency's column sorts by its cells (issue 18: it was no sort key, so its
    # header's arrow sorted nothing); the arrows follow the view's keys
    assert view.sort == [["sum_credit", "desc"], ["sum_credit@EUR", "asc"]]
    assert sorters_for(display, view) == [{"field": eur, "dir": "asc"},
                                          {"field": total, "dir": "desc"}]  # fmt: skip


# --- footer ----------------------------------------------------------------------------


def test_the_footer_pages_and_sizes_the_view(demo):
    view = View()
    footer = Footer(Selection(view=view), lambda fmt: None, view=view)
    rendered(footer)
    footer.show(query.run(demo, view), 400)
    assert footer.count_text == "400 customers" and footer._pager.count == 8
    footer._pager.value = 3
    assert view.page == 4
    footer.page_size = 100
    assert view.page_size == 100 and view.page == 1
    view.page_size = 37  # from a link: offered too
    assert 37 in footer.param.page_size.objects and footer.page_size == 37
    view.page = 99
    footer.show(query.run(demo, view.copy(page=11)), 400)
    assert footer._pager.value == 10  # the last of 11 pages, never past the count


# --- delete ----------------------------------------------------------------------------


def test_delete_asks_names_and_reports(demo):
    dialog = DeleteDialog(store=demo, user="tester")
    rendered(dialog)
    ids = [r[0] for r in demo.rows("SELECT id FROM customers ORDER BY id LIMIT 2")]
    dialog.ask(ids)
    assert dialog.is_open and dialog._text.object.startswith("Delete 2 customers")
    dialog.param.trigger("cancel")
    assert not dialog.is_open and demo.scalar("SELECT count(*) FROM customers") == 400
    dialog.ask(ids)
    dialog.param.trigger("confirm")
    assert dialog.done_batch and dialog.message.startswith("Deleted 2 customers")
    assert demo.scalar("SELECT count(*) FROM customers") == 398


# --- names -----------------------------------------------------------------------------


def test_buttons_are_named_by_their_label():
    assert labelled("Refresh", "Reload from the database.") == "Refresh: reload from the database"
    assert labelled("Save", "Save the customer") == "Save the customer"
    assert labelled("+", "") == "+"
    b = Button(label="Send", description="Send the messages")
    b.label = "Send 3"
    assert b.description == "Send 3: send the messages"


def test_a_page_that_fails_to_build_shows_one_line_and_logs_the_traceback(caplog):
    from dashboard.ui.app import _no_traceback
    from dashboard.ui.safe import Notice

    @_no_traceback("Customers")
    def broken():
        raise OverflowError("Conversion Error: Type INT64 with value 1e20 can't be cast")

    with caplog.at_level("ERROR"):
        frame = broken()
    notices = [o for o in frame.select(Notice)]
    assert notices and "could not be opened" in notices[0].object
    assert "INT64" not in notices[0].object and "Traceback" not in notices[0].object
    assert "OverflowError" in caplog.text  # the traceback is on the server


def test_rows_show_tags_joined_and_times_to_the_minute(demo):
    view = View(
        columns=["name", "tags", "created_at"], filters=[{"field": "tags", "op": "not_empty"}]
    )
    frame = rows_display(query.run(demo, view, key=True)).frame
    stored = demo.rows("SELECT tags, created_at FROM customers WHERE id = ?", [int(frame["id"][0])])
    tags, created = stored[0]
    assert frame["tags"][0] == ", ".join(tags)  # whole tags, not letters
    assert frame["created_at"][0] == created.isoformat(sep=" ")[:16]
