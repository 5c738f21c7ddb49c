"""Pivot and group reports as people want to receive them: an XLSX sheet with a title, the
filters used, bold headers with the page's column titles, number formats by field, frozen
header and label columns, and a bold totals row; or the same table as CSV.

The numbers come from the query engine (DuckDB); this module only lays them out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from . import query
from .errors import UserError
from .exports import neutralise, write_frame
from .fields import COLUMNS, SOURCES
from .query import Result, View
from .store import Store
from .types import (  # noqa: F401  (the formats are the types'; re-exported)
    COUNT_FORMAT,
    DECIMAL_FORMAT,
    MONEY_FORMAT,
    PERCENT_FORMAT,
    timestamp_text,
)
from .words import plural

HEADER_FILL = PatternFill("solid", fgColor="DDE7F3")


def title_of(view: View, result: Result | None = None) -> str:
    """ "Sum of Revenue by Country and Month" for a report's first line; with the view's
    `result`, money says its currency: "Sum of Revenue (EUR) by Country and Month"."""
    units = result.units if result is not None else None
    specs = view.values
    if result is not None and result.mode == "groups" and view.hidden:
        # a value whose column the view hides is not in the report: nor in its title
        specs = [v for v in specs if query.value_column(*v) in result.data.columns]
    values = [query.value_label(f, a, units) for f, a in specs] or ["Customers"]
    by = [COLUMNS[g].label for g in view.groups]
    if view.pivot:
        by.append(COLUMNS[view.pivot].label)
    text = ", ".join(values)
    if by:
        text += " by " + " and ".join(by)
    if view.percent:
        text += f" ({query.PERCENTAGES[view.percent]})"
    return text


def number_formats(result: Result, view: View) -> list[str | None]:
    """The Excel number format of each column of `result.data` (None: a label column), by
    the value each column holds (a hidden column is not in the result: no place counts)."""
    groups = len(view.groups)
    by_column = {query.value_column(f, a): (f, a) for f, a in [("*", "count"), *view.values]}
    formats: list[str | None] = [None] * groups
    for col in result.data.columns[groups:]:
        fname, agg = result.value_of.get(col) or by_column.get(col, ("*", "count"))
        formats.append(_format_of(fname, agg, view))
    return formats


def _format_of(fname: str, agg: str, view: View) -> str:
    if view.percent:
        return PERCENT_FORMAT
    if fname == "*" or agg in ("count", "count_distinct"):
        return COUNT_FORMAT
    return COLUMNS[fname].type.excel_format(agg)


def pivot_report(store: Store, view: View, out: str | Path, *, title: str | None = None) -> int:
    """Write the whole group or pivot result of `view` to `out` (.xlsx or .csv).

    Returns the number of rows written, not counting the totals row.
    """
    out = Path(out)
    if view.mode == "rows":
        raise UserError("a report needs row groups or a pivot; use export for customer rows")
    ext = out.suffix.lower()
    if ext not in (".xlsx", ".csv"):
        raise UserError(f"a report is written to .xlsx or .csv, not {ext or 'no extension'}")
    result = query.run(store, view, paged=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".csv":
        write_frame(_labelled(result, view), out)
        return len(result.data)
    _write_xlsx(result, view, out, title or title_of(view, result))
    return len(result.data)


def _labelled(result: Result, view: View) -> pd.DataFrame:
    """The table as the page shows it: group values as text, totals row last."""
    table = result.table()
    for i, name in enumerate(view.groups):
        f = COLUMNS[name]
        col = table.columns[i]
        table[col] = [f.type.group_label(v) for v in table[col]]
    return table


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT


def _write_xlsx(result: Result, view: View, out: Path, title: str) -> None:
    table = _labelled(result, view)
    formats = number_formats(result, view)
    wb = Workbook()
    ws = wb.active
    ws.title = "Report"
    ws.append([neutralise(title)])
    ws["A1"].font = Font(bold=True, size=14)
    filters = view.describe()
    ws.append(["Filters: " + ("; ".join(neutralise(x) for x in filters) if filters else "none")])
    stamp = timestamp_text(dt.datetime.now(dt.UTC)) + " UTC"
    ws.append(
        [f"Source: {SOURCES[view.source]} · {plural(result.customers or 0, 'customer')} · {stamp}"]
    )
    ws.append([])
    ws.append([neutralise(str(c)) for c in table.columns])
    header_row = ws.max_row
    bold = Font(bold=True)
    for cell in ws[header_row]:
        cell.font = bold
        cell.fill = HEADER_FILL
    total_row = None
    for i, row in enumerate(table.itertuples(index=False)):
        is_total = result.totals is not None and i == len(table) - 1
        ws.append([_cell(v) for v in row])
        r = ws.max_row
        for j, fmt in enumerate(formats, start=1):
            if fmt:
                ws.cell(r, j).number_format = fmt
        if is_total:
            total_row = r
    if total_row:
        line = Border(top=Side(style="thin"), bottom=Side(style="double"))
        for cell in ws[total_row]:
            cell.font = bold
            cell.border = line
    # the header and the group labels stay in sight while scrolling
    ws.freeze_panes = ws.cell(header_row + 1, max(1, len(view.groups)) + 1)
    for j, name in enumerate(table.columns, start=1):
        longest = max([len(str(name))] + [len(_shown(v)) for v in table.iloc[:, j - 1]])
        ws.column_dimensions[get_column_letter(j)].width = min(max(10, longest + 2), 48)
    wb.save(out)


def _cell(value: Any) -> Any:
    from decimal import Decimal

    if _blank(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return value.item()
    return neutralise(value)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if _blank(value) else str(value)
