"""Exports: every format, canonical headers, formula injection neutralised."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest

from dashboard import View, export_view, update_customer
from dashboard.errors import UserError
from dashboard.exports import neutralise

ALL = View(columns=["id", "name", "status", "credit", "tags", "city"])


@pytest.fixture
def evil(demo):
    cid = demo.scalar("SELECT min(id) FROM customers")
    update_customer(demo, cid, {"city": '=HYPERLINK("http://x")', "name": "@SUM(1+1)",
                                "tags": ["=cmd|' /C calc'!A0", "vip"]})  # fmt: skip
    return cid


def test_csv_has_canonical_headers_and_every_row(demo, tmp_path, evil):
    out = tmp_path / "c.csv"
    assert export_view(demo, ALL, out) == 400
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == ["id", "name", "status", "credit", "currency", "tags", "city"]
    assert len(df) == 400
    row = df[df.id == evil].iloc[0]
    assert row["city"].startswith("'=") and row["name"] == "'@SUM(1+1)"
    assert row["tags"] == "'=cmd|' /C calc'!A0, vip"  # a list's text too


def test_xlsx_neutralises_formulas_and_reads_back(demo, tmp_path, evil):
    out = tmp_path / "c.xlsx"
    export_view(demo, ALL.copy(filters=[{"field": "id", "op": "=", "value": evil}]), out)
    ws = openpyxl.load_workbook(out).active
    header = [c.value for c in ws[1]]
    values = dict(zip(header, [c.value for c in ws[2]], strict=True))
    assert values["city"].startswith("'=") and ws.max_row == 2
    assert values["tags"] == "'=cmd|' /C calc'!A0, vip"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert ws.freeze_panes == "A2"


def test_parquet_and_json_keep_exact_types(demo, tmp_path):
    export_view(demo, ALL, tmp_path / "c.parquet")
    pq = pd.read_parquet(tmp_path / "c.parquet")
    assert len(pq) == 400 and list(pq.tags.iloc[0]) == list(demo.scalar(
        "SELECT tags FROM customers ORDER BY id LIMIT 1"))  # fmt: skip
    export_view(demo, ALL, tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())
    assert len(data) == 400 and set(data[0]) == {*ALL.columns, "currency"}


def test_grouped_and_pivot_views_export_as_shown(demo, tmp_path):
    view = View(groups=["status"], pivot="currency", values=[["credit", "sum"]])
    export_view(demo, view, tmp_path / "p.csv")
    df = pd.read_csv(tmp_path / "p.csv")
    assert df.iloc[-1]["Status"] == "Total" and "Total (EUR)" in df.columns and "EUR" in df.columns


def test_unknown_format_is_refused():
    with pytest.raises(UserError, match=".csv, .xlsx"):
        export_view(None, ALL, "x.doc")


def test_neutralise():
    assert [neutralise(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "ok", 5)] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "ok", 5]  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet", "json"])
def test_row_export_gives_each_amount_its_currency(demo, tmp_path, fmt):
    # customers in several currencies: an amount without its currency means nothing
    view = View(columns=["name", "credit", "status", "debit_limit"], sort=["id"])
    out = tmp_path / f"c.{fmt}"
    export_view(demo, view, out)
    if fmt == "xlsx":
        ws = openpyxl.load_workbook(out).active
        rows = [[c.value for c in r] for r in ws.iter_rows()]
        got = pd.DataFrame(rows[1:], columns=rows[0])
    else:
        got = {"csv": pd.read_csv, "parquet": pd.read_parquet,
               "json": pd.read_json}[fmt](out)  # fmt: skip
    assert list(got.columns)[:4] == ["id", "name", "credit", "currency"]
    want = demo.df("SELECT id, currency, credit FROM customers ORDER BY id")
    assert want.currency.nunique() > 2
    assert list(got.id) == list(want.id)
    assert list(got.currency) == list(want.currency)
    assert [float(x) for x in got.credit] == [float(x) for x in want.credit]


def test_row_export_keeps_a_currency_column_the_view_shows(demo, tmp_path):
    view = View(columns=["currency", "name", "credit"])
    export_view(demo, view, tmp_path / "c.csv")
    assert list(pd.read_csv(tmp_path / "c.csv").columns) == ["id", "currency", "name", "credit"]
