"""Demo data: deterministic, varied, and valid by the registry's own rules."""

from __future__ import annotations

from dashboard import Store, add_demo_customers, get_customer, search
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


def _search_tables(store):
    """The search tables' contents, order aside (a word repeated in a text repeats its row;
    a text's values, its contacts' among them, come in no set order)."""
    texts = [
        (cid, *(None if t is None else sorted(t.split(search.SEPARATOR)) for t in columns))
        for cid, *columns in store.rows(f"SELECT * FROM {search.TABLE} ORDER BY customer_id")
    ]
    return (
        texts,
        store.rows(f"SELECT g, token, customer_id, count(*) FROM {search.TOKENS} GROUP BY ALL ORDER BY ALL"),
        store.rows(f"SELECT g, token FROM {search.VOCAB} ORDER BY ALL"),
    )  # fmt: skip


def test_search_tables_after_demo_data_equal_ones_rebuilt_from_scratch():
    store = Store(":memory:")
    add_demo_customers(store, 300, seed=9, usage_days=0)  # the whole build
    add_demo_customers(store, 40, seed=9, usage_days=0)  # the new customers' rows only
    after_demo = _search_tables(store)
    with store.transaction() as cur:
        cur.execute(f"DELETE FROM {search.TOKENS}")
        cur.execute(f"DELETE FROM {search.VOCAB}")
        search.rebuild(cur)
    assert _search_tables(store) == after_demo
    texts, tokens, vocab = after_demo
    assert len(texts) == 340
    # and the words are those Python splits each text into (independent of the SQL)
    want: dict[tuple, int] = {}
    for customer_id, *columns in texts:
        for g, (group, text) in enumerate(zip(search.groups(), columns, strict=True)):
            for word in search.pieces(search.SEPARATOR.join(text or [])) if group.worded else ():
                want[(g, word, customer_id)] = want.get((g, word, customer_id), 0) + 1
    assert {(g, w, c): n for g, w, c, n in tokens} == want
    assert vocab == sorted({(g, w) for g, w, _ in want})


def test_the_search_text_is_built_without_sorting_the_contacts():
    """A customer's search text is a bag of values (a search matches one value at a time):
    building it sorts nothing (issue 17: the sort of every contact cost the build), and a
    search still finds each contact's values."""
    sql, _ = search._fill_sql("TRUE", [])
    assert "ORDER BY" not in sql.upper()
    store = Store(":memory:")
    add_demo_customers(store, 60, seed=4, usage_days=0)
    emails = store.rows("SELECT customer_id, email FROM contacts ORDER BY id")
    for customer_id, email in emails[::7]:
        found = store.rows(search.condition(email)[0], search.condition(email)[1])
        assert customer_id in {i for (i,) in found}, email
