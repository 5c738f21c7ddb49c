"""Load test: many concurrent dashboard sessions without a browser (Bokeh's client API).

    python benchmarks/load.py [--n 1000000] [--sessions 20] [--rounds 5] [--cycles 200]

Starts `customer-dashboard serve` on a database of N demo customers, opens SESSIONS client
sessions at once (each one a real server session: the page is built, queries run), and has
each do ROUNDS of: change page, quick search, Active filter, open a pivot. A change is timed
from setting the widget's value in the client document to the server's answer to a
round-trip request sent right after it (the server handles a session's messages in order,
so the answer comes once the query has run and its result was sent). Prints p50/p95 per
action and the server's memory; then opens and closes CYCLES sessions one after another and
prints the server's memory once the server has discarded them. Not a test: it measures.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the client must know Panel's and Material UI's models to read the server's document
import panel.models.esm  # noqa: E402,F401
import panel.models.layout  # noqa: E402,F401
import panel.models.location  # noqa: E402,F401
import panel.models.markup  # noqa: E402,F401
import panel.models.tabulator  # noqa: E402,F401
import panel.models.widgets  # noqa: E402,F401
import panel_material_ui  # noqa: E402,F401
import psutil  # noqa: E402
from bokeh.client import pull_session  # noqa: E402

from dashboard import Store, View, add_demo_customers  # noqa: E402

WORDS = ["blue", "star", "telecom", "voice", "ridge", "cloud", "media", "gmbh", "ltd", "wave"]


def _models(session, kind):
    """Models of one kind: Material UI's are named with a number after them (Select1)."""
    return [m for m in session.document.models if re.fullmatch(rf"{kind}\d*", type(m).__name__)]


def _grid_rows(session):
    return max(len(t.source.data.get("index", [])) for t in _models(session, "DataTabulator"))


def timed(session, model, prop, value):
    t = time.perf_counter()
    setattr(model, prop, value)
    session.force_roundtrip()
    return time.perf_counter() - t


def worker(url, rounds, results, errors, start):
    try:
        start.wait()
        t = time.perf_counter()
        session = pull_session(url=url + "/")
        results["open"].append(time.perf_counter() - t)
        pager = [p for p in _models(session, "Pagination") if p.count > 1][0]
        search = [m for m in _models(session, "TextInput") if m.label == "Search"][0]
        status = [m for m in _models(session, "Select") if m.label == "Active"][0]
        rnd = random.Random(id(session))
        for _ in range(rounds):
            results["page"].append(timed(session, pager, "value", rnd.randrange(1, 200)))
            results["search"].append(timed(session, search, "value", rnd.choice(WORDS)))
            results["status"].append(timed(session, status, "value", rnd.choice(
                ["Active", "Inactive", "Pending Approval"])))  # fmt: skip
            timed(session, search, "value", "")
            assert _grid_rows(session) > 0
        session.close()
        # a pivot is opened from its link (a new session), as a report reader does
        view = View(groups=["status", "country"], pivot="currency", values=[["credit", "sum"]])
        for _ in range(max(1, rounds // 2)):
            t = time.perf_counter()
            s = pull_session(url=url + "/", arguments={"view": view.to_json()})
            s.force_roundtrip()
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
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--db", help="an existing database (default: a new one in a temp folder)")
    args = ap.parse_args()
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "customers.duckdb"
    if not db.exists():
        t = time.perf_counter()
        with Store(db) as store:
            add_demo_customers(store, args.n)
        print(f"{args.n:,} demo customers in {time.perf_counter() - t:.1f} s")
    port = 5600 + os.getpid() % 300
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CUSTOMER_DASHBOARD_POLL_MS": "2000"}
    server = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "serve", "--db", str(db),
                               "--port", str(port), "--demo", "0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/guide", timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        proc = psutil.Process(server.pid)
        me = psutil.Process()
        base = proc.memory_info().rss / 2**20
        cpu_server0, cpu_client0 = sum(proc.cpu_times()[:2]), sum(me.cpu_times()[:2])
        print(f"server up; RSS {base:,.0f} MB")
        results = {k: [] for k in ("open", "page", "search", "status", "open pivot")}
        errors: list[str] = []
        start = threading.Event()
        threads = [threading.Thread(target=worker, args=(url, args.rounds, results, errors, start))
                   for _ in range(args.sessions)]  # fmt: skip
        peak = [base]

        def watch():
            while any(t.is_alive() for t in threads):
                peak[0] = max(peak[0], proc.memory_info().rss / 2**20)
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
        cpu_server = sum(proc.cpu_times()[:2]) - cpu_server0
        cpu_client = sum(me.cpu_times()[:2]) - cpu_client0
        print(f"{args.sessions} concurrent sessions x {args.rounds} rounds on {args.n:,} "
              f"customers, {wall:.1f} s wall; errors: {len(errors)}")  # fmt: skip
        print(f"CPU: server {cpu_server:.0f} s, load generator {cpu_client:.0f} s "
              f"(2 cores: {2 * wall:.0f} core-seconds available)")  # fmt: skip
        for e in errors[:5]:
            print("  ", e)
        print(f"{'action':<14}{'count':>7}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
        for k, xs in results.items():
            if xs:
                print(f"{k:<14}{len(xs):>7}{pct(xs, 50) * 1000:>10.0f}{pct(xs, 95) * 1000:>10.0f}"
                      f"{max(xs) * 1000:>10.0f}")  # fmt: skip
        print(f"server RSS: {base:,.0f} MB idle, {peak[0]:,.0f} MB peak under load")
        if args.cycles:
            before = proc.memory_info().rss / 2**20
            t = time.perf_counter()
            for _ in range(args.cycles):
                s = pull_session(url=url + "/")
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
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
