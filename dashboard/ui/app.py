"""Building the page for a server session or a notebook cell."""

from __future__ import annotations

import functools
import json
import logging
import os
from importlib import resources

import panel as pn
import panel_material_ui as pmui
import param
from panel.util import edit_readonly

from .. import users
from ..access import allowed
from ..errors import UserError
from ..query import View, ViewError
from ..store import Store
from .keys import KeyboardHelp
from .page import CustomersPage
from .safe import Markup, Notice, document, html, markup

log = logging.getLogger(__name__)

#: Panel extensions whose JavaScript the page needs: the grid, and the card's TOML editor
#: (without it the browser throws "ace is not defined" when the card renders)
EXTENSIONS = ("tabulator", "codeeditor")


def customers_page(store: Store, **params) -> CustomersPage:
    """The Customers page over `store`; in a notebook, display the returned object.

    >>> import panel as pn; pn.extension(*EXTENSIONS)
    >>> customers_page(Store("data/customers.duckdb"))
    """
    return CustomersPage(store=store, **params)


def signed_in(store: Store, auth) -> Store | None:
    """The store acting as this session's user: the signed-in user with their role, or
    "operator" as admin when sign-in is off. None if the user no longer exists.

    `auth` is False (no sign-in), True (OAuth: the user is pn.state.user), or the password
    sign-in's StoreAuthProvider, which also checks that the sign-in is still current (no
    password change, role change or removal since); the store then carries the generation,
    and every service function refuses it once that moves on."""
    from .auth import StoreAuthProvider

    if not auth:
        return store.acting_as("operator", "admin")
    if isinstance(auth, StoreAuthProvider):
        user = auth.session_user(pn.state.cookies)
        return store.acting_as(user.name, user.role, user.generation) if user else None
    name = pn.state.user
    role = users.role_of(store, name)
    return store.acting_as(name, role) if role else None


def _refused() -> pmui.Page:
    return _frame("Customers", Notice(object="You are not signed in as a known user.",
                                     severity="error"))  # fmt: skip


def _no_traceback(title: str):
    """Wrap a page function so that whatever goes wrong building the page is logged on the
    server with its traceback and the browser gets one plain line: Panel would otherwise
    show the traceback (file paths, SQL) to whoever opened the page or a crafted link."""

    def wrap(app):
        @functools.wraps(app)
        def guarded(*args, **kwargs):
            try:
                return app(*args, **kwargs)
            except Exception:
                log.exception("the %s page could not be built", title)
                return _frame(title, Notice(
                    object=f"The {title} page could not be opened: something went wrong on "
                    "the server (it is logged there). Open the page again without the "
                    "link's settings, or ask your administrator.", severity="error"))  # fmt: skip

        return guarded

    return wrap


@_no_traceback("Customers")
def session_app(store: Store, settings_path: str | None = None, *, auth=False) -> pmui.Page:
    """One browser session: the page in the product's frame, freed when the session ends."""
    acting = signed_in(store, auth)
    if acting is None:
        return _refused()
    poll_ms = int(os.environ.get("CUSTOMER_DASHBOARD_POLL_MS", "2000"))
    linked, problem = _linked_view()
    chart, group = _linked_extras()
    page = CustomersPage(store=acting, user=acting.user, poll_ms=poll_ms,
                         settings_path=settings_path, linked_group=group,
                         **({"view": linked} if linked else {}))  # fmt: skip
    if chart:
        page.aggregates.chart_kind = chart
    if problem:
        page.notify(f"The link's view could not be opened ({problem}); showing all customers.",
                    "warning")  # fmt: skip
    page.start_polling()
    pn.state.on_session_destroyed(lambda _ctx: page.stop_polling())
    return _frame("Customers", page, acting if auth else None)


class _Idle(param.Parameterized):
    """What a frame's `busy` follows instead of the process-wide `pn.state.busy`."""

    busy = param.Boolean(default=False, doc="Never set: the grid shows its own spinner.")


def frame_page(**params) -> pmui.Page:
    """A Material UI Page that is not tied to the other sessions.

    pmui's Page binds its `busy` (a progress bar) to the process-wide `pn.state.busy`.
    Served, every open session's page is then updated, a walk of its whole model tree,
    whenever any session runs a callback: O(sessions²) work that made 20 sessions unusable,
    and the watcher on `pn.state` kept every closed session's page alive. Rebinding `busy` to
    a flag of its own drops that watcher; the grid's own loading spinner shows work instead.
    """
    page = pmui.Page(busy_indicator=None, **params)
    with edit_readonly(page):
        page.busy = _Idle().param.busy
    return page


#: The header's links look like Material UI text buttons on the app bar
_NAV_CSS = """
nav, .pages-list { display: flex; align-items: center; gap: 4px; font-family: inherit; }
a, span { color: white; font-size: 0.875rem; font-weight: 500; letter-spacing: 0.03em;
          padding: 6px 8px; border-radius: 4px; white-space: nowrap; }
a { text-transform: uppercase; text-decoration: none; }
a:hover { background: rgba(255, 255, 255, 0.12); }
span { opacity: 0.9; margin: 0 6px; }
summary { display: none; color: white; font-size: 0.8rem; font-weight: 500;
          letter-spacing: 0.03em; text-transform: uppercase; padding: 6px 8px;
          border-radius: 4px; cursor: pointer; list-style: none; white-space: nowrap; }
summary::-webkit-details-marker { display: none; }
summary::before { content: "\\2630  " / ""; }  /* a menu mark, not part of its name */
summary:hover, details[open] summary { background: rgba(255, 255, 255, 0.12); }
summary:focus-visible, a:focus-visible { outline: 2px solid white; outline-offset: 1px; }
/* one list of links: in a row on a wide window (the disclosure always open) ... */
details::details-content { content-visibility: visible; display: contents; }
@media (max-width: 700px) {
  /* ... and a Pages menu on a phone: in one line "SETUP › SETT" was cut off and Rates out
     of reach; wrapped onto four lines the header grew over the toolbar */
  summary { display: block; }
  details::details-content { display: block; content-visibility: hidden; }
  details[open]::details-content { content-visibility: visible; }
  .pages-list { position: fixed; top: 52px; right: 8px; z-index: 1300; flex-direction: column;
                align-items: stretch; gap: 0; min-width: 200px; padding: 6px 0;
                background: white; border-radius: 4px; box-shadow: 0 5px 12px rgba(0, 0, 0, 0.3); }
  .pages-list a, .pages-list span { color: rgba(0, 0, 0, 0.87); font-size: 0.875rem;
                                    padding: 10px 16px; margin: 0; border-radius: 0; }
  .pages-list a:hover { background: rgba(0, 0, 0, 0.06); }
  .pages-list a:focus-visible { outline: 2px solid #1976d2; outline-offset: -2px; }
}
"""


def _linked_view() -> tuple[View | None, str]:
    """The view a link (`?view=`) opens, so the page starts on it instead of loading the
    default grid first; and, for a link that holds no valid view, why (the page then says
    so and shows the default view)."""
    raw = (pn.state.session_args or {}).get("view")
    if not raw:
        return None, ""
    try:
        return View.from_json(raw[0].decode("utf-8", "replace")), ""
    except ViewError as exc:
        return None, exc.for_people
    except UserError as exc:  # not JSON, not a view's settings
        return None, str(exc)


def _linked_extras() -> tuple[str | None, dict | None]:
    """What a link keeps beside its view: the chart kind and the open group (ignored when
    malformed: they are conveniences, the view is what matters)."""
    from ..charts import KINDS

    args = pn.state.session_args or {}
    chart = (args.get("chart") or [b""])[0].decode("utf-8", "replace") or None
    group = None
    raw = (args.get("group") or [b""])[0].decode("utf-8", "replace")
    if raw:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict) and all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()
        ):
            group = data
    return (chart if chart in KINDS else None), group


def _frame(title: str, main, who: Store | None = None) -> pmui.Page:
    pages = [("Customers", "/"), ("Messages", "/messages")]
    if who is None or allowed(who.role, "settings"):
        pages.append(("Setup › Settings", "/settings"))
    pages.append(("Setup › Rates", "/rates"))
    if who is not None and allowed(who.role, "users"):
        pages.append(("Setup › Users", "/users"))
    # one pane of links, not a Material UI button each: a session's start is what the
    # server spends most on with many sessions, and each button is a model to build
    links = [html('<a href="{h}">{t}</a>', h=h, t=t) for t, h in pages]
    if who is not None:
        links += [html("<span>{user} · {role}</span>", user=who.user, role=who.role),
                  '<a href="/logout">Sign out</a>']  # fmt: skip
    nav = markup(
        '<nav><details class="pages"><summary>Pages</summary>'
        '<div class="pages-list">{links}</div></details></nav>',
        stylesheets=[_NAV_CSS], links=Markup("".join(links)),
    )  # fmt: skip
    return frame_page(title=title, main=[main], theme_toggle=False, header=[nav, KeyboardHelp()])


def _guarded(store: Store, auth, title: str, action: str, build) -> pmui.Page:
    """A Setup page for the session's user: refused to strangers, a notice for a role that
    may not use it, else `build(acting_store)` in the product's frame."""
    acting = signed_in(store, auth)
    if acting is None:
        return _refused()
    if not allowed(acting.role, action):
        return _frame(title, Notice(object=f"{title} is for admins.", severity="warning"),
                      acting)  # fmt: skip
    return _frame(title, build(acting), acting if auth else None)


@_no_traceback("Settings")
def settings_app(store: Store, settings_path: str | None = None, *, auth=False) -> pmui.Page:
    """Setup > Settings, served at /settings (admins only)."""
    from .setup import SettingsPage

    return _guarded(store, auth, "Setup › Settings", "settings",
                    lambda acting: SettingsPage(path=settings_path, role=acting.role,
                                                store=acting))  # fmt: skip


@_no_traceback("Users")
def users_app(store: Store, *, auth=False) -> pmui.Page:
    """Setup › Users, served at /users (admins only)."""
    from .tokens_page import TokensPage
    from .users_page import UsersPage

    return _guarded(store, auth, "Setup › Users", "users",
                    lambda acting: pmui.Column(UsersPage(store=acting), TokensPage(store=acting),
                                               sizing_mode="stretch_width"))  # fmt: skip


@_no_traceback("Rates")
def rates_app(store: Store, settings_path: str | None = None, *, auth=False) -> pmui.Page:
    """Setup › Rates, served at /rates: everyone reads the exchange rates, admins import."""
    from .setup import RatesPage

    return _guarded(store, auth, "Setup › Rates", "read",
                    lambda acting: RatesPage(store=acting, settings_path=settings_path))  # fmt: skip


@_no_traceback("Messages")
def messages_app(store: Store, settings_path: str | None = None, *, auth=False) -> pmui.Page:
    """The message log, served at /messages (every role reads it)."""
    from .setup import MessagesPage

    return _guarded(store, auth, "Messages", "read",
                    lambda acting: MessagesPage(store=acting, settings_path=settings_path))  # fmt: skip


def guide_text() -> str:
    return resources.files("dashboard").joinpath("docs/customers.md").read_text(encoding="utf-8")


@_no_traceback("Guide")
def guide_app() -> pmui.Page:
    """The user guide for the page, served at /guide (the `?` button)."""
    return frame_page(
        title="Customers · User guide",
        main=[document(guide_text(), sizing_mode="stretch_width", max_width=900)],
        theme_toggle=False,
    )
