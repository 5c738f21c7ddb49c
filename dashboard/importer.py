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

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from . import audit
from .access import require
from .bulk import parse_change
from .errors import Problem, UserError, ValidationError
from .fields import (
    CONTACT_FIELDS,
    CONTACT_PREFIX,
    CONTACTS,
    COUNTRY_FIELD,
    FIELDS,
    KEY_FIELD,
    TAGS_FIELD,
    importable,
    match_header,
)  # fmt: skip
from .store import Store, utcnow
from .types import is_blank

#: Largest upload accepted, in bytes (the server enforces it, not only the browser).
MAX_BYTES = 50 * 2**20
#: Largest total uncompressed size of a spreadsheet archive, and the largest ratio.
MAX_UNZIPPED = 500 * 2**20
MAX_RATIO = 100
ON_DUPLICATE = ("error", "skip", "update")
SPREADSHEET_TYPES = ("xlsx", "xlsm", "xls", "ods", "csv")


# --- reading -------------------------------------------------------------------------


@dataclass
class Table:
    """A sheet's rows under its header, as read (every cell as the file holds it)."""

    frame: pd.DataFrame
    headers: list[str]
    header_row: int  # 1-based row of the header in the sheet
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    kind: str = "csv"
    encoding: str | None = None
    delimiter: str | None = None

    def row_number(self, i: int) -> int:
        """The sheet row number of data row `i` (0-based), as a person sees it."""
        return self.header_row + 1 + i


def sniff_kind(data: bytes) -> str:
    """What a file is, by its content (never by its name)."""
    if data[:4] == b"PK\x03\x04":
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
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


def check_archive(data: bytes) -> None:
    """Refuse zip bombs before any parser sees the archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        total = 0
        for info in z.infolist():
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > MAX_RATIO and info.file_size > 2**20:
                raise UserError(
                    f"the spreadsheet looks like a zip bomb ({info.filename} expands "
                    f"{ratio:,.0f} times); it was not opened"
                )
        for info in z.infolist():
            if info.filename.endswith((".xml", ".rels", ".vml")):
                with z.open(info) as member:
                    head = member.read(4096).upper()
                # DTDs are how XML entity attacks (billion laughs, external entities) start;
                # no spreadsheet program writes one
                if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    raise UserError(
                        f"the spreadsheet declares XML entities in {info.filename} (a known "
                        "attack on XML readers); it was not opened"
                    )
        if total > MAX_UNZIPPED:
            raise UserError(
                f"the spreadsheet expands to {total / 2**20:,.0f} MB, over the "
                f"{MAX_UNZIPPED / 2**20:,.0f} MB limit; it was not opened"
            )


def read_table(
    source: str | Path | bytes,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Table:
    """Read one sheet (or a CSV) safely; the header row is found when not given."""
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(data) == 0:
        raise UserError("the file is empty")
    if len(data) > max_bytes:
        raise UserError(
            f"the file is {len(data) / 2**20:,.1f} MB, over the {max_bytes / 2**20:,.0f} MB limit"
        )
    kind = sniff_kind(data)
    if kind == "csv":
        return _read_csv(data, header_row, encoding, delimiter)
    if kind in ("xlsx", "ods"):
        check_archive(data)
    return _read_workbook(data, kind, sheet, header_row)


def _read_workbook(data: bytes, kind: str, sheet: str | None, header_row: int | None) -> Table:
    import python_calamine as pc

    try:
        book = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except pc.PasswordError:
        raise UserError(
            "the spreadsheet is encrypted with a password; save it without one"
        ) from None
    except Exception as exc:  # calamine's errors name the format problem
        raise UserError(f"the spreadsheet could not be read: {exc}") from None
    names = list(book.sheet_names)
    if not names:
        raise UserError("the spreadsheet has no sheets")
    name = sheet or names[0]
    if name not in names:
        raise UserError(f"there is no sheet {name!r}; sheets: {', '.join(names)}")
    rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    table = _table_from_rows(rows, header_row)
    table.sheet, table.sheets, table.kind = name, names, kind
    return table


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise UserError(f"the file is not in {encoding}: {exc}") from None
    for enc in (
        ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",)
    ):
        try:
            return data.decode(enc), "utf-8" if enc == "utf-8-sig" else enc
        except UnicodeDecodeError:
            pass
    # Legacy Windows exports: cp1252 decodes every byte that matters in Western files.
    return data.decode("cp1252", errors="replace"), "cp1252"


def _read_csv(
    data: bytes, header_row: int | None, encoding: str | None, delimiter: str | None
) -> Table:
    text, used = _decode(data, encoding)
    if not delimiter:
        sample = "\n".join(text.splitlines()[:50])
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [row for row in reader]
    table = _table_from_rows(rows, header_row)
    table.kind, table.encoding, table.delimiter = "csv", used, delimiter
    return table


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


def _table_from_rows(rows: list[list[Any]], header_row: int | None) -> Table:
    rows = [list(r) for r in rows]
    if not any(any(not is_blank(c) for c in r) for r in rows):
        raise UserError("the sheet is empty")
    hr = header_row or find_header_row(rows)
    if hr < 1 or hr > len(rows):
        raise UserError(f"header row {hr} is outside the sheet (1 to {len(rows)})")
    raw_headers = rows[hr - 1]
    width = max(len(r) for r in rows[hr - 1 :])
    headers, seen = [], {}
    for i in range(width):
        h = (
            str(raw_headers[i]).strip()
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
    body = [r + [None] * (width - len(r)) for r in rows[hr:]]
    while body and all(is_blank(c) for c in body[-1]):
        body.pop()
    if not any(not is_blank(h) for h in raw_headers):
        raise UserError("no header row found")
    frame = pd.DataFrame(body, columns=headers, dtype=object)
    return Table(frame, headers, hr)


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


@dataclass
class Preview:
    """What an import would do; nothing has been written."""

    table: Table
    plan: Plan
    records: pd.DataFrame  # one row per data row: parsed values, "_row", "_status", "_id"
    problems: list[Problem]
    counts: dict[str, int]
    contact_columns: list[str]

    def first_rows(self, n: int = 20) -> pd.DataFrame:
        """The first rows as they will be stored."""
        shown = self.records.head(n).copy()
        return shown.drop(
            columns=[c for c in shown.columns if c.startswith("_") and c not in ("_row", "_status")]
        )

    def report(self) -> dict[str, Any]:
        """Counts and every problem, JSON-friendly (the CLI's --json)."""
        return {"counts": self.counts, "problems": [p.to_dict() for p in self.problems]}


def _check_plan(table: Table, plan: Plan) -> list[Problem]:
    problems = []
    if plan.on_duplicate not in ON_DUPLICATE:
        problems.append(
            Problem("", plan.on_duplicate, f"on duplicate must be one of {', '.join(ON_DUPLICATE)}")
        )
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


# --- preparing -----------------------------------------------------------------------


def prepare(store: Store, table: Table, plan: Plan) -> Preview:
    """Parse and check every row against the registry and the database; write nothing."""
    problems = _check_plan(table, plan)
    if problems:
        raise ValidationError(problems)
    frame = table.frame
    n = len(frame)
    rows = pd.Series([table.row_number(i) for i in range(n)])
    records = pd.DataFrame({"_row": rows})
    bad = pd.Series(False, index=range(n))
    contact_columns: list[str] = []
    set_fields, tag_adds = _set_values(plan)

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
            parsed, errors = _parse_column(frame[header], f, regions)
            records[key] = parsed
            if is_contact:
                contact_columns.append(f.name)
            for i in errors.index:
                bad[i] = True
                problems.append(
                    Problem(
                        key, frame[header].iat[i], f"{f.label} {errors[i]}", int(rows[i]), header
                    )
                )

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
        problems.append(Problem(KEY_FIELD, records[KEY_FIELD].iat[i],
                                f"Customer Name appears twice in the file (also row {first_row[k]})",
                                int(rows[i]), _column_of(plan, KEY_FIELD)))  # fmt: skip
    records["_status"] = "new"
    records["_id"] = pd.NA
    _match_existing(store, plan, records, problems, bad)
    records.loc[bad, "_status"] = "invalid"
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    counts = {
        s: int((records["_status"] == s).sum())
        for s in ("new", "updated", "unchanged", "skipped", "invalid")
    }
    counts["rows"] = n
    counts["problems"] = len(problems)
    return Preview(table, plan, records, problems, counts, contact_columns)


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
    values: pd.Series, f, regions: pd.Series | None = None
) -> tuple[pd.Series, pd.Series]:
    """Parse a column through its field, each distinct value (and country, for phone
    numbers read in the row's country) once."""
    if regions is None:
        keys = values.map(lambda v: (_hashable(v), None))
    else:
        keys = pd.Series(list(zip(values.map(_hashable), regions, strict=True)), index=values.index)
    cache: dict[Any, Any] = {}
    errors: dict[Any, str] = {}
    for key in pd.unique(keys):
        value, region = key
        if is_blank(value):
            cache[key] = None
            continue
        try:
            cache[key] = f.type.parse(value, region)
        except ValueError as exc:
            errors[key] = str(exc)
    parsed = keys.map(lambda k: cache.get(k))
    errs = keys[keys.map(lambda k: k in errors)].map(errors)
    return parsed.astype(object), errs


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _match_existing(store: Store, plan: Plan, records: pd.DataFrame, problems, bad) -> None:
    keys = pa.table(
        {
            "_key": pa.array(
                records["_key"].where(records["_key"].notna(), None).tolist(), pa.string()
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
    defaults = {f.name: (list(f.default) if f.kind == "tags" else f.default)
                for f in importable() if f.default is not None}  # fmt: skip
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
                f"INSERT INTO customers ({cols}, name_key, created_at, updated_at) "
                f"SELECT {cols}, name_key, ?, ? FROM _import_new ORDER BY _row",
                [now, now],
            )
            say(0.45, "customers written")
            cur.execute(
                "INSERT INTO audit_log (batch_id, happened_at, user_name, action, customer_id, before, after) "
                "SELECT ?, ?, ?, 'add', c.id, NULL, to_json(c) FROM customers c "
                "WHERE c.name_key IN (SELECT name_key FROM _import_new)",
                [batch_id, at, user],
            )
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
                    f"INSERT INTO contacts (customer_id, position, {', '.join(contact_cols)}, sms_opt_out, email_opt_out) "
                    f"SELECT c.id, 0, {ccols}, false, false FROM _import_contacts k "
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
            before = ", ".join(f"'{n}', c.\"{n}\"" for n in fields_upd)
            after = ", ".join(f'\'{n}\', coalesce(u."{n}", c."{n}")' for n in fields_upd)
            cur.execute(
                "INSERT INTO audit_log (batch_id, happened_at, user_name, action, customer_id, before, after) "
                f"SELECT ?, ?, ?, 'update', c.id, json_object({before}), json_object({after}) "
                "FROM customers c JOIN _import_upd u USING (id)",
                [batch_id, at, user],
            )
            sets = ", ".join(f'"{n}" = coalesce(u."{n}", c."{n}")' for n in fields_upd)
            cur.execute(
                f"UPDATE customers AS c SET {sets}, updated_at = ?, row_version = c.row_version + 1 "
                "FROM _import_upd u WHERE c.id = u.id",
                [at],
            )
            cur.unregister("_import_upd")
            say(0.9, "updates written")
        count = audit.close_batch(cur, batch_id)
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
    **read_options: Any,
) -> tuple[Preview, audit.Batch | None]:
    """Bulk Upload in one call (what the page's wizard and `customer-dashboard import` do).

    Columns are mapped by header (names, labels, aliases) with `mapping` overriding
    ({"Header": "field"}, None to ignore). Returns the preview (counts, problems) and the
    batch written, or None for a dry run or when problems remain (nothing is written then,
    unless `valid_only`).
    """
    table = read_table(path, **read_options)
    plan_mapping = guess_mapping(table.headers)
    plan_mapping.update(mapping or {})
    preview = prepare(store, table, Plan(plan_mapping, dict(set_values or {}), on_duplicate))
    if dry_run or (preview.problems and not valid_only):
        return preview, None
    return preview, commit(store, preview, valid_only=valid_only, user=user)
