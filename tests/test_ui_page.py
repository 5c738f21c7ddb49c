"""The page's components without a browser: the view state drives the grid and back."""

from __future__ import annotations

import panel as pn
import pytest

from dashboard import add_customer, bulk_edit
from dashboard.query import View
from dashboard.ui.app import customers_page
from dashboard.ui.columns import ColumnsPanel, value_options
from dashboard.ui.filters import FiltersPanel


@pytest.fixture
def page(demo):
    """The page rendered into a Bokeh document, so every update also updates its models."""
    from bokeh.document import Document

    p = customers_page(demo)
    p.__panel__().get_root(Document())
    return p


def test_the_grid_holds_only_one_page(page, demo):
    assert len(page.grid.table.value) == 50
    assert page.total == 400
    assert page.footer.count_text == "400 customers"
    assert page.grid.table.titles["name"] == "Customer Name"
    assert page.footer._pager.count == 8


def test_active_filters_and_resets_to_page_one(page, frame):
    page.view.page = 3
    page.view.status = "Inactive"
    assert page.view.page == 1
    assert page.total == int((frame.status == "Inactive").sum())
    assert set(page.grid.table.value["status"]) == {"Inactive"}


def test_pager_and_sorters_drive_the_query(page, frame):
    page.footer._pager.value = 2
    assert page.view.page == 3
    page.grid.table.sorters = [{"field": "credit", "dir": "desc"}]
    assert page.view.sort == [["credit", "desc"]] and page.view.page == 1
    want = frame.sort_values(["credit", "id"], ascending=[False, True]).id.head(50).tolist()
    assert page.grid.table.value["id"].tolist() == want
    # shift-click adds a key: Panel holds Tabulator's sorters least significant first
    page.grid.table.sorters = [{"field": "credit", "dir": "asc"}, {"field": "status", "dir": "asc"}]
    assert page.view.sort == [["status", "asc"], ["credit", "asc"]]
    want = frame.sort_values(["status", "credit", "id"]).id.head(50).tolist()
    assert page.grid.table.value["id"].tolist() == want


def test_selection_survives_paging_and_is_cleared_when_filters_change(page):
    table = page.grid.table
    table.selection = [0, 2]
    first = table.value["id"].iloc[[0, 2]].tolist()
    assert page.selection.ids == first
    page.footer._pager.value = 1
    table.selection = [1]
    second = table.value["id"].iloc[1]
    page.footer._pager.value = 0
    assert table.selection == [0, 2]
    assert sorted(page.selection.ids) == sorted([*first, second])
    page.view.search = "blue"
    assert page.selection.ids == [] and "selection was cleared" in page.message


def test_select_all_matching_targets_the_view(page, frame):
    page.view.status = "Active"
    page.selection.param.trigger("select_all")
    assert page.selection.count == int((frame.status == "Active").sum())
    target = page.selection.target()
    assert isinstance(target, View) and target.status == "Active"
    assert page.grid.table.selection == list(range(50))


def test_select_all_matching_after_a_ticked_row_selects_them_all(page, frame):
    # a row ticked first: the group tree was shown that id, then shown none for "all
    # matching", and its change came back as "nobody selected" (the click did nothing)
    page.grid.table.selection = [0]
    assert page.selection.count == 1
    page.selection.param.trigger("select_all")
    assert page.selection.all_matching and page.selection.count == len(frame)
    assert page.grid.table.selection == list(range(50))


def test_groups_show_a_tree_with_totals_that_opens_in_place(page, frame):
    # replaces the flat group table whose click opened a second grid below it (issue 18)
    page.view.param.update(groups=["country"], values=[["credit", "sum"]])
    tree = page.aggregates.tree
    shown = tree.table.value
    assert shown.iloc[0]["c0"] == "Total"
    assert tree.table.frozen_rows == [0]  # pinned above the groups
    assert tree.table.titles["c2"] == "Sum of Balance (EUR)"  # 15 currencies, in EUR
    assert page._body.objects[0] is not page.grid.table
    assert page.footer.count_text.startswith(f"{frame.country.nunique()} groups")
    tree._on_click(type("E", (), {"row": 1, "column": "c0"})())
    country = page._result.data.iloc[0]["country"]
    assert page.view.expand == [[country]] and "expand" in page.link_query()
    rows = tree.table.value
    n = min(50, int((frame.country == country).sum()))
    names = set(frame[frame.country == country].name)
    assert {r.strip("\u2003\u2022 ") for r in rows["c0"].iloc[2 : 2 + n]} <= names
    tree._on_click(type("E", (), {"row": 1, "column": "c0"})())  # closes again
    assert page.view.expand == [] and len(tree.table.value) == len(shown)


def test_a_two_level_tree_and_a_ticked_group_is_the_selection(page, frame):
    page.view.param.update(groups=["status", "country"], values=[["credit", "sum"]])
    tree = page.aggregates.tree
    assert page.footer.count_text.startswith(f"{frame.status.nunique()} groups")
    status = page._result.data.iloc[0]["status"]
    tree.toggle([status])
    sub = frame[frame.status == status]
    country = (
        sub.groupby("country")
        .size()
        .sort_index()
        .sort_values(kind="stable", ascending=False)
        .index[0]
    )
    top_countries = tree.table.value["c0"].iloc[2 : 2 + sub.country.nunique()].str.strip()
    assert len(top_countries) == sub.country.nunique()
    tree.toggle([status, top_countries.iloc[0].lstrip("\u25b8 ").strip()])
    assert len(page.view.expand) == 2
    # the view (with its open groups) round-trips through the link
    assert View.from_url("?" + page.link_query()).expand == page.view.expand
    # tick the first status: every one of its customers, counted, targeted by its filters
    tree.table.selection = [1]
    assert page.selection.count == len(sub)
    target = page.selection.target()
    assert isinstance(target, View) and bulk_edit  # a view: all that match
    from dashboard.query import matching_ids

    assert sorted(matching_ids(page.store, target)) == sorted(sub.id)
    assert len(tree.table.selection) > 1  # the rows under it are ticked too
    page.selection.param.trigger("clear")
    assert tree.table.selection == [] and page.selection.count == 0
    assert country


def test_a_tree_without_its_count_column_still_counts_a_ticked_group(page, frame):
    """The engine leaves a hidden Customers column out of the tree's rows: a ticked group
    is then counted by the database, not taken as 0 customers."""
    page.view.param.update(groups=["status"], values=[["credit", "sum"]], hidden=["count"])
    tree = page.aggregates.tree
    assert "Customers" not in tree.table.titles.values()
    first = tree.table.value["c0"].iloc[1].lstrip("\u25b8 ").strip()
    assert tree.table.value["cd_name"].iloc[1] == f"Select group {first}"  # no count to say
    tree.table.selection = [1]
    assert page.selection.count == int((frame.status == first).sum()) > 0


def test_pivot_mode_from_the_columns_panel(page, frame):
    panel = page.columns_panel
    page.view.groups = ["status"]
    panel.aggregates = ["credit:sum"]
    panel.pivot_field = "currency"
    panel.pivot_mode = True
    assert page.view.pivot == "currency"
    titles = set(page.aggregates.table.titles.values())
    assert {"Status", "EUR", "USD", "Total (EUR)"} <= titles


def test_filters_panel_adds_typed_filters_and_refuses_bad_values(page, frame):
    panel = page.filters_panel
    panel.field = "channels"
    panel.op = ">="
    panel.text = "1E+2"
    panel.param.trigger("add")
    assert page.view.filters == [{"field": "channels", "op": ">=", "value": "1E+2"}]
    assert page.total == int((frame.channels >= 100).sum())
    assert "Filters (1)" == page.toolbar.buttons["filters"].label
    panel.text = "lots"
    panel.param.trigger("add")
    assert "Channels" in panel.error and len(page.view.filters) == 1
    panel.field = "country"
    panel.op = "in"
    panel.picks = ["GB", "DE"]
    panel.param.trigger("add")
    assert page.total == int(((frame.channels >= 100) & frame.country.isin(["GB", "DE"])).sum())
    panel.remove(0)
    assert len(page.view.filters) == 1
    panel.param.trigger("clear_all")
    assert page.view.filters == [] and page.total == 400


def test_a_change_from_elsewhere_is_picked_up_by_polling(page, demo):
    assert page.poll() is False
    add_customer(demo, {"name": "Aaa First", "currency": "EUR"})
    assert page.poll() is True
    assert page.total == 401
    bulk_edit(demo, [int(page.grid.table.value["id"].iloc[0])], {"channels": 12345})
    page.poll()
    assert 12345 in page.grid.table.value["channels"].tolist()


def test_a_view_round_trips_through_its_link(page):
    page.view.param.update(groups=["status"], sort=[["count", "desc"]], page_size=25)
    link = page.view.url("http://host/")
    other = customers_page(page.store, view=View.from_url(link))
    assert other.view.to_dict() == page.view.to_dict()
    first = other.aggregates.tree.table.value.iloc[1]["c0"]  # groups show as a tree (Total first)
    assert first == page.aggregates.tree.table.value.iloc[1]["c0"]


def test_a_link_past_the_last_page_shows_the_last_page(demo):
    page = customers_page(demo, view=View(page=99))
    assert page.view.page == 8 and len(page.grid.table.value) == 400 - 7 * 50
    assert page.footer._pager.value == 7


def test_saved_views(page):
    page.view.param.update(status="Pending Approval", columns=["id", "name", "credit"])
    page.view_name = "Pending credit"
    page.param.trigger("save_view")
    fresh = customers_page(page.store)
    fresh.toolbar.param.trigger("columns")  # the saved views are listed in the pop-out
    assert fresh._columns_drawer.open
    assert "Pending credit" in fresh.param.saved.objects
    fresh.saved = "Pending credit"
    assert fresh.view.status == "Pending Approval" and fresh.view.columns == [
        "id",
        "name",
        "credit",
    ]


def test_delete_asks_then_deletes_the_selection(page, demo):
    page.toolbar.param.trigger("delete")
    assert "Tick the customers" in page.message
    page.grid.table.selection = [0, 1, 2]
    page.toolbar.param.trigger("delete")
    dialog = page.delete_dialog
    assert dialog.is_open and "Delete 3 customers" in dialog._text.object
    dialog.param.trigger("confirm")
    assert page.total == 397 and "Deleted 3 customers" in page.message
    assert page.selection.count == 0 and page.notices._undo.visible


def test_export_downloads_the_whole_view(page, frame):
    page.view.status = "Active"
    data = page._export("csv").getvalue().decode()
    assert len(data.strip().splitlines()) == int((frame.status == "Active").sum()) + 1


def test_send_needs_a_selection(page):
    page.toolbar.param.trigger("send")
    assert "Tick the customers to write to" in page.message


def test_value_options_only_offer_sensible_aggregates():
    opts = value_options()
    assert opts["Sum of Balance"] == "credit:sum"
    assert "Sum of Customer Name" not in opts
    assert "Count distinct of Country" in opts


def test_panels_are_viewers_that_render(demo):
    view = View()
    for viewer in (ColumnsPanel(view=view), FiltersPanel(view=view)):
        assert isinstance(viewer, pn.viewable.Viewer)
        assert viewer.__panel__() is not None


def test_go_to_page_and_page_size_in_the_footer(page):
    footer = page.footer
    footer.page_size = 25
    assert page.view.page_size == 25 and footer._pager.count == 16
    footer.go_to = "7"
    assert page.view.page == 7 and footer._pager.value == 6 and footer.go_to == ""
    footer.go_to = "seven"  # not a number: nothing happens
    assert page.view.page == 7
    footer.go_to = "999"  # past the last: the last
    assert page.view.page == 16
    assert '"page":16' in page.link_query().replace("%22", '"').replace("%3A", ":")


def test_dragged_and_resized_headers_are_kept_in_the_view(page):
    import json

    before = list(page.view.columns)
    moved = [before[0], before[1], before[3], before[2], *before[4:]]
    page.grid.column_state.value = json.dumps({"order": moved, "widths": {"name": 333}})
    assert page.view.columns == moved and page.view.widths == {"name": 333}
    assert page.grid.table.widths["name"] == 333
    assert list(page.grid.table.value.columns) == moved
    assert View.from_url("?" + page.link_query()).widths == {"name": 333}


def test_a_header_menu_sorts_filters_groups_hides_and_pins(page):
    import json

    def menu(choice, name):
        page.grid.column_state.value = json.dumps({"menu": choice, "field": name, "at": choice})

    menu("desc", "credit")
    assert page.view.sort == [["credit", "desc"]]
    menu("left", "credit")
    assert page.grid.table.frozen_columns["credit"] == "left"
    menu("hide", "channels")
    assert "channels" not in page.view.columns
    menu("filter", "country")
    assert page._filters_drawer.open and page.filters_panel.field == "country"
    menu("group", "status")
    assert page.view.groups == ["status"]


def test_tree_and_pivot_header_menus_sort_hide_and_ungroup(page):
    import json

    def menu(menus, choice, key):
        menus.state.value = json.dumps({"menu": choice, "field": key, "at": choice})

    def offered(menus, key):
        return [c for c, _label in json.loads(menus.items.value)[key]]

    page.view.param.update(groups=["status", "country"], values=[["credit", "sum"]])
    tree = page.aggregates.tree
    keys = {name: key for key, name in tree._display.keys.items()}
    # a value column sorts and hides; the label column removes either grouping
    assert offered(tree.menus, keys["sum_credit"]) == ["asc", "desc", "hide"]
    assert offered(tree.menus, "c0")[-2:] == ["ungroup:status", "ungroup:country"]
    menu(tree.menus, "desc", keys["sum_credit"])
    assert page.view.sort == [["sum_credit", "desc"]]
    menu(tree.menus, "hide", keys["sum_credit"])
    # the engine leaves it out: the tree has no such column (the title is gone)
    assert page.view.hidden == ["sum_credit"] and "sum_credit" not in tree._display.keys.values()
    assert "Sum of Balance" not in tree.table.titles.values()
    assert View.from_url("?" + page.link_query()).hidden == ["sum_credit"]
    assert offered(tree.menus, "c0")[-1] == "show"
    menu(tree.menus, "show", "c0")
    assert page.view.hidden == [] and "sum_credit" in tree._display.keys.values()
    menu(tree.menus, "ungroup:country", "c0")
    assert page.view.groups == ["status"]

    page.view.param.update(pivot="country", hidden=[])
    panel = page.aggregates
    display = panel._display
    cells = {key for key, name in display.keys.items() if name in panel._result.value_of}
    key = sorted(cells)[0]
    # one row group: a pivot keeps it (its rows); a pivot column sorts by its cells and hides
    assert offered(panel.menus, "c0") == ["asc", "desc"]
    assert offered(panel.menus, key) == ["asc", "desc", "hide"]
    menu(panel.menus, "desc", key)
    assert "@" in page.view.sort[0][0] and page.view.sort[0][1] == "desc"
    title = panel.table.titles[key]
    menu(panel.menus, "hide", key)
    assert page.view.hidden and title not in panel.table.titles.values()
    # the Columns pop-out lists it, and shows it back
    columns = page.columns_panel
    named = page.view.hidden[0].partition("@")[2]  # as the header read it, "AE (EUR)"
    assert title.startswith(named)
    shows = [b for b in columns._hidden.objects if getattr(b, "label", "") == f"Show {named}"]
    assert columns._hidden.visible and len(shows) == 1
    shows[0].clicks += 1
    assert page.view.hidden == [] and title in panel.table.titles.values()
    assert not columns._hidden.visible


def test_a_group_view_lacking_a_rate_says_so_under_its_headers_and_recovers(page, demo):
    # a customer in a currency without a rate: the total over currencies cannot be made
    add_customer(demo, {"name": "Fjord Telecom AS", "currency": "NOK", "credit": "100"})
    page.view.param.update(groups=["status"], values=[["credit", "sum"]])
    aggregates = page.aggregates
    assert page._body.objects[0] is not page.grid  # not the rows' "No customer matches"
    assert aggregates._refusal in aggregates._table_box.objects
    assert "no exchange rate into EUR for NOK" in aggregates._refusal.object
    assert list(aggregates.table.titles.values()) == ["Status", "Customers", "Sum of Balance"]
    assert aggregates.table.value.empty
    # one currency: computed again, the reason gone
    page.view.param.update(filters=[["currency", "=", "USD"]])
    assert aggregates._refusal not in aggregates._table_box.objects
    assert page.aggregates.tree.table.value.iloc[0]["c0"] == "Total"
