"""Value types of customer fields: how a value is parsed as people type it, stored, filtered
and aggregated.

A type knows nothing about a particular field; `dashboard.fields` pairs each field with one.
`parse` accepts what people type in forms, spreadsheets and the CLI and returns the value to
store, or raises `ValueError` with a message meant for that person.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import urlsplit

import phonenumbers
import pycountry
import tomlkit
from email_validator import EmailNotValidError, validate_email

#: Aggregates the query engine knows, with the label the page shows.
AGGREGATES = {
    "count": "Count",
    "count_distinct": "Count distinct",
    "sum": "Sum",
    "avg": "Average",
    "min": "Min",
    "max": "Max",
}

TEXT_OPS = ("contains", "starts_with", "=", "!=", "in", "empty", "not_empty")
CHOICE_OPS = ("=", "!=", "in", "not_in", "empty", "not_empty")
NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=", "between", "empty", "not_empty")
BOOL_OPS = ("=",)
TAG_OPS = ("any", "all", "empty", "not_empty")
TIME_OPS = ("<", "<=", ">", ">=", "between", "empty", "not_empty")

#: Operators that take no value.
NULLARY_OPS = frozenset({"empty", "not_empty"})
#: Operators that take a list of values.
LIST_OPS = frozenset({"in", "not_in", "any", "all", "between"})
#: Operators that compare with values picked from a type's list.
PICK_OPS = frozenset({"=", "!=", "in", "not_in"})

#: What a group, a pivot column or a chart bar shows for a missing value.
BLANK = "(blank)"
#: The label of the totals row and column of groups and pivots.
TOTAL = "Total"

#: The grid's Tabulator formatters (plain dicts: the core never imports Panel).
MONEY = {"type": "money", "decimal": ".", "thousand": ",", "precision": 2}
NUMBER = {"type": "money", "decimal": ".", "thousand": ",", "precision": 2}
INTEGER = {"type": "money", "decimal": ".", "thousand": ",", "precision": 0}
YES_NO = {"type": "tickCross", "allowEmpty": True}
PERCENT = {"type": "money", "decimal": ".", "thousand": ",", "precision": 2, "symbol": " %",
           "symbolAfter": True}  # fmt: skip
#: An id is a name, not a quantity: no thousands separators.
PLAIN = {"type": "plaintext"}

#: Excel number formats of reports.
MONEY_FORMAT = "#,##0.00"
DECIMAL_FORMAT = "#,##0.00"
COUNT_FORMAT = "#,##0"
PERCENT_FORMAT = '0.00"%"'  # the engine's shares are 0-100, not 0-1
ID_FORMAT = "0"

#: An exact decimal as the HTTP API answers it (Number.json_value): "-12.5", "700".
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

#: Text a spreadsheet would run as a formula starts with one of these (SQL regexp).
_FORMULA_START = "^[=+\\-@\\t\\r]"


def grouped(value: Any, places: int = 2) -> str:
    """A number as people read it: thousands separated, `places` decimals ("1,234.50")."""
    return f"{Decimal(str(value)):,.{places}f}"


def timestamp_text(value: Any, seconds: bool = False) -> str:
    """A point in time as the page, the CLI and reports show it: "2026-11-25 14:30" (with
    `seconds` "2026-11-25 14:30:05"); blank for None and NaT."""
    if is_blank(value):
        return ""
    text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)
    return text[: 19 if seconds else 16]


def is_blank(raw: Any) -> bool:
    """True for the values people mean as "nothing": None, empty or blank text, NaN."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    if isinstance(raw, float) and math.isnan(raw):
        return True
    if isinstance(raw, Decimal):
        return raw.is_nan()  # NaN and sNaN: what a spreadsheet's empty numeric cell becomes
    try:
        import pandas as pd

        return bool(pd.isna(raw)) if not isinstance(raw, list | tuple) else False
    except (TypeError, ValueError, ArithmeticError):
        return False


@dataclass(frozen=True)
class FieldType:
    """Base of all field types."""

    kind: str = "text"
    sql: str = "VARCHAR"
    filter_ops: tuple[str, ...] = TEXT_OPS
    aggregates: tuple[str, ...] = ("count", "count_distinct", "min", "max")
    numeric: bool = False
    searchable: bool = False
    #: How a form edits a value: "text", "switch", "select" (a short fixed list), "picker"
    #: (a long list searched as one types), "tags" or "code" (an editor marking errors).
    widget: str = "text"
    #: A value is a list of items (tags): blank is [], filters and edits work per item.
    many: bool = False
    #: A value is one of the type's `options()` (a choice, a country, a currency): filters
    #: pick values from that list and groups count distinct ones.
    picked: bool = False
    #: A value is text a person typed: "contains" compares it as text, an empty string is
    #: empty too, and exports guard it against spreadsheet formulas.
    textual: bool = False
    #: Rows may be grouped and pivoted by its values (a field may say otherwise).
    dimension: bool = False
    #: An amount in the customer's currency: labels and messages show it as money.
    in_currency: bool = False
    #: Written after a form's label: "Tax (%)".
    unit: str = ""
    #: What a picker's empty entry says.
    no_choice: str = "(none)"
    #: The grid's Tabulator formatter of a stored value; None: shown as text.
    formatter: ClassVar[dict | None] = None

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of a value of this type, as the HTTP API reads and writes it
        (its OpenAPI document is made from these)."""
        return {"type": "string"}

    def json_input_schema(self) -> dict[str, Any]:
        """The JSON Schema of a value a request may send (what `parse` reads from JSON);
        the answers' values are `json_schema()`."""
        return self.json_schema()

    def json_value(self, value: Any) -> Any:
        """A stored value as the HTTP API answers it, whichever way it was read (one row:
        Decimal, datetime; a query's frame: floats, numpy values, NaN, pandas' Timestamp):
        one representation per type, which `json_schema()` describes. Missing is null ([]
        for a list)."""
        if hasattr(value, "tolist") and not isinstance(value, str):
            value = value.tolist()  # numpy scalars and arrays (tags)
        if value is None or (not isinstance(value, str | list | tuple) and is_blank(value)):
            return self.blank()
        return self._json(value)

    def _json(self, value: Any) -> Any:
        return str(value)

    def parse(self, raw: Any, region: str | None = None) -> Any:
        """Return the stored value for `raw` (None for blank) or raise ValueError.

        `region` is the customer's country: a national phone number is read in it; the
        other types ignore it.
        """
        if is_blank(raw):
            return None
        return self._parse(raw, region) if self.regional else self._parse(raw)

    #: Whether parsing depends on the customer's country.
    regional = False

    def options(self) -> dict[str, str]:
        """The values a person picks from, label -> stored value (empty: free input)."""
        return {}

    def known_values(self) -> list[Any]:
        """Every value a picker of this type may hold: `options()`, and for some types
        values that are read but no longer offered (an old currency code)."""
        return list(self.options().values())

    def option_label(self, value: Any) -> str:
        """How a picker shows a stored `value`, also one it no longer offers."""
        for label, v in self.options().items():
            if v == value:
                return label
        return self.to_text(value)

    def ranked_options(self, search: str) -> dict[str, str]:
        """`options()` in the order a picker lists them while a person types `search`:
        the value typed exactly first ("eur" -> "EUR — Euro", not "CHE — WIR Euro"), then
        values and labels starting with it, then the rest in their usual order."""
        options = self.options()
        key = search.strip().casefold()
        if not key:
            return options

        def rank(item: tuple[str, str]) -> int:
            label, value = item
            value_key, label_key = str(value).casefold(), label.casefold()
            if value_key == key:
                return 0
            if value_key.startswith(key):
                return 1
            if any(word.startswith(key) for word in re.split(r"[\s—-]+", label_key)):
                return 2
            return 3

        return dict(sorted(options.items(), key=rank))  # sorted() is stable

    #: Whether a stored value can contain whitespace (an email address or URL cannot)
    holds_spaces: bool = True
    #: Whether the quick search finds values through their words (search.py's word tables);
    #: False where each value is one word unlike any other (a phone number): scanned.
    search_words: bool = True

    def search_term(self, text: str) -> str | None:
        """What the quick search looks for in this field's stored values when a person types
        `text`, or None when no stored value could contain it (the field is then skipped:
        at a million rows each field searched costs tens of milliseconds)."""
        if not self.holds_spaces and any(c.isspace() for c in text):
            return None
        return text

    def _parse(self, raw: Any) -> Any:
        return str(raw).strip()

    def to_text(self, value: Any) -> str:
        """The value as a person would type it back (CLI, exports of single values)."""
        return "" if value is None else str(value)

    def display(self, value: Any) -> str:
        """The value as the page shows it in text (previews, the card, messages): numbers
        with thousands separators, Yes/No, tags joined, times to the minute."""
        if hasattr(value, "tolist") and not isinstance(value, str):
            value = value.tolist()  # numpy: a list of tags as a query result holds it
        if value is None or (not isinstance(value, list | tuple) and is_blank(value)):
            return ""
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, list | tuple):
            return ", ".join(map(str, value))
        if isinstance(value, Decimal):
            return grouped(value)
        return self.to_text(value)

    def display_in(self, value: Any, currency: Any = None) -> str:
        """The value as the page shows it, said in `currency` when it is an amount of money
        ("2,500.00 AED": a customer's own currency); other values as `display` does."""
        return self.display(value)

    def group_label(self, value: Any) -> str:
        """The label of a group, a pivot column or a chart bar holding stored `value` (the
        totals row's label and an empty label stay as they are)."""
        if isinstance(value, str) and value in ("", TOTAL):
            return value
        return BLANK if is_blank(value) else self.to_text(value)

    def blank(self) -> Any:
        """The stored value of "nothing": None, or [] for a list."""
        return [] if self.many else None

    def stored_default(self, default: Any) -> Any:
        """A field's declared default as stored (a fresh list for a list)."""
        return list(default) if self.many and default is not None else default

    def form_value(self, value: Any) -> Any:
        """A stored value as a form's input holds it."""
        if self.widget == "switch":
            return bool(value)
        if self.many:
            return list(value or [])
        if self.picked:
            return value
        if value is None:
            return ""
        if isinstance(value, Decimal):
            return (
                format(value.normalize(), "f")
                if value == value.to_integral()
                else format(value, "f").rstrip("0").rstrip(".")
            )
        return self.to_text(value)

    def grid_formatter(self, rate: bool = False) -> dict | None:
        """The grid's Tabulator formatter; `rate`: a computed share, shown with "%"."""
        return self.formatter

    def value_formatter(self, agg: str = "sum", rate: bool = False) -> dict:
        """The grid formatter of aggregate `agg` (sum, avg, min, max) of these values."""
        return PERCENT if rate else NUMBER

    def excel_format(self, agg: str) -> str:
        """The Excel number format of aggregate `agg` of these values in a report."""
        return DECIMAL_FORMAT

    @property
    def align(self) -> str:
        """How the grid aligns a value: numbers right, as in any spreadsheet."""
        return "right" if self.numeric else "left"

    def filter_input(self, op: str) -> str:
        """The input a filter with operator `op` takes: "none", "picks" (values picked from
        the list), "switch", "list" (comma-separated items) or "text"."""
        if op in NULLARY_OPS:
            return "none"
        if self.widget == "switch":
            return "switch"
        if self.picked and op in PICK_OPS:
            return "picks"
        return "list" if self.many else "text"

    def typed_op(self, op: str, value: str) -> str:
        """The operator meant by `op` typed with `value` on a command line: "~" on a type
        without "contains" means "="; "=a,b" on a picked type means one of them."""
        if self.many:
            return {"=": "any", "contains": "any"}.get(op, op)
        if op == "contains" and "contains" not in self.filter_ops:
            return "="
        if op == "=" and self.picked and "," in value:
            return "in"
        return op

    def operand(self, op: str, value: Any) -> Any:
        """A filter's value parsed by this type, so "1,000" and "yes" work (ValueError)."""
        if op in ("contains", "starts_with"):
            return str(value)
        if self.many:
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            return [s.strip() for s in items if str(s).strip()]
        if op in ("in", "not_in", "between"):
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            parsed = [self.parse(v) for v in items]
            if op == "between" and len(parsed) != 2:
                raise ValueError("between needs two values")
            return parsed
        return str(value) if self.textual else self.parse(value)

    def empty_sql(self, col: str) -> str:
        """SQL true where column `col` holds nothing."""
        if self.many:
            return f"({col} IS NULL OR len({col}) = 0)"
        return f"({col} IS NULL OR {col} = '')" if self.textual else f"{col} IS NULL"

    def not_empty_sql(self, col: str) -> str:
        """SQL true where column `col` holds something."""
        if self.many:
            return f"len({col}) > 0"
        return f"({col} IS NOT NULL AND {col} <> '')" if self.textual else f"{col} IS NOT NULL"

    def aggregate_sql(self, col: str, agg: str) -> str:
        """The expression aggregate `agg` reads from column `col`."""
        return col

    def export_sql(self, col: str) -> str:
        """Column `col` as written to a spreadsheet: text a spreadsheet would run as a
        formula (=, +, -, @) gets a leading quote; lists become "a, b"."""
        if self.many:  # a list's text can start a formula as well ("=HYPERLINK(")
            col = f"array_to_string({col}, ', ')"
        elif self.sql != "VARCHAR":  # only text can hold a formula
            return col
        return (
            f"CASE WHEN regexp_matches({col}, '{_FORMULA_START}') THEN '''' || {col} ELSE {col} END"
        )

    def export_columns(self, name: str, currency: str) -> list[str]:
        """The columns a row export writes for field `name` of this type, in order;
        `currency` is the field holding each row's currency."""
        return [name]

    def from_json_sql(self, source: str, name: str) -> str:
        """SQL reading key `name` of JSON column `source` back as this type."""
        if self.many:
            return f"from_json({source}->'{name}', '[\"VARCHAR\"]')"
        return f"CAST({source}->>'{name}' AS {self.sql})"

    def problem(self, text: str) -> Any:
        """Where typed `text` goes wrong, for an editor that marks the place (None: fine)."""
        return None

    def new_problem(self, value: Any) -> str | None:
        """Why a new record may not take parsed `value` (None: it may), after the field's
        label. Parsing accepts what older data holds; this is the stricter rule for what
        is written anew, applied by every path that creates a record (`fields.new_problems`)."""
        return None


@dataclass(frozen=True)
class Text(FieldType):
    """Free text of bounded length."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length}

    textual: bool = True
    dimension: bool = True

    max_length: int = 200
    searchable: bool = True

    def _parse(self, raw: Any) -> str:
        value = _text_of(raw).strip()
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters (it has {len(value)})")
        if _CONTROL.search(value):
            raise ValueError("must be a single line of text without control characters")
        return value


@dataclass(frozen=True)
class Choice(FieldType):
    """One of a fixed list; matched case- and spacing-insensitively."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}

    widget: str = "select"
    picked: bool = True
    dimension: bool = True
    kind: str = "choice"
    choices: tuple[str, ...] = ()
    filter_ops: tuple[str, ...] = CHOICE_OPS

    def options(self) -> dict[str, str]:
        return {c: c for c in self.choices}

    def _parse(self, raw: Any) -> str:
        key = _squash(_text_of(raw))
        for choice in self.choices:
            if _squash(choice) == key:
                return choice
        raise ValueError(f"must be one of {', '.join(self.choices)}")


@dataclass(frozen=True)
class Integer(FieldType):
    """A whole number within bounds."""

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out

    dimension: bool = True
    formatter: ClassVar[dict | None] = INTEGER
    kind: str = "integer"
    sql: str = "INTEGER"
    minimum: int | None = 0
    maximum: int | None = 2_000_000_000
    filter_ops: tuple[str, ...] = NUMBER_OPS
    aggregates: tuple[str, ...] = tuple(AGGREGATES)
    numeric: bool = True

    def display(self, value: Any) -> str:
        return "" if is_blank(value) else grouped(value, 0)

    def _json(self, value: Any) -> int:
        return int(value)  # a column with gaps reaches pandas as floats (5.0)

    def excel_format(self, agg: str) -> str:
        return DECIMAL_FORMAT if agg == "avg" else COUNT_FORMAT

    def value_formatter(self, agg: str = "sum", rate: bool = False) -> dict:
        # a sum, minimum or maximum of whole numbers is whole: "6,820", not "6,820.00"
        return NUMBER if agg == "avg" or rate else INTEGER

    def _parse(self, raw: Any) -> int:
        number = _number_of(raw)
        if number != number.to_integral_value():
            raise ValueError("must be a whole number")
        value = int(number)
        _check_range(value, self.minimum, self.maximum)
        return value


@dataclass(frozen=True)
class Number(FieldType):
    """An exact decimal number: money, percentages, rates. Never a float."""

    def json_schema(self) -> dict[str, Any]:
        # exact decimals: answers give them as strings without trailing zeros ("12.5",
        # "700"), never floats nor exponents (json_value)
        return {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}

    def json_input_schema(self) -> dict[str, Any]:
        # a request may send a number or a string ("1,5" too: parse reads it)
        out: dict[str, Any] = {"type": ["string", "number"], "format": "decimal"}
        if self.minimum is not None:
            out["minimum"] = float(self.minimum)
        if self.maximum is not None:
            out["maximum"] = float(self.maximum)
        return out

    def _json(self, value: Any) -> str:
        # the engine reads DECIMAL columns of a frame as floats: their shortest repr is the
        # exact decimal; rounded to the type's scale, trailing zeros dropped ("20", "14938.9")
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        exact = exact.quantize(Decimal(1).scaleb(-self.scale))
        return format(exact.normalize(), "f") if exact else "0"

    formatter: ClassVar[dict | None] = NUMBER
    kind: str = "decimal"
    sql: str = "DECIMAL(18,4)"
    scale: int = 4
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    filter_ops: tuple[str, ...] = NUMBER_OPS
    aggregates: tuple[str, ...] = tuple(AGGREGATES)
    numeric: bool = True

    def display(self, value: Any) -> str:
        return "" if is_blank(value) else grouped(value)

    def _parse(self, raw: Any) -> Decimal:
        number = _number_of(raw)
        quantum = Decimal(1).scaleb(-self.scale)
        if number != number.quantize(quantum):
            raise ValueError(f"must have at most {self.scale} decimal places")
        _check_range(number, self.minimum, self.maximum)
        return number.quantize(quantum)

    def to_text(self, value: Any) -> str:
        return "" if value is None else format(Decimal(value).normalize(), "f")


@dataclass(frozen=True)
class Money(Number):
    """An amount in the customer's currency."""

    formatter: ClassVar[dict | None] = MONEY
    in_currency: bool = True
    kind: str = "money"

    def value_formatter(self, agg: str = "sum", rate: bool = False) -> dict:
        return MONEY

    def excel_format(self, agg: str) -> str:
        return MONEY_FORMAT

    def export_columns(self, name: str, currency: str) -> list[str]:
        # an amount read without its currency is a guess: the currency column comes beside
        # it (once per file, its canonical name, so the file can be imported again)
        return [name, currency]

    def converts(self, agg: str) -> bool:
        """Whether aggregate `agg` of these amounts is an amount too, so customers in
        several currencies must be converted (or split) before it means anything: a sum,
        an average, a minimum or a maximum (a count is a count in any currency)."""
        return agg in CONVERTED_AGGREGATES

    def converted_sql(self, col: str, rate: str) -> str:
        """Column `col` in the reporting currency: times `rate`, the SQL of the row's
        currency's rate (units of the reporting currency per unit)."""
        return f"({col} * {rate})"

    @staticmethod
    def unit_label(label: str, currency: str | None) -> str:
        """A money aggregate's label with its currency: "Sum of Balance (EUR)"."""
        return f"{label} ({currency})" if currency else label

    def display_in(self, value: Any, currency: Any = None) -> str:
        return self.amount_text(value, currency) or ""

    @staticmethod
    def amount_text(value: Any, currency: Any) -> str | None:
        """An amount beside its currency, as the grid and tree show it: "1,234.50 JPY"
        (blank: None; without a currency, the amount alone)."""
        if is_blank(value):
            return None
        text = grouped(value, 2)
        return f"{text} {currency}" if isinstance(currency, str) and currency else text


#: Aggregates of money that are money (and so have a currency).
CONVERTED_AGGREGATES = ("sum", "avg", "min", "max")


@dataclass(frozen=True)
class ExchangeRate(Number):
    """Units of the reporting currency one unit of another currency buys (1,08 or 1.08;
    never zero or negative)."""

    kind: str = "rate"
    sql: str = "DECIMAL(18,8)"
    scale: int = 8

    def _parse(self, raw: Any) -> Decimal:
        number = _number_of(raw)
        if number <= 0:
            raise ValueError("must be more than 0 (units of the base currency per unit)")
        quantum = Decimal(1).scaleb(-self.scale)
        if number != number.quantize(quantum):
            raise ValueError(f"must have at most {self.scale} decimal places")
        return number.quantize(quantum)


@dataclass(frozen=True)
class Percent(Number):
    """A percentage, 0 to 100 unless bounded otherwise."""

    unit: str = "%"
    kind: str = "percent"
    sql: str = "DECIMAL(7,4)"
    minimum: Decimal | None = Decimal(0)
    maximum: Decimal | None = Decimal(100)

    def grid_formatter(self, rate: bool = False) -> dict | None:
        return PERCENT if rate else NUMBER

    def _parse(self, raw: Any) -> Decimal:
        if isinstance(raw, str):
            raw = raw.strip().removesuffix("%")
        return super()._parse(raw)


_TRUE = {"yes", "y", "true", "t", "1", "on", "x", "✓"}
_FALSE = {"no", "n", "false", "f", "0", "off", ""}


@dataclass(frozen=True)
class YesNo(FieldType):
    """A yes/no switch; accepts Yes/No, TRUE/FALSE, 1/0, on/off in any case."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    widget: str = "switch"
    dimension: bool = True
    formatter: ClassVar[dict | None] = YES_NO
    kind: str = "bool"
    sql: str = "BOOLEAN"
    filter_ops: tuple[str, ...] = BOOL_OPS
    aggregates: tuple[str, ...] = ("count", "sum", "avg")

    def options(self) -> dict[str, str]:
        return {"yes": "yes", "no": "no"}

    def aggregate_sql(self, col: str, agg: str) -> str:
        # a sum of yes/no values counts the yeses, an average is their share
        return f"{col}::INTEGER" if agg in ("sum", "avg") else col

    def _parse(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float | Decimal) and raw in (0, 1):
            return bool(raw)
        key = _text_of(raw).strip().lower()
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
        raise ValueError("must be yes or no")

    def to_text(self, value: Any) -> str:
        return "" if value is None else ("yes" if value else "no")

    def _json(self, value: Any) -> bool:
        return bool(value)


@dataclass(frozen=True)
class Tags(FieldType):
    """A list of short labels; typed as "a, b; c" or given as a list."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "maxItems": self.max_tags,
                "items": {"type": "string", "maxLength": self.max_length}}  # fmt: skip

    widget: str = "tags"
    many: bool = True
    kind: str = "tags"
    sql: str = "VARCHAR[]"
    filter_ops: tuple[str, ...] = TAG_OPS
    aggregates: tuple[str, ...] = ("count",)
    max_tags: int = 20
    max_length: int = 40

    def parse(self, raw: Any, region: str | None = None) -> list[str] | None:
        if isinstance(raw, list | tuple):
            items = [str(x) for x in raw]
        elif is_blank(raw):
            return None
        else:
            items = re.split(r"[,;]", _text_of(raw))
        out: list[str] = []
        for item in items:
            tag = item.strip()
            if not tag:
                continue
            if len(tag) > self.max_length:
                raise ValueError(f"tag {tag[:20]!r}... is longer than {self.max_length} characters")
            if any(ord(c) < 32 for c in tag):
                raise ValueError("tags cannot hold control characters")
            if tag not in out:
                out.append(tag)
        if len(out) > self.max_tags:
            raise ValueError(f"at most {self.max_tags} tags")
        return out

    def _json(self, value: Any) -> list[str]:
        return [str(v) for v in value]

    def to_text(self, value: Any) -> str:
        if isinstance(value, str):  # already joined
            return value
        return "" if value is None or len(value) == 0 else ", ".join(map(str, value))


@dataclass(frozen=True)
class Toml(FieldType):
    """TOML configuration text, checked with tomlkit and stored exactly as written."""

    widget: str = "code"
    textual: bool = True
    kind: str = "toml"
    filter_ops: tuple[str, ...] = ("contains", "empty", "not_empty")
    aggregates: tuple[str, ...] = ("count",)
    max_length: int = 20_000

    def problem(self, text: str) -> TomlProblem | None:
        return toml_error(text)

    def _parse(self, raw: Any) -> str:
        text = _text_of(raw)
        if len(text) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        problem = toml_problem(text)
        if problem:
            raise ValueError(f"has a mistake at {problem}")
        return text  # exactly as written: comments and layout are the author's


@dataclass(frozen=True)
class TomlProblem:
    """Where TOML text stops making sense and why, in plain words for the person who wrote
    it. `line` and `column` count from 1; `whole_line` when the mistake is the line's (a
    key without a value) rather than one character's."""

    line: int
    column: int
    reason: str
    whole_line: bool = False

    def __str__(self) -> str:
        where = (
            f"line {self.line}" if self.whole_line else f"line {self.line}, column {self.column}"
        )
        return f"{where}: {self.reason}"


def toml_problem(text: str) -> str | None:
    """The first mistake in TOML `text` as "line 3, column 7: a string is not closed",
    or None when it parses."""
    problem = toml_error(text)
    return None if problem is None else str(problem)


def toml_error(text: str) -> TomlProblem | None:
    """The first mistake in TOML `text` (see `TomlProblem`), or None when it parses.

    tomlkit names its errors in parser terms ("Control characters (codes less than
    0x1f...)" for a missing quote, "Unexpected character: '\\x00'" for a missing value at the
    end); here each kind of error becomes what the writer did wrong, at the place to fix.
    """
    try:
        tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        return _toml_explained(text, exc)
    except Exception as exc:  # tomlkit raises a few other types for bad input
        line = _last_line(text)
        return TomlProblem(line, 1, f"it cannot be read here ({exc})", whole_line=True)
    return None


_TOML_SIMPLE = {
    "InvalidNumberError": "this is not a number TOML can read (write 12, 3.5 or 1e6)",
    "InvalidDateError": "this is not a valid date (write 2026-11-25)",
    "InvalidTimeError": "this is not a valid time (write 07:30:00)",
    "InvalidDateTimeError": "this is not a valid date and time (write 2026-11-25T07:30:00)",
    "InvalidNumberOrDateError": "this is not a valid number or date",
    "InvalidUnicodeValueError": "a \\u escape needs 4 hex digits (\\U 8) of a real character",
    "MixedArrayTypesError": "an array mixes different kinds of values",
    "EmptyTableNameError": "a table header needs a name between [ and ] (and between dots)",
}


def _toml_explained(text: str, exc: Exception) -> TomlProblem:
    """tomlkit's error `exc` for `text` in plain words, at the place to fix."""
    kind = type(exc).__name__
    message = re.sub(r"\s+at line \d+ col \d+$", "", str(exc))
    lines = text.splitlines() or [""]
    line = max(1, min(getattr(exc, "line", 1) or 1, len(lines)))
    col = max(0, getattr(exc, "col", 0) or 0)
    row = lines[line - 1] if line <= len(lines) else ""
    char = row[col] if col < len(row) else "\n"
    value_at = _value_start(row)

    def at(reason: str, column: int | None = None, n: int = line) -> TomlProblem:
        return TomlProblem(n, (col if column is None else column) + 1, reason)

    def whole(reason: str, n: int = line) -> TomlProblem:
        return TomlProblem(n, 1, reason, whole_line=True)

    if kind == "UnexpectedEofError" or (kind == "UnexpectedCharError" and "'\\x00'" in message):
        return _toml_cut_short(text)
    if kind == "InvalidControlChar":
        if char in "\r\n":
            return at(
                "a string is not closed (its closing quote is missing)", _open_quote(row, col)
            )
        code = ord(char)
        return at(f"a string holds the invisible control character U+{code:04X}; "
                  f"write it as \\u{code:04x}")  # fmt: skip
    if kind == "InvalidCharInStringError":
        if char in "\r\n":
            return at('a \\ at the end of a line is allowed only in a multi-line string (""")')
        return at(f"\\{char} is not an escape TOML knows (write \\\\ for a backslash, or use "
                  "a 'literal string')", max(col - 1, 0))  # fmt: skip
    if kind in ("InvalidNumberError", "InvalidDateError", "InvalidTimeError",
                "InvalidDateTimeError", "InvalidNumberOrDateError"):  # fmt: skip
        return at(_TOML_SIMPLE[kind], value_at if value_at is not None and value_at < col else col)
    if kind in _TOML_SIMPLE:
        return at(_TOML_SIMPLE[kind])
    if kind == "EmptyKeyError":
        return at("a key is missing (before = or between dots)")
    duplicate = re.fullmatch(r'Key "(.*)" already exists\.', message)
    if duplicate:
        name = duplicate.group(1)
        headers = [i for i, r in enumerate(lines, 1) if _header_name(r) == name]
        if len(headers) > 1:
            return whole(f"the table [{name}] is defined twice (first on line {headers[0]})",
                         headers[1])  # fmt: skip
        first = next((i for i, r in enumerate(lines, 1) if _key_name(r) == name), None)
        if headers and first:
            key_line, table_line = first, headers[0]
            return whole(f"{name} is both a key (line {key_line}) and a table (line {table_line})",
                         max(key_line, table_line))  # fmt: skip
        since = f" (first on line {first})" if first and first < line else ""
        return whole(f"the key {name} is defined twice{since}")
    invalid = re.fullmatch(r'Invalid key "(.*)"', message)
    if invalid:
        if row.lstrip().startswith("["):
            return whole(f'"{invalid.group(1)}" is not a valid table name (letters, digits, - and '
                         '_; put other names in quotes)')  # fmt: skip
        if value_at is None:
            return whole("a key needs = and a value (key = value)")
        return whole(f'"{invalid.group(1)}" is not a valid key (letters, digits, - and _; put '
                     "other keys in quotes)")  # fmt: skip
    if kind == "UnexpectedCharError":
        return _toml_unexpected(row, line, col, char, value_at)
    return at(message[:1].lower() + message[1:] if message else "this cannot be read")


def _toml_unexpected(row: str, line: int, col: int, char: str, value_at: int | None) -> TomlProblem:
    stripped = row.lstrip()
    if char in "\r\n#":  # the line ended too early
        if stripped.startswith("[["):
            return TomlProblem(line, 1, "a table header is not closed (]] is missing)", True)
        if stripped.startswith("["):
            return TomlProblem(line, 1, "a table header is not closed (] is missing)", True)
        if value_at is None:
            if "=" in row:
                return TomlProblem(line, 1, "a key needs a value after =", True)
            return TomlProblem(line, 1, "a key needs = and a value (key = value)", True)
        word = row[value_at:col].strip()
        return TomlProblem(line, value_at + 1, _bare_word(word))
    if stripped.startswith("["):
        return TomlProblem(line, col + 1, f"unexpected {char} in the table header")
    if value_at is not None and col == value_at:
        if char == "=":
            return TomlProblem(line, col + 1, "there is one = too many")
        if char.isalpha():
            word = re.match(r"[^\s#,\]}]+", row[col:]).group()
            return TomlProblem(line, col + 1, _bare_word(word))
        return TomlProblem(line, col + 1, f"a value cannot start with {char}")
    if value_at is not None and col > value_at:
        return TomlProblem(line, col + 1, f"unexpected {char} after the value (one key = value "
                                          "per line; separate array items with commas)")  # fmt: skip
    return TomlProblem(line, col + 1, f"unexpected {char}")


def _bare_word(word: str) -> str:
    if word.lower() in ("true", "false"):
        return f"yes/no values are written in lower case: {word.lower()}"
    if word:
        return f'text needs quotes: "{word}" (yes/no values are true and false)'
    return "a value is missing"


def _toml_cut_short(text: str) -> TomlProblem:
    """The text ended inside something: say what was left open, where it opened."""
    opened = _still_open(text)
    if opened:
        what, line, col = opened
        return TomlProblem(line, col + 1, what)
    line = _last_line(text)
    row = (text.splitlines() or [""])[line - 1]
    if "=" in row and _value_start(row) is None:
        return TomlProblem(line, 1, "a key needs a value after =", whole_line=True)
    return TomlProblem(line, 1, "the text ends too early", whole_line=True)


def _last_line(text: str) -> int:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return max(len(lines), 1)


def _still_open(text: str) -> tuple[str, int, int] | None:
    """What is left open at the end of `text`: a string, an array or an inline table,
    with the line and column (0-based) where it opened; None when nothing is."""
    stack: list[tuple[str, int, int]] = []
    quote, start, line, col, i = "", (0, 0), 1, 0, 0
    after_eq = False
    while i < len(text):
        ch = text[i]
        if quote:
            if quote[0] == '"' and ch == "\\":
                i, col = i + 2, col + 2
                continue
            if text.startswith(quote, i):
                i, col, quote = i + len(quote), col + len(quote), ""
                continue
            if ch == "\n":
                if len(quote) == 1:  # tomlkit reports this one itself
                    return "a string is not closed (its closing quote is missing)", *start
                line, col, i = line + 1, 0, i + 1
                continue
        elif ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            start = (line, col)
            i, col = i + len(quote), col + len(quote)
            continue
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif ch == "=":
            after_eq = True
        elif ch in "[{" and (after_eq or stack):
            stack.append((ch, line, col))
        elif ch in "]}" and stack:
            stack.pop()
        elif ch == "\n":
            line, col, i = line + 1, 0, i + 1
            if not stack:
                after_eq = False
            continue
        i, col = i + 1, col + 1
    if quote:
        if len(quote) == 3:
            return f"a multi-line string is not closed (its closing {quote} is missing)", *start
        return "a string is not closed (its closing quote is missing)", *start
    if stack:
        ch, line, col = stack[-1]
        if ch == "[":
            return "an array is not closed (] is missing)", line, col
        return "an inline table is not closed (} is missing)", line, col
    return None


def _value_start(row: str) -> int | None:
    """Where the value of a `key = value` line starts (0-based), None when there is none."""
    quote = ""
    for i, ch in enumerate(row):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return None
        elif ch == "=":
            rest = row[i + 1 :]
            if not rest.strip() or rest.strip().startswith("#"):
                return None
            return i + 1 + (len(rest) - len(rest.lstrip()))
    return None


def _open_quote(row: str, end: int) -> int:
    """The column (0-based) of the quote that opened the string left open at `end`."""
    quote, opened = "", end
    i = 0
    while i < min(end, len(row)):
        ch = row[i]
        if quote:
            if quote == '"' and ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote, opened = ch, i
        elif ch == "#":
            break
        i += 1
    return opened if quote else end


def _header_name(row: str) -> str | None:
    m = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", row)
    return m.group(1).strip("\"'") if m else None


def _key_name(row: str) -> str | None:
    m = re.match(r"\s*([^=\s#\[][^=]*?)\s*=", row)
    return m.group(1).strip("\"'") if m else None


@dataclass(frozen=True)
class Email(FieldType):
    """An email address (syntax only: no DNS lookups)."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "email"}

    textual: bool = True
    kind: str = "email"
    searchable: bool = True
    holds_spaces: bool = False

    def _parse(self, raw: Any) -> str:
        text = _text_of(raw).strip()
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"is not a valid email address: {exc}") from None


@dataclass(frozen=True)
class Url(FieldType):
    """A web address; "example.com" is taken as https://example.com."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "uri"}

    textual: bool = True
    kind: str = "url"
    searchable: bool = True
    holds_spaces: bool = False

    def _parse(self, raw: Any) -> str:
        text = _text_of(raw).strip()
        if "://" not in text:
            text = "https://" + text
        parts = urlsplit(text)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or "." not in host or " " in text:
            raise ValueError("is not a valid web address (http or https)")
        return text


@dataclass(frozen=True)
class Country(FieldType):
    """ISO 3166-1 alpha-2 code; names and alpha-3 codes are accepted and converted."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "ISO 3166-1 alpha-2 code (names are read too)"}

    widget: str = "picker"
    picked: bool = True
    dimension: bool = True
    kind: str = "country"
    filter_ops: tuple[str, ...] = CHOICE_OPS

    def options(self) -> dict[str, str]:
        return _iso_options(pycountry.countries, "alpha_2")

    def _parse(self, raw: Any) -> str:
        text = _text_of(raw).strip()
        try:
            return pycountry.countries.lookup(text).alpha_2
        except LookupError:
            raise ValueError("is not an ISO 3166 country (use a code like GB or a name)") from None


#: ISO 4217 codes that its list marks "Fund": index units and next-day dollars that banks
#: settle in (BOV Mvdol, CHE WIR Euro, CLF Unidad de Fomento, USN US Dollar next day, ...).
#: Nobody is billed in them.
FUND_CURRENCIES = frozenset({"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "USS", "UYI", "UYW"})
#: ISO 4217 gives X codes to what is not one country's money: precious metals (XAU, XAG,
#: XPD, XPT), bond-market units (XBA-XBD), drawing rights and accounting units (XDR, XSU,
#: XUA, XAD), the test code XTS and "no currency" X. These X codes are money all the
#: same: the currencies of monetary unions.
UNION_CURRENCIES = frozenset({"XAF", "XCD", "XCG", "XOF", "XPF"})


def billing_currency(code: str) -> bool:
    """Whether an ISO 4217 code is a currency a customer can be billed in: a country's or
    a monetary union's money, not a fund code, a metal or a unit of account."""
    code = code.upper()
    if code in FUND_CURRENCIES:
        return False
    return not code.startswith("X") or code in UNION_CURRENCIES


@dataclass(frozen=True)
class Currency(FieldType):
    """ISO 4217 currency code, any case. The picker offers the currencies customers are
    billed in (`billing_currency`); any ISO code is still read, so older data loads."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217 code"}

    widget: str = "picker"
    picked: bool = True
    dimension: bool = True
    no_choice: str = "(choose)"
    kind: str = "currency"
    filter_ops: tuple[str, ...] = CHOICE_OPS

    def options(self) -> dict[str, str]:
        return _billing_options()

    def known_values(self) -> list[Any]:
        return sorted(c.alpha_3 for c in pycountry.currencies)

    def new_problem(self, code: Any) -> str | None:
        """Why a new customer may not be billed in `code` (None: it may): an ISO code that
        is no money a customer pays in (XXX "no currency", XAU gold, XDR, fund codes)."""
        if is_blank(code) or billing_currency(str(code)):
            return None
        return ("is not a currency customers are billed in (fund codes, metals, units of "
                "account and XXX, 'no currency', are not)")  # fmt: skip

    def option_label(self, value: Any) -> str:
        found = pycountry.currencies.get(alpha_3=str(value or "").upper())
        return f"{found.alpha_3} — {found.name}" if found else self.to_text(value)

    def _parse(self, raw: Any) -> str:
        code = _text_of(raw).strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", code) or pycountry.currencies.get(alpha_3=code) is None:
            raise ValueError("is not an ISO 4217 currency code (such as USD, EUR, GBP)")
        return code


@dataclass(frozen=True)
class Phone(FieldType):
    """A phone number stored in E.164; must be a valid number for its country."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "E.164, e.g. +447911123456"}

    textual: bool = True
    kind: str = "phone"
    searchable: bool = True
    search_words: bool = False
    regional = True

    def search_term(self, text: str) -> str | None:
        # stored as E.164, so "7911 123-456" is looked for as 7911123456
        digits = re.sub(r"[\s().-]", "", text)
        return digits if re.fullmatch(r"\+?\d+", digits) else None

    def _parse(self, raw: Any, region: str | None = None) -> str:
        text = _text_of(raw).strip()
        if isinstance(raw, float | int) and not text.startswith("+"):
            text = "+" + text.split(".")[0]  # spreadsheets drop the leading +
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            raise ValueError(
                "is not a phone number (write it with its country code, e.g. +447911123456)"
            ) from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("is not a valid phone number for its country")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Timestamp(FieldType):
    """A point in time (UTC)."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    kind: str = "timestamp"
    sql: str = "TIMESTAMP"
    filter_ops: tuple[str, ...] = TIME_OPS
    aggregates: tuple[str, ...] = ("count", "min", "max")

    def display(self, value: Any) -> str:
        return timestamp_text(value)

    def _json(self, value: Any) -> str:
        # stored as naive UTC: RFC 3339 (what "date-time" means) wants the offset, "Z"
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime()
        return value.replace(tzinfo=None).isoformat() + "Z"

    def _parse(self, raw: Any) -> dt.datetime:
        if isinstance(raw, dt.datetime):
            return raw
        if isinstance(raw, dt.date):
            return dt.datetime(raw.year, raw.month, raw.day)
        try:
            return dt.datetime.fromisoformat(_text_of(raw).strip())
        except ValueError:
            raise ValueError("is not a date or time (use 2026-11-25 or 2026-11-25T14:30)") from None


@dataclass(frozen=True)
class Date(FieldType):
    """A calendar day."""

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    kind: str = "date"
    sql: str = "DATE"
    filter_ops: tuple[str, ...] = ("=", *TIME_OPS)
    aggregates: tuple[str, ...] = ("count", "count_distinct", "min", "max")

    def _parse(self, raw: Any) -> dt.date:
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        text = _text_of(raw).strip()
        try:
            return dt.date.fromisoformat(text[:10] if len(text) > 10 else text)
        except ValueError:
            if re.fullmatch(r"\d{4}-\d{2}", text):  # a month, as pivots label it
                return dt.date.fromisoformat(text + "-01")
            raise ValueError("is not a date (use 2026-11-25)") from None

    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        return value.isoformat()[:10] if hasattr(value, "isoformat") else str(value)[:10]

    def _json(self, value: Any) -> str:
        return Date.to_text(self, value)  # the day, also for a Month ("2026-11-01")


@dataclass(frozen=True)
class Month(Date):
    """A calendar month, stored as its first day and shown as 2026-11."""

    kind: str = "month"

    def to_text(self, value: Any) -> str:
        return super().to_text(value)[:7]


@dataclass(frozen=True)
class Identifier(Integer):
    """A system-assigned row id."""

    dimension: bool = False
    formatter: ClassVar[dict | None] = PLAIN
    kind: str = "id"
    sql: str = "BIGINT"
    minimum: int | None = 1
    maximum: int | None = None
    aggregates: tuple[str, ...] = ("count", "count_distinct", "min", "max")

    def display(self, value: Any) -> str:
        return self.to_text(value)

    def excel_format(self, agg: str) -> str:
        return ID_FORMAT


# --- helpers -------------------------------------------------------------------------


@functools.cache
def _billing_options() -> dict[str, str]:
    return {
        label: code
        for label, code in _iso_options(pycountry.currencies, "alpha_3").items()
        if billing_currency(code)
    }


@functools.cache
def _iso_options(table: Any, attr: str) -> dict[str, str]:
    """ISO codes labelled with their names, "GB — United Kingdom", sorted by code."""
    entries = sorted(table, key=lambda e: getattr(e, attr))
    return {f"{getattr(e, attr)} — {e.name}": getattr(e, attr) for e in entries}


def _text_of(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).lower()


#: Control characters (C0 but tab, DEL, C1): never part of a name or a line of text.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_NUMBER_JUNK = re.compile(r"[\s_$€£¥]|^[A-Za-z]{3}\s*|\s*[A-Za-z]{3}$")
_THOUSANDS = re.compile(r"[+-]?\(?\d{1,3}(,\d{3})+(\.\d*)?\)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\(?\d+,\d+\)?")


def _number_of(raw: Any) -> Decimal:
    """Parse numbers the way people type them: "1,234.50", " 1E+3 ", "$12", 12.5."""
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    if isinstance(raw, int):
        return _in_bounds(Decimal(raw))
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError("must be a finite number")
        return _in_bounds(Decimal(repr(raw)))
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise ValueError("must be a finite number")
        return _in_bounds(raw)
    text = _NUMBER_JUNK.sub("", str(raw).strip())
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")  # 1,234,567.89
    elif _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")  # 1,5 as written in most of Europe
    if text.startswith("(") and text.endswith(")"):  # accounting negative
        text = "-" + text[1:-1]
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?", text):
        raise ValueError("must be a number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a number") from None
    return _in_bounds(number)


_NUMBER_RUN = re.compile(r"[\d.,]*\d[\d.,]*")
_GROUPED = {
    ",": re.compile(r"(\d{1,3}(\.\d{3})+|\d+)(,\d*)?|,\d+"),
    ".": re.compile(r"(\d{1,3}(,\d{3})+|\d+)(\.\d*)?|\.\d+"),
}
_WRITTEN_LIKE = {",": "1.234,50", ".": "1,234.50"}


def with_decimal_point(text: str, decimal: str) -> str:
    """`text` with its number rewritten for the parsers: `decimal` ("," or ".") is the
    decimal mark and the other one separates thousands, so "€1.234,50" with "," becomes
    "€1234.50". Raises ValueError when the number is not written that way."""
    group = "." if decimal == "," else ","

    def rewrite(m: re.Match) -> str:
        run = m.group()
        if group not in run and decimal not in run:
            return run
        if not _GROUPED[decimal].fullmatch(run):
            raise ValueError(
                f"must be a number written like {_WRITTEN_LIKE[decimal]} "
                f"({decimal!r} as the decimal mark)"
            )
        return run.replace(group, "").replace(decimal, ".")

    return _NUMBER_RUN.sub(rewrite, text)


def _in_bounds(number: Decimal) -> Decimal:
    # past 14 digits a spreadsheet has already rounded the number: refuse, do not guess
    if abs(number) >= Decimal("1e14"):
        raise ValueError("is too large")
    return number


def _check_range(value: Any, minimum: Any, maximum: Any) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")
