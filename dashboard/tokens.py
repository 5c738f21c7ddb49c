"""API tokens: a bearer token acts as its user, with that user's role.

A token is 256 random bits ("cdt_" + 43 URL-safe characters), shown once when it is made.
Only its SHA-256 is stored. A slow password hash (argon2id, as for passwords) buys nothing
here: it protects low-entropy secrets against guessing, and nobody guesses 2^256; it would
cost every API request 19 MiB and tens of milliseconds. A plain digest also lets the token
be found by an indexed lookup of its hash, with no per-user salt to try.

The token's user must exist in the users table: removing the user (or changing their role)
takes effect on the token's next request, as the role is read from the users table each
time. `token_id` ("t-" + 8 hex) is the public handle people list and revoke tokens by.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from .access import require
from .errors import UserError
from .store import Store, utcnow

PREFIX = "cdt_"
_DURATION = re.compile(r"^\s*(\d+)\s*([hdwy])\s*$", re.I)
_UNITS = {"h": 1 / 24, "d": 1, "w": 7, "y": 365}
#: last_used_at is written at most this often per token (a write per request would queue
#: every read behind the write lock).
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Token:
    """A stored token (never its secret)."""

    token_id: str
    user: str
    label: str | None
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def state(self) -> str:
        """'active', 'expired' or 'revoked'."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"

    @classmethod
    def from_dict(cls, data: dict) -> Token:
        """The token `to_dict` described (the API's answer)."""
        values: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        for k, v in values.items():
            if k.endswith("_at") and isinstance(v, str):
                values[k] = dt.datetime.fromisoformat(v)
        return cls(**values)

    def to_dict(self) -> dict:
        """JSON-friendly form (times as ISO text)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k, v in out.items():
            if isinstance(v, dt.datetime):
                out[k] = v.isoformat(timespec="seconds")
        out["state"] = self.state
        return out


@dataclass(frozen=True)
class Caller:
    """Who a valid token belongs to: acts as `user` with `role`."""

    token_id: str
    user: str
    role: str


def digest(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_expiry(text: str | None) -> dt.timedelta | None:
    """'90d', '12h', '2w', '1y' as a duration; None or 'never' for no expiry."""
    if text is None or str(text).strip().lower() in ("", "never"):
        return None
    found = _DURATION.match(str(text))
    if not found or int(found.group(1)) <= 0:
        raise UserError(f"--expires {text!r}: write it as a number and h, d, w or y "
                        "(90d, 12h, 2w, 1y), or never")  # fmt: skip
    return dt.timedelta(days=int(found.group(1)) * _UNITS[found.group(2).lower()])


def add_token(
    store: Store, user: str, *, label: str | None = None, expires: str | None = None
) -> tuple[Token, str]:
    """Make a token for existing user `user` (admins only); returns it and its secret,
    which is shown this once and never stored."""
    require(store, "users")
    life = parse_expiry(expires)
    secret = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM users WHERE name = ?", [user]).fetchall():
            raise UserError(f"no user {user!r}; add one with `customer-dashboard users add`")
        token_id = "t-" + secrets.token_hex(4)
        cur.execute(
            "INSERT INTO api_tokens (token_id, token_hash, user_name, label, created_by, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [token_id, digest(secret), user, (label or "").strip() or None, store.user, now,
             now + life if life else None],
        )  # fmt: skip
    return get_token(store, token_id), secret


def get_token(store: Store, token_id: str) -> Token:
    """One token by its id (admins only)."""
    require(store, "users")
    found = _select(store, "WHERE token_id = ?", [token_id])
    if not found:
        raise UserError(f"no token {token_id!r} (see `customer-dashboard tokens list`)")
    return found[0]


def list_tokens(store: Store, *, user: str | None = None) -> list[Token]:
    """Every token (or `user`'s), newest first, revoked and expired ones too (admins only)."""
    require(store, "users")
    if user:
        return _select(store, "WHERE user_name = ? ORDER BY created_at DESC", [user])
    return _select(store, "ORDER BY created_at DESC", [])


def revoke_token(store: Store, token_id: str) -> Token:
    """Revoke a token (admins only): its next request gets 401."""
    require(store, "users")
    with store.transaction() as cur:
        n = cur.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
            [utcnow(), token_id],
        ).fetchall()[0][0]
        if (
            n == 0
            and not cur.execute(
                "SELECT 1 FROM api_tokens WHERE token_id = ?", [token_id]
            ).fetchall()
        ):
            raise UserError(f"no token {token_id!r} (see `customer-dashboard tokens list`)")
    return get_token(store, token_id)


def authenticate(store: Store, secret: str | None) -> Caller | None:
    """The caller a bearer token stands for, if it is valid now: not revoked or expired,
    and its user still exists (with the role the users table gives them today)."""
    if not secret or not secret.startswith(PREFIX):
        return None
    rows = store.rows(
        "SELECT t.token_id, t.user_name, u.role, t.expires_at, t.last_used_at "
        "FROM api_tokens t JOIN users u ON u.name = t.user_name "
        "WHERE t.token_hash = ? AND t.revoked_at IS NULL",
        [digest(secret)],
    )
    if not rows:
        return None
    token_id, user, role, expires_at, last_used = rows[0]
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        return None
    if last_used is None or now - last_used > TOUCH_EVERY:
        store.execute_write(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", [now, token_id]
        )
    return Caller(token_id, user, role)


def _select(store: Store, tail: str, params: list) -> list[Token]:
    rows = store.rows(
        "SELECT token_id, user_name, label, created_by, created_at, expires_at, last_used_at, "
        f"revoked_at FROM api_tokens {tail}",
        params,
    )
    return [Token(*r) for r in rows]
