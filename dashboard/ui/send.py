"""Send: email or SMS to the selected customers, previewed, then sent in the background."""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import messaging
from ..errors import UserError
from ..settings import Settings
from ..store import Store
from .controls import Button
from .display import plural, run_with_progress
from .safe import Grid, Notice, Text


class SendDialog(pn.viewable.Viewer):
    """Channel, subject and body with {field} placeholders; preview; send."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the message log.")
    settings_path = param.String(default=None, allow_None=True, doc="The settings file.")
    channel = param.Selector(default="email", objects=["email", "sms"], doc="Email or SMS.")
    subject = param.String(default="", doc="Email subject; {name} and other fields allowed.")
    body = param.String(default="", doc="Message text; {name}, {credit}, {currency}... allowed.")
    dry_run = param.Boolean(default=False, doc="Record what would be sent; send nothing.")
    preview = param.Event(doc="Show how many messages, who is skipped, and the first message.")
    send = param.Event(doc="Send the messages (in the background).")
    cancel = param.Event(doc="Close without sending.")
    done_batch = param.String(default="", doc="The batch id of the last send.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._target = None
        self._subject = pmui.TextInput.from_param(
            self.param.subject, label="Subject", sizing_mode="stretch_width"
        )
        self._summary = Text("", variant="body1")
        self._first = Text("", variant="body2", styles={"white-space": "pre-wrap"})
        self._skipped = Grid(pd.DataFrame(), show_index=False, disabled=True, height=160,
                                             sizing_mode="stretch_width", visible=False)  # fmt: skip
        self._bar = pmui.LinearProgress(value=0, visible=False, sizing_mode="stretch_width")
        self._alert = Notice(
            object="", severity="error", visible=False, sizing_mode="stretch_width"
        )
        self._dialog = pmui.Dialog(
            pmui.Column(
                self._summary,
                pmui.RadioButtonGroup.from_param(self.param.channel, options={"Email": "email", "SMS": "sms"},
                                                 label="Send"),  # fmt: skip
                self._subject,
                pmui.TextAreaInput.from_param(self.param.body, label="Message", rows=5, sizing_mode="stretch_width"),
                Text("Placeholders: {name}, {credit}, {currency}, {status}, {channels} "
                                "and any other field name.", variant="caption"),  # fmt: skip
                pmui.Switch.from_param(self.param.dry_run, label="Dry run (record, do not send)"),
                self._alert, self._first, self._skipped, self._bar,
                pmui.Row(
                    Button.from_param(self.param.cancel, label="Cancel", variant="outlined"),
                    Button.from_param(self.param.preview, label="Preview", variant="outlined", icon="visibility"),
                    Button.from_param(self.param.send, label="Send", variant="contained", icon="send"),
                ),
                sizing_mode="stretch_width", min_width=640,
            ),
            title="Send", open=False, width_option="md",
        )  # fmt: skip

    def __panel__(self):
        return self._dialog

    @property
    def is_open(self) -> bool:
        return self._dialog.open

    def open_for(self, target, count: int) -> None:
        self._target = target
        self._summary.object = (
            f"{plural(count, 'customer')} selected. Customers never see each other's addresses."
        )
        self._alert.visible = False
        self._first.object = ""
        self._skipped.visible = False
        self._bar.visible = False
        self._dialog.open = True

    @param.depends("channel", watch=True, on_init=True)
    def _on_channel(self) -> None:
        if hasattr(self, "_subject"):
            self._subject.visible = self.channel == "email"

    def _plan(self) -> messaging.SendPlan | None:
        try:
            return messaging.plan_send(self.store, self._target, self.channel, self.body,
                                       self.subject if self.channel == "email" else None)  # fmt: skip
        except UserError as exc:
            self._error(str(exc))
            return None

    @param.depends("preview", watch=True)
    def _preview(self) -> messaging.SendPlan | None:
        self._alert.visible = False
        plan = self._plan()
        if plan is None:
            return None
        self.message = plan.summary()
        first = plan.preview
        self._first.object = (f"{plan.summary()}\n\nFirst message, to {first.recipient}:\n"
                              + (f"Subject: {first.subject}\n" if first.subject else "") + first.body
                              if first else plan.summary())  # fmt: skip
        skipped = pd.DataFrame(plan.skipped, columns=["ID", "Customer", "Skipped because"])
        self._skipped.param.update(value=skipped, visible=bool(len(skipped)))
        return plan

    @param.depends("send", watch=True)
    async def _send(self) -> None:
        plan = self._preview()
        if plan is None:
            return
        try:
            settings = Settings.load(self.settings_path)
            batch_id = messaging.queue(self.store, plan, user=self.user, dry_run=self.dry_run)
        except UserError as exc:
            self._error(str(exc))
            return
        if self.dry_run:
            self.finish(batch_id, messaging.counts(self.store, batch_id))
            return
        try:
            counts = await run_with_progress(
                lambda report: messaging.deliver(
                    self.store, batch_id, settings, progress=lambda i, n: report(i / max(n, 1))
                ),
                self._bar,
            )
        except UserError as exc:
            self._error(
                f"{exc} (the messages stay queued in batch {batch_id}; send again to resume)"
            )
            return
        self.finish(batch_id, counts)

    def send_now(self):
        """Send synchronously (API and tests; the page sends in the background)."""
        plan = self._preview()
        if plan is None:
            return None
        batch_id = messaging.queue(self.store, plan, user=self.user, dry_run=self.dry_run)
        counts = messaging.counts(self.store, batch_id) if self.dry_run else messaging.deliver(
            self.store, batch_id, Settings.load(self.settings_path))  # fmt: skip
        self.finish(batch_id, counts)
        return batch_id

    def finish(self, batch_id: str, counts: dict[str, int]) -> None:
        shown = ", ".join(f"{v:,} {k}" for k, v in counts.items() if v)
        self.message = f"{'Dry run' if self.dry_run else 'Sent'}: {shown} (batch {batch_id})."
        self._dialog.open = False
        self.done_batch = batch_id
        self.param.trigger("done_batch")

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self._dialog.open = False

    def _error(self, text: str) -> None:
        self.message = text
        self._alert.param.update(object=text, visible=True)
