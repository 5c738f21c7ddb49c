"""Reading a database while `customer-dashboard serve` owns it.

DuckDB lets one process open a file for writing and then no other process may open it at
all. So the server publishes a read-only copy next to the database
(`customers.duckdb.snapshot`) and refreshes it a moment after every change; notebooks and
the CLI's read-only commands open that copy when the database itself is locked.

A copy is a full scan of every table (about 10 s of CPU at 1,000,000 customers), so the
server takes none at start when the last one is still current (its `snapshot_info` records
the state it was taken at), and after a copy that took d seconds (d of a second or more) it
waits at least 3d before the next: copies never take more than a quarter of the server's time, however busy the
operators are, and readers are at most a few copies' time behind.

Each copy is written under a name of its own and then the link `...snapshot` is moved onto
it with an atomic rename: a reader never sees half a snapshot, one that has an older copy
open keeps reading it undisturbed, and opening the store again (even in the same process,
where DuckDB reuses an open file's instance) gives the newest copy. Older copies are
removed; a reader that still holds one keeps it until it closes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path

import duckdb

from .errors import DatabaseBusyError, UserError
from .locations import is_url
from .store import Store, default_db_path, server_file, utcnow

log = logging.getLogger(__name__)

#: Tables readers never get: password and token hashes stay with the server.
PRIVATE_TABLES = frozenset({"users", "api_tokens"})
#: How often the server looks for changes to publish (seconds).
POLL_SECONDS = 1.0
#: After a copy that took d seconds, the next waits at least this many times d ...
PAUSE_FACTOR = 3.0
#: ... when d is at least this long (a small database's copies cost next to nothing).
PAUSE_FROM = 1.0


def snapshot_path(db: str | os.PathLike) -> Path:
    """Where the served database's read-only copy lives."""
    return Path(str(db) + ".snapshot")


def state(store: Store) -> str:
    """What a snapshot of `store` taken now would hold, cheaply: the change token (every
    batch) and each table's shape (migrations and rebuilt search tables change it)."""
    tables = store.rows(
        "SELECT table_name, estimated_size, column_count FROM duckdb_tables() "
        "WHERE database_name = ? AND schema_name = 'main' AND NOT temporary ORDER BY table_name",
        [store.database_name()],
    )
    return repr((tuple(store.change_token()), tuple(tuple(t) for t in tables)))


def published_state(db: str | os.PathLike) -> str | None:
    """The state the current snapshot of `db` was taken at (None: none, or an older kind)."""
    link = snapshot_path(db)
    if not link.exists():
        return None
    try:
        con = duckdb.connect(str(link.resolve()), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT state FROM snapshot_info").fetchone()
        return row[0] if row else None
    except duckdb.Error:  # a snapshot from before states were recorded
        return None
    finally:
        con.close()


def publish(store: Store, current: str | None = None) -> Path:
    """Write a consistent copy of `store` next to its file and move it into place.

    `current` is `state(store)` read just before (recorded in the copy); read here if None.
    """
    if store.path == ":memory:":
        raise UserError("an in-memory database has no snapshot")
    link = snapshot_path(store.path)
    stamp = f"{time.time_ns()}"
    target = link.with_name(f"{link.name}.{stamp}")
    tmp = link.with_name(f"{link.name}.{stamp}.tmp")
    alias = f"snapshot_{os.getpid()}_{threading.get_ident()}"
    quoted = "'" + str(tmp).replace("'", "''") + "'"
    source = store.database_name()
    current = state(store) if current is None else current
    with store.private_cursor() as cur:
        tables = [
            t for (t,) in cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                "AND schema_name = 'main' AND NOT temporary ORDER BY table_name", [source],
            ).fetchall() if t not in PRIVATE_TABLES
        ]  # fmt: skip
        cur.execute(f"ATTACH {quoted} AS {alias}")
        try:
            # one transaction: every table as of the same moment
            cur.execute("BEGIN TRANSACTION")
            for table in tables:
                cur.execute(
                    f'CREATE TABLE {alias}."{table}" AS SELECT * FROM "{source}".main."{table}"'
                )
            cur.execute(
                f"CREATE TABLE {alias}.snapshot_info AS SELECT ?::TIMESTAMP AS taken_at, "
                "?::VARCHAR AS source, ?::VARCHAR AS state",
                [utcnow(), str(Path(store.path).resolve()), current],
            )
            cur.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            with contextlib.suppress(duckdb.Error):
                cur.execute(f"DETACH {alias}")
            for part in (tmp, Path(str(tmp) + ".wal")):  # a failed copy leaves nothing behind
                part.unlink(missing_ok=True)
            raise
        cur.execute(f"DETACH {alias}")
    os.replace(tmp, target)
    pointer = link.with_name(f"{link.name}.{stamp}.link")
    os.symlink(target.name, pointer)
    os.replace(pointer, link)
    # older copies go; a reader holding one keeps reading it until it closes (POSIX unlink)
    for old in link.parent.glob(f"{link.name}.*"):
        if old != target and old.name[len(link.name) + 1 :].split(".")[0].isdigit():
            old.unlink(missing_ok=True)
    return target


def taken_at(store: Store) -> dt.datetime | None:
    """When the snapshot `store` reads was taken (None if it is not a snapshot)."""
    try:
        return store.scalar("SELECT taken_at FROM snapshot_info")
    except duckdb.Error:
        return None


def open_store(path: str | os.PathLike | None = None, *, user: str = "reader") -> Store:
    """Open a database for reading: the file itself, or, while a dashboard server owns it,
    the server's latest snapshot (a few seconds behind at most).

    Open it again for newer data; `snapshot.taken_at(store)` says how old a snapshot is.
    A postgresql:// URL opens that database (no snapshots there: Postgres serves readers
    and writers together), without migrating it.
    """
    given = path or default_db_path()
    if is_url(given):
        return Store(str(given), user=user, migrate=False)
    path = Path(given)
    try:
        return Store(path, read_only=True, user=user)
    except DatabaseBusyError:
        copy = snapshot_path(path)
        if not copy.exists():
            raise DatabaseBusyError(
                f"the database {path} is in use by another process and has no snapshot "
                "to read; run the dashboard with `customer-dashboard serve`, which publishes one"
            ) from None
        # the server may publish a newer copy and remove this one between reading the link
        # and opening the file: the link then names the newer copy, which is opened instead
        attempt = 0
        while True:
            target = copy.resolve()
            try:
                store = Store(target, read_only=True, user=user)
                break
            except Exception:
                attempt += 1
                if attempt == 5 or target.exists():
                    raise
        store.snapshot_of = str(path)
        return store


class Publisher:
    """The server's background thread: publishes a snapshot at start (unless the last one
    is still current) and after changes.

    Changes are seen through `state` (the store's change token and table shapes); a burst
    of writes gives one snapshot once it settles, and a copy that took d seconds is
    followed by at least `PAUSE_FACTOR` x d seconds without one.
    """

    def __init__(self, store: Store, poll: float = POLL_SECONDS):
        self.store = store
        self.poll = poll
        self.published = 0
        #: Whether the snapshot found at start was current (so none was taken then).
        self.reused = False
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshot", daemon=True)

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        seen = None
        with contextlib.suppress(Exception):  # unreadable: publish a new one below
            seen = published_state(self.store.path)
        not_before = 0.0
        while not self._stop.is_set():
            try:
                from .backup import serve_requests

                serve_requests(self.store)  # backups other processes asked for
                current = state(self.store)
                if current == seen and not self.published:
                    self.reused = True
                elif current != seen and time.monotonic() >= not_before:
                    started = time.monotonic()
                    publish(self.store, current)
                    took = time.monotonic() - started
                    if took >= PAUSE_FROM:
                        not_before = time.monotonic() + PAUSE_FACTOR * took
                    seen = current
                    self.published += 1
                    self.last_error = None
            except Exception as exc:  # noqa: BLE001 - keep serving; say why in the log
                if self._stop.is_set():
                    break
                self.last_error = str(exc)
                log.warning("snapshot: %s", exc)
            self._stop.wait(self.poll)


def server_running(path: str | os.PathLike) -> bool:
    """Whether a dashboard server names itself as the owner of `path`."""
    return server_file(path).exists()


def wait_for_snapshot(path: str | os.PathLike, after: float = 0.0, timeout: float = 30) -> Path:
    """Wait until a snapshot newer than `after` (a time.time()) exists; for scripts."""
    copy = snapshot_path(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if copy.stat().st_mtime > after:
                return copy
        time.sleep(0.1)
    raise UserError(f"no snapshot of {path} appeared within {timeout:.0f} s")
