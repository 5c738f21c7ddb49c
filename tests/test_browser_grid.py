"""The customers grid in Chromium as a person uses it: header sorting (each click flips the
direction, shift-click adds keys in click order, the sorted headers say so), opening a
customer from the keyboard, header and rows staying aligned while Tab moves along the
headers, search as you type, and the SQL box and Code dialog around it."""

from __future__ import annotations

import re

import pytest

from dashboard import View, open_store, run
from tests.browser import (
    button,
    cells,
    demo_server,
    more,
    open_page,
    shot,
    wait_cells,
)  # fmt: skip

pytestmark = pytest.mark.browser

EMPTY = "No customer matches"


server = demo_server("grid", demo=300)


def header(page, field: str):
    return page.locator(f'.tabulator-col[tabulator-field="{field}"]')


def names(db, order: str) -> list[str]:
    with open_store(db) as store:
        return [
            r[0] for r in store.rows(f"SELECT name FROM customers ORDER BY {order}, id LIMIT 50")
        ]


def marks(page) -> dict[str, str]:
    """Each sorted header's aria-sort and the rank it shows (empty with one key)."""
    return page.locator(
        ".tabulator-col.tabulator-sortable"
    ).evaluate_all("""(cols) =>
      Object.fromEntries(cols.filter((c) => c.getAttribute("aria-sort") !== "none").map((c) =>
        [c.getAttribute("tabulator-field"),
         c.getAttribute("aria-sort") + " " + c.querySelector(".tabulator-col-sorter").innerText.trim()]))""")


def test_each_header_click_flips_the_sort_and_the_grid_never_empties(browser, server):
    db, url = server
    page = open_page(browser, url)
    with open_store(db) as store:
        # balances sort by their value in the base currency, shown with their currency
        low, high = (
            "{:,.2f} {}".format(*run(store, View(columns=["credit", "currency"], page_size=1,
                                                 sort=[["credit", way]])).data.iloc[0])
            for way in ("asc", "desc")
        )  # fmt: skip
    for click, (first, word) in enumerate([(low, "ascending"), (high, "descending")] * 2):
        header(page, "credit").locator(".tabulator-col-title").click()
        # the rows of the new direction arrive, and the grid was never left empty for them
        wait_cells(page, "credit", lambda got, v=first: bool(got) and got[0] == v)
        page.wait_for_timeout(1200)  # what a late redraw would do, it has done
        assert cells(page, "credit")[0] == first, f"click {click + 1}"
        assert page.get_by_text(EMPTY).count() == 0, f"click {click + 1} emptied the grid"
        assert marks(page) == {"credit": f"{word} "}, f"click {click + 1}"
    page.context.close()


def test_shift_click_adds_keys_in_click_order_and_headers_show_their_rank(browser, server):
    db, url = server
    page = open_page(browser, url)
    status = header(page, "status").locator(".tabulator-col-title")
    status.click()
    wait_cells(page, "name", lambda got: got[:20] == names(db, "status")[:20])
    status.click()  # descending now
    wait_cells(page, "name", lambda got: got[:20] == names(db, "status DESC")[:20])
    header(page, "credit").locator(".tabulator-col-title").click(modifiers=["Shift"])
    with open_store(db) as store:  # a balance sorts by its value in the base currency
        want = run(store, View(columns=["name"], sort=[["status", "desc"], ["credit", "asc"]],
                               page_size=50)).data["name"].tolist()  # fmt: skip
    wait_cells(page, "name", lambda got: len(got) >= 20 and got == want[: len(got)])
    page.wait_for_timeout(1200)
    assert marks(page) == {"status": "descending 1", "credit": "ascending 2"}
    assert page.get_by_text(EMPTY).count() == 0
    shot(page, "browser-grid-01-two-sort-keys-1280x720")
    page.context.close()


def test_enter_on_a_row_opens_the_customer(browser, server):
    _db, url = server
    page = open_page(browser, url)
    first = cells(page, "name")[0]
    box = page.get_by_role("checkbox", name=f"Select {first}")
    box.wait_for()
    box.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=15_000)
    page.get_by_role("textbox", name=re.compile("^Customer Name")).first.wait_for()
    assert (
        page.get_by_role("textbox", name=re.compile("^Customer Name")).first.input_value() == first
    )
    assert not box.is_checked()  # Enter opens; Space ticks
    page.context.close()


def _offsets(page) -> list[tuple[str, float, float]]:
    """Each visible header's left edge beside its first row cell's."""
    return page.evaluate("""() => {
      const grid = document.querySelectorAll("*");
      const out = [];
      const walk = (root) => {
        root.querySelectorAll(".tabulator-header .tabulator-col[tabulator-field]").forEach((h) => {
          const f = h.getAttribute("tabulator-field");
          const cell = h.closest(".tabulator").querySelector(`.tabulator-row .tabulator-cell[tabulator-field="${f}"]`);
          if (cell) out.push([f, h.getBoundingClientRect().left, cell.getBoundingClientRect().left]);
        });
        root.querySelectorAll("*").forEach((el) => { if (el.shadowRoot) walk(el.shadowRoot); });
      };
      walk(document);
      return out;
    }""")


def test_tabbing_along_the_headers_keeps_them_over_their_columns(browser, server):
    _db, url = server
    page = open_page(browser, url)
    header(page, "id").focus()
    seen = []
    for _ in range(30):
        page.keyboard.press("Tab")
        page.wait_for_timeout(150)
        field = page.evaluate("""() => {
          let el = document.activeElement;
          while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
          // a header, or its menu button (the next Tab stop)
          const col = el && el.closest(".tabulator-col");
          return col ? col.getAttribute("tabulator-field") : null;
        }""")
        if field is None:
            break
        seen.append(field)
        wrong = [(f, h, c) for f, h, c in _offsets(page) if abs(h - c) > 1.5]
        assert not wrong, f"focus on {field}: header and column apart: {wrong[:3]}"
    assert len(seen) > 8 and "tags" in seen, seen
    shot(page, "browser-grid-02-last-header-focused-1280x720")
    page.context.close()


def test_search_runs_as_you_type_once_per_pause(browser, server):
    db, url = server
    page = open_page(browser, url)
    with open_store(db) as store:
        name = store.rows("SELECT name FROM customers ORDER BY id LIMIT 1 OFFSET 7")[0][0]
    word = name.split()[0]
    page.evaluate("""() => {
      window.__searches = [];
      for (const f of ["pushState", "replaceState"]) {
        const orig = history[f].bind(history);
        history[f] = (state, title, u) => { window.__searches.push(String(u)); return orig(state, title, u); };
      }
    }""")
    box = page.get_by_role("textbox", name="Search")
    box.click()
    box.press_sequentially(word, delay=80)  # a person typing, no Enter
    wait_cells(
        page,
        "name",
        lambda got: bool(got) and all(word.lower() in g.lower() for g in got) and name in got,
    )
    page.wait_for_timeout(1000)
    views = [u for u in page.evaluate("window.__searches") if "search" in u]
    assert len(views) == 1, views  # one query when the typing paused, none per key
    page.context.close()


def test_the_sql_example_counts_customers_and_a_failed_query_clears_the_last_result(
    browser, server
):
    db, url = server
    page = open_page(browser, url)
    with open_store(db) as store:
        active = store.scalar(
            "SELECT count(*) FROM customers WHERE status = 'Active' "
            "AND id IN (SELECT customer_id FROM usage_daily)"
        )
    box = page.get_by_role("textbox", name=re.compile("^SQL"))
    more(page, "SQL", box)
    dialog = page.get_by_role("dialog")
    button(page, "Run").first.click()
    page.get_by_text(re.compile(r"^\d+ rows?")).wait_for()
    titles = dialog.locator(".tabulator-col-title").all_inner_texts()
    assert [t.strip() for t in titles if t.strip()] == [
        "country",
        "currency",
        "customers",
        "revenue",
    ]
    counts = [int(c.replace(",", "")) for c in
              dialog.locator('.tabulator-cell[tabulator-field="customers"]').all_inner_texts()]  # fmt: skip
    assert sum(counts) == active  # each customer once, not once per day of usage
    box.fill("SELECT no_such_column FROM customers")
    button(page, "Run").first.click()
    page.get_by_text(re.compile("the query failed")).wait_for()
    page.wait_for_timeout(800)
    assert dialog.locator(".tabulator-row").count() == 0  # the earlier rows are gone
    shot(page, "browser-grid-03-sql-failed-query-1280x720")
    page.context.close()


def test_code_link_is_the_address_bar_link(browser, server):
    _db, url = server
    page = open_page(browser, url)
    # two group levels: Stacked can draw them (with one it is disabled, saying why)
    page.goto(View(groups=["status", "country"]).url(url + "/"))
    page.wait_for_selector(".tabulator-row")
    button(page, "Stacked").first.click()
    # the first group (the Total row is pinned above it)
    page.locator('.tabulator-row .tabulator-cell[tabulator-field="c0"]').nth(1).click()
    # a click on a group opens it in place (the group tree, issue 18): the view keeps it
    page.wait_for_url(re.compile("expand.*chart=stacked"))
    link = page.get_by_role("textbox", name=re.compile("^Link"))
    more(page, "Code", link)
    assert link.input_value() == page.url
    page.context.close()
