"""The header menu of every engine grid (the customers grid, the group tree, the pivot):
the ⋮ button beside each header's title, its keyboard use, and what it offers.

One home for the menu's script and its words: each grid says which choices a column's menu
offers (`HeaderMenus.offer`, by field), the browser draws them, and a choice comes back
through a hidden input as {"menu": choice, "field": field}; the grid acts on it.
"""

from __future__ import annotations

import json
from typing import Any

import panel as pn
from panel.io.model import JSCode

#: What each choice of a header menu reads; "-" is a line between groups of choices.
MENU_LABELS = {
    "asc": "Sort ascending",
    "desc": "Sort descending",
    "filter": "Filter by this column…",
    "group": "Group by this column",
    "left": "Pin left",
    "right": "Pin right",
    "unpin": "Unpin",
    "hide": "Hide column",
    "show": "Show hidden columns",
    "ungroup": "Remove grouping",
}
#: The customers grid's menu, the same for every column.
ROWS_MENU = ["asc", "desc", "filter", "group", "-", "left", "right", "unpin", "hide"]

#: What each header's menu button (beside its title) takes, in pixels.
MENU_PX = 24
#: The widest window laid out as a phone, where no ⋮ is drawn (grid.GRID_CSS's media query).
PHONE_MAX_PX = 699

#: Dragged and resized headers are reported to the server through a hidden text input of the
#: page (found by its placeholder, `{mark}`): Panel's Tabulator reports neither. The order of
#: the fields and the widths a person set are sent as JSON; the view keeps them (its link).
COLUMN_EVENTS = """
  if (!table.cdColumns) {
    table.cdColumns = true;
    table.cdWidths = {};
    const report = (extra) => {
      const order = table.getColumns().map((c) => c.getField())
        .filter((f) => f && f !== "_index");
      const text = JSON.stringify({order: order, widths: table.cdWidths, ...(extra || {})});
      for (const doc of window.Bokeh.documents) {
        for (const m of doc.all_models) {
          if (m.placeholder === "{mark}" && m.value !== text) { m.value = text; }
        }
      }
    };
    table.cdReport = report;
    // what each header's menu offers: [[choice, label], ...] by field ("*": any field),
    // kept by the server in a second hidden input (HeaderMenus.offer)
    table.cdItems = (field) => {
      for (const doc of window.Bokeh.documents) {
        for (const m of doc.all_models) {
          if (m.placeholder === "{mark}:menu") {
            let all = {};
            try { all = JSON.parse(m.value || "{}"); } catch (err) { all = {}; }
            return all[field] || all["*"] || [];
          }
        }
      }
      return [];
    };
    table.on("columnMoved", () => report());
    table.on("columnResized", (column) => {
      table.cdWidths[column.getField()] = Math.round(column.getWidth());
      report();
    });
    // the header menu by keyboard: Enter or Space on a header's menu button, or Alt+Down,
    // the context-menu key or Shift+F10 on a focused header open it on its first item;
    // Up/Down/Home/End move, Enter chooses, Escape (or Tab) closes; the focus goes back
    // to the header
    const items = (menu) => Array.from(menu.querySelectorAll(".tabulator-menu-item"));
    const back = () => {
      const field = table.cdMenuField;
      const col = field && table.element.querySelector(`.tabulator-col[tabulator-field="${field}"]`);
      if (col) { col.focus(); }
    };
    const openMenu = (col, focus = true) => {
      const button = col.querySelector(".tabulator-header-popup-button");
      if (!button) { return; }
      table.cdMenuField = col.getAttribute("tabulator-field");
      // a click where the button is: Tabulator places its menu at the click (0, 0 else,
      // under the page's app bar); on a phone the button is not drawn: under the header
      let at = button.getBoundingClientRect();
      if (!at.width) {
        const box = col.getBoundingClientRect();
        at = {left: box.left, top: box.bottom - 8, width: 16, height: 0};
      }
      button.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true,
        composed: true, clientX: at.left + at.width / 2, clientY: at.top + at.height / 2}));
      setTimeout(() => {
        const menu = table.element.querySelector(".tabulator-menu");
        if (!menu) { return; }
        menu.setAttribute("role", "menu");
        for (const item of items(menu)) {
          item.setAttribute("role", "menuitem");
          item.setAttribute("tabindex", "-1");
        }
        if (focus && items(menu).length) { items(menu)[0].focus(); }
      }, 0);
    };
    // a phone has no room for the ⋮ beside a group tree's or pivot's titles: a tap on a
    // header opens its menu (which sorts too) instead of sorting. Only a person's tap
    // (trusted): Enter on a focused header clicks its title to sort (keys.py), and
    // openMenu clicks the button; a wider window's click sorts as ever
    if ({tap}) {
      table.element.addEventListener("click", (e) => {
        if (!e.isTrusted || !window.matchMedia("(max-width: {phone}px)").matches) { return; }
        const col = e.target.closest && e.target.closest(".tabulator-header .tabulator-col");
        const field = col && col.getAttribute("tabulator-field");
        if (!field || field === "_index" || e.target.closest(".tabulator-col-resize-handle")
            || !col.querySelector(".tabulator-header-popup-button")) { return; }
        e.preventDefault();
        e.stopPropagation();
        openMenu(col, false);
      }, true);
    }
    table.element.addEventListener("keydown", (e) => {
      const menu = e.target.closest && e.target.closest(".tabulator-menu");
      if (menu) {
        const list = items(menu), i = list.indexOf(e.target), n = list.length;
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          list[(i + (e.key === "ArrowDown" ? 1 : n - 1) + n) % n].focus();
        } else if (e.key === "Home" || e.key === "End") {
          list[e.key === "Home" ? 0 : n - 1].focus();
        } else if (e.key === "Enter" || e.key === " ") {
          e.target.click();
          back();
          // a pin or a sort draws the headers anew once the server answers: a focus lost
          // with the old header is given to the new one
          const until = Date.now() + 4000;
          const keep = () => {
            const lost = !document.activeElement || document.activeElement === document.body;
            if (lost) { back(); }
            if (Date.now() < until) { setTimeout(keep, 150); }
          };
          setTimeout(keep, 150);
        } else if (e.key === "Escape" || e.key === "Tab") {
          document.body.click();  // how Tabulator's menu closes: a click elsewhere
          if (menu.isConnected) { menu.remove(); }
          back();
        } else { return; }
        e.preventDefault();
        e.stopPropagation();
        return;
      }
      const col = e.target.closest && e.target.closest(".tabulator-col");
      if (!col) { return; }
      const onButton = e.target.classList && e.target.classList.contains("cd-menu-button");
      if ((onButton && (e.key === "Enter" || e.key === " ")) || (e.altKey && e.key === "ArrowDown")
          || e.key === "ContextMenu" || (e.shiftKey && e.key === "F10")) {
        e.preventDefault();
        e.stopPropagation();
        openMenu(col);
      }
    }, true);
  }
"""


#: Each header's menu (the ⋮ beside its title): the choices the server offers for its field
#: (labels set as text, never markup); what it chooses is reported like a drag.
HEADER_MENU = """function(e, column) {
  const table = column.getTable(), field = column.getField();
  const go = (menu) => () => table.cdReport && table.cdReport({menu: menu, field: field, at: Date.now()});
  const items = table.cdItems ? table.cdItems(field) : [];
  return items.map(([choice, label]) => {
    if (choice === "-") { return {separator: true}; }
    const text = document.createElement("span");
    text.textContent = label;
    return {label: text, action: go(choice)};
  });
}"""


#: Each header's menu button: a focusable button named for its column (Tabulator's own is a
#: bare span a keyboard never reaches). Its mark is drawn by MENU_CSS, not written in it:
#: Tabulator puts the button inside the header's title, whose text (what people and tests
#: read as the column's title) stays the title alone.
HEADER_MENU_ICON = """function(column) {
  const b = document.createElement("span");
  b.className = "cd-menu-button";
  b.setAttribute("role", "button");
  b.setAttribute("tabindex", "0");
  b.setAttribute("aria-haspopup", "menu");
  b.setAttribute("aria-label", "Column menu: " + (column.getDefinition().title || column.getField()));
  return b;
}"""

#: The menu's look: its button's mark and focus ring, the focused item; no button where a
#: column is no field (the tick boxes) or is the hidden index.
MENU_CSS = """
.tabulator .cd-menu-button::before { content: "\\22ee"; }
.tabulator .tabulator-col:not([tabulator-field]) .tabulator-header-popup-button,
.tabulator .tabulator-col[tabulator-field="_index"] .tabulator-header-popup-button { display: none; }
.tabulator .cd-menu-button:focus-visible { outline: 2px solid #1976d2; outline-offset: 1px; }
.tabulator-menu .tabulator-menu-item:focus { outline: 2px solid #1976d2; outline-offset: -2px;
  background: #e3f0fb; }
"""

#: Where COLUMN_EVENTS goes in the grid's `headerSortElement` (grid.ENGINE_SORT_MARK): the
#: first script Tabulator runs with the table at hand, once per header.
_TABLE_AT_HAND = "const table = this, sort = table.modules.sort;"


def item(choice: str, label: str | None = None) -> list[str]:
    """One choice of a menu as the browser takes it: [choice, label] (MENU_LABELS's label
    unless given)."""
    return [choice, label or MENU_LABELS.get(choice.partition(":")[0], choice)]


class HeaderMenus:
    """A grid's header menus: the hidden inputs through which the browser reports a
    choice (and dragged or resized headers) and the server says what each menu offers.
    Both must be on the page (`parts`)."""

    def __init__(self, owner: Any, *, tap: bool = False):
        self.mark = f"cd-columns-{id(owner)}"
        #: on a phone (no ⋮ drawn) a tap on a header opens its menu instead of sorting
        self.tap = tap
        #: where the browser reports dragged and resized headers and menu choices
        self.state = pn.widgets.TextInput(value="", placeholder=self.mark, visible=False,
                                          width=0, height=0, margin=0)  # fmt: skip
        #: what each header's menu offers, by field (JSON; "*": any field)
        self.items = pn.widgets.TextInput(value="", placeholder=self.mark + ":menu",
                                          visible=False, width=0, height=0, margin=0)  # fmt: skip

    @property
    def parts(self) -> list[Any]:
        """The hidden inputs, to put on the page."""
        return [self.state, self.items]

    def offer(self, items: dict[str, list[str | list[str]]]) -> None:
        """Say what each field's menu offers: choices (MENU_LABELS's keys, "-" for a line)
        or [choice, label] pairs; "*" is any field not named."""
        spec = {f: [c if isinstance(c, list) else item(c) for c in choices]
                for f, choices in items.items()}  # fmt: skip
        text = json.dumps(spec, separators=(",", ":"))
        if text != self.items.value:
            self.items.value = text

    def configure(self, config: dict[str, Any]) -> dict[str, Any]:
        """A grid's Tabulator configuration with the header menus: every column gets the
        menu button, and the grid's sort mark (grid.ENGINE_SORT_MARK) sets up the reports
        and the keyboard once the table is at hand."""
        sort_mark = config["headerSortElement"].js_code
        assert _TABLE_AT_HAND in sort_mark
        body = sort_mark.replace(
            _TABLE_AT_HAND,
            _TABLE_AT_HAND + COLUMN_EVENTS.replace("{mark}", self.mark)
            .replace("{tap}", "true" if self.tap else "false")
            .replace("{phone}", str(PHONE_MAX_PX)), 1,
        )  # fmt: skip
        defaults = config.get("columnDefaults", {})
        return {**config, "headerSortElement": JSCode(body),
                "columnDefaults": {**defaults, "headerMenu": JSCode(HEADER_MENU),
                                   "headerMenuIcon": JSCode(HEADER_MENU_ICON)}}  # fmt: skip

    @staticmethod
    def choice(text: str) -> tuple[str, str] | None:
        """The (choice, field) a report of the browser holds, if it is a menu's choice."""
        try:
            state = json.loads(text or "{}")
        except ValueError:
            return None
        choice, field = state.get("menu"), state.get("field")
        if isinstance(choice, str) and isinstance(field, str):
            return choice, field
        return None
