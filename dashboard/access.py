"""Who may do what: three roles, checked by the service functions themselves.

The page hides what a role may not use, but the check that counts is here, at the top of
every service function that changes something: calling `delete_customers` directly as a
viewer is refused just as the missing button is.

A `Store` opened from a file on this machine acts as "admin" (whoever can open the file
can change it); the served dashboard gives each signed-in session a store that acts as that
user, with that user's role (`Store.acting_as`).
"""

from __future__ import annotations

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
    "users": "admin",
}

_WORDS = {
    "add": "add customers", "edit": "edit customers", "bulk_edit": "bulk edit customers",
    "import": "upload customers", "undo": "undo changes", "delete": "delete customers",
    "send": "send messages", "settings": "change the settings", "users": "manage users",
    "export": "export", "read": "read customers", "save_view": "save views",
}  # fmt: skip


class PermissionDenied(UserError):
    """The signed-in user's role does not allow the action."""


def allowed(role: str | None, action: str) -> bool:
    """Whether `role` may do `action`."""
    need = ACTIONS[action]
    return role in ROLES and ROLES.index(role) >= ROLES.index(need)


def require(store, action: str) -> None:
    """Raise PermissionDenied unless the store's acting user may do `action`."""
    role = getattr(store, "role", "admin")
    if not allowed(role, action):
        need = ACTIONS[action]
        raise PermissionDenied(
            f"{store.user} ({role}) may not {_WORDS.get(action, action)}; "
            f"that needs the {need} role or higher"
        )


def check_role(role: str) -> str:
    """The role, if it is one; a clear error otherwise."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    return role
