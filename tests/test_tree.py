"""The group tree's engine (dashboard/tree.py): each level is one query whose answer
matches the customers counted independently in pandas."""

from __future__ import annotations

import pytest

from dashboard import UserError, View, run, tree
from dashboard.query import matching_ids

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends

VIEW = View(groups=["status", "country"], values=[["credit", "sum"]])


def test_the_top_level_is_the_first_group_field_with_the_grand_total(demo, frame):
    top = tree.top(demo, VIEW)
    assert list(top.data.columns) == ["status", "count", "sum_credit"]
    assert top.total == frame.status.nunique()
    assert int(top.totals["count"].iloc[0]) == len(frame)
    want = frame.groupby("status").size()
    assert dict(zip(top.data.status, top.data["count"], strict=True)) == want.to_dict()


def test_a_group_opens_to_its_sub_groups_then_its_customers(demo, frame):
    sub = frame[frame.status == "Active"]
    level = tree.children(demo, VIEW, ["Active"])
    assert level.total == sub.country.nunique()
    counts = dict(zip(level.data.country, level.data["count"], strict=True))
    assert counts == sub.groupby("country").size().to_dict()
    sums = dict(zip(level.data.country, level.data.sum_credit, strict=True))
    for country, total in sub.groupby("country").credit.sum().items():
        assert float(sums[country]) == pytest.approx(float(total))
    country = level.data.country.iloc[0]
    leaf = tree.children(demo, VIEW, ["Active", country])
    members = sub[sub.country == country]
    assert leaf.mode == "rows" and leaf.total == len(members)
    assert set(leaf.data.id) <= set(members.id) and "credit" in leaf.data
    # one query when the group's count is known from its row
    fast = tree.children(demo, VIEW, ["Active", country], count=len(members))
    assert fast.data.id.tolist() == leaf.data.id.tolist() and len(fast.queries) == 1


def test_leaves_are_paged_and_sorted_by_customer_fields(demo, frame):
    view = VIEW.copy(sort=[["channels", "desc"], ["count", "desc"]], page_size=5)
    members = frame[frame.status == "Active"]
    country = members.country.value_counts().index[0]
    members = members[members.country == country].sort_values(["channels", "id"],
                                                              ascending=[False, True])  # fmt: skip
    first = tree.children(demo, view, ["Active", country])
    second = tree.children(demo, view, ["Active", country], page=2)
    assert first.data.id.tolist() == members.id.head(5).tolist()
    assert second.data.id.tolist() == members.id.iloc[5:10].tolist()
    # the groups are sorted by count; the customer field's key leaves them alone
    assert run(demo, view).total == frame.groupby(["status", "country"]).ngroups


def test_group_view_selects_exactly_the_group(demo, frame):
    country = frame.country.dropna().iloc[0]
    ids = matching_ids(demo, tree.group_view(VIEW, ["Inactive", country]))
    want = frame[(frame.status == "Inactive") & (frame.country == country)].id
    assert sorted(ids) == sorted(want)


def test_open_groups_are_part_of_the_view_and_checked(demo):
    view = VIEW.copy(expand=[["Active"], ["Active", "GB"]])
    assert View.from_json(view.to_json()).expand == view.expand
    with pytest.raises(UserError, match="open group"):
        View.from_dict({"groups": ["status"], "expand": [["Active", "GB"]]})
    with pytest.raises(UserError, match="expand should be"):
        View.from_dict({"groups": ["status"], "expand": "Active"})
    with pytest.raises(UserError, match="group tree needs"):
        tree.children(demo, View(), ["Active"])
