"""Issue 18 in Chromium: the group tree's and the pivot's header menus (the rows grid's
⋮ menu, from one home): a tree measure sorted from its menu by keyboard alone, a pivot
column hidden (kept in the link, a reload keeps it) and shown back; the ⋮ never changes
the title text a header reads."""

from __future__ import annotations

import re

import pytest

from dashboard import View, open_store
from tests.browser import (
    button,
    demo_server,
    goto_ready,
    open_page,
    shot,
    wait_cells,
)
from tests.test_browser_grid_keys import header, view_of, wait_view
from tests.test_browser_tree import stripped

pytestmark = pytest.mark.browser


server = demo_server("menus", demo=300)


def titles(page) -> list[str]:
    """Every shown header's title as read (no menu mark in it)."""
    return [t.strip() for t in page.locator(".tabulator-col-title:visible").all_inner_texts()]


def column_of(page, title: str) -> str:
    """The grid field of the header titled `title`."""
    col = page.locator(".tabulator-col").filter(
        has=page.locator(".tabulator-col-title", has_text=re.compile(f"^{re.escape(title)}$"))
    ).first  # fmt: skip
    col.wait_for(timeout=15_000)
    return col.get_attribute("tabulator-field")


def wait_titles(page, check, timeout: float = 15_000) -> list[str]:
    """Wait until the shown headers' titles satisfy `check`."""
    for _ in range(int(timeout / 100)):
        got = titles(page)
        if check(got):
            return got
        page.wait_for_timeout(100)
    raise AssertionError(f"the headers never showed it: {titles(page)}")


def focused_item(page) -> str:
    item = page.locator(".tabulator-menu-item:focus")
    item.wait_for(timeout=5_000)
    return item.inner_text()


def test_a_tree_measure_sorts_descending_from_its_menu_by_keyboard(server, browser):
    db, url = server
    with open_store(db) as store:
        top = store.scalar(
            "SELECT max(s) FROM (SELECT sum(channels) AS s FROM customers GROUP BY country)"
        )
    view = View(groups=["status", "country"], values=[["channels", "sum"]])
    for size in ((1280, 720), (390, 844)):
        page = open_page(browser, view.copy(groups=["country"]).url(url + "/"), size)
        wait_cells(page, "c0", lambda got: "Total" in stripped(got))
        key = column_of(page, "Sum of Channels")
        # the title reads as before: the ⋮ is drawn beside it, not written in it
        assert "Sum of Channels" in titles(page) and not any("\u22ee" in t for t in titles(page))
        if size[0] > 700:
            button = page.get_by_role("button", name="Column menu: Sum of Channels")
            assert button.count() == 1
            button.focus()
            page.keyboard.press("Enter")
        else:  # a phone has no room for the button: the header opens its menu
            header(page, key).focus()
            page.keyboard.press("Alt+ArrowDown")
        assert focused_item(page) == "Sort ascending"
        assert page.get_by_role("menu").count() == 1
        # at its header (on a phone too, where no button is drawn: not under the app bar)
        menu, head = page.get_by_role("menu").bounding_box(), header(page, key).bounding_box()
        assert menu["y"] >= head["y"] and abs(menu["x"] - head["x"]) < head["width"] + 40
        # a measure sorts and hides; it removes no grouping (the label column's menu does)
        items = page.locator(".tabulator-menu-item").all_inner_texts()
        assert items == ["Sort ascending", "Sort descending", "Hide column"], items
        page.keyboard.press("ArrowDown")
        assert focused_item(page) == "Sort descending"
        shot(page, f"header-menus-tree-measure-{size[0]}x{size[1]}")
        page.keyboard.press("Enter")
        wait_view(page, lambda v: v.sort == [["sum_channels", "desc"]])
        # the first group row (under the pinned Total) is the largest
        got = wait_cells(page, key, lambda got: len(got) > 2 and got[1] == f"{top:,}")
        assert got[1] == f"{top:,}"
        page.locator(".tabulator-menu").wait_for(state="detached", timeout=5_000)
        page.context.close()
    # the label column's menu removes a grouping, by its field when there are several
    page = open_page(browser, view.url(url + "/"), (1280, 720))
    wait_cells(page, "c0", lambda got: "Total" in stripped(got))
    header(page, "c0").locator(".cd-menu-button").click()
    page.locator(".tabulator-menu-item", has_text="Remove grouping by Country").click()
    wait_view(page, lambda v: v.groups == ["status"])
    page.context.close()


def test_a_pivot_column_hides_is_kept_in_the_link_and_shows_back(server, browser):
    _db, url = server
    view = View(groups=["country"], pivot="status", values=[["channels", "sum"]])
    page = open_page(browser, view.url(url + "/"), (1280, 720))
    key = column_of(page, "Inactive")
    assert "Inactive" in titles(page)
    header(page, key).locator(".cd-menu-button").click()
    items = page.locator(".tabulator-menu-item").all_inner_texts()
    assert items == ["Sort ascending", "Sort descending", "Hide column"], items
    shot(page, "header-menus-pivot-column-1280x720")
    page.locator(".tabulator-menu-item", has_text="Hide column").click()
    hidden = wait_view(page, lambda v: len(v.hidden) == 1).hidden
    assert hidden[0].endswith("@Inactive"), hidden
    # the engine leaves the column out (the page runs the view again without it)
    wait_titles(page, lambda got: "Inactive" not in got and "Active" in got)
    # a reload (or the link) keeps it hidden
    goto_ready(page, page.url)
    page.locator(".tabulator-col-title", has_text=re.compile("^Active$")).first.wait_for()
    page.wait_for_timeout(500)
    assert "Inactive" not in titles(page)
    # any header's menu shows it back
    header(page, column_of(page, "Active")).locator(".cd-menu-button").click()
    page.locator(".tabulator-menu-item", has_text="Show hidden columns").click()
    wait_view(page, lambda v: v.hidden == [])
    wait_titles(page, lambda got: "Inactive" in got)
    page.context.close()


def test_a_hidden_tree_measure_is_listed_in_the_columns_pop_out_and_shown_back(server, browser):
    """Hidden from its header's menu, a measure is listed in the Columns pop-out (the
    column chooser) with a button that shows it back: at 1280x720 and on a phone."""
    _db, url = server
    view = View(groups=["status"], values=[["channels", "sum"], ["flow_speed", "sum"]],
                hidden=["sum_channels"])  # fmt: skip
    for size in ((1280, 720), (1440, 900), (390, 844)):
        page = open_page(browser, view.url(url + "/"), size)
        wait_cells(page, "c0", lambda got: "Total" in stripped(got))
        wait_titles(page, lambda got: "Sum of Flow Speed (CPS)" in got)
        assert "Sum of Channels" not in titles(page)
        button(page, "Columns").first.click()
        dialog = page.get_by_role("dialog", name="Columns")
        show = dialog.get_by_role("button", name=re.compile("^Show Sum of Channels"))
        show.wait_for(timeout=15_000)
        dialog.get_by_text("Hidden columns", exact=True).scroll_into_view_if_needed()
        shot(page, f"header-menus-columns-hidden-{size[0]}x{size[1]}")
        # inside the pop-out, not cut at its edge
        box, frame = show.bounding_box(), page.viewport_size
        assert box["x"] >= 0 and box["x"] + box["width"] <= frame["width"], box
        show.click()
        wait_view(page, lambda v: v.hidden == [])
        show.wait_for(state="detached", timeout=10_000)
        assert dialog.get_by_text("Hidden columns", exact=True).count() == 0
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=5_000)
        wait_titles(page, lambda got: "Sum of Channels" in got)
        page.context.close()


def test_on_a_phone_a_tap_on_a_header_opens_its_menu_and_a_wide_click_sorts(server, browser):
    """A phone has no room for the ⋮: a tap on a tree's or pivot's header opens its menu
    (by the header; it sorts and hides from there). A wider window's click still sorts."""
    _db, url = server
    tree = View(groups=["country"], values=[["channels", "sum"]])
    page = open_page(browser, tree.url(url + "/"), (390, 844), has_touch=True)
    wait_cells(page, "c0", lambda got: "Total" in stripped(got))
    key = column_of(page, "Sum of Channels")
    assert header(page, key).locator(".cd-menu-button").is_hidden()  # no ⋮ drawn
    header(page, key).locator(".tabulator-col-title").tap()
    menu = page.get_by_role("menu")
    menu.wait_for(timeout=5_000)
    items = page.locator(".tabulator-menu-item").all_inner_texts()
    assert items == ["Sort ascending", "Sort descending", "Hide column"], items
    at, head = menu.bounding_box(), header(page, key).bounding_box()
    assert at["y"] >= head["y"] and at["x"] + at["width"] <= 390 + 1, (at, head)
    shot(page, "header-menus-phone-tap-390x844")
    assert view_of(page).sort == []  # the tap opened the menu: it sorted nothing
    page.locator(".tabulator-menu-item", has_text="Sort descending").tap()
    wait_view(page, lambda v: v.sort == [["sum_channels", "desc"]])
    page.context.close()
    # a pivot on a phone: its column hides from the tapped menu
    pivot = View(groups=["country"], pivot="status", values=[["channels", "sum"]])
    page = open_page(browser, pivot.url(url + "/"), (390, 844), has_touch=True)
    key = column_of(page, "Inactive")
    header(page, key).locator(".tabulator-col-title").tap()
    page.locator(".tabulator-menu-item", has_text="Hide column").tap()
    wait_view(page, lambda v: len(v.hidden) == 1 and v.hidden[0].endswith("@Inactive"))
    wait_titles(page, lambda got: "Inactive" not in got and "Active" in got)
    page.context.close()
    # a laptop: a click on the title sorts, and opens no menu
    page = open_page(browser, tree.url(url + "/"), (1280, 720))
    wait_cells(page, "c0", lambda got: "Total" in stripped(got))
    header(page, column_of(page, "Sum of Channels")).locator(".tabulator-col-title").click()
    wait_view(page, lambda v: v.sort == [["sum_channels", "asc"]])
    assert page.locator(".tabulator-menu").count() == 0
    page.context.close()
