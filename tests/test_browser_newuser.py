"""Leftovers a new user met (issue 14): the phone's Pages menu closes with Escape, Add
customer goes to the first bad field when Save fails, a cut name in the grid ends with "…",
and a row under the mouse looks different from a ticked one."""

from __future__ import annotations

import re

import pytest

from tests.browser import chromium, open_page, require_chromium, served, shot

pytestmark = pytest.mark.browser

PHONE = (390, 844)
SIZES = [(1280, 720), (1440, 900), PHONE]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("newuser") / "customers.duckdb"
    with served(db, demo=40) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


#: The focused element through shadow roots: its tag and text.
_FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return el ? {tag: el.tagName, text: (el.innerText || "").trim(),
               name: el.getAttribute("name"), label: el.getAttribute("aria-label"),
               id: el.id} : null;
}"""


def test_escape_closes_the_phone_pages_menu_and_focuses_its_summary(browser, server):
    """On a phone the header's links fold into a Pages menu; Escape left it open."""
    page = open_page(browser, server, PHONE)
    summary = page.locator("nav summary").first
    summary.click()
    rates = page.get_by_role("link", name="Setup › Rates").first
    rates.wait_for()
    rates.focus()  # the person went into the menu with the keyboard
    page.keyboard.press("Escape")
    rates.wait_for(state="hidden", timeout=5_000)
    assert page.locator("nav details").first.evaluate("(d) => d.open") is False
    focused = page.evaluate(_FOCUSED)
    assert focused and focused["tag"] == "SUMMARY", focused
    shot(page, "newuser-01-pages-closed-390x844")
    page.context.close()
