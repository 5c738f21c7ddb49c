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
