"""The SQL dialect of each engine: the one module that knows DuckDB's SQL from Postgres's.

The services write DuckDB's SQL (the embedded default) with `?` parameters. On PostgreSQL
the store's cursor hands every statement to `POSTGRES.translate` first, and the database
holds `COMPAT_FUNCTIONS`: Postgres functions with the names and meaning of the few DuckDB
functions the services call (`contains`, `list_has_any`, `json_keys`, ...), installed once
per database by the store before its migrations.

Why a small rewriter and SQL functions rather than sqlglot (measured with sqlglot 30.30):
sqlglot cannot parse `?::BIGINT[]` (our bound lists), renders `list_contains(tags, ?)` with
the placeholder twice (silently shifting every later parameter), and leaves `contains`,
`json_transform`, `BY NAME` and lambdas as they were; it costs 0.3-10 ms a statement. The
rewrite here is one pass over the text's tokens (cached per statement text), keeps the
parameters' order by construction, and fails loudly (Postgres's own error) on what it does
not know.

What is NOT translated, and must be written per engine before its service runs on
Postgres (see `UNSUPPORTED`): list lambdas (`list_filter`, `list_transform`),
`json_transform`, `INSERT ... BY NAME`, `GROUP BY ALL`, `QUALIFY`, `PIVOT`, `arg_max`/`arg_min`,
`struct_pack`, `COPY FROM DATABASE`, `json_serialize_sql`, `ATTACH`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

#: DuckDB constructs with no Postgres counterpart here yet: a statement holding one is
#: refused by `translate` with this message (naming the construct) instead of reaching
#: Postgres as a confusing syntax error.
UNSUPPORTED = {
    "list_filter": "list lambdas",
    "list_transform": "list lambdas",
    "json_transform": "json_transform",
    "struct_pack": "struct_pack",
    "json_serialize_sql": "json_serialize_sql",
    "to_seconds": "to_seconds",
}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines, as data and a few methods that write the SQL of
    a construct each engine spells its own way (DuckDB's below; Postgres's in `_Postgres`).
    Services call these instead of testing which engine they run on."""

    name: str
    #: DuckDB refuses `ADD COLUMN ... NOT NULL` on an indexed table: migrations rebuild it.
    rebuilds_for_required_column: bool
    #: Whether a deep page (past `query.SEEK_PAST` rows) is read by seeking (`query`'s
    #: `_deep_page`): Postgres reads every row an OFFSET skips, whole, through its index;
    #: DuckDB's top-N of the rows' sort keys is already as cheap as a seek.
    seeks_deep_pages: bool = False

    def translate(self, sql: str) -> list[str]:
        """`sql` (DuckDB's dialect, `?` parameters) as the statements to run here."""
        return [sql]

    def list_except(self, items: str, others: str) -> str:
        """The elements of list `items` not in list `others`, in their order."""
        return f"list_filter({items}, lambda x: NOT list_contains({others}, x))"

    def top_pairs(self, source: str, limit: int) -> str:
        """The first `limit` rows (o, n, k) of `source` (most `k` first), as one value that
        `pairs_value` reads as a list of {"o", "n", "k"} dicts."""
        return (
            f"(SELECT list_slice(list(struct_pack(o := o, n := n, k := k) ORDER BY k DESC, "
            f"o NULLS FIRST, n NULLS FIRST), 1, {int(limit)}) FROM {source})"
        )

    def pairs_value(self, value: Any) -> list[dict[str, Any]]:
        """What `top_pairs` returned, as a list of dicts."""
        return list(value or [])

    def insert_from_json(self, table: str, columns: dict[str, str], source: str, where: str) -> str:
        """INSERT into `table` one row per audit_log row matching `where` (its `?`
        parameters follow), read from the JSON object `source` holding `columns` (name:
        SQL type); a column missing from the object is NULL."""
        struct = json.dumps(columns, separators=(",", ":"))
        return (
            f"INSERT INTO {table} BY NAME SELECT unnest(s) FROM ("
            f"SELECT json_transform({source}, '{struct}') AS s FROM audit_log WHERE {where})"
        )

    def insert_contacts_from_json(self, columns: dict[str, str], source: str, where: str) -> str:
        """INSERT the contact lists (JSON arrays `source` of objects holding `columns`) of
        the audit_log rows matching `where` under each row's customer, in list order; a
        contact without an id gets a new one."""
        struct = json.dumps([columns], separators=(",", ":"))
        names = [n for n in columns if n != "id"]
        cols = ", ".join(_quoted(n) for n in names)
        values = ", ".join(f"c.{_quoted(n)}" for n in names)
        return (
            f"INSERT INTO contacts (id, customer_id, position, {cols}) "
            f"SELECT coalesce(c.id, nextval('contact_id_seq')), customer_id, i, {values} FROM ("
            f"SELECT customer_id, unnest(l) AS c, unnest(range(len(l))) AS i FROM ("
            f"SELECT customer_id, json_transform({source}, '{struct}') AS l "
            f"FROM audit_log WHERE {where}))"
        )

    def column_types(self, con: Any, table: str) -> dict[str, str]:
        """`table`'s columns and their types as DuckDB names them (VARCHAR, DECIMAL(18,4),
        VARCHAR[]...), in order: one spelling to compare schemas across engines."""
        return dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position", [table],
        ).fetchall())  # fmt: skip

    def index_search(
        self, con: Any, table: str, tokens: str, vocab: str, columns: list[str]
    ) -> None:
        """Index the quick search's tables (dashboard/search.py) just (re)built. DuckDB
        needs none: the token table is written sorted and its zonemaps do the work."""


DUCKDB = Dialect("duckdb", rebuilds_for_required_column=True)


class _Postgres(Dialect):
    def translate(self, sql: str) -> list[str]:
        """`sql` as Postgres statements with psycopg's `%s` parameters (cached by text:
        the services build their statements from the registry, so they repeat)."""
        return list(_translate(sql))

    def list_except(self, items: str, others: str) -> str:
        return (
            f"ARRAY(SELECT x FROM unnest({items}) WITH ORDINALITY AS _u(x, i) "
            f"WHERE NOT coalesce(x = ANY({others}), FALSE) ORDER BY i)"
        )

    def top_pairs(self, source: str, limit: int) -> str:
        return (
            f"(SELECT json_agg(json_build_object('o', o, 'n', n, 'k', k) ORDER BY k DESC, "
            f"o NULLS FIRST, n NULLS FIRST) FROM (SELECT * FROM {source} AS _p "
            f"ORDER BY k DESC, o NULLS FIRST, n NULLS FIRST LIMIT {int(limit)}) AS _top)"
        )

    def pairs_value(self, value: Any) -> list[dict[str, Any]]:
        return json.loads(value) if isinstance(value, str) else list(value or [])

    def column_types(self, con: Any, table: str) -> dict[str, str]:
        rows = con.execute(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = ? AND n.nspname = 'public' AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            [table],
        ).fetchall()
        return {name: _duckdb_type(spelled) for name, spelled in rows}

    def index_search(
        self, con: Any, table: str, tokens: str, vocab: str, columns: list[str]
    ) -> None:
        # pg_trgm's GIN indexes answer `contains` (a LIKE here, see COMPAT_FUNCTIONS) over
        # the search text and the vocabulary; b-trees find a word's customers and a
        # customer's rows (refresh deletes by customer)
        con.execute(f"CREATE INDEX IF NOT EXISTS {table}_id ON {table} (customer_id)")
        for col in columns:
            con.execute(
                f"CREATE INDEX IF NOT EXISTS {table}_{col}_trgm ON {table} "
                f'USING gin ("{col}" gin_trgm_ops)'
            )
        con.execute(f"CREATE INDEX IF NOT EXISTS {tokens}_word ON {tokens} (g, token)")
        con.execute(f"CREATE INDEX IF NOT EXISTS {tokens}_id ON {tokens} (customer_id)")
        con.execute(
            f"CREATE INDEX IF NOT EXISTS {vocab}_trgm ON {vocab} USING gin (token gin_trgm_ops)"
        )
        for name in (table, tokens, vocab):
            con.execute(f"ANALYZE {name}")

    def insert_from_json(self, table: str, columns: dict[str, str], source: str, where: str) -> str:
        cols = ", ".join(_quoted(n) for n in columns)
        values = ", ".join(f"r.{_quoted(n)}" for n in columns)
        return (
            f"INSERT INTO {table} ({cols}) SELECT {values} FROM audit_log, "
            f"json_populate_record(NULL::{table}, {source}) AS r WHERE {where}"
        )

    def insert_contacts_from_json(self, columns: dict[str, str], source: str, where: str) -> str:
        names = [n for n in columns if n != "id"]
        cols = ", ".join(_quoted(n) for n in names)
        values = ", ".join(f"c.{_quoted(n)}" for n in names)
        return (
            f"INSERT INTO contacts (id, customer_id, position, {cols}) "
            f"SELECT coalesce(c.id, nextval('contact_id_seq')), audit_log.customer_id, "
            f"c.ordinality - 1, {values} FROM audit_log, "
            f"json_populate_recordset(NULL::contacts, {source}) WITH ORDINALITY AS c "
            f"WHERE {where}"
        )


POSTGRES = _Postgres("postgresql", rebuilds_for_required_column=False, seeks_deep_pages=True)


#: Postgres's type names (format_type) as DuckDB spells the same type.
_PG_TYPES = {
    "character varying": "VARCHAR", "text": "VARCHAR", "bigint": "BIGINT",
    "integer": "INTEGER", "smallint": "SMALLINT", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    "json": "JSON", "double precision": "DOUBLE", "real": "FLOAT", "bytea": "BLOB",
}  # fmt: skip


def _duckdb_type(spelled: str) -> str:
    if spelled.endswith("[]"):
        return _duckdb_type(spelled[:-2]) + "[]"
    found = re.fullmatch(r"numeric\((\d+),(\d+)\)", spelled)
    if found:
        return f"DECIMAL({found.group(1)},{found.group(2)})"
    return _PG_TYPES.get(spelled, spelled.upper())


def of(con: Any) -> Dialect:
    """The dialect of a store or of one of its cursors (DuckDB's own cursors: DuckDB)."""
    return getattr(con, "dialect", DUCKDB)


class UnsupportedSQL(Exception):  # noqa: N818 - raised as the engine's error by the store
    """A DuckDB-only construct with no Postgres version yet."""


# --- the rewrite ---------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<str>'(?:[^']|'')*')
      |(?P<ident>"(?:[^"]|"")*")
      |(?P<comment>--[^\n]*)
      |(?P<ws>\s+)
      |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      |(?P<num>\d+(?:\.\d*)?)
      |(?P<cast>::)
      |(?P<punct>.)""",
    re.X | re.S,
)

#: DuckDB type names Postgres spells otherwise.
TYPES = {
    "UTINYINT": "SMALLINT",
    "TINYINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "UBIGINT": "NUMERIC(20)",
    "HUGEINT": "NUMERIC(38)",
    "DOUBLE": "DOUBLE PRECISION",
    "BLOB": "BYTEA",
    "STRING": "TEXT",
}

#: DuckDB functions whose Postgres counterpart has another name (same arguments).
FUNCTIONS = {
    "json_object": "json_build_object",
    "list_concat": "array_cat",
    "regexp_matches": "duck_regexp_matches",  # Postgres's regexp_matches returns rows
    "list_value": "array",
    "list": "array_agg",  # the aggregate
}

#: After `FROM (`/`JOIN (` a subquery needs an alias on Postgres 15; these words after its
#: closing parenthesis show that it has none.
_NOT_ALIAS = {
    "where", "group", "order", "limit", "offset", "union", "except", "intersect", "join",
    "left", "right", "inner", "full", "cross", "on", "using", "having", "window", "natural",
    "returning", "qualify", "fetch", "for",
}  # fmt: skip


def _arg_extremes(sql: str) -> str:
    """DuckDB's `arg_max(a, b)` / `arg_min(a, b)` as the first of an ordered array_agg (rows
    whose `b` is NULL ignored, as DuckDB does); `a` and `b` must hold no parameter."""
    tokens = [m.group() for m in _TOKEN.finditer(sql)]
    kinds = [m.lastgroup for m in _TOKEN.finditer(sql)]
    i = 0
    while i < len(tokens):
        low = tokens[i].lower()
        j = i + 1
        while j < len(tokens) and kinds[j] == "ws":
            j += 1
        if kinds[i] != "word" or low not in ("arg_max", "arg_min") or tokens[j : j + 1] != ["("]:
            i += 1
            continue
        depth, k, commas = 0, j, []
        while k < len(tokens):
            if tokens[k] == "(":
                depth += 1
            elif tokens[k] == ")":
                depth -= 1
                if depth == 0:
                    break
            elif tokens[k] == "," and depth == 1:
                commas.append(k)
            k += 1
        if len(commas) != 1 or "?" in tokens[j:k]:
            raise UnsupportedSQL(f"{low} with parameters or a limit has no PostgreSQL version yet")
        a = "".join(tokens[j + 1 : commas[0]]).strip()
        b = "".join(tokens[commas[0] + 1 : k]).strip()
        order = "DESC" if low == "arg_max" else "ASC"
        tokens[i : k + 1] = [
            f"(array_agg({a} ORDER BY {b} {order}) FILTER (WHERE ({b}) IS NOT NULL))[1]"
        ]
        kinds[i : k + 1] = ["done"]
        i += 1
    return "".join(tokens)


_AGGREGATES = {"count", "sum", "avg", "min", "max", "string_agg", "array_agg", "list",
               "bool_or", "bool_and", "any_value", "arg_max", "arg_min", "median"}  # fmt: skip


def _group_by_all(sql: str) -> str:
    """DuckDB's `GROUP BY ALL` as `GROUP BY` the positions of the select list's items that
    call no aggregate (the SELECT at the same parenthesis depth)."""
    found = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(sql)]
    sig = [i for i, (k, _) in enumerate(found) if k not in ("ws", "comment")]
    depth_at, depth = {}, 0
    for i in sig:
        text = found[i][1]
        if text == "(":
            depth += 1
        depth_at[i] = depth
        if text == ")":
            depth -= 1
    for n in range(len(sig) - 2):
        a, b, c = (found[sig[n + x]][1].lower() for x in range(3))
        if (a, b, c) != ("group", "by", "all"):
            continue
        d = depth_at[sig[n]]
        start = next(sig[m] for m in range(n, -1, -1)
                     if found[sig[m]][1].lower() == "select" and depth_at[sig[m]] == d)  # fmt: skip
        items, current, aggregate = [], 0, False
        for i in (i for i in sig if start < i < sig[n]):
            text = found[i][1].lower()
            if depth_at[i] == d and text == "from":
                break
            if depth_at[i] == d and text == ",":
                items.append(aggregate)
                aggregate = False
                continue
            if text in _AGGREGATES and found[i][0] == "word":
                aggregate = True
            current = i
        items.append(aggregate)
        positions = ", ".join(str(p + 1) for p, agg in enumerate(items) if not agg)
        if not positions:
            raise UnsupportedSQL("GROUP BY ALL without a column to group by")
        del current
        out = [t for _, t in found]
        out[sig[n + 2]] = positions
        return _group_by_all("".join(out))
    return sql


_AFTER_QUALIFY = {"order", "limit", "offset", "union", "except", "intersect", "window"}

#: Statements that act on DuckDB's files or catalogue: refused on Postgres by name.
_DUCKDB_ONLY_STATEMENTS = {"attach", "detach", "checkpoint", "pragma", "install", "load",
                           "export", "import", "vacuum"}  # fmt: skip


def _qualify(sql: str) -> str:
    """DuckDB's `SELECT list FROM table [WHERE ...] QUALIFY cond` (one table, no GROUP BY)
    as `SELECT list FROM (SELECT *, cond AS _keep FROM table [WHERE ...]) AS _qualified
    WHERE _keep`; anything else is refused by name."""
    found = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(sql)]
    out = [t for _, t in found]
    sig = [i for i, (k, _) in enumerate(found) if k not in ("ws", "comment")]
    depth_at, depth = {}, 0
    for i in sig:
        if found[i][1] == "(":
            depth += 1
        depth_at[i] = depth
        if found[i][1] == ")":
            depth -= 1
    q = next((n for n, i in enumerate(sig) if found[i][1].lower() == "qualify"), None)
    if q is None:
        return sql
    d = depth_at[sig[q]]
    before = [n for n in range(q) if depth_at[sig[n]] == d]
    frm = max((n for n in before if found[sig[n]][1].lower() == "from"), default=None)
    sel = max((n for n in before if found[sig[n]][1].lower() == "select"), default=None)
    # the condition runs to the closing parenthesis of its depth (or the end)
    end = next((n for n in range(q + 1, len(sig)) if depth_at[sig[n]] == d and (
                found[sig[n]][1] in (")", ";") or found[sig[n]][1].lower() in _AFTER_QUALIFY)),
               len(sig))  # fmt: skip
    words = {found[sig[n]][1].lower() for n in range(frm + 1, q)} if frm is not None else set()
    if sel is None or frm is None or words & {"join", "group", ",", "("}:
        raise UnsupportedSQL("QUALIFY over more than one table has no PostgreSQL version yet")
    cond = "".join(out[sig[q] + 1 : sig[end] if end < len(sig) else len(out)]).strip()
    rest = "".join(out[sig[frm] + 1 : sig[q]]).strip()
    tail = out[sig[end] :] if end < len(sig) else []
    head = out[: sig[frm]]
    rewritten = (
        "".join(head)
        + f"FROM (SELECT *, ({cond}) AS _keep FROM {rest}) AS _qualified WHERE _keep "
        + "".join(tail)
    )
    return _qualify(rewritten)


@functools.lru_cache(maxsize=4096)
def _translate(sql: str) -> tuple[str, ...]:
    first = sql.lstrip().split(None, 1)[0].lower() if sql.strip() else ""
    if first in _DUCKDB_ONLY_STATEMENTS or (
        first == "copy" and re.search(r"(?is)\)\s*TO\s+'", sql)
    ):
        raise UnsupportedSQL(
            f"{first.upper()} {'... TO a file ' if first == 'copy' else ''}is DuckDB's; "
            "it has no PostgreSQL version yet"
        )
    if re.search(r"(?i)\bqualify\b", sql):
        sql = _qualify(sql)
    if re.search(r"(?i)\bgroup\s+by\s+all\b", sql):
        sql = _group_by_all(sql)
    if re.search(r"(?i)\barg_m(ax|in)\s*\(", sql):
        sql = _arg_extremes(sql)
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(sql)]
    out: list[str] = []
    # per open parenthesis: whether it opened a subquery in FROM/JOIN (needs an alias)
    parens: list[bool] = []
    alias_n = 0
    last = ""  # the previous significant token (lower-cased)
    prev_kind = ""

    def after(i: int) -> tuple[str, str]:
        for kind, text in tokens[i + 1 :]:
            if kind not in ("ws", "comment"):
                return kind or "", text
        return "", ""

    for i, (kind, text) in enumerate(tokens):
        if kind == "str":
            out.append(text.replace("%", "%%"))
        elif kind == "comment":
            out.append(text.replace("%", "%%"))
        elif kind == "word":
            low = text.lower()
            nkind, ntext = after(i)
            if low in UNSUPPORTED and ntext == "(":
                raise UnsupportedSQL(
                    f"{UNSUPPORTED[low]} ({text}) has no PostgreSQL version yet: {sql[:120]!r}"
                )
            if low == "temp" and ntext == "." and last not in ("create",):
                out.append("pg_temp")
            elif text.upper() in TYPES and (last in ("::", "as") or prev_kind == "ident"):
                out.append(TYPES[text.upper()])
            elif low in FUNCTIONS and ntext == "(":
                out.append(FUNCTIONS[low])
            else:
                out.append(text)
        elif text == "?":
            out.append("%s")
        elif text == "%":
            out.append("%%")
        elif text == "[":
            # a list literal `[a, b]` (not a subscript or a type's `[]`)
            if last in ("", "(", ",", "=", "select", "in", "then", "else", "||", "values") or (
                prev_kind == "punct" and last not in (")", "]")
            ):
                out.append("ARRAY[")
            else:
                out.append(text)
        elif text == "(":
            nkind, ntext = after(i)
            parens.append(last in ("from", "join") and ntext.lower() in ("select", "with"))
            out.append(text)
        elif text == ")":
            out.append(text)
            if parens and parens.pop():
                nkind, ntext = after(i)
                if ntext in ("", ")", ";", ",") or ntext.lower() in _NOT_ALIAS:
                    alias_n += 1
                    out.append(f" AS _q{alias_n}")
        else:
            out.append(text)
        if kind not in ("ws", "comment"):
            last = text.lower()
            prev_kind = kind or ""
    text = "".join(out).strip().rstrip(";")
    found = re.match(r"(?is)CREATE\s+OR\s+REPLACE\s+TABLE\s+(\S+)(.*)", text)
    if found:  # Postgres replaces views and functions, not tables
        return (
            f"DROP TABLE IF EXISTS {found.group(1)}",
            f"CREATE TABLE {found.group(1)}{found.group(2)}",
        )
    if re.match(r"(?is)\s*BEGIN\s+TRANSACTION\s*$", text):
        return ("BEGIN",)
    return (text,)


# --- what DuckDB has built in, as Postgres functions -----------------------------------

#: Installed in every Postgres database the store migrates (CREATE OR REPLACE: idempotent).
#: Simple SQL functions, so Postgres inlines them into the query (and its indexes apply).
COMPAT_FUNCTIONS: tuple[str, ...] = (
    # a LIKE with the needle's wildcards escaped (not strpos): inlined, a pg_trgm index on
    # the haystack answers it (dialect.index_search)
    "CREATE OR REPLACE FUNCTION contains(text, text) RETURNS boolean "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$SELECT $1 LIKE '%' || "
    "replace(replace(replace($2, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'$$",
    "CREATE OR REPLACE FUNCTION list_has_any(anycompatiblearray, anycompatiblearray) RETURNS boolean "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $1 && $2'",
    "CREATE OR REPLACE FUNCTION list_has_all(anycompatiblearray, anycompatiblearray) RETURNS boolean "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $1 @> $2'",
    "CREATE OR REPLACE FUNCTION list_contains(anycompatiblearray, anycompatible) RETURNS boolean "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $2 = ANY($1)'",
    "CREATE OR REPLACE FUNCTION json_keys(json) RETURNS text[] LANGUAGE sql IMMUTABLE "
    "PARALLEL SAFE AS 'SELECT CASE WHEN $1 IS NULL OR json_typeof($1) <> ''object'' THEN NULL "
    "ELSE ARRAY(SELECT json_object_keys($1)) END'",
    "CREATE OR REPLACE FUNCTION string_split(text, text) RETURNS text[] "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT string_to_array($1, $2)'",
    "CREATE OR REPLACE FUNCTION len(anyarray) RETURNS integer "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT cardinality($1)'",
    "CREATE OR REPLACE FUNCTION len(text) RETURNS integer "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT length($1)'",
    # the engine's "one currency" marker compares hashes of currency codes (query.py)
    "CREATE OR REPLACE FUNCTION hash(text) RETURNS bigint "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT hashtextextended($1, 0)'",
    "CREATE OR REPLACE FUNCTION today() RETURNS date "
    "LANGUAGE sql STABLE PARALLEL SAFE AS 'SELECT current_date'",
    "CREATE OR REPLACE FUNCTION duck_regexp_matches(text, text) RETURNS boolean "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $1 ~ $2'",
    # Postgres 16 has any_value; 15 (Debian 12's) does not
    "CREATE OR REPLACE FUNCTION duck_any_value_step(anyelement, anyelement) RETURNS anyelement "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT coalesce($1, $2)'",
    "DO $$ BEGIN IF current_setting('server_version_num')::int < 160000 THEN "
    "CREATE OR REPLACE AGGREGATE any_value(anyelement) "
    "(SFUNC = duck_any_value_step, STYPE = anyelement); END IF; END $$",
    # the catalogue DuckDB code asks whether a table exists (schema 'main' is Postgres's
    # 'public'); `sql` (DuckDB's CREATE statement) has no counterpart here
    "CREATE OR REPLACE FUNCTION duckdb_tables() RETURNS TABLE (database_name text, "
    "schema_name text, table_name text, sql text) LANGUAGE sql STABLE AS "
    "'SELECT current_database()::text, CASE WHEN table_schema = ''public'' THEN ''main'' "
    "ELSE table_schema::text END, table_name::text, NULL::text FROM information_schema.tables "
    "WHERE table_type = ''BASE TABLE'' AND table_schema NOT IN (''pg_catalog'', "
    "''information_schema'')'",
    "CREATE OR REPLACE FUNCTION json_exists(json, text) RETURNS boolean LANGUAGE sql "
    "IMMUTABLE PARALLEL SAFE AS 'SELECT jsonb_path_exists($1::jsonb, $2::jsonpath)'",
    # only the list of text that types.py reads back (`'["VARCHAR"]'`); other specs would
    # need their own overload
    "CREATE OR REPLACE FUNCTION from_json(json, text) RETURNS text[] LANGUAGE sql IMMUTABLE "
    "PARALLEL SAFE AS 'SELECT CASE WHEN $1 IS NULL OR json_typeof($1) = ''null'' THEN NULL "
    "ELSE ARRAY(SELECT json_array_elements_text($1)) END'",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
)
