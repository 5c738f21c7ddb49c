"""Groups and pivots: the table of groups (with its Total row), its chart, and an opened
group's customers."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import query
from ..charts import KINDS, chart
from ..fields import COLUMNS
from ..query import Result, View
from ..store import Store
from ..words import plural
from .controls import Button
from .display import (
    Display,
    aggregate_display,
    rows_display,
    sort_keys,
    sorters_for,
)
from .grid import EngineGrid, grid_options, show_sorters
from .safe import Text

#: Height of one grid row and of the header, in pixels (GRID_CSS's padding, 14 px text):
#: a table of a few groups is as tall as its rows, never a tall empty box.
ROW_PX, HEADER_PX = 37, 44


class OpenedGroup(pn.viewable.Viewer):
    """The customers of one group row, paged, below the groups."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    view = param.ClassSelector(class_=View, default=None, allow_None=True,
                               doc="The customers of the opened group.")  # fmt: skip
    title = param.String(default="", doc="Which group is open, in words.")
    close = param.Event(doc="Close the opened group.")

    def __init__(self, **params):
        super().__init__(**params)
        self._title = Text("", variant="subtitle1")
        self._table = EngineGrid(pd.DataFrame(), **grid_options(height=300))
        self._table.param.watch(self._on_sorters, "sorters")
        self._display: Display | None = None
        self._pager = pmui.Pagination(count=1, value=0, size="small")
        self._pager.param.watch(self._on_page, "value")
        self._close = Button.from_param(self.param.close, label="Close", size="small",
                                             variant="text", description="Close the group")  # fmt: skip
        self._box = pmui.Paper(
            pmui.Row(self._title, self._close), self._table, self._pager,
            visible=False, sizing_mode="stretch_width", margin=(10, 0),
        )  # fmt: skip

    def open(self, view: View, title: str) -> None:
        """Show the customers `view` selects, under `title`."""
        self.param.update(view=view, title=title)
        self._pager.value = 0
        self._box.visible = True
        self.load()

    def load(self) -> None:
        """Query the opened group's current page."""
        if self.view is None:
            return
        self.view.page = (self._pager.value or 0) + 1
        result = query.run(self.store, self.view, key=True)
        display = rows_display(result)
        self._display = display
        show_sorters(self._table, sorters_for(display, self.view))
        self._table.param.update(value=display.frame, titles=display.titles,
                                 formatters=display.formatters, text_align=display.align,
                                 widths=display.widths)  # fmt: skip
        self._pager.count = max(1, math.ceil(result.total / self.view.page_size))
        self._title.object = f"{self.title} ({plural(result.total, 'customer')})"

    def _on_page(self, event) -> None:
        if self.view is not None and event.new is not None:
            self.load()

    def _on_sorters(self, event) -> None:
        if self.view is None or self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new)
        if sort != self.view.sort:
            self.view.sort = sort
            self._pager.value = 0
            self.load()

    @param.depends("close", watch=True)
    def shut(self) -> None:
        """Close the opened group."""
        self.view = None
        self._box.visible = False

    def __panel__(self):
        return self._box


class AggregatePanel(pn.viewable.Viewer):
    """The group or pivot table of the view's current page, its chart, an opened group."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    view = param.ClassSelector(class_=View, doc="The view; header clicks sort it.")
    chart_kind = param.Selector(default="bar", objects=list(KINDS),
                                doc="How groups and pivots are charted beside the table.")  # fmt: skip
    opened = param.Dict(default=None, allow_None=True,
                        doc="The open group: each group field's value as text (None: blank).")  # fmt: skip

    def __init__(self, **params):
        super().__init__(**params)
        self._result: Result | None = None
        self._display: Display | None = None
        self._syncing = False
        self.table = EngineGrid(pd.DataFrame(), selectable=False, **grid_options(height=200))
        self.table.param.watch(self._on_sorters, "sorters")
        self.table.on_click(self._on_click)
        self.group = OpenedGroup(store=self.store)
        self.group.param.watch(lambda _e: setattr(self, "opened", None), "close")
        self._kind = pmui.RadioButtonGroup.from_param(
            self.param.chart_kind, options={v: k for k, v in KINDS.items()}, label="Chart",
            size="small",
        )  # fmt: skip
        # a new chart replaces the pane that holds it: Bokeh's view of a figure swapped
        # inside one pane can be redrawn after it was taken down ("reading 'top_panel'")
        self._chart = pn.Column(sizing_mode="stretch_width", min_height=380)
        self._chart_box = pmui.Column(self._kind, self._chart, sizing_mode="stretch_width",
                                      min_width=380)  # fmt: skip

    def show(self, result: Result) -> None:
        """Show a page of groups or pivot rows, with its Total row, and chart it."""
        display = aggregate_display(result, self.view)
        self._result, self._display = result, display
        self._syncing = True
        try:
            show_sorters(self.table, sorters_for(display, self.view))
            self.table.param.update(
                value=display.frame, titles=display.titles, formatters=display.formatters,
                text_align=display.align, frozen_columns=display.frozen, widths=display.widths,
                height=HEADER_PX + ROW_PX * max(1, len(display.frame)) + 16,
            )  # fmt: skip
        finally:
            self._syncing = False
        self._draw()

    def _on_sorters(self, event) -> None:
        if self._syncing or self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new)
        if sort != self.view.sort:
            self.view.param.update(sort=sort, page=1)

    def _on_click(self, event) -> None:
        r = self._result
        if r is None or not (0 <= event.row < len(r.data)):
            return  # the Total row opens nothing
        row = r.data.iloc[event.row].to_dict()
        key = {}
        for name in self.view.groups:
            value = row.get(name)
            blank = value is None or (isinstance(value, float) and pd.isna(value))
            key[name] = None if blank else COLUMNS[name].type.to_text(value)
        self.open_group(key)

    def open_group(self, key: dict[str, str | None]) -> None:
        """List the customers of the group whose fields have these values (as text; None:
        blank), e.g. from a link."""
        key = {k: v for k, v in key.items() if k in self.view.groups}
        if not key:
            return
        filters = [{"field": k, "op": "empty"} if v is None else {"field": k, "op": "=", "value": v}
                   for k, v in key.items()]  # fmt: skip
        view = self.view.copy(filters=[*self.view.filters, *filters], groups=[], pivot=None,
                              values=[], page=1, sort=[], percent=None)  # fmt: skip
        words = ", ".join(f"{COLUMNS[k].label}: {query.BLANK if v is None else v}"
                          for k, v in key.items())  # fmt: skip
        self.group.open(view, "Customers with " + words)
        self.opened = key

    @param.depends("chart_kind", watch=True)
    def _draw(self) -> None:
        r = self._result
        if r is None or r.mode == "rows" or len(r.data) == 0:
            self._chart.objects = []
            return
        figure = chart(r, self.view, self.chart_kind, sizing_mode="stretch_width", height=360)
        self._chart.objects = [pn.pane.Bokeh(figure, sizing_mode="stretch_width")]

    def close_group(self) -> None:
        """Close the opened group (the groups changed)."""
        self.group.shut()
        self.opened = None

    def __panel__(self) -> Any:
        return pmui.Column(
            pn.FlexBox(
                self.table,
                self._chart_box,
                flex_wrap="wrap",
                gap="16px",
                sizing_mode="stretch_width",
            ),  # fmt: skip
            self.group,
            sizing_mode="stretch_width",
        )
