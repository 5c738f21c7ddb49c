"""Counts in words, for every message a person reads (page, CLI, errors)."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """ "1 customer", "2,000 customers", "0 customers"; `many` for irregular plurals."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"
