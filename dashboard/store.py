"""The one gateway to the database: DuckDB (embedded, the default) or PostgreSQL.

`Store` is the interface and opens the engine's store (`DuckDBStore` below, or
`dashboard.pgstore.PostgresStore` for a postgresql:// URL). The DuckDB store owns the connection. Reads go through `execute`/`df`/`scalar` on a cursor of the
calling thread (DuckDB cursors are per thread); writes go through `transaction()` or
`execute_write`, serialised by a lock so that two sessions of one server never race inside
DuckDB's optimistic concurrency. Every parameter is bound; SQL text is built only from the
field registry's names.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from . import live, migrations
from .dialect import DUCKDB, Dialect
from .errors import DatabaseBusyError, StorageError, UserError
from .locations import DEFAULT_DB, default_db_path, is_url  # noqa: F401  (re-exported; was defined here)

log = logging.getLogger(__name__)

# The batches opened by the transaction running on this thread (writes are one transaction
# per thread at a time), logged once it has committed: a rolled-back batch never happened.
_opened = threading.local()


def note_batch(batch_id: str, action: str, user: str) -> None:
    """Remember a batch opened in this thread's transaction, to log it after the commit."""
    pending = getattr(_opened, "batches", None)
    if pending is not None:
        pending.append((batch_id, action, user))


def _log_batches(cur: duckdb.DuckDBPyConnection) -> None:
    """One log line per batch the committed transaction wrote: id, action, user, rows."""
    for batch_id, action, user in getattr(_opened, "batches", None) or ():
        if not log.isEnabledFor(logging.INFO):
            return
        found = cur.execute(
            "SELECT customer_count FROM batches WHERE batch_id = ?", [batch_id]
        ).fetchall()
        rows = int(found[0][0] or 0) if found else 0
        log.info("batch %s written: %s by %s, %d rows", batch_id, action, user, rows,
                 extra={"batch_id": batch_id, "action": action, "user": user, "rows": rows})  # fmt: skip


def server_file(path: str | os.PathLike) -> Path:
    """The side file in which a running `serve` names itself (pid, address)."""
    return Path(str(path) + ".server.json")


def utcnow() -> dt.datetime:
    """Naive UTC now: what every timestamp column holds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


#: Marks a closed store's helpers (`Store.attached`), which its acting_as copies share.
_CLOSED = object()


#: A write of at least this many rows is a bulk write: `Store.settle` follows it.
SETTLE_ROWS = 10_000


def _known_tables(tables: Sequence[str]) -> list[str]:
    """`tables`, each checked to be one of the schema's own (the only names written into
    SQL by `settle` and `copy`)."""
    from . import search

    known = (*migrations.TABLES, *search.TABLES)
    unknown = [t for t in tables if t not in known]
    if unknown:
        raise UserError(f"unknown table {unknown[0]!r}: the tables are {', '.join(known)}")
    return list(tables)


class Rollback(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside `Store.transaction()` to roll back quietly (dry runs, previews)."""


class Store:
    """A database of customers, opened once per process: the interface every engine's
    store implements, and the way to open one.

    `Store(path)` opens a DuckDB file (`DuckDBStore`; `path=":memory:"` gives a private
    in-memory database for tests and demos); `Store("postgresql://user@host:port/db")` opens
    a PostgreSQL database (`dashboard.pgstore.PostgresStore`). `user` is the name written
    into the audit log when a write does not name one.

    Every engine offers: `execute`/`rows`/`df`/`scalar` (reads with bound `?` parameters, in
    DuckDB's SQL, which `dialect` translates where needed), `transaction()` (one
    all-or-nothing write on a cursor), `private_cursor()`, `batches()` (Arrow record batches),
    `acting_as`, `attached`, `change_token`, `schema_version` and `close`.
    """

    #: The engine's SQL dialect (dashboard/dialect.py).
    dialect: Dialect = DUCKDB
    path: str
    read_only: bool
    user: str
    role: str
    generation: int | None
    snapshot_of: str | None
    _owner: bool
    _closed: bool
    _cursors_lock: threading.Lock
    _attached: dict[Any, Any]

    def __new__(cls, path: str | os.PathLike | None = None, *args: Any, **kwargs: Any) -> Store:
        if cls is Store:
            where = path if path is not None else default_db_path()
            if is_url(where):
                from .pgstore import PostgresStore

                cls = PostgresStore
            else:
                cls = DuckDBStore
        return super().__new__(cls)

    #: What a commit may raise that means "not written" (the engine's classes).
    _commit_errors: tuple[type[BaseException], ...] = (
        duckdb.IOException, duckdb.TransactionException,
    )  # fmt: skip

    def _init_state(self, path: str, read_only: bool, user: str) -> None:
        """The state every engine's store keeps (its connections are the engine's own)."""
        self.path = path
        self.read_only = read_only
        self.user = user
        #: The acting user's role (see dashboard.access); a store opened here acts as admin.
        self.role = "admin"
        #: The signed-in session's user generation (None: not a session; see access.require).
        self.generation = None
        self._owner = True  # False for acting_as() copies, which must not close the connection
        #: The database file this is a read-only snapshot of (None: the file itself).
        self.snapshot_of = None
        #: The settings file named outright (serve's and the CLI's --settings); None: the
        #: database's own (`settings_file`).
        self.settings_given: str | None = None
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[Any] = []
        self._cursors_lock = threading.Lock()
        #: Helpers kept per database by other modules (the SQL box's sandbox): shared by
        #: acting_as copies, closed with the store. See `attached`.
        self._attached: dict[Any, Any] = {}
        self._closed = False

    def _new_cursor(self) -> Any:
        """A new cursor (DuckDB) or connection (Postgres) for the calling thread."""
        raise NotImplementedError

    def _usable(self, cur: Any) -> bool:
        """Whether this thread's cursor can still be used."""
        return True

    def cursor(self) -> Any:
        """This thread's cursor (neither engine shares one between threads)."""
        if self._closed:
            raise UserError("the database is closed")
        cur = getattr(self._local, "cursor", None)
        if cur is None or not self._usable(cur):
            cur = self._new_cursor()
            self._local.cursor = cur
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    def close(self) -> None:
        """Close every cursor and the connection."""
        raise NotImplementedError

    def _storage_message(self, exc: Exception) -> str:
        """What a user reads when the engine could not write (disk full, read-only...)."""
        raise NotImplementedError

    def _storage_failure(self, exc: BaseException) -> bool:
        """Whether a failed commit means the storage could not take it (else a conflict).
        DuckDB reports a file it could not write as an IO or a transaction error."""
        return isinstance(exc, duckdb.IOException) or "write" in str(exc).lower()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One all-or-nothing transaction; yields the cursor to write with.

        Writes of one process are serialised by a lock (the services read, check, then
        write); a commit that fails is "nothing was written", never a traceback; a commit
        that wrote batches tells this process's open pages (dashboard.live)."""
        if self.read_only:
            raise UserError(f"the database {self.path} is open read-only")
        with self._write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            _opened.batches = []
            try:
                yield cur
            except Rollback:
                cur.execute("ROLLBACK")
            except duckdb.IOException as exc:  # (Postgres's storage errors subclass it)
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise StorageError(self._storage_message(exc)) from None
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise
            else:
                try:
                    if _opened.batches:
                        # other processes' pages are told on commit, never of a rollback
                        self._announce(cur)
                    cur.execute("COMMIT")
                except self._commit_errors as exc:
                    with contextlib.suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    if self._storage_failure(exc):
                        raise StorageError(self._storage_message(exc)) from None
                    raise UserError(
                        f"the change could not be saved and nothing was written "
                        f"({str(exc).splitlines()[0]}); try again"
                    ) from None
                _log_batches(cur)
                if _opened.batches:
                    # open pages reload now instead of at their next poll (dashboard.live)
                    live.changed(self)
            finally:
                _opened.batches = None

    @contextlib.contextmanager
    def private_cursor(self) -> Iterator[Any]:
        """A cursor (Postgres: a connection) of its own, closed afterwards: for work that
        may be interrupted (`interrupt()` stops only what runs on it)."""
        if self._closed or _CLOSED in self._attached:
            raise UserError("the database is closed")
        cur = self._new_cursor()
        try:
            yield cur
        finally:
            cur.close()

    # --- several processes -------------------------------------------------------------

    def _announce(self, cur: Any) -> None:
        """Inside a transaction that wrote batches, just before its commit: tell the other
        processes on this database once it commits. DuckDB: nobody to tell (one process
        writes a file, and this process's pages are told by `live.changed`)."""

    def watch(self) -> None:
        """Have this process's open pages told of writes other processes commit to this
        database (`dashboard.live`), from now until the store closes; idempotent. DuckDB:
        nothing to do, no other process writes the file while this one holds it."""

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        """Hold the lock `name` on this database, against other processes, while the block
        runs; yields False (holding nothing) when another process holds it. DuckDB: always
        True, only this process writes the file (callers keep their in-process locks)."""
        yield True

    def held(self, name: str) -> bool:
        """Whether a process (this one included) holds the lock `name` (see `hold`) now.
        DuckDB: False, nothing is held between processes."""
        return False

    def batches(
        self, sql: str, params: Sequence[Any] | None = None, size: int = 50_000
    ) -> Iterator[Any]:
        """Stream a large result as Arrow record batches."""
        raise NotImplementedError

    def settings_file(self) -> Path:
        """This database's settings file (its reporting currency, Send's servers): the one
        named outright, else $CUSTOMER_DASHBOARD_SETTINGS, else settings.toml beside the
        database file (a snapshot's: beside the file it copies); `locations.settings_path`."""
        from .locations import settings_path

        return settings_path(self.snapshot_of or self.path, self.settings_given)

    def acting_as(self, user: str, role: str, generation: int | None = None) -> Store:
        """This store as `user` with `role`: the same connection, cursors and write lock,
        with every write recorded as that user and checked against that role. A signed-in
        session passes its `generation`: writes stop as soon as the user's password, role or
        account changes. Closing it does not close the connection."""
        from .access import check_role

        other = copy.copy(self)
        other.user = user
        other.role = check_role(role)
        other.generation = generation
        other._owner = False
        return other

    def attached(self, key: str, make: Callable[[], Any]) -> Any:
        """The helper kept on this database under `key`, made by `make()` on first use.

        One per database, whichever acting_as copy asks; its `close()` runs when the store
        closes (the SQL box keeps its sandbox here, so that no module holds it).
        """
        with self._cursors_lock:
            if self._closed or _CLOSED in self._attached:  # (an acting_as copy of a closed store)
                raise UserError("the database is closed")
            helper = self._attached.get(key)
            if helper is None:
                helper = self._attached[key] = make()
            return helper

    def _close_attached(self) -> None:
        """Close the helpers kept on this database (best effort) and mark it closed."""
        with self._cursors_lock:
            self._closed = True
            helpers = list(self._attached.values())
            self._attached.clear()
            self._attached[_CLOSED] = None
        for helper in helpers:
            with contextlib.suppress(Exception):
                helper.close()  # best effort: the connection must close regardless

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"<Store {self.path} ({mode})>"

    # --- reads -----------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement with bound parameters on this thread's cursor.

        Read the result whole (fetchall, df): DuckDB 2 keeps a half-read result open and
        then refuses other work on the cursor.
        """
        return self.cursor().execute(sql, list(params or []))

    def df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """A query's result as a (small) DataFrame."""
        return self.execute(sql, params).df()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """A query's rows as tuples."""
        return self.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """A query's first value (None when it has no row)."""
        rows = self.execute(
            sql, params
        ).fetchall()  # fetch all: DuckDB 2 keeps a half-read result open
        return rows[0][0] if rows else None

    def execute_write(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """One write statement in its own transaction."""
        with self.transaction() as cur:
            cur.execute(sql, list(params or []))

    # --- after bulk writes -------------------------------------------------------------

    def settle(self, tables: Sequence[str]) -> None:
        """Bring the planner's view of `tables` up to date after a bulk write (a copy, demo
        data, an import of `SETTLE_ROWS` rows or more), outside any transaction: the next
        query is planned for the rows there are now, not for the empty tables they were.
        DuckDB: nothing to do (it keeps its statistics as it writes). Only the schema's own
        tables are named (`migrations.TABLES`, `search.TABLES`)."""
        _known_tables(tables)

    # --- facts -----------------------------------------------------------------------

    def database_name(self) -> str:
        """The catalog name the engine gives this database (for COPY FROM DATABASE)."""
        return str(self.scalar("SELECT current_database()"))

    def schema_version(self) -> int:
        """The newest migration applied to this database."""
        return max(migrations.applied(self.cursor()), default=0)

    def _check_schema(self) -> None:
        have = migrations.applied(self.cursor())
        if max(have, default=0) < migrations.LATEST:
            raise UserError(
                f"the database {self.path} has schema {max(have, default=0)} but this version "
                f"needs {migrations.LATEST}; open it once for writing to upgrade it"
            )

    def change_token(self) -> tuple:
        """A cheap fingerprint of the customer data: changes whenever a batch is written.

        The page polls this to show other sessions' changes without reloading rows.
        """
        return tuple(
            self.rows(
                "SELECT (SELECT count(*) FROM batches), (SELECT max(happened_at) FROM batches), "
                "(SELECT count(*) FROM customers)"
            )[0]
        )


class DuckDBStore(Store):
    """A DuckDB database file (or `:memory:`): the embedded default.

    Reads go through a cursor per thread (DuckDB cursors are per thread); writes go through
    `transaction()`, serialised by a lock so that two sessions of one server never race
    inside DuckDB's optimistic concurrency.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        read_only: bool = False,
        user: str = "system",
        migrate: bool = True,
    ):
        self._init_state(str(path if path is not None else default_db_path()), read_only, user)
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = self._connect()
        if migrate and not read_only:
            migrations.migrate(self._con)
        elif read_only:
            self._check_schema()

    # --- connection ------------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.read_only and self.path != ":memory:" and not Path(self.path).exists():
            raise UserError(f"no database at {self.path}; create it with `customer-dashboard init`")
        self._refuse_foreign_file()
        try:
            con = duckdb.connect(self.path, read_only=self.read_only)
        except duckdb.IOException as exc:
            raise DatabaseBusyError(self._busy_message(exc)) from None
        except duckdb.ConnectionException:
            # DuckDB keeps one instance per file and process: a read-write Store is open here
            raise DatabaseBusyError(
                f"the database {self.path} is already open for writing in this process; "
                "use that Store"
            ) from None
        if self.path != ":memory:":
            # DuckDB opens an existing .csv/.parquet/.json path as an in-memory database with
            # a view over the file: everything "written" would be lost at exit
            where = con.execute(
                "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
            ).fetchall()
            if not where or not where[0][0]:
                con.close()
                raise UserError(self._foreign_message())
        return con

    def _refuse_foreign_file(self) -> None:
        """A file that exists but is not a DuckDB database is refused before DuckDB opens it."""
        if self.path == ":memory:":
            return
        try:
            with open(self.path, "rb") as f:
                head = f.read(12)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return  # created fresh, or DuckDB's own message says why it cannot be opened
        if head[8:12] != b"DUCK":  # the magic bytes after the header's checksum
            raise UserError(self._foreign_message())

    def _foreign_message(self) -> str:
        return (
            f"{self.path} is not a DuckDB database (it exists and holds something else); "
            "give --db a customer-dashboard database, or a new file name to create one "
            "(to load a spreadsheet, use `customer-dashboard import FILE`)"
        )

    def _busy_message(self, exc: Exception) -> str:
        text = str(exc)
        low = text.lower()
        if any(w in low for w in ("permission denied", "not permitted", "read-only file")):
            return (
                f"the database {self.path} is read-only here, so nothing can be written to it "
                f"({text.splitlines()[0]}); the read-only commands (pivot, export, sql) still work"
            )
        if "lock" not in low:
            return f"cannot open the database {self.path}: {text.splitlines()[0]}"
        pid = re.search(r"PID (\d+)", text)
        served = server_file(self.path)
        who = f"another process (pid {pid.group(1)})" if pid else "another process"
        try:
            info = json.loads(served.read_text())
            who = f"the dashboard server (pid {info['pid']}, {info['url']})"
        except (OSError, ValueError, KeyError):
            pass
        return (
            f"the database {self.path} is in use by {who}; stop it, or use the running "
            "dashboard, to change data"
        )

    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()  # (DuckDB cursors are not shared between threads)

    def close(self) -> None:
        """Close every cursor and the connection (checkpointing the file)."""
        if not self._owner or self._closed:
            return
        self._close_attached()
        with self._cursors_lock:
            for cur in self._cursors:
                with contextlib.suppress(duckdb.Error):
                    cur.close()
            self._cursors.clear()
        self._con.close()

    def batches(
        self, sql: str, params: Sequence[Any] | None = None, size: int = 50_000
    ) -> Iterator[Any]:
        """Stream a large result as Arrow record batches on a cursor of its own."""
        cur = self._con.cursor()
        try:
            reader = cur.sql(sql, params=list(params or [])).to_arrow_reader(size)
            yield from reader
        finally:
            cur.close()

    # --- writes ----------------------------------------------------------------------

    def _storage_message(self, exc: Exception) -> str:
        text = str(exc).splitlines()[0]
        low = text.lower()
        if "no space" in low or "disk full" in low or "too large" in low or "quota" in low:
            why = "the disk is full"
        elif "permission" in low or "read-only" in low or "read only" in low:
            why = "the file or its folder is read-only"
        else:
            why = "the file could not be written"
        return f"nothing was written to {self.path}: {why} ({text})"
