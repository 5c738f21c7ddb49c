"""Delete: the selected customers, after a confirmation that names them."""

from __future__ import annotations

import panel as pn
import panel_material_ui as pmui
import param

from .. import customers as service
from ..errors import UserError
from ..store import Store
from ..words import plural
from .controls import Button
from .safe import Notice, Text


class DeleteDialog(pn.viewable.Viewer):
    """Asks before deleting: how many customers, the first names, and that it can be undone."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    confirm = param.Event(label="Delete", doc="Delete the customers.")
    cancel = param.Event(label="Cancel", doc="Keep the customers.")
    done_batch = param.String(default="", doc="The batch of the last delete (for Undo).")
    message = param.String(default="", doc="What the last delete did, in words.")

    def __init__(self, **params):
        super().__init__(**params)
        self._target: service.Target | None = None
        self._text = Text("", variant="body1")
        self._alert = Notice(object="", severity="error", visible=False,
                             sizing_mode="stretch_width")  # fmt: skip
        self._dialog = pmui.Dialog(
            self._text, self._alert,
            pmui.Row(
                Button.from_param(self.param.cancel, variant="outlined",
                                       description="Cancel: keep the customers"),  # fmt: skip
                Button.from_param(self.param.confirm, color="error", variant="contained",
                                       description="Delete the customers"),  # fmt: skip
            ),
            title="Delete customers?", open=False, close_on_click=True, show_close_button=True,
        )  # fmt: skip

    @property
    def is_open(self) -> bool:
        """Whether the confirmation is on screen."""
        return self._dialog.open

    def ask(self, target: service.Target) -> None:
        """Open the confirmation for `target` (ids or a view)."""
        self._target = target
        n, names = service.preview_targets(self.store, target)
        more = f" and {n - len(names):,} more" if n > len(names) else ""
        self._text.object = (
            f"Delete {plural(n, 'customer')} and their contacts: {', '.join(names)}{more}? "
            "The deletion is kept in the audit log and can be undone."
        )
        self._alert.visible = False
        self._dialog.open = True

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self._dialog.open = False

    @param.depends("confirm", watch=True)
    def _delete(self) -> None:
        try:
            batch = service.delete_customers(self.store, self._target, user=self.user)
        except UserError as exc:
            self._alert.param.update(object=str(exc), visible=True)
            return
        self._dialog.open = False
        self.message = f"Deleted {plural(batch.count, 'customer')}."
        self.done_batch = batch.batch_id
        self.param.trigger("done_batch")

    def __panel__(self):
        return self._dialog
