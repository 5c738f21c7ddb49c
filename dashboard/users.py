"""Users of the served dashboard: names, roles, slow salted password hashes, and the
sign-in generation that ends sessions.

Passwords are hashed with argon2id at OWASP's recommended cost (19 MiB, 2 passes, 1 lane)
under a random 16-byte salt; only the hash is stored. Hashes written by earlier versions
(scrypt) still verify and are replaced by argon2id at the user's next good sign-in. The
users table is never copied into the readers' snapshot.

Each user has a generation, written into their session cookie at sign-in; changing their
password or role, or removing them, moves it on, which ends every session signed in before.
A new user starts at a random generation, so a removed and re-added name does not bring an
old cookie back to life. `LoginThrottle` slows down password guessing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from .access import ROLES, check_role, require
from .errors import UserError
from .store import Store, utcnow

#: argon2id at OWASP's recommendation (Password Storage Cheat Sheet): m=19 MiB, t=2, p=1.
ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32,
                        salt_len=16, type=Type.ID)  # fmt: skip
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    generation: int = 0


def hash_password(password: str) -> str:
    """The argon2id hash ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") of `password`."""
    return ARGON2.hash(password)


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (argon2id, or an earlier version's scrypt)."""
    stored = stored or ""
    if stored.startswith("$argon2"):
        try:
            return ARGON2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return _check_scrypt(password, stored)


def needs_rehash(stored: str) -> bool:
    """Whether a hash should be replaced at the next good sign-in (scrypt, or weaker
    argon2 parameters than today's)."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return ARGON2.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _check_scrypt(password: str, stored: str) -> bool:
    """The scrypt hashes of earlier versions: "scrypt$N$r$p$salt$hash"."""
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
        generation = secrets.randbelow(2**30)  # see the module's docstring
        cur.execute(
            "INSERT INTO users (name, role, password_hash, created_at, updated_at, generation) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [name, role, digest, now, now, generation],
        )
    return User(name, role, generation)


def remove_user(store: Store, name: str) -> None:
    """Remove a user (admins only); their sessions end at once."""
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
    """Change a user's password (admins only); their sessions end."""
    require(store, "users")
    digest = hash_password(_check_password(password))
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchall():
            raise UserError(f"no user {name!r}")
        cur.execute("UPDATE users SET password_hash = ?, updated_at = ?, "
                    "generation = generation + 1 WHERE name = ?", [digest, utcnow(), name])  # fmt: skip


def set_role(store: Store, name: str, role: str) -> None:
    """Change a user's role (admins only); their sessions end; the last admin keeps theirs."""
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
        cur.execute("UPDATE users SET role = ?, updated_at = ?, generation = generation + 1 "
                    "WHERE name = ?", [role, utcnow(), name])  # fmt: skip


def sign_out(store: Store, user: User) -> None:
    """End every session of `user` (signing out in one browser signs out everywhere): a
    cookie copied before the sign-out no longer opens the page. Only the session's own
    user comes here, so no role is needed; the generation must still be the session's, so
    a stale cookie cannot end newer sessions."""
    store.execute_write("UPDATE users SET generation = generation + 1 WHERE name = ? AND "
                        "generation = ?", [user.name, user.generation])  # fmt: skip


def list_users(store: Store) -> list[User]:
    """Every user with their role, by name."""
    return [User(n, r) for n, r in store.rows("SELECT name, role FROM users ORDER BY name")]


def role_of(store: Store, name: str | None) -> str | None:
    """The role of an existing user (None for no such user)."""
    if not name:
        return None
    rows = store.rows("SELECT role FROM users WHERE name = ?", [name])
    return rows[0][0] if rows and rows[0][0] in ROLES else None


def current(store: Store, name: str | None) -> User | None:
    """The existing user called `name`, with their role and generation (None: no such user)."""
    if not name:
        return None
    rows = store.rows("SELECT role, generation FROM users WHERE name = ?", [name])
    if not rows or rows[0][0] not in ROLES:
        return None
    return User(name, rows[0][0], rows[0][1])


def verify(store: Store, name: str, password: str) -> User | None:
    """The user (with their generation) if `password` is theirs; None otherwise. Unknown
    names cost as much time. A good password's old or weaker hash is replaced by today's."""
    rows = store.rows("SELECT role, password_hash, generation FROM users WHERE name = ?",
                      [name or ""])  # fmt: skip
    if not rows:
        check_password(password or "", _DUMMY)  # same work either way: no name probing
        return None
    role, stored, generation = rows[0]
    if not check_password(password or "", stored):
        return None
    if needs_rehash(stored):
        # the same password, so the generation stays (no session ends); only if the hash is
        # still the one checked (a password change meanwhile wins)
        store.execute_write("UPDATE users SET password_hash = ? WHERE name = ? AND "
                            "password_hash = ?", [hash_password(password), name, stored])  # fmt: skip
    return User(name, role, generation)


_DUMMY = hash_password("not-a-real-password-at-all")


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Failed sign-ins in one server process, counted three ways: per user name from one
    address, per address (one address trying many names), and per user name from
    everywhere (guessing spread over many addresses).

    Past its free failures with no `window` seconds of quiet between them, each further
    failure locks the key for twice as long as the one before: 2, 4, 8 s ... up to
    `longest`. A locked key is refused without checking the password, and refused tries
    are not counted. The name-from-everywhere count is free for much longer
    (`free_name`), so that someone guessing from one address locks themselves out, not the
    real user signing in from elsewhere: locking out an admin takes failures from several
    addresses. Every name counts, known or not, so that the lock does not tell which names
    exist; the oldest entries are dropped past `max_entries` (a flood of made-up names
    cannot fill memory). A good sign-in clears its name's and address's failures.
    """

    free: int = 5
    free_address: int = 10
    free_name: int = 50
    window: float = 15 * 60
    longest: float = 15 * 60
    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _seen: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(self, name: str, address: str) -> int:
        """Seconds until `name` from `address` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            left = [self._seen[k].locked_until - now for k in self._keys(name, address)
                    if k in self._seen]  # fmt: skip
        return max([0, *[int(x) + 1 for x in left if x > 0]])

    def attempt(self, name: str, address: str) -> None:
        """Count an attempt as failed before its password is checked (so parallel guesses
        are counted too); `succeeded` takes it back."""
        now = self.clock()
        with self._lock:
            for key in self._keys(name, address):
                f = self._seen.pop(key, None) or _Failures()
                if now - f.last > self.window:
                    f = _Failures()
                f.count, f.last = f.count + 1, now
                free = {"pair": self.free, "address": self.free_address,
                        "name": self.free_name}[key[0]]  # fmt: skip
                if f.count >= free:
                    f.locked_until = now + min(2.0 ** (f.count - free + 1), self.longest)
                self._seen[key] = f  # re-inserted: the dict stays in least-recent order
            while len(self._seen) > self.max_entries:
                self._seen.pop(next(iter(self._seen)))

    def succeeded(self, name: str, address: str) -> None:
        """A good password: forget the name's and the address's failures."""
        with self._lock:
            for key in self._keys(name, address):
                self._seen.pop(key, None)

    @staticmethod
    def _keys(name: str, address: str) -> tuple[tuple, ...]:
        name = (name or "").strip().lower()
        return (("pair", name, address or ""), ("address", address or ""), ("name", name))
