"""Writes made elsewhere in the server's process (the HTTP API, another browser session)
show in open pages within about 2 s: pushed when the write commits (dashboard.live), not
found by the poll. The server polls every 10 minutes here, so only the push can explain
what the page shows. The figures are printed; the asserts leave room for a loaded machine."""

from __future__ import annotations

import re
import time

import pytest

from dashboard import Store, add_demo_customers
from dashboard.remote import connect
from dashboard.tokens import add_token
from dashboard.users import add_user
from tests.browser import button, cells, chromium, open_page, require_chromium, served

pytestmark = pytest.mark.browser

#: Generous: the tests must not fail on a loaded machine; the typical figure is printed.
LIMIT_S = 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A served database polled only every 10 minutes, and an editor's API token."""
    require_chromium()
    db = tmp_path_factory.mktemp("live") / "customers.duckdb"
    with Store(db) as store:
        add_demo_customers(store, 60, seed=5, usage_days=0)
        add_user(store, "edi", "editor", "edi's long password")
        token = add_token(store, "edi", label="tests")[1]
    with served(db, demo=0, poll_ms=600_000) as url:
        yield url, token


def _until(check, what: str) -> float:
    """Seconds until `check()` is true (fails past LIMIT_S)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < LIMIT_S, f"{what} did not show within {LIMIT_S} s"
        time.sleep(0.05)
    return time.monotonic() - started


def _open_card(pg, name: str):
    pg.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').filter(
        has_text=re.compile(f"^{re.escape(name)}$")
    ).first.click()
    pg.get_by_text(re.compile("^Edit customer: ")).wait_for(timeout=20_000)
    return pg.get_by_role("dialog")


def test_an_api_patch_shows_in_the_open_grid_and_card_history_at_once(server):
    url, token = server
    client = connect(url, token)
    with chromium() as browser:
        pg = open_page(browser, url, (1500, 1000))
        name = cells(pg, "name")[1]
        cid = next(r["id"] for r in client.customers(search=name, page_size=50)["rows"]
                   if r["name"] == name)  # fmt: skip
        dialog = _open_card(pg, name)
        pg.get_by_role("tab", name=re.compile("^History")).click()
        history = dialog.locator(".tabulator:visible").first
        history.wait_for(timeout=10_000)
        new = f"{name} Pushed"
        version = client.get_customer(cid)["row_version"]
        sent = time.monotonic()
        client.update_customer(cid, {"name": new}, expected_version=version)
        answered = time.monotonic() - sent
        grid = _until(lambda: new in cells(pg, "name"), "the new name in the grid")
        shown = _until(lambda: new in history.inner_text(), "the change in the card's History")
        print(f"API PATCH answered in {answered:.2f} s; the open grid showed the new name "
              f"{answered + grid:.2f} s after it was sent, the card's History "
              f"{answered + grid + shown:.2f} s")  # fmt: skip
        assert answered + grid < LIMIT_S
        pg.keyboard.press("Escape")


def test_a_save_in_another_session_shows_in_the_first_page(server):
    url, _ = server
    with chromium() as browser:
        first = open_page(browser, url, (1500, 1000))
        second = open_page(browser, url, (1500, 1000))
        name = cells(second, "name")[2]
        dialog = _open_card(second, name)
        box = dialog.get_by_role("textbox", name=re.compile("^Channels")).first
        value = str(int(box.input_value() or 0) + 4321)
        box.fill(value)
        row = (
            first.locator(".tabulator-row")
            .filter(
                has=first.locator(
                    '.tabulator-cell[tabulator-field="name"]',
                    has_text=re.compile(f"^{re.escape(name)}$"),
                )  # fmt: skip
            )
            .first
        )
        channels = row.locator('.tabulator-cell[tabulator-field="channels"]')
        assert channels.inner_text().replace(",", "") != value
        sent = time.monotonic()
        button(second, "Save").click()
        took = _until(lambda: channels.inner_text().replace(",", "") == value,
                      "the other session's save")  # fmt: skip
        second.get_by_text(re.compile("^Saved ")).wait_for(timeout=10_000)
        print(f"a save in another session showed in the first page {took:.2f} s after the "
              f"click (its poll is 10 minutes)")  # fmt: skip
        assert time.monotonic() - sent < LIMIT_S + 5
