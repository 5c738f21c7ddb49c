"""The customers grid: one page of rows, header sorting and the selection.

The grid holds only the rows on screen; sorting happens in the database (a header click
sets the view's sort, and the page is queried again). The selection is ids ticked by hand,
kept across pages, or "every customer matching the view".
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import panel as pn
import param
from panel.io.model import JSCode

from .. import customers as service
from .. import query, tree
from ..fields import COLUMNS, ID_FIELD, KEY_FIELD
from ..query import View
from ..words import plural
from .controls import Button
from .display import Display, sort_keys, sorters_for
from .menus import MENU_CSS, MENU_PX, PHONE_MAX_PX, ROWS_MENU, HeaderMenus
from .safe import Grid, Text

#: Tabulator's remote sort mode was made for data loaded by Ajax: a header click reloads the
#: table from the Ajax source, and with none (Panel sends rows over the websocket) it loaded
#: nothing: the grid emptied until the next click. And Panel rebuilds the columns at every
#: page (their widths follow the page), which left the sort on the columns it replaced:
#: every header read "not sorted", the next click on the sorted column chose the same
#: direction again (no new rows, so the grid stayed empty) and a shift-click dropped the
#: earlier keys. `headerSortElement` draws each header's sort mark, so it is where this is
#: mended, for every engine grid (page, groups, notebook): a sort change redraws the rows
#: held (reporting the keys, as before) instead of reloading; a column made anew takes over
#: the sort of the one it replaces; and with several keys each sorted header shows its rank.
ENGINE_SORT_MARK = """function(column, dir) {
  const table = this, sort = table.modules.sort;
  if (!sort.cdEngine) {
    sort.cdEngine = true;
    sort.refreshSort = function () { this.refreshData(true); };
    // a row's tick box is named for what it ticks (Tabulator names every one "Select Row"):
    // the row's NAME_FIELD, when the grid has one; Panel's own row formatter runs first
    const own = table.options.rowFormatter;
    table.options.rowFormatter = function (row) {
      if (own) { own(row); }
      const name = row.getData()["NAME_FIELD"];
      const box = name && row.getElement().querySelector('input[type="checkbox"]');
      if (box) { box.setAttribute("aria-label", name); }
      const all = table.element.querySelector('.tabulator-header input[type="checkbox"]');
      if (all && all.getAttribute("aria-label") === "Select Row") {
        all.setAttribute("aria-label", "Select all rows on this page");
      }
    };
  }
  const col = column._column;
  const keys = sort.sortList.filter((s) => s.column && s.column.getField() !== "_index");
  const mine = keys.find((s) => s.column.getField() === col.getField());
  if (mine && mine.column !== col) {
    mine.column = col;
    col.modules.sort.dir = mine.dir;
    dir = mine.dir;
    col.getElement().setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
  }
  const rank = mine && keys.length > 1 && dir !== "none"
    ? `<span class="cd-sort-rank" title="sort key ${keys.indexOf(mine) + 1} of ${keys.length}">${keys.indexOf(mine) + 1}</span>` : "";
  return `<div class="tabulator-arrow"></div>${rank}`;
}"""
#: A grid's hidden column naming each row's tick box for assistive technology ("Select group
#: Active › GB (12 customers)"); ENGINE_SORT_MARK puts it on the box.
NAME_FIELD = "cd_name"
ENGINE_SORT_MARK = ENGINE_SORT_MARK.replace("NAME_FIELD", NAME_FIELD)
#: Tabulator sorts the rows it holds whenever a header is clicked or data arrives. Rows come
#: sorted by the database (which sorts the whole result, not one page, by the same rules as
#: the CSV and the notebook, with the Total row last), so the grid sorts nothing itself: in
#: Tabulator's "remote" sort mode a header click only reports the new sort keys.
SORT_REMOTELY = {"sortMode": "remote", "headerSortElement": JSCode(ENGINE_SORT_MARK)}
#: Rows near the screen are drawn, the others when scrolled to. Tabulator's "basic" renderer
#: drew every row of a page, and its row-height pass lays the page out once per row: at 500
#: rows a page a redraw (a resize, a page) froze the browser for 30 s or more. Its virtual
#: renderer with no buffer redrew rows while the focus moved down the tick boxes, dropping
#: the focus to the page's body half-way. A buffer of ~60 rows beyond the screen keeps a
#: 50-row page wholly drawn (so the keyboard reaches the pager and Export) and a 500-row page
#: to what is near the screen.
ROWS_NEAR_SCREEN = {"renderVertical": "virtual", "renderVerticalBuffer": 2400}

#: The grid's look: denser rows than the Material theme's (more customers on a laptop's
#: screen), and no stray dot beside the tick boxes (the resize handle Tabulator puts in every row
#: beside a frozen column; headers keep theirs).
GRID_CSS = """
:host(.cd-refused) .tabulator-placeholder { display: none; }
.tabulator { font-size: 14px !important; }
.tabulator .tabulator-row .tabulator-cell { padding: 7px 12px !important; line-height: 20px; }
.tabulator .tabulator-header .tabulator-col .tabulator-col-content { padding: 9px 12px !important; }
.tabulator .tabulator-header .tabulator-col:focus-visible,
.tabulator .tabulator-row .tabulator-cell:focus-visible { outline: 2px solid #1976d2;
  outline-offset: -2px; }
.tabulator-row > .tabulator-col-resize-handle { display: none; }
.tabulator .tabulator-placeholder .tabulator-placeholder-contents { color: #555 !important; }
.tabulator .tabulator-col .tabulator-col-sorter .cd-sort-rank { font-size: 11px; font-weight: 700;
  color: #1976d2; margin-left: 3px; }
"""
GRID_CSS += MENU_CSS  # the header menus' look (menus.py)
#: Frozen columns must hide what scrolls under them. Panel ends every row with a 1 px spacer
#: column (its select editors' place), which the cell padding above made 24 px in the body
#: but not in the header: scrolled to the end, the rows ran 23 px past the header, a column
#: pinned right stood off the edge and its header off its cells. And the theme's colour of a
#: pointed row is see-through (the primary colour at 75 %), which frozen cells inherit: the
#: values under them showed through ("1,350.00 INR  INR2,784.98 INR"): it is mixed with the
#: background instead, opaque (below).
GRID_CSS += """
.tabulator .tabulator-row .tabulator-cell.empty { padding: 0 !important; }
"""
#: The rows end with room for Undo, which lies over the grid's foot while it is offered
#: (page.NOTICES_CSS): scrolled to the end, the last row comes out from under it.
GRID_CSS += """
.tabulator .tabulator-tableholder .tabulator-table { margin-bottom: 56px; }
"""
#: The row under the mouse is a light tint with dark text, the ticked rows solid blue with
#: white text: the theme gave a pointed row the ticked rows' blue (at 75 %), so with the
#: mouse over the grid a person could not tell which rows were ticked, and the row whose
#: name opened a card stayed blue once the card closed (the mouse still on it).
GRID_CSS += """
.tabulator .tabulator-tableholder .tabulator-table
  .tabulator-row.tabulator-selectable:not(.tabulator-selected):hover,
.tabulator .tabulator-tableholder .tabulator-table
  .tabulator-row.tabulator-selectable:not(.tabulator-selected):hover .tabulator-cell.tabulator-frozen {
  background-color: color-mix(in srgb, var(--mdc-theme-primary, #1976d2) 16%,
                              var(--mdc-theme-background, #fff));
  color: rgba(0, 0, 0, 0.87); }
"""
#: A value too long for its column ends with "…" (its whole text shows when pointed at, as
#: the cell's tooltip, and stays in the page for screen readers). Tabulator's cells carry the
#: ellipsis, but Panel puts each value in a box of its own inside the cell, where it did not
#: apply: a 120-character name was cut mid-letter with nothing to say there was more.
GRID_CSS += """
.tabulator .tabulator-row .tabulator-cell[tabulator-field] > div {
  overflow: hidden; text-overflow: ellipsis; }
"""
#: On a phone the name column is narrow: names wrap onto a second line instead of being cut
#: ("Unity Wave Telecor"); rows grow to fit (each drawn row is measured) ...
GRID_CSS += f"""
@media (max-width: {PHONE_MAX_PX}px) {{
  .tabulator .tabulator-header-popup-button {{ display: none; }}
  .tabulator .tabulator-row .tabulator-cell[tabulator-field="{KEY_FIELD}"] {{
    white-space: normal; overflow-wrap: break-word; text-overflow: clip; }}
  /* ... up to three lines, the rest "…": a 120-character name took seven lines */
  .tabulator .tabulator-row .tabulator-cell[tabulator-field="{KEY_FIELD}"] > div {{
    display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3; }}
}}
"""


def grid_options(empty: str = "Nothing to show.", **extra: Any) -> dict[str, Any]:
    """The Tabulator settings every grid of the page shares; `empty` is what an empty grid
    says instead of being blank."""
    options = dict(
        show_index=False, disabled=True, pagination=None, layout="fit_data_table",
        sizing_mode="stretch_width", theme="materialize", header_align="left",
        stylesheets=[GRID_CSS],
        configuration={**SORT_REMOTELY, **ROWS_NEAR_SCREEN, "placeholder": empty,
                       "columnDefaults": {"tooltip": True, "headerSortTristate": True}},
    )  # fmt: skip
    options.update(extra)
    return options


#: Column widths on a phone: the name, and each of the other few columns (narrow enough
#: that the tick box, name, status and a balance with its currency, "16,943.75 EUR", fit
#: 390 px without scrolling sideways).
PHONE_NAME_PX, PHONE_COLUMN_PX = 108, 84


class EngineGrid(Grid):
    """A grid over a page the engine sorted: neither the browser nor Panel sorts its rows
    (Panel would sort the frame in pandas for `current_view` and selections)."""

    def _sort_df(self, df):
        return df


def show_sorters(table: Grid, sorters: list[dict[str, str]]) -> None:
    """Put the sort arrows in the headers. Before the rows: in remote sort mode a change of
    sorters empties the table until rows arrive, so the rows must come after it."""
    if sorters != table.sorters:
        table.sorters = sorters


#: A row that wraps where its line is too narrow (and never grows past its parent).
WRAP_CSS = ":host { flex-wrap: wrap; max-width: 100%; align-items: center; }"


class Selection(pn.viewable.Viewer):
    """Which customers Bulk Edit, Send and Delete act on: ids ticked by hand (kept across
    pages), or every customer matching the view."""

    view = param.ClassSelector(class_=View, doc="The view whose customers can be selected.")
    ids = param.List(default=[], doc="Ids ticked by hand, kept across pages.")
    groups = param.List(default=[], doc="Ticked groups of the group tree, each {'path': "
                        "[group values as text], 'count': its customers}.")  # fmt: skip
    store = param.Parameter(default=None, doc="The store, to gather several groups' customers.")
    all_matching = param.Boolean(default=False, doc="Whether every matching customer is selected.")
    matching = param.Integer(default=0, doc="How many customers match the view.")
    rows = param.Boolean(default=True, doc="Whether customers are shown (not groups).")
    select_all = param.Event(label="Select all matching", doc="Select every matching customer.")
    clear = param.Event(label="Clear selection", doc="Select nobody.")

    def __init__(self, **params):
        super().__init__(**params)
        self._text = Text("", variant="body2", margin=(0, 8), align="center")
        self._all = Button.from_param(self.param.select_all, size="small", variant="text",
                                           description="Select all matching customers")  # fmt: skip
        self._clear = Button.from_param(self.param.clear, label="Clear selection",
                                             size="small", variant="text",
                                             description="Clear selection")  # fmt: skip
        self._show()

    @property
    def count(self) -> int:
        """How many customers are selected."""
        if self.all_matching:
            return self.matching
        return len(self.ids) + sum(int(g["count"]) for g in self.groups)

    def target(self) -> service.Target:
        """What the actions act on: the ticked ids, the view (every match), or one ticked
        group (its customers, by the group's filters). Several groups, or groups and ids,
        are gathered into ids on the server."""
        if self.all_matching:
            return self.view.copy()
        if not self.groups:
            return list(self.ids)
        views = [tree.group_view(self.view, g["path"]) for g in self.groups]
        if len(views) == 1 and not self.ids:
            return views[0]
        found = set(self.ids)
        for v in views:
            found.update(query.matching_ids(self.store, v))
        return sorted(found)

    @param.depends("select_all", watch=True)
    def _on_select_all(self) -> None:
        self.param.update(all_matching=True, ids=[])

    @param.depends("clear", watch=True)
    def _on_clear(self) -> None:
        self.param.update(all_matching=False, ids=[], groups=[])

    def reset(self) -> bool:
        """Select nobody; whether anybody was selected."""
        had = bool(self.ids or self.all_matching or self.groups)
        if had:
            self.param.update(all_matching=False, ids=[], groups=[])
        return had

    @param.depends("ids", "all_matching", "matching", "rows", "groups", watch=True)
    def _show(self) -> None:
        n = self.count
        self._text.object = f"{plural(n, 'customer')} selected" if n else ""
        if n and self.groups:
            self._text.object = f"{n:,} selected ({plural(len(self.groups), 'group')})"
        self._text.visible = bool(n)
        self._all.param.update(
            label=f"Select all {self.matching:,} matching",
            description=f"Select all {self.matching:,} matching customers",
            visible=self.rows and not self.all_matching and self.matching > 0,
        )
        self._clear.visible = n > 0

    def __panel__(self):
        # wraps: on a phone "Select all 1,000 matching" went past the screen's right edge,
        # beside the count and "1 customer selected" on one line
        return pn.Row(self._text, self._all, self._clear, margin=0, stylesheets=[WRAP_CSS])


class CustomerGrid(pn.viewable.Viewer):
    """One page of customers with tick boxes; a click on a name opens the customer."""

    view = param.ClassSelector(class_=View, doc="The view the grid shows; header clicks sort it.")
    selection = param.ClassSelector(class_=Selection, doc="The selection the tick boxes edit.")
    opened = param.Integer(default=None, allow_None=True,
                           doc="The id of the customer whose name was clicked.")  # fmt: skip
    compact = param.Boolean(default=False,
                            doc="A phone-sized screen: only the fields marked on_phone show.")  # fmt: skip
    menu = param.Tuple(default=None, allow_None=True, length=2,
                       doc="The last header-menu choice the page acts on: (choice, field).")  # fmt: skip

    def __init__(self, **params):
        super().__init__(**params)
        self._display: Display | None = None
        self._syncing = False
        options = grid_options("No customer matches: change the filters or the search.",
                               sizing_mode="stretch_both", min_height=200)  # fmt: skip
        # headers drag to reorder (frozen ones excepted) and resize; both kept in the view,
        # as what each header's menu chooses is acted on (menus.py)
        self.menus = HeaderMenus(self)
        self.menus.offer({"*": ROWS_MENU})
        # autoResize off: Tabulator's own resize observer redrew every row at each change of
        # the grid's box, and the box changes with every part of the page drawn around it
        # (4-7 full redraws, 0.2-0.5 s each, before the page was usable at 50 rows); Panel
        # redraws it itself once a resize has settled. Only this grid: one in a dialog is
        # drawn while the dialog opens and needs Tabulator's observer to fill its rows.
        config = options["configuration"]
        options["configuration"] = {**self.menus.configure(config), "autoResize": False}
        self.table = EngineGrid(pd.DataFrame(), selectable="checkbox", movable_columns=True,
                                **options)  # fmt: skip
        #: where the browser reports dragged and resized headers (hidden; on the page)
        self.column_state = self.menus.state
        self.column_state.param.watch(self._on_column_state, "value")
        self.table.param.watch(self._on_sorters, "sorters")
        self.table.param.watch(self._on_ticks, "selection")
        self.table.on_click(self._on_click)
        self.selection.param.watch(self._on_selection, ["ids", "all_matching"])

    @property
    def pins(self) -> dict[str, str]:
        """Columns pinned from their header menu (field -> left|right): the view's, so a
        link and a reload keep them."""
        return {k: v for k, v in self.view.pins.items()
                if self._display is None or k in self._display.frame.columns}  # fmt: skip

    @property
    def ids(self) -> list[int]:
        """The ids of the customers on screen, in order."""
        if self._display is None or ID_FIELD not in self._display.frame:
            return []
        return self._display.frame[ID_FIELD].tolist()

    def show(self, display: Display) -> None:
        """Show a page of rows (and keep its ticks and sort arrows)."""
        self._display = display
        self._syncing = True
        try:
            show_sorters(self.table, sorters_for(display, self.view))
            self.table.param.update(
                value=display.frame, titles=display.titles, formatters=display.formatters,
                text_align=display.align, widths=self._widths(display), selection=self._ticked(),
                frozen_columns={} if self.compact else {**display.frozen, **self.pins},
                hidden_columns=self._hidden(display),
            )  # fmt: skip
        finally:
            self._syncing = False

    def _on_column_state(self, event) -> None:
        """Headers dragged or resized in the browser: the view keeps their order and widths."""
        try:
            state = json.loads(event.new or "{}")
        except ValueError:
            return
        view = self.view
        choice, name = state.get("menu"), state.get("field")
        if choice and name in view.fields:
            self._on_menu(choice, name)
            return
        order = [f for f in state.get("order") or [] if f in view.columns]
        columns = order + [c for c in view.columns if c not in order]
        widths = dict(view.widths)
        for name, px in (state.get("widths") or {}).items():
            if name in view.fields and isinstance(px, int | float):
                widths[name] = int(min(2000, max(20, px)))
        changes = {}
        if columns != view.columns:
            changes["columns"] = columns
        if widths != view.widths:
            changes["widths"] = widths
        if changes:
            view.param.update(**changes)

    def _on_menu(self, choice: str, name: str) -> None:
        """A header menu's choice: sort, hide and pin here; filter and group by the page."""
        view = self.view
        if choice in ("asc", "desc"):
            view.param.update(sort=[[name, choice]], page=1)
        elif choice == "hide" and name in view.columns and len(view.columns) > 1:
            view.columns = [c for c in view.columns if c != name]
        elif choice in ("left", "right", "unpin"):
            pins = {k: v for k, v in view.pins.items() if k != name}
            if choice != "unpin":
                pins[name] = choice
            view.pins = pins  # the page keeps it in the link; no reload
            if self._display is not None and not self.compact:
                self.table.frozen_columns = {**self._display.frozen, **self.pins}
        else:
            self.menu = (choice, name)
            self.param.trigger("menu")

    def _hidden(self, display: Display) -> list[str]:
        if not self.compact:
            return []
        return [c for c in display.frame.columns if not (c in COLUMNS and COLUMNS[c].on_phone)]

    def _widths(self, display: Display) -> dict[str, int]:
        if not self.compact:
            # room for each header's menu button beside its title
            computed = {k: w + MENU_PX for k, w in display.widths.items()}
            return {**computed, **{k: w for k, w in self.view.widths.items()
                                   if k in display.widths}}  # fmt: skip
        # a phone: text is cut to leave room (its whole value shows on a tap); numbers never
        numbers = set(display.align)
        return {c: w if c in numbers else min(w, PHONE_NAME_PX if c == KEY_FIELD else PHONE_COLUMN_PX)
                for c, w in display.widths.items()}  # fmt: skip

    @param.depends("compact", watch=True)
    def _on_compact(self) -> None:
        if self._display is not None:
            self.table.param.update(hidden_columns=self._hidden(self._display),
                                    widths=self._widths(self._display))  # fmt: skip
            # a phone's grid has no room for frozen columns
            self.table.frozen_columns = (
                {} if self.compact else {**self._display.frozen, **self.pins}
            )

    def _ticked(self) -> list[int]:
        ids = self.ids
        if self.selection.all_matching:
            return list(range(len(ids)))
        chosen = set(self.selection.ids)
        return [i for i, cid in enumerate(ids) if cid in chosen]

    def _on_selection(self, *_: Any) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.table.selection = self._ticked()
        finally:
            self._syncing = False

    def _on_sorters(self, event) -> None:
        if self._syncing or self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new)
        if sort != self.view.sort:
            self.view.param.update(sort=sort, page=1)

    def _on_ticks(self, event) -> None:
        if self._syncing:
            return
        ids = self.ids
        on_page = set(ids)
        ticked = {ids[i] for i in event.new if i < len(ids)}
        sel = self.selection
        self._syncing = True  # the selection's own change need not tick the boxes again
        try:
            if sel.all_matching and len(ticked) < len(on_page):
                # unticking a row of "all matching" turns it into this page's ticked ids
                sel.param.update(all_matching=False, ids=sorted(ticked))
            else:
                sel.ids = [i for i in sel.ids if i not in on_page] + sorted(ticked)
        finally:
            self._syncing = False

    def _on_click(self, event) -> None:
        if event.column != KEY_FIELD or self._display is None:
            return
        ids = self.ids
        if 0 <= event.row < len(ids):
            self.opened = int(ids[event.row])
            self.param.trigger("opened")

    def __panel__(self):
        return self.table
