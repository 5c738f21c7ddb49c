"""Sign-in in a real Chromium: wrong passwords refused, a viewer sees no buttons it may not
use, an admin's changes are recorded under their name, sign-out ends the session."""

from __future__ import annotations

import re
import time

import pytest

from dashboard import Store, add_demo_customers
from dashboard.snapshot import open_store
from tests.browser import (
    add_people,
    button,
    require_chromium,
    served_signed_in,
    shot,
    sign_in,
)  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("auth") / "customers.duckdb"
    with Store(db) as store:
        add_demo_customers(store, 120, seed=9)
        add_people(store)
    with served_signed_in(db) as url:
        yield db, url


def test_wrong_password_is_refused(server, browser):
    _db, url = server
    page = sign_in(browser, url, "ana", "not her password")
    page.get_by_text("Invalid username or password!").wait_for()
    assert "/login" in page.url
    # the sign-in page's logo comes from this server (it came from a CDN: broken offline)
    logo = page.locator("#logo")
    assert logo.get_attribute("src").startswith("/static/")
    page.wait_for_function("() => document.querySelector('#logo').naturalWidth > 0")
    page = sign_in(browser, url, "mallory", "any password at all")
    page.get_by_text("Invalid username or password!").wait_for()


def test_a_viewer_sees_only_what_a_viewer_may_use(server, browser):
    _db, url = server
    page = sign_in(browser, url, "vic", "vic's long password")
    page.wait_for_selector(".tabulator-row")
    page.get_by_text("vic · viewer").wait_for()
    button(page, "Columns").first.wait_for()
    for hidden in ("Bulk Upload", "Bulk Edit", "Delete", "Send"):
        assert button(page, hidden).count() == 0 or not button(page, hidden).first.is_visible()
    assert page.get_by_text("Setup › Settings").count() == 0
    shot(page, "browser-auth-01-viewer")
    page.goto(url + "/settings")
    page.get_by_text("Setup › Settings is for admins.").wait_for()


def test_an_admins_change_is_recorded_under_their_name(server, browser):
    db, url = server
    page = sign_in(browser, url, "ana", "ana's long password")
    page.wait_for_selector(".tabulator-row")
    page.get_by_text("ana · admin").wait_for()
    page.locator(".tabulator-row").first.get_by_role("checkbox").check()
    button(page, "Delete").first.click()
    page.get_by_role("button", name="Delete the customers").click()
    page.get_by_text(re.compile("^Deleted 1 customer")).wait_for()
    deadline = time.monotonic() + 15
    who = None
    while time.monotonic() < deadline and who != "ana":
        with open_store(db) as store:
            who = store.scalar("SELECT user_name FROM batches WHERE action = 'delete'")
        time.sleep(0.3)
    assert who == "ana"
    page.goto(url + "/logout")
    page.goto(url + "/")
    page.wait_for_url(re.compile(r"/login"))
