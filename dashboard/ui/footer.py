"""The grid's footer: how many match, the selection, export, page size and pager. It stays on
screen below the grid (the grid scrolls inside its own box)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import panel as pn
import panel_material_ui as pmui
import param

from ..query import Result, View
from ..words import plural
from .controls import Download
from .grid import WRAP_CSS
from .safe import Text

#: Page sizes offered in the footer (a link may hold another).
PAGE_SIZES = (25, 50, 100, 500)

FOOTER_CSS = """
:host { border-top: 1px solid rgba(0, 0, 0, 0.12); background: var(--mui-palette-background-paper, #fff); }
"""

#: The export and pager part: it keeps to the right, also on a line of its own.
RIGHT_CSS = ":host { width: auto !important; margin-left: auto !important; }"

#: The word "Export" before CSV and XLSX goes on a laptop's screen: with rows ticked the
#: footer did not fit one line at 1280 px and wrapped, its second line cut at the window's
#: bottom (the download icons on CSV and XLSX say what they do).
EXPORT_WORD_CSS = "@media (max-width: 1365.95px) { :host { display: none !important; } }"


class Footer(pn.viewable.Viewer):
    """Count, selection, export, rows per page and the pager of the view's result."""

    view = param.ClassSelector(class_=View, doc="The view whose pages the pager moves through.")
    page_size = param.Selector(default=50, objects=list(PAGE_SIZES), label="Rows per page",
                               doc="How many rows (or groups) a page shows.")  # fmt: skip
    go_to = param.String(default="", label="Go to page",
                         doc="A page number typed in the footer (past the last: the last).")  # fmt: skip

    def __init__(self, selection: pn.viewable.Viewer, export: Callable[[str], Any], **params):
        super().__init__(**params)
        self._syncing = False
        self._count = Text("", variant="body2", margin=(0, 8), align="center")
        self._selection = selection
        self._csv = Download(callback=lambda: export("csv"), label="CSV",
                                      filename="customers.csv", icon="download", size="small",
                                      margin=(2, 3),
                                      description="the whole view as CSV")  # fmt: skip
        self._xlsx = Download(callback=lambda: export("xlsx"), label="XLSX",
                                       filename="customers.xlsx", icon="download", size="small",
                                       margin=(2, 3),
                                       description="the whole view as an Excel workbook")  # fmt: skip
        self._size = pmui.Select.from_param(self.param.page_size, width=100, size="small",
                                            label="Rows per page", description="",
                                            margin=(6, 8, 2, 8))  # fmt: skip
        self._pager = pmui.Pagination(count=1, value=0, size="small", show_first_button=True,
                                      show_last_button=True, sibling_count=1,
                                      margin=(2, 0))  # fmt: skip
        self._pager.param.watch(self._on_pager, "value")
        self._go = pmui.TextInput.from_param(self.param.go_to, width=110, size="small",
                                             placeholder="Page", margin=(6, 8, 2, 0),
                                             description="")  # fmt: skip
        self._pages = 1
        self._from_view()
        self.view.param.watch(lambda *_: self._from_view(), "page_size")

    def _from_view(self) -> None:
        size = self.view.page_size
        if size not in self.param.page_size.objects:  # a link's own page size stays offered
            self.param.page_size.objects = sorted({*PAGE_SIZES, size})
            self._size.options = list(self.param.page_size.objects)
        self._syncing = True
        try:
            self.page_size = size
        finally:
            self._syncing = False

    @param.depends("page_size", watch=True)
    def _size_to_view(self) -> None:
        if not self._syncing and self.page_size != self.view.page_size:
            self.view.param.update(page_size=self.page_size, page=1)

    @param.depends("go_to", watch=True)
    def _go_to_page(self) -> None:
        if self._syncing or not self.go_to.strip():
            return
        text = self.go_to.strip().replace(",", "")
        if text.isdigit():
            page = max(1, min(int(text), self._pages))
            if page != self.view.page:
                self.view.page = page
        self._syncing = True
        try:
            self.go_to = ""  # the field empties again: the pager shows where we are
        finally:
            self._syncing = False

    def _on_pager(self, event) -> None:
        if self._syncing or event.new is None:
            return
        if event.new + 1 != self.view.page:
            self.view.page = event.new + 1

    def show(self, result: Result, customers: int) -> None:
        """Show the count and the pages of `result`."""
        if result.mode == "rows":
            self._count.object = plural(result.total, "customer")
        elif result.mode == "groups":
            self._count.object = (
                f"{plural(result.total, 'group')} · {plural(customers, 'customer')}"
            )
        else:
            self._count.object = f"{plural(result.total, 'row')} · {plural(customers, 'customer')}"
        pages = max(1, math.ceil(result.total / self.view.page_size))
        self._pages = pages
        self._go.visible = pages > 1
        self._syncing = True
        try:
            # the bounds first: a value past the old count would be refused
            self._pager.count = pages
            self._pager.value = min(self.view.page, pages) - 1
        finally:
            self._syncing = False

    @property
    def count_text(self) -> str:
        """The count as shown ("300 customers")."""
        return self._count.object

    def __panel__(self):
        # the count and the selection wrap on a narrow screen (a phone's 390 px)
        left = pn.Row(self._count, self._selection, align="center", margin=0,
                      stylesheets=[WRAP_CSS])  # fmt: skip
        right = pn.FlexBox(
            Text("Export", variant="body2", margin=(0, 4), align="center",
                 stylesheets=[EXPORT_WORD_CSS]),
            self._csv, self._xlsx, self._size, self._go, self._pager, align_items="center",
            flex_wrap="wrap", margin=0, stylesheets=[RIGHT_CSS],
        )  # fmt: skip
        return pn.FlexBox(
            left, right, justify_content="space-between", align_items="center",
            flex_wrap="wrap", sizing_mode="stretch_width", stylesheets=[FOOTER_CSS], margin=0,
        )  # fmt: skip
