"""Bulk Edit in a real Chromium (Bulk Upload: test_browser_upload.py)."""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    button,
    cells,
    more,
    served_page,
    shot,
    wait_cells,
)  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with served_page(tmp_path_factory.mktemp("bulk"), demo=150, height=1100) as pg:
        yield pg


def _channels(page) -> list[int]:
    return [int(v.replace(",", "")) for v in cells(page, "channels")[:2]]


def _tick_two(page) -> list[str]:
    rows = page.locator(".tabulator-row")
    for i in range(2):
        rows.nth(i).get_by_role("checkbox").check()
    page.get_by_text("2 customers selected").wait_for()
    return cells(page, "id")[:2]


def _choose_channels(page, value: str) -> None:
    page.get_by_role("combobox", name=re.compile("^Field")).click()
    page.locator("li").filter(has_text=re.compile("^Channels$")).first.click()
    page.get_by_role("textbox", name=re.compile("^Value")).fill(value)


def test_bulk_edit_previews_asks_then_applies_and_undoes(page):
    """Apply stays disabled until a Preview of the current choice; it asks, naming the
    count and the direction, before writing; the page's Undo puts the values back."""
    ids = _tick_two(page)
    before = _channels(page)
    button(page, "Bulk Edit").first.click()
    page.get_by_text("2 customers selected.").wait_for()
    apply = button(page, "Apply")
    assert apply.is_disabled()  # nothing chosen, nothing previewed
    _choose_channels(page, "+7")
    assert apply.is_disabled()
    button(page, "Preview").click()
    page.get_by_text("2 customers selected: 2 will change, 0 unchanged").wait_for()
    page.get_by_text(re.compile(r"Channels: 2 increases, 0 decreases, 0 unchanged")).wait_for()
    page.wait_for_function("b => !b.disabled", arg=apply.element_handle())
    page.get_by_role("textbox", name=re.compile("^Value")).fill("+8")  # another value
    page.wait_for_function("b => b.disabled", arg=apply.element_handle())
    page.get_by_role("textbox", name=re.compile("^Value")).fill("+7")
    button(page, "Preview").click()
    page.wait_for_function("b => !b.disabled", arg=apply.element_handle())
    shot(page, "browser-bulk-02-edit-preview")
    apply.click()
    page.get_by_text("Change Channels for 2 customers?").wait_for()
    shot(page, "browser-bulk-03-edit-confirm")
    assert _channels(page) == before  # asking wrote nothing
    button(page, "Yes, change 2 customers").click()
    page.get_by_text(re.compile(r"^Changed 2 customers")).wait_for()
    wait_cells(page, "channels", lambda got: _channels(page) == [b + 7 for b in before])
    assert cells(page, "id")[:2] == ids
    button(page, "Undo").first.click()
    page.get_by_text(re.compile(r"^Undone: ")).wait_for()
    wait_cells(page, "channels", lambda got: _channels(page) == before)


def test_a_bulk_edit_is_undone_from_the_changes_panel(page):
    """More › Changes lists the bulk edit just made; its Undo puts the grid back."""
    before = _channels(page)
    button(page, "Bulk Edit").first.click()
    _choose_channels(page, "*2")
    button(page, "Preview").click()
    page.get_by_text(re.compile(r"Channels: 2 increases")).first.wait_for()
    button(page, "Apply").click()
    button(page, "Yes, change 2 customers").click()
    page.get_by_text(re.compile(r"^Changed 2 customers")).wait_for()
    wait_cells(page, "channels", lambda got: _channels(page) == [b * 2 for b in before])
    dialog = page.get_by_role("dialog")
    more(page, "Changes", dialog.get_by_text("Bulk edit of 2 customers").first)
    dialog.get_by_text("Channels × 2").first.wait_for()
    shot(page, "browser-bulk-04-changes")
    dialog.get_by_role("button", name=re.compile(r"^Undo bulk edit of 2")).first.click()
    dialog.get_by_text(re.compile(r"^Undone: Bulk edit of 2 customers")).wait_for()
    page.get_by_text(re.compile(r"^Undone: ")).first.wait_for()
    wait_cells(page, "channels", lambda got: _channels(page) == before)
    dialog.get_by_text(re.compile(r"^Undone by operator just now")).first.wait_for()
    dialog.get_by_text(
        re.compile(r"^Undo, restoring the earlier values of 2 customers")
    ).first.wait_for()
    shot(page, "browser-bulk-05-changes-undone")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")


_FOCUSED = """() => { let e = document.activeElement;
    while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
    return (e.getAttribute('aria-label') || '') + '|' + e.className + '|' + (e.innerText || '').slice(0, 40) }"""


def test_a_value_typed_then_tab_at_once_keeps_the_focus(page):
    """Typing the value and pressing Tab at once moves on to the next control and stays
    there: the server's answer to the typing does not take away what has the focus (it
    hid the preview the focus had gone to, the dialog took the focus, and the next Tab
    and Enter closed it)."""
    button(page, "Bulk Edit").first.click()
    page.get_by_text("2 customers selected.").wait_for()
    _choose_channels(page, "+3")
    button(page, "Preview").click()
    page.get_by_text(re.compile(r"Channels: 2 increases")).first.wait_for()
    box = page.get_by_role("textbox", name=re.compile("^Value"))
    box.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("+4")
    page.keyboard.press("Tab")
    moved_to = page.evaluate(_FOCUSED)
    page.wait_for_timeout(1500)  # the server has answered the typing
    assert page.evaluate(_FOCUSED) == moved_to
    assert "MuiDialog" not in moved_to and not moved_to.startswith("Close")
    assert box.input_value() == "+4"
    # the preview shown is said to be of the earlier value; Apply waits for a new one
    page.get_by_text(re.compile("^This preview is of an earlier choice")).wait_for()
    assert button(page, "Apply").is_disabled()
    button(page, "Cancel").click()
    page.get_by_role("dialog").wait_for(state="hidden")


def test_money_in_the_preview_and_the_question_is_in_each_customers_currency(page):
    """Issue 14: a new Debit Limit showed as "2500" in the preview's table and the
    question, with no currency; each amount now says the customer's own ("2,500.00 AED")."""
    currencies = [c.strip() for c in cells(page, "currency")[:2]]
    assert len(currencies) == 2 and all(len(c) == 3 for c in currencies), currencies
    button(page, "Bulk Edit").first.click()
    page.get_by_text("2 customers selected.").wait_for()
    page.get_by_role("combobox", name=re.compile("^Field")).click()
    page.locator("li").filter(has_text=re.compile("^Debit Limit$")).first.click()
    page.get_by_role("textbox", name=re.compile("^Value")).fill("2500.5")
    button(page, "Preview").click()
    dialog = page.get_by_role("dialog")
    for ccy in currencies:
        dialog.get_by_text(f"2,500.50 {ccy}", exact=True).first.wait_for(timeout=10_000)
    shot(page, "bulk-money-preview-1280x720")
    button(page, "Apply").click()
    page.get_by_text("Change Debit Limit for").wait_for()
    for ccy in currencies:  # the question's "First:" lines
        dialog.get_by_text(f"→ 2,500.50 {ccy}").first.wait_for(timeout=10_000)
    shot(page, "bulk-money-confirm-1280x720")
    button(page, "Back").click()
    button(page, "Cancel").click()
    page.get_by_role("dialog").wait_for(state="hidden")
