"""Two `customer-dashboard serve --db postgresql://...` processes on one database, sharing
the cookie secret (as behind nginx with ip_hash): signed in at one, a person is signed in at
the other; a change saved in a page of one shows in a Chromium page of the other within 5 s.
Both servers poll only every minute, so only the change notice (LISTEN/NOTIFY) can bring it.
"""

from __future__ import annotations

import re
import time

import pytest

from dashboard import Store
from dashboard.demo import add_demo
from dashboard.users import add_user
from tests.browser import (
    button,
    chromium,
    goto_ready,
    require_chromium,
    served,
    shot,
    wait_cells,
    watch,
)  # fmt: skip

pytestmark = pytest.mark.browser

SECRET = "a-cookie-secret-shared-by-both-servers-0123456789"


@pytest.fixture(scope="module")
def two_servers(pg_server, tmp_path_factory):
    require_chromium()
    pg_server.admin("DROP DATABASE IF EXISTS two_servers WITH (FORCE)")
    pg_server.admin("CREATE DATABASE two_servers")
    url = pg_server.url("two_servers")
    with Store(url) as store:
        add_demo(store, 120, seed=5)
        add_user(store, "ana", "admin", "ana's long password")
    logs = tmp_path_factory.mktemp("two-servers")
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", SECRET)
    try:
        with (
            served(url, demo=0, poll_ms=60_000, extra=["--auth"], log=logs / "a.log") as a,
            served(url, demo=0, poll_ms=60_000, extra=["--auth"], log=logs / "b.log") as b,
        ):
            yield url, a, b
    finally:
        mp.undo()
        pg_server.admin("DROP DATABASE IF EXISTS two_servers WITH (FORCE)")


def test_a_change_saved_in_one_server_shows_in_the_other_servers_page(two_servers):
    url, a, b = two_servers
    assert a != b
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        at_a = context.new_page()
        watch(at_a)
        at_a.goto(a + "/")
        at_a.wait_for_url(re.compile(r"/login"))
        at_a.fill('input[name="username"]', "ana")
        at_a.fill('input[name="password"]', "ana's long password")
        at_a.click('button[type="submit"]')
        at_a.wait_for_selector(".tabulator-row")
        goto_ready(at_a, a)
        # the cookie server A signed opens server B: no second sign-in (one secret)
        at_b = context.new_page()
        goto_ready(at_b, b)
        assert "/login" not in at_b.url
        at_b.get_by_text("ana · admin").wait_for()
        first_a = wait_cells(at_a, "channels", lambda got: bool(got))[0]
        assert wait_cells(at_b, "channels", lambda got: bool(got))[0] == first_a
        new = "88" if first_a != "88" else "89"

        at_a.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.click()
        at_a.get_by_text(re.compile("^Edit customer: ")).first.wait_for()
        at_a.get_by_role("textbox", name=re.compile("^Channels")).first.fill(new)
        button(at_a, "Save").click()
        at_a.get_by_text(re.compile("^Saved ")).first.wait_for()
        saved = time.monotonic()
        wait_cells(at_b, "channels", lambda got: bool(got) and got[0] == new, timeout=5.0)
        took = time.monotonic() - saved
        print(f"server B's page showed server A's save {took:.2f} s after A said Saved")
        shot(at_b, "browser-pg-two-servers-01-b-shows-a-save")
        with Store(url) as s:  # written to the database both serve
            assert s.scalar("SELECT count(*) FROM customers WHERE channels = ?", [int(new)]) >= 1
        context.close()
