"""Bulk Upload: real files written here, every parsing rule, checks, commit, undo."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import sys
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from dashboard import get_customer, undo
from dashboard.customers import find_by_name
from dashboard.errors import UserError, ValidationError
from dashboard.importer import (
    Plan,
    commit,
    find_header_row,
    guess_mapping,
    prepare,
    read_table,
    rejected_workbook,
)  # fmt: skip

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends

HEADERS = ["Customer Name", "Flow Speed (CPS)", "Debit Limit ($)", "Currency", "Portal Access",
           "Country", "Status", "Contact Email", "Mobile", "Notes"]  # fmt: skip


def xlsx(path, rows, *, title_rows=0, sheet="Customers"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for _ in range(title_rows):
        ws.append(["Customer export — November"])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


GOOD = [
    ["Alpha One Ltd", "5", "1,250.50", "usd", "Yes", "GB", "active", "a@alpha.example", "07911 123456", "x"],
    ["Beta Two GmbH", 1e3, 300, "EUR", 0, "Germany", "PENDING APPROVAL", "b@beta.example", "+4915123456789", ""],
    ["Gamma Three", "1E+1", "", "gbp", "TRUE", "fr", "", "", "", ""],
]  # fmt: skip


def plan_for(table, **kw):
    return Plan(guess_mapping(table.headers), **kw)


def test_xlsx_with_title_rows_is_read_mapped_parsed_and_committed(store, tmp_path):
    table = read_table(xlsx(tmp_path / "c.xlsx", [HEADERS, *GOOD], title_rows=2))
    assert table.header_row == 3 and table.sheet == "Customers"
    mapping = guess_mapping(table.headers)
    assert (
        mapping["Flow Speed (CPS)"] == "flow_speed" and mapping["Debit Limit ($)"] == "debit_limit"
    )
    assert mapping["Contact Email"] == "contact.email" and mapping["Notes"] is None
    preview = prepare(store, table, plan_for(table, set_values={"tags": "+=imported-2026-11"}))
    assert preview.counts["new"] == 3 and preview.problems == []
    batch = commit(store, preview)
    a = get_customer(store, find_by_name(store, "alpha one ltd"))
    assert (a["flow_speed"], a["debit_limit"], a["currency"], a["status"]) == (
        Decimal("5.00"), Decimal("1250.5000"), "USD", "Active")  # fmt: skip
    assert a["contacts"][0]["mobile"] == "+447911123456" and a["tags"] == ["imported-2026-11"]
    b = get_customer(store, find_by_name(store, "Beta Two GmbH"))
    assert (b["flow_speed"], b["portal_access"], b["country"], b["status"]) == (
        Decimal("1000.00"), False, "DE", "Pending Approval")  # fmt: skip
    g = get_customer(store, find_by_name(store, "Gamma Three"))
    assert g["flow_speed"] == Decimal("10.00") and g["debit_limit"] == Decimal(
        "0"
    )  # blank -> default
    assert g["contacts"] == []
    assert store.scalar("SELECT count(*) FROM audit_log WHERE batch_id = ?", [batch.batch_id]) == 3
    undo(store, batch.batch_id)
    assert store.scalar("SELECT count(*) FROM customers") == 0


def test_every_problem_names_row_column_field_value_and_nothing_is_written(store, tmp_path):
    bad = ["Bad Co", "-1", "abc", "ZZZ", "maybe", "Atlantis", "Enabled", "nope", "123", ""]
    table = read_table(xlsx(tmp_path / "b.xlsx", [HEADERS, GOOD[0], bad, GOOD[0]]))
    preview = prepare(store, table, plan_for(table))
    by_col = {p.column: p for p in preview.problems if p.row == 3}
    assert set(by_col) == {"Flow Speed (CPS)", "Debit Limit ($)", "Currency", "Portal Access",
                           "Country", "Status", "Contact Email", "Mobile"}  # fmt: skip
    p = by_col["Currency"]
    assert (p.field, p.value) == ("currency", "ZZZ") and "ISO 4217" in p.message
    dup = [p for p in preview.problems if p.row == 4]
    assert dup and "appears twice in the file (also row 2)" in dup[0].message
    assert preview.counts == {"new": 1, "updated": 0, "unchanged": 0, "skipped": 0, "invalid": 2,
                              "rows": 3, "problems": len(preview.problems), "blank_rows": 0}  # fmt: skip
    with pytest.raises(ValidationError):
        commit(store, preview)
    assert store.scalar("SELECT count(*) FROM customers") == 0
    out = tmp_path / "rejected.xlsx"
    assert rejected_workbook(preview, out) == 2
    ws = openpyxl.load_workbook(out).active
    assert (
        ws.cell(1, ws.max_column).value == "Problems" and "ZZZ" in ws.cell(2, ws.max_column).value
    )
    batch = commit(store, preview, valid_only=True)
    assert batch.count == 1 and store.scalar("SELECT count(*) FROM customers") == 1


def test_existing_customers_error_skip_or_update(store, tmp_path):
    table = read_table(xlsx(tmp_path / "c.xlsx", [HEADERS, *GOOD]))
    commit(store, prepare(store, table, plan_for(table)))
    changed = [["ALPHA ONE LTD", "9", "", "USD", "", "", "", "", "", ""], GOOD[1]]
    table2 = read_table(xlsx(tmp_path / "d.xlsx", [HEADERS, *changed]))
    err = prepare(store, table2, plan_for(table2))
    assert err.counts["invalid"] == 2 and "already exists" in err.problems[0].message
    skip = prepare(store, table2, plan_for(table2, on_duplicate="skip"))
    assert skip.counts["skipped"] == 2
    upd = prepare(store, table2, plan_for(table2, on_duplicate="update"))
    assert (upd.counts["updated"], upd.counts["unchanged"]) == (1, 1)
    batch = commit(store, upd)
    a = get_customer(store, find_by_name(store, "alpha one ltd"))
    assert a["flow_speed"] == Decimal("9.00") and a["debit_limit"] == Decimal(
        "1250.5000"
    )  # blank kept
    undo(store, batch.batch_id)
    assert get_customer(store, a["id"])["flow_speed"] == Decimal("5.00")
    ccy = [["Alpha One Ltd", "", "", "EUR", "", "", "", "", "", ""]]
    table3 = read_table(xlsx(tmp_path / "e.xlsx", [HEADERS, *ccy]))
    p = prepare(store, table3, plan_for(table3, on_duplicate="update"))
    assert "cannot be changed" in p.problems[0].message


def test_a_new_customer_in_a_metal_fund_code_or_no_currency_is_refused_like_add_customer(store):
    # XAU, XXX and CHE parse (older data may hold them) but nobody is billed in them: the
    # Currency type's rule for a new customer, the one Add customer applies (ZZZ: no ISO code)
    data = (b"Customer Name,Currency\r\nGold Co,XAU\r\nNobody Co,xxx\r\nWir Co,CHE\r\n"
            b"Zed Co,ZZZ\r\nFine Co,CHF\r\n")  # fmt: skip
    table = read_table(data)
    preview = prepare(store, table, plan_for(table))
    assert preview.counts["invalid"] == 4 and preview.counts["new"] == 1
    found = {(p.row, p.column, p.field, p.value): p.message for p in preview.problems}
    assert set(found) == {(2, "Currency", "currency", "XAU"), (3, "Currency", "currency", "XXX"),
                          (4, "Currency", "currency", "CHE"), (5, "Currency", "currency", "ZZZ")}  # fmt: skip
    assert "is not a currency customers are billed in" in found[2, "Currency", "currency", "XAU"]
    assert "is not an ISO 4217 currency" in found[5, "Currency", "currency", "ZZZ"]
    with pytest.raises(ValidationError):
        commit(store, preview)
    assert store.scalar("SELECT count(*) FROM customers") == 0
    commit(store, preview, valid_only=True)  # the good row only
    assert store.scalar("SELECT list(currency) FROM customers") == ["CHF"]
    # set for every row, the same rule
    table = read_table(b"Customer Name,City\r\nGold Two,Leeds\r\n")
    preview = prepare(store, table, plan_for(table, set_values={"currency": "XAU"}))
    assert [(p.row, p.field, p.value) for p in preview.problems] == [(2, "currency", "XAU")]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "bom"),
    [("utf-8", ",", False), ("utf-8", ";", True), ("cp1252", ";", False), ("utf-8", "\t", False),
     ("utf-8", "|", False)],
)  # fmt: skip
def test_csv_in_any_common_encoding_and_delimiter(store, tmp_path, encoding, delimiter, bom):
    lines = [delimiter.join(["Customer Name", "Currency", "City", "Channels"]),
             delimiter.join(["Café Müller Telecom", "EUR", "Zürich", "1,000" if delimiter != "," else "1000"])]  # fmt: skip
    data = ("\r\n".join(lines) + "\r\n").encode(encoding)
    path = tmp_path / "c.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    table = read_table(path)
    assert table.delimiter == delimiter and table.headers[0] == "Customer Name"
    preview = prepare(store, table, plan_for(table))
    commit(store, preview)
    c = get_customer(store, find_by_name(store, "café müller telecom"))
    assert (c["city"], c["channels"]) == ("Zürich", 1000)


def test_excel_dates_and_cached_formula_values(store, tmp_path):
    path = xlsx(
        tmp_path / "f.xlsx",
        [["Customer Name", "Currency", "Channels"], ["Formula Co", "EUR", "=10*4"]],
    )
    # openpyxl cannot compute formulas; write the cell as Excel would: a formula and its cached value
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb"<f>10\*4</f>(<v\s*/>|<v></v>)?", b"<f>10*4</f><v>40</v>", data)
            zout.writestr(item, data)
    path.write_bytes(buf.getvalue())
    table = read_table(path)
    commit(store, prepare(store, table, plan_for(table)))
    assert get_customer(store, find_by_name(store, "Formula Co"))["channels"] == 40
    assert find_header_row([["Title"], [], ["A", "B"], [1, 2]]) == 3
    ts = dt.datetime(2026, 1, 2)
    from dashboard.types import Timestamp

    assert Timestamp().parse(dt.date(2026, 1, 2)) == ts


def test_bad_files_are_refused_with_a_clear_message(tmp_path):
    with pytest.raises(UserError, match="empty"):
        read_table(b"")
    with pytest.raises(UserError, match="not a spreadsheet"):
        read_table(b"\x00\x01\x02binary\x00" * 10)
    with pytest.raises(UserError, match="over the"):
        read_table(b"a,b\n1,2\n" * 1000, max_bytes=1000)
    with pytest.raises(UserError, match="no header row"):
        read_table(b"1,2\n3,4\n")
    with pytest.raises(UserError, match="encrypted"):
        read_table(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b"\x00" * 100
            + "EncryptionInfo".encode("utf-16-le")
            + b"\x00" * 100
        )
    notxlsx = io.BytesIO()
    with zipfile.ZipFile(notxlsx, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(UserError, match="not an Excel"):
        read_table(notxlsx.getvalue())


def test_zip_bomb_is_refused_before_parsing(tmp_path):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\x00" * (60 * 2**20))
    assert len(bomb.getvalue()) < 2**20
    with pytest.raises(UserError, match="zip bomb"):
        read_table(bomb.getvalue())


def test_required_fields_must_be_mapped_or_set(store, tmp_path):
    table = read_table(xlsx(tmp_path / "c.xlsx", [["Customer Name", "City"], ["Solo", "Leeds"]]))
    with pytest.raises(ValidationError, match="Currency must be mapped"):
        prepare(store, table, plan_for(table))
    preview = prepare(
        store, table, plan_for(table, set_values={"currency": "gbp", "status": "Pending Approval"})
    )
    commit(store, preview)
    c = get_customer(store, find_by_name(store, "solo"))
    assert (c["currency"], c["status"]) == ("GBP", "Pending Approval")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_cli_import_json_dry_run_exit_codes_and_map(tmp_path):
    db = tmp_path / "c.duckdb"
    good = xlsx(tmp_path / "good.xlsx", [HEADERS, *GOOD])
    r = cli("import", str(good), "--db", str(db), "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["counts"]["new"] == 3 and report["written"] is False
    r = cli("import", str(good), "--db", str(db), "--set", "tags+=cli", "--map", "Notes=city")
    assert r.returncode == 0 and "imported; batch b-" in r.stdout
    r = cli("import", str(good), "--db", str(db), "--json")
    report = json.loads(r.stdout)
    assert r.returncode == 1 and report["written"] is False
    assert {"row", "column", "value", "message", "field"} <= set(report["problems"][0])
    r = cli("import", str(good), "--db", str(db), "--on-duplicate", "skip")
    assert r.returncode == 0 and "3 skipped" in r.stdout
    r = cli("import", str(tmp_path / "missing.xlsx"), "--db", str(db))
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_import_right_after_a_change_poll_on_the_same_cursor(store, tmp_path):
    # the page polls change_token between actions; DuckDB 2 refuses new work on a cursor
    # that still holds a half-read result, so nothing may leave one behind
    store.change_token()
    table = read_table(xlsx(tmp_path / "c.xlsx", [HEADERS, *GOOD]))
    assert prepare(store, table, plan_for(table)).counts["new"] == 3
