"""Where the database lives by default: kept apart from store.py so that the CLI can name
it in `--help` without loading DuckDB and pandas."""

from __future__ import annotations

import os
from pathlib import Path

#: Where the database lives unless --db / CUSTOMER_DASHBOARD_DB says otherwise.
DEFAULT_DB = Path("data") / "customers.duckdb"


def default_db_path() -> Path | str:
    """The database from CUSTOMER_DASHBOARD_DB, else data/customers.duckdb: a file's Path,
    or a postgresql:// URL as given (a Path would fold its "//")."""
    given = os.environ.get("CUSTOMER_DASHBOARD_DB")
    if given and is_url(given):
        return given
    return Path(given or DEFAULT_DB)


def is_url(db: object) -> bool:
    """Whether a --db value names a PostgreSQL database (a URL) rather than a DuckDB file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))
