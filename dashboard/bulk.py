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

from . import dialect
from .errors import UserError
from .fields import CURRENCY_FIELD, FIELDS, Field, bulk_editable
from .fields import field as get_field
from .query import quote

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
            text += f", at least {f.type.to_text(self.at_least)}"
        if self.at_most is not None:
            text += f", at most {f.type.to_text(self.at_most)}"
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
    if f.type.many:
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


def change_sql(
    change: Change, column: str, engine: dialect.Dialect = dialect.DUCKDB
) -> tuple[str, list[Any]]:
    """The SQL expression for the new value, given the current value's column expression
    (in the SQL of `engine`'s dialect)."""
    f = check_bulk_field(change.field)
    if change.op not in OPS:
        raise UserError(f"unknown change {change.op!r}")
    if f.type.many:
        current = f"coalesce({column}, []::VARCHAR[])"
        if change.op == "tags_add":
            return (
                f"list_concat({current}, {engine.list_except('?::VARCHAR[]', current)})",
                [list(change.value)],
            )
        if change.op == "tags_remove":
            return engine.list_except(current, "?::VARCHAR[]"), [list(change.value)]
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


# --- what a bulk edit will do, in numbers ---------------------------------------------

#: How many old -> new pairs of a choice field a summary names.
SHOW_MOVES = 5


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class FieldSummary:
    """What one change does to the selected customers, counted by the database.

    Numbers: how many go up, down, from empty to a value, or to empty, and the range of the
    new (and old) values among those that change. Tags: how many gain tags, lose tags, or
    both. Choices and switches: the most frequent old -> new pairs.
    """

    field: str
    changed: int
    unchanged: int
    increases: int = 0
    decreases: int = 0
    filled: int = 0
    emptied: int = 0
    new_min: Any = None
    new_max: Any = None
    old_min: Any = None
    old_max: Any = None
    gain: int = 0
    lose: int = 0
    both: int = 0
    moves: tuple[tuple[Any, Any, int], ...] = ()
    move_kinds: int = 0
    #: Money: how many currencies the changed customers' amounts are in, and the one when
    #: there is one (a number typed applies to each customer's own currency)
    currencies: int = 0
    currency: str | None = None

    @property
    def kind(self) -> str:
        """Which counts apply: "number", "tags" or "choice"."""
        f = FIELDS[self.field]
        return "number" if f.type.numeric else "tags" if f.type.many else "choice"

    def describe(self) -> str:
        """One line: "Debit Limit: 7 increases, 86 decreases, 0 unchanged; new values
        0 to 4500 (were 0 to 5000)"."""
        f = FIELDS[self.field]
        text = f.type.to_text
        if f.type.numeric:
            # amounts in one currency are said in it ("2,500.00 AED"); over several, each
            # number is in each customer's own currency, said below
            unit = self.currency if self.currencies == 1 else None

            def shown(value: Any) -> str:
                return f.type.display_in(value, unit)

            parts = [_count(self.increases, "increase"), _count(self.decreases, "decrease")]
            if self.filled:
                parts.append(f"{self.filled:,} set where empty")
            if self.emptied:
                parts.append(f"{self.emptied:,} emptied")
            parts.append(f"{self.unchanged:,} unchanged")
            line = f"{f.label}: {', '.join(parts)}"
            if self.new_min is not None:
                line += f"; new values {shown(self.new_min)} to {shown(self.new_max)}"
                if self.old_min is not None:
                    line += f" (were {shown(self.old_min)} to {shown(self.old_max)})"
            if self.currencies > 1:
                # "at most 3000" caps 4,400 EUR and 2,750 AED alike: say so before Apply
                line += (f"; the customers are in {self.currencies} currencies: each number "
                         "is in each customer's own currency, not converted")  # fmt: skip
            return line
        if f.type.many:
            parts = [f"{self.gain:,} gain tags", f"{self.lose:,} lose tags"]
            if self.both:
                parts.append(f"{self.both:,} gain and lose tags")
            other = self.changed - self.gain - self.lose - self.both
            if other:
                parts.append(f"{other:,} reordered")
            return f"{f.label}: {', '.join(parts)}, {self.unchanged:,} unchanged"
        moves = ", ".join(
            f"{n:,} {text(old) or '(empty)'} → {text(new) or '(empty)'}"
            for old, new, n in self.moves
        )
        rest = self.changed - sum(n for _, _, n in self.moves)
        if rest > 0 and self.move_kinds > len(self.moves):
            moves += f" and {rest:,} more"
        line = f"{f.label}: {self.changed:,} change"
        line += f" ({moves})" if moves else ""
        return f"{line}, {self.unchanged:,} unchanged"

    def to_dict(self) -> dict[str, Any]:
        """The counts that apply to this field's kind, as plain JSON values."""
        out: dict[str, Any] = {"field": self.field, "label": FIELDS[self.field].label,
                               "kind": self.kind, "changed": self.changed,
                               "unchanged": self.unchanged}  # fmt: skip
        f = FIELDS[self.field]
        if f.type.numeric:
            for key in ("increases", "decreases", "filled", "emptied"):
                out[key] = getattr(self, key)
            for key in ("new_min", "new_max", "old_min", "old_max"):
                out[key] = _plain(getattr(self, key))
            if f.type.in_currency:
                out.update(currencies=self.currencies, currency=self.currency)
        elif f.type.many:
            out.update(gain=self.gain, lose=self.lose, both=self.both)
        else:
            out["moves"] = [{"old": _plain(o), "new": _plain(n), "count": k}
                            for o, n, k in self.moves]  # fmt: skip
        return out


@dataclass(frozen=True)
class Summary:
    """What a bulk edit does: how many selected, how many change, and each field's counts,
    plus the first changes as (id, name, field label, old, new, the customer's currency)."""

    selected: int
    changed: int
    fields: tuple[FieldSummary, ...]
    first: tuple[tuple, ...] = ()

    @property
    def unchanged(self) -> int:
        """Selected customers whose values stay as they are (not written)."""
        return self.selected - self.changed

    def headline(self) -> str:
        """The counts in a line: "93 customers selected: 86 will change, 7 unchanged"."""
        return (
            f"{_count(self.selected, 'customer')} selected: {self.changed:,} will change, "
            f"{self.unchanged:,} unchanged"
        )

    def lines(self, first: int = 5) -> list[str]:
        """The headline, one line per field, and the first `first` old -> new."""
        out = [self.headline(), *(fs.describe() for fs in self.fields)]
        by_label = {FIELDS[fs.field].label: FIELDS[fs.field] for fs in self.fields}
        for cid, name, label, old, new, ccy in self.first[:first]:
            f = by_label.get(label)
            was, now = (f.type.display_in(v, ccy) if f else str(v) for v in (old, new))
            out.append(f"  {name} (id {cid}): {label} {was or '(empty)'} → {now or '(empty)'}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON values (`customer-dashboard edit --json`)."""
        return {
            "selected": self.selected,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "fields": [fs.to_dict() for fs in self.fields],
            "first": [{"id": cid, "name": name, "field": label, "old": _plain(old),
                       "new": _plain(new), "currency": ccy}
                      for cid, name, label, old, new, ccy in self.first],
        }  # fmt: skip


def _plain(value: Any) -> Any:
    """A database value as a JSON value: decimals as numbers, lists as lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def summary_sql(
    changes: list[Change] | tuple[Change, ...], engine: dialect.Dialect = dialect.DUCKDB
) -> str:
    """One SELECT over the staged target (`temp._target t`, holding each change's new value
    as `new_<i>`) joined to the customers: every count of `Summary`, in one pass (in
    `engine`'s dialect)."""
    cols = ", ".join(f"c.{quote(ch.field)} AS old_{i}, t.new_{i}" for i, ch in enumerate(changes))
    cols += f", c.{quote(CURRENCY_FIELD)} AS _ccy"
    any_diff = " OR ".join(f"new_{i} IS DISTINCT FROM old_{i}" for i in range(len(changes)))
    aggs = ["count(*)", f"count(*) FILTER (WHERE {any_diff})"]
    for i, ch in enumerate(changes):
        f = FIELDS[ch.field]
        old, new = f"old_{i}", f"new_{i}"
        diff = f"{new} IS DISTINCT FROM {old}"
        aggs.append(f"count(*) FILTER (WHERE {diff})")
        if f.type.numeric:
            aggs += [
                f"count(*) FILTER (WHERE {new} > {old})",
                f"count(*) FILTER (WHERE {new} < {old})",
                f"count(*) FILTER (WHERE {old} IS NULL AND {new} IS NOT NULL)",
                f"count(*) FILTER (WHERE {old} IS NOT NULL AND {new} IS NULL)",
                f"min({new}) FILTER (WHERE {diff})",
                f"max({new}) FILTER (WHERE {diff})",
                f"min({old}) FILTER (WHERE {diff})",
                f"max({old}) FILTER (WHERE {diff})",
            ]
            if f.type.in_currency:
                aggs += [f"count(DISTINCT _ccy) FILTER (WHERE {diff})",
                         f"min(_ccy) FILTER (WHERE {diff})"]  # fmt: skip
        elif f.type.many:
            o, n = f"coalesce({old}, []::VARCHAR[])", f"coalesce({new}, []::VARCHAR[])"
            gains = f"len({engine.list_except(n, o)}) > 0"
            loses = f"len({engine.list_except(o, n)}) > 0"
            aggs += [
                f"count(*) FILTER (WHERE {gains} AND NOT {loses})",
                f"count(*) FILTER (WHERE {loses} AND NOT {gains})",
                f"count(*) FILTER (WHERE {gains} AND {loses})",
            ]
        else:
            pairs = (f"(SELECT {old} AS o, {new} AS n, count(*) AS k FROM d WHERE {diff} "
                     "GROUP BY ALL)")  # fmt: skip
            aggs += [engine.top_pairs(pairs, SHOW_MOVES), f"(SELECT count(*) FROM {pairs})"]
    return (
        f"WITH d AS (SELECT {cols} FROM temp._target t JOIN customers c USING (id)) "
        f"SELECT {', '.join(aggs)} FROM d"
    )


def summarize(cur, changes: list[Change] | tuple[Change, ...], first: list[tuple]) -> Summary:
    """Run `summary_sql` on `cur` (inside the bulk edit's transaction, after the target
    was staged) and name its numbers; `first` is the first old -> new (the preview)."""
    engine = dialect.of(cur)
    row = list(cur.execute(summary_sql(changes, engine)).fetchall()[0])
    selected, changed = int(row.pop(0)), int(row.pop(0))
    fields = []
    for ch in changes:
        f = FIELDS[ch.field]
        n = int(row.pop(0))
        common = {"field": f.name, "changed": n, "unchanged": selected - n}
        if f.type.numeric:
            up, down, filled, emptied, nmin, nmax, omin, omax = (row.pop(0) for _ in range(8))
            money = {}
            if f.type.in_currency:
                money = {"currencies": int(row.pop(0) or 0), "currency": row.pop(0)}
            fields.append(FieldSummary(**common, increases=up, decreases=down, filled=filled,
                                       emptied=emptied, new_min=nmin, new_max=nmax,
                                       old_min=omin, old_max=omax, **money))  # fmt: skip
        elif f.type.many:
            gain, lose, both = (row.pop(0) for _ in range(3))
            fields.append(FieldSummary(**common, gain=gain, lose=lose, both=both))
        else:
            moves, kinds = row.pop(0), row.pop(0)
            fields.append(FieldSummary(
                **common, moves=tuple((m["o"], m["n"], int(m["k"]))
                                      for m in engine.pairs_value(moves)),
                move_kinds=int(kinds or 0)))  # fmt: skip
    return Summary(selected, changed, tuple(fields), tuple(first))
