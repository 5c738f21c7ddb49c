"""Backups of the whole database, and restoring one.

A backup is a complete DuckDB file (every table, index, sequence, the users) written in one
transaction, so it is consistent, then moved into place. While `customer-dashboard serve`
owns the database no other process can open it, so the backup asks the server for it: it
drops a request file next to the database, and the server's snapshot thread writes the
backup with its own connection and answers. Restoring refuses while a server runs, checks
the backup first, and keeps the file it replaces.

A backup never replaces an existing file (also not one named in a request), and it gets the
database file's permissions, never wider than 0600 when it holds users (password hashes).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
import uuid
from pathlib import Path

from . import migrations
from .errors import DatabaseBusyError, UserError
from .store import Store, server_file

#: How long the CLI waits for a serving process to write a backup.
SERVER_TIMEOUT = 300.0


def request_dir(db: str | os.PathLike) -> Path:
    """Where backup requests for a served database are dropped."""
    return Path(str(db) + ".requests")


def backup_mode(store: Store) -> int:
    """The permission bits a backup of `store` gets: the database file's, never wider than
    0600 when the users table holds anyone (0600 for an in-memory database)."""
    try:
        mode = stat.S_IMODE(os.stat(store.path).st_mode)
    except OSError:
        mode = 0o600
    has_users = store.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'users'")
    if has_users and store.scalar("SELECT count(*) FROM users"):
        mode &= 0o600
    return mode


def write_copy(store: Store, out: str | os.PathLike) -> Path:
    """Copy the whole database behind `store` to `out` (consistent; appears whole, with
    `backup_mode` permissions); refuses when `out` exists."""
    out = Path(out).resolve()
    if out.exists():
        raise UserError(f"{out} exists; choose a new file name for the backup")
    mode = backup_mode(store)
    # written in a private (0700) folder beside `out`: DuckDB creates the file with the
    # process's umask, and nobody may read it before its mode is set
    private = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp = private / "backup.duckdb"
    quoted = "'" + str(tmp).replace("'", "''") + "'"
    alias = f"backup_{uuid.uuid4().hex[:12]}"
    try:
        with store.private_cursor() as cur:
            cur.execute(f"ATTACH {quoted} AS {alias}")
            try:
                # quoted: the catalog is named after the file ("no-users" for no-users.duckdb)
                source = '"' + store.database_name().replace('"', '""') + '"'
                cur.execute(f"COPY FROM DATABASE {source} TO {alias}")
            finally:
                cur.execute(f"DETACH {alias}")
        os.chmod(tmp, mode)
        try:
            os.link(tmp, out)  # never replaces: fails if `out` appeared meanwhile
        except FileExistsError:
            raise UserError(f"{out} exists; choose a new file name for the backup") from None
        except OSError:  # a file system without hard links
            if out.exists():
                raise UserError(f"{out} exists; choose a new file name for the backup") from None
            os.replace(tmp, out)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return out


def backup(db: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Back up the database at `db` to `out`, asking the server when one owns the file."""
    db, out = Path(db), Path(out)
    if not db.exists():
        raise UserError(f"no database at {db}")
    if out.exists():
        raise UserError(f"{out} exists; choose a new file name for the backup")
    if out.resolve() == db.resolve():
        raise UserError("the backup cannot be the database itself")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        # a read-write open (without migrating): DuckDB attaches the new file only from a
        # writable instance, and holding the lock keeps writers out while it copies
        store = Store(db, user="backup", migrate=False)
    except DatabaseBusyError:
        if not server_file(db).exists():
            raise
        return _ask_server(db, out)
    with store:
        return write_copy(store, out)


def _ask_server(db: Path, out: Path) -> Path:
    folder = request_dir(db)
    folder.mkdir(mode=0o700, exist_ok=True)
    rid = uuid.uuid4().hex
    request = folder / f"{rid}.backup.json"
    tmp = folder / f".{rid}.tmp"
    tmp.write_text(json.dumps({"out": str(out.resolve())}))
    os.replace(tmp, request)  # the server never reads half a request
    answer = folder / f"{rid}.done.json"
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if answer.exists():
            result = json.loads(answer.read_text())
            answer.unlink(missing_ok=True)
            if result.get("error"):
                raise UserError(f"the server could not write the backup: {result['error']}")
            return Path(result["out"])
        time.sleep(0.2)
    request.unlink(missing_ok=True)
    raise UserError(f"the dashboard server did not answer within {SERVER_TIMEOUT:.0f} s")


def serve_requests(store: Store) -> int:
    """Write the backups asked for by other processes (the server calls this); how many."""
    folder = request_dir(store.path)
    if not folder.is_dir():
        return 0
    done = 0
    for request in sorted(folder.glob("*.backup.json")):
        rid = request.name.split(".", 1)[0]
        answer: dict = {}
        try:
            out = json.loads(request.read_text())["out"]
            answer["out"] = str(write_copy(store, out))
        except Exception as exc:  # noqa: BLE001 - the asking process shows it to its user
            answer["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        request.unlink(missing_ok=True)
        tmp = folder / f".{rid}.answer.tmp"
        tmp.write_text(json.dumps(answer))
        os.replace(tmp, folder / f"{rid}.done.json")
        done += 1
    return done


def _server_alive(db: Path) -> bool:
    marker = server_file(db)
    try:
        pid = int(json.loads(marker.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def restore(backup_file: str | os.PathLike, db: str | os.PathLike) -> Path | None:
    """Replace the database at `db` with `backup_file`; returns where the replaced file was
    kept (None if there was none). Refuses while a dashboard server owns `db`."""
    src, db = Path(backup_file), Path(db)
    if not src.exists():
        raise UserError(f"no backup at {src}")
    if _server_alive(db):
        raise UserError(f"the dashboard server is using {db}; stop it, restore, then start it")
    try:
        with Store(src, read_only=True, user="restore", migrate=False) as check:
            version = max(migrations.applied(check.cursor()), default=0)
            tables = {t for (t,) in check.rows("SELECT table_name FROM duckdb_tables()")}
    except UserError as exc:
        raise UserError(f"{src} is not a usable backup: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise UserError(f"{src} is not a DuckDB database: {str(exc).splitlines()[0]}") from None
    if "customers" not in tables or version == 0:
        raise UserError(f"{src} is not a customer-dashboard backup")
    if version > migrations.LATEST:
        raise UserError(f"{src} was written by a newer customer-dashboard (schema {version})")
    kept = None
    if db.exists():
        # make sure the file is not open elsewhere (and is checkpointed) before moving it
        Store(db, user="restore", migrate=False).close()
        kept = db.with_name(f"{db.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(db, kept)
    tmp = db.with_name(f".{db.name}.restoring")
    shutil.copyfile(src, tmp)
    os.replace(tmp, db)
    return kept
