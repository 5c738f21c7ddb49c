"""The dashboard and its grid inline in a notebook (the same components as the served page)."""

from __future__ import annotations

import panel as pn

from .. import query
from ..query import View
from ..store import Store
from .app import EXTENSIONS
from .display import aggregate_display, rows_display
from .page import CustomersPage


def _extension() -> None:
    # loads Tabulator and Material UI into the notebook once (idempotent in Panel)
    pn.extension(*EXTENSIONS)


def grid(store: Store, view: View | None = None, *, height: int = 500) -> pn.widgets.Tabulator:
    """One page of `view` as the dashboard shows it (titles, number formats, totals row)."""
    _extension()
    view = view or View()
    result = query.run(store, view)
    display = rows_display(result) if result.mode == "rows" else aggregate_display(result, view)
    return pn.widgets.Tabulator(
        display.frame, titles=display.titles, formatters=display.formatters,
        text_align=display.align, frozen_columns=display.frozen, show_index=False,
        disabled=True, layout="fit_data_table", height=height, sizing_mode="stretch_width",
        theme="materialize",
    )  # fmt: skip


def app(store: Store, view: View | None = None, *, user: str = "analyst") -> CustomersPage:
    """The whole Customers page on `store`, opened on `view`; its `.view` follows the page."""
    _extension()
    return CustomersPage(store=store, view=view or View(), user=user, poll_ms=0)
