"""customer-dashboard: a VoIP carrier's customer back office over DuckDB.

The Python API, in three lines::

    from dashboard import View, open_store, run
    store = open_store("data/customers.duckdb")      # read-only; works while it is served
    result = run(store, View(groups=["country"], values=[["credit", "sum"]]))
    result.data, result.sql                          # a DataFrame and the SQL behind it

`field_list("customers" | "usage")` lists the field names a view takes. Everything the page
does is a function here: `add_customer`, `update_customer`, `bulk_edit`, `delete_customers`,
`import_file`, `send`, `undo` (open a writable `Store` for those), `export_view`,
`pivot_report`, `chart`, `run_sql`. In a notebook, `dashboard.notebook()` (once, first) loads
what the page needs, then `show(store, view)`, `grid(store, view)` and `chart(...)` display
inline; `View.url()` and `View.from_url()` carry a view between the notebook and the served
dashboard. `connect("http://host:5006", token=...)` works on a served dashboard through its
HTTP API (dashboard.remote).
"""

from __future__ import annotations

# underscored: a plain `types` here would shadow the submodule dashboard.types
import importlib as _importlib
import sys as _sys
import types as _types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names below are, for type checkers and editors
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
    from .demo import add_demo_customers, add_demo_rates
    from .errors import ConflictError, DatabaseBusyError, Problem, UserError, ValidationError
    from .exports import export_view
    from .fields import COLUMNS, CONTACT_FIELDS, CUSTOMER_FIELDS, FIELDS, METRICS, USAGE_FIELDS
    from .importer import import_file
    from .messaging import send
    from .money import import_rates, list_rates
    from .query import (
        PERCENTAGES,
        Filter,
        Result,
        View,
        count,
        field_list,
        matching_ids,
        run,
        to_arrow,
    )
    from .remote import connect
    from .reports import pivot_report
    from .snapshot import open_store
    from .sqlbox import run_sql
    from .store import Store
    from .undo import last_batch, undo

# Each public name and the module that defines it. They are imported on first use, so that
# `import dashboard` (and `customer-dashboard --help`) does not load pandas, DuckDB and Bokeh.
_LAZY = {
    "audit": ("Batch", "batches", "history"),
    "charts": ("chart",),
    "customers": ("add_customer", "bulk_edit", "delete_customers", "find_by_name",
                  "get_customer", "update_customer"),
    "demo": ("add_demo_customers", "add_demo_rates"),
    "errors": ("ConflictError", "DatabaseBusyError", "Problem", "UserError", "ValidationError"),
    "exports": ("export_view",),
    "fields": ("COLUMNS", "CONTACT_FIELDS", "CUSTOMER_FIELDS", "FIELDS", "METRICS",
               "USAGE_FIELDS"),
    "importer": ("import_file",),
    "messaging": ("send",),
    "money": ("import_rates", "list_rates"),
    "query": ("PERCENTAGES", "Filter", "Result", "View", "count", "field_list", "matching_ids",
              "run", "to_arrow"),
    "remote": ("connect",),
    "reports": ("pivot_report",),
    "snapshot": ("open_store",),
    "sqlbox": ("run_sql",),
    "store": ("Store",),
    "undo": ("last_batch", "undo"),
}  # fmt: skip
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("customer-dashboard")
        except PackageNotFoundError:  # run from a checkout that was never installed
            return "0+unknown"
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once imported, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(_types.ModuleType):
    """Keeps `dashboard.undo` the function: importing the submodule dashboard.undo (which
    happens lazily now, after this package is set up) would otherwise rebind the name to the
    module, as the import system sets a loaded submodule on its package."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, _types.ModuleType) and name in _HOME:
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def notebook(*, force: bool = False) -> None:
    """Set up this notebook for the dashboard: run `dashboard.notebook()` once, first.

    Loads Bokeh, Panel, Tabulator, Material UI and the icon font from this machine (never
    from a CDN: it works offline and behind proxies), so that `show`, `grid` and `chart`
    display inline. Calling it again does nothing (reloading the scripts would blank the
    outputs above); `force=True` loads them again, after reloading the browser tab.
    """
    from .ui.notebook import setup

    setup(force=force)


def show(store: Store, view: View | None = None, **options: Any):
    """The Customers page inline in a notebook, opened on a copy of `view` (default: all
    customers, 50 a page); the returned page's `.view` follows what you do in it."""
    from .ui.notebook import app

    return app(store, view, **options)


def grid(store: Store, view: View | None = None, **options: Any):
    """One page of `view` (50 rows or groups unless `page_size` says otherwise) as the
    dashboard's grid shows it, inline in a notebook, with Previous / Next, "Page 1 of N" and
    the count; a header click sorts the whole result. `height=` sets its height (500 px)."""
    from .ui.notebook import grid as _grid

    return _grid(store, view, **options)


__all__ = [
    "Batch", "COLUMNS", "CONTACT_FIELDS", "CUSTOMER_FIELDS", "ConflictError",
    "DatabaseBusyError", "FIELDS", "Filter", "METRICS", "PERCENTAGES", "Problem", "Result",
    "Store", "USAGE_FIELDS", "UserError", "ValidationError", "View", "add_customer",
    "add_demo_customers", "add_demo_rates", "batches", "bulk_edit", "chart", "connect", "count",
    "delete_customers",
    "export_view", "field_list", "find_by_name", "get_customer", "grid", "history",
    "import_file", "import_rates", "last_batch", "list_rates", "matching_ids", "notebook", "open_store", "pivot_report",
    "run", "run_sql", "send", "show", "to_arrow", "undo", "update_customer",
]  # fmt: skip
