"""The Bulk Upload wizard without a browser: read, map, set, check, upload, reject, undo,
step by step; each file starts clean; every failure is a message."""

from __future__ import annotations

import io
import logging

import openpyxl
import pytest
from bokeh.document import Document

from dashboard import get_customer
from dashboard.customers import find_by_name
from dashboard.ui.app import customers_page

#: The wizard's steps: File, Table, Columns, Set fields, Check, Done.
FILE, TABLE, COLUMNS, SETS, CHECK, DONE = range(6)


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

#: File A: no currency column (the currency is set for every row in the wizard).
FILE_A = [["Company", "E-mail"], ["Alpha Leads One", "one@a.example"],
          ["Alpha Leads Two", "two@a.example"]]  # fmt: skip
#: File B: a currency column of its own.
FILE_B = (b"Company,Currency,E-mail\nBeta Euro Ltd,EUR,e@b.example\n"
          b"Beta Real Ltda,BRL,r@b.example\nBeta Krone ApS,DKK,k@b.example\n")  # fmt: skip


@pytest.fixture
def page(demo):
    p = customers_page(demo, user="ann")
    p.__panel__().get_root(Document())
    return p


def opened(page):
    page.toolbar.param.trigger("upload")
    w = page.upload_wizard
    assert w.is_open and getattr(w, "step", FILE) == FILE
    return w


def to_step(w, step: int) -> None:
    while w.step < step:
        before = w.step
        w.param.trigger("next")
        assert w.step == before + 1, w._hint.object or w.message


def set_for_every_row(w, field: str, value: str) -> None:
    w.set_field = field
    if getattr(w, "_set_choice", None) is not None and w._set_choice.visible:
        w.set_choice = value
    else:
        w.set_value = value
    w.param.trigger("add_set")


def preview_column(w, title: str) -> list[str]:
    """A column of the Check step's rows, found by the title people read."""
    key = next(k for k, t in w._rows.titles.items() if t == title)
    return w._rows.value[key].tolist()


def currency_of(store, name: str) -> str:
    return get_customer(store, find_by_name(store, name))["currency"]


def test_wizard_maps_previews_and_refuses_until_problems_are_fixed(page, demo):
    w = opened(page)
    w.load(xlsx_bytes(ROWS), "leads.xlsx")
    assert w.header_row == 2
    assert w.mapping() == {"Company": "name", "CPS": "flow_speed", "Ccy": "currency",
                           "E-mail": "contact.email", "Remarks": None}  # fmt: skip
    to_step(w, SETS)
    set_for_every_row(w, "status", "Pending Approval")
    set_for_every_row(w, "tags", "+=trade-show")
    to_step(w, CHECK)
    assert "3 rows: 1 new" in w._counts.object and "2 invalid" in w._counts.object
    problems = w._problems.value
    assert set(problems["Row"]) == {"4", "5"} and "CPS" in set(problems["Column"])
    assert w._upload_btn.disabled and "Import only the valid rows" in w._hint.object
    before = demo.scalar("SELECT count(*) FROM customers")
    assert w.upload_now() is None and "nothing was written" in w.message
    assert demo.scalar("SELECT count(*) FROM customers") == before
    w.valid_only = True
    assert not w._upload_btn.disabled
    batch = w.upload_now()
    assert batch.count == 1 and w.step == DONE and w._rejected.visible
    # Close is named for what it does once rows are written
    assert w._cancel_btn.description == "Close Bulk Upload"
    data = w._rejected_file().getvalue()
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws.max_row == 3 and ws.cell(1, ws.max_column).value == "Problems"
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
    w = opened(page)
    w.load(xlsx_bytes(ROWS), "leads.xlsx")
    w.set_mapping("Remarks", "city")
    assert w.mapping()["Remarks"] == "city"
    w.load(b"\x00\x01 not a spreadsheet \x00", "evil.xlsx")
    assert "not a spreadsheet" in w.message and "evil.xlsx" in w.message
    assert w._next_btn.disabled
    w.max_bytes = 100
    w.load(xlsx_bytes(ROWS), "big.xlsx")
    assert "over the" in w.message


# --- finding 1: a new upload inherited the last upload's "set for every row" values -------


def test_a_new_upload_does_not_inherit_the_last_uploads_set_fields(page, demo):
    w = opened(page)
    w.load(xlsx_bytes(FILE_A), "a.xlsx")
    set_for_every_row(w, "currency", "USD")
    assert w.upload_now() is not None
    assert currency_of(demo, "Alpha Leads One") == "USD"
    w = opened(page)  # Bulk Upload again, in the same session, with a currency column
    w.load(FILE_B, "b.csv")
    assert w._sets == {} and w.plan().set_values == {}
    assert w.upload_now() is not None
    names = ("Beta Euro Ltd", "Beta Real Ltda", "Beta Krone ApS")
    assert [currency_of(demo, n) for n in names] == ["EUR", "BRL", "DKK"]


def test_last_settings_are_a_visible_choice_never_applied_by_themselves(page, demo):
    w = opened(page)
    w.load(xlsx_bytes(FILE_A), "a.xlsx")
    to_step(w, SETS)
    assert w.set_field == "currency"  # the required field that has no column yet
    set_for_every_row(w, "currency", "USD")
    w.on_duplicate = "update"
    to_step(w, CHECK)
    assert preview_column(w, "Currency") == ["USD", "USD"]
    assert w.upload_now() is not None

    w = opened(page)
    assert w.file is None and w._sets == {} and w.on_duplicate == "error"
    w.load(FILE_B, "b.csv")
    assert w.plan().set_values == {} and w.mapping()["Currency"] == "currency"
    # what the last upload used is offered, and shown, but not applied
    assert w._last_box.visible and "Currency = USD" in w._last_text.object
    assert "existing customers: update" in w._last_text.object
    w.use_last = True
    assert w.plan().set_values == {"currency": "USD"} and w.on_duplicate == "update"
    w.use_last = False
    assert w.plan().set_values == {} and w.on_duplicate == "error"
    to_step(w, CHECK)
    assert preview_column(w, "Currency") == ["EUR", "BRL", "DKK"]


def test_a_new_file_in_the_open_wizard_forgets_the_last_files_choices(page):
    w = opened(page)
    w.load(xlsx_bytes(FILE_A), "a.xlsx")
    to_step(w, SETS)
    set_for_every_row(w, "currency", "USD")
    w.valid_only, w.decimal = True, ","
    w.load(FILE_B, "b.csv")  # chosen again on the File step, nothing uploaded
    assert (w.step, w._sets, w.valid_only, w.decimal) == (FILE, {}, False, "auto")
    assert not w._last_box.visible  # nothing was uploaded yet: no last settings


# --- finding 2: an empty file, and unexpected failures --------------------------------


def test_an_empty_file_is_a_message_in_the_wizard(page):
    w = opened(page)
    # the browser sends no bytes (and no name) for an empty file: the upload just finishes
    w._file._handle_msg({"status": "initializing"})
    w._file._handle_msg({"status": "finished"})
    assert "is empty" in w.message and w._alert.visible
    assert w.step == FILE and w._next_btn.disabled
    w.load(b"", "empty.csv")
    assert w.message.startswith("empty.csv is empty")
    w.load(b"\n\n\n", "blank.csv")
    assert "blank.csv could not be read: the sheet is empty" in w.message


def test_an_unexpected_failure_is_one_line_and_its_traceback_goes_to_the_log(page, demo, caplog):
    w = opened(page)
    w.load(FILE_B, "b.csv")
    before = demo.scalar("SELECT count(*) FROM customers")
    # a real fault no message foresees: the table every write records its batch in is gone
    demo.cursor().execute("ALTER TABLE batches RENAME TO batches_gone")
    with caplog.at_level(logging.ERROR, logger="dashboard.ui.upload"):
        assert w.upload_now() is None
    assert w.message.startswith("Something went wrong while writing the upload; nothing was")
    assert "Traceback" not in w.message and w._alert.visible
    assert any(r.exc_info for r in caplog.records), "the traceback is logged on the server"
    demo.cursor().execute("ALTER TABLE batches_gone RENAME TO batches")
    assert demo.scalar("SELECT count(*) FROM customers") == before


# --- finding 3: uploading twice lost the Undo -----------------------------------------


def test_upload_to_server_is_disabled_once_written_and_the_undo_stays(page, demo):
    w = opened(page)
    w.load(xlsx_bytes(ROWS), "leads.xlsx")
    w.valid_only = True
    batch = w.upload_now()
    assert batch.batch_id and page.last_batch == batch.batch_id and page.notices._undo.visible
    shown = page.message
    count = demo.scalar("SELECT count(*) FROM customers")
    assert w.upload_now() is None and "uploaded already" in w.message
    assert w._upload_btn.disabled and not w._upload_btn.visible  # Done has no Upload
    assert page.last_batch == batch.batch_id and page.notices._undo.visible
    assert page.message == shown and "Imported 0" not in page.message
    assert demo.scalar("SELECT count(*) FROM customers") == count


# --- finding 4: internal names in the preview, no success message ----------------------


def test_the_check_step_speaks_the_pages_language(page):
    w = opened(page)
    csv = (b"Company,Currency,E-mail,Debit Limit,Portal Access,Tags\n"
           b'Label One,USD,one@label.example,1500,yes,"vip, wholesale"\n'
           b"Label Two,EUR,not-an-address,20,no,\n")  # fmt: skip
    w.load(csv, "labels.csv")
    set_for_every_row(w, "tags", "+=imported-2026-11")
    w.param.trigger("check")
    titles = list(w._rows.titles.values())
    assert titles[:2] == ["Row", "Result"]
    assert {"Customer Name", "Contact email", "Debit Limit", "Portal Access", "Tags"} <= set(titles)
    assert not any(t.startswith("_") or "." in t for t in titles)
    assert preview_column(w, "Debit Limit")[0] == "1,500.00"
    assert preview_column(w, "Portal Access") == ["Yes", "No"]
    assert preview_column(w, "Tags")[0] == "vip, wholesale, imported-2026-11"
    assert preview_column(w, "Result") == ["New", "Has problems"]
    problem = w._problems.value.iloc[0].tolist()
    assert problem[:4] == ["3", "E-mail", "Contact email", "not-an-address"]
    w.valid_only = True
    w.upload_now()
    assert w.is_open and w.step == DONE and w._stepper.active == DONE
    assert w._done_text.object.startswith("Imported 1 new and 0 updated customers. ")
    assert "1 row with problems was left out" in w._done_text.object
    assert page.message == w._done_text.object


# --- the stepper ----------------------------------------------------------------------


def test_next_waits_for_each_step_and_back_keeps_what_was_entered(page):
    w = opened(page)
    assert w._next_btn.disabled and w._hint.object == "Choose a file."
    w.param.trigger("next")
    assert w.step == FILE
    w.load(xlsx_bytes(ROWS), "leads.xlsx")
    assert not w._next_btn.disabled
    to_step(w, TABLE)
    assert w._sample.value.shape[0] == 3 and w._sample.titles["c1"] == "Company"
    to_step(w, COLUMNS)
    for header in w.mapping():
        w.set_mapping(header, None)
    assert w._next_btn.disabled and "at least one column" in w._hint.object
    w.set_mapping("Company", "name")
    w.set_mapping("Ccy", "currency")
    w.set_mapping("Remarks", "currency")
    assert w._next_btn.disabled and "both go to Currency" in w._hint.object
    w.set_mapping("Remarks", "city")
    to_step(w, SETS)
    set_for_every_row(w, "status", "Inactive")
    set_for_every_row(w, "channels", "many")
    assert "Channels must be a" in w.message and "channels" not in w._sets
    w.param.trigger("back")
    w.param.trigger("back")
    assert w.step == TABLE
    to_step(w, SETS)
    assert w.mapping()["Remarks"] == "city" and w._sets == {"status": "Inactive"}
    to_step(w, CHECK)
    assert w._stepper.active == CHECK and w._upload_btn.visible and not w._next_btn.visible


def test_set_fields_waits_for_the_required_fields(page):
    w = opened(page)
    w.load(xlsx_bytes(FILE_A), "a.xlsx")
    to_step(w, SETS)
    assert w._next_btn.disabled and "Currency must be mapped" in w._plan_text.object
    set_for_every_row(w, "currency", "EUR")
    assert not w._next_btn.disabled and not w._plan_text.visible
    shown = [row.objects[0].object for row in w._sets_box.objects if hasattr(row, "objects")]
    assert shown == ["Currency = EUR"]


# --- reading choices ------------------------------------------------------------------


def test_encoding_and_decimal_mark_choices(page):
    w = opened(page)
    offered = set(w.param.encoding.objects)
    assert {"auto", "utf-8", "cp1251", "cp1253", "cp932"} <= offered
    assert w.param.decimal.objects == ["auto", ".", ","]
    csv = 'Company,Currency,Debit Limit\nМосква Телеком,RUB,"1,500"\n'.encode("cp1251")
    w.load(csv, "ru.csv")
    assert "read as cp1251" in w._file_text.object
    to_step(w, CHECK)
    warnings = w._warnings.object
    assert w._warnings.visible and "cp1251" in warnings and "Column Debit Limit" in warnings
    assert "--decimal" not in warnings and "Decimal mark" in warnings
    assert preview_column(w, "Debit Limit") == ["1,500.00"]
    assert preview_column(w, "Customer Name") == ["Москва Телеком"]
    w.decimal = ","  # the Check step checks again at once
    assert preview_column(w, "Debit Limit") == ["1.50"]
    assert "Column Debit Limit" not in w._warnings.object
    w.encoding = "cp1253"  # read again as Greek: bytes Greek does not have are named
    assert "ru.csv could not be read: the file is not in cp1253" in w.message
    assert w._upload_btn.disabled and not w._results.visible
    w.encoding = "koi8_r"  # another Cyrillic code page: other letters, checked again
    assert w._results.visible and preview_column(w, "Customer Name") != ["Москва Телеком"]


# --- Done: Undo for this batch ---------------------------------------------------------


def test_done_step_undoes_its_own_batch_and_the_page_forgets_its_undo(page, demo):
    before = demo.scalar("SELECT count(*) FROM customers")
    w = opened(page)
    w.load(FILE_B, "b.csv")
    to_step(w, CHECK)
    batch = w.upload_now()
    assert w._undo_btn.visible and page.last_batch == batch.batch_id
    w.param.trigger("undo")
    assert demo.scalar("SELECT count(*) FROM customers") == before
    assert (
        w.message == "Undone: Upload of 3 customers, removing the 3 customers it added."
        and not w._undo_btn.visible
    )
    assert page.message == w.message and page.last_batch == "" and not page.notices._undo.visible


def test_an_editor_undoes_their_own_upload_from_the_done_step(demo):
    editor = demo.acting_as("ed", "editor")
    p = customers_page(editor, user="ed")
    p.__panel__().get_root(Document())
    w = opened(p)
    w.load(FILE_B, "b.csv")
    to_step(w, CHECK)
    w.upload_now()
    assert w._undo_btn.visible
    w.param.trigger("undo")
    assert w.message.startswith("Undone: Upload of "), w.message
    assert find_by_name(demo, "Beta Euro Ltd") is None


def test_a_spreadsheets_whole_numbers_show_as_their_field_shows_them(page):
    """A spreadsheet gives its numbers as floats: the Table step's sample and the Columns
    step's "e.g." showed Channels' 20 as "20.0". Under a field they are shown by that
    field's type (20 for a whole number, 2.50 for an amount); a column under no field and
    text as the file holds them."""
    w = opened(page)
    w.load(xlsx_bytes([["Company", "Currency", "Channels", "CPS", "Remarks"],
                       ["Whole Number Ltd", "EUR", 20, 2.5, 7.0],
                       ["Text Number Ltd", "EUR", "30", "x", "note"]], title_rows=0),
           "numbers.xlsx")  # fmt: skip
    sample = w._sample.value
    column = {t: sample[k].tolist() for k, t in w._sample.titles.items()}
    assert column["Channels"] == ["20", "30"]
    assert column["CPS"] == ["2.50", "x"]
    assert column["Remarks"] == ["7.0", "note"]  # under no field: as the file holds it
    assert w._mapping_widgets["Channels"].description == "e.g. 20"
