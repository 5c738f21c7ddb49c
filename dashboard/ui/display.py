"""Turning an engine `Result` into what the Tabulator shows: safe column keys, titles,
formatters. No SQL here; only presentation of a page that is already small.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..fields import COLUMNS, ID_FIELD, KEY_FIELD
from ..query import UNIT_COLUMN, Result, View, pivot_total_keys
from ..types import INTEGER, MONEY, NUMBER, PERCENT, YES_NO, Money, grouped  # noqa: F401  (re-exported)
from ..words import plural as plural  # the dialogs' older import path


@dataclass
class Display:
    """A page ready for Tabulator.

    `frame` has safe column keys (Tabulator reads dots in names as paths); `titles` maps
    keys to what people read; `keys` maps keys back to the result's own column names.
    """

    frame: pd.DataFrame
    titles: dict[str, str] = field(default_factory=dict)
    formatters: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    frozen: dict[str, str] = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=dict)
    #: A pivot's value columns by key and the view's sort key each sorts by (its row total's
    #: value, or its own cells: `Result.sorts_by`)
    sorts: dict[str, str] = field(default_factory=dict)

    @property
    def align(self) -> dict[str, str]:
        """Numbers right-aligned, as in any spreadsheet."""
        return {k: "right" for k, fm in self.formatters.items() if is_number(fm)}


#: An amount shown with its currency ("1,234.50 JPY", made here): plain text, right-aligned
#: (the extra key only marks it; Tabulator's plaintext formatter ignores it).
MONEY_TEXT = {"type": "plaintext", "unit": "currency"}


def is_number(formatter: dict[str, Any] | None) -> bool:
    """Whether a column with this formatter holds numbers (right-aligned, never cut)."""
    return bool(formatter) and (formatter.get("type") == "money" or formatter == MONEY_TEXT)


async def run_with_progress(work: Callable[[Callable[[float], None]], Any], bar: Any) -> Any:
    """Run `work(report)` on a worker thread while the page stays usable; `report(fraction)`
    moves the progress bar. Returns work's result, or raises what it raised, the bar hidden
    then: a run that stopped leaves no empty bar beside the message saying why."""
    state = {"fraction": 0.0}
    bar.param.update(visible=True, value=0)
    task = asyncio.get_running_loop().run_in_executor(
        None, lambda: work(lambda fraction: state.update(fraction=fraction))
    )
    try:
        while not task.done():
            bar.value = int(100 * state["fraction"])
            await asyncio.sleep(0.1)
        result = task.result()
    except BaseException:
        bar.visible = False
        raise
    bar.value = 100
    return result


def _formatter(name: str) -> dict[str, Any] | None:
    f = COLUMNS.get(name)
    return None if f is None else f.formatter


def rows_display(result: Result) -> Display:
    """A page of rows; amounts of money say their currency when the rows carry it
    (`run(..., with_unit=True)`): customers in several currencies are never read as one."""
    frame = result.data.copy()
    units = frame.pop(UNIT_COLUMN).tolist() if UNIT_COLUMN in frame.columns else None
    for col in frame.columns:
        f = COLUMNS.get(col)
        if frame[col].dtype.kind == "f":
            # a missing number (a customer without usage) shows blank, not NaN
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
        if f is not None and f.formatter is None:
            # text columns: tags joined, times to the minute, months as 2026-11
            frame[col] = frame[col].map(f.type.display)
    titles = {c: COLUMNS[c].label for c in frame.columns if c in COLUMNS}
    formatters = {c: fm for c in frame.columns if (fm := _formatter(c))}
    for col in frame.columns:
        if units is not None and col in COLUMNS and COLUMNS[col].type.in_currency:
            shown = [Money.amount_text(v, u) for v, u in zip(frame[col], units, strict=True)]
            frame[col] = pd.Series(shown, index=frame.index, dtype=object)  # None stays None
            formatters[col] = MONEY_TEXT
    frozen = {c: "left" for c in (ID_FIELD, KEY_FIELD) if c in frame.columns}
    keys = {c: c for c in frame.columns}
    sorts = {k: result.sorts_by[name] for k, name in keys.items() if name in result.sorts_by}
    return Display(frame, titles, formatters, keys, frozen, widths(frame, titles, formatters),
                   sorts)  # fmt: skip


def aggregate_display(result: Result, view: View) -> Display:
    """Groups or pivot: the page with its Total row, keys c0..cn, titles as shown."""
    table = result.table() if result.totals is not None else result.data
    if result.mode == "pivot":
        names = list(result.data.columns)
    else:
        names = list(result.data.columns)
    keys = {f"c{i}": name for i, name in enumerate(names)}
    frame = table.copy()
    frame.columns = list(keys)
    titles = {}
    formatters = {}
    for key, name in keys.items():
        titles[key] = result.labels.get(name, COLUMNS[name].label if name in COLUMNS else str(name))
        if name in view.groups:
            f = COLUMNS[name]
            frame[key] = frame[key].map(f.type.group_label)
        else:
            formatters[key] = _value_formatter(name, view, result.value_of.get(name))
            # empty cells (no customer in that row and column) show blank, not NaN
            frame[key] = frame[key].astype(object).where(frame[key].notna(), None)
    frozen = {k: "left" for k in list(keys)[: len(view.groups)]}
    totals = {k for k, name in keys.items() if str(name).startswith("Total")}
    cells = [k for k, name in keys.items() if name in result.value_of and k not in totals]
    if result.mode == "pivot" and len(cells) > len(totals):
        # the row totals stay in sight however many pivot columns there are; one pivot
        # column is beside its total anyway, and a frozen total covered it on a phone
        frozen.update({k: "right" for k in totals})
    sorts = {k: result.sorts_by[name] for k, name in keys.items() if name in result.sorts_by}
    return Display(frame, titles, formatters, keys, frozen, widths(frame, titles, formatters),
                   sorts)  # fmt: skip


def _value_formatter(name: str, view: View, value: tuple[str, str] | None = None) -> dict[str, Any]:
    """Counts as integers; other aggregates by the field's kind; shares as percentages.
    `value`: the (field, aggregate) a pivot's column holds (its name is a label)."""
    if view.percent:
        return PERCENT
    if value is not None:
        fname, agg = value
        if agg in ("count", "count_distinct") or fname not in COLUMNS:
            return INTEGER
        return COLUMNS[fname].type.value_formatter(agg, rate=COLUMNS[fname].rate)
    if name == "count" or name.startswith("count"):
        return INTEGER
    for fname, agg in view.values:
        if name.endswith(f"{agg}_{fname}") or (view.pivot and len(view.values) == 1):
            if agg in ("count", "count_distinct"):
                return INTEGER
            f = COLUMNS[fname]
            return f.type.value_formatter(agg, rate=f.rate)
    return INTEGER


def sort_keys(display: Display, view: View, sorters: list[dict]) -> list[list[str]]:
    """The view's sort keys (most significant first) for the grid's header sorters:
    customer fields, group fields and value columns ("sum_credit"); in a pivot also the row
    totals and each pivot column's cells ("sum_credit@GB"). Panel holds Tabulator's sorters
    least significant first (a shift-click puts the new key in front), so they are read
    from the end."""
    totals = pivot_total_keys(view) if view.mode == "pivot" else {}
    sort = []
    for s in reversed(sorters or []):
        key = s.get("field")
        name = display.keys.get(key)
        if name is None or s.get("dir") not in ("asc", "desc"):
            continue
        if view.mode == "pivot":
            if key in display.sorts:
                name = display.sorts[key]
            elif name in totals:
                name = totals[name]
            elif name not in view.groups:
                continue
        sort.append([name, s["dir"]])
    return sort


def column_name(display: Display, view: View, key: str) -> str | None:
    """The name the view gives the grid's column `key`: its sort key where it has one
    (a pivot column's cells, "sum_credit@GB"; a row total), else its result column."""
    sort = sort_keys(display, view, [{"field": key, "dir": "asc"}])
    return sort[0][0] if sort else display.keys.get(key)


def sorters_for(display: Display, view: View) -> list[dict[str, str]]:
    """The view's sort as Tabulator's sorters: the arrows in the headers (the inverse of
    `sort_keys`)."""
    totals = {k: t for t, k in pivot_total_keys(view).items()} if view.mode == "pivot" else {}
    back = {name: key for key, name in display.keys.items()}
    sorted_by = {name: key for key, name in display.sorts.items()}
    out = []
    for name, direction in reversed(view.sort):
        column = totals.get(name, name)
        if name in sorted_by:
            out.append({"field": sorted_by[name], "dir": direction})
        elif column in back:
            out.append({"field": back[column], "dir": direction})
    return out


def group_filters(view: View, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Filters that select the customers of one group row (for opening a group)."""
    out = []
    for name in view.groups:
        value = row.get(name)
        if value is None or (isinstance(value, float) and pd.isna(value)):
            out.append({"field": name, "op": "empty"})
        else:
            out.append({"field": name, "op": "=", "value": COLUMNS[name].type.to_text(value)})
    return out


#: Pixels a character of the grid's font takes at most (Roboto 14 px: digits ~7.8 px), and
#: what a cell and a header add around their text (padding, borders, the sort arrow).
CHAR_PX, CELL_PAD_PX, HEADER_PAD_PX = 8.4, 28, 46
#: Text columns wider than this are cut with an ellipsis and show their whole value on hover;
#: numbers, ids and dates never are.
MAX_TEXT_PX = 340


def shown_text(value: Any, formatter: dict[str, Any] | None) -> str:
    """The text Tabulator shows for `value` with `formatter` (for sizing columns)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if formatter and formatter.get("type") == "money":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        text = grouped(number, formatter.get("precision", 2))
        return text + formatter.get("symbol", "") if formatter.get("symbolAfter") else text
    if formatter and formatter.get("type") == "tickCross":
        return "xx"
    return str(value)


def widths(
    frame: pd.DataFrame, titles: dict[str, str], formatters: dict[str, Any]
) -> dict[str, int]:
    """A width in pixels for every column, from its title and the page's values as shown:
    Tabulator measures widths once, when it first draws, so a later page (or a pivot with
    longer numbers) would be cut ("7...", "33,..."); widths computed here for every page
    never cut a number."""
    out = {}
    for col in frame.columns:
        fm = formatters.get(col)
        longest = max((len(shown_text(v, fm)) for v in frame[col].tolist()), default=0)
        title = len(str(titles.get(col, col)))
        px = max(longest * CHAR_PX + CELL_PAD_PX, title * CHAR_PX + HEADER_PAD_PX)
        textual = fm is None  # ids carry a plaintext formatter: never cut
        if textual and px > MAX_TEXT_PX:
            px = max(MAX_TEXT_PX, title * CHAR_PX + HEADER_PAD_PX)
        out[col] = int(math.ceil(px))
    return out
