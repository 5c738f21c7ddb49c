"""What the Bulk Upload wizard shows, in the page's own words: column titles from the field
registry ("Customer Name", "Contact email"), values as the grid shows them (Yes/No,
1,500.00, "vip, wholesale"), counts, warnings and problems. Presentation only; no Panel."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import importer
from ..errors import Problem
from ..fields import CONTACT_PREFIX, CONTACTS, FIELDS
from ..types import FieldType, is_blank

#: CSV encodings offered: auto (detected), the Unicode ones, and every legacy encoding the
#: importer detects, named as people know them.
ENCODING_NAMES = {
    "utf-8": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252 (Western)",
    "cp1250": "Windows-1250 (Central European)", "cp1251": "Windows-1251 (Cyrillic)",
    "cp1253": "Windows-1253 (Greek)", "cp1254": "Windows-1254 (Turkish)",
    "cp1257": "Windows-1257 (Baltic)", "cp1255": "Windows-1255 (Hebrew)",
    "cp1256": "Windows-1256 (Arabic)", "cp932": "Shift-JIS (cp932, Japanese)",
    "cp949": "cp949 (Korean)", "gb18030": "GB18030 (Chinese)", "big5": "Big5 (Chinese)",
    "koi8_r": "KOI8-R (Russian)", "latin-1": "Latin-1 (ISO 8859-1)",
}  # fmt: skip
AUTO = "auto"


def encoding_options() -> dict[str, str]:
    """Label -> encoding for the CSV encoding choice (auto first)."""
    codes = ["utf-8", "utf-16", *importer.LEGACY_ENCODINGS, "latin-1"]
    return {"Auto (detect)": AUTO, **{ENCODING_NAMES.get(c, c): c for c in codes}}


def decimal_options() -> dict[str, str]:
    """Label -> decimal mark for the decimal mark choice (auto first)."""
    return {"Auto (from the values)": AUTO, "Point: 1,234.50": ".", "Comma: 1.234,50": ","}


def target_label(target: str | None) -> str:
    """What people call a mapping target or a problem's field: "Customer Name",
    "Contact email" (never "contact.email")."""
    if not target:
        return ""
    if target.startswith(CONTACT_PREFIX):
        f = CONTACTS.get(target[len(CONTACT_PREFIX) :])
        if f is None:
            return target
        base = f.label.removeprefix("Contact ").strip() or f.label
        return f"Contact {base[:1].lower()}{base[1:]}"
    f = FIELDS.get(target)
    return f.label if f is not None else target


def _field_of(target: str):
    if target.startswith(CONTACT_PREFIX):
        return CONTACTS.get(target[len(CONTACT_PREFIX) :])
    return FIELDS.get(target)


def shown_value(target: str, value: Any) -> str:
    """A parsed value as the page shows it: Yes/No, 1,500.00, "a, b", dates as typed."""
    if value is None or (not isinstance(value, list | tuple) and is_blank(value)):
        return ""
    f = _field_of(target)
    return (f.type if f is not None else FieldType()).display(value)


def file_value(target: str | None, raw: Any) -> str:
    """A cell of the file as the wizard shows it before the upload. Under a field, a value
    the file holds typed (a spreadsheet's number, date or flag) is shown as that field's
    type shows it: Channels' 20, which a spreadsheet gives as 20.0, is "20". Text, what the
    type cannot read and cells under no field are shown as the file holds them."""
    if raw is None or (not isinstance(raw, list | tuple) and is_blank(raw)):
        return ""
    f = _field_of(target) if target else None
    if f is not None and not isinstance(raw, str):
        try:
            return shown_value(target, f.type.parse(raw))
        except (ValueError, TypeError, ArithmeticError):
            pass  # the check step says what is wrong with it
    return str(raw)


def _numeric(target: str) -> bool:
    f = _field_of(target)
    return f is not None and f.type.numeric


STATUS_WORDS = {"new": "New", "updated": "Updated", "unchanged": "Unchanged",
                "skipped": "Skipped", "invalid": "Has problems"}  # fmt: skip


def rows_frame(preview: importer.Preview, n: int = 20) -> tuple[pd.DataFrame, dict, dict]:
    """The first `n` rows as they will be stored, in the page's labels and formats.

    Returns the frame (safe keys c0.. for Tabulator, which reads dots as paths), the titles
    and the alignment (numbers right, as in the grid)."""
    first = preview.first_rows(n)
    targets = [c for c in first.columns if not c.startswith("_")]
    data = {"c0": [str(r) for r in first["_row"].tolist()],
            "c1": [STATUS_WORDS.get(s, s) for s in first["_status"].tolist()]}  # fmt: skip
    titles = {"c0": "Row", "c1": "Result"}
    align = {"c0": "right"}
    for i, target in enumerate(targets, start=2):
        key = f"c{i}"
        data[key] = [shown_value(target, v) for v in first[target].tolist()]
        titles[key] = target_label(target)
        if _numeric(target):
            align[key] = "right"
    return pd.DataFrame(data, columns=list(titles)), titles, align


#: How much of a bad value the problems list shows: a long one (a 10,000-character cell)
#: pushed the Problem column out of the window.
VALUE_SHOWN = 60


def bad_value_text(value: object) -> str:
    """A bad value as the problems list shows it: its start, cut with "…" (the problem
    itself says how long it is)."""
    text = "" if value is None else str(value)
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 1].rstrip() + "…"


def problems_frame(problems: list[Problem], most: int = 1000) -> pd.DataFrame:
    """Every problem (the first `most`) as row, column, field, value and message."""
    return pd.DataFrame(
        [("" if p.row is None else str(p.row), p.column or "", target_label(p.field),
          bad_value_text(p.value), p.message) for p in problems[:most]],
        columns=["Row", "Column", "Field", "Value", "Problem"],
    )  # fmt: skip


def sample_frame(
    table: importer.Table, n: int = 8, mapping: dict[str, str | None] | None = None
) -> tuple[pd.DataFrame, dict]:
    """The table's first rows as the file holds them, under its own column titles; typed
    values under the field their column goes to (`mapping`, else the guessed one) as that
    field shows them (`file_value`)."""
    mapping = mapping or importer.guess_mapping(table.headers)
    head = table.frame.head(n)
    data = {"c0": [str(table.row_number(i)) for i in range(len(head))]}
    titles = {"c0": "Row"}
    for i, header in enumerate(table.headers, start=1):
        data[f"c{i}"] = [file_value(mapping.get(header), v) for v in head[header].tolist()]
        titles[f"c{i}"] = header
    return pd.DataFrame(data, columns=list(titles)), titles


def warnings_text(warnings: list[Problem]) -> str:
    """The importer's warnings, one a line, with the column they concern. The CLI's flag
    names mean nothing here: the wizard's own choice is named instead."""
    lines = []
    for w in warnings:
        message = w.message.replace("the decimal mark (--decimal)", "the Decimal mark")
        message = message.replace("give the file's encoding", "choose the file's CSV encoding")
        lines.append(
            f"Column {w.column}: {message}" if w.column else message[:1].upper() + message[1:]
        )
    return "\n".join(lines)


def plan_problem_text(p: Problem) -> str:
    """A problem of the plan (before any row is read) in the page's words."""
    if p.field in FIELDS and p.message.startswith(f"set {p.field}: "):
        rest = p.message[len(f"set {p.field}: ") :]
        return f"{FIELDS[p.field].label} (set for every row) {rest}"
    return p.message[:1].upper() + p.message[1:]
