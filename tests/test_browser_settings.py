"""Setup › Settings in Chromium: a typed number is what the first Save writes, the answer
to a Save or a test shows where the person is (beside its button, the refused field
marked), and the test buttons are named by what they say."""

from __future__ import annotations

import re

import pytest

from dashboard import add_demo_customers
from tests.browser import button, chromium, demo_server, shot

pytestmark = pytest.mark.browser

#: The database each served url shows (its settings file is beside it).
DBS: dict = {}


served_db = demo_server("settings", prepare=lambda store: add_demo_customers(store, 5, seed=3))


@pytest.fixture(scope="module")
def server(served_db):
    db, url = served_db
    DBS[url] = db
    return url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


def _settings(browser, server, size=(1280, 720)):
    """A page on /settings of `size`, drawn."""
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    page.goto(server + "/settings")
    page.get_by_role("textbox", name=re.compile("^Base .reporting. currency")).first.wait_for()
    button(page, "Save settings").first.wait_for()
    page.wait_for_timeout(1000)
    return page


def _file(server) -> str:
    return (DBS[server].parent / "settings.toml").read_text(encoding="utf-8")


def _in_view(page, locator) -> bool:
    """Whether `locator` is drawn inside the window."""
    box = locator.bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]


def _type(page, label: str, text: str) -> None:
    """Type `text` over the field labelled `label`, as a person does (click, select all)."""
    box = page.get_by_role("textbox", name=re.compile(f"^{re.escape(label)}")).first
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def _focused(locator) -> bool:
    """Whether `locator` has the focus (looked for through the shadow roots)."""
    return locator.evaluate("""(el) => {
      let a = document.activeElement;
      while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
      return a === el;
    }""")


def test_a_typed_number_is_saved_by_the_first_save(browser, server):
    """Typed 7 into Emails per second, waited, clicked Save: "Saved", yet the file kept the
    old value (the number reached the server after Save read it); a second Save wrote 7.
    The port, typed last (its value sent as Save takes the focus), likewise."""
    page = _settings(browser, server)
    _type(page, "Emails per second", "7")
    _type(page, "Port", "2525")
    page.wait_for_timeout(1500)
    save = button(page, "Save settings").first
    save.click()
    saved = page.get_by_text(re.compile("^Saved to ")).first
    saved.wait_for()
    text = _file(server)
    assert re.search(r"(?m)^rate = 7$", text), text
    assert re.search(r"(?m)^port = 2525$", text), text
    page.wait_for_timeout(500)
    shot(page, "settings-saved-1280x720")
    assert _in_view(page, saved)  # beside Save
    page.context.close()


def test_a_refused_save_is_shown_beside_save_and_marks_the_field(browser, server):
    """From address `x`, scrolled down, Save: the error was at the top of the page, out of
    view, and the field was not marked."""
    page = _settings(browser, server)
    box = page.get_by_role("textbox", name=re.compile("^From address")).first
    _type(page, "From address", "x")
    page.mouse.move(640, 400)
    page.mouse.wheel(0, 2000)
    page.wait_for_timeout(500)
    button(page, "Save settings").first.click()
    page.get_by_text(
        re.compile(r"^From address: 'x' is not a valid email address")
    ).first.wait_for()
    # the field is marked, its problem under it in sight, and it has the focus
    under = page.get_by_text(re.compile(r"^'x' is not a valid email address")).first
    under.wait_for()
    page.wait_for_timeout(500)
    shot(page, "settings-refused-scrolled-1280x720")
    assert box.get_attribute("aria-invalid") == "true"
    assert _in_view(page, box) and _in_view(page, under), (box.bounding_box(), under.bounding_box())
    assert _focused(box)
    # put right, the mark goes
    _type(page, "From address", "ops@example.com")
    button(page, "Save settings").first.click()
    page.get_by_text(re.compile("^Saved to ")).first.wait_for()
    assert box.get_attribute("aria-invalid") != "true"
    assert under.count() == 0
    page.context.close()


def test_the_test_buttons_are_named_by_their_label(browser, server):
    page = _settings(browser, server)
    for label in ("Test Email", "Test SMS"):
        b = button(page, label).first
        name = b.get_attribute("aria-label") or b.inner_text()
        assert name.startswith(label) and "test_to" not in name, name
    page.context.close()


@pytest.mark.parametrize("size", [(1280, 720), (1440, 900), (390, 844)])
def test_settings_screenshots(browser, server, size):
    """The screen, then a Save's answer, in sight (on a phone, under the button)."""
    page = _settings(browser, server, size)
    shot(page, f"settings-{size[0]}x{size[1]}")
    button(page, "Save settings").first.click()
    saved = page.get_by_text(re.compile("^Saved to ")).first
    saved.wait_for()
    page.wait_for_timeout(600)
    shot(page, f"settings-saved-{size[0]}x{size[1]}")
    assert _in_view(page, saved), saved.bounding_box()
    page.context.close()
