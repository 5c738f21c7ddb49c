"""The SQL box: one read-only SELECT over the customer tables, run in a sandbox.

Two walls, each enough on its own for what matters most:

1. The sandbox (`Sandbox`). Queries never run on the store's connection. They run on a
   DuckDB database of their own that holds a copy of `customers`, `contacts` and
   `usage_daily` and nothing else: no users, audit log, messages, batches, sequences or
   settings to reach. It is opened read-only with external access off (no files, no
   ATTACH, COPY, INSTALL or LOAD), its configuration locked (no SET), extensions neither
   installed nor loaded automatically, Python replacement scans off, a memory limit, a
   thread cap, and a time limit. So even a query that slipped past the check below can
   only read those three tables.
2. The check (`check_sql`). DuckDB parses the text (`json_serialize_sql`, which accepts only
   SELECT statements) and the parse tree is walked: a single SELECT whose tables are the
   customer tables, or WITH names used where that WITH is in scope (DuckDB resolves a CTE
   name out of scope to a real table or a file), no table functions, no SHOW, DESCRIBE or
   SUMMARIZE, no sequences, no functions reaching outside the database. It refuses with a
   message saying why, before anything runs.

Results are bounded: the grid gets at most `MAX_ROWS` rows, text cells cut to
`CELL_CHARS` characters and at most `DISPLAY_BYTES` in all; downloads stream Arrow batches
from the sandbox to a file (`export_sql`) without holding the result in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from .access import require
from .dialect import DUCKDB
from .errors import UserError
from .store import Store

#: The tables the SQL box may read.
TABLES = ("customers", "contacts", "usage_daily")
#: Rows shown at most; a download holds them all.
MAX_ROWS = 10_000
#: Seconds a query may spend in the database before it is stopped (writing a download's
#: file is not counted).
TIME_LIMIT = 30.0
#: Characters a query may have.
MAX_SQL_CHARS = 100_000
#: Characters a shown text cell holds at most; longer ones end in CUT.
CELL_CHARS = 1_000
CUT = "…"
#: Bytes the shown rows hold at most (Arrow's count); the rest is left to the download.
DISPLAY_BYTES = 32 * 2**20
#: Characters a shown row holds at most: wide results get shorter cells (50 at least), so
#: that a batch of 2,048 rows on its way to the grid stays under 64 MB even at its worst.
ROW_CHARS = 8_000
#: The sandbox's DuckDB limits. Sorts and joins beyond MEMORY_LIMIT spill to a private
#: directory up to SPILL_LIMIT; past that the query stops with a message.
MEMORY_LIMIT = "1GB"
SPILL_LIMIT = "4GB"
THREADS = 2

_OUTSIDE = re.compile(
    r"^(read_|pragma_|duckdb_|sniff_|parquet_|glob|getenv|current_setting|query|json_execute|"
    r"json_deserialize|which_secret|load|install|sql_auto|checkpoint|force_checkpoint|"
    r"enable_|disable_|set_|ducklake|iceberg|delta_|sqlite_|postgres_|mysql_|http|"
    r"nextval$|currval$|setval$|lastval$|setseed$|"
    # PostgreSQL's: files, server control, advisory locks (a query holding the lock that
    # sends take would stall them), large objects, other databases, queries run from text
    r"pg_(?!sleep$|typeof$)|lo_|dblink|\w*_to_xml|txid_|xml_)",
    re.IGNORECASE,
)
_SHOW = {"SHOW": "SHOW", "SHOW_SPECIAL": "SHOW", "DESCRIBE": "DESCRIBE", "SUMMARY": "SUMMARIZE"}
#: Result types the grid shows as they are; DECIMAL and HUGEINT become DOUBLE (as pandas
#: would make them), every other type becomes text, cut to CELL_CHARS.
_AS_IS = {"boolean", "tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint",
          "uinteger", "ubigint", "float", "double", "date", "timestamp",
          "timestamp with time zone"}  # fmt: skip
_AS_DOUBLE = {"decimal", "hugeint", "uhugeint"}
_AS_TIMESTAMP = {"timestamp_s", "timestamp_ms", "timestamp_ns"}


@dataclass
class SqlResult:
    """A SQL box answer: the rows to show and what was left out of them.

    `truncated`: there are more rows than `data` holds (the row cap or the byte budget);
    `notice`: a sentence saying what was cut, empty when nothing was.
    """

    data: pd.DataFrame
    sql: str
    truncated: bool = False
    notice: str = ""


# --- the check --------------------------------------------------------------------------


def check_sql(store: Store, sql: str) -> str:
    """The query, stripped, if it is one read-only SELECT over the customer tables; else a
    UserError saying why."""
    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        raise UserError("write a SELECT query first")
    if len(text) > MAX_SQL_CHARS:
        raise UserError(f"the query is longer than {MAX_SQL_CHARS:,} characters; shorten it")
    try:
        return _check(store, text)
    except RecursionError:
        raise UserError("the query is nested too deeply to be checked; simplify it") from None


def _check(store: Store, text: str) -> str:
    tree = _sandbox(store).parse(text)
    if tree.get("error"):
        message = tree.get("error_message", "")
        if "Only SELECT" in message:
            raise UserError("only a SELECT query can run here; nothing can be changed")
        raise UserError(f"the query does not parse: {message.splitlines()[0]}")
    if len(tree["statements"]) != 1:
        raise UserError("run one query at a time (there is more than one statement)")
    _walk(tree["statements"][0], frozenset())
    return text


def _fold(name: Any) -> str:
    """A name as DuckDB compares names: ASCII letters case-insensitive, nothing else folded
    (a wider fold here could take a real table for a WITH name)."""
    return str(name or "").translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


#: How deep a parse tree may go: deeper than any query a person writes, and well inside
#: Python's own recursion limit, so a query is refused the same way whatever that limit is.
MAX_TREE_DEPTH = 400


def _walk(node: Any, ctes: frozenset[str], depth: int = 0) -> None:
    """Check every table, function and subquery under `node`; `ctes` are the WITH names in
    scope there."""
    if depth > MAX_TREE_DEPTH:
        raise RecursionError
    depth += 1
    if isinstance(node, list):
        for item in node:
            _walk(item, ctes, depth)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("cte_map"), dict):
        ctes = _walk_with(node["cte_map"], ctes, depth)
    kind = node.get("type")
    if "class" not in node:  # a table reference or a query node, not an expression
        if kind == "TABLE_FUNCTION":
            name = _function_name(node.get("function"))
            raise UserError(f"table functions such as {name}() cannot be used here; "
                            f"read the tables {', '.join(TABLES)}")  # fmt: skip
        if kind == "SHOW_REF":
            what = _SHOW.get(str(node.get("show_type")), "SHOW")
            raise UserError(f"{what} cannot be used here; the tables are {', '.join(TABLES)}")
        if kind in ("COLUMN_DATA", "DELIM_GET", "BOUND_TABLE_REF"):
            raise UserError("this kind of query cannot run here")
        if kind == "BASE_TABLE":
            _check_table(node, ctes)
    elif node.get("class") == "FUNCTION":
        name = str(node.get("function_name", ""))
        if (
            _OUTSIDE.match(name)
            or str(node.get("schema") or "") not in ("", "main")
            or node.get("catalog")
        ):
            raise UserError(f"the function {name}() cannot be used here")
    for key, value in node.items():
        if key != "cte_map":
            _walk(value, ctes, depth)


def _walk_with(cte_map: dict, outer: frozenset[str], depth: int = 0) -> frozenset[str]:
    """Check a WITH's bodies, each seeing only the names defined before it (DuckDB reads a
    name defined later, or a non-recursive body's own name, as a real table), and a
    recursive body its own name only in its recursive part. Returns the names in scope
    for the rest of the query."""
    scope = outer
    for entry in cte_map.get("map", []):
        name = _fold(entry.get("key"))
        value = entry.get("value") or {}
        body = value.get("query_node") or {}
        if body.get("type") == "RECURSIVE_CTE_NODE" and _fold(body.get("cte_name")) == name:
            inner = scope
            if isinstance(body.get("cte_map"), dict):
                inner = _walk_with(body["cte_map"], inner, depth + 1)
            for key, part in body.items():
                if key != "cte_map":
                    _walk(part, inner | {name} if key == "right" else inner, depth + 1)
        else:
            _walk(body, scope, depth + 1)
        _walk({k: v for k, v in value.items() if k != "query_node"}, scope, depth + 1)
        scope = scope | {name}
    return scope


def _check_table(node: dict, ctes: frozenset[str]) -> None:
    name = str(node.get("table_name", ""))
    schema = str(node.get("schema_name", "") or "")
    catalog = str(node.get("catalog_name", "") or "")
    if catalog or _fold(schema) not in ("", "main"):
        allowed = False
    elif _fold(name) in TABLES:
        allowed = True
    else:
        allowed = not schema and _fold(name) in ctes
    if not allowed:
        shown = ".".join(x for x in (catalog, schema, name) if x)
        raise UserError(f"{shown!r} cannot be read here; the tables are {', '.join(TABLES)}")


def _function_name(expr: Any) -> str:
    if isinstance(expr, dict):
        return str(expr.get("function_name", "a function"))
    return "a function"


# --- running ----------------------------------------------------------------------------


def run_sql(store: Store, sql: str, *, limit: int | None = MAX_ROWS) -> SqlResult:
    """Check and run one read-only SELECT in the sandbox; at most `limit` rows (None: no row
    cap), text cells cut to CELL_CHARS characters and DISPLAY_BYTES in all, for showing.
    For every row and whole cells, write a file with `export_sql` or read `sql_batches`."""
    require(store, "read")
    text = check_sql(store, sql)
    with _sandbox(store).worker(store) as worker:
        names, types = worker.describe(f"SELECT * FROM (\n{text}\n) AS q")
        width = len(names)
        # many columns: shorter cells, so that a row stays within ROW_CHARS
        cell = max(50, min(CELL_CHARS, ROW_CHARS // width))
        exprs = [_shown(f"c{i}", kind, cell) for i, kind in enumerate(types)]
        query = (
            f"SELECT {', '.join(exprs)} FROM (\n{text}\n) AS q("
            f"{', '.join(f'c{i}' for i in range(width))})"
        )
        params: list[Any] = []
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit + 1)
        # DuckDB's own vector size: smaller batches cost it 5-10x the time
        batch_rows = 2048
        batches, held, over_budget = [], 0, False
        with contextlib.closing(worker.stream(query, params, batch_rows)) as stream:
            for batch in stream:
                if held + batch.nbytes > DISPLAY_BYTES:
                    fit = int(batch.num_rows * (DISPLAY_BYTES - held) / batch.nbytes)
                    batches.append(batch.slice(0, fit))
                    over_budget = True
                    break
                batches.append(batch)  # (LIMIT ends the stream: the worker stays ready)
                held += batch.nbytes
    table = pa.Table.from_batches(batches)
    truncated = over_budget or (limit is not None and table.num_rows > limit)
    if limit is not None:
        table = table.slice(0, limit)
    cut = False
    for i, kind in enumerate(types):
        if _shown_as_text(kind):
            column, was_cut = _cut(table.column(i), cell)
            if was_cut:
                table = table.set_column(i, table.field(i).name, column)
                cut = True
    frame = _frame(table, names)
    notes = []
    if over_budget:
        notes.append(f"the grid holds at most {DISPLAY_BYTES // 2**20} MB of rows")
    elif truncated:
        notes.append(f"the grid shows the first {limit:,} rows")
    if cut:
        notes.append(f"text longer than {cell:,} characters is cut ({CUT})")
    return SqlResult(frame, text, truncated, "; ".join(notes))


def sql_batches(store: Store, sql: str, *, size: int = 10_000) -> Iterator[pa.RecordBatch]:
    """Check one read-only SELECT and stream every row, whole, from the sandbox as Arrow
    record batches of `size` rows (the time limit counts only time spent waiting for the
    sandbox). Read it to the end or close it to end the query."""
    require(store, "read")
    return _stream(store, check_sql(store, sql), size)


def _stream(store: Store, text: str, size: int) -> Iterator[pa.RecordBatch]:
    with _sandbox(store).worker(store) as worker:
        with contextlib.closing(worker.stream(f"SELECT * FROM (\n{text}\n) AS q", [], size)) as it:
            yield from it


def _shown_as_text(kind: str) -> bool:
    return kind not in _AS_IS and kind not in _AS_DOUBLE and kind not in _AS_TIMESTAMP


def _shown(col: str, kind: str, cell: int) -> str:
    """The expression that shows column `col` of DuckDB type `kind` in the grid."""
    if kind in _AS_IS:
        return col
    if kind in _AS_DOUBLE:
        return f"CAST({col} AS DOUBLE)"
    if kind in _AS_TIMESTAMP:
        return f"CAST({col} AS TIMESTAMP)"
    # one character more than shown, so that `_cut` sees what was longer; the column is named
    # once: DuckDB would compute it again for every mention
    text = col if kind == "varchar" else f"CAST({col} AS VARCHAR)"
    return f"left({text}, {cell + 1})"


def _frame(table: pa.Table, names: list[str]) -> pd.DataFrame:
    """The rows as a DataFrame with the query's column names."""
    return table.rename_columns(_unique(names)).to_pandas(date_as_object=False)


def _unique(names: list[str]) -> list[str]:
    """Column names with repeats numbered ("n", "n (2)"): a grid or a file needs them apart."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        n = seen[name] = seen.get(name, 0) + 1
        unique.append(name if n == 1 else f"{name} ({n})")
    return unique


def _cut(column: pa.ChunkedArray, cell: int) -> tuple[pa.ChunkedArray, bool]:
    """Text longer than `cell` characters ended with CUT, and whether any was."""
    import pyarrow.compute as pc

    longer = pc.greater(pc.utf8_length(column), cell)
    if not pc.any(longer).as_py():
        return column, False
    short = pc.binary_join_element_wise(pc.utf8_slice_codeunits(column, 0, cell - 1), CUT, "")
    return pc.if_else(longer, short, column), True


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or str(column.dtype).startswith("str")


def _user_error(kind: str, message: str) -> UserError:
    """A worker's error as a message for the user."""
    first = (message.splitlines() or [kind])[0]
    if kind in ("OutOfMemoryException", "MemoryError") or "Out of Memory" in first:
        return UserError(
            f"the query needs more than the SQL box's {MEMORY_LIMIT} of memory and was "
            "stopped; narrow it (fewer rows or columns, a LIMIT, an aggregate)"
        )
    return UserError(f"the query failed: {first}")


# --- exporting --------------------------------------------------------------------------


def export_sql(store: Store, sql: str, out: str | Path, *, max_bytes: int | None = None) -> int:
    """Write every row of one read-only SELECT to `out` (.csv, .xlsx, .parquet or .json),
    streamed from the sandbox batch by batch; returns the rows written. Text a
    spreadsheet would run as a formula is neutralised in CSV and XLSX. `max_bytes`: stop
    with a message once the result holds more (the page's downloads travel in memory)."""
    from . import exports

    out = Path(out)
    fmt = exports.format_of(out)
    require(store, "export")
    text = check_sql(store, sql)
    out.parent.mkdir(parents=True, exist_ok=True)
    held = 0
    count = 0

    def counted(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        nonlocal held, count
        names = None
        for batch in batches:
            held += batch.nbytes
            count += batch.num_rows
            if max_bytes is not None and held > max_bytes:
                raise UserError(
                    f"the result is larger than {max_bytes // 2**20} MB, too large to "
                    "download here; narrow the query, or write it to a file with "
                    "`customer-dashboard sql QUERY --out FILE`"
                )
            if fmt == "xlsx" and count > exports.XLSX_MAX_ROWS:
                raise UserError(f"more than {exports.XLSX_MAX_ROWS:,} rows do not fit in an "
                                "XLSX sheet; download CSV instead")  # fmt: skip
            if names is None:
                names = _unique(batch.schema.names)
                if fmt in ("csv", "xlsx"):
                    names = [str(exports.neutralise(n)) for n in names]
            yield batch.rename_columns(names)

    stream = _stream(store, text, 10_000)
    try:
        batches = counted(stream)
        if fmt == "xlsx":
            exports._write_xlsx(batches, out)  # the writer `export` uses, batch by batch
        elif fmt == "parquet":
            _write_parquet(batches, out)
        else:
            _write_text(batches, out, fmt)
    except (ValueError, TypeError) as exc:  # a value the format cannot hold
        out.unlink(missing_ok=True)
        raise UserError(f"the result cannot be written as .{fmt}: {exc}") from None
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        stream.close()
    return count


def _write_parquet(batches: Iterator[pa.RecordBatch], out: Path) -> None:
    import pyarrow.parquet as pq

    writer = None
    try:
        for batch in batches:
            writer = writer or pq.ParquetWriter(out, batch.schema)
            writer.write_batch(batch)
    finally:
        if writer is not None:
            writer.close()


def _write_text(batches: Iterator[pa.RecordBatch], out: Path, fmt: str) -> None:
    """CSV (formulas neutralised) or a JSON array of records, a batch at a time."""
    from .exports import neutralise

    with out.open("w", newline="", encoding="utf-8") as f:
        header = True
        if fmt == "json":
            f.write("[")
        for batch in batches:
            frame = batch.to_pandas(date_as_object=False)
            if fmt == "csv":
                for col in frame.columns:
                    if _is_text(frame[col]):
                        frame[col] = frame[col].map(neutralise)
                frame.to_csv(f, index=False, header=header)
            elif len(frame):
                records = frame.to_json(orient="records", default_handler=str)[1:-1]
                f.write(records if header else "," + records)
            else:
                continue
            header = False
        if fmt == "json":
            f.write("]")


# --- the sandbox ------------------------------------------------------------------------

#: The worker script: run by path, so that it imports nothing of the dashboard.
WORKER = Path(__file__).with_name("sqlbox_worker.py")
#: Worker processes per Store at most (more queries wait for one), and the address space
#: each may map: MEMORY_LIMIT governs what DuckDB sorts, joins and keeps; the cap also
#: stops what that limit does not see (values computed a vector at a time).
WORKERS = 2
ADDRESS_SPACE = 3 * 2**30
#: Seconds a worker may take to start.
START_LIMIT = 60.0


def _sandbox(store: Store) -> Sandbox:
    if store.dialect is not DUCKDB:
        # PostgreSQL: the server's own walls, a read-only role (dashboard/sqlbox_pg.py)
        from .sqlbox_pg import PgSandbox

        return store.attached("sqlbox.sandbox", PgSandbox)
    return store.attached("sqlbox.sandbox", Sandbox)


class _Copy:
    """One copy of the tables: a read-only DuckDB file and its spill directory."""

    def __init__(self, path: Path, spill: Path, token: tuple):
        self.path = path
        self.spill = spill
        self.token = token
        self.workers: list[_Worker] = []  # started on this copy and not yet ended
        self.starting = 0  # workers being started on it: its files must stay
        self.retired = False

    def unused(self) -> bool:
        return not self.workers and not self.starting

    def remove(self) -> None:
        for part in (self.path, Path(f"{self.path}.wal")):
            part.unlink(missing_ok=True)
        shutil.rmtree(self.spill, ignore_errors=True)


class _Worker:
    """One worker process on one copy, serving one query at a time."""

    def __init__(self, copy: _Copy):
        from multiprocessing.connection import Connection

        self.copy = copy
        self.broken = False
        self.left = TIME_LIMIT
        settings = {
            "path": str(copy.path),
            # spill files only, in a directory of its own: DuckDB lets queries read it
            "config": {**_config(), "temp_directory": str(copy.spill),
                       "max_temp_directory_size": SPILL_LIMIT},
            "address_space": ADDRESS_SPACE if _can_cap() else None,
        }  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER), json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )  # fmt: skip
        self._requests = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self._answers = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        tag, _ = self._receive(START_LIMIT, starting=True)
        if tag != b"R":
            self.stop()
            raise UserError("the SQL box's worker did not start")

    def describe(self, sql: str) -> tuple[list[str], list[str]]:
        """The column names and DuckDB type names of a query, without running it."""
        self._send({"op": "describe", "sql": sql})
        tag, body = self._receive()
        _raise_if_error(tag, body)
        described = json.loads(body)
        return [str(n) for n in described["names"]], [str(t) for t in described["types"]]

    def stream(
        self, sql: str, params: list[Any], size: int
    ) -> Generator[pa.RecordBatch, None, None]:
        """A query's rows as Arrow batches of `size` rows. Closed before the end, it stops
        the worker, which would otherwise go on sending."""
        self._send({"op": "stream", "sql": sql, "params": params, "size": size})
        done = False
        try:
            tag, body = self._receive()
            _raise_if_error(tag, body)
            if tag == b"D":  # a statement ran, not a query: no rows
                done = True
                return
            try:
                schema = pa.ipc.read_schema(pa.py_buffer(body))
            except (pa.ArrowException, ValueError):
                self.stop()
                raise UserError("the SQL box's worker sent a broken answer") from None
            some = False
            while True:
                tag, body = self._receive()
                _raise_if_error(tag, body)
                if tag == b"D":
                    done = True
                    break
                try:
                    batch = pa.ipc.read_record_batch(pa.py_buffer(body), schema)
                    batch.validate(full=True)  # the worker's bytes are checked, not trusted
                except (pa.ArrowException, ValueError):
                    self.stop()
                    raise UserError("the SQL box's worker sent a broken answer") from None
                some = True
                yield batch
            if not some:  # one empty batch, so that readers still learn the columns
                yield pa.RecordBatch.from_pylist([], schema=schema)
        except UserError:
            # an error answer (E) leaves the worker ready for the next query
            done = done or not self.broken
            raise
        finally:
            if not done:
                self.stop()

    def _send(self, request: dict) -> None:
        try:
            self._requests.send_bytes(json.dumps(request).encode())
        except OSError:
            self.stop()
            raise UserError("the SQL box's worker stopped; run the query again") from None

    def _receive(
        self, limit: float | None = None, *, starting: bool = False
    ) -> tuple[bytes, bytes]:
        """The worker's next message. Only time spent waiting for one counts against the
        query's time limit; past it, the worker is killed."""
        wait = self.left if limit is None else limit
        started = time.monotonic()
        try:
            if wait <= 0 or not self._answers.poll(wait):
                self.stop()
                if starting:
                    raise UserError("the SQL box's worker did not start in time")
                raise UserError(f"the query ran longer than {TIME_LIMIT:.0f} s and was stopped")
            message = self._answers.recv_bytes()
        except (EOFError, OSError):
            self.stop()
            if starting:
                raise UserError("the SQL box's worker did not start") from None
            raise UserError(
                "the query stopped the SQL box's worker (most likely it needed more memory "
                "than the SQL box allows); narrow it (fewer rows or columns, a LIMIT, an "
                "aggregate)"
            ) from None
        finally:
            if limit is None:
                self.left -= time.monotonic() - started
        return message[:1], message[1:]

    def stop(self) -> None:
        """End the process at once (it may be in the middle of a query)."""
        self.broken = True
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for conn in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                conn.close()

    def quit(self) -> None:
        """End the idle process: closing its input ends its loop."""
        self.broken = True
        with contextlib.suppress(OSError):
            self._requests.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self._answers.close()


def _raise_if_error(tag: bytes, body: bytes) -> None:
    if tag == b"E":
        error = json.loads(body)
        raise _user_error(str(error.get("kind")), str(error.get("message")))


class Sandbox:
    """Where the SQL box's queries run: worker processes over a private copy of the tables.

    Why a copy in a DuckDB file of its own (measured at 1,000,000 demo customers on 2
    cores): the copy takes ~3 s and is made again only when the store's change token has
    moved; queries on it run about as fast as on the store, reading through a buffer pool
    bounded by MEMORY_LIMIT. An in-memory copy made through Arrow took as long and held
    ~850 MB for good; Parquet files behind views were as quick to write but up to 2.5x
    slower to query, and `allowed_directories` would open their whole directory to file
    functions. A read-only database file needs no allow-list: with external access off,
    DuckDB reaches only its own file and its spill directory, both private (0700).

    Why worker processes: in the server's process DuckDB's memory limit does not hold for
    values computed a vector at a time (3 MB strings over 2,048-row vectors took it to
    6 GB), and the sandbox would share an address space with the main database. A worker
    has its address space capped (a clean out-of-memory error instead), is killed when a
    query passes the time limit, and holds nothing of the server. One starts in ~0.5 s and
    then serves query after query until the tables change.

    One per Store (`Store.attached`), shared by its acting_as copies, closed with it.
    """

    def __init__(self):
        self._lock = threading.Condition()
        self._dir: Path | None = None
        self._current: _Copy | None = None
        self._idle: list[_Worker] = []
        self._busy = 0
        self._made = 0
        self._closed = False
        # for parsing only: no tables, nothing reachable
        self._parser = duckdb.connect(":memory:", config=_config())

    def parse(self, text: str) -> dict:
        """DuckDB's parse tree of `text` (json_serialize_sql), as a dict."""
        try:
            cur = self._parser.cursor()
        except duckdb.Error:
            raise UserError("the database is closed") from None
        try:
            raw = cur.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()[0]
        finally:
            cur.close()
        return json.loads(raw)

    @contextlib.contextmanager
    def worker(self, store: Store) -> Iterator[_Worker]:
        """A worker on an up-to-date copy of the tables, for one query."""
        token = store.change_token()
        with self._lock:
            while True:
                if self._closed:
                    raise UserError("the database is closed")
                if self._current is None or self._current.token != token:
                    fresh = self._copy(store, token)
                    if self._current is not None:
                        self._retire(self._current)
                    self._current = fresh
                copy = self._current
                idle = next((w for w in self._idle if w.copy is copy), None)
                if idle is not None or self._busy < WORKERS:
                    break
                self._lock.wait()
            if idle is not None:
                self._idle.remove(idle)
            else:
                copy.starting += 1
            self._busy += 1
        worker = idle
        try:
            if worker is None:
                try:
                    worker = _Worker(copy)
                finally:
                    with self._lock:
                        copy.starting -= 1
                        if worker is not None:
                            copy.workers.append(worker)
                        elif copy.retired and copy.unused():
                            copy.remove()
            worker.left = TIME_LIMIT
            yield worker
        finally:
            with self._lock:
                self._busy -= 1
                if worker is not None:
                    if worker.broken or copy.retired or self._closed:
                        self._end(worker)
                    else:
                        self._idle.append(worker)
                self._lock.notify_all()

    def _copy(self, store: Store, token: tuple) -> _Copy:
        """Copy the three tables, as of one moment, into a new private database file.
        `token` was read before the copy, so that a change during it shows as a newer
        token next time rather than being missed."""
        if self._dir is None:
            _sweep()
            self._dir = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))  # 0700
            # a store never closed still leaves no copy behind when the process ends
            weakref.finalize(self, shutil.rmtree, str(self._dir), True)
        self._made += 1
        copy = _Copy(
            self._dir / f"tables-{self._made}.duckdb", self._dir / f"spill-{self._made}", token
        )
        copy.spill.mkdir(mode=0o700)
        alias = f"sqlbox_{os.getpid()}_{id(self)}_{self._made}"
        source = _ident(store.database_name())
        try:
            with store.private_cursor() as cur:
                cur.execute(f"ATTACH {_literal(copy.path)} AS {alias} (READ_WRITE)")
                try:
                    cur.execute("BEGIN TRANSACTION")
                    for table in TABLES:
                        cur.execute(
                            f"CREATE TABLE {alias}.{table} AS SELECT * FROM {source}.main.{table}"
                        )
                    cur.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    raise
                finally:
                    with contextlib.suppress(duckdb.Error):
                        cur.execute(f"DETACH {alias}")
        except duckdb.Error as exc:
            copy.remove()
            raise UserError(
                f"the SQL box could not copy the tables: {str(exc).splitlines()[0]}"
            ) from None
        return copy

    def _retire(self, copy: _Copy) -> None:
        """No new queries on `copy`; its files go once its last worker has ended."""
        copy.retired = True
        for worker in [w for w in self._idle if w.copy is copy]:
            self._idle.remove(worker)
            self._end(worker)
        if copy.unused():
            copy.remove()

    def _end(self, worker: _Worker) -> None:
        if worker.broken:
            worker.stop()
        else:
            worker.quit()
        copy = worker.copy
        if worker in copy.workers:
            copy.workers.remove(worker)
        if copy.retired and copy.unused():
            copy.remove()
        if self._closed and self._busy == 0 and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def close(self) -> None:
        """End the workers (a query still running finishes first) and remove the copies."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._current is not None:
                self._retire(self._current)
                self._current = None
            for worker in list(self._idle):
                self._end(worker)
            self._idle.clear()
            if self._busy == 0 and self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
            with contextlib.suppress(duckdb.Error):
                self._parser.close()
            self._lock.notify_all()


_PREFIX = "customer-dashboard-sql-"


def _sweep() -> None:
    """Remove the copies left by processes that ended without cleaning up (killed, say):
    the folders of ours whose process is gone."""
    if os.name != "posix":  # (os.kill would end the process there, not look for it)
        return
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = folder.name[len(_PREFIX) :].split("-")[0]
        try:
            if not pid.isdigit() or folder.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # alive, or not ours to judge


def _can_cap() -> bool:
    try:
        import resource
    except ImportError:  # not on Windows: DuckDB's memory limit alone holds there
        return False
    return hasattr(resource, "RLIMIT_AS")


def _config() -> dict[str, Any]:
    """The sandbox's DuckDB settings; `lock_configuration` makes them final."""
    return {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "python_enable_replacements": False,
        "memory_limit": MEMORY_LIMIT,
        "threads": min(THREADS, os.cpu_count() or 1),
        "lock_configuration": True,
    }


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
