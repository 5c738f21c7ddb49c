"""customer-dashboard: a VoIP carrier's customer back office over DuckDB.

The Python API, in three lines::

    from dashboard import View, open_store, run
    store = open_store("data/customers.duckdb")      # read-only; works while it is served
    result = run(store, View(groups=["country"], values=[["credit", "sum"]]))
    result.data, result.sql                          # a DataFrame and the SQL behind it

Everything the page does is a function here: `add_customer`, `update_customer`,
`bulk_edit`, `delete_customers`, `import_file`, `send`, `undo` (open a writable `Store` for
those), `export_view`, `pivot_report`, `chart`, `run_sql`. `show(store, view)` and
`grid(store, view)` put the page or its grid inline in a notebook; `View.url()` and
`View.from_url()` carry a view between the notebook and the served dashboard.
"""

from __future__ import annotations

from typing import Any

from .audit import Batch, batches, history
from .charts import chart
from .customers import (
    add_customer,
    bulk_edit,
    delete_customers,
    find_by_name,
    get_customer,
    update_customer,
)
from .demo import add_demo_customers
from .errors import ConflictError, DatabaseBusyError, Problem, UserError, ValidationError
from .exports import export_view
from .fields import COLUMNS, CONTACT_FIELDS, CUSTOMER_FIELDS, FIELDS, METRICS, USAGE_FIELDS
from .importer import import_file
from .messaging import send
from .query import PERCENTAGES, Filter, Result, View, count, matching_ids, run, to_arrow
from .reports import pivot_report
from .snapshot import open_store
from .sqlbox import run_sql
from .store import Store
from .undo import last_batch, undo


def show(store: Store, view: View | None = None, **options: Any):
    """The Customers page inline in a notebook (Panel), opened on `view`."""
    from .ui.notebook import app

    return app(store, view, **options)


def grid(store: Store, view: View | None = None, **options: Any):
    """One page of `view` as the dashboard's grid shows it, inline in a notebook."""
    from .ui.notebook import grid as _grid

    return _grid(store, view, **options)


__all__ = [
    "Batch", "COLUMNS", "CONTACT_FIELDS", "CUSTOMER_FIELDS", "ConflictError",
    "DatabaseBusyError", "FIELDS", "Filter", "METRICS", "PERCENTAGES", "Problem", "Result",
    "Store", "USAGE_FIELDS", "UserError", "ValidationError", "View", "add_customer",
    "add_demo_customers", "batches", "bulk_edit", "chart", "count", "delete_customers",
    "export_view", "find_by_name", "get_customer", "grid", "history", "import_file",
    "last_batch", "matching_ids", "open_store", "pivot_report", "run", "run_sql", "send",
    "show", "to_arrow", "undo", "update_customer",
]  # fmt: skip
