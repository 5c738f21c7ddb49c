"""Ordered schema migrations, recorded in the database's `schema_migrations` table.

A migration is applied once, in order, inside the transaction that records it, so a database
file made by any earlier version opens in this one. Never edit a released step: add one.

Design notes (DuckDB's limits):
- No FOREIGN KEY from contacts to customers: DuckDB has no ON DELETE CASCADE and refuses some
  updates of tables referenced by foreign keys; the store deletes contacts in the same
  transaction as their customer instead.
- Unique names are enforced by a UNIQUE index on `name_key` (the trimmed, lower-cased name).
- `row_version` increases on every write to a customer: the card's optimistic lock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from . import dialect
from .fields import Field


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


# Released steps are frozen as the SQL they ran: the registry may change, history may not.
# Steps 1 and 4 were first written from the registry (fields declared since=1 and since=4);
# the SQL below is what that code produced for release 1, pasted in once. A field added
# later gets its own step (see `add_column`), never an edit here.

#: Step 1's tables, as released.
V1_SQL: tuple[str, ...] = (
    "CREATE SEQUENCE customer_id_seq START 1",
    "CREATE SEQUENCE contact_id_seq START 1",
    "CREATE SEQUENCE audit_id_seq START 1",
    """CREATE TABLE customers (
  id BIGINT PRIMARY KEY DEFAULT nextval('customer_id_seq'),
  "name" VARCHAR NOT NULL,
  "status" VARCHAR NOT NULL,
  "channels" INTEGER,
  "flow_speed" DECIMAL(9,2),
  "debit_limit" DECIMAL(18,4),
  "minimum_payment" DECIMAL(18,4),
  "tax" DECIMAL(7,4),
  "currency" VARCHAR NOT NULL,
  "credit" DECIMAL(18,4),
  "paypal_email" VARCHAR,
  "website" VARCHAR,
  "portal_access" BOOLEAN,
  "tags" VARCHAR[],
  "toml" VARCHAR,
  "address_line1" VARCHAR,
  "address_line2" VARCHAR,
  "city" VARCHAR,
  "region" VARCHAR,
  "postcode" VARCHAR,
  "country" VARCHAR,
  "approved_clis_only" BOOLEAN,
  "email_verification" BOOLEAN,
  "mobile_verification" BOOLEAN,
  "created_at" TIMESTAMP,
  "updated_at" TIMESTAMP,
  name_key VARCHAR NOT NULL,
  row_version INTEGER NOT NULL DEFAULT 1
)""",
    "CREATE UNIQUE INDEX customers_name_key ON customers(name_key)",
    """CREATE TABLE contacts (
  id BIGINT PRIMARY KEY DEFAULT nextval('contact_id_seq'),
  customer_id BIGINT NOT NULL,
  position INTEGER NOT NULL,
  "name" VARCHAR,
  "email" VARCHAR,
  "mobile" VARCHAR,
  "sms_opt_out" BOOLEAN,
  "email_opt_out" BOOLEAN
)""",
    """CREATE TABLE batches (
  batch_id VARCHAR PRIMARY KEY,
  happened_at TIMESTAMP NOT NULL,
  user_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  description VARCHAR,
  customer_count BIGINT NOT NULL,
  undoes VARCHAR,
  undone_by VARCHAR
)""",
    # before/after hold only the fields that changed (the whole row and its contacts for a
    # delete), so that a batch can be undone exactly.
    """CREATE TABLE audit_log (
  id BIGINT DEFAULT nextval('audit_id_seq'),
  batch_id VARCHAR NOT NULL,
  happened_at TIMESTAMP NOT NULL,
  user_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  customer_id BIGINT,
  before JSON,
  after JSON
)""",
)


def _v1_core(con: duckdb.DuckDBPyConnection) -> None:
    for sql in V1_SQL:
        con.execute(sql)


def _v2_saved_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE TABLE saved_views (
  name VARCHAR PRIMARY KEY,
  view JSON NOT NULL,
  user_name VARCHAR NOT NULL,
  saved_at TIMESTAMP NOT NULL
)"""
    )


def _v3_messages(con: duckdb.DuckDBPyConnection) -> None:
    # One row per message: the send log, the resume point after a crash (idempotency_key),
    # and the delivery status refreshed from the provider.
    con.execute("CREATE SEQUENCE message_id_seq START 1")
    con.execute(
        """CREATE TABLE messages (
  id BIGINT PRIMARY KEY DEFAULT nextval('message_id_seq'),
  batch_id VARCHAR NOT NULL,
  idempotency_key VARCHAR NOT NULL UNIQUE,
  customer_id BIGINT NOT NULL,
  contact_id BIGINT,
  channel VARCHAR NOT NULL,
  recipient VARCHAR NOT NULL,
  subject VARCHAR,
  body VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  provider_id VARCHAR,
  error VARCHAR,
  attempts INTEGER NOT NULL DEFAULT 0,
  user_name VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL,
  sent_at TIMESTAMP,
  updated_at TIMESTAMP NOT NULL
)"""
    )


def _v4_usage(con: duckdb.DuckDBPyConnection) -> None:
    # Daily usage per customer (what the switch's CDRs sum to). Kept when a customer is
    # deleted: it is billing history, and undoing the delete brings the customer back
    # under the same id.
    # frozen: first written from the usage fields declared since=4
    con.execute(
        """CREATE TABLE usage_daily (
  customer_id BIGINT NOT NULL,
  "day" DATE NOT NULL,
  "calls" INTEGER NOT NULL,
  "connected" INTEGER NOT NULL,
  "minutes" DECIMAL(14,2) NOT NULL,
  "revenue" DECIMAL(18,4) NOT NULL,
  "cost" DECIMAL(18,4) NOT NULL,
  PRIMARY KEY (customer_id, "day")
)"""
    )


def _v5_users(con: duckdb.DuckDBPyConnection) -> None:
    # sign-in for the served dashboard; only scrypt hashes, never passwords
    con.execute(
        """CREATE TABLE users (
  name VARCHAR PRIMARY KEY,
  role VARCHAR NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
  password_hash VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL,
  updated_at TIMESTAMP NOT NULL
)"""
    )


def _v6_user_generation(con: duckdb.DuckDBPyConnection) -> None:
    # a user's sign-in generation, in their session cookie: a password change, role change
    # or removal moves it on, and every session signed in before ends. Existing users start
    # at 0; sessions from before this step carry no generation and must sign in again.
    con.execute("ALTER TABLE users ADD COLUMN generation INTEGER DEFAULT 0")
    con.execute("UPDATE users SET generation = 0")


def _v7_search(con: duckdb.DuckDBPyConnection) -> None:
    # the quick search's normalised text, one row per customer, filled from what is there
    from . import search

    search.rebuild(con)


def _v8_search_words(con: duckdb.DuckDBPyConnection) -> None:
    # the quick search's word tables (search.py); a database upgraded from before 7 got them
    # from step 7's rebuild already
    from . import search

    if not search.current(con):
        search.rebuild(con)


def add_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    sql_type: str,
    *,
    default: Any = None,
    required: bool = False,
) -> None:
    """Add `column` to `table` in a migration step; existing rows get `default`.

    A nullable column is a plain ALTER TABLE. A required one (NOT NULL) needs a `default`
    for the rows already there, and DuckDB refuses `ADD COLUMN ... NOT NULL` (and SET NOT
    NULL) on a table with an index ("entries depend on it"): the table is then rebuilt,
    with its rows, ids, defaults and indexes, inside the step's transaction (Postgres adds
    it in place: see `dialect.Dialect.rebuilds_for_required_column`).
    """
    if required and default is None:
        raise ValueError(f"a required column {table}.{column} needs a default for existing rows")
    name = '"' + column.replace('"', '""') + '"'
    fill = "" if default is None else f" DEFAULT {_literal(default)}"
    if not required or not dialect.of(con).rebuilds_for_required_column:
        null = " NOT NULL" if required else ""
        con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}{fill}{null}")
        return
    found = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'", [table]
    ).fetchone()
    if found is None:
        raise ValueError(f"no table {table!r} to add {column!r} to")
    (create,) = found
    indexes = [r[0] for r in con.execute(
        "SELECT sql FROM duckdb_indexes() WHERE table_name = ? AND schema_name = 'main'",
        [table]).fetchall()]  # fmt: skip
    head, sep, body = create.partition("(")
    rebuilt = f"{table}__rebuild"
    body = body.rstrip().rstrip(";").rstrip()
    assert body.endswith(")"), create
    con.execute(f"CREATE TABLE {rebuilt}{sep}{body[:-1]}, {name} {sql_type}{fill} NOT NULL)")
    con.execute(f"INSERT INTO {rebuilt} SELECT *, {_literal(default)} FROM {table}")
    for sql in indexes:  # an index holds the table: dropped with it, made again after
        con.execute(f"DROP INDEX {_index_name(sql)}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")
    for sql in indexes:
        con.execute(sql)


def add_field(con: duckdb.DuckDBPyConnection, table: str, f: Field) -> None:
    """Add the column of registry field `f` (declared with `since=` this step) to `table`:
    its type, its default for existing rows, NOT NULL when it is required."""
    add_column(con, table, f.name, f.sql_type, default=f.stored_default, required=f.required)


def _literal(value: Any) -> str:
    """A default as SQL (numbers, yes/no, text, lists of text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]::VARCHAR[]"
    return "'" + str(value).replace("'", "''") + "'"


def _v9_rates(con: duckdb.DuckDBPyConnection) -> None:
    # exchange rates: units of `base` one unit of `currency` buys, for a day; every import
    # is a batch (undone by deleting its rows), the newest day per currency is used
    con.execute(
        """CREATE TABLE rates (
  currency VARCHAR NOT NULL,
  base VARCHAR NOT NULL,
  rate DECIMAL(18,8) NOT NULL CHECK (rate > 0),
  "day" DATE NOT NULL,
  user_name VARCHAR NOT NULL,
  batch_id VARCHAR NOT NULL,
  imported_at TIMESTAMP NOT NULL
)"""
    )


def _index_name(create_index: str) -> str:
    found = re.match(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(\S+)", create_index, re.I)
    if found is None:
        raise ValueError(f"not an index definition: {create_index[:80]!r}")
    return found.group(1)


def _v10_api_tokens(con: duckdb.DuckDBPyConnection) -> None:
    # API tokens (dashboard.tokens): only a SHA-256 of each token is kept; the token itself
    # is shown once. `token_id` is the public handle people list and revoke by.
    con.execute(
        """CREATE TABLE api_tokens (
  token_id VARCHAR PRIMARY KEY,
  token_hash VARCHAR NOT NULL UNIQUE,
  user_name VARCHAR NOT NULL,
  label VARCHAR,
  created_by VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL,
  expires_at TIMESTAMP,
  last_used_at TIMESTAMP,
  revoked_at TIMESTAMP
)"""
    )


#: Step 11's indexes, as released: on PostgreSQL a page of customers sorted by one of these
#: (the query's `ORDER BY col ASC|DESC NULLS LAST, id`, in the direction people sort them)
#: reads 50 index entries instead of sorting every row (65 ms at 50,000 customers, growing
#: with the table). DuckDB sorts a top-N without them and its indexes would only slow writes.
V11_PG_SQL: tuple[str, ...] = (
    'CREATE INDEX customers_name_sort ON customers ("name", id)',
    'CREATE INDEX customers_status_sort ON customers ("status", id)',
    'CREATE INDEX customers_country_sort ON customers ("country", id)',
    'CREATE INDEX customers_created_sort ON customers ("created_at" DESC NULLS LAST, id)',
    'CREATE INDEX customers_updated_sort ON customers ("updated_at" DESC NULLS LAST, id)',
)


def _v11_sort_indexes(con: duckdb.DuckDBPyConnection) -> None:
    if dialect.of(con) is dialect.POSTGRES:
        for sql in V11_PG_SQL:
            con.execute(sql)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "customers, contacts, audit log", _v1_core),
    Migration(2, "saved views", _v2_saved_views),
    Migration(3, "message log", _v3_messages),
    Migration(4, "daily usage", _v4_usage),
    Migration(5, "users", _v5_users),
    Migration(6, "user sign-in generation", _v6_user_generation),
    Migration(7, "quick search text", _v7_search),
    Migration(8, "quick search words", _v8_search_words),
    Migration(9, "exchange rates", _v9_rates),
    Migration(10, "API tokens", _v10_api_tokens),
    Migration(11, "sort indexes on PostgreSQL", _v11_sort_indexes),
)

LATEST = MIGRATIONS[-1].version

#: The tables the migrations make that hold data of their own: what `copy` copies and
#: `Store.settle` may analyse, the only table names either writes into SQL. (The quick
#: search's tables are derived from them: `dashboard.search.TABLES`.)
TABLES = ("customers", "contacts", "batches", "audit_log", "saved_views", "messages",
          "usage_daily", "users", "rates", "api_tokens")  # fmt: skip


def applied(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Versions already applied to this database, in order."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    if not exists:
        return []
    return [
        v
        for (v,) in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    ]


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> list[int]:
    """Apply every pending migration up to `target` (default: all); return those applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    done = set(applied(con))
    newer = max(done, default=0)
    if newer > LATEST:
        from .errors import UserError

        raise UserError(
            f"this database was written by a newer customer-dashboard (schema {newer}); "
            f"this version knows schema {LATEST}. Upgrade customer-dashboard."
        )
    ran = []
    for m in MIGRATIONS:
        if m.version in done or (target is not None and m.version > target):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            m.apply(con)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [m.version, m.name, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        ran.append(m.version)
    if target is None:
        # derived search tables follow the registry: rebuilt if its searched fields changed
        from . import search

        search.ensure(con)
    return ran
