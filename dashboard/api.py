"""The HTTP API (`/api/v1`), served by `serve` beside the page, over the same service
functions as the page, the CLI and notebooks.

One route table (`ROUTES`) is both what requests are dispatched by and what the OpenAPI
document (`openapi()`) is written from, with the customer schemas from the field registry
(each type's `json_schema()`), so the two cannot drift apart.

Each request:
- is refused unless it comes from this machine, when the server runs without sign-in
  (`--auth`): without sign-in nobody has been told who may reach the server;
- needs `Authorization: Bearer <token>` (dashboard.tokens): the token acts as its user with
  that user's role today; the server's own local token (the endpoint file beside the
  database, for the CLI on this machine) acts as "cli", an admin;
- is counted against its token's rate (`RateLimit`): 429 with Retry-After past it;
- runs its database work on the API's small thread pool, never on the event loop, so the
  page's sessions keep being served while an import or an export runs;
- answers errors as application/problem+json (RFC 9457) with every problem (row, column,
  field, value, message) of a validation failure, and never a traceback.

Large results stream: an Arrow IPC stream is written record batch by record batch as
DuckDB produces them, each flushed before the next is read (the client's pace bounds the
server's memory); CSV and XLSX are written to a temporary file and sent in chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import ipaddress
import json
import logging
import math
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import tornado.iostream
import tornado.web

from . import audit, customers, messaging, tokens, users
from .access import ACTIONS, PermissionDenied, require
from .errors import ConflictError, DatabaseBusyError, StorageError, UserError, ValidationError
from .fields import CONTACT_FIELDS, CUSTOMER_FIELDS, ID_FIELD
from .query import View
from .store import Store
from .words import plural

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
ARROW = "application/vnd.apache.arrow.stream"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8", "xlsx": XLSX,
           "arrow": ARROW}  # fmt: skip
#: Threads for the API's database work. DuckDB releases the GIL while it works, so a few
#: let reads overlap a long import; writes queue on the store's write lock anyway.
WORKERS = 4
#: Record batches of an Arrow stream (rows each): ~10 MB with every customer column.
ARROW_BATCH = 50_000
CHUNK = 1 << 20
#: The local endpoint file's user (audit log "cli", like the CLI writing the file itself).
LOCAL_USER = "cli"


# --- errors ------------------------------------------------------------------------


class ApiError(UserError):
    """An answer other than 200 with a problem document; `extra` goes into it."""

    def __init__(self, status: int, message: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):  # fmt: skip
        super().__init__(message)
        self.status = status
        self.title = title
        self.headers = headers or {}
        self.extra = extra


class NotFound(ApiError):
    def __init__(self, message: str):
        super().__init__(404, message)


def problem_of(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, RFC 9457 problem document, headers) for an exception a request raised."""
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, ApiError):
        status, title, headers, extra = exc.status, exc.title, exc.headers, exc.extra
    elif isinstance(exc, ValidationError):
        status, title = 422, "Invalid input; nothing was written"
        extra = {"problems": [p.to_dict() for p in exc.problems]}
    elif isinstance(exc, PermissionDenied):
        status, title = 403, "Not allowed"
    elif isinstance(exc, ConflictError):
        status, title = 409, "Conflict; nothing was written"
        extra = {"changes": _plain(exc.changes), "fields": exc.fields}
    elif isinstance(exc, DatabaseBusyError | StorageError):
        status, title = 503, "The database cannot be written"
    elif isinstance(exc, UserError):
        status, title = 400, "Bad request"
    else:
        status, title = 500, "Internal error"
    # a bad view's message for Python ends with `dashboard.field_list()`: no use over HTTP
    detail = (getattr(exc, "for_people", None) or str(exc) if isinstance(exc, UserError)
              else "the server failed; see its log")  # fmt: skip
    doc = {"type": "about:blank", "title": title or _TITLES.get(status, "Error"),
           "status": status, "detail": detail, **extra}  # fmt: skip
    return status, doc, headers


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 412: "Precondition failed",
           413: "Too large", 415: "Unsupported media type", 422: "Invalid input",
           428: "Precondition required", 429: "Too many requests"}  # fmt: skip


# --- JSON --------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays (tags) and scalars
        return value.tolist()
    if isinstance(value, set | tuple):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def _plain(value: Any) -> Any:
    """NaN, NaT and pandas' missing values as None, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and type(value).__name__ in ("NaTType", "NAType"):
        return None
    if hasattr(value, "isoformat") and hasattr(value, "to_pydatetime"):  # pd.Timestamp
        return value.isoformat()
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _plain(value.tolist())
    return value


def dumps(value: Any) -> bytes:
    """JSON bytes: exact decimals as strings, times ISO 8601, missing values null."""
    return json.dumps(_plain(value), default=_default, ensure_ascii=False).encode("utf-8")


def records(frame: Any, *, customers: bool = False) -> list[dict[str, Any]]:
    """A DataFrame as JSON-ready records: exact decimals (money, rates: the engine reads
    them as floats) as decimal strings at their field's scale, as the CLI's --json.

    `customers`: the frame's rows are customers (a list, a view's rows), so each registry
    field's column is answered as its type's `json_value`, as one customer is
    (`customer_json`): list and get agree."""
    from .cli import _decimal_scales, _records
    from .fields import COLUMNS

    if customers:
        kinds = {c: COLUMNS[c].type for c in frame.columns if c in COLUMNS}
        out = []
        for row in frame.to_dict("records"):
            out.append({str(k): kinds[k].json_value(v) if k in kinds else _plain(v)
                        for k, v in row.items()})  # fmt: skip
        return out
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == object:  # lists (tags) arrive as numpy arrays
            frame[col] = frame[col].map(lambda v: v.tolist() if hasattr(v, "ndim") else v)
    return [_plain(r) for r in _records(frame, _decimal_scales(frame.columns))]


def customer_json(record: dict[str, Any]) -> dict[str, Any]:
    """One customer (`customers.get_customer`) as the API answers it: each field as its
    type's `json_value`, contacts likewise (the same values as a list's rows)."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name == "contacts":
            out[name] = [{k: (CONTACT_TYPES[k].json_value(v) if k in CONTACT_TYPES
                              else _plain(v)) for k, v in c.items()} for c in value]  # fmt: skip
        elif name in CUSTOMER_TYPES:
            out[name] = CUSTOMER_TYPES[name].json_value(value)
        else:  # row_version, batch_id
            out[name] = _plain(value)
    return out


CUSTOMER_TYPES = {f.name: f.type for f in CUSTOMER_FIELDS}
CONTACT_TYPES = {f.name: f.type for f in CONTACT_FIELDS}


# --- requests and answers ----------------------------------------------------------


@dataclass
class Call:
    """One request as a route's function sees it."""

    store: Store  # acting as the token's user
    path: dict[str, str]
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    files: dict[str, list[Any]]
    form: dict[str, list[str]]
    api: Api

    def arg(self, name: str, default: Any = None) -> Any:
        """A query (or form) parameter's last value."""
        got = self.query.get(name) or self.form.get(name)
        return got[-1] if got else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name) or self.form.get(name) or [])

    def flag(self, name: str) -> bool:
        value = self.arg(name)
        if isinstance(value, bool):
            return value
        return str(value or "").strip().lower() in ("1", "true", "yes", "on")

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, f"{name}={value!r}: expected a whole number") from None

    def json(self) -> dict[str, Any]:
        """The JSON object the request sent (an empty body is {})."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        return data


@dataclass
class Reply:
    """An answer: JSON (`data`), or a stream of byte chunks made on a worker thread."""

    data: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class Param:
    """A query parameter, as the OpenAPI document lists it."""

    name: str
    schema: dict[str, Any]
    doc: str
    many: bool = False


@dataclass(frozen=True)
class Route:
    """One operation: dispatched by method and path, documented from the same entry."""

    method: str
    path: str  # "/customers/{id}": {id} is a number, other {names} one path segment
    action: str  # the access action (and so the least role) it needs
    summary: str
    run: Callable[[Call], Reply]
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # request body schema (JSON), or a multipart one
    multipart: bool = False
    answer: dict[str, Any] | None = None  # the 200 answer's JSON schema
    formats: tuple[str, ...] = ("json",)
    public: bool = False  # answered without a token (the OpenAPI document)
    ok: int = 200

    @property
    def pattern(self) -> re.Pattern:
        def group(m: re.Match) -> str:
            name = m.group(1)
            return f"(?P<{name}>{'[0-9]+' if name == 'id' else '[^/]+'})"

        return re.compile("^" + re.sub(r"\{(\w+)\}", group, self.path) + "$")


# --- views from requests -----------------------------------------------------------


VIEW_PARAMS = (
    Param(
        "view",
        {"type": "string"},
        "a whole view as JSON (as the page's Code dialog shows it); the parameters below change it",
    ),  # fmt: skip
    Param(
        "where",
        {"type": "string"},
        "FIELD=VALUE filters as the CLI's --where "
        "(=, !=, <, <=, >, >=, ~ contains); repeat for more",
        many=True,
    ),  # fmt: skip
    Param("search", {"type": "string"}, "quick search (names, addresses, contacts)"),
    Param("status", {"type": "string"}, "All, Active, Inactive or Pending Approval"),
    Param("sort", {"type": "string"}, "keys, comma-separated; -credit sorts descending"),
    Param("columns", {"type": "string"}, "fields to answer with, comma-separated"),
    Param("page", {"type": "integer", "minimum": 1}, "1-based page"),
    Param("page_size", {"type": "integer", "minimum": 1, "maximum": 10000}, "rows a page"),
)


def view_of(call: Call, base: dict[str, Any] | None = None) -> View:
    """The view a request asks for: `view` JSON (or `base`), changed by the other view
    parameters; checked like any view from outside."""
    from .cli import parse_where

    data = dict(base or {})
    if call.arg("view"):
        try:
            given = json.loads(call.arg("view"))
        except ValueError as exc:
            raise ApiError(400, f"view: not JSON ({exc})") from None
        if not isinstance(given, dict):
            raise ApiError(400, "view: expected a JSON object")
        data.update(given)
    if call.args("where"):
        data["filters"] = [*data.get("filters", []), *parse_where(call.args("where"))]
    for name in ("search", "status"):
        if call.arg(name) is not None:
            data[name] = call.arg(name)
    for name in ("sort", "columns"):
        if call.arg(name):
            data[name] = [s.strip() for s in call.arg(name).split(",") if s.strip()]
    for name in ("page", "page_size"):
        if call.arg(name) is not None:
            data[name] = call.integer(name)
    return View.from_dict(data)


def target_of(data: dict[str, Any]) -> customers.Target:
    """The customers a write body names: "ids", "where" (CLI syntax) or "view"."""
    from .cli import parse_where

    given = [k for k in ("ids", "where", "view") if data.get(k)]
    if len(given) != 1:
        raise ApiError(400, "name the customers with one of: ids, where, view")
    if given[0] == "ids":
        ids = data["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise ApiError(400, "ids: expected a list of customer ids")
        return ids
    if given[0] == "where":
        where = data["where"]
        return View.from_dict({"filters": parse_where([where] if isinstance(where, str)
                                                      else where)})  # fmt: skip
    if not isinstance(data["view"], dict):
        raise ApiError(400, "view: expected a JSON object")
    return View.from_dict(data["view"])


# --- customers ---------------------------------------------------------------------


def _exists(store: Store, customer_id: int) -> None:
    if not store.rows(f'SELECT 1 FROM customers WHERE "{ID_FIELD}" = ?', [customer_id]):
        raise NotFound(f"there is no customer with id {customer_id}")


def _etag(record: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{record["row_version"]}"'}


def list_customers(call: Call) -> Reply:
    from .query import run

    view = view_of(call)
    if view.mode != "rows":
        raise ApiError(400, "customers are rows: use /views/run for groups and pivots")
    result = run(call.store, view, key=True)
    return Reply({"total": int(result.total), "page": view.page, "page_size": view.page_size,
                  "rows": records(result.data, customers=True)})  # fmt: skip


def get_one(call: Call) -> Reply:
    cid = int(call.path["id"])
    _exists(call.store, cid)
    record = customers.get_customer(call.store, cid)
    return Reply(customer_json({ID_FIELD: cid, **record}), headers=_etag(record))


def create(call: Call) -> Reply:
    data = call.json()
    contacts = data.pop("contacts", None) or []
    if not isinstance(contacts, list):
        raise ApiError(400, "contacts: expected a list of objects")
    batch = customers.add_customer(call.store, data, contacts)
    cid = batch.ids[0]
    record = customers.get_customer(call.store, cid)
    headers = {**_etag(record), "Location": f"{PREFIX}/customers/{cid}",
               "X-Batch-Id": batch.batch_id}  # fmt: skip
    return Reply(customer_json({ID_FIELD: cid, **record, "batch_id": batch.batch_id}), 201,
                 headers)  # fmt: skip


def _if_match(call: Call) -> int:
    raw = call.headers.get("If-Match")
    if not raw:
        raise ApiError(428, "send If-Match with the customer's version (its ETag, or "
                       "row_version from GET), so that nobody's change is overwritten")  # fmt: skip
    found = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', raw)
    if not found:
        raise ApiError(400, f'If-Match {raw!r}: expected the customer\'s version, e.g. "3"')
    return int(found.group(1))


def update(call: Call) -> Reply:
    cid = int(call.path["id"])
    _exists(call.store, cid)
    version = _if_match(call)
    data = call.json()
    contacts = data.pop("contacts", None)
    try:
        batch = customers.update_customer(call.store, cid, data, contacts,
                                          expected_version=version)  # fmt: skip
    except ConflictError as exc:
        current = customers.get_customer(call.store, cid)
        if not exc.changes:  # lost the race inside the transaction: say what the winner did
            exc = customers._conflict(call.store, cid, version, current)  # noqa: SLF001
        raise ApiError(412, str(exc), title="The customer changed since that version",
                       headers=_etag(current), changes=_plain(exc.changes), fields=exc.fields,
                       current_version=current["row_version"]) from None  # fmt: skip
    record = customers.get_customer(call.store, cid)
    return Reply(customer_json({ID_FIELD: cid, **record, "batch_id": batch.batch_id or None}),
                 headers={**_etag(record), "X-Batch-Id": batch.batch_id})  # fmt: skip


def _deleted(batch: audit.Batch) -> Reply:
    return Reply({"deleted": batch.count, "batch_id": batch.batch_id or None, "ids": batch.ids})


def delete_one(call: Call) -> Reply:
    cid = int(call.path["id"])
    _exists(call.store, cid)
    return _deleted(customers.delete_customers(call.store, [cid]))


def delete_many(call: Call) -> Reply:
    require(call.store, "delete")
    data = call.json()
    if not data:
        view = view_of(call)
        if not (view.filters or view.search or view.status != "All"):
            raise ApiError(400, "name the customers to delete with where, search, status or "
                           "view (a filter), or POST ids")  # fmt: skip
        target: customers.Target = view
    else:
        target = target_of(data)
    confirm = call.integer("confirm", data.get("confirm") if data else None)
    n, names = customers.preview_targets(call.store, target)
    if n == 0:
        return Reply({"deleted": 0, "batch_id": None, "ids": []})
    if confirm != n:
        shown = ", ".join(names) + (" ..." if n > len(names) else "")
        raise ApiError(409, f"would delete {plural(n, 'customer')} ({shown}); repeat with confirm={n}",
                       title="Confirm the count", count=n, first=names)  # fmt: skip
    return _deleted(customers.delete_customers(call.store, target))


def history(call: Call) -> Reply:
    cid = int(call.path["id"])
    return Reply({"customer_id": cid, "changes": records(audit.history(call.store, cid))})


# --- views -------------------------------------------------------------------------


def _format(call: Call, route_formats: tuple[str, ...]) -> str:
    fmt = call.arg("format")
    if not fmt:
        accept = call.headers.get("Accept", "")
        fmt = next((k for k, v in FORMATS.items() if v.split(";")[0] in accept), "json")
    if fmt not in route_formats:
        raise ApiError(400, f"format={fmt!r}: one of {', '.join(route_formats)}")
    return fmt


def run_view(call: Call, view: View | None = None) -> Reply:
    from .query import run

    view = view or view_of(call, call.json().get("view") if call.body.strip() else None)
    fmt = _format(call, ("json", "csv", "xlsx", "arrow"))
    if fmt == "json":
        result = run(call.store, view, key=True)
        out = {"mode": view.mode, "total": int(result.total), "page": view.page,
               "page_size": view.page_size, "labels": result.labels,
               "rows": records(result.data, customers=view.mode == "rows"),
               "view": view.to_dict()}  # fmt: skip
        if result.totals is not None:
            out["totals"] = records(result.totals)
        if result.units:  # money's currency: "EUR", or "per currency" (the totals': EUR)
            out["units"] = result.units
            out["total_units"] = result.total_units
        return Reply(out)
    if fmt == "arrow":
        return Reply(stream=_arrow_stream(call.store, view), content_type=ARROW)
    return Reply(stream=_file_stream(call.store, view, fmt), content_type=FORMATS[fmt],
                 headers={"Content-Disposition": f'attachment; filename="customers.{fmt}"'})  # fmt: skip


class _Chunks:
    """A write-only file the Arrow writer writes into; `take()` empties it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _arrow_stream(store: Store, view: View) -> Iterator[bytes]:
    """The view's whole result as an Arrow IPC stream, one record batch at a time."""
    import pyarrow as pa

    from .query import compile_rows, to_arrow

    if view.mode == "rows":
        q = compile_rows(view, paged=False)
        source: Iterator[Any] = store.batches(q.sql, q.params, size=ARROW_BATCH)
    else:  # groups and pivots are small: made whole, sent in one batch
        source = iter(to_arrow(store, view).to_batches())
    chunks = _Chunks()
    sink = pa.PythonFile(chunks, mode="w")
    writer = None
    try:
        for batch in source:
            if writer is None:
                writer = pa.ipc.new_stream(sink, batch.schema)
            writer.write_batch(batch)
            yield chunks.take()
        if writer is None:  # no rows: the schema alone
            empty = to_arrow(store, view.copy(page=1, page_size=1), paged=True).schema
            writer = pa.ipc.new_stream(sink, empty)
        writer.close()
        yield chunks.take()
    finally:
        close = getattr(source, "close", None)
        if close:
            close()


def _file_stream(store: Store, view: View, fmt: str) -> Iterator[bytes]:
    """A CSV or XLSX of the view (rows as the export, groups and pivots as the report)
    written to a temporary file by the same functions as the page's downloads, then sent
    in chunks."""
    from .exports import export_view
    from .reports import pivot_report

    folder = Path(tempfile.mkdtemp(prefix="dashboard-api-"))
    try:
        out = folder / f"customers.{fmt}"
        if view.mode == "rows":
            export_view(store, view.copy(page=1), out)
        else:
            pivot_report(store, view.copy(page=1), out)
        with out.open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def saved_views(call: Call) -> Reply:
    from .views import saved_views as names

    return Reply({"views": names(call.store)})


def run_saved(call: Call) -> Reply:
    from .views import load_view

    base = load_view(call.store, call.path["name"]).to_dict()
    return run_view(call, view_of(call, base))


# --- bulk edit, import, batches, undo ----------------------------------------------


def bulk_edit(call: Call) -> Reply:
    data = call.json()
    changes = data.get("set")
    if not isinstance(changes, dict) or not changes:
        raise ApiError(400, 'set: the changes as {"field": "value"} ("+5", "*1.2", "+=vip")')
    dry_run = bool(data.get("dry_run"))
    expect = data.get("expect")
    batch = customers.bulk_edit(call.store, target_of(data), {k: str(v) if not isinstance(
        v, str) else v for k, v in changes.items()}, dry_run=dry_run, expect=expect)  # fmt: skip
    summary = batch.details["summary"]
    return Reply({"dry_run": dry_run, "written": bool(batch.batch_id),
                  "batch_id": batch.batch_id or None, "count": batch.count,
                  **summary.to_dict(), "lines": summary.lines(first=10)})  # fmt: skip


IMPORT_PARAMS = (
    Param("sheet", {"type": "string"}, "sheet name (default: the first)"),
    Param("header_row", {"type": "integer"}, "1-based row of the column titles"),
    Param("encoding", {"type": "string"}, "CSV encoding (default: detected)"),
    Param("delimiter", {"type": "string"}, "CSV delimiter (default: detected)"),
    Param("decimal", {"type": "string", "enum": [",", "."]}, "decimal mark of numbers as text"),
    Param("map", {"type": "string"}, '"Header=field" (Header= ignores it); repeat', many=True),
    Param("set", {"type": "string"}, "field=value for every row (tags+=x); repeat", many=True),
    Param(
        "on_duplicate",
        {"type": "string", "enum": ["error", "skip", "update"]},
        "a row whose customer exists: a problem, left out, or updated",
    ),  # fmt: skip
    Param("valid_only", {"type": "boolean"}, "import the valid rows, leave the rest"),
    Param("dry_run", {"type": "boolean"}, "report only; write nothing"),
)


def import_options(call: Call) -> dict[str, Any]:
    """The import's options from a request, as `run_import` takes them."""
    return {"sheet": call.arg("sheet"), "header_row": call.integer("header_row"),
            "encoding": call.arg("encoding"), "delimiter": call.arg("delimiter"),
            "decimal": call.arg("decimal"), "map": call.args("map"), "set": call.args("set"),
            "on_duplicate": call.arg("on_duplicate") or "error",
            "valid_only": call.flag("valid_only"), "dry_run": call.flag("dry_run")}  # fmt: skip


def run_import(store: Store, source: Any, options: dict[str, Any],
               progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Read, check and (unless a dry run, or blocked by problems) write an import; the
    report the CLI's `import --json` prints, plus `blocked`. Shared by the CLI and the API."""
    from . import importer

    mapping_override: dict[str, str | None] = {}
    for item in options.get("map") or []:
        header, sep, target = item.rpartition("=")
        if not sep or not header:
            raise UserError(f'--map {item!r}: write it as "Header=field" (or Header= to ignore)')
        mapping_override[header] = target.strip() or None
    set_values = {}
    for item in options.get("set") or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: write it as field=value (tags+=x adds a tag)")
        if name.endswith("+"):
            name, value = name[:-1], "+=" + value
        set_values[name.strip()] = value
    on_duplicate = options.get("on_duplicate") or "error"
    if on_duplicate not in ("error", "skip", "update"):
        raise UserError(f"on_duplicate {on_duplicate!r}: one of error, skip, update")
    table = importer.read_table(source, sheet=options.get("sheet"),
                                header_row=options.get("header_row"),
                                encoding=options.get("encoding"),
                                delimiter=options.get("delimiter"))  # fmt: skip
    mapping = importer.guess_mapping(table.headers)
    mapping.update(mapping_override)
    plan = importer.Plan(mapping, set_values, on_duplicate, options.get("decimal"))
    read = {"mapping": mapping, "sheet": table.sheet, "header_row": table.header_row,
            "encoding": table.encoding, "delimiter": table.delimiter}  # fmt: skip
    try:
        preview = importer.prepare(store, table, plan)
    except ValidationError as exc:
        return {"written": False, "counts": {}, "problems": [p.to_dict() for p in exc.problems],
                "warnings": [w.to_dict() for w in table.warnings], "blocked": True,
                "invalid_plan": True, "batch_id": None, **read}  # fmt: skip
    report = preview.report()
    valid_only = bool(options.get("valid_only"))
    blocked = bool(preview.problems) and not valid_only
    batch = None
    if not options.get("dry_run") and not blocked:
        batch = importer.commit(store, preview, valid_only=valid_only, progress=progress)
    written = batch is not None and bool(batch.batch_id)
    report.update(written=written, batch_id=batch.batch_id if batch else None,
                  blocked=blocked, **read)  # fmt: skip
    return report


def import_upload(call: Call) -> Reply:
    require(call.store, "read" if call.flag("dry_run") else "import")
    uploads = call.files.get("file") or []
    if uploads:
        data = uploads[0]["body"]
    elif call.body and not call.files and not call.form:
        data = call.body  # the file itself as the body
    else:
        raise ApiError(400, "send the file as the multipart field 'file' (or as the body)")
    from .importer import MAX_BYTES

    if len(data) > MAX_BYTES:
        raise ApiError(413, f"the file has {len(data):,} bytes; at most {MAX_BYTES:,} are read")
    # one import at a time: reading and checking a sheet holds its rows as Python objects
    # (a 100,000-row sheet grew the server by ~370 MiB), so the server's memory is bounded
    # by the largest import, not by how many are sent at once
    if not call.api.importing.acquire(blocking=False):
        raise ApiError(503, "another import is running on this server; send this one when "
                       "it has finished", title="Another import is running",
                       headers={"Retry-After": "10"})  # fmt: skip
    try:
        return Reply(run_import(call.store, bytes(data), import_options(call)))
    finally:
        call.api.importing.release()


def list_batches(call: Call) -> Reply:
    limit = call.integer("limit", 20)
    return Reply({"batches": records(audit.batches(call.store, max(1, min(limit or 20, 1000))))})


def get_batch(call: Call) -> Reply:
    found = audit.batch(call.store, call.path["batch"])
    if found is None:
        raise NotFound(f"there is no batch {call.path['batch']}")
    return Reply(_plain(found))


def undo_batch(call: Call) -> Reply:
    from .undo import undo

    if audit.batch(call.store, call.path["batch"]) is None:
        raise NotFound(f"there is no batch {call.path['batch']}")
    batch = undo(call.store, call.path["batch"])
    return Reply({"undone": call.path["batch"], "restored": batch.count,
                  "batch_id": batch.batch_id, "effect": batch.details.get("effect")})  # fmt: skip


# --- messages, settings, users, tokens ---------------------------------------------


def _settings(call: Call) -> Any:
    from .settings import Settings

    # the file the server was given, else the database's own
    return Settings.load(call.api.settings_path or call.store.settings_file())


def send(call: Call) -> Reply:
    require(call.store, "send")
    data = call.json()
    channel, body = data.get("channel"), data.get("body")
    if channel not in ("email", "sms") or not isinstance(body, str):
        raise ApiError(400, 'give "channel" (email or sms) and "body" (the message text)')
    dry_run = bool(data.get("dry_run"))
    settings = _settings(call) if not dry_run or call.api.settings_path else None
    batch_id, plan, counts = messaging.send(call.store, target_of(data), channel, body,
                                            data.get("subject"), settings=settings,
                                            dry_run=dry_run)  # fmt: skip
    preview = None
    if plan.preview:
        preview = {"recipient": plan.preview.recipient, "subject": plan.preview.subject,
                   "body": plan.preview.body}  # fmt: skip
    return Reply({"batch_id": batch_id, "counts": counts, "warnings": plan.warnings,
                  "summary": plan.summary(), "preview": preview, "dry_run": dry_run,
                  "skipped": [{"customer_id": c, "name": n, "reason": r}
                              for c, n, r in plan.skipped]})  # fmt: skip


def resume_send(call: Call) -> Reply:
    require(call.store, "send")
    counts = messaging.resume(call.store, call.path["batch"], _settings(call))
    return Reply({"batch_id": call.path["batch"], "counts": counts})


def discard_send(call: Call) -> Reply:
    require(call.store, "send")
    return Reply({"batch_id": call.path["batch"],
                  "counts": messaging.discard(call.store, call.path["batch"])})  # fmt: skip


def message_log(call: Call) -> Reply:
    frame = messaging.message_log(call.store, batch_id=call.arg("batch_id"),
                                  customer_id=call.integer("customer_id"),
                                  status=call.arg("status"),
                                  limit=max(1, min(call.integer("limit", 500) or 500, 10000)))  # fmt: skip
    return Reply({"messages": records(frame)})


def read_settings(call: Call) -> Reply:
    require(call.store, "settings")
    return Reply({"settings": _settings(call).as_dict()})


def list_users(call: Call) -> Reply:
    require(call.store, "users")
    return Reply({"users": [{"name": u.name, "role": u.role}
                            for u in users.list_users(call.store)]})  # fmt: skip


def add_user(call: Call) -> Reply:
    data = call.json()
    user = users.add_user(call.store, str(data.get("name") or ""), str(data.get("role") or ""),
                          str(data.get("password") or ""))  # fmt: skip
    return Reply({"name": user.name, "role": user.role}, 201)


def set_password(call: Call) -> Reply:
    users.set_password(call.store, call.path["name"], str(call.json().get("password") or ""))
    return Reply({"name": call.path["name"]})


def set_role(call: Call) -> Reply:
    users.set_role(call.store, call.path["name"], str(call.json().get("role") or ""))
    return Reply({"name": call.path["name"], "role": call.json().get("role")})


def remove_user(call: Call) -> Reply:
    users.remove_user(call.store, call.path["name"])
    return Reply({"removed": call.path["name"]})


def list_tokens(call: Call) -> Reply:
    return Reply({"tokens": [t.to_dict() for t in tokens.list_tokens(call.store,
                                                                     user=call.arg("user"))]})  # fmt: skip


def add_token(call: Call) -> Reply:
    data = call.json()
    token, secret = tokens.add_token(call.store, str(data.get("user") or ""),
                                     label=data.get("label"), expires=data.get("expires", "90d"))  # fmt: skip
    return Reply({**token.to_dict(), "token": secret}, 201)


def revoke_token(call: Call) -> Reply:
    return Reply(tokens.revoke_token(call.store, call.path["token"]).to_dict())


def openapi_doc(call: Call) -> Reply:
    return Reply(openapi())


# --- the route table ---------------------------------------------------------------

_REF = "#/components/schemas/"
_TARGET = {"ids": {"type": "array", "items": {"type": "integer"}},
           "where": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                     "description": "FIELD=VALUE filters, as the CLI's --where"},
           "view": {"$ref": _REF + "View"}}  # fmt: skip
_LIST = Param("limit", {"type": "integer", "minimum": 1}, "at most this many")

ROUTES: tuple[Route, ...] = (
    Route(
        "GET", "/openapi.json", "read", "This document (OpenAPI 3.1)", openapi_doc, public=True
    ),  # fmt: skip
    Route(
        "GET",
        "/customers",
        "read",
        "List customers: filters, search, sort, paging",
        list_customers,
        VIEW_PARAMS,
        answer={"$ref": _REF + "CustomerPage"},
    ),  # fmt: skip
    Route(
        "POST",
        "/customers",
        "add",
        "Create a customer (and its contacts)",
        create,
        body={"$ref": _REF + "CustomerInput"},
        answer={"$ref": _REF + "Customer"},
        ok=201,
    ),  # fmt: skip
    Route(
        "DELETE",
        "/customers",
        "delete",
        "Delete the customers a filter matches; confirm=N must equal their count",
        delete_many,
        (
            *VIEW_PARAMS[:4],
            Param("confirm", {"type": "integer"}, "the number of customers you expect to delete"),
        ),  # fmt: skip
        answer={"$ref": _REF + "Deleted"},
    ),  # fmt: skip
    Route(
        "GET",
        "/customers/{id}",
        "read",
        "One customer with its contacts (ETag: version)",
        get_one,
        answer={"$ref": _REF + "Customer"},
    ),  # fmt: skip
    Route(
        "PATCH",
        "/customers/{id}",
        "edit",
        "Change a customer; If-Match: its version (412 with what changed, if it moved on)",
        update,
        body={"$ref": _REF + "CustomerInput"},
        answer={"$ref": _REF + "Customer"},
    ),  # fmt: skip
    Route(
        "DELETE",
        "/customers/{id}",
        "delete",
        "Delete one customer",
        delete_one,
        answer={"$ref": _REF + "Deleted"},
    ),  # fmt: skip
    Route(
        "GET",
        "/customers/{id}/history",
        "read",
        "A customer's changes, newest first",
        history,
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "GET",
        "/views/run",
        "export",
        "Run a view (rows, groups, pivot, usage) as JSON, CSV, XLSX or an Arrow stream",
        run_view,
        (
            *VIEW_PARAMS,
            Param(
                "format",
                {"type": "string", "enum": list(FORMATS)},
                "json (one page), or the whole result as csv, xlsx, arrow",
            ),
        ),  # fmt: skip
        formats=tuple(FORMATS),
    ),  # fmt: skip
    Route(
        "POST",
        "/views/run",
        "export",
        'Run a view given as JSON ({"view": {...}})',
        run_view,
        (Param("format", {"type": "string", "enum": list(FORMATS)}, "as GET"),),
        body={"type": "object", "properties": {"view": {"$ref": _REF + "View"}}},
        formats=tuple(FORMATS),
    ),  # fmt: skip
    Route("GET", "/views", "read", "Saved views' names", saved_views, answer={"type": "object"}),
    Route(
        "GET",
        "/views/{name}",
        "export",
        "Run a saved view (same formats as /views/run)",
        run_saved,
        (
            *VIEW_PARAMS[1:],
            Param("format", {"type": "string", "enum": list(FORMATS)}, "as /views/run"),
        ),
        formats=tuple(FORMATS),
    ),  # fmt: skip
    Route(
        "POST",
        "/bulk-edit",
        "bulk_edit",
        "Bulk edit the named customers (dry_run: preview)",
        bulk_edit,
        body={
            "type": "object",
            "required": ["set"],
            "properties": {
                **_TARGET,
                "set": {"type": "object", "additionalProperties": {}},
                "dry_run": {"type": "boolean"},
                "expect": {"type": "integer"},
            },
        },
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "POST",
        "/import",
        "read",
        "Import a spreadsheet (multipart field 'file'); the CLI's import report. A dry run "
        "needs the viewer role, writing the editor role",
        import_upload,
        IMPORT_PARAMS,
        multipart=True,
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "GET",
        "/batches",
        "read",
        "Recent batches, newest first",
        list_batches,
        (_LIST,),
        answer={"type": "object"},
    ),  # fmt: skip
    Route("GET", "/batches/{batch}", "read", "One batch", get_batch, answer={"type": "object"}),
    Route(
        "POST",
        "/batches/{batch}/undo",
        "undo",
        "Undo a batch",
        undo_batch,
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "POST",
        "/send",
        "send",
        "Email or SMS the named customers (dry_run: record only)",
        send,
        body={
            "type": "object",
            "required": ["channel", "body"],
            "properties": {
                **_TARGET,
                "channel": {"type": "string", "enum": ["email", "sms"]},
                "subject": {"type": "string"},
                "body": {"type": "string"},
                "dry_run": {"type": "boolean"},
            },
        },
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "POST",
        "/send/{batch}/resume",
        "send",
        "Send what a batch has not sent yet",
        resume_send,
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "POST",
        "/send/{batch}/discard",
        "send",
        "Give up what a batch has left to send",
        discard_send,
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "GET",
        "/messages",
        "read",
        "The message log, newest first",
        message_log,
        (
            Param("batch_id", {"type": "string"}, "one batch's"),
            Param("customer_id", {"type": "integer"}, "one customer's"),
            Param("status", {"type": "string"}, "one status"),
            _LIST,
        ),
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "GET",
        "/settings",
        "settings",
        "The settings (never secrets)",
        read_settings,
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "GET", "/users", "users", "Users and their roles", list_users, answer={"type": "object"}
    ),  # fmt: skip
    Route(
        "POST",
        "/users",
        "users",
        "Add a user",
        add_user,
        body={
            "type": "object",
            "required": ["name", "role", "password"],
            "properties": {
                "name": {"type": "string"},
                "role": {"type": "string", "enum": ["viewer", "editor", "admin"]},
                "password": {"type": "string", "minLength": users.MIN_PASSWORD},
            },
        },
        answer={"type": "object"},
        ok=201,
    ),  # fmt: skip
    Route(
        "PUT",
        "/users/{name}/password",
        "users",
        "Change a user's password",
        set_password,
        body={
            "type": "object",
            "required": ["password"],
            "properties": {"password": {"type": "string"}},
        },
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "PUT",
        "/users/{name}/role",
        "users",
        "Change a user's role",
        set_role,
        body={"type": "object", "required": ["role"], "properties": {"role": {"type": "string"}}},
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "DELETE", "/users/{name}", "users", "Remove a user", remove_user, answer={"type": "object"}
    ),  # fmt: skip
    Route(
        "GET",
        "/tokens",
        "users",
        "API tokens (never their secrets)",
        list_tokens,
        (Param("user", {"type": "string"}, "one user's"),),
        answer={"type": "object"},
    ),  # fmt: skip
    Route(
        "POST",
        "/tokens",
        "users",
        "Make a token (its secret is in this answer only)",
        add_token,
        body={
            "type": "object",
            "required": ["user"],
            "properties": {
                "user": {"type": "string"},
                "label": {"type": "string"},
                "expires": {"type": "string"},
            },
        },
        answer={"type": "object"},
        ok=201,
    ),  # fmt: skip
    Route(
        "DELETE",
        "/tokens/{token}",
        "users",
        "Revoke a token",
        revoke_token,
        answer={"type": "object"},
    ),  # fmt: skip
)


# --- the OpenAPI document ----------------------------------------------------------


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    kinds = out.get("type")
    if isinstance(kinds, list):
        out["type"] = [*kinds, "null"]
    elif kinds:
        out["type"] = [kinds, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _field_schema(f: Any, given: bool = False) -> dict[str, Any]:
    """A field's schema as answered (its type's `json_value`), or as a request may send it."""
    schema = f.type.json_input_schema() if given else f.type.json_schema()
    if not f.required:
        schema = _nullable(schema)
    return {**schema, "title": f.label, **({"description": f.doc} if f.doc else {})}


def schemas() -> dict[str, Any]:
    """The components' schemas, customers' from the field registry."""
    contact = {"type": "object", "properties": {
        "id": {"type": ["integer", "null"]},
        **{f.name: _field_schema(f) for f in CONTACT_FIELDS}}}  # fmt: skip
    customer = {"type": "object", "properties": {
        **{f.name: _field_schema(f) for f in CUSTOMER_FIELDS},
        "row_version": {"type": "integer", "description": "the version If-Match takes"},
        "contacts": {"type": "array", "items": {"$ref": _REF + "Contact"}},
        "batch_id": {"type": ["string", "null"]}}}  # fmt: skip
    writable = [f for f in CUSTOMER_FIELDS if not f.system]
    given = {"type": "object", "additionalProperties": False, "properties": {
        **{f.name: _field_schema(f, given=True) for f in writable},
        "contacts": {"type": "array", "items": {"$ref": _REF + "Contact"}}}}  # fmt: skip
    view = {"type": "object", "description": (View.__doc__ or "").split("\n\n")[0], "properties": {
        name: {"description": View.param[name].doc or name} for name in View._STATE}}  # fmt: skip
    problem = {"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object", "properties": {
            "row": {"type": ["integer", "null"]}, "column": {"type": ["string", "null"]},
            "field": {"type": "string"}, "value": {"type": ["string", "null"]},
            "message": {"type": "string"}}}}}}  # fmt: skip
    page = {"type": "object", "properties": {
        "total": {"type": "integer"}, "page": {"type": "integer"},
        "page_size": {"type": "integer"},
        "rows": {"type": "array", "items": {"$ref": _REF + "Customer"}}}}  # fmt: skip
    deleted = {"type": "object", "properties": {
        "deleted": {"type": "integer"}, "batch_id": {"type": ["string", "null"]},
        "ids": {"type": "array", "items": {"type": "integer"}}}}  # fmt: skip
    return {"Customer": customer, "CustomerInput": given, "Contact": contact, "View": view,
            "Problem": problem, "CustomerPage": page, "Deleted": deleted}  # fmt: skip


def _operation(route: Route) -> dict[str, Any]:
    role = ACTIONS.get(route.action, "viewer")
    problem = {"content": {PROBLEM: {"schema": {"$ref": _REF + "Problem"}}}}
    op: dict[str, Any] = {
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}",
        "summary": route.summary,
        "description": f"Needs the {role} role." if not route.public else "No token needed.",
        "x-role": role,
        "parameters": [],
        "responses": {},
    }  # fmt: skip
    for name in re.findall(r"\{(\w+)\}", route.path):
        op["parameters"].append({"name": name, "in": "path", "required": True,
                                 "schema": {"type": "integer" if name == "id" else "string"}})  # fmt: skip
    for p in route.params:
        schema = {"type": "array", "items": p.schema} if p.many else p.schema
        op["parameters"].append({"name": p.name, "in": "query", "required": False,
                                 "description": p.doc, "schema": schema,
                                 **({"explode": True} if p.many else {})})  # fmt: skip
    if route.method == "PATCH":
        op["parameters"].append({"name": "If-Match", "in": "header", "required": True,
                                 "description": "the customer's version (its ETag)",
                                 "schema": {"type": "string"}})  # fmt: skip
    if route.multipart:
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                **{p.name: p.schema for p in route.params}}}}}}  # fmt: skip
    elif route.body is not None:
        op["requestBody"] = {"required": route.method != "DELETE",
                             "content": {"application/json": {"schema": route.body}}}  # fmt: skip
    content: dict[str, Any] = {}
    for fmt in route.formats:
        media = FORMATS[fmt].split(";")[0]
        content[media] = {"schema": route.answer or {"type": "object"}} if fmt == "json" else {
            "schema": {"type": "string", "contentMediaType": media}}  # fmt: skip
    op["responses"][str(route.ok)] = {"description": "done", "content": content}
    if route.method == "PATCH":
        op["responses"]["412"] = {"description": "the customer changed since that version",
                                  **problem}  # fmt: skip
        op["responses"]["428"] = {"description": "If-Match missing", **problem}
    for status, why in ((400, "bad request"), (401, "no valid token"),
                        (403, "the token's role may not, or not from this machine"),
                        (404, "not found"), (409, "conflict"), (422, "invalid input"),
                        (429, "too many requests (see Retry-After)")):  # fmt: skip
        if route.public and status in (401, 403):
            continue
        op["responses"][str(status)] = {"description": why, **problem}
    if route.multipart:
        op["responses"]["503"] = {"description": "another import is running (see Retry-After)",
                                  **problem}  # fmt: skip
    if route.public:
        op["security"] = []
    return op


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ROUTES`, schemas from the field registry."""
    from . import __version__

    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "customer-dashboard",
            "version": str(__version__),
            "description": "Customers, views, bulk edits, imports, undo and messages: "
            "the same service functions as the page and the CLI. Every field has one "
            "representation in every answer (its type's): money and other exact decimals "
            'as strings without trailing zeros ("20.5", "700"), times as RFC 3339 UTC '
            '("2026-11-25T14:30:05Z"). Errors are application/problem+json (RFC 9457).',
        },  # fmt: skip
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `customer-dashboard tokens add USER`",
                }
            },
        },  # fmt: skip
    }


# --- the server side ---------------------------------------------------------------


@dataclass
class RateLimit:
    """A token bucket per key: `rate` requests a second on average, `burst` at once."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 10_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> float:
        """0 if a request may go now (and count it); else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            level, at = self._buckets.pop(key, (self.burst, now))
            level = min(self.burst, level + (now - at) * self.rate)
            if level < 1:
                self._buckets[key] = (level, now)
                return (1 - level) / self.rate
            self._buckets[key] = (level - 1, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.pop(next(iter(self._buckets)))
        return 0.0


@dataclass
class Api:
    """One server's API: its store, who may reach it, its pool, limits and local token."""

    store: Store
    auth: bool = False  # sign-in is on: other machines may call (with a token)
    settings_path: str | None = None
    rate: float = 20.0
    burst: float = 100.0
    local_token: str = field(default_factory=lambda: "cdl_" + secrets.token_urlsafe(32))
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        max_workers=WORKERS, thread_name_prefix="api"))  # fmt: skip
    #: Streams wait on their client between chunks: threads of their own, so that slow
    #: downloads never hold the threads every other request needs.
    streams: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        max_workers=WORKERS, thread_name_prefix="api-stream"))  # fmt: skip
    limit: RateLimit = field(init=False)
    #: Held while an import (or its dry run) runs: one at a time (see `import_upload`).
    importing: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.limit = RateLimit(self.rate, max(1.0, min(self.burst, self.rate * 5)))
        self._routes = [(r, r.pattern) for r in ROUTES]

    def patterns(self) -> list[tuple]:
        """Tornado URL patterns for Panel's `extra_patterns`."""
        return [(rf"{PREFIX}(/.*)?", ApiHandler, {"api": self})]

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route, pattern in self._routes:
            m = pattern.match(path)
            if m:
                if route.method == method:
                    return route, m.groupdict()
                allowed.append(route.method)
        if allowed:
            raise ApiError(405, f"{path} takes {', '.join(allowed)}, not {method}",
                           headers={"Allow": ", ".join(allowed)})  # fmt: skip
        raise NotFound(f"no API path {PREFIX}{path} (see {PREFIX}/openapi.json)")

    def caller(self, secret: str | None) -> tokens.Caller | None:
        """Who a bearer token stands for (None: nobody)."""
        if secret and hmac.compare_digest(secret.encode(), self.local_token.encode()):
            return tokens.Caller("local", LOCAL_USER, "admin")
        return tokens.authenticate(self.store, secret)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.streams.shutdown(wait=False, cancel_futures=True)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


class ApiHandler(tornado.web.RequestHandler):
    """Every /api/v1 request: checks, then the route's function on the API's pool."""

    def initialize(self, api: Api) -> None:
        self.api = api

    def check_xsrf_cookie(self) -> None:
        """Bearer tokens, not cookies: a page on another site cannot send one."""

    async def get(self, path: str | None = None) -> None:
        await self._answer(path)

    async def post(self, path: str | None = None) -> None:
        await self._answer(path)

    async def patch(self, path: str | None = None) -> None:
        await self._answer(path)

    async def put(self, path: str | None = None) -> None:
        await self._answer(path)

    async def delete(self, path: str | None = None) -> None:
        await self._answer(path)

    def _secret(self) -> str | None:
        raw = self.request.headers.get("Authorization", "")
        scheme, _, value = raw.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    async def _answer(self, path: str | None) -> None:
        try:
            await self._dispatch(path or "/")
        except (tornado.iostream.StreamClosedError, asyncio.CancelledError):
            pass  # the client went away
        except Exception as exc:  # every error is a problem document, never a traceback
            if not isinstance(exc, UserError):
                log.exception("API %s %s failed", self.request.method, self.request.path)
            if self._headers_written:
                return  # mid-stream: the client sees the stream cut short
            self._problem(*problem_of(exc))

    def _problem(self, status: int, doc: dict[str, Any], headers: dict[str, str]) -> None:
        self.clear()
        self.set_status(status)
        for k, v in headers.items():
            self.set_header(k, v)
        self.set_header("Content-Type", PROBLEM)
        self.set_header("Cache-Control", "no-store")
        self.finish(dumps(doc))

    async def _dispatch(self, path: str) -> None:
        api = self.api
        if not api.auth and not _loopback(self.request.remote_ip or ""):
            raise ApiError(403, "this server answers the API only on this machine: run it with "
                           "--auth to let other machines in (with a token)")  # fmt: skip
        route, params = api.find(self.request.method or "GET", path)
        secret = self._secret()
        if not route.public:
            key = tokens.digest(secret) if secret else f"ip:{self.request.remote_ip}"
            wait = api.limit.take(key)
            if wait:
                raise ApiError(429, f"too many requests with this token; wait {math.ceil(wait)} s",
                               headers={"Retry-After": str(math.ceil(wait))})  # fmt: skip
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(api.pool, self._run, route, params, secret)
        self.set_status(reply.status)
        for k, v in reply.headers.items():
            if v:
                self.set_header(k, v)
        self.set_header("Cache-Control", "no-store")
        if reply.stream is None:
            self.set_header("Content-Type", "application/json")
            self.finish(reply.data if isinstance(reply.data, bytes) else dumps(reply.data))
            return
        self.set_header("Content-Type", reply.content_type)
        await loop.run_in_executor(api.streams, self._pump, reply.stream, loop)
        self.finish()

    def _run(self, route: Route, params: dict[str, str], secret: str | None) -> Reply:
        """On a worker thread: who is calling, then the route's function."""
        api = self.api
        if route.public:
            store = api.store.acting_as("anonymous", "viewer")
        else:
            caller = api.caller(secret)
            if caller is None:
                raise ApiError(401, "send Authorization: Bearer <token> with a valid token "
                               "(customer-dashboard tokens add USER)",
                               headers={"WWW-Authenticate": 'Bearer realm="customer-dashboard"'})  # fmt: skip
            store = api.store.acting_as(caller.user, caller.role)
            require(store, route.action)
        req = self.request
        query = {k: [v.decode("utf-8", "replace") for v in vs]
                 for k, vs in req.query_arguments.items()}  # fmt: skip
        form = {k: [v.decode("utf-8", "replace") for v in vs]
                for k, vs in req.body_arguments.items()}  # fmt: skip
        call = Call(store, params, query, req.headers, req.body or b"", dict(req.files), form, api)
        reply = route.run(call)
        if reply.stream is None and not isinstance(reply.data, bytes):
            reply.data = dumps(reply.data)  # encoded here, off the event loop
        if reply.status == 200 and route.ok != 200:
            reply.status = route.ok
        return reply

    def _pump(self, chunks: Iterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        """On a worker thread: each chunk written and flushed by the event loop before the
        next is made, so a slow client slows the producer instead of filling memory."""
        try:
            for chunk in chunks:
                if chunk:
                    # bounded: a server stopping mid-stream must not keep this thread
                    asyncio.run_coroutine_threadsafe(self._send(chunk), loop).result(timeout=300)
        finally:
            with contextlib.suppress(Exception):
                chunks.close()  # type: ignore[attr-defined]

    async def _send(self, chunk: bytes) -> None:
        self.write(chunk)
        await self.flush()
