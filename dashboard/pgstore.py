"""The gateway to PostgreSQL: `Store("postgresql://...")` opens one of these.

Same interface as the DuckDB store (dashboard/store.py): `execute`/`rows`/`df`/`scalar`,
`transaction()`, `private_cursor()`, `batches()` (Arrow), acting_as copies. Each thread gets
a connection of its own (what a DuckDB cursor is per thread), in autocommit mode, so that a
service's `BEGIN`/`COMMIT` (through `transaction()`) is the only transaction there is. The
services' SQL is DuckDB's; `PgCursor` runs it through `dialect.POSTGRES.translate`.

Errors come back as the DuckDB error classes the services already catch (a Postgres unique
violation is a `duckdb.ConstraintException` too), so no service needs to know the engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd

from . import dialect, live, migrations
from .errors import UserError

log = logging.getLogger(__name__)

# --- errors: Postgres's, as the DuckDB classes the services catch -----------------------


class PgError(duckdb.Error):
    """An error Postgres reported (also a duckdb.Error, which the services catch)."""


class PgUnsupportedError(PgError, UserError):
    """Something the services ask that is DuckDB-only so far: said, not a traceback."""


class PgConstraintError(PgError, duckdb.ConstraintException):
    """A unique, check or not-null constraint refused a write."""


class PgConversionError(PgError, duckdb.ConversionException):
    """A value does not fit its column (overflow, bad input for a type)."""


class PgTransactionError(PgError, duckdb.TransactionException):
    """A serialization failure or deadlock: the transaction may be tried again."""


class PgIOError(PgError, duckdb.IOException):
    """The server could not write (disk full, read-only transaction, lost connection)."""


def _mapped(exc: Exception) -> PgError:
    import psycopg
    from psycopg import errors as e

    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, e.IntegrityError):
        return PgConstraintError(text)
    if isinstance(exc, e.DataError):
        return PgConversionError(text)
    if isinstance(exc, e.SerializationFailure | e.DeadlockDetected):
        return PgTransactionError(text)
    if isinstance(exc, e.DiskFull | e.ReadOnlySqlTransaction | psycopg.OperationalError):
        return PgIOError(text)
    return PgError(text)


def redacted(url: str) -> str:
    """The URL without its password: what messages and `store.path` show."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, minus userinfo
        return url.split("@")[-1]
    if "password" not in parts:
        return url
    host = parts.get("host", "")
    port = f":{parts['port']}" if parts.get("port") else ""
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname', '')}"


# --- results -------------------------------------------------------------------------

_INTS = {21: "Int16", 23: "Int32", 20: "Int64"}
_FLOATS = {700, 701, 1700}
_BOOL = 16
_TIMES = {1114, 1082}  # timestamp, date: datetime64[us], as DuckDB's df() gives


def frame(rows: list[tuple], description: Any) -> pd.DataFrame:
    """Rows as a DataFrame typed the way DuckDB's `df()` types the same columns (integers
    nullable only when a value is missing, DECIMAL as float, timestamps as datetime64)."""
    names = [c.name for c in description or ()]
    data: dict[str, Any] = {}
    for j, col in enumerate(description or ()):
        values = [r[j] for r in rows]
        missing = any(v is None for v in values)
        oid = col.type_code
        if oid in _INTS:
            dtype = _INTS[oid] if missing else _INTS[oid].lower()
            data[names[j]] = pd.array(values, dtype=dtype)
        elif oid in _FLOATS:
            data[names[j]] = np.array(
                [np.nan if v is None else float(v) for v in values], dtype="float64"
            )
        elif oid == _BOOL:
            data[names[j]] = pd.array(values, dtype="boolean" if missing else "bool")
        elif oid in _TIMES:
            data[names[j]] = pd.to_datetime(pd.Series(values, dtype=object)).astype(
                "datetime64[us]"
            )
        else:
            data[names[j]] = pd.Series(values, dtype=object if not values else None)
    out = pd.DataFrame(data, columns=names)
    out.columns = names  # duplicate names survive, as in DuckDB
    return out


def _loaders(conn: Any) -> None:
    """JSON as text (DuckDB returns JSON columns as str; the services json.loads them) and
    a whole NUMERIC as int (DuckDB's sum of integers is an integer; Postgres's is NUMERIC)."""
    from psycopg.types.numeric import NumericLoader
    from psycopg.types.string import TextLoader

    class WholeNumericLoader(NumericLoader):
        def load(self, data: Any) -> Any:
            value = super().load(data)
            if isinstance(value, Decimal) and b"." not in bytes(data) and value.is_finite():
                return int(value)
            return value

    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)
    conn.adapters.register_loader("numeric", WholeNumericLoader)


class PgCursor:
    """One connection, used like a DuckDB cursor: `execute(sql, params)` returns itself,
    then `fetchall`/`fetchone`/`df`/`arrow`. DuckDB's SQL is translated on the way in."""

    dialect = dialect.POSTGRES

    def __init__(self, conn: Any):
        self.conn = conn
        self._cur = conn.cursor()
        self._rows: list[tuple] | None = None
        self.description: Any = None
        self.rowcount = -1
        self._registered: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        """Run one statement (DuckDB's SQL, `?` parameters); read its result whole."""
        try:
            statements = dialect.POSTGRES.translate(sql)
        except dialect.UnsupportedSQL as exc:
            raise PgUnsupportedError(f"not yet on PostgreSQL: {exc}") from None
        args = [_param(p) for p in params or ()]
        import psycopg

        try:
            for text in statements:
                # always bound (possibly to nothing): the text's % are escaped as %%
                self._cur.execute(text, args if len(statements) == 1 else [])
        except psycopg.Error as exc:
            raise _mapped(exc) from None
        self.description = self._cur.description
        self.rowcount = self._cur.rowcount
        if self.description is not None:
            self._rows = self._cur.fetchall()
        elif statements[-1].lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self._rows = [(self._cur.rowcount,)]  # what DuckDB returns for a write
        else:
            self._rows = []
        return self

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> PgCursor:
        """Run one statement once per parameter row."""
        (text,) = dialect.POSTGRES.translate(sql)
        import psycopg

        try:
            self._cur.executemany(text, [[_param(p) for p in row] for row in params])
        except psycopg.Error as exc:
            raise _mapped(exc) from None
        self._rows, self.description = [], None
        return self

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows or [], []
        return rows

    def fetchone(self) -> tuple | None:
        if not self._rows:
            return None
        return self._rows.pop(0)

    def df(self) -> pd.DataFrame:
        return frame(self.fetchall(), self.description)

    fetchdf = df

    def arrow(self) -> Any:
        import pyarrow as pa

        return pa.Table.from_pandas(self.df(), preserve_index=False)

    fetch_arrow_table = arrow

    def register(self, name: str, data: Any) -> PgCursor:
        """DuckDB's view over a DataFrame or Arrow table, here a temporary table filled by
        COPY FROM STDIN (the bulk load: one round trip per table, not per row)."""
        copy_into(self, name, data, temporary=True)
        self._registered.add(name)
        return self

    def unregister(self, name: str) -> PgCursor:
        self.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
        self._registered.discard(name)
        return self

    def interrupt(self) -> None:
        """Stop the statement running on this connection (from another thread)."""
        with contextlib.suppress(Exception):
            self.conn.cancel_safe()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def _param(value: Any) -> Any:
    # numpy scalars (from DataFrames) are not adapted by psycopg
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


_ARROW_TYPES = {
    "int8": "SMALLINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
    "uint8": "SMALLINT", "uint16": "INTEGER", "uint32": "BIGINT", "uint64": "NUMERIC(20)",
    "float": "REAL", "double": "DOUBLE PRECISION", "bool": "BOOLEAN", "string": "TEXT",
    "large_string": "TEXT", "date32[day]": "DATE", "null": "TEXT",
}  # fmt: skip


def _sql_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP" if arrow_type.tz is None else "TIMESTAMPTZ"
    if pa.types.is_decimal(arrow_type):
        return f"NUMERIC({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _sql_type(arrow_type.value_type) + "[]"
    if pa.types.is_dictionary(arrow_type):
        return _sql_type(arrow_type.value_type)
    return _ARROW_TYPES.get(str(arrow_type), "TEXT")


def _csv_safe(schema: Any) -> bool:
    import pyarrow as pa

    return all(
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        or pa.types.is_boolean(f.type) or pa.types.is_date(f.type) or pa.types.is_null(f.type)
        or (pa.types.is_timestamp(f.type) and f.type.tz is None)
        or pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        for f in schema
    )  # fmt: skip


def _text_list(arrow_type: Any) -> bool:
    import pyarrow as pa

    return (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)) and (
        pa.types.is_string(arrow_type.value_type) or pa.types.is_large_string(arrow_type.value_type)
    )


def _array_literals(column: Any) -> Any:
    """A column of lists of text as Postgres array literals (`{"a","b\\"c",NULL}`), made by
    Arrow in C: COPY's csv format then reads them into a text[] column, instead of psycopg
    adapting every list in Python (the customers' tags: most of a million-row copy)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    first, last = column.offsets[0].as_py(), column.offsets[-1].as_py()
    values = column.values.slice(first, last - first)
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "NULL")
    offsets = pc.subtract(column.offsets, pa.scalar(first, column.offsets.type))
    lists = type(column).from_arrays(offsets, quoted, mask=column.is_null())
    return pc.binary_join_element_wise("{", pc.binary_join(lists, ","), "}", "")


def _csv(batch: Any) -> bytes:
    """A record batch as CSV without a header: NULL unquoted and empty, text quoted when it
    needs to be (so an empty string stays an empty string, as COPY's csv format reads it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue().to_pybytes()


def copy_into(cur: PgCursor, table: str, data: Any, *, temporary: bool = False) -> int:
    """Load a DataFrame or Arrow table into `table` with COPY FROM STDIN; with `temporary`,
    (re)create it as a temporary table of the data's columns first. Returns the rows."""
    import psycopg
    import pyarrow as pa

    arrow = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    names = [str(n) for n in arrow.column_names]
    kinds = {f.name: f.type for f in arrow.schema}  # (a temporary table's columns keep theirs)
    cols = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
    target = '"' + table.replace('"', '""') + '"'
    try:
        if temporary:
            defs = ", ".join(
                '"' + f.name.replace('"', '""') + '" ' + _sql_type(kinds[f.name])
                for f in arrow.schema
            )
            cur._cur.execute(f"DROP TABLE IF EXISTS pg_temp.{target}")
            cur._cur.execute(f"CREATE TEMP TABLE {target} ({defs})")
        for i, f in enumerate(arrow.schema):
            if _text_list(f.type):
                arrow = arrow.set_column(i, f.name, _array_literals(arrow.column(i)))
        if _csv_safe(arrow.schema):
            # flat columns: Arrow writes the CSV in C, a chunk at a time (~10x the rows/s
            # of adapting each value in Python)
            with cur._cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                for batch in arrow.to_batches(100_000):
                    copy.write(_csv(batch))
        else:  # lists (tags) and the like: psycopg adapts each value
            with cur._cur.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
                for batch in arrow.to_batches(50_000):
                    for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                        copy.write_row(row)
    except psycopg.Error as exc:
        raise _mapped(exc) from None
    return arrow.num_rows


# --- the store -------------------------------------------------------------------------


def connect(url: str, *, read_only: bool = False) -> Any:
    """A psycopg connection in autocommit mode, UTC, with DuckDB-like result loaders."""
    import psycopg

    options = "-c TimeZone=UTC -c client_min_messages=warning"
    if read_only:
        options += " -c default_transaction_read_only=on"
    try:
        conn = psycopg.connect(url, autocommit=True, options=options, connect_timeout=10)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to the database {redacted(url)}: {first}") from None
    _loaders(conn)
    return conn


def install_compat(cur: PgCursor) -> None:
    """Create the DuckDB-named functions the services' SQL calls (dialect.COMPAT_FUNCTIONS)."""
    for sql in dialect.COMPAT_FUNCTIONS:
        cur._cur.execute(sql)


#: Serialises migrations of one database between processes (any constant; see migrate).
MIGRATION_LOCK = 7_311_020


def storage_message(path: str, exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = text.lower()
    if "no space" in low or "disk full" in low:
        why = "the server's disk is full"
    elif "read-only" in low or "read only" in low or "permission" in low:
        why = "the database is read-only for this connection"
    else:
        why = "the server could not write it"
    return f"nothing was written to {path}: {why} ({text})"


# --- several processes: change notices and locks ----------------------------------------

#: The channel a committed write is announced on (NOTIFY), and listened to (LISTEN).
CHANNEL = "customer_dashboard_changes"
#: Names this process in its notices: its own writes reached its pages already (live.changed).
PROCESS = uuid.uuid4().hex
#: The first key of the two-key advisory locks `hold` takes (any constant; see MIGRATION_LOCK).
LOCKS = 7_311_021


def lock_key(name: str) -> int:
    """The second key of lock `name`'s advisory lock: a stable signed 32-bit hash (two names
    sharing one only make them wait for each other)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)


class Watcher:
    """This process's one listening connection to a database, on a thread of its own: every
    change notice another process (or another database key here) commits calls `tell()`.

    A dropped connection (a restarted server, pg_terminate_backend) is opened again, with
    a growing pause while it fails; once it is back `tell()` is called once, since what was
    committed meanwhile was announced to nobody here. `close()` stops the thread."""

    def __init__(self, url: str, key: str, tell: Callable[[], Any]) -> None:
        self._url = url
        self._key = key
        self._tell = tell
        self._stop = threading.Event()
        #: Set while LISTEN is in place (tests wait for it); the backend's pid is `pid`.
        self.listening = threading.Event()
        self.pid: int | None = None
        self._thread = threading.Thread(target=self._run, name="pg-changes", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        pause, again = 0.1, False
        while not self._stop.is_set():
            try:
                conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            except psycopg.Error as exc:
                log.warning("cannot listen for changes (%s); trying again in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc, pause)  # fmt: skip
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                self.pid = conn.info.backend_pid
                self.listening.set()
                pause = 0.1
                if again:
                    self._told()  # notices sent while the connection was down reached nobody
                again = True
                while not self._stop.is_set():
                    # returns after `timeout` to look at the stop flag
                    for notice in conn.notifies(timeout=0.5):
                        if not self._own(notice.payload):
                            self._told()
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("the connection listening for changes dropped (%s); "
                                "opening it again", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)  # fmt: skip
                    self._stop.wait(pause)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    conn.close()

    def _own(self, payload: str) -> bool:
        """A notice of this process's write on this key: `live.changed` told its pages."""
        process, _, key = payload.partition(" ")
        return process == PROCESS and key == self._key

    def _told(self) -> None:
        try:
            self._tell()
        except Exception:  # the thread must go on listening whatever a listener does
            log.exception("open pages could not be told of a change")

    def close(self) -> None:
        """Stop listening (the thread ends within about half a second)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5)


# the store class lives here, after its helpers; dashboard.store imports it lazily (a
# DuckDB-only install never loads psycopg)
from .store import Store  # noqa: E402


class PostgresStore(Store):
    """A PostgreSQL database of customers (`Store("postgresql://user@host:port/db")`).

    Each thread has a connection of its own (the role of DuckDB's per-thread cursor). Writes
    of one process are serialised by a lock as on DuckDB (the services read, check, then
    write); between processes Postgres's transactions and locks do that work.
    """

    dialect = dialect.POSTGRES

    def __init__(
        self,
        path: str | None = None,
        *,
        read_only: bool = False,
        user: str = "system",
        migrate: bool = True,
    ):
        from .locations import default_db_path

        self._url = str(path if path is not None else default_db_path())
        self._init_state(redacted(self._url), read_only, user)
        cur = self.cursor()
        if migrate and not read_only:
            with self._write_lock:
                migrate_db(cur)
        else:
            self._check_schema()

    #: A failed commit of any kind is "nothing was written".
    _commit_errors = (PgError,)

    def _open(self) -> PgCursor:
        return PgCursor(connect(self._url, read_only=self.read_only))

    def _new_cursor(self) -> PgCursor:
        return self._open()  # each thread a connection of its own, as a cursor

    def _usable(self, cur: PgCursor) -> bool:
        return not cur.conn.closed

    def _storage_message(self, exc: Exception) -> str:
        return storage_message(self.path, exc)

    def _storage_failure(self, exc: BaseException) -> bool:
        return isinstance(exc, PgIOError)  # ("read/write dependencies" is a conflict)

    def close(self) -> None:
        """Close every connection this store opened."""
        if not self._owner or self._closed:
            return
        self._close_attached()
        with self._cursors_lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()

    def _announce(self, cur: PgCursor) -> None:
        """NOTIFY in the writing transaction: Postgres delivers it on commit only."""
        try:
            cur._cur.execute("SELECT pg_notify(%s, %s)", [CHANNEL, f"{PROCESS} {self.path}"])
        except Exception as exc:
            raise _mapped(exc) from None

    def watch(self) -> None:
        """LISTEN for other processes' committed writes on one connection of this store
        (on a thread of its own, `Watcher`), telling this process's pages (live.changed)."""
        self.watcher()

    def watcher(self) -> Watcher:
        """The store's `Watcher`, started on first use (closed with the store)."""
        owner = self
        return self.attached(
            "live.watcher", lambda: Watcher(self._url, self.path, lambda: live.changed(owner))
        )

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        """A session advisory lock on a connection of its own, for as long as the block
        runs (a process that dies lets go of it with its connection)."""
        with self.private_cursor() as cur:
            try:
                cur._cur.execute(
                    "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", [LOCKS, lock_key(name)]
                )
                got = bool(cur._cur.fetchone()[0])
            except Exception as exc:
                raise _mapped(exc) from None
            yield got
            if got:
                with contextlib.suppress(Exception):
                    cur._cur.execute(
                        "SELECT pg_advisory_unlock(%s::int4, %s::int4)", [LOCKS, lock_key(name)]
                    )

    def held(self, name: str) -> bool:
        """Whether a session of this database holds lock `name` (see `hold`)."""
        cur = self.cursor()
        try:
            cur._cur.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                "database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = %s::oid AND objid = %s::oid AND objsubid = 2",
                [LOCKS, lock_key(name) & 0xFFFFFFFF],
            )
            return bool(cur._cur.fetchone()[0])
        except Exception as exc:
            raise _mapped(exc) from None

    def settle(self, tables: Sequence[str]) -> None:
        """`VACUUM (ANALYZE)` of `tables` on a connection of its own (VACUUM runs outside a
        transaction): fresh statistics for the planner, and the visibility map set, so that
        an index answers a page or a count without reading the table's rows (index-only
        scans), which autovacuum would do only minutes later."""
        from .store import _known_tables

        names = ", ".join(f'"{t}"' for t in _known_tables(tables))
        if not names or self.read_only:
            return
        with self.private_cursor() as cur:
            try:
                cur._cur.execute(f"VACUUM (ANALYZE) {names}")
            except Exception as exc:
                raise _mapped(exc) from None

    def batches(
        self, sql: str, params: Sequence[Any] | None = None, size: int = 50_000
    ) -> Iterator[Any]:
        """Stream a large result as Arrow record batches (a server-side cursor on a
        connection of its own, `size` rows at a time)."""
        import psycopg
        import pyarrow as pa

        (text,) = dialect.POSTGRES.translate(sql)
        conn = connect(self._url, read_only=True)
        try:
            with conn.transaction(), conn.cursor(name="batches") as cur:
                try:
                    cur.execute(text, [_param(p) for p in params or ()])
                    schema = None
                    while rows := cur.fetchmany(size):
                        table = pa.Table.from_pandas(
                            frame(rows, cur.description), preserve_index=False
                        )
                        # every batch of one stream has the first's schema (a column all
                        # NULL in the first gets its type from the column's, not null)
                        schema = schema or _settled(table.schema, cur.description)
                        yield from table.cast(schema).to_batches()
                except psycopg.Error as exc:
                    raise _mapped(exc) from None
        finally:
            conn.close()


#: Arrow types for columns whose first batch held only NULLs (by Postgres type oid).
_NULL_AS = {21: "int16", 23: "int32", 20: "int64", 700: "float64", 701: "float64",
            1700: "float64", 16: "bool", 1082: "timestamp[us]", 1114: "timestamp[us]"}  # fmt: skip
_LISTS = {1009, 1015}  # text[], varchar[]


def _settled(schema: Any, description: Any) -> Any:
    import pyarrow as pa

    fields = []
    for field, col in zip(schema, description, strict=True):
        if pa.types.is_null(field.type):
            if col.type_code in _LISTS:
                kind = pa.list_(pa.string())
            else:
                kind = pa.type_for_alias(_NULL_AS.get(col.type_code, "string"))
            field = field.with_type(kind)
        fields.append(field)
    return pa.schema(fields)


def _as_duckdb(cur: PgCursor) -> duckdb.DuckDBPyConnection:
    """A PgCursor where the services' annotations say DuckDB's cursor: it offers the
    methods they call (execute, fetchall, fetchone, df, register), in DuckDB's SQL."""
    return cast(duckdb.DuckDBPyConnection, cur)


def migrate_db(cur: PgCursor, target: int | None = None) -> list[int]:
    """Install the compatibility functions and apply pending migrations, holding an
    advisory lock so that two processes opening a new database do not both migrate it."""
    cur._cur.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        install_compat(cur)
        ran = migrations.migrate(_as_duckdb(cur), target)
        if target is None:  # a database made before the search was indexed gets its indexes
            from . import search

            cur.dialect.index_search(
                cur, search.TABLE, search.TOKENS, search.VOCAB, [g.column for g in search.groups()]
            )
        return ran
    finally:
        cur._cur.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


#: Tables of a database that `copy_tables` leaves behind: the migrations' record (the
#: target has its own), the SQL box's reader password on Postgres (the target makes its own)
#: and the quick search's tables (`search.TABLES`: rebuilt on the target instead).
NOT_COPIED = ("schema_migrations", "sqlbox_reader")

#: The id sequences and the tables whose `id` they give (moved past the copied ids).
SEQUENCES = (("customer_id_seq", "customers"), ("contact_id_seq", "contacts"),
             ("audit_id_seq", "audit_log"), ("message_id_seq", "messages"))  # fmt: skip


def _read_pg(source: Store, sql: str, size: int = 50_000) -> Iterator[Any]:
    """A Postgres query's rows as Arrow tables with the stored values as they are (NUMERIC
    as exact decimals, not the floats `frame` gives the services; JSON as its text), by a
    server-side cursor on a read-only connection of its own."""
    import psycopg
    import pyarrow as pa
    from psycopg.types.numeric import NumericLoader
    from psycopg.types.string import TextLoader

    conn = connect(source._url, read_only=True)  # type: ignore[attr-defined]
    conn.adapters.register_loader("numeric", NumericLoader)  # a Decimal always, never an int
    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)
    try:
        with conn.transaction(), conn.cursor(name="copy") as cur:
            try:
                cur.execute(sql)
                while rows := cur.fetchmany(size):
                    names = [c.name for c in cur.description]
                    yield pa.table({n: pa.array([r[j] for r in rows]) for j, n in enumerate(names)})
            except psycopg.Error as exc:
                raise _mapped(exc) from None
    finally:
        conn.close()


def _columns(store: Store, table: str) -> list[str]:
    schema = "public" if store.dialect is dialect.POSTGRES else "main"
    return [c for (c,) in store.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? ORDER BY ordinal_position", [schema, table])]  # fmt: skip


def copy_tables(source: Store, target: Store) -> dict[str, int]:
    """Copy every table of `source` into the empty, migrated `target` (either engine, both
    at the latest schema) in one transaction: Postgres's rows by COPY FROM STDIN, DuckDB's
    from a registered Arrow table; the id sequences moved past the copied ids, the quick
    search rebuilt. Returns the rows copied per table, checked against the target's counts."""
    from . import search

    to_pg = target.dialect is dialect.POSTGRES
    found = [t for (t,) in source.rows(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND database_name = current_database() ORDER BY table_name")
        if t not in NOT_COPIED and t not in search.TABLES]  # fmt: skip
    # only the schema's own tables are copied (their names are the only ones written into
    # SQL): a table this version does not know is refused, not copied half-way or skipped
    unknown = [t for t in found if t not in migrations.TABLES]
    if unknown:
        raise UserError(
            f"cannot copy {source.path}: it holds a table customer-dashboard does not know "
            f"({', '.join(repr(t) for t in unknown)}); it copies only its own tables "
            f"({', '.join(migrations.TABLES)}): drop or rename the others in the source first"
        )
    tables = [t for t in migrations.TABLES if t in found]
    copied: dict[str, int] = {}
    with target.transaction() as cur:
        for table in tables:
            have = set(_columns(source, table))
            cols = [c for c in _columns(target, table) if c in have]
            names = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
            sql = f"SELECT {names} FROM {table}"
            copied[table] = 0
            if source.dialect is dialect.POSTGRES:
                read = _read_pg(source, sql)
            else:
                import pyarrow as pa

                read = (pa.Table.from_batches([b]) for b in source.batches(sql))
            for data in read:
                if to_pg:
                    copied[table] += copy_into(cur, table, data)
                else:
                    # DuckDB casts each column to the table's type (text to JSON, exact
                    # decimals to DECIMAL) on the way in
                    cur.register("_copied", data)
                    cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _copied")
                    cur.unregister("_copied")
                    copied[table] += data.num_rows
        for seq, table in SEQUENCES:
            if to_pg:
                cur.execute(
                    f"SELECT setval('{seq}', coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
            else:  # DuckDB has no setval: the sequence is drawn up to the last copied id
                last = cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchall()[0][0]
                cur.execute(f"SELECT max(nextval('{seq}')) FROM range(?)", [last])
        if to_pg:
            # the planner's statistics before the search tables are built from the copied
            # rows (an empty table's estimates would plan their joins for no rows)
            for table in ("customers", "contacts"):
                cur.execute(f"ANALYZE {table}")
        search.rebuild(_as_duckdb(cur) if to_pg else cur)
        for table, n in copied.items():
            there = cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            if there != n:
                raise UserError(f"copying {table}: {n} rows read but {there} written")
    target.settle([*copied, *search.TABLES])
    return copied
