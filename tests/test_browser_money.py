"""Money in a real Chromium: the grid's total of Balance over 15 currencies is labelled with
the base currency and is the converted figure; Setup › Rates lists the rates, an admin
imports more, a viewer only reads them."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from dashboard import Store, add_demo_customers
from dashboard.demo import DEMO_RATES
from dashboard.money import import_rates
from tests.browser import (
    SHOTS,
    add_people,
    button,
    require_chromium,
    served_signed_in,
)  # fmt: skip
from tests.browser import (
    sign_in as signed_in,
)

pytestmark = pytest.mark.browser

# the demo rates but CHF, which the rates screen test imports
RATES = {c: r for c, r in DEMO_RATES.items() if c != "CHF"}
SIZES = {"1280x720": (1280, 720), "1440x900": (1440, 900), "390x844": (390, 844)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    tmp = tmp_path_factory.mktemp("money")
    db = tmp / "customers.duckdb"
    settings = tmp / "settings.toml"
    settings.write_text('[money]\nbase = "EUR"\n', encoding="utf-8")
    with Store(db) as store:
        add_demo_customers(store, 200, seed=11)
        import_rates(store, "".join(f"{c},{r}\n" for c, r in RATES.items()), base="EUR")
        add_people(store)
        # the converted total, computed here: each balance times its currency's rate
        fx = {"EUR": 1.0, **{c: float(r) for c, r in RATES.items()}}
        total = sum(
            float(b) * fx[c] for b, c in store.rows("SELECT credit, currency FROM customers")
        )
        plain = float(store.scalar("SELECT sum(credit) FROM customers"))
    with served_signed_in(db, extra=["--settings", str(settings)]) as url:
        yield url, round(total, 2), plain


def sign_in(b, url, name, password, path="/", size=(1440, 900)):
    """Signed in at 1440x900 unless told (tests.browser.sign_in)."""
    return signed_in(b, url, name, password, path, size)


def test_the_grids_total_of_balance_is_converted_and_says_eur(server, browser):
    url, total, plain = server
    view = {"groups": ["status"], "values": [["credit", "sum"]]}
    page = sign_in(browser, url, "ana", "ana's long password",
                   "/?view=" + quote(json.dumps(view)))  # fmt: skip
    page.get_by_text("Sum of Balance (EUR)").first.wait_for(timeout=30_000)
    shown = f"{total:,.2f}"
    page.get_by_text(shown, exact=True).first.wait_for(timeout=10_000)
    assert f"{plain:,.2f}" != shown  # the plain sum of 15 currencies is not what is shown
    assert page.get_by_text(f"{plain:,.2f}", exact=True).count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(600)
        page.screenshot(path=str(SHOTS / f"money_total_{name}.png"))


def test_an_admin_imports_rates_on_the_rates_screen(server, browser):
    url, _, _ = server
    page = sign_in(browser, url, "ana", "ana's long password", "/rates")
    page.get_by_text("Exchange rates into EUR").wait_for(timeout=30_000)
    page.locator(".tabulator-cell", has_text="USD").first.wait_for()
    for name, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(600)
        page.screenshot(path=str(SHOTS / f"money_rates_{name}.png"))
    page.set_viewport_size({"width": 1440, "height": 900})
    box = page.get_by_label("Rates (currency,rate a line)")
    box.fill("CHF,1,05\nXYZ,2")
    button(page, "Import rates").click()
    page.get_by_text("row 2").wait_for()
    assert page.get_by_text("'XYZ'").count() >= 1
    assert page.locator(".tabulator-cell", has_text="CHF").count() == 0  # nothing written
    box.fill("CHF;1,05")
    button(page, "Import rates").click()
    page.get_by_text("Imported 1 rate into EUR").wait_for()
    page.locator(".tabulator-cell", has_text="CHF").first.wait_for()
    page.screenshot(path=str(SHOTS / "money_rates_imported.png"))
    button(page, "Undo import").click()
    page.get_by_text("removing the exchange rates it imported").wait_for()
    page.locator(".tabulator-cell", has_text="CHF").first.wait_for(state="detached")


def test_a_viewer_reads_the_rates_but_cannot_import(server, browser):
    url, _, _ = server
    page = sign_in(browser, url, "vic", "vic's long password", "/rates")
    page.get_by_text("Exchange rates into EUR").wait_for(timeout=30_000)
    page.locator(".tabulator-cell", has_text="GBP").first.wait_for()
    page.get_by_text("Only admins import rates.").wait_for()
    assert button(page, "Import rates").count() == 0
    assert page.get_by_label("Rates (currency,rate a line)").count() == 0
