"""The dashboard in a notebook: one setup call, then the page, its grid and charts as rich
outputs (the same components as the served page).

`setup()` (`dashboard.notebook()`) loads Bokeh, Panel, Tabulator and Material UI into the
notebook once, from this machine and never from a CDN, so a notebook behind a proxy that
blocks CDNs renders too. Bokeh and Panel go inline in the setup cell's output (Panel's own
inline mode, about 9 MB once), and the icon font (0.4 MB, inline in the same cell: a font
declared inside a component's shadow root is ignored by browsers). Material UI's bundle
(1.4 MB) would go inline into every one of the ~30 Material UI components of each page shown
(about 45 MB an output); when the kernel was started by a Jupyter server that runs Panel's
server extension (JupyterLab and Notebook 7 get it with Panel), the components load it
once from that server instead (`/panel-preview/components/...`), which keeps an output of
`show()` small. Without such a server (VS Code) it goes inline: offline still, but large.
"""

from __future__ import annotations

import base64
import json
import math
import os
import urllib.request
from pathlib import Path
from typing import Any

import panel as pn
import param

from .. import query
from ..query import View
from ..store import Store
from ..words import plural
from .app import EXTENSIONS
from .display import aggregate_display, rows_display, sort_keys, sorters_for
from .grid import EngineGrid, grid_options, show_sorters
from .page import CustomersPage
from .safe import Text

#: Where Panel's Jupyter server extension serves a component's listed resources: Material
#: UI's bundle and its stylesheet (under the Jupyter server's base URL).
COMPONENTS = "panel-preview/components/panel_material_ui.base/MaterialComponent/"
BUNDLE_JS = COMPONENTS + "_bundle_path/dist/panel-material-ui.bundle.js"
BUNDLE_CSS = COMPONENTS + "_bundle_css/dist/panel-material-ui.bundle.css"


class _Kernel:
    """What this kernel has already sent to its notebook. A notebook kernel is one process
    for one notebook; served sessions never come here (they load resources from the server)."""

    loaded = False
    base_url: str | None = None


def _jupyter_base_url() -> str | None:
    """The URL path (e.g. "/" or "/user/ana/") of the Jupyter server that started this
    kernel, when it serves Panel's static files; None otherwise (VS Code, a plain console)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    info_file = Path(jupyter_runtime_dir()) / f"jpserver-{os.getppid()}.json"
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
        probe = urllib.request.Request(info["url"] + BUNDLE_JS, method="HEAD")
        with urllib.request.urlopen(probe, timeout=3) as answer:  # a local server
            if answer.status != 200:
                return None
    except (OSError, ValueError, KeyError):
        return None
    return info.get("base_url") or "/"


def _font_css() -> str:
    """@font-face rules for Material UI's icon fonts and Roboto at the document level (a font
    declared inside a component's shadow root is ignored by browsers), the fonts inline: the
    server extension does not serve them."""
    import panel_material_ui

    dist = Path(panel_material_ui.__file__).parent / "dist"
    faces = []
    for family, pattern, weight in (
        ("Material Icons", "material-icons-[A-Z0-9]*.woff2", 400),
        ("Material Icons Outlined", "material-icons-outlined-*.woff2", 400),
        ("Roboto", "roboto-latin-400-normal-*.woff2", 400),
        ("Roboto", "roboto-latin-700-normal-*.woff2", 700),
    ):
        for font in sorted(dist.glob(pattern))[:1]:
            data = base64.b64encode(font.read_bytes()).decode("ascii")
            faces.append(
                f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
                f"font-style: normal; src: url(data:font/woff2;base64,{data}) format('woff2'); }}"
            )
    return "<style>" + "\n".join(faces) + "</style>"


def _figure_bundle(fig: Any):
    return pn.pane.Bokeh(fig, sizing_mode="stretch_width")._repr_mimebundle_()


def setup(*, force: bool = False) -> None:
    """Load the dashboard's JavaScript, styles and fonts into this notebook, from this
    machine (no CDN). Run it once, in the first cell; running it again, or calling `grid`,
    `show` or `chart` after it, loads nothing again (which would blank earlier outputs).
    `force=True` loads again: after reloading the browser tab of a running kernel."""
    if _Kernel.loaded and not force:
        return
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return  # a plain script: nothing to display into
    base_url = _jupyter_base_url()
    pn.extension(*EXTENSIONS, inline=True)
    display(HTML(_font_css()))
    # a bare Bokeh figure (dashboard.chart(...)) displays as the chart, not as its repr
    from bokeh.models import LayoutDOM

    ip.display_formatter.mimebundle_formatter.for_type(LayoutDOM, _figure_bundle)
    _Kernel.loaded, _Kernel.base_url = True, base_url


def _bundle_from_server(root) -> None:
    """Material UI components load their bundle from the Jupyter server (once for the whole
    notebook) instead of carrying 1.4 MB of it each (see the module's docstring)."""
    if _Kernel.base_url is None:
        return
    from panel.models.esm import ReactComponent

    js, css = _Kernel.base_url + BUNDLE_JS, _Kernel.base_url + BUNDLE_CSS
    for model in root.select({"type": ReactComponent}):
        if model.bundle not in (None, "url") and len(model.esm or "") > 100_000:
            model.update(bundle="url", esm=js, css_bundle=css)


class _Output(pn.Column):
    """A layout that loads the notebook's resources before its first display."""

    def _repr_mimebundle_(self, include=None, exclude=None):
        setup()
        return super()._repr_mimebundle_(include, exclude)

    def get_root(self, doc=None, comm=None, preprocess=True):
        root = super().get_root(doc, comm, preprocess)
        if comm is not None:
            _bundle_from_server(root)
        return root


# --- the grid ------------------------------------------------------------------------


class NotebookGrid(pn.viewable.Viewer):
    """One page of a view as the dashboard's grid shows it, paged and sorted by the engine."""

    store = param.ClassSelector(class_=Store, doc="The database the view is run on.")
    view = param.ClassSelector(class_=View, doc="What the grid shows; its page and sort change.")
    height = param.Integer(default=500, doc="Height of the table in pixels.")
    pages = param.Integer(default=1, doc="How many pages the result has.")
    total = param.Integer(default=0, doc="Matching customers (rows) or groups.")
    previous = param.Event(doc="Show the previous page.")
    next = param.Event(doc="Show the next page.")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._display = None
        # the page's grid settings: the engine sorts the whole result, the grid nothing
        self.table = EngineGrid(**grid_options(height=self.height))
        self.table.param.watch(self._on_sorters, "sorters")
        self._info = Text("", margin=(0, 10))
        self._prev = pn.widgets.Button.from_param(self.param.previous, name="‹ Previous", width=100)
        self._next = pn.widgets.Button.from_param(self.param.next, name="Next ›", width=100)
        self.load()

    def load(self) -> None:
        """Run the view and show its page."""
        result = query.run(self.store, self.view, with_unit=True)
        if result.mode == "rows":
            display = rows_display(result)
        else:
            display = aggregate_display(result, self.view)
        self._display = display
        self.pages = max(1, math.ceil(result.total / self.view.page_size))
        self.total = result.total
        show_sorters(self.table, sorters_for(display, self.view))
        self.table.param.update(
            value=display.frame, titles=display.titles, formatters=display.formatters,
            text_align=display.align, frozen_columns=display.frozen, widths=display.widths,
        )  # fmt: skip
        noun = {"rows": "customer", "groups": "group"}.get(result.mode, "row")
        if result.mode == "rows" and self.view.source == "usage":
            noun = "row"
        self._info.object = (
            f"Page {self.view.page:,} of {self.pages:,} · {plural(result.total, noun)}"
        )
        self._prev.disabled = self.view.page <= 1
        self._next.disabled = self.view.page >= self.pages

    def _on_sorters(self, event) -> None:
        if self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new or [])
        if sort != self.view.sort:
            self.view.param.update(sort=sort, page=1)
            self.load()

    @param.depends("previous", watch=True)
    def _previous(self) -> None:
        if self.view.page > 1:
            self.view.page -= 1
            self.load()

    @param.depends("next", watch=True)
    def _next_page(self) -> None:
        if self.view.page < self.pages:
            self.view.page += 1
            self.load()

    def __panel__(self):
        return _Output(
            self.table, pn.Row(self._prev, self._next, self._info, align="center"),
            sizing_mode="stretch_width",
        )  # fmt: skip


def grid(store: Store, view: View | None = None, *, height: int = 500) -> NotebookGrid:
    """One page of `view` as the dashboard shows it (titles, number formats, totals row),
    with Previous / Next and "Page 1 of N"; a header click sorts the whole result."""
    setup()
    return NotebookGrid(store=store, view=(view or View()).copy(), height=height)


class NotebookPage(CustomersPage):
    """The Customers page in a notebook cell."""

    def __panel__(self):
        return _Output(super().__panel__(), sizing_mode="stretch_width")


def app(store: Store, view: View | None = None, *, user: str = "analyst") -> CustomersPage:
    """The whole Customers page on `store`, opened on `view`; its `.view` follows the page."""
    setup()
    # a notebook output has no window height to fill: the page is given one
    return NotebookPage(store=store, view=(view or View()).copy(), user=user, poll_ms=0,
                        height=720)  # fmt: skip
