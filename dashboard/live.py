"""Telling open pages that the data changed, the moment a write commits.

The server's API handlers, the CLI writing through the server and every browser session run
in one process over one `Store`. When a transaction that wrote a batch commits
(`Store.transaction`), `changed(store)` tells every listener on that database; a served
page listens (dashboard/ui/page.py) and reloads what it shows on its own document's next
tick, instead of finding out at its next poll.

On PostgreSQL several processes write one database (servers, the CLI, notebooks): the
writing transaction also NOTIFYs (delivered on commit only), and the first listener on a
store has it LISTEN on one connection of its own, on a thread (`Store.watch`,
dashboard/pgstore.py `Watcher`), which calls `changed` for other processes' writes.

`CHANGES` is process-wide on purpose, and holds no per-user state: only which callbacks
listen to which database, each weakly held (a page that is gone stops listening by itself)
and removed when its session ends. Listeners are called on the writer's thread, so they
must only schedule work (a Bokeh document's `add_next_tick_callback` is safe from any
thread), never do it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def database_key(store: Any) -> str:
    """Which database a store (or any of its `acting_as` copies) writes: its file, or for
    an in-memory database the helpers dict its copies share."""
    path = str(getattr(store, "path", ""))
    if path != ":memory:":
        return path
    return f":memory:#{id(store._attached)}"  # noqa: SLF001 - shared by acting_as copies


class Listening:
    """One listener's registration; `close()` stops it (idempotent)."""

    def __init__(self, changes: Changes, number: int) -> None:
        self._changes = changes
        self.number = number

    def close(self) -> None:
        """Stop listening."""
        self._changes.forget(self.number)

    @property
    def active(self) -> bool:
        """Whether the callback is still called."""
        return self._changes.has(self.number)


class Changes:
    """Who to tell when a write to a database commits: callbacks, weakly held."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._listeners: dict[int, tuple[str, Callable[[], Callable[[], Any] | None]]] = {}

    def listen(self, store: Any, callback: Callable[[], Any]) -> Listening:
        """Call `callback()` after every committed write to `store`'s database, on the
        writer's thread (so it must only schedule work). A bound method is held weakly
        (its object may go away); a plain function is held as long as the registration."""
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            ref: Callable[[], Callable[[], Any] | None] = weakref.WeakMethod(callback)
        else:  # a lambda's only reference may be this one: held with the registration
            ref = _Strong(callback)
        with self._lock:
            number = next(self._numbers)
            self._listeners[number] = (database_key(store), ref)
        watch = getattr(store, "watch", None)
        if watch is not None:  # other processes' writes too (Postgres: LISTEN/NOTIFY)
            watch()
        return Listening(self, number)

    def forget(self, number: int) -> None:
        """Remove registration `number` (gone already: nothing happens)."""
        with self._lock:
            self._listeners.pop(number, None)

    def has(self, number: int) -> bool:
        """Whether registration `number` is still there."""
        with self._lock:
            return number in self._listeners

    def count(self, store: Any | None = None) -> int:
        """Listeners alive (on `store`'s database, if given)."""
        key = None if store is None else database_key(store)
        with self._lock:
            return sum(1 for k, ref in self._listeners.values()
                       if ref() is not None and (key is None or k == key))  # fmt: skip

    def changed(self, store: Any) -> int:
        """Tell every listener on `store`'s database; returns how many were told. A
        listener that fails is logged and dropped: a write never fails because a page
        could not be told."""
        key = database_key(store)
        with self._lock:
            targets = [(n, ref) for n, (k, ref) in self._listeners.items() if k == key]
        told = 0
        for number, ref in targets:
            callback = ref()
            if callback is None:
                self.forget(number)
                continue
            try:
                callback()
                told += 1
            except Exception:
                log.exception("a page could not be told of a change; it stops listening")
                self.forget(number)
        return told


class _Strong:
    """A reference that always holds (for plain functions registered as listeners)."""

    def __init__(self, target: Callable[[], Any]) -> None:
        self._target = target

    def __call__(self) -> Callable[[], Any]:
        return self._target


#: The process's listeners: every store in this process tells these.
CHANGES = Changes()


def listen(store: Any, callback: Callable[[], Any]) -> Listening:
    """`CHANGES.listen`: call `callback()` after each committed write to `store`'s database."""
    return CHANGES.listen(store, callback)


def changed(store: Any) -> int:
    """`CHANGES.changed`: tell the listeners on `store`'s database that it changed."""
    return CHANGES.changed(store)
