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


class Grid(pn.widgets.Tabulator):
    """A Tabulator whose column titles are plain text (Tabulator puts titles into the page as
    HTML; cells use its text formatter, which escapes, unless a formatter says otherwise)."""

    def _get_column_definitions(self, col_names: list[str], df: Any) -> list[Any]:
        columns = super()._get_column_definitions(col_names, df)
        for column in columns:
            if column.title is not None:
                column.title = escape(column.title)
        return columns


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
