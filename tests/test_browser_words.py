"""Words a person reads, on screen (issue 14): a refused setting named by its form label
(and the settings saved beside the database), and on a phone a long "Saved …" notice
wrapped above its Undo, both whole."""

from __future__ import annotations

import re

import pytest

from dashboard import add_customer, add_demo_customers
from tests.browser import button, chromium, demo_server, open_page, shot

pytestmark = pytest.mark.browser

PHONE = (390, 844)
#: A name as long as carriers' names get: its "Saved …" notice is wider than a phone.
#: The database each served url shows.
DBS: dict = {}
LONG_NAME = "Northern Lights International Telecommunications Wholesale Carrier Services Ltd"


def _customers(store) -> None:
    add_customer(store, {"name": LONG_NAME, "currency": "EUR"})
    add_demo_customers(store, 40, seed=3)


served_db = demo_server("words", prepare=_customers)


@pytest.fixture(scope="module")
def server(served_db):
    db, url = served_db
    DBS[url] = db
    return url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


def test_a_refused_setting_is_named_by_its_label(browser, server):
    """The page said "field email.from: From address is not ..."; a person knows the
    field as "From address"."""
    page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    page.goto(server + "/settings")
    box = page.get_by_role("textbox", name=re.compile("^From address")).first
    box.wait_for()
    box.fill("x")
    box.press("Tab")
    button(page, "Save settings").first.click()
    page.get_by_text(re.compile(r"^From address: 'x' is not a valid email address")).wait_for()
    assert page.get_by_text(re.compile("field email")).count() == 0
    shot(page, "settings-refused-1280x720")
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    page.wait_for_timeout(500)
    shot(page, "settings-refused-390x844")
    # a good value is saved beside the database (--db's folder), not under data/
    box.fill("ops@example.com")
    box.press("Tab")
    button(page, "Save settings").first.click()
    beside = DBS[server].parent / "settings.toml"
    page.get_by_text(f"Saved to {beside}.").wait_for()
    assert 'from = "ops@example.com"' in beside.read_text(encoding="utf-8")
    page.context.close()


#: The notice's box, and whether its text or any box holding it is cut (wider inside than
#: shown), up to the Alert.
_MEASURE = """(el) => {
  const cut = [];
  let e = el;
  for (; e; e = e.parentElement) {
    if (e.scrollWidth > e.clientWidth + 1) cut.push(e.className + " " + e.scrollWidth + ">" + e.clientWidth);
    if (e.classList.contains('MuiAlert-root')) break;
  }
  const r = (e || el).getBoundingClientRect();
  return {cut, left: r.left, right: r.right, bottom: r.bottom};
}"""


def _save_channels(page, value: str):
    """Open the long-named customer's card, change Channels, save; the notice and Undo."""
    name = page.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first
    assert name.inner_text().strip() == LONG_NAME
    name.click()
    channels = page.get_by_role("textbox", name=re.compile("^Channels")).first
    channels.wait_for()
    channels.fill(value)
    channels.press("Tab")
    button(page, "Save").first.click()
    notice = page.get_by_text(re.compile(f"^Saved {LONG_NAME}")).first
    notice.wait_for(timeout=15_000)
    undo = button(page, "Undo").first
    undo.wait_for(timeout=10_000)
    page.wait_for_timeout(300)  # laid out (the notice fades after 6 s)
    return notice.evaluate(_MEASURE), undo.bounding_box()


def test_on_a_phone_a_long_saved_notice_wraps_above_undo(browser, server):
    """At 390x844 the notice of a save ("Saved <a long name> (batch …).") was squeezed
    beside Undo, its words cut off: it wraps, whole, and Undo is below it, in sight."""
    page = open_page(browser, server, PHONE)
    box, undo = _save_channels(page, "77")
    shot(page, "phone-saved-notice-390x844")
    assert box["cut"] == [], box  # nothing of the text cut off
    assert box["left"] >= 0 and box["right"] <= PHONE[0] + 1, box
    assert undo["x"] >= 0 and undo["x"] + undo["width"] <= PHONE[0] + 1, undo
    assert 0 <= undo["y"] and undo["y"] + undo["height"] <= PHONE[1], undo
    assert undo["y"] >= box["bottom"] - 1, (undo, box)  # below the notice
    page.context.close()
    # a laptop has room for both on one line
    page = open_page(browser, server, (1280, 720))
    box, undo = _save_channels(page, "78")
    shot(page, "phone-saved-notice-1280x720")
    assert box["cut"] == [] and undo["y"] < box["bottom"], (undo, box)
    page.context.close()
