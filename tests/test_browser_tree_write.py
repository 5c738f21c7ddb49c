"""The group tree after a write, in Chromium (issue 18's tour): a ticked group that is
open down to its customers is Bulk Edited; the tree is updated in place (no script error,
no blank grid), its open groups kept, its tick kept; ticking does not scroll; the "Show
N more" row has no tick box."""

from __future__ import annotations

import re

import pytest

from dashboard import View, open_store
from tests.browser import button, demo_server, open_page, shot, wait_cells
from tests.test_browser_tree import BULLET, label, stripped

pytestmark = pytest.mark.browser

server = demo_server("tree_write", demo=300)


def _group_row(page, text: str):
    c0 = page.locator('.tabulator-cell[tabulator-field="c0"]').filter(has_text=label(text))
    return page.locator(".tabulator-row").filter(has=c0).first


def _top(page) -> float:
    return page.locator(".tabulator-tableholder").first.evaluate("e => e.scrollTop")


def test_a_ticked_open_group_is_bulk_edited_in_place(browser, server):
    db, url = server
    with open_store(db) as store:
        status = store.scalar(
            "SELECT status FROM customers GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
        # of the first 3 countries (a page of the tree's groups), the largest
        firsts = store.rows(
            "SELECT country, count(*) FROM customers WHERE status = ? AND country IS NOT NULL"
            " GROUP BY 1 ORDER BY 1 LIMIT 3", [status])  # fmt: skip
        country, n = max(firsts, key=lambda r: r[1])
    assert n > 3  # else no "Show more" row
    view = View(groups=["status", "country"], values=[["credit", "sum"]], page_size=3,
                expand=[[status], [status, country]])  # fmt: skip
    page = open_page(browser, view.url(url + "/"))
    got = wait_cells(page, "c0", lambda got: any(BULLET in t for t in got))
    more = [t for t in stripped(got) if t.startswith("Show ")]
    assert more, got
    # the "Show N more" row has no tick box
    more_row = page.locator(".tabulator-row").filter(has_text=re.compile(r"Show \d+ more")).first
    assert more_row.get_by_role("checkbox").count() == 0
    # ticking a group does not scroll the grid
    row = _group_row(page, country)
    row.scroll_into_view_if_needed()
    before = _top(page)
    row.get_by_role("checkbox").check()
    page.get_by_text(re.compile(f"^{n:,} selected")).first.wait_for()
    page.wait_for_timeout(500)
    assert _top(page) == before
    shot(page, "browser-tree-write-01-ticked-1280x720")
    page.locator(".tabulator").first.evaluate("e => { e.cdMark = 1; }")  # the tree's table
    button(page, "Bulk Edit").first.click()
    page.get_by_text(f"{n:,} customers selected.").wait_for()
    page.get_by_role("combobox", name=re.compile("^Field")).click()
    page.locator("li").filter(has_text=re.compile("^Channels$")).first.click()
    page.get_by_role("textbox", name=re.compile("^Value")).fill("+1")
    button(page, "Preview").click()
    apply = button(page, "Apply")
    page.wait_for_function("b => !b.disabled", arg=apply.element_handle())
    apply.click()
    button(page, f"Yes, change {n} customers").click()
    page.get_by_text(re.compile(r"^Changed \d+ customers")).first.wait_for()
    page.wait_for_timeout(1500)
    # the same table, updated in place (not drawn anew)
    assert page.locator(".tabulator").first.evaluate("e => e.cdMark") == 1
    # the same open groups, the group still ticked, the grid drawn
    got = stripped(wait_cells(page, "c0", lambda got: any(BULLET in t for t in got)))
    assert status in got and country in got and any(t.startswith("Show ") for t in got)
    assert _group_row(page, country).get_by_role("checkbox").is_checked()
    page.get_by_text(re.compile(f"^{n:,} selected")).first.wait_for()
    shot(page, "browser-tree-write-02-after-bulk-edit-1280x720")
    page.context.close()


def test_ticking_a_group_open_to_its_customers_does_not_scroll(browser, server):
    db, url = server
    with open_store(db) as store:
        status, n = store.rows(
            "SELECT status, count(*) FROM customers GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        )[0]
    assert n > 30  # its customers run past the screen
    page = open_page(browser, View(groups=["status"], expand=[[status]]).url(url + "/"))
    wait_cells(page, "c0", lambda got: any(BULLET in t for t in got))
    before = _top(page)
    _group_row(page, status).get_by_role("checkbox").check()
    page.get_by_text(re.compile(f"^{n:,} selected")).first.wait_for()
    page.wait_for_timeout(800)  # the server's ticks of its customers came back
    assert _top(page) == before
    assert _group_row(page, status).get_by_role("checkbox").is_checked()
    shot(page, "browser-tree-write-03-ticked-in-place-1280x720")
    page.context.close()
