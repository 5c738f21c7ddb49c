"""The Bulk Upload wizard without a browser: read, map, set, preview, upload, reject, undo."""

from __future__ import annotations

import io

import openpyxl
import pytest
from bokeh.document import Document

from dashboard import get_customer
from dashboard.customers import find_by_name
from dashboard.ui.app import customers_page


def xlsx_bytes(rows, title_rows=1) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for _ in range(title_rows):
        ws.append(["Leads from the trade show"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


ROWS = [["Company", "CPS", "Ccy", "E-mail", "Remarks"],
        ["Trade Show One", "3", "usd", "one@show.example", "hot"],
        ["Trade Show Two", "x", "EUR", "two@show.example", ""],
        ["Trade Show Three", "1,5", "GBP", "bad", ""]]  # fmt: skip


@pytest.fixture
def page(demo):
    p = customers_page(demo, user="ann")
    p.__panel__().get_root(Document())
    return p


def test_wizard_maps_previews_and_refuses_until_problems_are_fixed(page, demo):
    page.toolbar.param.trigger("upload")
    w = page.upload_wizard
    assert w.is_open
    w.load(xlsx_bytes(ROWS), "leads.xlsx")
    assert w.header_row == 2
    assert w.mapping() == {"Company": "name", "CPS": "flow_speed", "Ccy": "currency",
                           "E-mail": "contact.email", "Remarks": None}  # fmt: skip
    w.set_field, w.set_value = "status", "Pending Approval"
    w.param.trigger("add_set")
    w.set_field, w.set_value = "tags", "+=trade-show"
    w.param.trigger("add_set")
    w.param.trigger("check")
    assert "3 rows: 1 new" in w._counts.object and "2 invalid" in w._counts.object
    problems = w._problems.value
    assert set(problems["Row"]) == {4, 5} and "CPS" in set(problems["Column"])
    before = demo.scalar("SELECT count(*) FROM customers")
    assert w.upload_now() is None and "nothing was written" in w.message
    assert demo.scalar("SELECT count(*) FROM customers") == before
    w.valid_only = True
    w.param.trigger("check")
    assert w._rejected.visible
    data = w._rejected_file().getvalue()
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws.max_row == 3 and ws.cell(1, ws.max_column).value == "Problems"
    batch = w.upload_now()
    assert batch.count == 1
    c = get_customer(demo, find_by_name(demo, "trade show one"))
    assert (c["status"], c["tags"], c["contacts"][0]["email"]) == (
        "Pending Approval",
        ["trade-show"],
        "one@show.example",
    )
    assert "Imported 1 new" in page.message and page.total == before + 1
    page.notices.param.trigger("undo")
    assert demo.scalar("SELECT count(*) FROM customers") == before


def test_wizard_mapping_can_be_changed_and_bad_files_are_explained(page):
    w = page.upload_wizard
    w.load(xlsx_bytes(ROWS), "leads.xlsx")
    w.set_mapping("Remarks", "city")
    assert w.mapping()["Remarks"] == "city"
    w.load(b"\x00\x01 not a spreadsheet \x00", "evil.xlsx")
    assert "not a spreadsheet" in w.message
    w.max_bytes = 100
    w.load(xlsx_bytes(ROWS), "big.xlsx")
    assert "over the" in w.message
