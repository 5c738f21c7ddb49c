"""Issue 18: ticking a group of the group tree selects exactly that group's customers,
also when a row is a day of usage (the customers with usage rows in the group), checked
against hand-written SQL; the tick boxes are named for what they tick."""

from __future__ import annotations

from bokeh.document import Document

from dashboard import View
from dashboard.customers import preview_targets
from dashboard.ui.app import customers_page


def test_ticking_a_usage_group_selects_the_customers_of_that_group(demo):
    day = demo.scalar("SELECT max(day) - 10 FROM usage_daily")
    view = View(source="usage", groups=["country"], filters=[["day", ">=", str(day)],
                ["revenue", ">", 20]])  # fmt: skip
    page = customers_page(demo, view=view)
    page.__panel__().get_root(Document())
    tree = page.aggregates.tree
    row = 1  # row 0 is the Total row
    country = tree._nodes[row]["path"][0]
    want = sorted(i for (i,) in demo.rows(
        "SELECT DISTINCT u.customer_id FROM usage_daily u JOIN customers c ON c.id = u.customer_id "
        "WHERE u.day >= ? AND u.revenue > 20 AND c.country = ?", [day, country]))  # fmt: skip
    assert want
    tree.table.selection = [row]
    assert page.selection.count == len(want)
    target = page.selection.target()
    n, names = preview_targets(demo, target)
    assert n == len(want)
    got = demo.rows(f"SELECT name FROM customers WHERE id IN ({', '.join(map(str, want))}) "
                    "ORDER BY name LIMIT 5")  # fmt: skip
    assert names[:5] == [r[0] for r in got]


def test_a_rows_share_with_groups_only_is_refused_and_not_offered(demo):
    import pytest

    from dashboard import run
    from dashboard.errors import UserError

    # each group row is its own total: 100 % bars, all alike, said nothing
    with pytest.raises(UserError, match="needs pivot columns"):
        run(demo, View(groups=["status"], percent="row"))
    shares = run(demo, View(groups=["status"], percent="total"), paged=False)
    counts = demo.df("SELECT status, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1")
    want = (100 * counts["n"] / counts["n"].sum()).round(2).tolist()
    assert shares.data.sort_values("status")["count"].tolist() == pytest.approx(want)
    page = customers_page(demo, view=View(groups=["status"]))
    page.__panel__().get_root(Document())
    panel = page.columns_panel
    assert "% of row total" not in panel._percent.options
    assert "% of grand total" in panel._percent.options
    page.view.pivot = "currency"
    assert "% of row total" in panel._percent.options
