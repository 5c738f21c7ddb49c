"""`customer-dashboard serve --db postgresql://...` in a real Chromium: the page loads, the
grid shows the demo rows, a card opens and saves to the database; no owner files are made
(several servers, the CLI and notebooks share one Postgres database)."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from dashboard import Store
from dashboard.tokens import add_token
from dashboard.users import add_user
from tests.browser import button, goto_ready, one_page, require_chromium, served, shot, wait_cells

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pg_db(pg_server):
    """A new, empty database: the server migrates it and fills it with demo data."""
    pg_server.admin("DROP DATABASE IF EXISTS served_pg WITH (FORCE)")
    pg_server.admin("CREATE DATABASE served_pg")
    yield pg_server.url("served_pg")
    pg_server.admin("DROP DATABASE IF EXISTS served_pg WITH (FORCE)")


def test_the_page_serves_a_postgres_database_and_saves_a_card(pg_db, tmp_path):
    require_chromium()
    with (
        served(pg_db, demo=150, log=tmp_path / "server.log") as url,
        one_page(url, height=1000) as page,
    ):
        assert "with 150 demo customers" in (tmp_path / "server.log").read_text()
        page.get_by_text("150 customers", exact=True).wait_for()
        assert page.locator(".tabulator-row").count() > 10
        page.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.click()
        name = page.get_by_text(re.compile("^Edit customer: ")).first
        name.wait_for()
        box = page.get_by_role("textbox", name=re.compile("^Channels")).first
        box.fill("77")
        button(page, "Save").click()
        page.get_by_text(re.compile("^Saved ")).first.wait_for()
        wait_cells(page, "channels", lambda got: bool(got) and got[0] == "77")
        shot(page, "browser-postgres-01-saved")
        # written to Postgres itself, where another process sees it; a token made there
        # opens the served API, which reads the same database
        with Store(pg_db, user="tester") as s:
            assert s.scalar("SELECT count(*) FROM customers WHERE channels = 77") == 1
            add_user(s, "api", "viewer", "the api user's long password")
            token = add_token(s, "api", label="test")[1]
        req = urllib.request.Request(
            url + "/api/v1/customers?page_size=200", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(req, timeout=60) as answer:
            rows = json.loads(answer.read())["rows"]
        assert len(rows) == 150 and sum(r["channels"] == 77 for r in rows) == 1
        # a second page (another session) loads the saved value from the database
        goto_ready(page, url)
        wait_cells(page, "channels", lambda got: "77" in got)
