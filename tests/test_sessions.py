"""Served sessions, opened and closed by Bokeh's own client (no browser): a closed session's
page must be freed, and each session answers its own changes."""

from __future__ import annotations

import gc
import queue
import re
import threading
import time
import weakref

import pytest

from dashboard.query import View
from dashboard.ui.app import EXTENSIONS, guide_app, session_app, settings_app
from dashboard.ui.page import CustomersPage
from tests.bokeh_client import GridWatch, change_and_wait, customer_grid, models, open_session
from tests.browser import free_port


@pytest.fixture
def server(demo):
    """The dashboard's apps on Panel's server in a thread of this process (so the test can
    look at what the server still holds), discarding a closed session after 0.3 s."""
    import panel as pn

    frames: list[weakref.ref] = []

    def track(build):
        def app():
            frame = build()
            frames.append(weakref.ref(frame))
            return frame

        return app

    port = free_port()
    ready: queue.Queue = queue.Queue()

    def run():
        pn.extension(*EXTENSIONS)
        srv = pn.serve(
            {"/": track(lambda: session_app(demo)), "/guide": track(guide_app),
             "/settings": track(lambda: settings_app(demo))},
            port=port, address="127.0.0.1", show=False, start=False,
            websocket_origin=[f"127.0.0.1:{port}"],
            unused_session_lifetime_milliseconds=300, check_unused_sessions_milliseconds=100,
        )  # fmt: skip
        ready.put(srv)
        srv.start()
        srv.io_loop.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    srv = ready.get(timeout=30)

    def on_server(fn):
        """Run `fn` on the server's event loop (where its sessions live); its answer."""
        answer: queue.Queue = queue.Queue()
        srv.io_loop.add_callback(lambda: answer.put(fn()))
        return answer.get(timeout=30)

    yield f"http://127.0.0.1:{port}", frames, on_server
    srv.io_loop.add_callback(srv.io_loop.stop)
    thread.join(timeout=30)


def _pages() -> int:
    gc.collect()
    return sum(isinstance(o, CustomersPage) for o in gc.get_objects())


def _alive(frames, baseline: int) -> tuple[int, int]:
    """(frames of sessions still alive, CustomersPage objects beyond `baseline`: pages made
    by earlier tests outside a server are not this test's business)."""
    pages = _pages() - baseline
    return sum(1 for r in frames if r() is not None), pages


def _wait_until_freed(frames, on_server, baseline, timeout=15.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        alive = on_server(lambda: _alive(frames, baseline))
        if alive == (0, 0) or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def test_closed_sessions_free_their_pages(server):
    url, frames, on_server = server
    baseline = on_server(_pages)
    for path in ("/", "/", "/guide", "/settings", "/"):
        session = open_session(url + path)
        assert session.document.roots, f"{path} served an empty document"
        session.close()
    assert len(frames) == 5
    assert _wait_until_freed(frames, on_server, baseline) == (0, 0)


def test_an_open_session_is_kept_and_answers_its_own_changes(server):
    url, frames, on_server = server
    baseline = on_server(_pages)
    first, second = open_session(url + "/"), open_session(url + "/")
    try:
        grids = [customer_grid(s) for s in (first, second)]
        before = [list(g.source.data["id"]) for g in grids]
        pager = [p for p in models(first, "Pagination") if p.count > 1][0]
        change_and_wait(first, GridWatch(first), pager, "value", 3, limit=60)  # 4th page
        second.force_roundtrip()
        after = [list(g.source.data["id"]) for g in grids]
        assert len(after[0]) == 50 and not set(after[0]) & set(before[0])
        assert after[1] == before[1], "a change in one session reached another"
        assert _wait_until_freed(frames, on_server, baseline, timeout=1.0) == (
            2,
            2,
        )  # both still open
    finally:
        first.close()
        second.close()
    assert _wait_until_freed(frames, on_server, baseline) == (0, 0)


def test_a_link_opens_on_its_view_and_a_bad_link_says_why(server, demo):
    url, _frames, _on_server = server
    view = View(groups=["status"], values=[["credit", "sum"]])
    session = open_session(url + "/", view=view.to_json())
    try:
        tables = [m for m in models(session, "DataTabulator") if "c0" in m.source.data]
        want = sorted(s for (s,) in demo.rows("SELECT DISTINCT status FROM customers"))
        # the group tree's rows: "▸ Active" (a closed group), and the Total row
        shown = [re.sub(r"^\W+", "", str(c)) for c in tables[0].source.data["c0"]] if tables else []
        assert sorted(shown) == sorted([*want, "Total"])
    finally:
        session.close()
    bad = open_session(url + "/", view='{"groups": ["no_such_field"]}')
    try:
        alerts = [m.object for m in models(bad, "Notice")]  # the safe Alert (ui/safe.py)
        assert any("could not be opened" in (text or "") for text in alerts), alerts
        assert len(customer_grid(bad).source.data["id"]) == 50  # the default grid instead
    finally:
        bad.close()
