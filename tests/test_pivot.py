"""Pivot percentages and totals, checked against an independent pandas computation."""

from __future__ import annotations

import pytest

from dashboard import UserError, View, run
from tests.conftest import all_customers

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def _expected(frame, percent):
    table = frame.pivot_table(index="status", columns="currency", values="id", aggfunc="count",
                              fill_value=0, margins=True, margins_name="Total")  # fmt: skip
    if percent == "row":
        return table.div(table["Total"], axis=0) * 100
    if percent == "column":
        return table.div(table.loc["Total"], axis=1) * 100
    return table / table.loc["Total", "Total"] * 100


@pytest.mark.parametrize("percent", ["row", "column", "total"])
def test_pivot_percentages_match_pandas(demo, percent):
    result = run(demo, View(groups=["status"], pivot="currency", percent=percent), paged=False)
    table = result.table().set_index("Status")
    expected = _expected(all_customers(demo), percent)
    for status in expected.index:
        for ccy in expected.columns:
            got = table.loc[status, ccy]
            assert float(got) == pytest.approx(float(expected.loc[status, ccy]), abs=0.006), (
                status, ccy)  # fmt: skip


def test_percentages_of_a_later_page_are_shares_of_the_whole(demo):
    view = View(groups=["country"], pivot="status", percent="total", page_size=3, page=2)
    page = run(demo, view).data.set_index("country")
    frame = all_customers(demo)
    for country in page.index:
        share = 100 * (frame.country == country).sum() / len(frame)
        assert float(page.loc[country, "Total"]) == pytest.approx(share, abs=0.006)


def test_sum_pivot_totals_and_sorting_by_the_total(demo):
    view = View(groups=["country"], pivot="status", values=[["credit", "sum"]],
                sort=[["sum_credit", "desc"]])  # fmt: skip
    result = run(demo, view, paged=False)
    frame = all_customers(demo)
    by_country = frame.groupby("country").credit.sum().astype(float).sort_values(ascending=False)
    assert list(result.data["country"]) == list(by_country.index)
    assert [float(x) for x in result.data["Total"]] == pytest.approx(list(by_country.values))
    assert float(result.totals["Total"].iloc[0]) == pytest.approx(float(frame.credit.sum()))
    active = frame[frame.status == "Active"].groupby("country").credit.sum()
    data = result.data.set_index("country")
    for country, want in active.items():
        assert float(data.loc[country, "Active"]) == pytest.approx(float(want))


def test_group_shares_of_the_grand_total(demo):
    result = run(demo, View(groups=["status"], percent="total"))
    frame = all_customers(demo)
    shares = frame.status.value_counts(normalize=True) * 100
    data = result.data.set_index("status")
    for status, want in shares.items():
        assert data.loc[status, "count"] == pytest.approx(want, abs=0.006)
    assert result.totals["count"].iloc[0] == 100


def test_percentages_refused_where_they_do_not_add_up(demo):
    with pytest.raises(UserError, match="need row groups or a pivot"):
        run(demo, View(percent="row"))
    with pytest.raises(UserError, match="only for counts and sums"):
        run(demo, View(groups=["status"], values=[["credit", "avg"]], percent="total"))


def test_sorting_by_one_pivot_columns_cells_sorts_every_row_group(demo):
    """Issue 18: a header click on a pivot column (one status, one currency) sorted
    nothing (only row totals and group fields were sort keys). Its cells are a key now,
    "count@Active", over every row group: the second page continues the first."""
    frame = all_customers(demo)
    active = frame[frame.status == "Active"].groupby("country").size()
    want = active.reindex(frame.country.unique(), fill_value=0)
    view = View(groups=["country"], pivot="status", sort=[["count@Active", "desc"],
                ["country", "asc"]], page_size=5)  # fmt: skip
    whole = run(demo, view, paged=False)
    got = [int(x) for x in whole.data["Active"]]
    assert got == sorted(want.values, reverse=True)
    assert got == [int(want[c]) for c in whole.data["country"]]
    # ties by country, as the second key says; a page is a slice of the whole
    ties = whole.data.assign(n=got).groupby("n", sort=False)["country"].apply(list)
    assert all(c == sorted(c) for c in ties)
    second = run(demo, view.copy(page=2)).data
    assert list(second["country"]) == list(whole.data["country"][5:10])
    assert whole.sorts_by["Active"] == "count@Active" and whole.sorts_by["Total"] == "count"
    # ascending, with a money value: the cells as shown (converted or not, the same figure)
    money = View(groups=["country"], pivot="status", values=[["credit", "sum"]],
                 sort=[["sum_credit@Inactive", "asc"]])  # fmt: skip
    cells = [float(x) for x in run(demo, money, paged=False).data["Inactive"] if x == x]
    assert cells == sorted(cells)
