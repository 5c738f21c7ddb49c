"""Bulk Upload and Bulk Edit in a real Chromium."""

from __future__ import annotations

import re

import openpyxl
import pytest

from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    button,
    cells,
    count_text,
    require_chromium,
    served,
    shot,
    wait_cells,
)  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("bulk") / "customers.duckdb"
    with served(db, demo=150) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = b.new_page(viewport={"width": 1500, "height": 1100})
        pg.goto(server + "/")
        pg.wait_for_selector(".tabulator-row")
        button(pg, "Filters").first.wait_for()
        yield pg
        b.close()


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
    page.get_by_text("· 2 selected").wait_for()
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
