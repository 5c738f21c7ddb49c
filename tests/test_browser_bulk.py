"""Bulk Edit in a real Chromium (Bulk Upload: test_browser_upload.py)."""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    button,
    cells,
    served_page,
    shot,
    wait_cells,
)  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with served_page(tmp_path_factory.mktemp("bulk"), demo=150, height=1100) as pg:
        yield pg


def test_bulk_edit_selected_customers(page):
    rows = page.locator(".tabulator-row")
    for i in range(2):
        rows.nth(i).get_by_role("checkbox").check()
    page.get_by_text("2 customers selected").wait_for()
    ids = cells(page, "id")[:2]
    button(page, "Bulk Edit").first.click()
    page.get_by_text("2 customers selected.").wait_for()
    page.get_by_role("combobox", name=re.compile("^Field")).click()
    page.locator("li").filter(has_text=re.compile("^Channels$")).first.click()
    page.get_by_role("textbox", name=re.compile("^Value")).fill("+7")
    button(page, "Preview").click()
    page.get_by_text("2 customers will change.").wait_for()
    shot(page, "browser-bulk-02-edit-preview")
    before = [int(v.replace(",", "")) for v in cells(page, "channels")[:2]]
    button(page, "Apply").click()
    page.get_by_text(re.compile(r"^Changed 2 customers")).wait_for()
    wait_cells(
        page,
        "channels",
        lambda got: [int(v.replace(",", "")) for v in got[:2]] == [b + 7 for b in before],
    )
    assert cells(page, "id")[:2] == ids
