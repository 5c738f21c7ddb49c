"""Logging for the command line and the server: the standard library's `logging`, set up
once by `customer-dashboard` (`--log-level`, `--log-json`); every module logs through
`logging.getLogger(__name__)`.

Log lines go to stderr, apart from what a command prints as its result (stdout). With
`--log-json` each line is one JSON object: time, level, logger, message, plus the fields a
line carries (`batch_id`, `action`, `user`, `rows` on a batch written). The server logs one
line per HTTP request through Tornado's access log (logger `tornado.access`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

LEVELS = ("debug", "info", "warning", "error")

#: The attributes every LogRecord has; anything else on a record came from `extra=` and is
#: written as a field of its JSON line.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (for log collectors): never a multi-line record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _Stderr(logging.StreamHandler):
    """A handler on whatever sys.stderr is when a record is written (not when set up): the
    CLI's `main()` also runs inside other programs and tests, which swap sys.stderr."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


#: Exceptions that say a browser went away while the server was still sending to it (a tab
#: closed during a redraw): normal for a web server, not an error to report with a traceback.
_CLIENT_GONE = {"WebSocketClosedError", "StreamClosedError"}


class _ClientGone(logging.Filter):
    """Turns Tornado's and Bokeh's "a closed tab's connection" errors into debug lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or type(exc).__name__ not in _CLIENT_GONE:
            return True
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_text = None  # another handler may have formatted it already
            record.msg, record.args, record.exc_info = (
                f"a browser closed its connection while it was sent to "
                f"({type(exc).__name__})", None, None)  # fmt: skip
            return True
        return False


def setup(level: str = "warning", *, json_lines: bool = False) -> None:
    """Send every logger's records at `level` or above to stderr, as text or JSON lines.

    Panel's and Bokeh's own handlers (Panel's writes to stdout and does not propagate) are
    removed, so that all lines share one format and stream."""
    # text lines keep Python's "LEVEL:logger:" shape (what people and tools grep for)
    handler = _Stderr()
    handler.addFilter(_ClientGone())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s:%(name)s: %(message)s")
    )
    root = logging.getLogger()
    # ours replaced (main() may run twice in one process); a host program's handlers stay
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _Stderr)] + [handler]
    root.setLevel(level.upper())
    for name in ("panel", "bokeh"):
        own = logging.getLogger(name)
        own.handlers.clear()
        own.propagate = True
