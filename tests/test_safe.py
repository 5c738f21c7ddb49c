"""The page's one way of putting text into HTML (dashboard/ui/safe.py): data shows as text in
every component that would read it as markup, and the rest of dashboard/ui/ uses it."""

from __future__ import annotations

import ast
import html
from pathlib import Path

import pandas as pd
import pytest
from bokeh.document import Document

from dashboard.ui.safe import Grid, Notice, Text, escape, markdown_text
from dashboard.ui.safe import html as build

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "[click](javascript:alert(1))",
    "**bold** _it_ `code` # heading\n1. list",
    "Café ‮evil‬ zero\u200bwidth",
    "a & b < c > d \\ e",
]


def rendered(component) -> str:
    """The HTML the browser puts into the page for a Text or Notice (after undoing the
    transport escaping Panel applies)."""
    if isinstance(component, Notice):
        sent = component._process_param_change({"object": component.object})["object"]
    else:
        sent = component._transform_object(component.object)["object"]
    return html.unescape(sent)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("kind", [Text, Notice])
def test_data_is_text_in_text_and_notices(kind, value):
    shown = rendered(kind(object=value))
    for tag in ("<img", "<svg", "<a ", "<strong>", "<em>", "<code>", "<h1>", "<ol>"):
        assert tag not in shown, (tag, shown)
    # what a person reads is the value itself (HTML text content)
    import re

    text = html.unescape(re.sub(r"<[^>]+>", "", shown)).strip()
    assert text == value.strip().replace("\n", "\n") or text.replace("\n", "") == value.replace(
        "\n", ""
    )


def test_grid_titles_are_text_cells_stay_values():
    value = HOSTILE[0]
    grid = Grid(pd.DataFrame({"a": [value]}), titles={"a": value})
    model = grid.get_root(Document())
    title = next(c.title for c in model.columns if c.field == "a")
    assert title == html.escape(value) and "<img" not in title
    assert grid.value["a"].tolist() == [value]  # Tabulator's text formatter escapes cells


def test_markup_we_write_escapes_every_value():
    link = build('<a href="{h}">{t}</a>', h='x" onclick="alert(1)', t="<b>")
    assert link == '<a href="x&quot; onclick=&quot;alert(1)">&lt;b&gt;</a>'
    assert build("<nav>{x}</nav>", x=link) == f"<nav>{link}</nav>"  # composes
    assert escape(None) == "" and markdown_text("*") == "\\*"


#: Components that put their text into the page as HTML. Only safe.py may build them.
RAW = {
    ("pmui", "Typography"), ("pmui", "Alert"), ("pmui", "StaticText"), ("pn.pane", "HTML"),
    ("pn.pane", "Markdown"), ("pn.pane", "Str"), ("pn.widgets", "Tabulator"),
    ("pn.pane", "Alert"), ("pn", "Tabulator"),
}  # fmt: skip


def test_no_raw_html_components_outside_the_escaping_path():
    ui = Path(__file__).resolve().parents[1] / "dashboard" / "ui"
    found = []
    for path in sorted(ui.glob("*.py")):
        if path.name == "safe.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                owner = ast.unparse(node.value)
                if (owner, node.attr) in RAW:
                    found.append(f"{path.name}:{node.lineno} {owner}.{node.attr}")
    assert not found, "use Text, Notice, Grid or html() from dashboard/ui/safe.py: " + ", ".join(
        found
    )
