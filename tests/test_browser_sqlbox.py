"""The SQL box in a real Chromium: markup in a column name, a cell or an error message is
shown as text and never runs; a huge result leaves the page usable."""

from __future__ import annotations

import re

import pytest

from tests.browser import button, more, one_page, require_chromium, served, shot

pytestmark = pytest.mark.browser

MARKUP = "<img src=x onerror=window.__xss=1>"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    require_chromium()
    with served(tmp_path_factory.mktemp("sqlbox") / "customers.duckdb", demo=60) as base:
        yield base


def test_markup_from_a_query_is_shown_as_text(url):
    with one_page(url) as pg:
        box = pg.get_by_role("textbox", name=re.compile("^SQL"))
        more(pg, "SQL", box)
        dialog = pg.get_by_role("dialog")
        box.fill(f"SELECT '{MARKUP}' AS \"{MARKUP}\", name FROM customers LIMIT 3")
        button(pg, "Run").first.click()
        pg.get_by_text("3 rows", exact=True).wait_for()
        dialog.locator(".tabulator-col-title").filter(has_text=MARKUP).wait_for()
        assert dialog.locator(".tabulator-cell").filter(has_text=MARKUP).count() == 3
        box.fill(f'SELECT "{MARKUP}" FROM customers')
        button(pg, "Run").first.click()
        error = pg.get_by_text(re.compile("the query failed"))
        error.wait_for()
        assert MARKUP in error.inner_text()
        assert pg.locator("img[src=x]").count() == 0
        assert pg.evaluate("window.__xss") is None
        shot(pg, "browser-sqlbox-01-markup-as-text")


def test_a_huge_result_is_refused_and_the_box_still_works(url):
    with one_page(url) as pg:
        box = pg.get_by_role("textbox", name=re.compile("^SQL"))
        more(pg, "SQL", box)
        box.fill("SELECT repeat('x', 3000000 + customer_id % 7) AS s FROM usage_daily")
        button(pg, "Run").first.click()
        pg.get_by_text(re.compile("memory|ran longer")).wait_for(timeout=60_000)
        box.fill("SELECT count(*) AS n FROM customers")
        button(pg, "Run").first.click()
        pg.get_by_text("1 row", exact=True).wait_for()
