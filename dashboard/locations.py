"""Where the database lives by default: kept apart from store.py so that the CLI can name
it in `--help` without loading DuckDB and pandas."""

from __future__ import annotations

import os
from pathlib import Path

#: Where the database lives unless --db / CUSTOMER_DASHBOARD_DB says otherwise.
DEFAULT_DB = Path("data") / "customers.duckdb"


def default_db_path() -> Path:
    """The database path from CUSTOMER_DASHBOARD_DB, else data/customers.duckdb."""
    return Path(os.environ.get("CUSTOMER_DASHBOARD_DB") or DEFAULT_DB)
