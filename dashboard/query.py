"""The query engine: a view state compiled to SQL and run in DuckDB.

A `View` says what a person is looking at: columns, filters, quick search, the status quick
filter, sort, page, row groups, aggregated values and a pivot field. It is a
`param.Parameterized` (so the page builds its widgets from it) and a plain serialisable
object (`to_dict`, `to_json`, `from_dict`, `to_query_string`).

`compile_*` functions turn a view into a `Query` (SQL text plus bound parameters). Column
names come only from the field registry; every value is a bound parameter; pivot labels are
aliased as p0, p1, ... and renamed after the query, so no value ever becomes SQL.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import numpy as np
import pandas as pd
import param

from . import migrations, money, search
from . import types as t
from .errors import UserError
from .fields import (
    COLUMNS,
    CURRENCY_FIELD,
    METRIC_DAYS,
    METRICS,
    SOURCES,
    STATUS_FIELD,
    STATUSES,
    USAGE_DAY,
    Field,
    columns_for,
    default_columns,
)  # fmt: skip
from .fields import field as get_field
from .store import Store

#: Most distinct values a pivot field may spread into columns.
MAX_PIVOT_COLUMNS = 60
#: The label of total rows and columns, and of a blank group: the types' own.
from .types import BLANK, TOTAL  # noqa: E402, F401

OP_LABELS = {
    "contains": "contains",
    "starts_with": "starts with",
    "=": "=",
    "!=": "≠",
    "<": "<",
    "<=": "≤",
    ">": ">",
    ">=": "≥",
    "between": "between",
    "in": "is one of",
    "not_in": "is none of",
    "any": "has any of",
    "all": "has all of",
    "empty": "is empty",
    "not_empty": "is not empty",
}


@dataclass(frozen=True)
class Query:
    """SQL text and its bound parameters."""

    sql: str
    params: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return self.sql

    def run(self, store: Store) -> pd.DataFrame:
        return store.df(self.sql, self.params)


@dataclass(frozen=True)
class Filter:
    """One condition on one field."""

    field: str
    op: str
    value: Any = None

    @classmethod
    def of(cls, spec: Filter | dict | list | tuple) -> Filter:
        if isinstance(spec, Filter):
            return spec
        if isinstance(spec, dict) and "field" in spec and "op" in spec:
            return cls(spec["field"], _op_name(spec["op"]), spec.get("value"))
        if isinstance(spec, list | tuple) and len(spec) in (2, 3):
            return cls(spec[0], _op_name(spec[1]), *spec[2:])
        raise UserError(
            "a filter is {'field': ..., 'op': ..., 'value': ...} or [field, op, value], "
            f"e.g. {{'field': 'channels', 'op': '>=', 'value': 100}}; got {spec!r}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": _jsonable(self.value)}

    def describe(self) -> str:
        """The condition as a person would say it, each value as the page shows it:
        "Status = Active", "Balance > 100.00", "Customer Name contains harper"."""
        f = COLUMNS.get(self.field)
        label = f.label if f else self.field
        if self.op in t.NULLARY_OPS:
            return f"{label} {OP_LABELS[self.op]}"
        value = self._shown(f)
        if isinstance(value, list | tuple):
            value = (" and " if self.op == "between" else ", ").join(map(str, value))
        return f"{label} {OP_LABELS.get(self.op, self.op)} {value}"

    def _shown(self, f: Field | None) -> Any:
        """The value (or values) as the field's type displays them ("100" typed: "100.00");
        text searched for as typed; a value the type does not read as it was given."""
        value = self.value
        if f is None or self.op in ("contains", "starts_with"):
            return "yes" if value is True else "no" if value is False else value
        try:
            parsed = f.type.operand(self.op, value)
        except (ValueError, TypeError, ArithmeticError):
            return value
        if isinstance(parsed, list | tuple) and not f.type.many:
            return [f.type.display(v) for v in parsed]
        return f.type.display(parsed) if parsed is not None else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


#: Shares a pivot or group result can show instead of its values.
PERCENTAGES = {"row": "% of row total", "column": "% of column total", "total": "% of grand total"}


#: Most open groups a view's tree keeps (each is one query when the page loads).
MAX_EXPANDED = 200

#: The highest page number a view takes: far past any table's end, yet its row offset
#: (page x page size) fits DuckDB's BIGINT (a link with page 10**20 overflowed it).
MAX_PAGE = 10**9
#: Where a header's menu pins a column.
PIN_SIDES = ("left", "right")


class View(param.Parameterized):
    """What a person is looking at: the settings of the page's grid, compiled to one query.

    `run(store, view)` answers it (one page, 50 rows or groups by default). Every setting
    is optional; `dashboard.field_list(source)` lists the field names to use, with their
    labels, aggregates and filter operators.

    - source: "customers" (a row is a customer) or "usage" (a customer's usage on one day)
    - columns: field names to show, in order, e.g. ["name", "country", "credit"]
    - filters: conditions that must all hold, each {"field", "op", "value"} or
      [field, op, value]: ["channels", ">=", 100], ["status", "in", ["Active", "Inactive"]]
      (operators: = != < <= > >= between in not_in contains starts_with any all empty
      not_empty; which ones a field takes is in field_list)
    - search: quick search text (names, addresses, contacts' emails and mobiles)
    - status: "All", "Active", "Inactive" or "Pending Approval" (any case)
    - sort: [[key, "asc" | "desc"], ...] or ["-credit", "name"]; keys are fields, or in a
      group or pivot view the value columns ("count", "sum_revenue"), in a pivot also one
      pivot column's cells ("sum_revenue@2026-05": value column @ the column's label)
    - page, page_size: which page of how many rows (or groups); 1 and 50 by default
    - groups: row-group fields, e.g. ["status", "country"]
    - values: aggregated values, each [field, aggregate] or "field:aggregate", e.g.
      [["revenue", "sum"], ["asr", "avg"]]; aggregates: count, count_distinct, sum, avg,
      min, max; a result column is named "<aggregate>_<field>", plus "count" (customers)
    - pivot: the field whose values become columns, e.g. "month"
    - percent: "row", "column" or "total": values as shares of that total
    - widths: column widths in pixels set in the page, e.g. {"name": 240}
    - pins: columns pinned (frozen) to the left or right from a header's menu, e.g.
      {"credit": "right"}
    - hidden: columns of the group or pivot table hidden from a header's menu, named as
      their sort keys: value columns ("sum_credit") or pivot columns ("sum_credit@GB")
    - expand: the open groups of the page's group tree, each a path of group values as
      text, outermost first (None: blank), e.g. [["Active"], ["Active", "GB"]]; a path as
      long as `groups` lists its customers (`dashboard.tree.children` runs one level)
    - base: the reporting currency of money aggregates over several currencies, e.g.
      "USD" (default: `[money] base` in the settings, EUR); rates into it must be stored

    >>> View(source="usage", status="Active", groups=["country"], pivot="month",
    ...      values=[["revenue", "sum"]], sort=[["sum_revenue", "desc"]])
    """

    source = param.Selector(
        default="customers", objects=list(SOURCES),
        doc="What one row is: a customer, or a customer's usage on one day.",
    )  # fmt: skip
    columns = param.List(
        default=[], item_type=str, doc="Visible customer fields, in display order."
    )
    filters = param.List(
        default=[], doc="Conditions, each {'field', 'op', 'value'}; all must hold."
    )
    search = param.String(default="", doc="Quick search across text fields and contacts.")
    status = param.Selector(
        default="All", objects=["All", *STATUSES], doc="The page's Active quick filter."
    )
    sort = param.List(
        default=[], doc="Sort keys, each [column, 'asc'|'desc'], most significant first."
    )
    page = param.Integer(
        default=1,
        bounds=(1, MAX_PAGE),
        doc="1-based page number (a page past the last shows the last).",
    )
    page_size = param.Integer(default=50, bounds=(1, 10_000), doc="Rows (or groups) a page.")
    groups = param.List(default=[], item_type=str, doc="Row-group fields, outermost first.")
    values = param.List(
        default=[], doc="Aggregated values, each [field, aggregate] (count, sum, avg, ...)."
    )
    pivot = param.String(
        default=None, allow_None=True, doc="Field whose values become the column labels."
    )
    percent = param.Selector(
        default=None, objects=[None, *PERCENTAGES], allow_None=True,
        doc="Show each value as a share of its row, its column or the grand total.",
    )  # fmt: skip

    expand = param.List(
        default=[],
        doc="Open groups of the group tree: paths of group values as text, outermost first.",
    )
    widths = param.Dict(
        default={}, doc="Column widths in pixels a person set by dragging a header's edge."
    )
    pins = param.Dict(
        default={}, doc="Columns pinned from a header's menu: field -> 'left' or 'right'."
    )
    hidden = param.List(
        default=[], item_type=str,
        doc="Columns of the group or pivot table hidden from a header's menu (sort keys).",
    )  # fmt: skip
    base = param.String(
        default=None, allow_None=True,
        doc="The reporting currency money over several currencies is converted into (an "
        "ISO 4217 code); None: the settings' [money] base.",
    )  # fmt: skip

    search_ids = param.Parameter(
        default=None, precedence=-1,
        doc="The ids the quick search matched, looked up once by `run` for a session (not "
        "part of the view's state: never saved, linked or compared).",
    )  # fmt: skip

    _STATE = ("source", "columns", "filters", "search", "status", "sort", "page", "page_size",
              "groups", "values", "pivot", "percent", "expand", "widths", "pins",
              "hidden", "base")  # fmt: skip

    def __init__(self, **params: Any):
        for name, choices in (("status", ["All", *STATUSES]), ("source", list(SOURCES)),
                              ("percent", list(PERCENTAGES))):  # fmt: skip
            if isinstance(params.get(name), str):
                params[name] = _choice(name, params[name], choices)
        for name in ("columns", "groups", "sort"):
            if isinstance(params.get(name), str):
                params[name] = [params[name]]  # one name for a list of one
        if "filters" in params:
            params["filters"] = [Filter.of(f).to_dict() for f in _listed("filters", params)]
        if "sort" in params:
            params["sort"] = [_sort_key(s) for s in _listed("sort", params)]
        if "values" in params:
            params["values"] = [_value_spec(v) for v in _value_list(params["values"])]
        if isinstance(params.get("base"), str):
            params["base"] = params["base"].strip().upper() or None
        params.setdefault("columns", default_columns(params.get("source") or "customers"))
        super().__init__(**params)

    # --- modes -----------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """'rows', 'groups' or 'pivot'."""
        if self.pivot:
            return "pivot"
        if self.groups:
            return "groups"
        return "rows"

    # --- serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Only what differs from the defaults, JSON-friendly."""
        out: dict[str, Any] = {}
        for name in self._STATE:
            value = getattr(self, name)
            if name == "columns":
                default = default_columns(self.source)
            else:
                default = self.param[name].default
            if value != default:
                out[name] = _jsonable(value)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> View:
        unknown = set(data) - set(cls._STATE)
        if unknown:
            raise UserError(f"unknown view settings: {', '.join(sorted(unknown))}")
        _check_shapes(data)
        if data.get("source", "customers") not in SOURCES:
            raise UserError(f"unknown source {data['source']!r}; sources are: {', '.join(SOURCES)}")
        try:
            view = cls(**data)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            # a link or a saved view is data from outside: whatever param refuses is one line
            raise UserError(f"not a view: {str(exc).splitlines()[0]}") from None
        view.check()
        return view

    @classmethod
    def from_json(cls, text: str) -> View:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UserError(f"not a view: {exc}") from None
        if not isinstance(data, dict):
            raise UserError("not a view: expected a JSON object")
        return cls.from_dict(data)

    def to_query_string(self) -> str:
        """The view as a URL query string (?view=...), for links that reopen it."""
        return urlencode({"view": self.to_json()})

    def url(self, base: str = "http://localhost:5006/") -> str:
        """A link that opens the served dashboard on this view."""
        return base.split("?", 1)[0] + "?" + self.to_query_string()

    @classmethod
    def from_url(cls, url: str) -> View:
        """The view a dashboard link (or its query string) opens."""
        return cls.from_query_string(url.split("?", 1)[1] if "?" in url else url)

    @classmethod
    def from_query_string(cls, query: str) -> View:
        found = parse_qs(query.lstrip("?")).get("view")
        return cls.from_json(found[0]) if found else cls()

    def copy(self, **changes: Any) -> View:
        data = {name: getattr(self, name) for name in self._STATE}
        data.update(changes)
        return View(**data)

    def __repr__(self) -> str:
        return f"View({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    # --- checks ----------------------------------------------------------------------

    @property
    def fields(self) -> dict[str, Field]:
        """The fields this view's source offers."""
        return columns_for(self.source)

    def describe(self) -> list[str]:
        """What restricts this view, in words: "Status = Active", "Search: acme"."""
        return [label for label, _without in self.restrictions()]

    def restrictions(self) -> list[tuple[str, View]]:
        """What restricts this view's rows, each in words with this view without it (from
        its first page): the status quick filter, each filter, the quick search. The one
        home of these words: the Filters pop-out's chips, reports and the CLI say them."""
        out = []
        if self.status != "All":
            out.append((Filter(STATUS_FIELD, "=", self.status).describe(),
                        self.copy(status="All", page=1)))  # fmt: skip
        for i, spec in enumerate(self.filters):
            rest = [*self.filters[:i], *self.filters[i + 1 :]]
            out.append((Filter.of(spec).describe(), self.copy(filters=rest, page=1)))
        if self.search.strip():
            out.append((f"Search: {self.search.strip()}", self.copy(search="", page=1)))
        return out

    def to_python(self) -> str:
        """Python that rebuilds this view in a notebook."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"View({args})"

    def check(self) -> None:
        """Raise UserError naming every setting that refers to nothing real."""
        problems: list[str] = []
        named: list[str] = []  # names that are no field here: Python users get the list's hint

        def hint(name: Any) -> str:
            named.append(name)
            return self._hint(name)

        known = self.fields
        where = SOURCES[self.source].lower()
        for name in self.columns:
            if name not in known:
                problems.append(f"unknown column {name!r} in {where}{hint(name)}")
        for spec in self.filters:
            try:
                flt = Filter.of(spec)
                if isinstance(flt.field, str) and flt.field in COLUMNS and flt.field not in known:
                    raise UserError(f"{COLUMNS[flt.field].label} cannot filter {where}"
                                    f"{hint(flt.field)}")  # fmt: skip
                if not isinstance(flt.field, str) or flt.field not in COLUMNS:
                    raise UserError(f"unknown filter field {flt.field!r}{hint(flt.field)}")
                _compile_filter(flt)
            except UserError as exc:
                problems.append(str(exc))
        for name in self.groups:
            if name not in known:
                problems.append(f"unknown group field {name!r} in {where}{hint(name)}")
            elif not known[name].groupable:
                problems.append(f"rows cannot be grouped by {known[name].label}")
        for fname, agg in self.values:
            if fname != "*" and fname not in known:
                problems.append(f"unknown value field {fname!r} in {where}{hint(fname)}")
            elif fname != "*" and self.source == "usage" and known[fname].source != "usage":
                problems.append(f"{known[fname].label} is a customer field: over daily usage it "
                                "would be counted once a day; aggregate usage figures")  # fmt: skip
            elif fname != "*" and agg not in known[fname].aggregates:
                allowed = ", ".join(known[fname].aggregates)
                problems.append(f"{known[fname].label} cannot be aggregated by {agg!r}; "
                                f"use one of: {allowed}")  # fmt: skip
        if self.pivot and self.pivot not in known:
            problems.append(f"unknown pivot field {self.pivot!r} in {where}{hint(self.pivot)}")
        elif self.pivot and not known[self.pivot].groupable:
            problems.append(f"{known[self.pivot].label} cannot be pivoted")
        if self.pivot and self.pivot in self.groups:
            problems.append("the pivot field cannot also be a row group")
        if self.percent and self.mode == "rows":
            problems.append("percentages need row groups or a pivot")
        if self.percent == "row" and self.mode == "groups":
            # each group row is its own total: every share would be 100 % (bars all alike)
            problems.append(f"{PERCENTAGES['row']!r} needs pivot columns: with groups only each "
                            f"row is its own total; show {PERCENTAGES['total']!r} instead")  # fmt: skip
        for path in self.expand:
            if not isinstance(path, list) or not 1 <= len(path) <= len(self.groups):
                problems.append(f"an open group needs 1 to {len(self.groups)} group values, "
                                f"not {path!r}")  # fmt: skip
        if self.percent and any(a not in ("count", "sum") for _, a in self.values):
            problems.append("percentages add up only for counts and sums; remove other values")
        for name, side in self.pins.items():
            if name not in known:
                problems.append(f"unknown pinned column {name!r} in {where}{hint(name)}")
            elif side not in PIN_SIDES:
                problems.append(f"a column is pinned left or right, not {side!r}")
        if self.base is not None:
            try:
                money.check_base(self.base)
            except UserError as exc:
                problems.append(str(exc))
        if problems:
            people = "; ".join(problems)
            python = f"{people}; {FIELD_LIST_HINT}" if named else people
            raise ViewError(python, for_people=people)

    def _hint(self, name: str) -> str:
        """What a name that is not a field here probably meant ("" if nothing is close)."""
        hints = []
        other = "usage" if self.source == "customers" else "customers"
        if name in columns_for(other) and name not in self.fields:
            hints.append(f"it is a {SOURCES[other].lower()} field: add source={other!r}")
        near = nearest(name, self.fields)
        if near:
            hints.append("did you mean " + " or ".join(
                f"{n!r} ({COLUMNS[n].label})" for n in near) + "?")  # fmt: skip
        return f" ({'; '.join(hints)})" if hints else ""


#: The end of a bad view's message for people writing Python (not in `ViewError.for_people`).
FIELD_LIST_HINT = "dashboard.field_list() lists the names"


class ViewError(UserError):
    """A view that refers to nothing real. Its message ends, for Python users, with where
    the field names are listed; `for_people` says the same without it (someone who opened
    a link has no `dashboard.field_list()`: the page's Columns list the names)."""

    def __init__(self, message: str, *, for_people: str):
        super().__init__(message)
        self.for_people = for_people


def nearest(name: Any, names: dict[str, Field] | list[str], n: int = 2) -> list[str]:
    """The valid names closest to `name`, matched on names, labels and aliases: "balance"
    gives "credit" (labelled Balance), "revenue" gives "revenue_30d" or "sum_revenue"."""
    word = str(name).strip().lower()
    texts: dict[str, str] = {}
    for key in names:
        texts.setdefault(key.lower(), key)
        f = COLUMNS.get(key) if isinstance(names, dict) else None
        if f is not None:
            for text in (f.label, *f.aliases):
                texts.setdefault(text.lower(), key)
    if word in texts:
        return [texts[word]]
    found = [texts[t] for t in difflib.get_close_matches(word, list(texts), n=n, cutoff=0.6)]
    found += [key for text, key in texts.items() if word and word in text.split("_")]
    return list(dict.fromkeys(found))[:n]


def _choice(name: str, value: str, choices: list[str]) -> str:
    """A setting's value matched to its choices case- and spacing-insensitively."""
    key = " ".join(value.split()).lower()
    for choice in choices:
        if choice.lower() == key:
            return choice
    raise UserError(f"{name} must be one of {', '.join(map(repr, choices))}; not {value!r}")


def _listed(name: str, params: dict[str, Any]) -> list[Any]:
    value = params[name]
    if not isinstance(value, list | tuple):
        raise UserError(f"{name} takes a list, not {type(value).__name__} {value!r}")
    return list(value)


def _op_name(op: Any) -> Any:
    return op.strip().lower() if isinstance(op, str) else op


#: What each view setting holds, for reading views from links, files and saved views.
_SHAPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "source": (str, "a source name"),
    "columns": (list, "a list of field names"),
    "filters": (list, "a list of {field, op, value} objects"),
    "search": (str, "text"),
    "status": (str, "a status"),
    "sort": (list, 'a list of [field, "asc" | "desc"] pairs'),
    "page": (int, f"a page number from 1 to {MAX_PAGE:,}"),
    "page_size": (int, "a number of rows from 1 to 10,000"),
    "groups": (list, "a list of field names"),
    "values": (list, 'a list of [field, aggregate] pairs or "field:aggregate" texts'),
    "pivot": ((str, type(None)), "a field name or null"),
    "percent": ((str, type(None)), 'null, "row", "column" or "total"'),
    "expand": (list, "a list of group paths, each a list of group values (text or null)"),
    "widths": (dict, "an object of column names and widths in pixels (20 to 2000)"),
    "pins": (dict, 'an object of column names and "left" or "right"'),
    "hidden": (list, "a list of column names"),
    "base": ((str, type(None)), "a currency code such as EUR, or null"),
}


def _check_shapes(data: dict[str, Any]) -> None:
    """Refuse a view whose settings have the wrong shape, naming the setting and what it
    should hold ({"groups": "status"} is a link typed by hand, not a crash)."""
    problems = []
    for name, value in data.items():
        kind, words = _SHAPES[name]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is int)
        if ok and name in ("columns", "groups"):
            ok = all(isinstance(v, str) for v in value)
        elif ok and name == "filters":
            ok = all(
                (isinstance(v, dict) and isinstance(v.get("field"), str) and isinstance(v.get("op"), str))
                or (isinstance(v, list | tuple) and len(v) in (2, 3) and all(isinstance(x, str) for x in v[:2]))
                for v in value
            )  # fmt: skip
        elif ok and name == "sort":
            ok = all(
                isinstance(v, str) and v.strip("-")
                or (isinstance(v, list | tuple) and 1 <= len(v) <= 2
                    and all(isinstance(x, str) for x in v) and v[0])
                for v in value
            )  # fmt: skip
        elif ok and name == "values":
            ok = all(
                isinstance(v, str) and v
                or (isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(x, str) for x in v))
                for v in value
            )  # fmt: skip
        elif ok and name == "page":
            ok = 1 <= value <= MAX_PAGE
        elif ok and name == "status":  # matched as View() matches it: "active" is Active
            try:
                _choice(name, value, ["All", *STATUSES])
            except UserError:
                ok = False
            words = f"one of {', '.join(('All', *STATUSES))}"
        elif ok and name == "percent":
            ok = value is None or value in PERCENTAGES
        elif ok and name == "page_size":
            ok = 1 <= value <= 10_000
        elif ok and name == "widths":
            ok = len(value) <= 200 and all(
                isinstance(k, str) and isinstance(w, int) and not isinstance(w, bool)
                and 20 <= w <= 2000 for k, w in value.items()
            )  # fmt: skip
        elif ok and name == "pins":
            ok = len(value) <= 200 and all(
                isinstance(k, str) and v in PIN_SIDES for k, v in value.items()
            )  # fmt: skip
        elif ok and name == "hidden":
            ok = len(value) <= 200 and all(isinstance(v, str) for v in value)
        elif ok and name == "expand":
            ok = len(value) <= MAX_EXPANDED and all(
                isinstance(p, list) and all(v is None or isinstance(v, str) for v in p)
                for p in value
            )  # fmt: skip
        if not ok:
            problems.append(f"{name} should be {words}, not {json.dumps(value)[:60]}")
    if problems:
        raise UserError("not a view: " + "; ".join(problems))


def _sort_key(spec: Any) -> list[str]:
    if isinstance(spec, str):
        return [spec.lstrip("-"), "desc" if spec.startswith("-") else "asc"]
    if not isinstance(spec, list | tuple) or not spec or not isinstance(spec[0], str):
        raise UserError(f"a sort key is [name, 'asc' | 'desc'] or 'name' / '-name'; got {spec!r}")
    name, direction = spec[0], (spec[1] if len(spec) > 1 else "asc")
    direction = str(direction).lower()
    if direction not in ("asc", "desc"):
        raise UserError(f"sort direction must be asc or desc, not {direction!r}")
    return [name, direction]


def _value_list(values: Any) -> list[Any]:
    """The values setting as a list of specs, refusing a flat [field, aggregate]."""
    if not isinstance(values, list | tuple):
        raise UserError(f"values takes a list of [field, aggregate] pairs, not {values!r}")
    flat = [v for v in values if isinstance(v, str)]
    if len(flat) == len(values) and any(v.strip().lower() in t.AGGREGATES for v in flat):
        pairs = [list(values[i : i + 2]) for i in range(0, len(values), 2)]
        raise UserError(
            f"values takes a list of [field, aggregate] pairs: values={pairs!r} (or "
            f"{[':'.join(p) for p in pairs]!r}), not the flat list {list(values)!r}"
        )
    return list(values)


def _value_spec(spec: Any) -> list[str]:
    if isinstance(spec, str):
        fname, _, agg = spec.partition(":")
        return [fname.strip(), agg.strip().lower() or "sum"]
    if not isinstance(spec, list | tuple) or len(spec) != 2:
        raise UserError(f"a value is [field, aggregate], e.g. ['revenue', 'sum']; got {spec!r}")
    return [spec[0], str(spec[1]).strip().lower()]


# --- SQL building blocks -------------------------------------------------------------


def quote(name: str) -> str:
    """A registry name as a SQL identifier. Refuses anything not in the registry."""
    if name not in COLUMNS:
        raise UserError(f"unknown field {name!r}")
    return f'"{name}"'


def column_sql(name: str) -> str:
    """The SQL for a field's value: its column, or its registry expression if computed."""
    f = get_field(name)
    if f.expr is not None and f.source == "usage":
        return f"({f.expr})"
    return quote(name)


def _from(view: View) -> str:
    """The FROM clause: customers (joined to recent usage when a metric is used), or daily
    usage joined to its customer."""
    if view.source == "usage":
        return "usage_daily JOIN customers ON customers.id = usage_daily.customer_id"
    used = {*view.columns, *view.groups, *(f for f, _ in view.values), view.pivot,
            *(Filter.of(x).field for x in view.filters), *(k for k, _ in view.sort)}  # fmt: skip
    if not used & {m.name for m in METRICS}:
        return "customers"
    cols = ", ".join(f'{m.expr} AS "{m.name}"' for m in METRICS)
    return (
        f"customers LEFT JOIN (SELECT customer_id, {cols} FROM usage_daily "
        f"WHERE {quote(USAGE_DAY)} >= current_date - {int(METRIC_DAYS)} "
        "GROUP BY customer_id) AS metrics "
        "ON metrics.customer_id = customers.id"
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parse_operand(f: Field, op: str, value: Any) -> Any:
    """A filter's value parsed by the field's own type, so "1,000" and "yes" work."""
    try:
        return f.type.operand(op, value)
    except ValueError as exc:
        raise UserError(f"filter on {f.label}: {value!r} {exc}") from None


def _compile_filter(flt: Filter) -> tuple[str, list[Any]]:
    f = get_field(flt.field)
    if flt.op not in f.filter_ops:
        raise UserError(
            f"{f.label} cannot be filtered with {flt.op!r}; use one of {', '.join(f.filter_ops)}"
        )
    col = column_sql(f.name)
    op = flt.op
    if op == "empty":
        return f.type.empty_sql(col), []
    if op == "not_empty":
        return f.type.not_empty_sql(col), []
    if flt.value is None or flt.value == "" or flt.value == []:
        raise UserError(f"filter on {f.label} {OP_LABELS.get(op, op)} needs a value")
    value = _parse_operand(f, op, flt.value)
    if op == "contains":
        return f"{col} ILIKE ? ESCAPE '\\'", [f"%{_like_escape(value)}%"]
    if op == "starts_with":
        return f"{col} ILIKE ? ESCAPE '\\'", [f"{_like_escape(value)}%"]
    if op == "any":
        return f"list_has_any({col}, ?::VARCHAR[])", [value]
    if op == "all":
        return f"list_has_all({col}, ?::VARCHAR[])", [value]
    if op == "between":
        lo, hi = sorted(value) if None not in value else value
        return f"{col} BETWEEN ? AND ?", [lo, hi]
    if op in ("in", "not_in"):
        marks = ", ".join("?" for _ in value)
        if f.type.textual:
            marks = ", ".join("lower(?)" for _ in value)
            expr = f"lower({col})"
        else:
            expr = col
        neg = "NOT " if op == "not_in" else ""
        return f"{expr} {neg}IN ({marks})", list(value)
    if f.type.textual and op in ("=", "!="):
        return f"lower({col}) {'=' if op == '=' else '<>'} lower(?)", [value]
    sql_op = {"=": "=", "!=": "IS DISTINCT FROM", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[op]
    return f"{col} {sql_op} ?", [value]


def check_filter(spec: Filter | dict) -> None:
    """Raise UserError (naming the field) unless the filter's field, condition and value are
    all valid; the Filters pop-out checks a filter this way before applying it."""
    _compile_filter(Filter.of(spec))


#: The name a statement gives the quick search's matches when it reads them twice.
FOUND = "_found"


def compile_where(view: View, *, found: bool = False) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) and its parameters; "TRUE" for no filter.
    `found`: the quick search's matches are the statement's FOUND table (`compile_found`)."""
    parts: list[str] = []
    params: list[Any] = []
    if view.status != "All":
        parts.append(f"{quote(STATUS_FIELD)} = ?")
        params.append(view.status)
    for spec in view.filters:
        sql, p = _compile_filter(Filter.of(spec))
        parts.append(sql)
        params.extend(p)
    text = view.search.strip()
    if text and view.search_ids is not None:
        parts.append("customers.id IN (SELECT unnest(?::BIGINT[]))")
        params.append(view.search_ids)
    elif text:
        # one scan of the maintained, lower-cased search text (customers and contacts)
        matches = search.condition(text)
        if matches is None:
            parts.append("FALSE")
        elif found:
            parts.append(f"customers.id IN (SELECT customer_id FROM {FOUND})")
        else:
            parts.append(f"customers.id IN ({matches[0]})")
            params.extend(matches[1])
    return (" AND ".join(parts) or "TRUE"), params


def _order_by(view: View, allowed: dict[str, str], default: list[str]) -> str:
    keys = [
        f"{col} {'ASC' if asc else 'DESC'} NULLS LAST" for col, asc in _sort_keys(view, allowed)
    ]
    return ", ".join(keys + default)


#: The column `with_unit` adds to rows: each row's currency, beside its amounts of money.
UNIT_COLUMN = "_unit"


def _selected(view: View, key: bool = False, with_unit: bool = False) -> list[tuple[str, str]]:
    """The rows' columns as (SQL, name) pairs."""
    cols = view.columns or default_columns(view.source)
    if key and "id" not in cols:
        cols = ["id", *cols]  # the page's selection and editing need the id
    out = [(column_sql(c), c) for c in cols]
    if with_unit and any(COLUMNS[c].type.in_currency for c in cols):
        out.append((money.CURRENCY_SQL, UNIT_COLUMN))
    return out


def _select_list(view: View, key: bool = False, with_unit: bool = False) -> str:
    return ", ".join(f"{sql} AS {_name(name)}" for sql, name in _selected(view, key, with_unit))


def _name(name: str) -> str:
    """A selected column's quoted name: a field's (checked), or the unit column."""
    return f'"{UNIT_COLUMN}"' if name == UNIT_COLUMN else quote(name)


def _money_sort(view: View) -> bool:
    """Whether the view's rows are sorted by an amount of money (see `_rows_order`)."""
    return any(k in COLUMNS and COLUMNS[k].type.in_currency for k, _ in view.sort)


def _rows_order(view: View, allowed: dict[str, str], default: list[str]) -> str:
    """The ORDER BY of a view's rows. An amount of money sorts by its value in the
    reporting currency when every matching row's currency has a rate (EUR 10 before JPY
    1,000); else by currency, then amount (each currency's rows together). A sort by money
    needs the rates joined to the rows (`_rates_join`)."""
    if not _money_sort(view):
        return _order_by(view, allowed, default)
    order = [
        f"{col} {'ASC' if asc else 'DESC'} NULLS LAST" for col, asc in _row_keys(view, allowed)
    ]
    return ", ".join(order + default)


def _rates_join(view: View) -> tuple[str, list[Any]]:
    """The join (and its parameters) a sort by money needs after the FROM clause: each row
    given its currency's rate once (`money.RATE_SQL`), a hash join to the few currencies'
    rates; empty for any other sort. (A lookup of the rate per row in the ORDER BY, which
    DuckDB decorrelates, PostgreSQL ran once per row: 1 s at 50,000 customers.)"""
    if not _money_sort(view):
        return "", []
    join, params = money.fx_join(reporting_base(view))
    return f" {join}", params


def _row_keys(
    view: View, allowed: dict[str, str], rated: tuple[str, str] | None = None
) -> list[tuple[str, bool]]:
    """The view's row sort as (SQL expression, ascending) keys, NULLs last: an amount of
    money is three keys, its value in the reporting currency (NULL in every row unless
    every matching row's currency has a rate), the currency and the amount (see
    `_rows_order`). `rated`: (the row's rate, whether every matching row has one) as SQL;
    by default the rate of `_rates_join`, which the statement must join, and a window over
    the rows."""
    if not _money_sort(view):
        return _sort_keys(view, allowed)
    rate, every = rated or (money.RATE_SQL, f"bool_and({money.RATE_SQL} IS NOT NULL) OVER ()")
    keys = []
    for col, asc in _sort_keys(view, allowed):
        name = next(k for k, c in allowed.items() if c == col)
        if not COLUMNS[name].type.in_currency:
            keys.append((col, asc))
            continue
        keys += [(f"CASE WHEN {every} THEN {col} * {rate} END", asc),
                 (money.CURRENCY_SQL, True), (col, asc)]  # fmt: skip
    return keys


def compile_rows(
    view: View, *, paged: bool = True, key: bool = False, found: bool = False,
    with_unit: bool = False,
) -> Query:  # fmt: skip
    """The customers matching the view, sorted, one page (or all with paged=False); with
    `key`, the customer id too when the view's columns do not include it; `with_unit`,
    each row's currency as `UNIT_COLUMN` when an amount of money is shown."""
    view.check()
    where, params = compile_where(view, found=found)
    allowed = {name: column_sql(name) for name in view.fields}
    order = _rows_order(
        view, allowed, ['"id"', quote(USAGE_DAY)] if view.source == "usage" else ['"id"']
    )
    rates, rate_params = _rates_join(view)
    params = [*rate_params, *params]
    sql = (f"SELECT {_select_list(view, key, with_unit)} FROM {_from(view)}{rates} "
           f"WHERE {where} ORDER BY {order}")  # fmt: skip
    if paged:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, view.page_size, (view.page - 1) * view.page_size]
    return Query(sql, params)


def compile_count(view: View, *, customers: bool = False, found: bool = False) -> Query:
    """How many rows match the view's filters; with `customers`, how many customers (the
    same number unless a row is a day of usage)."""
    where, params = compile_where(view, found=found)
    what = aggregate_sql("*", "count", source=view.source) if customers else "count(*)"
    return Query(f"SELECT {what} FROM {_from(view)} WHERE {where}", params)


def compile_found(view: View, *, key: bool = False, with_unit: bool = False) -> Query | None:
    """A page of a quick search and the number of matches in one statement, the search
    text scanned once: its matches are a materialised CTE that the page and its count
    (the "__total" column) both read. None when the view has no search to share."""
    matches = search.condition(view.search.strip()) if view.search.strip() else None
    if matches is None or view.search_ids is not None or view.source != "customers":
        return None
    page = compile_rows(view, key=key, found=True, with_unit=with_unit)
    count = compile_count(view, found=True)
    if view.status == "All" and not view.filters:
        # nothing but the search: its matches (existing customers only, the search tables
        # being kept by every write) are the count, without a pass over the customers
        count = Query(f"SELECT count(DISTINCT customer_id) FROM {FOUND}", [])
    return Query(
        f"WITH {FOUND} AS MATERIALIZED ({matches[0]}) "
        f'SELECT *, ({count.sql}) AS "__total" FROM ({page.sql}) AS page',
        [*matches[1], *count.params, *page.params],
    )


def compile_ids(view: View) -> Query:
    """The ids of every customer matching the view ("select all that match")."""
    where, params = compile_where(view)
    return Query(f"SELECT DISTINCT id FROM {_from(view)} WHERE {where} ORDER BY id", params)


def aggregate_sql(
    fname: str, agg: str, where: str | None = None, source: str = "customers",
    rate: str | None = None,
) -> str:  # fmt: skip
    """SQL for one aggregate of one field, optionally restricted by a FILTER clause.

    "*" counts customers (distinct ones, over usage). A rate's average is weighted by its
    denominator (ASR of a month = its connected calls / its calls, not a mean of days).
    `rate`: the SQL of each row's exchange rate; money is aggregated converted by it.
    """
    filt = f" FILTER (WHERE {where})" if where else ""
    if fname == "*":
        return f'count(DISTINCT "customer_id"){filt}' if source == "usage" else f"count(*){filt}"
    f = get_field(fname)
    if agg not in f.aggregates:
        raise UserError(f"{f.label} cannot be aggregated by {agg}")
    if f.ratio and agg == "avg":
        num, den, scale = f.ratio
        return (
            f"round({float(scale)} * sum({quote(num)}){filt} / "
            f"nullif(sum({quote(den)}){filt}, 0), 2)"
        )
    col = f.type.aggregate_sql(column_sql(fname), agg)
    if rate is not None:
        col = f.type.converted_sql(col, rate)
    if agg == "count_distinct":
        return f"count(DISTINCT {col}){filt}"
    return f"{agg}({col}){filt}"


def value_column(fname: str, agg: str) -> str:
    """The result column name of an aggregated value: "sum_credit", "count"."""
    return "count" if fname == "*" else f"{agg}_{fname}"


def value_label(fname: str, agg: str, units: dict[str, str] | None = None) -> str:
    """A person's name for an aggregated value: "Sum of Balance"; with a result's `units`
    (value column -> currency), money says its currency: "Sum of Balance (EUR)"."""
    if fname == "*":
        return "Customers"
    label = f"{t.AGGREGATES[agg]} of {COLUMNS[fname].label}"
    unit = (units or {}).get(value_column(fname, agg))
    return t.Money.unit_label(label, unit) if unit else label


def money_values(values: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The values that are amounts of money (a sum, average, minimum or maximum of a money
    field): over several currencies they are converted or split, never added up as is."""
    return [(f, a) for f, a in values if f != "*" and COLUMNS[f].type.in_currency
            and COLUMNS[f].type.converts(a)]  # fmt: skip


def reporting_base(view: View) -> str:
    """The currency a view's money over several currencies is reported in: its own (a view
    that is run has it, `with_base`), else the default settings' base."""
    return money.check_base(view.base) if view.base else money.base_currency()


def with_base(store: Store, view: View) -> View:
    """`view` with its reporting currency settled when it is run: its own, else the
    `[money] base` of the settings of the database it runs on (`Store.settings_file`), not
    of whatever settings file the process would find (a notebook on /srv/a/customers.duckdb
    reports in /srv/a/settings.toml's base)."""
    if view.base:
        return view
    settled = view.copy(base=money.base_currency(store.settings_file()))
    settled.search_ids = view.search_ids
    return settled


#: The markers a grouped scan with money adds: a currency code of each row's customers, the
#: same code when it is their only currency (else NULL), and how many of its rows have no
#: rate into the reporting one.
_CCY, _NCUR, _NOFX = "_ccy", "_ccy_max", "_nofx"
#: One currency where the lowest hash of the rows' currency codes is the highest: a distinct
#: count would cost far more, and the min and max of the codes as text twice as much as
#: this (a 64-bit hash of a three-letter code: two codes never share one).
_ONE_CURRENCY = f"hash({money.CURRENCY_SQL})"
#: What a money value's unit says when a result is split by currency (rates missing).
PER_CURRENCY = "per currency"


def _money_select(
    view: View,
    f: str,
    a: str,
    converted_only: bool = False,
    parts: tuple[str, str, str, str, str] | None = None,
) -> str:
    """One money aggregate that never mixes currencies, decided in the scan itself (so the
    sort and the page are of the final figures): in the row's own currency when the whole
    result has one currency, or when the view is split by currency (`native_split`: a
    group or pivot column of one currency keeps it, only the totals across currencies are
    converted); converted into the reporting currency when every currency has a rate;
    else (rates missing) in the row's own currency where the row has one, NULL where it
    mixes several (`run` refuses unless the view is split by currency).
    `converted_only`: convert even a split view's cells (a chart compares them).
    `parts`: (native, converted, currency hash, rows without a rate, currency column) as
    SQL over a pre-aggregated result (`_fine_grouping`); default: over the customer rows."""
    if parts is None:
        parts = (
            aggregate_sql(f, a, source=view.source),
            aggregate_sql(f, a, source=view.source, rate=money.RATE_SQL),
            _ONE_CURRENCY,
            f"(count(*) - count({money.RATE_SQL}))",  # rows without a rate
            column_sql(CURRENCY_FIELD),
        )
    native, converted, one, nofx, currency = parts
    # a group (or pivot column) keyed by the currency holds that currency's amounts only
    own = (f"WHEN grouping({currency}) = 0 THEN {native} "
           if native_split(view) and not converted_only else "")  # fmt: skip
    # one currency where the lowest code is the highest (far cheaper than a distinct count);
    # the grand total is one of the grouping sets, so a window over all rows is the whole's
    return (f"CASE WHEN min(min({one})) OVER () = max(max({one})) OVER () THEN {native} "
            f"{own}WHEN max({nofx}) OVER () = 0 THEN {converted} "
            f"WHEN min({one}) = max({one}) THEN {native} END")  # fmt: skip


def native_split(view: View) -> bool:
    """Whether the view's money stays in each currency's own: its groups or its pivot
    columns are currencies (and it shows amounts, not shares, which need one unit)."""
    return _split_by_currency(view) and not view.percent


def _money_units(
    store: Store, found: pd.DataFrame, grand: pd.DataFrame, view: View, values, base: str
) -> dict[str, str]:
    """Each money value column's currency ("EUR"; PER_CURRENCY when split), from the grand
    total row's markers; refuses (UserError naming the missing rates) a result over several
    currencies that lacks rates and is not split by currency."""
    return _money_units_of(store, found, grand, view, values, base)[0]


def _money_units_of(
    store: Store,
    found: pd.DataFrame,
    grand: pd.DataFrame,
    view: View,
    values,
    base: str,
    converted_only: bool = False,
) -> tuple[dict[str, str], dict[str, str]]:
    """`_money_units`, and the currency of the figures that span currencies (the grand
    total, a pivot's row totals by currency): the base when a view split by currency
    keeps its cells in their own currencies and converts only those."""
    wanted = money_values(values)
    if not wanted or _CCY not in found.columns or not len(grand):
        return {}, {}
    low, high = grand[_CCY].iloc[0], grand[_NCUR].iloc[0]
    if low is None or (isinstance(low, float) and pd.isna(low)):
        return {}, {}  # no customers: no currency
    rated = not int(grand[_NOFX].iloc[0])
    total: str | None
    if low == high:
        unit = total = str(low)
    elif native_split(view) and not converted_only:
        unit, total = PER_CURRENCY, base if rated else None
    elif rated:
        unit = total = base
    elif _split_by_currency(view) and not converted_only:
        unit, total = PER_CURRENCY, None
    else:
        # converted (a chart's figures on one axis) cannot be without every rate
        f, a = wanted[0]
        raise UserError(_missing_rates(store, view, value_label(f, a), base, converted_only))
    units = {value_column(f, a): unit for f, a in wanted}
    totals = {value_column(f, a): total for f, a in wanted if total}
    return units, totals


def _missing_rates(store: Store, view: View, label: str, base: str, chart: bool = False) -> str:
    """The refusal of money over currencies without rates, naming them (a second look at
    the data, on this error path only); `chart`: of a chart's converted figures."""
    where, params = compile_where(view)
    join, join_params = money.fx_join(base)
    cur = money.CURRENCY_SQL
    found = store.rows(
        f"SELECT {cur}, bool_or({money.RATE_SQL} IS NULL) FROM {_from(view)} {join} "
        f"WHERE {where} GROUP BY 1 ORDER BY 1",
        [*join_params, *params],
    )
    missing = [c for c, lacking in found if lacking]
    return money.missing_rates_message(label, len(found), missing, base, chart=chart)


def _split_by_currency(view: View) -> bool:
    """Whether every row (or pivot column) of the view holds one currency's customers."""
    return CURRENCY_FIELD in view.groups or view.pivot == CURRENCY_FIELD


def _values(view: View) -> list[tuple[str, str]]:
    return [("*", "count"), *[(f, a) for f, a in view.values]]


def _sort_keys(view: View, allowed: dict[str, str]) -> list[tuple[str, bool]]:
    """The view's sort as (column, ascending) pairs over `allowed` (sort name -> column);
    refuses a name that is not there, saying what is."""
    keys = []
    for name, direction in view.sort:
        if name not in allowed:
            near = nearest(name, list(allowed))
            guess = f"did you mean {' or '.join(map(repr, near))}? " if near else ""
            raise UserError(
                f"cannot sort by {name!r} here ({guess}this view sorts by: {', '.join(allowed)})"
            )
        keys.append((allowed[name], direction == "asc"))
    return keys


#: The grouping-set markers a grouped scan adds: 0 in a row group's rows (every group key
#: is its own), non-zero in total rows; and the same for the pivot field.
_GK, _GP, _P, _ROWS = "_gk", "_gp", "_p", "_rows"


def compile_grouping(
    view: View,
    base: str | None = None,
    *,
    converted: bool = False,
    fine: bool = True,
    rates: Callable[[str], tuple[str, list[Any]]] | None = None,
) -> Query:
    """The one scan behind a group or pivot view: `GROUP BY GROUPING SETS`.

    Groups: the sets (groups) and () — every group and the grand total. Pivot: (groups,
    pivot), (groups), (pivot) and () — the cells, each row's total, each column's total
    (whose pivot values are the column labels) and the grand total. `_gk` / `_gp` tell a
    total row from a group whose key is NULL. The result has one row per group and pivot
    value: small, and shaped into the page by `run` (sort, page, spread into columns).

    Money (a sum, average, minimum or maximum of a money field) never mixes currencies:
    joined to the exchange rates into `base` (default: `reporting_base(view)`), each value
    is decided in the scan (`_money_select`) and markers say how (`_money_units`).
    `converted`: a view split by currency converts its cells too (for a chart).
    `fine=False`: money in one scan of the customer rows even where `_fine_grouping`
    answers (the plan the tests compare it with). `rates`: a function of the currency
    column's SQL giving the rates' join (`money.fx_values`); default `money.fx_join`."""
    view.check()
    where, params = compile_where(view)
    source = _from(view)
    values = _pivot_values(view) if view.pivot else _values(view)
    rolled = _summed_usage(view, values)
    if rolled is not None:
        source = rolled

    def col(name: str) -> str:
        # a usage key of summed usage is the summing subquery's column
        return (
            quote(name)
            if rolled is not None and COLUMNS[name].source == "usage"
            else column_sql(name)
        )

    keys = [col(g) for g in view.groups]
    select = [f"{col(g)} AS {quote(g)}" for g in view.groups]
    if view.pivot:
        pcol = col(view.pivot)
        select.append(f'{pcol} AS "{_P}"')
        sets = [(*keys, pcol), tuple(keys), (pcol,), ()] if keys else [(pcol,), ()]
    else:
        sets = [tuple(keys), ()]
    cash = money_values(values)
    if cash and fine and rolled is None and view.source == "customers":
        two_steps = _fine_grouping(view, values, base or reporting_base(view), converted,
                                   where, params, source, rates)  # fmt: skip
        if two_steps is not None:
            return two_steps
    if cash:
        join, join_params = money.fx_join(base or reporting_base(view))
        source, params = f"{source} {join}", [*join_params, *params]
    select += [
        f"{_money_select(view, f, a, converted) if (f, a) in cash else aggregate_sql(f, a, source=view.source)}"
        f' AS "{value_column(f, a)}"'
        for f, a in values
    ]
    if cash:
        cur = money.CURRENCY_SQL
        # a currency of the rows, and the same when it is their only one (else NULL)
        one = _ONE_CURRENCY
        select += [f'any_value({cur}) AS "{_CCY}"',
                   f'CASE WHEN min({one}) = max({one}) THEN any_value({cur}) END AS "{_NCUR}"',
                   f'count(*) - count({money.RATE_SQL}) AS "{_NOFX}"']  # fmt: skip
    if view.pivot and view.source == "customers":
        select.append(f'count(*) AS "{_ROWS}"')  # the customers, from the grand total
    elif view.pivot and rolled is not None:
        # the customers, from the grand total: a few rows a customer, not a scan of its days
        select.append(f'{aggregate_sql("*", "count", source="usage")} AS "{_ROWS}"')
    select.append(f'grouping({", ".join(keys)}) AS "{_GK}"' if keys else f'1 AS "{_GK}"')
    if view.pivot:
        select.append(f'grouping({pcol}) AS "{_GP}"')
    grouping = ", ".join("(" + ", ".join(s) + ")" for s in sets)
    return Query(
        f"SELECT {', '.join(select)} FROM {source} WHERE {where} "
        f"GROUP BY GROUPING SETS ({grouping}) ORDER BY {_grouping_order(view, values)}",
        list(params),
    )


def _grouping_order(view: View, values: list[tuple[str, str]]) -> str:
    """The ORDER BY of a grouped scan's small result: row groups first, in the view's
    order (so a page is a slice), then the totals; a pivot's column totals by pivot value
    (its labels' order)."""
    allowed = {g: quote(g) for g in view.groups} | {
        value_column(f, a): f'"{value_column(f, a)}"' for f, a in values
    }
    order = [f'"{_GK}"'] + ([f'"{_GP}"', f'"{_P}" ASC NULLS LAST'] if view.pivot else [])
    # a customer field in a group view's sort orders the customers of the tree's open groups
    # (dashboard.tree): the groups themselves are not sorted by it
    # (not a field of a value: "revenue" beside "sum_revenue" is a slip, answered below)
    aggregated = {f for f, _ in view.values}
    leaf = [s for s in view.sort
            if s[0] not in allowed and s[0] in view.fields and s[0] not in aggregated]  # fmt: skip
    # a pivot column's cells are another grouping set's rows: `run_pivot` sorts by them
    leaf += [s for s in view.sort if view.pivot and _cell_key(s[0], allowed)]
    by = view.copy(sort=[s for s in view.sort if s not in leaf]) if leaf else view
    order.append(_order_by(by, allowed, [quote(g) + " ASC NULLS LAST" for g in view.groups]))
    return ", ".join(o for o in order if o)


def _fine_grouping(
    view: View,
    values: list[tuple[str, str]],
    base: str,
    converted: bool,
    where: str,
    params: list[Any],
    source: str,
    rates_of: Callable[[str], tuple[str, list[Any]]] | None = None,
) -> Query | None:
    """`compile_grouping` of a customers view with money, in two steps: one plain
    `GROUP BY` of the customers by the group keys, the pivot field and the currency, with
    each value's parts (sums, counts, minimums), no rates; then, over that small result,
    the exchange rates joined per currency and the grouping sets rolled up from the parts.
    Each customer row is read once without a join or a conversion (the costly part of
    converting per row), and the answer is the one of the one-scan plan: a sum converted
    is the sum of each currency's sum times its rate, an average the converted sum over
    the count, a minimum or maximum the converted one of each currency's (rates are
    positive). None when a value does not roll up (a distinct count, a ratio's average):
    the one-scan plan answers."""
    keys = [quote(g) for g in view.groups]
    inner = [f"{column_sql(g)} AS {quote(g)}" for g in view.groups]
    pcol = f'"{_P}"'
    if view.pivot:
        inner.append(f"{column_sql(view.pivot)} AS {pcol}")
    if CURRENCY_FIELD in view.groups:
        cur = quote(CURRENCY_FIELD)
    elif view.pivot == CURRENCY_FIELD:
        cur = pcol
    else:
        cur = '"_c"'
        inner.append(f"{money.CURRENCY_SQL} AS {cur}")
    inner.append('count(*) AS "_n"')
    rate = money.RATE_SQL
    # rows (of the customers) that have no rate, and the currency markers, from the parts
    nofx = f'sum(CASE WHEN {rate} IS NULL THEN "_n" ELSE 0 END)'
    one = f"hash({cur})"
    cash = set(money_values(values))
    outer = [*keys] + ([pcol] if view.pivot else [])
    for i, (f, a) in enumerate(values):
        name = f'"{value_column(f, a)}"'
        if f == "*":
            # (a count of no rows is 0: the grand total of an empty result has no parts)
            outer.append(f'coalesce(sum("_n"), 0)::BIGINT AS {name}')
            continue
        fld = get_field(f)
        if a not in fld.aggregates:
            raise UserError(f"{fld.label} cannot be aggregated by {a}")
        if a == "count_distinct" or (fld.ratio and a == "avg"):
            return None
        e = fld.type.aggregate_sql(column_sql(f), a)
        p, c = f'"_v{i}"', f'"_v{i}c"'
        if a == "avg":
            inner += [f"sum({e}) AS {p}", f"count({e}) AS {c}"]
            native = f"(sum({p})::DOUBLE / nullif(sum({c}), 0))"
            # the converted average counts only the amounts that have a rate
            conv = (f"(sum({fld.type.converted_sql(p, rate)})::DOUBLE / "
                    f"nullif(sum(CASE WHEN {rate} IS NOT NULL THEN {c} END), 0))"
                    if (f, a) in cash else native)  # fmt: skip
        elif a == "count":
            inner.append(f"count({e}) AS {p}")
            native = conv = f"coalesce(sum({p}), 0)::BIGINT"
        else:  # sum, min, max: of the parts, as of the rows
            inner.append(f"{a}({e}) AS {p}")
            native = f"{a}({p})"
            conv = f"{a}({fld.type.converted_sql(p, rate)})" if (f, a) in cash else native
        if (f, a) in cash:
            select = _money_select(view, f, a, converted, (native, conv, one, nofx, cur))
        else:
            select = native
        outer.append(f"{select} AS {name}")
    outer += [f'any_value({cur}) AS "{_CCY}"',
              f'CASE WHEN min({one}) = max({one}) THEN any_value({cur}) END AS "{_NCUR}"',
              f'{nofx}::BIGINT AS "{_NOFX}"']  # fmt: skip
    if view.pivot:
        outer.append(f'coalesce(sum("_n"), 0)::BIGINT AS "{_ROWS}"')
    outer.append(f'grouping({", ".join(keys)}) AS "{_GK}"' if keys else f'1 AS "{_GK}"')
    if view.pivot:
        outer.append(f'grouping({pcol}) AS "{_GP}"')
        sets = [(*keys, pcol), tuple(keys), (pcol,), ()] if keys else [(pcol,), ()]
    else:
        sets = [tuple(keys), ()]
    grouping = ", ".join("(" + ", ".join(s) + ")" for s in sets)
    rates, rate_params = (rates_of or (lambda c: money.fx_join(base, c)))(f"_f.{cur}")
    return Query(
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {source} "
        f"WHERE {where} GROUP BY ALL) AS _f {rates} "
        f"GROUP BY GROUPING SETS ({grouping}) ORDER BY {_grouping_order(view, values)}",
        [*params, *rate_params],
    )


def _summed_usage(view: View, values: list[tuple[str, str]]) -> str | None:
    """The FROM clause of a usage group or pivot that first sums each customer's days per
    usage key (month: 90 days become 3 or 4 rows), then joins the customers: the join, the
    money markers and conversion work on those few rows, not on every day. Only where the
    answer is the same: no usage field filtered, no group by day, and every value a sum of
    a stored usage field, a ratio's average (a quotient of two sums) or the customers'
    count. None otherwise (the days are joined as they are)."""
    if view.source != "usage":
        return None
    if any(COLUMNS[Filter.of(x).field].source == "usage" for x in view.filters):
        return None
    ukeys = [g for g in (*view.groups, view.pivot) if g and COLUMNS[g].source == "usage"]
    if not ukeys or USAGE_DAY in ukeys:
        return None
    summed: list[str] = []
    for fname, agg in values:
        if fname == "*":
            continue
        f = COLUMNS[fname]
        if f.source != "usage":
            return None
        if f.ratio and agg == "avg":
            summed += [f.ratio[0], f.ratio[1]]
        elif agg == "sum" and f.expr is None:
            summed.append(fname)
        else:
            return None
    cols = [f"{column_sql(k)} AS {quote(k)}" for k in dict.fromkeys(ukeys)]
    cols += [f"sum({quote(n)}) AS {quote(n)}" for n in dict.fromkeys(summed)]
    return (
        f'(SELECT "customer_id", {", ".join(cols)} FROM usage_daily GROUP BY ALL) AS usage_daily '
        "JOIN customers ON customers.id = usage_daily.customer_id"
    )


#: Between a value column and a pivot label in the sort key of one pivot column's cells:
#: "sum_credit@GB" sorts the rows by their GB cells of Sum of Balance.
CELL_KEY = "@"


def pivot_cell_key(column: str, label: str) -> str:
    """The sort key of a pivot column's cells: its value column and its label as shown."""
    return f"{column}{CELL_KEY}{label}"


def _cell_key(name: str, allowed: dict[str, str]) -> bool:
    """Whether a sort key names a pivot column's cells (of a value among `allowed`)."""
    column, at, _label = name.partition(CELL_KEY)
    return bool(at) and column in allowed


def _sort_by_cells(
    rows: pd.DataFrame, cells: pd.DataFrame, view: View, text_of: dict[Any, str]
) -> pd.DataFrame:
    """The pivot's row groups sorted by the view's sort where it names a pivot column's
    cells (`pivot_cell_key`): those are rows of another grouping set, so the sort is done
    here, over every row group (before the page is cut). The other keys sort as in SQL
    (NULLS LAST), and ties keep the scan's order."""
    names = [value_column(f, a) for f, a in _pivot_values(view)]
    allowed = {n: n for n in names}
    if not any(_cell_key(name, allowed) for name, _ in view.sort):
        return rows
    frame = rows.copy()
    label = cells[_P].map(lambda v: text_of.get(None if pd.isna(v) else v))
    where = _keys(rows, view.groups)
    by, ascending = [], []
    for i, (name, direction) in enumerate(view.sort):
        column, _at, text = name.partition(CELL_KEY)
        if _cell_key(name, allowed):
            mine = cells[label == text]
            held = dict(zip(_keys(mine, view.groups), mine[column], strict=True))
            key = pd.Series([held.get(k) for k in where], index=frame.index, dtype=object)
            if _counted(column):
                key = key.fillna(0)  # no customer there: the cell shows 0
            if view.percent == "row":  # a share of its row's total, as shown
                key = pd.to_numeric(key, errors="coerce") / pd.to_numeric(
                    frame[column], errors="coerce")  # fmt: skip
        elif name in frame.columns:
            key = frame[name]
        else:
            continue
        numbers = pd.to_numeric(key, errors="coerce")
        frame[f"_by{i}"] = numbers if numbers.notna().sum() == key.notna().sum() else key
        by.append(f"_by{i}")
        ascending.append(direction == "asc")
    frame = frame.sort_values(by, ascending=ascending, na_position="last", kind="stable")
    return frame.drop(columns=by)


def _pivot_values(view: View) -> list[tuple[str, str]]:
    return [tuple(v) for v in view.values] or [("*", "count")]


def pivot_total_keys(view: View) -> dict[str, str]:
    """A pivot result's row-total column titles ("Total", "Total · Sum of Revenue") and the
    sort key each sorts by ("count", "sum_revenue")."""
    values = _pivot_values(view)
    if len(values) == 1:
        return {TOTAL: value_column(*values[0])}
    return {f"{TOTAL} · {value_label(f, a)}": value_column(f, a) for f, a in values}


# --- results -------------------------------------------------------------------------


@dataclass
class Result:
    """What the engine answers for a view.

    `data` is the page (rows, groups or pivot rows); `totals` the grand-total row (groups
    and pivot); `total` the number of matching customers (rows) or of groups; `labels`
    maps result columns to a person's column titles.
    """

    data: pd.DataFrame
    total: int
    mode: str
    totals: pd.DataFrame | None = None
    labels: dict[str, str] = field(default_factory=dict)
    queries: list[Query] = field(default_factory=list)
    customers: int | None = None
    #: (search text, ids it matched or None): what a later `run(earlier=...)` may reuse
    search: tuple[str, list[int] | None] | None = None
    #: The OFFSET form of a page of rows (`compile_rows`), whichever statement fetched it:
    #: the next page of the same view is then read by keyset (`compile_after`)
    page_query: Query | None = None
    #: The currency of each money value column ("sum_credit": "EUR"; "per currency" when
    #: split by currency); a value not here is not money or has no customers.
    units: dict[str, str] = field(default_factory=dict)
    #: The currency of the figures that span currencies (the grand total; a pivot's row
    #: totals when its columns are currencies) where it differs from `units`: a view split
    #: by currency keeps each currency's amounts as they are and converts only these.
    total_units: dict[str, str] = field(default_factory=dict)
    #: The totals row's name in `table()`: "Total", or "Total (EUR)" when its money is
    #: converted while the groups above it keep their own currencies.
    total_label: str = TOTAL
    #: A pivot's value columns ("GB · Sum of Balance", "Total") and the value each holds,
    #: (field, aggregate): how each is formatted is its field's type's
    value_of: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: A pivot's value columns and the sort key each sorts by: a row total its value
    #: ("sum_credit"), a pivot column its cells ("sum_credit@GB", `pivot_cell_key`)
    sorts_by: dict[str, str] = field(default_factory=dict)

    def value_label(self, fname: str, agg: str) -> str:
        """A value's name with its currency when it is money: "Sum of Balance (EUR)"."""
        return value_label(fname, agg, self.units)

    @property
    def sql(self) -> str:
        """The SQL of the main query (parameters as ?; see `params`)."""
        return self.queries[0].sql if self.queries else ""

    @property
    def params(self) -> list[Any]:
        """The values bound to the main query's ? placeholders, in order."""
        return list(self.queries[0].params) if self.queries else []

    def table(self) -> pd.DataFrame:
        """The page with its totals row appended and columns titled for people; numbers
        keep numeric dtypes (the label columns hold text)."""
        frame = self.data
        if self.totals is not None and len(self.totals):
            tot = self.totals.copy()
            key_cols = [c for c in frame.columns if c not in tot.columns]
            for i, c in enumerate(key_cols):
                tot[c] = self.total_label if i == 0 else ""
            numbers = [
                c
                for c in frame.columns
                if c not in key_cols and pd.api.types.is_numeric_dtype(frame[c])
            ]  # min of a date stays a date
            frame = pd.concat(
                [frame.astype(object), tot[frame.columns].astype(object)], ignore_index=True
            )
            for c in numbers:
                frame[c] = pd.to_numeric(frame[c])
        return frame.rename(columns=self.labels)


def run(
    store: Store,
    view: View,
    *,
    paged: bool = True,
    earlier: Result | None = None,
    key: bool = False,
    converted: bool = False,
    with_unit: bool = False,
) -> Result:
    """Run a view: rows, groups or pivot, by its mode. Returns a `Result`: `.data` (a
    DataFrame), `.total` (matching rows or groups, all pages), `.totals` (the grand-total
    row of a group or pivot), `.table()` (titled, with the totals row), `.sql`, `.params`.

    One page: `view.page_size` rows or groups (50 unless set), page `view.page`;
    `paged=False` returns all of them. Rows hold the view's columns (`key=True` adds the
    customer id when they lack it, as the page does for its selection).

    `earlier`: a session's previous result over unchanged data (the caller knows: the page
    compares change tokens). Then the quick search is looked up once and its matching ids
    kept with the result, so paging, sorting or filtering the same search does not scan
    every text column again; and when the count query is the same (only the page, sort or
    columns differ) its counts are reused. At a million customers a search costs one scan
    instead of two, and a filter or page change after it a few milliseconds.

    Money never mixes currencies: over several currencies it is converted into the
    reporting currency (`view.base`), except in a view split by currency (groups or pivot
    columns by Currency), whose cells keep their own currency (`.units` says "per
    currency") and only the totals across currencies are converted (`.total_units`).
    `converted=True` converts those cells too (a chart compares them on one axis), and
    refuses, naming them, when rates are missing.
    `with_unit=True`: rows showing an amount of money carry their currency (`UNIT_COLUMN`),
    so the amount is shown with it. Rows sorted by an amount of money are sorted by its
    value in the reporting currency when every currency has a rate, else by currency and
    then amount.
    """
    view = _with_search_ids(store, view, earlier)
    if view.mode == "pivot":
        result = _without_hidden(run_pivot(store, view, paged=paged, converted=converted), view)
    elif view.mode == "groups":
        result = _without_hidden(run_groups(store, view, paged=paged, converted=converted), view)
    else:
        result = run_rows(store, view, paged=paged, counts=earlier, key=key, with_unit=with_unit)
    result.search = (view.search.strip(), view.search_ids)
    return result


def _without_hidden(result: Result, view: View) -> Result:
    """A group or pivot result without the columns the view hides (`View.hidden`, each
    named as its sort key: "sum_credit", "sum_credit@GB"). The one place they are dropped,
    after the sort, the shares and the totals were made of every column: the page, the
    chart, the CSV and XLSX report, `to_arrow` and `customer-dashboard pivot` all read
    this result, so a hidden column is hidden from each of them alike."""
    hidden = set(view.hidden)
    if not hidden:
        return result
    drop = [c for c in result.data.columns
            if c not in view.groups and result.sorts_by.get(c, c) in hidden]  # fmt: skip
    if not drop:
        return result
    result.data = result.data.drop(columns=drop)
    if result.totals is not None:
        result.totals = result.totals.drop(columns=[c for c in drop if c in result.totals])
    for name in drop:
        for kept in (result.labels, result.value_of, result.sorts_by):
            kept.pop(name, None)
    return result


def hidden_title(view: View, name: str) -> str:
    """A hidden column's title as its header read (`View.hidden` names it by its sort
    key): "Sum of Balance" for "sum_credit"; in a pivot "GB" for "sum_credit@GB" and
    "Total" for "sum_credit" ("GB · Sum of Balance" with several values)."""
    column, at, label = name.partition(CELL_KEY)
    values = _pivot_values(view) if view.mode == "pivot" else _values(view)
    spec = next(((f, a) for f, a in values if value_column(f, a) == column), None)
    if spec is None:
        return name
    if view.mode != "pivot":
        return value_label(*spec)
    place = label if at else TOTAL
    return place if len(values) == 1 else f"{place} · {value_label(*spec)}"


#: A quick search matching more customers than this is not kept as ids (a long list to bind)
MAX_SEARCH_IDS = 100_000


def _with_search_ids(store: Store, view: View, earlier: Result | None) -> View:
    """`view` with its quick search as matching ids, for a session (`earlier` given): the
    earlier result's when it searched the same text, else looked up now (customers only,
    whatever the source: a usage row matches through its customer). Unchanged when there
    is no search, no session or too many match; then the view's own statement scans the
    search table once (`compile_found`)."""
    text = view.search.strip()
    if not text or earlier is None or view.search_ids is not None:
        return view
    if earlier.search and earlier.search[0] == text:
        ids = earlier.search[1]  # None: too many matched, the text is searched each time
        if ids is None:
            return view
    else:
        q = compile_ids(View(search=text))
        ids = [i for (i,) in store.rows(f"{q.sql} LIMIT ?", [*q.params, MAX_SEARCH_IDS + 1])]
        if len(ids) > MAX_SEARCH_IDS:
            return view
    copy = view.copy()
    copy.search_ids = ids
    return copy


def run_rows(
    store: Store,
    view: View,
    *,
    paged: bool = True,
    counts: Result | None = None,
    key: bool = False,
    with_unit: bool = False,
) -> Result:
    """The rows of a view; `counts`: an earlier result whose counts hold if its count
    query is this one; `key`: add the customer id; `with_unit`: each row's currency
    (see `run`)."""
    q = page_query = compile_rows(view, paged=paged, key=key, with_unit=with_unit)
    c = compile_count(view)
    both = (compile_found(view, key=key, with_unit=with_unit)
            if paged and not _same_count(counts, c) else None)  # fmt: skip
    backwards = False
    if both is None and paged:
        q, backwards = _from_earlier(view, counts, key, c, with_unit) or (q, False)
    if q is page_query and paged and store.dialect.seeks_deep_pages:
        q = _deep_page(view, key, with_unit) or q
    data = both.run(store) if both is not None else q.run(store)
    if backwards:  # read in the reverse order, from the end or before a later page
        data = data.iloc[::-1].reset_index(drop=True)
    shared = data.pop("__total") if both is not None else None
    if shared is not None and len(shared):
        total = customers = int(shared.iloc[0])
        q = both
    elif _same_count(counts, c):
        total, customers = counts.total, counts.customers
    else:
        total = int(store.scalar(c.sql, c.params))
        customers = total if view.source == "customers" else int(store.scalar(*_count_args(view)))
    labels = {name: COLUMNS[name].label for name in data.columns if name in COLUMNS}
    return Result(
        data, total, "rows", labels=labels, queries=[q, c], customers=customers,
        page_query=page_query if paged else None,
    )  # fmt: skip


def _earlier_page(
    view: View, earlier: Result | None, key: bool, with_unit: bool = False
) -> int | None:
    """The page number `earlier` showed when it is a page of this same view (same filters,
    sort, columns and page size), else None."""
    if earlier is None or earlier.page_query is None or view.page_size < 1:
        return None
    was = earlier.page_query
    page = int(was.params[-1]) // view.page_size + 1 if was.params else 0
    if page < 1 or page == view.page:
        return None
    same = compile_rows(view.copy(page=page), key=key, with_unit=with_unit)
    return page if (same.sql, list(same.params)) == (was.sql, list(was.params)) else None


def _from_earlier(
    view: View, earlier: Result | None, key: bool, count: Query, with_unit: bool = False
) -> tuple[Query, bool] | None:
    """The page read from a place the session already knows, when that skips fewer rows
    than OFFSET from the start (a top-N keeps every skipped row: page 2,000 of a million
    sorts 100,000 rows): after the last row of an earlier page of the same view, or before
    its first row (a sort on at most one column, by keyset), or from the end when the count
    is known (any sort: the order reversed). Returns (query, whether it reads backwards:
    the rows then come last first), or None: OFFSET from the start is as good."""
    if earlier is None or view.source != "customers":
        return None
    size = view.page_size
    start = (view.page - 1) * size  # the rows OFFSET skips
    ways: list[tuple[int, Any]] = []  # (rows skipped, how to make the query)
    page = _earlier_page(view, earlier, key, with_unit)

    def keyset(row: dict[str, Any], skip: int, before: bool = False) -> Query | None:
        return _keyset(view, row, key, skip, before=before, with_unit=with_unit)

    if page is not None and len(earlier.data):
        if view.page > page and len(earlier.data) == size:
            last = earlier.data.iloc[-1].to_dict()
            skip = (view.page - page - 1) * size
            ways.append((skip, lambda: (keyset(last, skip), False)))
        elif view.page < page:
            first = earlier.data.iloc[0].to_dict()
            skip = (page - view.page - 1) * size
            ways.append((skip, lambda: (keyset(first, skip, before=True), True)))
    if _same_count(earlier, count) and start < earlier.total:
        rows = min(size, earlier.total - start)
        after = earlier.total - start - rows  # the rows after the page
        ways.append((after, lambda: (_from_end(view, key, rows, after, with_unit), True)))
    for skip, make in sorted(ways, key=lambda w: w[0]):
        if skip >= start:
            break
        q, backwards = make()
        if q is not None:
            return q, backwards
    return None


def _reversed_order(view: View) -> str:
    """The view's row order backwards (NULLs, last going forward, come first); a sort by
    money needs the rates joined (`_rates_join`)."""
    keys = _row_keys(view, {name: column_sql(name) for name in view.fields})
    order = [f"{col} {'DESC' if asc else 'ASC'} NULLS FIRST" for col, asc in keys]
    return ", ".join([*order, '"id" DESC'])


def _from_end(view: View, key: bool, rows: int, after: int, with_unit: bool = False) -> Query:
    """The page as the `rows` rows before the last `after` rows, read backwards."""
    where, params = compile_where(view)
    rates, rate_params = _rates_join(view)
    return Query(
        f"SELECT {_select_list(view, key, with_unit)} FROM {_from(view)}{rates} WHERE {where} "
        f"ORDER BY {_reversed_order(view)} LIMIT ? OFFSET ?",
        [*rate_params, *params, rows, after],
    )


#: A page further than this many rows from the start is read by seeking where the engine
#: gains by it (`Dialect.seeks_deep_pages`, `_deep_page`); nearer pages by OFFSET.
SEEK_PAST = 20_000


def _indexed_sorts() -> set[str]:
    """The customer fields an index holds in order, then by id (migration 11's indexes)."""
    return {m for sql in migrations.V11_PG_SQL for m in re.findall(r'ON customers \("(\w+)"', sql)}


def _deep_page(view: View, key: bool = False, with_unit: bool = False) -> Query | None:
    """A page past `SEEK_PAST` rows as a seek: the first row of the page found by OFFSET
    over the sort key and id alone (an index-only scan where the table is vacuumed, see
    `Store.settle`: no row is read whole), then the page read from that row on by the
    index. The same rows as `compile_rows`'s OFFSET, which reads every skipped row whole.
    For customers in id order or sorted by one indexed field (`_indexed_sorts`); None for
    any other view (OFFSET then)."""
    skip = (view.page - 1) * view.page_size
    if view.source != "customers" or skip < SEEK_PAST or len(view.sort) > 1:
        return None
    if view.sort and (view.sort[0][0] not in _indexed_sorts() or _money_sort(view)):
        return None
    where, params = compile_where(view)
    frm, ident, size = _from(view), column_sql("id"), view.page_size
    cols = _select_list(view, key, with_unit)
    if not view.sort:
        return Query(
            f"SELECT {cols} FROM {frm} WHERE ({where}) AND {ident} >= (SELECT {ident} "
            f"FROM {frm} WHERE {where} ORDER BY {ident} LIMIT 1 OFFSET ?) "
            f"ORDER BY {ident} LIMIT ?",
            [*params, *params, skip, size],
        )
    ((col, asc),) = _sort_keys(view, {n: column_sql(n) for n in view.fields})
    way, reach, beyond = ("ASC", ">=", ">") if asc else ("DESC", "<=", "<")
    names = ", ".join(f"_s.{_name(n)}" for _, n in _selected(view, key, with_unit))
    # the page's first row (k, i); then the rows from it on: those with a value, in the
    # index's order from k (the `reach` bound is what the index seeks to), and the NULLs,
    # which sort last (all of them when k has a value, else those from id i on)
    return Query(
        f"WITH _b AS MATERIALIZED (SELECT {col} AS k, {ident} AS i FROM {frm} WHERE {where} "
        f"ORDER BY {col} {way} NULLS LAST, {ident} LIMIT 1 OFFSET ?) "
        f"SELECT {names} FROM ("
        f'(SELECT {cols}, {col} AS "_k", {ident} AS "_kid" FROM {frm} WHERE ({where}) '
        f"AND {col} {reach} (SELECT k FROM _b) "
        f"AND ({col} {beyond} (SELECT k FROM _b) OR {ident} >= (SELECT i FROM _b)) "
        f"ORDER BY {col} {way} NULLS LAST, {ident} LIMIT ?) UNION ALL "
        f"(SELECT {cols}, {col}, {ident} FROM {frm} WHERE ({where}) AND {col} IS NULL "
        f"AND ((SELECT k FROM _b) IS NOT NULL OR {ident} >= (SELECT i FROM _b)) "
        f"ORDER BY {ident} LIMIT ?)) AS _s "
        f'ORDER BY _s."_k" {way} NULLS LAST, _s."_kid" LIMIT ?',
        [*params, skip, *params, size, *params, size, size],
    )


def _key_value(value: Any) -> tuple[bool, Any]:
    """(usable, value to bind) for a sort key read back from a page."""
    if value is None or (not isinstance(value, list | tuple | np.ndarray) and pd.isna(value)):
        return True, None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    ok = isinstance(value, str | int | float | decimal.Decimal | dt.date | dt.datetime)
    return ok, value


def compile_after(
    view: View, last: dict[str, Any], *, key: bool = False, with_unit: bool = False
) -> Query | None:
    """The view's page as the `page_size` rows after `last` (the previous page's last row,
    by column name) in the view's order: a keyset page, which reads no skipped rows (page
    2,000 of a million customers costs a scan, not a sort of 100,000 rows). Customers
    sorted by at most one column (then by id, as always); None when that does not hold or
    `last` lacks the sort column or the id: the caller uses OFFSET."""
    return _keyset(view, last, key, 0, with_unit=with_unit)


def _keyset(
    view: View, row: dict[str, Any], key: bool, skip: int, *, before: bool = False,
    with_unit: bool = False,
) -> Query | None:  # fmt: skip
    """`page_size` rows after `row` (a row of an earlier page, by column name) in the
    view's order, `skip` rows further on; with `before`, the rows before it, read
    backwards (last first). None when the sort is on more than
    one column or `row` lacks what the keyset needs."""
    if view.source != "customers" or "id" not in row:
        return None
    ok, row_id = _key_value(row["id"])
    if not ok or row_id is None:
        return None
    if _money_sort(view):
        return _keyset_by_id(view, row_id, key, skip, before=before, with_unit=with_unit)
    if len(view.sort) > 1:
        return None
    where, params = compile_where(view)
    ident = column_sql("id")
    further = "<" if before else ">"
    if view.sort:
        name = view.sort[0][0]
        allowed = {n: column_sql(n) for n in view.fields}
        ((col, asc),) = _sort_keys(view, allowed)
        ok, value = _key_value(row.get(name)) if name in row else (False, None)
        if not ok:
            return None
        if value is None and not before:  # NULLs sort last: only NULLs with a higher id follow
            cond, more = f"({col} IS NULL AND {ident} > ?)", [row_id]
        elif value is None:  # every value comes before the NULLs
            cond, more = f"({col} IS NOT NULL OR ({col} IS NULL AND {ident} < ?))", [row_id]
        else:
            op = ">" if asc != before else "<"
            nulls = "" if before else f" OR {col} IS NULL"
            cond = f"({col} {op} ? OR ({col} = ? AND {ident} {further} ?){nulls})"
            more = [value, value, row_id]
    else:
        cond, more = f"{ident} {further} ?", [row_id]
    if before:
        order = _reversed_order(view)  # (a sort by money, which joins the rates, is not here)
    else:
        order = _order_by(view, {n: column_sql(n) for n in view.fields}, ['"id"'])
    limit, tail = (
        ("LIMIT ? OFFSET ?", [view.page_size, skip]) if skip else ("LIMIT ?", [view.page_size])
    )
    return Query(
        f"SELECT {_select_list(view, key, with_unit)} FROM {_from(view)} WHERE ({where}) AND {cond} "
        f"ORDER BY {order} {limit}",
        [*params, *more, *tail],
    )


def _keyset_by_id(
    view: View, row_id: Any, key: bool, skip: int, *, before: bool = False,
    with_unit: bool = False,
) -> Query:  # fmt: skip
    """`_keyset` for any row sort, from the id of the row to start after (or before): its
    sort keys are read back from the matching rows (`_at`), not from the earlier page,
    since a key may be computed (an amount of money in the reporting currency, NULL unless
    every matching currency has a rate). Each key sorts NULLs last, then the id."""
    # each row joined to its rate once, and whether all have one computed once (the
    # ORDER BY's lookup per row and window over every row cost 1.5 s at 1M customers)
    fx, fx_params = money.fx_join(reporting_base(view))
    rated = (money.RATE_SQL, '(SELECT "_all" FROM _ok)')
    keys = _row_keys(view, {n: column_sql(n) for n in view.fields}, rated)
    where, params = compile_where(view)
    names = [name for _, name in _selected(view, key, with_unit)]
    inner = ", ".join(f'{col} AS "_k{i}"' for i, (col, _) in enumerate(keys))
    # row v comes after row a: equal on the keys before one, further on in that one
    # (nothing follows a NULL but NULLs; going back, every value precedes a NULL)
    ors, same = [], []
    for i, (_, asc) in enumerate(keys):
        v, a = f'_v."_k{i}"', f'_at."_k{i}"'
        op = "<" if asc == before else ">"
        further = (f"(({a} IS NULL AND {v} IS NOT NULL) OR {v} {op} {a})" if before
                   else f"({a} IS NOT NULL AND ({v} {op} {a} OR {v} IS NULL))")  # fmt: skip
        ors.append(" AND ".join([*same, further]))
        same.append(f"{v} IS NOT DISTINCT FROM {a}")
    ors.append(" AND ".join([*same, f'_v."_kid" {"<" if before else ">"} _at."_kid"']))
    if before:
        order = [
            f'_v."_k{i}" {"DESC" if asc else "ASC"} NULLS FIRST' for i, (_, asc) in enumerate(keys)
        ]
        order.append('_v."_kid" DESC')
    else:
        order = [
            f'_v."_k{i}" {"ASC" if asc else "DESC"} NULLS LAST' for i, (_, asc) in enumerate(keys)
        ]
        order.append('_v."_kid" ASC')
    limit, tail = (
        ("LIMIT ? OFFSET ?", [view.page_size, skip]) if skip else ("LIMIT ?", [view.page_size])
    )
    return Query(
        f'WITH _ok AS (SELECT bool_and({money.RATE_SQL} IS NOT NULL) AS "_all" '
        f"FROM {_from(view)} {fx} WHERE {where}), "
        f"_v AS (SELECT {_select_list(view, key, with_unit)}, {inner}, "
        f'{column_sql("id")} AS "_kid" FROM {_from(view)} {fx} WHERE {where}), '
        # the row to start from read on its own (by its id's index): as a second read of
        # `_v`, PostgreSQL rescanned all of `_v` for each of its rows (minutes at 50,000)
        f'_at AS (SELECT {inner}, {column_sql("id")} AS "_kid" FROM {_from(view)} {fx} '
        f"WHERE ({where}) AND {column_sql('id')} = ?) "
        f"SELECT {', '.join(f'_v.{_name(n)}' for n in names)} FROM _v, _at "
        f"WHERE {' OR '.join(f'({c})' for c in ors)} ORDER BY {', '.join(order)} {limit}",
        [*fx_params, *params, *fx_params, *params, *fx_params, *params, row_id, *tail],
    )


def _same_count(earlier: Result | None, count: Query) -> bool:
    if earlier is None or earlier.mode != "rows" or earlier.customers is None:
        return False
    was = earlier.queries[1]
    return was.sql == count.sql and list(was.params) == list(count.params)


def _page(frame: pd.DataFrame, view: View, paged: bool) -> pd.DataFrame:
    """The view's page of already sorted row groups."""
    if paged:
        start = (view.page - 1) * view.page_size
        frame = frame.iloc[start : start + view.page_size]
    return frame.reset_index(drop=True)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable columns that hold no NULL as plain numpy ones, as DuckDB gives a column
    without NULLs (a grouped scan's total rows put NULLs in every key column)."""
    for c in frame.columns:
        dtype = str(frame[c].dtype)
        if dtype in ("Int64", "Int32", "Int16", "Int8", "boolean") and not frame[c].isna().any():
            frame[c] = frame[c].astype(dtype.lower() if dtype != "boolean" else bool)
    return frame


def run_groups(store: Store, view: View, *, paged: bool = True, converted: bool = False) -> Result:
    """A group view from one grouping-sets scan: the page of groups, the grand total and
    the number of groups."""
    view = with_base(store, view)
    base = reporting_base(view) if money_values(_values(view)) else None
    q = compile_grouping(view, base, converted=converted, rates=_rates_of(store, base))
    found = q.run(store)
    values = [value_column(f, a) for f, a in _values(view)]
    count = int((found[_GK].to_numpy() == 0).sum())  # the groups come first, sorted
    units, total_units = _money_units_of(
        store, found, found.iloc[count:], view, _values(view), base or "", converted
    )
    totals = found.iloc[count:][values].reset_index(drop=True)
    data = _plain(_page(found.iloc[:count][[*view.groups, *values]], view, paged))
    labels = {g: COLUMNS[g].label for g in view.groups}
    for fname, agg in _values(view):
        labels[value_column(fname, agg)] = value_label(fname, agg, units)
    customers = int(totals["count"].iloc[0]) if len(totals) else 0
    if view.percent:
        # a group's share of the grand total ("row" is the group itself: 100 % each)
        data, totals = _shares(data, totals, {c: c for c in values}, {c: c for c in values}, view)
    return Result(data, count, "groups", totals, labels, [q], customers, units=units,
                  total_units=total_units, total_label=_total_label(units, total_units))  # fmt: skip


def _rates_of(store: Store, base: str | None) -> Callable[[str], tuple[str, list[Any]]] | None:
    """The rates' join of a grouped scan with money, looked up when the plan needs it."""
    return None if base is None else (lambda currency: money.fx_values(store, base, currency))


def _python(value: Any, f: Field) -> Any:
    """A value of a DataFrame cell as DuckDB would give it to Python (a pivot label)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date() if f.sql_type == "DATE" else value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _counted(column: str) -> bool:
    """Whether a value column counts (an empty cell is 0, not NULL)."""
    return column == "count" or column.startswith("count_")


def _cells(values: pd.Series, rn: np.ndarray, li: np.ndarray, shape: tuple[int, int]) -> Any:
    """Cells (row `rn`, label `li`) as a rows x labels array; missing: 0 for counts, NaN
    (NULL) otherwise. A minimum of dates or text keeps its values."""
    if _counted(str(values.name)):
        out = np.zeros(shape, dtype="int64")
        out[rn, li] = values.to_numpy(dtype="int64")
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = np.full(shape, np.nan)
        out[rn, li] = values.to_numpy(dtype="float64", na_value=np.nan)
    else:
        out = np.full(shape, None, dtype=object)
        out[rn, li] = values.to_numpy(dtype=object)
    return out


def _keys(frame: pd.DataFrame, names: list[str]) -> list[tuple]:
    """Each row's group keys as a hashable tuple, NULLs as None."""
    cols = [[None if pd.isna(v) else v for v in frame[n].tolist()] for n in names]
    return list(zip(*cols, strict=True)) if cols else []


def _column(cells: np.ndarray) -> Any:
    return pd.Series(cells).infer_objects() if cells.dtype == object else cells


def run_pivot(store: Store, view: View, *, paged: bool = True, converted: bool = False) -> Result:
    """A pivot from one grouping-sets scan: labels, cells, row and column totals and the
    grand total all come from it; the page of row groups is spread into columns here."""
    view = with_base(store, view)
    base = reporting_base(view) if money_values(_pivot_values(view)) else None
    q = compile_grouping(view, base, converted=converted, rates=_rates_of(store, base))
    found = q.run(store)
    queries = [q]
    pfield = COLUMNS[view.pivot]
    values = [value_column(f, a) for f, a in _pivot_values(view)]
    gk, gp = found[_GK].to_numpy() != 0, found[_GP].to_numpy() != 0
    column_totals = found[gk & ~gp]  # sorted by pivot value: the labels' order
    raw = list(column_totals[_P])
    labels = [_python(v, pfield) for v in raw]
    if len(labels) > MAX_PIVOT_COLUMNS:
        raise UserError(
            f"{pfield.label} has more than {MAX_PIVOT_COLUMNS} values here; "
            "filter first or pivot on another field"
        )
    where = {(None if pd.isna(v) else v): n for n, v in enumerate(raw)}
    grand = found[gk & gp]
    units, total_units = _money_units_of(
        store, found, grand, view, _pivot_values(view), base or "", converted
    )
    totals_of = {f"total_{v}": v for v in values}
    text_of = {(None if pd.isna(v) else v): pfield.type.group_label(label)
               for v, label in zip(raw, labels, strict=True)}  # fmt: skip
    if view.groups:
        rows = found.loc[~gk & gp, [*view.groups, *values]]  # sorted as the view says
        rows = _sort_by_cells(rows, found[~gk & ~gp], view, text_of)
        page = _plain(_page(rows, view, paged))
        count = len(rows)
        cells = found[~gk & ~gp]
        # each cell's row on the page (-1: another page), by its group keys
        on_page = {k: n for n, k in enumerate(_keys(page, view.groups))}
        rn = np.array([on_page.get(k, -1) for k in _keys(cells, view.groups)], dtype="int64")
        cells, rn = cells[rn >= 0], rn[rn >= 0]
    else:
        page = grand[values].reset_index(drop=True)
        count = 1
        cells = column_totals
        rn = np.zeros(len(cells), dtype="int64")
    li = np.array([where[None if pd.isna(p) else p] for p in cells[_P]], dtype="int64")
    tli = np.array([where[None if pd.isna(p) else p] for p in raw], dtype="int64")
    shape, tshape = (len(page), len(labels)), (1, len(labels))
    data: dict[str, Any] = {g: page[g] for g in view.groups}
    tot: dict[str, Any] = {}
    spread = {v: _cells(cells[v], rn, li, shape) for v in values}
    tspread = {
        v: _cells(column_totals[v], np.zeros(len(tli), "int64"), tli, tshape) for v in values
    }
    for i in range(len(labels)):
        for v in values:
            data[f"p{i}_{v}"] = _column(spread[v][:, i])
            tot[f"p{i}_{v}"] = _column(tspread[v][:, i])
    for name, v in totals_of.items():
        data[name] = page[v].to_numpy()
        tot[name] = grand[v].to_numpy()[:1] if len(grand) else [0 if _counted(v) else None]
    data, totals = pd.DataFrame(data), pd.DataFrame(tot)
    if _ROWS in found.columns:
        customers = int(grand[_ROWS].iloc[0]) if len(grand) else 0
    else:
        c = compile_count(view, customers=True)
        customers = int(store.scalar(c.sql, c.params))
        queries.append(c)
    if view.percent:
        row_total = {}
        for v in values:
            row_total.update({f"p{i}_{v}": f"total_{v}" for i in range(len(labels))})
            row_total[f"total_{v}"] = f"total_{v}"
        data, totals = _shares(data, totals, row_total, {c: c for c in row_total}, view)
    names: dict[str, str] = {}
    value_of: dict[str, tuple[str, str]] = {}
    sorts_by: dict[str, str] = {}
    single = len(values) == 1
    for i, label in enumerate(labels):
        text = pfield.type.group_label(label)
        for fname, agg in _pivot_values(view):
            vc = value_column(fname, agg)
            names[f"p{i}_{vc}"] = text if single else f"{text} · {value_label(fname, agg)}"
            value_of[names[f"p{i}_{vc}"]] = (fname, agg)
            sorts_by[names[f"p{i}_{vc}"]] = pivot_cell_key(vc, text)
    for fname, agg in _pivot_values(view):
        vc = value_column(fname, agg)
        names[f"total_{vc}"] = TOTAL if single else f"{TOTAL} · {value_label(fname, agg)}"
        value_of[names[f"total_{vc}"]] = (fname, agg)
        sorts_by[names[f"total_{vc}"]] = vc
    titles = {g: COLUMNS[g].label for g in view.groups}
    by_currency = view.pivot == CURRENCY_FIELD
    for fname, agg in _pivot_values(view):
        vc = value_column(fname, agg)
        unit = units.get(vc)
        for col, name in names.items():
            if not unit or not col.endswith(f"_{vc}"):
                continue
            # every column title says the currency, as the Total's does: "Total (EUR)",
            # "GB (EUR)", "GB · Sum of ... (EUR)"; a currency's own column holds that
            # currency's amounts: its code is its unit ("JPY", "JPY · Sum of ... (JPY)")
            if col.startswith("total_"):
                cur = total_units.get(vc, unit) if by_currency else unit
                titles[name] = t.Money.unit_label(name, cur)
                continue
            label = labels[int(col[1:].split("_", 1)[0])]
            cur = label if by_currency and unit == PER_CURRENCY and label else unit
            if not (single and by_currency and cur == label):
                titles[name] = t.Money.unit_label(name, cur)
    data = data.rename(columns=names)
    totals = totals.rename(columns=names)
    # columns by currency: each total keeps its column's unit (the Total column says EUR)
    name = TOTAL if by_currency else _total_label(units, total_units)
    return Result(data, count, "pivot", totals, titles, queries, customers, units=units,
                  total_units=total_units, total_label=name, value_of=value_of,
                  sorts_by=sorts_by)  # fmt: skip


def _total_label(units: dict[str, str], total_units: dict[str, str]) -> str:
    """ "Total (EUR)" when the totals row is converted and the groups above it are not."""
    mixed = {u for c, u in total_units.items() if units.get(c) != u}
    return t.Money.unit_label(TOTAL, mixed.pop()) if len(mixed) == 1 else TOTAL


def _shares(
    data: pd.DataFrame,
    totals: pd.DataFrame,
    row_total: dict[str, str],
    same: dict[str, str],
    view: View,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Values as percentages of their row's total, their column's total or the grand total.

    `row_total` maps each value column to the column holding its row's total. The totals
    row comes from DuckDB over every group (not just this page), so shares on any page are
    shares of the whole.
    """
    data, totals = data.copy(), totals.copy()
    grand = totals.iloc[0] if len(totals) else None

    def share(part, whole):
        part = pd.to_numeric(part, errors="coerce").astype(float)
        whole = pd.to_numeric(whole, errors="coerce").astype(float)
        return (100.0 * part / whole.where(whole != 0)).round(2)

    for frame in (data, totals):
        base = frame.copy()
        for col, tcol in row_total.items():
            if view.percent == "row":
                frame[col] = share(base[col], base[tcol])
            else:
                key = same[col] if view.percent == "column" else tcol
                whole = grand[key] if grand is not None else None
                frame[col] = share(base[col], pd.Series([whole] * len(base), index=base.index))
    return data, totals


def _count_args(view: View) -> tuple[str, list[Any]]:
    """How many customers match (distinct ones when a row is a day of usage)."""
    c = compile_count(view, customers=True)
    return c.sql, c.params


def to_arrow(store: Store, view: View, *, paged: bool = False) -> Any:
    """The view's whole result (or one page) as an Arrow table.

    Customer rows stream from DuckDB straight into Arrow; groups and pivots are small and
    come from `run`.
    """
    import pyarrow as pa

    if view.mode == "rows":
        q = compile_rows(view, paged=paged)
        return pa.Table.from_batches(list(store.batches(q.sql, q.params)))
    return pa.Table.from_pandas(run(store, view, paged=paged).data, preserve_index=False)


def matching_ids(store: Store, view: View) -> list[int]:
    """Every customer id the view's filters match (for "select all N that match")."""
    q = compile_ids(view)
    return [i for (i,) in store.rows(q.sql, q.params)]


def count(store: Store, view: View) -> int:
    """How many customers match the view's filters."""
    return int(store.scalar(*_count_args(view)))


#: Where a field's value comes from, in words (field_list's "from" column).
_ORIGINS = {"customers": "customer", "metrics": f"last {METRIC_DAYS} days", "usage": "daily usage"}


def field_list(source: str = "customers") -> pd.DataFrame:
    """Every field a view over `source` ("customers" or "usage") can use, one row each:
    its name (what a view takes), label (what the page shows), type, where the value comes
    from, whether rows can be grouped or pivoted by it, its aggregates (for `values`) and
    its filter operators (for `filters`), and what it means."""
    source = _choice("source", source, list(SOURCES))
    rows = []
    for f in columns_for(source).values():
        rows.append({
            "name": f.name, "label": f.label, "type": f.kind, "from": _ORIGINS[f.source],
            "group": f.groupable, "aggregates": ", ".join(f.aggregates),
            "filters": " ".join(f.filter_ops), "description": f.doc,
        })  # fmt: skip
    return pd.DataFrame(rows)
