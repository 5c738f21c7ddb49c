"""The one way text reaches HTML in the page: every component that shows data is one of these.

Some of Panel's and Material UI's components put their text into the page as HTML (and run
any script in it): Material UI's `Typography` and `Alert`, Panel's `HTML`, `Markdown` and
`Str` panes, and Tabulator's column titles. Customer names, cities, filter values, SQL
error text and links' view settings are data, and data must be shown as text. Others show
text as text (buttons, chips, selects, dialog titles, Tabulator cells with the default
formatter) and must not be escaped, or people would read `&lt;`.

So the page uses these instead of the raw components:

- `Text`: a Material UI Typography whose `object` is plain text (never markup);
- `Notice`: a Material UI Alert whose `object` is plain text;
- `Grid`: a Tabulator whose `titles` are plain text;
- `html(template, **values)` and `markup(...)`: markup we write ourselves, with every value
  escaped.

`tests/test_safe.py` keeps the raw components out of the rest of `dashboard/ui/`, and the
hostile-values browser tour checks that no script from data ever runs.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

import panel as pn
import panel_material_ui as pmui
from panel.io.model import JSCode

# every ASCII punctuation character may be backslash-escaped in CommonMark, and is then
# shown as itself (markdown-it escapes <, > and & in its output): no emphasis, no links, no
# raw HTML can come out of escaped text
_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


class Markup(str):
    """Text that is already HTML we wrote (from `html`): not escaped again."""


def escape(value: Any) -> str:
    """`value` as text that is safe inside HTML (element content or a quoted attribute);
    `Markup` (what `html` returns) is left as it is."""
    if isinstance(value, Markup):
        return value
    return _html.escape("" if value is None else str(value), quote=True)


def markdown_text(value: Any) -> str:
    """`value` as Markdown source that renders exactly as the text itself."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", "" if value is None else str(value))


def html(template: str, **values: Any) -> Markup:
    """`template.format(**values)` with every value escaped: for markup we write ourselves.
    Values that are `Markup` (made by `html`) go in as they are, so pieces compose.

    >>> html('<a href="{url}">{text}</a>', url="/x?a=1&b=2", text="<b>")
    '<a href="/x?a=1&amp;b=2">&lt;b&gt;</a>'
    """
    return Markup(template.format(**{k: escape(v) for k, v in values.items()}))


class Text(pmui.Typography):
    """Material UI Typography showing plain text: whatever `object` holds is shown as it is
    (markup, Markdown and scripts in data are not interpreted). Line breaks are kept."""

    def __init__(self, object: Any = "", **params: Any):  # noqa: A002 - Panel's own name
        params.setdefault("hard_line_break", True)
        super().__init__("" if object is None else str(object), **params)

    def _transform_object(self, obj: Any) -> dict[str, Any]:
        return super()._transform_object(markdown_text(obj))


class Notice(pmui.Alert):
    """Material UI Alert showing plain text (it renders its `object` as Markdown, then puts
    the result into the page as HTML)."""

    def _process_param_change(self, params: dict[str, Any]) -> dict[str, Any]:
        if "object" in params:
            params = {**params, "object": markdown_text(params["object"])}
        return super()._process_param_change(params)


#: A cell's (or header's) tooltip: what it shows, as text. Tabulator's own (`tooltip: true`)
#: puts the cell's raw value into the page as HTML: a customer named
#: `<img src=x onerror=...>` ran its script for whoever pointed at the name. Reading what the
#: cell shows also keeps the tip in step with the cell (a tree label's mark, a formatted
#: amount), and a blank cell has none.
TEXT_TOOLTIP = """function(e, component, onRendered) {
  const text = component.getElement().innerText;
  if (!text || !text.trim()) return "";
  const tip = document.createElement("div");
  tip.textContent = text;
  return tip;
}"""


def _text_tooltips(definition: dict[str, Any]) -> dict[str, Any]:
    """`definition` (a column's or the defaults' settings) with Tabulator's HTML tooltips
    replaced by text ones, its sub-columns too."""
    definition = dict(definition)
    for key in ("tooltip", "headerTooltip"):
        if definition.get(key) is True:
            definition[key] = JSCode(TEXT_TOOLTIP)
    if isinstance(definition.get("columns"), list):
        definition["columns"] = [
            _text_tooltips(c) if isinstance(c, dict) else c for c in definition["columns"]
        ]
    return definition


class Grid(pn.widgets.Tabulator):
    """A Tabulator whose column titles and tooltips are plain text (Tabulator puts titles and
    a `tooltip: true`'s value into the page as HTML; cells use its text formatter, which
    escapes, unless a formatter says otherwise)."""

    def _get_column_definitions(self, col_names: list[str], df: Any) -> list[Any]:
        columns = super()._get_column_definitions(col_names, df)
        for column in columns:
            if column.title is not None:
                column.title = escape(column.title)
        return columns

    def _get_configuration(self, columns: list[Any]) -> dict[str, Any]:
        # the one place a grid's settings reach the browser: no HTML tooltip gets past it,
        # whichever screen asked for `tooltip: True`
        configuration = super()._get_configuration(columns)
        if isinstance(configuration.get("columnDefaults"), dict):
            configuration["columnDefaults"] = _text_tooltips(configuration["columnDefaults"])
        configuration["columns"] = [
            _text_tooltips(c) if isinstance(c, dict) else c
            for c in configuration.get("columns") or []
        ]
        return configuration


def rows_height(rows: int, most: int = 12) -> int:
    """The height of a `Grid` of `rows` rows, at most `most` (it scrolls past them): a short
    list in a fixed tall grid left a large empty gap below it (Setup › Users)."""
    return 46 + 36 * max(1, min(rows, most))


def markup(template: str, stylesheets: list[str] | None = None, **values: Any) -> pn.pane.HTML:
    """An HTML pane of markup we write ourselves, every value escaped (see `html`)."""
    return pn.pane.HTML(html(template, **values), stylesheets=stylesheets or [], margin=0)


def document(markdown: str, **params: Any) -> pn.pane.Markdown:
    """A Markdown document of our own (the user guide shipped in the package), never data."""
    return pn.pane.Markdown(markdown, **params)
