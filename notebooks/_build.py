"""Writes the notebooks from their cell sources (outputs stripped). Run it after editing."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = """import tempfile
from pathlib import Path

import dashboard
from dashboard import Store, View, add_demo_customers, add_demo_rates, open_store, run

dashboard.notebook()  # once: the grid, the page and charts display inline (offline too)

# Your database if there is one (read-only, and readable while `customer-dashboard serve`
# runs on it); otherwise a fresh demo database in a temporary folder.
path = Path("../data/customers.duckdb")
if not path.exists():
    path = Path(tempfile.mkdtemp()) / "customers.duckdb"
    with Store(path) as writer:
        add_demo_customers(writer, 5_000, seed=7)
        add_demo_rates(writer)  # money over several currencies is summed in EUR at these rates
store = open_store(path)
store"""

NOTEBOOKS = {
    "01-getting-started": [
        (
            "md",
            """# Getting started: the customer table from Python

Everything the Customers page does is a function of the `dashboard` package. A **view** says
what you are looking at (columns, filters, sort, groups, values, pivot); `run` turns it into
one DuckDB query and returns a DataFrame *and* the SQL behind it.""",
        ),
        ("code", SETUP),
        (
            "md",
            """## The fields

Every name a view takes, with its label in the page, its type, its aggregates and its filter
operators (`source="usage"` for the daily usage fields):""",
        ),
        ("code", """dashboard.field_list()"""),
        ("md", "## Rows: filter, search, sort, page"),
        (
            "code",
            """view = View(status="Active", filters=[{"field": "channels", "op": ">=", "value": 100}],
            sort=[["credit", "desc"]], columns=["id", "name", "country", "channels", "credit"],
            page_size=10)
result = run(store, view)
print(f"{result.total:,} customers match; the first page:")
result.data""",
        ),
        (
            "code",
            """print(result.sql)
print(result.params)""",
        ),
        (
            "md",
            """## Usage figures per customer

The grid can show each customer's last 30 days of traffic: ASR (answered / attempted calls),
ACD (average call duration) and revenue. Which large customers have a poor answer rate?""",
        ),
        (
            "code",
            """low_asr = View(columns=["name", "country", "channels", "calls_30d", "asr_30d", "acd_30d",
                       "revenue_30d"],
               filters=[{"field": "calls_30d", "op": ">", "value": 10_000},
                        {"field": "asr_30d", "op": "<", "value": 40}],
               sort=[["revenue_30d", "desc"]], page_size=10)
low = run(store, low_asr)
assert (low.data["asr_30d"] < 40).all()
low.data""",
        ),
        ("md", "## Groups with aggregates, and the whole result as Arrow"),
        (
            "code",
            """by_country = View(groups=["country"], values=[["credit", "sum"], ["channels", "avg"]],
                  sort=[["sum_credit", "desc"]])
groups = run(store, by_country)
groups.table().head(8)""",
        ),
        (
            "code",
            """table = dashboard.to_arrow(store, View(status="Active", columns=["id", "name", "credit"]))
table.num_rows, table.schema.names""",
        ),
        (
            "md",
            """## Between the page and the notebook

A view made here opens in the served dashboard by its link, and a view built in the page
(its **Code** button) pastes back here as Python.""",
        ),
        (
            "code",
            """link = by_country.url("http://localhost:5006/")
print(link)
assert View.from_url(link).to_dict() == by_country.to_dict()
print(by_country.to_python())""",
        ),
        (
            "md",
            "Its grid inline: a header click sorts the whole result, Next shows the next page "
            "(with a live kernel); `dashboard.show(store, view)` is the whole page.",
        ),
        ("code", """dashboard.grid(store, by_country, height=300)"""),
    ],
    "02-pivot-reporting": [
        (
            "md",
            """# Pivot reporting: revenue by country and month

Daily usage (calls, connected calls, minutes, revenue, cost) is joined to each customer, so
customer fields group and filter usage. Rates (ASR, ACD) are weighted: a month's ASR is its
connected calls over its calls, not an average of daily rates.""",
        ),
        ("code", SETUP),
        (
            "code",
            """report = View(source="usage", status="Active", groups=["country"], pivot="month",
              values=[["revenue", "sum"]], sort=[["sum_revenue", "desc"]])
result = run(store, report, paged=False)
result.table().head(10)""",
        ),
        (
            "md",
            "Each country's share of the month (column percentages) — the same view with `percent`:",
        ),
        (
            "code",
            """shares = run(store, report.copy(percent="column"), paged=False).table()
shares.head(10)""",
        ),
        (
            "code",
            """# the shares of each month add up to 100 %
months = [c for c in shares.columns if c not in ("Country", "Total")]
body = shares[shares["Country"] != "Total"]
assert all(abs(body[m].astype(float).sum() - 100) < 0.5 for m in months)""",
        ),
        ("md", "## Quality of traffic by status: ASR and ACD, weighted"),
        (
            "code",
            """quality = View(source="usage", groups=["status"],
               values=[["calls", "sum"], ["asr", "avg"], ["acd", "avg"], ["margin", "sum"]])
run(store, quality).table()""",
        ),
        ("md", "## A chart of the result (Bokeh), as the page draws it"),
        (
            "code",
            """top = report.copy(page_size=12)
dashboard.chart(run(store, top), top, "stacked")""",
        ),
        (
            "md",
            """## The report as a spreadsheet

Bold headers with the page's titles, money with two decimals, frozen header and label column,
the filters written above the table, and a totals row.""",
        ),
        (
            "code",
            """import openpyxl

out = Path(tempfile.mkdtemp()) / "revenue-by-country-and-month.xlsx"
rows = dashboard.pivot_report(store, report, out)
sheet = openpyxl.load_workbook(out).active
print(rows, "rows;", sheet["A1"].value, "|", sheet["A2"].value, "| frozen at", sheet.freeze_panes)""",
        ),
        ("md", "## Anything else: one read-only SELECT"),
        (
            "code",
            '''dashboard.run_sql(store, """
    SELECT c.country, strftime(u.day, '%Y-%m') AS month,
           round(100.0 * sum(u.revenue - u.cost) / sum(u.revenue), 1) AS margin_pct
    FROM usage_daily u JOIN customers c ON c.id = u.customer_id
    GROUP BY ALL ORDER BY margin_pct DESC LIMIT 10
""").data''',
        ),
    ],
    "03-bulk-operations": [
        (
            "md",
            """# Bulk operations: import, bulk edit, delete, undo

The same functions the page's Bulk Upload, Bulk Edit and Delete buttons call. Each is one
transaction with an audit entry, and each can be undone. This notebook works on a scratch
copy of the demo data (never on your database).""",
        ),
        (
            "code",
            """import tempfile
from pathlib import Path

import dashboard
from dashboard import Store, View, add_demo_customers, add_demo_rates, run

dashboard.notebook()
scratch = Path(tempfile.mkdtemp())
store = Store(scratch / "customers.duckdb", user="analyst")
add_demo_customers(store, 2_000, seed=11)
add_demo_rates(store)  # money over several currencies is summed in EUR at these rates
run(store, View(groups=["status"])).table()""",
        ),
        ("md", "## Bulk Upload: a spreadsheet whose headers are not our field names"),
        (
            "code",
            """import pandas as pd

sheet = scratch / "signups.xlsx"
pd.DataFrame({
    "Company": ["Harbour Lights Telecom", "Nimbus Voice Ltd", "Quartz Carrier GmbH"],
    "Max Channels": [40, 25, 60],
    "Currency": ["GBP", "GBP", "EUR"],
    "Country": ["United Kingdom", "GB", "Germany"],
    "Contact Email": ["noc@harbour.example", "ops@nimbus.example", "noc@quartz.example"],
}).to_excel(sheet, index=False)
preview, batch = dashboard.import_file(store, sheet, set_values={"status": "Pending Approval"})
preview.counts, batch.batch_id""",
        ),
        ("md", "A bad file writes nothing, and says which row, column and value is wrong:"),
        (
            "code",
            """bad = scratch / "bad.csv"
bad.write_text("Company,Currency,Channels\\nGood Co,EUR,10\\nBad Co,EURO,-5\\n")
preview, written = dashboard.import_file(store, bad)
assert written is None
for problem in preview.problems:
    print(problem.describe())""",
        ),
        ("md", "## Bulk Edit: everything pending in GBP gets 10 more channels and becomes Active"),
        (
            "code",
            """pending_gbp = View(status="Pending Approval", filters=[{"field": "currency", "op": "=", "value": "GBP"}])
print(dashboard.count(store, pending_gbp), "customers")
edit = dashboard.bulk_edit(store, pending_gbp, {"channels": "+10", "status": "Active"})
run(store, View(search="Nimbus", columns=["name", "status", "channels"])).data""",
        ),
        ("md", "## Delete, then undo it all (newest first)"),
        (
            "code",
            """gone = dashboard.delete_customers(store, View(search="Quartz Carrier"))
print(gone.count, "deleted")
for b in (gone, edit, batch):
    dashboard.undo(store, b.batch_id)
assert run(store, View(search="Harbour Lights")).total == 0
dashboard.batches(store, 6)[["action", "customer_count", "description", "undone_by"]]""",
        ),
        ("code", "store.close()"),
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.cells = [
            new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells
        ]
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{name[:2]}-{i:02d}"
        nbformat.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    build()
