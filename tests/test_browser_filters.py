"""The Filters and Columns drawers in a real Chromium: what their first open shows, by
keyboard, and laid out at 1280x720."""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    WATCH_OPENING,
    button,
    choose,
    goto_ready,
    never_blank,
    open_page,
    opening_frames,
    served_page,
    shot,
)  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with served_page(tmp_path_factory.mktemp("filters"), demo=60) as pg:
        pg.set_viewport_size({"width": 1280, "height": 720})
        yield pg


def test_the_drawers_say_what_opens_at_once_and_are_never_empty(page):
    """A first open of Filters or Columns showed nothing for 2-5 s while its panel was
    made: the drawer now opens at once saying "Opening filters…" (the panel drawn over the
    line when it comes), and is never an empty box meanwhile."""
    pg = open_page(page.context.browser, page.url, (1280, 720))  # a page of its own: first opens
    for label, name, drawn in (
        ("Filters", "filters", "Add filter"),
        ("Columns", "columns", "Reset columns"),
    ):
        pg.evaluate(WATCH_OPENING)
        button(pg, label).first.click()
        pg.locator(".MuiDrawer-paper").first.wait_for(timeout=20_000)
        shot(pg, f"drawer-first-open-{name}-opening-1280x720")
        shown = button(pg, drawn).first
        shown.wait_for(timeout=20_000)
        pg.wait_for_timeout(300)
        frames = opening_frames(pg)
        story = never_blank(frames)
        assert frames[0][1] == "line", story  # its first frame says what opens
        assert pg.evaluate("window.cdLine") == f"Opening {name}…", story
        assert "content" in frames[-1][1], story
        shot(pg, f"drawer-first-open-{name}-1280x720")
        pg.keyboard.press("Escape")
        shown.wait_for(state="hidden", timeout=5_000)
    pg.context.close()


def test_the_drawers_are_dialogs_named_filters_and_columns(page):
    """Screen readers and axe found the Filters and Columns pop-outs nameless boxes: each
    is now a dialog named for what it holds, and Escape still closes it."""
    from playwright.sync_api import expect

    for label, drawn in (("Filters", "Add filter"), ("Columns", "Reset columns")):
        button(page, label).first.click()
        drawer = page.get_by_role("dialog", name=label)
        expect(drawer).to_be_visible(timeout=20_000)
        expect(button(drawer, drawn).first).to_be_visible(timeout=20_000)
        assert drawer.get_attribute("aria-modal") == "true"
        page.keyboard.press("Escape")
        expect(drawer).to_be_hidden(timeout=5_000)


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


def test_each_restriction_is_a_chip_in_words_removed_by_its_named_x(page):
    """Issue 14: the chips read as a person says them ("Balance > 100.00", not "Balance >
    100  ✕"); the Active quick filter and the search are chips too, and each chip's ✕ is
    a button named "Remove filter <the chip's words>" that takes that one away."""
    from dashboard.query import View

    page.keyboard.press("Escape")
    base = page.url.split("?", 1)[0]
    view = View(status="Active", search="a", filters=[["credit", ">", "100"],
                                                      ["name", "contains", "a"]])  # fmt: skip
    goto_ready(page, view.url(base))
    button(page, "Filters").first.click()
    words = ["Status = Active", "Balance > 100.00", "Customer Name contains a", "Search: a"]
    for text in words:
        page.get_by_text(text, exact=True).wait_for(timeout=10_000)
        assert page.get_by_role("button", name=f"Remove filter {text}", exact=True).count() == 1
    assert page.get_by_text(re.compile("✕|Active button")).count() == 0
    shot(page, "filters-chips-1280x720")
    page.get_by_role("button", name="Remove filter Status = Active", exact=True).click()
    page.get_by_text("Status = Active", exact=True).wait_for(state="hidden", timeout=10_000)
    for text in words[1:]:
        page.get_by_text(text, exact=True).wait_for()
    page.get_by_role("button", name="Remove filter Balance > 100.00", exact=True).click()
    page.get_by_text("Balance > 100.00", exact=True).wait_for(state="hidden", timeout=10_000)
    page.get_by_text("Customer Name contains a", exact=True).wait_for()
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(800)
    shot(page, "filters-chips-390x844")
    page.set_viewport_size({"width": 1280, "height": 720})
    button(page, "Clear all").first.click()
    page.get_by_text("No filters: every customer is shown.").wait_for()
    page.keyboard.press("Escape")
