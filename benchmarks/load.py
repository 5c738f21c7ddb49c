"""Load test: many concurrent dashboard sessions without a browser (Bokeh's client API).

    python benchmarks/load.py [--n 1000000] [--sessions 20] [--rounds 5] [--cycles 200]
                              [--think SECONDS] [--db PATH|URL] [--pg] [--servers K]
                              [--profile FILE]

Starts `customer-dashboard serve` on a database of N demo customers, opens SESSIONS client
sessions at once (each one a real server session: the page is built, queries run, and the
client says it is shown, as a browser does), and has each do ROUNDS of: change page, quick
search, Active filter (then the search is cleared), and open pivot links. A change is timed
from setting the widget's value in the client document until the grid's new rows have
reached the client. Prints p50/p95 per action, the CPU split between server and load
generator, and the server's memory; then opens and closes CYCLES sessions one after another
and prints the server's memory once the server has discarded them. Not a test: it measures.

On PostgreSQL (`--db postgresql://...`, or `--pg` for a throw-away server from tests/pg.py)
`--servers K` starts K server processes on one database, on K ports, and deals the sessions
out to them in turn (what nginx's ip_hash does with people); CPU and memory are summed over
the servers.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

import dashboard.ui.app  # noqa: E402,F401  (the page's own Bokeh models, for the client)
from dashboard import Store, View  # noqa: E402
from dashboard.demo import add_demo  # noqa: E402
from dashboard.locations import is_url  # noqa: E402
from tests.bokeh_client import GridWatch, change_and_wait, models, open_session  # noqa: E402

WORDS = ["blue", "star", "telecom", "voice", "ridge", "cloud", "media", "gmbh", "ltd", "wave"]


def _grid_rows(session):
    return max(len(t.source.data.get("index", [])) for t in models(session, "DataTabulator"))


def worker(url, rounds, think, results, errors, start):
    try:
        start.wait()
        t = time.perf_counter()
        session = open_session(url + "/")
        results["open"].append(time.perf_counter() - t)
        pager = [p for p in models(session, "Pagination") if p.count > 1][0]
        search = [m for m in models(session, "TextInput") if getattr(m, "label", None) == "Search"][
            0
        ]
        status = [m for m in models(session, "Select") if getattr(m, "label", None) == "Active"][0]
        watch = GridWatch(session)
        rnd = random.Random(id(session))

        def pause():  # a person looks at the grid before the next click
            if think:
                time.sleep(rnd.uniform(0.5, 1.5) * think)

        for _ in range(rounds):
            pause()
            page = rnd.choice([p for p in range(1, 200) if p != pager.value])
            results["page"].append(change_and_wait(session, watch, pager, "value", page))
            pause()
            results["search"].append(
                change_and_wait(session, watch, search, "value", rnd.choice(WORDS))
            )
            pause()
            results["status"].append(change_and_wait(session, watch, status, "value", rnd.choice(
                [s for s in ("Active", "Inactive", "Pending Approval") if s != status.value])))  # fmt: skip
            change_and_wait(session, watch, search, "value", "")
            assert _grid_rows(session) > 0
        session.close()
        # a pivot is opened from its link (a new session), as a report reader does
        view = View(groups=["status", "country"], pivot="currency", values=[["credit", "sum"]])
        for _ in range(max(1, rounds // 2)):
            pause()
            t = time.perf_counter()
            s = open_session(url + "/", view=view.to_json())
            results["open pivot"].append(time.perf_counter() - t)
            assert _grid_rows(s) > 1
            s.close()
    except Exception as exc:  # noqa: BLE001 - reported at the end
        errors.append(repr(exc))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000, help="demo customers to create")
    ap.add_argument("--sessions", type=int, default=20, help="sessions working at once")
    ap.add_argument("--rounds", type=int, default=5, help="page/search/filter rounds each")
    ap.add_argument("--cycles", type=int, default=200, help="sessions opened and closed after")
    ap.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a person waits between actions (0: none, a stress test)",
    )
    ap.add_argument("--db", help="an existing database, a file or a postgresql:// URL "
                    "(default: a new DuckDB file in a temp folder)")  # fmt: skip
    ap.add_argument("--pg", action="store_true",
                    help="a throw-away PostgreSQL server (tests/pg.py) instead of --db")  # fmt: skip
    ap.add_argument("--servers", type=int, default=1,
                    help="server processes sharing the sessions (PostgreSQL only)")  # fmt: skip
    ap.add_argument("--profile", help="write the server's cProfile statistics to this file")
    args = ap.parse_args()
    pg = None
    if args.pg:
        from tests.pg import Server, bin_dir

        pg = Server(bin_dir()).start()
        pg.admin("CREATE DATABASE load")
        args.db = pg.url("load")
    try:
        run(args)
    finally:
        if pg is not None:
            pg.stop()


def run(args) -> None:
    db = args.db if args.db and is_url(args.db) else None
    if db is None:
        db = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "customers.duckdb"
        if args.servers != 1:
            raise SystemExit("--servers: several server processes need a postgresql:// database")
    if is_url(str(db)) or not Path(db).exists():
        with Store(db) as store:
            empty = store.scalar("SELECT count(*) FROM customers") == 0
            if empty:
                t = time.perf_counter()
                add_demo(store, args.n)
                print(f"{args.n:,} demo customers in {time.perf_counter() - t:.1f} s")
    with Store(db) as store:
        n = store.rows("SELECT count(*) FROM customers")[0][0]
    env = {**os.environ, "CUSTOMER_DASHBOARD_POLL_MS": "2000"}
    profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
    servers, urls = [], []
    for k in range(args.servers):
        port = 5600 + (os.getpid() + 7 * k) % 300
        urls.append(f"http://127.0.0.1:{port}")
        servers.append(subprocess.Popen(
            [sys.executable, *profile, "-m", "dashboard.cli", "serve", "--db", str(db),
             "--port", str(port), "--demo", "0"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
    url = urls[0]
    try:
        for each in urls:
            for _ in range(300):
                try:
                    urllib.request.urlopen(each + "/guide", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.3)
        procs = [psutil.Process(s.pid) for s in servers]
        proc = procs[0]
        me = psutil.Process()

        def rss() -> float:
            return sum(p.memory_info().rss for p in procs) / 2**20

        def cpu() -> float:
            return sum(sum(p.cpu_times()[:2]) for p in procs)

        base = rss()
        cpu_server0, cpu_client0 = cpu(), sum(me.cpu_times()[:2])
        print(f"{len(servers)} server process(es) up; RSS {base:,.0f} MB")
        results = {k: [] for k in ("open", "page", "search", "status", "open pivot")}
        errors: list[str] = []
        start = threading.Event()
        threads = [threading.Thread(target=worker, args=(urls[i % len(urls)], args.rounds,
                                                         args.think, results, errors, start))
                   for i in range(args.sessions)]  # fmt: skip
        peak = [base]

        def watch():
            while any(t.is_alive() for t in threads):
                peak[0] = max(peak[0], rss())
                time.sleep(0.2)

        for t in threads:
            t.start()
        watcher = threading.Thread(target=watch)
        watcher.start()
        t0 = time.perf_counter()
        start.set()
        for t in threads:
            t.join()
        watcher.join()
        wall = time.perf_counter() - t0
        cpu_server = cpu() - cpu_server0
        cpu_client = sum(me.cpu_times()[:2]) - cpu_client0
        print(f"{args.sessions} concurrent sessions x {args.rounds} rounds on {n:,} "
              f"customers (think {args.think:g} s), {wall:.1f} s wall; errors: {len(errors)}")  # fmt: skip
        print(f"CPU: server {cpu_server:.0f} s, load generator {cpu_client:.0f} s "
              f"(2 cores: {2 * wall:.0f} core-seconds available)")  # fmt: skip
        for e in errors[:5]:
            print("  ", e)
        print(f"{'action':<14}{'count':>7}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
        for k, xs in results.items():
            if xs:
                print(f"{k:<14}{len(xs):>7}{pct(xs, 50) * 1000:>10.0f}{pct(xs, 95) * 1000:>10.0f}"
                      f"{max(xs) * 1000:>10.0f}")  # fmt: skip
        print(
            f"server RSS ({len(servers)} process(es)): {base:,.0f} MB idle, "
            f"{peak[0]:,.0f} MB peak under load"
        )
        if args.cycles:
            before = proc.memory_info().rss / 2**20
            t = time.perf_counter()
            for _ in range(args.cycles):
                s = open_session(url + "/")
                s.close()
            took = time.perf_counter() - t
            during = proc.memory_info().rss / 2**20
            # Bokeh discards a closed session's document after its unused-session lifetime
            time.sleep(40)
            after = proc.memory_info().rss / 2**20
            print(f"{args.cycles} sessions opened and closed in {took:.0f} s: RSS {before:,.0f} MB "
                  f"before, {during:,.0f} MB right after, {after:,.0f} MB 40 s later "
                  f"({(after - before) / args.cycles * 1024:,.0f} KB per session kept)")  # fmt: skip
    finally:
        t = time.perf_counter()
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=60)
                print(f"server stopped {time.perf_counter() - t:.1f} s after SIGTERM")
            except subprocess.TimeoutExpired:
                server.kill()
                print("server did not stop within 60 s of SIGTERM: killed")


if __name__ == "__main__":
    main()
