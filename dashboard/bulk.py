"""Bulk changes: what Bulk Edit and `customer-dashboard edit --set` apply to many customers.

A `Change` sets a field, or changes a number relatively (+N, -N, *F) within optional bounds,
or adds / removes / replaces tags. It compiles to one SQL expression over the current value,
so a bulk edit of 100,000 customers is a single UPDATE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import UserError
from .fields import FIELDS, Field, bulk_editable
from .fields import field as get_field

OPS = ("set", "add", "subtract", "multiply", "tags_add", "tags_remove")


@dataclass(frozen=True)
class Change:
    """One field's change for every selected customer."""

    field: str
    op: str = "set"
    value: Any = None
    at_least: Any = None
    at_most: Any = None

    def describe(self) -> str:
        """The change in a person's words: "Channels + 5, at most 50"."""
        f = FIELDS[self.field]
        value = self.value
        if self.op == "set":
            text = f"{f.label} = {f.type.to_text(value) or '(empty)'}"
        elif self.op in ("tags_add", "tags_remove"):
            sym = "+=" if self.op == "tags_add" else "-="
            text = f"{f.label} {sym} {', '.join(value or [])}"
        else:
            sym = {"add": "+", "subtract": "-", "multiply": "×"}[self.op]
            text = f"{f.label} {sym} {value}"
        if self.at_least is not None:
            text += f", at least {self.at_least}"
        if self.at_most is not None:
            text += f", at most {self.at_most}"
        return text


_BOUND = re.compile(
    r",?\s*(?:(at most|max|<=)\s*=?\s*(?P<hi>[^,]+?)|(at least|min|>=)\s*=?\s*(?P<lo>[^,]+?))\s*$",
    re.I,
)


def parse_change(name: str, text: Any) -> Change:
    """A change as people type it.

    Numbers: "10" or "=10" sets; "+5" adds; "-5" subtracts ("=-5" sets a negative value);
    "*1.2" or "x1.2" multiplies; ", at most 50" / ", at least 1" bound the result.
    Tags: "+=a, b" adds, "-=a" removes, "a, b" (or "=a, b") replaces.
    Refuses fields that are not bulk-editable.
    """
    f = check_bulk_field(name)
    raw = "" if text is None else str(text) if not isinstance(text, list) else text
    if f.kind == "tags":
        if isinstance(raw, list):
            return Change(f.name, "set", f.parse(raw))
        for prefix, op in (("+=", "tags_add"), ("-=", "tags_remove"), ("=", "set")):
            if raw.startswith(prefix):
                return Change(f.name, op, _parse(f, raw[len(prefix) :]) or [])
        return Change(f.name, "set", _parse(f, raw) or [])
    if not f.type.numeric:
        return Change(
            f.name, "set", _parse(f, raw.removeprefix("=") if isinstance(raw, str) else raw)
        )
    lo = hi = None
    rest = raw.strip()
    while True:
        m = _BOUND.search(rest)
        if not m or m.start() == 0:
            break
        if m.group("hi") is not None:
            hi = _parse(f, m.group("hi"))
        else:
            lo = _parse(f, m.group("lo"))
        rest = rest[: m.start()].strip()
    op, operand = "set", rest
    if rest.startswith("="):
        operand = rest[1:]
    elif rest[:1] == "+":
        op, operand = "add", rest[1:]
    elif rest[:1] in ("-", "−"):
        op, operand = "subtract", rest[1:]
    elif rest[:1] in ("*", "x", "X", "×"):
        op, operand = "multiply", rest[1:]
    if op == "set":
        return Change(f.name, "set", _parse(f, operand), lo, hi)
    try:
        from .types import _number_of

        number = _number_of(operand)
    except ValueError as exc:
        raise UserError(f"{f.label}: {operand!r} {exc}") from None
    if number < 0 and op == "multiply":
        raise UserError(f"{f.label}: a multiplier must not be negative")
    return Change(f.name, op, number, lo, hi)


def _parse(f: Field, raw: Any) -> Any:
    try:
        return f.parse(raw)
    except ValueError as exc:
        raise UserError(f"{f.label}: {raw!r} {exc}") from None


def check_bulk_field(name: str) -> Field:
    """The field, if Bulk Edit may change it; a clear refusal otherwise."""
    f = get_field(name)
    if not f.bulk_editable:
        allowed = ", ".join(x.name for x in bulk_editable())
        raise UserError(
            f"{f.label} ({f.name}) cannot be bulk-edited; bulk-editable fields: {allowed}"
        )
    return f


def change_sql(change: Change, column: str) -> tuple[str, list[Any]]:
    """The SQL expression for the new value, given the current value's column expression."""
    f = check_bulk_field(change.field)
    if change.op not in OPS:
        raise UserError(f"unknown change {change.op!r}")
    if f.kind == "tags":
        current = f"coalesce({column}, []::VARCHAR[])"
        if change.op == "tags_add":
            return (
                f"list_concat({current}, list_filter(?::VARCHAR[], "
                f"lambda x: NOT list_contains({current}, x)))",
                [list(change.value)],
            )
        if change.op == "tags_remove":
            return f"list_filter({current}, lambda x: NOT list_contains(?::VARCHAR[], x))", [
                list(change.value)
            ]
        return "?::VARCHAR[]", [list(change.value or [])]
    if change.op in ("add", "subtract", "multiply") and not f.type.numeric:
        raise UserError(f"{f.label} is not a number: it can only be set")
    sql_type = f.sql_type
    if change.op == "set":
        if change.value is None and f.required:
            raise UserError(f"{f.label} is required and cannot be emptied")
        expr, params = f"CAST(? AS {sql_type})", [change.value]
    else:
        sym = {"add": "+", "subtract": "-", "multiply": "*"}[change.op]
        expr = f"({column} {sym} CAST(? AS DECIMAL(18,6)))"
        params = [Decimal(change.value)]
    if change.at_least is not None:
        expr, params = f"greatest({expr}, ?)", [*params, change.at_least]
    if change.at_most is not None:
        expr, params = f"least({expr}, ?)", [*params, change.at_most]
    return f"CAST({expr} AS {sql_type})", params


def range_sql(f: Field, column: str) -> tuple[str, list[Any]]:
    """A condition true where a value breaks the field's bounds (checked before writing)."""
    lo = getattr(f.type, "minimum", None)
    hi = getattr(f.type, "maximum", None)
    parts, params = [], []
    if lo is not None:
        parts.append(f"{column} < ?")
        params.append(lo)
    if hi is not None:
        parts.append(f"{column} > ?")
        params.append(hi)
    return (" OR ".join(parts) or "FALSE"), params
