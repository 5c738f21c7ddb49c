"""The analyst's parts in a real Chromium: a usage pivot with its chart opened from a
notebook's link, the SQL box, and a change made in the page reaching a notebook (the
snapshot) and the CLI within seconds."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from dashboard import View, open_store, run
from dashboard.snapshot import wait_for_snapshot
from tests.browser import (
    button,
    cells,
    more,
    one_page,
    require_chromium,
    served,
    shot,
    wait_cells,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("analyst") / "customers.duckdb"
    with served(db, demo=300) as url:
        wait_for_snapshot(db)
        yield db, url


def test_a_notebook_link_opens_a_usage_pivot_with_its_chart(server):
    db, url = server
    view = View(source="usage", status="Active", groups=["country"], pivot="month",
                values=[["revenue", "sum"]], sort=[["sum_revenue", "desc"]], percent="column")  # fmt: skip
    with open_store(db) as store:
        expected = run(store, view)
    with one_page(view.url(url + "/")) as pg:
        countries = list(expected.data["country"])
        wait_cells(pg, "c0", lambda got: got[: len(countries)] == countries)
        total_col = f"c{len(expected.data.columns) - 1}"
        assert cells(pg, total_col)[-1] == "100.00 %"  # the totals row: each month is 100 %
        assert pg.locator(".bk-Canvas, canvas").count() > 0
        pg.get_by_text("Heatmap").click()
        pg.wait_for_timeout(800)
        shot(pg, "browser-analyst-01-pivot-chart")


def test_the_sql_box_runs_selects_and_refuses_the_rest(server):
    _db, url = server
    with one_page(url) as pg:
        box = pg.get_by_role("textbox", name=re.compile("^SQL"))
        more(pg, "SQL", box)
        box.fill("DELETE FROM customers")
        button(pg, "Run").first.click()
        pg.get_by_text(re.compile("only a SELECT query can run here")).wait_for()
        box.fill("SELECT status, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1")
        button(pg, "Run").first.click()
        pg.get_by_text("3 rows", exact=True).wait_for()
        dialog = pg.get_by_role("dialog")
        statuses = dialog.locator('.tabulator-cell[tabulator-field="status"]')
        assert statuses.all_inner_texts() == ["Active", "Inactive", "Pending Approval"]
        shot(pg, "browser-analyst-02-sql")


def test_a_change_in_the_page_reaches_notebooks_and_the_cli(server):
    db, url = server
    with open_store(db) as store:
        before = store.scalar("SELECT count(*) FROM customers")
    with one_page(url) as pg:
        first = cells(pg, "name")[0]
        pg.locator(".tabulator-row").first.get_by_role("checkbox").check()
        pg.get_by_text("1 customer selected").wait_for()
        button(pg, "Delete").first.click()
        pg.get_by_role("button", name="Delete the customers").click()
        pg.get_by_text(re.compile("^Deleted 1 customer")).wait_for()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with open_store(db) as store:
            now = store.scalar("SELECT count(*) FROM customers")
        if now == before - 1:
            break
        time.sleep(0.3)
    assert now == before - 1
    done = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "export", "-", "--db", str(db)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    pivot = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "pivot", "--db", str(db), "--rows", "status",
         "--format", "csv"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert pivot.returncode == 0, pivot.stderr
    assert pivot.stdout.strip().splitlines()[-1] == f"Total,{before - 1}"
    assert first not in done.stdout
