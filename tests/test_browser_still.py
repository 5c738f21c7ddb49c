"""Issue 14, keyboard and page part, in a real Chromium: the grid stays where it is while
notices come and go, and the focus stays where the person left it."""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    button,
    choose,
    close_drawer,
    demo_server,
    more,
    open_page,
    shot,
)  # fmt: skip

pytestmark = pytest.mark.browser

server = demo_server("still", demo=120)

PHONE = (390, 844)


def grid_top(pg) -> float:
    """Where the grid's top edge is on screen."""
    return pg.locator(".tabulator").first.bounding_box()["y"]


def delete_ticked(pg, size) -> None:
    """Delete the ticked customers from the toolbar (from More on a phone) and confirm."""
    confirm = pg.get_by_role("button", name="Delete the customers")
    if size == PHONE:
        more(pg, re.compile("^Delete"), confirm)
    else:
        button(pg, "Delete").first.click()
    confirm.click()


@pytest.mark.parametrize("size", [(1280, 720), PHONE], ids=["1280x720", "390x844"])
def test_notices_and_clear_all_leave_the_grid_where_it_is(server, size):
    """A write's "Deleted … / Undo", the Undo's own notice and Clear all's "the selection
    was cleared" each pushed the grid down or pulled it up, under the mouse: the notices
    now lie over the page's foot, and the grid never moves."""
    from tests.browser import chromium

    _db, url = server
    name = "x".join(map(str, size))
    with chromium() as browser:
        pg = open_page(browser, url, size)
        top = grid_top(pg)
        rows = pg.locator(".tabulator-row")
        for i in range(2):
            rows.nth(i).get_by_role("checkbox").check()
        pg.get_by_text(re.compile("^2 customers selected")).first.wait_for()
        assert grid_top(pg) == top
        delete_ticked(pg, size)
        pg.get_by_text(re.compile("^Deleted 2 customers")).first.wait_for()
        undo = button(pg, "Undo: Deleted 2 customers").first
        undo.wait_for()
        pg.wait_for_timeout(300)
        shot(pg, f"still-deleted-{name}")
        assert grid_top(pg) == top, "the write's notice moved the grid"
        undo.click()
        pg.get_by_text(re.compile("^Undone: ")).first.wait_for()
        undo.wait_for(state="hidden")
        pg.wait_for_timeout(300)
        shot(pg, f"still-undone-{name}")
        assert grid_top(pg) == top, "the undo moved the grid"

        # a status filter and a ticked row, then Filters › Clear all: the selection goes,
        # and a notice says so
        choose(pg, "Active", "Inactive")
        pg.locator(".tabulator-row").first.get_by_role("checkbox").check()
        pg.get_by_text(re.compile("^1 customer selected")).first.wait_for()
        button(pg, "Filters").first.click()
        button(pg, "Clear all").first.click()
        pg.get_by_text("No filters: every customer is shown.").wait_for()
        pg.get_by_text(re.compile("^The filters changed")).first.wait_for()
        close_drawer(pg) if size != PHONE else pg.keyboard.press("Escape")
        pg.wait_for_timeout(500)
        shot(pg, f"still-cleared-{name}")
        assert grid_top(pg) == top, "Clear all moved the grid"
        pg.get_by_text(re.compile("^The filters changed")).first.wait_for(
            state="hidden", timeout=10_000)  # fmt: skip
        assert grid_top(pg) == top, "the notice's fading moved the grid"


def overlap(a: dict, b: dict) -> bool:
    """Whether two boxes on screen cover each other."""
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])  # fmt: skip


@pytest.mark.parametrize("size", [(1280, 720), PHONE], ids=["1280x720", "390x844"])
def test_the_last_row_scrolls_clear_of_undo(server, size):
    """Undo stays over the grid's foot as long as it is offered: scrolled to the end, the
    page's last row comes out from under it (the rows end with room for it)."""
    from tests.browser import chromium

    _db, url = server
    with chromium() as browser:
        pg = open_page(browser, url, size)
        pg.locator(".tabulator-row").first.get_by_role("checkbox").check()
        pg.get_by_text(re.compile("^1 customer selected")).first.wait_for()
        delete_ticked(pg, size)
        undo = button(pg, "Undo: Deleted 1 customer").first
        undo.wait_for()
        pg.get_by_text(re.compile("^Deleted 1 customer")).first.wait_for(
            state="hidden", timeout=15_000)  # the notice fades; Undo stays  # fmt: skip
        holder = pg.locator(".tabulator-tableholder").first
        for _ in range(3):  # the virtual renderer draws the rows near the end as it goes
            holder.evaluate("(h) => { h.scrollTop = h.scrollHeight; }")
            pg.wait_for_timeout(400)
        last = pg.locator(".tabulator-row").last
        shot(pg, "still-last-row-{}x{}".format(*size))
        assert not overlap(last.bounding_box(), undo.bounding_box()), "Undo covers the last row"
        undo.click()
        pg.get_by_text(re.compile("^Undone: ")).first.wait_for()


def test_a_toolbar_button_is_disabled_until_a_click_on_it_works(server):
    """A click on + in the page's first seconds, before the page had told the server it
    was ready, never left the browser, and + looked ready. The toolbar's buttons are
    disabled until then: from the moment + is drawn it is disabled, or a click on it opens
    the card."""
    from tests.browser import chromium, watch

    _db, url = server
    with chromium() as browser:
        pg = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        watch(pg)
        pg.goto(url + "/", wait_until="commit")
        add = button(pg, "+").first
        add.wait_for(state="attached", timeout=30_000)
        disabled = add.evaluate("(e) => e.disabled")
        if disabled:
            shot(pg, "still-loading-1280x720")
            add.click(timeout=30_000)  # Playwright waits, as a person does, until + works
        else:
            add.evaluate("(e) => e.click()")  # at once, as soon as it is there
        pg.get_by_role("dialog", name=re.compile("^Add customer")).wait_for(timeout=20_000)
        pg.context.close()


def test_the_active_select_and_the_search_wait_for_the_page_too(server):
    """The Active select and the quick search were live before the page had told the server
    it was ready, while the buttons beside them were disabled: what was typed or chosen in
    the page's first second was lost or half-applied. They wait with the buttons: here the
    browser's "ready" is held back, and while it is they are disabled; once it reaches the
    server they are enabled and a search typed then is run."""
    from tests.browser import cells, chromium, watch

    _db, url = server
    held: list = []
    released: list[bool] = []
    servers: list = []

    def hold_ready(ws) -> None:
        # the browser's frames to the server pass, except "document_ready" and all after it
        # (frames of one message stay in order), until the test lets them go
        to_server = ws.connect_to_server()

        def send(message) -> None:
            if not released and (held or "document_ready" in str(message)):
                held.append(message)
            else:
                to_server.send(message)

        ws.on_message(send)
        servers.append(to_server)

    with chromium() as browser:
        pg = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        watch(pg)
        pg.route_web_socket(re.compile(r"/ws(\?|$)"), hold_ready)
        pg.goto(url + "/")
        search = pg.get_by_role("textbox", name=re.compile("^Search"))
        active = pg.get_by_role("combobox", name=re.compile("^Active"))
        search.wait_for(timeout=30_000)
        pg.locator(".tabulator-row").first.wait_for(timeout=30_000)
        while not held:  # the page drew itself and said it is ready: that is held here
            pg.wait_for_timeout(50)
        pg.wait_for_timeout(500)
        shot(pg, "still-loading-search-1280x720")
        assert search.is_disabled(), "the quick search takes typing the server never hears"
        assert active.is_disabled(), "the Active select takes a choice before the page is ready"
        assert button(pg, "Columns").first.is_disabled()

        released.append(True)
        for message in held:
            servers[-1].send(message)
        for _ in range(200):
            if not search.is_disabled() and not active.is_disabled():
                break
            pg.wait_for_timeout(100)
        assert not search.is_disabled() and not active.is_disabled()
        first = cells(pg, "name")[0].strip()
        search.fill(first)  # typed once the page is ready: searched
        pg.wait_for_function(
            "(t) => [...document.querySelectorAll('.tabulator-row [tabulator-field=\"name\"]')]"
            ".every(c => c.innerText.trim() === t)", arg=first, timeout=15_000)  # fmt: skip
        pg.context.close()
