"""Shared fixtures: a fresh real DuckDB per test (sqlite-utils style)."""

from __future__ import annotations

import itertools
import os
from email import message_from_bytes

import pandas as pd
import pytest
from aiosmtpd.controller import Controller

from dashboard import Store, add_demo_customers
from dashboard.demo import add_demo_rates


@pytest.fixture(autouse=True)
def clean_browser(request):
    """A browser test fails on any page error, console error or server traceback logged
    while it ran, whatever it checked itself."""
    if request.node.get_closest_marker("browser") is None:
        yield
        return
    from tests.browser import take_problems

    take_problems()  # what earlier tests (or a module's set-up) left is theirs
    yield
    problems = take_problems()
    if problems:
        pytest.fail("the page or the server reported errors:\n" + "\n".join(problems))


def pytest_generate_tests(metafunc):
    """Tests marked `both_backends` that use a store run once per engine."""
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("backend", ["duckdb", "postgres"], indirect=True)


@pytest.fixture
def backend(request):
    """The engine the `store` fixture opens: DuckDB, or (for tests marked `both_backends`)
    each engine in turn."""
    return getattr(request, "param", "duckdb")


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL server for the session, with a database `cd_template`
    migrated once (each test's database is a copy of it). Skips where Postgres is not
    installed, and fails instead under CI=true (CI installs it)."""
    import atexit

    from tests.pg import Server, bin_dir, reap_orphans

    found = bin_dir()
    if found is None:
        why = "no PostgreSQL here (pg_ctl not found): apt-get install postgresql"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    reap_orphans(found)  # servers left by runs that were killed
    server = Server(found)
    atexit.register(server.stop)  # also when the session ends without its teardown
    server.start()
    server.admin(f"CREATE DATABASE {PG_TEMPLATE}")
    Store(server.url(PG_TEMPLATE)).close()  # the migrations, once
    yield server
    server.stop()


PG_TEMPLATE = "cd_template"
PG_DEMO = "cd_demo"
_pg_databases = itertools.count(1)


@pytest.fixture
def store(backend, request):
    """An empty database at the latest schema: in-memory DuckDB, or (backend "postgres") a
    fresh Postgres database copied from the migrated template (from the demo data's, for a
    test that uses `demo`). A test marked
    `pg_missing(reason)` is skipped on Postgres with that reason."""
    if backend == "postgres":
        missing = request.node.get_closest_marker("pg_missing")
        if missing is not None:
            pytest.skip(f"not yet on PostgreSQL: {missing.args[0]}")
        server = request.getfixturevalue("pg_server")
        template = PG_TEMPLATE
        if "demo" in request.fixturenames:
            template = request.getfixturevalue("pg_demo_template")
        name = f"t{next(_pg_databases)}"
        server.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        s = Store(server.url(name), user="tester")
        yield s
        s.close()
        server.admin(f"DROP DATABASE {name} WITH (FORCE)")
        return
    s = Store(":memory:", user="tester")
    yield s
    s.close()


def _add_demo(store):
    add_demo_customers(store, 400, seed=7)
    # every demo currency at 1 unit of the base currency: money adds up across currencies
    # exactly as it is stored (tests of real conversion import real rates: test_money.py)
    codes = [c for (c,) in store.rows("SELECT DISTINCT currency FROM customers ORDER BY 1")]
    add_demo_rates(store, dict.fromkeys(codes, 1), base="EUR")


@pytest.fixture(scope="session")
def duckdb_demo():
    """The demo database built once on DuckDB: Postgres tests copy it (the demo generator's
    SQL is DuckDB's: hash, range, STRUCT parameters)."""
    s = Store(":memory:", user="tester")
    _add_demo(s)
    yield s
    s.close()


@pytest.fixture
def pg_url(pg_server, request):
    """A new, empty (not migrated) database on the session's server, named after the test."""
    name = "e" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_server.admin(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_demo_template(pg_server, duckdb_demo):
    """A Postgres database holding the demo data (copied from DuckDB's once), which the
    `store` of a test that uses `demo` is created from."""
    from dashboard.pgstore import copy_tables

    pg_server.admin(f"CREATE DATABASE {PG_DEMO} TEMPLATE {PG_TEMPLATE}")
    with Store(pg_server.url(PG_DEMO)) as s:
        copy_tables(duckdb_demo, s)
    return PG_DEMO


@pytest.fixture
def demo(store, backend):
    """A database with 400 deterministic demo customers (on Postgres: a copy of DuckDB's,
    made once per session; see `store`)."""
    if backend != "postgres":
        _add_demo(store)
    return store


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "customers.duckdb"


def all_customers(store: Store) -> pd.DataFrame:
    """The whole (small) test table, for independent checks computed in pandas."""
    return store.df("SELECT * FROM customers ORDER BY id")


@pytest.fixture
def frame(demo):
    return all_customers(demo)


class Inbox:
    """An aiosmtpd handler: keeps messages, refuses some recipients as told."""

    def __init__(self):
        self.messages = []
        self.temp_fail: dict[str, int] = {}  # address -> how many 451s before accepting
        self.reject: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 no such user"
        if self.temp_fail.get(address, 0) > 0:
            self.temp_fail[address] -= 1
            return "451 4.7.1 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 2.0.0 queued"


@pytest.fixture
def smtp():
    inbox = Inbox()
    from tests.browser import free_port

    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium for a module's browser tests (skipped, or failed under CI, where
    there is none); a module may define its own."""
    from tests.browser import chromium, require_chromium

    require_chromium()
    with chromium() as b:
        yield b
