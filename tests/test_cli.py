"""The CLI as a user runs it: a real process, exit codes, one line per problem, no traceback."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from decimal import Decimal

import pandas as pd
import pytest

from dashboard import Store
from dashboard.cli import main, parse_where


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        capture_output=True, text=True, input=stdin, timeout=120,
    )  # fmt: skip


_databases = itertools.count(1)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def new_db(request, tmp_path_factory):
    """Makes a new, empty database to name with --db: a DuckDB file's path, or the URL of a
    new Postgres database (every test here runs on both engines)."""
    made: list[str] = []
    server = request.getfixturevalue("pg_server") if request.param == "postgres" else None

    def make():
        if server is None:
            return tmp_path_factory.mktemp("cli") / "c.duckdb"
        name = f"cli{next(_databases)}"
        server.admin(f"CREATE DATABASE {name}")
        made.append(name)
        return server.url(name)

    yield make
    for name in made:
        server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def db(new_db):
    path = new_db()
    r = cli("init", "--db", str(path), "--demo", "300")
    assert r.returncode == 0, r.stderr
    assert "added 300 demo customers" in r.stdout
    return path


def rows(db, sql, params=()):
    with Store(db, read_only=True) as s:
        return s.rows(sql, list(params))


def test_pivot_csv_is_machine_readable_with_totals_last(db):
    r = cli("pivot", "--db", str(db), "--rows", "status", "--columns", "currency",
            "--values", "credit:sum", "--format", "csv")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    header = lines[0].split(",")
    assert header[0] == "status" and header[-1] == "Total (EUR)"  # 15 currencies, in EUR
    assert lines[-1].startswith("Total,")
    total = float(lines[-1].split(",")[-1])
    # each balance at its currency's rate (the demo's), computed here by hand
    want = rows(db, "SELECT sum(credit * coalesce(r.rate, 1)) FROM customers c "
                    "LEFT JOIN rates r ON r.currency = c.currency AND r.base = 'EUR'")[0][0]  # fmt: skip
    assert total == pytest.approx(float(want), abs=0.01)


def test_pivot_json_and_where(db):
    r = cli("pivot", "--db", str(db), "--rows", "country", "--values", "channels:max",
            "--where", "status=Active", "--format", "json")  # fmt: skip
    data = json.loads(r.stdout)
    want = dict(
        rows(db, "SELECT country, max(channels) FROM customers WHERE status = 'Active' GROUP BY 1")
    )
    got = {d["Country"]: d["Max of Channels"] for d in data if d["Country"] != "Total"}
    assert got == want


def test_export_csv_round_trips_canonical_names(db, tmp_path):
    out = tmp_path / "gb.csv"
    r = cli(
        "export", str(out), "--db", str(db), "--where", "country=GB", "--columns", "name,credit"
    )
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["id", "name", "credit", "currency"]  # an amount has its currency
    assert len(df) == rows(db, "SELECT count(*) FROM customers WHERE country='GB'")[0][0]


def test_edit_prints_its_batch_and_refuses_other_fields(db):
    r = cli("edit", "--db", str(db), "--set", "channels=+1", "--where", "country=FR")
    assert r.returncode == 0, r.stderr
    assert "batch b-" in r.stdout
    r = cli("edit", "--db", str(db), "--set", "currency=EUR", "--ids", "1")
    assert r.returncode == 1
    assert "cannot be bulk-edited" in r.stderr and "Traceback" not in r.stderr


def test_bad_input_exits_1_with_one_line_per_problem(db):
    r = cli("edit", "--db", str(db), "--set", "tax=150", "--ids", "1,2")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "Tax" in r.stderr and "at most 100" in r.stderr
    r = cli("pivot", "--db", str(db), "--rows", "colour")
    assert r.returncode == 1 and "unknown" in r.stderr and "Traceback" not in r.stderr
    r = cli("export", "x.doc", "--db", str(db))
    assert r.returncode == 1 and ".csv" in r.stderr


def test_usage_errors_exit_2(db):
    assert cli("frobnicate").returncode == 2
    r = cli("edit", "--db", str(db), "--set", "channels=1")
    assert r.returncode == 2 and "--ids" in r.stderr


def test_delete_asks_for_yes_and_then_deletes(db):
    before = rows(db, "SELECT count(*) FROM customers WHERE country='SE'")[0][0]
    r = cli("delete", "--db", str(db), "--where", "country=SE", stdin="")
    assert r.returncode == 1 and "--yes" in r.stderr
    r = cli("delete", "--db", str(db), "--where", "country=SE", "--yes")
    assert r.returncode == 0 and f"deleted {before} customers" in r.stdout
    assert rows(db, "SELECT count(*) FROM customers WHERE country='SE'")[0][0] == 0


def test_missing_database_for_reading_says_how_to_create_it(tmp_path):
    r = cli("pivot", "--db", str(tmp_path / "none.duckdb"), "--rows", "status")
    assert r.returncode == 1 and "customer-dashboard init" in r.stderr


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("status=Active", {"field": "status", "op": "=", "value": "Active"}),
        ("credit>100", {"field": "credit", "op": ">", "value": "100"}),
        ("channels<=5", {"field": "channels", "op": "<=", "value": "5"}),
        ("name~blue", {"field": "name", "op": "contains", "value": "blue"}),
        ("tags=vip", {"field": "tags", "op": "any", "value": "vip"}),
        ("country=GB,FR", {"field": "country", "op": "in", "value": "GB,FR"}),
        ("paypal_email=", {"field": "paypal_email", "op": "empty"}),
    ],
)
def test_where_is_typed_by_the_field(arg, expected):
    assert parse_where([arg]) == [expected]


def test_undo_by_batch_id_and_list_batches(db):
    before = rows(db, "SELECT id, tax FROM customers ORDER BY id")
    r = cli("edit", "--db", str(db), "--set", "tax=3", "--where", "country=DE")
    batch_id = r.stdout.split("batch ")[1].split()[0]
    assert rows(db, "SELECT id, tax FROM customers ORDER BY id") != before
    listed = cli("batches", "--db", str(db))
    assert listed.returncode == 0 and batch_id in listed.stdout and "bulk_edit" in listed.stdout
    r = cli("undo", batch_id, "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert f"undid {batch_id}" in r.stdout and "batch b-" in r.stdout
    assert rows(db, "SELECT id, tax FROM customers ORDER BY id") == before
    again = cli("undo", batch_id, "--db", str(db))
    assert (
        again.returncode == 1
        and "already undone" in again.stderr
        and "Traceback" not in again.stderr
    )


def test_pivot_report_over_usage_to_xlsx(new_db, tmp_path):
    import openpyxl

    db = new_db()
    assert main(["init", "--db", str(db), "--demo", "120"]) == 0
    out = tmp_path / "revenue.xlsx"
    code = main(["pivot", "--db", str(db), "--source", "usage", "--rows", "country",
                 "--columns", "month", "--values", "revenue:sum", "--where", "status=Active",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    ws = openpyxl.load_workbook(out).active
    assert ws["A1"].value == "Sum of Revenue (EUR) by Country and Month"
    assert ws["A2"].value == "Filters: Status = Active"


def test_pivot_and_export_take_a_view_from_the_page(new_db, tmp_path, capsys):
    from dashboard import View

    db = new_db()
    assert main(["init", "--db", str(db), "--demo", "80"]) == 0
    capsys.readouterr()
    view = View(groups=["status"], percent="total")
    assert main(["pivot", "--db", str(db), "--view", view.to_json(), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "status,Customers" and lines[-1] == "Total,100.0"
    out = tmp_path / "active.csv"
    rows = View(status="Active", columns=["id", "name"])
    assert main(["export", str(out), "--db", str(db), "--view", rows.to_json()]) == 0
    assert out.read_text().splitlines()[0] == "id,name"


def test_sql_command_reads_and_refuses(new_db, tmp_path, capsys):
    db = new_db()
    assert main(["init", "--db", str(db), "--demo", "50"]) == 0
    capsys.readouterr()
    assert main(["sql", "SELECT count(*) AS n FROM customers", "--db", str(db),
                 "--format", "csv"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines() == ["n", "50"]
    assert main(["sql", "DROP TABLE customers", "--db", str(db)]) == 1
    assert "only a SELECT" in capsys.readouterr().err


@pytest.fixture
def fresh_db(new_db):
    path = new_db()
    r = cli("init", "--db", str(path), "--demo", "200")
    assert r.returncode == 0, r.stderr
    return path


def _digest(path) -> str:
    """The file's bytes' digest (a Postgres database: its customers' row versions)."""
    import hashlib

    if isinstance(path, str):
        return str(rows(path, "SELECT sum(row_version), count(*) FROM customers"))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_edit_dry_run_prints_the_summary_and_writes_nothing(fresh_db):
    with Store(fresh_db, read_only=True) as s:
        active = s.df("SELECT debit_limit FROM customers WHERE status = 'Active'").debit_limit
    new = (active * 0.9).clip(lower=1000)
    up, down = int((new > active).sum()), int((new < active).sum())
    same = len(active) - up - down
    before = _digest(fresh_db)
    args = ("edit", "--db", str(fresh_db), "--where", "status=Active",
            "--set", "debit_limit=*0.9, at least 1000", "--dry-run")  # fmt: skip
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert "dry run, nothing written" in r.stdout
    assert (
        f"{len(active)} customers selected: {up + down} will change, {same} unchanged" in r.stdout
    )
    assert f"Debit Limit: {up} increases, {down} decreases, {same} unchanged" in r.stdout
    assert f"new values 1,000.00 to {new.max():,.2f}" in r.stdout
    assert "→" in r.stdout
    r = cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["dry_run"], data["written"], data["batch_id"]) == (True, False, None)
    assert (data["selected"], data["changed"]) == (len(active), up + down)
    (fs,) = data["fields"]
    assert (fs["increases"], fs["decreases"], fs["unchanged"]) == (up, down, same)
    assert fs["new_min"] == 1000 and fs["new_max"] == pytest.approx(new.max())
    assert len(data["first"]) >= 5 and {"id", "name", "field", "old", "new"} <= set(
        data["first"][0]
    )
    assert _digest(fresh_db) == before
    assert rows(fresh_db, "SELECT count(*) FROM batches")[0][0] == 1  # the demo data's only


def test_edit_dry_run_reads_a_served_database_without_its_lock(fresh_db):
    if isinstance(fresh_db, str):
        pytest.skip("a DuckDB file's lock and snapshot: Postgres has neither")
    from dashboard.snapshot import publish

    with Store(fresh_db) as served:  # the dashboard holds the file for writing
        publish(served)
        n = served.scalar("SELECT count(*) FROM customers WHERE channels < 500")
        r = cli("edit", "--db", str(fresh_db), "--where", "channels<500", "--set", "channels=+1",
                "--dry-run")  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert f"Channels: {n} increases, 0 decreases, 0 unchanged" in r.stdout
        r = cli("edit", "--db", str(fresh_db), "--ids", "1", "--set", "channels=+1")
        assert r.returncode == 1 and "Traceback" not in r.stderr  # a real edit must wait


def test_edit_json_names_the_batch_it_wrote(fresh_db):
    r = cli("edit", "--db", str(fresh_db), "--ids", "1,2,3", "--set", "tags+=vip", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["written"] and data["batch_id"].startswith("b-")
    assert data["fields"][0]["kind"] == "tags" and data["fields"][0]["gain"] == data["changed"]
    assert rows(fresh_db, "SELECT count(*) FROM batches WHERE batch_id = ?",
                [data["batch_id"]])[0][0] == 1  # fmt: skip


# --- pivot --expand: the group tree with open groups --------------------------------


def tree(db, *args: str) -> list[dict]:
    r = cli("pivot", "--db", str(db), "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_pivot_expand_one_level_equals_an_independent_query(db):
    out = tree(db, "--rows", "status,currency", "--values", "credit:sum", "--expand", "Inactive")
    tops = [r for r in out if r["kind"] == "group" and r["level"] == 0]
    assert {r["path"][0] for r in tops} == {
        s for (s,) in rows(db, "SELECT DISTINCT status FROM customers")
    }
    kids = [r for r in out if r["level"] == 1]
    assert all(r["kind"] == "group" and r["path"][0] == "Inactive" for r in kids)
    # kids sit right under their parent, before the next top group
    at = next(i for i, r in enumerate(out) if r["path"] == ["Inactive"])
    assert out[at + 1 : at + 1 + len(kids)] == kids
    want = rows(db, "SELECT currency, count(*), sum(credit) FROM customers "
                    "WHERE status = ? GROUP BY currency", ["Inactive"])  # fmt: skip
    got = {r["path"][1]: (r["Customers"], Decimal(r["Sum of Balance"])) for r in kids}
    assert got == {c: (n, Decimal(str(s)).normalize()) for c, n, s in want}
    assert {r["units"]["Sum of Balance"] for r in kids} == set(got)  # each in its currency
    assert out[-1]["kind"] == "total"
    assert out[-1]["Customers"] == rows(db, "SELECT count(*) FROM customers")[0][0]


def test_pivot_expand_two_levels_lists_the_customers_paged(db):
    out = tree(db, "--rows", "status,currency", "--values", "credit:sum",
               "--expand", "Inactive/EUR", "--expand", "Active/EUR")  # fmt: skip
    for status in ("Inactive", "Active"):
        want = dict(rows(db, "SELECT name, credit FROM customers WHERE status = ? AND "
                             "currency = 'EUR'", [status]))  # fmt: skip
        mine = [r for r in out if r["kind"] == "customer" and r["path"] == [status, "EUR"]]
        assert all(r["level"] == 2 for r in mine)
        assert len(mine) == min(len(want), 50)  # one page, as the API and page read it
        assert {r["Status › Currency"]: Decimal(r["Balance"]) for r in mine} == {
            r["Status › Currency"]: Decimal(str(want[r["Status › Currency"]])).normalize()
            for r in mine
        }
        more = [r for r in out if r["kind"] == "more" and r["path"] == [status, "EUR"]]
        if len(want) > 50:
            assert [(m["shown"], m["total"]) for m in more] == [(50, len(want))]
        else:
            assert more == []
    # the parent opens with its child: Inactive's currencies are listed too
    assert any(r["path"] == ["Inactive", "AED"] for r in out)
    text = cli("pivot", "--db", str(db), "--rows", "status,currency", "--expand", "Active/EUR")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.startswith("  EUR ") for line in lines)
    assert any(line.startswith("    • ") for line in lines)
    assert lines[-1].startswith("Total ")


def test_pivot_expand_a_blank_group(db):
    want = {n for (n,) in rows(db, "SELECT name FROM customers WHERE status = 'Active' AND "
                                   "(region IS NULL OR region = '')")}  # fmt: skip
    assert want, "the demo has Active customers without a region"
    for spelling in ("Active/", "Active/(blank)"):
        out = tree(db, "--rows", "status,region", "--expand", spelling)
        blank = [r for r in out if r["path"] == ["Active", None]]
        assert blank[0]["kind"] == "group" and blank[0]["Customers"] == len(want)
        got = {r["Status › Region"] for r in out if r["kind"] == "customer"}
        assert got == want


def test_pivot_expand_a_bad_path_says_so(db):
    for path, words in (("Active/XYZ", "no group Active › XYZ"),
                        ("Nobody", "no group Nobody"),
                        ("Active/EUR/x", "1 to 2 group values")):  # fmt: skip
        r = cli("pivot", "--db", str(db), "--rows", "status,currency", "--expand", path)
        assert r.returncode == 1 and words in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = cli("pivot", "--db", str(db), "--rows", "status", "--columns", "currency",
            "--expand", "Active")  # fmt: skip
    assert r.returncode == 1 and "--columns" in r.stderr and "Traceback" not in r.stderr


def test_expand_paths_parse_blanks_and_escapes():
    from dashboard.cli import parse_group_path

    assert parse_group_path("Active/EUR") == ["Active", "EUR"]
    assert parse_group_path("Active/") == ["Active", None]
    assert parse_group_path("(blank)/EUR") == [None, "EUR"]
    assert parse_group_path(r"A\/B/C") == ["A/B", "C"]
    assert parse_group_path(r"\(blank)") == ["(blank)"]


def test_pivot_expand_matches_a_value_typed_in_another_case(db):
    out = tree(db, "--rows", "portal_access,status", "--expand", "YES/active")
    assert [r for r in out if r["path"] == ["yes", "Active"]][0]["kind"] == "group"
    want = rows(db, "SELECT count(*) FROM customers WHERE portal_access AND status = 'Active'")
    mine = [r for r in out if r["kind"] == "customer"]
    more = sum(r["total"] - r["shown"] for r in out if r["kind"] == "more")
    assert len(mine) + more == want[0][0]


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(db):
    """`customer-dashboard sql ... | head -1`: the reader closes the pipe after one line;
    the CLI stops writing without a BrokenPipeError traceback. (The output, 300 customers'
    every column, is larger than a pipe holds.)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "sql", "--db", str(db),
         "SELECT * FROM customers"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err  # 128 + SIGPIPE, as a shell reports it
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_bad_field_is_said_without_pythons_field_list(db):
    r = cli("pivot", "--db", str(db), "--rows", "countri")
    assert r.returncode == 1 and "did you mean 'country'" in r.stderr, r.stderr
    assert "field_list" not in r.stderr and "Traceback" not in r.stderr


def test_a_command_passes_its_settings_file_instead_of_setting_the_environment(
    tmp_path, monkeypatch, capsys
):
    """The CLI named a command's settings file in $CUSTOMER_DASHBOARD_SETTINGS while it ran
    (a process-wide change, seen by every thread); it passes the path: the command and its
    stores hold it, and the environment stays as it was throughout."""
    from dashboard import money

    monkeypatch.delenv("CUSTOMER_DASHBOARD_SETTINGS", raising=False)
    settings = tmp_path / "elsewhere.toml"
    settings.write_text('[money]\nbase = "USD"\n')
    db = tmp_path / "c.duckdb"
    assert main(["init", "--db", str(db)]) == 0
    capsys.readouterr()
    seen = []
    real = money.base_currency

    def base_currency(path=None):
        seen.append((os.environ.get("CUSTOMER_DASHBOARD_SETTINGS"), path and str(path)))
        return real(path)

    monkeypatch.setattr(money, "base_currency", base_currency)
    assert main(["rates", "list", "--db", str(db), "--settings", str(settings), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["base"] == "USD"
    assert seen and all(env is None and path == str(settings) for env, path in seen), seen
