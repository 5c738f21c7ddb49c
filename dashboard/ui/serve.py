"""`customer-dashboard serve`: the dashboard on Panel's server, owning the database file (a
DuckDB file) or as one of several servers of one PostgreSQL database."""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import sys
from pathlib import Path

import panel as pn
from tornado.web import GZipContentEncoding, OutputTransform

from .. import users
from ..demo import add_demo, is_empty
from ..errors import UserError
from ..importer import MAX_BYTES
from ..locations import is_url, settings_path
from ..money import base_currency
from ..snapshot import Publisher
from ..store import Store, default_db_path, server_file
from .app import (
    EXTENSIONS,
    guide_app,
    messages_app,
    rates_app,
    session_app,
    settings_app,
    users_app,
)
from .auth import StoreAuthProvider


class FastGzip(GZipContentEncoding):
    """Tornado's gzip of text responses at level 1: 7.2 MB of the page's scripts become
    2.5 MB for 0.09 s of CPU, where its default level 6 gave 2.1 MB for 0.29 s, on the one
    thread that also runs every session."""

    GZIP_LEVEL = 1


#: A static file's URL that names its version: `?v=<hash or version>` (Bokeh's and Panel's
#: bundles) or a pinned `package@1.2.3/` in its path (Panel's bundled Ace, Tabulator).
_VERSIONED = re.compile(r"[?&]v=[\w.-]+|@\d+(\.\d+)*/")

#: What a versioned static file may be kept as: for a year, never asked about again (its
#: URL changes with its content).
STATIC_CACHE = "public, max-age=31536000, immutable"


class CacheStatic(OutputTransform):
    """Versioned static files (the page's 7 MB of scripts and styles) are kept by the
    browser for good: Tornado gave Bokeh's `?v=` bundles a 10-year max-age but no
    `immutable` (a reload asked for each again), and Panel's bundled Ace and Tabulator,
    versioned in their path, no Cache-Control at all. Everything else keeps its own
    headers: the page itself stays `no-store` (it carries the session)."""

    def __init__(self, request):
        super().__init__(request)
        self._versioned = request.path.startswith("/static/") and bool(
            _VERSIONED.search(request.uri or "")
        )

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        if self._versioned and status_code in (200, 304):
            headers["Cache-Control"] = STATIC_CACHE
        return status_code, headers, chunk


#: Where the cookie-signing secret comes from when sign-in is on.
COOKIE_SECRET_ENV = "CUSTOMER_DASHBOARD_COOKIE_SECRET"


def _origins(args) -> list[str]:
    """The websocket origins: the served address (and its loopback names), plus the public
    host:port of a proxy given with --allow-websocket-origin. Never "*"."""
    origins = {f"{args.address}:{args.port}", f"localhost:{args.port}", f"127.0.0.1:{args.port}"}
    for extra in getattr(args, "allow_websocket_origin", None) or []:
        if "*" in extra:
            raise UserError("--allow-websocket-origin takes the public host[:port], never '*'")
        origins.add(extra.strip())
    return sorted(origins)


def _auth_options(args, store: Store) -> dict:
    """Panel server options for sign-in, or {} when it is off; refuses to start unsafely."""
    provider = getattr(args, "oauth_provider", None)
    if not getattr(args, "auth", False) and not provider:
        return {}
    secret = os.environ.get(COOKIE_SECRET_ENV, "")
    if len(secret) < 32:
        raise UserError(
            f"sign-in needs a cookie secret of at least 32 characters in ${COOKIE_SECRET_ENV} "
            '(for example: export CUSTOMER_DASHBOARD_COOKIE_SECRET="$(python -c '
            "'import secrets; print(secrets.token_urlsafe(48))')\")"
        )
    if not any(u.role == "admin" for u in users.list_users(store)):
        raise UserError("sign-in is on but there is no admin user: add one with "
                        "`customer-dashboard users add NAME --role admin`")  # fmt: skip
    if provider:
        # single sign-on through one of Panel's OAuth providers; roles still come from the
        # users table, by the provider's user name
        key = os.environ.get("CUSTOMER_DASHBOARD_OAUTH_KEY", "")
        client_secret = os.environ.get("CUSTOMER_DASHBOARD_OAUTH_SECRET", "")
        if not key or not client_secret:
            raise UserError("--oauth-provider needs CUSTOMER_DASHBOARD_OAUTH_KEY and "
                            "CUSTOMER_DASHBOARD_OAUTH_SECRET (the app's id and secret at the "
                            "provider)")  # fmt: skip
        options = {"oauth_provider": provider, "oauth_key": key, "oauth_secret": client_secret,
                   "cookie_secret": secret}  # fmt: skip
        encryption = os.environ.get("CUSTOMER_DASHBOARD_OAUTH_ENCRYPTION_KEY")
        if encryption:
            options["oauth_encryption_key"] = encryption
        if getattr(args, "oauth_redirect_uri", None):
            options["oauth_redirect_uri"] = args.oauth_redirect_uri
        return options
    provider = StoreAuthProvider(
        store,
        secure_cookies=getattr(args, "secure_cookies", False),
        trust_proxy=bool(getattr(args, "trust_proxy", False)),
    )
    return {"auth_provider": provider, "cookie_secret": secret}


def serve(args) -> int:
    """Serve the page, its side pages and /api/v1 until stopped. On a DuckDB file the server
    owns it (a marker, a snapshot for readers, an endpoint file through which the CLI
    writes); on PostgreSQL there is no owner: several servers, the CLI and notebooks all
    write to the database directly, so none of those files is made."""
    db = args.db or default_db_path()
    postgres = is_url(db)
    path: Path | str = db if postgres else Path(db)
    existed = not postgres and Path(path).exists()
    store = Store(path, user="server")
    # a new file, or a Postgres database with nothing ever written to it, gets the demo data
    fresh = is_empty(store) if postgres else not existed
    auth = _auth_options(args, store)
    origins = _origins(args)
    # the settings beside the database unless given; the engine reads the reporting
    # currency ([money] base) from the served settings, which the store names
    given = getattr(args, "settings", None)
    args.settings = str(settings_path(db, given))
    store.settings_given = args.settings
    if fresh and args.demo:
        n = add_demo(store, args.demo, base=base_currency(args.settings))
        print(f"created {store.path} with {n} demo customers", flush=True)
    url = f"http://{args.address}:{args.port}"
    marker = None if postgres else server_file(path)
    if marker is not None:
        marker.write_text(json.dumps({"pid": os.getpid(), "url": url}))

    # notebooks and the CLI read this copy while the server owns the file (on Postgres
    # they read the database itself)
    publisher = None if postgres else Publisher(store).start()
    api = None
    endpoint = None
    if not getattr(args, "no_api", False):
        from ..api import Api
        from ..remote import write_endpoint

        # only a file named outright: an API dry run needs no settings otherwise (those it
        # reads are the store's, as above)
        api = Api(store, auth=bool(auth), settings_path=given,
                  rate=getattr(args, "api_rate", 20.0))  # fmt: skip
        if not postgres:
            # the CLI and notebooks on this machine write through the server with this
            endpoint = write_endpoint(path, url, api.local_token)

    def cleanup(*_):
        if marker is not None:
            marker.unlink(missing_ok=True)
        if endpoint is not None:
            endpoint.unlink(missing_ok=True)
        if api is not None:
            api.close()
        if publisher is not None:
            publisher.stop()
        store.close()

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pn.extension(*EXTENSIONS)
    # password sign-in: the provider also checks the session's generation at its start;
    # OAuth: the session's user is pn.state.user
    signed = auth.get("auth_provider") if "auth_provider" in auth else bool(auth)
    print(f"serving {store.path} at {url}" + (" (sign-in required)" if signed else ""), flush=True)
    if api is not None:
        print(f"API at {url}/api/v1 (bearer tokens; " + ("every address" if auth else
              "this machine only") + ")", flush=True)  # fmt: skip
    pn.serve(
        {
            "/": lambda: session_app(store, settings_path=args.settings, auth=signed),
            "/guide": guide_app,
            "/settings": lambda: settings_app(store, args.settings, auth=signed),
            "/messages": lambda: messages_app(store, args.settings, auth=signed),
            "/users": lambda: users_app(store, auth=signed),
            "/rates": lambda: rates_app(store, args.settings, auth=signed),
        },
        port=args.port,
        address=args.address,
        show=args.show,
        title="Customers",
        websocket_origin=origins,
        # uploads travel base64-encoded over the websocket; the importer enforces MAX_BYTES itself
        websocket_max_message_size=int(MAX_BYTES * 1.5),
        threaded=False,
        admin=False,  # Panel's /admin page shows every session's data: never served here
        # behind a proxy: the scheme (Secure cookies) and client address (sign-in throttling)
        # come from its X-Forwarded-Proto / X-Real-Ip headers; never trusted otherwise
        use_xheaders=bool(getattr(args, "trust_proxy", False)),
        extra_patterns=api.patterns() if api is not None else [],
        # the page's scripts are ~6 MB (Material UI, Bokeh, Tabulator, Ace): 2.2 MB gzipped at
        # level 1 (level 6: 1.9 MB for three times the CPU), once per browser: they are cached
        # after; the websocket's messages too (the page's document is ~0.3 MB of JSON)
        transforms=[FastGzip, CacheStatic],
        websocket_compression_level=FastGzip.GZIP_LEVEL,
        websocket_compression_mem_level=8,
        **auth,
    )
    return 0
