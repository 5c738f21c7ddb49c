"""The notebook API: three lines to a DataFrame and its SQL, views that travel between the
page and a notebook, and every page operation as a function."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from bokeh.document import Document

import dashboard
from dashboard import (
    Store,
    UserError,
    View,
    add_demo_customers,
    add_demo_rates,
    bulk_edit,
    delete_customers,
    import_file,
    open_store,
    run,
    to_arrow,
    undo,
)
from dashboard.query import FIELD_LIST_HINT, ViewError
from dashboard.ui.app import customers_page

pytestmark = pytest.mark.both_backends


def test_three_lines_give_a_dataframe_and_its_sql(demo, tmp_path):
    path = tmp_path / "c.duckdb"
    with Store(path) as writer:
        add_demo_customers(writer, 120, seed=3)
        add_demo_rates(writer)  # Balance over 15 currencies is reported in EUR
    store = open_store(path)
    result = run(store, View(groups=["country"], values=[["credit", "sum"]]))
    assert result.data.columns.tolist() == ["country", "count", "sum_credit"]
    assert result.data["count"].sum() == 120
    assert result.sql.startswith('SELECT "country"') and "GROUPING SETS" in result.sql
    again = store.df(result.sql, result.params)  # the groups and their grand total, one scan
    groups = again[again["_gk"] == 0].sort_values("country", na_position="last")
    assert groups[result.data.columns].reset_index(drop=True).equals(result.data)
    assert again.loc[again["_gk"] != 0, "count"].tolist() == [120]
    store.close()


def test_arrow_tables_match_the_dataframes(demo):
    view = View(status="Active", columns=["id", "name", "credit"], sort=[["credit", "desc"]])
    table = to_arrow(demo, view)
    frame = run(demo, view, paged=False).data
    assert table.num_rows == len(frame)
    assert table.column("id").to_pylist() == frame["id"].tolist()
    pivot = to_arrow(demo, View(groups=["status"], pivot="currency"))
    assert pivot.num_rows == 3 and "Total" in pivot.column_names


def test_a_page_view_recreated_in_a_notebook(demo):
    page = customers_page(demo)
    page.__panel__().get_root(Document())
    page.view.param.update(source="usage", groups=["country"], pivot="month",
                           values=[["revenue", "sum"]], status="Active", percent="column")  # fmt: skip
    page.toolbar.param.trigger("code")
    dialog = page._dialogs["code"]
    line = next(x for x in dialog.python.splitlines() if x.startswith("view = "))
    code = line.removeprefix("view = ")
    rebuilt = eval(compile(ast.parse(code, mode="eval"), "<view>", "eval"), {"View": View})
    assert rebuilt.to_dict() == page.view.copy(page=1).to_dict()
    assert View.from_json(dialog.json).to_dict() == rebuilt.to_dict()
    assert View.from_url(dialog.link).to_dict() == rebuilt.to_dict()
    assert run(demo, rebuilt).data.equals(page._result.data)


def test_a_notebook_view_opens_in_the_page_by_its_url(demo):
    view = View(groups=["status"], pivot="currency", percent="row", filters=[
        {"field": "channels", "op": ">=", "value": 50}])  # fmt: skip
    url = view.url("http://127.0.0.1:5006/")
    page = customers_page(demo, view=View.from_url(url))  # what a served session opens
    page.__panel__().get_root(Document())
    assert page.view.to_dict() == view.to_dict()
    assert page._result.mode == "pivot"
    assert page._result.data.equals(run(demo, view).data)


def test_bulk_operations_from_a_notebook(demo, tmp_path):
    sheet = tmp_path / "new.csv"
    sheet.write_text("Company,Currency,Channels\nNotebook Telecom,EUR,30\nKernel Voice,USD,12\n")
    preview, batch = import_file(demo, sheet, user="analyst")
    assert preview.counts["new"] == 2 and batch.count == 2
    edited = bulk_edit(demo, View(search="Notebook Telecom"), {"channels": "+10"})
    assert demo.scalar("SELECT channels FROM customers WHERE name = 'Notebook Telecom'") == 40
    gone = delete_customers(demo, View(search="Kernel Voice"))
    assert demo.scalar("SELECT count(*) FROM customers WHERE name = 'Kernel Voice'") == 0
    for b in (gone, edited, batch):
        undo(demo, b.batch_id)
    assert demo.scalar("SELECT count(*) FROM customers WHERE name LIKE 'Notebook%'") == 0


def test_import_file_dry_run_writes_nothing(demo, tmp_path):
    sheet = tmp_path / "bad.csv"
    sheet.write_text("Company,Currency\nGood Co,EUR\nBad Co,QQQ\n")
    preview, batch = import_file(demo, sheet)
    assert batch is None
    assert [p.row for p in preview.problems] and "Currency" in preview.problems[0].describe()
    assert demo.scalar("SELECT count(*) FROM customers WHERE name = 'Good Co'") == 0


def test_notebook_helpers_render(demo):
    grid = dashboard.grid(demo, View(groups=["status"], values=[["credit", "sum"]]))
    assert grid.table.value.iloc[-1].tolist()[0] == "Total"
    assert list(grid.table.titles.values())[:2] == ["Status", "Customers"]
    page = dashboard.show(demo, View(status="Inactive"))
    assert page.total == demo.scalar("SELECT count(*) FROM customers WHERE status = 'Inactive'")
    assert page.toolbar._status.value == "Inactive"  # the Active select shows the view's


def test_the_grid_pages_and_sorts_the_whole_result_through_the_engine(demo):
    grid = dashboard.grid(demo, View(columns=["name", "credit"], page_size=20))
    assert grid.pages == 20 and grid.total == 400  # 400 demo customers
    assert "Page 1 of 20 · 400 customers" in grid._info.object
    grid.param.trigger("next")
    assert grid.view.page == 2 and "Page 2 of 20" in grid._info.object
    # a header click: the engine sorts all 400, and the grid shows page 1 of that order
    key = next(k for k, name in grid._display.keys.items() if name == "credit")
    grid.table.sorters = [{"field": key, "dir": "desc"}]
    top = demo.df("SELECT name FROM customers ORDER BY credit DESC, id LIMIT 20")
    assert grid.view.page == 1
    assert grid.table.value["name"].tolist() == top["name"].tolist()


def test_a_pivot_grid_keeps_its_total_row_last_when_sorted(demo):
    grid = dashboard.grid(demo, View(groups=["country"], pivot="status"))
    key = next(k for k, name in grid._display.keys.items() if name == "Total")
    grid.table.sorters = [{"field": key, "dir": "desc"}]
    assert grid.view.sort == [["count", "desc"]]
    labels = grid.table.value[next(iter(grid._display.keys))].tolist()
    assert labels[-1] == "Total"
    counts = grid.table.value[key].tolist()[:-1]
    assert counts == sorted(counts, reverse=True)
    # Tabulator leaves sorting to the server, which keeps the engine's order
    assert grid.table._sort_df(grid.table.value).equals(grid.table.value)


def test_missing_numbers_show_blank_in_the_grid(demo):
    demo.execute_write("DELETE FROM usage_daily WHERE customer_id = 1")
    grid = dashboard.grid(demo, View(columns=["id", "revenue_30d"], sort=[["id", "asc"]]))
    assert grid.table.value["revenue_30d"].iloc[0] is None


def test_field_list_names_labels_types_aggregates_and_operators():
    customers = dashboard.field_list()
    credit = customers.set_index("name").loc["credit"]
    assert credit["label"] == "Balance" and credit["type"] == "money"
    assert "sum" in credit["aggregates"] and ">=" in credit["filters"].split()
    assert "revenue_30d" in set(customers["name"]) and "revenue" not in set(customers["name"])
    usage = dashboard.field_list("Usage")
    assert {"revenue", "asr", "month", "country"} <= set(usage["name"])
    assert usage.set_index("name").loc["month", "group"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (dict(columns=["balance"]), r"did you mean 'credit' \(Balance\)"),
        (dict(columns=["revenue"]), "add source='usage'"),
        (dict(groups=["Country"]), "did you mean 'country'"),
        (
            dict(
                source="usage",
                groups=["country"],
                values=[["revenue", "sum"]],
                sort=[["revenue", "desc"]],
            ),
            "did you mean 'sum_revenue'",
        ),  # fmt: skip
        (dict(values=["revenue", "sum"]), r"values=\[\['revenue', 'sum'\]\]"),
        (dict(values=[["credit", "median"]]), "use one of: count, count_distinct, sum"),
        (dict(status="actve"), "status must be one of 'All', 'Active'"),
        (dict(filters=[{"field": "credit", ">": 5}]), "a filter is"),
        (dict(filters=[["balanse", ">", 5]]), "did you mean 'credit'"),
        (dict(sort=[5]), "a sort key is"),
    ],
)
def test_errors_name_what_is_valid_and_suggest_the_nearest(demo, settings, expected):
    with pytest.raises(UserError, match=expected):
        run(demo, View(**settings))


def test_a_bad_views_message_names_the_field_list_for_python_only(demo):
    """Python users are told where the names are listed; the page, the CLI and HTTP say the
    same problem without `dashboard.field_list()` (`ViewError.for_people`)."""
    with pytest.raises(ViewError) as caught:
        run(demo, View(columns=["name", "countri"], groups=["sttus"]))
    python, people = str(caught.value), caught.value.for_people
    assert python == f"{people}; {FIELD_LIST_HINT}"
    assert "did you mean 'country'" in people and "did you mean 'status'" in people
    assert "field_list" not in people
    with pytest.raises(ViewError) as caught:  # nothing misnamed: no list to point at
        run(demo, View(groups=["status"], percent="row"))
    assert "field_list" not in str(caught.value)


def test_choice_values_are_case_insensitive_everywhere(demo):
    active = run(demo, View(status="active", source="Customers")).total
    assert active == run(demo, View(filters=[["status", "=", "ACTIVE"]])).total
    assert active == demo.scalar("SELECT count(*) FROM customers WHERE status = 'Active'")
    shares = run(demo, View(groups=["status"], values=["credit:SUM"], percent="Column"))
    assert shares.data.columns.tolist() == ["status", "count", "sum_credit"]


def test_table_keeps_numbers_numeric(demo):
    table = run(demo, View(groups=["country"], values=[["credit", "sum"]])).table()
    assert table.iloc[-1, 0] == "Total"
    assert str(table["Customers"].dtype) == "int64"
    assert table["Sum of Balance (EUR)"].dtype.kind == "f"


def test_rows_hold_only_the_columns_asked_for(demo):
    assert run(demo, View(columns=["name", "credit"])).data.columns.tolist() == ["name", "credit"]
    with_key = run(demo, View(columns=["name"]), key=True)
    assert with_key.data.columns.tolist() == ["id", "name"]


def test_a_chart_of_a_rows_view_is_refused_and_a_pivot_chart_is_a_figure(demo):
    rows = View(columns=["name", "credit"])
    with pytest.raises(UserError, match="a chart needs a group or pivot view"):
        dashboard.chart(run(demo, rows), rows)
    pivot = View(groups=["status"], pivot="currency")
    fig = dashboard.chart(run(demo, pivot), pivot, "Stacked")
    assert fig.title.text == "Customers by Status and Currency"


def test_docstrings_say_what_run_returns_and_how_many_rows():
    assert "50" in run.__doc__ and ".data" in run.__doc__ and "paged=False" in run.__doc__
    doc = View.__doc__
    for word in ("field_list", "count_distinct", "not_empty", "sum_revenue", "percent"):
        assert word in doc
    assert doc.index("source") < doc.index("search_ids") if "search_ids" in doc else True


def test_core_modules_never_import_panel():
    """`import dashboard` and every core module load without Panel (notebook users without
    a browser, the CLI and scripts)."""
    core = [m.name for m in pkgutil.iter_modules(dashboard.__path__) if m.name != "ui"]
    code = (
        "import sys, importlib\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module('dashboard.' + name)\n"
        "assert 'panel' not in sys.modules, 'panel was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_ui_modules_write_no_sql():
    ui = Path(importlib.import_module("dashboard.ui").__path__[0])
    for path in ui.glob("*.py"):
        text = path.read_text()
        for word in ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", ".execute("):
            if word == "SELECT " and path.name == "sql.py":
                continue  # the SQL box's example query, run by dashboard.sqlbox
            assert word not in text, f"{path.name} holds SQL ({word.strip()})"


@pytest.mark.parametrize("name", dashboard.__all__)
def test_every_public_name_is_documented(name):
    obj = getattr(dashboard, name)
    if callable(obj) and not isinstance(obj, dict):
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
