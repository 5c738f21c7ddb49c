"""The Filters pop-out: quick search, a filter for any field by its type, active filters
shown as chips with clear-one and clear-all."""

from __future__ import annotations

import panel as pn
import panel_material_ui as pmui
import param

from ..fields import COLUMNS, KEY_FIELD, STATUS_FIELD
from ..query import OP_LABELS, Filter, View
from ..types import LIST_OPS, NULLARY_OPS
from .controls import Button
from .safe import Notice, Text

#: The view's settings that restrict its rows (each chip takes one of them away).
RESTRICTING = ("status", "filters", "search")

#: A chip: an outlined pill around the restriction's words and its ✕, as wide as they are;
#: long words wrap inside it (a phone's pop-out is 390 px).
CHIP_CSS = """
:host { width: fit-content !important; max-width: 100%; border: 1px solid
  var(--mui-palette-primary-main, #1976d2); border-radius: 16px; align-items: center; }
"""
CHIP_TEXT_CSS = ":host { overflow-wrap: anywhere; min-width: 0; flex: 0 1 auto; }"


def choices_for(name: str) -> dict[str, str]:
    """The values offered for choice-like fields (label -> value), from the field's type."""
    return COLUMNS[name].type.options()


class FiltersPanel(pn.viewable.Viewer):
    """Builds filters for a View; the page reloads when the view's filters change."""

    view = param.ClassSelector(class_=View, doc="The view these filters edit.")
    field = param.Selector(default=KEY_FIELD, objects=list(COLUMNS), doc="Field to filter.")
    op = param.Selector(
        default="contains", objects=list(COLUMNS[KEY_FIELD].filter_ops), doc="How to compare."
    )
    text = param.String(default="", doc="The value typed (numbers as people type them).")
    text2 = param.String(default="", doc="The upper value of a 'between' filter.")
    picks = param.List(default=[], doc="Values chosen for choice-like fields.")
    yes = param.Selector(default="yes", objects=["yes", "no"], doc="A yes/no filter's value.")
    add = param.Event(doc="Add the filter.")
    clear_all = param.Event(doc="Remove every filter, the search and the status filter.")
    error = param.String(default="", doc="Why the last filter could not be added.")

    def __init__(self, **params):
        super().__init__(**params)
        self._field = pmui.Select.from_param(self.param.field, options=self._labels(), label="Field",
                                             sizing_mode="stretch_width", searchable=True)  # fmt: skip
        self._op = pmui.Select.from_param(
            self.param.op, label="Condition", sizing_mode="stretch_width"
        )
        self._text = pmui.TextInput.from_param(
            self.param.text, label="Value", sizing_mode="stretch_width"
        )
        self._text2 = pmui.TextInput.from_param(
            self.param.text2, label="and", sizing_mode="stretch_width"
        )
        self._picks = pmui.MultiChoice.from_param(self.param.picks, label="Values", options=[],
                                                  sizing_mode="stretch_width", searchable=True)  # fmt: skip
        # what is typed into the values' search puts the exact code first ("DE" gives
        # Germany, not Bangladesh, whose name holds "de"), as the card's pickers do
        self._picks.param.watch(self._rank_picks, "filter_str")
        self._yes = pmui.RadioButtonGroup.from_param(self.param.yes, label="Value")
        self._add = Button.from_param(self.param.add, label="Add filter", variant="contained",
                                           icon="filter_alt")  # fmt: skip
        self._clear = Button.from_param(self.param.clear_all, label="Clear all", variant="outlined",
                                             icon="filter_alt_off")  # fmt: skip
        self._search = pmui.TextInput.from_param(
            self.view.param.search, label="Quick search", placeholder="Name, city, email, mobile...",
            sizing_mode="stretch_width",
        )  # fmt: skip
        self._error = Notice(
            object="", severity="warning", visible=False, sizing_mode="stretch_width"
        )
        self._chips = pmui.Column(sizing_mode="stretch_width")
        self._on_field()
        self._render_chips()
        self.view.param.watch(lambda *_: self._render_chips(), ["filters", "status", "search"])
        self.view.param.watch(self._on_source, "source")

    def _labels(self) -> dict[str, str]:
        """The fields of the view's source, by label (usage views add day, calls, ...)."""
        return {f.label: f.name for f in self.view.fields.values()}

    def _on_source(self, *_):
        self._field.options = self._labels()
        if self.field not in self.view.fields:
            self.field = KEY_FIELD

    @param.depends("field", watch=True)
    def _on_field(self):
        f = COLUMNS[self.field]
        ops = {OP_LABELS.get(o, o): o for o in f.filter_ops}
        self.param.op.objects = list(f.filter_ops)
        if self.op not in f.filter_ops:
            self.op = f.filter_ops[0]
        self._op.options = ops
        self._picks.options = choices_for(self.field)
        self._show_inputs()

    def _rank_picks(self, event) -> None:
        self._picks.options = COLUMNS[self.field].type.ranked_options(event.new or "")
        # dicts holding the same items in another order are equal: param sees no change
        self._picks.param.trigger("options")

    @param.depends("op", watch=True)
    def _show_inputs(self):
        f = COLUMNS[self.field]
        shown = f.type.filter_input(self.op)
        self._picks.visible = shown == "picks"
        self._yes.visible = shown == "switch"
        self._text.visible = shown in ("text", "list")
        self._text2.visible = self.op == "between"
        self._text.placeholder = "comma-separated" if shown == "list" else ""

    def _value(self):
        f = COLUMNS[self.field]
        if self.op in NULLARY_OPS:
            return None
        if f.type.filter_input(self.op) == "switch":
            return self.yes
        if self._picks.visible:
            if self.op in ("=", "!=") and len(self.picks) == 1:
                return self.picks[0]
            return list(self.picks)
        if self.op == "between":
            return [self.text, self.text2]
        if self.op in LIST_OPS:
            return [s.strip() for s in self.text.split(",") if s.strip()]
        return self.text

    @param.depends("add", watch=True)
    def _add_filter(self):
        from ..errors import UserError
        from ..query import check_filter

        op = self.op
        value = self._value()
        if isinstance(value, list) and op in ("=", "!="):
            op = "in" if op == "=" else "not_in"
        flt = Filter(self.field, op, value)
        try:
            check_filter(flt)  # parse the value with the field's own rules before applying
        except UserError as exc:
            self.error = str(exc)
            self._error.param.update(object=str(exc), visible=True)
            return
        self.error = ""
        self._error.visible = False
        one = value[0] if isinstance(value, list) and len(value) == 1 else value
        if self.field == STATUS_FIELD and op in ("=", "in") and isinstance(one, str):
            # the Active drop-down is the status filter: one place shows it, never "All"
            # beside a chip that says otherwise
            self.view.param.update(status=one, page=1)
        else:
            self.view.param.update(filters=[*self.view.filters, flt.to_dict()], page=1)
        self.param.update(text="", text2="", picks=[])

    @param.depends("clear_all", watch=True)
    def _clear_all(self):
        self.view.param.update(filters=[], search="", status="All", page=1)

    def remove(self, index: int) -> None:
        """Remove restriction number `index` of `View.restrictions()` (a chip's ✕): a
        filter, the status quick filter or the search."""
        found = self.view.restrictions()
        if 0 <= index < len(found):
            self._lift(found[index][1])

    def _lift(self, without: View) -> None:
        """Take one restriction away: the view becomes `without` as to what it restricts."""
        self.view.param.update(**{k: getattr(without, k) for k in RESTRICTING}, page=1)

    def _render_chips(self):
        chips = [self._chip(label, without) for label, without in self.view.restrictions()]
        if not chips:
            chips = [Text("No filters: every customer is shown.", variant="body2")]
        self._chips.objects = chips

    def _chip(self, label: str, without: View) -> pn.viewable.Viewable:
        """A restriction as a chip: its words, and a ✕ named "Remove filter <words>"."""
        remove = pmui.IconButton(icon="close", size="small", margin=0,
                                 description=f"Remove filter {label}")  # fmt: skip
        remove.on_click(lambda _e: self._lift(without))
        words = Text(label, variant="body2", margin=(0, 0, 0, 10), align="center",
                     stylesheets=[CHIP_TEXT_CSS])  # fmt: skip
        return pn.Row(words, remove, margin=(3, 10), stylesheets=[CHIP_CSS])

    @property
    def active_count(self) -> int:
        return active_filters(self.view)

    def __panel__(self):
        return pmui.Column(
            Text("Filters", variant="h6"),
            self._search,
            pmui.Divider(),
            Text("Active filters", variant="subtitle1"),
            self._chips,
            self._clear,
            pmui.Divider(),
            Text("Add a filter", variant="subtitle1"),
            self._field,
            self._op,
            self._picks,
            self._yes,
            self._text,
            self._text2,
            self._error,
            self._add,
            sizing_mode="stretch_width",
        )


def active_filters(view: View) -> int:
    """How many filters are in force: each filter, the status filter and the search."""
    return len(view.filters) + (view.status != "All") + bool(view.search)
