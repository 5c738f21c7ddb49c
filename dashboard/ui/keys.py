"""Keyboard use where the components fall short, in one small script for the whole page.

- Material UI selects as Panel wraps them open on a click only: Enter, Space and ArrowDown
  on a focused select open it here, as they do in any Material UI app.
- Screen readers: Tabulator's scroll box sits between the grid and its rows as a focusable
  box (an invalid grid); Material UI's page bar is a progress bar without a name; a field's
  help icon is a span with a label but no role; number fields' -/+ buttons have no name.
- Focus goes back to the button that opened a dialog when it closes, or to the grid row
  that opened the customer card (its tick box, also after a click on the name).
- A searchable select (the currency and country pickers) opened with its first item
  focused, not its search box: typing went nowhere. Here the search box takes the focus
  when the menu opens (and Escape in it closes the menu); Enter picks the option whose code is what was typed ("eur" picks
  "EUR — Euro" whatever is listed first), or the first one listed, and does nothing when
  nothing matches (the component failed then); ArrowDown goes to the options.
- Tabulator makes every cell a tab stop (hundreds per page, so Tab never got past the grid
  to the pager and Export) and its column headers none (sorting was mouse-only). Here cells
  leave the tab order, headers join it, say how they sort (`aria-sort`), and Enter or Space
  sorts (Shift adds a sort key, as Shift-click does). Enter on a row's tick box (or a cell)
  opens the customer, as a click on the name does. A header focused off screen brings the
  rows along (the browser scrolled the header alone, over other columns' values).
- Escape closes the header's Pages menu on a phone and gives the focus to its summary.
- The Filters and Columns pop-outs (Material UI drawers) had no name: each is a dialog
  named after its Close button ("Filters", "Columns").
- A dialog's step replaced by the next (Send's message by its confirmation) hides the
  button that had the focus, and Material UI's focus trap puts it on the dialog's frame,
  where Enter does nothing and Tab starts over. The next step's button marked `AUTOFOCUS`
  takes it then (Panel's `focus()` of a Material UI button did not reach the browser).
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

from ..fields import KEY_FIELD

#: The CSS class of the button that takes the focus when a dialog's step is replaced and
#: the focus fell to the dialog's frame (see the module's docstring).
AUTOFOCUS = "cd-autofocus"

#: Every element matching a selector under `root`, inside shadow roots too (each Panel
#: component draws in a shadow root of its own): one home for the page's scripts.
DEEP_ALL_JS = r"""
function deepAll(root, selector, out) {
  out = out || [];
  root.querySelectorAll(selector).forEach((el) => out.push(el));
  root.querySelectorAll("*").forEach((el) => { if (el.shadowRoot) deepAll(el.shadowRoot, selector, out); });
  return out;
}
"""

_SCRIPT = (
    DEEP_ALL_JS
    + r"""

// A header that takes the focus off screen is scrolled into sight by the browser, which
// scrolls the header's box and not the rows' (Tabulator keeps them together only when the
// rows scroll): the header row slid over other columns' values. The rows are scrolled to
// the header's place instead, and Tabulator brings the header along; a header left beneath
// the frozen columns (tick box, id, name) is brought out from under them. Listened for on
// the grid itself: focus moving inside one shadow root never reaches the document.
function alignHeader(e) {
  const col = e.target instanceof Element && e.target.closest(".tabulator-col");
  const grid = col && col.closest(".tabulator");
  if (!grid || col.classList.contains("tabulator-frozen")) return;
  const holder = grid.querySelector(".tabulator-tableholder");
  const contents = grid.querySelector(".tabulator-header-contents");
  if (!holder || !contents) return;
  const align = () => {
    if (holder.scrollLeft !== contents.scrollLeft) holder.scrollLeft = contents.scrollLeft;
    let frozen = 0;
    grid.querySelectorAll(".tabulator-header .tabulator-frozen-left").forEach((f) => {
      frozen = Math.max(frozen, f.getBoundingClientRect().right);
    });
    const box = col.getBoundingClientRect(), view = holder.getBoundingClientRect();
    if (frozen && box.left < frozen) holder.scrollLeft -= frozen - box.left;
    else if (box.right > view.right) holder.scrollLeft += box.right - view.right;
  };
  align();
  requestAnimationFrame(align);
}

function tidyGrids() {
  // a pop-out (Material UI's Drawer) is a dialog without a name: named here after its own
  // Close button ("Close filters": the dialog "Filters")
  for (const paper of deepAll(document, ".MuiDrawer-paper:not([aria-label])")) {
    const close = deepAll(paper, "button[aria-label^='Close ']")[0];
    const name = close && close.getAttribute("aria-label").match(/^Close (\w+)/);
    if (!name) continue;
    paper.setAttribute("role", "dialog");
    paper.setAttribute("aria-modal", "true");
    paper.setAttribute("aria-label", name[1][0].toUpperCase() + name[1].slice(1));
  }
  // a progress bar needs a name (Material UI's page bar has none)
  for (const bar of deepAll(document, "[role='progressbar']:not([aria-label])")) {
    bar.setAttribute("aria-label", "Activity");
  }
  // a field's (i) help icon is a span carrying the help as aria-label: an image with a name
  for (const icon of deepAll(document, "label span[aria-label]:not([role])")) {
    icon.setAttribute("role", "img");
  }
  // number fields' - and + buttons have no name
  for (const b of deepAll(document, ".MuiIconButton-root:not([aria-label])")) {
    const d = (b.querySelector("path") || {getAttribute: () => ""}).getAttribute("d") || "";
    if (d.startsWith("M19 13H5")) b.setAttribute("aria-label", "Decrease");
    else if (d.startsWith("M19 13h-6v6")) b.setAttribute("aria-label", "Increase");
  }
  for (const table of deepAll(document, ".tabulator")) {
    if (!table.cdAlign) {
      table.cdAlign = true;
      table.addEventListener("focusin", alignHeader);
    }
    // a tick box says whose it is ("Select Acme Telecom", not 50 times "Select Row")
    table.querySelectorAll(".tabulator-row").forEach((row) => {
      const box = row.querySelector("input[type='checkbox']");
      const name = row.querySelector(`.tabulator-cell[tabulator-field='${window.__cdRowName}']`);
      if (box && name) {
        // textContent, not innerText: innerText lays the page out, and after each label set
        // the next read laid it out again: 500 rows froze the page for half a minute
        const label = "Select " + name.textContent.trim();
        if (box.getAttribute("aria-label") !== label) box.setAttribute("aria-label", label);
        if (!box.hasAttribute("aria-description")) {
          box.setAttribute("aria-description", "Space ticks; Enter opens the customer");
        }
      }
    });
    // a grid holds rows, not a focusable box (the rows' tick boxes take the focus)
    const holder = table.querySelector(".tabulator-tableholder[tabindex]");
    if (holder) holder.removeAttribute("tabindex");
    table.querySelectorAll(".tabulator-cell[tabindex='0']").forEach((c) => c.setAttribute("tabindex", "-1"));
    table.querySelectorAll(".tabulator-col.tabulator-sortable").forEach((col) => {
      if (col.getAttribute("tabindex") !== "0") col.setAttribute("tabindex", "0");
      const sort = col.getAttribute("aria-sort");
      const wanted = sort === "ascending" || sort === "descending" ? sort : "none";
      if (sort !== wanted) col.setAttribute("aria-sort", wanted);
    });
  }
}

// the options of a select's open menu, less its search box and what cannot be chosen
function menuOptions(list, search) {
  const own = search.closest("li");
  return Array.from(list.querySelectorAll("li")).filter(
    (li) => li !== own && li.getAttribute("aria-disabled") !== "true" && !li.classList.contains("Mui-disabled"));
}

function searchKey(e, search) {
  const list = search.closest("[role='listbox']");
  if (!list) return false;
  const options = menuOptions(list, search);
  if (e.key === "Escape") {
    // the search box keeps every key from the menu, Escape too: the list stayed open
    // (over the Filters' Add button) and the drawer under it did not close either. The
    // menu closes as on a click beside it; a second Escape then reaches the drawer.
    const menu = list.closest(".MuiModal-root, .MuiPopover-root");
    const backdrop = menu && menu.querySelector(":scope > .MuiBackdrop-root");
    if (backdrop) backdrop.click();
    return Boolean(backdrop);
  }
  if (e.key === "ArrowDown") {
    if (options.length) options[0].focus();
    return true;
  }
  // a multiple select adds every match on Enter, as the component does
  if (e.key !== "Enter" || list.getAttribute("aria-multiselectable") === "true") return false;
  const typed = search.value.trim().toUpperCase();
  if (!typed) return false;
  const exact = options.find((li) => li.textContent.trim().toUpperCase().startsWith(typed + " \u2014"));
  const pick = exact || options[0];
  if (pick) pick.click();
  return true;
}

// Focus events inside one shadow root never reach the document (both ends retarget to the
// same host), so the menu's opening is watched for from the click or key that opens it.
function focusSearchSoon() {
  const started = performance.now();
  let typed = false;
  const onKey = () => { typed = true; };
  document.addEventListener("keydown", onKey, true);
  const tick = () => {
    for (const list of deepAll(document, "[role='listbox']")) {
      const search = list.querySelector("li input[type='text']");
      if (!search) continue;
      const active = list.getRootNode().activeElement;
      // Material UI focuses the first or the chosen item as the menu opens (and again as
      // its transition ends): the search box takes it until the person presses a key
      if (!typed && active !== search && (!active || list.contains(active))) {
        search.focus();
        search.select();  // what an earlier search left is replaced by what is typed
      }
    }
    if (performance.now() - started < 700) setTimeout(tick, 40);
    else document.removeEventListener("keydown", onKey, true);
  };
  setTimeout(tick, 0);
}

// The header's Pages menu on a phone is a <details>: the browser closes it on a click of its
// summary only, and Escape left it open over the page. Closed here, the focus back on its
// summary (as a menu button's menu gives it back); true when there was one to close.
function closePagesMenu() {
  const open = deepAll(document, "details.pages[open]").find((d) => {
    const summary = d.querySelector("summary");
    return summary && summary.checkVisibility();  // a wide window shows no menu to close
  });
  if (!open) return false;
  open.open = false;
  open.querySelector("summary").focus();
  return true;
}

function install() {
  if (window.__cdKeys) return;
  window.__cdKeys = true;
  document.addEventListener("mousedown", (e) => {
    const target = e.composedPath()[0];
    if (target instanceof Element && target.closest("[role='combobox']")) focusSearchSoon();
  }, true);
  document.addEventListener("keydown", (e) => {
    const target = e.composedPath()[0];
    if (target instanceof Element && target.tagName === "INPUT" &&
        target.closest("[role='listbox']") && searchKey(e, target)) {
      e.preventDefault();
      e.stopPropagation();
    }
  }, true);
  const closedSelect = (e) => {
    const target = e.composedPath()[0];
    if (!(target instanceof Element)) return null;
    const select = target.closest("[role='combobox']");
    return select && select.tagName !== "INPUT" && select.getAttribute("aria-expanded") !== "true"
      ? select : null;
  };
  const open = (select) => {
    select.dispatchEvent(new MouseEvent("click", {bubbles: true, composed: true}));
    focusSearchSoon();
  };
  let spaceOn = null;
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && closePagesMenu()) {
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    const select = closedSelect(e);
    if (select && (e.key === "Enter" || e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      e.stopPropagation();
      open(select);
      return;
    }
    if (select && e.key === " ") {
      // opened when the key comes up: opened now, the key's release would pick the first
      // option (Material UI's menu items act on Space's keyup) and close the menu at once
      e.preventDefault();
      e.stopPropagation();
      spaceOn = select;
      return;
    }
    const target = e.composedPath()[0];
    const header = target instanceof Element && target.closest(".tabulator-col.tabulator-sortable");
    // (a header's menu button opens its menu instead: menus.py's COLUMN_EVENTS)
    if (header && (e.key === "Enter" || e.key === " ") && !target.closest(".cd-menu-button")) {
      e.preventDefault();
      const title = header.querySelector(".tabulator-col-title") || header;
      title.dispatchEvent(new MouseEvent("click", {bubbles: true, composed: true, shiftKey: e.shiftKey}));
      return;
    }
    // Enter on a row (its tick box, or a cell) opens it, as a click on its name does
    const row = target instanceof Element && target.closest(".tabulator-row");
    const plain = !(e.shiftKey || e.ctrlKey || e.altKey || e.metaKey);
    if (row && e.key === "Enter" && plain) {
      const name = row.querySelector(`.tabulator-cell[tabulator-field='${window.__cdRowName}']`);
      if (name) {
        e.preventDefault();
        name.dispatchEvent(new MouseEvent("click", {bubbles: true, composed: true}));
      }
    }
  }, true);
  document.addEventListener("keyup", (e) => {
    if (e.key === " " && spaceOn) {
      e.preventDefault();
      e.stopPropagation();
      const select = spaceOn;
      spaceOn = null;
      open(select);
    }
  }, true);
  // focus back to what opened a dialog when it closes: Material UI gives it back to what
  // had the focus when the dialog opened, which inside the page's shadow roots is a box
  // around the button, so the focus fell to the page's body
  // A grid's row (its tick box or a cell, with Enter or a click) opens the customer card:
  // the focus goes back to that row, found again by its place if the grid was redrawn
  // meanwhile (a save reloads the rows)
  let activator = null, beforeMenu = null, wasOpen = false, spot = null;
  const rowSpot = (el) => {
    const row = el.closest(".tabulator-row"), table = el.closest(".tabulator");
    const cell = el.closest(".tabulator-cell");
    if (!row || !table || !cell) return null;
    const rows = Array.from(table.querySelectorAll(".tabulator-row"));
    // the tick box's column has no field: a cell is known by its place in the row
    const cells = Array.from(row.querySelectorAll(".tabulator-cell"));
    return {table, index: rows.indexOf(row), cell: cells.indexOf(cell),
            input: el.matches("input") ? el.getAttribute("type") : null};
  };
  const findSpot = () => {
    if (!spot) return null;
    // the grid itself may have been drawn anew: then the page's grid on screen
    const table = spot.table.isConnected ? spot.table
      : deepAll(document, ".tabulator").find((t) => shown(t) && t.querySelector(".tabulator-row"));
    if (!table) return null;
    const row = table.querySelectorAll(".tabulator-row")[spot.index];
    const cell = row && row.querySelectorAll(".tabulator-cell")[spot.cell];
    if (!cell) return row || null;
    return (spot.input && cell.querySelector(`input[type='${spot.input}']`)) || cell;
  };
  const remember = (e) => {
    const path = e.composedPath();
    if (path.some((n) => n instanceof Element && n.getAttribute("role") === "dialog")) return;
    let el = path.find((n) => n instanceof Element &&
      n.matches("button, a[href], [role='button'], [role='menuitem'], .tabulator-row input, .tabulator-row .tabulator-cell"));
    if (!el) return;
    // a cell clicked (a customer's name) gives the focus back to its row's tick box, as Enter
    // on the tick box does: Tabulator blurs a focused cell it cannot edit, and the focus
    // given back to the name fell to the page's body
    const box = el.matches(".tabulator-cell") && el.closest(".tabulator-row").querySelector("input[type='checkbox']");
    if (box) el = box;
    spot = el.closest(".tabulator-row") ? rowSpot(el) : null;
    if (el.getAttribute("role") === "menuitem") {
      beforeMenu = beforeMenu || activator;  // the menu's own button opened the dialog
    } else {
      beforeMenu = null;
    }
    activator = el;
  };
  document.addEventListener("click", remember, true);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") remember(e);
  }, true);
  const deepActive = () => {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    return el;
  };
  const shown = (el) => el && el.isConnected && (el.checkVisibility ? el.checkVisibility() : true);
  // a save reloads the grid just after the card closes: the tick box given the focus back
  // is then replaced, and the focus falls to the body again; for a moment it is given again
  let giveBackUntil = 0;
  // ... but only until the person does something: a click or a key of theirs in those
  // seconds went to where they put it, and the focus was pulled back to the grid under them
  const stopGivingBack = () => { giveBackUntil = 0; };
  document.addEventListener("pointerdown", stopGivingBack, true);
  document.addEventListener("keydown", stopGivingBack, true);
  setInterval(() => {
    const open = deepAll(document, "[role='dialog']").some(shown);
    if (wasOpen && !open) giveBackUntil = Date.now() + 4000;
    if (!open && Date.now() < giveBackUntil) {
      const again = shown(activator) ? null : findSpot();
      const back = shown(activator) ? activator
        : (shown(again) ? again : (shown(beforeMenu) ? beforeMenu : null));
      const now = deepActive();
      if (back && (!now || now === document.body)) back.focus();
    }
    wasOpen = open;
  }, 300);
  // grids are redrawn at every page, sort and view: keep them tidy
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; tidyGrids(); }, 150);
  };
  document.addEventListener("focusin", schedule, true);
  setInterval(tidyGrids, 1000);
  // a step replaced by the next: the focus fell from its hidden button to the dialog's
  // frame; the next step's own button takes it. Never taken from anything
  // a person focused.
  setInterval(() => {
    const now = deepActive();
    // (not the body: a click beside any field puts the focus there, and a look through
    // every shadow root each time would cost the page)
    if (!now || !now.matches(".MuiDialog-container")) return;
    const next = deepAll(document, ".cd-autofocus")
      .map((host) => (host.shadowRoot || host).querySelector("button")).find(shown);
    if (next) next.focus();
  }, 150);
  schedule();
}

// The group tree (a grid with the class cd-tree) stays where it is when rows are ticked:
// Panel scrolls a grid to each row the server ticks, and ticking a group ticks its
// customers, so the tree jumped to the group's last customer and the ticked row left the
// screen (issue 18's tour).
function keepTreeStill() {
  const T = window.Tabulator;
  if (!T || T.prototype.cdTreeStill) return;
  const scrollToRow = T.prototype.scrollToRow;
  T.prototype.cdTreeStill = true;
  T.prototype.scrollToRow = function (...args) {
    const root = this.element && this.element.getRootNode();
    if (root && root.host && root.host.classList.contains("cd-tree")) return Promise.resolve();
    return scrollToRow.apply(this, args);
  };
}

export function render({ model, el }) {
  window.__cdRowName = model.row_name_field;
  keepTreeStill();
  install();
  el.style.display = "none";
}
"""
)


class KeyboardHelp(JSComponent):
    """An invisible part of the page that installs the keyboard fixes above (once)."""

    row_name_field = param.String(default=KEY_FIELD,
                                  doc="The grid column that names a row (for its tick box).")  # fmt: skip

    _esm = _SCRIPT


_VIEWPORT = r"""
export function render({ model, el }) {
  el.style.display = "none";
  let timer = null;
  const report = () => {
    const width = Math.round(window.innerWidth);
    if (model.width !== width) model.width = width;
  };
  report();
  const onResize = () => { clearTimeout(timer); timer = setTimeout(report, 200); };
  window.addEventListener("resize", onResize);
  model.on("remove", () => window.removeEventListener("resize", onResize));
}
"""


class Viewport(JSComponent):
    """Tells the server how wide the browser window is (and when it changes), so that the
    page can lay itself out for a phone: CSS alone cannot choose a grid's columns."""

    width = param.Integer(default=0, doc="The window's width in CSS pixels (0: not known yet).")

    _esm = _VIEWPORT
