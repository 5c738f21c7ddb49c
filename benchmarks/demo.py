"""Demo data's cost, phase by phase: CPU seconds of each statement `add_demo_customers` runs.

    python benchmarks/demo.py [--n 1000000] [--db FILE] [--memory]

Every statement the demo maker sends (customers, contacts, the quick search's text and
words, usage, commit) is timed in CPU seconds of this process (DuckDB's threads count in
it: on a shared 2-core machine wall time moves with other jobs' load), summed by phase,
and printed with the extrapolation to 10,000,000 customers (issue 17: under 3 minutes).
Not a test: it asserts nothing, it measures.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import Store, add_demo_customers  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


#: The phase a statement belongs to, by the first of these its text holds.
PHASES = (
    ("INSERT INTO customers", "customers"),
    ("CREATE TEMP TABLE _demo_rows", "demo rows"),
    ("CREATE TEMP TABLE _demo", "demo names"),
    ("INSERT INTO contacts", "contacts"),
    ("INSERT INTO customer_search", "search text"),
    ("search_token", "search words"),
    ("search_vocab", "search words"),
    ("_grouped_words", "search words"),
    ("INSERT INTO usage_daily", "usage"),
    ("COMMIT", "commit"),
)


class _Timed:
    """A cursor that times each statement (in CPU seconds) into `spent`."""

    def __init__(self, cur, spent: dict[str, float]):
        self._cur, self._spent = cur, spent

    def execute(self, sql, *args):
        phase = next((p for key, p in PHASES if key in sql), "other")
        t0 = _cpu()
        try:
            self._cur.execute(sql, *args)
        finally:
            self._spent[phase] = self._spent.get(phase, 0.0) + _cpu() - t0
        return self

    def __getattr__(self, name):
        return getattr(self._cur, name)


def main() -> None:
    """Make `--n` demo customers once and print each phase's CPU seconds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="demo customers")
    ap.add_argument("--db", help="database file (default: a temporary one)")
    ap.add_argument("--memory", action="store_true", help="an in-memory database")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = ":memory:" if args.memory else (args.db or os.path.join(tmp.name, "demo.duckdb"))
    spent: dict[str, float] = {}
    with Store(path, user="admin") as store:
        plain = store.cursor
        store.cursor = lambda: _Timed(plain(), spent)
        c0, w0 = _cpu(), time.perf_counter()
        added = add_demo_customers(store, args.n)
        cpu, wall = _cpu() - c0, time.perf_counter() - w0
    tmp.cleanup()
    print(f"{added:,} demo customers: {cpu:.1f} s CPU, {wall:.1f} s wall")
    print(f"{'phase':<14} {'CPU s':>7} {'at 10M':>8}")
    scale = 10_000_000 / args.n
    for phase, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{phase:<14} {s:7.2f} {s * scale:8.1f}")
    rest = cpu - sum(spent.values())
    print(f"{'(python)':<14} {rest:7.2f} {rest * scale:8.1f}")
    print(f"{'total':<14} {cpu:7.2f} {cpu * scale:8.1f}   (target at 10M: 180 s)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
