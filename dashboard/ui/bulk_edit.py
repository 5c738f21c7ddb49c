"""Bulk Edit: one field for every selected customer, previewed (old -> new) before it is
applied in one transaction."""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import customers as service
from ..errors import UserError, ValidationError
from ..fields import FIELDS, STATUS_FIELD, bulk_editable
from ..store import Store
from .controls import Button
from .safe import Grid, Notice, Text

HINTS = {
    "number": '10 sets the value; +5 adds; -5 subtracts; *1.2 multiplies; add ", at most 50" '
    'or ", at least 1" to bound the result; =-5 sets a negative number.',
    "tags": "+=vip adds tags; -=trial removes them; a plain list (vip, wholesale) replaces them.",
    "other": "The new value for every selected customer.",
}


class BulkEditDialog(pn.viewable.Viewer):
    """Choose a field and a value; see how many change and the first old -> new; apply."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    field = param.Selector(default=STATUS_FIELD, objects=[f.name for f in bulk_editable()],
                           doc="The field to change.")  # fmt: skip
    value = param.String(default="", doc="The new value, or a change such as +5 or *1.2.")
    choice = param.String(default="", doc="The new value of a choice field.")
    preview = param.Event(doc="Show how many customers change and how.")
    apply = param.Event(doc="Apply the change in one transaction.")
    cancel = param.Event(doc="Close without changing anything.")
    done_batch = param.String(default="", doc="The batch id of the last applied change.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._target = None
        self._field = pmui.Select.from_param(
            self.param.field, options={f.label: f.name for f in bulk_editable()}, label="Field",
            sizing_mode="stretch_width",
        )  # fmt: skip
        self._value = pmui.TextInput.from_param(
            self.param.value, label="Value", sizing_mode="stretch_width"
        )
        self._choice = pmui.Select.from_param(self.param.choice, label="Value", options=[""],
                                              sizing_mode="stretch_width")  # fmt: skip
        self._hint = Text("", variant="caption")
        self._summary = Text("", variant="body1")
        self._alert = Notice(
            object="", severity="error", visible=False, sizing_mode="stretch_width"
        )
        self._table = Grid(pd.DataFrame(), show_index=False, disabled=True, height=220,
                                           sizing_mode="stretch_width", visible=False,
                                           layout="fit_data_stretch")  # fmt: skip
        self._dialog = pmui.Dialog(
            pmui.Column(
                self._summary, self._field, self._value, self._choice, self._hint, self._alert,
                self._table,
                pmui.Row(
                    Button.from_param(self.param.cancel, label="Cancel", variant="outlined"),
                    Button.from_param(self.param.preview, label="Preview", variant="outlined",
                                           icon="visibility"),  # fmt: skip
                    Button.from_param(self.param.apply, label="Apply", variant="contained",
                                           icon="done_all"),  # fmt: skip
                ),
                sizing_mode="stretch_width", min_width=640,
            ),
            title="Bulk Edit", open=False, width_option="md",
        )  # fmt: skip
        self._on_field()

    def __panel__(self):
        return self._dialog

    @property
    def is_open(self) -> bool:
        return self._dialog.open

    def open_for(self, target: service.Target, count: int) -> None:
        """Open for the selected customers (a list of ids, or a view: all that match)."""
        self._target = target
        self._summary.object = f"{count:,} customer{'s' if count != 1 else ''} selected."
        self._alert.visible = False
        self._table.visible = False
        self.value = ""
        self._dialog.open = True

    @param.depends("field", watch=True)
    def _on_field(self) -> None:
        f = FIELDS[self.field]
        options = f.type.options()
        self._choice.visible = bool(options)
        self._value.visible = not options
        if options:
            self._choice.options = options
            self.choice = next(iter(options.values()))
        kind = "number" if f.type.numeric else "tags" if f.kind == "tags" else "other"
        self._hint.object = HINTS[kind]
        self._table.visible = False

    def _change(self) -> dict[str, str]:
        raw = self.choice if self._choice.visible else self.value
        return {self.field: raw}

    def _run(self, *, dry_run: bool):
        try:
            return service.bulk_edit(self.store, self._target, self._change(), user=self.user,
                                     dry_run=dry_run)  # fmt: skip
        except ValidationError as exc:
            self._error("; ".join(p.message for p in exc.problems))
        except UserError as exc:
            self._error(str(exc))
        return None

    def _error(self, text: str) -> None:
        self.message = text
        self._alert.param.update(object=text, visible=True)

    @param.depends("preview", watch=True)
    def _preview(self) -> None:
        self._alert.visible = False
        batch = self._run(dry_run=True)
        if batch is None:
            return
        rows = batch.details.get("preview", [])
        frame = pd.DataFrame(rows, columns=["ID", "Customer Name", "Field", "Old", "New"]).astype(
            str
        )
        self._table.param.update(value=frame, visible=bool(rows))
        self._summary.object = (
            f"{batch.count:,} customer{'s' if batch.count != 1 else ''} will change."
        )
        self.message = self._summary.object

    @param.depends("apply", watch=True)
    def _apply(self) -> None:
        self._alert.visible = False
        batch = self._run(dry_run=False)
        if batch is None:
            return
        self._dialog.open = False
        self.message = f"Changed {batch.count:,} customers (batch {batch.batch_id or 'none'})."
        self.done_batch = batch.batch_id
        self.param.trigger("done_batch")

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self._dialog.open = False
