"""Hostile values loaded through the importer and the Python API, then every screen and state
visited in Chromium: no script from data or from a link ever runs, no browser dialog opens,
no console error, and the values show as the text they are.

Each payload sets `window.__xss` if it ever runs; `page.on("dialog")` catches alert().
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import quote

import pytest

from dashboard import Store, View, add_customer
from tests.browser import (
    button,
    chromium,
    goto_ready,
    more,
    require_chromium,
    served,
    shot,
)  # fmt: skip

pytestmark = pytest.mark.browser

IMG = "<img src=x onerror=window.__xss=1>"
SVG = '"><svg onload=window.__xss=2>'
SCRIPT = "<script>window.__xss=3</script>"
RTL = "\u202eRelet Evil\u202c Voice"
ZERO = "Zero\u200bWidth Telecom"
CONTACT = "<img src=y onerror=window.__xss=4>"
VIEW_NAME = "<img src=z onerror=window.__xss=5>"
LINK = '<img src=w onerror="window.__xss=6">'
LONG_CITY = "Llanfair" + "g" * 90  # at the city's limit (100)
TOML_HTML = 'note = "<img src=t onerror=window.__xss=7>"'


def _csv(rows: list[dict[str, str]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "customers.duckdb"
    cli = [sys.executable, "-m", "dashboard.cli"]
    subprocess.run([*cli, "init", "--db", str(db), "--demo", "60"], check=True,
                   capture_output=True)  # fmt: skip
    sheet = folder / "hostile.csv"
    sheet.write_text(_csv([
        {"Customer Name": IMG, "Currency": "EUR", "City": SCRIPT, "Tags": "vip"},
        {"Customer Name": SVG, "Currency": "USD", "City": LONG_CITY, "Tags": ""},
        {"Customer Name": RTL, "Currency": "GBP", "City": SCRIPT, "Tags": ""},
        {"Customer Name": ZERO, "Currency": "EUR", "City": "Zürich", "Tags": ""},
    ]), encoding="utf-8")  # fmt: skip
    done = subprocess.run([*cli, "import", str(sheet), "--db", str(db)], capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # refused, with a message, never stored: a 10,000-character name, a javascript: link
    bad = folder / "refused.csv"
    bad.write_text(_csv([
        {"Customer Name": "N" * 10_000, "Currency": "EUR", "Website": ""},
        {"Customer Name": "Script Link Ltd", "Currency": "EUR", "Website": "javascript:alert(1)"},
    ]), encoding="utf-8")  # fmt: skip
    refused = subprocess.run([*cli, "import", str(bad), "--db", str(db)], capture_output=True,
                             text=True)  # fmt: skip
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "Customer Name" in refused.stderr and "Website" in refused.stderr
    with Store(db) as store:
        add_customer(store, {"name": "Contact Markup Ltd", "currency": "EUR", "toml": TOML_HTML,
                             "address_line1": IMG},
                     [{"name": CONTACT, "email": "noc@markup.example"}])  # fmt: skip
    with served(db, demo=0) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        pg = context.new_page()
        pg.dialogs = []  # alert(), confirm(), prompt(): none may ever open
        pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
        goto_ready(pg, server)
        yield pg


def no_script_ran(pg, where: str) -> None:
    pg.wait_for_timeout(600)  # an image's onerror fires once it fails to load
    assert pg.evaluate("window.__xss") is None, f"script from data ran on {where}"
    assert pg.dialogs == [], f"a browser dialog opened on {where}: {pg.dialogs}"


def search(pg, text: str) -> None:
    box = pg.get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    pg.wait_for_timeout(1000)


def tick_first(pg) -> None:
    pg.locator(".tabulator-row").first.get_by_role("checkbox").check()
    pg.get_by_text("1 customer selected").wait_for()


def test_the_grid_shows_markup_as_text(page):
    search(page, "img src")
    page.locator(".tabulator-cell[tabulator-field='name']").filter(has_text=IMG).wait_for()
    assert page.locator(".tabulator-cell[tabulator-field='city']").filter(has_text=SCRIPT).count()
    # pointed at, a cell's tooltip shows its value as text (Tabulator's own tooltip put the
    # value into the page as HTML, and the name's script ran for whoever hovered it)
    for field, value in (("name", IMG), ("city", SCRIPT)):
        page.locator(f".tabulator-cell[tabulator-field='{field}']").filter(has_text=value).hover()
        tip = page.locator(".tabulator-tooltip").filter(has_text=value).last
        tip.wait_for()
        assert tip.inner_text() == value
        assert page.locator(".tabulator-tooltip").locator("img, script, svg").count() == 0
    for value in (SVG, RTL, ZERO):
        search(page, value[2:8])
        page.locator(".tabulator-cell[tabulator-field='name']").filter(has_text=value).wait_for()
    no_script_ran(page, "the grid")
    shot(page, "hostile-01-grid")


def test_groups_pivot_chart_and_an_open_group(page, server):
    view = View(groups=["city"], pivot="status", values=[["credit", "sum"]])
    page.goto(view.url(server + "/") + "&chart=heatmap")
    page.wait_for_selector(".tabulator-row")
    page.locator(".tabulator-cell[tabulator-field='c0']").filter(has_text=SCRIPT).wait_for()
    page.locator(".tabulator-cell[tabulator-field='c0']").filter(has_text=SCRIPT).click()
    page.get_by_text(f"Customers with City: {SCRIPT}", exact=False).wait_for()
    no_script_ran(page, "a group title")
    # the same city as the pivot's columns: its header
    page.goto(View(groups=["status"], pivot="city").url(server + "/"))
    page.wait_for_selector(".tabulator-row")
    page.locator(".tabulator-col-title").filter(has_text=SCRIPT).first.wait_for()
    no_script_ran(page, "pivot headers and the chart")
    shot(page, "hostile-02-pivot")


def test_the_card_and_its_tabs(page, server):
    goto_ready(page, server)
    search(page, "Contact Markup")
    page.locator(".tabulator-cell[tabulator-field='name']").first.click()
    dialog = page.get_by_role("dialog", name=re.compile("^Edit customer"))
    dialog.wait_for()
    for tab in ("Config", "Address", "Contacts", "History", "Messages"):
        dialog.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(400)
        if tab == "Contacts":  # the contact's name, as text
            dialog.locator(".tabulator-cell").filter(has_text=CONTACT).first.wait_for()
        if tab == "Address":
            assert (
                dialog.get_by_role("textbox", name=re.compile("^Address")).first.input_value()
                == IMG
            )
    no_script_ran(page, "the card")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")


def test_send_preview_and_delete_confirmation(page, server):
    goto_ready(page, server)
    search(page, "Contact Markup")
    tick_first(page)
    button(page, "Send").first.click()
    send = page.get_by_role("dialog", name=re.compile("^Send"))
    send.wait_for()
    send.get_by_role("textbox", name=re.compile("^Subject")).fill("Hello {name}")
    send.get_by_role("textbox", name=re.compile("^Message")).fill("Dear {name} at {address_line1}")
    button(page, "Preview").click()
    send.get_by_text(IMG, exact=False).first.wait_for()  # the first message, as text
    no_script_ran(page, "the Send preview")
    shot(page, "hostile-03-send")
    page.keyboard.press("Escape")  # a typed message is not thrown away without asking
    button(page, "Discard changes").click()
    send.wait_for(state="hidden")
    search(page, "img src")  # a new search clears the selection
    tick_first(page)
    button(page, "Delete").first.click()
    confirm = page.get_by_role("dialog", name=re.compile("^Delete"))
    confirm.get_by_text(IMG, exact=False).wait_for()
    no_script_ran(page, "the Delete confirmation")
    page.keyboard.press("Escape")


def test_saved_views_sql_code_and_links(page, server):
    goto_ready(page, server)
    button(page, "Columns").first.click()
    page.get_by_role("textbox", name="Save this view as").fill(VIEW_NAME)
    button(page, "Save view").click()
    page.get_by_text("Saved the view", exact=False).wait_for()
    page.keyboard.press("Escape")
    no_script_ran(page, "saved views")
    sql = page.get_by_role("dialog", name="SQL")
    more(page, "SQL", sql)
    box = sql.get_by_role("textbox", name=re.compile("^SQL"))
    box.fill(f"SELECT name AS \"{IMG}\", city FROM customers WHERE name LIKE '%<%'")
    button(page, "Run").first.click()
    sql.get_by_text(re.compile(r"^\d+ rows?")).wait_for()
    box.fill('SELECT "<svg onload=window.__xss=8>" FROM customers')
    button(page, "Run").first.click()
    sql.get_by_text("the query failed", exact=False).wait_for()
    no_script_ran(page, "the SQL box")
    page.keyboard.press("Escape")
    search(page, IMG)
    more(page, "Code", page.get_by_role("dialog", name=re.compile("^Use this view")))
    no_script_ran(page, "the Code dialog")
    page.keyboard.press("Escape")
    # a crafted link: its bad view is reported as text, the default grid shown
    page.goto(server + "/?view=" + quote(json.dumps({"groups": [LINK]})))
    page.get_by_text("could not be opened", exact=False).wait_for()
    page.wait_for_selector(".tabulator-row")
    no_script_ran(page, "a crafted link")


def test_the_messages_log(page, server):
    page.goto(server + "/messages")
    page.get_by_role("button").first.wait_for()
    no_script_ran(page, "the messages page")
