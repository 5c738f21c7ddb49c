"""The SQL box on PostgreSQL: queries run as a read-only role that can read three tables.

On DuckDB the SQL box reads a private copy of the tables (dashboard/sqlbox.py). On Postgres
the walls are the server's own, each enough on its own for what matters most:

1. The role. Queries run on a connection that logs in as `customer_dashboard_reader_<db>`
   (`reader_role`), a role made for this database on first use: LOGIN and nothing else (not
   a superuser, no CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS, inheriting nothing),
   granted SELECT on `customers`, `contacts` and `usage_daily` only. Users, tokens, the
   audit log, batches, messages, rates, saved views and this role's own password are not
   granted to it, nor Postgres's password catalogs (pg_authid, pg_shadow). It is a member
   of no role, so `SET ROLE` and `SET SESSION AUTHORIZATION` (superusers only) get it
   nowhere, and `RESET ROLE` leaves it itself. Its password is random, kept in the table
   `sqlbox_reader`, which only the dashboard's own database user reads.
2. The transaction. Every query runs inside `BEGIN READ ONLY` (the role's default too),
   with `statement_timeout` (the role's default, and again on the connection) and a
   timer that cancels it at the SQL box's time limit; it is rolled back afterwards and
   the connection closed, so nothing it set (`set_config`) outlives it.
3. The statement. The query is sent as `DECLARE ... CURSOR FOR <query>` over the extended
   protocol: one statement, a SELECT or VALUES, nothing else (no second statement after a
   `;`, no data-modifying WITH). dashboard/sqlbox.py's check has parsed it before.

Rows travel as Arrow record batches fetched from the cursor, so a download streams and the
grid's row and byte limits (dashboard/sqlbox.py) apply as on DuckDB.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
from collections.abc import Generator, Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa

from .errors import UserError

#: Serialises making the reader role between processes (any constant; see migrate_db's).
READER_LOCK = 7_311_021
#: Connections the reader role may hold at once, over every server process.
CONNECTION_LIMIT = 20
#: The table holding the reader role's name and password (the dashboard's user only).
SECRET_TABLE = "sqlbox_reader"

# Postgres type oids -> the DuckDB type names dashboard/sqlbox.py shows as they are or casts
_DUCK_NAMES = {21: "smallint", 23: "integer", 20: "bigint", 700: "float", 701: "double",
               1700: "decimal", 16: "boolean", 1082: "date", 1114: "timestamp",
               1184: "timestamp with time zone", 25: "varchar", 1043: "varchar",
               1042: "varchar", 19: "varchar"}  # fmt: skip
_ARROW = {21: pa.int16(), 23: pa.int32(), 20: pa.int64(), 700: pa.float32(),
          701: pa.float64(), 16: pa.bool_(), 1082: pa.date32(), 1114: pa.timestamp("us"),
          1184: pa.timestamp("us", tz="UTC")}  # fmt: skip


def reader_role(database: str) -> str:
    """The reader role's name for `database` (a role is the cluster's, so one per database:
    grants in one database say nothing about another)."""
    tail = re.sub(r"[^a-z0-9_]", "_", database.lower())[:30]
    return f"customer_dashboard_reader_{tail}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_reader(conn: Any, tables: tuple[str, ...]) -> tuple[str, str]:
    """Make (or bring up to date) this database's reader role on the dashboard's own
    connection `conn` (autocommit): create it with a random password unless it exists,
    grant it SELECT on `tables` and nothing else. Returns (role, password)."""
    import psycopg
    from psycopg import sql

    try:
        with conn.transaction():
            # (a store opened read-only still keeps its SQL box's role up to date)
            conn.execute("SET TRANSACTION READ WRITE")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [READER_LOCK])
            conn.execute(f"CREATE TABLE IF NOT EXISTS {SECRET_TABLE} "
                         "(role TEXT PRIMARY KEY, password TEXT NOT NULL)")  # fmt: skip
            conn.execute(f"REVOKE ALL ON {SECRET_TABLE} FROM PUBLIC")
            database = conn.execute("SELECT current_database()").fetchone()[0]
            role = reader_role(database)
            kept = conn.execute(
                f"SELECT password FROM {SECRET_TABLE} WHERE role = %s", [role]
            ).fetchone()
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            password = kept[0] if kept and exists else secrets.token_urlsafe(32)
            who = sql.Identifier(role)
            attributes = sql.SQL(
                "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION "
                "NOBYPASSRLS CONNECTION LIMIT {} PASSWORD {}"
            ).format(sql.Literal(CONNECTION_LIMIT), sql.Literal(password))
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} ").format(who) + attributes)
            elif not kept:  # made for a copy of this database: its password is not known here
                conn.execute(sql.SQL("ALTER ROLE {} ").format(who) + attributes)
            # the role's defaults: a session of it starts read-only and time-limited even
            # before the SQL box sets either (what the role set for itself goes first)
            conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(
                who, sql.Identifier(database)))  # fmt: skip
            conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(who))
            conn.execute(
                sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(who)
            )
            conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
                who, sql.Literal(f"{int(_time_limit() * 1000)}ms")))  # fmt: skip
            conn.execute(f"DELETE FROM {SECRET_TABLE}")
            conn.execute(f"INSERT INTO {SECRET_TABLE} VALUES (%s, %s)", [role, password])
            # whatever was granted to it before (by hand, or to a role of the same name
            # in an older copy) goes: the three tables only
            for kind in ("TABLES", "SEQUENCES"):
                conn.execute(sql.SQL(f"REVOKE ALL ON ALL {kind} IN SCHEMA public FROM {{}}")
                             .format(who))  # fmt: skip
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in tables), who))  # fmt: skip
    except psycopg.errors.InsufficientPrivilege as exc:
        user = conn.info.user
        raise UserError(
            "the SQL box on PostgreSQL runs as a read-only role of its own, which the "
            f"database user {user!r} may not create or grant ({str(exc).splitlines()[0]}); "
            f"give it CREATEROLE once (ALTER ROLE {user} CREATEROLE) or run the dashboard's "
            "first SQL box query as a user who may"
        ) from None
    except psycopg.Error as exc:
        raise UserError(
            f"the SQL box could not prepare its read-only role: {str(exc).splitlines()[0]}"
        ) from None
    return role, password


def _time_limit() -> float:
    from . import sqlbox

    return sqlbox.TIME_LIMIT


class PgReader:
    """One query's connection as the reader role, in a READ ONLY transaction; offers what
    dashboard/sqlbox.py asks of its DuckDB worker (`describe`, `stream`)."""

    broken = False

    def __init__(self, conninfo: str):
        import psycopg
        from psycopg.types.string import TextLoader

        limit = int(_time_limit() * 1000)
        options = (f"-c default_transaction_read_only=on -c statement_timeout={limit} "
                   "-c TimeZone=UTC -c search_path=public -c client_min_messages=error")  # fmt: skip
        try:
            self.conn = psycopg.connect(conninfo, options=options, connect_timeout=10)
        except psycopg.Error as exc:
            raise UserError(
                f"the SQL box could not connect as its read-only role: {_first(exc)}"
            ) from None
        for name in ("json", "jsonb"):  # shown as the text they are
            self.conn.adapters.register_loader(name, TextLoader)
        self.conn.read_only = True  # every BEGIN is BEGIN READ ONLY
        self.left = _time_limit()
        self._cursors = 0

    def _cursor(self, sql: str) -> Any:
        """A server-side cursor DECLAREd for `sql` (one SELECT; the extended protocol
        refuses a second statement)."""
        self._cursors += 1
        cur = self.conn.cursor(name=f"sqlbox_{self._cursors}")
        cur.execute(sql)  # no parameters: the text's % and ? stay as written
        return cur

    def describe(self, sql: str) -> tuple[list[str], list[str]]:
        """The column names and (DuckDB) type names of a query, without running it."""
        with self._guard():
            cur = self._cursor(f"SELECT * FROM (\n{sql}\n) AS _described LIMIT 0")
            description = cur.description or []
            cur.close()
        return [c.name for c in description], [self._type_name(c) for c in description]

    def _type_name(self, column: Any) -> str:
        name = _DUCK_NAMES.get(column.type_code)
        if name is None:
            info = self.conn.adapters.types.get(column.type_code)
            if info is None:
                name = "other"
            else:  # (an array's oid finds its element's type)
                name = info.name if info.oid == column.type_code else f"{info.name}[]"
        return name

    def stream(
        self, sql: str, params: list[Any], size: int
    ) -> Generator[pa.RecordBatch, None, None]:
        """The query's rows as Arrow batches of `size` rows. `sql` is what sqlbox.py
        builds around the user's query, in DuckDB's spelling (DOUBLE, a trailing LIMIT ?)."""
        sql = re.sub(r"CAST\((c\d+) AS DOUBLE\)", r"CAST(\1 AS DOUBLE PRECISION)", sql)
        if params:
            if len(params) != 1 or not sql.endswith(" LIMIT ?"):
                raise UserError("the SQL box cannot run this on PostgreSQL")
            sql = f"{sql[:-1]}{int(params[0])}"
        with self._guard():
            cur = self._cursor(sql)
        schema = _schema(cur.description or [])
        some = False
        while True:
            # only time spent waiting for Postgres counts (not writing a download's file)
            with self._guard():
                rows = cur.fetchmany(size)
            if not rows:
                break
            some = True
            yield _batch(rows, schema)
        if not some:  # one empty batch, so that readers still learn the columns
            yield pa.RecordBatch.from_pylist([], schema=schema)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Postgres errors as messages; the time limit counted over the whole query (each
        FETCH has its own statement_timeout), past which a timer cancels it."""
        import time

        import psycopg

        timer = threading.Timer(max(self.left, 0.01), self.conn.cancel_safe)
        timer.daemon = True
        started = time.monotonic()
        timer.start()
        try:
            yield
        except psycopg.errors.QueryCanceled:
            self.broken = True
            raise UserError(
                f"the query ran longer than {_time_limit():.0f} s and was stopped"
            ) from None
        except psycopg.errors.ReadOnlySqlTransaction:
            self.broken = True
            raise UserError("only a SELECT query can run here; nothing can be changed") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            self.broken = True
            raise UserError(
                f"the query may not do that: {_first(exc)}; the SQL box reads customers, "
                "contacts and usage_daily only"
            ) from None
        except psycopg.Error as exc:
            self.broken = True
            raise UserError(f"the query failed: {_first(exc)}") from None
        finally:
            timer.cancel()
            self.left -= time.monotonic() - started

    def close(self) -> None:
        """Roll back and close: nothing the query set outlives it."""
        with contextlib.suppress(Exception):
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _schema(description: list[Any]) -> pa.Schema:
    fields = []
    for column in description:
        kind = _ARROW.get(column.type_code)
        if kind is None and column.type_code == 1700:
            precision, scale = column.precision, column.scale
            # NUMERIC without a declared precision (a sum, an average) is a number, as
            # DuckDB's average is: a double (text would be a text cell in CSV and XLSX, and
            # a negative one made safe as a formula, "'-12.5")
            kind = (pa.decimal128(precision, scale) if precision and precision <= 38
                    and scale is not None else pa.float64())  # fmt: skip
        fields.append(pa.field(column.name, kind or pa.string()))
    return pa.schema(fields)


def _batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for j, field in enumerate(schema):
        values = [row[j] for row in rows]
        if pa.types.is_string(field.type):
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        elif pa.types.is_floating(field.type):  # (Arrow takes no Decimal as a double)
            values = [float(v) if isinstance(v, Decimal) else v for v in values]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise UserError(
                f"the column {field.name!r} holds a value that cannot be shown: {exc}"
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class PgSandbox:
    """Where the SQL box's queries run on PostgreSQL: connections as the reader role, at
    most `sqlbox.WORKERS` at once per Store. The parse used by the check is DuckDB's, in a
    private in-memory database (`sqlbox.Sandbox.parse`)."""

    def __init__(self) -> None:
        from .sqlbox import WORKERS, Sandbox

        self._parser = Sandbox()  # only its parse is used: it holds no tables
        self._slots = threading.BoundedSemaphore(WORKERS)
        self._lock = threading.Lock()
        self._conninfo: str | None = None
        self._closed = False

    def parse(self, text: str) -> dict:
        """DuckDB's parse tree of `text` (json_serialize_sql), as a dict."""
        return self._parser.parse(text)

    def _reader_conninfo(self, store: Any) -> str:
        from psycopg.conninfo import make_conninfo

        from .sqlbox import TABLES

        with self._lock:
            if self._conninfo is None:
                with store.private_cursor() as cur:
                    role, password = ensure_reader(cur.conn, TABLES)
                    dsn = cur.conn.info.dsn
                # the store's own server and database, as the reader; nothing of the
                # dashboard user's login travels with it
                self._conninfo = make_conninfo(dsn, user=role, password=password)
            return self._conninfo

    @contextlib.contextmanager
    def worker(self, store: Any) -> Iterator[PgReader]:
        """A reader connection for one query, closed (rolled back) after it."""
        if self._closed:
            raise UserError("the database is closed")
        conninfo = self._reader_conninfo(store)
        if not self._slots.acquire(timeout=_time_limit()):
            raise UserError("the SQL box is busy with other queries; try again in a moment")
        try:
            reader = PgReader(conninfo)
            try:
                yield reader
            finally:
                reader.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        """No more queries; the parser's database goes."""
        self._closed = True
        self._parser.close()
