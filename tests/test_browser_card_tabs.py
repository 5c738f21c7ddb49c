"""The card's tabs are made when first shown (its first open had to be fast): each one
shows its content the first time it is chosen, in a real Chromium."""

from __future__ import annotations

import re

import pytest

from dashboard.fields import TABS, fields_on_tab
from tests.browser import button, served_page, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with served_page(tmp_path_factory.mktemp("card_tabs"), demo=50, height=900) as pg:
        yield pg


def open_first_customer(pg) -> None:
    pg.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.click()
    pg.get_by_text(re.compile("^Edit customer: ")).wait_for(timeout=20_000)


def test_every_tab_shows_its_content_the_first_time_it_is_chosen(page):
    # a change first, so that History has rows to show
    open_first_customer(page)
    box = page.get_by_role("textbox", name=re.compile("^Channels")).first
    box.fill(str(int(box.input_value() or 0) + 1))
    button(page, "Save").click()
    page.get_by_text(re.compile("^Saved ")).wait_for()
    page.reload()
    page.wait_for_selector(".tabulator-row")
    button(page, "Columns").first.wait_for()
    page.wait_for_timeout(1000)

    open_first_customer(page)  # a new session: a card whose tabs are not made yet
    dialog = page.get_by_role("dialog")
    for tab in TABS:
        page.get_by_role("tab", name=re.compile(f"^{tab}")).click()
        for f in fields_on_tab(tab):
            # every field of the tab is there, under its label
            label = dialog.get_by_text(re.compile(f"^{re.escape(f.label)}")).first
            label.wait_for(timeout=10_000)
            assert label.is_visible(), (tab, f.label)
    page.get_by_role("tab", name=re.compile("^Contacts")).click()
    button(dialog, "Add contact").wait_for(timeout=10_000)
    contacts = dialog.locator(".tabulator").first
    assert (
        contacts.locator(".tabulator-col-title").filter(has_text=re.compile("^Email$")).count() == 1
    )
    assert contacts.locator(".tabulator-row").count() >= 1  # the demo gives every customer one

    page.get_by_role("tab", name=re.compile("^History")).click()
    history = dialog.locator(".tabulator:visible").first
    history.locator(".tabulator-row").first.wait_for(timeout=10_000)
    assert (
        history.locator(".tabulator-col-title").filter(has_text=re.compile("^Before$")).count() == 1
    )
    assert "Channels" in history.inner_text()

    page.get_by_role("tab", name=re.compile("^Messages")).click()
    dialog.get_by_text("No messages sent yet.").wait_for(timeout=10_000)
    shot(page, "browser-card-tabs-messages")
    page.keyboard.press("Escape")


def test_the_tab_row_stays_in_sight_while_the_fields_scroll(page):
    """At 1280x720 the card is taller than the window: scrolled to its later fields, the
    tab row (Basic, Contacts, History, Messages...) went up with them, out of sight. It
    stays at the top of the card's scrolling box while the fields scroll under it."""
    page.set_viewport_size({"width": 1280, "height": 720})
    try:
        open_first_customer(page)
        dialog = page.get_by_role("dialog")
        tabs = dialog.get_by_role("tablist").first
        page.get_by_role("tab", name=re.compile("^Basic")).click()  # the longest tab
        dialog.get_by_text(re.compile("^Customer Name")).first.wait_for()
        box = dialog.locator(".MuiDialogContent-root").first
        before = tabs.bounding_box()
        scrolled = box.evaluate("(b) => { b.scrollTop = 400; return b.scrollTop; }")
        assert scrolled > 100, "the card's fields do not scroll at 1280x720"
        page.wait_for_timeout(300)
        top = box.bounding_box()["y"]
        after = tabs.bounding_box()
        shot(page, "browser-card-tabs-scrolled-1280x720")
        assert (
            after["y"] >= top - 1 and after["y"] + after["height"] <= top + before["height"] + 40
        ), f"the tab row went with the fields: at {after['y']:.0f}, the card's box at {top:.0f}"
        # what is on screen under it is the fields scrolled, not hidden behind it
        label = dialog.get_by_text(re.compile("^Customer Name")).first
        assert label.bounding_box()["y"] < before["y"] + 10 or not label.is_visible()
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
    finally:
        page.set_viewport_size({"width": 1500, "height": 900})
