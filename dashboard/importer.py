"""Bulk Upload: spreadsheets and CSV files into customers, with column mapping.

    table = read_table("customers.xlsx")                # checks size, type, zip bombs
    plan = Plan(mapping=guess_mapping(table.headers), set_values={"status": "Pending Approval"})
    preview = prepare(store, table, plan)              # every problem, nothing written
    batch = commit(store, preview)                     # one transaction, audited, undoable

Values are parsed by the field registry as people type them (numbers stored as text,
thousands separators, 1E+3, Yes/No/TRUE/1/0, any case, Excel dates). Each column's distinct
values are parsed once, so a million rows of repeated statuses cost one parse each.
Blank cells are "no value": a new customer gets the field's default, an existing customer
keeps what it has.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import logging
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import audit, search
from .access import require
from .bulk import parse_change
from .errors import Problem, UserError, ValidationError
from .fields import (
    CONTACT_FIELDS,
    CONTACT_PREFIX,
    CONTACTS,
    COUNTRY_FIELD,
    CREATED_FIELD,
    FIELDS,
    KEY_FIELD,
    OPT_OUT_FIELDS,
    TAGS_FIELD,
    UPDATED_FIELD,
    importable,
    match_header,
    with_new_rule,
)  # fmt: skip
from .store import SETTLE_ROWS, Store, utcnow
from .types import is_blank, with_decimal_point
from .words import plural

#: Largest upload accepted, in bytes (the server enforces it, not only the browser).
MAX_BYTES = 50 * 2**20
#: Largest total uncompressed size of a spreadsheet archive, and the largest ratio.
MAX_UNZIPPED = 500 * 2**20
MAX_RATIO = 100
#: Longest text one cell may hold: Excel's own limit, so a rejected-rows workbook can hold it.
MAX_CELL_CHARS = 32_767
#: Widest sheet read (Excel's column limit), and the most cells (rows x columns) a sheet may
#: span: past that a reader allocates gigabytes for a file of a few kilobytes.
MAX_COLUMNS = 16_384
MAX_CELLS = 30_000_000
ON_DUPLICATE = ("error", "skip", "update")
DECIMAL_MARKS = (",", ".")
SPREADSHEET_TYPES = ("xlsx", "xlsm", "xls", "ods", "csv")
#: The same, as people read them: ".xlsx, .xlsm, .xls, .ods or .csv".
SPREADSHEET_WORDS = (
    ", ".join(f".{x}" for x in SPREADSHEET_TYPES[:-1]) + f" or .{SPREADSHEET_TYPES[-1]}"
)
#: Legacy encodings tried for text that is not UTF-8, most common first (a tie goes to the
#: first): Windows code pages of Western, Central European, Cyrillic, Greek, Turkish, Baltic,
#: Hebrew and Arabic exports, then Japanese, Korean and Chinese.
LEGACY_ENCODINGS = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1257", "cp1255",
                    "cp1256", "cp932", "cp949", "gb18030", "big5", "koi8_r")  # fmt: skip

log = logging.getLogger(__name__)


# --- reading -------------------------------------------------------------------------


class UnreadableFile(UserError):
    """A file that broke a reader in a way no check foresaw (the message says so plainly;
    the details go to the log)."""


@dataclass
class Table:
    """A sheet's rows under its header, as read (every cell as the file holds it).

    Fully blank rows are left out of `frame` (their sheet rows are in `blank_rows`);
    `row_numbers` maps each frame row to the sheet row a person sees. `warnings` say what
    was read in a way worth checking (another encoding, rows that mix encodings)."""

    frame: pd.DataFrame
    headers: list[str]
    header_row: int  # 1-based row of the header in the sheet
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    kind: str = "csv"
    encoding: str | None = None
    delimiter: str | None = None
    row_numbers: list[int] | None = None
    blank_rows: list[int] = field(default_factory=list)
    #: (frame row, header) -> length of a cell over MAX_CELL_CHARS (the frame holds its start)
    oversized: dict[tuple[int, str], int] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)

    def row_number(self, i: int) -> int:
        """The sheet row number of data row `i` (0-based), as a person sees it."""
        if self.row_numbers is not None:
            return self.row_numbers[i]
        return self.header_row + 1 + i


def sniff_kind(data: bytes) -> str:
    """What a file is, by its content (never by its name)."""
    if data[:4] == b"PK\x03\x04":
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
            raise UserError("the file is a damaged zip archive, not a spreadsheet") from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "content.xml" in names and "mimetype" in names:
            return "ods"
        raise UserError("the file is a zip archive but not an Excel or OpenDocument spreadsheet")
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        # OLE2: an old .xls, or an Excel file encrypted with a password
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00i\x00o\x00n\x00I\x00n\x00f\x00o" in data[
            :65536
        ] or (b"EncryptionInfo" in data[:65536]):
            raise UserError("the spreadsheet is encrypted with a password; save it without one")
        return "xls"
    if b"\x00" in data[:4096] and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        raise UserError("the file is not a spreadsheet or a CSV text file")
    return "csv"


# parts no spreadsheet reader parses as XML: pictures (an SVG may rightly carry a DOCTYPE)
_PICTURES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".svg",
             ".webp", ".wdp", ".ico")  # fmt: skip
_CELL_REF = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_ROW_REF = re.compile(rb'<(?:\w+:)?row\b[^>]*?\br="([0-9]+)"')


def check_archive(data: bytes) -> None:
    """Refuse zip bombs, XML entity declarations anywhere in any part, and sheets whose
    cells span more than MAX_CELLS, before any parser sees the archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            total = 0
            for info in infos:
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > MAX_RATIO and info.file_size > 2**20:
                    raise UserError(
                        f"the spreadsheet looks like a zip bomb ({info.filename} expands "
                        f"{ratio:,.0f} times); it was not opened"
                    )
            if total > MAX_UNZIPPED:
                raise UserError(
                    f"the spreadsheet expands to {total / 2**20:,.0f} MB, over the "
                    f"{MAX_UNZIPPED / 2**20:,.0f} MB limit; it was not opened"
                )
            for info in infos:
                if not info.is_dir() and not info.filename.lower().endswith(_PICTURES):
                    _check_part(z, info)
    except UserError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as exc:  # fmt: skip
        # RuntimeError: a part encrypted with a zip password; the others: damage
        raise UserError(f"the spreadsheet archive is damaged ({exc}); it was not opened") from None


def _check_part(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Stream one part: refuse DTDs (how XML entity attacks start; no spreadsheet program
    writes one) wherever they are, and sheets spanning more than MAX_CELLS cells."""
    extent = [0, 0]  # the largest row and column any cell or row names
    tail = b""
    with z.open(info) as member:
        while chunk := member.read(2**20):
            block = tail + chunk
            # the tag cut by the chunk's end is read whole with the next chunk
            cut = block.rfind(b"<")
            if cut < len(block) - 2**16:
                cut = max(len(block) - 64, 0)
            _scan_block(block, cut, extent, info.filename)
            tail = block[cut:]
        _scan_block(tail, len(tail), extent, info.filename)


def _scan_block(block: bytes, end: int, extent: list[int], part: str) -> None:
    if _declares_entities(block):
        raise UserError(
            f"the spreadsheet declares XML entities in {part} (a known attack on XML "
            "readers); it was not opened"
        )
    rows = {m.group(1) for m in _ROW_REF.finditer(block, 0, end)}
    refs = _CELL_REF.findall(block, 0, end)
    rows.update(r for _, r in refs)
    if rows:
        extent[0] = max(extent[0], max(map(int, rows)))
    if refs:
        extent[1] = max(extent[1], max(map(_column_index, {c for c, _ in refs})))
    if extent[1] > MAX_COLUMNS or extent[0] * max(extent[1], 1) > MAX_CELLS:
        raise UserError(
            f"the sheet in {part} spans {extent[0]:,} rows x {extent[1]:,} columns, over the "
            f"limit of {MAX_CELLS:,} cells; it was not opened"
        )


def _declares_entities(block: bytes) -> bool:
    for marker, step in ((b"<!", 1), (b"<\x00!\x00", 2), (b"\x00<\x00!", 2)):
        i = block.find(marker)
        while i >= 0:
            word = block[i + len(marker) : i + len(marker) + 8 * step].replace(b"\x00", b"")
            if word.upper().startswith((b"DOCTYPE", b"ENTITY")):
                return True
            i = block.find(marker, i + 1)
    return False


def _column_index(letters: bytes) -> int:
    n = 0
    for b in letters:
        n = n * 26 + b - 64
    return n


def read_table(
    source: str | Path | bytes | None,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Table:
    """Read one sheet (or a CSV) safely; the header row is found when not given.

    Every fault of the file is a UserError with a message for the person who chose it; a
    fault of a single row or cell is left for `prepare` to report as a row problem.
    """
    data = _load(source, max_bytes)
    try:
        kind = sniff_kind(data)
        if kind == "csv":
            return _read_csv(data, header_row, encoding, delimiter)
        if kind in ("xlsx", "ods"):
            check_archive(data)
        return _read_workbook(data, kind, sheet, header_row)
    except UserError:
        raise
    except Exception as exc:  # a reader broke on something no check foresaw: never a traceback
        log.warning("could not read an upload", exc_info=True)
        raise UnreadableFile(
            f"the file could not be read ({type(exc).__name__}); it may be damaged"
        ) from None


def _load(source: str | Path | bytes | None, max_bytes: int) -> bytes:
    if source is None:
        raise UserError("the file is empty")
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        data = _read_file(Path(source), max_bytes)
    if len(data) == 0:
        raise UserError("the file is empty")
    if len(data) > max_bytes:
        raise UserError(
            f"the file is {len(data) / 2**20:,.1f} MB, over the {max_bytes / 2**20:,.0f} MB limit"
        )
    return data


def _read_file(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, at most max_bytes + 1 of them: a device (/dev/zero) would be
    read until memory runs out and a FIFO would wait for a writer forever."""
    try:
        st = os.stat(path)
        _check_regular(path, st, max_bytes)
        # O_NONBLOCK: a FIFO swapped in after the check must not block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            _check_regular(path, os.fstat(f.fileno()), max_bytes)
            return f.read(max_bytes + 1)
    except UserError:
        raise
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the path
        raise UserError(f"cannot read {path!r}: {exc}") from None


def _check_regular(path: Path, st: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(
            f"{path} is not a regular file (a device, pipe or socket); save the data to a "
            "file and import that"
        )
    if st.st_size > max_bytes:
        raise UserError(
            f"{path.name} is {st.st_size / 2**20:,.1f} MB, over the "
            f"{max_bytes / 2**20:,.0f} MB limit"
        )


def _read_workbook(data: bytes, kind: str, sheet: str | None, header_row: int | None) -> Table:
    import python_calamine as pc

    try:
        book = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(book.sheet_names)
        if not names:
            raise UserError("the spreadsheet has no sheets")
        name = sheet or names[0]
        if name not in names:
            raise UserError(f"there is no sheet {name!r}; sheets: {', '.join(names)}")
        # the sheet's XML is parsed here, lazily: its faults surface here too
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except UserError:
        raise
    except pc.PasswordError:
        raise UserError(
            "the spreadsheet is encrypted with a password; save it without one"
        ) from None
    except Exception as exc:  # calamine's errors (XmlError, ...) name the format problem
        raise UserError(f"the spreadsheet could not be read: {_short(str(exc), 300)}") from None
    table = _table_from_rows(rows, header_row)
    table.sheet, table.sheets, table.kind = name, names, kind
    return table


def _read_csv(
    data: bytes, header_row: int | None, encoding: str | None, delimiter: str | None
) -> Table:
    text, used, odd_lines, warning = _decode(data, encoding)
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1 or delimiter in '\r\n"':
            raise UserError(f"the delimiter must be one character, not {delimiter!r}")
    else:
        sample = "\n".join(text[:65536].splitlines()[:50])
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    # the module's per-field limit (128 KiB) is global; only ever raised, to this file's
    # size, so a long cell is read and then reported with its row and column
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    ends: list[int] = []  # the last text line of each row, to name rows by line
    try:
        if odd_lines:
            for row in reader:
                rows.append(row)
                ends.append(reader.line_num)
        else:
            rows = list(reader)
    except csv.Error as exc:
        raise UserError(f"the CSV file cannot be read at line {reader.line_num}: {exc}") from None
    table = _table_from_rows(rows, header_row, all_text=True)
    table.kind, table.encoding, table.delimiter = "csv", used, delimiter
    if odd_lines:
        odd_rows = sorted({bisect.bisect_left(ends, line) + 1 for line in odd_lines})
        table.warnings.insert(0, Problem("", None, warning.format(rows=_rows_text(odd_rows))))
    elif warning:
        table.warnings.insert(0, Problem("", None, warning))
    return table


def _rows_text(rows: list[int], most: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:most])
    more = f" and {len(rows) - most:,} more" if len(rows) > most else ""
    return f"row {shown}" if len(rows) == 1 else f"rows {shown}{more}"


def _decode(data: bytes, encoding: str | None) -> tuple[str, str, list[int], str | None]:
    """The text, the encoding read, the 1-based lines worth a warning and that warning
    (with {rows} to fill in; without lines, a warning for the whole file or None)."""
    if encoding:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise UserError(f"unknown encoding {encoding!r} (try utf-8, cp1252, cp1251)") from None
        try:
            return data.decode("utf-8-sig" if name == "utf-8" else name), name, [], None
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise UserError(
                f"the file is not in {encoding}: line {line} holds bytes that are not {encoding}"
            ) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16"), "utf-16", [], None
        except UnicodeDecodeError:
            raise UserError("the file starts like UTF-16 text but is not valid UTF-16") from None
    body = data[3:] if data[:3] == b"\xef\xbb\xbf" else data
    try:
        return body.decode("utf-8"), "utf-8", [], None
    except UnicodeDecodeError:
        pass
    # Not UTF-8: a legacy export, or UTF-8 with lines pasted from a legacy one. Each line is
    # read as UTF-8 where it is, and the others in the encoding detected from them.
    lines = body.splitlines(keepends=True)
    utf8: list[str | None] = []
    odd: list[int] = []
    for i, line in enumerate(lines):
        try:
            utf8.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            utf8.append(None)
            odd.append(i)
    legacy = detect_encoding(b"".join(lines[i] for i in odd[:2000])[: 2**16])
    mixed = any(t is not None and not t.isascii() for t in utf8)
    if not mixed:
        text = body.decode(legacy, errors="replace")
        broken = _unreadable_lines(lines, odd, legacy)
        if broken:
            return text, legacy, broken, (
                f"the file is not UTF-8 and was read as {legacy} (detected); {{rows}} hold "
                f"bytes that are not {legacy}, shown as \ufffd; give the file's encoding if "
                "that is wrong"
            )  # fmt: skip
        return text, legacy, [], (
            f"the file is not UTF-8 and was read as {legacy} (detected); give the file's "
            "encoding if the names look wrong"
        )  # fmt: skip
    for i in odd:
        utf8[i] = lines[i].decode(legacy, errors="replace")
    return "".join(utf8), "utf-8", [i + 1 for i in odd], (
        f"the file mixes encodings: {{rows}} are not UTF-8; read as {legacy}"
    )  # fmt: skip


def _unreadable_lines(lines: list[bytes], odd: list[int], encoding: str) -> list[int]:
    out = []
    for i in odd:
        try:
            lines[i].decode(encoding)
        except UnicodeDecodeError:
            out.append(i + 1)
    return out


def detect_encoding(sample: bytes) -> str:
    """The legacy encoding `sample` (text that is not UTF-8) is most likely in.

    charset-normalizer proposes encodings and measures how garbled each reading is; short
    samples (a single name) fit many code pages equally, so a reading is also marked down
    for words that mix scripts ("Zoл's"), mostly-accented Latin words ("Ðîìàøêà"), symbols
    inside words ("T³rk") and odd capitals ("ВЮфб"); ties go to the more common encoding.
    """
    from charset_normalizer import from_bytes

    def rank(name: str) -> int:
        return LEGACY_ENCODINGS.index(name) if name in LEGACY_ENCODINGS else len(LEGACY_ENCODINGS)

    scored: dict[str, tuple] = {}
    try:
        matches = list(from_bytes(sample))
    except Exception:  # detection is advice: a failure leaves the fixed candidates
        log.warning("charset detection failed", exc_info=True)
        matches = []
    for m in matches:
        if m.encoding.startswith(("utf", "ascii")):
            continue
        # the same reading under a more common name ("Café" reads alike in cp1250 and cp1252)
        name = min(m.could_be_from_charset or [m.encoding], key=rank)
        key = (_garble(str(m)), round(m.chaos, 2), -round(m.coherence, 2), rank(name))
        scored[name] = min(scored.get(name, key), key)
    for name in LEGACY_ENCODINGS:
        if name in scored:
            continue
        try:
            text = sample.decode(name)
        except UnicodeDecodeError:
            continue
        scored[name] = (_garble(text), 0.0, 0.0, rank(name))
    if not scored:
        return "cp1252"
    return min(scored, key=lambda n: scored[n])


_WORD = re.compile(r"[^\W\d_]+")
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "CJK": "CJK", "IDEOGRAPHIC": "CJK",
                  "FULLWIDTH": "CJK"}  # fmt: skip


def _script(c: str) -> str:
    if c < "\x80":
        return "LATIN"
    try:
        word = unicodedata.name(c).split()[0]
    except ValueError:
        return "?"
    return _SCRIPT_GROUPS.get(word, word)


def _garble(text: str) -> int:
    """How many signs of a wrong decoding `text` shows (0 for a plausible reading)."""
    score = 0
    for w in _WORD.findall(text):
        if w.isascii():
            continue
        scripts = {_script(c) for c in w}
        score += len(scripts) - 1
        if scripts == {"LATIN"} and len(w) > 1 and 2 * sum(not c.isascii() for c in w) > len(w):
            score += 1
        score += sum(
            1
            for a, b, c in zip(w, w[1:], w[2:], strict=False)
            if a.isupper() and b.isupper() and c.islower()
        )
        score += sum(1 for a, b in zip(w, w[1:], strict=False) if a.islower() and b.isupper())
    for m in re.finditer(r"[^\x00-\x7f]", text):
        cat = unicodedata.category(m.group())
        if cat[0] in "LM" or cat in ("Nd", "Nl"):
            continue
        if cat in ("Cc", "Co", "Cn", "Cs"):
            score += 3
            continue
        s, e = m.start(), m.end()
        if (s > 0 and text[s - 1].isalpha()) or (e < len(text) and text[e].isalpha()):
            score += 1
    return score


def find_header_row(rows: list[list[Any]]) -> int:
    """The 1-based row that holds the column titles: the first of the first 30 rows whose
    filled cells are all text and number at least two and half of the widest row."""
    head = rows[:30]
    width = max((sum(not is_blank(c) for c in r) for r in head), default=0)
    for i, row in enumerate(head):
        filled = [c for c in row if not is_blank(c)]
        if len(filled) >= max(2, width // 2) and all(_is_title(c) for c in filled):
            return i + 1
    raise UserError("no header row found: the first rows should hold the column titles")


def _is_title(cell: Any) -> bool:
    """A cell that can be a column title: text that is not a number (CSV cells are all text)."""
    if not isinstance(cell, str):
        return False
    try:
        float(cell.replace(",", "").strip())
    except ValueError:
        return True
    return False


def _blank_row(row: list[Any]) -> bool:
    return all(is_blank(c) for c in row)


def _table_from_rows(
    rows: list[list[Any]], header_row: int | None, all_text: bool = False
) -> Table:
    if not any(not _blank_row(r) for r in rows):
        raise UserError("the sheet is empty")
    if header_row is not None and (header_row < 1 or header_row > len(rows)):
        raise UserError(f"header row {header_row} is outside the sheet (1 to {len(rows)})")
    hr = header_row or find_header_row(rows)
    raw_headers = list(rows[hr - 1])
    if not any(not is_blank(h) for h in raw_headers):
        raise UserError("no header row found")
    # fully blank rows are skipped: counted between data rows, ignored after the last
    kept: list[int] = []
    blank: list[int] = []
    for i in range(hr, len(rows)):
        if _blank_row(rows[i]):
            blank.append(i + 1)
        else:
            kept.append(i)
    last = kept[-1] + 1 if kept else hr
    blank = [r for r in blank if r <= last]
    width = max([len(raw_headers), *(len(rows[i]) for i in kept)])
    if width > MAX_COLUMNS:
        raise UserError(f"the sheet has {width:,} columns, over the limit of {MAX_COLUMNS:,}")
    if width * (len(kept) + 1) > MAX_CELLS:
        raise UserError(
            f"the sheet has {len(kept):,} rows x {width:,} columns, over the limit of "
            f"{MAX_CELLS:,} cells"
        )
    headers, seen = [], {}
    for i in range(width):
        h = (
            _short(str(raw_headers[i]).strip(), 200)
            if i < len(raw_headers) and not is_blank(raw_headers[i])
            else ""
        )
        h = h or f"Column {i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h} ({seen[h]})"
        else:
            seen[h] = 1
        headers.append(h)
    body = [list(rows[i]) for i in kept]
    oversized = _cut_oversized(body, headers, all_text)
    for row in body:
        if len(row) < width:
            row.extend([None] * (width - len(row)))
    frame = pd.DataFrame(body, columns=headers, dtype=object)
    table = Table(frame, headers, hr, row_numbers=[i + 1 for i in kept], blank_rows=blank,
                  oversized=oversized)  # fmt: skip
    if blank:
        n = len(blank)
        table.warnings.append(
            Problem("", None, f"{n} blank row{'s' if n != 1 else ''} skipped ({_rows_text(blank)})")
        )
    return table


def _cut_oversized(body: list[list[Any]], headers: list[str], all_text: bool) -> dict:
    """Cells over MAX_CELL_CHARS keep their start (to show) and are reported by `prepare`;
    a row's joined text is checked first, as nearly no row holds such a cell."""
    out = {}
    for i, row in enumerate(body):
        if all_text and len("".join(row)) <= MAX_CELL_CHARS:
            continue
        for j, cell in enumerate(row):
            if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
                out[(i, headers[j])] = len(cell)
                row[j] = cell[:100] + "…"
    return out


def _short(text: str, most: int = 100) -> str:
    return text if len(text) <= most else text[:most] + "…"


# --- mapping and plan ----------------------------------------------------------------


def guess_mapping(headers: list[str]) -> dict[str, str | None]:
    """Each header's target from the registry's names, labels and aliases (None: ignore)."""
    mapping, used = {}, set()
    for h in headers:
        target = match_header(h)
        if target in used:
            target = None  # a second column for the same field is ignored unless mapped by hand
        mapping[h] = target
        if target:
            used.add(target)
    return mapping


def targets() -> dict[str, str]:
    """What a column can be mapped to: label -> field name or contact.<field>."""
    out = {f.label: f.name for f in importable()}
    out.update(
        {f"Contact: {f.label}": CONTACT_PREFIX + f.name for f in CONTACT_FIELDS if f.importable}
    )
    return out


@dataclass
class Plan:
    """How to read the table: column -> target, values set for every row, duplicates."""

    mapping: dict[str, str | None]
    set_values: dict[str, Any] = field(default_factory=dict)
    on_duplicate: str = "error"
    #: "," or "." for every number column; None: each column's own values tell
    decimal: str | None = None


@dataclass
class Preview:
    """What an import would do; nothing has been written."""

    table: Table
    plan: Plan
    records: pd.DataFrame  # one row per data row: parsed values, "_row", "_status", "_id"
    problems: list[Problem]
    counts: dict[str, int]  # new, updated, unchanged, skipped, invalid, rows, problems, blank_rows
    contact_columns: list[str]
    #: what was read in a way worth checking (encodings, blank rows, number formats); these
    #: do not stop an import
    warnings: list[Problem] = field(default_factory=list)

    def first_rows(self, n: int = 20) -> pd.DataFrame:
        """The first rows as they will be stored."""
        shown = self.records.head(n).copy()
        return shown.drop(
            columns=[c for c in shown.columns if c.startswith("_") and c not in ("_row", "_status")]
        )

    def report(self) -> dict[str, Any]:
        """Counts, every problem and every warning, JSON-friendly (the CLI's --json)."""
        return {
            "counts": self.counts,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
        }


def _check_plan(table: Table, plan: Plan) -> list[Problem]:
    problems = []
    if plan.on_duplicate not in ON_DUPLICATE:
        problems.append(
            Problem("", plan.on_duplicate, f"on duplicate must be one of {', '.join(ON_DUPLICATE)}")
        )
    if plan.decimal is not None and plan.decimal not in DECIMAL_MARKS:
        problems.append(Problem("", plan.decimal, "the decimal mark must be ',' or '.'"))
    for header, target in plan.mapping.items():
        if header not in table.headers:
            problems.append(Problem("", header, f"there is no column {header!r} in the sheet"))
        if target is None:
            continue
        if target.startswith(CONTACT_PREFIX):
            if target[len(CONTACT_PREFIX) :] not in CONTACTS:
                problems.append(Problem(target, header, "is not a contact field"))
        elif target not in FIELDS or not FIELDS[target].importable:
            problems.append(Problem(target, header, "cannot be imported into"))
    mapped = {t for t in plan.mapping.values() if t}
    for f in importable():
        if (
            f.required
            and f.name not in mapped
            and f.name not in plan.set_values
            and f.default is None
        ):
            problems.append(
                Problem(f.name, None, f"{f.label} must be mapped to a column or set for every row")
            )
    return problems


def check_plan(table: Table, plan: Plan) -> list[Problem]:
    """Every fault of `plan` for `table` that `prepare` would refuse before reading a row:
    unknown columns or targets, required fields neither mapped nor set for every row,
    values set for every row that do not parse. Empty when the plan can be checked (the
    page's wizard asks this to tell whether a step is complete)."""
    problems = _check_plan(table, plan)
    try:
        _set_values(plan)
    except ValidationError as exc:
        problems.extend(exc.problems)
    return problems


# --- preparing -----------------------------------------------------------------------


def prepare(store: Store, table: Table, plan: Plan) -> Preview:
    """Parse and check every row against the registry and the database; write nothing."""
    problems = _check_plan(table, plan)
    if problems:
        raise ValidationError(problems)
    frame = table.frame
    n = len(frame)
    rows = pd.Series(table.row_numbers if table.row_numbers is not None
                     else [table.row_number(i) for i in range(n)], dtype="int64")  # fmt: skip
    records = pd.DataFrame({"_row": rows})
    bad = pd.Series(False, index=range(n))
    contact_columns: list[str] = []
    set_fields, tag_adds = _set_values(plan)
    marks, warnings = number_formats(frame, plan)

    def parse_mapped(regional: bool) -> None:
        regions = records[COUNTRY_FIELD] if regional and COUNTRY_FIELD in records else None
        for header, target in plan.mapping.items():
            if not target:
                continue
            is_contact = target.startswith(CONTACT_PREFIX)
            f = CONTACTS[target[len(CONTACT_PREFIX) :]] if is_contact else FIELDS[target]
            if f.type.regional != regional:
                continue
            key = f"{CONTACT_PREFIX}{f.name}" if is_contact else f.name
            parsed, errors = _parse_column(frame[header], f, regions, marks.get(header))
            too_long = {i: size for (i, h), size in table.oversized.items() if h == header}
            for i in too_long:
                parsed.iat[i] = None
            records[key] = parsed
            if is_contact:
                contact_columns.append(f.name)
            for i in errors.index:
                if i in too_long:
                    continue
                bad[i] = True
                problems.append(Problem(key, _shown(frame[header].iat[i]), f"{f.label} {errors[i]}",
                                        int(rows[i]), header))  # fmt: skip
            for i, size in too_long.items():
                bad[i] = True
                problems.append(Problem(key, _shown(frame[header].iat[i]),
                                        f"{f.label} is {size:,} characters long, over the limit of "
                                        f"{MAX_CELL_CHARS:,} for one cell", int(rows[i]), header))  # fmt: skip

    parse_mapped(regional=False)
    # "Set fields for every row": the value replaces whatever the column held
    for name, value in set_fields.items():
        records[name] = [list(value) for _ in range(n)] if isinstance(value, list) else value
    if tag_adds:
        current = records[TAGS_FIELD] if TAGS_FIELD in records else pd.Series([[]] * n)
        records[TAGS_FIELD] = [list(dict.fromkeys([*(t or []), *tag_adds])) for t in current]
    # phone numbers last: a national number is read in the row's country, once it is known
    parse_mapped(regional=True)
    # required values
    for f in importable():
        fname = f.name
        if f.required and f.default is None and fname in records:
            missing = records[fname].isna() & ~bad
            for i in missing[missing].index:
                bad[i] = True
                problems.append(
                    Problem(
                        fname, None, f"{f.label} is required", int(rows[i]), _column_of(plan, fname)
                    )
                )
    records["_key"] = records[KEY_FIELD].map(
        lambda v: v.strip().casefold() if isinstance(v, str) else None
    )
    dupes = records["_key"].duplicated(keep="first") & records["_key"].notna()
    first_row = records.drop_duplicates("_key").set_index("_key")["_row"]
    for i in dupes[dupes].index:
        bad[i] = True
        k = records["_key"].iat[i]
        problems.append(Problem(KEY_FIELD, _shown(records[KEY_FIELD].iat[i]),
                                f"Customer Name appears twice in the file (also row {first_row[k]})",
                                int(rows[i]), _column_of(plan, KEY_FIELD)))  # fmt: skip
    records["_status"] = "new"
    records["_id"] = pd.NA
    _match_existing(store, plan, records, problems, bad)
    _refuse_new(plan, records, problems, bad)
    records.loc[bad, "_status"] = "invalid"
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    counts = {
        s: int((records["_status"] == s).sum())
        for s in ("new", "updated", "unchanged", "skipped", "invalid")
    }
    counts["rows"] = n
    counts["problems"] = len(problems)
    counts["blank_rows"] = len(table.blank_rows)
    return Preview(table, plan, records, problems, counts, contact_columns,
                   [*table.warnings, *warnings])  # fmt: skip


def _shown(value: Any) -> Any:
    """A value as a problem quotes it: long text cut (a 30,000-character cell is no help)."""
    return _short(value) if isinstance(value, str) else value


# --- number formats ------------------------------------------------------------------

_NUMBER_RUN = re.compile(r"[\d.,]*\d[\d.,]*")


def decimal_evidence(text: str) -> tuple[str | None, str | None]:
    """What one written number says about its decimal mark: (mark, None) when it settles it
    ("1.234,50", "1,5", "1,234,567"), (None, separator) when it could be either ("1,234",
    "1.000"), (None, None) when it has no separator."""
    runs = _NUMBER_RUN.findall(text)
    if len(runs) != 1:
        return None, None
    run = runs[0]
    commas, dots = run.count(","), run.count(".")
    if commas and dots:  # the last one is the decimal mark
        return ("," if run.rfind(",") > run.rfind(".") else "."), None
    if commas > 1:
        return ".", None
    if dots > 1:
        return ",", None
    if not commas and not dots:
        return None, None
    sep = "," if commas else "."
    left, right = run.split(sep)
    # a thousands group is three digits after one to three that do not start with 0
    if len(right) == 3 and 1 <= len(left) <= 3 and not left.startswith("0"):
        return None, sep
    return sep, None


def number_formats(frame: pd.DataFrame, plan: Plan) -> tuple[dict[str, str], list[Problem]]:
    """The decimal mark of each number column written as text, and warnings for the columns
    whose values do not settle it.

    A column's mark is the one its values show ("1.234,50" and "12,5": ","); values
    that could be either ("1,234" alone) take the mark the file's other number columns
    agree on, else "." as most exports write it, with a warning naming the column. Values
    written with the other mark become row problems, never silent guesses.
    """
    columns = []
    for header, target in plan.mapping.items():
        if not target or header not in frame:
            continue
        is_contact = target.startswith(CONTACT_PREFIX)
        f = CONTACTS.get(target[len(CONTACT_PREFIX) :]) if is_contact else FIELDS.get(target)
        if f is not None and f.type.numeric:
            columns.append(header)
    if plan.decimal in DECIMAL_MARKS:
        return {h: plan.decimal for h in columns}, []
    marks: dict[str, str] = {}
    warnings: list[Problem] = []
    unsettled: dict[str, str] = {}
    for header in columns:
        seen: dict[str, int] = {",": 0, ".": 0}
        example = None
        for value in pd.unique(frame[header]):
            if not isinstance(value, str):
                continue
            mark, either = decimal_evidence(value)
            if mark:
                seen[mark] += 1
            elif either and example is None:
                example = value.strip()
        if seen[","] != seen["."]:
            marks[header] = "," if seen[","] > seen["."] else "."
        elif seen[","]:
            warnings.append(Problem("", None, "numbers are written both as 1,234.5 and as "
                                    "1.234,5; set the decimal mark (--decimal) to read it", column=header))  # fmt: skip
        elif example is not None:
            unsettled[header] = example
    settled = set(marks.values())
    for header, example in unsettled.items():
        if len(settled) == 1:
            mark = next(iter(settled))
            other = next(h for h, m in marks.items() if m == mark)
            why = f"as column {other!r} does"
        else:
            mark, why = ".", "as most files do"
        marks[header] = mark
        read = with_decimal_point(example, mark)
        warnings.append(Problem("", None, f"{example} could be read with ',' or '.' "
                                f"as the decimal mark; read as {read} ({mark!r} as the decimal mark, "
                                f"{why}); set the decimal mark (--decimal) if that is wrong",
                                column=header))  # fmt: skip
    return marks, warnings


def _column_of(plan: Plan, target: str) -> str | None:
    return next((h for h, t in plan.mapping.items() if t == target), None)


def _set_values(plan: Plan) -> tuple[dict[str, Any], list[str]]:
    out, tag_adds, problems = {}, [], []
    for name, raw in plan.set_values.items():
        try:
            if name == TAGS_FIELD and isinstance(raw, str) and raw.startswith("+="):
                tag_adds = parse_change(TAGS_FIELD, raw).value
                continue
            f = FIELDS.get(name)
            if f is None or not f.importable:
                raise UserError(f"{name!r} is not a field that can be set")
            out[name] = f.parse(raw)
        except (ValueError, UserError) as exc:
            problems.append(Problem(name, raw, f"set {name}: {exc}"))
    if problems:
        raise ValidationError(problems)
    return out, tag_adds


def _parse_column(
    values: pd.Series, f, regions: pd.Series | None = None, decimal: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """Parse a column through its field, each distinct value (and country, for phone
    numbers read in the row's country) once; numbers written as text are read with the
    column's `decimal` mark when it is known."""
    keys = np.empty(len(values), dtype=object)
    if regions is None:
        keys[:] = values.map(_hashable).tolist()
    else:
        keys[:] = list(zip(values.map(_hashable), regions, strict=True))
    # each row's distinct value by number, so results are spread back in one take
    codes, uniques = pd.factorize(keys, use_na_sentinel=False)
    results = np.empty(len(uniques), dtype=object)
    errors: dict[int, str] = {}
    for j, key in enumerate(uniques):
        value, region = key if regions is not None else (key, None)
        if is_blank(value):
            continue
        try:
            if decimal and isinstance(value, str):
                value = with_decimal_point(value, decimal)
            results[j] = f.type.parse(value, region)
        except ValueError as exc:
            errors[j] = str(exc)
        except Exception:  # a parser broke on odd input: a row problem, never a traceback
            log.warning("a field parser failed on an uploaded value", exc_info=True)
            errors[j] = "could not be read"
    parsed = pd.Series(results[codes], index=values.index, dtype=object)
    failed = np.isin(codes, list(errors)) if errors else np.zeros(len(codes), dtype=bool)
    errs = pd.Series([errors[c] for c in codes[failed]], index=values.index[failed], dtype=object)
    return parsed, errs


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _match_existing(store: Store, plan: Plan, records: pd.DataFrame, problems, bad) -> None:
    # a row whose name is blank or invalid has no key (pandas may hold NaN for it)
    keys = pa.table(
        {
            "_key": pa.array(
                [k if isinstance(k, str) else None for k in records["_key"]], pa.string()
            )
        }
    )
    cur = store.cursor()
    fields = [n for n in records.columns if n in FIELDS]
    cols = ", ".join(f'c."{n}"' for n in fields)
    cur.register("_import_keys", keys)
    try:
        existing = cur.execute(
            f"SELECT c.name_key, c.id, {cols} FROM customers c WHERE c.name_key IN "
            "(SELECT _key FROM _import_keys)"
        ).fetchall()
    finally:
        cur.unregister("_import_keys")
    if not existing:
        return
    by_key = {r[0]: r for r in existing}
    column = _column_of(plan, KEY_FIELD)
    for i, k in records["_key"].items():
        if k not in by_key or bad[i]:
            continue
        cid = by_key[k][1]
        current = dict(zip(fields, by_key[k][2:], strict=True))
        if plan.on_duplicate == "error":
            bad[i] = True
            problems.append(Problem(KEY_FIELD, records.at[i, KEY_FIELD],
                                    f"Customer Name already exists (id {cid}); choose skip or update",
                                    int(records.at[i, "_row"]), column))  # fmt: skip
            continue
        records.at[i, "_id"] = cid
        if plan.on_duplicate == "skip":
            records.at[i, "_status"] = "skipped"
            continue
        changed = False
        for n in fields:
            v = records.at[i, n]
            if v is None or (isinstance(v, float) and pd.isna(v)):
                continue
            if FIELDS[n].immutable and v != current[n]:
                bad[i] = True
                problems.append(Problem(n, v, f"{FIELDS[n].label} cannot be changed once the customer exists "
                                        f"(it is {current[n]})", int(records.at[i, "_row"]), _column_of(plan, n)))  # fmt: skip
            elif _norm(v) != _norm(current[n]):
                changed = True
        records.at[i, "_status"] = "updated" if changed else "unchanged"


def _refuse_new(plan: Plan, records: pd.DataFrame, problems, bad) -> None:
    """Mark the new rows holding a value a new customer may not take though it parses (a
    currency nobody is billed in: XAU, XXX, CHE), by the field type's own rule, the one Add
    customer and the API apply; rows matching an existing customer are left to
    `_match_existing` (what is already stored stays readable)."""
    new = (records["_status"] == "new") & ~bad
    for f in with_new_rule():
        if f.name not in records or not new.any():
            continue
        values = records.loc[new, f.name]
        whys = {}
        for value in pd.unique(values.map(_hashable)):
            why = None if is_blank(value) else f.type.new_problem(value)
            if why:
                whys[value] = why
        if not whys:
            continue
        column = _column_of(plan, f.name)
        for i, value in values.items():
            why = whys.get(_hashable(value)) if not is_blank(value) else None
            if why:
                bad[i] = True
                problems.append(Problem(f.name, _shown(value), f"{f.label} {why}",
                                        int(records.at[i, "_row"]), column))  # fmt: skip


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple | list) else v


# --- committing ----------------------------------------------------------------------


def _arrow_type(sql: str) -> pa.DataType:
    sql = sql.upper()
    if sql.startswith("DECIMAL"):
        p, s = (int(x) for x in sql[sql.index("(") + 1 : -1].split(","))
        return pa.decimal128(p, s)
    return {
        "VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(),
        "VARCHAR[]": pa.list_(pa.string()), "TIMESTAMP": pa.timestamp("us"),
    }[sql]  # fmt: skip


def _arrow(frame: pd.DataFrame, columns: list[str], registry) -> pa.Table:
    arrays = {}
    for name in columns:
        f = registry[name]
        values = [None if (v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA) else v
                  for v in frame[name].tolist()]  # fmt: skip
        arrays[name] = pa.array(values, type=_arrow_type(f.sql_type))
    return pa.table(arrays)


def commit(
    store: Store,
    preview: Preview,
    *,
    valid_only: bool = False,
    user: str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> audit.Batch:
    """Write the prepared rows in one transaction; refuses while problems remain (unless
    `valid_only`, which writes the valid rows and leaves the invalid ones out)."""
    require(store, "import")
    user = user or store.user
    say = progress or (lambda *_: None)
    if preview.problems and not valid_only:
        raise ValidationError(preview.problems)
    rec = preview.records
    new = rec[rec["_status"] == "new"].copy()
    upd = rec[rec["_status"] == "updated"].copy()
    if new.empty and upd.empty:
        return audit.Batch("", "import", 0, details={"counts": preview.counts})
    now = utcnow()
    defaults = {f.name: f.stored_default for f in importable() if f.default is not None}
    fields_new = [f.name for f in importable()]
    for name in fields_new:
        if name not in new:
            new[name] = (
                [defaults.get(name)] * len(new) if name == TAGS_FIELD else defaults.get(name)
            )
        elif name in defaults:
            d = defaults[name]
            new[name] = [
                d if (v is None or (isinstance(v, float) and pd.isna(v))) else v for v in new[name]
            ]
    say(0.1, "checked")
    description = f"import {preview.table.sheet or 'csv'}: {len(new)} new, {len(upd)} updated"
    with store.transaction() as cur:
        batch_id, at = audit.open_batch(cur, "import", user, description)
        if not new.empty:
            table = _arrow(new, fields_new, FIELDS)
            table = table.append_column("name_key", pa.array(new["_key"].tolist(), pa.string()))
            table = table.append_column("_row", pa.array(new["_row"].tolist(), pa.int64()))
            cur.register("_import_new", table)
            cols = ", ".join(f'"{n}"' for n in fields_new)
            cur.execute(
                f'INSERT INTO customers ({cols}, name_key, "{CREATED_FIELD}", "{UPDATED_FIELD}") '
                f"SELECT {cols}, name_key, ?, ? FROM _import_new ORDER BY _row",
                [now, now],
            )
            say(0.45, "customers written")
            audit.record_adds(cur, batch_id, at, user,
                              "c.name_key IN (SELECT name_key FROM _import_new)")  # fmt: skip
            contact_cols = [c for c in preview.contact_columns]
            if contact_cols:
                cframe = new[[CONTACT_PREFIX + c for c in contact_cols]].copy()
                cframe.columns = contact_cols
                has_any = cframe.notna().any(axis=1)
                cframe = cframe[has_any]
                ctable = _arrow(cframe, contact_cols, CONTACTS).append_column(
                    "name_key", pa.array(new.loc[has_any, "_key"].tolist(), pa.string()))  # fmt: skip
                cur.register("_import_contacts", ctable)
                ccols = ", ".join(f'k."{c}"' for c in contact_cols)
                cur.execute(
                    f"INSERT INTO contacts (customer_id, position, {', '.join(contact_cols)}, "
                    f"{', '.join(OPT_OUT_FIELDS.values())}) "
                    f"SELECT c.id, 0, {ccols}, {', '.join('false' for _ in OPT_OUT_FIELDS)} "
                    "FROM _import_contacts k "
                    "JOIN customers c USING (name_key)"
                )
                cur.unregister("_import_contacts")
            cur.unregister("_import_new")
            say(0.7, "contacts written")
        if not upd.empty:
            fields_upd = [
                n for n in upd.columns if n in FIELDS and not FIELDS[n].immutable and n != KEY_FIELD
            ]
            table = _arrow(upd, fields_upd, FIELDS).append_column(
                "id", pa.array(upd["_id"].astype("int64").tolist(), pa.int64())
            )
            cur.register("_import_upd", table)
            audit.record_updates(
                cur, batch_id, at, user,
                {n: f'coalesce(u."{n}", c."{n}")' for n in fields_upd},
                "customers c JOIN _import_upd u USING (id)",
            )  # fmt: skip
            sets = ", ".join(f'"{n}" = coalesce(u."{n}", c."{n}")' for n in fields_upd)
            cur.execute(
                f'UPDATE customers AS c SET {sets}, "{UPDATED_FIELD}" = ?, '
                "row_version = c.row_version + 1 "
                "FROM _import_upd u WHERE c.id = u.id",
                [at],
            )
            cur.unregister("_import_upd")
            say(0.9, "updates written")
        search.refresh_batch(cur, batch_id)
        count = audit.close_batch(cur, batch_id)
    if len(new) + len(upd) >= SETTLE_ROWS:  # a bulk write: the planner's statistics now
        store.settle(["customers", "contacts", "audit_log", "batches", *search.TABLES])
    say(1.0, "done")
    return audit.Batch(batch_id, "import", count, details={"counts": preview.counts})


def rejected_workbook(preview: Preview, out: str | Path) -> int:
    """Write the rows that were not imported, with their problems beside them (XLSX)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from .exports import neutralise

    by_row: dict[int, list[str]] = {}
    for p in preview.problems:
        if p.row is not None:
            by_row.setdefault(int(p.row), []).append(p.describe())
    wb = Workbook()
    ws = wb.active
    ws.title = "Rejected rows"
    ws.append(["Row", *preview.table.headers, "Problems"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    n = 0
    frame = preview.table.frame
    for i in range(len(frame)):
        row_no = preview.table.row_number(i)
        if row_no not in by_row:
            continue
        values = [neutralise(v) if isinstance(v, str) else v for v in frame.iloc[i].tolist()]
        ws.append([row_no, *values, "; ".join(by_row[row_no])])
        n += 1
    wb.save(out)
    return n


def import_file(
    store: Store,
    path: str | Path,
    *,
    mapping: dict[str, str | None] | None = None,
    set_values: dict[str, Any] | None = None,
    on_duplicate: str = "error",
    valid_only: bool = False,
    dry_run: bool = False,
    user: str | None = None,
    decimal: str | None = None,
    **read_options: Any,
) -> tuple[Preview, audit.Batch | None]:
    """Bulk Upload in one call (what the page's wizard and `customer-dashboard import` do).

    Columns are mapped by header (names, labels, aliases) with `mapping` overriding
    ({"Header": "field"}, None to ignore). `decimal` ("," or ".") says how every number
    column writes decimals; by default each column's values tell. Returns the preview (counts, problems) and the
    batch written, or None for a dry run or when problems remain (nothing is written then,
    unless `valid_only`).
    """
    table = read_table(path, **read_options)
    plan_mapping = guess_mapping(table.headers)
    plan_mapping.update(mapping or {})
    plan = Plan(plan_mapping, dict(set_values or {}), on_duplicate, decimal)
    preview = prepare(store, table, plan)
    if dry_run or (preview.problems and not valid_only):
        return preview, None
    return preview, commit(store, preview, valid_only=valid_only, user=user)


def counts_text(counts: dict[str, int]) -> str:
    """ "3 rows: 1 new, 0 updated, ... · 2 problems · 1 blank row skipped"."""
    text = (f"{plural(counts['rows'], 'row')}: {counts['new']:,} new, {counts['updated']:,} updated, "
            f"{counts['unchanged']:,} unchanged, {counts['skipped']:,} skipped, "
            f"{counts['invalid']:,} invalid · {plural(counts['problems'], 'problem')}")  # fmt: skip
    blank = counts.get("blank_rows", 0)
    if blank:
        text += f" · {blank:,} blank row{'s' if blank != 1 else ''} skipped"
    return text
