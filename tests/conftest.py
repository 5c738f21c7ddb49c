"""Shared fixtures: a fresh real DuckDB per test (sqlite-utils style)."""

from __future__ import annotations

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


@pytest.fixture
def store():
    """An empty in-memory database at the latest schema."""
    s = Store(":memory:", user="tester")
    yield s
    s.close()


@pytest.fixture
def demo(store):
    """An in-memory database with 400 deterministic demo customers."""
    add_demo_customers(store, 400, seed=7)
    # every demo currency at 1 unit of the base currency: money adds up across currencies
    # exactly as it is stored (tests of real conversion import real rates: test_money.py)
    codes = [c for (c,) in store.rows("SELECT DISTINCT currency FROM customers ORDER BY 1")]
    add_demo_rates(store, dict.fromkeys(codes, 1), base="EUR")
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
