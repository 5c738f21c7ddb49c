"""Row groups as a tree: one level at a time, computed in DuckDB.

A group view (`View(groups=[...])`) is shown as a tree: its first group field's groups,
each of which opens ("expands") to its groups by the next field and, at the last level, to
its customers. Every level is one query over the view's filters plus the open group's
values (bound parameters, column names from the registry), so a page never holds more than
what is on screen. A group is named by its path: the group values as text, outermost first
(None for a blank value), as `View.expand` keeps the open ones.

    >>> view = View(groups=["status", "country"], values=[["credit", "sum"]])
    >>> top(store, view).data                      # one row per status
    >>> children(store, view, ["Active"]).data     # Active's countries
    >>> children(store, view, ["Active", "GB"])    # Active customers in GB, one page
    >>> group_view(view, ["Active", "GB"])         # those customers, as a View (a target)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .errors import UserError
from .fields import COLUMNS, CURRENCY_FIELD, KEY_FIELD
from .query import (
    UNIT_COLUMN,
    Result,
    View,
    _shares,
    compile_rows,
    money_values,
    run,
    value_column,
)
from .store import Store

#: A group's name in the tree: its group values as text, outermost first (None: blank).
Path = list[str | None]


def path_of(view: View, parent: Path, row: dict[str, Any]) -> Path:
    """The path of a group `row` of the level under `parent` (a row of `children` or `top`):
    the parent's path and the row's value of the next group field, as text."""
    value = row.get(view.groups[len(parent)])
    blank = value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value))
    return [*parent, None if blank else COLUMNS[view.groups[len(parent)]].type.to_text(value)]


def path_filters(view: View, path: Path) -> list[dict[str, Any]]:
    """The filters that select the customers of the group at `path`."""
    if len(path) > len(view.groups):
        raise UserError(f"a group path has at most {len(view.groups)} values, not {path!r}")
    return [
        {"field": name, "op": "empty"} if value is None else {"field": name, "op": "=", "value": value}
        for name, value in zip(view.groups, path, strict=False)
    ]  # fmt: skip


def _values(view: View) -> set[str]:
    return {"count", *(value_column(f, a) for f, a in view.values)}


def level_view(view: View, path: Path, page: int = 1) -> View:
    """The groups one level under `path` (the top level for []): the next group field, the
    view's values, and the view's sort keys that apply to them."""
    field = view.groups[len(path)]
    allowed = {field, *_values(view)}
    return view.copy(
        groups=[field], pivot=None, percent=None, page=page, expand=[],
        filters=[*view.filters, *path_filters(view, path)],
        sort=[s for s in view.sort if s[0] in allowed],
    )  # fmt: skip


def group_view(view: View, path: Path, page: int = 1) -> View:
    """The customers (rows) of the group at `path`, as a rows view: the view's columns and
    filters, the group's values as filters, sorted by the view's sort keys that are fields.
    Bulk Edit, Send and Delete take it as their target (every customer it matches)."""
    fields = view.fields
    shown = [c for c in view.columns if c in fields]
    for fname, _agg in view.values:  # a customer's own value beside the groups' aggregates
        if fname in fields and fname not in shown and COLUMNS[fname].source == view.source:
            shown.append(fname)
    if KEY_FIELD in fields and KEY_FIELD not in shown:
        shown.insert(0, KEY_FIELD)
    return view.copy(
        groups=[], values=[], pivot=None, percent=None, page=page, expand=[], columns=shown,
        filters=[*view.filters, *path_filters(view, path)],
        sort=[s for s in view.sort if s[0] in fields and s[0] not in _values(view)],
    )  # fmt: skip


def top(store: Store, view: View, *, earlier: Result | None = None, paged: bool = True) -> Result:
    """The tree's top level: the view's page of groups by its first group field (all of
    them with `paged=False`), with the grand total (`.totals`) and the number of top-level
    groups (`.total`)."""
    if view.mode != "groups":
        raise UserError("a group tree needs groups=[...] and no pivot")
    top_view = level_view(view, [], view.page).copy(percent=view.percent)
    return run(store, top_view, earlier=earlier, paged=paged)


def children(
    store: Store,
    view: View,
    path: Path,
    page: int = 1,
    *,
    totals: pd.DataFrame | None = None,
    count: int | None = None,
    with_unit: bool = False,
) -> Result:
    """What the group at `path` opens to, one page (`view.page_size`): its groups by the next
    field, or at the last level its customers (with their id). `totals`: the grand-total
    row, for shares when the view shows percentages; `count`: the group's customers, as
    its row showed them (a customers' source), so a leaf costs one query, not two;
    `with_unit`: customers carry their currency beside their amounts (see `run`)."""
    path = list(path)
    if view.mode != "groups":
        raise UserError("a group tree needs groups=[...] and no pivot")
    if not 1 <= len(path) <= len(view.groups):
        raise UserError(f"a group path has 1 to {len(view.groups)} values, not {path!r}")
    if len(path) == len(view.groups):
        rows = group_view(view, path, page)
        if count is None or view.source != "customers" or view.search.strip():
            return run(store, rows, key=True, with_unit=with_unit)
        q = compile_rows(rows, key=True, with_unit=with_unit)
        data = q.run(store)
        labels = {name: COLUMNS[name].label for name in data.columns if name in COLUMNS}
        return Result(data, int(count), "rows", labels=labels, queries=[q], customers=int(count))
    result = run(store, level_view(view, path, page))
    if view.percent and totals is not None:
        cols = [c for c in result.data.columns if c in _values(view)]
        same = {c: c for c in cols}
        result.data, _ = _shares(result.data, totals, same, same, view)
    return result


@dataclass
class Outline:
    """The group tree with the view's open groups, as the rows a person reads top down.

    `top` is the top level's `Result` (its `.totals` the grand total); `nodes` the rows in
    order, each a dict: "kind" ("group", "customer", or "more": a child page not shown),
    "level" (0 at the top), "path" (a group's own path; a customer's or a "more" row's
    group), "row" (the group's or customer's values; none for "more"), "units" (the
    currency of each money column of the row: a group's aggregates, a customer's own
    amounts), and for "more" "shown", "total" and "what" ("groups" or "customers")."""

    top: Result
    nodes: list[dict[str, Any]] = field(default_factory=list)


def _path_text(path: Path) -> str:
    return " › ".join("(blank)" if v is None else v for v in path)


def outline(store: Store, view: View, *, paged: bool = True) -> Outline:
    """The tree as the page shows it with `view.expand` open: the top level (`top`; every
    top group with `paged=False`), and under each open group the first page of what it
    opens to (`children`: `view.page_size` groups, or customers at the last level). Naming
    a group opens its parents too. An open path that is no group on screen (a value no
    customer has, or not on its parent's first page) is a `UserError` naming it."""
    view.check()
    result = top(store, view, paged=paged)
    opened: list[Path] = []
    for path in view.expand:
        for depth in range(1, len(path) + 1):
            if list(path[:depth]) not in opened:
                opened.append(list(path[:depth]))
    kids: dict[tuple, Result] = {}
    levels: dict[tuple, list[dict[str, Any]]] = {(): result.data.to_dict("records")}
    # a value as typed may differ in case from the group's ("Yes" for yes): one that
    # matches a single group but for case names it
    named: dict[tuple, tuple] = {(): ()}
    for path in sorted(opened, key=len):
        parent = named[tuple(path[:-1])]
        rows = {tuple(path_of(view, list(parent), r)): r for r in levels[parent]}
        key = (*parent, path[-1])
        if key not in rows and path[-1] is not None:
            alike = [
                k for k in rows if k[-1] is not None and k[-1].casefold() == path[-1].casefold()
            ]
            key = alike[0] if len(alike) == 1 else key
        if key not in rows:
            under = f" under {_path_text(list(parent))}" if parent else ""
            field_label = COLUMNS[view.groups[len(parent)]].label
            shown = ", ".join(_path_text([k[-1]]) for k in list(rows)[:12])
            raise UserError(f"no group {_path_text(path)} to open: {field_label}{under} shows "
                            f"no {'(blank)' if path[-1] is None else repr(path[-1])} (it shows "
                            f"{shown or 'no groups'}{', ...' if len(rows) > 12 else ''})")  # fmt: skip
        named[tuple(path)] = key
        row = rows[key]
        count = None
        if not view.percent and row.get("count") is not None and not pd.isna(row["count"]):
            count = int(row["count"])
        kid = children(store, view, list(key), 1, totals=result.totals, count=count,
                       with_unit=True)  # fmt: skip
        kids[key] = kid
        levels[key] = kid.data.to_dict("records") if not is_leaf(view, list(key)) else []
    cash = [value_column(f, a) for f, a in money_values(list(view.values))]
    own_money = {f for f, _a in money_values(list(view.values))}  # a customer's own amounts
    at = view.groups.index(CURRENCY_FIELD) if CURRENCY_FIELD in view.groups else None
    nodes: list[dict[str, Any]] = []

    def add(parent: Path, rows: list[dict[str, Any]], units: dict[str, str]) -> None:
        for row in rows:
            path = path_of(view, parent, row)
            # a group at or under a Currency level is in that currency; above it converted
            own = path[at] if at is not None and len(path) > at else None
            nodes.append({"kind": "group", "level": len(parent), "path": path, "row": row,
                          "units": {c: own or units[c] for c in cash if c in units}})  # fmt: skip
            kid = kids.get(tuple(path))
            if kid is None:
                continue
            if is_leaf(view, path):
                for r in kid.data.to_dict("records"):
                    unit = r.pop(UNIT_COLUMN, None)
                    nodes.append({"kind": "customer", "level": len(path), "path": path,
                                  "row": r, "units": {f: unit for f in own_money if f in r}})  # fmt: skip
            else:
                add(path, kid.data.to_dict("records"), kid.units)
            if len(kid.data) < kid.total:
                nodes.append({"kind": "more", "level": len(path), "path": path, "row": {},
                              "units": {}, "shown": len(kid.data), "total": kid.total,
                              "what": "customers" if is_leaf(view, path) else "groups"})  # fmt: skip

    add([], levels[()], result.units)
    return Outline(result, nodes)


def is_leaf(view: View, path: Path) -> bool:
    """Whether the group at `path` opens to customers (the last group level)."""
    return len(path) == len(view.groups)


__all__ = ["Outline", "Path", "children", "group_view", "is_leaf", "level_view", "outline",
           "path_filters", "path_of", "top"]  # fmt: skip
