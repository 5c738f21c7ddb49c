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
  --trust-proxy) or when --secure-cookies says so, HttpOnly and SameSite=Lax always.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import tornado.escape
from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler, _validate_next_url
from panel.config import config
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


class _StoreLoginHandler(BasicLoginHandler):
    provider: StoreAuthProvider | None = None  # set on the subclass made for one server

    def set_cookie(self, name, value, *args, **kwargs):
        # every cookie this page sets (user, id_token, the session, next_url)
        if self.provider.secure_request(self.request):
            kwargs["secure"] = True
        kwargs.setdefault("samesite", "Lax")
        super().set_cookie(name, value, *args, **kwargs)

    async def post(self):
        provider = self.provider
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
        self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)))

    def _refuse(self, message: str) -> None:
        self.redirect(f"{self._login_endpoint}?error={tornado.escape.url_escape(message)}")


class _StoreLogoutHandler(LogoutHandler):
    def get(self):
        self.clear_cookie(SESSION_COOKIE, path=config.cookie_path)
        super().get()


class StoreAuthProvider(BasicAuthProvider):
    """Panel's login page, with passwords checked against the users table of `store`.

    One per server: it holds that server's throttle and hash-checking threads.
    `secure_cookies`: always mark cookies Secure (else only over https; behind a proxy the
    server runs with xheaders, --trust-proxy, so that Tornado takes the scheme and client
    address from the proxy's headers).
    """

    def __init__(self, store: Store, *, secure_cookies: bool = False, **options):
        self.store = store
        self.secure_cookies = secure_cookies
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
                {"_login_endpoint": self._login_endpoint,
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
