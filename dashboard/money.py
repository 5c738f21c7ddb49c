"""Money that never mixes currencies: the reporting (base) currency and exchange rates.

A rate is the units of the base currency one unit of another currency buys (`USD,0.92`
with base EUR), kept with its day in the `rates` table. `customer-dashboard rates import
FILE` (or Setup › Rates) writes a file of `currency,rate` rows as one audited, undoable
batch; the query engine converts a sum, average, minimum or maximum of money over customers
in several currencies at the newest stored rates, in SQL (`fx_join`), and refuses when a
currency involved has no rate (`missing_rates_message`).

The base currency is `[money] base` in the settings file (EUR by default); a view or a
report may name another one (`View(base="USD")`, `pivot --base USD`), for which rates
against that currency must be stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import audit
from .access import require
from .errors import Problem, UserError, ValidationError
from .fields import CURRENCY_FIELD
from .store import Store
from .types import Currency, Date, ExchangeRate, is_blank
from .words import plural

#: The reporting currency when the settings name none.
DEFAULT_BASE = "EUR"
#: The biggest rates file taken (a rates file lists a few hundred currencies at most).
MAX_BYTES = 1_000_000

_CURRENCY, _RATE, _DATE = Currency(), ExchangeRate(), Date()
#: Header names of each column of a rates file (any case).
HEADERS = {
    "currency": ("currency", "ccy", "code", "currency code"),
    "rate": ("rate", "exchange rate", "fx", "fx rate"),
    "date": ("date", "day", "as of"),
}


def base_currency(settings_path: str | Path | None = None) -> str:
    """The reporting currency from the settings file (`[money] base`; EUR when unset).
    The default file is $CUSTOMER_DASHBOARD_SETTINGS or data/settings.toml."""
    from .settings import Settings

    try:
        value = Settings.load(settings_path).get("money", "base")
    except UserError:
        return DEFAULT_BASE
    return check_base(value or DEFAULT_BASE)


def check_base(code: Any) -> str:
    """A reporting currency code, upper-cased; a clear error when it is not one."""
    try:
        parsed = _CURRENCY.parse(code)
    except (ValueError, TypeError):
        parsed = None
    if not parsed:
        raise UserError(
            f"the base currency must be an ISO 4217 code such as EUR or USD, not {code!r}"
        )
    return parsed


def fx_join(base: str, currency: str | None = None) -> tuple[str, list[Any]]:
    """A LEFT JOIN (and its parameters) giving each customer row the rate of its currency
    into `base` as `_fx._rate` (NULL: no rate). The base itself is 1; a rate stored into
    `base` is used as is; else one is derived from rates stored into another currency A
    that `base` has a rate into too (X into `base` = X into A / `base` into A). The newest
    day's rate is used (its latest import). `currency`: the SQL of the currency joined on
    (default: the customer row's)."""
    sql = f"LEFT JOIN {_rates_sql()} AS _fx ON _fx._ccy = {currency or CURRENCY_SQL}"
    return sql, [base] * 6


def fx_values(store: Store, base: str, currency: str) -> tuple[str, list[Any]]:
    """`fx_join` with the rates as a list of values (and its parameters): the rates
    subquery costs more than the grouping of a small result it converts, so its answer is
    kept on the database (`Store.attached`) until the rates table changes (its row count,
    newest import and sum of rates: rows are only ever added, and taken back by batch)."""
    mark = tuple(store.rows("SELECT count(*), max(imported_at), sum(rate) FROM rates")[0])
    kept = store.attached("money.rates", _KeptRates)
    rows = kept.get((base, mark))
    if rows is None:
        rows = store.rows(f"SELECT _ccy, _rate FROM {_rates_sql()} AS _r ORDER BY 1", [base] * 6)
        kept.put((base, mark), rows)
    values = ", ".join(["(?, ?::DECIMAL(18,8))"] * len(rows))
    sql = f"LEFT JOIN (VALUES {values}) AS _fx(_ccy, _rate) ON _fx._ccy = {currency}"
    return sql, [v for row in rows for v in row]


class _KeptRates:
    """The rates into each base last read from one database, by the rates table's mark."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[Any, list[tuple]]] = {}

    def get(self, key: tuple[str, Any]) -> list[tuple] | None:
        found = self._rows.get(key[0])
        return found[1] if found is not None and found[0] == key[1] else None

    def put(self, key: tuple[str, Any], rows: list[tuple]) -> None:
        self._rows[key[0]] = (key[1], rows)

    def close(self) -> None:
        self._rows.clear()


def _rates_sql() -> str:
    """Each currency's rate into the base (six `?`, each the base): `fx_join`'s table."""
    return (
        "(WITH _l AS (SELECT currency AS c, base AS b, rate AS r FROM rates "
        "QUALIFY row_number() OVER (PARTITION BY currency, base "
        'ORDER BY "day" DESC, imported_at DESC) = 1), '
        "_all AS (SELECT c, r, 0 AS k FROM _l WHERE b = ? "
        "UNION ALL SELECT ?, 1::DECIMAL(18,8), -1 "
        "UNION ALL SELECT x.c, CAST(x.r / t.r AS DECIMAL(18,8)), 1 FROM _l x "
        "JOIN _l t ON t.b = x.b AND t.c = ? WHERE x.b <> ? "
        "UNION ALL SELECT t.b, CAST(1 / t.r AS DECIMAL(18,8)), 1 FROM _l t WHERE t.c = ? AND t.b <> ?) "
        "SELECT c AS _ccy, arg_min(r, k) AS _rate FROM _all GROUP BY c)"
    )


#: SQL of a customer row's rate into the reporting currency (NULL: none), inside `fx_join`.
RATE_SQL = "_fx._rate"
#: SQL of a customer row's currency.
CURRENCY_SQL = f'customers."{CURRENCY_FIELD}"'


def missing_rates_message(
    label: str, currencies: int, missing: list[str], base: str, *, chart: bool = False
) -> str:
    """Why an aggregate over several currencies is refused (`chart`: why a chart of it
    cannot compare them on one axis): which rates are missing and what to do."""
    shown = ", ".join(missing[:20]) + (
        f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    )
    if chart:
        return (
            f"A chart of {label} compares amounts in {currencies} currencies on one axis, and "
            f"there is no exchange rate into {base} for {shown}: import them (customer-"
            "dashboard rates import FILE, or Setup › Rates) or filter by one Currency"
        )
    return (
        f"{label} adds up amounts in {currencies} currencies, and there is no exchange "
        f"rate into {base} for {shown}: import them (customer-dashboard rates import FILE, "
        "or Setup › Rates), group or filter by Currency, or leave this value out"
    )


# --- the rates table -------------------------------------------------------------------


@dataclass
class RatesImport:
    """What a rates file holds (and, once written, its batch)."""

    base: str
    rates: list[tuple[str, Any, dt.date]]
    blank_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    batch_id: str | None = None

    def __str__(self) -> str:
        what = f"{plural(len(self.rates), 'rate')} into {self.base}"
        return f"{what}, batch {self.batch_id}" if self.batch_id else what


def read_rates(data: bytes | str | Path, *, base: str, day: dt.date | None = None) -> RatesImport:
    """Read a rates file: CSV rows `currency,rate` (a header row and a third `date` column
    are optional), UTF-8 with or without BOM, UTF-16 or Latin-1; `,` `;` or tab between
    values; `1.08` or `1,08`. Blank rows are skipped. Every bad row is a Problem naming
    row, column and value (ValidationError: nothing is read)."""
    base = check_base(base)
    day = day or dt.date.today()
    text, warnings = _decoded(data)
    rows = list(csv.reader(io.StringIO(text), delimiter=_delimiter(text)))
    problems: list[Problem] = []
    out: list[tuple[str, Any, dt.date]] = []
    seen: dict[str, int] = {}
    blank = 0
    columns = {"currency": 0, "rate": 1, "date": 2}
    start = 0
    first = next((r for r in rows if any(c.strip() for c in r)), None)
    if first is not None and _is_header(first):
        start = rows.index(first) + 1
        columns = _header_columns(first, start, problems)
    for n, raw in enumerate(rows[start:], start=start + 1):
        cells = [c.strip() for c in raw]
        if not any(cells):
            blank += 1
            continue
        cells = _decimal_comma(cells, columns)
        code_raw = _at(cells, columns["currency"])
        rate_raw = _at(cells, columns["rate"])
        day_raw = _at(cells, columns.get("date"))
        try:
            code = _CURRENCY.parse(code_raw)
            if code is None:
                raise ValueError("is required")
        except ValueError as exc:
            problems.append(Problem("currency", code_raw, f"currency {exc}", n, "currency"))
            code = None
        try:
            rate = _RATE.parse(rate_raw)
            if rate is None:
                raise ValueError("is required")
        except ValueError as exc:
            problems.append(Problem("rate", rate_raw, f"rate {exc}", n, "rate"))
            rate = None
        try:
            when = _DATE.parse(day_raw) if not is_blank(day_raw) else day
        except ValueError as exc:
            problems.append(Problem("date", day_raw, f"date {exc}", n, "date"))
            when = None
        if code and code in seen:
            problems.append(Problem("currency", code_raw, f"{code} is also on row {seen[code]}",
                                    n, "currency"))  # fmt: skip
            continue
        if code:
            seen[code] = n
        if code == base and rate is not None and rate != 1:
            problems.append(Problem("rate", rate_raw, f"{base} is the base currency: its rate is 1",
                                    n, "rate"))  # fmt: skip
            continue
        if code and rate is not None and when is not None and code != base:
            out.append((code, rate, when))
    if problems:
        raise ValidationError(problems)
    if not out:
        raise UserError(
            "the file holds no rates: write one currency,rate row a line, e.g. USD,0.92"
        )
    if blank:
        warnings.append(f"{blank} blank row{'s' if blank != 1 else ''} skipped")
    return RatesImport(base, out, blank, warnings)


def import_rates(
    store: Store,
    data: bytes | str | Path,
    *,
    base: str,
    day: dt.date | None = None,
    dry_run: bool = False,
) -> RatesImport:
    """Read a rates file (see `read_rates`) and store its rates against `base` in one
    transaction: one batch, audited (one audit row per rate) and undoable. Needs the
    "rates" role (admins). `dry_run`: read and check only."""
    require(store, "rates")
    found = read_rates(data, base=base, day=day)
    if dry_run:
        return found
    user = store.user
    with store.transaction() as cur:
        batch_id, at = audit.open_batch(
            cur, "rates", user, f"rates: {len(found.rates)} into {found.base}"
        )
        cur.executemany(
            'INSERT INTO rates (currency, base, rate, "day", user_name, batch_id, imported_at) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[c, found.base, r, d, user, batch_id, at] for c, r, d in found.rates],
        )
        audit.record_rows(
            cur, batch_id, at, user,
            "SELECT 'rate', NULL::BIGINT, NULL::JSON, to_json(r) FROM rates r WHERE r.batch_id = ?",
            [batch_id],
        )  # fmt: skip
        audit.close_batch(cur, batch_id)
    found.batch_id = batch_id
    return found


def list_rates(store: Store, base: str | None = None) -> pd.DataFrame:
    """The rates in use into `base` (default: the settings' base), one row per currency:
    currency, rate, day, who imported it, when and in which batch."""
    require(store, "read")
    base = check_base(base or base_currency(store.settings_file()))
    return store.df(
        'SELECT currency, rate, "day", user_name, imported_at, batch_id FROM rates '
        "WHERE base = ? AND currency <> ? QUALIFY row_number() OVER "
        '(PARTITION BY currency ORDER BY "day" DESC, imported_at DESC) = 1 ORDER BY currency',
        [base, base],
    )


def rates_of(store: Store, base: str) -> dict[str, Any]:
    """{currency: rate} in use into `base` (the base itself is 1)."""
    frame = list_rates(store, base)
    return {base: 1, **dict(zip(frame["currency"], frame["rate"], strict=True))}


def undo_rates(cur: Any, batch_id: str, new_id: str, at: Any, user: str) -> None:
    """Take back the rates batch `batch_id` put in (within an undo's transaction)."""
    audit.record_rows(
        cur, new_id, at, user,
        "SELECT 'rate', NULL::BIGINT, to_json(r), NULL::JSON FROM rates r WHERE r.batch_id = ?",
        [batch_id],
    )  # fmt: skip
    cur.execute("DELETE FROM rates WHERE batch_id = ?", [batch_id])


# --- reading files -----------------------------------------------------------------------


def _decoded(data: bytes | str | Path) -> tuple[str, list[str]]:
    if isinstance(data, Path) or (isinstance(data, str) and "\n" not in data and len(data) < 4096
                                  and Path(data).is_file()):  # fmt: skip
        path = Path(data)
        if path.stat().st_size > MAX_BYTES:
            raise UserError(f"{path.name} is over {MAX_BYTES:,} bytes: not a rates file")
        data = path.read_bytes()
    if isinstance(data, str):
        return data.lstrip("\ufeff"), []
    if len(data) > MAX_BYTES:
        raise UserError(f"the file is over {MAX_BYTES:,} bytes: not a rates file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), []
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), ["the file is not UTF-8; read as cp1252"]


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    for mark in (";", "\t"):
        if mark in first:
            return mark
    return ","


def _is_header(cells: list[str]) -> bool:
    names = {n for names in HEADERS.values() for n in names}
    return any(c.strip().lower() in names for c in cells)


def _header_columns(cells: list[str], row: int, problems: list[Problem]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, c in enumerate(cells):
        for key, names in HEADERS.items():
            if c.strip().lower() in names:
                out[key] = i
    for key in ("currency", "rate"):
        if key not in out:
            problems.append(Problem(key, None, f"the header row has no {key} column", row, key))
    return out or {"currency": 0, "rate": 1}


def _decimal_comma(cells: list[str], columns: dict[str, int]) -> list[str]:
    """`USD,1,08` unquoted: a decimal comma split the rate in two (no date column)."""
    r = columns.get("rate", 1)
    if len(cells) > r + 1 and cells[r].isdigit() and cells[r + 1].isdigit():
        return [
            *cells[:r],
            f"{cells[r]}.{cells[r + 1]}",
            *cells[r + 2 :],
        ]  # a date is never digits only
    return cells


def _at(cells: list[str], i: int | None) -> str | None:
    return cells[i] if i is not None and i < len(cells) else None
