"""Daily usage: the demo fills it, views read it joined to customers, the grid shows
per-customer ASR and ACD; every figure checked against pandas on the raw tables."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from dashboard import UserError, View, run
from dashboard.fields import METRIC_DAYS


@pytest.fixture
def usage(demo):
    u = demo.df("SELECT * FROM usage_daily")
    c = demo.df("SELECT id, name, status, country, currency FROM customers")
    return u.merge(c, left_on="customer_id", right_on="id")


def test_demo_fills_ninety_days_ending_yesterday(demo):
    lo, hi, n = demo.rows("SELECT min(day), max(day), count(DISTINCT day) FROM usage_daily")[0]
    today = dt.date.today()
    assert hi == today - dt.timedelta(days=1)
    assert lo == today - dt.timedelta(days=90)
    assert n == 90
    bad = demo.scalar("SELECT count(*) FROM usage_daily WHERE connected > calls OR cost > revenue")
    assert bad == 0


def test_revenue_by_country_and_month_for_active_customers(demo, usage):
    view = View(source="usage", status="Active", groups=["country"], pivot="month",
                values=[["revenue", "sum"]])  # fmt: skip
    result = run(demo, view, paged=False)
    active = usage[usage.status == "Active"].copy()
    active["month"] = pd.to_datetime(active.day).dt.strftime("%Y-%m")
    expected = active.pivot_table(index="country", columns="month", values="revenue",
                                  aggfunc="sum")  # fmt: skip
    data = result.data.set_index("country")
    for month in expected.columns:
        for country in expected.index:
            want = expected.loc[country, month]
            got = data.loc[country, month]
            if pd.isna(want):
                assert pd.isna(got) or float(got) == 0
            else:
                assert float(got) == pytest.approx(float(want), rel=1e-9)
    assert float(result.totals["Total"].iloc[0]) == pytest.approx(float(active.revenue.sum()))


def test_asr_of_a_group_is_weighted_by_calls(demo, usage):
    view = View(source="usage", groups=["status"], values=[["asr", "avg"], ["acd", "avg"]])
    data = run(demo, view).data.set_index("status")
    for status, rows in usage.groupby("status"):
        asr = 100 * rows.connected.sum() / rows.calls.sum()
        acd = float(rows.minutes.astype(float).sum()) / rows.connected.sum()
        assert data.loc[status, "avg_asr"] == pytest.approx(asr, abs=0.006)
        assert data.loc[status, "avg_acd"] == pytest.approx(acd, abs=0.006)


def test_grid_metrics_are_the_last_thirty_days(demo, usage):
    view = View(columns=["id", "name", "calls_30d", "asr_30d", "acd_30d", "revenue_30d"],
                sort=[["revenue_30d", "desc"]], page_size=10)  # fmt: skip
    data = run(demo, view).data
    since = dt.date.today() - dt.timedelta(days=METRIC_DAYS)
    recent = usage[pd.to_datetime(usage.day).dt.date >= since]
    per = recent.groupby("customer_id").agg(
        calls=("calls", "sum"), connected=("connected", "sum"), revenue=("revenue", "sum"),
        minutes=("minutes", lambda m: float(m.astype(float).sum())),
    )  # fmt: skip
    top = per.sort_values("revenue", ascending=False).head(10)
    assert list(data["id"]) == list(top.index)
    first = data.iloc[0]
    row = per.loc[first["id"]]
    assert first["calls_30d"] == row.calls
    assert first["asr_30d"] == pytest.approx(100 * row.connected / row.calls, abs=0.006)
    assert first["acd_30d"] == pytest.approx(row.minutes / row.connected, abs=0.006)


def test_metric_filters_and_customers_without_usage(demo):
    demo.execute_write("DELETE FROM usage_daily WHERE customer_id = 1")
    view = View(filters=[{"field": "calls_30d", "op": "empty"}], columns=["id", "calls_30d"])
    assert list(run(demo, view).data["id"]) == [1]
    over = View(filters=[{"field": "asr_30d", "op": ">=", "value": "60"}])
    result = run(demo, over, paged=False)
    check = demo.df(
        "SELECT customer_id FROM usage_daily WHERE day >= current_date - ? GROUP BY 1 "
        "HAVING round(100.0 * sum(connected) / sum(calls), 2) >= 60",
        [METRIC_DAYS],
    )
    assert sorted(result.data["id"]) == sorted(check.customer_id)


def test_usage_rows_and_their_count(demo):
    view = View(source="usage", filters=[{"field": "name", "op": "=",
                "value": "West Wave Telecom Ltd"}], sort=[["day", "desc"]])  # fmt: skip
    result = run(demo, view)
    assert result.total == 90
    assert list(result.data.columns[:2]) == ["day", "name"]  # no id unless asked for
    assert result.data["day"].is_monotonic_decreasing


def test_usage_fields_are_refused_in_customer_views_and_the_reverse(demo):
    with pytest.raises(UserError, match="unknown column 'revenue' in customers"):
        run(demo, View(columns=["name", "revenue"]))
    with pytest.raises(UserError, match="unknown column 'asr_30d' in daily usage"):
        run(demo, View(source="usage", columns=["asr_30d"]))
    with pytest.raises(UserError, match="cannot be grouped by Revenue"):
        run(demo, View(source="usage", groups=["revenue"]))


def test_undoing_a_delete_keeps_usage(demo):
    from dashboard import delete_customers, undo

    before = demo.scalar("SELECT sum(calls) FROM usage_daily WHERE customer_id = 3")
    batch = delete_customers(demo, [3])
    view = View(source="usage", filters=[{"field": "id", "op": "=", "value": 3}])
    assert run(demo, view).total == 0
    undo(demo, batch.batch_id)
    assert run(demo, view).total > 0
    assert demo.scalar("SELECT sum(calls) FROM usage_daily WHERE customer_id = 3") == before
