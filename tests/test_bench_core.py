"""benchmarks/core.py on PostgreSQL: its hand-written PostgreSQL answers are the engine's
(the benchmark prints where they differ), so its figures compare like with like."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_benchmark_on_postgres_agrees_with_the_engine(pg_server, pg_demo_template):
    pg_server.admin(f"CREATE DATABASE bench_core TEMPLATE {pg_demo_template}")
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "core.py"), "--db",
             pg_server.url("bench_core"), "--n", "400", "--repeat", "1", "--only", "page",
             "count", "search", "group", "total", "pivot", "usage", "expand", "leaf"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    finally:
        pg_server.admin("DROP DATABASE bench_core WITH (FORCE)")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert out.startswith("PostgreSQL: 400 customers"), out
    for label in ("page + count", "count: Active", "quick search", "group status", "pivot",
                  "usage:", "tree: open Active > GB"):  # fmt: skip
        assert f"\n{label}" in out, out
    assert "differs" not in out and "the engine found" not in out, out
    assert "the engine counted" not in out, out
    assert "the Postgres cluster" in out, out  # the server's CPU was counted


def test_the_served_benchmark_gives_a_database_without_rates_the_demo_rates(tmp_path):
    """benchmarks/served.py on a database without exchange rates adds the demo's, once, so
    that its money columns are shown converted (a sum over currencies in the base
    currency, not "per currency")."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import served
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from dashboard import Store, View, add_demo_customers, run
    from dashboard.money import base_currency

    db = tmp_path / "bench.duckdb"
    with Store(db) as store:
        add_demo_customers(store, 40, seed=3, usage_days=0)  # customers, no rates
    served.ensure_db(db, 40)
    served.ensure_db(db, 40)
    base = base_currency()
    with Store(db, read_only=True) as store:
        currencies = {c for (c,) in store.rows("SELECT DISTINCT currency FROM customers")}
        rated = dict(store.rows("SELECT currency, count(*) FROM rates GROUP BY 1"))
        assert currencies - {base} <= set(rated) and set(rated.values()) == {1}
        result = run(store, View(groups=["status"], values=[["credit", "sum"]]))
        assert result.units["sum_credit"] == base, result.units
