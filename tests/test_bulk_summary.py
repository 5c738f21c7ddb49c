"""What a bulk edit will do, counted by the database, checked against pandas.

The summary (`details["summary"]` of `bulk_edit`) says how many of the selected customers
change and in which direction: increases and decreases with the range of new values for
numbers, tags gained and lost, old -> new pairs for choices. Each figure here is computed
again from the table in pandas, independently of the SQL.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from dashboard import View, bulk_edit
from dashboard.errors import ConflictError
from tests.conftest import all_customers

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def _summary(store, target, change):
    batch = bulk_edit(store, target, change, dry_run=True)
    return batch.details["summary"]


def _dec(value, places="0.0001") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def test_a_cut_with_a_floor_counts_increases_and_decreases(demo, frame):
    summary = _summary(demo, View(), {"debit_limit": "*0.9, at least 1000"})
    old = frame.debit_limit.map(_dec)
    new = old.map(lambda v: max(_dec(v * Decimal("0.9")), Decimal(1000)))
    changed = new != old
    (fs,) = summary.fields
    assert summary.selected == len(frame)
    assert summary.changed == fs.changed == int(changed.sum())
    assert summary.unchanged == fs.unchanged == int((~changed).sum())
    assert fs.increases == int((new > old).sum()) > 0  # the floor raised the small ones
    assert fs.decreases == int((new < old).sum()) > fs.increases
    assert (fs.new_min, fs.new_max) == (new[changed].min(), new[changed].max())
    assert (fs.old_min, fs.old_max) == (old[changed].min(), old[changed].max())
    assert all_customers(demo).debit_limit.tolist() == frame.debit_limit.tolist()
    text = fs.describe()
    assert f"{fs.increases} increases, {fs.decreases:,} decreases, {fs.unchanged} unchanged" in text
    assert "new values 1,000.00 to" in text  # several currencies: the amounts alone


def test_money_says_its_currency_or_that_there_are_several(demo, frame):
    """A number typed for an amount of money applies to each customer's own currency: the
    summary names the currency when there is one, and says so when there are several
    (4,400 EUR and 2,750 AED were both capped to "3000" without a word: second tour)."""
    one = frame[frame.currency == frame.currency.mode()[0]]
    ccy = one.currency.iloc[0]
    (fs,) = _summary(demo, one.id.tolist(), {"debit_limit": "*1.1"}).fields
    assert (fs.currencies, fs.currency) == (1, ccy)
    text = fs.describe()
    amount = rf"[\d,]+\.\d\d {ccy}"  # "2,500.00 AED": each amount in its currency
    assert re.search(rf"new values {amount} to {amount} \(were {amount} to {amount}\)", text), text
    assert "currencies" not in text
    mixed = frame.groupby("currency").head(1)
    (fs,) = _summary(demo, mixed.id.tolist(), {"debit_limit": "*1.1"}).fields
    changed = mixed[mixed.debit_limit.map(_dec) * Decimal("1.1") != mixed.debit_limit.map(_dec)]
    assert fs.currencies == changed.currency.nunique() > 1
    assert f"in {fs.currencies} currencies: each number is in each customer's own" in (
        fs.describe())  # fmt: skip
    assert fs.to_dict()["currencies"] == fs.currencies
    (fs,) = _summary(demo, mixed.id.tolist(), {"channels": "+1"}).fields  # not money
    assert fs.currencies == 0 and "currenc" not in fs.describe()


def test_a_selection_by_ids_counts_only_those(demo, frame):
    ids = frame.id.iloc[::3].tolist()
    summary = _summary(demo, ids, {"channels": "-5, at least 10"})
    sel = frame.set_index("id").loc[ids]
    new = (sel.channels - 5).clip(lower=10)
    (fs,) = summary.fields
    assert summary.selected == len(ids)
    assert (fs.decreases, fs.increases) == (int((new < sel.channels).sum()), 0)
    assert fs.unchanged == int((new == sel.channels).sum())
    assert fs.new_min == new[new != sel.channels].min()


def test_filling_and_emptying_a_number(demo):
    demo.execute_write("UPDATE customers SET minimum_payment = NULL WHERE id % 5 = 0")
    frame = all_customers(demo)
    summary = _summary(demo, View(), {"minimum_payment": "25"})
    (fs,) = summary.fields
    old = frame.minimum_payment
    assert fs.filled == int(old.isna().sum()) > 0
    assert fs.increases == int((old < 25).sum()) and fs.decreases == int((old > 25).sum())
    assert fs.unchanged == int((old == 25).sum())
    assert f"{fs.filled} set where empty" in fs.describe()
    emptied = _summary(demo, View(), {"minimum_payment": ""}).fields[0]
    assert emptied.emptied == int(old.notna().sum()) and emptied.filled == 0


def test_tags_gained_lost_and_both(demo, frame):
    tags = frame.set_index("id").tags.map(lambda t: set(t if t is not None else []))
    add = _summary(demo, View(), {"tags": "+=vip"}).fields[0]
    assert add.gain == int((~tags.map(lambda t: "vip" in t)).sum())
    assert (add.lose, add.both) == (0, 0)
    remove = _summary(demo, View(), {"tags": "-=wholesale"}).fields[0]
    assert remove.lose == int(tags.map(lambda t: "wholesale" in t).sum()) > 0
    assert (remove.gain, remove.both) == (0, 0)
    new = {"vip", "wholesale"}
    replace = _summary(demo, View(), {"tags": "vip, wholesale"}).fields[0]
    gains = tags.map(lambda t: bool(new - t))
    loses = tags.map(lambda t: bool(t - new))
    assert replace.gain == int((gains & ~loses).sum())
    assert replace.lose == int((loses & ~gains).sum())
    assert replace.both == int((gains & loses).sum()) > 0
    assert f"{replace.gain} gain tags" in replace.describe()


def test_a_choice_names_its_old_to_new_pairs(demo, frame):
    summary = _summary(demo, View(), {"status": "Inactive"})
    (fs,) = summary.fields
    moved = frame[frame.status != "Inactive"].status.value_counts()
    assert fs.changed == int(moved.sum())
    assert {(o, n): k for o, n, k in fs.moves} == {
        (o, "Inactive"): int(k) for o, k in moved.items()
    }
    top = moved.index[0]
    assert f"{moved.iloc[0]} {top} → Inactive" in fs.describe()


def test_a_choice_with_many_pairs_names_the_first_and_counts_the_rest(demo, frame):
    fs = _summary(demo, View(), {"country": "GB"}).fields[0]
    moved = frame[frame.country != "GB"].country.value_counts()
    assert len(fs.moves) == 5 < len(moved)
    assert [k for _, _, k in fs.moves] == moved.iloc[:5].tolist()
    assert f"and {int(moved.iloc[5:].sum())} more" in fs.describe()


def test_switches_count_no_to_yes(demo, frame):
    fs = _summary(demo, View(), {"portal_access": "yes"}).fields[0]
    assert fs.moves == ((False, True, int((~frame.portal_access).sum())),)
    assert f"{int((~frame.portal_access).sum())} no → yes" in fs.describe()


def test_several_changes_count_each_field_and_customers_once(demo, frame):
    summary = _summary(demo, View(), {"channels": "10", "status": "Active"})
    either = (frame.channels != 10) | (frame.status != "Active")
    assert summary.changed == int(either.sum())
    channels, status = summary.fields
    assert channels.changed == int((frame.channels != 10).sum())
    assert status.changed == int((frame.status != "Active").sum())
    for _cid, _name, _label, old, new, _ccy in summary.first:
        assert old != new  # of two changes, the one that changes nothing is not listed


def test_the_summary_as_json_values(demo, frame):
    data = _summary(demo, frame.id.head(20).tolist(), {"tax": "+1.5"}).to_dict()
    assert data["selected"] == 20 and data["changed"] == 20 and data["unchanged"] == 0
    (fs,) = data["fields"]
    assert fs["kind"] == "number" and fs["increases"] == 20
    assert fs["new_max"] == pytest.approx(float(frame.tax.head(20).max()) + 1.5)
    assert data["first"][0]["new"] == pytest.approx(data["first"][0]["old"] + 1.5)
    json.dumps(data)  # plain JSON values only


def test_a_confirmed_count_that_no_longer_holds_writes_nothing(demo, frame):
    ids = frame.id.head(10).tolist()
    n = _summary(demo, ids, {"status": "Inactive"}).changed
    bulk_edit(demo, ids[:1], {"status": "Inactive"})  # someone else, meanwhile
    with pytest.raises(ConflictError, match="changed since the preview"):
        bulk_edit(demo, ids, {"status": "Inactive"}, expect=n)
    batches = demo.scalar("SELECT count(*) FROM batches WHERE action = 'bulk_edit'")
    assert batches == 1
    assert bulk_edit(demo, ids, {"status": "Inactive"}, expect=n - 1).count == n - 1


def test_a_dry_run_works_on_a_read_only_database(tmp_path):
    from dashboard import Store, add_demo_customers

    path = tmp_path / "c.duckdb"
    with Store(path) as store:
        add_demo_customers(store, 50, seed=3)
    with Store(path, read_only=True) as store:
        batch = bulk_edit(store, View(), {"channels": "+1"}, dry_run=True)
        assert batch.details["summary"].fields[0].increases == 50
