"""The search rows kept by every write (dashboard.search.refresh), when a write fails."""

from __future__ import annotations

import pytest

from dashboard import add_customer, search

pytestmark = pytest.mark.both_backends


def test_a_failed_refresh_raises_its_own_error_not_the_aborted_transaction(store):
    """A failure inside the refresh is the error the writer sees: the drop of its scratch
    table used to run in the aborted transaction and raise "current transaction is
    aborted" in its place, hiding the cause."""
    add_customer(store, {"name": "Harper Telecom", "currency": "GBP"})
    (cid,) = store.execute("SELECT id FROM customers").fetchone()
    with store.transaction() as cur:
        cur.execute(f"ALTER TABLE {search.VOCAB} RENAME TO vocab_gone")
    with pytest.raises(Exception) as raised, store.transaction() as cur:
        search.refresh(cur, [cid])
    assert search.VOCAB in str(raised.value)
    assert "aborted" not in str(raised.value).lower()
