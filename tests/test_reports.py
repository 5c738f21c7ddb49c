"""Pivot reports written to XLSX and CSV and read back; charts of a result."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from dashboard import UserError, View, run, update_customer
from dashboard.charts import TOP_N, chart
from dashboard.reports import COUNT_FORMAT, MONEY_FORMAT, PERCENT_FORMAT, pivot_report


def _sheet(path):
    return openpyxl.load_workbook(path).active


def test_xlsx_report_reads_back_as_sent(demo, tmp_path):
    view = View(source="usage", status="Active", groups=["country"], pivot="month",
                values=[["revenue", "sum"]], filters=[{"field": "currency", "op": "in",
                "value": ["USD", "EUR"]}])  # fmt: skip
    out = tmp_path / "report.xlsx"
    n = pivot_report(demo, view, out)
    result = run(demo, view, paged=False)
    assert n == len(result.data)
    ws = _sheet(out)
    assert ws["A1"].value == "Sum of Revenue (EUR) by Country and Month"
    assert ws["A1"].font.bold
    assert ws["A2"].value == "Filters: Status = Active; Currency is one of USD, EUR"
    header = [c.value for c in ws[5]]
    assert header[0] == "Country" and header[-1] == "Total (EUR)"
    assert all(c.font.bold for c in ws[5])
    assert ws.freeze_panes == "B6"
    first = [c.value for c in ws[6]]
    assert first[0] == result.data["country"].iloc[0]
    assert first[-1] == pytest.approx(float(result.data["Total"].iloc[0]))
    assert ws.cell(6, 2).number_format == MONEY_FORMAT
    last = ws[ws.max_row]
    assert last[0].value == "Total" and last[0].font.bold
    assert last[-1].value == pytest.approx(float(result.totals["Total"].iloc[0]))
    assert ws.max_row == 5 + n + 1


def test_percentage_and_count_formats(demo, tmp_path):
    out = tmp_path / "share.xlsx"
    pivot_report(demo, View(groups=["status"], pivot="currency", percent="row"), out)
    ws = _sheet(out)
    assert ws.cell(6, 2).number_format == PERCENT_FORMAT
    assert ws.cell(6, ws.max_column).value == 100
    out2 = tmp_path / "counts.xlsx"
    pivot_report(demo, View(groups=["status", "country"]), out2)
    ws2 = _sheet(out2)
    assert ws2.freeze_panes == "C6"
    assert ws2.cell(6, 3).number_format == COUNT_FORMAT
    assert ws2.cell(6, 3).value == int(run(demo, View(groups=["status", "country"])).data
                                       ["count"].iloc[0])  # fmt: skip


def test_csv_report_has_page_titles_and_totals(demo, tmp_path):
    out = tmp_path / "report.csv"
    view = View(groups=["status"], values=[["credit", "sum"]])
    pivot_report(demo, view, out)
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["Status", "Customers", "Sum of Balance (EUR)"]
    assert rows[-1][0] == "Total"
    assert int(rows[-1][1]) == 400


def test_labels_that_look_like_formulas_are_neutralised(demo, tmp_path):
    update_customer(demo, 1, {"city": '=HYPERLINK("http://x")'})
    out = tmp_path / "cities.xlsx"
    pivot_report(demo, View(groups=["city"], filters=[{"field": "id", "op": "=", "value": 1}]),
                 out)  # fmt: skip
    ws = _sheet(out)
    assert ws.cell(6, 1).value.startswith("'=")
    assert ws.cell(6, 1).data_type == "s"


def test_report_refuses_rows_and_unknown_formats(demo, tmp_path):
    with pytest.raises(UserError, match="needs row groups or a pivot"):
        pivot_report(demo, View(), tmp_path / "x.xlsx")
    with pytest.raises(UserError, match=".xlsx or .csv"):
        pivot_report(demo, View(groups=["status"]), tmp_path / "x.pdf")


def test_charts_draw_the_result(demo):
    view = View(groups=["status"], pivot="currency")
    result = run(demo, view)
    bars = chart(result, view, "bar")
    data = bars.renderers[0].data_source.data
    assert list(data["row"]) == list(result.data["status"])
    assert list(data["value"]) == [float(x) for x in result.data["Total"]]
    stacked = chart(result, view, "stacked")
    currencies = [c for c in result.data.columns if c not in ("status", "Total")]
    # at most TOP_N series: the largest, the rest added up as Other (issue 18)
    assert len(stacked.renderers) == min(len(currencies), TOP_N)
    labels = [item.label.value for item in stacked.legend[0].items]
    assert labels[-1] == ("Other" if len(currencies) > TOP_N else currencies[-1])
    heat = chart(result, view, "heatmap")
    assert len(heat.renderers[0].data_source.data["v"]) == len(currencies) * len(result.data)
    with pytest.raises(UserError, match="chart kind"):
        chart(result, view, "pie")


def test_charts_spread_the_second_group_level_and_a_pivots_first_value(demo):
    """Issue 18: stacked bars and a heatmap of two group levels; a pivot of two values
    charts the pivot's columns of the first value; a kind that cannot apply says why."""
    from bokeh.models import ColorBar

    from dashboard.charts import OTHER, kind_problem

    view = View(groups=["status", "country"], values=[["credit", "sum"]])
    result = run(demo, view, paged=False, converted=True)
    stacked = chart(result, view, "stacked")
    assert {type(r.glyph).__name__ for r in stacked.renderers} == {"VBar"}
    statuses = sorted(set(result.data["status"]))
    assert sorted(stacked.x_range.factors) == statuses  # the first level: one stacked bar each
    series = [item.label.value for item in stacked.legend[0].items]
    countries = set(result.data["country"])
    assert len(series) == min(len(countries), TOP_N)
    assert series[-1] == (OTHER if len(countries) > TOP_N else series[-1])
    # each stack adds up to its status's sum: no customer lost to Other
    source = stacked.renderers[0].data_source.data
    keys = [k for k in source if k.startswith("k")]
    for i, status in enumerate(source["row"]):
        want = float(result.data.loc[result.data["status"] == status, "sum_credit"].sum())
        assert sum(source[k][i] for k in keys) == pytest.approx(want, abs=0.01)
    heat = chart(result, view, "heatmap")
    assert [type(r.glyph).__name__ for r in heat.renderers] == ["Rect"]
    assert any(isinstance(x, ColorBar) for x in heat.right)
    # one level: no second dimension, said in words (the page draws bars under it)
    one = View(groups=["status"])
    assert "second group level or a pivot" in kind_problem(one, "heatmap")
    with pytest.raises(UserError, match="second group level"):
        chart(run(demo, one), one, "stacked")
    avg = View(groups=["status", "country"], values=[["credit", "avg"]])
    assert "only counts and sums stack" in kind_problem(avg, "stacked")
    assert kind_problem(avg, "heatmap") is None

    two = View(groups=["status"], pivot="currency",
               values=[["credit", "sum"], ["debit_limit", "sum"]])  # fmt: skip
    result = run(demo, two, paged=False, converted=True)
    bars = chart(result, two, "bar")
    # the row totals of the first value, titled with the unit they are in
    assert bars.title.text == "Sum of Balance (EUR) by Status"
    assert list(bars.renderers[0].data_source.data["value"]) == pytest.approx(
        [float(x) for x in result.data["Total · Sum of Balance"]])  # fmt: skip
    stacked = chart(result, two, "stacked")
    assert stacked.title.text == (
        "Sum of Balance (EUR) by Status and Currency, each currency converted"
    )
    currencies = [c[: -len(" · Sum of Balance")] for c in result.data.columns
                  if c.endswith(" · Sum of Balance") and not c.startswith("Total")]  # fmt: skip
    labels = [item.label.value for item in stacked.legend[0].items]
    assert len(labels) == min(len(currencies), TOP_N)
    assert set(labels) - {OTHER} <= set(currencies)


def test_a_bar_of_other_does_not_flatten_the_named_bars(demo):
    """Issue 18: Other (the rest added up) is drawn apart, cut at the axis with its value
    written on it, when it would dwarf the named bars."""
    view = View(groups=["city"])
    result = run(demo, view, paged=False)
    fig = chart(result, view, "bar")
    data = fig.renderers[0].data_source.data
    assert data["row"][-1] == "Other"
    named, other = max(data["value"][:-1]), data["value"][-1]
    assert other > 2 * named  # the demo's many cities
    assert fig.y_range.end < other  # the axis fits the named bars
    assert data["color"][-1] != data["color"][0]
    text = [r for r in fig.renderers if type(r.glyph).__name__ == "Text"]
    assert text and text[0].data_source.data["text"] == [f"{other:,.0f} ↑"]
