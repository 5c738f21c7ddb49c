"""The grid as people know it from AG Grid (issue 18), in Chromium: the group tree opened
two levels down to its customers and kept in the link, a ticked group Bulk Edited, the
page size and go-to-page, columns dragged and resized and kept in the link, and the chart
over every group (not the page)."""

from __future__ import annotations

import re

import pytest

from dashboard import View, open_store
from tests.browser import (
    button,
    cells,
    demo_server,
    open_page,
    shot,
    wait_cells,
)  # fmt: skip

pytestmark = pytest.mark.browser

BULLET = "\u2022"


server = demo_server("tree", demo=300)


def label(text: str) -> re.Pattern:
    """What a tree label cell reading `text` holds (after its indent and mark)."""
    return re.compile(r"^[\s\u2003\u25b8\u25be\u2022]*" + re.escape(text) + "$")


def label_cell(page, text: str):
    """The tree's label cell of the row that reads `text`."""
    return page.locator('.tabulator-row .tabulator-cell[tabulator-field="c0"]').filter(
        has_text=label(text)
    ).first  # fmt: skip


def first_click(page, cell, opened) -> None:
    """Click `cell` right after the page opened and wait until the tree's labels satisfy
    `opened`. Twice in three fresh-clone CI runs (never on a quiet machine, where no message
    reaches the page after it is ready and the cell does not move) the first click of the
    module's first page did nothing under load; the cause is not found yet (see the closing
    note of 2026-12-02). So: wait until the cell stands still, and click once more if the
    first click showed nothing in 5 s: a tree that never opens still fails."""
    box = None
    for _ in range(20):
        now = cell.bounding_box()
        if now == box:
            break
        box = now
        page.wait_for_timeout(150)
    cell.click()
    try:
        wait_cells(page, "c0", opened, timeout=5)
    except AssertionError:
        cell.click()
        wait_cells(page, "c0", opened)


def stripped(texts: list[str]) -> list[str]:
    return [t.strip("\u2003\u25b8\u25be\u2022 \n") for t in texts]


def test_the_tree_opens_two_levels_to_its_customers_and_the_link_keeps_it(browser, server):
    db, url = server
    with open_store(db) as store:
        status, country = store.rows(
            "SELECT status, country FROM customers GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
        )[0]
        names = {n for (n,) in store.rows(
            "SELECT name FROM customers WHERE status = ? AND country = ?", [status, country])}  # fmt: skip
    view = View(groups=["status", "country"], values=[["credit", "sum"]])
    page = open_page(browser, view.url(url + "/"))
    wait_cells(page, "c0", lambda got: "Total" in stripped(got))
    first_click(page, label_cell(page, status), lambda got: country in stripped(got))
    label_cell(page, country).click()
    got = wait_cells(page, "c0", lambda got: any(BULLET in t for t in got))
    leaf = [t for t in stripped(got) if t in names]
    assert leaf and len(leaf) == min(len(names), 50)
    page.wait_for_url(re.compile("expand"))
    shot(page, "browser-tree-01-two-levels-open-1280x720")
    # a reload (or the link) reopens the same two levels
    page.reload()
    page.wait_for_selector(".tabulator-row")
    got = wait_cells(page, "c0", lambda got: any(BULLET in t for t in got))
    assert [t for t in stripped(got) if t in names] == leaf
    page.context.close()


def test_a_ticked_group_is_bulk_edited_whole(browser, server):
    db, url = server
    with open_store(db) as store:
        status, n = store.rows(
            "SELECT status, count(*) FROM customers GROUP BY ALL ORDER BY 2 DESC LIMIT 1"
        )[0]
    page = open_page(browser, View(groups=["status"]).url(url + "/"))
    wait_cells(page, "c0", lambda got: status in stripped(got))
    c0 = page.locator('.tabulator-cell[tabulator-field="c0"]').filter(has_text=label(status))
    row = page.locator(".tabulator-row").filter(has=c0).first
    row.get_by_role("checkbox").check()
    page.get_by_text(re.compile(f"^{n:,} selected")).first.wait_for()
    button(page, "Bulk Edit").first.click()
    page.get_by_text(f"{n:,} customers selected.").wait_for()
    shot(page, "browser-tree-02-group-bulk-edit-1280x720")
    page.keyboard.press("Escape")
    page.context.close()


def test_the_chart_is_of_every_group_top_n_and_other(browser, server):
    db, url = server
    from dashboard.charts import TOP_N

    with open_store(db) as store:
        countries = store.scalar("SELECT count(DISTINCT coalesce(country, '')) FROM customers")
    assert countries > TOP_N  # else the test proves nothing
    page = open_page(browser, View(groups=["country"], page_size=5).url(url + "/"))
    page.locator(".bk-Canvas, canvas").first.wait_for()
    bars = page.evaluate("""() => {
        for (const doc of window.Bokeh.documents) {
          for (const m of doc._all_models.values()) {
            if (m.type === "ColumnDataSource" && m.data.row && m.data.value) {
              return Array.from(m.data.row);
            }
          }
        }
        return null;
    }""")
    assert bars is not None and len(bars) == TOP_N + 1 and bars[-1] == "Other"
    # the grid pages (5 groups a page): the chart does not
    assert len([t for t in stripped(cells(page, "c0")) if t != "Total"]) == 5
    shot(page, "browser-tree-03-chart-top-n-1280x720")
    page.context.close()


def titles(page) -> list[str]:
    """The customers grid's column titles (without each header's menu button, \u22ee)."""
    texts = page.locator(".tabulator-col-title").all_inner_texts()
    return [t.replace("\u22ee", "").strip() for t in texts if t.replace("\u22ee", "").strip()]


def test_dragged_and_resized_headers_are_kept_after_a_reload(browser, server):
    _db, url = server
    page = open_page(browser, url)
    head = lambda f: page.locator(f'.tabulator-col[tabulator-field="{f}"]')  # noqa: E731
    assert titles(page)[2:4] == ["Status", "Channels"]
    src, dst = head("channels").bounding_box(), head("status").bounding_box()
    grab = src["x"] + src["width"] / 2  # on the title, not its menu button
    page.mouse.move(grab, src["y"] + 15)
    page.mouse.down()
    page.mouse.move(grab - 10, src["y"] + 15, steps=3)
    page.mouse.move(dst["x"] + 5, dst["y"] + 15, steps=15)
    page.mouse.up()
    page.wait_for_url(re.compile("channels%22%2C%22status"))  # Channels before Status
    box = head("status").bounding_box()
    x, y = box["x"] + box["width"] - 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 100, y, steps=10)
    page.mouse.up()
    page.wait_for_url(re.compile("widths"))
    wide = head("status").bounding_box()["width"]
    assert wide >= box["width"] + 80
    page.reload()
    page.wait_for_selector(".tabulator-row")
    page.wait_for_timeout(800)
    assert titles(page)[2:4] == ["Channels", "Status"]
    assert abs(head("status").bounding_box()["width"] - wide) <= 2
    page.context.close()


def test_page_size_and_go_to_page_are_kept_in_the_link(browser, server):
    _db, url = server
    page = open_page(browser, url)
    page.get_by_role("combobox", name=re.compile("^Rows per page")).first.click()
    page.locator("li").filter(has_text=re.compile("^25$")).first.click()
    wait_cells(page, "id", lambda got: len(got) == 25)
    box = page.get_by_role("textbox", name=re.compile("^Go to page")).first
    box.fill("5")
    box.press("Enter")
    page.wait_for_url(re.compile("%22page%22%3A5"))
    first = wait_cells(page, "id", lambda got: len(got) == 25 and got[0] == "101")
    assert "page_size%22%3A25" in page.url
    page.reload()
    page.wait_for_selector(".tabulator-row")
    assert wait_cells(page, "id", lambda got: got == first)
    shot(page, "browser-tree-04-page-size-go-to-1280x720")
    page.context.close()
