"""The page's analyst parts without a browser: usage source, percentages, the chart beside
the table, the report export, the SQL box and the view-as-code dialog."""

from __future__ import annotations

import io

import openpyxl
import panel as pn
import pytest
from bokeh.document import Document

from dashboard.query import View
from dashboard.ui.app import customers_page
from dashboard.ui.display import PERCENT


@pytest.fixture
def page(demo):
    p = customers_page(demo)
    p.__panel__().get_root(Document())
    return p


def figure_of(page):
    """The Bokeh figure beside the table (below its title)."""
    return next(o.object for o in page.aggregates._chart.objects if isinstance(o, pn.pane.Bokeh))


def test_chart_beside_groups_and_pivots_only(page):
    assert page._body.objects == [page.grid.table]
    page.view.param.update(groups=["status"], pivot="currency")
    bars = figure_of(page).renderers[0].data_source.data
    assert list(bars["row"]) == list(page._result.data["status"])
    page.aggregates.chart_kind = "heatmap"
    assert "v" in figure_of(page).renderers[0].data_source.data
    page.view.param.update(groups=[], pivot=None)
    assert page._body.objects == [page.grid.table]


def test_only_the_chart_kinds_that_cannot_draw_are_disabled_saying_why(page):
    """Issue 18: a kind that cannot draw the result is disabled alone, its reason its
    name (and tooltip); the chosen kind is kept for when it can draw again."""
    page.view.param.update(groups=["status"])
    page.aggregates.chart_kind = "heatmap"
    kinds = page.aggregates._kinds
    assert not kinds["bar"].disabled and kinds["bar"].variant == "contained"  # drawn
    for k in ("stacked", "heatmap"):
        assert kinds[k].disabled
        assert "need" in kinds[k].description and "second group level or a pivot" in (
            kinds[k].description)  # fmt: skip
    assert page.aggregates.chart_kind == "heatmap"  # kept (the link keeps it too)
    page.view.param.update(groups=["status", "country"])
    assert not any(b.disabled for b in kinds.values()) and kinds["heatmap"].variant == "contained"
    # averages do not stack: Stacked alone is disabled
    page.view.param.update(values=[["credit", "avg"]])
    assert (
        kinds["stacked"].disabled and "only counts and sums stack" in kinds["stacked"].description
    )
    assert not kinds["heatmap"].disabled and not kinds["bar"].disabled


def test_a_chart_without_rates_names_the_missing_currencies(store):
    """Issue 18: a chart compares every currency converted: without some rates it cannot,
    and it names them (it said "import exchange rates", not which)."""
    from dashboard import add_demo_customers
    from dashboard.money import import_rates

    add_demo_customers(store, 200, seed=7)
    have = {"USD": "0.92", "GBP": "1.17", "AUD": "0.6", "CAD": "0.66", "PLN": "0.23",
            "BRL": "0.17", "SGD": "0.69", "INR": "0.011", "MXN": "0.05", "NGN": "0.00058",
            "ZAR": "0.05", "SEK": "0.087", "CHF": "1.05"}  # fmt: skip
    import_rates(store, "".join(f"{c},{r}\n" for c, r in have.items()), base="EUR")
    page = customers_page(store, view=View(groups=["status"], pivot="currency",
                                           values=[["credit", "sum"]]))  # fmt: skip
    page.__panel__().get_root(Document())
    said = page.aggregates._chart.objects[0].object
    assert "no exchange rate into EUR for AED, JPY" in said and "Setup › Rates" in said, said
    assert all("AED, JPY" in b.description for b in page.aggregates._kinds.values())


def test_switching_to_usage_keeps_what_makes_sense(page, demo):
    panel = page.columns_panel
    page.view.param.update(groups=["country"], values=[["credit", "sum"]])
    panel.source = "usage"
    assert page.view.source == "usage"
    assert page.view.groups == ["country"] and page.view.values == []
    assert "Revenue" in panel._columns.options and "Sum of Revenue" in panel._values.options
    assert "Month" in panel._groups.options
    panel.aggregates = ["revenue:sum", "asr:avg"]
    # groups show as a tree (issue 18): its grid, not the pivot's table
    assert page.aggregates.tree.table.titles["c2"] == "Sum of Revenue (EUR)"  # 15 currencies
    assert "Average of ASR %" in page.aggregates.tree.table.titles.values()
    assert "Revenue" in page.filters_panel._field.options
    panel.source = "customers"
    assert page.view.source == "customers" and page.view.values == []
    assert "Revenue" not in page.filters_panel._field.options


def test_percentages_are_formatted_as_such(page):
    page.view.param.update(groups=["status"], pivot="currency")
    page.columns_panel.show = "row"
    assert page.view.percent == "row"
    total_key = [k for k, t in page.aggregates.table.titles.items() if t == "Total"][0]
    assert page.aggregates.table.formatters[total_key] == PERCENT
    assert set(page.aggregates.table.value[total_key]) == {100.0}
    page.view.percent = None
    assert page.columns_panel.show == "values"


def test_pivot_export_is_a_formatted_report(page):
    page.view.param.update(groups=["status"], pivot="currency", values=[["credit", "sum"]])
    data = page._export("xlsx").getvalue()
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    # each currency's column in its own currency (issue 18), the row totals in EUR
    assert ws["A1"].value == "Sum of Balance (per currency) by Status and Currency"
    assert "Total (EUR)" in [c.value for c in ws[5]]
    assert ws.freeze_panes == "B6"
    assert ws[ws.max_row][0].value == "Total"


def test_sql_box_runs_reads_and_refuses(page):
    page.toolbar.param.trigger("sql")
    box = page._dialogs["sql"]
    assert box._dialog.open
    box.sql = "SELECT status, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1"
    box.run = True
    assert box.message == "3 rows"
    assert list(box._grid.value.columns) == ["status", "n"]
    csv = box._download("csv").getvalue().decode()
    assert csv.splitlines()[0] == "status,n"
    box.sql = "DELETE FROM customers"
    box.run = True
    assert box._alert.severity == "error" and "only a SELECT" in box.message
    assert page.store.scalar("SELECT count(*) FROM customers") == 400


def test_view_as_code(page):
    page.view.param.update(groups=["status"], values=[["credit", "sum"]])
    page.toolbar.param.trigger("code")
    code = page._dialogs["code"]
    assert "view = View(groups=['status'], values=[['credit', 'sum']])" in code.python
    assert View.from_json(code.json).groups == ["status"]
    assert code.link.startswith("http://localhost:5006/?view=")


def test_the_code_runs_when_pasted_alone(tmp_path):
    import subprocess
    import sys

    from dashboard import Store, add_demo_customers, add_demo_rates
    from dashboard.ui.page import code_for

    db = tmp_path / "c.duckdb"
    with Store(db) as store:
        add_demo_customers(store, 120, seed=3)
        codes = [c for (c,) in store.rows("SELECT DISTINCT currency FROM customers")]
        add_demo_rates(store, dict.fromkeys(codes, 1))  # at 1 EUR each: the plain sums
        want = store.df("SELECT status, sum(credit) AS s FROM customers GROUP BY 1 ORDER BY 1")
    code = code_for(View(groups=["status"], values=[["credit", "sum"]]))
    code += "print(result.table().to_csv(index=False))\n"
    env = {**__import__("os").environ, "CUSTOMER_DASHBOARD_DB": str(db)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout  # fmt: skip
    lines = out.strip().splitlines()
    assert lines[0] == "Status,Customers,Sum of Balance (EUR)"
    for (status, total), line in zip(want.itertuples(index=False), lines[1:], strict=False):
        assert line.startswith(f"{status},") and line.endswith(f",{total}")
    assert lines[-1].startswith("Total,120,")
