"""Bulk Upload and Bulk Edit in a real Chromium."""

from __future__ import annotations

import re

import openpyxl
import pytest

from tests.browser import (
    button,
    cells,
    count_text,
    served_page,
    shot,
    wait_cells,
)  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with served_page(tmp_path_factory.mktemp("bulk"), demo=150, height=1100) as pg:
        yield pg


def test_bulk_upload_wizard(page, tmp_path):
    path = tmp_path / "leads.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["Trade show leads"], ["Company", "CPS", "Ccy", "E-mail"],
                ["Upload Alpha", "3", "usd", "a@alpha.example"],
                ["Upload Beta", "x", "EUR", "b@beta.example"]):  # fmt: skip
        ws.append(row)
    wb.save(path)
    total = int(count_text(page).split()[0].replace(",", ""))
    button(page, "Bulk Upload").first.click()
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text("Contact: Email").first.wait_for()
    button(page, "Preview").click()
    page.get_by_text(re.compile(r"^2 rows: 1 new")).wait_for()
    page.get_by_text("Flow Speed (CPS) must be a number").wait_for()
    shot(page, "browser-bulk-01-upload-preview")
    button(page, "Upload to Server").click()
    page.get_by_text(re.compile(r"problem: fix them in the file")).wait_for()
    page.get_by_text("Import only the valid rows", exact=True).click()
    button(page, "Upload to Server").click()
    page.get_by_text(re.compile(r"^Imported 1 new")).wait_for(timeout=20000)
    with page.expect_download() as info:
        button(page, "Download rejected rows").click()
    rejected = tmp_path / "rejected.xlsx"
    info.value.save_as(rejected)
    sheet = openpyxl.load_workbook(rejected).active
    assert sheet.max_row == 2 and sheet.cell(2, 2).value == "Upload Beta"
    button(page, "Cancel").click()
    page.get_by_text(f"{total + 1:,} customers", exact=True).wait_for()


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
