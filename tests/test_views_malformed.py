"""Views from outside (links, `--view`, saved views) with the wrong shape: one clear line,
never a traceback or a blank page."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from bokeh.document import Document

from dashboard import View, views
from dashboard.errors import UserError
from dashboard.ui.app import customers_page

MALFORMED = [
    ({"page": -1}, "page should be a page number from 1"),
    ({"page": True}, "page should be a page number"),
    ({"page": 10**20}, "page should be a page number from 1 to 1,000,000,000"),
    ({"page_size": 0}, "page_size should be"),
    ({"groups": "status"}, "groups should be a list of field names"),
    ({"values": [1]}, "values should be a list of [field, aggregate]"),
    ({"sort": [[]]}, "sort should be a list of [field"),
    ({"filters": [{"field": 1}]}, "filters should be a list of {field, op, value}"),
    ({"status": "Gone"}, "status should be one of All, Active"),
    ({"percent": "half"}, 'percent should be null, "row"'),
    ({"groups": ["<img src=x onerror=alert(1)>"]}, "unknown group field"),
    ({"colour": "red"}, "unknown view settings: colour"),
    ({"hidden": "sum_credit"}, "hidden should be a list of column names"),
    ({"hidden": [1]}, "hidden should be a list of column names"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_a_malformed_view_is_one_clear_line(data, message):
    with pytest.raises(UserError) as info:
        View.from_json(json.dumps(data))
    text = str(info.value)
    assert message in text and "\n" not in text and "Traceback" not in text


def test_not_json_at_all():
    for text in ("nope", "[1, 2]", '"a string"', "{"):
        with pytest.raises(UserError, match="not a view"):
            View.from_json(text)


@pytest.mark.parametrize("data", [d for d, _ in MALFORMED[:5]])
def test_the_cli_says_why_in_one_line(tmp_path, data):
    db = tmp_path / "c.duckdb"
    cmd = [sys.executable, "-m", "dashboard.cli"]
    subprocess.run([*cmd, "init", "--db", str(db), "--demo", "20"], check=True,
                   capture_output=True)  # fmt: skip
    done = subprocess.run([*cmd, "pivot", "--db", str(db), "--view", json.dumps(data)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0
    assert "not a view" in done.stderr or "unknown" in done.stderr


def test_a_saved_view_gone_bad_opens_nothing_and_says_why(demo):
    demo.execute_write(
        "INSERT INTO saved_views (name, view, user_name, saved_at) VALUES (?, ?, ?, now())",
        ["broken", json.dumps({"groups": "status"}), "tester"],
    )
    with pytest.raises(UserError, match="groups should be a list"):
        views.load_view(demo, "broken")
    page = customers_page(demo)
    page.__panel__().get_root(Document())
    page._refresh_saved()
    page.saved = "broken"
    assert "groups should be a list" in page.message
    assert page.view.mode == "rows" and len(page.grid.table.value) == 50  # the grid stays


def test_a_link_takes_a_status_as_view_does():
    # the README's examples write status="active"; a link typed the same way was refused
    for text in ("active", " INACTIVE ", "all"):
        assert View.from_json(json.dumps({"status": text})).status == View(status=text).status
