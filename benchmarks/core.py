"""Core benchmarks on N demo customers (default 1,000,000): engine vs raw DuckDB.

    python benchmarks/core.py [--n 1000000] [--repeat 5]

For each operation it prints the engine's median time, the same SQL run straight on a
DuckDB connection, their ratio, and at the end the process's peak memory. Not a test: it
asserts nothing, it measures.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import Store, View, add_demo_customers, bulk_edit, run  # noqa: E402
from dashboard.query import compile_count, compile_groups, compile_pivot, compile_rows, pivot_labels  # noqa: E402


def timed(fn, repeat: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def raw(store: Store, queries) -> None:
    con = store._con  # the benchmark's own look behind the gateway: the raw connection
    for q in queries:
        con.execute(q.sql, q.params).df()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", default=":memory:")
    args = ap.parse_args()

    store = Store(args.db)
    t = time.perf_counter()
    add_demo_customers(store, args.n)
    made = time.perf_counter() - t
    print(f"{args.n:,} demo customers created in {made:.1f} s")
    print(f"{'operation':<46}{'engine ms':>10}{'raw ms':>10}{'ratio':>8}")

    def row(label, engine, queries):
        e = timed(engine, args.repeat)
        r = timed(lambda: raw(store, queries), args.repeat)
        print(f"{label:<46}{e * 1000:>10.1f}{r * 1000:>10.1f}{e / r:>8.2f}")

    page = View(
        filters=[{"field": "country", "op": "in", "value": ["GB", "DE", "US"]}],
        sort=[["name", "asc"]],
        page=3,
    )
    row("page of 50: filter + sort by name (+count)", lambda: run(store, page),
        [compile_rows(page), compile_count(page)])  # fmt: skip
    count_view = View(status="Active", filters=[{"field": "credit", "op": ">", "value": "0"}])
    row("count: Active + credit > 0", lambda: store.scalar(*_args(compile_count(count_view))),
        [compile_count(count_view)])  # fmt: skip
    search_view = View(search="blue", status="Active")
    row("count: quick search (8 columns + contacts)",
        lambda: store.scalar(*_args(compile_count(search_view))),
        [compile_count(search_view)])  # fmt: skip
    groups = View(groups=["status", "country"],
                  values=[["credit", "sum"], ["channels", "avg"], ["flow_speed", "max"]])  # fmt: skip
    row("group by status, country; 3 aggregates", lambda: run(store, groups),
        list(compile_groups(groups)))  # fmt: skip
    pivot = View(groups=["status", "country"], pivot="currency", values=[["credit", "sum"]])
    labels = pivot_labels(store, pivot)
    row("pivot status, country x currency, sum credit", lambda: run(store, pivot),
        list(compile_pivot(pivot, labels)))  # fmt: skip

    usage_rows = store.scalar("SELECT count(*) FROM usage_daily")
    print(f"(daily usage: {usage_rows:,} rows)")
    report = View(source="usage", status="Active", groups=["country"], pivot="month",
                  values=[["revenue", "sum"]])  # fmt: skip
    labels = pivot_labels(store, report)
    row("usage: revenue by country x month, Active", lambda: run(store, report),
        list(compile_pivot(report, labels)))  # fmt: skip
    quality = View(source="usage", groups=["status"], values=[["asr", "avg"], ["acd", "avg"]])
    row("usage: weighted ASR, ACD by status", lambda: run(store, quality),
        list(compile_groups(quality)))  # fmt: skip
    metrics = View(columns=["id", "name", "asr_30d", "acd_30d", "revenue_30d"],
                   sort=[["revenue_30d", "desc"]])  # fmt: skip
    row("page of 50 sorted by 30-day revenue (+count)", lambda: run(store, metrics),
        [compile_rows(metrics), compile_count(metrics)])  # fmt: skip
    from dashboard import sqlbox
    from dashboard.sqlbox import run_sql

    sql = "SELECT country, count(*) FROM customers WHERE status = 'Active' GROUP BY 1"
    box = sqlbox._sandbox(store)  # the benchmark's own look at the sandbox's parts
    t = time.perf_counter()
    box._copy(store, store.change_token()).remove()
    print(f"{'SQL box: copy of the 3 tables (after a change)':<46}"
          f"{(time.perf_counter() - t) * 1000:>10.1f}")  # fmt: skip
    t = time.perf_counter()
    run_sql(store, sql)
    print(f"{'SQL box: first query (copy + worker start)':<46}"
          f"{(time.perf_counter() - t) * 1000:>10.1f}")  # fmt: skip
    row("SQL box: checked + run in the sandbox worker", lambda: run_sql(store, sql),
        [_Raw(sql)])  # fmt: skip
    if args.db != ":memory:":
        from dashboard.snapshot import publish

        t = time.perf_counter()
        publish(store)
        print(
            f"{'snapshot for readers (whole database copy)':<46}{(time.perf_counter() - t) * 1000:>10.1f}"
        )

    ids = [r[0] for r in store.rows("SELECT id FROM customers ORDER BY id LIMIT 100000")]
    t = time.perf_counter()
    batch = bulk_edit(store, ids, {"channels": "+1"})
    e = time.perf_counter() - t
    t = time.perf_counter()
    store._con.execute(
        "UPDATE customers SET channels = channels + 1 WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    )
    r = time.perf_counter() - t
    print(f"{'bulk edit 100,000 (+audit, one transaction)':<46}{e * 1000:>10.1f}{r * 1000:>10.1f}"
          f"{e / r:>8.2f}   ({batch.count:,} changed)")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak:,.0f} MB")


class _Raw:
    def __init__(self, sql):
        self.sql, self.params = sql, []


def _args(q):
    return q.sql, q.params


if __name__ == "__main__":
    main()
