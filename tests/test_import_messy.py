"""Bulk Upload against messy and hostile files: blank rows, over-long and control-character
cells, huge fields, hostile XML, devices and FIFOs, legacy and mixed encodings, European
numbers. Every file is written here for real; the CLI runs in a subprocess, as a person
runs it, and must answer with a clear line, never a traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from dashboard import get_customer, import_file
from dashboard.customers import find_by_name
from dashboard.errors import UserError, ValidationError
from dashboard.importer import Plan, guess_mapping, prepare, read_table, rejected_workbook

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, timeout=60):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)  # fmt: skip


def csv_file(tmp_path, text, name="c.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def xlsx_bytes(rows, replace=None):
    """An xlsx made by openpyxl; `replace` swaps parts for hand-written bytes."""
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    if not replace:
        return buf.getvalue()
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
    return out.getvalue()


def plan_for(table, **kw):
    return Plan(guess_mapping(table.headers), **kw)


def assert_clear_failure(r, *phrases):
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    for phrase in phrases:
        assert phrase in r.stdout + r.stderr, (phrase, r.stdout, r.stderr)


# --- rows: every fault is a row problem, never a crash ------------------------------


@pytest.mark.parametrize(("bad_row", "phrases"), [
    (",USD", ["row 3", "Customer Name is required"]),
    ("A" * 130 + ",USD", ["row 3", "at most 120 characters"]),
    ("Bad\x01Co,USD", ["row 3", "control characters"]),
    ("Bad\x7fCo,USD", ["row 3", "control characters"]),
])  # fmt: skip
def test_a_bad_row_beside_good_ones_is_a_row_problem_in_the_cli(tmp_path, bad_row, phrases):
    path = csv_file(tmp_path, f"Customer Name,Currency\nGood Co,USD\n{bad_row}\nAnother,EUR\n")
    r = cli("import", path, "--dry-run", "--db", tmp_path / "c.duckdb")
    assert_clear_failure(r, "3 rows: 2 new", "1 invalid", *phrases)


def test_fully_blank_rows_are_skipped_and_counted_with_real_row_numbers(store, tmp_path):
    path = csv_file(tmp_path, "Customer Name,Currency,City\nGood Co,USD,Leeds\n,,\n"
                    "Bad Co,ZZZ,York\n  ,\t,\nThird,GBP,Bath\n\n\n")  # fmt: skip
    table = read_table(path)
    preview = prepare(store, table, plan_for(table))
    assert (preview.counts["rows"], preview.counts["blank_rows"]) == (3, 2)
    assert [w.message for w in preview.warnings] == ["2 blank rows skipped (rows 3, 5)"]
    assert [(p.row, p.column) for p in preview.problems] == [(4, "Currency")]
    assert preview.report()["warnings"][0]["message"] == "2 blank rows skipped (rows 3, 5)"
    out = tmp_path / "rejected.xlsx"
    assert rejected_workbook(preview, out) == 1
    assert openpyxl.load_workbook(out).active.cell(2, 1).value == 4
    r = cli("import", path, "--dry-run", "--json", "--db", tmp_path / "c.duckdb")
    report = json.loads(r.stdout)
    assert report["counts"]["blank_rows"] == 2 and "Traceback" not in r.stderr
    assert report["warnings"][0]["message"] == "2 blank rows skipped (rows 3, 5)"
    r = cli("import", path, "--dry-run", "--db", tmp_path / "c.duckdb")
    assert "2 blank rows skipped" in r.stderr


def test_blank_rows_in_a_spreadsheet_are_skipped_too(store, tmp_path):
    rows = [["Customer Name", "Currency"], ["One", "EUR"], [None, None], ["Two", "EUR"],
            ["", " "], ["Three", "bad"]]  # fmt: skip
    table = read_table(xlsx_bytes(rows))
    preview = prepare(store, table, plan_for(table))
    assert preview.counts["blank_rows"] == 2 and preview.counts["new"] == 2
    assert [p.row for p in preview.problems] == [6]


def test_a_field_over_the_csv_limit_is_a_row_problem_naming_row_and_column(tmp_path):
    path = csv_file(tmp_path, "Customer Name,Currency,City\nGood Co,USD,Leeds\n"
                    f"Big Co,USD,{'x' * 140_000}\nThird,EUR,York\n")  # fmt: skip
    r = cli("import", path, "--dry-run", "--db", tmp_path / "c.duckdb")
    assert_clear_failure(r, "row 3, column 'City'", "140,000 characters", "32,767", "1 invalid")
    assert len(r.stderr) < 2000  # the huge value is not printed whole
    # a huge cell in a column that is not imported does not stop the row
    path = csv_file(tmp_path, f"Customer Name,Currency,Notes\nGood Co,USD,{'x' * 140_000}\n")
    r = cli("import", path, "--dry-run", "--db", tmp_path / "c.duckdb")
    assert r.returncode == 0 and "1 new" in r.stdout, r.stderr


def sheet_xml(rows):
    """A worksheet part written by hand (openpyxl cuts text to Excel's cell limit)."""
    out = []
    for r, row in enumerate(rows, 1):
        cells = "".join(f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
                        for c, v in enumerate(row))  # fmt: skip
        out.append(f'<row r="{r}">{cells}</row>')
    return ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
            f'.org/spreadsheetml/2006/main"><sheetData>{"".join(out)}</sheetData></worksheet>').encode()  # fmt: skip


def test_a_cell_over_the_limit_is_reported_in_spreadsheets_too(store):
    rows = [["Customer Name", "Currency", "Address Line 2"], ["A", "EUR", "ok"],
            ["B", "EUR", "y" * 40_000]]  # fmt: skip
    table = read_table(xlsx_bytes([["x"]], {"xl/worksheets/sheet1.xml": sheet_xml(rows)}))
    preview = prepare(store, table, plan_for(table))
    (p,) = preview.problems
    assert (p.row, p.column) == (3, "Address Line 2") and "40,000 characters" in p.message


# --- files: every fault is a clear UserError --------------------------------------------


def test_an_empty_file_says_so(tmp_path):
    r = cli("import", csv_file(tmp_path, b"", "empty.csv"), "--dry-run")
    assert_clear_failure(r, "the file is empty")
    for nothing in (None, b"", bytearray()):
        with pytest.raises(UserError, match="the file is empty"):
            read_table(nothing)


def test_devices_fifos_and_folders_are_refused_before_reading(tmp_path):
    r = cli("import", "/dev/zero", "--dry-run", timeout=30)
    assert_clear_failure(r, "/dev/zero is not a regular file")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    r = cli("import", fifo, "--dry-run", timeout=30)  # no writer ever comes: must not wait
    assert_clear_failure(r, "is not a regular file")
    assert_clear_failure(cli("import", tmp_path, "--dry-run"), "is a folder")
    big = tmp_path / "big.csv"
    with big.open("wb") as f:  # sparse: the size is refused from the file system, unread
        f.truncate(51 * 2**20)
    with pytest.raises(UserError, match="over the 50 MB limit"):
        read_table(big)


def test_a_fifo_given_to_the_engine_does_not_block(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = {}

    def read():
        try:
            read_table(fifo)
        except UserError as exc:
            result["error"] = str(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # release the reader (open a writer) so the thread can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    assert "not a regular file" in result["error"]


PADDED_DOCTYPE = (b'<?xml version="1.0"?>\n<!-- ' + b"pad " * 1100 + b"-->\n"
                  b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                  b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                  b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c>'
                  b"</row></sheetData></worksheet>")  # fmt: skip


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/styles.xml", "docProps/app.xml"])
def test_a_doctype_after_4kb_of_padding_in_any_part_is_refused(tmp_path, part):
    path = tmp_path / "entity.xlsx"
    path.write_bytes(
        xlsx_bytes([["Customer Name", "Currency"], ["A", "EUR"]], {part: PADDED_DOCTYPE})
    )
    r = cli("import", path, "--dry-run")
    assert_clear_failure(r, "declares XML entities", part)


def test_a_doctype_in_an_opendocument_sheet_is_refused_too():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", PADDED_DOCTYPE)
    with pytest.raises(UserError, match="declares XML entities in content.xml"):
        read_table(buf.getvalue())


@pytest.mark.parametrize("xml", [
    b"<worksheet><sheetData><row><c><v>1</v></row></sheetData>",  # unclosed tags
    b"\x00\x01\x02 not xml at all",
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>99</v></c></row>'
    b"</sheetData></worksheet>",  # a shared string that is not there
])  # fmt: skip
def test_malformed_sheet_xml_is_a_clear_file_error(tmp_path, xml):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(xlsx_bytes([["Customer Name", "Currency"]], {"xl/worksheets/sheet1.xml": xml}))
    r = cli("import", path, "--dry-run")
    assert "Traceback" not in r.stderr and r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: "), r.stderr


def test_a_tiny_sheet_that_claims_a_billion_cells_is_refused_before_it_is_allocated(tmp_path):
    # two cells, A1 and XFD1048576: a reader allocates the whole rectangle (hundreds of GB)
    xml = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
           b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Customer'
           b' Name</t></is></c><c r="B1" t="inlineStr"><is><t>Currency</t></is></c></row>'
           b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>')  # fmt: skip
    path = tmp_path / "wide.xlsx"
    path.write_bytes(xlsx_bytes([["x"]], {"xl/worksheets/sheet1.xml": xml}))
    assert path.stat().st_size < 10_000
    r = cli("import", path, "--dry-run")
    assert_clear_failure(r, "over the limit of")


def test_a_damaged_archive_is_a_clear_file_error(tmp_path):
    data = bytearray(xlsx_bytes([["Customer Name", "Currency"], ["A", "EUR"]]))
    start = data.find(b"xl/worksheets/sheet1.xml") + 40  # inside the sheet's compressed data
    data[start : start + 200] = bytes(200)
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(bytes(data))
    r = cli("import", path, "--dry-run")
    assert "Traceback" not in r.stderr and r.returncode == 1, r.stderr


# --- encodings ---------------------------------------------------------------------------

LEGACY = [
    ("cp1251", ";", ["ООО Ромашка", "ЗАО Вектор Телеком"], ["Москва", "Санкт-Петербург"]),
    ("cp1253", ";", ["Αλφα Τηλεπικοινωνίες", "Βήτα ΑΕ"], ["Αθήνα", "Θεσσαλονίκη"]),
    ("shift_jis", ",", ["株式会社テレコム", "山田通信"], ["東京", "大阪"]),
    ("cp1252", ";", ["Café Müller Telecom", "España Telefónica"], ["Zürich", "Coruña"]),
]


@pytest.mark.parametrize(("encoding", "sep", "names", "cities"), LEGACY, ids=[e[0] for e in LEGACY])
def test_legacy_encodings_are_detected(store, tmp_path, encoding, sep, names, cities):
    lines = [sep.join(["Customer Name", "Currency", "City"])]
    lines += [sep.join([n, "EUR", c]) for n, c in zip(names, cities, strict=True)]
    path = csv_file(tmp_path, "\r\n".join(lines) + "\r\n", encoding=encoding)
    table = read_table(path)
    assert table.frame["Customer Name"].tolist() == names
    assert table.frame["City"].tolist() == cities
    assert "not UTF-8" in table.warnings[0].message  # said, so a wrong guess is noticed
    import_file(store, path)
    assert get_customer(store, find_by_name(store, names[0]))["city"] == cities[0]
    # the explicit encoding still wins
    forced = read_table(path, encoding="cp1253" if encoding == "cp1252" else "latin-1")
    assert forced.frame["Customer Name"].tolist() != names and not forced.warnings


def test_a_file_mixing_utf8_and_cp1252_names_the_rows(tmp_path):
    data = ("Customer Name,Currency\nZürich Telecom,CHF\n".encode()
            + "Café Telecom,EUR\n".encode("cp1252") + "Ströer,EUR\n".encode()
            + "Crème Ltd,EUR\n".encode("cp1252"))  # fmt: skip
    path = csv_file(tmp_path, data)
    table = read_table(path)
    assert table.frame["Customer Name"].tolist() == ["Zürich Telecom", "Café Telecom", "Ströer",
                                                     "Crème Ltd"]  # fmt: skip
    assert [w.message for w in table.warnings] == [
        "the file mixes encodings: rows 3, 5 are not UTF-8; read as cp1252"
    ]
    r = cli("import", path, "--dry-run", "--db", tmp_path / "c.duckdb")
    assert r.returncode == 0 and "rows 3, 5 are not UTF-8; read as cp1252" in r.stderr
    assert "CafÃ©" not in r.stdout + r.stderr


def test_a_multi_line_cell_keeps_row_numbers_in_encoding_warnings(tmp_path):
    data = 'Customer Name,Notes\nÄ Co,"one\ntwo"\n'.encode() + "Café,x\n".encode("cp1252")
    table = read_table(csv_file(tmp_path, data))
    assert table.warnings[0].message.startswith("the file mixes encodings: row 3 ")


def test_an_explicit_encoding_that_does_not_fit_says_where(tmp_path):
    path = csv_file(tmp_path, "Customer Name;Currency\nООО Ромашка;RUB\n", encoding="cp1251")
    with pytest.raises(UserError, match="line 2"):
        read_table(path, encoding="utf-8")
    with pytest.raises(UserError, match="unknown encoding"):
        read_table(path, encoding="klingon")
    r = cli("import", path, "--dry-run", "--encoding", "cp1251", "--json")
    assert json.loads(r.stdout)["encoding"] == "cp1251"


# --- number formats ----------------------------------------------------------------------


def test_european_numbers_in_a_semicolon_csv(store, tmp_path):
    path = csv_file(tmp_path, "Customer Name;Currency;Debit Limit;Flow Speed\n"
                    "Euro Co;EUR;1.234,50;2,5\nZwei GmbH;EUR;99,00;10\n")  # fmt: skip
    preview, batch = import_file(store, path)
    assert preview.problems == [] and preview.warnings == [] and batch is not None
    c = get_customer(store, find_by_name(store, "Euro Co"))
    assert (c["debit_limit"], c["flow_speed"]) == (Decimal("1234.5"), Decimal("2.5"))


def test_english_numbers_read_as_before(store, tmp_path):
    path = csv_file(tmp_path, 'Customer Name,Currency,Debit Limit\nUK Co,GBP,"1,234.50"\n'
                    "US Co,USD,12.5\n")  # fmt: skip
    preview, _ = import_file(store, path)
    assert preview.problems == [] and preview.warnings == []
    assert get_customer(store, find_by_name(store, "UK Co"))["debit_limit"] == Decimal("1234.5")


def test_an_ambiguous_column_is_named_in_a_warning(store, tmp_path):
    path = csv_file(tmp_path, "Customer Name;Currency;Channels\nA Co;EUR;1,000\nB Co;EUR;2,000\n")
    table = read_table(path)
    preview = prepare(store, table, plan_for(table))
    (w,) = preview.warnings
    assert w.column == "Channels" and "1,000" in w.message and "read as 1000" in w.message
    r = cli("import", path, "--dry-run", "--db", tmp_path / "c.duckdb")
    assert "column 'Channels'" in r.stderr and "decimal mark" in r.stderr
    # said explicitly: no warning, and the comma is the decimal mark
    preview = prepare(store, table, plan_for(table, decimal=","))
    assert preview.warnings == [] and preview.records["channels"].tolist() == [1, 2]
    r = cli("import", path, "--dry-run", "--json", "--decimal", ",", "--db", tmp_path / "c.duckdb")
    assert json.loads(r.stdout)["warnings"] == []


def test_an_ambiguous_column_follows_the_files_other_number_columns(store, tmp_path):
    path = csv_file(tmp_path, "Customer Name;Currency;Debit Limit;Channels\n"
                    "A Co;EUR;1.234,50;1.000\nB Co;EUR;7,25;2.000\n")  # fmt: skip
    table = read_table(path)
    preview = prepare(store, table, plan_for(table))
    assert preview.records["channels"].tolist() == [1000, 2000]
    assert preview.records["debit_limit"].tolist() == [Decimal("1234.5"), Decimal("7.25")]
    (w,) = preview.warnings
    assert w.column == "Channels" and "'Debit Limit'" in w.message


def test_a_value_written_the_other_way_is_a_row_problem(store, tmp_path):
    path = csv_file(tmp_path, 'Customer Name,Currency,Debit Limit\nA,EUR,"1,234.50"\n'
                    'B,EUR,"1.234,50"\nC,EUR,"2,500.00"\n')  # fmt: skip
    table = read_table(path)
    preview = prepare(store, table, plan_for(table))
    (p,) = preview.problems
    assert (p.row, p.column, p.value) == (3, "Debit Limit", "1.234,50")
    assert "'.' as the decimal mark" in p.message
    with pytest.raises(ValidationError, match="decimal mark"):
        prepare(store, table, plan_for(table, decimal=";"))


@pytest.mark.parametrize(("text", "expected"), [
    ("1.234,50", (",", None)), ("1,234.50", (".", None)), ("1,5", (",", None)),
    ("12,50 €", (",", None)), ("1,234,567", (".", None)), ("1.234.567", (",", None)),
    ("1,234", (None, ",")), ("1.000", (None, ".")), ("0,500", (",", None)),
    ("1234,567", (",", None)), ("12.5", (".", None)), ("1500", (None, None)),
])  # fmt: skip
def test_what_one_number_says_about_its_decimal_mark(text, expected):
    from dashboard.importer import decimal_evidence

    assert decimal_evidence(text) == expected
