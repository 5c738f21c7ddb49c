"""Users of the served dashboard: names, roles and slow, salted password hashes.

Passwords are hashed with scrypt (memory-hard, from the standard library) under a random
16-byte salt; only the hash is stored, and it is compared in constant time. The users table
is never copied into the readers' snapshot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from .access import ROLES, check_role, require
from .errors import UserError
from .store import Store, utcnow

#: scrypt cost: 2**14 x 8 x 1 (about 50 ms and 16 MB per check on this machine).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str


def hash_password(password: str) -> str:
    """ "scrypt$N$r$p$salt$hash" for `password` under a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)  # fmt: skip
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=64 * 1024 * 1024, dklen=len(want))  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise UserError(f"user name {name!r}: use 1-64 letters, digits, . _ @ -, starting "
                        "with a letter or digit")  # fmt: skip
    return name


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def add_user(store: Store, name: str, role: str, password: str) -> User:
    """Add a user (admins only)."""
    require(store, "users")
    name, role = _check_name(name), check_role(role)
    digest = hash_password(_check_password(password))
    with store.transaction() as cur:
        if cur.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchall():
            raise UserError(f"user {name!r} exists; use passwd to change the password")
        now = utcnow()
        cur.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?)", [name, role, digest, now, now])
    return User(name, role)


def remove_user(store: Store, name: str) -> None:
    """Remove a user (admins only); their sessions end at their next request."""
    require(store, "users")
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchall():
            raise UserError(f"no user {name!r}")
        admins = cur.execute(
            "SELECT count(*) FROM users WHERE role = 'admin' AND name <> ?", [name]
        ).fetchall()[0][0]
        role = cur.execute("SELECT role FROM users WHERE name = ?", [name]).fetchall()[0][0]
        if role == "admin" and admins == 0:
            raise UserError(f"{name!r} is the last admin; add another admin first")
        cur.execute("DELETE FROM users WHERE name = ?", [name])


def set_password(store: Store, name: str, password: str) -> None:
    """Change a user's password (admins only)."""
    require(store, "users")
    digest = hash_password(_check_password(password))
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchall():
            raise UserError(f"no user {name!r}")
        cur.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?",
                    [digest, utcnow(), name])  # fmt: skip


def set_role(store: Store, name: str, role: str) -> None:
    """Change a user's role (admins only); the last admin keeps theirs."""
    require(store, "users")
    role = check_role(role)
    with store.transaction() as cur:
        rows = cur.execute("SELECT role FROM users WHERE name = ?", [name]).fetchall()
        if not rows:
            raise UserError(f"no user {name!r}")
        others = cur.execute(
            "SELECT count(*) FROM users WHERE role = 'admin' AND name <> ?", [name]
        ).fetchall()[0][0]
        if rows[0][0] == "admin" and role != "admin" and others == 0:
            raise UserError(f"{name!r} is the last admin; make another user admin first")
        cur.execute("UPDATE users SET role = ?, updated_at = ? WHERE name = ?",
                    [role, utcnow(), name])  # fmt: skip


def list_users(store: Store) -> list[User]:
    """Every user with their role, by name."""
    return [User(n, r) for n, r in store.rows("SELECT name, role FROM users ORDER BY name")]


def role_of(store: Store, name: str | None) -> str | None:
    """The role of an existing user (None for no such user)."""
    if not name:
        return None
    rows = store.rows("SELECT role FROM users WHERE name = ?", [name])
    return rows[0][0] if rows and rows[0][0] in ROLES else None


def verify(store: Store, name: str, password: str) -> User | None:
    """The user if `password` is theirs; None otherwise (unknown names cost as much time)."""
    rows = store.rows("SELECT role, password_hash FROM users WHERE name = ?", [name or ""])
    if not rows:
        check_password(password or "", _DUMMY)  # same work either way: no name probing
        return None
    role, stored = rows[0]
    return User(name, role) if check_password(password or "", stored) else None


_DUMMY = hash_password("not-a-real-password-at-all")
