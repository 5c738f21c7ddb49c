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
    assert len(page._table.value) == 50
    assert page.total == 400
    assert page._count.object == "400 customers"
    assert page._table.titles["name"] == "Customer Name"
    assert page._pager.count == 8


def test_active_filters_and_resets_to_page_one(page, frame):
    page.view.page = 3
    page.status = "Inactive"
    assert page.view.status == "Inactive" and page.view.page == 1
    assert page.total == int((frame.status == "Inactive").sum())
    assert set(page._table.value["status"]) == {"Inactive"}


def test_pager_and_sorters_drive_the_query(page, frame):
    page._pager.value = 2
    assert page.view.page == 3
    page._table.sorters = [{"field": "credit", "dir": "desc"}]
    assert page.view.sort == [["credit", "desc"]] and page.view.page == 1
    want = frame.sort_values(["credit", "id"], ascending=[False, True]).id.head(50).tolist()
    assert page._table.value["id"].tolist() == want


def test_selection_survives_paging_and_is_cleared_when_filters_change(page):
    page._table.selection = [0, 2]
    first = page._table.value["id"].iloc[[0, 2]].tolist()
    assert page.selected_ids == first
    page._pager.value = 1
    page._table.selection = [1]
    second = page._table.value["id"].iloc[1]
    page._pager.value = 0
    assert page._table.selection == [0, 2]
    assert sorted(page.selected_ids) == sorted([*first, second])
    page.view.search = "blue"
    assert page.selected_ids == [] and "selection was cleared" in page.message


def test_select_all_matching_targets_the_view(page, frame):
    page.status = "Active"
    page.param.trigger("select_all")
    assert page.selected_count == int((frame.status == "Active").sum())
    target = page.selection_target()
    assert isinstance(target, View) and target.status == "Active"
    assert page._table.selection == list(range(50))


def test_groups_show_totals_and_open_a_group(page, frame):
    page.view.param.update(groups=["country"], values=[["credit", "sum"]])
    shown = page._agg_table.value
    assert shown.iloc[-1]["c0"] == "Total"
    assert page._agg_table.titles["c2"] == "Sum of Balance"
    assert page._agg_table.visible and not page._table.visible
    assert page._count.object.startswith(f"{frame.country.nunique()} groups")
    page._on_click(type("E", (), {"row": 0, "column": "c0"})())
    country = page._result.data.iloc[0]["country"]
    assert page._group_box.visible
    assert len(page._group_table.value) == min(50, int((frame.country == country).sum()))
    assert set(page._group_table.value["country"]) == {country}


def test_pivot_mode_from_the_columns_panel(page, frame):
    panel = page._columns_panel
    page.view.groups = ["status"]
    panel.aggregates = ["credit:sum"]
    panel.pivot_field = "currency"
    panel.pivot_mode = True
    assert page.view.pivot == "currency"
    titles = set(page._agg_table.titles.values())
    assert {"Status", "EUR", "USD", "Total"} <= titles


def test_filters_panel_adds_typed_filters_and_refuses_bad_values(page, frame):
    panel = page._filters_panel
    panel.field = "channels"
    panel.op = ">="
    panel.text = "1E+2"
    panel.param.trigger("add")
    assert page.view.filters == [{"field": "channels", "op": ">=", "value": "1E+2"}]
    assert page.total == int((frame.channels >= 100).sum())
    assert "Filters (1)" == page._filters_btn.label
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
    bulk_edit(demo, [int(page._table.value["id"].iloc[0])], {"channels": 12345})
    page.poll()
    assert 12345 in page._table.value["channels"].tolist()


def test_url_state_round_trip(page):
    page.view.param.update(groups=["status"], sort=[["count", "desc"]])
    link = page.view_state
    other = customers_page(page.store)
    other.view_state = link
    assert other.view.to_dict() == page.view.to_dict()
    other.view_state = {"columns": ["nope"]}
    assert "could not be opened" in other.message


def test_saved_views(page):
    page.view.param.update(status="Pending Approval", columns=["id", "name", "credit"])
    page.view_name = "Pending credit"
    page.param.trigger("save_view")
    fresh = customers_page(page.store)
    assert "Pending credit" in fresh.param.saved.objects
    fresh.saved = "Pending credit"
    assert fresh.view.status == "Pending Approval" and fresh.view.columns == [
        "id",
        "name",
        "credit",
    ]


def test_delete_asks_then_deletes_the_selection(page, demo):
    page.param.trigger("delete")
    assert "Tick the customers" in page.message
    page._table.selection = [0, 1, 2]
    page.param.trigger("delete")
    assert page._confirm.open and "Delete 3 customers" in page._confirm_text.object
    page.param.trigger("confirm_delete")
    assert page.total == 397 and "Deleted 3 customers" in page.message


def test_export_downloads_the_whole_view(page, frame):
    page.status = "Active"
    data = page._export("csv").getvalue().decode()
    assert len(data.strip().splitlines()) == int((frame.status == "Active").sum()) + 1


def test_send_needs_a_selection(page):
    page.param.trigger("send")
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
