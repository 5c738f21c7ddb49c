"""The HTTP API's throughput and streaming, against a real `serve` on loopback.

    python benchmarks/api.py [--customers 100000] [--clients 10] [--seconds 15]

1. how soon an open page's session has an API PATCH's new rows (p50, max), then
   single-customer reads (GET /customers/{id}) and updates (PATCH with If-Match) from
   `--clients` concurrent clients, each its own token's user: requests/s, p50 and p95;
2. the whole customer table of a 1,000,000-row database as an Arrow IPC stream: time,
   size and the server's peak RSS (and what it started at).

Prints the load average too: on a shared machine single figures move a lot.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import Store, add_demo_customers  # noqa: E402
from dashboard.remote import endpoint_file  # noqa: E402
from tests.browser import free_port  # noqa: E402


def serve(db: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # pages are told of writes as they commit; a rare poll shows that push alone
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUSTOMER_DASHBOARD_POLL_MS": "600000"}
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "serve", "--db", str(db),
                             "--port", str(port), "--demo", "0", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if endpoint_file(db).exists():
            try:
                urllib.request.urlopen(url + "/api/v1/openapi.json", timeout=2).read()
                return proc, url
            except OSError:
                pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        print("the server did not stop within 60 s of SIGTERM; killed")
        proc.kill()


def request(url: str, token: str, method: str = "GET", body: dict | None = None,
            headers: dict | None = None) -> tuple[int, bytes]:  # fmt: skip
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def load(url: str, tokens: list[str], ids: list[int], seconds: float, write: bool) -> None:
    times: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(token: str, seed: int) -> None:
        rnd = random.Random(seed)
        while time.monotonic() < stop:
            cid = rnd.choice(ids)
            started = time.perf_counter()
            status, body = request(f"{url}/api/v1/customers/{cid}", token)
            if write and status == 200:
                version = json.loads(body)["row_version"]
                status, _ = request(f"{url}/api/v1/customers/{cid}", token, "PATCH",
                                    {"channels": rnd.randrange(1000)},
                                    {"If-Match": f'"{version}"'})  # fmt: skip
            took = time.perf_counter() - started
            with lock:
                times.append(took)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(t, i)) for i, t in enumerate(tokens)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    times.sort()
    what = "read + update (GET then PATCH If-Match)" if write else "read (GET one customer)"
    p95 = times[int(len(times) * 0.95) - 1] if times else float("nan")
    print(f"{what}, {len(tokens)} clients: {len(times) / took:.0f} ops/s, "
          f"p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"answers {statuses}")  # fmt: skip


def push(url: str, token: str, rounds: int = 10) -> None:
    """An open page's session (Bokeh's client, as a browser drives it) and PATCHes through
    the API: seconds from each PATCH sent until the session's grid had the new rows (the
    server tells open pages as the write commits; its poll is every 10 minutes here)."""
    import dashboard.ui.app  # noqa: F401 - the page's own models, which the client must know
    from tests.bokeh_client import GridWatch, customer_grid, open_session

    session = open_session(url)
    try:
        watch = GridWatch(session)
        cid = int(customer_grid(session).source.data["id"][0])
        conn = session._connection  # no public way to wait for a server-sent change
        delays = []
        for i in range(rounds):
            status, body = request(f"{url}/api/v1/customers/{cid}", token)
            version = json.loads(body)["row_version"]
            watch.seen.clear()
            began = time.perf_counter()
            status, _ = request(f"{url}/api/v1/customers/{cid}", token, "PATCH",
                                {"channels": 100 + i}, {"If-Match": f'"{version}"'})  # fmt: skip
            timer = conn._loop.call_later(30, conn._loop.stop)
            try:
                conn._loop_until(watch.seen.is_set)
            finally:
                conn._loop.remove_timeout(timer)
            if watch.seen.is_set():
                delays.append(time.perf_counter() - began)
            time.sleep(0.5)
        delays.sort()
        print(f"API PATCH sent until an open session's grid had the new rows: "
              f"{len(delays)}/{rounds} seen, p50 {statistics.median(delays) * 1000:.0f} ms, "
              f"max {delays[-1] * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        session.close()


def throughput(args: argparse.Namespace, folder: Path) -> None:
    from dashboard.tokens import add_token
    from dashboard.users import add_user

    db = folder / "small.duckdb"
    started = time.time()
    with Store(db) as store:
        add_demo_customers(store, args.customers, usage_days=0)
        tokens = []
        for i in range(args.clients):
            add_user(store, f"client{i}", "editor", "a long enough password")
            tokens.append(add_token(store, f"client{i}")[1])
        ids = [i for (i,) in store.rows("SELECT id FROM customers")]
    print(f"{args.customers:,} customers made in {time.time() - started:.0f} s")
    proc, url = serve(db, "--api-rate", "0")
    try:
        push(url, tokens[0])
        load(url, tokens, ids, args.seconds, write=False)
        print(f"  load average {os.getloadavg()[0]:.1f}")
        load(url, tokens, ids, args.seconds, write=True)
        print(f"  load average {os.getloadavg()[0]:.1f}")
    finally:
        stop(proc)


def watch(server, peak: list[int], done: threading.Event) -> None:
    """Keep the server's peak RSS in peak[0] until `done`."""
    while not done.is_set():
        peak[0] = max(peak[0], server.memory_info().rss)
        time.sleep(0.02)


def arrow(folder: Path) -> None:
    import psutil
    import pyarrow as pa

    db = folder / "million.duckdb"
    with Store(db) as store:
        add_demo_customers(store, 1, usage_days=0)
        store.execute_write(
            "INSERT INTO customers (name, status, currency, channels, credit, country, tags, "
            "name_key, created_at, updated_at) SELECT 'Customer ' || i, 'Active', 'USD', "
            "i % 1000, (i % 100000) / 100.0, 'GB', ['x'], 'customer ' || i, now(), now() "
            "FROM range(1000000) t(i)"
        )
    proc, url = serve(db)
    try:
        token = json.loads(endpoint_file(db).read_text())["token"]
        server = psutil.Process(proc.pid)
        for attempt in ("first (cold cache)", "second"):
            start = server.memory_info().rss
            peak = [start]
            done = threading.Event()

            threading.Thread(target=watch, args=(server, peak, done), daemon=True).start()
            req = urllib.request.Request(url + "/api/v1/views/run?format=arrow",
                                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            began = time.perf_counter()
            rows = size = 0
            with urllib.request.urlopen(req, timeout=600) as answer:
                for batch in pa.ipc.open_stream(answer):
                    rows += batch.num_rows
                    size += batch.nbytes
            took = time.perf_counter() - began
            done.set()
            mib = 2**20
            print(f"Arrow stream of {rows:,} rows ({size / mib:.0f} MiB), {attempt}: "
                  f"{took:.1f} s; server RSS {start / mib:.0f} -> peak {peak[0] / mib:.0f} MiB; "
                  f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        stop(proc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=100_000, help="customers for throughput")
    p.add_argument("--clients", type=int, default=10, help="concurrent clients")
    p.add_argument("--seconds", type=float, default=15, help="each throughput run")
    p.add_argument("--skip-arrow", action="store_true", help="no 1,000,000-row stream")
    args = p.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        throughput(args, Path(tmp))
        if not args.skip_arrow:
            arrow(Path(tmp))


if __name__ == "__main__":
    main()
