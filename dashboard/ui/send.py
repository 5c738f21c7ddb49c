"""Send: email or SMS to the selected customers, previewed, confirmed in words, then sent in
the background."""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import messaging
from ..errors import UserError
from ..fields import CUSTOMER_FIELDS, ID_FIELD
from ..settings import Settings
from ..store import Store
from .controls import Button
from .dialogs import CloseGuard, dialog, follow_typing, typed
from .display import plural, run_with_progress
from .keys import AUTOFOCUS
from .safe import Grid, Notice, Text


class SendDialog(pn.viewable.Viewer):
    """Channel, subject and body with {field} placeholders; preview; send."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the message log.")
    settings_path = param.String(default=None, allow_None=True, doc="The settings file.")
    channel = param.Selector(default="email", objects=["email", "sms"], doc="Email or SMS.")
    subject = param.String(default="", doc="Email subject; {name} and other fields allowed.")
    body = param.String(
        default="", doc="Message text; {name}, {credit} (with its currency), {city}... allowed."
    )
    dry_run = param.Boolean(default=False, doc="Record what would be sent; send nothing.")
    preview = param.Event(doc="Show how many messages, who is skipped, and the first message.")
    send = param.Event(doc="Ask before sending: to how many customers, who is skipped.")
    confirm = param.Event(doc="Send what the confirmation names (in the background).")
    back = param.Event(label="Back", doc="Not yet: back to the message.")
    cancel = param.Event(doc="Close without sending.")
    done_batch = param.String(default="", doc="The batch id of the last send.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._target = None
        self._subject = follow_typing(pmui.TextInput.from_param(
            self.param.subject, label="Subject", sizing_mode="stretch_width"
        ))  # fmt: skip
        self._body = follow_typing(pmui.TextAreaInput.from_param(
            self.param.body, label="Message", rows=5, sizing_mode="stretch_width"
        ))  # fmt: skip
        self._summary = Text("", variant="body1")
        self._first = Text("", variant="body2", styles={"white-space": "pre-wrap"})
        self._skipped = Grid(pd.DataFrame(), show_index=False, disabled=True, height=160,
                                             sizing_mode="stretch_width", visible=False)  # fmt: skip
        self._bar = pmui.LinearProgress(value=0, visible=False, sizing_mode="stretch_width")
        self._alert = Notice(
            object="", severity="error", visible=False, sizing_mode="stretch_width"
        )
        # the channel is not set up (Send stays off), and SMS to countries with known problems
        self._setup = Notice(object="", severity="warning", visible=False,
                             sizing_mode="stretch_width")  # fmt: skip
        self._warnings = Notice(object="", severity="warning", visible=False,
                                sizing_mode="stretch_width")  # fmt: skip
        self._problem: str | None = None
        self._busy = False
        # a send that stopped keeps its batch: Send stays off until the dialog is opened
        # again, so that a second click does not queue the same messages in a new batch
        self._stopped = False
        # Send asks first (the confirmation step), hence the ellipsis
        self._send_button = Button.from_param(self.param.send, label="Send…", variant="contained",
                                              icon="send")  # fmt: skip
        #: The plan the confirmation names: what its button sends, not a plan made again
        self._asked: messaging.SendPlan | None = None
        self._question = Text("", variant="body1", styles={"white-space": "pre-wrap"})
        self._confirm_button = Button.from_param(self.param.confirm, label="Send", variant="contained",
                                                 icon="send", description="Send the messages counted above")  # fmt: skip
        self._back_button = Button.from_param(self.param.back, variant="outlined", icon="arrow_back",
                                              description="Back: to the message, nothing sent")  # fmt: skip
        self._asking = pmui.Column(
            self._question,
            # the buttons wrap on a phone: in one row "Send to 3 customers" ran off the dialog
            pn.FlexBox(
                self._back_button,
                Button.from_param(self.param.cancel, label="Cancel", variant="outlined",
                                  description="Cancel: close, nothing sent"),
                self._confirm_button,
                flex_wrap="wrap", align_items="center", sizing_mode="stretch_width", margin=0,
            ),
            visible=False, sizing_mode="stretch_width", margin=0,
        )  # fmt: skip
        self._guard_bar = pmui.Column(sizing_mode="stretch_width", margin=0)
        self._typed: tuple[str, str] | None = None
        self._compose = pmui.Column(
            self._summary,
            pmui.RadioButtonGroup.from_param(self.param.channel, options={"Email": "email", "SMS": "sms"},
                                             label="Send"),  # fmt: skip
            self._subject,
            self._body,
            Text("Placeholders: any field, by its label as the grid shows it or by its "
                 "name, in any case: " + ", ".join(["{" + f.label + "}" for f in CUSTOMER_FIELDS
                                                    if f.default_visible and f.name != ID_FIELD
                                                    and "(" not in f.label][:5]) + "…",
                 variant="caption"),  # fmt: skip
            pmui.Switch.from_param(self.param.dry_run, label="Dry run (record, do not send)"),
            self._setup, self._warnings, self._first, self._skipped,
            pmui.Row(
                Button.from_param(self.param.cancel, label="Cancel", variant="outlined"),
                Button.from_param(self.param.preview, label="Preview", variant="outlined", icon="visibility"),
                self._send_button,
            ),
            sizing_mode="stretch_width", margin=0,
        )  # fmt: skip
        self._dialog = dialog(
            pmui.Column(
                # the question goes first: Escape after a Preview closes the dialog in the
                # browser, and opened again it shows its top, the question far below it
                self._guard_bar,
                # one step at a time: the message, then the confirmation in its place (its
                # buttons on screen without scrolling); what a send says and its progress
                # under either
                self._compose, self._asking, self._alert, self._bar,
                sizing_mode="stretch_width", min_width=300,
            ),
            title="Send", width_option="md",
        )  # fmt: skip
        self._guard = CloseGuard(
            self._dialog, self._has_typing, question="Your message is not sent; close anyway?"
        )  # fmt: skip
        self._guard_bar.objects = [self._guard]

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
        self._warnings.visible = False
        self._first.object = ""
        self._skipped.visible = False
        self._bar.visible = False
        self._stopped = False
        self._send_button.css_classes = []  # a new dialog: Material UI places the focus
        self._show_question(False)
        self._typed = (self.subject, self.body)
        self._guard.reset()
        self._check_setup()
        self._dialog.open = True

    @param.depends("channel", watch=True, on_init=True)
    def _on_channel(self) -> None:
        if hasattr(self, "_subject"):
            self._subject.visible = self.channel == "email"
            self._warnings.visible = False
            self._check_setup()

    @param.depends("dry_run", watch=True)
    def _on_dry_run(self) -> None:
        self._check_setup()

    @property
    def can_send(self) -> bool:
        """Whether Send is on: the channel is set up (or it is a dry run), nothing running."""
        return not self._send_button.disabled

    def _check_setup(self) -> str | None:
        """Read the settings again and say whether the channel can send: Send stays off
        until it can (a dry run needs no server). Returns what is missing."""
        try:
            settings = Settings.load(self.settings_path)
            problem = messaging.channel_problem(settings, self.channel)
        except UserError as exc:  # a broken settings file
            problem = str(exc)
        self._problem = problem
        text = (f"{problem}. Send stays off until it is set up; a dry run needs no server."
                if problem else "")  # fmt: skip
        self._setup.param.update(object=text, visible=bool(problem))
        off = self._busy or self._stopped or bool(problem and not self.dry_run)
        self._send_button.disabled = off
        self._confirm_button.disabled = off or not (self._asked and self._asked.messages)
        self._back_button.disabled = self._busy
        return problem

    def _plan(self) -> messaging.SendPlan | None:
        try:
            return messaging.plan_send(self.store, self._target, self.channel, self.body,
                                       self.subject if self.channel == "email" else None)  # fmt: skip
        except UserError as exc:
            self._error(str(exc))
            return None

    @param.depends("preview", watch=True)
    def _preview(self) -> messaging.SendPlan | None:
        if not self._stopped:  # what stopped a send stays in sight
            self._alert.visible = False
        self._check_setup()
        plan = self._plan()
        if plan is None:
            self._warnings.visible = False
            return None
        self.message = plan.summary()
        self._warnings.param.update(object="\n".join(plan.warnings), visible=bool(plan.warnings))
        first = plan.preview
        self._first.object = (f"{plan.summary()}\n\nFirst message, to {first.recipient}:\n"
                              + (f"Subject: {first.subject}\n" if first.subject else "") + first.body
                              if first else plan.summary())  # fmt: skip
        skipped = pd.DataFrame(plan.skipped, columns=["ID", "Customer", "Skipped because"])
        self._skipped.param.update(value=skipped, visible=bool(len(skipped)))
        return plan

    @property
    def asking(self) -> bool:
        """Whether the confirmation (what will happen, then Back / Cancel / Send to N) is on
        screen."""
        return self._asking.visible

    @property
    def question(self) -> str:
        """The confirmation's words."""
        return self._question.object

    @param.depends("send", watch=True)
    def _ask(self) -> None:
        """The confirmation in place of the message: counted by the plan the send uses."""
        plan = self._ready_plan()
        if plan is None:
            return
        self._asked = plan
        self._question.object = "\n".join([plan.question(dry_run=self.dry_run), *plan.warnings])
        self._confirm_button.label = plan.action(dry_run=self.dry_run)
        self.message = self._question.object
        self._show_question(True)
        # the focus was on Send…, hidden now: it goes to the button that does what is asked
        # (Enter confirms, Tab reaches Cancel and Back; see AUTOFOCUS)
        self._send_button.css_classes = []
        self._confirm_button.css_classes = [AUTOFOCUS] if plan.messages else []
        self._back_button.css_classes = [] if plan.messages else [AUTOFOCUS]

    def _show_question(self, asking: bool) -> None:
        self._asking.visible = asking
        self._compose.visible = not asking
        if not asking:
            self._asked = None
        self._check_setup()

    @param.depends("back", watch=True)
    def _back(self) -> None:
        self._alert.visible = False
        self._show_question(False)
        self._send_button.css_classes = [AUTOFOCUS]  # the focus, on Back, hidden now

    @param.depends("confirm", watch=True)
    async def _send(self) -> None:
        plan = self._asked
        if plan is None or not self.asking:
            self._error("Nothing was sent: confirm the send first.")
            return
        if not self._sendable():
            return
        self._set_busy(True)
        try:
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
            except UserError as exc:  # DeliveryStopped says what is left and where to resume
                self._stopped = True
                self._error(str(exc))
                return
            self.finish(batch_id, counts)
        finally:
            self._set_busy(False)

    def _ready_plan(self) -> messaging.SendPlan | None:
        """The previewed plan if it may be sent now; else None, with the reason shown."""
        plan = self._preview()
        if plan is None or not self._sendable():
            return None
        return plan

    def _sendable(self) -> bool:
        """Whether a send may start now; else the reason is shown."""
        self._check_setup()
        if self._problem and not self.dry_run:
            self._error(f"{self._problem}. Nothing was sent.")
            return False
        if self._busy:
            self._error("A send is already running; wait until it is done.")
            return False
        if self._stopped:
            self._error("This send stopped: resume or discard its batch on the Messages page "
                        "(/messages).")  # fmt: skip
            return False
        return True

    def _set_busy(self, busy: bool) -> None:
        # Send is off while sending: a second click would queue the same messages again
        self._busy = busy
        self._check_setup()

    def send_now(self):
        """Send synchronously, as if confirmed (API and tests; the page asks first and sends
        in the background); the batch id, or None when nothing could be sent (the reason is
        in `message`)."""
        plan = self._ready_plan()
        if plan is None:
            return None
        try:
            settings = Settings.load(self.settings_path)
            batch_id = messaging.queue(self.store, plan, user=self.user, dry_run=self.dry_run)
        except UserError as exc:
            self._error(str(exc))
            return None
        try:
            counts = messaging.counts(self.store, batch_id) if self.dry_run else messaging.deliver(
                self.store, batch_id, settings)  # fmt: skip
        except UserError as exc:
            self._stopped = True
            self._check_setup()
            self._error(str(exc))
            return None
        self.finish(batch_id, counts)
        return batch_id

    def finish(self, batch_id: str, counts: dict[str, int]) -> None:
        shown = messaging.describe_counts(counts)
        left = counts["queued"] + counts["retrying"]
        rest = (f" {left:,} left to send: resume or discard them on the Messages page "
                "(/messages)." if left else "")  # fmt: skip
        what = "Dry run" if self.dry_run else "Not all sent" if left else "Sent"
        # the batch is named only where someone needs it: to resume what is left
        batch = f" (batch {batch_id})" if left else ""
        if self.dry_run:  # "2 messages recorded, nothing sent", not "Dry run: 2 dry run"
            others = messaging.describe_counts({k: n for k, n in counts.items() if k != "dry-run"})
            shown = f"{plural(counts.get('dry-run', 0), 'message')} recorded, nothing sent" + (
                f"; {others}" if others else ""
            )
        self.message = f"{what}: {shown}{batch}.{rest}"
        self._guard.close()
        self.done_batch = batch_id
        self.param.trigger("done_batch")

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self._guard.request_close()

    def _has_typing(self) -> bool:
        """Whether the subject or the message was changed since the dialog opened."""
        now = (typed(self._subject), typed(self._body))
        return self._typed is not None and now != self._typed

    def _error(self, text: str) -> None:
        self.message = text
        self._alert.param.update(object=text, visible=True)
