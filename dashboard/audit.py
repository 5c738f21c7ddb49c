"""Batches and the audit log.

Every write belongs to a batch (one add, one edit, one bulk edit, one import, one delete,
one undo). `audit_log` has a row per customer touched, with the values before and after
(only the fields written; for a delete, the whole row and its contacts), so a batch can be
undone exactly and a customer's history can be shown.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import duckdb
import pandas as pd

from .fields import CONTACT_IDENTITY, FIELDS
from .store import Store, note_batch, utcnow
from .words import plural

#: The actions a batch records (sends, resumed and discarded sends included).
BATCH_ACTIONS = ("add", "edit", "bulk_edit", "delete", "import", "undo", "send", "resume",
                 "discard", "rates")  # fmt: skip


@dataclass
class Batch:
    """What a write did: its batch id and the customers it touched."""

    batch_id: str
    action: str
    count: int
    ids: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.action}: {plural(self.count, 'customer')}, batch {self.batch_id}"


def new_batch_id() -> str:
    """A short unique batch id that people can type: b-1a2b3c4d5e6f."""
    return "b-" + uuid.uuid4().hex[:12]


def open_batch(
    cur: duckdb.DuckDBPyConnection,
    action: str,
    user: str,
    description: str = "",
    *,
    undoes: str | None = None,
    customer_count: int = 0,
) -> tuple[str, Any]:
    """Record a batch (count filled in by `close_batch`, or given for a batch that writes
    no audit rows: a send's customers messaged); returns its id and timestamp."""
    if action not in BATCH_ACTIONS:
        raise ValueError(f"unknown batch action {action!r}")
    batch_id = new_batch_id()
    at = utcnow()
    cur.execute(
        "INSERT INTO batches (batch_id, happened_at, user_name, action, description, customer_count, "
        "undoes) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [batch_id, at, user, action, description, int(customer_count), undoes],
    )
    note_batch(batch_id, action, user)  # logged when the transaction commits
    return batch_id, at


def close_batch(cur: duckdb.DuckDBPyConnection, batch_id: str) -> int:
    """Set the batch's customer count from its audit rows; returns it."""
    n = cur.execute(
        "SELECT count(DISTINCT customer_id) FROM audit_log WHERE batch_id = ?", [batch_id]
    ).fetchall()[0][0]
    cur.execute("UPDATE batches SET customer_count = ? WHERE batch_id = ?", [n, batch_id])
    return int(n)


def record(
    cur: duckdb.DuckDBPyConnection,
    batch_id: str,
    at: Any,
    user: str,
    action: str,
    customer_id: int,
    before: dict | None,
    after: dict | None,
) -> None:
    """One audit row written from Python values (single-customer writes)."""
    record_rows(cur, batch_id, at, user, "SELECT ?, ?::BIGINT, ?::JSON, ?::JSON",
                [action, customer_id, _dump(before), _dump(after)])  # fmt: skip


def record_rows(
    cur: duckdb.DuckDBPyConnection,
    batch_id: str,
    at: Any,
    user: str,
    rows_sql: str,
    params: list[Any] | tuple[Any, ...] = (),
) -> None:
    """Audit rows of batch `batch_id`, one per row of `rows_sql`, a query selecting
    (action, customer_id, before, after) with `params`.

    The one place an audit row is written: every write path (add, edit, bulk edit, import,
    delete, undo, send's opt-outs) comes here, inside its own transaction."""
    cur.execute(
        "INSERT INTO audit_log (batch_id, happened_at, user_name, action, customer_id, before, after) "
        f"SELECT ?, ?, ?, r.* FROM ({rows_sql}) AS r",
        [batch_id, at, user, *params],
    )


def record_adds(
    cur: duckdb.DuckDBPyConnection, batch_id: str, at: Any, user: str, where: str,
    params: list[Any] | tuple[Any, ...] = (),
) -> None:  # fmt: skip
    """Audit rows for customers just added (`where` picks them from customers `c`): each
    whole row, so an undo can delete them and the history shows what was added."""
    record_rows(cur, batch_id, at, user,
                f"SELECT 'add', c.id, NULL::JSON, to_json(c) FROM customers c WHERE {where}",
                params)  # fmt: skip


def record_updates(
    cur: duckdb.DuckDBPyConnection, batch_id: str, at: Any, user: str,
    new: dict[str, str], source: str, params: list[Any] | tuple[Any, ...] = (),
) -> None:  # fmt: skip
    """Audit rows for an update of many customers at once: `new` maps each field written
    to the SQL of its new value, `source` is the FROM clause joining customers `c` to the
    new values (with a WHERE when only some rows change)."""
    before = ", ".join(f"'{name}', c.\"{name}\"" for name in new)
    after = ", ".join(f"'{name}', {expr}" for name, expr in new.items())
    record_rows(cur, batch_id, at, user,
                f"SELECT 'update', c.id, json_object({before}), json_object({after}) "
                f"FROM {source}", params)  # fmt: skip


def record_deletes(
    cur: duckdb.DuckDBPyConnection, batch_id: str, at: Any, user: str, ids: str,
    params: list[Any] | tuple[Any, ...] = (),
) -> None:  # fmt: skip
    """Audit rows for customers about to be deleted (`ids`: a query of their ids): each
    whole row with its contacts, so an undo can put them back exactly."""
    record_rows(cur, batch_id, at, user,
                "WITH k AS (SELECT customer_id, to_json(list(x ORDER BY position, id)) AS contacts "
                f"FROM contacts x WHERE customer_id IN ({ids}) GROUP BY customer_id) "
                "SELECT 'delete', c.id, json_object('customer', to_json(c), "
                "'contacts', coalesce(k.contacts, '[]'::JSON)), NULL::JSON "
                f"FROM customers c LEFT JOIN k ON k.customer_id = c.id WHERE c.id IN ({ids})",
                [*params, *params])  # fmt: skip


def _dump(values: dict | None) -> str | None:
    if values is None:
        return None
    return json.dumps(values, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    raise TypeError(f"cannot store {type(value).__name__} in the audit log")


def batches(store: Store, limit: int = 50) -> pd.DataFrame:
    """The most recent batches, newest first."""
    return store.df(
        "SELECT batch_id, happened_at, user_name, action, description, customer_count, undoes, "
        "undone_by FROM batches ORDER BY happened_at DESC, batch_id LIMIT ?",
        [limit],
    )


def batch(store: Store, batch_id: str) -> dict[str, Any] | None:
    """One batch's record, or None."""
    df = store.df("SELECT * FROM batches WHERE batch_id = ?", [batch_id])
    return None if df.empty else df.iloc[0].to_dict()


def history(store: Store, customer_id: int, *, shown: bool = False) -> pd.DataFrame:
    """A customer's changes, newest first: one row per field changed (who, when, old, new).
    `shown`: old and new as the page shows a value of their field ("1,234.50", "Yes": the
    type's display text), not as stored ("1234.5000", "yes")."""
    raw = store.rows(
        "SELECT a.happened_at, a.user_name, a.action, b.action AS batch_action, a.batch_id, "
        "a.before, a.after FROM audit_log a JOIN batches b USING (batch_id) "
        "WHERE a.customer_id = ? ORDER BY a.happened_at DESC, a.id DESC",
        [customer_id],
    )
    rows = []
    for rec in map(_Entry._make, raw):
        before = json.loads(rec.before) if rec.before else {}
        after = json.loads(rec.after) if rec.after else {}
        if rec.action == "delete":
            before = before.get("customer", before)
        names = [n for n in FIELDS if n in before or n in after] or ["contacts"]
        if "contacts" in before or "contacts" in after:
            names.append("contacts")
        for name in dict.fromkeys(names):
            old, new = before.get(name), after.get(name)
            if rec.action == "update" and old == new:
                continue
            label = FIELDS[name].label if name in FIELDS else name.title()
            rows.append(
                {
                    "at": rec.happened_at,
                    "user": rec.user_name,
                    "action": rec.batch_action,
                    "field": label,
                    "old": _text(name, old, shown),
                    "new": _text(name, new, shown),
                    "batch_id": rec.batch_id,
                }
            )
    return pd.DataFrame(rows, columns=["at", "user", "action", "field", "old", "new", "batch_id"])


class _Entry(NamedTuple):
    happened_at: Any
    user_name: str
    action: str
    batch_action: str
    batch_id: str
    before: str | None
    after: str | None


def _text(name: str, value: Any, shown: bool) -> str:
    if shown and name in FIELDS and value is not None:
        return FIELDS[name].type.display(value)
    return _show(value)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return "; ".join(
                " ".join(str(c.get(k) or "") for k in CONTACT_IDENTITY).strip() for c in value
            )
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
