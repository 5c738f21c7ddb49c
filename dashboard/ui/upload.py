"""The Bulk Upload wizard, one step at a time: File -> Table -> Columns -> Set fields ->
Check -> Done, over the same engine as `customer-dashboard import`.

Each file starts clean: the mapping is guessed from its own headers, nothing is set for
every row and the options are their defaults. What the last upload used is offered, and
shown, as "Use last settings", never applied by itself (a "Currency = USD" kept from the
last file overrode the next file's own currency column). Every failure is a message in the
wizard; an unexpected one is logged on the server with its traceback and shown as one line.
"""

from __future__ import annotations

import functools
import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import importer
from ..access import allowed
from ..bulk import parse_change
from ..errors import UserError, ValidationError
from ..fields import FIELDS, STATUS_FIELD, TAGS_FIELD, importable
from ..store import Store
from ..words import plural
from .controls import TOOLTIP_CSS, Button, Download
from .dialogs import FADING_SX, CloseGuard, Opening
from .display import run_with_progress
from .safe import Grid, Notice, Text
from .upload_view import (
    AUTO,
    decimal_options,
    encoding_options,
    file_value,
    plan_problem_text,
    problems_frame,
    rows_frame,
    sample_frame,
    target_label,
    warnings_text,
)  # fmt: skip

log = logging.getLogger(__name__)

IGNORE = "(ignore)"
STEPS = ("File", "Table", "Columns", "Set fields", "Check", "Done")
FILE, TABLE, COLUMNS, SETS, CHECK, DONE = range(len(STEPS))
DUPLICATES = {"Error": "error", "Skip": "skip", "Update": "update"}
#: The required fields that have no default: each needs a column or a value for every row.
NEEDED = [f.label for f in importable() if f.required and f.default is None]
UNEXPECTED = (
    "Something went wrong while {what}; nothing was written. The details are in the server log."
)


def _safely(what: str):
    """A handler whose failure is a message in the wizard (see `UploadWizard._report`),
    never a traceback in the page."""

    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - reported, never raised to the page
                self._report(exc, what)
                return None

        return run

    return wrap


def set_text(name: str, raw: str) -> str:
    """A value set for every row as people read it: "Currency = USD", "Tags += trade-show"."""
    label = FIELDS[name].label
    if name == TAGS_FIELD and raw.startswith("+="):
        return f"{label} += {raw[2:].strip()}"
    return f"{label} = {raw}"


@dataclass
class UploadSettings:
    """What an upload used besides its file: offered to the next file as "Use last
    settings" (column choices by header, values set for every row, the options)."""

    filename: str
    mapping: dict[str, str | None]
    set_values: dict[str, str] = field(default_factory=dict)
    on_duplicate: str = "error"
    valid_only: bool = False
    decimal: str = AUTO

    def describe(self, headers: list[str] | None = None) -> str:
        """What applying these settings would do (to a file with `headers`)."""
        parts = []
        if self.set_values:
            sets = "; ".join(set_text(k, v) for k, v in self.set_values.items())
            parts.append(f"set for every row: {sets}")
        columns = {h: t for h, t in self.mapping.items() if headers is None or h in headers}
        if columns:
            shown = ", ".join(f"{h} → {target_label(t) or IGNORE}" for h, t in columns.items())
            parts.append(f"columns: {shown}")
        options = f"existing customers: {self.on_duplicate}"
        if self.valid_only:
            options += "; import only the valid rows"
        if self.decimal != AUTO:
            options += f"; decimal mark {self.decimal!r}"
        parts.append(options)
        return f"From {self.filename or 'the last upload'}: " + " · ".join(parts)


class FileChoice(pmui.FileInput):
    """The file button, telling every finished upload: also an empty file (the browser
    sends no bytes for it, so the value stays None and no change is seen) and the same file
    chosen again (the same bytes are no change either)."""

    received = param.Event(doc="An upload finished (its bytes are in value; None when empty).")

    def __init__(self, **params: Any):
        super().__init__(**params)
        # its tooltip closes as the pointer leaves, as the buttons' do (controls.TOOLTIP_CSS)
        self.stylesheets = [*self.stylesheets, TOOLTIP_CSS]

    def _flush_buffer(self):
        super()._flush_buffer()
        self.param.trigger("received")


class UploadWizard(pn.viewable.Viewer):
    """Bulk Upload, step by step; the same engine as `customer-dashboard import`."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    max_bytes = param.Integer(
        default=importer.MAX_BYTES, doc="Largest file accepted (server side)."
    )
    file = param.Bytes(default=None, doc="The uploaded file's bytes.")
    filename = param.String(default="", doc="The uploaded file's name.")
    step = param.Integer(
        default=FILE, bounds=(FILE, DONE), doc="The step shown (0 File .. 5 Done)."
    )
    sheet = param.Selector(default=None, objects=[None], doc="The sheet to read.")
    header_row = param.Integer(default=None, allow_None=True, bounds=(1, None),
                               doc="The row with the column titles (found when empty).")  # fmt: skip
    encoding = param.Selector(default=AUTO, objects=list(encoding_options().values()),
                              doc="How a CSV file's text is encoded (auto: detected).")  # fmt: skip
    decimal = param.Selector(default=AUTO, objects=list(decimal_options().values()),
                             doc="How numbers write decimals (auto: each column's values tell).")  # fmt: skip
    use_last = param.Boolean(default=False, label="Use last settings",
                             doc="Apply what the last upload used to this file.")  # fmt: skip
    set_field = param.Selector(default=STATUS_FIELD, objects=[f.name for f in importable()],
                               doc="A field to set for every row.")  # fmt: skip
    set_value = param.String(default="", doc="Its value (tags: +=name adds a tag).")
    set_choice = param.String(default="", doc="Its value, for a field with a list of values.")
    add_set = param.Event(doc="Set the field for every row.")
    clear_sets = param.Event(doc="Forget the fields set for every row.")
    on_duplicate = param.Selector(default="error", objects=list(importer.ON_DUPLICATE),
                                  doc="What to do with a row whose name already exists.")  # fmt: skip
    valid_only = param.Boolean(default=False, doc="Import the valid rows and leave the others out.")
    back = param.Event(doc="Back to the previous step (what was entered is kept).")
    next = param.Event(doc="On to the next step.")
    check = param.Event(doc="Check every row again; write nothing.")
    upload = param.Event(doc="Upload to Server: write everything in one transaction.")
    undo = param.Event(label="Undo this upload", doc="Take back what this upload wrote.")
    another = param.Event(label="Upload another file", doc="Start again with a new file.")
    cancel = param.Event(doc="Close without writing anything.")
    done_batch = param.String(default="", doc="The batch id of the last upload.")
    undone_batch = param.String(default="", doc="The batch id of the last upload undone here.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._table: importer.Table | None = None
        self._preview: importer.Preview | None = None
        self._written = None  # the batch this file was written as
        self._written_preview: importer.Preview | None = None
        self._undone = False
        self._last: UploadSettings | None = None
        self._sets: dict[str, str] = {}
        self._mapping_widgets: dict[str, pmui.Select] = {}
        self._quiet = False  # set while the wizard itself changes its parameters
        self._busy = False
        self._content: pmui.Column | None = None
        self._build_frame()
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self._made_content()  # no browser waiting (a notebook, a test): all at once

    def _build_frame(self) -> None:
        """The wizard's dialog, saying what is opening: it is on screen at the first click,
        while the wizard's steps are made (about a second) and drawn."""
        self._dialog = pmui.Dialog(
            title="Bulk Upload", open=False, width_option="lg", scroll="paper",
            close_on_click=True, show_close_button=True, sizing_mode="stretch_width",
            sx=FADING_SX,
        )  # fmt: skip
        self._opening = Opening(self._dialog, min_height=320)
        self._opening.say("Opening Bulk Upload…")
        # Escape, the close button and Cancel ask first while a file is in the wizard
        self._asker = CloseGuard(
            self._dialog, self._holds_file, question="Close and forget this file? Nothing has been written.",
            keep_label="Keep going", keep_help="Stay in the wizard", discard_label="Discard",
            discard_help="Close and forget this file", on_discard=self._discard,
        )  # fmt: skip

    def _made_content(self) -> pmui.Column:
        """The wizard's steps and buttons, made the first time it opens."""
        if self._content is None:
            self._content = self._build()
            self._on_set_field()
            self._show_step()
            self._opening.made(self._content)
        return self._content

    # --- layout ----------------------------------------------------------------------

    def _build(self) -> pmui.Column:
        self._stepper = pmui.StepperMenu(items=list(STEPS), active=FILE, alternative_label=True,
                                         sizing_mode="stretch_width", margin=(0, 0, 8, 0))  # fmt: skip
        self._alert = Notice(object="", severity="error", visible=False,
                             sizing_mode="stretch_width")  # fmt: skip

        # File
        self._file_box = pmui.Column(margin=0, sizing_mode="stretch_width")
        self._new_file_input()
        self._file_text = Text(self._file_note(), variant="body2")
        self._last_text = Text("", variant="caption")
        self._last_box = pmui.Column(
            pmui.Switch.from_param(self.param.use_last, description="Apply the settings below to this file"),
            self._last_text, visible=False, margin=0, sizing_mode="stretch_width",
        )  # fmt: skip
        file_page = pmui.Column(self._file_box, self._file_text, self._last_box,
                                sizing_mode="stretch_width", margin=0)  # fmt: skip

        # Table
        self._sheet = pmui.Select.from_param(self.param.sheet, label="Sheet", width=220)
        self._encoding = pmui.Select.from_param(self.param.encoding, label="CSV encoding",
                                                options=encoding_options(), width=260)  # fmt: skip
        self._read_text = Text("", variant="body2")
        self._sample = Grid(pd.DataFrame(), show_index=False, disabled=True, height=200,
                            sizing_mode="stretch_width", layout="fit_data_table")  # fmt: skip
        table_page = pmui.Column(
            pmui.FlexBox(
                self._sheet,
                pmui.IntInput.from_param(self.param.header_row, label="Header row", width=140),
                self._encoding, sizing_mode="stretch_width",
            ),
            self._read_text, Text("The first rows as read:", variant="caption"), self._sample,
            sizing_mode="stretch_width", margin=0,
        )  # fmt: skip

        # Columns
        self._mapping = pmui.Column(sizing_mode="stretch_width", margin=0)
        self._columns_text = Text("", variant="body2")
        columns_page = pmui.Column(
            Text("Each column of the file goes to a customer field, a contact field, or is "
                 f"ignored. {' and '.join(NEEDED)} need a column, or a value set for every "
                 "row in the next step.", variant="body2"),
            self._mapping, self._columns_text, sizing_mode="stretch_width", margin=0,
        )  # fmt: skip

        # Set fields
        labels = {f.label: f.name for f in importable()}
        self._set_value = pmui.TextInput.from_param(self.param.set_value, label="Value", width=240)
        self._set_choice = pmui.Select.from_param(self.param.set_choice, label="Value",
                                                  options=[""], width=240)  # fmt: skip
        self._sets_box = pmui.Column(margin=0, sizing_mode="stretch_width")
        self._plan_text = Notice(object="", severity="warning", visible=False,
                                 sizing_mode="stretch_width")  # fmt: skip
        sets_page = pmui.Column(
            Text("A value set here replaces the column's value in every row (e.g. Status = "
                 "Pending Approval; Tags += imported-2026-11 adds a tag).", variant="body2"),
            pmui.FlexBox(
                pmui.Select.from_param(self.param.set_field, options=labels, label="Set field",
                                       width=220),  # fmt: skip
                self._set_value, self._set_choice,
                Button.from_param(self.param.add_set, label="Set for every row", variant="outlined",
                                  size="small", align="center"),  # fmt: skip
                sizing_mode="stretch_width",
            ),
            self._sets_box, self._plan_text, sizing_mode="stretch_width", margin=0,
        )  # fmt: skip

        # Check
        self._decimal = pmui.Select.from_param(self.param.decimal, label="Decimal mark",
                                               options=decimal_options(), width=240)  # fmt: skip
        self._encoding2 = pmui.Select.from_param(self.param.encoding, label="CSV encoding",
                                                 options=encoding_options(), width=260)  # fmt: skip
        self._counts = Text("", variant="subtitle1")
        self._warnings = Notice(object="", severity="warning", visible=False,
                                sizing_mode="stretch_width")  # fmt: skip
        # the value and the problem wrap in their columns: in one line a long value pushed
        # the Problem column past the dialog's edge
        wrap = {"type": "textarea"}
        self._problems = Grid(pd.DataFrame(), show_index=False, disabled=True, height=180,
                              sizing_mode="stretch_width", layout="fit_columns",
                              widths={"Row": 76, "Column": 130, "Field": 130, "Value": 200},
                              formatters={"Value": wrap, "Problem": wrap})  # fmt: skip
        self._rows = Grid(pd.DataFrame(), show_index=False, disabled=True, height=180,
                          sizing_mode="stretch_width", layout="fit_data_table")  # fmt: skip
        self._results = pmui.Tabs(("Problems", self._problems),
                                  ("Rows as they will be stored", self._rows),
                                  dynamic=True, sizing_mode="stretch_width", visible=False)  # fmt: skip
        self._bar = pmui.LinearProgress(value=0, visible=False, sizing_mode="stretch_width")
        check_page = pmui.Column(
            pmui.FlexBox(
                pmui.RadioButtonGroup.from_param(self.param.on_duplicate, options=DUPLICATES,
                                                 label="Existing customers (same name)", size="small"),
                self._decimal, self._encoding2,
                pmui.Switch.from_param(self.param.valid_only, label="Import only the valid rows",
                                       align="center"),
                sizing_mode="stretch_width",
            ),
            self._counts, self._warnings, self._results, self._bar,
            sizing_mode="stretch_width", margin=0,
        )  # fmt: skip

        # Done
        self._done_text = Notice(object="", severity="success", sizing_mode="stretch_width")
        self._undo_btn = Button.from_param(self.param.undo, icon="undo", variant="outlined",
                                           description="Delete the customers this upload added "
                                           "and put back the values it changed")  # fmt: skip
        self._rejected = Download(callback=self._rejected_file, filename="rejected-rows.xlsx",
                                  label="Download rejected rows", icon="download",
                                  description="The rows left out, each with its problems")  # fmt: skip
        done_page = pmui.Column(
            self._done_text,
            pmui.FlexBox(self._undo_btn, self._rejected,
                         Button.from_param(self.param.another, icon="upload_file", variant="outlined",
                                           description="Start again with a new file"),
                         sizing_mode="stretch_width"),
            sizing_mode="stretch_width", margin=0,
        )  # fmt: skip

        self._pages = [file_page, table_page, columns_page, sets_page, check_page, done_page]
        # a steady height: the dialog does not jump at every step
        self._body = pmui.Column(file_page, sizing_mode="stretch_width", margin=0, min_height=320)
        self._hint = Text("", variant="caption", align="center")
        self._cancel_btn = Button.from_param(self.param.cancel, label="Cancel", variant="text")
        self._back_btn = Button.from_param(self.param.back, label="Back", variant="outlined",
                                           icon="arrow_back")  # fmt: skip
        self._next_btn = Button.from_param(self.param.next, label="Next", variant="contained",
                                           end_icon="arrow_forward")  # fmt: skip
        self._upload_btn = Button.from_param(self.param.upload, label="Upload to Server",
                                             variant="contained", icon="cloud_upload",
                                             description="Write every row in one transaction")  # fmt: skip
        self._nav = pmui.FlexBox(
            self._cancel_btn, self._hint, pmui.Row(self._back_btn, self._next_btn, self._upload_btn,
                                                   margin=0),
            justify_content="space-between", align_items="center", sizing_mode="stretch_width",
        )  # fmt: skip
        content = pmui.Column(self._stepper, self._alert, self._body, self._nav,
                              sizing_mode="stretch_width", min_width=300)  # fmt: skip
        content.insert(len(content) - 1, self._asker)  # above the wizard's buttons
        return content

    def _new_file_input(self) -> None:
        """A new file button: the browser keeps the last file's name on the old one."""
        self._file = FileChoice(accept=",".join(f".{x}" for x in importer.SPREADSHEET_TYPES), label="Choose a spreadsheet",
                                uploaded_label="{filename} (choose another)",
                                description="Choose the file to upload")  # fmt: skip
        self._file.param.watch(self._on_received, "received")
        self._file_box.objects = [self._file]

    def _file_note(self) -> str:
        return (f"An {importer.SPREADSHEET_WORDS} file of at most "
                f"{self.max_bytes / 2**20:,.0f} MB, one customer a row under a row of column "
                "titles.")  # fmt: skip

    def __panel__(self):
        return self._dialog

    # --- opening and closing ---------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._dialog.open

    @property
    def dirty(self) -> bool:
        """Whether a file was read and not written (closing would forget it and what was
        chosen for it; an unreadable file is nothing to keep)."""
        return self._table is not None and self._written is None

    def open(self) -> None:
        """Open the wizard on a clean first step (nothing of the last file is kept, except
        as "Use last settings")."""
        if self._content is None:
            # the first open in a browser: the frame now, the steps in the next tick
            self._dialog.open = True
            Opening.soon(self._made_content)
            return
        if not self._busy and not self._clean:
            # a new file button only where a file was chosen (the browser keeps its name);
            # an untouched wizard opens as it is: remaking its parts left the dialog blank
            # until they were drawn again
            self._reset(new_input=self._file.value is not None or bool(self._file.filename))
        self._dialog.open = True

    @property
    def _clean(self) -> bool:
        """Whether the wizard is on its first step with nothing chosen (as a reset leaves it)."""
        return (self.step == FILE and self._table is None and self.file is None
                and self._file.value is None and not self._file.filename
                and not self._alert.visible and not self._last_box.visible)  # fmt: skip

    def close(self) -> None:
        """Close the wizard (a file not written is forgotten)."""
        self._asker.close()

    def _holds_file(self) -> bool:
        """Closing now would lose something: a file not written, or one being written."""
        return self.dirty or self._busy

    @param.depends("cancel", watch=True)
    @_safely("closing the wizard")
    def _cancel(self) -> None:
        self._asker.request_close()

    @_safely("closing the wizard")
    def _discard(self) -> None:
        if self._busy:
            self._error("The upload is being written; wait until it is done.")
            return
        self.close()
        self._reset(new_input=True)

    @param.depends("another", watch=True)
    @_safely("starting again")
    def _another(self) -> None:
        self._reset(new_input=True)

    def _reset(self, *, new_input: bool = False) -> None:
        """Forget the file and everything chosen for it."""
        if new_input:
            self._new_file_input()
        self._quiet = True
        try:
            self.param.update(file=None, filename="", step=FILE)
            self._clear_choices()
        finally:
            self._quiet = False
        self._table = None
        self._mapping_widgets = {}
        self._mapping.objects = []
        self._file_text.object = self._file_note()
        self._last_box.visible = False
        self._alert.visible = False
        self._asker.reset()
        self._clear_preview()
        self._written = None
        self._written_preview = None
        self._undone = False
        self._show_step()

    def _clear_choices(self) -> None:
        """Every choice back to its default: each file starts clean."""
        self.param.update(sheet=None, header_row=None, encoding=AUTO, decimal=AUTO,
                          on_duplicate="error", valid_only=False, use_last=False,
                          set_value="")  # fmt: skip
        self.param.sheet.objects = [None]
        self._sets.clear()
        self._show_sets()

    # --- guarding every action -------------------------------------------------------

    def _guard(self, what: str, action: Callable[[], Any]) -> Any:
        """Run `action`; a failure is a message in the wizard, never a crash: a UserError's
        own text, and for anything unexpected one line (the traceback goes to the log)."""
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - reported below, never raised to the page
            self._report(exc, what)
        return None

    def _report(self, exc: Exception, what: str) -> None:
        """Show a failure while `what` as a message (see `_guard`)."""
        if isinstance(exc, ValidationError):
            self._error("\n\n".join(plan_problem_text(p) for p in exc.problems[:20]))
        elif isinstance(exc, UserError):
            self._error(str(exc)[:1].upper() + str(exc)[1:])
        else:
            log.error("Bulk Upload failed while %s", what, exc_info=exc)
            self._error(UNEXPECTED.format(what=what))

    def _error(self, text: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity="error", visible=True)

    # --- File ------------------------------------------------------------------------

    @_safely("reading the file")
    def _on_received(self, _event) -> None:
        value, name = self._file.value, self._file.filename
        self.load(value if isinstance(value, bytes) else b"", name if isinstance(name, str) else "")

    def load(self, data: bytes, filename: str = "") -> None:
        """Give the wizard a file (what the file button does): everything chosen for the
        last file is forgotten, and the file is read."""
        if self._busy:
            self._error("The upload is being written; wait until it is done.")
            return
        self._quiet = True
        try:
            self.param.update(file=data, filename=filename or "", step=FILE)
            self._clear_choices()
        finally:
            self._quiet = False
        self._written = None
        self._written_preview = None
        self._undone = False
        self._mapping_widgets = {}
        self._read()
        self._offer_last()
        self._show_step()

    def _read(self) -> None:
        self._clear_preview()
        self._alert.visible = False

        name = self.filename or "The chosen file"
        table = None
        if not self.file:
            # the browser sends no bytes (and no name) for an empty file
            self._error(f"{name} is empty: choose a file with a row of column titles and a "
                        "customer a row.")  # fmt: skip
        else:
            try:
                table = importer.read_table(
                    self.file, sheet=self.sheet, header_row=self.header_row,
                    encoding=None if self.encoding == AUTO else self.encoding,
                    max_bytes=self.max_bytes,
                )  # fmt: skip
            except UserError as exc:
                self._error(f"{name} could not be read: {exc}.")
            except Exception:
                log.exception("Bulk Upload could not read %r", self.filename)
                self._error(UNEXPECTED.format(what=f"reading {name}"))
        if table is None:
            # the column choices stay: the file may read again with another choice
            self._table = None
            self._file_text.object = self._file_note()
            return
        self._table = table
        self._quiet = True  # showing what was found must not read the file again
        try:
            self.param.sheet.objects = [None, *table.sheets]
            self.param.update(sheet=table.sheet, header_row=table.header_row)
        finally:
            self._quiet = False
        self._sheet.visible = bool(table.sheets)
        self._encoding.visible = self._encoding2.visible = table.kind == "csv"
        self._build_mapping(table)
        self._describe_table(table)

    def _describe_table(self, table: importer.Table) -> None:
        where = f"sheet {table.sheet!r}, " if table.sheet else ""
        how = (
            f" Read as {table.encoding}, delimiter {table.delimiter!r}."
            if table.kind == "csv"
            else ""
        )
        text = (f"{self.filename or 'The file'}: {table.kind.upper()}, {where}"
                f"{plural(len(table.frame), 'row')} under the column titles in row "
                f"{table.header_row}, {plural(len(table.headers), 'column')}.{how}")  # fmt: skip
        if table.warnings:
            text += "\n" + warnings_text(table.warnings)
        self._file_text.object = text
        self._read_text.object = text
        frame, titles = sample_frame(table)
        self._sample.param.update(value=frame, titles=titles)

    @param.depends("sheet", "header_row", "encoding", watch=True)
    @_safely("reading the file")
    def _reread(self) -> None:
        if self.file is None or self._quiet or self._busy:
            return
        kept = self.mapping()
        self._read()
        if self._table is not None:  # the column choices stay for the columns still there
            for header, target in kept.items():
                if header in self._mapping_widgets:
                    self._mapping_widgets[header].value = target or IGNORE
        self._after_change()

    def _offer_last(self) -> None:
        last = self._last
        self._last_box.visible = last is not None and self._table is not None
        if self._last_box.visible:
            self._last_text.object = last.describe(self._table.headers)

    @param.depends("use_last", watch=True)
    @_safely("applying the last settings")
    def _on_use_last(self) -> None:
        if self._quiet or self._table is None or self._last is None:
            return
        last = self._last
        self._quiet = True
        try:
            if self.use_last:
                self.param.update(on_duplicate=last.on_duplicate, valid_only=last.valid_only,
                                  decimal=last.decimal)  # fmt: skip
                self._sets = dict(last.set_values)
                guessed = importer.guess_mapping(self._table.headers)
                for header, widget in self._mapping_widgets.items():
                    target = last.mapping[header] if header in last.mapping else guessed[header]
                    widget.value = target or IGNORE
            else:
                self.param.update(on_duplicate="error", valid_only=False, decimal=AUTO)
                self._sets = {}
                guessed = importer.guess_mapping(self._table.headers)
                for header, widget in self._mapping_widgets.items():
                    widget.value = guessed[header] or IGNORE
        finally:
            self._quiet = False
        self._show_sets()
        self._after_change()

    # --- Columns ---------------------------------------------------------------------

    def _build_mapping(self, table: importer.Table) -> None:
        guessed = importer.guess_mapping(table.headers)
        options = {IGNORE: IGNORE, **importer.targets()}
        selects, self._mapping_widgets = [], {}
        for header in table.headers:
            sample = next((text for v in table.frame[header].head(20)
                           if (text := file_value(guessed[header], v))), "")  # fmt: skip
            select = pmui.Select(options=options, value=guessed[header] or IGNORE, label=header,
                                 description=f"e.g. {sample[:40]}" if sample else None, width=260)  # fmt: skip
            select.param.watch(lambda _e: self._after_change(), "value")
            self._mapping_widgets[header] = select
            selects.append(select)
        self._mapping.objects = [pmui.FlexBox(*selects, sizing_mode="stretch_width")]

    def mapping(self) -> dict[str, str | None]:
        """The mapping as chosen in the page."""
        return {
            h: (None if w.value == IGNORE else w.value) for h, w in self._mapping_widgets.items()
        }

    def set_mapping(self, header: str, target: str | None) -> None:
        """Send column `header` to `target` (None: ignore it)."""
        self._mapping_widgets[header].value = target or IGNORE

    def _columns_problem(self) -> str:
        """Why the Columns step is not complete ("" when it is)."""
        chosen = [(h, t) for h, t in self.mapping().items() if t]
        if not chosen:
            return "Map at least one column to a field."
        seen: dict[str, str] = {}
        for header, target in chosen:
            if target in seen:
                return (f"Columns {seen[target]!r} and {header!r} both go to "
                        f"{target_label(target)}; ignore one of them.")  # fmt: skip
            seen[target] = header
        return ""

    # --- Set fields ------------------------------------------------------------------

    @param.depends("set_field", watch=True)
    @_safely("choosing a field")
    def _on_set_field(self) -> None:
        options = FIELDS[self.set_field].type.options()
        self._set_choice.visible = bool(options)
        self._set_value.visible = not options
        if options:
            self._set_choice.options = options
            self.set_choice = next(iter(options.values()))

    @param.depends("add_set", watch=True)
    @_safely("setting a field for every row")
    def _add_set(self) -> None:
        f = FIELDS[self.set_field]
        raw = (self.set_choice if self._set_choice.visible else self.set_value).strip()
        if not raw:
            self._error(f"Type the value {f.label} gets in every row.")
            return
        try:
            if f.name == TAGS_FIELD and raw.startswith("+="):
                parse_change(TAGS_FIELD, raw)
            else:
                f.parse(raw)
        except ValueError as exc:
            self._error(f"{f.label} {exc}")
            return
        self._alert.visible = False
        self._sets[f.name] = raw
        self.set_value = ""
        self._show_sets()
        self._after_change()

    @param.depends("clear_sets", watch=True)
    @_safely("clearing the fields set for every row")
    def _clear_sets(self) -> None:
        self._sets.clear()
        self._show_sets()
        self._after_change()

    @_safely("clearing a field set for every row")
    def _remove_set(self, name: str) -> None:
        self._sets.pop(name, None)
        self._show_sets()
        self._after_change()

    def _show_sets(self) -> None:
        if not self._sets:
            self._sets_box.objects = [Text("Nothing is set for every row.", variant="body2")]
            return
        rows = []
        for name, raw in self._sets.items():
            remove = Button(label="Remove", variant="text", size="small", align="center",
                            description=f"Stop setting {FIELDS[name].label} for every row")  # fmt: skip
            remove.on_click(lambda _e, n=name: self._remove_set(n))
            rows.append(pmui.Row(Text(set_text(name, raw), variant="body1", align="center"), remove,
                                 margin=0))  # fmt: skip
        clear = Button.from_param(self.param.clear_sets, label="Clear all", variant="text",
                                  size="small")  # fmt: skip
        self._sets_box.objects = [Text("Set for every row:", variant="subtitle2"), *rows, clear]

    # --- the plan, and whether each step is complete ---------------------------------

    def plan(self) -> importer.Plan:
        """What the wizard will ask of the engine."""
        return importer.Plan(self.mapping(), dict(self._sets), self.on_duplicate,
                             None if self.decimal == AUTO else self.decimal)  # fmt: skip

    def _plan_problems(self) -> list[str]:
        if self._table is None:
            return []
        return [plan_problem_text(p) for p in importer.check_plan(self._table, self.plan())]

    def _why_not(self, step: int) -> str:
        """Why step `step` is not complete ("" when Next may go on)."""
        if step in (FILE, TABLE):
            if self._table is not None:
                return ""
            return "Choose a file." if self.file is None else "Choose a file that can be read."
        if step == COLUMNS:
            return self._columns_problem()
        if step == SETS:
            problems = self._plan_problems()
            return problems[0] if problems else ""
        return ""

    def _why_no_upload(self) -> str:
        """Why Upload to Server is not possible now ("" when it is)."""
        if self._written is not None:
            return "Written to the database already."
        if self._busy:
            return "Writing..."
        p = self._preview
        if p is None:
            return "Check the rows first."
        if p.problems and not self.valid_only:
            return (f"{plural(len(p.problems), 'problem')}: fix them in the file, or switch on "
                    "'Import only the valid rows'; nothing was written.")  # fmt: skip
        if p.counts["new"] + p.counts["updated"] == 0:
            return "Nothing to write: no row is new or changes a customer."
        return ""

    @_safely("checking the rows")
    def _after_change(self) -> None:
        """A choice changed: a preview made before it no longer holds."""
        if self._quiet:
            return
        self._clear_preview()
        if self.step == CHECK and self._table is not None:
            self._run_check()
        self._refresh()

    # --- moving between steps --------------------------------------------------------

    @param.depends("next", watch=True)
    @_safely("going to the next step")
    def _next(self) -> None:
        if self._busy or self.step >= CHECK:
            return
        why = self._why_not(self.step)
        if why:
            self._error(why)
            return
        self._alert.visible = False
        self.step += 1
        if self.step == SETS:
            self._offer_needed()
        if self.step == CHECK:
            self._run_check()
        self._show_step()

    def _offer_needed(self) -> None:
        """Set fields opens on a required field that has neither a column nor a value."""
        chosen = {*self.mapping().values(), *self._sets}
        for f in importable():
            if f.required and f.default is None and f.name not in chosen:
                self.set_field = f.name
                return

    @param.depends("back", watch=True)
    @_safely("going back")
    def _back(self) -> None:
        if self._busy or self.step == FILE or self.step == DONE:
            return
        self._alert.visible = False
        self.step -= 1
        self._show_step()

    def _show_step(self) -> None:
        self._stepper.active = self.step
        if self._body.objects != [self._pages[self.step]]:
            self._body.objects = [self._pages[self.step]]
        self._refresh()

    def _refresh(self) -> None:
        """Buttons and hints for the step shown."""
        step = self.step
        done = step == DONE
        self._back_btn.visible = FILE < step < DONE
        self._back_btn.disabled = self._busy
        self._next_btn.visible = step < CHECK
        self._upload_btn.visible = step == CHECK
        # its name says what it does now: once written, closing writes nothing more (it
        # was still named "Close without writing anything" over the written rows)
        self._cancel_btn.param.update(
            label="Close" if done else "Cancel", variant="contained" if done else "text",
            description="Close Bulk Upload." if done else self.param.cancel.doc,
        )  # fmt: skip
        if step < CHECK:
            why = self._why_not(step)
            self._next_btn.disabled = bool(why) or self._busy
            self._hint.object = "" if step == SETS else why  # Set fields lists them itself
        else:
            self._hint.object = self._why_no_upload() if step == CHECK else ""
        # once written, never again from this file (a second click wrote nothing and lost
        # the page's Undo)
        self._upload_btn.disabled = bool(self._why_no_upload())
        if step == SETS:
            problems = self._plan_problems()
            self._plan_text.param.update(object="\n\n".join(problems), visible=bool(problems))
        if done:
            self._show_done()

    # --- Check -----------------------------------------------------------------------

    @param.depends("check", watch=True)
    @_safely("checking the rows")
    def _on_check(self) -> None:
        self._run_check()
        self._refresh()

    @param.depends("on_duplicate", "valid_only", "decimal", watch=True)
    @_safely("checking the rows")
    def _on_option(self) -> None:
        self._after_change()

    def _run_check(self) -> importer.Preview | None:
        """Parse and check every row against the registry and the database; show counts,
        warnings, problems and the first rows; write nothing."""
        self._alert.visible = False
        self._clear_preview()
        if self._table is None:
            self._error("Choose a file first.")
            return None
        preview = self._guard("checking the rows",
                              lambda: importer.prepare(self.store, self._table, self.plan()))  # fmt: skip
        if preview is None:
            return None
        self._preview = preview
        self._counts.object = importer.counts_text(preview.counts)
        self.message = self._counts.object
        # the notice reads Markdown: a blank line keeps each warning on a line of its own
        self._warnings.param.update(object=warnings_text(preview.warnings).replace("\n", "\n\n"),
                                    visible=bool(preview.warnings))  # fmt: skip
        rows, titles, align = rows_frame(preview)
        self._problems.value = problems_frame(preview.problems)
        self._rows.param.update(value=rows, titles=titles, text_align=align)
        self._results.param.update(visible=True, active=0 if preview.problems else 1)
        return preview

    def _clear_preview(self) -> None:
        self._preview = None
        self._counts.object = ""
        self._warnings.visible = False
        self._results.visible = False
        self._bar.visible = False

    # --- Upload ----------------------------------------------------------------------

    def _ready(self) -> importer.Preview | None:
        """A fresh preview to write (someone may have written since the check), or None
        with the reason shown."""
        if self._written is not None:
            self._error(f"This file was uploaded already (batch {self._written.batch_id}); "
                        "choose Upload another file to upload again.")  # fmt: skip
            return None
        preview = self._run_check()
        if preview is None:
            return None
        why = self._why_no_upload()
        if why:
            self._error(why)
            self._refresh()
            return None
        return preview

    @param.depends("upload", watch=True)
    async def _upload(self) -> None:
        if self._busy:
            return
        preview = self._ready()
        if preview is None:
            return
        self._busy = True
        self._refresh()
        try:
            batch = await run_with_progress(
                lambda report: importer.commit(
                    self.store, preview, valid_only=self.valid_only, user=self.user,
                    progress=lambda fraction, _what: report(fraction),
                ),
                self._bar,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - every failure is a message
            batch = None
            self._report(exc, "writing the upload")
        finally:
            self._busy = False
            self._bar.visible = False
        if batch is None:
            self._refresh()
            return
        self.finish(batch, preview)

    def upload_now(self):
        """Upload synchronously (the API and tests; the page runs it in the background)."""
        if self._busy:
            return None
        preview = self._ready()
        if preview is None:
            return None
        batch = self._guard("writing the upload", lambda: importer.commit(
            self.store, preview, valid_only=self.valid_only, user=self.user))  # fmt: skip
        if batch is None:
            self._refresh()
            return None
        self.finish(batch, preview)
        return batch

    def finish(self, batch, preview: importer.Preview | None = None) -> None:
        """The upload was written: show the Done step and tell the page (done_batch)."""
        preview = preview or self._preview
        c = preview.counts if preview else {}
        self._written, self._written_preview = batch, preview
        self._undone = False
        self._last = UploadSettings(self.filename, self.mapping(), dict(self._sets),
                                    self.on_duplicate, self.valid_only, self.decimal)  # fmt: skip
        text = f"Imported {c.get('new', 0):,} new and {c.get('updated', 0):,} updated customers."
        left_out = c.get("invalid", 0) if self.valid_only else 0
        if left_out:
            text += f" {plural(left_out, 'row')} with problems {'was' if left_out == 1 else 'were'} left out."
        self.message = text
        self.step = DONE
        self._show_step()
        self.done_batch = batch.batch_id
        self.param.trigger("done_batch")

    # --- Done ------------------------------------------------------------------------

    def _show_done(self) -> None:
        batch, preview = self._written, self._written_preview
        if batch is None:
            self._done_text.object = ""
            self._undo_btn.visible = self._rejected.visible = False
            return
        self._done_text.object = self.message
        self._undo_btn.visible = (not self._undone and bool(batch.batch_id)
                                  and allowed(self.store.role, "undo"))  # fmt: skip
        self._rejected.visible = bool(preview and preview.problems and self.valid_only)

    @param.depends("undo", watch=True)
    @_safely("undoing the upload")
    def _undo(self) -> None:
        if self._written is None or self._undone or not self._written.batch_id:
            return
        from ..undo import undo, undone_text

        batch_id = self._written.batch_id
        undone = self._guard("undoing the upload",
                             lambda: undo(self.store, batch_id, user=self.user))  # fmt: skip
        if undone is None:
            return
        self._undone = True
        self.message = undone_text(self.store, batch_id, undone)
        self._alert.visible = False
        self._show_done()
        self.undone_batch = batch_id
        self.param.trigger("undone_batch")

    def _rejected_file(self) -> io.BytesIO:
        preview = self._written_preview or self._preview
        if preview is None:
            return io.BytesIO(b"")

        def write() -> io.BytesIO:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "rejected.xlsx"
                importer.rejected_workbook(preview, out)
                return io.BytesIO(out.read_bytes())

        return self._guard("writing the rejected rows", write) or io.BytesIO(b"")
