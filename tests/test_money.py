"""Money never mixes currencies: aggregates over customers in several currencies are
converted into the base currency at the stored rates (checked against sums computed here,
independently, in pandas and hand-written SQL), split by currency or refused when a rate
is missing; rates files as people write them; the CLI and the report say the currency."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pandas as pd
import pytest
from openpyxl import load_workbook

from dashboard import Store, View, add_demo_customers, pivot_report, run, undo
from dashboard.access import PermissionDenied
from dashboard.charts import chart
from dashboard.errors import UserError, ValidationError
from dashboard.money import import_rates, list_rates, read_rates

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = [
    pytest.mark.both_backends,
    pytest.mark.pg_missing(
        "these tests make demo data on their store, and demo.add_demo_customers is DuckDB's "
        "SQL (hash, range, STRUCT parameters): needs a per-engine generator or a copy"
    ),
]

#: Rates into EUR for the demo's currencies (units of EUR per unit).
RATES = {"USD": "0.92", "GBP": "1.17", "AUD": "0.6", "CAD": "0.66", "PLN": "0.23",
         "BRL": "0.17", "SGD": "0.69", "JPY": "0.0061", "INR": "0.011", "MXN": "0.05",
         "NGN": "0.00058", "AED": "0.25", "ZAR": "0.05", "SEK": "0.087"}  # fmt: skip


def rates_csv(rates: dict[str, str]) -> str:
    return "currency,rate\n" + "".join(f"{c},{r}\n" for c, r in rates.items())


@pytest.fixture(autouse=True)
def eur_settings(tmp_path, monkeypatch):
    """The reporting currency is EUR whatever data/settings.toml says on this machine."""
    path = tmp_path / "settings.toml"
    path.write_text('[money]\nbase = "EUR"\n', encoding="utf-8")
    monkeypatch.setenv("CUSTOMER_DASHBOARD_SETTINGS", str(path))
    return path


@pytest.fixture
def mixed(store):
    """400 demo customers in 15 currencies, with a rate into EUR for each."""
    add_demo_customers(store, 400, seed=7)
    import_rates(store, rates_csv(RATES), base="EUR")
    return store


def converted(store: Store) -> pd.DataFrame:
    """Every customer with its balance in EUR, computed here (not by the engine)."""
    frame = store.df("SELECT status, currency, country, credit FROM customers")
    rate = frame["currency"].map({"EUR": 1.0, **{c: float(r) for c, r in RATES.items()}})
    assert rate.notna().all()
    return frame.assign(eur=frame["credit"].astype(float) * rate)


def test_a_mixed_currency_sum_is_the_sum_of_amounts_times_rates(mixed):
    frame = converted(mixed)
    assert frame["currency"].nunique() == 15
    result = run(mixed, View(groups=["status"], values=[["credit", "sum"], ["credit", "avg"],
                                                         ["credit", "min"], ["credit", "max"]]))  # fmt: skip
    want = frame.groupby("status")["eur"].agg(["sum", "mean", "min", "max"])
    got = result.data.set_index("status")
    for agg, col in (("sum", "sum_credit"), ("mean", "avg_credit"), ("min", "min_credit"),
                     ("max", "max_credit")):  # fmt: skip
        assert got[col].astype(float).tolist() == pytest.approx(want[agg].tolist(), abs=0.01)
    assert float(result.totals["sum_credit"].iloc[0]) == pytest.approx(frame["eur"].sum(), abs=0.01)
    # never the plain sum of amounts in 15 currencies
    assert float(result.totals["sum_credit"].iloc[0]) != pytest.approx(
        float(frame["credit"].sum()), abs=1
    )
    assert result.labels["sum_credit"] == "Sum of Balance (EUR)"
    assert result.labels["avg_credit"] == "Average of Balance (EUR)"
    assert result.units == dict.fromkeys(
        ["sum_credit", "avg_credit", "min_credit", "max_credit"], "EUR"
    )


def test_sorting_by_a_converted_sum_sorts_the_converted_figures(mixed):
    frame = converted(mixed)
    result = run(mixed, View(groups=["country"], values=[["credit", "sum"]],
                             sort=[["sum_credit", "desc"]], page_size=5))  # fmt: skip
    want = frame.groupby("country")["eur"].sum().sort_values(ascending=False).head(5)
    assert result.data["country"].tolist() == want.index.tolist()


def test_a_pivot_converts_cells_row_and_column_totals(mixed):
    frame = converted(mixed)
    result = run(mixed, View(groups=["status"], pivot="country", values=[["credit", "sum"]]),
                 paged=False)  # fmt: skip
    want = frame.groupby("status")["eur"].sum()
    assert result.data["Total"].astype(float).tolist() == pytest.approx(want.tolist(), abs=0.01)
    assert float(result.totals["Total"].iloc[0]) == pytest.approx(frame["eur"].sum(), abs=0.01)
    gb = frame[frame["country"] == "GB"].groupby("status")["eur"].sum()
    assert result.data["GB"].astype(float).fillna(0).tolist() == pytest.approx(
        gb.reindex(want.index).fillna(0).tolist(), abs=0.01
    )
    assert result.table().columns[-1] == "Total (EUR)"


def test_every_pivot_column_title_says_its_currency_as_the_total_does(mixed, tmp_path):
    """Issue 18: a pivot of money over several currencies said "Total (EUR)" but its
    country columns only "GB": converted euros read as the customers' own amounts. The
    title is the result's (`labels`), so the grid, the CSV and the XLSX say the same."""
    view = View(groups=["status"], pivot="country", values=[["credit", "sum"]])
    table = run(mixed, view).table()
    assert "GB (EUR)" in table.columns and table.columns[-1] == "Total (EUR)"
    assert "GB" not in table.columns
    pivot_report(mixed, view, tmp_path / "report.csv")
    assert "GB (EUR)" in pd.read_csv(tmp_path / "report.csv").columns
    # a pivot by currency: each column's code is its unit; one currency: it says so too
    by_ccy = run(mixed, View(groups=["status"], pivot="currency", values=[["credit", "sum"]]))
    assert {"JPY", "Total (EUR)"} <= set(by_ccy.table().columns)
    usd = View(groups=["status"], pivot="country", values=[["credit", "sum"]],
               filters=[["currency", "=", "USD"]])  # fmt: skip
    assert run(mixed, usd).table().columns[-1] == "Total (USD)"
    assert all(c.endswith("(USD)") for c in run(mixed, usd).table().columns[1:])
    # counts are no money: their titles stay as they were
    assert "GB" in run(mixed, View(groups=["status"], pivot="country")).table().columns


def test_usage_revenue_and_cost_are_converted_too(mixed):
    view = View(source="usage", groups=["status"], values=[["revenue", "sum"], ["cost", "sum"]])
    result = run(mixed, view)
    # the same figures by hand-written SQL: each usage row times its customer's rate
    mixed.df("CREATE TEMP TABLE fx AS SELECT * FROM (VALUES ('EUR', 1.0::DOUBLE)) v(c, r)")
    for c, r in RATES.items():
        mixed.df("INSERT INTO fx VALUES (?, ?)", [c, float(r)])
    want = mixed.df(
        "SELECT c.status, sum(u.revenue * fx.r) AS revenue, sum(u.cost * fx.r) AS cost "
        "FROM usage_daily u JOIN customers c ON c.id = u.customer_id JOIN fx ON fx.c = c.currency "
        "GROUP BY 1 ORDER BY 1"
    )
    got = result.data.sort_values("status")
    assert got["sum_revenue"].astype(float).tolist() == pytest.approx(
        want["revenue"].tolist(), abs=0.01
    )
    assert got["sum_cost"].astype(float).tolist() == pytest.approx(want["cost"].tolist(), abs=0.01)
    assert result.labels["sum_revenue"] == "Sum of Revenue (EUR)"


def test_one_currency_stays_in_its_own_currency(mixed):
    frame = mixed.df("SELECT status, credit FROM customers WHERE currency = 'USD'")
    result = run(mixed, View(groups=["status"], values=[["credit", "sum"]],
                             filters=[["currency", "=", "USD"]]))  # fmt: skip
    want = frame.groupby("status")["credit"].sum().astype(float)
    assert result.data["sum_credit"].astype(float).tolist() == pytest.approx(want.tolist())
    assert result.labels["sum_credit"] == "Sum of Balance (USD)"


def test_a_missing_rate_is_refused_naming_it(store):
    add_demo_customers(store, 400, seed=7)
    import_rates(store, rates_csv({c: r for c, r in RATES.items() if c not in ("GBP", "JPY")}),
                 base="EUR")  # fmt: skip
    with pytest.raises(UserError) as err:
        run(store, View(groups=["status"], values=[["credit", "sum"]]))
    text = str(err.value)
    assert "Sum of Balance" in text and "GBP, JPY" in text and "EUR" in text
    assert "USD" not in text.split("for ")[1].split(":")[0]  # only the missing ones
    # the count of customers needs no rate
    assert run(store, View(groups=["status"])).totals["count"].iloc[0] == 400


def test_without_rates_a_view_by_currency_is_split_by_currency(store):
    add_demo_customers(store, 400, seed=7)
    frame = store.df("SELECT currency, credit FROM customers")
    result = run(store, View(groups=["currency"], values=[["credit", "sum"]]), paged=False)
    want = frame.groupby("currency")["credit"].sum().astype(float)
    got = result.data.set_index("currency")["sum_credit"].astype(float)
    assert got.tolist() == pytest.approx(want.reindex(got.index).tolist())
    assert pd.isna(result.totals["sum_credit"].iloc[0])  # no total over 15 currencies
    assert result.labels["sum_credit"] == "Sum of Balance (per currency)"


def test_another_reporting_currency_is_derived_from_the_stored_rates(mixed):
    frame = converted(mixed)
    result = run(mixed, View(groups=["status"], values=[["credit", "sum"]], base="usd"))
    want = frame.groupby("status")["eur"].sum() / 0.92
    assert result.data["sum_credit"].astype(float).tolist() == pytest.approx(
        want.tolist(), abs=0.05
    )
    assert result.labels["sum_credit"] == "Sum of Balance (USD)"
    assert View.from_json(result_view_json := View(base="usd").to_json()).base == "USD"
    assert json.loads(result_view_json) == {"base": "USD"}
    with pytest.raises(UserError, match="ISO 4217"):
        View(base="euro").check()


def test_the_xlsx_and_csv_reports_name_the_base_currency(mixed, tmp_path):
    frame = converted(mixed)
    view = View(groups=["status"], values=[["credit", "sum"]])
    out = tmp_path / "report.xlsx"
    pivot_report(mixed, view, out)
    ws = load_workbook(out).active
    assert ws["A1"].value == "Sum of Balance (EUR) by Status"
    header = [c.value for c in ws[5]]
    assert header == ["Status", "Customers", "Sum of Balance (EUR)"]
    assert ws.cell(ws.max_row, 3).value == pytest.approx(frame["eur"].sum(), abs=0.01)
    pivot_report(mixed, view, tmp_path / "report.csv")
    csv = pd.read_csv(tmp_path / "report.csv")
    assert list(csv.columns) == ["Status", "Customers", "Sum of Balance (EUR)"]
    fig = chart(run(mixed, view), view, "bar")
    assert fig.title.text == "Sum of Balance (EUR) by Status"


# --- rates files and the rates table -----------------------------------------------------


def test_messy_rates_files_are_read(store):
    text = "\ufeffCurrency;Rate\n\nusd;1,08\n GBP ; 1.17 \n\n;\nJPY;0,0061\n"
    found = read_rates(text.encode("utf-8"), base="EUR")
    assert [(c, r) for c, r, _ in found.rates] == [
        ("USD", Decimal("1.08")), ("GBP", Decimal("1.17")), ("JPY", Decimal("0.0061"))]  # fmt: skip
    assert found.blank_rows == 3 and "3 blank rows skipped" in found.warnings
    # unquoted decimal commas in a comma-separated file, no header
    found = read_rates(b"USD,1,08\nGBP,1.17\n", base="EUR")
    assert [r for _, r, _ in found.rates] == [Decimal("1.08"), Decimal("1.17")]
    # Latin-1 (a note in German), and UTF-16 from Excel
    latin = "currency;rate;Bemerkung\nUSD;0,92;Kurs für März\n".encode("latin-1")
    found = read_rates(latin, base="EUR")
    assert found.rates[0][:2] == ("USD", Decimal("0.92"))
    assert any("not UTF-8" in w for w in found.warnings)
    found = read_rates("currency\trate\nCHF\t1.05\n".encode("utf-16"), base="EUR")
    assert found.rates[0][:2] == ("CHF", Decimal("1.05"))
    # a date column
    found = read_rates("currency,rate,date\nUSD,0.9,2026-11-30\n", base="EUR")
    assert str(found.rates[0][2]) == "2026-11-30"


def test_bad_rows_name_row_column_and_value_and_nothing_is_written(store):
    text = "currency,rate\nUSD,0.92\nXYZ,1\nGBP,0\nJPY,-1\nCAD,abc\nUSD,0.93\nEUR,2\nSEK,\n"
    with pytest.raises(ValidationError) as err:
        import_rates(store, text, base="EUR")
    problems = {(p.row, p.column, p.value) for p in err.value.problems}
    assert problems == {(3, "currency", "XYZ"), (4, "rate", "0"), (5, "rate", "-1"),
                        (6, "rate", "abc"), (7, "currency", "USD"), (8, "rate", "2"),
                        (9, "rate", "")}  # fmt: skip
    text_of = str(err.value)
    assert "row 3" in text_of and "'XYZ'" in text_of and "more than 0" in text_of
    assert store.scalar("SELECT count(*) FROM rates") == 0
    assert store.scalar("SELECT count(*) FROM batches") == 0
    with pytest.raises(UserError, match="no rates"):
        import_rates(store, "\n\n", base="EUR")


def test_an_import_is_an_audited_batch_that_undo_takes_back(store):
    first = import_rates(store, "USD,0.92\nGBP,1.17\n", base="EUR")
    second = import_rates(store, "USD,0.95\n", base="EUR")
    assert list_rates(store, "EUR").set_index("currency")["rate"].astype(float).to_dict() == {
        "GBP": 1.17, "USD": 0.95}  # fmt: skip
    audit = store.df("SELECT action, after FROM audit_log WHERE batch_id = ?", [second.batch_id])
    assert (
        audit["action"].tolist() == ["rate"] and json.loads(audit["after"][0])["currency"] == "USD"
    )
    done = undo(store, second.batch_id)
    assert "exchange rates" in done.details["effect"]
    assert list_rates(store, "EUR").set_index("currency")["rate"].astype(float).to_dict() == {
        "GBP": 1.17, "USD": 0.92}  # fmt: skip
    assert first.batch_id != second.batch_id


def test_only_admins_import_rates_everyone_reads_them(store):
    import_rates(store, "USD,0.92\n", base="EUR")
    viewer = store.acting_as("vic", "viewer")
    editor = store.acting_as("eve", "editor")
    for who in (viewer, editor):
        with pytest.raises(PermissionDenied, match="import exchange rates"):
            import_rates(who, "USD,0.5\n", base="EUR")
        assert list_rates(who, "EUR")["rate"].astype(float).tolist() == [0.92]


# --- the command line ---------------------------------------------------------------------


def cli(*args: str, stdin: bytes | None = None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True,
                          input=stdin, timeout=120, env=env)  # fmt: skip


def test_the_cli_imports_rates_and_pivots_in_the_base_currency(tmp_path, eur_settings):
    import os

    env = {**os.environ, "CUSTOMER_DASHBOARD_SETTINGS": str(eur_settings)}
    db = tmp_path / "c.duckdb"
    with Store(db) as s:
        add_demo_customers(s, 300, seed=5)
    r = cli("pivot", "--db", str(db), "--rows", "status", "--values", "credit:sum", env=env)
    assert r.returncode == 1 and b"Traceback" not in r.stderr
    assert b"no exchange rate into EUR for" in r.stderr and b"USD" in r.stderr
    bad = cli("rates", "import", "-", "--db", str(db), stdin=b"USD,0.92\nXYZ,1\n", env=env)
    assert bad.returncode == 1 and b"row 2" in bad.stderr and b"'XYZ'" in bad.stderr
    r = cli(
        "rates", "import", "-", "--db", str(db), stdin=rates_csv(RATES).encode("cp1252"), env=env
    )
    assert r.returncode == 0, r.stderr
    assert b"imported 14 rates into EUR; batch b-" in r.stdout
    r = cli(
        "pivot", "--db", str(db), "--rows", "status", "--values", "credit:sum", "--json", env=env
    )
    assert r.returncode == 0, r.stderr
    got = {row["Status"]: Decimal(row["Sum of Balance (EUR)"]) for row in json.loads(r.stdout)}
    with Store(db, read_only=True) as s:
        want = dict(s.rows(
            "WITH fx(c, r) AS (SELECT * FROM (VALUES " + ", ".join(
                f"('{c}', {r}::DECIMAL(18,8))" for c, r in {"EUR": "1", **RATES}.items()) + ")) "
            "SELECT status, round(sum(credit * fx.r), 2) FROM customers JOIN fx ON fx.c = currency "
            "GROUP BY 1"))  # fmt: skip
    assert sum(want.values()) == pytest.approx(got.pop("Total"), abs=Decimal("0.05"))
    assert got == pytest.approx(want, abs=Decimal("0.01"))
    r = cli("pivot", "--db", str(db), "--rows", "status", "--values", "credit:sum", "--base",
            "USD", "--out", str(tmp_path / "r.xlsx"), env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert load_workbook(tmp_path / "r.xlsx").active["A1"].value == "Sum of Balance (USD) by Status"
    r = cli("rates", "list", "--db", str(db), "--json", env=env)
    listed = json.loads(r.stdout)
    assert listed["base"] == "EUR" and len(listed["rates"]) == 14


def test_the_page_refuses_a_mixed_sum_without_rates_in_words(store):
    from dashboard.ui.app import customers_page

    add_demo_customers(store, 200, seed=7)
    import_rates(store, rates_csv({c: r for c, r in RATES.items() if c != "NGN"}), base="EUR")
    page = customers_page(store, view=View(groups=["status"], values=[["credit", "sum"]]))
    assert "no exchange rate into EUR for NGN" in page.notices.message
    page.view.filters = [{"field": "currency", "op": "!=", "value": "NGN"}]
    assert page.aggregates.tree.table.titles["c2"] == "Sum of Balance (EUR)"


def test_the_base_currency_is_a_setting(eur_settings):
    from dashboard.money import base_currency
    from dashboard.settings import Settings

    settings = Settings.load(eur_settings)
    assert settings.get("money", "base") == "EUR"
    with pytest.raises(ValidationError, match=r"^Base \(reporting\) currency: 'euro' is not"):
        settings.update({"money": {"base": "euro"}})
    settings.update({"money": {"base": "USD"}})
    settings.save()
    assert base_currency(eur_settings) == "USD" and "[money]" in eur_settings.read_text()


# --- a view split by currency keeps each currency's own amounts ---------------------------


def native_sums(store: Store, by: str) -> dict[tuple[str, str], float]:
    """Sum of balance per (`by`, currency), unconverted, by hand-written SQL."""
    return {(k, c): float(v) for k, c, v in store.rows(
        f"SELECT {by}, currency, sum(credit) FROM customers GROUP BY 1, 2")}  # fmt: skip


def test_a_pivot_by_currency_keeps_each_currencys_amounts_and_converts_only_totals(mixed):
    frame = converted(mixed)
    view = View(groups=["status"], pivot="currency", values=[["credit", "sum"]])
    result = run(mixed, view, paged=False)
    cells = native_sums(mixed, "status")
    data = result.data.set_index("status")
    assert "JPY" in data.columns and "EUR" in data.columns
    for (status, ccy), want in cells.items():
        assert float(data.loc[status, ccy]) == pytest.approx(want, abs=0.005), (status, ccy)
    # a currency's column total is in that currency; the row totals and grand total in EUR
    for ccy, want in frame.groupby("currency")["credit"].sum().items():
        assert float(result.totals[ccy].iloc[0]) == pytest.approx(float(want), abs=0.005)
    want = frame.groupby("status")["eur"].sum()
    assert data["Total"].astype(float).tolist() == pytest.approx(want.tolist(), abs=0.01)
    assert float(result.totals["Total"].iloc[0]) == pytest.approx(frame["eur"].sum(), abs=0.01)
    table = result.table()
    assert list(table.columns)[-1] == "Total (EUR)" and "JPY" in table.columns
    assert table.iloc[-1, 0] == "Total"  # its cells keep their column's currency
    assert result.units == {"sum_credit": "per currency"}
    assert result.total_units == {"sum_credit": "EUR"}
    # two values: each currency's column says its currency
    two = run(mixed, view.copy(values=[["credit", "sum"], ["credit", "max"]]), paged=False)
    assert "JPY · Sum of Balance (JPY)" in two.table().columns
    assert "Total · Sum of Balance (EUR)" in two.table().columns


def test_groups_by_currency_keep_their_own_and_only_the_grand_total_is_converted(mixed):
    frame = converted(mixed)
    result = run(mixed, View(groups=["currency"], values=[["credit", "sum"], ["credit", "avg"]]),
                 paged=False)  # fmt: skip
    want = frame.groupby("currency")["credit"].agg(["sum", "mean"]).astype(float)
    got = result.data.set_index("currency")
    assert got["sum_credit"].astype(float).tolist() == pytest.approx(
        want["sum"].reindex(got.index).tolist(), abs=0.005)  # fmt: skip
    assert got["avg_credit"].astype(float).tolist() == pytest.approx(
        want["mean"].reindex(got.index).tolist(), abs=0.005)  # fmt: skip
    assert float(result.totals["sum_credit"].iloc[0]) == pytest.approx(frame["eur"].sum(), abs=0.01)
    table = result.table()
    assert table.iloc[-1, 0] == "Total (EUR)"
    assert result.labels["sum_credit"] == "Sum of Balance (per currency)"
    # status then currency: each currency's sum in it, the statuses' (mixed) in EUR
    two = run(mixed, View(groups=["status", "currency"], values=[["credit", "sum"]]), paged=False)
    cells = native_sums(mixed, "status")
    for row in two.data.itertuples():
        assert float(row.sum_credit) == pytest.approx(cells[(row.status, row.currency)], abs=0.005)
    # shares need one unit: converted
    share = run(mixed, View(groups=["status"], pivot="currency", values=[["credit", "sum"]],
                            percent="row"), paged=False)  # fmt: skip
    eur = frame.groupby(["status", "currency"])["eur"].sum() / frame.groupby("status")["eur"].sum()
    assert float(share.data.set_index("status").loc["Active", "JPY"]) == pytest.approx(
        100 * eur.loc[("Active", "JPY")], abs=0.01)  # fmt: skip


def test_reports_charts_cli_and_api_keep_currency_columns_in_their_currency(mixed, tmp_path):
    cells = native_sums(mixed, "status")
    view = View(groups=["status"], pivot="currency", values=[["credit", "sum"]])
    out = tmp_path / "r.xlsx"
    pivot_report(mixed, view, out)
    ws = load_workbook(out).active
    header = [c.value for c in ws[5]]
    jpy, total = header.index("JPY") + 1, header.index("Total (EUR)") + 1
    rows = {ws.cell(r, 1).value: r for r in range(6, ws.max_row + 1)}
    assert ws.cell(rows["Active"], jpy).value == pytest.approx(cells[("Active", "JPY")], abs=0.005)
    frame = converted(mixed)
    assert ws.cell(rows["Total"], total).value == pytest.approx(frame["eur"].sum(), abs=0.01)
    pivot_report(mixed, view, tmp_path / "r.csv")
    csv = pd.read_csv(tmp_path / "r.csv").set_index("Status")
    assert csv.loc["Active", "JPY"] == pytest.approx(cells[("Active", "JPY")], abs=0.005)
    # a chart compares on one axis: the per-currency result is refused, the converted drawn
    with pytest.raises(UserError, match="different currencies"):
        chart(run(mixed, view), view, "stacked")
    fig = chart(run(mixed, view, converted=True), view, "stacked")
    assert fig.title.text == "Sum of Balance (EUR) by Status and Currency, each currency converted"
    # the HTTP API's JSON says which unit the cells and the totals are in
    from dashboard.api import Call, run_view

    reply = run_view(Call(store=mixed, path={}, query={}, headers={}, body=b"", files={},
                          form={}, api=None), view)  # fmt: skip
    assert reply.data["units"] == {"sum_credit": "per currency"}
    assert reply.data["total_units"] == {"sum_credit": "EUR"}
    active = next(r for r in reply.data["rows"] if r["status"] == "Active")
    assert float(active["JPY"]) == pytest.approx(cells[("Active", "JPY")], abs=0.005)


def test_the_cli_pivot_by_currency_prints_each_currency_in_its_own(tmp_path, eur_settings):
    import os

    env = {**os.environ, "CUSTOMER_DASHBOARD_SETTINGS": str(eur_settings)}
    db = tmp_path / "c.duckdb"
    with Store(db) as s:
        add_demo_customers(s, 300, seed=5)
        import_rates(s, rates_csv(RATES), base="EUR")
        cells = native_sums(s, "status")
        eur = converted(s)
    r = cli("pivot", "--db", str(db), "--rows", "status", "--columns", "currency", "--values",
            "credit:sum", "--json", env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = {row["Status"]: row for row in json.loads(r.stdout)}
    assert Decimal(rows["Active"]["JPY"]) == pytest.approx(
        Decimal(str(cells[("Active", "JPY")])), abs=Decimal("0.005"))  # fmt: skip
    assert float(rows["Total"]["Total (EUR)"]) == pytest.approx(eur["eur"].sum(), abs=0.01)


# --- sorting rows by an amount of money ---------------------------------------------------


def test_sorting_rows_by_balance_sorts_by_its_value_in_the_base_currency(mixed):
    from dashboard.ui.display import rows_display

    frame = mixed.df("SELECT id, currency, credit FROM customers")
    rate = frame["currency"].map({"EUR": 1.0, **{c: float(r) for c, r in RATES.items()}})
    frame = frame.assign(eur=frame["credit"].astype(float) * rate)
    want = frame.sort_values(["eur", "id"], ascending=[False, True])["id"].tolist()
    view = View(columns=["name", "credit"], sort=[["credit", "desc"]], page_size=50)
    first = run(mixed, view, key=True, with_unit=True)
    assert first.data["id"].tolist() == want[:50]
    second = run(mixed, view.copy(page=2), key=True, with_unit=True, earlier=first)
    assert second.data["id"].tolist() == want[50:100]  # the next page, in the same order
    # the grid shows each amount with its currency, so the order can be read
    shown = rows_display(first).frame
    top = frame.set_index("id").loc[want[0]]
    assert shown["credit"].iloc[0] == f"{float(top['credit']):,.2f} {top['currency']}"
    assert "_unit" not in shown.columns


def test_without_rates_rows_sort_by_currency_then_amount(store):
    add_demo_customers(store, 300, seed=7)
    frame = store.df("SELECT id, currency, credit FROM customers")
    want = frame.sort_values(["currency", "credit", "id"], ascending=[True, True, True])
    got = run(store, View(columns=["name", "credit"], sort=[["credit", "asc"]], page_size=300),
              key=True)  # fmt: skip
    assert got.data["id"].tolist() == want["id"].tolist()


# --- deep pages of a sort by money: keyset, not OFFSET --------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: Few distinct amounts (ties across and within currencies) and NULLs.
AMOUNTS = [None, Decimal("0"), Decimal("-5.5"), Decimal("10"), Decimal("100"), Decimal("1000")]


@pytest.fixture(scope="module")
def paging_stores(tmp_path_factory):
    """60 customers in several currencies: one database with a rate for each currency
    (sorted by the EUR value), one with a currency lacking a rate (by currency, amount)."""
    out = {}
    for rated in (True, False):
        s = Store(tmp_path_factory.mktemp("paging") / "c.duckdb", user="tester")
        add_demo_customers(s, 60, seed=3)
        rates = RATES if rated else {c: r for c, r in RATES.items() if c != "USD"}
        import_rates(s, rates_csv(rates), base="EUR")
        out[rated] = s
    yield out
    for s in out.values():
        s.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rated=st.booleans(),
    amounts=st.lists(st.sampled_from(AMOUNTS), min_size=60, max_size=60),
    sort=st.sampled_from([[["credit", "asc"]], [["credit", "desc"]], [["debit_limit", "desc"]],
                          [["status", "asc"], ["credit", "desc"]], [["credit", "asc"], ["name", "desc"]]]),
    size=st.sampled_from([1, 4, 7]),
    jumps=st.lists(st.integers(1, 16), min_size=2, max_size=6),
)  # fmt: skip
def test_money_sorted_pages_read_by_keyset_are_the_offset_pages(
    paging_stores, eur_settings, rated, amounts, sort, size, jumps
):
    store = paging_stores[rated]
    ids = [i for (i,) in store.rows("SELECT id FROM customers ORDER BY id")]
    field = sort[0][0] if sort[0][0] != "status" else sort[1][0]
    store.execute("BEGIN")
    for cid, amount in zip(ids, amounts, strict=True):
        store.execute(f'UPDATE customers SET "{field}" = ? WHERE id = ?', [amount, cid])
    store.execute("COMMIT")
    frame = store.df(f'SELECT id, status, name, currency, "{field}" AS amount FROM customers')
    # the order written out here: EUR value when every currency has one, else currency
    table = {"EUR": 1.0, **{c: float(r) for c, r in RATES.items()}}
    if not rated:
        table.pop("USD")
    frame["eur"] = frame["amount"].astype(float) * frame["currency"].map(table)
    if frame["currency"].map(table).isna().any():
        frame["eur"] = float("nan")
    keys, ways = [], []
    for name, way in sort:
        asc = way == "asc"
        keys += ["eur", "currency", "amount"] if name == field else [name]
        ways += [asc, True, asc] if name == field else [asc]
    want = list(frame.sort_values([*keys, "id"], ascending=[*ways, True], na_position="last",
                                  kind="mergesort")["id"])  # fmt: skip
    earlier = None
    plans = set()
    for page in jumps:
        view = View(columns=["id", "name", field], sort=sort, page=page, page_size=size)
        got = run(store, view, earlier=earlier, key=True, with_unit=True)
        offset = run(store, view, key=True, with_unit=True)
        pd.testing.assert_frame_equal(got.data, offset.data)
        assert got.data["id"].tolist() == want[(page - 1) * size : page * size]
        if earlier is not None:
            plans.add("_at" in got.sql)
        earlier = got
    if [*jumps[1:]] and any(b == a + 1 for a, b in zip(jumps, jumps[1:], strict=False)):
        # some next page was read after the shown one's last row (by keyset), not by OFFSET
        assert any(plans), "no page was read by keyset"


def test_the_page_after_a_money_sorted_one_does_not_skip_rows_by_offset(mixed):
    view = View(columns=["name", "credit"], sort=[["credit", "desc"]], page_size=20, page=3)
    shown = run(mixed, view, key=True, with_unit=True)
    after = run(mixed, view.copy(page=4), key=True, with_unit=True, earlier=shown)
    assert "OFFSET" not in after.sql and "_at" in after.sql
    assert after.data.equals(run(mixed, view.copy(page=4), key=True, with_unit=True).data)
    before = run(mixed, view.copy(page=2), key=True, with_unit=True, earlier=shown)
    assert "OFFSET" not in before.sql
    assert before.data.equals(run(mixed, view.copy(page=2), key=True, with_unit=True).data)


def test_a_notebook_view_reports_in_its_own_databases_base(tmp_path, monkeypatch):
    """A View run in a notebook on /srv/a/customers.duckdb took the reporting currency from
    $CUSTOMER_DASHBOARD_SETTINGS or data/settings.toml (wherever the notebook runs), not
    from the settings beside the database: it is now settled from the store when run."""
    monkeypatch.delenv("CUSTOMER_DASHBOARD_SETTINGS", raising=False)
    elsewhere = tmp_path / "notebooks"
    (elsewhere / "data").mkdir(parents=True)
    (elsewhere / "data" / "settings.toml").write_text('[money]\nbase = "EUR"\n')
    monkeypatch.chdir(elsewhere)
    home = tmp_path / "srv"
    home.mkdir()
    (home / "settings.toml").write_text('[money]\nbase = "USD"\n')
    with Store(home / "customers.duckdb") as store:
        add_demo_customers(store, 100, seed=7)
        import_rates(store, rates_csv({**{c: r for c, r in RATES.items() if c != "USD"}, "EUR": "1.08"}),
                     base="USD")  # fmt: skip
        assert store.settings_file() == home / "settings.toml"
        result = run(store, View(groups=["status"], values=[["credit", "sum"]]))
        assert result.units == {"sum_credit": "USD"}
        assert run(store, View(groups=["status"], values=[["credit", "sum"]], base="EUR")
                   ).units == {"sum_credit": "EUR"}  # fmt: skip
