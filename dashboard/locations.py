"""Where the database and its settings file live by default: kept apart from store.py so
that the CLI can name them in `--help` without loading DuckDB and pandas."""

from __future__ import annotations

import os
from pathlib import Path

#: Where the database lives unless --db / CUSTOMER_DASHBOARD_DB says otherwise.
DEFAULT_DB = Path("data") / "customers.duckdb"
#: The settings file's name: it lives beside the database it configures.
SETTINGS_NAME = "settings.toml"
#: The settings of the default database, and of a PostgreSQL one (no folder of its own).
DEFAULT_SETTINGS = DEFAULT_DB.parent / SETTINGS_NAME


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


def settings_path(db: object = None, given: object = None) -> Path:
    """The settings file of database `db` (None: the default database): `given` (a
    --settings option), else $CUSTOMER_DASHBOARD_SETTINGS, else settings.toml beside the
    database file (--db /srv/a/customers.duckdb: /srv/a/settings.toml; the default
    database: data/settings.toml); a PostgreSQL database's is data/settings.toml. Every
    entry point (serve, each CLI command, the Python API) finds it here."""
    if given:
        return Path(str(given))
    if os.environ.get("CUSTOMER_DASHBOARD_SETTINGS"):
        return Path(os.environ["CUSTOMER_DASHBOARD_SETTINGS"])
    db = default_db_path() if db is None else db
    if is_url(db) or str(db) == ":memory:":
        return DEFAULT_SETTINGS
    return Path(str(db)).parent / SETTINGS_NAME
