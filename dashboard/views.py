"""Named, saved views: a person's columns, filters, sort, groups and pivot, reopened by name.

Every role may save views; a view someone else saved may be replaced or deleted only by an
admin (the "views" action), so nobody's saved work disappears under them.
"""

from __future__ import annotations

from .access import allowed, require
from .errors import UserError
from .query import View
from .store import Store, utcnow


def save_view(store: Store, name: str, view: View, *, user: str | None = None) -> None:
    """Save (or replace) the view called `name`."""
    require(store, "save_view")
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise UserError("a saved view needs a name of 1 to 80 characters")
    view.check()
    with store.transaction() as cur:
        _require_owner(store, cur, name)
        cur.execute("DELETE FROM saved_views WHERE name = ?", [name])
        cur.execute(
            "INSERT INTO saved_views (name, view, user_name, saved_at) VALUES (?, ?, ?, ?)",
            [name, view.to_json(), user or store.user, utcnow()],
        )


def saved_views(store: Store) -> list[str]:
    """Names of the saved views, alphabetically."""
    return [r[0] for r in store.rows("SELECT name FROM saved_views ORDER BY lower(name)")]


def load_view(store: Store, name: str) -> View:
    """The saved view called `name`."""
    found = store.rows("SELECT view FROM saved_views WHERE name = ?", [name])
    if not found:
        raise UserError(f"there is no saved view called {name!r}")
    return View.from_json(found[0][0])


def delete_view(store: Store, name: str) -> None:
    """Forget the saved view called `name` (its owner, or an admin)."""
    require(store, "save_view")
    with store.transaction() as cur:
        if not _require_owner(store, cur, name):
            raise UserError(f"there is no saved view called {name!r}")
        cur.execute("DELETE FROM saved_views WHERE name = ?", [name])


def _require_owner(store: Store, cur, name: str) -> bool:
    """Whether the view exists; refuses when someone else saved it and the acting user is
    not an admin."""
    found = cur.execute("SELECT user_name FROM saved_views WHERE name = ?", [name]).fetchall()
    if found and found[0][0] != store.user and not allowed(store.role, "views"):
        require(store, "views")
    return bool(found)
