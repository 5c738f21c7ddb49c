"""A new user's tour on a phone (390x844) and a laptop: every toolbar action and every top
link reachable on a phone, the Filters pop-out closable by a button, the Active picker's
text whole, and the focus back on the row after the customer card closes."""

from __future__ import annotations

import re

import pytest

from tests.browser import chromium, more, open_page, require_chromium, served, shot

pytestmark = pytest.mark.browser

PHONE = (390, 844)
SIZES = [(1280, 720), (1440, 900), PHONE]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("phone") / "customers.duckdb"
    with served(db, demo=60) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


def _dialog(page, title: str):
    return page.get_by_role("dialog").filter(has_text=title).first


def test_on_a_phone_every_toolbar_action_opens_from_the_more_menu(browser, server):
    """At 390x844 +, Bulk Upload, Bulk Edit, Delete and Send had no button and More offered
    only SQL, Code and Changes: a phone user could not add, upload, edit, delete or send."""
    page = open_page(browser, server, PHONE)
    page.locator(".tabulator-row").nth(0).get_by_role("checkbox").check()
    page.get_by_text("1 customer selected").first.wait_for()
    for item, title in [("Add customer", "Add customer"), ("Bulk Upload", "Bulk Upload"),
                        ("Bulk Edit", "Bulk Edit"), ("Delete", "Delete customers?"),
                        ("Send", "Send")]:  # fmt: skip
        dialog = _dialog(page, title)
        more(page, item, dialog)
        if item == "Send":
            shot(page, "phone-01-send-from-more-390x844")
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
    button_more = page.get_by_role("button", name="More").first
    button_more.click()
    page.get_by_role("menuitem", name="SQL").wait_for()
    shot(page, "phone-01-more-menu-390x844")
    page.keyboard.press("Escape")
    page.context.close()


@pytest.mark.parametrize("size", SIZES[:2], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_laptop_more_menu_keeps_to_sql_code_and_changes(browser, server, size):
    """Where the buttons show, the More menu does not repeat them."""
    page = open_page(browser, server, size)
    page.get_by_role("button", name="More").first.click()
    page.get_by_role("menuitem", name="SQL").wait_for()
    items = page.get_by_role("menuitem").all_inner_texts()
    assert [i.split("\n")[-1].strip() for i in items] == ["SQL", "Code", "Changes"], items
    shot(page, f"phone-01-more-menu-{size[0]}x{size[1]}")
    page.keyboard.press("Escape")
    page.context.close()


#: Each header link: its text, box and whether its text is cut (through shadow roots).
_NAV_LINKS = """() => {
  const out = [];
  const walk = (root) => {
    root.querySelectorAll("nav a").forEach((a) => {
      const r = a.getBoundingClientRect();
      if (!r.width || !r.height) return;
      const x = r.x + r.width / 2, y = r.y + r.height / 2;
      let at = document.elementFromPoint(x, y);
      while (at && at.shadowRoot && at.shadowRoot.elementFromPoint(x, y) !== at) {
        const inner = at.shadowRoot.elementFromPoint(x, y);
        if (!inner) break;
        at = inner;
      }
      const nav = a.closest("nav").getBoundingClientRect();
      out.push({text: a.innerText.trim(), x: r.x, right: r.right, cut: a.scrollWidth > a.clientWidth,
                inNav: r.x >= nav.x - 1 && r.right <= nav.right + 1 && r.y >= nav.y - 1
                       && r.bottom <= nav.bottom + 1,
                onTop: at === a || a.contains(at)});
    });
    root.querySelectorAll("*").forEach((el) => { if (el.shadowRoot) walk(el.shadowRoot); });
  };
  walk(document);
  return out;
}"""

TOP_LINKS = {"Customers", "Messages", "Setup › Settings", "Setup › Rates"}


def _texts(links: list[dict], width: int) -> set[str]:
    return {" ".join(w.capitalize() for w in link["text"].split()) for link in links
            if 0 <= link["x"] and link["right"] <= width and not link["cut"] and link["onTop"]}  # fmt: skip


def test_every_top_link_is_reachable_and_whole_on_a_phone(browser, server):
    """At 390x844 the header's links ran off the screen ("SETUP › SETT", no Rates): they
    collapse into a Pages menu whose every link shows whole and can be clicked."""
    page = open_page(browser, server, PHONE)
    assert not page.get_by_role("link", name="Setup › Rates").first.is_visible()  # folded
    page.get_by_text("Pages", exact=True).first.click()
    page.wait_for_timeout(300)
    shown = _texts(page.evaluate(_NAV_LINKS), PHONE[0])
    shot(page, "phone-02-pages-menu-390x844")
    assert TOP_LINKS <= shown, shown
    page.get_by_role("link", name="Setup › Rates").first.click()
    page.wait_for_url("**/rates")
    page.context.close()


@pytest.mark.parametrize("size", SIZES[:2], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_laptop_header_shows_every_top_link_in_a_row(browser, server, size):
    page = open_page(browser, server, size)
    assert TOP_LINKS <= _texts(page.evaluate(_NAV_LINKS), size[0])
    assert not page.get_by_text("Pages", exact=True).first.is_visible()
    shot(page, f"phone-02-header-{size[0]}x{size[1]}")
    page.context.close()


#: The focused element, through shadow roots: its accessible name (aria-label or text) and
#: whether it lies in the grid's row `row` (or any row when `row` is null).
_FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el) return null;
  const row = el.closest(".tabulator-row");
  const rows = row ? Array.from(row.parentElement.querySelectorAll(".tabulator-row")) : [];
  return {tag: el.tagName, name: (el.getAttribute("aria-label") || el.innerText || "").trim(),
          row: row ? rows.indexOf(row) : null};
}"""


def test_on_a_phone_the_filters_close_by_a_button_and_give_the_focus_back(browser, server):
    """On a phone the Filters pop-out covered all but a 10 px strip, its only way out by
    touch: it has a Close filters button, which gives the focus back to Filters."""
    page = open_page(browser, server, PHONE)
    filters = page.get_by_role("button", name=re.compile("^Filters")).first
    filters.focus()
    page.keyboard.press("Enter")
    close = page.get_by_role("button", name=re.compile("^Close filters")).first
    close.wait_for()
    box = close.bounding_box()
    assert box and 0 <= box["x"] and box["x"] + box["width"] <= PHONE[0], box
    page.wait_for_timeout(500)
    shot(page, "phone-03-filters-close-390x844")
    close.click()
    close.wait_for(state="hidden")
    page.wait_for_timeout(300)
    focused = page.evaluate(_FOCUSED)
    assert focused and focused["name"].startswith("Filters"), focused
    page.context.close()


@pytest.mark.parametrize("size", SIZES[:2], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_active_picker_shows_its_whole_text(browser, server, size):
    """At 1280x720 and 1440x900 the Active picker showed "All custom..." with room beside it."""
    page = open_page(browser, server, size)
    active = page.get_by_role("combobox", name=re.compile("^Active")).first
    assert active.inner_text().strip() == "All customers"
    fits = active.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert fits[0] <= fits[1], fits
    shot(page, f"phone-04-active-{size[0]}x{size[1]}")
    page.context.close()


def _focus_in_row(page, index: int, timeout: float = 5_000) -> dict:
    """Wait until the focus is in the grid's row `index`; return where it is."""
    deadline = page.evaluate("Date.now()") + timeout
    while True:
        focused = page.evaluate(_FOCUSED)
        if focused and focused["row"] == index:
            return focused
        assert page.evaluate("Date.now()") < deadline, f"the focus is on {focused}"
        page.wait_for_timeout(150)


def test_the_focus_goes_back_to_the_row_when_the_card_closes(browser, server):
    """By keyboard alone: a row's tick box focused, Enter opens the card, Escape closes it,
    and the focus is back in that row (it fell to the page's body)."""
    page = open_page(browser, server, SIZES[0])
    page.locator(".tabulator-row").nth(2).get_by_role("checkbox").focus()
    page.keyboard.press("Enter")
    card = page.get_by_role("dialog").filter(has_text="Edit customer").first
    card.wait_for()
    page.get_by_role("tab", name="Basic").first.wait_for()
    page.wait_for_timeout(500)
    page.keyboard.press("Escape")
    card.wait_for(state="hidden")
    focused = _focus_in_row(page, 2)
    assert focused["tag"] == "INPUT", focused
    # again from the name cell reached by keyboard, closed by Save (the grid reloads)
    page.keyboard.press("Enter")
    card.wait_for()
    save = page.get_by_role("button", name=re.compile("^Save")).first
    save.wait_for()
    save.focus()
    page.keyboard.press("Enter")
    card.wait_for(state="hidden")
    _focus_in_row(page, 2)
    shot(page, "phone-05-focus-back-1280x720")
    page.context.close()
