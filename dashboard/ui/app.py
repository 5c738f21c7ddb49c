"""Building the page for a server session or a notebook cell."""

from __future__ import annotations

import os
from importlib import resources

import panel as pn
import panel_material_ui as pmui

from ..store import Store
from .page import CustomersPage

EXTENSIONS = ("tabulator",)


def customers_page(store: Store, **params) -> CustomersPage:
    """The Customers page over `store`; in a notebook, display the returned object.

    >>> import panel as pn; pn.extension("tabulator")
    >>> customers_page(Store("data/customers.duckdb"))
    """
    return CustomersPage(store=store, **params)


def session_app(
    store: Store, user: str = "operator", settings_path: str | None = None
) -> pmui.Page:
    """One browser session: the page in the product's frame, freed when the session ends."""
    poll_ms = int(os.environ.get("CUSTOMER_DASHBOARD_POLL_MS", "2000"))
    page = CustomersPage(store=store, user=user, poll_ms=poll_ms, settings_path=settings_path)
    if pn.state.location is not None:
        pn.state.location.sync(page, {"view_state": "view"})
    page.start_polling()
    pn.state.on_session_destroyed(lambda _ctx: page.stop_polling())
    return _frame("Customers", page)


def _frame(title: str, main) -> pmui.Page:
    links = pmui.Row(*[pmui.Button(label=t, href=h, variant="text", styles={"color": "white"})
                       for t, h in (("Customers", "/"), ("Messages", "/messages"), ("Setup › Settings", "/settings"))])  # fmt: skip
    return pmui.Page(title=title, main=[main], theme_toggle=False, header=[links])


def settings_app(settings_path: str | None = None) -> pmui.Page:
    """Setup > Settings, served at /settings."""
    from .setup import SettingsPage

    return _frame("Setup › Settings", SettingsPage(path=settings_path))


def messages_app(store: Store, settings_path: str | None = None) -> pmui.Page:
    """The message log, served at /messages."""
    from .setup import MessagesPage

    return _frame("Messages", MessagesPage(store=store, settings_path=settings_path))


def guide_text() -> str:
    return resources.files("dashboard").joinpath("docs/customers.md").read_text(encoding="utf-8")


def guide_app() -> pmui.Page:
    """The user guide for the page, served at /guide (the `?` button)."""
    return pmui.Page(
        title="Customers · User guide",
        main=[pn.pane.Markdown(guide_text(), sizing_mode="stretch_width", max_width=900)],
        theme_toggle=False,
    )
