"""The SQL dialog without a browser: what a query names (columns, errors quoting it) reaches
the page as text, never as HTML; downloads hold every row."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from bokeh.document import Document

from dashboard.sqlbox import MAX_ROWS
from dashboard.ui.sql import SqlDialog
from tests.test_safe import rendered

MARKUP = "<img src=x onerror=alert(1)>"


@pytest.fixture
def dialog(demo):
    d = SqlDialog(store=demo)
    d.__panel__().get_root(Document())
    return d


def test_a_column_name_with_markup_is_a_title_not_html(dialog):
    dialog.sql = f'SELECT name AS "{MARKUP}" FROM customers LIMIT 2'
    dialog.param.trigger("run")
    assert list(dialog._grid.value.columns) == [MARKUP]
    model = dialog._grid.get_root(Document())
    assert [c.title for c in model.columns if c.field == MARKUP] == [
        "&lt;img src=x onerror=alert(1)&gt;"
    ]


def test_an_error_quoting_markup_is_shown_as_text(dialog):
    dialog.sql = f'SELECT "{MARKUP}" FROM customers'
    dialog.param.trigger("run")
    assert MARKUP in dialog.message  # the message itself is the error's text
    shown = rendered(dialog._alert)
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown


def test_markdown_in_a_message_stays_text():
    from dashboard.ui.safe import Notice

    text = "bad [link](javascript:alert(1)) *not bold* `code` # no heading <b>x</b> a\\b"
    shown = rendered(Notice(object=text))
    assert "<a" not in shown and "<em>" not in shown and "<code>" not in shown
    assert "<b>" not in shown and "<h1>" not in shown
    assert "[link](javascript:alert(1)) *not bold* `code` # no heading" in shown
    assert "&lt;b&gt;x&lt;/b&gt; a\\b" in shown


def test_a_download_holds_every_row(dialog, demo):
    dialog.sql = "SELECT * FROM usage_daily"
    dialog.param.trigger("run")
    assert len(dialog._grid.value) == MAX_ROWS
    assert "download for all" in dialog.message
    data = pd.read_csv(io.BytesIO(dialog._download("csv").getvalue()))
    assert len(data) == demo.scalar("SELECT count(*) FROM usage_daily") > MAX_ROWS
