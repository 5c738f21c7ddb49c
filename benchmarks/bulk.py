"""Bulk Upload and Bulk Edit at scale: parse + validate + commit, with peak memory.

    python benchmarks/bulk.py [--xlsx-rows 100000] [--csv-rows 1000000]

Each stage runs in a process of its own, so each peak memory figure is that stage's.
Files are made from demo data (exported through the product's own export, so the headers
are the canonical names the importer maps back).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = ["name", "status", "channels", "flow_speed", "debit_limit", "currency", "country",
           "city", "tags", "paypal_email", "website"]  # fmt: skip


def stage(kind: str, path: str, n: int) -> dict:
    from dashboard import Store, View, add_demo_customers, bulk_edit, export_view
    from dashboard.importer import Plan, commit, guess_mapping, prepare, read_table

    out: dict = {"stage": kind, "rows": n}
    if kind in ("make-xlsx", "make-csv"):
        with Store(":memory:") as s:
            add_demo_customers(s, n, seed=99)
            t = time.perf_counter()
            export_view(s, View(columns=COLUMNS), path)
            out["seconds"] = time.perf_counter() - t
    elif kind in ("import-xlsx", "import-csv"):
        with Store(":memory:") as s:
            t0 = time.perf_counter()
            table = read_table(path, max_bytes=2**31)
            t1 = time.perf_counter()
            preview = prepare(s, table, Plan(guess_mapping(table.headers)))
            t2 = time.perf_counter()
            batch = commit(s, preview)
            t3 = time.perf_counter()
            out.update(read=t1 - t0, validate=t2 - t1, commit=t3 - t2, seconds=t3 - t0,
                       written=batch.count, problems=len(preview.problems))  # fmt: skip
    elif kind == "bulk-edit":
        with Store(":memory:") as s:
            add_demo_customers(s, max(n, 200_000))
            ids = [r[0] for r in s.rows("SELECT id FROM customers ORDER BY id LIMIT ?", [n])]
            t = time.perf_counter()
            batch = bulk_edit(s, ids, {"flow_speed": "*1.2, at most 50"})
            out.update(seconds=time.perf_counter() - t, changed=batch.count)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run(kind: str, path: str, n: int) -> dict:
    r = subprocess.run([sys.executable, __file__, "--stage", kind, "--path", path, "--n", str(n)],
                       capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--xlsx-rows", type=int, default=100_000)
    ap.add_argument("--csv-rows", type=int, default=1_000_000)
    ap.add_argument("--edit-rows", type=int, default=100_000)
    ap.add_argument("--stage")
    ap.add_argument("--path")
    ap.add_argument("--n", type=int)
    args = ap.parse_args()
    if args.stage:
        print(json.dumps(stage(args.stage, args.path, args.n)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        xlsx, csv = str(Path(tmp) / "c.xlsx"), str(Path(tmp) / "c.csv")
        made = run("make-xlsx", xlsx, args.xlsx_rows)
        print(f"made a {args.xlsx_rows:,}-row xlsx ({Path(xlsx).stat().st_size / 2**20:.1f} MB) "
              f"in {made['seconds']:.1f} s")  # fmt: skip
        r = run("import-xlsx", xlsx, args.xlsx_rows)
        print(f"import {args.xlsx_rows:,}-row xlsx: {r['seconds']:.1f} s (read {r['read']:.1f}, "
              f"validate {r['validate']:.1f}, commit {r['commit']:.1f}); {r['written']:,} written; "
              f"peak {r['peak_mb']:,.0f} MB")  # fmt: skip
        run("make-csv", csv, args.csv_rows)
        r = run("import-csv", csv, args.csv_rows)
        print(f"import {args.csv_rows:,}-row csv ({Path(csv).stat().st_size / 2**20:.0f} MB): "
              f"{r['seconds']:.1f} s (read {r['read']:.1f}, validate {r['validate']:.1f}, "
              f"commit {r['commit']:.1f}); {r['written']:,} written; peak {r['peak_mb']:,.0f} MB")  # fmt: skip
    r = run("bulk-edit", "", args.edit_rows)
    print(f"bulk edit {args.edit_rows:,} customers (CPS x1.2, at most 50): {r['seconds']:.2f} s; "
          f"{r['changed']:,} changed; peak {r['peak_mb']:,.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
