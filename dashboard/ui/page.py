"""The Customers page: toolbar, grid, pager, selection, Columns and Filters pop-outs.

One `CustomersPage` per browser session (or notebook cell). Its `View` compiles to SQL in
the engine; the Tabulator only ever holds the rows, groups or pivot rows on screen.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import customers as service
from .. import query, views
from ..access import allowed
from ..charts import KINDS, chart
from ..errors import UserError
from ..exports import export_view
from ..fields import STATUSES
from ..query import View
from ..reports import pivot_report
from ..store import Store
from .bulk_edit import BulkEditDialog
from .card import CustomerCard
from .columns import ColumnsPanel
from .display import aggregate_display, group_filters, plural, rows_display, sort_keys
from .filters import FiltersPanel
from .send import SendDialog
from .sql import SqlDialog, ViewCode
from .upload import UploadWizard

STATUS_OPTIONS = ["All", *STATUSES]
GUIDE_URL = "/guide"


class CustomersPage(pn.viewable.Viewer):
    """Management > Customers, over one store."""

    store = param.ClassSelector(class_=Store, doc="The database gateway (shared by the server).")
    view = param.ClassSelector(class_=View, doc="What the grid shows: one query.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    settings_path = param.String(
        default=None, allow_None=True, doc="The settings file (Setup > Settings)."
    )
    status = param.Selector(
        default="All", objects=STATUS_OPTIONS, doc="The Active button's filter."
    )
    view_state = param.Dict(default={}, doc="The view as a dict; synced with the URL's ?view=.")
    refresh = param.Event(doc="Reload from the database.")
    add = param.Event(doc="+ : add a customer.")
    upload = param.Event(doc="Bulk Upload a spreadsheet.")
    bulk_edit = param.Event(doc="Bulk Edit the selected customers.")
    delete = param.Event(doc="Delete the selected customers (asks first).")
    confirm_delete = param.Event(doc="Confirm the delete.")
    cancel_delete = param.Event(doc="Cancel the delete.")
    send = param.Event(doc="Send email or SMS to the selected customers.")
    show_columns = param.Event(doc="Open the Columns pop-out.")
    show_filters = param.Event(doc="Open the Filters pop-out.")
    select_all = param.Event(doc="Select every customer that matches the filters.")
    clear_selection = param.Event(doc="Clear the selection.")
    close_group = param.Event(doc="Close the opened group.")
    view_name = param.String(default="", doc="Name to save the current view under.")
    save_view = param.Event(doc="Save the current view under view_name.")
    saved = param.Selector(default=None, objects=[None], doc="A saved view to open.")
    total = param.Integer(default=0, doc="Customers (or groups) matching the view.")
    customers = param.Integer(default=0, doc="Customers matching the view's filters.")
    selected_ids = param.List(default=[], doc="Ids ticked by hand (kept across pages).")
    all_matching = param.Boolean(default=False, doc="Whether every matching customer is selected.")
    message = param.String(default="", doc="The last notice shown to the user.")
    poll_ms = param.Integer(default=2000, doc="How often to look for other sessions' changes.")
    undo_last = param.Event(doc="Undo this session's last change.")
    chart_kind = param.Selector(default="bar", objects=list(KINDS),
                                doc="How groups and pivots are charted beside the table.")  # fmt: skip
    show_sql = param.Event(doc="SQL: run a read-only query over the customer tables.")
    show_code = param.Event(doc="Use this view in a notebook (Python, JSON, link).")
    last_batch = param.String(default="", doc="This session's last batch that can be undone.")

    def __init__(self, **params):
        params.setdefault("view", View())
        params.setdefault("status", params["view"].status)  # the Active select shows the view's
        super().__init__(**params)
        self._syncing = False
        self._result: query.Result | None = None
        self._display = None
        self._token = None
        self._group_view: View | None = None
        self._build()
        self.view.param.watch(self._on_view, list(View._STATE))
        self._load()
        self._refresh_saved()
        self._callback = None

    # --- building --------------------------------------------------------------------

    def _build(self) -> None:
        button = dict(variant="outlined", size="small")
        self._buttons = {
            "add": pmui.Button.from_param(
                self.param.add,
                label="+",
                description="Add a customer",
                variant="contained",
                size="small",
            ),  # fmt: skip
            "upload": pmui.Button.from_param(
                self.param.upload, label="Bulk Upload", icon="upload_file", **button
            ),
            "bulk_edit": pmui.Button.from_param(
                self.param.bulk_edit, label="Bulk Edit", icon="edit_note", **button
            ),
            "refresh": pmui.Button.from_param(
                self.param.refresh, label="Refresh", icon="refresh", **button
            ),
            "delete": pmui.Button.from_param(
                self.param.delete, label="Delete", icon="delete", color="error", **button
            ),  # fmt: skip
            "help": pmui.Button(
                label="?",
                href=GUIDE_URL,
                target="_blank",
                description="User guide for this page",
                **button,
            ),  # fmt: skip
            "send": pmui.Button.from_param(self.param.send, label="Send", icon="send", **button),
            "sql": pmui.Button.from_param(
                self.param.show_sql, label="SQL", icon="terminal", **button
            ),
            "code": pmui.Button.from_param(
                self.param.show_code, label="Code", icon="code", **button
            ),
        }
        # a button the role may not use is not shown (and the service refuses it anyway)
        for key, action in (("add", "add"), ("upload", "import"), ("bulk_edit", "bulk_edit"),
                            ("delete", "delete"), ("send", "send")):  # fmt: skip
            self._buttons[key].visible = allowed(self.store.role, action)
        self._status_box = pmui.Select.from_param(
            self.param.status, options=STATUS_OPTIONS, label="Active", width=150, size="small"
        )
        self._columns_panel = ColumnsPanel(view=self.view)
        self._filters_panel = FiltersPanel(view=self.view)
        self._columns_btn = pmui.Button.from_param(self.param.show_columns, label="Columns",
                                                   icon="view_column", **button)  # fmt: skip
        self._filters_btn = pmui.Button.from_param(self.param.show_filters, label="Filters",
                                                   icon="filter_list", **button)  # fmt: skip
        # The pop-outs, the delete dialog and the group box are mounted empty and filled the
        # first time they are used: half of a session's components live in them, and a
        # session's start (model creation) is what the server spends most on under load.
        self._columns_drawer = pmui.Drawer(anchor="right", size=380, open=False)
        self._filters_drawer = pmui.Drawer(anchor="right", size=380, open=False)
        self._search = pmui.TextInput.from_param(
            self.view.param.search, label="Search", placeholder="Name, city, email, mobile...",
            width=210, size="small",
        )  # fmt: skip
        grid = dict(show_index=False, disabled=True, pagination=None, layout="fit_data_table",
                    sizing_mode="stretch_width", height=600, theme="materialize",
                    header_align="left")  # fmt: skip
        # Customers on one table (with tick boxes); groups and pivots on another, because
        # a rendered Tabulator cannot switch its selection mode.
        self._table = pn.widgets.Tabulator(pd.DataFrame(), selectable="checkbox", **grid)
        self._agg_table = pn.widgets.Tabulator(
            pd.DataFrame(), selectable=False, visible=False, **grid
        )
        for table in (self._table, self._agg_table):
            table.param.watch(self._on_sorters, "sorters")
        self._table.param.watch(self._on_selection, "selection")
        self._agg_table.on_click(self._on_click)
        self._pager = pmui.Pagination(count=1, value=0, size="small", show_first_button=True,
                                      show_last_button=True)  # fmt: skip
        self._pager.param.watch(self._on_pager, "value")
        self._count = pmui.Typography("", variant="body2")
        self._selection = pmui.Typography("", variant="body2")
        self._select_all = pmui.Button.from_param(self.param.select_all, label="Select all", size="small",
                                                  variant="text")  # fmt: skip
        self._clear_sel = pmui.Button.from_param(self.param.clear_selection, label="Clear selection",
                                                 size="small", variant="text")  # fmt: skip
        self._alert = pmui.Alert(object="", severity="info", visible=False, closeable=True,
                                 sizing_mode="stretch_width")  # fmt: skip
        self._export_csv = pmui.FileDownload(callback=lambda: self._export("csv"), label="CSV",
                                             filename="customers.csv", icon="download", size="small")  # fmt: skip
        self._export_xlsx = pmui.FileDownload(callback=lambda: self._export("xlsx"), label="XLSX",
                                              filename="customers.xlsx", icon="download", size="small")  # fmt: skip
        self._group_title = pmui.Typography("", variant="subtitle1")
        self._group_table = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True,
                                                 pagination=None, layout="fit_data_table",
                                                 sizing_mode="stretch_width", height=300,
                                                 theme="materialize")  # fmt: skip
        self._group_pager = pmui.Pagination(count=1, value=0, size="small")
        self._group_pager.param.watch(lambda e: self._load_group(), "value")
        self._group_box = pmui.Paper(visible=False, sizing_mode="stretch_width", margin=(10, 0))
        self._chart = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=380)
        self._chart_box = pmui.Column(
            pmui.RadioButtonGroup.from_param(self.param.chart_kind, options={v: k for k, v in KINDS.items()},
                                             label="Chart", size="small"),  # fmt: skip
            self._chart, visible=False, sizing_mode="stretch_width", min_width=380,
        )  # fmt: skip
        # the group/pivot table and its chart, mounted the first time a view needs them
        self._aggregates = pn.Row(sizing_mode="stretch_width")
        self._sql: SqlDialog | None = None
        self._code: ViewCode | None = None
        self._card: CustomerCard | None = None  # built on first use: a session may never open it
        self._bulk: BulkEditDialog | None = None
        self._upload: UploadWizard | None = None
        self._send: SendDialog | None = None
        self._overlays = pn.Column(height=0, margin=0)
        self._table.on_click(self._on_row_click)
        self._undo = pmui.Button.from_param(self.param.undo_last, label="Undo", icon="undo",
                                            variant="outlined", size="small", visible=False)  # fmt: skip
        self._confirm_text = pmui.Typography("", variant="body1")
        self._confirm = pmui.Dialog(title="Delete customers?", open=False)

    def _mount(self, holder, *objects) -> None:
        """Fill a pop-out, dialog or box the first time it is used (see `_build`)."""
        if not holder.objects:
            holder.objects = list(objects)

    def _guide_url(self) -> str:
        """The `?` link: Setup > Settings' documentation link, else the built-in guide."""
        from ..settings import Settings

        try:
            return str(Settings.load(self.settings_path).get("docs", "url") or GUIDE_URL)
        except UserError:
            return GUIDE_URL

    def _saved_views_box(self):
        return pmui.Column(
            pmui.Divider(),
            pmui.Typography("Saved views", variant="subtitle1"),
            pmui.Select.from_param(
                self.param.saved, label="Open a saved view", sizing_mode="stretch_width"
            ),
            pmui.TextInput.from_param(
                self.param.view_name, label="Save this view as", sizing_mode="stretch_width"
            ),  # fmt: skip
            pmui.Button.from_param(
                self.param.save_view, label="Save view", variant="outlined", icon="save"
            ),
            sizing_mode="stretch_width",
        )

    def toolbar(self):
        return pmui.Row(
            self._buttons["add"], self._buttons["upload"], self._buttons["bulk_edit"],
            self._buttons["refresh"], self._buttons["delete"], self._buttons["help"],
            self._buttons["send"], self._buttons["sql"], self._buttons["code"], pn.layout.HSpacer(),
            self._status_box, self._search,
            self._columns_btn, self._filters_btn,
            sizing_mode="stretch_width",
        )  # fmt: skip

    def __panel__(self):
        footer = pmui.Row(
            self._count, self._selection, self._select_all, self._clear_sel, pn.HSpacer(),
            pmui.Typography("Export", variant="body2"), self._export_csv, self._export_xlsx,
            self._pager, sizing_mode="stretch_width",
        )  # fmt: skip
        # The pop-outs live apart from the parts whose visibility changes, so that a change of
        # grid mode never re-mounts an open drawer.
        notice = pn.Row(self._alert, self._undo, sizing_mode="stretch_width")
        main = pn.Column(
            self.toolbar(), notice, self._table, self._aggregates, footer, self._group_box,
            sizing_mode="stretch_width",
        )  # fmt: skip
        dialogs = (self._card, self._bulk, self._upload, self._send, self._sql, self._code)
        self._overlays.objects = [self._columns_drawer, self._filters_drawer, self._confirm,
                                  *[d for d in dialogs if d]]  # fmt: skip
        return pn.Column(main, self._overlays, sizing_mode="stretch_width")

    # --- loading ---------------------------------------------------------------------

    def _on_view(self, *events) -> None:
        names = {e.name for e in events}
        if names & {"filters", "search", "status"}:
            if self.view.status != self.status:
                self.status = self.view.status
            if self.selected_ids or self.all_matching:
                self.param.update(selected_ids=[], all_matching=False)
                self.notify("The filters changed, so the selection was cleared.")
            if self.view.page != 1:
                self.view.page = 1  # triggers one more load
                return
        if names & {"groups", "pivot", "filters", "search", "status"}:
            self._close_group()
        self._load()

    @param.depends("status", watch=True)
    def _status_to_view(self):
        if self.view.status != self.status:
            self.view.status = self.status

    def _load(self, *, quiet: bool = False, fresh: bool = False) -> None:
        """Run the view and show its page (only the rows on screen); `fresh` counts again
        even when nobody wrote (the Refresh button)."""
        table = self._table if self.view.mode == "rows" else self._agg_table
        table.loading = not quiet
        # the token is read before the query, so a write that lands during it is seen later
        token = self.store.change_token()
        # nobody wrote since the last load: its search matches and counts may be reused
        earlier = self._result if self._token == token and not fresh else None
        try:
            # key: ticking rows and opening a customer's card need its id
            result = query.run(self.store, self.view, earlier=earlier, key=True)
        except UserError as exc:
            self.notify(str(exc), "error")
            return
        finally:
            table.loading = False
        self._result = result
        display = (
            rows_display(result) if result.mode == "rows" else aggregate_display(result, self.view)
        )
        self._display = display
        self._syncing = True
        try:
            table.param.update(
                value=display.frame, titles=display.titles, formatters=display.formatters,
                text_align=display.align, visible=True,
                frozen_columns=display.frozen,
            )  # fmt: skip
            (self._agg_table if table is self._table else self._table).visible = False
            if table is self._agg_table:
                # a few groups should not sit in a tall empty box
                table.height = min(600, 48 + 33 * len(display.frame))
                self._mount(self._aggregates, self._agg_table, self._chart_box)
            if table is self._table:
                self._table.selection = self._page_selection()
            pages = max(1, math.ceil(result.total / self.view.page_size))
            self._pager.param.update(count=pages, value=min(self.view.page, pages) - 1)
        finally:
            self._syncing = False
        self._draw_chart()
        self.param.update(total=result.total, customers=result.customers or 0)
        self._update_texts()
        self.view_state = self.view.to_dict()
        self._token = token

    def _update_texts(self) -> None:
        r = self._result
        if r is None:
            return
        if r.mode == "rows":
            self._count.object = plural(r.total, "customer")
        elif r.mode == "groups":
            self._count.object = (
                f"{plural(r.total, 'group')} · {plural(self.customers, 'customer')}"
            )
        else:
            self._count.object = f"{plural(r.total, 'row')} · {plural(self.customers, 'customer')}"
        n = self.selected_count
        self._selection.object = f"· {n:,} selected" if n else ""
        self._select_all.label = f"Select all {self.customers:,} matching"
        self._select_all.visible = r.mode == "rows" and not self.all_matching and self.customers > 0
        self._clear_sel.visible = n > 0
        active = self._filters_panel.active_count
        self._filters_btn.label = f"Filters ({active})" if active else "Filters"
        self._filters_btn.variant = "contained" if active else "outlined"

    @property
    def selected_count(self) -> int:
        return self.customers if self.all_matching else len(self.selected_ids)

    def selection_target(self) -> service.Target:
        """What Bulk Edit, Delete and Send act on: the ticked ids, or every match."""
        if self.all_matching:
            return self.view.copy()
        return list(self.selected_ids)

    def _page_selection(self) -> list[int]:
        if self._result is None or self._result.mode != "rows":
            return []
        ids = self._display.frame["id"].tolist()
        if self.all_matching:
            return list(range(len(ids)))
        chosen = set(self.selected_ids)
        return [i for i, cid in enumerate(ids) if cid in chosen]

    # --- events ----------------------------------------------------------------------

    def _on_pager(self, event) -> None:
        if self._syncing or event.new is None:
            return
        if event.new + 1 != self.view.page:
            self.view.page = event.new + 1

    def _on_sorters(self, event) -> None:
        if self._syncing or self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new or [])
        if sort != self.view.sort:
            self.view.param.update(sort=sort, page=1)

    def _on_selection(self, event) -> None:
        if self._syncing or self._result is None or self._result.mode != "rows":
            return
        ids = self._display.frame["id"].tolist()
        on_page = set(ids)
        ticked = {ids[i] for i in event.new if i < len(ids)}
        if self.all_matching and len(ticked) < len(on_page):
            # unticking one row of "all matching" turns it into an explicit list of this page
            self.all_matching = False
            self.selected_ids = sorted(ticked)
        else:
            keep = [i for i in self.selected_ids if i not in on_page]
            self.selected_ids = keep + sorted(ticked)
        self._update_texts()

    def _on_click(self, event) -> None:
        if self._result is None or self._result.mode == "rows":
            return
        row = (
            self._result.data.iloc[event.row].to_dict()
            if event.row < len(self._result.data)
            else None
        )
        if row is None:
            return
        self._group_view = self.view.copy(
            filters=[*self.view.filters, *group_filters(self.view, row)],
            groups=[], pivot=None, values=[], page=1, sort=[],
        )  # fmt: skip
        label = ", ".join(f"{k}: {v}" for k, v in zip(self.view.groups, [row[g] for g in self.view.groups],
                                                       strict=True))  # fmt: skip
        self._group_title.object = f"Customers in {label}"
        self._group_pager.value = 0
        self._mount(
            self._group_box,
            pmui.Row(self._group_title, pmui.Button.from_param(self.param.close_group, label="Close",
                                                               size="small", variant="text")),  # fmt: skip
            self._group_table, self._group_pager,
        )  # fmt: skip
        self._group_box.visible = True
        self._load_group()

    def _load_group(self) -> None:
        if self._group_view is None:
            return
        self._group_view.page = (self._group_pager.value or 0) + 1
        result = query.run(self.store, self._group_view)
        display = rows_display(result)
        self._group_table.param.update(value=display.frame, titles=display.titles,
                                       formatters=display.formatters)  # fmt: skip
        self._group_pager.count = max(1, math.ceil(result.total / self._group_view.page_size))
        self._group_title.object = self._group_title.object.split(" (")[0] + f" ({result.total:,})"

    @param.depends("close_group", watch=True)
    def _close_group(self) -> None:
        self._group_view = None
        self._group_box.visible = False

    @param.depends("refresh", watch=True)
    def _on_refresh(self) -> None:
        self._load(fresh=True)
        self.notify("Reloaded from the database.")

    @param.depends("select_all", watch=True)
    def _on_select_all(self) -> None:
        self.param.update(all_matching=True, selected_ids=[])
        self._syncing = True
        try:
            self._table.selection = self._page_selection()
        finally:
            self._syncing = False
        self._update_texts()

    @param.depends("clear_selection", watch=True)
    def _on_clear_selection(self) -> None:
        self.param.update(all_matching=False, selected_ids=[])
        self._syncing = True
        try:
            self._table.selection = []
        finally:
            self._syncing = False
        self._update_texts()

    @param.depends("show_columns", watch=True)
    def _open_columns(self) -> None:
        self._filters_drawer.open = False
        self._mount(self._columns_drawer, self._columns_panel, self._saved_views_box())
        self._columns_drawer.open = True

    @param.depends("show_filters", watch=True)
    def _open_filters(self) -> None:
        self._columns_drawer.open = False
        self._mount(self._filters_drawer, self._filters_panel)
        self._filters_drawer.open = True

    @property
    def card(self) -> CustomerCard:
        """The customer card (Add / Edit), made the first time it is needed."""
        if self._card is None:
            self._card = CustomerCard(store=self.store, user=self.user)
            self._card.param.watch(self._on_saved, "saved_batch")
            self._overlays.append(self._card)
        return self._card

    @param.depends("add", watch=True)
    def _on_add(self) -> None:
        self.card.new()

    def _on_row_click(self, event) -> None:
        """A click on a customer's name opens its card."""
        if event.column != "name" or self._display is None:
            return
        frame = self._display.frame
        if 0 <= event.row < len(frame):
            self.card.open_customer(int(frame["id"].iloc[event.row]))

    def _on_saved(self, event) -> None:
        self._load()
        self._remember(event.new)
        self.notify(self.card.message, "success")

    def _remember(self, batch_id: str) -> None:
        self.last_batch = batch_id or ""
        self._undo.visible = bool(batch_id) and allowed(self.store.role, "undo")

    @param.depends("undo_last", watch=True)
    def _on_undo(self) -> None:
        if not self.last_batch:
            self.notify("Nothing to undo.", "info")
            return
        from ..undo import undo

        try:
            batch = undo(self.store, self.last_batch, user=self.user)
        except UserError as exc:
            self.notify(str(exc), "error")
            return
        done = self.last_batch
        self._remember("")
        self._load()
        self.notify(f"Undid batch {done}: {batch.count:,} customers restored (batch {batch.batch_id}).",
                    "success")  # fmt: skip

    @property
    def upload_wizard(self) -> UploadWizard:
        """The Bulk Upload wizard, made the first time it is needed."""
        if self._upload is None:
            self._upload = UploadWizard(store=self.store, user=self.user)
            self._upload.param.watch(self._on_upload_done, "done_batch")
            self._overlays.append(self._upload)
        return self._upload

    @param.depends("upload", watch=True)
    def _on_upload(self) -> None:
        self.upload_wizard.open()

    def _on_upload_done(self, event) -> None:
        self._load()
        self._remember(event.new)
        self.notify(self.upload_wizard.message, "success")

    @property
    def bulk_dialog(self) -> BulkEditDialog:
        """The Bulk Edit dialog, made the first time it is needed."""
        if self._bulk is None:
            self._bulk = BulkEditDialog(store=self.store, user=self.user)
            self._bulk.param.watch(self._on_bulk_done, "done_batch")
            self._overlays.append(self._bulk)
        return self._bulk

    @param.depends("bulk_edit", watch=True)
    def _on_bulk_edit(self) -> None:
        if not self.selected_count:
            self.notify("Tick the customers to change first (or Select all matching).", "warning")
            return
        self.bulk_dialog.open_for(self.selection_target(), self.selected_count)

    def _on_bulk_done(self, event) -> None:
        self._load()
        self._remember(event.new)
        self.notify(self.bulk_dialog.message, "success")

    @property
    def send_dialog(self) -> SendDialog:
        """The Send dialog, made the first time it is needed."""
        if self._send is None:
            self._send = SendDialog(
                store=self.store, user=self.user, settings_path=self.settings_path
            )
            self._send.param.watch(self._on_sent, "done_batch")
            self._overlays.append(self._send)
        return self._send

    @param.depends("send", watch=True)
    def _on_send(self) -> None:
        if not self.selected_count:
            self.notify("Tick the customers to write to first (or Select all matching).", "warning")
            return
        self.send_dialog.open_for(self.selection_target(), self.selected_count)

    def _on_sent(self, event) -> None:
        self.notify(self.send_dialog.message, "success")

    @param.depends("delete", watch=True)
    def _ask_delete(self) -> None:
        if not self.selected_count:
            self.notify("Tick the customers to delete first (or Select all matching).", "warning")
            return
        n, names = service.preview_targets(self.store, self.selection_target())
        more = f" and {n - len(names):,} more" if n > len(names) else ""
        self._confirm_text.object = (
            f"Delete {plural(n, 'customer')} and their contacts: {', '.join(names)}{more}? "
            "The deletion is kept in the audit log."
        )
        self._mount(
            self._confirm,
            self._confirm_text,
            pmui.Row(
                pmui.Button.from_param(self.param.cancel_delete, label="Cancel", variant="outlined"),
                pmui.Button.from_param(self.param.confirm_delete, label="Delete", color="error",
                                       variant="contained"),  # fmt: skip
            ),
        )  # fmt: skip
        self._confirm.open = True

    @param.depends("cancel_delete", watch=True)
    def _cancel_delete(self) -> None:
        self._confirm.open = False

    @param.depends("confirm_delete", watch=True)
    def _do_delete(self) -> None:
        self._confirm.open = False
        try:
            batch = service.delete_customers(self.store, self.selection_target(), user=self.user)
        except UserError as exc:
            self.notify(str(exc), "error")
            return
        self.param.update(selected_ids=[], all_matching=False)
        self._load()
        self._remember(batch.batch_id)
        self.notify(
            f"Deleted {plural(batch.count, 'customer')} (batch {batch.batch_id}).", "success"
        )

    @param.depends("view_state", watch=True)
    def _from_url(self) -> None:
        if self.view_state == self.view.to_dict():
            return
        try:
            incoming = View.from_dict(self.view_state)
        except UserError as exc:
            self.notify(f"The link's view could not be opened: {exc}", "error")
            return
        self.view.param.update(**{k: getattr(incoming, k) for k in View._STATE})

    @param.depends("save_view", watch=True)
    def _save_view(self) -> None:
        try:
            views.save_view(self.store, self.view_name, self.view, user=self.user)
        except UserError as exc:
            self.notify(str(exc), "error")
            return
        self._refresh_saved()
        self.notify(f"Saved the view {self.view_name.strip()!r}.", "success")

    @param.depends("saved", watch=True)
    def _open_saved(self) -> None:
        if not self.saved:
            return
        try:
            incoming = views.load_view(self.store, self.saved)
        except UserError as exc:
            self.notify(str(exc), "error")
            return
        self.view.param.update(**{k: getattr(incoming, k) for k in View._STATE})

    def _refresh_saved(self) -> None:
        self.param.saved.objects = [None, *views.saved_views(self.store)]

    @param.depends("chart_kind", watch=True)
    def _draw_chart(self) -> None:
        """The chart beside a group or pivot table, from the page already loaded."""
        r = self._result
        show = r is not None and r.mode != "rows" and len(r.data) > 0
        if show:
            self._chart.object = chart(r, self.view, self.chart_kind)
        self._chart_box.visible = show

    @param.depends("show_sql", watch=True)
    def _open_sql(self) -> None:
        if self._sql is None:
            self._sql = SqlDialog(store=self.store)
            self._overlays.append(self._sql)
        self._sql.open()

    @param.depends("show_code", watch=True)
    def _open_code(self) -> None:
        if self._code is None:
            self._code = ViewCode()
            self._overlays.append(self._code)
        loc = pn.state.location
        base = (
            f"{loc.origin}{loc.pathname}"
            if loc is not None and loc.origin
            else "http://localhost:5006/"
        )
        view = self.view.copy(page=1)
        self._code.show(view.to_python(), view.to_json(), view.url(base))

    def _export(self, fmt: str) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"customers.{fmt}"
            try:
                if self.view.mode == "rows":
                    export_view(self.store, self.view.copy(page=1), out)
                else:  # groups and pivots go out as a formatted report
                    pivot_report(self.store, self.view.copy(page=1), out)
            except UserError as exc:
                self.notify(str(exc), "error")
                return io.BytesIO(b"")
            return io.BytesIO(out.read_bytes())

    # --- live changes ----------------------------------------------------------------

    def poll(self) -> bool:
        """Reload when another session (or process) wrote; returns whether it reloaded."""
        token = self.store.change_token()
        if token != self._token:
            self._load(quiet=True)
            return True
        return False

    def start_polling(self) -> None:
        if self._callback is None and self.poll_ms > 0:
            self._callback = pn.state.add_periodic_callback(self.poll, period=self.poll_ms)

    def stop_polling(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    # --- notices ---------------------------------------------------------------------

    def notify(self, text: str, severity: str = "info") -> None:
        """Show a readable message at the top of the page."""
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True, closed=False)
