"""The Columns pop-out: visible columns and their order, row groups, values, pivot."""

from __future__ import annotations

import panel as pn
import panel_material_ui as pmui
import param

from ..fields import CUSTOMER_FIELDS
from ..query import View, value_label


def column_options() -> dict[str, str]:
    return {f.label: f.name for f in CUSTOMER_FIELDS}


def group_options() -> dict[str, str]:
    return {f.label: f.name for f in CUSTOMER_FIELDS if f.groupable}


def value_options() -> dict[str, str]:
    """The (field, aggregate) pairs worth offering, labelled "Sum of Balance".

    Numbers: sum, average, min, max. Choice-like fields: how many distinct values.
    (Every aggregate the engine knows stays available to the API and the CLI.)
    """
    out = {}
    for f in CUSTOMER_FIELDS:
        if f.system:
            continue
        if f.type.numeric:
            aggs = ("sum", "avg", "min", "max")
        elif f.kind in ("choice", "country", "currency"):
            aggs = ("count_distinct",)
        else:
            continue
        for agg in aggs:
            out[value_label(f.name, agg)] = f"{f.name}:{agg}"
    return out


class ColumnsPanel(pn.viewable.Viewer):
    """Edits a View's columns, groups, values and pivot; the page reloads on each change."""

    view = param.ClassSelector(class_=View, doc="The view these controls edit.")
    aggregates = param.List(default=[], doc="Aggregated values as 'field:agg' strings.")
    pivot_mode = param.Boolean(default=False, doc="Spread a field's values across columns.")
    pivot_field = param.Selector(
        default=None, objects=[None], doc="The field whose values become columns."
    )
    reset = param.Event(doc="Back to the default columns, no groups, no pivot.")

    def __init__(self, **params):
        super().__init__(**params)
        self.param.pivot_field.objects = [None, *group_options().values()]
        self._from_view()
        self._columns = pmui.MultiChoice.from_param(
            self.view.param.columns, options=column_options(), label="Columns (in order)",
            searchable=True, sizing_mode="stretch_width", delete_button=True,
        )  # fmt: skip
        self._groups = pmui.MultiChoice.from_param(
            self.view.param.groups, options=group_options(), label="Row groups",
            sizing_mode="stretch_width", placeholder="Group rows by...",
        )  # fmt: skip
        self._values = pmui.MultiChoice.from_param(
            self.param.aggregates, options=value_options(), label="Values",
            sizing_mode="stretch_width", placeholder="e.g. Sum of Balance",
        )  # fmt: skip
        self._pivot = pmui.Switch.from_param(self.param.pivot_mode, label="Pivot mode")
        labels = {"(none)": None, **group_options()}
        self._pivot_field = pmui.Select.from_param(
            self.param.pivot_field, options=labels, label="Column labels from",
            sizing_mode="stretch_width",
        )  # fmt: skip
        self._reset = pmui.Button.from_param(
            self.param.reset, label="Reset columns", variant="outlined"
        )
        self.view.param.watch(self._from_view_event, ["values", "pivot"])

    def _from_view(self) -> None:
        self.param.update(
            aggregates=[f"{f}:{a}" for f, a in self.view.values],
            pivot_mode=bool(self.view.pivot),
            pivot_field=self.view.pivot,
        )

    def _from_view_event(self, *_):
        self._from_view()

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
        default = View()
        self.view.param.update(columns=default.columns, groups=[], values=[], pivot=None, page=1)

    def __panel__(self):
        return pmui.Column(
            pmui.Typography("Columns", variant="h6"),
            self._columns,
            pmui.Typography(
                "Pick columns in the order you want them; remove one with its ×.",
                variant="caption",
            ),
            pmui.Divider(),
            pmui.Typography("Groups and values", variant="subtitle1"),
            self._groups,
            self._values,
            pmui.Divider(),
            self._pivot,
            self._pivot_field,
            self._reset,
            sizing_mode="stretch_width",
        )
