"""Bulk Edit: one field for every selected customer. Preview first: how many change, in
which direction (up / down, gain / lose tags, old -> new choices) and the first old -> new,
all counted by the database; then Apply, which asks once more naming those numbers.

Apply is enabled only by a Preview of exactly the field and value chosen: any edit of
either disables it again. Nothing is chosen when the dialog opens, so nothing can be
applied by accident.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import customers as service
from ..bulk import Summary
from ..errors import UserError, ValidationError
from ..fields import FIELDS, bulk_editable
from ..store import Store
from .controls import Button
from .dialogs import FADING_SX
from .display import plural
from .safe import Grid, Notice, Text

HINTS = {
    "number": '10 sets the value; +5 adds; -5 subtracts; *1.2 multiplies; add ", at most 50" '
    'or ", at least 1" to bound the result; =-5 sets a negative number.',
    "tags": "+=vip adds tags; -=trial removes them; a plain list (vip, wholesale) replaces them.",
    "other": "The new value for every selected customer.",
    "none": "Choose the field to change, then its new value, then Preview.",
}

#: The empty choice of the Field and Value selects: nothing chosen yet.
NOTHING = ""
#: Said above a preview once the value it was made for has changed.
OUTDATED = "This preview is of an earlier choice: Preview again to see the new one."


class BulkEditDialog(pn.viewable.Viewer):
    """Choose a field and a value; Preview (how many change, and how); Apply; confirm."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    field = param.Selector(default=NOTHING, objects=[NOTHING, *(f.name for f in bulk_editable())],
                           doc="The field to change (empty: none chosen yet).")  # fmt: skip
    value = param.String(default="", doc="The new value, or a change such as +5 or *1.2.")
    choice = param.String(default=NOTHING, doc="The new value of a choice field.")
    preview = param.Event(doc="Show how many customers change and how.")
    apply = param.Event(doc="Ask to apply the previewed change.")
    confirm = param.Event(label="Yes, apply", doc="Apply the previewed change in one transaction.")
    back = param.Event(label="Back", doc="Do not apply yet: back to the choice.")
    cancel = param.Event(doc="Close without changing anything.")
    done_batch = param.String(default="", doc="The batch id of the last applied change.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._target = None
        # (field, value) of the last Preview that found something to change, and its numbers
        self._previewed: tuple[str, str] | None = None
        self._result: Summary | None = None
        #: The last preview's lines, shown until the field changes (not hidden while a
        #: value is typed: the focus may be in the preview's table, and hiding it threw
        #: the focus to the dialog, where the next Tab and Enter closed it)
        self._lines: list[str] = []
        self._field = pmui.Select.from_param(
            self.param.field, label="Field", sizing_mode="stretch_width",
            options={"(choose a field)": NOTHING, **{f.label: f.name for f in bulk_editable()}},
        )  # fmt: skip
        self._value = pmui.TextInput.from_param(
            self.param.value, label="Value", sizing_mode="stretch_width"
        )
        self._choice = pmui.Select.from_param(self.param.choice, label="Value",
                                              options={"(choose a value)": NOTHING},
                                              sizing_mode="stretch_width")  # fmt: skip
        self._hint = Text("", variant="caption")
        self._selected = Text("", variant="body1")
        self._summary = Text("", variant="body2", visible=False)
        self._alert = Notice(
            object="", severity="error", visible=False, sizing_mode="stretch_width"
        )
        self._table = Grid(pd.DataFrame(), show_index=False, disabled=True, height=200,
                           sizing_mode="stretch_width", visible=False,
                           layout="fit_columns", selectable=False,
                           widths={"ID": 80})  # fmt: skip
        self._apply = Button.from_param(
            self.param.apply, label="Apply", variant="contained", icon="done_all", disabled=True,
            description="Apply: preview first; then confirm",
        )  # fmt: skip
        self._actions = pmui.Row(
            Button.from_param(self.param.cancel, label="Cancel", variant="outlined",
                              description="Cancel: close without changing anything"),
            Button.from_param(self.param.preview, label="Preview", variant="outlined",
                              icon="visibility",
                              description="Preview: how many customers change, and how"),
            self._apply,
        )  # fmt: skip
        self._question = Notice(object="", severity="warning", sizing_mode="stretch_width")
        self._first = Text("", variant="body2")
        self._confirm = Button.from_param(
            self.param.confirm, variant="contained", color="warning", icon="done_all",
            description="Apply the change to the customers named above",
        )  # fmt: skip
        self._asking = pmui.Column(
            self._question, self._first,
            pmui.Row(
                Button.from_param(self.param.back, variant="outlined", icon="arrow_back",
                                  description="Back: do not apply yet"),
                self._confirm,
            ),
            visible=False, sizing_mode="stretch_width", margin=0,
        )  # fmt: skip
        self._dialog = pmui.Dialog(
            pmui.Column(
                self._selected, self._field, self._value, self._choice, self._hint,
                self._alert, self._summary, self._table, self._actions, self._asking,
                sizing_mode="stretch_width", min_width=320,
            ),
            title="Bulk Edit", open=False, width_option="md", close_on_click=True,
            show_close_button=True, sx=FADING_SX,
        )  # fmt: skip
        # typing (before the value is committed on Enter or blur) already disables Apply
        self._value.param.watch(lambda e: self._stale(e.new), "value_input")
        self._on_field()

    def __panel__(self):
        return self._dialog

    @property
    def is_open(self) -> bool:
        """Whether the dialog is on screen."""
        return self._dialog.open

    @property
    def apply_enabled(self) -> bool:
        """Whether Apply can be clicked: a Preview of the current choice found changes."""
        return not self._apply.disabled

    @property
    def question(self) -> str:
        """The confirmation's text: the count and direction, then the first old -> new."""
        return f"{self._question.object}\n{self._first.object}"

    @property
    def asking(self) -> bool:
        """Whether the confirmation (count and direction, then Yes / Back) is on screen."""
        return self._asking.visible

    def open_for(self, target: service.Target, count: int) -> None:
        """Open for the selected customers (a list of ids, or a view: all that match), with
        no field and no value chosen."""
        self._target = target
        self._selected.object = f"{plural(count, 'customer')} selected."
        self._alert.visible = False
        self.param.update(field=NOTHING, value="", choice=NOTHING)
        self._stale()
        self._forget_preview()
        self._dialog.open = True

    @param.depends("field", watch=True)
    def _on_field(self) -> None:
        f = FIELDS.get(self.field)
        options = f.type.options() if f else {}
        self._choice.visible = bool(options)
        self._value.visible = f is not None and not options
        self._choice.options = {"(choose a value)": NOTHING, **options}
        self.choice = NOTHING
        if f is None:
            kind = "none"
        else:
            kind = "number" if f.type.numeric else "tags" if f.type.many else "other"
        self._hint.object = HINTS[kind]
        self._stale()
        self._forget_preview()

    @param.depends("value", "choice", watch=True)
    def _on_value(self) -> None:
        self._stale()

    def _key(self) -> tuple[str, str]:
        """What is chosen now: the field and the value as typed or picked."""
        raw = self.choice if self._choice.visible else self.value
        return self.field, raw

    def _stale(self, typing: str | None = None) -> None:
        """The choice changed (or is being typed: `typing`): a Preview of something else no
        longer allows Apply."""
        key = self._key() if typing is None else (self.field, typing)
        if self._previewed is not None and self._previewed == key:
            return
        self._previewed = self._result = None
        self._apply.disabled = True
        self._show_question(False)
        # said in place: the layout stays as it is while the person types
        if self._lines:
            self._summary.object = "\n".join([OUTDATED, *self._lines])

    def _forget_preview(self) -> None:
        """No preview shown (another field, or the dialog opened anew)."""
        self._lines = []
        self._summary.visible = self._table.visible = False

    def _run(self, *, dry_run: bool, expect: int | None = None):
        field, raw = self._key()
        if not field:
            self._error("Choose the field to change.")
            return None
        if self._choice.visible and raw == NOTHING:
            self._error(f"Choose the new {FIELDS[field].label}.")
            return None
        try:
            return service.bulk_edit(self.store, self._target, {field: raw}, user=self.user,
                                     dry_run=dry_run, expect=expect)  # fmt: skip
        except ValidationError as exc:
            self._error("; ".join(p.message for p in exc.problems))
        except UserError as exc:
            self._error(str(exc))
        return None

    def _error(self, text: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity="error", visible=True)

    @param.depends("preview", watch=True)
    def _preview(self) -> None:
        self._alert.visible = False
        self._previewed = None
        self._stale()
        batch = self._run(dry_run=True)
        if batch is None:
            self._forget_preview()
            return
        summary: Summary = batch.details["summary"]
        show = FIELDS[self.field].type.display_in  # money in each customer's currency
        rows = [(cid, name, show(old, ccy), show(new, ccy))
                for cid, name, _label, old, new, ccy in summary.first]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["ID", "Customer Name", "Old", "New"])
        self._table.param.update(value=frame.astype(str), visible=bool(rows))
        lines = self._lines = summary.lines(first=0)
        self._summary.param.update(object="\n".join(lines), visible=True)
        self.message = lines[0]
        if summary.changed:
            self._previewed, self._result = self._key(), summary
            self._apply.disabled = False
        else:
            self.message = "Nothing would change: every selected customer already has it."
            self._alert.param.update(object=self.message, severity="info", visible=True)

    @param.depends("apply", watch=True)
    def _ask(self) -> None:
        # the button is disabled until a Preview; the check is here too, because an event
        # can arrive from a page whose button was not yet updated
        if self._result is None or self._previewed != self._key():
            self._error("Preview the change first: Apply writes only what a Preview showed.")
            return
        s = self._result
        f = FIELDS[self.field]
        shown = 3
        first = [
            f"{name}: {f.type.display_in(old, ccy) or '(empty)'} → "
            f"{f.type.display_in(new, ccy) or '(empty)'}"
            for _cid, name, _label, old, new, ccy in s.first[:shown]
        ]
        if s.changed > shown:
            first.append(f"and {s.changed - shown:,} more")
        self._question.object = (
            f"Change {f.label} for {plural(s.changed, 'customer')}? {s.fields[0].describe()}."
        )
        self._first.object = "\n".join(
            ["First:", *first, "The change can be undone afterwards (Undo, or More › Changes)."]
        )
        self._confirm.label = f"Yes, change {plural(s.changed, 'customer')}"
        self._alert.visible = False
        self._show_question(True)
        self.message = self.question

    def _show_question(self, asking: bool) -> None:
        """The confirmation in place of the preview (it repeats what counts), so that its
        buttons are on screen without scrolling; or the preview back."""
        self._asking.visible = asking
        self._actions.visible = not asking
        self._hint.visible = not asking
        self._summary.visible = not asking and bool(self._lines)
        self._table.visible = not asking and bool(self._lines) and not self._table.value.empty
        self._field.disabled = self._value.disabled = self._choice.disabled = asking

    @param.depends("back", watch=True)
    def _back(self) -> None:
        self._show_question(False)

    @param.depends("confirm", watch=True)
    def _apply_change(self) -> None:
        if self._result is None or self._previewed != self._key() or not self._asking.visible:
            self._error("Preview the change first: Apply writes only what a Preview showed.")
            return
        self._alert.visible = False
        batch = self._run(dry_run=False, expect=self._result.changed)
        if batch is None:
            # the data moved since the Preview (or the write was refused): preview again
            self._previewed = None
            self._stale()
            return
        self._dialog.open = False
        how = batch.details["summary"].fields[0].describe()
        self.message = f"Changed {plural(batch.count, 'customer')}: {how}."
        self._previewed = None
        self._stale()
        self._forget_preview()
        self.done_batch = batch.batch_id
        self.param.trigger("done_batch")

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self._dialog.open = False
