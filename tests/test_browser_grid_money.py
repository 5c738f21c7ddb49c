"""Issue 18's grid findings in Chromium: a pivot whose columns are currencies shows each
currency's amounts in it and only the row Total in EUR; amounts show with their currency
(sorted by Balance, and on a phone)."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

import pytest

from dashboard import Store, add_demo_customers
from dashboard.demo import DEMO_RATES as RATES
from dashboard.money import import_rates
from tests.browser import open_page, require_chromium, served, shot

pytestmark = pytest.mark.browser

SIZES = {"1280x720": (1280, 720), "1440x900": (1440, 900), "390x844": (390, 844)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    tmp = tmp_path_factory.mktemp("gridmoney")
    db = tmp / "customers.duckdb"
    settings = tmp / "settings.toml"
    settings.write_text('[money]\nbase = "EUR"\n', encoding="utf-8")
    with Store(db) as store:
        add_demo_customers(store, 200, seed=11)
        import_rates(store, "".join(f"{c},{r}\n" for c, r in RATES.items()), base="EUR")
        facts = {
            "jpy": {s: float(v) for s, v in store.rows(
                "SELECT status, sum(credit) FROM customers WHERE currency = 'JPY' GROUP BY 1")},
            "top": store.rows(
                "SELECT c.name, c.credit, c.currency FROM customers c JOIN (SELECT * FROM "
                "(VALUES " + ", ".join(f"('{k}', {v})" for k, v in {"EUR": 1, **RATES}.items())
                + ") v(k, r)) fx ON fx.k = c.currency ORDER BY c.credit * fx.r DESC, c.id "
                "LIMIT 1")[0],
        }  # fmt: skip
    with served(db, demo=0, extra=["--settings", str(settings)]) as url:
        yield url, facts


def link(url: str, view: dict) -> str:
    return url + "/?view=" + quote(json.dumps(view))


def header_titles(page) -> list[str]:
    return [t.strip() for t in page.locator(".tabulator-col-title").all_inner_texts()]


def test_a_pivot_by_currency_keeps_yen_in_the_jpy_column(server, browser):
    url, facts = server
    view = {"groups": ["status"], "pivot": "currency", "values": [["credit", "sum"]]}
    for size, (w, h) in SIZES.items():
        page = open_page(browser, link(url, view), (w, h))
        page.get_by_text("Total (EUR)").first.wait_for(timeout=30_000)
        titles = header_titles(page)
        assert "JPY" in titles and "Total (EUR)" in titles, titles
        if size == "1280x720":
            # the Active row's JPY cell: the yen as stored, not converted into euros
            jpy = titles.index("JPY")
            row = page.locator(".tabulator-row").filter(has_text="Active").first
            cell = row.locator(".tabulator-cell").nth(jpy).inner_text().strip()
            assert cell == f"{facts['jpy']['Active']:,.2f}", cell
        shot(page, f"grid-pivot-by-currency-{size}")
        page.context.close()


def test_balance_shows_its_currency_sorted_and_on_a_phone(server, browser):
    url, facts = server
    name, credit, currency = facts["top"]
    view = {"columns": ["name", "status", "credit", "currency"], "sort": [["credit", "desc"]]}
    for size, (w, h) in SIZES.items():
        page = open_page(browser, link(url, view), (w, h))
        first = page.locator('.tabulator-row .tabulator-cell[tabulator-field="credit"]').first
        first.wait_for(timeout=30_000)
        # the largest balance in euros first, shown with its own currency
        assert first.inner_text().strip() == f"{float(credit):,.2f} {currency}"
        names = page.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]')
        assert names.first.inner_text().strip() == name
        if size == "390x844":
            # on a phone too, the whole amount and its currency are in sight, not cut
            box = first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 390, box
            assert first.evaluate("e => e.scrollWidth <= e.clientWidth")
        shot(page, f"grid-balance-sorted-{size}")
        page.context.close()


def test_the_tree_by_currency_says_each_currency_and_fits_a_phone(server, browser):
    url, facts = server
    view = {"groups": ["status", "currency"], "values": [["credit", "sum"]],
            "expand": [["Active"]]}  # fmt: skip
    for size, (w, h) in SIZES.items():
        page = open_page(browser, link(url, view), (w, h))
        label = page.locator('.tabulator-row .tabulator-cell[tabulator-field="c0"]')
        label.filter(has_text="JPY").first.wait_for(timeout=30_000)
        jpy_row = page.locator(".tabulator-row").filter(has_text="\u25b8 JPY").first
        amount = jpy_row.locator('.tabulator-cell[tabulator-field="c2"]').inner_text().strip()
        # the yen of Active customers, as stored, saying so; the status above it in EUR
        assert amount == f"{facts['jpy']['Active']:,.2f} JPY"
        active = page.locator(".tabulator-row").filter(has_text="\u25be Active").first
        assert active.locator('.tabulator-cell[tabulator-field="c2"]').inner_text().endswith(" EUR")
        if size == "390x844":
            # a phone: a narrow label column, the open and closed marks and counts in sight
            box = label.filter(has_text="JPY").first.bounding_box()
            assert box is not None and box["width"] <= 160
            count = jpy_row.locator('.tabulator-cell[tabulator-field="c1"]').bounding_box()
            assert count is not None and count["x"] + count["width"] <= 390
        shot(page, f"grid-tree-by-currency-{size}")
        page.context.close()


def test_a_pivot_of_two_values_shows_cents_for_money_and_whole_channels(server, browser):
    """With two values a pivot's columns are named "JPY · Sum of Balance (JPY)": their
    formatter was not found from that name, and money showed rounded to whole units
    ("1,116,643" beside "1,116,642.69 AED" in the grouped view: second tour)."""
    url, facts = server
    view = {"groups": ["status"], "pivot": "currency",
            "values": [["credit", "sum"], ["channels", "sum"]]}  # fmt: skip
    page = open_page(browser, link(url, view))
    page.locator(".tabulator-row").filter(has_text="Active").first.wait_for(timeout=30_000)
    titles = header_titles(page)
    money = titles.index("JPY · Sum of Balance (JPY)")
    channels = titles.index("JPY · Sum of Channels")
    row = page.locator(".tabulator-row").filter(has_text="Active").first
    cell = row.locator(".tabulator-cell").nth(money).inner_text().strip()
    assert cell == f"{facts['jpy']['Active']:,.2f}", cell
    assert "." not in row.locator(".tabulator-cell").nth(channels).inner_text()
    page.context.close()


def test_every_pivot_column_of_money_says_its_currency(server, browser):
    """Issue 18: a pivot of Balance by country said "Total (EUR)" but each country's
    column only "GB": its euros read as the customers' own amounts."""
    url, _facts = server
    view = {"groups": ["status"], "pivot": "country", "values": [["credit", "sum"]]}
    for size in ("1280x720", "390x844"):
        page = open_page(browser, link(url, view), SIZES[size])
        page.get_by_text("Total (EUR)").first.wait_for(timeout=30_000)
        titles = header_titles(page)
        countries = [t for t in titles if t not in ("", "Status", "Total (EUR)")]
        assert countries and all(t.endswith(" (EUR)") for t in countries), titles
        shot(page, f"grid-pivot-by-country-{size}")
        page.context.close()


def test_a_click_on_a_pivot_columns_header_sorts_by_its_cells(server, browser):
    """Issue 18: a click on a pivot column's header (one country) drew a sort arrow and
    sorted nothing; now the rows are sorted by that column's cells, by the database."""
    url, _facts = server
    view = {"groups": ["country"], "pivot": "status", "values": [["credit", "sum"]]}
    page = open_page(browser, link(url, view))
    page.get_by_text("Total (EUR)").first.wait_for(timeout=30_000)
    header = page.locator(".tabulator-col").filter(has_text="Active (EUR)").first
    field = header.get_attribute("tabulator-field")

    def amounts() -> list[float]:
        texts = page.locator(f'.tabulator-row .tabulator-cell[tabulator-field="{field}"]')
        shown = [t.strip().replace(",", "") for t in texts.all_inner_texts()][:-1]  # no Total
        return [float(t) for t in shown if t]

    assert amounts() != sorted(amounts(), reverse=True)  # by country at first
    header.locator(".tabulator-col-title").click()
    page.wait_for_url(lambda u: "Active" in unquote(u) and "sum_credit@" in unquote(u))
    deadline = page.evaluate("Date.now()") + 15_000
    while amounts() != sorted(amounts()) and page.evaluate("Date.now()") < deadline:
        page.wait_for_timeout(200)
    assert amounts() == sorted(amounts()) and len(amounts()) > 3, amounts()
    header.locator(".tabulator-col-title").click()
    deadline = page.evaluate("Date.now()") + 15_000
    while amounts() != sorted(amounts(), reverse=True) and page.evaluate("Date.now()") < deadline:
        page.wait_for_timeout(200)
    assert amounts() == sorted(amounts(), reverse=True), amounts()
    shot(page, "grid-pivot-sorted-by-a-column-1280x720")
    page.context.close()


def test_a_pivot_of_one_column_shows_it_beside_its_total_on_a_phone(server, browser):
    """Issue 18: a pivot with one pivot column (Active customers by country) froze its
    Total to the right edge, over the one column's last digits, on a phone."""
    url, _facts = server
    view = {"groups": ["country"], "pivot": "status", "values": [["credit", "sum"]],
            "status": "Active"}  # fmt: skip
    for size in ("390x844", "1280x720"):
        page = open_page(browser, link(url, view), SIZES[size])
        page.get_by_text("Total (EUR)").first.wait_for(timeout=30_000)
        fields = {t: page.locator(".tabulator-col").filter(has_text=t).first.get_attribute(
            "tabulator-field") for t in ("Active (EUR)", "Total (EUR)")}  # fmt: skip
        row = page.locator(".tabulator-row").nth(0)
        one = row.locator(f'.tabulator-cell[tabulator-field="{fields["Active (EUR)"]}"]')
        total = row.locator(f'.tabulator-cell[tabulator-field="{fields["Total (EUR)"]}"]')
        a, b = one.bounding_box(), total.bounding_box()
        assert a is not None and b is not None
        assert a["x"] + a["width"] <= b["x"] + 1, (a, b)  # side by side, not under it
        assert one.inner_text().strip() == total.inner_text().strip()  # the whole figure
        shot(page, f"grid-pivot-one-column-{size}")
        page.context.close()
