"""Who may do what: three roles, checked by the service functions themselves.

The page hides what a role may not use, but the check that counts is here, at the top of
every service function that changes something: calling `delete_customers` directly as a
viewer is refused just as the missing button is.

A `Store` opened from a file on this machine acts as "admin" (whoever can open the file
can change it); the served dashboard gives each signed-in session a store that acts as that
user, with that user's role and sign-in generation (`Store.acting_as`). `require` checks that
generation against the users table on every call, so a session whose user was removed, or
whose password or role changed, can change nothing more even while its page stays open.

Undo has a rule of its own (`require_undo`): reversing a batch does the inverse action, and
the acting user needs the role for that too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError

ROLES = ("viewer", "editor", "admin")

#: Each action and the least role that may do it.
ACTIONS: dict[str, str] = {
    "read": "viewer",  # the grid, filters, groups, pivots, charts, the SQL box
    "export": "viewer",
    "save_view": "viewer",
    "add": "editor",
    "edit": "editor",
    "bulk_edit": "editor",
    "import": "editor",
    "undo": "editor",
    "delete": "admin",
    "send": "admin",
    "settings": "admin",
    "rates": "admin",  # import exchange rates (everyone reads them)
    "users": "admin",
    "views": "admin",  # replace or delete a saved view someone else saved
}

_WORDS = {
    "add": "add customers", "edit": "edit customers", "bulk_edit": "bulk edit customers",
    "import": "upload customers", "undo": "undo changes", "delete": "delete customers",
    "send": "send messages", "settings": "change the settings", "rates": "import exchange rates", "users": "manage users",
    "export": "export", "read": "read customers", "save_view": "save views",
    "views": "replace or delete other people's saved views",
}  # fmt: skip


class PermissionDenied(UserError):
    """The signed-in user's role does not allow the action."""


@dataclass(frozen=True)
class Actor:
    """Someone acting where no database is at hand (the settings file, a test message)."""

    user: str
    role: str


#: Whoever runs the code on this machine: acts as admin, like a Store opened from a file.
OPERATOR = Actor("operator", "admin")


def allowed(role: str | None, action: str) -> bool:
    """Whether `role` may do `action`."""
    need = ACTIONS[action]
    return role in ROLES and ROLES.index(role) >= ROLES.index(need)


def require(store, action: str) -> None:
    """Raise PermissionDenied unless the store's (or Actor's) acting user may do `action`.

    `store` None is the local operator (admin). A signed-in session's store also has to be
    current: its user still exists with the generation it signed in with.
    """
    store = OPERATOR if store is None else store
    _require_current(store)
    role = getattr(store, "role", "admin")
    if not allowed(role, action):
        need = ACTIONS[action]
        raise PermissionDenied(
            f"{store.user} ({role}) may not {_WORDS.get(action, action)}; "
            f"that needs the {need} role or higher"
        )


def _require_current(store) -> None:
    """A session store whose user was removed, or whose password or role changed since
    sign-in, is refused: its role may no longer be theirs."""
    generation = getattr(store, "generation", None)
    if generation is None:
        return
    found = store.rows("SELECT role, generation FROM users WHERE name = ?", [store.user])
    if not found or found[0][1] != generation or found[0][0] != store.role:
        raise PermissionDenied(
            f"the session of {store.user} has ended (the user was removed, or their password "
            "or role changed); sign in again"
        )


#: What reversing each kind of audit row does, as the action it amounts to.
_INVERSE = {"add": "delete", "delete": "delete", "update": "edit", "rate": "rates"}


def require_undo(store, batch: str, action: str, made_by: str, kinds: set[str]) -> None:
    """Raise PermissionDenied unless the store's user may undo batch `batch`.

    The rule: undoing needs the "undo" role and also the role of what the reversal does.
    - reversing updates (edit, bulk edit, import updates) writes values back: "edit";
    - reversing adds (an add or an import) deletes customers: "delete" (admin), except that
      the user who made the batch may undo it while they still hold the role that made it
      (an editor takes back their own import);
    - reversing a delete re-creates the deleted customers with their personal data:
      "delete" (admin), like the delete itself;
    - a send cannot be undone (the messages are out).
    `kinds` holds the audit row kinds of the batch ("add", "update", "delete").
    """
    require(store, "undo")
    if action == "send":
        raise UserError(f"batch {batch} is a send, which cannot be undone (messages not yet "
                        "sent can be discarded on the Messages page)")  # fmt: skip
    role, user = getattr(store, "role", "admin"), getattr(store, "user", "operator")
    for kind in sorted(kinds):
        need = _INVERSE.get(kind, "delete")
        if kind == "add" and user == made_by and action in ACTIONS and allowed(role, action):
            continue  # one's own add or import, taken back with the role that made it
        if not allowed(role, need):
            what = {"add": "deletes the customers it added",
                    "delete": "re-creates the customers it deleted",
                    "update": "writes back the values it changed",
                    "rate": "removes the exchange rates it imported"}.get(kind, kind)  # fmt: skip
            raise PermissionDenied(
                f"{user} ({role}) may not undo batch {batch} ({action} by {made_by}): undoing "
                f"it {what}, which needs the {ACTIONS[need]} role or higher"
            )


def check_role(role: str) -> str:
    """The role, if it is one; a clear error otherwise."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    return role
