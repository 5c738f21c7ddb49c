"""What a person met on a tour of the served pages, in a real Chromium: an empty message
log that said nothing, notices that stayed, and the like."""

from __future__ import annotations

import contextlib
import re

import pytest

from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    button,
    goto_ready,
    more,
    require_chromium,
    served,
    shot,
    watch,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    with served(tmp_path_factory.mktemp("tour") / "customers.duckdb", demo=50) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def fresh(browser, url: str, width: int = 1280, height: int = 720, **context):
    ctx = browser.new_context(viewport={"width": width, "height": height}, **context)
    page = ctx.new_page()
    watch(page)
    page.goto(url)
    try:
        yield page
    finally:
        ctx.close()


def test_an_empty_message_log_says_there_are_no_messages_yet(browser, server):
    with fresh(browser, f"{server}/messages") as page:
        page.get_by_role("button").first.wait_for()
        note = page.get_by_text("No messages yet")
        note.wait_for(timeout=15_000)
        assert note.is_visible()
        shot(page, "browser-messages-empty")


def test_what_went_well_fades_and_a_warning_stays(browser, server):
    from dashboard.ui.page import FADE_MS

    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    try:
        goto_ready(page, server)
        button(page, "Refresh").first.click()
        done = page.get_by_text("Reloaded from the database.")
        done.wait_for(timeout=15_000)
        done.wait_for(state="hidden", timeout=FADE_MS + 10_000)  # it went on its own
        button(page, "Bulk Edit").first.click()
        warning = page.get_by_text(re.compile("^Tick the customers to"))
        warning.wait_for(timeout=15_000)
        page.wait_for_timeout(FADE_MS + 2_000)
        assert warning.is_visible()  # a warning waits to be read and closed
        # until a tick answers it: then it is stale beside "1 customer selected"
        page.locator(".tabulator-row").first.get_by_role("checkbox").check()
        page.get_by_text("1 customer selected").wait_for()
        warning.wait_for(state="hidden", timeout=10_000)
    finally:
        ctx.close()


def test_undo_in_changes_is_disabled_at_once(browser, server):
    """Undo and the reloads after it take seconds: the clicked Undo is disabled before
    they end (it stayed enabled, inviting a second click, until they had)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    try:
        goto_ready(page, server)
        page.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.click()
        page.get_by_text(re.compile("^Edit customer: ")).wait_for(timeout=20_000)
        box = page.get_by_role("textbox", name=re.compile("^Channels")).first
        box.fill(str(int(box.input_value() or 0) + 7))
        button(page, "Save").click()
        page.get_by_text(re.compile("^Saved ")).wait_for()
        dialog = page.get_by_role("dialog")
        undo = dialog.get_by_role("button", name=re.compile(r"^Undo \w")).first
        more(page, "Changes", undo)
        name = undo.get_attribute("aria-label")  # names its batch: one button only
        clicked = dialog.get_by_role("button", name=name, exact=True)
        done = dialog.get_by_text(re.compile("^Undone: "))
        clicked.click()
        seen_disabled_first = False
        for _ in range(600):
            # the button first (see the old code: both changed in one update)
            disabled = clicked.evaluate_all("els => !els.length || els[0].disabled")
            if done.evaluate_all("els => els.length > 0"):
                break
            if disabled:
                seen_disabled_first = True
            page.wait_for_timeout(20)
        done.wait_for(timeout=20_000)
        assert seen_disabled_first, "Undo stayed enabled until the undo had finished"
        page.keyboard.press("Escape")
    finally:
        ctx.close()
