"""Issue 18 in Chromium: a pinned column is kept in the view's link (a reload keeps it);
the header menu works from the keyboard alone; the group tree's tick boxes are named for
the group they tick. Issue 14: the card opened by a click on a name gives the focus back
to that row when it closes."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest

from dashboard import View, open_store
from tests.browser import (
    demo_server,
    dialog_drawn,
    goto_ready,
    open_page,
    shot,
)  # fmt: skip
from tests.test_browser_phone import _FOCUSED, _focus_in_row

pytestmark = pytest.mark.browser


server = demo_server("gridkeys", demo=150)


def header(page, field: str):
    return page.locator(f'.tabulator-col[tabulator-field="{field}"]')


def view_of(page) -> View:
    return View.from_url(page.url)


def wait_view(page, check, timeout: float = 15_000) -> View:
    """Wait until the address bar's view satisfies `check`."""
    step = 100
    for _ in range(int(timeout / step)):
        view = view_of(page)
        if check(view):
            return view
        page.wait_for_timeout(step)
    raise AssertionError(f"the link never showed it: {page.url}")


def test_a_pinned_column_is_in_the_link_and_a_reload_keeps_it(server, browser):
    _, url = server
    page = open_page(browser, url, (1280, 720))
    header(page, "credit").locator(".cd-menu-button").click()
    page.locator(".tabulator-menu-item", has_text="Pin right").click()
    view = wait_view(page, lambda v: v.pins == {"credit": "right"})
    assert view.pins == {"credit": "right"}
    goto_ready(page, page.url)  # a reload
    col = header(page, "credit")
    col.wait_for()
    assert "tabulator-frozen-right" in (col.get_attribute("class") or "")
    shot(page, "grid-pinned-right-1280x720")
    # and unpinned again
    header(page, "credit").locator(".cd-menu-button").click()
    page.locator(".tabulator-menu-item", has_text="Unpin").click()
    wait_view(page, lambda v: v.pins == {})
    page.context.close()


#: Each row's cells beside and under the frozen right column, after the grid is scrolled to
#: its right end; and whether the header lines up with the body.
RIGHT_END = """(hold) => {
  const table = hold.closest('.tabulator');
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
  const heads = [...table.querySelectorAll('.tabulator-header .tabulator-col[tabulator-field]')]
    .filter((c) => c.getAttribute('tabulator-field') !== '_index');
  const free = heads.filter((c) => !c.classList.contains('tabulator-frozen'));
  const last = free[free.length - 1].getAttribute('tabulator-field');
  const pinned = heads.find((c) => c.classList.contains('tabulator-frozen-right'));
  const field = pinned.getAttribute('tabulator-field');
  const rows = [...hold.querySelectorAll('.tabulator-row')].map((row) => [
    box(row.querySelector(`.tabulator-cell[tabulator-field="${last}"]`)),
    box(row.querySelector(`.tabulator-cell[tabulator-field="${field}"]`))]);
  return {last, rows, head: box(pinned), holder: box(hold)};
}"""


def test_a_column_pinned_right_leaves_every_value_readable(server, browser):
    # pinned right, Balance sat over the last free column: scrolled to the end, the rows
    # (wider than the header by Panel's spacer column) left the last values under it, and
    # a pointed row's see-through colour showed the values under the frozen cells
    _, url = server
    for size in ((1280, 720), (1440, 900)):
        page = open_page(browser, View(pins={"credit": "right"}).url(url + "/"), size)
        hold = page.locator(".tabulator-tableholder").first
        hold.evaluate("h => { h.scrollLeft = h.scrollWidth; }")
        page.wait_for_timeout(300)  # the header follows on the scroll event
        end = hold.evaluate(RIGHT_END)
        assert end["rows"], end
        for free, pinned in end["rows"]:
            assert free[1] <= pinned[0] + 0.5, (size, end["last"], free, pinned)
            assert abs(pinned[0] - end["head"][0]) <= 1, (size, "header off its column", end)
            assert abs(pinned[1] - end["holder"][1]) <= 1, (size, "pinned column off the edge")
        # a pointed row's frozen cells hide what scrolls under them
        row = page.locator(".tabulator-row").nth(2)
        row.locator('.tabulator-cell[tabulator-field="status"]').hover(force=True)
        frozen = row.locator(".tabulator-cell.tabulator-frozen-right")
        colour = frozen.evaluate("e => getComputedStyle(e).backgroundColor")
        probe = frozen.evaluate(
            "e => { const c = document.createElement('canvas').getContext('2d');"
            " c.fillStyle = getComputedStyle(e).backgroundColor; c.fillRect(0, 0, 1, 1);"
            " return c.getImageData(0, 0, 1, 1).data[3]; }"
        )
        assert probe == 255, f"see-through frozen cell: {colour}"
        shot(page, f"grid-pinned-right-end-{size[0]}x{size[1]}")
        page.context.close()


def test_the_header_menu_opens_moves_chooses_and_closes_by_keyboard(server, browser):
    _, url = server
    page = open_page(browser, url, (1440, 900))
    col = header(page, "credit")
    button = col.locator(".cd-menu-button")
    assert button.get_attribute("role") == "button" and button.get_attribute("tabindex") == "0"
    assert page.get_by_role("button", name="Column menu: Balance").count() == 1
    col.focus()
    page.keyboard.press("Alt+ArrowDown")
    focused = page.locator(".tabulator-menu-item:focus")
    focused.wait_for(timeout=5_000)
    assert focused.inner_text() == "Sort ascending"
    assert page.get_by_role("menuitem").count() >= 8
    # the menu opens at its header, not in the page's corner
    menu, col_box = page.locator(".tabulator-menu").bounding_box(), col.bounding_box()
    assert menu is not None and col_box is not None
    assert abs(menu["x"] - col_box["x"]) < col_box["width"] + 40 and menu["y"] >= col_box["y"]
    page.keyboard.press("ArrowDown")
    assert page.locator(".tabulator-menu-item:focus").inner_text() == "Sort descending"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps round to the last item
    assert page.locator(".tabulator-menu-item:focus").inner_text() == "Hide column"
    shot(page, "grid-header-menu-keyboard-1440x900")
    page.keyboard.press("Escape")
    page.locator(".tabulator-menu").wait_for(state="detached", timeout=5_000)
    assert header(page, "credit").evaluate("e => e.matches(':focus')")
    # Tab reaches the header's menu button; Enter opens it; Enter chooses
    page.keyboard.press("Tab")
    assert button.evaluate("e => e.matches(':focus')")
    page.keyboard.press("Enter")
    page.locator(".tabulator-menu-item:focus").wait_for(timeout=5_000)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_view(page, lambda v: v.sort == [["credit", "desc"]])
    page.locator(".tabulator-menu").wait_for(state="detached", timeout=5_000)
    page.wait_for_timeout(1000)
    assert header(page, "credit").evaluate("e => e.matches(':focus')")
    page.context.close()


def test_group_tick_boxes_are_named_for_their_group(server, browser):
    db, url = server
    with open_store(db) as store:
        counts = dict(store.rows("SELECT status, count(*) FROM customers GROUP BY 1"))
    view = {"groups": ["status", "country"], "expand": [["Active"]]}
    page = open_page(browser, url + "/?view=" + quote(json.dumps(view)), (1280, 720))
    box = page.get_by_role("checkbox", name=f"Select group Active ({counts['Active']} customers)")
    box.wait_for(timeout=15_000)
    assert box.count() == 1
    assert (
        page.get_by_role(
            "checkbox", name=re.compile(r"^Select group Active › \w+ \(\d+ customers?\)$")
        ).count()
        > 0
    )
    assert page.get_by_role("checkbox", name="Select Row").count() == 0
    assert page.get_by_role("checkbox", name="Select all rows on this page").count() == 1
    shot(page, "grid-tree-named-ticks-1280x720")
    page.context.close()


def test_escape_after_a_click_on_a_name_gives_the_focus_back_to_its_row(server, browser):
    """A click on a customer's name opens the card; Escape closes it and the focus is back
    in that row (its tick box), as after Enter on the row: it fell to the page's body, so
    Tab started again from the top of the page."""
    _, url = server
    page = open_page(browser, url, (1280, 720))
    row = page.locator(".tabulator-row").nth(3)
    name = row.locator(".tabulator-cell[tabulator-field='name']")
    who = name.inner_text().strip()
    name.click()
    dialog_drawn(page, re.compile(f"^Edit customer: {re.escape(who)}"))
    page.get_by_role("tab", name="Basic").first.wait_for()
    page.wait_for_timeout(500)
    page.keyboard.press("Escape")
    page.get_by_role("dialog").first.wait_for(state="hidden")
    focused = _focus_in_row(page, 3)
    assert focused["tag"] == "INPUT" and focused["name"] == f"Select {who}", focused
    page.wait_for_timeout(1000)  # and it stays there
    assert page.evaluate(_FOCUSED) == focused
    shot(page, "grid-focus-back-after-click-1280x720")
    page.context.close()
