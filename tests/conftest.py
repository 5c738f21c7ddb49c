"""Shared fixtures: a fresh real DuckDB per test (sqlite-utils style)."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import Store, add_demo_customers


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
