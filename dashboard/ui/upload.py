"""The Bulk Upload wizard: file, sheet and header row, column mapping, fields set for every
row, preview with every problem, then `Upload to Server` in one transaction."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import importer
from ..errors import UserError, ValidationError
from ..fields import importable
from ..store import Store
from .controls import Button, Download
from .display import plural, run_with_progress
from .safe import Grid, Notice, Text

IGNORE = "(ignore)"


class UploadWizard(pn.viewable.Viewer):
    """Bulk Upload, step by step; the same engine as `customer-dashboard import`."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    max_bytes = param.Integer(
        default=importer.MAX_BYTES, doc="Largest file accepted (server side)."
    )
    file = param.Bytes(default=None, doc="The uploaded file's bytes.")
    filename = param.String(default="", doc="The uploaded file's name.")
    sheet = param.Selector(default=None, objects=[None], doc="The sheet to read.")
    header_row = param.Integer(default=None, allow_None=True, bounds=(1, None),
                               doc="The row with the column titles (found when empty).")  # fmt: skip
    encoding = param.Selector(default="auto", objects=["auto", "utf-8", "cp1252", "latin-1", "utf-16"],
                              doc="CSV text encoding.")  # fmt: skip
    set_field = param.Selector(default="status", objects=[f.name for f in importable()],
                               doc="A field to set for every row.")  # fmt: skip
    set_value = param.String(default="", doc="Its value (tags: +=name adds a tag).")
    add_set = param.Event(doc="Set the field for every row.")
    clear_sets = param.Event(doc="Forget the fields set for every row.")
    on_duplicate = param.Selector(default="error", objects=list(importer.ON_DUPLICATE),
                                  doc="What to do with a row whose name already exists.")  # fmt: skip
    valid_only = param.Boolean(default=False, doc="Import the valid rows and leave the others out.")
    check = param.Event(doc="Preview: parse and check every row; write nothing.")
    upload = param.Event(doc="Upload to Server: write everything in one transaction.")
    cancel = param.Event(doc="Close without writing anything.")
    done_batch = param.String(default="", doc="The batch id of the last upload.")
    message = param.String(default="", doc="The last message shown.")
    progress = param.Integer(default=0, bounds=(0, 100), doc="Upload progress in percent.")

    def __init__(self, **params):
        super().__init__(**params)
        self._table: importer.Table | None = None
        self._reading = False
        self._preview: importer.Preview | None = None
        self._sets: dict[str, str] = {}
        self._mapping_widgets: dict[str, pmui.Select] = {}
        self._file = pmui.FileInput(
            accept=".xlsx,.xlsm,.xls,.ods,.csv", label="Choose a spreadsheet"
        )
        self._file.param.watch(self._on_file, "value")
        self._source = pmui.Row(
            pmui.Select.from_param(self.param.sheet, label="Sheet", width=220),
            pmui.IntInput.from_param(self.param.header_row, label="Header row", width=140),
            pmui.Select.from_param(self.param.encoding, label="CSV encoding", width=160),
        )  # fmt: skip
        self._mapping = pmui.Column(sizing_mode="stretch_width")
        labels = {f.label: f.name for f in importable()}
        self._sets_text = Text("No fields set for every row.", variant="body2")
        self._set_row = pmui.Row(
            pmui.Select.from_param(self.param.set_field, options=labels, label="Set field", width=220),
            pmui.TextInput.from_param(self.param.set_value, label="to", width=220),
            Button.from_param(self.param.add_set, label="Set for every row", variant="outlined", size="small"),
            Button.from_param(self.param.clear_sets, label="Clear", variant="text", size="small"),
        )  # fmt: skip
        self._options = pmui.Row(
            pmui.RadioButtonGroup.from_param(self.param.on_duplicate, label="Existing customers (same name)"),
            pmui.Switch.from_param(self.param.valid_only, label="Import only the valid rows"),
        )  # fmt: skip
        self._counts = Text("", variant="subtitle1")
        self._problems = Grid(pd.DataFrame(), show_index=False, disabled=True, height=200,
                                              sizing_mode="stretch_width", layout="fit_data_stretch",
                                              visible=False)  # fmt: skip
        self._rows = Grid(pd.DataFrame(), show_index=False, disabled=True, height=200,
                                          sizing_mode="stretch_width", layout="fit_data_table",
                                          visible=False)  # fmt: skip
        self._bar = pmui.LinearProgress(value=0, visible=False, sizing_mode="stretch_width")
        self._alert = Notice(
            object="", severity="error", visible=False, sizing_mode="stretch_width"
        )
        self._rejected = Download(callback=self._rejected_file, filename="rejected-rows.xlsx",
                                           label="Download rejected rows", visible=False, size="small")  # fmt: skip
        self._steps = pmui.Column(
            Text("1. File", variant="subtitle1"), self._file, self._source,
            Text("2. Map columns to fields", variant="subtitle1"), self._mapping,
            Text("3. Set fields for every row", variant="subtitle1"), self._set_row, self._sets_text,
            Text("4. Check", variant="subtitle1"), self._options,
            pmui.Row(Button.from_param(self.param.check, label="Preview", variant="outlined", icon="fact_check")),
            self._alert, self._counts, self._problems, self._rows, self._bar, self._rejected,
            pmui.Row(
                Button.from_param(self.param.cancel, label="Cancel", variant="outlined"),
                Button.from_param(self.param.upload, label="Upload to Server", variant="contained",
                                       icon="cloud_upload"),  # fmt: skip
            ),
            sizing_mode="stretch_width", min_width=900,
        )  # fmt: skip
        self._dialog = pmui.Dialog(self._steps, title="Bulk Upload", open=False, width_option="lg",
                                   scroll="paper")  # fmt: skip
        self._source.visible = False

    def __panel__(self):
        return self._dialog

    @property
    def is_open(self) -> bool:
        return self._dialog.open

    def open(self) -> None:
        self._alert.visible = False
        self._dialog.open = True

    # --- file and mapping ------------------------------------------------------------

    def _on_file(self, event) -> None:
        self.param.update(file=event.new, filename=self._file.filename or "")

    @param.depends("file", watch=True)
    def _read_new_file(self) -> None:
        self.param.update(sheet=None, header_row=None)
        self._read()

    @param.depends("sheet", "header_row", "encoding", watch=True)
    def _reread(self) -> None:
        if self.file and not self._reading:
            self._read()

    def load(self, data: bytes, filename: str = "") -> None:
        """Give the wizard a file (what the file input does)."""
        self.param.update(filename=filename, file=data)

    def _read(self) -> None:
        self._clear_preview()
        try:
            table = importer.read_table(
                self.file, sheet=self.sheet, header_row=self.header_row,
                encoding=None if self.encoding == "auto" else self.encoding, max_bytes=self.max_bytes,
            )  # fmt: skip
        except UserError as exc:
            self._error(str(exc))
            self._table = None
            self._mapping.objects = []
            return
        self._table = table
        self._alert.visible = False
        self._reading = True  # showing what was found must not read the file again
        try:
            self.param.sheet.objects = [None, *table.sheets]
            self.param.update(sheet=table.sheet, header_row=table.header_row)
        finally:
            self._reading = False
        self._source.visible = True
        self._build_mapping(table)

    def _build_mapping(self, table: importer.Table) -> None:
        guessed = importer.guess_mapping(table.headers)
        options = {IGNORE: IGNORE, **importer.targets()}
        rows, self._mapping_widgets = [], {}
        for header in table.headers:
            sample = next((str(v) for v in table.frame[header].head(20) if v not in (None, "")), "")
            select = pmui.Select(options=options, value=guessed[header] or IGNORE, label=header,
                                 description=f"e.g. {sample[:40]}" if sample else None, width=300)  # fmt: skip
            self._mapping_widgets[header] = select
            rows.append(select)
        self._mapping.objects = [pmui.FlexBox(*rows, sizing_mode="stretch_width")]

    def mapping(self) -> dict[str, str | None]:
        """The mapping as chosen in the page."""
        return {
            h: (None if w.value == IGNORE else w.value) for h, w in self._mapping_widgets.items()
        }

    def set_mapping(self, header: str, target: str | None) -> None:
        self._mapping_widgets[header].value = target or IGNORE

    @param.depends("add_set", watch=True)
    def _add_set(self) -> None:
        self._sets[self.set_field] = self.set_value
        self._sets_text.object = "; ".join(f"{k} = {v}" for k, v in self._sets.items())
        self.set_value = ""

    @param.depends("clear_sets", watch=True)
    def _clear_sets(self) -> None:
        self._sets.clear()
        self._sets_text.object = "No fields set for every row."

    # --- preview and upload ----------------------------------------------------------

    def plan(self) -> importer.Plan:
        return importer.Plan(self.mapping(), dict(self._sets), self.on_duplicate)

    @param.depends("check", watch=True)
    def _check(self) -> importer.Preview | None:
        self._alert.visible = False
        if self._table is None:
            self._error("Choose a file first.")
            return None
        try:
            preview = importer.prepare(self.store, self._table, self.plan())
        except ValidationError as exc:
            self._error("; ".join(p.describe() for p in exc.problems))
            return None
        except UserError as exc:
            self._error(str(exc))
            return None
        self._preview = preview
        c = preview.counts
        self._counts.object = (f"{c['rows']:,} rows: {c['new']:,} new, {c['updated']:,} updated, "
                               f"{c['unchanged']:,} unchanged, {c['skipped']:,} skipped, "
                               f"{c['invalid']:,} invalid · {c['problems']:,} problems")  # fmt: skip
        self.message = self._counts.object
        problems = pd.DataFrame(
            [(p.row, p.column or "", p.field, "" if p.value is None else str(p.value), p.message)
             for p in preview.problems[:1000]],
            columns=["Row", "Column", "Field", "Value", "Problem"],
        )  # fmt: skip
        self._problems.param.update(value=problems, visible=bool(len(problems)))
        first = preview.first_rows(20).astype(str)
        self._rows.param.update(value=first, visible=True)
        self._rejected.visible = bool(preview.problems) and self.valid_only
        return preview

    @param.depends("upload", watch=True)
    async def _upload(self) -> None:
        preview = self._check()
        if preview is None:
            return
        if preview.problems and not self.valid_only:
            self._error(f"{plural(len(preview.problems), 'problem')}: fix them in the file, or "
                        "switch on 'Import only the valid rows'. Nothing was written.")  # fmt: skip
            return
        try:
            batch = await run_with_progress(
                lambda report: importer.commit(
                    self.store, preview, valid_only=self.valid_only, user=self.user,
                    progress=lambda fraction, _what: report(fraction),
                ),
                self._bar,
            )  # fmt: skip
        except UserError as exc:
            self._error(str(exc))
            self._bar.visible = False
            return
        self.finish(batch)

    def upload_now(self):
        """Upload synchronously (the API and tests; the page runs it in the background)."""
        preview = self._check()
        if preview is None or (preview.problems and not self.valid_only):
            if preview is not None:
                self._error(f"{plural(len(preview.problems), 'problem')}: nothing was written.")
            return None
        batch = importer.commit(self.store, preview, valid_only=self.valid_only, user=self.user)
        self.finish(batch)
        return batch

    def finish(self, batch) -> None:
        c = self._preview.counts if self._preview else {}
        self.message = (f"Imported {c.get('new', 0):,} new and {c.get('updated', 0):,} updated customers "
                        f"(batch {batch.batch_id or 'none'}).")  # fmt: skip
        if not self._rejected.visible:
            self._dialog.open = False
        self.done_batch = batch.batch_id
        self.param.trigger("done_batch")

    def _rejected_file(self) -> io.BytesIO:
        if self._preview is None:
            return io.BytesIO(b"")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rejected.xlsx"
            importer.rejected_workbook(self._preview, out)
            return io.BytesIO(out.read_bytes())

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self._dialog.open = False

    def _clear_preview(self) -> None:
        self._preview = None
        self._counts.object = ""
        self._problems.visible = False
        self._rows.visible = False
        self._rejected.visible = False
        self._bar.visible = False

    def _error(self, text: str) -> None:
        self.message = text
        self._alert.param.update(object=text, visible=True)
