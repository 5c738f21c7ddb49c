"""Writing through a running server: its endpoint file, and a client of its HTTP API.

While `serve` owns a database file, nothing else may open it for writing. The server
leaves `<db>.api.json` beside it (mode 0600: only its owner reads it) with its API's URL
and a token of its own that acts as the local admin ("cli"); it is removed at stop. The
CLI finds it (`endpoint`) and sends its writes to the server, which runs the same service
functions, so roles, validation, batches, audit and undo are the same, and open pages see
the change as it commits (dashboard.live).

`connect(url, token)` gives notebooks (and `customer-dashboard` on this machine) a `Client`
with the same operations over HTTP. Only the standard library is used (urllib).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConflictError, Problem, UserError, ValidationError


def endpoint_file(db: str | os.PathLike) -> Path:
    """Where a running server names its API for this machine."""
    return Path(str(db) + ".api.json")


def write_endpoint(db: str | os.PathLike, url: str, token: str) -> Path:
    """Write the endpoint file, readable only by its owner (it holds an admin token)."""
    path = endpoint_file(db)
    path.unlink(missing_ok=True)  # a stale one from a server that was killed
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url.rstrip("/") + "/api/v1", "token": token, "pid": os.getpid()}, f)
    return path


def endpoint(db: str | os.PathLike) -> Client | None:
    """A client of the server serving `db`, if one runs (its endpoint file is there and its
    process is alive); None otherwise."""
    path = endpoint_file(db)
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Client(info["url"], info["token"])


class ApiProblem(UserError):
    """The server refused a request: its problem document's detail is the message."""

    def __init__(self, status: int, doc: dict[str, Any]):
        self.status = status
        self.doc = doc
        super().__init__(str(doc.get("detail") or doc.get("title") or f"HTTP {status}"))


@dataclass
class Client:
    """The HTTP API of a served dashboard. Errors come back as the exceptions the service
    functions raise (ValidationError with every problem, ConflictError, UserError)."""

    url: str  # .../api/v1
    token: str | None = None
    timeout: float = 600.0

    def request(self, method: str, path: str, *, query: dict | None = None, body: Any = None,
                data: bytes | None = None, headers: dict[str, str] | None = None,
                raw: bool = False) -> Any:  # fmt: skip
        """One request; the decoded JSON answer (or the bytes with `raw`)."""
        items = []
        for k, v in (query or {}).items():
            for one in v if isinstance(v, list | tuple) else [v]:
                if one is not None and one is not False:
                    items.append((k, "true" if one is True else str(one)))
        target = self.url + path + ("?" + urllib.parse.urlencode(items) if items else "")
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data = json.dumps(body, default=str).encode()
            sent["Content-Type"] = "application/json"
        req = urllib.request.Request(target, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as answer:
                content = answer.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except urllib.error.URLError as exc:
            raise UserError(
                f"cannot reach the dashboard server at {self.url}: {exc.reason}"
            ) from None
        return content if raw else json.loads(content or b"null")

    # --- the operations -------------------------------------------------------------

    def customers(self, **query: Any) -> dict[str, Any]:
        """GET /customers: a page of customers (where=, search=, sort=, page=, ...)."""
        return self.request("GET", "/customers", query=query)

    def get_customer(self, customer_id: int) -> dict[str, Any]:
        return self.request("GET", f"/customers/{int(customer_id)}")

    def add_customer(self, values: dict[str, Any], contacts: list | None = None) -> dict:
        return self.request("POST", "/customers", body={**values, "contacts": contacts or []})

    def update_customer(self, customer_id: int, changes: dict[str, Any], *,
                        expected_version: int, contacts: list | None = None) -> dict:  # fmt: skip
        body = dict(changes) if contacts is None else {**changes, "contacts": contacts}
        return self.request("PATCH", f"/customers/{int(customer_id)}", body=body,
                            headers={"If-Match": f'"{int(expected_version)}"'})  # fmt: skip

    def bulk_edit(self, target: dict[str, Any], changes: dict[str, Any], *,
                  dry_run: bool = False, expect: int | None = None) -> dict:  # fmt: skip
        """`target` is {"ids": [...]}, {"where": [...]} or {"view": {...}}."""
        return self.request("POST", "/bulk-edit", body={**target, "set": changes,
                            "dry_run": dry_run, "expect": expect})  # fmt: skip

    def delete_customers(self, target: dict[str, Any], confirm: int) -> dict:
        return self.request("DELETE", "/customers", body={**target, "confirm": confirm})

    def import_file(self, data: bytes, filename: str = "upload", **options: Any) -> dict:
        """POST /import: the CLI's import report (options: sheet, map=[...], dry_run, ...)."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{Path(filename).name or 'upload'}\"\r\nContent-Type: "
                "application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
        return self.request("POST", "/import", query=options, data=body,
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip

    def undo(self, batch_id: str) -> dict:
        return self.request("POST", f"/batches/{urllib.parse.quote(batch_id)}/undo")

    def batches(self, limit: int = 20) -> dict:
        return self.request("GET", "/batches", query={"limit": limit})

    def history(self, customer_id: int) -> dict:
        return self.request("GET", f"/customers/{int(customer_id)}/history")

    def run_view(self, view: dict[str, Any] | None = None, fmt: str = "json") -> Any:
        """POST /views/run: JSON (one page), or the whole result's bytes (csv, xlsx,
        arrow); `to_arrow` reads an Arrow answer as a table."""
        return self.request("POST", "/views/run", query={"format": fmt},
                            body={"view": view or {}}, raw=fmt != "json")  # fmt: skip

    def to_arrow(self, view: dict[str, Any] | None = None) -> Any:
        import pyarrow as pa

        return pa.ipc.open_stream(self.run_view(view, "arrow")).read_all()

    def send(self, target: dict[str, Any], channel: str, body: str,
             subject: str | None = None, *, dry_run: bool = False) -> dict:  # fmt: skip
        return self.request("POST", "/send", body={**target, "channel": channel, "body": body,
                            "subject": subject, "dry_run": dry_run})  # fmt: skip


def _error(exc: urllib.error.HTTPError) -> Exception:
    """The service exception a problem document stands for."""
    try:
        doc = json.loads(exc.read() or b"{}")
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    doc.setdefault("detail", f"HTTP {exc.code} {exc.reason}")
    if exc.code == 422 and doc.get("problems"):
        return ValidationError([Problem(p.get("field") or "", p.get("value"), p.get("message") or "",
                                        p.get("row"), p.get("column")) for p in doc["problems"]])  # fmt: skip
    if exc.code in (409, 412) and "changes" in doc:
        return ConflictError(doc["detail"], doc.get("changes"), fields=doc.get("fields"))
    return ApiProblem(exc.code, doc)


def connect(url: str, token: str | None = None) -> Client:
    """A client of the dashboard served at `url` ("http://host:5006"), acting with `token`
    (from `customer-dashboard tokens add USER`)."""
    base = url.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    return Client(base, token)
