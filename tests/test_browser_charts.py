"""The chart beside a group or pivot table in a real Chromium (issue 18): the Stacked and
Heatmap buttons draw stacked bars with a legend and a heatmap with a colour scale, and say
why where they cannot apply."""

from __future__ import annotations

import re

import pytest

from dashboard import View
from tests.browser import button, demo_server, goto_ready, shot

pytestmark = pytest.mark.browser

server = demo_server("charts", demo=300)

#: The Bokeh models of the page's documents by class name: which glyphs, legends and colour
#: bars the chart drew.
MODELS = """() => {
  const seen = {};
  for (const doc of window.Bokeh.documents)
    for (const m of doc.all_models) {
      const name = m.constructor.__name__;
      if (name === "GlyphRenderer") {
        const g = "glyph:" + m.glyph.constructor.__name__;
        seen[g] = (seen[g] || 0) + 1;
      } else if (name === "Legend") {
        seen.legend_items = (seen.legend_items || 0) + m.items.length;
      } else seen[name] = (seen[name] || 0) + 1;
    }
  return seen;
}"""


#: The width of the heatmap's colour bar (the last one drawn), or null.
BAR_WIDTH = """(() => {
  let width = null;
  for (const doc of window.Bokeh.documents)
    for (const m of doc.all_models)
      if (m.constructor.__name__ === "ColorBar") width = m.width;
  return width;
})()"""


def _models(pg, want, timeout: float = 15_000) -> dict:
    """The page's chart models once `want(models)` holds (or the last seen, to assert on)."""
    deadline = pg.evaluate("Date.now()") + timeout
    models = pg.evaluate(MODELS)
    while not want(models) and pg.evaluate("Date.now()") < deadline:
        pg.wait_for_timeout(200)
        models = pg.evaluate(MODELS)
    return models


def test_stacked_and_heatmap_draw_other_charts_than_bars(browser, server):
    _db, url = server
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    goto_ready(pg, View(groups=["status", "country"]).url(url + "/"))
    bars = _models(pg, lambda m: m.get("glyph:VBar", 0) >= 1)
    assert bars.get("glyph:VBar", 0) >= 1 and not bars.get("legend_items")
    button(pg, "Stacked").first.click()
    pg.wait_for_url(re.compile("chart=stacked"))
    stacked = _models(pg, lambda m: m.get("glyph:VBar", 0) > 1 and m.get("legend_items", 0) > 1)
    # one bar renderer per country stacked, each named in the legend
    assert stacked.get("glyph:VBar", 0) > 1 and stacked.get("legend_items", 0) > 1
    pg.locator(".bk-Canvas, canvas").first.scroll_into_view_if_needed()
    shot(pg, "browser-charts-01-stacked-1280x720")
    button(pg, "Heatmap").first.click()
    pg.wait_for_url(re.compile("chart=heatmap"))
    heat = _models(pg, lambda m: m.get("glyph:Rect", 0) >= 1 and m.get("ColorBar", 0) >= 1)
    assert heat.get("glyph:Rect", 0) >= 1 and heat.get("ColorBar", 0) >= 1
    shot(pg, "browser-charts-02-heatmap-1280x720")
    # a reload keeps the heatmap (the kind is in the URL)
    goto_ready(pg, pg.url)
    heat = _models(pg, lambda m: m.get("glyph:Rect", 0) >= 1)
    assert heat.get("glyph:Rect", 0) >= 1 and not heat.get("glyph:VBar")  # no bars drawn
    # one group level: nothing to spread, and the page says so above the bars
    goto_ready(pg, View(groups=["status"]).url(url + "/") + "&chart=heatmap")
    pg.get_by_text(re.compile("needs a second group level or a pivot")).wait_for()
    pg.locator(".bk-Canvas, canvas").first.scroll_into_view_if_needed()
    shot(pg, "browser-charts-03-one-level-1280x720")
    pg.close()


def test_a_kind_that_cannot_draw_is_disabled_alone_saying_why(browser, server):
    """Issue 18: with one group level Stacked and Heatmap cannot draw: each is disabled,
    its reason its accessible name (and tooltip); Bars stays; the chosen kind stays in
    the link."""
    _db, url = server
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    goto_ready(pg, View(groups=["status"]).url(url + "/") + "&chart=heatmap")
    heat = pg.get_by_role("button", name=re.compile("^Heatmap: .*needs a second group level"))
    heat.wait_for()
    assert heat.is_disabled()
    assert pg.get_by_role("button", name=re.compile("^Stacked.*need a second group")).is_disabled()
    assert button(pg, "Bars").first.is_enabled()
    assert "chart=heatmap" in pg.url
    pg.locator(".bk-Canvas, canvas").first.scroll_into_view_if_needed()
    shot(pg, "browser-charts-04-kinds-disabled-1280x720")
    # two levels: every kind can draw them
    goto_ready(pg, View(groups=["status", "country"]).url(url + "/"))
    button(pg, "Heatmap").first.wait_for()
    pg.wait_for_function("() => [...document.querySelectorAll('button')].filter(b => "
                         "/^(Bars|Stacked|Heatmap)/.test(b.getAttribute('aria-label') || ''))"
                         ".every(b => !b.disabled)")  # fmt: skip
    pg.close()


def test_on_a_phone_the_title_wraps_above_the_chart(browser, server):
    """Issue 18: on a phone the chart's title (drawn on the canvas, one line) was cut at
    the screen's edge: it is text above the chart, wrapped; the heatmap fits."""
    _db, url = server
    for w, h in ((390, 844), (1280, 720)):
        pg = browser.new_page(viewport={"width": w, "height": h})
        view = View(groups=["status"], pivot="country", values=[["credit", "sum"]])
        goto_ready(pg, view.url(url + "/") + "&chart=heatmap")
        title = pg.get_by_text(re.compile(r"^Sum of Balance \(\w+\) by Status and Country"))
        title.first.wait_for()
        title.first.scroll_into_view_if_needed()
        box = title.first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= w, box
        assert title.first.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
        _models(pg, lambda m: m.get("glyph:Rect", 0) >= 1)
        if w < 700:
            # a phone's heatmap: upright column names, a narrow colour bar with few ticks
            pg.wait_for_function(BAR_WIDTH + " === 8", timeout=15_000)
        pg.locator(".bk-Canvas, canvas").first.scroll_into_view_if_needed()
        pg.wait_for_timeout(500)
        shot(pg, f"browser-charts-05-heatmap-title-{w}x{h}")
        pg.close()
