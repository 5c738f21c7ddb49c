"""Leftovers a new user met (issue 14): the phone's Pages menu closes with Escape, Add
customer goes to the first bad field when Save fails, a cut name in the grid ends with "…",
and a row under the mouse looks different from a ticked one."""

from __future__ import annotations

import re

import pytest

from tests.browser import button, chromium, click_until, open_page, require_chromium, served, shot

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


#: The focused element's accessible label (through shadow roots: its <label>), whether it
#: is marked invalid and whether it lies wholly inside the window.
_FOCUSED_FIELD = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body) return null;
  const box = el.getBoundingClientRect();
  const labelled = el.id ? el.getRootNode().querySelector(`label[for='${el.id}']`) : null;
  const by = el.getAttribute("aria-labelledby");
  const named = by ? el.getRootNode().getElementById(by.split(" ")[0]) : null;
  return {tag: el.tagName, label: ((labelled || named || {}).textContent || "").trim(),
          invalid: el.getAttribute("aria-invalid"),
          inside: box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0};
}"""


def _focused_field(page, label: str, timeout: float = 5_000) -> dict:
    deadline = page.evaluate("Date.now()") + timeout
    while True:
        focused = page.evaluate(_FOCUSED_FIELD)
        if focused and focused["label"].startswith(label):
            return focused
        assert page.evaluate("Date.now()") < deadline, f"the focus is on {focused}"
        page.wait_for_timeout(150)


def test_a_refused_new_customer_goes_to_its_first_bad_field(browser, server):
    """Save refused (a missing name, then a bad PayPal email on Config): the error showed,
    but the focus stayed on Save and the bad field out of sight, on another tab."""
    page = open_page(browser, server, SIZES[0])
    click_until(page, button(page, "+").first, page.get_by_text("Add customer"))
    page.get_by_role("textbox", name=re.compile("^Customer Name")).first.wait_for()
    picker = page.get_by_role("combobox", name=re.compile("^Currency")).first
    picker.focus()
    page.keyboard.press("Enter")
    page.keyboard.type("eur")
    page.wait_for_timeout(400)
    page.keyboard.press("Enter")
    page.get_by_role("listbox").wait_for(state="hidden")
    page.get_by_role("tab", name="Config").click()
    email = page.get_by_role("textbox", name=re.compile("^PayPal Email")).first
    email.fill("nope")
    # the person scrolls down to Save on the last tab they used
    button(page, "Save").click()
    page.get_by_text(re.compile("^2 problems to fix before saving")).wait_for()
    focused = _focused_field(page, "Customer Name")
    assert (
        page.get_by_role("tab", name=re.compile("^Basic")).get_attribute("aria-selected") == "true"
    )
    assert focused["inside"] and focused["invalid"] == "true", focused
    shot(page, "newuser-02-first-bad-field-1280x720")
    page.keyboard.type("Focus Goes Here Ltd")
    button(page, "Save").click()
    page.get_by_text(re.compile("^1 problem to fix before saving")).wait_for()
    focused = _focused_field(page, "PayPal Email")
    assert (
        page.get_by_role("tab", name=re.compile("^Config")).get_attribute("aria-selected") == "true"
    )
    assert focused["inside"] and focused["invalid"] == "true", focused
    shot(page, "newuser-02-bad-email-1280x720")
    page.context.close()


LONG_NAME = ("Very Long Name Telecommunications " * 4)[:120]

#: A cell's text: how much of it shows, whether it is cut, and what ends it on screen.
_CUT = """(cell) => {
  const inner = cell.querySelector("div") || cell;
  const s = getComputedStyle(inner);
  return {cut: inner.scrollWidth > inner.clientWidth, overflow: s.textOverflow,
          hidden: s.overflow === "hidden" || s.overflowX === "hidden",
          text: cell.textContent};
}"""


def test_a_cut_name_in_the_grid_ends_with_an_ellipsis(browser, server):
    """A 120-character name was cut mid-letter at 1280x720, with nothing to say there is
    more: Panel wraps each value in a box of its own, so the cell's ellipsis never applied."""
    page = open_page(browser, server, SIZES[0])
    page.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.click()
    page.get_by_text(re.compile("^Edit customer")).wait_for()
    page.get_by_role("textbox", name=re.compile("^Customer Name")).first.fill(LONG_NAME)
    button(page, "Save").click()
    page.get_by_text(re.compile("^Saved Very Long")).first.wait_for()
    cell = (
        page.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]')
        .filter(has_text=LONG_NAME)
        .first
    )
    cell.wait_for()
    got = cell.evaluate(_CUT)
    assert got["text"] == LONG_NAME  # the whole name is in the page (screen readers read it)
    assert got["cut"] and got["hidden"] and got["overflow"] == "ellipsis", got
    # and shows whole when pointed at
    cell.hover()
    tip = page.locator(".tabulator-tooltip").first
    tip.wait_for(timeout=5_000)
    assert tip.inner_text().strip() == LONG_NAME
    shot(page, "newuser-03-ellipsis-1280x720")
    for size in SIZES[1:]:
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.wait_for_timeout(1200)
        shot(page, f"newuser-03-ellipsis-{size[0]}x{size[1]}")
    # a phone wraps names, to three lines at most ("…" after): this one took seven
    height = cell.evaluate("(c) => c.getBoundingClientRect().height")
    assert height <= 3 * 20 + 16, height
    page.context.close()


#: The colours a row's name cell shows (background, text, outline), through its styles.
_LOOK = """(row) => {
  const cell = row.querySelector(".tabulator-cell[tabulator-field='name']");
  const s = getComputedStyle(cell), r = getComputedStyle(row);
  return {row: r.backgroundColor, cell: s.backgroundColor, color: s.color,
          outline: s.outlineStyle === "none" ? "none" : s.outlineColor};
}"""


def _lightness(css: str) -> float:
    """The mean of a colour's red, green and blue (0-255): higher is lighter."""
    nums = [float(n) for n in re.findall(r"[\d.]+", css)]
    if css.startswith("color(srgb"):
        nums = [n * 255 for n in nums]
    return sum(nums[:3]) / 3


def test_a_pointed_row_looks_unlike_a_ticked_one_and_a_closed_card_leaves_no_blue(browser, server):
    """The row under the mouse took the ticked rows' blue (75 % of it), so which rows were
    ticked could not be told with the mouse over them; the cell clicked to open a card
    stayed blue once the card was closed (the mouse still on it)."""
    page = open_page(browser, server, SIZES[0])
    rows = page.locator(".tabulator-row")
    rows.nth(1).get_by_role("checkbox").check()
    page.get_by_text("1 customer selected").first.wait_for()
    rows.nth(2).locator(".tabulator-cell[tabulator-field='status']").hover()
    page.wait_for_timeout(300)
    ticked, pointed = rows.nth(1).evaluate(_LOOK), rows.nth(2).evaluate(_LOOK)
    assert pointed["cell"] != ticked["cell"], (pointed, ticked)
    assert _lightness(pointed["cell"]) > _lightness(ticked["cell"]) + 60, (pointed, ticked)
    # the ticked row under the mouse still looks ticked
    rows.nth(1).locator(".tabulator-cell[tabulator-field='status']").hover()
    page.wait_for_timeout(300)
    assert _lightness(rows.nth(1).evaluate(_LOOK)["cell"]) < 160
    shot(page, "newuser-04-hover-ticked-1280x720")
    # open a card from a name and close it: the mouse is still on that name
    name = rows.nth(4).locator(".tabulator-cell[tabulator-field='name']")
    name.click()
    card = page.get_by_role("dialog").filter(has_text="Edit customer").first
    card.wait_for()
    page.get_by_role("tab", name="Basic").first.wait_for()
    page.wait_for_timeout(500)
    page.keyboard.press("Escape")
    card.wait_for(state="hidden")
    page.wait_for_timeout(1500)  # the focus is given back to the row meanwhile
    look = rows.nth(4).evaluate(_LOOK)
    assert _lightness(look["cell"]) > 200 and look["outline"] == "none", look
    shot(page, "newuser-04-card-closed-1280x720")
    page.mouse.move(640, 710)
    page.wait_for_timeout(300)
    look = rows.nth(4).evaluate(_LOOK)
    assert _lightness(look["cell"]) > 200 and look["outline"] == "none", look
    for size in SIZES[1:]:
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.wait_for_timeout(1000)
        rows.nth(3).locator(".tabulator-cell[tabulator-field='status']").hover()
        page.wait_for_timeout(300)
        shot(page, f"newuser-04-hover-ticked-{size[0]}x{size[1]}")
    page.context.close()
