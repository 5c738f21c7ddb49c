"""Groups and pivots: the table of groups (with its Total row), its chart, and an opened
group's customers."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import query, tree
from ..charts import KIND_HELP, KINDS, chart, kind_problem
from ..errors import UserError
from ..fields import COLUMNS, CURRENCY_FIELD, ID_FIELD, KEY_FIELD
from ..query import Result, View
from ..store import Store
from ..types import Money
from ..words import plural
from .controls import Button
from .display import (
    MONEY_TEXT,
    Display,
    _formatter,
    _value_formatter,
    aggregate_display,
    column_name,
    rows_display,
    sort_keys,
    sorters_for,
    widths,
)
from .grid import GRID_CSS, NAME_FIELD, EngineGrid, grid_options, show_sorters
from .menus import MENU_PX, HeaderMenus, item
from .safe import Notice, Text

#: Height of one grid row and of the header, in pixels (GRID_CSS's padding, 14 px text):
#: a table of a few groups is as tall as its rows, never a tall empty box.
ROW_PX, HEADER_PX = 37, 44
#: The group tree scrolls inside this height (its Total row pinned above the rows).
TREE_MAX_PX = 560
#: Indent of one tree level, and the marks of an open and a closed group (plain text: the
#: em space is not collapsed by HTML, so levels stay indented in a text cell).
INDENT, OPEN, CLOSED = "\u2003\u2003", "\u25be ", "\u25b8 "

TREE_CSS = """
.tabulator .tabulator-row .tabulator-cell[tabulator-field="c0"] { cursor: pointer; }
.tabulator .tabulator-header .tabulator-frozen-rows-holder { display: block !important; }
.tabulator .tabulator-header .tabulator-frozen-rows-holder:empty { display: none !important; }
.tabulator .tabulator-frozen-rows-holder .tabulator-row { font-weight: 700;
  background: #f3f6fa; }
.tabulator .tabulator-frozen-rows-holder .tabulator-row input[type="checkbox"] { visibility: hidden; }
.tabulator .tabulator-row:has(.tabulator-cell[tabulator-field="c0"][style*="italic"])
  input[type="checkbox"] { display: none; }
@media (max-width: 699px) {
  .tabulator .tabulator-col[tabulator-field="c0"],
  .tabulator .tabulator-row .tabulator-cell[tabulator-field="c0"] { width: 150px !important;
    min-width: 150px !important; max-width: 150px !important; }
  .tabulator .tabulator-row .tabulator-cell[tabulator-field="c0"] { white-space: normal;
    overflow-wrap: anywhere; text-overflow: clip; }
}
"""


def menu_items(
    display: Display, view: View, groups: dict[str, list[str]], hideable: set[str]
) -> dict[str, list]:
    """What each header's menu of a group tree or pivot offers: sorting by the column (as a
    click on its header does), hiding it (`hideable`: value and pivot columns), removing
    a grouping (`groups`: the group fields a column shows) and showing hidden columns back.
    Only what applies: a column the view cannot sort by offers no sorting."""
    out: dict[str, list] = {}
    for key in display.keys:
        choices: list = []
        if sort_keys(display, view, [{"field": key, "dir": "asc"}]):
            choices += ["asc", "desc"]
        if key in hideable:
            choices.append("hide")
        fields = groups.get(key) or []
        # a pivot needs a row group (its rows); a tree without groups is the customers grid
        if view.mode != "pivot" or len(view.groups) > 1:
            for name in fields:
                label = ("Remove grouping" if len(view.groups) == 1
                         else f"Remove grouping by {COLUMNS[name].label}")  # fmt: skip
                choices.append(item(f"ungroup:{name}", label))
        if view.hidden:
            choices += ["-", "show"] if choices else ["show"]
        out[key] = choices
    return out


def act_on_menu(display: Display, view: View, choice: str, key: str) -> None:
    """A group tree's or pivot's header menu choice, on the view: a sort by the column (by
    the same keys a header click gives), a hidden column, a grouping removed."""
    if key not in display.keys:
        return
    what, _, arg = choice.partition(":")
    if what in ("asc", "desc"):
        sort = sort_keys(display, view, [{"field": key, "dir": what}])
        if sort and sort != view.sort:
            view.param.update(sort=sort, page=1)
    elif what == "hide":
        name = column_name(display, view, key)
        if name and name not in view.hidden:
            view.hidden = [*view.hidden, name]  # the page keeps it in the link; no reload
    elif what == "show" and view.hidden:
        view.hidden = []
    elif what == "ungroup" and arg in view.groups:
        # a sort by the field's column means nothing once it is no group
        view.param.update(groups=[g for g in view.groups if g != arg], page=1,
                          sort=[s for s in view.sort if s[0] != arg])  # fmt: skip


class MenuGrid(pn.viewable.Viewer):
    """What the group tree and the pivot table share: header menus whose choices act on
    the view (`act_on_menu`). A hidden column needs nothing more here: the page runs the
    view again, and the engine leaves the column out of the result (`query.run`)."""

    view = param.ClassSelector(class_=View, doc="The view the menus' choices change.")

    #: The view's mode this grid shows ("groups": the tree; "pivot": the pivot table).
    mode = "groups"

    def _with_menus(self, options: dict[str, Any]) -> dict[str, Any]:
        """The grid's options with a menu on each header: sort, hide a value or pivot
        column, remove a grouping (menus.py); on a phone a tap on a header opens it."""
        self._display: Display | None = None
        self.menus = HeaderMenus(self, tap=True)
        options["configuration"] = self.menus.configure(options["configuration"])
        self.menus.state.param.watch(self._on_menu, "value")
        return options

    def _on_menu(self, event) -> None:
        got = HeaderMenus.choice(event.new)
        if got is not None and self._display is not None and self.view.mode == self.mode:
            act_on_menu(self._display, self.view, *got)


class OpenedGroup(pn.viewable.Viewer):
    """The customers of one group row, paged, below the groups."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    view = param.ClassSelector(class_=View, default=None, allow_None=True,
                               doc="The customers of the opened group.")  # fmt: skip
    title = param.String(default="", doc="Which group is open, in words.")
    close = param.Event(doc="Close the opened group.")

    def __init__(self, **params):
        super().__init__(**params)
        self._title = Text("", variant="subtitle1")
        self._table = EngineGrid(pd.DataFrame(), **grid_options(height=300))
        self._table.param.watch(self._on_sorters, "sorters")
        self._display: Display | None = None
        self._pager = pmui.Pagination(count=1, value=0, size="small")
        self._pager.param.watch(self._on_page, "value")
        self._close = Button.from_param(self.param.close, label="Close", size="small",
                                             variant="text", description="Close the group")  # fmt: skip
        self._box = pmui.Paper(
            pmui.Row(self._title, self._close), self._table, self._pager,
            visible=False, sizing_mode="stretch_width", margin=(10, 0),
        )  # fmt: skip

    def open(self, view: View, title: str) -> None:
        """Show the customers `view` selects, under `title`."""
        self.param.update(view=view, title=title)
        self._pager.value = 0
        self._box.visible = True
        self.load()

    def load(self) -> None:
        """Query the opened group's current page."""
        if self.view is None:
            return
        self.view.page = (self._pager.value or 0) + 1
        result = query.run(self.store, self.view, key=True, with_unit=True)
        display = rows_display(result)
        self._display = display
        show_sorters(self._table, sorters_for(display, self.view))
        self._table.param.update(value=display.frame, titles=display.titles,
                                 formatters=display.formatters, text_align=display.align,
                                 widths=display.widths)  # fmt: skip
        self._pager.count = max(1, math.ceil(result.total / self.view.page_size))
        self._title.object = f"{self.title} ({plural(result.total, 'customer')})"

    def _on_page(self, event) -> None:
        if self.view is not None and event.new is not None:
            self.load()

    def _on_sorters(self, event) -> None:
        if self.view is None or self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new)
        if sort != self.view.sort:
            self.view.sort = sort
            self._pager.value = 0
            self.load()

    @param.depends("close", watch=True)
    def shut(self) -> None:
        """Close the opened group."""
        self.view = None
        self._box.visible = False

    def __panel__(self):
        return self._box


class GroupTree(MenuGrid):
    """A group view as a tree in one grid: the page's top-level groups with their
    aggregates, each opening in place (a click on its name) to its sub-groups and, at the
    last level, to its customers, a page at a time. Each opening is one query; the grid
    holds only the rows on screen. The Total row stays pinned above the rows.

    Ticking a group selects all its customers (by its filters: the selection never fetches
    their ids to the browser); ticking a customer selects that customer."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    view = param.ClassSelector(class_=View, doc="The group view; `expand` holds the open groups.")
    customer = param.Integer(default=None, allow_None=True,
                             doc="The id of the customer whose name was clicked.")  # fmt: skip
    ticked = param.List(default=[], doc="Ticked rows: {'path': [...], 'count': n} for a group, "
                        "{'id': n} for a customer.")  # fmt: skip
    expand_all = param.Event(label="Expand all", doc="Open every group level on this page.")
    collapse_all = param.Event(label="Collapse all", doc="Close every open group.")
    compact = param.Boolean(default=False,
                            doc="A phone-sized screen: no menu button beside a header (a tap "
                            "on the header opens its menu).")  # fmt: skip

    def __init__(self, **params):
        super().__init__(**params)
        self._top: Result | None = None
        self._kids: dict[tuple, dict[str, Any]] = {}
        self._nodes: list[dict[str, Any]] = []
        self._syncing = False
        options = self._with_menus(grid_options(
            "No group: change the filters or the search.", height=200,
            # cd-tree: the page's script keeps this grid still when rows are ticked (keys.py)
            stylesheets=[GRID_CSS, TREE_CSS], css_classes=["cd-tree"]))  # fmt: skip
        self.table = EngineGrid(pd.DataFrame(), selectable="checkbox", **options)
        self.table.selectable_rows = self._selectable
        # a "Show N more" row is in italics, and TREE_CSS hides the tick box of a row so
        # marked: Tabulator decides a row's tick box when the row is drawn, and Panel
        # sends the tickable rows only after the rows, so every row drew one
        self.table.style.apply(self._more_styles, axis=None)
        self.table.param.watch(self._on_sorters, "sorters")
        self.table.param.watch(self._on_ticks, "selection")
        self.table.on_click(self._on_click)
        self._buttons = pmui.Row(
            Button.from_param(self.param.expand_all, size="small", variant="text",
                              icon="unfold_more", description="Open every group on this page"),
            Button.from_param(self.param.collapse_all, size="small", variant="text",
                              icon="unfold_less", description="Close every open group"),
            margin=0,
        )  # fmt: skip

    # --- loading -------------------------------------------------------------------

    def show(self, result: Result) -> None:
        """Show the top level (`tree.top`'s result) with the view's open groups."""
        self._top = result
        self._kids = {}
        for path in sorted(self.view.expand, key=len):
            if self._visible(path):
                self._load(path)
        self._render()

    def _visible(self, path: list) -> bool:
        """Whether the group at `path` is on screen (its parents open, its top on the page)."""
        for depth in range(1, len(path)):
            if tuple(path[:depth]) not in self._kids:
                return False
        if self._top is None:
            return False
        tops = {tuple(tree.path_of(self.view, [], r)) for r in self._rows(self._top.data)}
        return tuple(path[:1]) in tops

    def _load(self, path: list, page: int = 1, count: int | None = None) -> None:
        totals = self._top.totals if self._top is not None else None
        if count is None:
            count = self._count_of(list(path))
        result = tree.children(self.store, self.view, path, page, totals=totals, count=count,
                               with_unit=True)  # fmt: skip
        key = tuple(path)
        if page > 1 and key in self._kids:
            kid = self._kids[key]
            kid["data"] = pd.concat([kid["data"], result.data], ignore_index=True)
            kid["page"] = page
        else:
            self._kids[key] = {"data": result.data, "total": result.total, "page": page,
                               "units": result.units}  # fmt: skip

    def _count_of(self, path: list) -> int | None:
        """The customers of the group at `path` as its row (loaded just now) counts them."""
        parent = path[:-1]
        frame = self._top.data if not parent else self._kids.get(tuple(parent), {}).get("data")
        if frame is None or self.view.percent:
            return None  # a share is no count
        for row in self._rows(frame):
            if tree.path_of(self.view, parent, row) == path and row.get("count") is not None:
                return int(row["count"])  # (not when the count column is hidden)
        return None

    @staticmethod
    def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return frame.to_dict("records")

    def toggle(self, path: list) -> None:
        """Open the group at `path` (one query), or close it (and the groups under it)."""
        key = tuple(path)
        expand = [list(p) for p in self.view.expand]
        if key in self._kids:
            del self._kids[key]
            expand = [p for p in expand if tuple(p[: len(key)]) != key]
        else:
            self._load(list(path))
            expand.append(list(path))
        self._render()
        self.view.expand = expand  # the page keeps it in the link; no reload

    def _on_expand_all(self) -> None:
        expand = [list(p) for p in self.view.expand]
        for depth in range(len(self.view.groups) - 1):
            for node in [n for n in self._nodes if n["kind"] == "group"]:
                path = node["path"]
                if len(path) == depth + 1 and tuple(path) not in self._kids:
                    if len(expand) >= query.MAX_EXPANDED:
                        break
                    self._load(path)
                    expand.append(path)
            self._render()
        self.view.expand = expand

    def _on_collapse_all(self) -> None:
        self._kids = {}
        self._render()
        self.view.expand = []

    @param.depends("expand_all", watch=True)
    def _expand_all_event(self) -> None:
        self._on_expand_all()

    @param.depends("collapse_all", watch=True)
    def _collapse_all_event(self) -> None:
        self._on_collapse_all()

    # --- the grid's rows -------------------------------------------------------------

    def _columns(self) -> tuple[list[str], list[str]]:
        """The value columns (count, then the view's values) and the customer columns
        shown after them on customers' rows."""
        values = ["count", *(query.value_column(f, a) for f, a in self.view.values)]
        if self._top is not None:  # a hidden one is not in the result (query.run)
            values = [v for v in values if v in self._top.data.columns]
        own = {f for f, _ in self.view.values}
        leaf = tree.group_view(self.view, [None] * len(self.view.groups))
        customers = [c for c in leaf.columns
                     if c not in (KEY_FIELD, ID_FIELD) and c not in own
                     and c not in self.view.groups]  # fmt: skip
        return values, customers

    def _render(self) -> None:
        top = self._top
        if top is None:
            return
        view = self.view
        values, customers = self._columns()
        indent = INDENT
        keys = {"c0": view.groups[0]}
        for i, name in enumerate([*values, *customers], start=1):
            keys[f"c{i}"] = name
        back = {name: key for key, name in keys.items()}
        rows: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        # amounts say their currency in each cell when the rows' currencies differ: groups
        # by Currency keep their own (the levels above them are converted), and a
        # customer's own amount is in the customer's currency
        cash = {query.value_column(f, a) for f, a in query.money_values(list(view.values))}
        leaves = any(tree.is_leaf(view, list(k)) for k in self._kids)
        per_cell = bool(cash) and not view.percent and (query.native_split(view) or leaves)
        at = view.groups.index(CURRENCY_FIELD) if CURRENCY_FIELD in view.groups else None

        def amount(name: str, v: Any, unit: Any) -> Any:
            if v is None or pd.isna(v):
                return None
            if not per_cell or name not in cash:
                return v
            return Money.amount_text(v, unit if unit != query.PER_CURRENCY else None)

        def add_groups(frame: pd.DataFrame, parent: list, depth: int, units: dict) -> None:
            field = view.groups[depth]
            for row in self._rows(frame):
                path = tree.path_of(view, parent, row)
                key = tuple(path)
                opened = key in self._kids
                label = COLUMNS[field].type.group_label(row.get(field))
                cells = {"c0": indent * depth + (OPEN if opened else CLOSED) + label}
                own = path[at] if at is not None and len(path) > at else None
                for name in values:
                    cells[back[name]] = amount(name, row.get(name), own or units.get(name))
                count = row.get("count")
                # no count: a share, or the count column hidden (the database counts)
                n = None if count is None or pd.isna(count) or view.percent else int(count)
                nodes.append({"kind": "group", "path": path, "count": n})
                # what a screen reader says of its tick box (a share is no count)
                named = " › ".join(query.BLANK if p is None else p for p in path)
                customers_of = "" if n is None else f" ({plural(n, 'customer')})"
                cells[NAME_FIELD] = f"Select group {named}{customers_of}"
                rows.append(cells)
                if opened:
                    kid = self._kids[key]
                    if tree.is_leaf(view, path):
                        add_customers(kid, path, depth + 1)
                    else:
                        add_groups(kid["data"], path, depth + 1, kid.get("units") or {})
                        add_more(kid, path, depth + 1, "group")

        def add_customers(kid: dict[str, Any], path: list, depth: int) -> None:
            frame = kid["data"]
            shown = rows_display(Result(frame, len(frame), "rows")).frame if len(frame) else frame
            for raw, row in zip(self._rows(frame), self._rows(shown), strict=True):
                cells = {
                    "c0": indent * depth + "\u2022 " + str(row.get(KEY_FIELD) or ""),
                    NAME_FIELD: f"Select customer {row.get(KEY_FIELD) or ''}",
                }
                for name in values:
                    cells[back[name]] = None
                for fname, agg in view.values:  # the customer's own value
                    col = query.value_column(fname, agg)
                    if fname in raw and agg != "count_distinct" and col in back:
                        cells[back[col]] = amount(col, raw[fname], raw.get(query.UNIT_COLUMN))
                for name in customers:
                    v = row.get(name)
                    cells[back[name]] = (
                        None if v is None or (isinstance(v, float) and pd.isna(v)) else v
                    )
                rows.append(cells)
                nodes.append({"kind": "customer", "id": int(raw[ID_FIELD]), "path": path})
            add_more(kid, path, depth, "customer")

        def add_more(kid: dict[str, Any], path: list, depth: int, what: str) -> None:
            shown, total = len(kid["data"]), kid["total"]
            if shown < total:
                n = min(view.page_size, total - shown)
                rows.append({"c0": indent * depth + f"Show {n:,} more ({shown:,} of "
                             f"{plural(total, what)})"})  # fmt: skip
                nodes.append({"kind": "more", "path": path})

        # the Total row first, always row 0: Tabulator pins (freezes) it above the rows, and
        # a frozen index that moved as groups opened froze a customer's row instead
        total = {"c0": top.total_label}
        if top.totals is not None and len(top.totals):
            for name in values:
                v = top.totals[name].iloc[0] if name in top.totals else None
                unit = top.total_units.get(name) or top.units.get(name)
                total[back[name]] = amount(name, v, unit)
        rows.append(total)
        nodes.append({"kind": "total"})
        add_groups(top.data, [], 0, top.units)
        frame = pd.DataFrame(rows, columns=[*keys, NAME_FIELD]).astype(object)
        frame = frame.where(frame.notna(), None)
        titles = {"c0": " › ".join(COLUMNS[g].label for g in view.groups)}
        formatters: dict[str, Any] = {}
        for name in values:
            titles[back[name]] = top.labels.get(name, query.value_label("*", "count"))
            formatters[back[name]] = _value_formatter(name, view)
            if per_cell and name in cash:
                formatters[back[name]] = MONEY_TEXT
                if query.native_split(view):  # each cell says its own currency
                    f, a = next((f, a) for f, a in view.values if query.value_column(f, a) == name)
                    titles[back[name]] = query.value_label(f, a)
        for name in customers:
            titles[back[name]] = COLUMNS[name].label
            if COLUMNS[name].type.in_currency:  # a customer's amount, with its currency
                formatters[back[name]] = MONEY_TEXT
            elif fm := _formatter(name):
                formatters[back[name]] = fm
        sized = widths(frame, titles, formatters)
        if self._display is not None and self._display.titles == titles:
            # the same columns: each keeps its width unless its values grew wider. A new
            # width is a new Tabulator configuration, which Panel draws as a new table; a
            # write changed the values, and the table was rebuilt while it drew the
            # ticked rows ("reading 'rowManager'", the grid blank for seconds)
            sized = {k: max(w, self._display.widths.get(k, 0)) for k, w in sized.items()}
        display = Display(frame, titles, formatters, keys, {"c0": "left"}, sized)
        self._display, self._nodes = display, nodes
        self._offer()
        self._syncing = True
        try:
            show_sorters(self.table, sorters_for(display, view))
            self.table.param.update(
                value=frame, titles=titles, formatters=formatters, text_align=display.align,
                widths=self._widths(display), frozen_columns={"c0": "left"},
                hidden_columns=[NAME_FIELD],
                frozen_rows=[0], selection=self._ticked_rows(),
                height=min(TREE_MAX_PX, HEADER_PX + ROW_PX * len(frame) + 40),
            )  # fmt: skip
        finally:
            self._syncing = False

    def _widths(self, display: Display) -> dict[str, int]:
        # room for each header's menu button beside its title (none on a phone)
        return dict(display.widths) if self.compact else {
            k: w + MENU_PX for k, w in display.widths.items()}  # fmt: skip

    # --- header menus --------------------------------------------------------------------

    def _offer(self) -> None:
        """Say what each header's menu offers: the label column removes groupings, a value
        column hides; every column sorts (customer columns sort the customers)."""
        values, _customers = self._columns()
        back = {name: key for key, name in self._display.keys.items()}
        hideable = {back[n] for n in values if n in back}
        self.menus.offer(menu_items(self._display, self.view, {"c0": list(self.view.groups)},
                                    hideable))  # fmt: skip

    def _more_styles(self, frame: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
        if "c0" in styles.columns:
            for i, node in enumerate(self._nodes[: len(frame)]):
                if node["kind"] == "more":
                    styles.iloc[i, styles.columns.get_loc("c0")] = "font-style: italic"
        return styles

    def _selectable(self, frame: pd.DataFrame) -> list[int]:
        return [i for i, n in enumerate(self._nodes[: len(frame)])
                if n["kind"] in ("group", "customer")]  # fmt: skip

    # --- ticks -------------------------------------------------------------------------

    def _ticked_rows(self) -> list[int]:
        groups = [tuple(t["path"]) for t in self.ticked if "path" in t]
        ids = {t["id"] for t in self.ticked if "id" in t}
        out = []
        for i, node in enumerate(self._nodes):
            path = tuple(node.get("path") or ())
            under = any(path[: len(g)] == g for g in groups)
            if (node["kind"] == "group" and under) or (
                node["kind"] == "customer" and (node["id"] in ids or under)
            ):
                out.append(i)
        return out

    def _on_ticks(self, event) -> None:
        if self._syncing:
            return
        nodes = self._nodes
        rows = {i for i in event.new if i < len(nodes)}

        def under(i: int, g: tuple) -> bool:
            path = tuple(nodes[i].get("path") or ())
            deeper = nodes[i]["kind"] == "customer" or len(path) > len(g)
            return deeper and path[: len(g)] == g

        was = {tuple(t["path"]) for t in self.ticked if "path" in t}
        for i, node in enumerate(nodes):
            g = tuple(node.get("path") or ())
            if node["kind"] == "group" and g in was and i not in rows:
                rows -= {j for j in rows if under(j, g)}  # unticking a group unticks its rows
            elif node["kind"] == "group" and g not in was and i in rows:
                rows |= {j for j in range(len(nodes)) if under(j, g)}  # ticking: all of it
        # a group stays whole only while every row under it is ticked
        groups = []
        for i in sorted(rows, key=lambda i: len(nodes[i].get("path") or ())):
            node = nodes[i]
            g = tuple(node.get("path") or ())
            if node["kind"] != "group" or any(g[: len(h)] == h for h in groups):
                continue
            if all(j in rows for j in range(len(nodes)) if under(j, g)):
                groups.append(g)
        ticked: list[dict[str, Any]] = [
            {"path": list(g), "count": self._customers(g)} for g in groups
        ]  # fmt: skip
        for i in sorted(rows):
            node = nodes[i]
            if node["kind"] == "customer" and not any(under(i, g) for g in groups):
                ticked.append({"id": node["id"]})
        # customers ticked in a group closed since stay ticked
        on_screen = {n["id"] for n in nodes if n["kind"] == "customer"}
        ticked += [t for t in self.ticked if "id" in t and t["id"] not in on_screen]
        self.ticked = ticked
        self._syncing = True
        try:
            self.table.selection = self._ticked_rows()
        finally:
            self._syncing = False

    def _customers(self, path: tuple) -> int:
        """How many customers the group at `path` holds: its row's count, or (when the
        view shows shares, not counts) counted by the database."""
        if not self.view.percent and self.view.source == "customers":
            for n in self._nodes:
                if n["kind"] == "group" and tuple(n["path"]) == path and n["count"] is not None:
                    return n["count"]
        return query.count(self.store, tree.group_view(self.view, list(path)))

    def set_ticked(self, ticked: list[dict[str, Any]]) -> None:
        """Tick these rows (the selection changed elsewhere: cleared, or reset)."""
        if ticked == self.ticked:
            return
        self.ticked = ticked
        self._syncing = True
        try:
            self.table.selection = self._ticked_rows()
        finally:
            self._syncing = False

    # --- clicks and sorting ------------------------------------------------------------

    def _on_click(self, event) -> None:
        if event.column != "c0" or not 0 <= event.row < len(self._nodes):
            return
        node = self._nodes[event.row]
        if node["kind"] == "group":
            self.toggle(node["path"])
        elif node["kind"] == "customer":
            self.customer = node["id"]
            self.param.trigger("customer")
        elif node["kind"] == "more":
            kid = self._kids.get(tuple(node["path"]))
            if kid is not None:
                self._load(node["path"], kid["page"] + 1)
                self._render()

    def _on_sorters(self, event) -> None:
        if self._syncing or self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new)
        if sort != self.view.sort:
            self.view.param.update(sort=sort, page=1)

    def __panel__(self):
        return pmui.Column(self._buttons, self.table, *self.menus.parts,
                           sizing_mode="stretch_width", margin=0)  # fmt: skip


class AggregatePanel(MenuGrid):
    """The group or pivot table of the view's current page, its chart, an opened group."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    view = param.ClassSelector(class_=View, doc="The view; header clicks sort it.")
    chart_kind = param.Selector(default="bar", objects=list(KINDS),
                                doc="How groups and pivots are charted beside the table.")  # fmt: skip
    opened = param.Dict(default=None, allow_None=True,
                        doc="The open group: each group field's value as text (None: blank).")  # fmt: skip
    compact = param.Boolean(default=False,
                            doc="A phone-sized screen: the chart's labels are made to fit.")  # fmt: skip

    mode = "pivot"  # its table shows pivots; groups show in its tree (MenuGrid)

    def __init__(self, **params):
        super().__init__(**params)
        self._result: Result | None = None
        self._whole: tuple[Result, Result, View] | None = None
        self._syncing = False
        # each header's menu: sort, hide a pivot or total column, remove a grouping
        options = self._with_menus(grid_options(height=200))
        self.table = EngineGrid(pd.DataFrame(), selectable=False, **options)
        self.table.param.watch(self._on_sorters, "sorters")
        self.table.on_click(self._on_click)
        self.tree = GroupTree(store=self.store, view=self.view, compact=self.compact)
        self.param.watch(lambda e: setattr(self.tree, "compact", e.new), "compact")
        self.group = OpenedGroup(store=self.store)
        self.group.param.watch(lambda _e: setattr(self, "opened", None), "close")
        # one button a kind, so a kind that cannot draw this result is disabled alone and
        # says why (its name and tooltip); the chosen kind is kept (and in the link)
        self._kinds = {k: Button(label=label, size="small", variant="outlined",
                                 sx={"&.Mui-disabled": {"pointerEvents": "auto"}})
                       for k, label in KINDS.items()}  # fmt: skip
        for k, b in self._kinds.items():
            b.on_click(lambda _e, k=k: setattr(self, "chart_kind", k))
        self._kind = pmui.Row(Text("Chart", variant="body2", align="center", margin=(0, 8)),
                              *self._kinds.values(), margin=(0, 0, 4, 0))  # fmt: skip
        # a new chart replaces the pane that holds it: Bokeh's view of a figure swapped
        # inside one pane can be redrawn after it was taken down ("reading 'top_panel'")
        self._chart = pn.Column(sizing_mode="stretch_width", min_height=380)
        self._chart_box = pmui.Column(self._kind, self._chart, sizing_mode="stretch_width",
                                      min_width=380)  # fmt: skip
        self._table_box = pn.Column(self.table, margin=0, sizing_mode="stretch_width")
        self._tree_box: Any = None  # the tree's layout, made when first shown
        #: why the view could not be computed (a total needs a rate nobody stored), shown
        #: under the view's headers in place of its rows (`refuse`)
        self._refusal = Notice("", severity="error", margin=(4, 0), css_classes=["cd-refusal"])

    def refuse(self, message: str) -> None:
        """Show that the view cannot be computed and why (the engine's UserError, such as
        the rates a total lacks): the view's headers without rows, the reason beneath them.
        The empty table's own text ("Nothing to show") would tell that nothing matched."""
        view = self.view
        titles = {f"g{i}": COLUMNS[g].label for i, g in enumerate(view.groups)}
        for i, (f, a) in enumerate([("*", "count"), *view.values]):
            titles[f"v{i}"] = query.value_label(f, a)
        self._result, self._display = None, None
        self._table_box.objects = [self.table, self._refusal]
        self._syncing = True
        try:
            self.table.param.update(
                value=pd.DataFrame(columns=list(titles)), titles=titles, formatters={},
                text_align={}, frozen_columns={}, hidden_columns=[], widths={},
                height=HEADER_PX + 8, css_classes=["cd-refused"],
            )  # fmt: skip
        finally:
            self._syncing = False
        self._refusal.object = message
        self._chart_box.visible = False

    def show(self, result: Result) -> None:
        """Show a page of groups (the tree's top level, `tree.top`) or pivot rows, with its
        Total row, and chart it."""
        self._chart_box.visible = True
        if self.table.css_classes:  # no longer refused (`refuse`)
            self.table.css_classes = []
        if result.mode == "groups":
            self._result, self._display = result, None
            self.tree.show(result)
            # the tree is put in the box once, then updated in place: the box holds the
            # tree's layout (a new one from each `[self.tree]`), and a new layout drew a
            # new table, taken down while it drew the ticked rows ("reading 'rowManager'")
            if self._tree_box is None:
                self._tree_box = self.tree.__panel__()
            if self._table_box.objects != [self._tree_box]:
                self._table_box.objects = [self._tree_box]
            self._draw()
            return
        if self._table_box.objects != [self.table]:
            self._table_box.objects = [self.table]
        display = aggregate_display(result, self.view)
        self._result, self._display = result, display
        self._offer()
        self._syncing = True
        try:
            show_sorters(self.table, sorters_for(display, self.view))
            self.table.param.update(
                value=display.frame, titles=display.titles, formatters=display.formatters,
                text_align=display.align, frozen_columns=display.frozen,
                widths=display.widths if self.compact else {
                    k: w + MENU_PX for k, w in display.widths.items()},
                height=HEADER_PX + ROW_PX * max(1, len(display.frame)) + 16,
            )  # fmt: skip
        finally:
            self._syncing = False
        self._draw()

    def _on_sorters(self, event) -> None:
        if self._syncing or self._display is None:
            return
        sort = sort_keys(self._display, self.view, event.new)
        if sort != self.view.sort:
            self.view.param.update(sort=sort, page=1)

    # --- header menus (the pivot's; what a choice does is MenuGrid's) ----------------------

    def _offer(self) -> None:
        """Say what each pivot header's menu offers: a row-group column removes its
        grouping, a pivot or total column hides; every column sorts."""
        display, view = self._display, self.view
        groups = {k: [n] for k, n in display.keys.items() if n in view.groups}
        hideable = {k for k in display.keys if k not in groups}
        self.menus.offer(menu_items(display, view, groups, hideable))

    def _on_click(self, event) -> None:
        r = self._result
        if r is None or not (0 <= event.row < len(r.data)):
            return  # the Total row opens nothing
        row = r.data.iloc[event.row].to_dict()
        key = {}
        for name in self.view.groups:
            value = row.get(name)
            blank = value is None or (isinstance(value, float) and pd.isna(value))
            key[name] = None if blank else COLUMNS[name].type.to_text(value)
        self.open_group(key)

    def open_group(self, key: dict[str, str | None]) -> None:
        """List the customers of the group whose fields have these values (as text; None:
        blank), e.g. from a link."""
        key = {k: v for k, v in key.items() if k in self.view.groups}
        if not key:
            return
        filters = [{"field": k, "op": "empty"} if v is None else {"field": k, "op": "=", "value": v}
                   for k, v in key.items()]  # fmt: skip
        view = self.view.copy(filters=[*self.view.filters, *filters], groups=[], pivot=None,
                              values=[], page=1, sort=[], percent=None)  # fmt: skip
        words = ", ".join(f"{COLUMNS[k].label}: {query.BLANK if v is None else v}"
                          for k, v in key.items())  # fmt: skip
        self.group.open(view, "Customers with " + words)
        self.opened = key

    @param.depends("chart_kind", "compact", watch=True)
    def _draw(self) -> None:
        r = self._result
        if r is None or r.mode == "rows" or len(r.data) == 0:
            self._chart.objects = []
            return
        kind, why = self.chart_kind, kind_problem(self.view, self.chart_kind)
        drawn = "bar" if why else kind
        try:
            if self._whole is None or self._whole[0] is not r:
                # the chart is of the whole result (every group, all levels), not the page
                whole = self.view.copy(page=1, expand=[])
                # converted: groups by Currency keep their own currencies in the table, but
                # bars on one axis compare them in the reporting currency (refused, naming
                # the missing rates, when some are missing)
                self._whole = (r, query.run(self.store, whole, paged=False, converted=True),
                               whole)  # fmt: skip
            _, full, view = self._whole
            figure = chart(full, view, drawn, sizing_mode="stretch_width", height=360,
                           small=self.compact)  # fmt: skip
        except UserError as exc:
            # no kind can draw it: each says why, and so does the chart's place
            self._show_kinds(drawn, refused=str(exc))
            self._chart.objects = [Notice(object=str(exc), severity="warning", margin=(4, 10))]
            return
        self._show_kinds(drawn)
        # a kind that cannot apply says why above the bars, never silently draws bars
        head = (
            [Notice(object=f"{why}: showing bars", severity="info", margin=(4, 10))] if why else []
        )
        # the title as text above the figure: it wraps on a phone, where Bokeh's title (one
        # line drawn on the canvas) was cut at the screen's edge
        title = Text(figure.title.text, variant="subtitle2", margin=(4, 10),
                     sizing_mode="stretch_width")  # fmt: skip
        figure.title.text = ""
        self._chart.objects = [*head, title, pn.pane.Bokeh(figure, sizing_mode="stretch_width")]

    def _show_kinds(self, drawn: str, refused: str | None = None) -> None:
        """Each kind's button: the drawn kind stands out; a kind that cannot draw this
        view is disabled, its reason its name and tooltip (`refused`: why none can)."""
        for k, b in self._kinds.items():
            why = refused or kind_problem(self.view, k)
            b.param.update(
                disabled=bool(why), variant="contained" if k == drawn else "outlined",
                description=why or f"Chart {KIND_HELP[k]}",
            )  # fmt: skip

    def close_group(self) -> None:
        """Close the opened group (the groups changed)."""
        self.group.shut()
        self.opened = None

    def __panel__(self) -> Any:
        return pmui.Column(
            pn.FlexBox(
                self._table_box,
                self._chart_box,
                flex_wrap="wrap",
                gap="16px",
                sizing_mode="stretch_width",
            ),  # fmt: skip
            self.group,
            *self.menus.parts,
            sizing_mode="stretch_width",
        )
