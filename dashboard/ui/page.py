"""The Customers page: a composition of small parts, each owning its own state.

- `Toolbar` (toolbar.py): the carrier page's actions, Active, search, Columns, Filters;
- `CustomerGrid` and `Selection` (grid.py): one page of customers and the ticked ones;
- `AggregatePanel` (aggregates.py): groups or a pivot, their chart, an opened group;
- `Footer` (footer.py): count, selection, export, rows per page, pager;
- dialogs, each made the first time it is needed: the card, Bulk Upload, Bulk Edit, Send,
  Delete, SQL, Code, Changes; and the Columns and Filters pop-outs.

The page itself runs the view (one query per change, through the engine) and hands the
result to the part that shows it. One page per browser session (or notebook cell).
"""

from __future__ import annotations

import io
import json
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import panel as pn
import panel_material_ui as pmui
import param
from panel.io.state import set_curdoc

from .. import live, query, tree, views
from ..access import allowed
from ..errors import UserError
from ..exports import export_view
from ..query import View
from ..reports import pivot_report
from ..store import Store
from .aggregates import AggregatePanel
from .bulk_edit import BulkEditDialog
from .card import CustomerCard
from .changes import ChangesPanel
from .columns import ColumnsPanel
from .confirm import DeleteDialog
from .controls import Button
from .dialogs import Opening
from .display import rows_display
from .filters import FiltersPanel, active_filters
from .footer import Footer
from .grid import CustomerGrid, Selection
from .keys import Viewport
from .safe import Notice, Text
from .send import SendDialog
from .sql import SqlDialog, ViewCode
from .toolbar import GUIDE_URL, STATUS_OPTIONS, Toolbar
from .upload import UploadWizard

__all__ = ["CustomersPage", "GUIDE_URL", "STATUS_OPTIONS"]

#: Narrower than this (CSS pixels) the page is laid out for a phone: the grid shows only
#: the fields marked `on_phone`, and the writing actions move into the More menu
#: (toolbar.PHONE_CSS, `Toolbar.compact`).
PHONE_PX = 700


def code_for(view: View) -> str:
    """Python that opens the dashboard's database and runs `view`: pasted into a notebook
    (or a script) as it is, it gives the page's table."""
    return (
        "from dashboard import View, open_store, run\n\n"
        "store = open_store()  # data/customers.duckdb, or $CUSTOMER_DASHBOARD_DB\n"
        f"view = {view.to_python()}\n"
        "result = run(store, view, paged=False)  # the whole result, not one page\n"
        "result.table()\n"
    )


def command_for(view: View) -> str:
    """The command line that writes `view` to a file: its customers as CSV, a grouped or
    pivoted view as the page's report (`--view` takes the JSON the Code dialog shows)."""
    if view.mode == "rows":
        return f"customer-dashboard export customers.csv --view {shlex.quote(view.to_json())}"
    return f"customer-dashboard pivot --view {shlex.quote(view.to_json())} --out report.xlsx"


#: The least time (s) between two reloads pushed by writes: a burst of writes elsewhere
#: (a script PATCHing in a loop) must not keep every open page reloading.
CATCH_UP_GAP = 0.3

#: How long a success or info notice stays (ms); a warning or an error stays until closed.
FADE_MS = 6000


#: The page's notice shares a line with Undo while both fit (320 px for the notice at
#: least), else takes a line of its own; a long word (a batch id) breaks rather than being
#: cut off at the notice's edge.
NOTICE_CSS = """
:host { flex: 1 1 320px !important; min-width: 0 !important; }
.MuiAlert-root { box-shadow: 0 2px 8px rgba(0, 0, 0, 0.25) !important;
                 background-color: var(--mui-palette-background-paper, #fff) !important; }
.MuiAlert-message { min-width: 0; overflow-wrap: anywhere; }
"""

#: The notices' line lies over the grid's foot, just above the footer, instead of taking a
#: line of the page: shown above the grid it pushed the grid down, and it pulled the grid
#: up again when it faded or was replaced (after a write, an Undo, Clear all), moving the
#: rows under the mouse. Only the notice and Undo take clicks; beside them the grid does.
NOTICES_CSS = """
:host { position: absolute !important; left: 0; right: 0; bottom: 100%; z-index: 20;
        max-height: none !important; padding: 0 8px 8px; box-sizing: border-box;
        pointer-events: none; }
[id^="flexbox"] { height: auto !important; }
[id^="flex-item"] > * { pointer-events: auto; }
"""

#: Undo over the grid's rows: on the paper's colour (an outlined button is see-through).
UNDO_CSS = """
.MuiButton-root { background: var(--mui-palette-background-paper, #fff) !important;
                  box-shadow: 0 2px 8px rgba(0, 0, 0, 0.25); }
"""


class Notices(pn.viewable.Viewer):
    """The last notice (what happened, or why not) and Undo for this session's last change.
    What went well fades after a few seconds (it piled up beside the state it described);
    a warning or an error stays until it is closed or replaced."""

    message = param.String(default="", doc="The last notice shown.")
    undo = param.Event(label="Undo", doc="Undo this session's last change.")

    def __init__(self, **params):
        super().__init__(**params)
        # the notice and Undo are made when first needed: most sessions start with neither,
        # and each Material UI component is drawn in the browser whether it shows or not
        self._made: dict[str, Any] = {}
        # wrapping: on a phone a long notice takes the whole width and Undo goes below it
        # (in a row the notice was squeezed beside Undo and its words cut off)
        self._row = pn.FlexBox(flex_wrap="wrap", align_items="center", margin=0,
                               justify_content="flex-end", gap="4px 8px", sizing_mode="stretch_width",
                               stylesheets=[NOTICES_CSS])  # fmt: skip
        self._said = 0  # how many notices were shown: a fade only takes its own away

    @property
    def _alert(self) -> Notice:
        if "alert" in self._made:  # (not `or`: an empty Notice is falsy)
            return self._made["alert"]
        return self._make_alert("", "info", visible=False)

    def _make_alert(self, text: str, severity: str, visible: bool) -> Notice:
        # made in the state it is to show: a Material UI component added in one update and
        # changed in the same one now and then kept its first state (a send's "Sent: ..."
        # never showed in one CI run of 1,218 tests)
        self._made["alert"] = Notice(object=text, severity=severity, visible=visible,
                                     closeable=True, sizing_mode="stretch_width",
                                     stylesheets=[NOTICE_CSS])  # fmt: skip
        self._row.insert(0, self._made["alert"])
        return self._made["alert"]

    @property
    def _undo(self) -> Button:
        if "undo" not in self._made:
            self._made["undo"] = Button.from_param(self.param.undo, icon="undo",
                                                   variant="outlined", size="small",
                                                   visible=False, stylesheets=[UNDO_CSS],
                                                   description="Undo the last change")  # fmt: skip
            self._row.append(self._made["undo"])
        return self._made["undo"]

    def say(self, text: str, severity: str = "info") -> None:
        """Show `text` (plain text) at the top of the page, replacing the last notice."""
        self.message = text
        if "alert" in self._made:
            self._alert.param.update(object=text, severity=severity, visible=True, closed=False)
        else:
            self._make_alert(text, severity, visible=True)
        self._said += 1
        if severity in ("success", "info"):
            self._fade(self._said)

    def _fade(self, said: int) -> None:
        """Take notice number `said` away after FADE_MS, unless another replaced it."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            return  # not served (a notebook, a test): nothing runs later

        def fade() -> None:
            if self._said == said:
                with set_curdoc(doc):  # so that the change goes out as this session's
                    self.clear()

        doc.add_timeout_callback(fade, FADE_MS)

    def clear(self) -> None:
        """Take the notice away (it no longer describes what is on screen)."""
        self.message = ""
        if "alert" in self._made:
            self._alert.visible = False

    def offer_undo(self, show: bool, what: str = "") -> None:
        """Show or hide the Undo button; shown, it names what it undoes ("Undo: Upload of
        3 customers"), since it stays after the notice that said so has gone."""
        if show or "undo" in self._made:
            label = f"Undo: {what}" if what else "Undo"
            self._undo.param.update(visible=show, label=label)

    def __panel__(self):
        return self._row


class CustomersPage(pn.viewable.Viewer):
    """Management > Customers, over one store."""

    store = param.ClassSelector(class_=Store, doc="The database gateway (shared by the server).")
    view = param.ClassSelector(class_=View, doc="What the grid shows: one query.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    settings_path = param.String(
        default=None, allow_None=True, doc="The settings file (Setup > Settings)."
    )
    poll_ms = param.Integer(default=2000, doc="How often to look for other sessions' changes.")
    height = param.Integer(default=None, allow_None=True,
                           doc="Fixed height in pixels (notebooks); None fills the window.")  # fmt: skip
    linked_group = param.Dict(default=None, allow_None=True,
                              doc="A group to open once the view has loaded (from a link).")  # fmt: skip
    last_batch = param.String(default="", doc="This session's last batch that can be undone.")
    view_name = param.String(default="", label="Save this view as",
                             doc="Name to save the current view under.")  # fmt: skip
    save_view = param.Event(label="Save view", doc="Save the current view under view_name.")
    saved = param.Selector(default="", objects=[""], label="Open a saved view",
                           doc="A saved view to open.")  # fmt: skip

    def __init__(self, **params):
        params.setdefault("view", View())
        super().__init__(**params)
        self._result: query.Result | None = None
        self._token = None
        self._callback = None
        # pushed changes (dashboard.live): the registration, this session's document, a
        # catch-up scheduled and not run yet, and when the last one ran
        self._listening: live.Listening | None = None
        self._session_doc = None
        self._told_waiting = False
        self._ticking_tree = False  # set while the group tree is shown the selection
        self._caught_up = 0.0
        self.notices = Notices()
        self.selection = Selection(view=self.view, store=self.store)
        self.toolbar = Toolbar(view=self.view, role=self.store.role, guide_url=self._guide_url())
        self.grid = CustomerGrid(view=self.view, selection=self.selection)
        self.footer = Footer(self.selection, self._export, view=self.view)
        self.viewport = Viewport()
        # the group/pivot panel and the pop-outs' panels are made on first use: a session
        # showing rows never needs them, and its start is what a busy server spends most on
        self._aggregates: AggregatePanel | None = None
        self._aggregates_box: pn.Column | None = None  # holds it on the page
        self._columns_panel: ColumnsPanel | None = None
        self._filters_panel: FiltersPanel | None = None
        self._dialogs: dict[str, Any] = {}
        # the pop-outs are made and filled the first time they open: half of a session's
        # components live in them, and a session's start is what a busy server spends most
        # on; the browser draws every Material UI component on the page, open or not
        self._drawers: dict[str, pmui.Drawer] = {}
        self._body = pn.Column(self.grid, sizing_mode="stretch_both", margin=0)
        self._overlays = pn.Column(margin=0)
        if self.linked_group and self.view.mode == "groups" and not self.view.expand:
            # an older link's open group: the tree opens it in place, down to its customers
            path = [self.linked_group.get(g) for g in self.view.groups]
            self.view.expand = [path[: i + 1] for i in range(len(path))]
        self._wire()
        self._load()
        if self.linked_group and self.view.mode == "pivot":
            self.aggregates.open_group(self.linked_group)

    def _wire(self) -> None:
        tb = self.toolbar
        on = {
            "add": lambda: self._with("card", lambda card: card.new()),
            "upload": lambda: self._with("upload", lambda wizard: wizard.open()),
            "bulk_edit": self._on_bulk_edit,
            "refresh": self._on_refresh,
            "delete": self._on_delete,
            "send": self._on_send,
            "sql": lambda: self._with("sql", lambda box: box.open()),
            "code": self._on_code,
            "changes": self._on_changes,
            "columns": self._open_columns,
            "filters": self._open_filters,
        }
        for name, action in on.items():
            tb.param.watch(lambda _e, action=action: action(), name)
        self.view.param.watch(self._on_view, list(View._STATE))
        self.grid.param.watch(
            lambda e: self._with("card", lambda card: card.open_customer(e.new)), "opened"
        )
        self.aggregates.tree.param.watch(
            lambda e: self._with("card", lambda card: card.open_customer(e.new)), "customer"
        )
        self.grid.param.watch(self._on_header_menu, "menu")
        # ticks in the group tree are the selection: groups (by filter) and customers
        self.aggregates.tree.param.watch(self._on_tree_ticks, "ticked")
        self.selection.param.watch(self._tree_from_selection, ["ids", "groups", "all_matching"])
        self.selection.param.watch(self._on_select_all, "all_matching")
        self.notices.param.watch(lambda _e: self._undo(), "undo")
        self.viewport.param.watch(self._on_width, "width")
        # a notice about the selection is stale once the selection changes again
        self.selection.param.watch(self._on_selection_change, ["ids", "all_matching"])

    # --- the parts made on first use ------------------------------------------------

    @property
    def aggregates(self) -> AggregatePanel:
        """The group or pivot table, its chart and an opened group (made on first use)."""
        if self._aggregates is None:
            self._aggregates = AggregatePanel(store=self.store, view=self.view,
                                              compact=self.grid.compact)  # fmt: skip
            # page state a link keeps beside the view: the chart and the open group
            self._aggregates.param.watch(lambda _e: self._to_url(), ["chart_kind", "opened"])
        return self._aggregates

    @property
    def columns_panel(self) -> ColumnsPanel:
        """The Columns pop-out's panel (made on first use)."""
        if self._columns_panel is None:
            self._columns_panel = ColumnsPanel(view=self.view)
        return self._columns_panel

    @property
    def filters_panel(self) -> FiltersPanel:
        """The Filters pop-out's panel (made on first use)."""
        if self._filters_panel is None:
            self._filters_panel = FiltersPanel(view=self.view)
        return self._filters_panel

    def _dialog(self, name: str, *, mount: bool = True):
        """The dialog called `name`, made (and mounted, unless `mount` is false) the first
        time it is needed."""
        if name not in self._dialogs:
            s, u = self.store, self.user
            made = {
                "card": lambda: CustomerCard(store=s, user=u),
                "upload": lambda: UploadWizard(store=s, user=u),
                "bulk": lambda: BulkEditDialog(store=s, user=u),
                "send": lambda: SendDialog(store=s, user=u, settings_path=self.settings_path),
                "delete": lambda: DeleteDialog(store=s, user=u),
                "sql": lambda: SqlDialog(store=s),
                "code": lambda: ViewCode(),
                "changes": lambda: ChangesPanel(store=s, user=u),
            }[name]()
            done = {"card": "saved_batch", "upload": "done_batch", "bulk": "done_batch",
                    "send": "done_batch", "delete": "done_batch"}.get(name)  # fmt: skip
            if done:
                made.param.watch(lambda e, d=made: self._on_done(d, e.new), done)
            if name == "changes":
                made.param.watch(lambda e, d=made: self._on_undone(d, e.new), "undone")
            if name == "upload":  # the wizard's Done step has an Undo of its own
                made.param.watch(lambda e, d=made: self._on_undone(d, e.new), "undone_batch")
            self._dialogs[name] = made
            if mount:
                self._overlays.append(made)
        return self._dialogs[name]

    def _with(self, name: str, action) -> None:
        """`action(dialog)` (which opens it) for the dialog called `name`. A dialog made
        just now is put on the page only after it was opened: its first state must reach
        the browser with the model. Opened in a later update, Material UI's dialog missed
        it now and then (the change arrived before the component listened for changes) and
        never showed, however often + was clicked."""
        new = name not in self._dialogs
        dialog = self._dialog(name, mount=False)
        action(dialog)
        if new:
            self._overlays.append(dialog)

    @property
    def card(self) -> CustomerCard:
        """The customer card (Add / Edit)."""
        return self._dialog("card")

    @property
    def upload_wizard(self) -> UploadWizard:
        """The Bulk Upload wizard."""
        return self._dialog("upload")

    @property
    def bulk_dialog(self) -> BulkEditDialog:
        """The Bulk Edit dialog."""
        return self._dialog("bulk")

    @property
    def send_dialog(self) -> SendDialog:
        """The Send dialog."""
        return self._dialog("send")

    @property
    def delete_dialog(self) -> DeleteDialog:
        """The Delete confirmation."""
        return self._dialog("delete")

    def _guide_url(self) -> str:
        """The `?` link: Setup > Settings' documentation link, else the built-in guide."""
        from ..settings import Settings

        try:
            return str(Settings.load(self.settings_path).get("docs", "url") or GUIDE_URL)
        except UserError:
            return GUIDE_URL

    def _saved_views_box(self):
        self._refresh_saved()
        return pmui.Column(
            pmui.Divider(),
            Text("Saved views", variant="subtitle1"),
            pmui.Select.from_param(self.param.saved, sizing_mode="stretch_width"),
            pmui.TextInput.from_param(self.param.view_name, sizing_mode="stretch_width"),
            Button.from_param(
                self.param.save_view,
                variant="outlined",
                icon="save",
                description="Save view: keep this view under its name",
            ),  # fmt: skip
            sizing_mode="stretch_width",
        )

    def _open_drawer(self, name: str, fill) -> None:
        """Open the pop-out called `name` (and close the other). Made the first time with
        `fill()` inside, and put on the page already open, as a dialog is (`_with`)."""
        for other, drawer in self._drawers.items():
            if other != name:
                drawer.open = False
        if name in self._drawers:
            self._drawers[name].open = True
            return
        # a close button of its own: on a phone the drawer covers all but a 10 px strip,
        # the only other way out by touch (Escape closes it from a keyboard); closed, the
        # drawer gives the focus back to the button that opened it
        close = Button(label=f"Close {name}", icon="close", variant="outlined", size="small",
                       description=f"Close {name}: back to the customers", align="end")  # fmt: skip
        drawer = pmui.Drawer(
            pmui.Column(close, sizing_mode="stretch_width", margin=0),
            anchor="right", size=380, open=True,
        )  # fmt: skip
        close.on_click(lambda _e: setattr(drawer, "open", False))
        self._drawers[name] = drawer
        # the drawer says what is opening at once, and its panel is made in the next tick:
        # made first, the drawer stood closed (or empty) for 2-5 s after the click
        opening = Opening(drawer, head=1)
        opening.say(f"Opening {name}…")
        self._overlays.append(drawer)
        Opening.soon(lambda: opening.made(fill()))

    @property
    def _columns_drawer(self) -> pmui.Drawer | None:
        return self._drawers.get("columns")

    @property
    def _filters_drawer(self) -> pmui.Drawer | None:
        return self._drawers.get("filters")

    def _open_columns(self) -> None:
        # one column in the drawer: as two of its children, the saved views were placed by
        # the columns' first height and sat on the Show select once the chips and the
        # wrapped "Daily usage" made them taller (1280x720)
        self._open_drawer("columns", lambda: pmui.Column(
            self.columns_panel, self._saved_views_box(), sizing_mode="stretch_width"))  # fmt: skip

    def _open_filters(self) -> None:
        self._open_drawer("filters", lambda: self.filters_panel)

    # --- layout ----------------------------------------------------------------------

    def __panel__(self):
        sizing = {"height": self.height, "sizing_mode": "stretch_width"} if self.height else {
            "sizing_mode": "stretch_both"}  # fmt: skip
        # the notices lie over the grid's foot, on the footer (NOTICES_CSS), so that they
        # come and go without moving the grid
        foot = pn.Column(self.notices, self.footer, margin=0, sizing_mode="stretch_width",
                         styles={"position": "relative"})  # fmt: skip
        return pn.Column(
            self.toolbar, self._body, foot, self._overlays, self.viewport,
            *self.grid.menus.parts, *CustomerCard.page_parts(),
            margin=0, **sizing,
        )  # fmt: skip

    def _on_width(self, event) -> None:
        self.grid.compact = 0 < event.new < PHONE_PX
        if pn.state.curdoc is None or pn.state.loaded:
            self._toolbar_width()
        else:
            # the width arrives while the page is first drawn, and Material UI's More menu,
            # given its phone items then, kept its first ones: they are given once it is drawn
            pn.state.onload(self._toolbar_width)

    def _toolbar_width(self) -> None:
        self.toolbar.compact = 0 < self.viewport.width < PHONE_PX
        # the chart too: a figure replaced while the page was first drawn never showed
        if self._aggregates is not None:
            self._aggregates.compact = self.toolbar.compact

    #: Notices about the selection that a new selection makes stale ("Tick the customers
    #: to delete first" beside "1 customer selected").
    _SELECTION_NOTICES = ("The filters changed, so the selection", "Tick the customers to ")

    def _on_selection_change(self, *_) -> None:
        if self.notices.message.startswith(self._SELECTION_NOTICES):
            self.notices.clear()

    # --- loading ---------------------------------------------------------------------

    def _on_header_menu(self, event) -> None:
        """A column header's menu: filter by the column (the Filters pop-out, on its field,
        with the conditions its type allows) or group by it."""
        if not event.new:
            return
        choice, name = event.new
        field = self.view.fields.get(name)
        if field is None:
            return
        if choice == "filter":
            self._open_filters()
            if name in self.filters_panel.param.field.objects:
                self.filters_panel.field = name
        elif choice == "group":
            if field.groupable:
                self.view.param.update(groups=[name], page=1)
            else:
                self.notices.say(f"Rows cannot be grouped by {field.label}.", "warning")

    def _on_tree_ticks(self, event) -> None:
        if self._ticking_tree:
            return  # the tree showing the selection, not a person ticking
        groups = [t for t in event.new if "path" in t]
        ids = [t["id"] for t in event.new if "id" in t]
        self.selection.param.update(groups=groups, ids=ids, all_matching=False)

    def _tree_from_selection(self, *_: Any) -> None:
        sel = self.selection
        # not heard back as ticks: "Select all N matching" (no ids) untied the tree's last
        # ticked id, and that came back as "nobody selected" (the click did nothing)
        self._ticking_tree = True
        try:
            self.aggregates.tree.set_ticked(
                [dict(g) for g in sel.groups] + [{"id": i} for i in sel.ids]
            )
        finally:
            self._ticking_tree = False

    def _on_view(self, *events) -> None:
        names = {e.name for e in events}
        if names <= {"expand", "widths", "pins"}:
            # the tree opened or closed a group itself (one query); a header was resized or
            # pinned (the grid froze it already). A group or pivot column hidden or shown
            # back loads: the engine leaves hidden columns out of the result (query.run)
            if "widths" in names and self.grid._display is not None:
                self.grid.table.widths = self.grid._widths(self.grid._display)
            self._to_url()
            return
        if (
            names & {"groups", "pivot", "source", "filters", "search", "status"}
            and self.view.expand
        ):
            # another tree: its open groups mean nothing there
            with param.parameterized.discard_events(self.view):
                self.view.expand = []
        if names & {"groups", "pivot", "source"} and self.selection.groups:
            self.selection.reset()
        if names & {"filters", "search", "status"}:
            if self.selection.reset():
                self.notices.say("The filters changed, so the selection was cleared.")
            if self.view.page != 1:
                self.view.page = 1  # triggers the load
                return
        if names & {"groups", "pivot", "filters", "search", "status", "source"}:
            if self._aggregates is not None:
                self._aggregates.close_group()
        self._load()

    def _load(self, *, quiet: bool = False, fresh: bool = False) -> None:
        """Run the view and show its page (only the rows on screen); `fresh` counts again
        even when nobody wrote (the Refresh button)."""
        shown = {"rows": self.grid.table, "groups": self.aggregates.tree.table}.get(
            self.view.mode, self.aggregates.table
        )
        shown.loading = not quiet
        # the token is read before the query, so a write that lands during it is seen later
        token = self.store.change_token()
        # nobody wrote since the last load: its search matches and counts may be reused
        earlier = self._result if self._token == token and not fresh else None
        try:
            # key: ticking rows and opening a customer's card need its id
            if self.view.mode == "groups":  # the group tree's top level
                result = tree.top(self.store, self.view, earlier=earlier)
            else:
                # with_unit: each amount of money is shown with its currency
                result = query.run(self.store, self.view, earlier=earlier, key=True,
                                   with_unit=True)  # fmt: skip
            pages = max(1, -(-result.total // self.view.page_size))
            if self.view.page > pages:
                # a link or a reload past the end (the data shrank): the last page instead
                self.view.param.update(page=pages)
                return
        except UserError as exc:
            self.notices.say(str(exc), "error")
            if self.view.mode != "rows":
                # said where the groups would be, under the view's headers: left to the
                # grid, the page showed the rows' "No customer matches" and no header
                self.aggregates.refuse(str(exc))
                self._show_aggregates()
            return
        finally:
            shown.loading = False
        # one message for the rows, the count and the pager: sent one by one, the browser
        # showed the new rows under the old count for a moment ("300 customers" over the
        # Inactive ones)
        with pn.io.hold():
            self._result = result
            customers = result.customers or 0
            # the body's content is replaced only when the mode changes: a new holder at each
            # load (after every write) took the grid down and drew it anew, and Tabulator,
            # still drawing the tree's rows in the old one, failed ("reading 'rowManager'")
            # with the grid blank for seconds
            if result.mode == "rows":
                self.grid.show(rows_display(result))
                if self._body.objects != [self.grid]:
                    self._body.objects = [self.grid]
            else:
                self.aggregates.show(result)
                self._show_aggregates()
            self.selection.param.update(matching=customers, rows=result.mode == "rows")
            self.footer.show(result, customers)
            self.toolbar.show_filters(active_filters(self.view))
        self._to_url()
        self._token = token

    def _show_aggregates(self) -> None:
        """Put the groups or pivot in the page's body (made once, then kept)."""
        if self._aggregates_box is None:
            self._aggregates_box = pn.Column(self.aggregates, scroll=True, margin=0,
                                             sizing_mode="stretch_both")  # fmt: skip
        if self._body.objects != [self._aggregates_box]:
            self._body.objects = [self._aggregates_box]

    def _on_select_all(self, event) -> None:
        if event.new and self._result is not None and self._result.mode != "rows":
            self.selection.all_matching = False  # groups have no customers to tick

    def _on_refresh(self) -> None:
        self._load(fresh=True)
        self.notices.say("Reloaded from the database.")

    # --- actions on the selection ----------------------------------------------------

    def _need_selection(self, what: str) -> bool:
        if self.selection.count:
            return True
        self.notices.say(f"Tick the customers to {what} first (or Select all matching).",
                         "warning")  # fmt: skip
        return False

    def _on_bulk_edit(self) -> None:
        if self._need_selection("change"):
            target, n = self.selection.target(), self.selection.count
            self._with("bulk", lambda dialog: dialog.open_for(target, n))

    def _on_send(self) -> None:
        if self._need_selection("write to"):
            target, n = self.selection.target(), self.selection.count
            self._with("send", lambda dialog: dialog.open_for(target, n))

    def _on_delete(self) -> None:
        if self._need_selection("delete"):
            target = self.selection.target()
            self._with("delete", lambda dialog: dialog.ask(target))

    def _on_done(self, dialog, batch_id: str) -> None:
        """A dialog wrote something: show it, and offer Undo for what can be undone."""
        if isinstance(dialog, DeleteDialog):
            self.selection.reset()
        if not isinstance(dialog, SendDialog):
            self._load()
            self._remember(batch_id)
        partial = dialog.message.startswith(("Not all sent", "Imported only"))
        self.notices.say(dialog.message, "warning" if partial else "success")

    def _on_undone(self, dialog, batch_id: str) -> None:
        """A batch was undone from a dialog (the Changes panel, the upload's Done step):
        reload, say what was undone, and drop the page's Undo if it was for that batch."""
        if batch_id and batch_id == self.last_batch:
            self.last_batch = ""
            self.notices.offer_undo(False)
        self._load()
        self.notices.say(dialog.message, "success")

    def _remember(self, batch_id: str) -> None:
        if batch_id:  # a save that changed nothing keeps the Undo of the change before it
            self.last_batch = batch_id
        from ..undo import headline_of

        show = bool(self.last_batch) and allowed(self.store.role, "undo")
        self.notices.offer_undo(show, headline_of(self.store, self.last_batch) if show else "")

    def _undo(self) -> None:
        if not self.last_batch:
            self.notices.say("Nothing to undo.", "info")
            return
        from ..undo import undo, undone_text

        try:
            batch = undo(self.store, self.last_batch, user=self.user)
        except UserError as exc:
            self.notices.say(str(exc), "error")
            return
        done = self.last_batch
        self.last_batch = ""
        self.notices.offer_undo(False)
        self._load()
        self.notices.say(undone_text(self.store, done, batch), "success")

    def _on_changes(self) -> None:
        self._with("changes", lambda panel: panel.open())

    # --- views, links, code ----------------------------------------------------------

    def link_query(self) -> str:
        """The query string of a link to what is on screen: the view, and the chart and open
        group beside it. The address bar and Code › Link both come from it."""
        state = self.view.to_dict()
        grouped = self.view.mode != "rows"
        agg = self.aggregates if grouped else None
        chart = (
            agg.chart_kind if grouped and agg.chart_kind != agg.param.chart_kind.default else None
        )
        opened = json.dumps(agg.opened, separators=(",", ":")) if grouped and agg.opened else None
        query = {
            "view": View(**state).to_json() if state else None,
            "chart": chart,
            "group": opened,
        }
        return urlencode({k: v for k, v in query.items() if v is not None})

    def _to_url(self) -> None:
        """Keep the address bar on the view (and the chart and open group beside it), so a
        reload or a copied link reopens what is on screen."""
        loc = pn.state.location
        if loc is None:
            return
        search = self.link_query()
        if loc.search.lstrip("?") != search:
            loc.search = f"?{search}" if search else ""

    def open_view(self, incoming: View) -> None:
        """Show `incoming` (a saved view, a link's view) in one load."""
        self.view.param.update(**{k: getattr(incoming, k) for k in View._STATE})

    @param.depends("save_view", watch=True)
    def _save_view(self) -> None:
        try:
            views.save_view(self.store, self.view_name, self.view, user=self.user)
        except UserError as exc:
            self.notices.say(str(exc), "error")
            return
        self._refresh_saved()
        self.notices.say(f"Saved the view {self.view_name.strip()!r}.", "success")

    @param.depends("saved", watch=True)
    def _open_saved(self) -> None:
        if not self.saved:
            return
        try:
            incoming = views.load_view(self.store, self.saved)
        except UserError as exc:
            self.notices.say(str(exc), "error")
            return
        self.open_view(incoming)

    def _refresh_saved(self) -> None:
        names = views.saved_views(self.store)
        self.param.saved.objects = ["", *names]
        self.param.saved.names = {"(choose a view)": "", **{n: n for n in names}}

    def _on_code(self) -> None:
        view = self.view.copy(page=1)
        search = self.link_query()  # the same link as the address bar's
        link = self.base_url() + (f"?{search}" if search else "")
        self._with("code", lambda dialog: dialog.show(code_for(view), view.to_json(), link,
                                                      command_for(view)))  # fmt: skip

    @staticmethod
    def base_url() -> str:
        """The served page's own address (for links), or the default one in a notebook."""
        loc = pn.state.location
        if loc is not None and loc.hostname:
            port = f":{loc.port}" if loc.port else ""
            return f"{loc.protocol or 'http:'}//{loc.hostname}{port}{loc.pathname or '/'}"
        return "http://localhost:5006/"

    def _export(self, fmt: str) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"customers.{fmt}"
            try:
                if self.view.mode == "rows":
                    export_view(self.store, self.view.copy(page=1), out)
                else:  # groups and pivots go out as a formatted report
                    pivot_report(self.store, self.view.copy(page=1), out)
            except UserError as exc:
                self.notices.say(str(exc), "error")
                return io.BytesIO(b"")
            return io.BytesIO(out.read_bytes())

    # --- live changes ----------------------------------------------------------------

    def poll(self) -> bool:
        """Reload when another session (or process) wrote; returns whether it reloaded.
        An open card's History and the Changes panel are read again too."""
        token = self.store.change_token()
        if token != self._token:
            self._load(quiet=True)
            self._reload_open_dialogs()
            return True
        return False

    def _reload_open_dialogs(self) -> None:
        """What open dialogs show of the data that changed: the card's History and
        Messages, the list of changes."""
        card = self._dialogs.get("card")
        if card is not None and card.is_open:
            card.show_history()
        changes = self._dialogs.get("changes")
        if changes is not None and changes.is_open:
            changes.load()

    def start_polling(self) -> None:
        """Reload as soon as a write in this process commits (dashboard.live: the API,
        the CLI through the server, other sessions), and look for other processes' writes
        every `poll_ms` milliseconds."""
        if self._callback is None and self.poll_ms > 0:
            self._callback = pn.state.add_periodic_callback(self.poll, period=self.poll_ms)
        doc = pn.state.curdoc
        if self._listening is None and doc is not None and doc.session_context is not None:
            self._session_doc = doc
            self._listening = live.listen(self.store, self._told)

    def stop_polling(self) -> None:
        """Stop looking for changes (the session ended)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self._listening is not None:
            self._listening.close()
            self._listening = None
        self._session_doc = None

    def _told(self) -> None:
        """A write committed (called on the writer's thread): schedule a catch-up on this
        session's document, at most one waiting at a time. Bokeh runs a next-tick
        callback on the event loop holding the document's lock; scheduling one is the one
        thing that is safe from another thread."""
        doc = self._session_doc
        if doc is None or self._told_waiting:
            return
        self._told_waiting = True
        try:
            doc.add_next_tick_callback(self._catch_up)
        except RuntimeError:  # the document was destroyed: the session is gone
            self._told_waiting = False
            if self._listening is not None:
                self._listening.close()

    def _catch_up(self) -> None:
        """On this session's event loop tick: reload if the data moved on. A burst of
        writes (a script PATCHing in a loop) reloads at most every CATCH_UP_GAP seconds."""
        doc = self._session_doc
        if doc is None:
            return
        wait = self._caught_up + CATCH_UP_GAP - time.monotonic()
        if wait > 0:
            doc.add_timeout_callback(self._catch_up_now, int(wait * 1000) + 1)
            return
        self._catch_up_now()

    def _catch_up_now(self) -> None:
        doc = self._session_doc
        self._told_waiting = False  # a write committed from here on schedules again
        self._caught_up = time.monotonic()
        if doc is None:
            return
        with set_curdoc(doc):  # so that the changes go out as this session's
            self.poll()

    # --- for tests and notebooks -----------------------------------------------------

    @property
    def message(self) -> str:
        """The last notice shown."""
        return self.notices.message

    def notify(self, text: str, severity: str = "info") -> None:
        """Show a readable message at the top of the page."""
        self.notices.say(text, severity)

    @property
    def total(self) -> int:
        """Customers (or groups) matching the view."""
        return self._result.total if self._result else 0

    @property
    def customers(self) -> int:
        """Customers matching the view's filters."""
        return (self._result.customers or 0) if self._result else 0
