"""The quick search's own table: each customer's searchable text, normalised once.

Searching eight customer columns and every contact with ILIKE costs a scan of all of them
(half a second at a million customers). Instead `customer_search` holds one row per
customer: for each way of searching a value (see `groups`), the lower-cased values of the
customer's searchable fields and of its contacts' fields, joined by a newline (which no
stored value contains, so a search never matches across two values). One `contains` over
one column answers a search.

The table is derived data: every write path calls `refresh(cur, ids)` for the customers it
wrote, in the same transaction; migration 7 creates and fills it (`rebuild`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from .fields import CONTACT_FIELDS, Field, searchable

TABLE = "customer_search"
#: Joins the values of one customer in a search column; never part of a stored value (text
#: fields refuse control characters; emails, web addresses and phone numbers hold none).
SEPARATOR = "\n"


@dataclass(frozen=True)
class Group:
    """Fields searched with the same term (their types turn typed text into the same
    thing to look for), stored together in one column."""

    column: str
    fields: tuple[Field, ...]
    contact_fields: tuple[Field, ...]

    def term(self, text: str) -> str | None:
        """What to look for in this column for typed `text`, or None: nothing here could
        hold it."""
        for f in (*self.fields, *self.contact_fields):
            term = f.type.search_term(text)
            if term:
                return term
        return None


def groups() -> list[Group]:
    """The search columns: searchable fields grouped by how their type reads a search."""
    contact_fields = [f for f in CONTACT_FIELDS if f.type.searchable]
    found: dict[object, tuple[list[Field], list[Field]]] = {}
    for f in searchable():
        found.setdefault(type(f.type).search_term, ([], []))[0].append(f)
    for f in contact_fields:
        found.setdefault(type(f.type).search_term, ([], []))[1].append(f)
    return [
        Group(f"s{i}", tuple(own), tuple(theirs)) for i, (own, theirs) in enumerate(found.values())
    ]


def _joined(fields: Iterable[Field], alias: str) -> str:
    values = [f'lower({alias}."{f.name}")' for f in fields]  # registry names only
    return f"concat_ws(?, {', '.join(values)})" if values else "NULL"


def _fill_sql(cond: str, cond_params: list) -> tuple[str, list]:
    """INSERT ... SELECT computing the search rows of the customers `cond` (on `c`) selects."""
    per_contact, cols, contact_params, own_params = [], [], [], []
    for g in groups():
        per_contact.append(
            f"string_agg({_joined(g.contact_fields, 'k')}, ? ORDER BY k.position, k.id) "
            f'AS "{g.column}"'
        )
        contact_params += [SEPARATOR] * (2 if g.contact_fields else 1)
        cols.append(f'concat_ws(?, {_joined(g.fields, "c")}, k."{g.column}") AS "{g.column}"')
        own_params += [SEPARATOR] * (2 if g.fields else 1)
    sql = (
        f"INSERT INTO {TABLE} "
        f"WITH k AS (SELECT k.customer_id, {', '.join(per_contact)} FROM contacts k "
        f"WHERE k.customer_id IN (SELECT c.id FROM customers c WHERE {cond}) "
        "GROUP BY k.customer_id) "
        f"SELECT c.id, {', '.join(cols)} FROM customers c "
        f"LEFT JOIN k ON k.customer_id = c.id WHERE {cond}"
    )
    return sql, [*contact_params, *cond_params, *own_params, *cond_params]


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (empty) search table."""
    cols = ", ".join(f'"{g.column}" VARCHAR' for g in groups())
    con.execute(f"CREATE TABLE {TABLE} (customer_id BIGINT NOT NULL, {cols})")


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Recreate the search table from every customer (migrations, demo data, raw SQL)."""
    con.execute(f"DROP TABLE IF EXISTS {TABLE}")
    create(con)
    con.execute(*_fill_sql("TRUE", []))


def refresh(
    cur: duckdb.DuckDBPyConnection,
    ids: Iterable[int] | None,
    *,
    fields: Iterable[str] | None = None,
) -> None:
    """Bring the search rows of the customers just written (`ids`; None: every customer)
    up to date, inside the writer's transaction; a deleted customer's row goes.

    `fields`: the customer fields the write changed, when it changed no contact; if none
    of them is searched, nothing needs doing."""
    if fields is not None and not {f.name for g in groups() for f in g.fields} & set(fields):
        return
    if ids is None:
        rebuild(cur)
        return
    ids = sorted({int(i) for i in ids})
    if not ids:
        return
    cur.execute(f"DELETE FROM {TABLE} WHERE customer_id IN (SELECT unnest(?::BIGINT[]))", [ids])
    cur.execute(*_fill_sql("c.id IN (SELECT unnest(?::BIGINT[]))", [ids]))


def condition(text: str) -> tuple[str, list[str]] | None:
    """A subquery selecting the ids of customers whose searchable values (or contacts')
    contain `text` (case-insensitive), with its parameters; None when nothing can."""
    parts, params = [], []
    for g in groups():
        term = g.term(text)
        if not term or SEPARATOR in term:
            continue
        parts.append(f'contains("{g.column}", lower(?))')
        params.append(term)
    if not parts:
        return None
    return f"SELECT customer_id FROM {TABLE} WHERE {' OR '.join(parts)}", params


def refresh_batch(cur: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """`refresh` the customers an audited write batch added, deleted or changed searched
    fields or contacts of (read from its audit entries): the one line every write path
    runs before closing its batch. A bulk edit of statuses or limits costs nothing here."""
    searched = [f.name for g in groups() for f in g.fields] + ["contacts"]
    ids = cur.execute(
        "SELECT DISTINCT customer_id FROM audit_log WHERE batch_id = ? "
        "AND customer_id IS NOT NULL AND (action <> 'update' "
        "OR list_has_any(json_keys(coalesce(after, before)), ?::VARCHAR[]) "
        "OR list_has_any(json_keys(coalesce(before, after)), ?::VARCHAR[]))",
        [batch_id, searched, searched],
    ).fetchall()
    refresh(cur, [i for (i,) in ids])
