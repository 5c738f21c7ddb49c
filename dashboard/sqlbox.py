"""The SQL box: one read-only SELECT over the customer tables, checked before it runs.

DuckDB parses the text (`json_serialize_sql`, which accepts only SELECT statements); the
parse tree is then walked and the query refused unless it is a single SELECT whose tables
are the customer tables (or its own WITH names) and which calls no table function and none
of the functions that reach outside the database (files, settings, the environment). It
runs on a cursor of its own inside a transaction that is rolled back, with a row cap and a
time limit, so it can change nothing even if a check were missed.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from .errors import UserError
from .store import Store

#: The tables the SQL box may read.
TABLES = ("customers", "contacts", "usage_daily")
#: Rows shown at most; the export runs the query again without the cap.
MAX_ROWS = 10_000
#: Seconds a query may run before it is stopped.
TIME_LIMIT = 30.0

_OUTSIDE = re.compile(
    r"^(read_|pragma_|duckdb_|sniff_|parquet_|glob|getenv|current_setting|query|json_execute|"
    r"json_deserialize|which_secret|load|install|sql_auto|checkpoint|force_checkpoint|"
    r"enable_|disable_|set_|ducklake|iceberg|delta_|sqlite_|postgres_|mysql_|http)",
    re.IGNORECASE,
)


@dataclass
class SqlResult:
    """A SQL box answer: the rows (at most `MAX_ROWS`) and whether more were cut off."""

    data: pd.DataFrame
    sql: str
    truncated: bool = False


def check_sql(store: Store, sql: str) -> str:
    """The query, stripped, if it is one read-only SELECT over the customer tables; else a
    UserError saying why."""
    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        raise UserError("write a SELECT query first")
    raw = store.scalar("SELECT json_serialize_sql(?::VARCHAR)", [text])
    tree = json.loads(raw)
    if tree.get("error"):
        message = tree.get("error_message", "")
        if "Only SELECT" in message:
            raise UserError("only a SELECT query can run here; nothing can be changed")
        raise UserError(f"the query does not parse: {message.splitlines()[0]}")
    if len(tree["statements"]) != 1:
        raise UserError("run one query at a time (there is more than one statement)")
    ctes: set[str] = set()
    _collect_ctes(tree, ctes)
    _check_node(tree["statements"][0], ctes)
    return text


def _collect_ctes(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            out.update(str(item.get("key", "")).lower() for item in cte_map.get("map", []))
        for value in node.values():
            _collect_ctes(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect_ctes(item, out)


def _check_node(node: Any, ctes: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _check_node(item, ctes)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        name = _function_name(node.get("function"))
        raise UserError(f"table functions such as {name}() cannot be used here; "
                        f"read the tables {', '.join(TABLES)}")  # fmt: skip
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        schema = str(node.get("schema_name", "") or "")
        catalog = str(node.get("catalog_name", "") or "")
        allowed = name.lower() in TABLES or (name.lower() in ctes and not schema and not catalog)
        if not allowed or schema.lower() not in ("", "main") or catalog:
            raise UserError(f"{'.'.join(x for x in (catalog, schema, name) if x)!r} cannot be "
                            f"read here; the tables are {', '.join(TABLES)}")  # fmt: skip
    if node.get("class") == "FUNCTION":
        name = str(node.get("function_name", ""))
        if _OUTSIDE.match(name) or node.get("schema", "") not in ("", "main"):
            raise UserError(f"the function {name}() cannot be used here")
    for value in node.values():
        _check_node(value, ctes)


def _function_name(expr: Any) -> str:
    if isinstance(expr, dict):
        return str(expr.get("function_name", "a function"))
    return "a function"


def run_sql(store: Store, sql: str, *, limit: int | None = MAX_ROWS) -> SqlResult:
    """Check and run one read-only SELECT; at most `limit` rows (None: all of them)."""
    text = check_sql(store, sql)
    wrapped = f"SELECT * FROM ({text}) AS q"
    params: list[Any] = []
    if limit is not None:
        wrapped += " LIMIT ?"
        params.append(limit + 1)
    with store.private_cursor() as cur:
        timer = threading.Timer(TIME_LIMIT, cur.interrupt)
        try:
            cur.execute("BEGIN TRANSACTION")
            timer.start()
            frame = cur.execute(wrapped, params).df()
        except duckdb.InterruptException:
            raise UserError(
                f"the query ran longer than {TIME_LIMIT:.0f} s and was stopped"
            ) from None
        except duckdb.Error as exc:
            raise UserError(f"the query failed: {str(exc).splitlines()[0]}") from None
        finally:
            timer.cancel()
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
    truncated = limit is not None and len(frame) > limit
    if truncated:
        frame = frame.head(limit)
    return SqlResult(frame, text, truncated)
