"""customer-dashboard: a VoIP carrier's customer back office over DuckDB.

The Python API, in three lines::

    from dashboard import Store, View, run
    store = Store("data/customers.duckdb", read_only=True)
    result = run(store, View(groups=["country"], values=[["credit", "sum"]]))
    result.data, result.sql

The same service functions back the served page and the CLI: `add_customer`,
`update_customer`, `bulk_edit`, `delete_customers`, `export_view`.
"""

from .audit import Batch, batches, history
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
from .fields import CONTACT_FIELDS, CUSTOMER_FIELDS, FIELDS
from .query import Filter, Result, View, count, matching_ids, run
from .store import Store
from .undo import last_batch, undo

__all__ = [
    "Batch", "CONTACT_FIELDS", "CUSTOMER_FIELDS", "ConflictError", "DatabaseBusyError", "FIELDS",
    "Filter", "Problem", "Result", "Store", "UserError", "ValidationError", "View",
    "add_customer", "add_demo_customers", "batches", "bulk_edit", "count", "delete_customers",
    "export_view", "find_by_name", "get_customer", "history", "matching_ids", "run",
    "last_batch", "undo", "update_customer",
]  # fmt: skip
