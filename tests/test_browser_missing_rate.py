"""A group view whose total needs a rate nobody stored, in Chromium: the page says which
rate is missing (the engine's refusal), keeps the column headers, and never claims that no
customer matches."""

from __future__ import annotations

import re

import pytest

from dashboard import View, add_customer
from dashboard.demo import add_demo
from tests.browser import demo_server, open_page, shot

pytestmark = pytest.mark.browser

#: a currency customers are billed in that the demo has no rate for
NO_RATE = "NOK"


def _customers(store) -> None:
    add_demo(store, 60)
    add_customer(store, {"name": "Fjord Telecom AS", "currency": NO_RATE, "credit": "100"})


served_db = demo_server("norate", prepare=_customers)


@pytest.fixture(scope="module")
def server(served_db):
    return served_db[1]


def test_a_group_view_without_a_rate_says_which_rate_is_missing(server, browser):
    view = View(groups=["status"], values=[["credit", "sum"]])
    page = open_page(browser, server + "/")
    # opened from a link: the tree has no row to wait for (goto_ready waits for one)
    page.goto(view.url(server + "/"))
    # the engine's refusal, naming the currency without a rate, where the rows would be
    said = re.compile(f"no exchange rate .*{NO_RATE}")
    page.locator(".cd-refusal").get_by_text(said).first.wait_for(timeout=30_000)
    shot(page, "missing-rate-group-view-1280x720")
    assert page.get_by_text("No customer matches").count() == 0
    titles = [t.strip() for t in page.locator(".tabulator-col-title").all_inner_texts()]
    assert "Status" in titles and "Sum of Balance" in titles, titles
    page.context.close()
