"""Served sessions driven by Bokeh's own Python client, as a browser would drive them
(shared by tests/test_sessions.py and benchmarks/load.py)."""

from __future__ import annotations

import re
import threading
import time

# the client must know Panel's and Material UI's models to read the server's document
import panel.models.esm  # noqa: F401
import panel.models.layout  # noqa: F401
import panel.models.location  # noqa: F401
import panel.models.markup  # noqa: F401
import panel.models.tabulator  # noqa: F401
import panel.models.widgets  # noqa: F401
import panel_material_ui  # noqa: F401
from bokeh.client import ClientSession, pull_session
from bokeh.document.events import MessageSentEvent
from bokeh.events import DocumentReady


def open_session(url: str, **arguments: str) -> ClientSession:
    """A new server session, told that its page is shown (Bokeh's DocumentReady event, as
    a browser sends it): until then Panel holds back the changes it would send."""
    session = pull_session(url=url, arguments=arguments or None)
    doc = session.document
    doc.callbacks.trigger_on_change(MessageSentEvent(doc, "bokeh_event", DocumentReady()))
    session.force_roundtrip()
    return session


def models(session: ClientSession, kind: str) -> list:
    """Models of one kind: Material UI's are named with a number after them (Select1)."""
    return [m for m in session.document.models if re.fullmatch(rf"{kind}\d*", type(m).__name__)]


def customer_grid(session: ClientSession):
    """The customers grid's Tabulator model (the one with an id column)."""
    return [m for m in models(session, "DataTabulator") if "id" in m.source.data][0]


class GridWatch:
    """Whether the server has sent new grid rows (any Tabulator's data) since `clear()`."""

    def __init__(self, session: ClientSession):
        self.seen = threading.Event()
        session.document.on_change(self._on_change)

    def _on_change(self, event) -> None:
        model = getattr(event, "model", None)
        if type(model).__name__ == "ColumnDataSource" and getattr(event, "attr", "data") == "data":
            self.seen.set()


def change_and_wait(session, watch: GridWatch, model, prop: str, value, limit=600.0) -> float:
    """Set a widget's property in the client; seconds until the new rows reached it.

    Bokeh's client reads the server's messages only while its loop runs, and a round-trip
    request drops those that are not its reply; so the loop is run until the grid's new
    data has been applied to the client's document."""
    watch.seen.clear()
    t = time.perf_counter()
    setattr(model, prop, value)
    conn = session._connection  # no public way to wait for a server-sent change
    timer = conn._loop.call_later(limit, conn._loop.stop)
    try:
        conn._loop_until(watch.seen.is_set)
    finally:
        conn._loop.remove_timeout(timer)
    if not watch.seen.is_set():
        raise TimeoutError(f"no new rows {limit:.0f} s after setting {prop}={value!r}")
    return time.perf_counter() - t
