"""Demo data: deterministic, varied, and valid by the registry's own rules."""

from __future__ import annotations

from dashboard import Store, add_demo_customers, get_customer
from dashboard.fields import CONTACTS, FIELDS


def test_same_seed_same_customers():
    a, b = Store(":memory:"), Store(":memory:")
    add_demo_customers(a, 200, seed=3)
    add_demo_customers(b, 200, seed=3)
    q = "SELECT name, status, credit, country, tags FROM customers ORDER BY id"
    assert a.rows(q) == b.rows(q)
    c = Store(":memory:")
    add_demo_customers(c, 200, seed=4)
    assert c.rows(q) != a.rows(q)


def test_demo_covers_statuses_currencies_countries_and_contacts(demo):
    assert {r[0] for r in demo.rows("SELECT DISTINCT status FROM customers")} == {
        "Active", "Inactive", "Pending Approval"}  # fmt: skip
    assert demo.scalar("SELECT count(DISTINCT currency) FROM customers") >= 5
    assert demo.scalar("SELECT count(DISTINCT country) FROM customers") >= 10
    per = demo.rows(
        "SELECT min(n), max(n) FROM (SELECT count(*) n FROM contacts GROUP BY customer_id)"
    )
    assert per == [(1, 3)]
    assert demo.scalar("SELECT count(*) FROM customers WHERE toml IS NOT NULL") > 0
    assert demo.scalar("SELECT count(DISTINCT name_key) FROM customers") == 400


def test_every_demo_value_passes_its_fields_validation(demo):
    for cid in [r[0] for r in demo.rows("SELECT id FROM customers ORDER BY id LIMIT 120")]:
        c = get_customer(demo, cid)
        for name, f in FIELDS.items():
            if not f.system and c[name] is not None:
                assert f.parse(c[name]) == c[name] or f.kind in ("decimal", "money", "percent"), (
                    name
                )
        for contact in c["contacts"]:
            assert CONTACTS["email"].parse(contact["email"]) == contact["email"]
            assert CONTACTS["mobile"].parse(contact["mobile"]) == contact["mobile"]


def test_adding_more_demo_customers_continues_the_names(demo):
    assert add_demo_customers(demo, 100, seed=7) == 100
    assert demo.scalar("SELECT count(DISTINCT name_key) FROM customers") == 500
