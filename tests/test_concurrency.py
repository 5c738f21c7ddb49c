"""Two sessions (threads of one server, each acting as its own user) changing the same
customers at once: no lost update, and a stale edit is a clear conflict, not a traceback."""

from __future__ import annotations

import threading

import pytest

from dashboard import ConflictError, View, bulk_edit, get_customer, update_customer


def test_concurrent_bulk_edits_lose_nothing(tmp_path):
    from dashboard import Store, add_demo_customers

    with Store(tmp_path / "c.duckdb") as store:
        add_demo_customers(store, 2_000, seed=1, usage_days=0)
        before = store.scalar("SELECT sum(channels) FROM customers WHERE country = 'GB'")
        n = store.scalar("SELECT count(*) FROM customers WHERE country = 'GB'")
        errors = []

        def session(i):
            acting = store.acting_as(f"user{i}", "editor")
            try:
                for _ in range(10):
                    bulk_edit(acting, View(filters=[{"field": "country", "op": "=",
                                                     "value": "GB"}]), {"channels": "+1"})  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        after = store.scalar("SELECT sum(channels) FROM customers WHERE country = 'GB'")
        assert after == before + 40 * n
        users = {u for (u,) in store.rows("SELECT DISTINCT user_name FROM batches "
                                          "WHERE action = 'bulk_edit'")}  # fmt: skip
        assert users == {"user0", "user1", "user2", "user3"}


def test_a_stale_edit_is_a_conflict_naming_what_changed(demo):
    mine = get_customer(demo, 5)
    theirs = demo.acting_as("colleague", "editor")
    update_customer(theirs, 5, {"channels": 77}, expected_version=mine["row_version"])
    with pytest.raises(ConflictError, match="Channels"):
        update_customer(demo, 5, {"tax": "5"}, expected_version=mine["row_version"])
    assert get_customer(demo, 5)["channels"] == 77
