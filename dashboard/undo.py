"""Undo a batch: put back exactly the values and contacts it changed.

An add is undone by deleting what it added; an edit, bulk edit or import update by writing
back the values from before; a delete by re-inserting the rows and contacts (same ids) kept
in the audit log. The undo is a batch of its own, audited like any other. It refuses, with a
clear message, when a later change touched the same customers (undo that one first), when
the batch was undone already, or when a restored name is now used by another customer.

Who may undo what is `access.require_undo`: the reversal needs the role of what it does
(deleting what an add or import added needs admin unless it is one's own batch; re-creating
deleted customers needs admin).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from . import audit, dialect, search
from .access import require, require_undo
from .errors import ConflictError, UserError
from .fields import CONTACT_FIELDS, CUSTOMER_FIELDS, FIELDS, KEY_FIELD, UPDATED_FIELD
from .query import quote
from .store import Store
from .words import plural

_INTERNAL = {"name_key": "VARCHAR", "row_version": "INTEGER"}


def _customer_columns() -> dict[str, str]:
    return {**{f.name: f.sql_type for f in CUSTOMER_FIELDS}, **_INTERNAL}


def _contact_columns() -> dict[str, str]:
    return {"id": "BIGINT", **{f.name: f.sql_type for f in CONTACT_FIELDS}}


def _value_sql(name: str, source: str) -> str:
    """The SQL that reads field `name` back from a JSON object column `source`."""
    return FIELDS[name].type.from_json_sql(source, name)


def undo(store: Store, batch_id: str, *, user: str | None = None) -> audit.Batch:
    """Undo batch `batch_id` in one transaction; returns the undo's own batch."""
    require(store, "undo")
    user = user or store.user
    with store.transaction() as cur:
        found = cur.execute(
            "SELECT action, undone_by, description, user_name FROM batches WHERE batch_id = ?",
            [batch_id],
        ).fetchall()
        if not found:
            raise UserError(f"there is no batch {batch_id!r}")
        action, undone_by, description, made_by = found[0]
        kinds = {k for (k,) in cur.execute(
            "SELECT DISTINCT action FROM audit_log WHERE batch_id = ?", [batch_id]).fetchall()}  # fmt: skip
        require_undo(store, batch_id, action, made_by, kinds)
        if undone_by:
            raise UserError(f"batch {batch_id} was already undone (by batch {undone_by})")
        if action == "undo":
            raise UserError(f"batch {batch_id} is itself an undo; make the change again instead")
        rows = cur.execute(
            "SELECT count(*) FROM audit_log WHERE batch_id = ?", [batch_id]
        ).fetchall()[0][0]
        if rows == 0:
            raise UserError(f"batch {batch_id} ({action}) has no recorded changes to undo")
        _refuse_if_touched_later(cur, batch_id)
        new_id, at = audit.open_batch(cur, "undo", user, f"undo {batch_id}: {description}",
                                      undoes=batch_id)  # fmt: skip
        _undo_adds(cur, batch_id, new_id, at, user)
        _undo_updates(cur, batch_id, new_id, at, user)
        _undo_deletes(cur, batch_id, new_id, at, user)
        if "rate" in kinds:
            from .money import undo_rates

            undo_rates(cur, batch_id, new_id, at, user)
        search.refresh_batch(cur, new_id)
        count = audit.close_batch(cur, new_id)
        cur.execute("UPDATE batches SET undone_by = ? WHERE batch_id = ?", [new_id, batch_id])
        kinds = _undo_kinds(cur, [new_id]).get(new_id, {})
    return audit.Batch(new_id, "undo", count,
                       details={"undid": batch_id, "kinds": kinds, "effect": effect(kinds)})  # fmt: skip


def _undo_kinds(cur, batch_ids: list[str]) -> dict[str, dict[str, int]]:
    """What undo batches did, by batch: customers removed ('delete'), restored ('update')
    and put back ('add'), as the undos' audit rows say."""
    if not batch_ids:
        return {}
    out: dict[str, dict[str, int]] = {b: {} for b in batch_ids}
    for b, action, n in cur.execute(
        "SELECT batch_id, action, count(DISTINCT customer_id) FROM audit_log "
        "WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
        [batch_ids],
    ).fetchall():
        out[b][action] = int(n)
    return out


def effect(kinds: dict[str, int]) -> str:
    """What an undo did, in words: "removing the 3 customers it added", "restoring the
    earlier values of 2 customers", "putting back the customer it deleted" (an upload that
    added some and updated others says both). `kinds` counts customers by the undo's audit
    action ('delete' for what it removed, 'update' restored, 'add' put back)."""

    def the(n: int) -> str:
        return "the customer" if n == 1 else f"the {n:,} customers"

    parts = []
    if kinds.get("delete"):
        parts.append(f"removing {the(kinds['delete'])} it added")
    if kinds.get("update"):
        parts.append(f"restoring the earlier values of {plural(kinds['update'], 'customer')}")
    if kinds.get("add"):
        parts.append(f"putting back {the(kinds['add'])} it deleted")
    if "rate" in kinds:
        parts.append("removing the exchange rates it imported")
    if not parts:
        return "changing nothing"
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def _refuse_if_touched_later(cur: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    message = _touched_later(cur, [batch_id]).get(batch_id)
    if message:
        raise ConflictError(message)


def _touched_later(cur, batch_ids: list[str]) -> dict[str, str]:
    """For each of `batch_ids` that a later change (not undone, not itself an undo) touched
    through one of its customers: why it cannot be undone. One query for all of them."""
    if not batch_ids:
        return {}
    rows = cur.execute(
        """WITH mine AS (
               SELECT batch_id, customer_id, max(id) OVER (PARTITION BY batch_id) AS last_id
               FROM audit_log WHERE batch_id IN (SELECT unnest(?::VARCHAR[]))),
           newer AS (  -- audit ids only grow: the oldest batch's last row bounds the scan
               SELECT a.id, a.customer_id, a.batch_id, b.user_name, b.action
               FROM audit_log a JOIN batches b USING (batch_id)
               WHERE a.id > (SELECT min(last_id) FROM mine)
                 AND b.undone_by IS NULL AND b.action <> 'undo'),
           later AS (
               SELECT m.batch_id, n.customer_id, n.id, n.batch_id AS other, n.user_name,
                      n.action
               FROM mine m JOIN newer n ON n.customer_id = m.customer_id
                 AND n.id > m.last_id AND n.batch_id <> m.batch_id)
           SELECT batch_id, count(DISTINCT customer_id), count(DISTINCT other),
                  arg_max(other, id), arg_max(user_name, id), arg_max(action, id)
           FROM later GROUP BY batch_id""",
        [list(batch_ids)],
    ).fetchall()
    out = {}
    for batch_id, n, batches, other, who, what in rows:
        if batches == 1:
            out[batch_id] = (
                f"cannot undo {batch_id}: a later change ({what} batch {other} by {who}) "
                f"touched {n} of its customers; undo that batch first"
            )
        else:
            out[batch_id] = (
                f"cannot undo {batch_id}: {batches} later changes touched {n} of its "
                f"customers (the last: {what} batch {other} by {who}); undo those first, "
                "newest first"
            )
    return out


def _undo_adds(cur, batch_id: str, new_id: str, at, user: str) -> None:
    """Delete what the batch added (keeping it in the audit log, like any delete)."""
    sub = "SELECT customer_id FROM audit_log WHERE batch_id = ? AND action = 'add'"
    audit.record_deletes(cur, new_id, at, user, sub, [batch_id])
    cur.execute(f"DELETE FROM contacts WHERE customer_id IN ({sub})", [batch_id])
    cur.execute(f"DELETE FROM customers WHERE id IN ({sub})", [batch_id])


def _undo_updates(cur, batch_id: str, new_id: str, at, user: str) -> None:
    """Write back every field (and contact list) the batch's updates changed."""
    keys = [
        r[0]
        for r in cur.execute(
            "SELECT DISTINCT unnest(json_keys(before)) FROM audit_log "
            "WHERE batch_id = ? AND action = 'update'",
            [batch_id],
        ).fetchall()
    ]
    if not keys:
        return
    audit.record_rows(cur, new_id, at, user,
                      "SELECT 'update', customer_id, after, before FROM audit_log "
                      "WHERE batch_id = ? AND action = 'update'", [batch_id])  # fmt: skip
    for name in keys:
        if name == "contacts":
            continue
        if name not in FIELDS or FIELDS[name].system:
            raise UserError(
                f"batch {batch_id} holds an unknown field {name!r}; it cannot be undone"
            )
        extra = f", name_key = lower(trim(a.before->>'{KEY_FIELD}'))" if name == KEY_FIELD else ""
        cur.execute(
            f"UPDATE customers AS c SET {quote(name)} = {_value_sql(name, 'a.before')}{extra} "
            "FROM audit_log a WHERE a.batch_id = ? AND a.action = 'update' "
            f"AND a.customer_id = c.id AND json_exists(a.before, '$.{name}')",
            [batch_id],
        )
    if "contacts" in keys:
        sub = (
            "SELECT customer_id FROM audit_log WHERE batch_id = ? AND action = 'update' "
            "AND json_exists(before, '$.contacts')"
        )
        cur.execute(f"DELETE FROM contacts WHERE customer_id IN ({sub})", [batch_id])
        _insert_contacts(cur, "before->'contacts'", "update", batch_id)
    cur.execute(
        f'UPDATE customers SET "{UPDATED_FIELD}" = ?, row_version = row_version + 1 WHERE id IN '
        "(SELECT customer_id FROM audit_log WHERE batch_id = ? AND action = 'update')",
        [at, batch_id],
    )


def _insert_contacts(cur, source: str, action: str, batch_id: str) -> None:
    """Re-insert contact lists kept in the audit log, under the audit row's customer."""
    cur.execute(
        dialect.of(cur).insert_contacts_from_json(
            _contact_columns(), source, "batch_id = ? AND action = ?"
        ),
        [batch_id, action],
    )


def _undo_deletes(cur, batch_id: str, new_id: str, at, user: str) -> None:
    """Re-insert deleted customers and their contacts with their old ids."""
    n = cur.execute(
        "SELECT count(*) FROM audit_log WHERE batch_id = ? AND action = 'delete'", [batch_id]
    ).fetchall()[0][0]
    if not n:
        return
    clash = cur.execute(
        "SELECT c.name FROM customers c JOIN audit_log a ON a.batch_id = ? AND a.action = 'delete' "
        f"AND lower(trim(a.before->'customer'->>'{KEY_FIELD}')) = c.name_key LIMIT 3",
        [batch_id],
    ).fetchall()
    if clash:
        names = ", ".join(r[0] for r in clash)
        which = (f"the name {names} now belongs to another customer; rename it first"
                 if len(clash) == 1 else
                 f"the names {names} now belong to other customers; rename those first")  # fmt: skip
        raise ConflictError(f"cannot undo {batch_id}: {which}")
    cur.execute(
        dialect.of(cur).insert_from_json(
            "customers", _customer_columns(), "before->'customer'",
            "batch_id = ? AND action = 'delete'",
        ),
        [batch_id],
    )  # fmt: skip
    _insert_contacts(cur, "before->'contacts'", "delete", batch_id)
    audit.record_rows(cur, new_id, at, user,
                      "SELECT 'add', customer_id, NULL::JSON, before FROM audit_log "
                      "WHERE batch_id = ? AND action = 'delete'", [batch_id])  # fmt: skip


def _headline(action: str, customer_count: int, description: str) -> str:
    if action == "rates":  # exchange rates touch no customer
        return f"Exchange {description}"
    n = f"{customer_count:,} customer{'s' if customer_count != 1 else ''}"
    return ACTION_WORDS.get(action, action.replace("_", " ").capitalize() + " of {n}").format(n=n)


def headline_of(store: Store, batch_id: str) -> str:
    """Batch `batch_id`'s action in words, as the changes list says it ("Upload of 3
    customers"); "" for no such batch."""
    require(store, "read")
    rows = store.rows("SELECT action, customer_count, coalesce(description, '') FROM batches "
                      "WHERE batch_id = ?", [batch_id])  # fmt: skip
    return _headline(*rows[0]) if rows else ""


def undone_text(store: Store, batch_id: str, done: audit.Batch, by: str = "") -> str:
    """What undoing batch `batch_id` (by the undo `done`) did, as a person reads it:
    "Undone: Deleted 2 customers, putting back the 2 customers it deleted." No batch ids:
    the changes list, where someone looks a batch up, shows them."""
    what = headline_of(store, batch_id) or "the change"
    return f"Undone: {what}{by}, {done.details.get('effect') or 'changing nothing'}."


def last_batch(store: Store, *, user: str | None = None) -> dict | None:
    """The newest batch that can still be undone (optionally: written by `user`)."""
    sql = (
        "SELECT batch_id, action, description, customer_count, happened_at, user_name "
        "FROM batches WHERE undone_by IS NULL AND action NOT IN ('undo') "
    )
    params: list = []
    if user:
        sql += "AND user_name = ? "
        params.append(user)
    rows = store.rows(sql + "ORDER BY happened_at DESC LIMIT 1", params)
    if not rows:
        return None
    keys = ("batch_id", "action", "description", "customer_count", "happened_at", "user_name")
    return dict(zip(keys, rows[0], strict=True))


# --- the list of recent changes ------------------------------------------------------

#: A batch's action in words, with its count: "Bulk edit of 93 customers".
ACTION_WORDS = {
    "add": "Added {n}",
    "edit": "Edited {n}",
    "bulk_edit": "Bulk edit of {n}",
    "import": "Upload of {n}",
    "delete": "Deleted {n}",
    "undo": "Undo of {n}",
    "send": "Messages to {n}",
}


@dataclass(frozen=True)
class BatchEntry:
    """One batch in the list of recent changes, and whether the acting user may undo it now.

    `refusal` says why a batch that is not undone cannot be undone by this user now: their
    role, a later change to the same customers, a send. Empty when `undoable`, for undone
    batches and for undos themselves.
    """

    batch_id: str
    happened_at: dt.datetime
    user_name: str
    action: str
    description: str
    customer_count: int
    undoes: str | None
    undone_by: str | None
    undone_by_user: str | None
    undone_at: dt.datetime | None
    undoable: bool
    refusal: str
    #: For an undo: what it did, in words ("removing the 3 customers it added").
    effect: str = ""

    def headline(self) -> str:
        """The action in words with its count: "Bulk edit of 93 customers"; an undo says
        what it did: "Undo, removing the 3 customers it added"."""
        if self.action == "undo" and self.effect:
            return f"Undo, {self.effect}"
        return _headline(self.action, self.customer_count, self.description)


@dataclass(frozen=True)
class BatchPage:
    """One page of recent batches, newest first."""

    entries: tuple[BatchEntry, ...]
    total: int
    page: int
    page_size: int
    #: Whether the acting user's role may undo at all; `note` says why not.
    may_undo: bool
    note: str = ""

    @property
    def pages(self) -> int:
        """How many pages the batches fill (at least one)."""
        return max(1, -(-self.total // self.page_size))


def recent_batches(store: Store, *, page: int = 1, page_size: int = 10) -> BatchPage:
    """The batches, newest first, one page at a time (paged by the database), each with
    whether the store's acting user may undo it now (`access.require_undo`, and no later
    change to the same customers) and, if not, why."""
    require(store, "read")
    page_size = max(1, int(page_size))
    total = int(store.scalar("SELECT count(*) FROM batches"))
    page = min(max(1, int(page)), max(1, -(-total // page_size)))
    rows = store.rows(
        "SELECT b.batch_id, b.happened_at, b.user_name, b.action, coalesce(b.description, ''), "
        "b.customer_count, b.undoes, b.undone_by, u.user_name, u.happened_at "
        "FROM batches b LEFT JOIN batches u ON u.batch_id = b.undone_by "
        "ORDER BY b.happened_at DESC, b.batch_id LIMIT ? OFFSET ?",
        [page_size, (page - 1) * page_size],
    )
    try:
        require(store, "undo")
        may_undo, note = True, ""
    except UserError as exc:
        may_undo, note = False, str(exc)
    open_ids = [r[0] for r in rows if r[7] is None and r[3] != "undo"]
    kinds: dict[str, set[str]] = {}
    if may_undo and open_ids:
        kinds = {b: set(k) for b, k in store.rows(
            "SELECT batch_id, list(DISTINCT action) FROM audit_log "
            "WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY batch_id", [open_ids])}  # fmt: skip
    refusals: dict[str, str] = {}
    candidates = []
    for batch_id, _at, made_by, action, *_ in rows:
        if not may_undo or batch_id not in open_ids:
            continue
        try:
            require_undo(store, batch_id, action, made_by, kinds.get(batch_id, set()))
        except UserError as exc:
            refusals[batch_id] = str(exc)
            continue
        if batch_id not in kinds:
            refusals[batch_id] = f"batch {batch_id} ({action}) has no recorded changes to undo"
            continue
        candidates.append(batch_id)
    refusals.update(_touched_later(store.cursor(), candidates))
    undos = _undo_kinds(store.cursor(), [r[0] for r in rows if r[3] == "undo"])
    entries = tuple(
        BatchEntry(
            *r,
            undoable=r[0] in candidates and r[0] not in refusals,
            refusal=refusals.get(r[0], ""),
            effect=effect(undos[r[0]]) if r[0] in undos else "",
        )  # fmt: skip
        for r in rows
    )
    return BatchPage(entries, total, page, page_size, may_undo, note)
