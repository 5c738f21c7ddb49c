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

import json

import duckdb

from . import audit
from .access import require, require_undo
from .errors import ConflictError, UserError
from .fields import CONTACT_FIELDS, CUSTOMER_FIELDS, FIELDS, KEY_FIELD
from .query import quote
from .store import Store

_INTERNAL = {"name_key": "VARCHAR", "row_version": "INTEGER"}


def _struct(columns: dict[str, str]) -> str:
    """A json_transform type literal built from registry names and SQL types only."""
    return json.dumps(columns, separators=(",", ":"))


def _customer_struct() -> str:
    return _struct({**{f.name: f.sql_type for f in CUSTOMER_FIELDS}, **_INTERNAL})


def _contacts_struct() -> str:
    cols = {"id": "BIGINT"}
    cols.update({f.name: f.sql_type for f in CONTACT_FIELDS})
    return json.dumps([cols], separators=(",", ":"))


def _value_sql(name: str, source: str) -> str:
    """The SQL that reads field `name` back from a JSON object column `source`."""
    f = FIELDS[name]
    if f.kind == "tags":
        return f"from_json({source}->'{name}', '[\"VARCHAR\"]')"
    return f"CAST({source}->>'{name}' AS {f.sql_type})"


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
        count = audit.close_batch(cur, new_id)
        cur.execute("UPDATE batches SET undone_by = ? WHERE batch_id = ?", [new_id, batch_id])
    return audit.Batch(new_id, "undo", count, details={"undid": batch_id})


def _refuse_if_touched_later(cur: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    later = cur.execute(
        """SELECT count(DISTINCT a.customer_id), min(b.batch_id), min(b.user_name),
                  min(b.action)
           FROM audit_log a JOIN batches b USING (batch_id)
           WHERE a.customer_id IN (SELECT customer_id FROM audit_log WHERE batch_id = ?)
             AND a.id > (SELECT max(id) FROM audit_log WHERE batch_id = ?)
             AND a.batch_id <> ? AND b.undone_by IS NULL AND b.action <> 'undo'""",
        [batch_id, batch_id, batch_id],
    ).fetchall()[0]
    n, other, who, what = later
    if n:
        raise ConflictError(
            f"cannot undo {batch_id}: a later change ({what} batch {other} by {who}) touched "
            f"{n} of its customers; undo that batch first"
        )


def _undo_adds(cur, batch_id: str, new_id: str, at, user: str) -> None:
    """Delete what the batch added (keeping it in the audit log, like any delete)."""
    cur.execute(
        "INSERT INTO audit_log (batch_id, happened_at, user_name, action, customer_id, before, "
        "after) WITH k AS (SELECT customer_id, to_json(list(x ORDER BY position, id)) AS contacts "
        "FROM contacts x GROUP BY customer_id) "
        "SELECT ?, ?, ?, 'delete', c.id, json_object('customer', to_json(c), 'contacts', "
        "coalesce(k.contacts, '[]'::JSON)), NULL FROM customers c LEFT JOIN k ON k.customer_id = c.id "
        "WHERE c.id IN (SELECT customer_id FROM audit_log WHERE batch_id = ? AND action = 'add')",
        [new_id, at, user, batch_id],
    )
    sub = "SELECT customer_id FROM audit_log WHERE batch_id = ? AND action = 'add'"
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
    cur.execute(
        "INSERT INTO audit_log (batch_id, happened_at, user_name, action, customer_id, before, "
        "after) SELECT ?, ?, ?, 'update', customer_id, after, before FROM audit_log "
        "WHERE batch_id = ? AND action = 'update'",
        [new_id, at, user, batch_id],
    )
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
        "UPDATE customers SET updated_at = ?, row_version = row_version + 1 WHERE id IN "
        "(SELECT customer_id FROM audit_log WHERE batch_id = ? AND action = 'update')",
        [at, batch_id],
    )


def _insert_contacts(cur, source: str, action: str, batch_id: str) -> None:
    """Re-insert contact lists kept in the audit log, under the audit row's customer."""
    names = ", ".join(f'c."{f.name}"' for f in CONTACT_FIELDS)
    cols = ", ".join(f'"{f.name}"' for f in CONTACT_FIELDS)
    cur.execute(
        f"INSERT INTO contacts (id, customer_id, position, {cols}) "
        f"SELECT coalesce(c.id, nextval('contact_id_seq')), customer_id, i, {names} FROM ("
        f"SELECT customer_id, unnest(l) AS c, unnest(range(len(l))) AS i FROM ("
        f"SELECT customer_id, json_transform({source}, '{_contacts_struct()}') AS l "
        "FROM audit_log WHERE batch_id = ? AND action = ?))",
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
        raise ConflictError(
            f"cannot undo {batch_id}: the name(s) {names} now belong to other customers; "
            "rename those first"
        )
    cur.execute(
        "INSERT INTO customers BY NAME SELECT unnest(s) FROM ("
        f"SELECT json_transform(before->'customer', '{_customer_struct()}') AS s "
        "FROM audit_log WHERE batch_id = ? AND action = 'delete')",
        [batch_id],
    )
    _insert_contacts(cur, "before->'contacts'", "delete", batch_id)
    cur.execute(
        "INSERT INTO audit_log (batch_id, happened_at, user_name, action, customer_id, before, "
        "after) SELECT ?, ?, ?, 'add', customer_id, NULL, before FROM audit_log "
        "WHERE batch_id = ? AND action = 'delete'",
        [new_id, at, user, batch_id],
    )


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
