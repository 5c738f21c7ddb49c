"""The query engine, checked against an independent pandas computation on the same rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboard import View, count, matching_ids, run
from dashboard.errors import UserError
from dashboard.query import compile_rows, compile_where

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


def ids_of(result) -> list[int]:
    return result.data["id"].tolist()


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"field": "country", "op": "=", "value": "de"}, lambda f: f.country == "DE"),
        (
            {"field": "country", "op": "in", "value": ["GB", "FR"]},
            lambda f: f.country.isin(["GB", "FR"]),
        ),
        ({"field": "status", "op": "!=", "value": "Active"}, lambda f: f.status != "Active"),
        ({"field": "channels", "op": ">=", "value": "100"}, lambda f: f.channels >= 100),
        (
            {"field": "channels", "op": "between", "value": [20, 50]},
            lambda f: f.channels.between(20, 50),
        ),
        ({"field": "credit", "op": "<", "value": "0"}, lambda f: f.credit < 0),
        (
            {"field": "name", "op": "contains", "value": "blue"},
            lambda f: f.name.str.lower().str.contains("blue"),
        ),
        (
            {"field": "name", "op": "starts_with", "value": "Sw"},
            lambda f: f.name.str.startswith("Sw"),
        ),
        ({"field": "portal_access", "op": "=", "value": "no"}, lambda f: ~f.portal_access),
        (
            {"field": "tags", "op": "any", "value": ["vip", "trial"]},
            lambda f: f.tags.map(
                lambda t: bool({"vip", "trial"} & set(t if t is not None else []))
            ),
        ),
        (
            {"field": "tags", "op": "all", "value": ["vip", "trial"]},
            lambda f: f.tags.map(lambda t: {"vip", "trial"} <= set(t if t is not None else [])),
        ),
        ({"field": "paypal_email", "op": "empty"}, lambda f: f.paypal_email.isna()),
        ({"field": "toml", "op": "not_empty"}, lambda f: f.toml.notna()),
    ],
)
def test_each_filter_matches_pandas(demo, frame, flt, expected):
    view = View(filters=[flt], page_size=1000, columns=["id"])
    want = frame.loc[expected(frame), "id"].tolist()
    result = run(demo, view)
    assert ids_of(result) == want
    assert result.total == len(want) > 0 or flt["field"] == "tags"


def test_status_quick_filter_and_search_combine_with_filters(demo, frame):
    view = View(status="Inactive", search="ocean", columns=["id"], page_size=1000)
    want = frame[(frame.status == "Inactive") & frame.name.str.lower().str.contains("ocean")]
    assert ids_of(run(demo, view)) == want.id.tolist()


def test_search_finds_a_customer_by_a_contacts_email(demo):
    email = demo.scalar("SELECT email FROM contacts ORDER BY id DESC LIMIT 1")
    owner = demo.scalar("SELECT customer_id FROM contacts ORDER BY id DESC LIMIT 1")
    assert owner in ids_of(run(demo, View(search=email.upper(), columns=["id"])))


def test_like_wildcards_in_search_are_literal(demo):
    assert run(demo, View(search="%")).total == 0
    assert run(demo, View(filters=[{"field": "name", "op": "contains", "value": "_"}])).total == 0


def test_sort_on_several_keys_and_pages_cover_every_row_once(demo, frame):
    view = View(sort=[["country", "asc"], ["credit", "desc"]], page_size=37, columns=["id"])
    want = frame.sort_values(["country", "credit", "id"], ascending=[True, False, True]).id.tolist()
    got = []
    for page in range(1, 13):
        view.page = page
        got += ids_of(run(demo, view))
    assert got == want


def test_groups_count_and_aggregate_like_pandas(demo, frame):
    view = View(groups=["status", "currency"], values=[["credit", "sum"], ["channels", "avg"],
                                                       ["country", "count_distinct"]])  # fmt: skip
    result = run(demo, view)
    want = frame.groupby(["status", "currency"]).agg(
        count=("id", "size"), sum_credit=("credit", "sum"), avg_channels=("channels", "mean"),
        count_distinct_country=("country", "nunique")).reset_index()  # fmt: skip
    got = result.data.sort_values(["status", "currency"]).reset_index(drop=True)
    assert (
        got[["status", "currency", "count"]].values.tolist()
        == want[["status", "currency", "count"]].values.tolist()
    )
    assert got.sum_credit.astype(float).round(4).tolist() == want.sum_credit.round(4).tolist()
    assert got.avg_channels.round(6).tolist() == want.avg_channels.round(6).tolist()
    assert got.count_distinct_country.tolist() == want.count_distinct_country.tolist()
    assert result.total == len(want)
    assert int(result.totals["count"].iloc[0]) == len(frame)
    assert float(result.totals["sum_credit"].iloc[0]) == pytest.approx(frame.credit.sum())
    table = result.table()
    # grouped by currency: each group's sum in its own, the grand total converted
    assert table.iloc[-1]["Status"] == "Total (EUR)"
    assert "Sum of Balance (per currency)" in table.columns


def test_pivot_cells_row_totals_and_grand_total_match_pandas(demo, frame):
    view = View(groups=["status", "country"], pivot="currency", values=[["credit", "sum"]])
    result = run(demo, view, paged=False)
    want = pd.pivot_table(frame, index=["status", "country"], columns="currency", values="credit",
                          aggfunc="sum")  # fmt: skip
    got = result.data.set_index(["status", "country"])
    for (status, country), row in want.iterrows():
        for ccy, value in row.items():
            cell = got.loc[(status, country), ccy]
            if pd.isna(value):
                assert pd.isna(cell)
            else:
                assert float(cell) == pytest.approx(value)
    assert got["Total"].astype(float).round(2).tolist() == want.sum(axis=1).round(2).tolist()
    assert float(result.totals["Total"].iloc[0]) == pytest.approx(frame.credit.sum())
    assert float(result.totals["EUR"].iloc[0]) == pytest.approx(
        frame.loc[frame.currency == "EUR", "credit"].sum()
    )


def test_pivot_without_values_counts_customers(demo, frame):
    result = run(demo, View(groups=["status"], pivot="portal_access"))
    want = pd.crosstab(frame.status, frame.portal_access)
    got = result.data.set_index("status")
    assert got["yes"].tolist() == want[True].tolist()
    assert got["no"].tolist() == want[False].tolist()


def test_pivot_labels_are_bound_parameters_not_sql(demo):
    cid = demo.scalar("SELECT min(id) FROM customers")
    demo.execute_write(
        "UPDATE customers SET city = ? WHERE id = ?", ["x'); DROP TABLE customers; --", cid]
    )
    result = run(demo, View(groups=["status"], pivot="city"))
    assert "x'); DROP TABLE customers; --" in result.data.columns
    assert demo.scalar("SELECT count(*) FROM customers") == 400


def test_unknown_names_are_refused_before_any_sql(demo):
    for bad in (dict(columns=["name; DROP TABLE customers"]), dict(groups=["nope"]),
                dict(sort=[['name" DESC; --', "asc"]]), dict(pivot="evil"),
                dict(values=[["name", "sum"]]),
                dict(filters=[{"field": "channels", "op": "contains", "value": 1}])):  # fmt: skip
        with pytest.raises(UserError):
            run(demo, View(**bad))


def test_filter_values_go_through_the_fields_parser(demo, frame):
    view = View(
        filters=[{"field": "channels", "op": ">", "value": "1E+2"}], columns=["id"], page_size=999
    )
    assert ids_of(run(demo, view)) == frame.loc[frame.channels > 100, "id"].tolist()
    with pytest.raises(UserError, match="Channels"):
        run(demo, View(filters=[{"field": "channels", "op": ">", "value": "lots"}]))


def test_view_round_trips_through_dict_json_and_url():
    view = View(columns=["name", "credit"], filters=[{"field": "tax", "op": ">", "value": "5"}],
                search="acme", status="Active", sort=["-credit"], page=3, groups=["country"],
                values=["credit:sum"], pivot="currency")  # fmt: skip
    again = View.from_json(view.to_json())
    assert again.to_dict() == view.to_dict()
    assert View.from_query_string("?" + view.to_query_string()).to_dict() == view.to_dict()
    assert json.loads(view.to_json())["sort"] == [["credit", "desc"]]
    assert View().to_dict() == {}
    with pytest.raises(UserError):
        View.from_json('{"colour": "red"}')


def test_select_all_matching_and_count(demo, frame):
    view = View(filters=[{"field": "currency", "op": "=", "value": "EUR"}])
    assert matching_ids(demo, view) == frame.loc[frame.currency == "EUR", "id"].tolist()
    assert count(demo, view) == int((frame.currency == "EUR").sum())


def test_the_sql_is_visible_and_parameters_are_bound():
    view = View(filters=[{"field": "name", "op": "contains", "value": "O'Brien"}])
    q = compile_rows(view)
    assert "O'Brien" not in q.sql and "%O'Brien%" in q.params
    where, params = compile_where(View())
    assert (where, params) == ("TRUE", [])


def test_a_session_reuses_its_search_and_counts_while_nobody_writes(demo):
    start = run(demo, View())
    first = run(demo, View(status="Active", search="o"), earlier=start)
    assert first.search[0] == "o" and len(first.search[1]) > 0  # looked up once, as ids
    # a row written behind the engine's back shows what is reused (the page passes an
    # earlier result only while the change token says nobody wrote)
    demo.execute_write("UPDATE customers SET status = 'Active' WHERE id = (SELECT min(id) "
                       "FROM customers WHERE status <> 'Active' AND name ILIKE '%o%')")  # fmt: skip
    again = run(demo, View(status="Active", search="o", page=2, sort=[["credit", "desc"]]),
                earlier=first)  # fmt: skip
    assert (again.total, again.customers) == (first.total, first.customers)
    assert again.search[1] is first.search[1]
    assert run(demo, View(status="Active", search="o", page=2)).total == first.total + 1
    # other filters: the counts are taken again (over the same search ids)
    other = run(demo, View(status="Inactive", search="o"), earlier=first)
    assert other.total != first.total and other.search[1] is first.search[1]


@pytest.mark.parametrize("view", [
    View(search="o", status="Inactive", page=2, page_size=20),
    View(search="ocean", filters=[{"field": "country", "op": "in", "value": ["GB", "DE"]}]),
    View(search="o", groups=["status"], values=[["credit", "sum"]]),
    View(search="o", groups=["status"], pivot="currency"),
    View(search="o", columns=["id", "name", "revenue_30d"], sort=[["revenue_30d", "desc"]]),
    View(search="7", source="usage", groups=["country"], values=[["revenue", "sum"]]),
])  # fmt: skip
def test_reusing_a_search_gives_the_same_answer_as_running_it_afresh(demo, view):
    earlier = run(demo, View(search=view.search), earlier=run(demo, View()))
    reused = run(demo, view, earlier=earlier)
    fresh = run(demo, view)
    assert reused.search[1] is earlier.search[1]
    assert reused.total == fresh.total and reused.customers == fresh.customers
    pd.testing.assert_frame_equal(reused.data, fresh.data)


def test_a_phone_number_is_found_as_people_write_it(demo):
    mobile, owner = demo.rows("SELECT mobile, customer_id FROM contacts ORDER BY id LIMIT 1")[0]
    spaced = f"{mobile[:3]} {mobile[3:7]} {mobile[7:9]}-{mobile[9:]}"
    assert owner in ids_of(run(demo, View(search=spaced, columns=["id"], page_size=1000)))
