"""The Filters and Columns drawers in a real Chromium: by keyboard, and laid out at 1280x720."""

from __future__ import annotations

import re

import pytest

from tests.browser import button, choose, served_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with served_page(tmp_path_factory.mktemp("filters"), demo=60) as pg:
        pg.set_viewport_size({"width": 1280, "height": 720})
        yield pg


def test_escape_closes_the_values_list_then_the_drawer(page):
    """The open Values list covers Add filter: the first Escape closes the list (its
    search box kept Escape from the menu), the second the drawer."""
    button(page, "Filters").click()
    choose(page, "Field", "Status")
    page.get_by_role("combobox", name=re.compile("^Values")).first.click()
    listbox = page.locator('[role="listbox"]')
    listbox.wait_for()
    page.locator("li").filter(has_text=re.compile("^Inactive$")).first.click()
    page.keyboard.press("Escape")
    listbox.wait_for(state="hidden", timeout=5000)
    add = button(page, "Add filter")
    assert add.is_visible()  # the drawer is still open
    page.keyboard.press("Escape")
    add.wait_for(state="hidden", timeout=5000)


def test_the_columns_drawer_does_not_overlap_at_1280x720(page):
    """ "Saved views" sat on the Show select and Reset columns on "Open a saved view"."""
    button(page, "Columns").first.click()
    saved = page.get_by_text("Saved views", exact=True)
    saved.wait_for()
    page.wait_for_timeout(1500)  # the chips and the selects' options have arrived
    saved.scroll_into_view_if_needed()
    show = page.get_by_role("combobox", name=re.compile("^Show")).first.bounding_box()
    reset = button(page, "Reset columns").first.bounding_box()
    opener = page.get_by_role("combobox", name=re.compile("^Open a saved view")).first
    title, pick = saved.bounding_box(), opener.bounding_box()
    assert show["y"] + show["height"] <= reset["y"]
    assert reset["y"] + reset["height"] <= title["y"]
    assert title["y"] + title["height"] <= pick["y"]
    page.keyboard.press("Escape")
    saved.wait_for(state="hidden")


def test_typing_a_country_code_lists_that_country_first(page):
    """The second tour: "DE" in the Country filter's values listed Bangladesh first (its
    name holds "de")."""
    page.keyboard.press("Escape")
    button(page, "Filters").click()
    choose(page, "Field", "Country")
    page.get_by_role("combobox", name=re.compile("^Values")).first.click()
    listbox = page.locator('[role="listbox"]')
    listbox.wait_for()
    page.keyboard.type("de")
    # the options, after the list's "Select N matched items" line
    first = page.locator('[role="listbox"] li').filter(has_text=re.compile(" — ")).first
    first.filter(has_text=re.compile("^DE — Germany")).wait_for(timeout=10_000)
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
