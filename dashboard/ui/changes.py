"""More › Changes: the recent batches (who did what to how many customers, when, and
whether it was undone), newest first and paged by the database, each with Undo for those
who may undo it.

Whether a batch may be undone, and why not, is the service's answer
(`undo.recent_batches`: the role rules of `access.require_undo`, a later change to the
same customers); this panel only shows it. An undo from here reloads the page's grid
(the page watches `undone`).
"""

from __future__ import annotations

import datetime as dt

import panel as pn
import panel_material_ui as pmui
import param
from panel.io.state import set_curdoc

from ..errors import UserError
from ..store import Store, utcnow
from ..types import timestamp_text
from ..undo import BatchEntry, BatchPage, recent_batches, undo, undone_text
from .controls import Button
from .dialogs import FADING_SX
from .safe import Notice, Text


def when(at: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """A batch's time (naive UTC) as people read it: "5 min ago (2026-05-03 14:02 UTC)"."""
    if at is None:
        return ""
    now = now or utcnow()
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        ago = "just now"
    elif seconds < 3600:
        ago = f"{seconds // 60} min ago"
    elif seconds < 86400:
        ago = f"{seconds // 3600} h ago"
    else:
        ago = f"{seconds // 86400} d ago"
    return f"{ago} ({timestamp_text(at)} UTC)"


class ChangesPanel(pn.viewable.Viewer):
    """The recent batches, newest first, with Undo where the signed-in user may undo."""

    store = param.ClassSelector(class_=Store, doc="The database gateway (acting as the user).")
    user = param.String(default="operator", doc="Name written to the audit log.")
    page = param.Integer(default=1, bounds=(1, None), doc="The page of batches shown.")
    page_size = param.Integer(default=8, bounds=(1, 100), doc="Batches per page.")
    newer = param.Event(label="Newer", doc="The page of newer batches.")
    older = param.Event(label="Older", doc="The page of older batches.")
    refresh = param.Event(label="Refresh", doc="Read the batches again.")
    undone = param.String(default="", doc="The batch last undone here (the page reloads).")
    message = param.String(default="", doc="What the last undo did, or why it was refused.")

    def __init__(self, **params):
        super().__init__(**params)
        self._listed: BatchPage | None = None
        # refusals met when Undo was clicked (e.g. a restored name now taken), kept on the
        # batch's row until it is undone
        self._refused: dict[str, str] = {}
        self._note = Text("", variant="body2", visible=False)
        self._alert = Notice(object="", severity="info", visible=False, closeable=True,
                             sizing_mode="stretch_width")  # fmt: skip
        self._rows = pmui.Column(sizing_mode="stretch_width", margin=0)
        self._where = Text("", variant="body2", align="center")
        self._newer = Button.from_param(self.param.newer, variant="outlined", size="small",
                                        icon="chevron_left", description="Newer: newer changes")  # fmt: skip
        self._older = Button.from_param(self.param.older, variant="outlined", size="small",
                                        icon="chevron_right", description="Older: older changes")  # fmt: skip
        self._dialog = pmui.Dialog(
            pmui.Column(
                self._note, self._alert, self._rows,
                pn.FlexBox(  # wraps on a phone
                    self._newer, self._where, self._older,
                    Button.from_param(self.param.refresh, variant="text", size="small",
                                      icon="refresh", description="Refresh: read the list again"),
                    flex_wrap="wrap", align_items="center", sizing_mode="stretch_width",
                ),
                sizing_mode="stretch_width", min_width=280,
            ),
            title="Changes", open=False, width_option="md", close_on_click=True, sx=FADING_SX,
            show_close_button=True,
        )  # fmt: skip

    def __panel__(self):
        return self._dialog

    @property
    def is_open(self) -> bool:
        """Whether the panel is on screen."""
        return self._dialog.open

    @property
    def entries(self) -> tuple[BatchEntry, ...]:
        """The batches listed now, newest first."""
        return self._listed.entries if self._listed else ()

    def open(self) -> None:
        """Show the newest changes."""
        self._alert.visible = False
        if self.page != 1:
            self.page = 1  # loads
        else:
            self.load()
        self._dialog.open = True

    @param.depends("page", "refresh", watch=True)
    def load(self) -> None:
        """Read the current page of batches and show them."""
        try:
            listed = recent_batches(self.store, page=self.page, page_size=self.page_size)
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._listed = listed
        if listed.page != self.page:  # the list shrank (a restore): its last page
            self.page = listed.page
            return
        first = (listed.page - 1) * listed.page_size + 1
        last = first + len(listed.entries) - 1
        self._where.object = (
            f"{first:,}–{last:,} of {listed.total:,}" if listed.total else "No changes yet."
        )
        self._newer.disabled = listed.page <= 1
        self._older.disabled = listed.page >= listed.pages
        self._note.param.update(
            object=f"{listed.note}." if listed.note else "", visible=bool(listed.note)
        )
        self._rows.objects = [self._row(e, listed.may_undo) for e in listed.entries]

    def _row(self, entry: BatchEntry, may_undo: bool):
        tight = {"sx": {"m": 0}, "margin": (0, 8)}
        texts = [
            Text(entry.headline(), variant="subtitle2", **tight),
            Text(entry.description, variant="body2", **tight),
            Text(f"{entry.user_name} · {when(entry.happened_at)} · {entry.batch_id}",
                 variant="caption", color="textSecondary", **tight),
        ]  # fmt: skip
        state = self._state(entry, may_undo)
        if state:
            # a refusal met on clicking Undo is news; the rest describes the batch
            news = entry.batch_id in self._refused
            texts.append(Text(state, variant="caption", color="error" if news else "textPrimary",
                              **tight))  # fmt: skip
        parts = [pmui.Column(*texts, sizing_mode="stretch_width", margin=0)]
        if entry.undoable:
            parts.append(Button(
                label="Undo", icon="undo", variant="outlined", size="small", align="center",
                description=f"Undo {entry.headline().lower()} by {entry.user_name} "
                f"({entry.batch_id})",
                on_click=lambda e, b=entry.batch_id: self._undo_clicked(e.obj, b),
            ))  # fmt: skip
        return pmui.Row(*parts, sizing_mode="stretch_width", margin=(0, 0, 6, 0),
                        styles={"border-bottom": "1px solid rgba(0, 0, 0, 0.12)",
                                "padding-bottom": "6px"})  # fmt: skip

    def _state(self, entry: BatchEntry, may_undo: bool) -> str:
        if entry.undone_by:
            return (f"Undone by {entry.undone_by_user or 'someone'} {when(entry.undone_at)} "
                    f"in batch {entry.undone_by}.")  # fmt: skip
        if entry.action == "undo":
            return ""  # its description names the batch it undid
        if entry.batch_id in self._refused:
            return self._refused[entry.batch_id]
        if may_undo and entry.refusal:
            return entry.refusal[:1].upper() + entry.refusal[1:]
        return ""

    def _undo_clicked(self, button: Button, batch_id: str) -> None:
        """Undo clicked: the button is disabled at once, and the undo runs right after.
        Undo and the reloads after it take seconds, and the enabled Undo button stayed
        on screen meanwhile, inviting a second click."""
        button.param.update(disabled=True, loading=True)
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self.undo_batch(batch_id)  # not served: nothing to show in between
            return

        def later() -> None:
            with set_curdoc(doc):  # so that the changes go out as this session's
                self.undo_batch(batch_id)

        doc.add_next_tick_callback(later)

    def undo_batch(self, batch_id: str) -> None:
        """Undo batch `batch_id` (the row's Undo button); a refusal is shown on its row."""
        entry = next((e for e in self.entries if e.batch_id == batch_id), None)
        try:
            batch = undo(self.store, batch_id, user=self.user)
        except UserError as exc:
            self._refused[batch_id] = str(exc)[:1].upper() + str(exc)[1:]
            self._say(str(exc), "error")
            self.load()
            return
        self._refused.pop(batch_id, None)
        by = f" by {entry.user_name}" if entry else ""
        self._say(undone_text(self.store, batch_id, batch, by), "success")
        self.load()
        self.undone = batch_id
        self.param.trigger("undone")

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True, closed=False)

    @param.depends("newer", watch=True)
    def _newer_page(self) -> None:
        self.page = max(1, self.page - 1)

    @param.depends("older", watch=True)
    def _older_page(self) -> None:
        if self._listed is None or self.page < self._listed.pages:
            self.page += 1
