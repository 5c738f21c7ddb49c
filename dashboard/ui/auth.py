"""Sign-in for the served dashboard: Panel's login page, checked against the users table.

Panel's own basic auth compares plain-text passwords from a file; this provider keeps
Panel's login and logout pages and secure cookies but verifies the password against the
scrypt hash in the database (dashboard.users), and forgets a signed-in user as soon as an
admin removes them.
"""

from __future__ import annotations

from panel.auth import BasicAuthProvider, BasicLoginHandler

from .. import users
from ..store import Store


class _StoreLoginHandler(BasicLoginHandler):
    store: Store | None = None  # set on the subclass made for one server

    def _validate(self, username, password):
        return users.verify(self.store, username, password) is not None


class StoreAuthProvider(BasicAuthProvider):
    """Panel's login page, with passwords checked against the users table of `store`."""

    def __init__(self, store: Store, **options):
        self._store = store
        self._handler = None
        super().__init__(**options)

    @property
    def login_handler(self):
        if self._handler is None:
            # a handler class of this server's own: no module-level state between servers
            self._handler = type(
                "LoginHandler",
                (_StoreLoginHandler,),
                {"store": self._store, "_login_endpoint": self._login_endpoint,
                 "_login_template": self._login_template},
            )  # fmt: skip
        return self._handler

    @property
    def get_user(self):
        cookie_user = super().get_user

        def get_user(request_handler):
            name = cookie_user(request_handler)
            # a removed user's cookie stops working at their next request
            return name if users.role_of(self._store, name) else None

        return get_user
