"""Service functions over customers: add, edit, get, bulk edit, delete, undo.

The page, the CLI and notebooks all call these. Each write validates everything first
(raising `ValidationError` with every problem, nothing written), then runs as one
transaction with its batch and audit rows.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import duckdb

from . import audit, dialect, search
from .access import require
from .bulk import Change, change_sql, check_bulk_field, parse_change, range_sql, summarize
from .errors import ConflictError, Problem, UserError, ValidationError
from .fields import (
    CONTACT_FIELDS,
    CONTACT_IDENTITY,
    CONTACTS,
    COUNTRY_FIELD,
    CREATED_FIELD,
    CURRENCY_FIELD,
    CUSTOMER_FIELDS,
    FIELDS,
    KEY_FIELD,
    TAGS_FIELD,
    UPDATED_FIELD,
    new_problems,
    validate,
    writable,
)  # fmt: skip
from .query import View, compile_ids, compile_where, quote
from .store import Rollback, Store, utcnow
from .words import plural

#: Customers listed by name in a message about many (a confirmation, a refusal).
SHOW_FIRST = 5

Target = Sequence[int] | View


def name_key(name: str) -> str:
    """How names are compared for uniqueness: trimmed and case-insensitive."""
    return name.strip().casefold()


# --- reading -------------------------------------------------------------------------


def get_customer(store: Store, customer_id: int) -> dict[str, Any]:
    """One customer's fields, `row_version` and `contacts` (a list of dicts)."""
    cols = ", ".join(quote(f.name) for f in CUSTOMER_FIELDS)
    rows = store.execute(
        f"SELECT {cols}, row_version FROM customers WHERE id = ?", [customer_id]
    ).fetchall()
    if not rows:
        raise UserError(f"there is no customer with id {customer_id}")
    record = dict(zip([f.name for f in CUSTOMER_FIELDS] + ["row_version"], rows[0], strict=True))
    record[TAGS_FIELD] = list(record[TAGS_FIELD] or [])
    record["contacts"] = get_contacts(store, customer_id)
    return record


def get_contacts(store: Store, customer_id: int) -> list[dict[str, Any]]:
    """A customer's contacts in their order, each with its `id`."""
    cols = ", ".join(f'"{f.name}"' for f in CONTACT_FIELDS)
    cur = store.execute(
        f"SELECT id, {cols} FROM contacts WHERE customer_id = ? ORDER BY position, id",
        [customer_id],
    )
    names = ["id", *CONTACTS]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def known_tags(store: Store, limit: int = 500) -> list[str]:
    """Tags in use, most used first (the tag editor offers them).

    Counting them reads every customer's tags (tens of milliseconds at a million, more on a
    busy server), and each card that opens asks: the answer is kept on the database until
    its change token moves, that is until the next write.
    """
    token = store.change_token()
    cache = store.attached("known_tags", _TagCache)
    key = (token, limit)
    found = cache.get(key)
    if found is None:
        found = [
            r[0]
            for r in store.rows(
                "SELECT t, count(*) AS n FROM (SELECT unnest(tags) AS t FROM customers) "
                "GROUP BY t ORDER BY n DESC, t LIMIT ?",
                [limit],
            )
        ]
        cache.put(key, found)
    return list(found)


class _TagCache:
    """The last tag counts read from one database, by (change token, limit)."""

    def __init__(self) -> None:
        self._key: Any = None
        self._tags: list[str] = []

    def get(self, key: Any) -> list[str] | None:
        return self._tags if key == self._key else None

    def put(self, key: Any, tags: list[str]) -> None:
        self._key, self._tags = key, tags

    def close(self) -> None:
        """Nothing to release (the store calls this when it closes)."""


def find_by_name(store: Store, name: str) -> int | None:
    """The id of the customer with this name (trimmed, case-insensitive), or None."""
    return store.scalar("SELECT id FROM customers WHERE name_key = ?", [name_key(name)])


# --- validation helpers --------------------------------------------------------------


def _defaults() -> dict[str, Any]:
    out = {}
    for f in writable():
        if f.default is not None:
            out[f.name] = f.stored_default
    return out


def validate_contacts(
    contacts: Iterable[dict[str, Any]], *, region: str | None = None, row: int | None = None
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Parse a customer's contacts; a contact needs at least a name, email or mobile."""
    clean_list, problems = [], []
    for i, contact in enumerate(contacts, start=1):
        values = {k: v for k, v in contact.items() if k != "id"}
        # a national number ("07911 123456") is read in the customer's country
        clean, found = validate(values, CONTACTS, partial=True, row=row, region=region)
        for p in found:
            problems.append(
                Problem(f"contacts[{i}].{p.field}", p.value, f"Contact {i}: {p.message}", row)
            )
        if not any(clean.get(k) for k in CONTACT_IDENTITY) and not found:
            needs = " or ".join(CONTACTS[k].label.lower() for k in CONTACT_IDENTITY)
            problems.append(Problem(f"contacts[{i}]", None, f"Contact {i} needs a {needs}", row))
        for f in CONTACT_FIELDS:
            if clean.get(f.name) is None and f.default is not None:
                clean[f.name] = f.default
        if contact.get("id") is not None:
            clean["id"] = contact["id"]
        clean_list.append(clean)
    return clean_list, problems


def _duplicate(store_or_cur: Any, name: str, exclude: int | None = None) -> int | None:
    found = store_or_cur.execute(
        "SELECT id FROM customers WHERE name_key = ? AND id IS DISTINCT FROM ? LIMIT 1",
        [name_key(name), exclude],
    ).fetchall()
    return found[0][0] if found else None


def _taken(value: Any) -> Problem:
    label = FIELDS[KEY_FIELD].label
    return Problem(KEY_FIELD, value, f"{label} is already used by another customer")


def _constraint_to_problem(exc: duckdb.Error, name: str | None) -> ValidationError:
    if "name_key" in str(exc) or "Duplicate key" in str(exc):
        return ValidationError([_taken(name)])
    raise exc


# --- add / edit ----------------------------------------------------------------------


def add_customer(
    store: Store,
    values: dict[str, Any],
    contacts: Iterable[dict[str, Any]] = (),
    *,
    user: str | None = None,
) -> audit.Batch:
    """Create a customer (and its contacts) in one transaction; returns its batch.

    Every problem is reported at once as a ValidationError; nothing is written then.
    """
    require(store, "add")
    user = user or store.user
    given = {k: v for k, v in values.items() if k != "contacts"}
    clean, problems = validate(given)
    # any ISO code is read (older data loads), but a new customer is billed in money
    problems += new_problems(clean)
    record = {**_defaults(), **{k: v for k, v in clean.items() if v is not None or k in given}}
    for f in writable():
        if (
            f.required
            and record.get(f.name) is None
            and not any(p.field == f.name for p in problems)
        ):
            problems.append(Problem(f.name, None, f"{f.label} is required"))
    contact_rows, contact_problems = validate_contacts(contacts, region=record.get(COUNTRY_FIELD))
    problems += contact_problems
    if record.get(KEY_FIELD) and _duplicate(store, record[KEY_FIELD]) is not None:
        problems.append(_taken(record[KEY_FIELD]))
    if problems:
        raise ValidationError(problems)
    now = utcnow()
    record.update({CREATED_FIELD: now, UPDATED_FIELD: now})
    names = list(record)
    cols = ", ".join(quote(n) for n in names)
    marks = ", ".join("?" for _ in names)
    try:
        with store.transaction() as cur:
            batch_id, at = audit.open_batch(cur, "add", user, f"add {record[KEY_FIELD]}")
            new_id = cur.execute(
                f"INSERT INTO customers ({cols}, name_key) VALUES ({marks}, ?) RETURNING id",
                [record[n] for n in names] + [name_key(record[KEY_FIELD])],
            ).fetchall()[0][0]
            saved = _write_contacts(cur, new_id, contact_rows)
            after = {n: record[n] for n in names if n not in (CREATED_FIELD, UPDATED_FIELD)}
            after["contacts"] = saved
            audit.record(cur, batch_id, at, user, "add", new_id, None, after)
            search.refresh_batch(cur, batch_id)
            audit.close_batch(cur, batch_id)
    except duckdb.ConstraintException as exc:
        raise _constraint_to_problem(exc, record.get(KEY_FIELD)) from None
    return audit.Batch(batch_id, "add", 1, [new_id])


def _write_contacts(
    cur: duckdb.DuckDBPyConnection, customer_id: int, contacts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace a customer's contacts; returns them as stored (for the audit log)."""
    cur.execute("DELETE FROM contacts WHERE customer_id = ?", [customer_id])
    names = [f.name for f in CONTACT_FIELDS]
    cols = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    saved = []
    for pos, c in enumerate(contacts):
        values = [c.get(n) for n in names]
        if c.get("id") is not None:
            cur.execute(
                f"INSERT INTO contacts (id, customer_id, position, {cols}) "
                f"VALUES (?, ?, ?, {marks})",
                [c["id"], customer_id, pos, *values],
            )
            cid = c["id"]
        else:
            cid = cur.execute(
                f"INSERT INTO contacts (customer_id, position, {cols}) VALUES (?, ?, {marks}) "
                "RETURNING id",
                [customer_id, pos, *values],
            ).fetchall()[0][0]
        saved.append({"id": cid, **{n: c.get(n) for n in names}})
    return saved


def update_customer(
    store: Store,
    customer_id: int,
    changes: dict[str, Any],
    contacts: Iterable[dict[str, Any]] | None = None,
    *,
    expected_version: int | None = None,
    user: str | None = None,
) -> audit.Batch:
    """Edit one customer (and, when given, replace its contacts) in one transaction.

    `expected_version` is the `row_version` the editor loaded: if the customer changed
    since, a ConflictError says what changed and nothing is written. Currency cannot change.
    """
    require(store, "edit")
    user = user or store.user
    current = get_customer(store, customer_id)
    if expected_version is not None and current["row_version"] != expected_version:
        raise _conflict(store, customer_id, expected_version, current)
    given = {k: v for k, v in changes.items() if k not in ("contacts", "id", "row_version")}
    given = {k: v for k, v in given.items() if not (k in FIELDS and FIELDS[k].system)}
    clean, problems = validate(given, partial=True)
    for name, value in clean.items():
        f = FIELDS[name]
        if f.immutable and value != current[name]:
            problems.append(
                Problem(name, value, f"{f.label} cannot be changed once the customer exists")
            )
        if f.required and value is None:
            problems.append(Problem(name, value, f"{f.label} is required"))
    if clean.get(KEY_FIELD) and _duplicate(store, clean[KEY_FIELD], customer_id) is not None:
        problems.append(_taken(clean[KEY_FIELD]))
    contact_rows = None
    if contacts is not None:
        region = clean.get(COUNTRY_FIELD, current[COUNTRY_FIELD])
        contact_rows, cp = validate_contacts(contacts, region=region)
        problems += cp
    if problems:
        raise ValidationError(problems)
    changed = {n: v for n, v in clean.items() if _normal(v) != _normal(current[n])}
    old_contacts = current["contacts"]
    contacts_changed = contact_rows is not None and _contacts_key(contact_rows) != _contacts_key(
        old_contacts
    )
    if not changed and not contacts_changed:
        return audit.Batch("", "edit", 0, [])
    try:
        with store.transaction() as cur:
            batch_id, at = audit.open_batch(cur, "edit", user, f"edit {current[KEY_FIELD]}")
            sets = [f"{quote(n)} = ?" for n in changed]
            params = list(changed.values())
            if KEY_FIELD in changed:
                sets.append("name_key = ?")
                params.append(name_key(changed[KEY_FIELD]))
            sets += [f'"{UPDATED_FIELD}" = ?', "row_version = row_version + 1"]
            n = cur.execute(
                f"UPDATE customers SET {', '.join(sets)} WHERE id = ? AND row_version = ?",
                [*params, at, customer_id, current["row_version"]],
            ).fetchall()[0][0]
            if n != 1:
                raise ConflictError("the customer changed while saving; reload and try again")
            before = {k: current[k] for k in changed}
            after = dict(changed)
            if contacts_changed:
                after["contacts"] = _write_contacts(cur, customer_id, contact_rows)
                before["contacts"] = old_contacts
            audit.record(cur, batch_id, at, user, "update", customer_id, before, after)
            search.refresh_batch(cur, batch_id)
            audit.close_batch(cur, batch_id)
    except duckdb.ConstraintException as exc:
        raise _constraint_to_problem(exc, changed.get(KEY_FIELD)) from None
    return audit.Batch(batch_id, "edit", 1, [customer_id], {"changed": sorted(after)})


def _normal(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _contacts_key(contacts: list[dict[str, Any]]) -> list[tuple]:
    return [tuple(c.get(f.name) for f in CONTACT_FIELDS) for c in contacts]


def _conflict(
    store: Store, customer_id: int, expected_version: int, current: dict[str, Any]
) -> ConflictError:
    """Describe what others changed since `expected_version` from the audit log."""
    since = store.rows(
        "SELECT user_name, before, after FROM audit_log WHERE customer_id = ? "
        "ORDER BY happened_at DESC, id DESC LIMIT ?",
        [customer_id, max(1, current["row_version"] - expected_version)],
    )
    changes: dict[str, Any] = {}
    fields: dict[str, str] = {}
    who = []
    for user_name, before_json, after_json in reversed(since):
        who.append(user_name)
        before = json.loads(before_json) if before_json else {}
        after = json.loads(after_json) if after_json else {}
        for k, v in after.items():
            label = FIELDS[k].label if k in FIELDS else k.title()
            changes.setdefault(label, (before.get(k), v))
            fields[k] = user_name  # the last one to change it
    listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items()) or "unknown fields"
    by = ", ".join(sorted(set(who))) or "someone"
    return ConflictError(
        f"{current[KEY_FIELD]} was changed by {by} after you opened it ({listed}). "
        "Reload to bring in their values: your own changes to other fields are kept.",
        changes,
        fields=fields,
    )


# --- many customers ------------------------------------------------------------------


def target_sql(target: Target) -> tuple[str, list[Any]]:
    """A subquery of customer ids: a list of ids, or every customer a view matches (over
    daily usage: the customers of the usage rows it matches, e.g. a ticked usage group)."""
    if isinstance(target, View):
        if target.source != "customers":
            found = compile_ids(target)
            return found.sql, found.params
        where, params = compile_where(target)
        return f"SELECT id FROM customers WHERE {where}", params
    ids = [int(i) for i in target]
    return "SELECT unnest(?::BIGINT[])", [ids]


def _stage(cur: duckdb.DuckDBPyConnection, target: Target, extra: str = "", params=()) -> int:
    sub, sub_params = target_sql(target)
    cur.execute("DROP TABLE IF EXISTS temp._target")
    cur.execute(
        f"CREATE TEMP TABLE _target AS SELECT c.id{extra} FROM customers c WHERE c.id IN ({sub})",
        [*params, *sub_params],
    )
    return cur.execute("SELECT count(*) FROM temp._target").fetchall()[0][0]


def preview_targets(store: Store, target: Target, limit: int = SHOW_FIRST) -> tuple[int, list[str]]:
    """How many customers a target holds and the first names (for confirmations)."""
    sub, params = target_sql(target)
    n = store.scalar(f"SELECT count(*) FROM customers WHERE id IN ({sub})", params)
    names = [
        r[0]
        for r in store.rows(
            f"SELECT name FROM customers WHERE id IN ({sub}) ORDER BY name LIMIT ?",
            [*params, limit],
        )
    ]
    return int(n), names


def bulk_edit(
    store: Store,
    target: Target,
    changes: dict[str, Any] | Sequence[Change],
    *,
    user: str | None = None,
    dry_run: bool = False,
    expect: int | None = None,
) -> audit.Batch:
    """Apply changes to every targeted customer in one UPDATE and one transaction.

    `changes` maps field names to values as people type them ("10", "+5", "*1.2, at most
    50", "+=vip") or is a list of `Change`. Refuses fields that are not bulk-editable, and
    results outside a field's bounds (naming the first customers affected).
    `details["preview"]` lists the first changes as (id, name, field, old, new, the
    customer's currency);
    `details["summary"]` is a `bulk.Summary` (increases, decreases, ranges, moves), counted
    by the database. `expect`: the number of changes a person confirmed; if the data moved
    since and another number would change, nothing is written.
    """
    require(store, "bulk_edit")
    user = user or store.user
    if isinstance(changes, dict):
        changes = [parse_change(k, v) for k, v in changes.items()]
    if not changes:
        raise UserError("nothing to change: choose a field and a value")
    for ch in changes:
        check_bulk_field(ch.field)
    exprs, params = [], []
    for i, ch in enumerate(changes):
        sql, p = change_sql(ch, f"c.{quote(ch.field)}", dialect.of(store))
        exprs.append(f"{sql} AS new_{i}")
        params += p
    differs = " OR ".join(
        f"t.new_{i} IS DISTINCT FROM c.{quote(ch.field)}" for i, ch in enumerate(changes)
    )
    result = None
    with _dry_run(store) if dry_run else store.transaction() as cur:
        try:
            _stage(cur, target, ", " + ", ".join(exprs), params)
        except duckdb.ConversionException as exc:
            raise UserError(f"the new values do not fit: {str(exc).splitlines()[0]}") from None
        problems = _bulk_range_problems(cur, changes)
        if problems:
            raise ValidationError(problems)
        preview = _bulk_preview(cur, changes, differs)
        summary = summarize(cur, changes, preview)
        n = summary.changed
        if expect is not None and n != expect and not dry_run:
            raise ConflictError(
                f"the customers changed since the preview: {n:,} would change now, not "
                f"{expect:,}; nothing was written. Preview again."
            )
        details = {"preview": preview, "summary": summary}
        if dry_run or n == 0:
            result = audit.Batch("", "bulk_edit", int(n), details=details)
            raise Rollback
        description = "; ".join(ch.describe() for ch in changes)
        batch_id, at = audit.open_batch(cur, "bulk_edit", user, description)
        audit.record_updates(
            cur,
            batch_id,
            at,
            user,
            {ch.field: f"t.new_{i}" for i, ch in enumerate(changes)},
            f"temp._target t JOIN customers c USING (id) WHERE {differs}",
        )
        sets = ", ".join(f"{quote(ch.field)} = t.new_{i}" for i, ch in enumerate(changes))
        cur.execute(
            f'UPDATE customers AS c SET {sets}, "{UPDATED_FIELD}" = ?, '
            "row_version = c.row_version + 1 "
            f"FROM temp._target t WHERE c.id = t.id AND ({differs})",
            [at],
        )
        search.refresh_batch(cur, batch_id)
        count = audit.close_batch(cur, batch_id)
        cur.execute("DROP TABLE temp._target")
        result = audit.Batch(batch_id, "bulk_edit", count, details=details)
    return result


@contextlib.contextmanager
def _dry_run(store: Store) -> Iterator[duckdb.DuckDBPyConnection]:
    """A transaction that is always rolled back, on a cursor of its own: a dry run needs
    only temporary tables, so it also runs on a read-only store (a served database's
    snapshot) and never takes the write lock."""
    with store.private_cursor() as cur:
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except Rollback:
            pass
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")


def _bulk_range_problems(
    cur: duckdb.DuckDBPyConnection, changes: Sequence[Change]
) -> list[Problem]:
    problems = []
    for i, ch in enumerate(changes):
        f = FIELDS[ch.field]
        cond, p = range_sql(f, f"t.new_{i}")
        if cond == "FALSE":
            continue
        bad = cur.execute(
            f"SELECT c.id, c.name, c.{quote(f.name)}, t.new_{i}, count(*) OVER () "
            f"FROM temp._target t JOIN customers c USING (id) WHERE {cond} ORDER BY c.name LIMIT ?",
            [*p, SHOW_FIRST],
        ).fetchall()
        if bad:
            total = bad[0][4]
            shown = ", ".join(
                f"{name} (id {cid}): {old} -> {new}" for cid, name, old, new, _ in bad
            )
            lo = getattr(f.type, "minimum", None)
            hi = getattr(f.type, "maximum", None)
            problems.append(
                Problem(
                    f.name,
                    ch.describe(),
                    f"{plural(total, 'customer')} would get a {f.label} outside {lo}..{hi}: {shown}. "
                    "Add a bound (at least / at most) or choose fewer customers.",
                )
            )
    return problems


def _bulk_preview(cur, changes: Sequence[Change], differs: str) -> list[tuple]:
    cols = ", ".join(f"c.{quote(ch.field)}, t.new_{i}" for i, ch in enumerate(changes))
    # the customer's currency last: an amount is shown in it ("2,500.00 AED")
    rows = cur.execute(
        f"SELECT c.id, c.name, {cols}, c.{quote(CURRENCY_FIELD)} FROM temp._target t "
        f"JOIN customers c USING (id) WHERE {differs} ORDER BY c.name LIMIT ?",
        [SHOW_FIRST * 2],
    ).fetchall()
    out = []
    for r in rows:
        for i, ch in enumerate(changes):
            if r[2 + 2 * i] != r[3 + 2 * i]:  # of several changes, only those that change
                out.append((r[0], r[1], FIELDS[ch.field].label, r[2 + 2 * i], r[3 + 2 * i],
                            r[-1]))  # fmt: skip
    return out


def delete_customers(store: Store, target: Target, *, user: str | None = None) -> audit.Batch:
    """Delete customers and their contacts in one transaction, keeping them in the audit log."""
    require(store, "delete")
    user = user or store.user
    with store.transaction() as cur:
        n = _stage(cur, target)
        if n == 0:
            cur.execute("DROP TABLE temp._target")
            return audit.Batch("", "delete", 0)
        names = [r[0] for r in cur.execute(
            "SELECT name FROM customers WHERE id IN (SELECT id FROM temp._target) "
            "ORDER BY name LIMIT ?", [SHOW_FIRST]).fetchall()]  # fmt: skip
        batch_id, at = audit.open_batch(
            cur, "delete", user, f"delete {n}: {', '.join(names)}{' ...' if n > len(names) else ''}"
        )
        audit.record_deletes(cur, batch_id, at, user, "SELECT id FROM temp._target")
        cur.execute("DELETE FROM contacts WHERE customer_id IN (SELECT id FROM temp._target)")
        cur.execute("DELETE FROM customers WHERE id IN (SELECT id FROM temp._target)")
        ids = [r[0] for r in cur.execute("SELECT id FROM temp._target ORDER BY id").fetchall()]
        search.refresh_batch(cur, batch_id)
        count = audit.close_batch(cur, batch_id)
        cur.execute("DROP TABLE temp._target")
    return audit.Batch(batch_id, "delete", count, ids, {"names": names})
