"""Issue 18: a group or pivot column hidden from its header menu (`View.hidden`) is left out
by the engine, so every consumer of the view leaves it out alike: `run` and `to_arrow` (the
Python API), the chart, the CSV and XLSX report, and `customer-dashboard pivot` (`--hide`,
or a `--view` with `hidden`). Shown again, it is back. The columns kept hold what an
independent DuckDB query gives."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from dashboard import View, chart, pivot_report, run, to_arrow
from dashboard.cli import main
from dashboard.query import hidden_title
from dashboard.reports import MONEY_FORMAT

TREE = View(groups=["status"], values=[["channels", "sum"], ["flow_speed", "sum"]])
PIVOT = View(groups=["country"], pivot="status", values=[["channels", "sum"]])


def by_status(store, what: str) -> dict[str, int]:
    """`what` per status, from a query of its own."""
    return {s: int(v) for s, v in store.rows(
        f"SELECT status, {what} FROM customers GROUP BY status")}  # fmt: skip


def channels_by(store, country: str) -> dict[str, int]:
    return {s: int(v) for s, v in store.rows(
        "SELECT status, sum(channels) FROM customers WHERE country = ? GROUP BY status",
        [country])}  # fmt: skip


def test_a_hidden_group_value_is_not_in_the_result_and_shown_it_is(demo):
    shown = run(demo, TREE, paged=False)
    assert "sum_channels" in shown.data and "Sum of Channels" in shown.table()
    result = run(demo, TREE.copy(hidden=["sum_channels"]), paged=False)
    assert list(result.data.columns) == ["status", "count", "sum_flow_speed"]
    assert list(result.totals.columns) == ["count", "sum_flow_speed"]
    assert list(result.table().columns) == ["Status", "Customers", "Sum of Flow Speed (CPS)"]
    # what stays is what it was (the same sort, the same figures)
    want = by_status(demo, "sum(flow_speed)")
    assert dict(zip(result.data.status, result.data.sum_flow_speed, strict=True)) == want
    assert int(result.totals.sum_flow_speed.iloc[0]) == sum(want.values())
    assert result.customers == shown.customers == 400
    # the count too: a group's customers are still counted (for the selection)
    counted = run(demo, TREE.copy(hidden=["count"]), paged=False)
    assert "count" not in counted.data and "count" not in counted.totals
    assert counted.customers == 400
    assert list(to_arrow(demo, TREE.copy(hidden=["sum_channels"])).column_names) == [
        "status", "count", "sum_flow_speed"]  # fmt: skip


def test_a_hidden_pivot_column_and_total_are_not_in_the_result(demo):
    view = PIVOT.copy(hidden=["sum_channels@Inactive", "sum_channels"])
    shown = run(demo, PIVOT, paged=False)
    assert {"Inactive", "Total"} <= set(shown.data.columns)
    result = run(demo, view, paged=False)
    assert "Inactive" not in result.data and "Total" not in result.data
    assert "Inactive" not in result.totals and "Total" not in result.totals
    assert "Inactive" not in result.table().columns and "Active" in result.table().columns
    assert set(result.sorts_by.values()) == {"sum_channels@Active",
                                             "sum_channels@Pending Approval"}  # fmt: skip
    gb = result.data.set_index("country").loc["GB"]
    want = channels_by(demo, "GB")
    assert int(gb["Active"]) == want["Active"]
    assert int(gb["Pending Approval"]) == want.get("Pending Approval", 0)
    # a sort by a hidden column still sorts (the column itself is not shown)
    ordered = run(demo, view.copy(sort=[["sum_channels", "desc"]]), paged=False)
    totals = {c: int(v) for c, v in demo.rows(
        "SELECT country, sum(channels) FROM customers GROUP BY country")}  # fmt: skip
    assert list(ordered.data.country) == sorted(totals, key=lambda c: (-totals[c], c))
    assert list(to_arrow(demo, view).column_names) == ["country", "Active", "Pending Approval"]
    # its title, as its header read, for the Columns pop-out
    assert [hidden_title(view, h) for h in view.hidden] == ["Inactive", "Total"]
    assert hidden_title(TREE, "sum_channels") == "Sum of Channels"


def test_the_chart_draws_what_the_view_shows(demo):
    view = TREE.copy(hidden=["sum_channels"])
    fig = chart(run(demo, view, paged=False), view)
    # the first value shown (Sum of Flow Speed), not the hidden Sum of Channels
    assert fig.title.text == "Sum of Flow Speed (CPS) by Status"
    bars = fig.renderers[0].data_source.data
    assert dict(zip(bars["row"], bars["value"], strict=True)) == by_status(demo, "sum(flow_speed)")
    # shown, the first value is charted
    assert chart(run(demo, TREE, paged=False), TREE).title.text == "Sum of Channels by Status"
    pivot = PIVOT.copy(hidden=["sum_channels@Inactive"])
    legend = [i.label.value for i in chart(run(demo, pivot, paged=False), pivot,
                                           "stacked").legend[0].items]  # fmt: skip
    assert "Inactive" not in legend and "Active" in legend
    shown = [i.label.value for i in chart(run(demo, PIVOT, paged=False), PIVOT,
                                          "stacked").legend[0].items]  # fmt: skip
    assert "Inactive" in shown


def test_the_report_leaves_a_hidden_column_out(demo, tmp_path):
    view = TREE.copy(hidden=["sum_channels"])
    pivot_report(demo, view, tmp_path / "r.csv")
    rows = list(csv.reader((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["Status", "Customers", "Sum of Flow Speed (CPS)"]
    want = by_status(demo, "sum(flow_speed)")
    assert {r[0]: int(float(r[2])) for r in rows[1:-1]} == want
    pivot_report(demo, TREE, tmp_path / "all.csv")
    assert "Sum of Channels" in (tmp_path / "all.csv").read_text(encoding="utf-8-sig")
    # XLSX: the title and the header say only what is there, each column its own format
    money = View(groups=["status"], values=[["channels", "sum"], ["credit", "sum"]],
                 hidden=["count", "sum_channels"])  # fmt: skip
    pivot_report(demo, money, tmp_path / "r.xlsx")
    ws = load_workbook(tmp_path / "r.xlsx").active
    at = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Status")
    assert [c.value for c in ws[at] if c.value] == ["Status", "Sum of Balance (EUR)"]
    assert ws["A1"].value == "Sum of Balance (EUR) by Status"
    assert ws.cell(at + 1, 2).number_format == MONEY_FORMAT  # money's, not the count's
    pivot = PIVOT.copy(hidden=["sum_channels@Inactive"])
    pivot_report(demo, pivot, tmp_path / "p.xlsx")
    ws = load_workbook(tmp_path / "p.xlsx").active
    header = next(r for r in ws.iter_rows(values_only=True) if r and r[0] == "Country")
    assert "Inactive" not in header and "Active" in header and "Total" in header


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "customers.duckdb"
    assert main(["init", "--db", str(path), "--demo", "80"]) == 0
    return path


def printed(capsys, *args: str) -> list[list[str]]:
    assert main(["pivot", *args, "--format", "csv"]) == 0
    return list(csv.reader(io.StringIO(capsys.readouterr().out)))


def test_the_cli_pivot_hides_a_column(db, capsys):
    from dashboard import open_store

    common = ["--db", str(db), "--rows", "status", "--values", "channels:sum,flow_speed:sum"]
    assert printed(capsys, *common)[0] == ["status", "Customers", "Sum of Channels",
                                           "Sum of Flow Speed (CPS)"]  # fmt: skip
    got = printed(capsys, *common, "--hide", "sum_channels")
    assert got[0] == ["status", "Customers", "Sum of Flow Speed (CPS)"]
    with open_store(db) as store:
        want = by_status(store, "sum(flow_speed)")
    assert {r[0]: int(float(r[2])) for r in got[1:-1]} == want
    # repeatable; and a view's own hidden (from the page's Code) is honoured
    got = printed(capsys, *common, "--hide", "sum_channels", "--hide", "count")
    assert got[0] == ["status", "Sum of Flow Speed (CPS)"]
    view = PIVOT.copy(hidden=["sum_channels@Inactive"])
    got = printed(capsys, "--db", str(db), "--view", view.to_json())
    assert "Inactive" not in got[0] and "Active" in got[0]
    got = printed(capsys, "--db", str(db), "--view", PIVOT.to_json(), "--hide", "sum_channels")
    assert "Total" not in got[0] and "Inactive" in got[0]
    # the group tree printed with a group open leaves it out as well
    assert main(["pivot", *common, "--hide", "sum_channels", "--expand", "Active",
                 "--json"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Sum of Channels" not in out and "Sum of Flow Speed (CPS)" in out
