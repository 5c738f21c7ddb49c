"""The Columns pop-out: visible columns and their order, row groups, values, pivot."""

from __future__ import annotations

import panel as pn
import panel_material_ui as pmui
import param

from ..fields import SOURCES, columns_for, default_columns
from ..query import PERCENTAGES, Filter, View, hidden_title, value_label
from .controls import Button
from .safe import Text


def column_options(source: str = "customers") -> dict[str, str]:
    return {f.label: f.name for f in columns_for(source).values()}


def group_options(source: str = "customers") -> dict[str, str]:
    return {f.label: f.name for f in columns_for(source).values() if f.groupable}


def value_options(source: str = "customers") -> dict[str, str]:
    """The (field, aggregate) pairs worth offering, labelled "Sum of Balance".

    Numbers: the aggregates the field allows (rates: their weighted average, min, max).
    Choice-like fields: how many distinct values. Every aggregate the engine knows stays
    available to the API and the CLI.
    """
    out = {}
    fields = list(columns_for(source).values())
    if source == "usage":  # a customer's fields would count once per day of usage
        fields = [f for f in fields if f.source == "usage"]
    for f in fields:
        if f.system:
            continue
        if f.type.numeric:
            aggs = tuple(a for a in ("sum", "avg", "min", "max") if a in f.aggregates)
        elif f.type.picked:
            aggs = ("count_distinct",)
        else:
            continue
        for agg in aggs:
            out[value_label(f.name, agg)] = f"{f.name}:{agg}"
    return out


class ColumnsPanel(pn.viewable.Viewer):
    """Edits a View's columns, groups, values and pivot; the page reloads on each change."""

    view = param.ClassSelector(class_=View, doc="The view these controls edit.")
    source = param.Selector(
        default="customers", objects=list(SOURCES), doc="One row per customer, or per day of usage."
    )
    aggregates = param.List(default=[], doc="Aggregated values as 'field:agg' strings.")
    pivot_mode = param.Boolean(default=False, doc="Spread a field's values across columns.")
    pivot_field = param.Selector(
        default=None, objects=[None], doc="The field whose values become columns."
    )
    show = param.Selector(default="values", objects=["values", *PERCENTAGES],
                          doc="Show values, or shares of the row, column or grand total.")  # fmt: skip
    reset = param.Event(doc="Back to the default columns, no groups, no pivot.")

    def __init__(self, **params):
        super().__init__(**params)
        self.param.pivot_field.objects = [None, *group_options(self.view.source).values()]
        self._from_view()
        src = self.view.source
        self._source = pmui.RadioButtonGroup.from_param(
            self.param.source, options={v: k for k, v in SOURCES.items()}, label="Rows are",
            size="small",
        )  # fmt: skip
        self._columns = pmui.MultiChoice.from_param(
            self.view.param.columns, options=column_options(src), label="Columns (in order)",
            # no x on the chips: a click inside the field to open its list landed on one and
            # removed a column; a column is taken away by unticking it in the list, found by
            # typing (a column chooser with search)
            searchable=True, sizing_mode="stretch_width", delete_button=False,
            placeholder="Type to find a column",
        )  # fmt: skip
        self._groups = pmui.MultiChoice.from_param(
            self.view.param.groups, options=group_options(src), label="Row groups",
            sizing_mode="stretch_width", placeholder="Group rows by...",
        )  # fmt: skip
        self._values = pmui.MultiChoice.from_param(
            self.param.aggregates, options=value_options(src), label="Values",
            sizing_mode="stretch_width", placeholder="e.g. Sum of Balance",
        )  # fmt: skip
        self._pivot = pmui.Switch.from_param(self.param.pivot_mode, label="Pivot mode")
        self._pivot_field = pmui.Select.from_param(
            self.param.pivot_field, options={"(none)": None, **group_options(src)},
            label="Column labels from", sizing_mode="stretch_width",
        )  # fmt: skip
        self._percent = pmui.Select.from_param(
            self.param.show, options=self._show_options(),
            label="Show", sizing_mode="stretch_width",
        )  # fmt: skip
        self._reset = Button.from_param(self.param.reset, label="Reset columns", variant="outlined")
        #: the group or pivot columns hidden from a header's menu, each shown back by a button
        self._hidden = pmui.Column(sizing_mode="stretch_width", margin=0, visible=False)
        self._hidden_shown: tuple = ()
        self._list_hidden()
        self.view.param.watch(self._from_view_event, ["values", "pivot", "source", "percent"])
        self.view.param.watch(self._list_hidden, ["hidden", "groups", "pivot", "values"])

    def _list_hidden(self, *_) -> None:
        """List the columns the view hides (a group tree's or pivot's, from a header's
        menu) by their titles, each with a button showing it back; Show all for several."""
        view = self.view
        hidden = tuple(view.hidden) if view.mode != "rows" else ()
        shown = (hidden, view.mode, tuple(view.groups), view.pivot, str(view.values))
        if shown == self._hidden_shown:
            return
        self._hidden_shown = shown
        parts: list = []
        for name in hidden:
            title = hidden_title(view, name)
            show = Button(label=f"Show {title}", size="small", variant="text",
                          icon="visibility", description=f"Show the hidden column {title}")  # fmt: skip
            show.on_click(lambda _e, name=name: self._unhide([name]))
            parts.append(show)
        if len(hidden) > 1:
            every = Button(label="Show all", size="small", variant="outlined",
                           description="Show every hidden column")  # fmt: skip
            every.on_click(lambda _e: self._unhide(list(hidden)))
            parts.append(every)
        heading = [Text("Hidden columns", variant="subtitle1")] if parts else []
        self._hidden.param.update(objects=[pmui.Divider(), *heading, *parts] if parts else [],
                                  visible=bool(parts))  # fmt: skip

    def _unhide(self, names: list[str]) -> None:
        """Show hidden columns back (the page runs the view again with them)."""
        left = [h for h in self.view.hidden if h not in names]
        if left != self.view.hidden:
            self.view.hidden = left

    def _from_view(self) -> None:
        if hasattr(self, "_columns") and self.source != self.view.source:
            self._set_options(self.view.source)
        self.param.update(
            source=self.view.source,
            aggregates=[f"{f}:{a}" for f, a in self.view.values],
            pivot_mode=bool(self.view.pivot),
            pivot_field=self.view.pivot,
            show=self.view.percent or "values",
        )

    def _from_view_event(self, *_):
        self._percent.options = self._show_options()
        self._from_view()

    def _show_options(self) -> dict[str, str]:
        """What Show offers: shares of a row's total only with pivot columns (with groups
        only, each row is its own total: 100 % every time)."""
        shares = {v: k for k, v in PERCENTAGES.items() if k != "row" or self.view.pivot}
        return {"Values": "values", **shares}

    def _set_options(self, source: str) -> None:
        groups = group_options(source)
        self.param.pivot_field.objects = [None, *groups.values()]
        self._columns.options = column_options(source)
        self._groups.options = groups
        self._values.options = value_options(source)
        self._pivot_field.options = {"(none)": None, **groups}

    @param.depends("source", watch=True)
    def _source_to_view(self):
        """Switching between customers and usage keeps what still makes sense, in one update
        (one query)."""
        if self.source == self.view.source:
            return
        fields = columns_for(self.source)
        values = value_options(self.source).values()
        self.view.param.update(
            source=self.source,
            columns=default_columns(self.source),
            groups=[g for g in self.view.groups if g in fields],
            values=[v for v in self.view.values if f"{v[0]}:{v[1]}" in values],
            pivot=self.view.pivot if self.view.pivot in fields else None,
            filters=[f for f in self.view.filters if Filter.of(f).field in fields],
            sort=[], percent=None, page=1,
        )  # fmt: skip
        self._set_options(self.source)

    @param.depends("show", watch=True)
    def _show_to_view(self):
        percent = None if self.show == "values" else self.show
        if percent != self.view.percent:
            self.view.param.update(percent=percent, page=1)

    @param.depends("aggregates", watch=True)
    def _values_to_view(self):
        specs = [list(v.split(":", 1)) for v in self.aggregates]
        if specs != [list(v) for v in self.view.values]:
            self.view.param.update(values=specs, page=1)

    @param.depends("pivot_mode", "pivot_field", watch=True)
    def _pivot_to_view(self):
        target = self.pivot_field if self.pivot_mode else None
        if target and target in self.view.groups:
            self.view.param.update(groups=[g for g in self.view.groups if g != target])
        if target != self.view.pivot:
            self.view.param.update(pivot=target, page=1)

    @param.depends("reset", watch=True)
    def _reset_view(self):
        self.view.param.update(columns=default_columns(self.view.source), groups=[], values=[],
                               pivot=None, percent=None, page=1)  # fmt: skip

    def __panel__(self):
        return pmui.Column(
            Text("Columns", variant="h6"),
            self._source,
            self._columns,
            Text(
                "Pick columns in the order you want them; untick one in the list to take it away.",
                variant="caption",
            ),
            pmui.Divider(),
            Text("Groups and values", variant="subtitle1"),
            self._groups,
            self._values,
            pmui.Divider(),
            self._pivot,
            self._pivot_field,
            self._percent,
            self._hidden,
            self._reset,
            sizing_mode="stretch_width",
        )
