"""Bulk writes on PostgreSQL: after a copy, demo data or a large import the planner's
statistics and the visibility map are fresh (`Store.settle`), and `copy` writes no SQL
from a table name it does not know."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from dashboard import Store, add_demo_customers
from dashboard.errors import UserError


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def _settled(url: str, table: str) -> dict:
    """What Postgres's catalogue says of `table`: its estimated rows and pages (all and
    all-visible), and when it was last vacuumed and analysed."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.reltuples, c.relpages, c.relallvisible, s.last_vacuum, "
            "coalesce(s.last_analyze, s.last_autoanalyze) FROM pg_class c "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = %s",
            [table],
        ).fetchone()
    keys = ("reltuples", "relpages", "relallvisible", "last_vacuum", "last_analyze")
    return dict(zip(keys, rows, strict=True))


def test_a_copy_into_postgres_leaves_fresh_statistics_and_visible_pages(pg_url, tmp_path):
    duck = tmp_path / "c.duckdb"
    with Store(duck, user="tester") as d:
        add_demo_customers(d, 3000, seed=5, usage_days=0)
        contacts = d.scalar("SELECT count(*) FROM contacts")
    done = cli("copy", "--from", str(duck), "--to", pg_url)
    assert done.returncode == 0, done.stderr
    # (whether VACUUM could mark every page all-visible depends on what autovacuum was
    # doing meanwhile, so relallvisible is not asserted)
    for table, rows in (("customers", 3000), ("contacts", contacts)):
        seen = _settled(pg_url, table)
        assert seen["last_analyze"] is not None and seen["last_vacuum"] is not None, seen
        assert abs(seen["reltuples"] - rows) <= rows * 0.05, seen  # the planner knows the rows
    for table in ("customer_search", "search_token", "search_vocab"):
        assert _settled(pg_url, table)["last_vacuum"] is not None, table


def test_a_large_import_into_postgres_settles_the_tables_it_wrote(pg_url, tmp_path):
    from dashboard.importer import import_file
    from dashboard.store import SETTLE_ROWS

    path = tmp_path / "many.csv"
    lines = ["Customer Name,Country,Currency,Contact Email"]
    lines += [f"Imported {i} Ltd,GB,GBP,c{i}@imported.example" for i in range(SETTLE_ROWS)]
    path.write_text("\n".join(lines) + "\n")
    with Store(pg_url, user="tester") as s:
        _, batch = import_file(s, path)
        assert batch is not None and batch.count == SETTLE_ROWS
    seen = _settled(pg_url, "customers")
    assert seen["last_vacuum"] is not None and seen["last_analyze"] is not None, seen
    assert abs(seen["reltuples"] - SETTLE_ROWS) <= SETTLE_ROWS * 0.05, seen


def test_a_small_import_leaves_vacuum_to_autovacuum(pg_url, tmp_path):
    from dashboard.importer import import_file

    path = tmp_path / "few.csv"
    path.write_text("Customer Name,Country,Currency\nFew One Ltd,GB,GBP\n")
    with Store(pg_url, user="tester") as s:
        import_file(s, path)
    assert _settled(pg_url, "customers")["last_vacuum"] is None


def test_copy_refuses_a_table_it_does_not_know_and_writes_nothing(pg_url, tmp_path):
    duck = tmp_path / "c.duckdb"
    with Store(duck, user="tester") as d:
        add_demo_customers(d, 20, seed=5, usage_days=0)
    with duckdb.connect(str(duck)) as con:  # a table the schema does not have
        con.execute('CREATE TABLE "x; DROP TABLE customers --" (a INTEGER)')
        con.execute('INSERT INTO "x; DROP TABLE customers --" VALUES (1)')
    done = cli("copy", "--from", str(duck), "--to", pg_url)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "does not know ('x; DROP TABLE customers --')" in done.stderr, done.stderr
    assert "drop or rename" in done.stderr
    with Store(pg_url) as s:
        assert s.scalar("SELECT count(*) FROM customers") == 0


@pytest.mark.both_backends
def test_settle_names_only_the_schemas_tables(store):
    store.settle(["customers", "contacts", "search_token"])  # (DuckDB: nothing to do)
    with pytest.raises(UserError, match="unknown table 'pg_authid'"):
        store.settle(["customers", "pg_authid"])


def test_lists_of_text_reach_postgres_whole_by_copy(pg_url):
    """Lists of text (tags) go to COPY as array literals: quotes, backslashes, commas,
    braces, spaces, NULL elements, empty and NULL lists all arrive as they were, in a
    slice of a table as in a whole one."""
    import pyarrow as pa

    lists = [["a", "b"], None, [], ['x"y', "back\\slash", None, "c,d", "{e}", " sp ", "NULL"],
             ["é, ü"], ["last"]]  # fmt: skip
    table = pa.table({"n": list(range(len(lists))), "tags": pa.array(lists, pa.list_(pa.string()))})
    with Store(pg_url, user="tester") as s:
        cur = s.cursor()
        cur.register("_lists", table.slice(1))  # (a slice: its offsets do not start at 0)
        got = cur.execute("SELECT n, tags FROM _lists ORDER BY n").fetchall()
    assert got == [(n, lists[n]) for n in range(1, len(lists))]
