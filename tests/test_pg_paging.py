"""Deep pages on PostgreSQL: a page past `query.SEEK_PAST` rows is read by seeking from its
first row (found over the sort key and id alone), and holds the rows OFFSET gives, whatever
the sort, ties, NULLs, filters and page size."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import Store, View, add_demo_customers, query, run
from dashboard.query import compile_rows

SORTS = ([], ["name"], ["-name"], ["status"], ["-status"], ["country"], ["-country"],
         ["created_at"], ["-created_at"], ["-updated_at"], ["channels"], ["name", "id"])  # fmt: skip
FILTERS = ([], [["status", "=", "Active"]], [["country", "in", ["GB", "DE", "US"]]])


@pytest.fixture(scope="module")
def ties(pg_server, tmp_path_factory):
    """A Postgres database of 300 customers whose sort keys tie and hold NULLs (a fifth
    of the countries, a third of the update times; creation times in 7 values)."""
    from dashboard.pgstore import copy_tables

    duck = Store(tmp_path_factory.mktemp("ties") / "c.duckdb", user="tester")
    add_demo_customers(duck, 300, seed=11, usage_days=0)
    duck.execute("UPDATE customers SET country = NULL WHERE id % 5 = 0")
    duck.execute("UPDATE customers SET updated_at = NULL WHERE id % 3 = 0")
    duck.execute("UPDATE customers SET created_at = TIMESTAMP '2024-01-01' + "
                 "INTERVAL (id % 7) DAY")  # fmt: skip
    pg_server.admin("DROP DATABASE IF EXISTS deeppages WITH (FORCE)")
    pg_server.admin("CREATE DATABASE deeppages TEMPLATE cd_template")
    with Store(pg_server.url("deeppages"), user="tester") as pg:
        copy_tables(duck, pg)
    duck.close()
    store = Store(pg_server.url("deeppages"), user="tester")
    yield store
    store.close()
    pg_server.admin("DROP DATABASE IF EXISTS deeppages WITH (FORCE)")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(sort=st.sampled_from(SORTS), filters=st.sampled_from(FILTERS),
       size=st.sampled_from([1, 7, 20, 50]), page=st.integers(1, 320), data=st.data())  # fmt: skip
def test_a_deep_page_holds_the_offset_pages_rows(ties, sort, filters, size, page, data):
    view = View(sort=sort, filters=filters, page_size=size, page=page)
    seek_past = data.draw(st.sampled_from([0, 5, 30]))
    was = query.SEEK_PAST
    query.SEEK_PAST = seek_past
    try:
        got = run(ties, view, key=True)
    finally:
        query.SEEK_PAST = was
    want = compile_rows(view, key=True).run(ties)
    pd.testing.assert_frame_equal(got.data, want)
    indexed = len(sort) < 2 and (not sort or sort[0].lstrip("-") != "channels")
    assert ("LIMIT 1 OFFSET" in got.sql) == (indexed and (page - 1) * size >= seek_past), got.sql


def test_a_deep_page_is_sought_only_past_seek_past_rows(ties):
    near = run(ties, View(sort=["name"], page=2))
    assert "LIMIT 1 OFFSET" not in near.sql and near.sql.endswith("LIMIT ? OFFSET ?")
    far = View(sort=["name"], page=query.SEEK_PAST // 50 + 2)
    assert "LIMIT 1 OFFSET" in query._deep_page(far).sql
    with Store(":memory:") as duck:  # DuckDB: OFFSET at any depth
        assert run(duck, far).sql.endswith("LIMIT ? OFFSET ?")


def test_the_seek_reads_the_sort_index_from_the_pages_first_row(ties):
    """The page is read from an index range (a seek to its first row's key), not by
    reading the table in order from its start."""
    q = query._deep_page(View(sort=["name"], page=query.SEEK_PAST // 50 + 2))
    cur = ties.cursor()
    cur.execute("SET enable_seqscan = off")
    try:
        plan = "\n".join(r[0] for r in cur.execute("EXPLAIN " + q.sql, q.params).fetchall())
    finally:
        cur.execute("RESET enable_seqscan")
    # the first row found in the index alone, the page from an index range starting there
    assert "Index Only Scan using customers_name_sort" in plan, plan
    assert "Index Cond: ((name)::text >= ($1)::text)" in plan, plan
