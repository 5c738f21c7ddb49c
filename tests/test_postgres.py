"""PostgreSQL as the second engine: opening by URL, the dialect's translation, the CLI, the
bulk copy from DuckDB, and two processes migrating one new database at once."""

from __future__ import annotations

import subprocess
import sys
import threading
from decimal import Decimal

import duckdb
import pytest

from dashboard import Store, add_customer, get_customer
from dashboard.dialect import POSTGRES, UnsupportedSQL
from dashboard.errors import UserError

# --- the translation (no server needed) -------------------------------------------------


@pytest.mark.parametrize(("duck", "pg"), [
    ("SELECT a FROM t WHERE b = ? AND c ILIKE '%x%' AND d % 2 = 0",
     "SELECT a FROM t WHERE b = %s AND c ILIKE '%%x%%' AND d %% 2 = 0"),
    ("SELECT tags || ['x'], [], t[1] FROM c", "SELECT tags || ARRAY['x'], ARRAY[], t[1] FROM c"),
    ("DROP TABLE IF EXISTS temp._t", "DROP TABLE IF EXISTS pg_temp._t"),
    ("SELECT 1::UTINYINT, CAST(2 AS DOUBLE)", "SELECT 1::SMALLINT, CAST(2 AS DOUBLE PRECISION)"),
    ("SELECT * FROM (SELECT 1 AS x) WHERE x > 0", "SELECT * FROM (SELECT 1 AS x) AS _q1 WHERE x > 0"),
    ("SELECT a, count(*) FROM t GROUP BY ALL", "SELECT a, count(*) FROM t GROUP BY 1"),
    ("SELECT arg_max(a, b) FROM t",
     "SELECT (array_agg(a ORDER BY b DESC) FILTER (WHERE (b) IS NOT NULL))[1] FROM t"),
    ("SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY a) = 1 ORDER BY a",
     "SELECT a FROM (SELECT *, (row_number() OVER (PARTITION BY a) = 1) AS _keep FROM t) "
     "AS _qualified WHERE _keep ORDER BY a"),
    ("SELECT json_object('k', ?)", "SELECT json_build_object('k', %s)"),
])  # fmt: skip
def test_duckdb_sql_is_translated_keeping_the_parameters_in_order(duck, pg):
    assert POSTGRES.translate(duck) == [pg]
    assert pg.replace("%%", "").count("%s") == duck.count("?")


def test_create_or_replace_table_becomes_drop_and_create():
    assert POSTGRES.translate("CREATE OR REPLACE TABLE s (f VARCHAR)") == [
        "DROP TABLE IF EXISTS s", "CREATE TABLE s (f VARCHAR)"]  # fmt: skip


@pytest.mark.parametrize("sql", [
    "SELECT list_filter(tags, lambda x: x <> 'a') FROM customers",
    "SELECT json_transform(j, '{}') FROM t",
    "ATTACH 'x.duckdb' AS x",
    "COPY (SELECT 1) TO '/tmp/x.csv' (FORMAT csv)",
    "SELECT to_seconds(1)",
])  # fmt: skip
def test_duckdb_only_sql_is_refused_by_name_not_sent(sql):
    with pytest.raises(UnsupportedSQL, match="PostgreSQL"):
        POSTGRES.translate(sql)


# --- on a server --------------------------------------------------------------------------


def test_a_url_opens_a_postgres_store_behind_the_same_interface(pg_url):
    from dashboard.pgstore import PostgresStore

    with Store(pg_url, user="tester") as s:
        assert isinstance(s, PostgresStore) and isinstance(s, Store)
        batch = add_customer(s, {"name": "Pg Co", "currency": "EUR", "tags": "a, b"})
        c = get_customer(s, batch.ids[0])
        assert (c["name"], c["tags"], c["contacts"]) == ("Pg Co", ["a", "b"], [])
        # a duplicate that reaches the database is the engine's constraint error, which
        # the services turn into their "already used" message
        with pytest.raises(duckdb.ConstraintException), s.transaction() as cur:
            cur.execute("INSERT INTO customers (name, name_key, status, currency) "
                        "VALUES ('PG CO', 'pg co', 'Active', 'EUR')")  # fmt: skip
        assert s.scalar("SELECT count(*) FROM customers") == 1


def test_an_unreachable_database_is_a_message_without_its_password():
    with pytest.raises(UserError, match="cannot connect") as info:
        Store("postgresql://ann:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(info.value) and "127.0.0.1" in str(info.value)


def test_a_reader_of_an_unmigrated_database_is_told_to_migrate_it(pg_url):
    with pytest.raises(UserError, match="open it once for writing"):
        Store(pg_url, migrate=False)


def test_two_processes_opening_a_new_database_migrate_it_once(pg_url):
    script = "import sys; from dashboard import Store; Store(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url], stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    with Store(pg_url) as s:
        from dashboard import migrations

        assert s.scalar("SELECT count(*) FROM schema_migrations") == migrations.LATEST


def test_connections_are_per_thread_and_all_closed(pg_url):
    s = Store(pg_url)
    seen = []
    t = threading.Thread(target=lambda: seen.append(s.cursor()))
    t.start()
    t.join()
    assert seen[0] is not s.cursor()
    s.close()
    assert seen[0].conn.closed and s._cursors == []


def cli(*args, **env):
    import os

    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True,
                          text=True, timeout=180, env={**os.environ, **env})  # fmt: skip


def test_the_cli_copies_a_duckdb_database_into_postgres_and_works_on_it(pg_url, tmp_path):
    duck = tmp_path / "c.duckdb"
    assert cli("init", "--db", str(duck), "--demo", "120").returncode == 0
    done = cli("copy", "--from", str(duck), "--to", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    import json

    rows = json.loads(done.stdout)["rows"]
    assert rows["customers"] == 120 and rows["contacts"] > 120
    again = cli("copy", "--from", str(duck), "--to", pg_url)
    assert again.returncode == 1 and "already holds data" in again.stderr
    pivot = cli("pivot", "--rows", "status", "--json", CUSTOMER_DASHBOARD_DB=pg_url)
    assert pivot.returncode == 0, pivot.stderr
    with Store(str(duck), read_only=True) as d:
        want = dict(d.rows("SELECT status, count(*) FROM customers GROUP BY 1"))
    got = {r["Status"]: r["Customers"] for r in json.loads(pivot.stdout) if r["Status"] != "Total"}
    assert got == want
    backup = cli("backup", str(tmp_path / "b.duckdb"), "--db", pg_url)
    assert backup.returncode == 1 and "pg_dump" in backup.stderr
    restore = cli("restore", str(tmp_path / "b.duckdb"), "--db", pg_url, "--yes")
    assert restore.returncode == 1 and "pg_restore" in restore.stderr
    assert "Traceback" not in backup.stderr + pivot.stderr + again.stderr + restore.stderr


def _tables(path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND table_name <> 'schema_migrations' ORDER BY 1").fetchall()]  # fmt: skip


def test_a_round_trip_duckdb_to_postgres_to_a_new_duckdb_file_keeps_every_row(pg_url, tmp_path):
    from dashboard import add_demo_rates, delete_customers, undo, update_customer

    duck, back = tmp_path / "c.duckdb", tmp_path / "back.duckdb"
    assert cli("init", "--db", str(duck), "--demo", "150").returncode == 0
    with Store(str(duck), user="ann") as s:  # batch history of several kinds, money, rates
        add_demo_rates(s)
        update_customer(s, 3, {"credit": "1234567890.1234", "tags": "x, y"},
                        contacts=[{"name": "Ann", "email": "ann@example.com"}])  # fmt: skip
        deleted = delete_customers(s, [5, 6, 7])
        undo(s, delete_customers(s, [8]).batch_id)
    done = cli("copy", "--from", str(duck), "--to", pg_url)
    assert done.returncode == 0, done.stderr
    home = cli("copy", "--from", pg_url, "--to", str(back), "--json")
    assert home.returncode == 0, home.stderr
    import json

    rows = json.loads(home.stdout)["rows"]
    assert rows["customers"] == 147 and rows["batches"] == 5 and rows["rates"] > 5
    # compared with plain SQL, independently of the copy's code: the same tables, and the
    # same rows in each; of the search tables the copy rebuilds, the word list is left out
    # (the original's keeps the words of deleted customers until its next rebuild)
    assert _tables(back) == _tables(duck)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{duck}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{back}' AS b (READ_ONLY)")
        for table in set(_tables(duck)) - {"search_vocab"}:
            n = con.execute(f"SELECT count(*) FROM a.{table}").fetchall()[0][0]
            assert con.execute(f"SELECT count(*) FROM b.{table}").fetchall()[0][0] == n, table
            for x, y in (("a", "b"), ("b", "a")):
                differ = con.execute(f"SELECT count(*) FROM (SELECT * FROM {x}.{table} "
                                     f"EXCEPT ALL SELECT * FROM {y}.{table})").fetchall()  # fmt: skip
                assert differ[0][0] == 0, table
        assert con.execute("SELECT credit FROM b.customers WHERE id = 3").fetchall()[0][0] == (
            Decimal("1234567890.1234"))  # fmt: skip
    again = cli("copy", "--from", pg_url, "--to", str(back))
    assert again.returncode == 1 and "already holds data" in again.stderr
    # the copy works on its own: a copied batch undone there, new ids past the copied ones
    with Store(str(back), user="ann") as s:
        undo(s, deleted.batch_id)
        assert s.scalar("SELECT count(*) FROM customers WHERE id IN (5, 6, 7)") == 3
        assert add_customer(s, {"name": "After Co", "currency": "EUR"}).ids[0] > 150
    assert "Traceback" not in done.stderr + home.stderr + again.stderr


def test_copy_refuses_the_same_file_and_leaves_no_file_when_it_fails(tmp_path):
    duck = tmp_path / "c.duckdb"
    assert cli("init", "--db", str(duck)).returncode == 0
    same = cli("copy", "--from", str(duck), "--to", str(duck))
    assert same.returncode == 1 and "same file" in same.stderr
    gone = cli("copy", "--from", "postgresql://ann@127.0.0.1:1/nowhere", "--to",
               str(tmp_path / "new.duckdb"))  # fmt: skip
    assert gone.returncode == 1 and "cannot connect" in gone.stderr
    assert not (tmp_path / "new.duckdb").exists()


def test_quick_search_can_read_its_pg_trgm_indexes(pg_server, pg_demo_template):
    """`contains` is a LIKE on Postgres so that the trigram indexes dialect.index_search
    builds answer it (the planner picks them on a big table; here they are forced)."""
    from dashboard import View, run, search

    pg_server.admin("DROP DATABASE IF EXISTS trgm WITH (FORCE)")
    pg_server.admin(f"CREATE DATABASE trgm TEMPLATE {pg_demo_template}")
    with Store(pg_server.url("trgm")) as s:
        s.execute("SET enable_seqscan = off")
        for text, index in (("ocean", "search_vocab_trgm"), ("harper ocean", "search_token_word"),
                            ("a@b", "customer_search_s0_trgm")):  # fmt: skip
            sql, params = search.condition(text)
            plan = "\n".join(r[0] for r in s.rows("EXPLAIN " + sql, params))
            assert index in plan, plan
        found = run(s, View(search="OCEAN", columns=["id", "name"], page_size=500)).data
        assert len(found) > 0 and found["name"].str.lower().str.contains("ocean").all()
    pg_server.admin("DROP DATABASE trgm WITH (FORCE)")


@pytest.mark.parametrize(("sort", "index"), [
    (["name"], "customers_name_sort"), (["status"], "customers_status_sort"),
    (["country"], "customers_country_sort"), (["-created_at"], "customers_created_sort"),
    (["-updated_at"], "customers_updated_sort"), ([], "customers_pkey"),
])  # fmt: skip
def test_a_page_sorted_by_a_common_column_reads_an_index(pg_server, pg_demo_template, sort, index):
    """The engine's own statement for a page (`Result.sql`) can be answered in its order by
    an index, not a sort of every row (on 400 rows the planner would rather sort: here a
    sort and a full scan are made as dear as the planner allows)."""
    from dashboard import View, run

    name = "sorted" + (sort[0].strip("-") if sort else "")
    pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE {pg_demo_template}")
    with Store(pg_server.url(name)) as s:
        result = run(s, View(sort=sort, page=2))
        assert "ORDER BY" in result.sql
        cur = s.cursor()
        cur.execute("SET enable_seqscan = off")
        cur.execute("SET enable_sort = off")
        plan = "\n".join(
            r[0] for r in cur.execute("EXPLAIN " + result.sql, result.params).fetchall()
        )
    pg_server.admin(f"DROP DATABASE {name} WITH (FORCE)")
    assert f"Index Scan using {index}" in plan and "Sort" not in plan, plan


def test_open_store_reads_a_postgres_database_from_a_notebook(pg_url):
    from dashboard import open_store

    Store(pg_url).close()
    with open_store(pg_url) as s:
        assert s.scalar("SELECT count(*) FROM customers") == 0 and s.snapshot_of is None


# --- rows sorted by money, paged on PostgreSQL ---------------------------------------------

#: Rates into EUR (units of EUR per unit) for the demo's currencies.
MONEY_RATES = {"USD": "0.92", "GBP": "1.17", "AUD": "0.6", "CAD": "0.66", "PLN": "0.23",
               "BRL": "0.17", "SGD": "0.69", "JPY": "0.0061", "INR": "0.011", "MXN": "0.05",
               "NGN": "0.00058", "AED": "0.25", "ZAR": "0.05", "SEK": "0.087"}  # fmt: skip


@pytest.fixture(scope="module")
def money_pg(pg_server, tmp_path_factory):
    """Two Postgres databases of 90 customers whose balances tie (few distinct amounts, the
    same amount in several currencies, NULLs): one with a rate into EUR for every currency,
    one lacking USD's. Made on DuckDB (the demo's SQL is DuckDB's) and copied."""
    from decimal import Decimal

    from dashboard import add_demo_customers
    from dashboard.money import import_rates
    from dashboard.pgstore import copy_tables

    amounts = [None, Decimal("0"), Decimal("-5.5"), Decimal("10"), Decimal("100")]
    urls = {}
    for rated in (True, False):
        duck = Store(tmp_path_factory.mktemp("money") / "c.duckdb", user="tester")
        add_demo_customers(duck, 90, seed=3)
        ids = [i for (i,) in duck.rows("SELECT id FROM customers ORDER BY id")]
        for n, cid in enumerate(ids):
            duck.execute("UPDATE customers SET credit = ? WHERE id = ?",
                         [amounts[(n * 7) % len(amounts)], cid])  # fmt: skip
        rates = {c: r for c, r in MONEY_RATES.items() if rated or c != "USD"}
        csv = "currency,rate\n" + "".join(f"{c},{r}\n" for c, r in rates.items())
        import_rates(duck, csv, base="EUR")
        name = f"moneysort{int(rated)}"
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_server.admin(f"CREATE DATABASE {name} TEMPLATE cd_template")
        with Store(pg_server.url(name), user="tester") as pg:
            copy_tables(duck, pg)
        duck.close()
        urls[rated] = pg_server.url(name)
    yield urls
    for name in ("moneysort0", "moneysort1"):
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("rated", [True, False])
@pytest.mark.parametrize("sort", [[["credit", "desc"]], [["credit", "asc"]],
                                  [["status", "asc"], ["credit", "desc"]]])  # fmt: skip
def test_money_sorted_pages_on_postgres_follow_an_independent_order_by(
    money_pg, rated, sort, tmp_path, monkeypatch
):
    """Page 1, the next pages (read by keyset after the shown page's last row), the last
    page (read from the end), and back a page: each is the slice of one ORDER BY written
    here on Postgres: the balance in EUR when every currency has a rate, else currency
    then amount; ties by id."""
    from dashboard import View, run

    settings = tmp_path / "settings.toml"
    settings.write_text('[money]\nbase = "EUR"\n', encoding="utf-8")
    monkeypatch.setenv("CUSTOMER_DASHBOARD_SETTINGS", str(settings))
    with Store(money_pg[rated], user="tester") as store:
        keys = []
        for name, way in sort:
            if name == "credit":
                eur = "c.credit * r.rate" if rated else "NULL::numeric"
                keys += [f"{eur} {way} NULLS LAST", "c.currency ASC", f"c.credit {way} NULLS LAST"]
            else:
                keys.append(f"c.{name} {way} NULLS LAST")
        want = [i for (i,) in store.rows(
            "SELECT c.id FROM customers c LEFT JOIN (SELECT currency, rate FROM rates "
            "WHERE base = 'EUR' UNION ALL SELECT 'EUR', 1) r ON r.currency = c.currency "
            f"ORDER BY {', '.join(keys)}, c.id"
        )]  # fmt: skip
        assert len(want) == 90
        ties = store.rows("SELECT count(*) FROM customers GROUP BY credit ORDER BY 1 DESC")
        assert ties[0][0] > 10  # many equal balances: the id decides among them
        size = 7
        last = -(-len(want) // size)
        view = View(columns=["id", "name", "credit"], sort=sort, page_size=size)
        earlier, reads = None, []
        for page in (1, 2, 3, last, last - 1, 5):
            got = run(store, view.copy(page=page), earlier=earlier, key=True, with_unit=True)
            assert got.data["id"].tolist() == want[(page - 1) * size : page * size], page
            assert got.total == len(want)
            reads.append(got.sql)
            earlier = got
        assert "_at" in reads[1] and "_at" in reads[2]  # pages 2 and 3 by keyset
        assert "_at" in reads[4]  # back a page: by keyset before the shown page's first row


@pytest.mark.parametrize("rated", [True, False])
def test_money_sorted_pages_on_postgres_read_the_rates_once_not_per_row(
    money_pg, rated, tmp_path, monkeypatch
):
    """A page sorted by money (the first, one by keyset after and before a row, the last
    from the end) joins the rates once: no subplan run for each customer row (PostgreSQL
    ran the ORDER BY's rate lookup once a row, 1 s at 50,000 customers) and no part of the
    plan read again for each row (the keyset's start row, as a second read of its rows,
    made PostgreSQL rescan them all per row: minutes at 50,000)."""
    import re

    from dashboard import View
    from dashboard.query import _from_end, _keyset, compile_after, compile_rows

    settings = tmp_path / "settings.toml"
    settings.write_text('[money]\nbase = "EUR"\n', encoding="utf-8")
    monkeypatch.setenv("CUSTOMER_DASHBOARD_SETTINGS", str(settings))
    view = View(columns=["id", "name", "credit"], sort=[["credit", "desc"]], page_size=7)
    with Store(money_pg[rated], user="tester") as store:
        row = {"id": store.scalar("SELECT min(id) FROM customers")}
        queries = {
            "page": compile_rows(view, key=True, with_unit=True),
            "after": compile_after(view.copy(page=2), row, key=True, with_unit=True),
            "before": _keyset(view, row, True, 0, before=True, with_unit=True),
            "end": _from_end(view.copy(page=13), True, 7, 0, True),
        }
        rows = store.scalar("SELECT count(*) FROM customers")
        for name, q in queries.items():
            plan = "\n".join(r[0] for r in store.rows(f"EXPLAIN ANALYZE {q.sql}", q.params))
            assert "SubPlan" not in plan, (name, plan)
            loops = [int(n) for n in re.findall(r"loops=(\d+)", plan)]
            assert max(loops) < rows / 2, (name, plan)
