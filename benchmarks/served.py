"""The served page on N customers (default 1,000,000).

    python benchmarks/served.py [--n 1000000] [--db /tmp/bench-1m.duckdb | postgresql://...]

Prints: the server time of each page action (filter, sort, page change, group, pivot),
measured on the page object the server runs; in Chromium, from the request: the page's
HTML received, its scripts loaded, the first paint, the toolbar drawn and the grid
showing rows; and the server process's memory with one and with five open sessions.
Beside each session, what does not depend on how busy the machine is: the server's CPU
time for the session, the bytes that travelled (and whether gzipped), the browser's
main-thread time (scripts, layout, style) and how often the grid redrew all its rows.
Timings wait for the server's start snapshot (a copy of the database for notebooks,
~26 s of CPU at 1,000,000 customers) so that they are the page's own.
Needs Debian's Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from dashboard import Store, add_demo_customers  # noqa: E402
from dashboard.demo import add_demo, add_demo_rates  # noqa: E402
from dashboard.locations import is_url  # noqa: E402
from dashboard.money import base_currency  # noqa: E402
from dashboard.ui.app import customers_page  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, COUNT_REDRAWS, served  # noqa: E402


def ensure_db(path: Path | str, n: int) -> None:
    """At least `n` customers in the database, and exchange rates: the demo's when it has
    none (a file made before rates were demo data), so that money columns, sums and sorts
    are shown converted into the reporting currency, as people's databases are."""
    with Store(path) as store:
        have = store.scalar("SELECT count(*) FROM customers")
        if have < n and is_url(path):  # Postgres: demo data only into an empty database
            add_demo(store, n, base=base_currency())
        elif have < n:
            add_demo_customers(store, n - have)
        if not store.scalar("SELECT count(*) FROM rates"):
            add_demo_rates(store, base=base_currency())


def server_times(path: Path, repeat: int = 5) -> None:
    from bokeh.document import Document

    with Store(path) as store:
        page = customers_page(store, poll_ms=0)
        page.__panel__().get_root(Document())

        def timed(label, change, reset):
            samples = []
            for _ in range(repeat):
                reset()
                t = time.perf_counter()
                change()
                samples.append(time.perf_counter() - t)
            print(f"  {label:<44}{statistics.median(samples) * 1000:>8.1f} ms")

        view = page.view
        blank = dict(filters=[], status="All", sort=[], page=1, groups=[], values=[], pivot=None)
        print("server time per action (median of 5):")
        timed("filter: Active + country in GB, DE, US",
              lambda: view.param.update(status="Active", filters=[
                  {"field": "country", "op": "in", "value": ["GB", "DE", "US"]}]),
              lambda: view.param.update(**blank))  # fmt: skip
        timed("sort by Customer Name",
              lambda: page.grid.table.param.update(sorters=[{"field": "name", "dir": "asc"}]),
              lambda: (page.grid.table.param.update(sorters=[]), view.param.update(**blank)))  # fmt: skip
        timed("page change (to page 2,000)", lambda: setattr(view, "page", 2000),
              lambda: view.param.update(page=1))  # fmt: skip
        timed("group by status, country; sum of balance",
              lambda: view.param.update(groups=["status", "country"], values=[["credit", "sum"]]),
              lambda: view.param.update(**blank))  # fmt: skip
        # the group tree (issue 18): one query per opened group, below 150 ms at 1,000,000
        tree_view = dict(groups=["status", "country"], values=[["credit", "sum"]])
        agg = page.aggregates
        timed("tree: open a status (its countries)",
              lambda: agg.tree.toggle(["Active"]),
              lambda: (view.param.update(**blank), view.param.update(**tree_view)))  # fmt: skip
        timed("tree: open a status > country (customers)",
              lambda: agg.tree.toggle(["Active", "GB"]),
              lambda: (view.param.update(**blank), view.param.update(**tree_view), agg.tree.toggle(["Active"])))  # fmt: skip
        timed("tree: its next page of customers (Show more)",
              lambda: agg.tree._on_click(type("E", (), {"column": "c0", "row": next(
                  i for i, n in enumerate(agg.tree._nodes) if n["kind"] == "more")})()),
              lambda: (view.param.update(**blank), view.param.update(**tree_view), agg.tree.toggle(["Active"]),
                       agg.tree.toggle(["Active", "GB"])))  # fmt: skip
        view.param.update(**blank)
        timed("pivot status x currency; sum of balance",
              lambda: view.param.update(groups=["status"], pivot="currency",
                                        values=[["credit", "sum"]]),
              lambda: view.param.update(**blank))  # fmt: skip


def browser_figures(path: Path | str) -> None:
    import tempfile

    from playwright.sync_api import sync_playwright

    from dashboard.snapshot import published_state, state, wait_for_snapshot

    copies, log = False, None
    if is_url(path):  # no snapshot on Postgres; the server's log goes to a temp folder
        log = Path(tempfile.mkdtemp(prefix="bench-served-")) / "server.log"
    else:
        with Store(path, read_only=True) as store:  # a current snapshot is kept, not copied
            copies = published_state(path) != state(store)
    started = time.time()
    with served(path, demo=0, log=log) as url, sync_playwright() as p:
        server = _server_process(path)
        if copies:  # time the page without the start snapshot's copy competing for the CPU
            wait_for_snapshot(path, after=started, timeout=600)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        times, pages = [], []
        for i in range(5):
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            context.add_init_script(COUNT_REDRAWS)
            pg = context.new_page()
            cdp = context.new_cdp_session(pg)
            cdp.send("Performance.enable")
            cpu = _cpu(server)
            load = os.getloadavg()[0]
            t = time.perf_counter()
            pg.goto(url + "/", wait_until="commit")
            # the page's frame: the toolbar drawn (the skeleton before the rows)
            pg.get_by_role("button", name=re.compile("^Columns")).first.wait_for()
            frame = time.perf_counter() - t
            pg.wait_for_selector(".tabulator-row")
            times.append(time.perf_counter() - t)
            pages.append(pg)
            # where the time went, as the browser saw it (ms after the request)
            nav = pg.evaluate("""() => {
                const n = performance.getEntriesByType('navigation')[0];
                const js = performance.getEntriesByType('resource')
                    .filter(r => r.name.endsWith('.js'));
                const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                return {html: n.responseEnd, dom: n.domContentLoadedEventEnd,
                        js: Math.max(0, ...js.map(r => r.responseEnd)),
                        paint: fcp ? fcp.startTime : null};
            }""")  # fmt: skip
            server_ms = (_cpu(server) - cpu) * 1000
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            sent = pg.evaluate("""() => performance.getEntriesByType('resource').concat(
                performance.getEntriesByType('navigation')).reduce((a, r) => [
                a[0] + r.transferSize, a[1] + r.decodedBodySize], [0, 0])""")  # fmt: skip
            redraws = pg.evaluate("window.cdRedraws")
            opened = _card_open(pg)
            time.sleep(1.0)
            rss = server.memory_info().rss / 2**20 if server else float("nan")
            print(f"  sessions open: {i + 1}   server RSS {rss:,.0f} MB   "
                  f"page HTML {nav['html']:,.0f} ms   scripts loaded {nav['js']:,.0f} ms   "
                  f"first paint {nav['paint'] or 0:,.0f} ms   toolbar {frame * 1000:,.0f} ms   "
                  f"request to rows {times[-1] * 1000:,.0f} ms   "
                  f"card's first open {opened[0] * 1000:,.0f} ms (its form "
                  f"{opened[1] * 1000:,.0f} ms)", flush=True)  # fmt: skip
            print(f"      load {load:.1f}   server CPU to rows {server_ms:,.0f} ms   "
                  f"transferred {sent[0] / 1e6:.2f} MB ({sent[1] / 1e6:.2f} MB unpacked)   "
                  f"browser main thread {metrics['TaskDuration'] * 1000:,.0f} ms (scripts "
                  f"{metrics['ScriptDuration'] * 1000:,.0f}, layout "
                  f"{metrics['LayoutDuration'] * 1000:,.0f}, style "
                  f"{metrics['RecalcStyleDuration'] * 1000:,.0f})   "
                  f"grid redraws {redraws}", flush=True)  # fmt: skip
        browser.close()


def _card_open(pg) -> tuple[float, float]:
    """Seconds from a click on the first customer's name to its card's frame on screen
    (saying "Opening <name>…" the first time), and to its form (the Save button)."""
    t = time.perf_counter()
    pg.locator(".tabulator-cell[tabulator-field='name']").first.click()
    pg.get_by_role("dialog", name=re.compile("^Edit customer")).wait_for()
    frame = time.perf_counter() - t
    pg.get_by_role("dialog").get_by_role("button", name=re.compile("^Save")).wait_for()
    seconds = time.perf_counter() - t
    pg.keyboard.press("Escape")
    return frame, seconds


def _cpu(proc) -> float:
    """The process's CPU seconds so far (user and system), or 0 without it."""
    if proc is None:
        return 0.0
    times = proc.cpu_times()
    return times.user + times.system


def _server_process(path: Path):
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if "serve" in cmd and str(path) in cmd:
            return proc
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--db", default="/tmp/bench-1m.duckdb", help="a file or postgresql:// URL")
    ap.add_argument("--browser-only", action="store_true", help="skip the server action times")
    args = ap.parse_args()
    if not is_url(args.db):
        args.db = Path(args.db)
    ensure_db(args.db, args.n)
    print(f"{args.n:,} customers in {args.db}")
    if not args.browser_only:
        server_times(args.db)
    print("served, in Chromium:")
    browser_figures(args.db)


if __name__ == "__main__":
    main()
