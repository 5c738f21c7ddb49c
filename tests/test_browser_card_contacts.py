"""Contacts refused by a save are fixed in place, in a real Chromium at 1280x720: the red
cells open their editor, editing does not redraw the grid (the focus stays in it), and the
problem is read whole."""

from __future__ import annotations

import re

import pytest

from tests.browser import button, click_until, served_page, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with served_page(tmp_path_factory.mktemp("contacts"), demo=100) as pg:
        pg.set_viewport_size({"width": 1280, "height": 720})
        yield pg


def _cell(pg, field: str, row: int = -1):
    cells = pg.locator(f'[role="dialog"] .tabulator-cell[tabulator-field="{field}"]')
    return cells.last if row == -1 else cells.nth(row)


def _type_in(pg, field: str, text: str, row: int = -1) -> None:
    _cell(pg, field, row).click()
    pg.keyboard.type(text)


def _editing(pg, field: str):
    """The input of the cell being edited, once it is `field`'s."""
    editor = pg.locator(f'[role="dialog"] .tabulator-editing[tabulator-field="{field}"] input')
    editor.wait_for(timeout=5000)
    return editor


def _still_editing(pg, field: str) -> None:
    """`field`'s editor is open and holds the focus, also after the server has answered the
    edit (a redraw then would drop the editor and the focus)."""
    _editing(pg, field)
    pg.wait_for_timeout(1500)
    editor = _editing(pg, field)
    assert editor.evaluate("el => el.getRootNode().activeElement === el"), "focus left the grid"


def test_bad_contacts_are_fixed_in_place_after_a_refused_save(page):
    click_until(page, button(page, "+").first, page.get_by_text("Add customer"))
    page.get_by_role("textbox", name=re.compile("^Customer Name")).first.fill("Ana Tours")
    page.get_by_role("combobox", name=re.compile("^Currency")).click()
    page.locator("li").filter(has_text=re.compile("^GBP — ")).first.click()
    page.get_by_role("tab", name="Contacts").click()
    button(page, "Add contact").click()
    _cell(page, "email").wait_for()
    _type_in(page, "email", "ana.tour@example")
    page.keyboard.press("Enter")
    _type_in(page, "mobile", "07911 12345x")
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    button(page, "Save").click()
    page.get_by_text(re.compile("^2 problems to fix before saving")).wait_for()
    page.get_by_role("tab", name=re.compile(r"^Contacts \(2\)")).click()
    page.get_by_text(re.compile("^Contact 1, Email “ana.tour@example”: is not a valid")).wait_for()
    shot(page, "browser-card-contacts-01-refused")
    # the row stays one line high: the problem is read below the grid, whole
    height = _cell(page, "email").bounding_box()["height"]
    assert height < 60, f"the contact row is {height} px high"
    # the red cell opens its editor, holding the value to fix
    _cell(page, "email").click()
    editor = _editing(page, "email")
    assert editor.input_value() == "ana.tour@example"
    assert editor.is_visible()
    editor.fill("ana.tour@example.com")
    page.keyboard.press("Tab")  # on to the next cell, and the grid keeps the focus
    _still_editing(page, "mobile")
    page.keyboard.press("Control+a")
    page.keyboard.type("+447911123456")
    page.keyboard.press("Enter")
    page.get_by_role("tab", name="Contacts", exact=True).wait_for()  # no problem left
    # a contact added now is typed into without the grid jumping away
    button(page, "Add contact").click()
    page.locator('[role="dialog"] .tabulator-row').nth(1).wait_for()
    _type_in(page, "name", "Bea Ops", row=1)
    page.keyboard.press("Tab")
    _still_editing(page, "email")
    page.keyboard.type("bea@tours.example")
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    shot(page, "browser-card-contacts-02-fixed")
    button(page, "Save").click()
    page.get_by_text(re.compile("^Saved Ana Tours")).wait_for()


def test_on_a_phone_every_tab_of_the_card_can_be_reached(page):
    """At 390x844 the tabs were cut at "VERIFIC" with no way to Contacts and History:
    their scroll arrow is shown and brings them in."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.click()
        page.get_by_text(re.compile("^Edit customer")).wait_for()
        history = page.get_by_role("tab", name="History")
        history.wait_for()
        arrow = page.locator('[role="dialog"] .MuiTabs-scrollButtons').last
        for _ in range(6):
            box = history.bounding_box()
            if box and box["x"] + box["width"] <= 390:
                break
            arrow.click()  # a person's tap: no element scrolled into view for them
            page.wait_for_timeout(400)
        box = history.bounding_box()
        assert box["x"] + box["width"] <= 390, "History stays out of reach"
        shot(page, "browser-card-contacts-03-phone-tabs")
        button(page, "Cancel").click()
        page.get_by_role("dialog").wait_for(state="hidden")
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


def test_a_click_on_plus_right_after_escape_opens_the_card(page):
    """A person's click on + just after Escape closed the card landed on its fading
    backdrop and nothing opened; a second click did."""
    title = page.get_by_text("Add customer", exact=True)
    plus = button(page, "+").first
    click_until(page, plus, title)
    box = plus.bounding_box()
    page.keyboard.press("Escape")
    page.wait_for_timeout(60)
    # the mouse, not a locator's click (which waits until nothing covers the button)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(1500)  # as long as the card may take, had it closed instead
    title.wait_for(timeout=5000)
    page.keyboard.press("Escape")
    title.wait_for(state="hidden")
