"""Exports of customers or of any view's whole result: CSV, XLSX, Parquet, JSON.

Row exports use canonical field names as headers so a file can be imported again; an
amount of money comes with the customer's currency beside it (`FieldType.export_columns`). Text
cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) are
neutralised with a leading apostrophe in CSV and XLSX (OWASP "CSV injection").
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from . import dialect, query
from .errors import UserError
from .fields import COLUMNS, CURRENCY_FIELD, ID_FIELD
from .query import View
from .store import Store

FORMATS = ("csv", "xlsx", "parquet", "json")
_FORMULA = re.compile(r"^[=+\-@\t\r]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: Excel's row limit, less the header.
XLSX_MAX_ROWS = 1_048_575


def neutralise(value: Any) -> Any:
    """A text cell made safe to open in a spreadsheet: no formula, no control characters
    (which XLSX cannot hold at all)."""
    if isinstance(value, str):
        value = _CONTROL.sub("", value)
        if _FORMULA.match(value):
            return "'" + value
    return value


def format_of(path: str | Path) -> str:
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise UserError(f"cannot export to .{ext or '?'}: use one of .csv, .xlsx, .parquet, .json")
    return ext


def export_columns(view: View) -> list[str]:
    """The columns a row export of `view` writes: the id, then the view's columns, each as
    its type exports it (an amount of money with the currency beside it, once)."""
    shown = view.columns or query.default_columns(view.source)
    out: list[str] = []
    for name in [ID_FIELD, *[c for c in shown if c != ID_FIELD]]:
        for col in COLUMNS[name].type.export_columns(name, CURRENCY_FIELD):
            if col not in out:
                out.append(col)
    return out


def _export_select(view: View) -> query.Query:
    """The rows query with text neutralised and tags flattened, for spreadsheet formats."""
    q = query.compile_rows(view, paged=False, key=True)
    cols = view.columns
    exprs = []
    for name in cols:
        f = COLUMNS[name]
        col = f'"{name}"'
        exprs.append(f"{f.type.export_sql(col)} AS {col}")
    return query.Query(f"SELECT {', '.join(exprs)} FROM ({q.sql}) AS v", q.params)


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_view(store: Store, view: View, out: str | Path) -> int:
    """Write every row, group or pivot row of `view` to `out`; returns rows written."""
    out = Path(out)
    fmt = format_of(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if view.mode != "rows":
        result = query.run(store, view, paged=False)
        table = result.table()
        return write_frame(table, out)
    view = view.copy(columns=export_columns(view))
    if fmt in ("csv", "xlsx"):
        q = _export_select(view)
    else:
        q = query.compile_rows(view, paged=False, key=True)
    if fmt == "xlsx":
        n = _rows(store, view)
        if n > XLSX_MAX_ROWS:
            raise UserError(f"{n} rows do not fit in an XLSX sheet; export to .csv or .parquet")
        return _write_xlsx(store.batches(q.sql, q.params), out)
    if store.dialect is not dialect.DUCKDB:
        # Postgres's COPY TO writes on the database's machine: the rows come here instead
        def empty() -> Any:  # the columns of no rows, from the query itself
            import pyarrow as pa

            frame = store.df(f"SELECT * FROM ({q.sql}) AS e LIMIT 0", q.params)
            return pa.Table.from_pandas(frame, preserve_index=False).schema

        return _write_batches(store.batches(q.sql, q.params), out, fmt, empty)
    options = {
        "csv": "FORMAT csv, HEADER true",
        "parquet": "FORMAT parquet",
        "json": "FORMAT json, ARRAY true",
    }[fmt]
    # COPY cannot bind its file name; the literal is quoted, and the query part is bound.
    store.execute(f"COPY ({q.sql}) TO {_literal(out.resolve())} ({options})", q.params)
    return _rows(store, view)


def _write_batches(batches: Any, out: Path, fmt: str, empty: Any) -> int:
    """Arrow record batches written to `out` as CSV (with a header), Parquet or a JSON
    array of records, one batch at a time; returns the rows. `empty()` gives the schema
    when there is no batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    if fmt in ("json", "csv"):
        with out.open("w", encoding="utf-8", newline="") as f:
            f.write("[" if fmt == "json" else "")
            for batch in itertools.chain(batches, [None]):
                if batch is None:
                    if n or f.tell() or fmt == "json":
                        break
                    batch = pa.RecordBatch.from_pylist([], schema=empty())  # the header
                frame = batch.to_pandas()
                if fmt == "csv":
                    for col in frame.columns:  # as DuckDB's COPY writes them
                        if frame[col].dtype == bool:
                            frame[col] = frame[col].map({True: "true", False: "false"})
                    frame.to_csv(f, index=False, header=n == 0 and not f.tell())
                elif batch.num_rows:
                    records = frame.to_json(orient="records", date_format="iso",
                                            default_handler=str)[1:-1]  # fmt: skip
                    f.write(("," if n else "") + records)
                n += batch.num_rows
            f.write("]" if fmt == "json" else "")
        return n
    writer: Any = None
    try:
        for batch in itertools.chain(batches, [None]):
            if batch is None:
                if writer is not None:
                    break
                batch = pa.RecordBatch.from_pylist([], schema=empty())
            if writer is None:
                writer = pq.ParquetWriter(out, batch.schema)
            writer.write_batch(batch)
            n += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return n


def _rows(store: Store, view: View) -> int:
    c = query.compile_count(view)
    return int(store.scalar(c.sql, c.params))


def _write_xlsx(reader: Any, out: Path) -> int:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Customers")
    ws.freeze_panes = "A2"  # write-only sheets take it only before the first row
    bold = Font(bold=True)
    header_done = False
    n = 0
    for batch in reader:
        if not header_done:
            from openpyxl.cell import WriteOnlyCell

            cells = []
            for name in batch.schema.names:
                cell = WriteOnlyCell(ws, value=name)
                cell.font = bold
                cells.append(cell)
            ws.append(cells)
            header_done = True
        for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
            ws.append([_xlsx_value(v) for v in row])
            n += 1
    if not header_done:
        ws.append(["id"])
    wb.save(out)
    return n


def _xlsx_value(v: Any) -> Any:
    from decimal import Decimal

    if isinstance(v, Decimal):
        return float(v) if abs(v) < 10**15 else str(v)
    if isinstance(v, list | tuple):  # a list's text can start a formula too
        return neutralise(", ".join(map(str, v)))
    if isinstance(v, dict):
        return neutralise(str(v))
    return neutralise(v)


def write_frame(frame, out: str | Path) -> int:
    """Write a small DataFrame (a grouped or pivot result) in the format of `out`."""
    out = Path(out)
    fmt = format_of(out)
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or str(safe[col].dtype).startswith("str"):
            safe[col] = safe[col].map(neutralise)
    safe.columns = [str(neutralise(str(c))) for c in safe.columns]
    if fmt == "csv":
        safe.to_csv(out, index=False)
    elif fmt == "xlsx":
        safe.to_excel(out, index=False, engine="openpyxl")
    elif fmt == "parquet":
        frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(out)
    else:
        safe.to_json(out, orient="records", default_handler=str)
    return len(frame)
