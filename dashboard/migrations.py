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
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from .fields import CONTACT_FIELDS, CUSTOMER_FIELDS, USAGE_DAY, USAGE_FIELDS


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _column(f) -> str:
    if f.name == "id":
        return "id BIGINT PRIMARY KEY DEFAULT nextval('customer_id_seq')"
    null = " NOT NULL" if f.required else ""
    return f'"{f.name}" {f.sql_type}{null}'


def _fields_since(version: int, registry) -> list:
    return [f for f in registry if f.since == version]


def _v1_core(con: duckdb.DuckDBPyConnection) -> None:
    customer_columns = ",\n  ".join(_column(f) for f in _fields_since(1, CUSTOMER_FIELDS))
    contact_columns = ",\n  ".join(
        f'"{f.name}" {f.sql_type}' for f in _fields_since(1, CONTACT_FIELDS)
    )
    con.execute("CREATE SEQUENCE customer_id_seq START 1")
    con.execute("CREATE SEQUENCE contact_id_seq START 1")
    con.execute("CREATE SEQUENCE audit_id_seq START 1")
    con.execute(
        f"""CREATE TABLE customers (
  {customer_columns},
  name_key VARCHAR NOT NULL,
  row_version INTEGER NOT NULL DEFAULT 1
)"""
    )
    con.execute("CREATE UNIQUE INDEX customers_name_key ON customers(name_key)")
    con.execute(
        f"""CREATE TABLE contacts (
  id BIGINT PRIMARY KEY DEFAULT nextval('contact_id_seq'),
  customer_id BIGINT NOT NULL,
  position INTEGER NOT NULL,
  {contact_columns}
)"""
    )
    con.execute(
        """CREATE TABLE batches (
  batch_id VARCHAR PRIMARY KEY,
  happened_at TIMESTAMP NOT NULL,
  user_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  description VARCHAR,
  customer_count BIGINT NOT NULL,
  undoes VARCHAR,
  undone_by VARCHAR
)"""
    )
    # before/after hold only the fields that changed (the whole row and its contacts for a
    # delete), so that a batch can be undone exactly.
    con.execute(
        """CREATE TABLE audit_log (
  id BIGINT DEFAULT nextval('audit_id_seq'),
  batch_id VARCHAR NOT NULL,
  happened_at TIMESTAMP NOT NULL,
  user_name VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  customer_id BIGINT,
  before JSON,
  after JSON
)"""
    )


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
    columns = ",\n  ".join(
        f'"{f.name}" {f.sql_type} NOT NULL' for f in _fields_since(4, USAGE_FIELDS) if f.stored
    )
    con.execute(
        f"""CREATE TABLE usage_daily (
  customer_id BIGINT NOT NULL,
  {columns},
  PRIMARY KEY (customer_id, "{USAGE_DAY}")
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


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "customers, contacts, audit log", _v1_core),
    Migration(2, "saved views", _v2_saved_views),
    Migration(3, "message log", _v3_messages),
    Migration(4, "daily usage", _v4_usage),
    Migration(5, "users", _v5_users),
    Migration(6, "user sign-in generation", _v6_user_generation),
    Migration(7, "quick search text", _v7_search),
)

LATEST = MIGRATIONS[-1].version


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
    return ran
