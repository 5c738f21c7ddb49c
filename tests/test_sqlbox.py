"""The SQL box: read-only SELECTs over the customer tables run; everything else is refused
with a clear message and changes nothing."""

from __future__ import annotations

import pytest

from dashboard import UserError
from dashboard.sqlbox import MAX_ROWS, run_sql


def test_a_select_runs_and_matches_the_engine(demo):
    result = run_sql(demo, "SELECT status, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1;")
    counts = dict(demo.rows("SELECT status, count(*) FROM customers GROUP BY 1"))
    assert dict(zip(result.data.status, result.data.n, strict=True)) == counts
    assert not result.truncated


def test_joins_ctes_and_usage(demo):
    sql = """WITH top AS (SELECT customer_id, sum(revenue) AS revenue FROM usage_daily
             GROUP BY 1 ORDER BY 2 DESC LIMIT 3)
             SELECT c.name, t.revenue, (SELECT count(*) FROM contacts k
             WHERE k.customer_id = c.id) AS contacts FROM top t JOIN customers c ON c.id =
             t.customer_id ORDER BY t.revenue DESC"""
    result = run_sql(demo, sql)
    assert len(result.data) == 3
    assert result.data.revenue.is_monotonic_decreasing


def test_rows_are_capped(demo):
    result = run_sql(demo, "SELECT * FROM usage_daily")
    assert len(result.data) == MAX_ROWS and result.truncated
    assert len(run_sql(demo, "SELECT * FROM usage_daily", limit=None).data) > MAX_ROWS


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM customers", "only a SELECT"),
        ("UPDATE customers SET credit = 0", "only a SELECT"),
        ("DROP TABLE customers", "only a SELECT"),
        ("INSERT INTO contacts (customer_id, position) VALUES (1, 9)", "only a SELECT"),
        ("CREATE TABLE x AS SELECT * FROM customers", "only a SELECT"),
        ("COPY customers TO '/tmp/leak.csv'", "only a SELECT"),
        ("COPY (SELECT * FROM customers) TO '/tmp/leak.parquet'", "only a SELECT"),
        ("ATTACH '/tmp/other.duckdb' AS o", "only a SELECT"),
        ("DETACH memory", "only a SELECT"),
        ("INSTALL httpfs", "only a SELECT"),
        ("LOAD httpfs", "only a SELECT"),
        ("PRAGMA database_list", "only a SELECT"),
        ("SET enable_external_access = true", "only a SELECT"),
        ("CALL duckdb_settings()", "only a SELECT"),
        ("EXPORT DATABASE '/tmp/out'", "only a SELECT"),
        ("SELECT 1; DELETE FROM customers", "only a SELECT"),
        ("SELECT 1; SELECT 2", "one query at a time"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table functions such as read_csv"),
        ("SELECT * FROM read_text('/etc/hostname')", "read_text"),
        ("SELECT * FROM '/etc/passwd'", "'/etc/passwd' cannot be read"),
        ("SELECT * FROM 'data/customers.duckdb'", "cannot be read"),
        ("SELECT * FROM glob('/*')", "glob"),
        (
            "SELECT name FROM customers WHERE id IN (SELECT * FROM read_csv('/etc/passwd'))",
            "read_csv",
        ),
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT current_setting('temp_directory')", "current_setting"),
        ("SELECT * FROM batches", "'batches' cannot be read"),
        ("SELECT * FROM audit_log", "'audit_log' cannot be read"),
        ("SELECT * FROM messages", "'messages' cannot be read"),
        ("SELECT * FROM information_schema.tables", "cannot be read"),
        ("SELECT * FROM duckdb_tables()", "table functions"),
        ("SELECT * FROM other.main.customers", "cannot be read"),
        ("SELECT * FROM query('DELETE FROM customers')", "table functions"),
        ("", "write a SELECT"),
        ("SELEC name FROM customers", "does not parse"),
    ],
)
def test_anything_else_is_refused(demo, sql, message):
    before = demo.rows("SELECT count(*), sum(credit) FROM customers")
    with pytest.raises(UserError, match=message):
        run_sql(demo, sql)
    assert demo.rows("SELECT count(*), sum(credit) FROM customers") == before


def test_runtime_errors_are_messages_not_tracebacks(demo):
    with pytest.raises(UserError, match="the query failed: .*no_such_column"):
        run_sql(demo, "SELECT no_such_column FROM customers")
