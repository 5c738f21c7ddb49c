"""The exceptions a user can cause, and how they are described.

Everything a person can get wrong (a bad value, an unknown field, a duplicate name, a
write to a database another process serves) is raised as a subclass of `UserError`, so the
CLI and the page can show the message and never a traceback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class UserError(Exception):
    """A mistake in what a person asked for; its message is meant to be shown as is."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value.

    `row` is the 1-based data row (for imports and batches); `column` is the spreadsheet
    header or CLI argument the value came from, when that differs from the field; `label`
    is what a form calls the value ("From address"), when a person set it in one.
    """

    field: str
    value: Any
    message: str
    row: int | None = None
    column: str | None = None
    label: str | None = None

    def describe(self) -> str:
        """A single line naming where the problem is, the value and what is wrong: by its
        form label when it has one ("From address: 'x' is not a valid email address"),
        else by row, column and field."""
        if self.label:
            if self.value in (None, ""):
                return f"{self.label} {self.message}"
            return f"{self.label}: {self.value!r} {self.message}"
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column and self.column != self.field:
            where.append(f"column {self.column!r}")
        if self.field:
            where.append(f"field {self.field}")
        shown = "" if self.value in (None, "") else f" (value {self.value!r})"
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}{shown}" if prefix else f"{self.message}{shown}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, for `--json` output and the page."""
        d = asdict(self)
        d["value"] = None if self.value is None else str(self.value)
        return d


class ValidationError(UserError):
    """Every problem found in a write; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(self._summary())

    def _summary(self) -> str:
        lines = [p.describe() for p in self.problems[:20]]
        more = len(self.problems) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more problems")
        return "\n".join(lines)

    def by_field(self) -> dict[str, list[str]]:
        """Messages grouped by field name, for showing next to each form input."""
        out: dict[str, list[str]] = {}
        for p in self.problems:
            out.setdefault(p.field, []).append(p.message)
        return out


class DatabaseBusyError(UserError):
    """The database file is held by another process (usually `customer-dashboard serve`)."""


class ConflictError(UserError):
    """The rows changed since they were read, or a later change blocks an undo."""

    def __init__(
        self,
        message: str,
        changes: dict[str, Any] | None = None,
        *,
        fields: dict[str, str] | None = None,
    ):
        #: (before, after) by field label, as the message lists them.
        self.changes = changes or {}
        #: Who last changed each field since it was read, by field name ("contacts" too).
        self.fields = fields or {}
        super().__init__(message)


class StorageError(UserError):
    """The database file could not be written (disk full, read-only); nothing was written."""
