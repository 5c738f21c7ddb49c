"""Sign-in for the served dashboard: Panel's login page, checked against the users table.

Panel's own basic auth compares plain-text passwords from a file; this provider keeps
Panel's login and logout pages and signed cookies but:
- verifies the password against the argon2id hash in the database (dashboard.users), in a
  small thread pool, so that the server's event loop keeps serving everyone else while a
  hash is checked;
- throttles guessing per user name and per address (`users.LoginThrottle`, one per server);
- writes the user's generation into a second signed cookie and checks it on every request
  and at every session start, so a password change, role change or removal ends the user's
  sessions;
- marks its cookies Secure when the request came over https (as the proxy says, with
  --trust-proxy) or when --secure-cookies says so, HttpOnly and SameSite=Lax always;
- sends people after sign-in only to a path of this site (`safe_next`: Panel's own check
  lets `///evil.example` through, which browsers read as another host);
- refuses a sign-in posted from another site (login CSRF: a hidden form signing the
  victim into the attacker's account), by the request's Origin or Referer;
- ends the session on the server at sign-out (`users.sign_out`), so a copied cookie dies
  with it.
"""

from __future__ import annotations

import asyncio
import os
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import tornado.escape
from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler
from panel.config import config
from panel.io.resources import LOCAL_DIST
from panel.io.state import state
from tornado.web import decode_signed_value

from .. import users
from ..store import Store

#: The signed cookie holding "name:generation" of the signed-in user.
SESSION_COOKIE = "dashboard_session"
#: Hash checks at a time (each holds 19 MiB); more sign-ins wait their turn. Half the cores
#: leaves the event loop a core of its own: on 2 cores, 1 worker kept GET /login at 2-6 ms
#: (median) while 8 clients signed in, where 2 workers gave 7-11 ms with spikes past 100 ms.
HASH_WORKERS = max(1, (os.cpu_count() or 2) // 2)
INVALID = "Invalid username or password!"
#: A path on this site: one "/" then anything but "/" or "\\" (either makes a browser read
#: what follows as a host), no scheme, no controls or spaces (browsers drop them).
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[^\s\x00-\x1f\x7f\\]*")


def safe_next(next_url: str | None) -> str:
    """Where to go after sign-in: `next_url` if it is a path of this site, else the
    dashboard's root."""
    root = state.base_url or "/"
    if next_url and _SAME_SITE_PATH.fullmatch(next_url) and not urlsplit(next_url).netloc:
        if state.base_url and not next_url.startswith(state.base_url):
            return next_url.replace("/", state.base_url, 1)
        return next_url
    return root


class _StoreLoginHandler(BasicLoginHandler):
    provider: StoreAuthProvider | None = None  # set on the subclass made for one server

    def set_cookie(self, name, value, *args, **kwargs):
        # every cookie this page sets (user, id_token, the session, next_url)
        if self.provider.secure_request(self.request):
            kwargs["secure"] = True
        kwargs.setdefault("samesite", "Lax")
        super().set_cookie(name, value, *args, **kwargs)

    def get(self):
        # Panel's own page, with our check of where to go afterwards
        self.set_cookie("next_url", safe_next(self.get_argument("next", None)))
        self.write(self._login_template.render(
            login_endpoint=self._login_endpoint, errormessage=self.get_argument("error", ""),
            # the page's logo and icon from this server: a back office may have no internet
            # (from the CDN they failed offline, a broken image and console errors)
            PANEL_CDN="/" + LOCAL_DIST))  # fmt: skip

    def _cross_site(self) -> bool:
        """Whether the sign-in was posted from another site's page. Browsers send Origin
        (else Referer) with a form post; a client sending neither is not a browser tricked
        into it."""
        sent = self.request.headers.get("Origin") or self.request.headers.get("Referer")
        if not sent:
            return False
        hosts = {self.request.host}
        if self.provider.trust_proxy and self.request.headers.get("X-Forwarded-Host"):
            hosts.add(self.request.headers["X-Forwarded-Host"].split(",")[0].strip())
        return sent == "null" or urlsplit(sent).netloc not in hosts

    async def post(self):
        provider = self.provider
        if self._cross_site():
            self.set_status(403)
            return self.finish("Sign-in refused: it was sent from another site's page.")
        name = self.get_argument("username", "")
        password = self.get_argument("password", "")
        address = self.request.remote_ip or ""
        wait = provider.throttle.wait(name, address)
        if wait:
            return self._refuse(f"Too many attempts; try again in {wait} s")
        provider.throttle.attempt(name, address)
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(provider.pool, users.verify, provider.store, name,
                                          password)  # fmt: skip
        if user is None:
            return self._refuse(INVALID)
        provider.throttle.succeeded(name, address)
        self.set_current_user(user.name)
        self.set_secure_cookie(SESSION_COOKIE, f"{user.name}:{user.generation}",
                               expires_days=config.oauth_expiry, httponly=True,
                               path=config.cookie_path)  # fmt: skip
        self.redirect(safe_next(self.get_cookie("next_url")))

    def _refuse(self, message: str) -> None:
        self.redirect(f"{self._login_endpoint}?error={tornado.escape.url_escape(message)}")


class _StoreLogoutHandler(LogoutHandler):
    provider: StoreAuthProvider | None = None  # set on the subclass made for one server

    def get(self):
        cookies = self.request.cookies
        user = self.provider._current(*(cookies[k].value if k in cookies else None
                                        for k in ("user", SESSION_COOKIE)))  # fmt: skip
        if user is not None:
            users.sign_out(self.provider.store, user)
        self.clear_cookie(SESSION_COOKIE, path=config.cookie_path)
        super().get()


class StoreAuthProvider(BasicAuthProvider):
    """Panel's login page, with passwords checked against the users table of `store`.

    One per server: it holds that server's throttle and hash-checking threads.
    `secure_cookies`: always mark cookies Secure (else only over https; behind a proxy the
    server runs with xheaders, --trust-proxy, so that Tornado takes the scheme and client
    address from the proxy's headers). `trust_proxy`: the proxy's X-Forwarded-Host counts
    as this site's name when telling a cross-site sign-in.
    """

    def __init__(self, store: Store, *, secure_cookies: bool = False,
                 trust_proxy: bool = False, **options):  # fmt: skip
        self.store = store
        self.secure_cookies = secure_cookies
        self.trust_proxy = trust_proxy
        self.throttle = users.LoginThrottle()
        self.pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="sign-in")
        self._handler = self._logout = None
        super().__init__(**options)

    def secure_request(self, request) -> bool:
        """Whether cookies set in answer to `request` get the Secure flag. With xheaders on
        (--trust-proxy) Tornado already took the scheme from X-Forwarded-Proto."""
        return self.secure_cookies or request.protocol == "https"

    @property
    def login_handler(self):
        if self._handler is None:
            # a handler class of this server's own: no module-level state between servers
            self._handler = type(
                "LoginHandler",
                (_StoreLoginHandler,),
                {"provider": self, "_login_endpoint": self._login_endpoint,
                 "_login_template": self._login_template},
            )  # fmt: skip
        return self._handler

    @property
    def logout_handler(self):
        if self._logout is None:
            self._logout = type(
                "LogoutHandler",
                (_StoreLogoutHandler,),
                {"provider": self, "_login_endpoint": self._login_endpoint,
                 "_logout_template": self._logout_template},
            )  # fmt: skip
        return self._logout

    def session_user(self, cookies: dict) -> users.User | None:
        """The user of a session whose raw cookies are `cookies` (pn.state.cookies), if its
        sign-in is still current: same user, same generation."""
        return self._current(cookies.get("user"), cookies.get(SESSION_COOKIE))

    def _current(self, raw_user, raw_session) -> users.User | None:
        secret = config.cookie_secret
        if not raw_user or not raw_session or not secret:
            return None
        name = decode_signed_value(secret, "user", raw_user, max_age_days=config.oauth_expiry)
        signed = decode_signed_value(secret, SESSION_COOKIE, raw_session,
                                     max_age_days=config.oauth_expiry)  # fmt: skip
        if not name or not signed:
            return None
        who, _, generation = signed.decode("utf-8", "replace").rpartition(":")
        user = users.current(self.store, name.decode("utf-8", "replace"))
        if user is None or who != user.name or generation != str(user.generation):
            return None
        return user

    @property
    def get_user(self):
        cookie_user = super().get_user

        def get_user(request_handler):
            raw = request_handler.request.cookies
            user_cookie, session_cookie = raw.get("user"), raw.get(SESSION_COOKIE)
            if self._current(user_cookie and user_cookie.value,
                             session_cookie and session_cookie.value) is None:  # fmt: skip
                return None  # removed, or password or role changed since sign-in
            return cookie_user(request_handler)

        return get_user
