"""The quick search's own table: each customer's searchable text, normalised once.

Searching eight customer columns and every contact with ILIKE costs a scan of all of them
(half a second at a million customers). Instead `customer_search` holds one row per
customer: for each way of searching a value (see `groups`), the lower-cased values of the
customer's searchable fields and of its contacts' fields (in no set order), joined by a newline (which no
stored value contains, so a search never matches across two values). One `contains` over
one column answers a search.

A scan of that column still costs ~0.2 s per million customers, so two more derived tables
answer most searches without it:

- `search_token` (group, token, customer_id): every word of every search column, a word
  being a maximal run of characters that are not in `BREAKS`; written sorted by token, so
  DuckDB's zonemaps skip all but the few row groups holding the words looked for.
- `search_vocab` (group, token): the distinct words, a small table to scan.

A search for text without a break character matches a customer exactly when one of its
words *contains* the text (the text cannot straddle a break), so: the words of the
vocabulary containing it (one scan of a small table), then their customers (a semi-join
that reads two or three row groups of `search_token`). Text with breaks ("harper ocean",
"a@b.example") takes the customers holding its longest piece as candidates and checks the
whole text against their `customer_search` rows only. Pieces shorter than `MIN_PIECE` (or no
piece at all) match too many words to help: those searches scan `customer_search` as before,
and so does a column without words (phone numbers: as many words as values, and short).
Results are the same either way: substring matching, case-insensitive.

The tables are derived data: every write path calls `refresh(cur, ids)` for the customers
it wrote, in the same transaction; migration 7 creates and fills them (`rebuild`), and
`ensure` rebuilds them when the searched fields (the registry) changed since they were
built (`fingerprint`, recorded in `search_state`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from . import dialect
from .fields import CONTACT_FIELDS, Field, searchable

TABLE = "customer_search"
#: Joins the values of one customer in a search column; never part of a stored value (text
#: fields refuse control characters; emails, web addresses and phone numbers hold none).
SEPARATOR = "\n"
TOKENS = "search_token"
VOCAB = "search_vocab"
STATE = "search_state"
#: The search's tables, all derived from the customers and contacts (rebuilt, never copied).
TABLES = (TABLE, TOKENS, VOCAB, STATE)
#: Characters that end a word in `search_token` (replaced by a space, then split on spaces).
#: ASCII only, so Python and DuckDB agree on them whatever lower() does to other letters.
#: A few common ones: a break character missing here only makes words longer.
#: Not "+": a phone number typed with its "+" stays one word.
BREAKS = (SEPARATOR, " ", ".", "@", "/", "-", ",", "'", ":", "(", ")", "&", "_")
#: Pieces shorter than this match too many words for the token tables to beat a scan.
MIN_PIECE = 3
#: A write touching more customers than this rebuilds the token tables (one sorted pass)
#: instead of deleting and inserting their rows.
REBUILD_OVER = 50_000
#: Up to this many ids or words are written into a statement as constants (DuckDB checks
#: each against a row group's range of values); more are bound as one list.
MAX_LISTED = 1_000
#: Bumped when the way search tables are built changes: `ensure` then rebuilds them.
LAYOUT = "words-2"


@dataclass(frozen=True)
class Group:
    """Fields searched with the same term (their types turn typed text into the same
    thing to look for), stored together in one column."""

    column: str
    fields: tuple[Field, ...]
    contact_fields: tuple[Field, ...]

    @property
    def worded(self) -> bool:
        """Whether the column is read through the word tables (its types' `search_words`).
        A column of phone numbers is one "word" per value, as many words as values: its
        own scan is as short as any lookup."""
        return any(f.type.search_words for f in (*self.fields, *self.contact_fields))

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


def _fill_sql(cond: str, cond_params: list, theirs: str | None = None) -> tuple[str, list]:
    """INSERT ... SELECT computing the search rows of the customers `cond` (on `c`) selects;
    `theirs`: the same condition on their contacts (`k.customer_id`, same parameters), which
    DuckDB can check against the contacts' row groups."""
    per_contact, cols, contact_params, own_params = [], [], [], []
    for g in groups():
        # in no particular order: the text is a bag of values, each between separators,
        # which a search matches one at a time (an ORDER BY cost the build a sort of
        # every contact)
        per_contact.append(f'string_agg({_joined(g.contact_fields, "k")}, ?) AS "{g.column}"')
        contact_params += [SEPARATOR] * (2 if g.contact_fields else 1)
        cols.append(f'concat_ws(?, {_joined(g.fields, "c")}, k."{g.column}") AS "{g.column}"')
        own_params += [SEPARATOR] * (2 if g.fields else 1)
    sql = (
        f"INSERT INTO {TABLE} "
        f"WITH k AS (SELECT k.customer_id, {', '.join(per_contact)} FROM contacts k "
        f"WHERE {theirs or _of_customers(cond)} "
        "GROUP BY k.customer_id) "
        f"SELECT c.id, {', '.join(cols)} FROM customers c "
        f"LEFT JOIN k ON k.customer_id = c.id WHERE {cond}"
    )
    return sql, [*contact_params, *cond_params, *own_params, *cond_params]


def _of_customers(cond: str) -> str:
    """The contacts of the customers `cond` selects (every contact: no join to check)."""
    return (
        "TRUE"
        if cond == "TRUE"
        else f"k.customer_id IN (SELECT c.id FROM customers c WHERE {cond})"
    )


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (empty) search table."""
    cols = ", ".join(f'"{g.column}" VARCHAR' for g in groups())
    con.execute(f"CREATE TABLE {TABLE} (customer_id BIGINT NOT NULL, {cols})")


def _words_sql(where: str) -> str:
    """(g, token, customer_id) of the `customer_search` rows `where` selects, one row per
    word (a word repeated in a customer's text gives repeated rows: cheaper than removing
    them, and every reader counts distinct customers)."""
    selects = []
    for i, g in enumerate(groups()):
        if not g.worded:
            continue
        text = f'"{g.column}"'
        for ch in BREAKS:
            if ch != " ":
                text = f"replace({text}, {_literal(ch)}, ' ')"
        selects.append(
            f"SELECT * FROM (SELECT {i}::UTINYINT AS g, unnest(string_split({text}, ' ')) "
            f"AS token, customer_id FROM {TABLE} WHERE {where}) WHERE token <> ''"
        )
    return (
        " UNION ALL ".join(selects)
        or "SELECT 0::UTINYINT AS g, '' AS token, 0::BIGINT AS customer_id WHERE FALSE"
    )


def _literal(ch: str) -> str:
    # BREAKS are fixed ASCII characters: a literal keeps the build one statement per table
    return f"chr({ord(ch)})"


def fingerprint() -> str:
    """What the search tables were built from: the search columns, the fields each holds,
    how each type reads a search, the word breaks and `LAYOUT`. A registry change that moves
    a field in or out of the quick search changes it."""
    parts = [LAYOUT, repr(BREAKS)]
    for g in groups():
        for f in (*g.fields, *g.contact_fields):
            st = type(f.type).search_term
            parts.append(f"{g.column}:{f.name}:{st.__module__}.{st.__qualname__}")
        parts.append(f"{g.column}|{g.worded}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _rebuild_tokens(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {TOKENS}")
    con.execute(f"DROP TABLE IF EXISTS {VOCAB}")
    # in word order: a row group holds a narrow range of words, so a lookup reads few (and a
    # search of one column skips the other's words). Grouped by word, then each word's
    # customers unnested in the sorted words' order: a hash aggregate and a sort of the
    # vocabulary cost half of sorting every (word, customer) row (27 a customer), and the
    # vocabulary is the grouped words, not a second DISTINCT pass.
    con.execute("DROP TABLE IF EXISTS temp._grouped_words")
    con.execute(
        "CREATE TEMP TABLE _grouped_words AS SELECT g, token, list(customer_id) AS ids "
        f"FROM ({_words_sql('TRUE')}) GROUP BY g, token ORDER BY g, token"
    )
    with _scratch(con, "_grouped_words"):
        con.execute(
            # (no ORDER BY: the table is read in the order written, which unnest keeps)
            f"CREATE TABLE {TOKENS} AS SELECT g, token, unnest(ids) AS customer_id "
            "FROM temp._grouped_words"
        )
        con.execute(
            f"CREATE TABLE {VOCAB} AS SELECT g, token FROM temp._grouped_words ORDER BY g, token"
        )
    dialect.of(con).index_search(con, TABLE, TOKENS, VOCAB, [g.column for g in groups()])


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Recreate the search tables from every customer (migrations, demo data, raw SQL, a
    changed registry) and record their `fingerprint`."""
    con.execute(f"DROP TABLE IF EXISTS {TABLE}")
    create(con)
    con.execute(*_fill_sql("TRUE", []))
    _rebuild_tokens(con)
    con.execute(f"CREATE OR REPLACE TABLE {STATE} (fingerprint VARCHAR NOT NULL)")
    con.execute(f"INSERT INTO {STATE} VALUES (?)", [fingerprint()])


def current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the search tables were built for the searched fields this version declares."""
    have = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = current_database()",
        [STATE],
    ).fetchall()[0][0]
    return bool(have) and (
        con.execute(f"SELECT max(fingerprint) FROM {STATE}").fetchall()[0][0] == fingerprint()
    )


def ensure(con: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild the search tables (in one transaction) unless they are `current`; True when
    it rebuilt. Run on every read-write open, after the migrations: adding a field to the
    quick search, or taking one out, takes effect on every customer at once."""
    if current(con):
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        rebuild(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


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
    worded = sum(g.worded for g in groups())
    in_ids, id_params = _listed("customer_id", ids)
    old: list[str] = []
    if len(ids) <= REBUILD_OVER:
        # their words now, read from their text before it changes: deleting them by word
        # reads a few row groups of the word table, by customer id all of it
        old = [t for (t,) in cur.execute(
            f"SELECT DISTINCT token FROM ({_words_sql(in_ids)})", id_params * worded
        ).fetchall()]  # fmt: skip
    cur.execute(f"DELETE FROM {TABLE} WHERE {in_ids}", id_params)
    cur.execute(*_fill_sql(*_listed("c.id", ids), _listed("k.customer_id", ids)[0]))
    if len(ids) > REBUILD_OVER:
        _rebuild_tokens(cur)
        return
    if old:
        some, some_params = _listed("token", old)
        cur.execute(f"DELETE FROM {TOKENS} WHERE {some} AND {in_ids}", [*some_params, *id_params])
    cur.execute(f"CREATE TEMP TABLE _words AS {_words_sql(in_ids)}", id_params * worded)
    with _scratch(cur, "_words"):
        cur.execute(f"INSERT INTO {TOKENS} SELECT * FROM temp._words")
        # a word nobody holds any more stays in the vocabulary: it finds no customer, and
        # the next rebuild drops it
        new = cur.execute("SELECT DISTINCT g, token FROM temp._words").fetchall()
        some, some_params = _listed("token", sorted({t for _, t in new}))
        known = set(
            cur.execute(f"SELECT g, token FROM {VOCAB} WHERE {some}", some_params).fetchall()
        )
        if missing := [w for w in new if w not in known]:
            cur.execute(
                f"INSERT INTO {VOCAB} SELECT unnest(?::UTINYINT[]), unnest(?::VARCHAR[])",
                [[g for g, _ in missing], [t for _, t in missing]],
            )


@contextlib.contextmanager
def _scratch(cur, table: str):
    """Drop the temp `table` once the block is done. After a failure the block's own error
    is the one raised: the transaction is aborted then (a drop would fail with "current
    transaction is aborted" and hide it), and its rollback drops the table anyway."""
    yield
    cur.execute(f"DROP TABLE temp.{table}")


def _listed(column: str, values: list) -> tuple[str, list]:
    """`column IN (values)`: as constants when they are few (DuckDB then skips the row
    groups whose range of that column holds none of them), else as one bound list."""
    if len(values) <= MAX_LISTED:
        return f"{column} IN ({', '.join('?' * len(values)) or 'NULL'})", list(values)
    # typed: PostgreSQL cannot tell which unnest a bare list of text is for
    kind = "VARCHAR[]" if isinstance(values[0], str) else "BIGINT[]"
    return f"{column} IN (SELECT unnest(?::{kind}))", [list(values)]


_BREAK = re.compile("[" + re.escape("".join(BREAKS)) + "]+")


def pieces(term: str) -> list[str]:
    """The words of `term` as `search_token` splits text into words."""
    return [p for p in _BREAK.split(term) if p]


def condition(text: str) -> tuple[str, list] | None:
    """A subquery selecting the ids of customers whose searchable values (or contacts')
    contain `text` (case-insensitive), with its parameters; None when nothing can.
    Read through the token tables where the text has a piece of `MIN_PIECE` characters or
    more (see the module's docstring), else one scan of `customer_search`."""
    scans, scan_params, parts, params = [], [], [], []
    for i, g in enumerate(groups()):
        term = g.term(text)
        if not term or SEPARATOR in term:
            continue
        words = pieces(term)
        longest = max(words, key=len, default="")
        if len(longest) < MIN_PIECE or not g.worded:
            scans.append(f'contains("{g.column}", lower(?))')
            scan_params.append(term)
            continue
        holders = (
            f"SELECT customer_id FROM {TOKENS} WHERE g = ? AND token IN "
            f"(SELECT token FROM {VOCAB} WHERE g = ? AND contains(token, lower(?)))"
        )
        if words == [term]:
            parts.append(holders)
            params += [i, i, term]
        else:
            # the longest piece picks the candidates; their text must hold the whole term.
            # The empty string made of the candidate's id keeps DuckDB from pushing the
            # `contains` into the scan of every row, so it runs on the candidates only.
            parts.append(
                f"SELECT s.customer_id FROM {TABLE} s JOIN (SELECT DISTINCT customer_id "
                f"FROM ({holders})) h ON s.customer_id = h.customer_id "
                f'WHERE contains(s."{g.column}", lower(?) || left(h.customer_id::VARCHAR, 0))'
            )
            params += [i, i, longest, term]
    if scans:
        parts.append(f"SELECT customer_id FROM {TABLE} WHERE {' OR '.join(scans)}")
        params += scan_params
    if not parts:
        return None
    return " UNION ".join(parts), params


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
