"""The server's log: what a person reading it must see, and what is noise."""

from __future__ import annotations

import logging

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from dashboard import logs


def _raised(exc: BaseException):
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 - the record carries it
        return (type(caught), caught, caught.__traceback__)


def test_a_browser_that_went_away_is_no_error_in_the_log(capsys):
    """A tab closed while the server was still sending to it (a browser test's page closed
    during a redraw) logged a traceback as an ERROR; it is normal for a web server."""
    logs.setup("warning")
    app = logging.getLogger("tornado.application")
    app.error("Exception in callback", exc_info=_raised(WebSocketClosedError()))
    app.error("Exception in callback", exc_info=_raised(StreamClosedError()))
    assert capsys.readouterr().err == ""
    app.error("Exception in callback", exc_info=_raised(ValueError("a real one")))
    err = capsys.readouterr().err
    assert "ERROR:tornado.application" in err and "ValueError: a real one" in err
    logs.setup("debug")  # asked for: one line, no traceback
    app.error("Exception in callback", exc_info=_raised(WebSocketClosedError()))
    err = capsys.readouterr().err
    assert "DEBUG:tornado.application: a browser closed its connection" in err
    assert "Traceback" not in err
    logs.setup("warning")
