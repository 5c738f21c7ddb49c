"""dashboard.live: a committed write tells the listeners on its database (and only those),
a rolled-back one tells nobody; listeners are weakly held and go when closed."""

from __future__ import annotations

import gc

import pytest

from dashboard import Store, customers, live
from dashboard.store import Rollback


class Page:
    """Stands for a served page: listens with a bound method."""

    def __init__(self) -> None:
        self.told = 0

    def told_of_change(self) -> None:
        self.told += 1


def test_a_committed_batch_tells_the_listeners_on_its_database(demo):
    page, other_page = Page(), Page()
    listening = live.listen(demo.acting_as("ann", "editor"), page.told_of_change)
    with Store(":memory:") as other:
        elsewhere = live.listen(other, other_page.told_of_change)
        customers.update_customer(demo, 1, {"channels": 7})
        assert (page.told, other_page.told) == (1, 0)
        elsewhere.close()
    with demo.transaction() as cur:  # no batch: no customer data written
        cur.execute("SELECT 1")
    with pytest.raises(Exception):  # noqa: B017 - any refusal: nothing committed
        customers.update_customer(demo, 1, {"channels": -5})
    with demo.transaction():
        from dashboard.audit import open_batch

        open_batch(demo.cursor(), "edit", "ann")
        raise Rollback
    assert page.told == 1
    listening.close()
    assert not listening.active
    customers.update_customer(demo, 1, {"channels": 8})
    assert page.told == 1


def test_listeners_are_weakly_held_and_a_failing_one_is_dropped(demo):
    page = Page()
    live.listen(demo, page.told_of_change)
    assert live.CHANGES.count(demo) == 1
    del page
    gc.collect()
    assert live.CHANGES.count(demo) == 0

    def broken() -> None:
        raise RuntimeError("the document is gone")

    listening = live.listen(demo, broken)
    customers.update_customer(demo, 2, {"channels": 3})  # the write itself succeeds
    assert not listening.active
