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
