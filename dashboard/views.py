"""Named, saved views: a person's columns, filters, sort, groups and pivot, reopened by name."""

from __future__ import annotations

from .access import require
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
    """Forget the saved view called `name`."""
    store.execute_write("DELETE FROM saved_views WHERE name = ?", [name])
