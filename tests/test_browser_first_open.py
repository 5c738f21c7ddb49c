"""Issue 14's last figures in a real Chromium: what a first open shows at once (the card,
Bulk Upload), the static bundles a second visit does not download again, and the
selection's "Select all N matching" on a phone."""

from __future__ import annotations

import re
import urllib.request

import pytest

from tests.browser import (
    WATCH_OPENING,
    button,
    chromium,
    goto_ready,
    never_blank,
    open_page,
    opening_frames,
    require_chromium,
    served,
    shot,
)  # fmt: skip

pytestmark = pytest.mark.browser

PHONE = (390, 844)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("first_open") / "customers.duckdb"
    with served(db, demo=1000) as base:
        yield base


@pytest.fixture(scope="module")
def browser(url):
    with chromium() as b:
        yield b


def test_the_cards_first_open_says_whom_it_opens_at_once_and_nothing_moves(browser, url):
    pg = open_page(browser, url, (1280, 720))
    name = pg.locator(".tabulator-row .tabulator-cell[tabulator-field='name']").first
    who = name.inner_text().strip()
    pg.evaluate(WATCH_OPENING)
    name.click()
    dialog = pg.get_by_role("dialog", name=re.compile(f"^Edit customer: {re.escape(who)}"))
    dialog.wait_for(timeout=15_000)
    button(dialog, "Save").wait_for(timeout=20_000)
    pg.wait_for_timeout(300)
    frames = opening_frames(pg)
    shot(pg, "first-open-card-1280x720")
    # a still line names the customer while the card is made: no animated bar (it kept
    # the browser repainting while it had the whole form to draw)
    story = never_blank(frames)
    assert not [f for f in frames if "bar" in f[1]], story
    assert any("line" in seen for _, seen in frames), story
    assert pg.evaluate("window.cdLine") == f"Opening {who}…"
    assert "content" in frames[-1][1], story
    pg.keyboard.press("Escape")
    pg.context.close()


def test_bulk_uploads_first_open_shows_a_line_then_its_steps_never_an_empty_frame(browser, url):
    pg = open_page(browser, url, (1280, 720))
    pg.evaluate(WATCH_OPENING)
    button(pg, "Bulk Upload").first.click()
    dialog = pg.get_by_role("dialog")
    # what a person sees while the wizard's steps are made: the frame saying what opens
    dialog.wait_for(timeout=20_000)
    pg.wait_for_timeout(150)
    shot(pg, "first-open-upload-opening-1280x720")
    dialog.get_by_text("Choose a spreadsheet").first.wait_for(timeout=20_000)
    pg.wait_for_timeout(300)
    frames = opening_frames(pg)
    shot(pg, "first-open-upload-1280x720")
    # the frame says what is opening from its first frame while the wizard's steps are
    # made (about a second of the server's time) and drawn (a second more in the browser):
    # the line, drawn as a component of its own, came a second after the frame, and the
    # steps replaced it in one update, leaving the frame empty until they were drawn
    story = never_blank(frames)
    assert frames[0][1] == "line", story
    assert pg.evaluate("window.cdLine") == "Opening Bulk Upload…"
    assert not [f for f in frames if "bar" in f[1]], story
    assert "content" in frames[-1][1], story
    pg.keyboard.press("Escape")
    pg.context.close()


def _bundles(pg) -> list[str]:
    """The page's static scripts and styles, as the browser loaded them."""
    return pg.evaluate("""() => performance.getEntriesByType('resource')
        .map((r) => r.name).filter((n) => /\\/static\\/.*\\.(js|css)(\\?|$)/.test(n))""")


def test_static_bundles_are_kept_by_the_browser_and_the_page_is_not(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    goto_ready(pg, url)
    bundles = _bundles(pg)
    assert len(bundles) >= 8, bundles  # Bokeh's, Panel's, Material UI's, Tabulator's, Ace's
    versioned = [u for u in bundles if re.search(r"[?&]v=|@\d+(\.\d+)*/", u)]
    assert {u.split("?")[0].rsplit("/", 1)[1] for u in versioned} >= {
        "bokeh.min.js", "panel.min.js", "tabulator.min.js", "ace.js"}  # fmt: skip
    for u in versioned:
        with urllib.request.urlopen(u, timeout=30) as r:
            cache = r.headers.get("Cache-Control", "")
        assert "immutable" in cache and "max-age=31536000" in cache, (u, cache)
    with urllib.request.urlopen(url + "/", timeout=30) as r:  # the page carries the session
        assert r.headers.get("Cache-Control") == "no-store"

    # a second visit in the same browser downloads (nearly) none of them again
    goto_ready(pg, url)
    sent = pg.evaluate("""() => performance.getEntriesByType('resource')
        .filter((r) => /\\/static\\//.test(r.name)).map((r) => [r.name, r.transferSize])""")
    again = {name: size for name, size in sent if size > 0}
    assert sum(again.values()) < 20_000, again
    context.close()


def test_select_all_matching_fits_a_phone(browser, url):
    pg = open_page(browser, url, PHONE)
    pg.locator(".tabulator-row input[type=checkbox]").first.click()
    select_all = button(pg, "Select all")
    select_all.wait_for(timeout=10_000)
    pg.wait_for_timeout(500)  # the footer's new line laid out
    box = select_all.evaluate("""(e) => { const r = e.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                scroll: e.scrollWidth, client: e.clientWidth, width: innerWidth,
                height: innerHeight, text: e.innerText}; }""")
    shot(pg, "first-open-select-all-390x844")
    assert re.fullmatch(r"Select all 1,000 matching", box["text"].strip()), box
    assert 0 <= box["left"] and box["right"] <= box["width"], box
    assert 0 <= box["top"] and box["bottom"] <= box["height"], box
    assert box["scroll"] <= box["client"], box  # its label is not cut
    select_all.click()
    pg.get_by_text("1,000 customers selected").first.wait_for(timeout=10_000)
    clear = pg.get_by_text("Clear selection").first
    assert clear.evaluate("(e) => e.getBoundingClientRect().right <= innerWidth")
    pg.context.close()
