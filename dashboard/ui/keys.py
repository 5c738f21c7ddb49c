"""Keyboard use where the components fall short, in one small script for the whole page.

- Material UI selects as Panel wraps them open on a click only: Enter, Space and ArrowDown
  on a focused select open it here, as they do in any Material UI app.
- A searchable select (the currency and country pickers) opened with its first item
  focused, not its search box: typing went nowhere. Here the search box takes the focus
  when the menu opens; Enter picks the option whose code is what was typed ("eur" picks
  "EUR — Euro" whatever is listed first), or the first one listed, and does nothing when
  nothing matches (the component failed then); ArrowDown goes to the options.
- Tabulator makes every cell a tab stop (hundreds per page, so Tab never got past the grid
  to the pager and Export) and its column headers none (sorting was mouse-only). Here cells
  leave the tab order, headers join it, say how they sort (`aria-sort`), and Enter or Space
  sorts (Shift adds a sort key, as Shift-click does).
"""

from __future__ import annotations

from panel.custom import JSComponent

_SCRIPT = r"""
function deepAll(root, selector, out) {
  out = out || [];
  root.querySelectorAll(selector).forEach((el) => out.push(el));
  root.querySelectorAll("*").forEach((el) => { if (el.shadowRoot) deepAll(el.shadowRoot, selector, out); });
  return out;
}

function tidyGrids() {
  for (const table of deepAll(document, ".tabulator")) {
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

function install() {
  if (window.__cdKeys) return;
  window.__cdKeys = true;
  document.addEventListener("mousedown", (e) => {
    const target = e.composedPath()[0];
    if (target instanceof Element && target.closest("[role='combobox']")) focusSearchSoon();
  }, true);
  document.addEventListener("keydown", (e) => {
    const target = e.composedPath()[0];
    if (!(target instanceof Element)) return;
    if (target.tagName === "INPUT" && target.closest("[role='listbox']") && searchKey(e, target)) {
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    const select = target.closest("[role='combobox']");
    if (select && select.tagName !== "INPUT" && select.getAttribute("aria-expanded") !== "true"
        && (e.key === "Enter" || e.key === " " || e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      e.stopPropagation();
      select.dispatchEvent(new MouseEvent("click", {bubbles: true, composed: true}));
      focusSearchSoon();
      return;
    }
    const header = target.closest(".tabulator-col.tabulator-sortable");
    if (header && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      const title = header.querySelector(".tabulator-col-title") || header;
      title.dispatchEvent(new MouseEvent("click", {bubbles: true, composed: true, shiftKey: e.shiftKey}));
    }
  }, true);
  // grids are redrawn at every page, sort and view: keep them tidy
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; tidyGrids(); }, 150);
  };
  document.addEventListener("focusin", schedule, true);
  setInterval(tidyGrids, 1000);
  schedule();
}

export function render({ el }) {
  install();
  el.style.display = "none";
}
"""


class KeyboardHelp(JSComponent):
    """An invisible part of the page that installs the keyboard fixes above (once)."""

    _esm = _SCRIPT
