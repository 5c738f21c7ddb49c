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
    View,
    add_demo_customers,
    bulk_edit,
    delete_customers,
    import_file,
    open_store,
    run,
    to_arrow,
    undo,
)
from dashboard.ui.app import customers_page


def test_three_lines_give_a_dataframe_and_its_sql(demo, tmp_path):
    path = tmp_path / "c.duckdb"
    with Store(path) as writer:
        add_demo_customers(writer, 120, seed=3)
    store = open_store(path)
    result = run(store, View(groups=["country"], values=[["credit", "sum"]]))
    assert result.data.columns.tolist() == ["country", "count", "sum_credit"]
    assert result.data["count"].sum() == 120
    assert result.sql.startswith('SELECT "country"') and "GROUP BY" in result.sql
    again = store.df(result.sql, result.params)
    assert again.equals(result.data)
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
    page._open_code()
    code = page._code.python
    rebuilt = eval(compile(ast.parse(code, mode="eval"), "<view>", "eval"), {"View": View})
    assert rebuilt.to_dict() == page.view.copy(page=1).to_dict()
    assert View.from_json(page._code.json).to_dict() == rebuilt.to_dict()
    assert View.from_url(page._code.link).to_dict() == rebuilt.to_dict()
    assert run(demo, rebuilt).data.equals(page._result.data)


def test_a_notebook_view_opens_in_the_page_by_its_url(demo):
    view = View(groups=["status"], pivot="currency", percent="row", filters=[
        {"field": "channels", "op": ">=", "value": 50}])  # fmt: skip
    url = view.url("http://127.0.0.1:5006/")
    query = url.split("?", 1)[1]
    import json
    from urllib.parse import parse_qs

    page = customers_page(demo)
    page.__panel__().get_root(Document())
    page.view_state = json.loads(parse_qs(query)["view"][0])  # what Location.sync delivers
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
    assert grid.value.iloc[-1].tolist()[0] == "Total"
    assert list(grid.titles.values())[:2] == ["Status", "Customers"]
    page = dashboard.show(demo, View(status="Inactive"))
    assert page.total == demo.scalar("SELECT count(*) FROM customers WHERE status = 'Inactive'")


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
