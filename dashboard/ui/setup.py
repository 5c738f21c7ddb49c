"""Setup > Settings (the TOML file, with Test Email and Test SMS) and the Messages log."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param
from panel.io.state import set_curdoc

from .. import messaging, money
from ..access import ROLES, Actor, allowed
from ..errors import UserError, ValidationError
from ..settings import DEFAULTS, LABELS, SECURITY, Settings
from ..store import Store
from ..types import timestamp_text
from .card import FirstProblem
from .controls import Button
from .display import plural, run_with_progress
from .grid import grid_options
from .safe import Grid, Notice, Text, rows_height


def _param(section: str, key: str, default) -> param.Parameter:
    doc = LABELS[(section, key)]
    if key == "security":
        return param.Selector(default=default, objects=list(SECURITY), doc=doc)
    if isinstance(default, bool):
        return param.Boolean(default=default, doc=doc)
    if key == "port":
        return param.Integer(default=default, bounds=(1, 65535), doc=doc)
    if isinstance(default, int | float):
        return param.Number(default=default, doc=doc)
    return param.String(default=default, doc=doc)


#: How long Save and the tests wait before reading the form, in ms. A number field sends
#: its typed value when it loses the focus, a moment after the click on Save that took the
#: focus has reached the server (panel-material-ui sets it in an effect, after the render
#: the blur causes); Panel then applies a change after 50 ms. Read at once, the form still
#: held the old number: Save wrote 5 where 7 was typed, and a second Save wrote 7.
SETTLE_MS = 250


#: An answer's notice: right of its button, taking the rest of the line; below it when less
#: than 280 px is left (a phone).
ANSWER = dict(sizing_mode="stretch_width", min_width=280, styles={"flex": "1 1 280px"})


class Reveal(pn.custom.JSComponent):
    """Scrolls the page, as little as it takes, to bring this point into sight each time
    `shown` counts up: placed under a button's row, its answer beside it is seen whole
    (a Save at the window's foot had its answer drawn half below it)."""

    shown = param.Integer(default=0, doc="Counts the answers to bring into sight.")

    _esm = """
    export function render({ model, el }) {
      // after the answer is drawn: it may make the row taller
      model.on("shown", () => setTimeout(() => el.scrollIntoView({block: "nearest"}), 150));
    }
    """


#: One parameter per setting, named section_key, made from the settings' public keys.
SettingsForm = param.parameterized_class(
    "SettingsForm",
    {f"{s}_{k}": _param(s, k, v) for s, keys in DEFAULTS.items() for k, v in keys.items()},
)


class SettingsPage(pn.viewable.Viewer):
    """Edit the settings file; secrets stay in the environment and are never shown."""

    path = param.String(default=None, allow_None=True, doc="The settings file.")
    role = param.Selector(default="admin", objects=list(ROLES), doc="The signed-in user's role.")
    store = param.ClassSelector(class_=Store, default=None, allow_None=True,
                                doc="The store acting as the signed-in user (None: the "
                                    "local operator with `role`).")  # fmt: skip
    save = param.Event(doc="Check and save the settings.")
    test_to = param.String(default="", doc="Where to send a test message.")
    test_email = param.Event(doc="Send a test email to the address given beside it.")
    test_sms = param.Event(doc="Send a test SMS to the number given beside it.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self.settings = Settings.load(self.path)
        self.form = SettingsForm()
        self.form.param.update(
            **{f"{s}_{k}": v for s, d in self.settings.as_dict().items() for k, v in d.items()}
        )
        # each answer beside the button it answers: at the top of the page it was out of
        # sight of a person who had scrolled down to Save
        self._saved = Notice(object="", severity="info", visible=False, **ANSWER)
        self._tested = Notice(object="", severity="info", visible=False, **ANSWER)
        self._answer = self._saved  # where `_say` speaks: beside the button last used
        #: The form's widgets by (section, key), marked with their problem when refused.
        self._widgets: dict[tuple[str, str], pn.widgets.Widget] = {}
        self._first_problem = FirstProblem(height=0, margin=0, sizing_mode="stretch_width")
        self._reveals = {self._saved: Reveal(height=0, margin=0, sizing_mode="stretch_width"),
                         self._tested: Reveal(height=0, margin=0, sizing_mode="stretch_width")}  # fmt: skip

    def _section(self, section: str, title: str):
        widgets = []
        for key in DEFAULTS[section]:
            p = self.form.param[f"{section}_{key}"]
            label = LABELS[(section, key)]
            if key == "security":
                widgets.append(pmui.Select.from_param(p, label=label, width=300))
            elif key == "port":
                # a port is a code, not an amount: 2525, never "2,525"
                widgets.append(pmui.IntInput.from_param(p, label=label, width=300, format="0"))
            elif isinstance(DEFAULTS[section][key], int | float):
                widgets.append(pmui.FloatInput.from_param(p, label=label, width=300))
            else:
                widgets.append(pmui.TextInput.from_param(p, label=label, width=300))
            self._widgets[(section, key)] = widgets[-1]
        return pmui.Column(
            Text(title, variant="h6"),
            pmui.FlexBox(*widgets),
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        secrets = ("The SMTP password and the Twilio auth token are never stored here: set "
                   "CUSTOMER_DASHBOARD_SMTP_PASSWORD and CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN, or "
                   "a secrets file named by CUSTOMER_DASHBOARD_SECRETS.")  # fmt: skip
        return pmui.Column(
            self._first_problem,
            self._section("email", "Email (outbound server)"),
            self._section("sms", "SMS (Twilio)"),
            self._section("docs", "Documentation"),
            self._section("money", "Money"),
            Text(secrets, variant="caption"),
            pn.FlexBox(
                Button.from_param(self.param.save, label="Save settings", variant="contained", icon="save"),
                self._saved, align_items="center", sizing_mode="stretch_width", margin=0,
            ),
            self._reveals[self._saved],
            pmui.Divider(),
            pn.FlexBox(
                pmui.TextInput.from_param(self.param.test_to, label="Send a test to (email or +number)", width=320),
                Button.from_param(self.param.test_email, label="Test Email", variant="outlined"),
                Button.from_param(self.param.test_sms, label="Test SMS", variant="outlined"),
                self._tested, align_items="center", sizing_mode="stretch_width", margin=0,
            ),
            self._reveals[self._tested],
            sizing_mode="stretch_width", max_width=1100,
        )  # fmt: skip

    def values(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for s, keys in DEFAULTS.items():
            for k, default in keys.items():
                v = getattr(self.form, f"{s}_{k}")
                if (
                    isinstance(default, int)
                    and not isinstance(default, bool)
                    and float(v).is_integer()
                ):
                    v = int(v)
                out.setdefault(s, {})[k] = v
        return out

    def _when_typed(self, action) -> None:
        """Run `action` once what was typed has reached the server (see SETTLE_MS); at
        once outside a served page (a notebook, tests)."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            action()
            return

        def later() -> None:
            with set_curdoc(doc):
                action()

        doc.add_timeout_callback(later, SETTLE_MS)

    @param.depends("save", watch=True)
    def _save(self) -> None:
        self._when_typed(self._save_now)

    def _save_now(self) -> None:
        self._answer = self._saved
        if not allowed(self.role, "settings"):
            self._say("Only admins may change the settings.", "error")
            return
        try:
            self.settings.update(self.values())
            path = self.settings.save(by=self._actor())
        except ValidationError as exc:
            self._refused(exc)
            return
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._mark({})
        self._say(f"Saved to {path}.", "success")

    def _refused(self, exc: ValidationError) -> None:
        """Say what was refused, and mark each refused field with its problem and take the
        person to the first (as the customer card does)."""
        marks = {}
        for p in exc.problems:
            where = tuple(str(p.field).split(".", 1))
            if where in self._widgets:
                marks[where] = p.describe().removeprefix(p.label or "").lstrip(": ").strip()
        self._mark(marks)
        # a marked field, its problem under it, is brought into sight (not the answer)
        self._say("; ".join(p.describe() for p in exc.problems), "error", reveal=not marks)
        if marks:
            self._first_problem.refused += 1

    def _mark(self, marks: dict[tuple[str, str], str]) -> None:
        """Show each field's problem under it (none: every mark cleared)."""
        for where, widget in self._widgets.items():
            text = marks.get(where, "")
            widget.param.update(error_state=bool(text), helper_text=text)

    def _actor(self):
        """Who the service functions check: the session's store, else the local operator."""
        return self.store if self.store is not None else Actor("operator", self.role)

    @param.depends("test_email", watch=True)
    def _test_email(self) -> None:
        self._when_typed(lambda: self._test("email"))

    @param.depends("test_sms", watch=True)
    def _test_sms(self) -> None:
        self._when_typed(lambda: self._test("sms"))

    def _test(self, channel: str) -> None:
        self._answer = self._tested
        if not allowed(self.role, "send"):
            self._say("Only admins may send test messages.", "error")
            return
        try:
            self.settings.update(self.values())
            answer = messaging.send_test(self.settings, channel, self.test_to, by=self._actor())
        except ValidationError as exc:
            self._refused(exc)
            return
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._say(f"Test {channel}: {answer}.", "success")

    def _say(self, text: str, severity: str, reveal: bool = True) -> None:
        """Show `text` beside the button just used (`_answer`), brought into sight unless
        not `reveal`; the other answer goes."""
        self.message = text
        for notice in (self._saved, self._tested):
            if notice is not self._answer:
                notice.visible = False
        self._answer.param.update(object=text, severity=severity, visible=True)
        if reveal:
            self._reveals[self._answer].shown += 1


#: The log's columns as the Messages page shows them, in order.
LOG_TITLES = {"created_at": "When", "customer": "Customer", "channel": "Channel",
              "recipient": "To", "subject": "Subject", "status": "Status",
              "provider_id": "Provider id", "error": "Problem"}  # fmt: skip
#: Their widths in pixels: together they fit a 1280 px window. Longer text is cut with "..."
#: and shown whole on hover; the last column takes what room is left on wider screens.
LOG_WIDTHS = {"created_at": 142, "customer": 160, "channel": 76, "recipient": 180,
              "subject": 160, "status": 140, "provider_id": 120, "error": 170}  # fmt: skip
#: Messages per page of the log (each page is one query).
LOG_PAGE_SIZE = 50
CHANNEL_WORDS = {"email": "Email", "sms": "SMS"}


class MessagesPage(pn.viewable.Viewer):
    """The message log, newest first, a page at a time from the database, filterable by
    status and batch; above it the batches with messages left to send, which admins resume
    (in the background, with a progress bar) or discard."""

    store = param.ClassSelector(class_=Store, doc="The database gateway, acting as the user.")
    batch_id = param.String(default="", doc="Only this batch (empty: every batch).")
    status = param.Selector(default="all", objects=["all", *messaging.STATUSES],
                            doc="Only this status.")  # fmt: skip
    page = param.Integer(default=1, bounds=(1, None), doc="The page of the log shown (1: newest).")
    refresh = param.Event(doc="Reload the log.")
    refresh_delivery = param.Event(doc="Fetch the batch's SMS delivery statuses from Twilio.")
    discard_yes = param.Event(label="Yes, discard",
                              doc="Discard the messages left in the batch: none of them is sent.")  # fmt: skip
    discard_no = param.Event(label="Keep them", doc="Keep the batch as it is, to resume later.")
    settings_path = param.String(default=None, allow_None=True, doc="The settings file.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._admin = allowed(self.store.role, "send")
        self._running: str | None = None  # the batch this page is resuming
        self._to_discard: str | None = None  # the batch whose discard awaits a yes
        self._syncing = False
        self._alert = Notice(object="", severity="info", visible=False,
                             sizing_mode="stretch_width", margin=(5, 10))  # fmt: skip
        self._bar = pmui.LinearProgress(value=0, visible=False, sizing_mode="stretch_width")
        self._open = pn.Column(sizing_mode="stretch_width", margin=0)
        self._confirm_text = Notice(object="", severity="warning", sizing_mode="stretch_width")
        self._confirm = pn.Column(
            self._confirm_text,
            pmui.Row(Button.from_param(self.param.discard_yes, color="error", variant="contained"),
                     Button.from_param(self.param.discard_no, variant="outlined")),
            visible=False, sizing_mode="stretch_width", margin=0,
        )  # fmt: skip
        self._batch = pmui.Select(label="Batch", options={"All batches": ""}, value="",
                                  sizing_mode="stretch_width", min_width=200, max_width=440,
                                  description="Only the messages of one send")  # fmt: skip
        self._batch.param.watch(self._on_batch_choice, "value")
        self._status = pmui.Select(
            label="Status", width=200, value=self.status, description="Only messages in this status",
            options={"All statuses": "all", **{w: s for s, w in messaging.STATUSES.items()}},
        )  # fmt: skip
        self._status.link(self, value="status", bidirectional=True)
        self._count = Text("", variant="body2", margin=(0, 8))
        self._pager = pmui.Pagination(count=1, value=0, size="small", show_first_button=True,
                                      show_last_button=True, sibling_count=1)  # fmt: skip
        self._pager.param.watch(self._on_pager, "value")
        # an empty log says so in words (its empty grid read as a page that did not load)
        self._none = Notice(
            object="No messages yet. Messages sent with Send on the Customers page are "
            "listed here, newest first.", severity="info", visible=False,
            sizing_mode="stretch_width", margin=(5, 10),
        )  # fmt: skip
        self._table = Grid(
            _empty_log(), titles=LOG_TITLES, widths=LOG_WIDTHS,
            **grid_options("No messages match.", layout="fit_data_stretch", configuration={
                "placeholder": "No messages match.",
                "columnDefaults": {"tooltip": True, "headerSort": False}}),
        )  # fmt: skip
        self._load()

    # --- the log -----------------------------------------------------------------------

    @param.depends("batch_id", "status", watch=True)
    def _first_page(self) -> None:
        if self.page != 1:
            self.page = 1  # loads through the watcher below
        else:
            self._load()

    @param.depends("page", "refresh", watch=True)
    def _load(self) -> None:
        """Read the open batches, the batch choices and one page of the log."""
        self._show_batches()
        frame, total = messaging.message_page(
            self.store, batch_id=self.batch_id.strip() or None,
            status=None if self.status == "all" else self.status,
            offset=(self.page - 1) * LOG_PAGE_SIZE, limit=LOG_PAGE_SIZE,
        )  # fmt: skip
        self._table.value = _shown_log(frame)
        pages = max(1, math.ceil(total / LOG_PAGE_SIZE))
        self._count.object = plural(total, "message")
        # no message at all (not merely none matching the filters)
        self._none.visible = not total and not self.batch_id.strip() and self.status == "all"
        self._syncing = True
        try:
            self._pager.count = pages
            self._pager.value = min(self.page, pages) - 1
        finally:
            self._syncing = False

    def _on_pager(self, event) -> None:
        if not self._syncing and event.new is not None and event.new + 1 != self.page:
            self.page = event.new + 1

    def _on_batch_choice(self, event) -> None:
        if not self._syncing and (event.new or "") != self.batch_id:
            self.batch_id = event.new or ""

    # --- batches -----------------------------------------------------------------------

    def _show_batches(self) -> None:
        """The batch choices of the filter, and the batches with messages left to send."""
        recent = messaging.send_batches(self.store, limit=100)
        options = {"All batches": ""}
        options.update({_batch_label(r): r["batch_id"] for r in recent.to_dict("records")})
        if self.batch_id and self.batch_id not in options.values():
            options[self.batch_id] = self.batch_id  # a batch from a link or an older one
        self._syncing = True
        try:
            self._batch.param.update(options=options, value=self.batch_id)
        finally:
            self._syncing = False
        open_batches = messaging.send_batches(self.store, open_only=True, limit=20)
        rows = [self._batch_row(r) for r in open_batches.to_dict("records")]
        if rows:
            rows.insert(0, Text("Batches with messages left to send", variant="subtitle1"))
        self._open.objects = rows

    def _batch_row(self, r: dict) -> pn.viewable.Viewable:
        batch_id = r["batch_id"]
        left = {s: int(r[s]) for s in messaging.LEFT}
        resumable = sum(left[s] for s in messaging.RESUMABLE)
        held = batch_id == self._running or bool(r["being_sent"])
        text = (f"{_batch_label(r)}: {messaging.describe_counts(left)}"
                + (" (being sent now)" if held else ""))  # fmt: skip
        parts: list = [Text(text, variant="body2", margin=(0, 8), align="center")]
        if self._admin:
            resume = Button(label="Resume", icon="play_arrow", variant="contained", size="small",
                            disabled=held or not resumable or self._running is not None,
                            description=f"Resume batch {batch_id}: send its {plural(resumable, 'message')} "
                                        "not yet accepted (each at most once)")  # fmt: skip

            async def on_resume(_event, batch_id=batch_id) -> None:
                await self.resume_batch(batch_id)

            resume.on_click(on_resume)
            discard = Button(label="Discard", icon="delete_sweep", variant="outlined",
                             size="small", color="error", disabled=batch_id == self._running,
                             description=f"Discard batch {batch_id}: mark what is left as "
                                         "discarded; nothing is sent")  # fmt: skip
            n_left = sum(left.values())
            discard.on_click(lambda _e, b=batch_id, n=n_left: self.ask_discard(b, n))
            parts += [resume, discard]
        return pn.FlexBox(*parts, align_items="center", sizing_mode="stretch_width", margin=0)

    async def resume_batch(self, batch_id: str) -> None:
        """Send what the batch has left, in the background, with the progress bar."""
        if self._running is not None:
            self._say(f"Batch {self._running} is being resumed; wait until it is done.", "warning")
            return
        self._running = batch_id
        self._confirm.visible = False
        self._show_batches()
        self._say(f"Resuming batch {batch_id}...", "info")
        try:
            settings = Settings.load(self.settings_path)
            counts = await run_with_progress(
                lambda report: messaging.resume(
                    self.store, batch_id, settings, progress=lambda i, n: report(i / max(n, 1))
                ),
                self._bar,
            )
        except UserError as exc:
            self._say(str(exc), "error")
        else:
            left = counts["queued"] + counts["retrying"]
            self._say(f"Batch {batch_id}: {messaging.describe_counts(counts)}."
                      + (f" {left:,} still left to send." if left else ""),
                      "warning" if left or counts["failed"] else "success")  # fmt: skip
        finally:
            self._running = None
            self._bar.visible = False
            self._load()

    def ask_discard(self, batch_id: str, n: int) -> None:
        """Ask before discarding what the batch has left."""
        self._to_discard = batch_id
        self._confirm_text.object = (
            f"Discard the {plural(n, 'message')} left in batch {batch_id}? They are marked "
            "discarded and never sent; the messages already sent stay as they are."
        )
        self._confirm.visible = True

    @param.depends("discard_no", watch=True)
    def _keep(self) -> None:
        self._to_discard = None
        self._confirm.visible = False

    @param.depends("discard_yes", watch=True)
    def _discard(self) -> None:
        batch_id, self._to_discard = self._to_discard, None
        self._confirm.visible = False
        if not batch_id:
            return
        try:
            counts = messaging.discard(self.store, batch_id)
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._load()
        self._say(f"Batch {batch_id}: {messaging.describe_counts(counts)}.", "success")

    @param.depends("refresh_delivery", watch=True)
    def _refresh_delivery(self) -> None:
        batch = self.batch_id.strip()
        if not batch:
            self._say("Choose the batch whose SMS delivery to check.", "warning")
            return
        try:
            counts = messaging.refresh_status(self.store, batch, Settings.load(self.settings_path))
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._load()
        self._say(f"Delivery: {messaging.describe_counts(counts)}.", "success")

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True)

    def __panel__(self):
        filters = pn.FlexBox(
            self._batch, self._status,
            Button.from_param(self.param.refresh, label="Refresh", icon="refresh", variant="outlined"),
            Button.from_param(self.param.refresh_delivery, visible=self._admin,
                              label="Refresh SMS delivery status", icon="sms", variant="outlined"),
            align_items="center", sizing_mode="stretch_width", margin=0,
        )  # fmt: skip
        pager = pn.FlexBox(self._count, self._pager, align_items="center",
                           justify_content="space-between", sizing_mode="stretch_width", margin=0)  # fmt: skip
        return pmui.Column(self._alert, self._confirm, self._open, self._bar, filters,
                           self._none, self._table, pager, sizing_mode="stretch_width")  # fmt: skip


def _batch_label(r: dict) -> str:
    """A send batch as people tell it apart: channel, when, who, how many, its id."""
    return (f"{CHANNEL_WORDS.get(r['channel'], r['channel'])} · {timestamp_text(r['created_at'])} · "
            f"{r['user_name']} · {plural(int(r['total']), 'message')} · {r['batch_id']}")  # fmt: skip


def _empty_log() -> pd.DataFrame:
    """The log's columns with no rows (Tabulator must know its columns from the start)."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in LOG_TITLES})


def _shown_log(frame: pd.DataFrame) -> pd.DataFrame:
    """A page of the log as people read it: names, words, minutes; no ids but the batch."""
    out = frame.copy()
    out["created_at"] = out["created_at"].map(timestamp_text)
    out["customer"] = [name if isinstance(name, str) else f"(deleted customer {cid})"
                       for name, cid in zip(out["customer"], out["customer_id"], strict=True)]  # fmt: skip
    out["channel"] = out["channel"].map(lambda c: CHANNEL_WORDS.get(c, c))
    out["status"] = out["status"].map(lambda s: messaging.STATUSES.get(s, s))
    out = out[list(LOG_TITLES)].astype(object)
    return out.where(out.notna(), "")


#: The rates table's columns as the Rates screen shows them.
RATE_TITLES = {"currency": "Currency", "rate": "Rate", "day": "Date", "user_name": "Imported by",
               "batch_id": "Batch"}  # fmt: skip


class RatesPage(pn.viewable.Viewer):
    """Setup › Rates: the exchange rates into the base (reporting) currency that money over
    several currencies is converted at; admins import a CSV of `currency,rate` rows (a file
    or pasted text) as one undoable batch, everyone reads them."""

    store = param.ClassSelector(class_=Store, doc="The store acting as the signed-in user.")
    settings_path = param.String(default=None, allow_None=True, doc="The settings file.")
    text = param.String(default="", label="Rates (currency,rate a line)",
                        doc="Rates typed or pasted, one currency,rate row a line.")  # fmt: skip
    file = param.Bytes(default=None, doc="An uploaded rates file's bytes.")
    do_import = param.Event(label="Import rates", doc="Import the pasted text or the chosen file.")
    undo_last = param.Event(label="Undo import", doc="Take back the last import made here.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        from .upload import FileChoice

        super().__init__(**params)
        self.base = money.base_currency(self.settings_path)
        self._last: str | None = None
        self._table = Grid(pd.DataFrame(), show_index=False, disabled=True,
                           sizing_mode="stretch_width", height=320, layout="fit_data_table")  # fmt: skip
        self._alert = Notice(object="", severity="info", visible=False, sizing_mode="stretch_width")
        self._file = FileChoice(accept=".csv,.txt,.tsv", label="Choose a CSV file")
        self._file.param.watch(self._on_file, "received")
        self._undo = Button.from_param(self.param.undo_last, variant="text", size="small",
                                       icon="undo", visible=False,
                                       description="Take back the rates this import stored")  # fmt: skip
        self._load()

    @property
    def writable(self) -> bool:
        """Whether the signed-in user may import rates (admins)."""
        return allowed(getattr(self.store, "role", "admin"), "rates")

    def _load(self) -> None:
        frame = money.list_rates(self.store, self.base)
        frame = frame.drop(columns=["imported_at"]).assign(
            rate=[format(Decimal(str(r)).normalize(), "f") for r in frame["rate"]],
            day=[str(d)[:10] for d in frame["day"]],
        )
        self._table.value = frame.rename(columns=RATE_TITLES)
        # as tall as its rows (a few currencies are a short table), scrolling past 12
        self._table.height = rows_height(len(frame))

    def _on_file(self, *_) -> None:
        self.file = self._file.value

    @param.depends("do_import", watch=True)
    def _import(self) -> None:
        data = self.text if self.text.strip() else self.file
        if not data:
            self._say("Paste currency,rate rows or choose a CSV file first.", "warning")
            return
        try:
            found = money.import_rates(self.store, data, base=self.base)
        except ValidationError as exc:
            self._say("; ".join(p.describe() for p in exc.problems), "error")
            return
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._last = found.batch_id
        self.text = ""
        self._load()
        extra = f" ({'; '.join(found.warnings)})" if found.warnings else ""
        self._say(f"Imported {plural(len(found.rates), 'rate')} into {self.base}{extra}.",
                  "success")  # fmt: skip
        self._undo.visible = True

    @param.depends("undo_last", watch=True)
    def _undo_last(self) -> None:
        from ..undo import undo, undone_text

        if not self._last:
            return
        try:
            done = undo(self.store, self._last)
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._say(undone_text(self.store, self._last, done), "info")
        self._last = None
        self._undo.visible = False
        self._load()

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True)

    def __panel__(self):
        about = (f"Money over customers in several currencies is reported in {self.base} (the "
                 f"base currency, [money] base in the settings): a rate is the {self.base} one "
                 "unit of a currency buys. The newest date's rate of each currency is used.")  # fmt: skip
        parts = [Text(f"Exchange rates into {self.base}", variant="h6"),
                 Text(about, variant="body2")]  # fmt: skip
        if self.writable:  # the admin's action first, then what is stored
            parts += [
                pmui.TextAreaInput.from_param(self.param.text, label="Rates (currency,rate a line)",
                                              placeholder="USD,0.92\nGBP,1.17", rows=3,
                                              sizing_mode="stretch_width", max_width=420),
                pmui.Row(self._file,
                         Button.from_param(self.param.do_import, variant="contained", icon="upload",
                                           description="Store these rates (one undoable batch)"),
                         self._undo),
            ]  # fmt: skip
        else:
            parts.append(Text("Only admins import rates.", variant="caption"))
        parts += [self._alert, self._table]
        return pmui.Column(*parts, sizing_mode="stretch_width", max_width=900)
