"""The SQL box: a read-only SELECT over the customer tables, its result in a grid, exportable.

The checks, the sandbox and the run are `dashboard.sqlbox`'s; this is only the dialog around
them. Every text from the query (column names, error messages quoting it) is shown as
text, through the page's one escaping path (dashboard/ui/safe.py).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import sqlbox
from ..errors import UserError
from ..store import Store
from ..words import plural
from .controls import Button, Download
from .dialogs import FADING_SX
from .safe import Grid, Notice, Text

#: A download travels to the browser in memory (base64 in the page's websocket), so the
#: page offers files up to this size; the CLI writes larger ones.
DOWNLOAD_BYTES = 100 * 2**20

#: Usage is summed per customer first, so a customer counts once however many days of usage
#: it has (a plain join counted usage rows as customers), and revenue is added up only
#: within one currency.
EXAMPLE = (
    "WITH per_customer AS (\n"
    "  SELECT customer_id, sum(revenue) AS revenue FROM usage_daily GROUP BY 1\n)\n"
    "SELECT c.country, c.currency, count(*) AS customers, sum(u.revenue) AS revenue\n"
    "FROM customers c JOIN per_customer u ON u.customer_id = c.id\n"
    "WHERE c.status = 'Active'\nGROUP BY 1, 2 ORDER BY revenue DESC"
)


class SqlDialog(pn.viewable.Viewer):
    """Write a SELECT, run it, read the rows, download them."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    sql = param.String(
        default=EXAMPLE, doc="One read-only SELECT over customers, contacts and usage_daily."
    )
    run = param.Event(doc="Run the query.")
    close = param.Event(doc="Close the SQL box.")
    message = param.String(default="", doc="What the last run said (rows, or why it was refused).")

    def __init__(self, **params):
        super().__init__(**params)
        # no pager inside the grid (its buttons would sit in the grid's rows for a screen
        # reader): Tabulator draws only the rows in sight as the box scrolls
        self._grid = Grid(pd.DataFrame(), show_index=False, disabled=True, height=320,
                          pagination=None, layout="fit_data_table", sizing_mode="stretch_width",
                          theme="materialize")  # fmt: skip
        self._alert = Notice(object="", severity="info", visible=False, sizing_mode="stretch_width")
        self._downloads = pmui.Row(
            Download(callback=lambda: self._download("csv"), label="CSV", filename="query.csv",
                              icon="download", size="small"),
            Download(callback=lambda: self._download("xlsx"), label="XLSX", filename="query.xlsx",
                              icon="download", size="small"),
            visible=False,
        )  # fmt: skip
        self._dialog = pmui.Dialog(
            pmui.Column(
                Text(f"Read-only: one SELECT over {', '.join(sqlbox.TABLES)}; nothing else can "
                                f"be read or changed. Up to {sqlbox.MAX_ROWS:,} rows are shown; "
                                "downloads hold all.", variant="caption"),  # fmt: skip
                pmui.TextAreaInput.from_param(self.param.sql, label="SQL", rows=7, sizing_mode="stretch_width",
                                              styles={"font-family": "monospace"}),  # fmt: skip
                pmui.Row(
                    Button.from_param(self.param.run, label="Run", icon="play_arrow", variant="contained"),
                    Button.from_param(self.param.close, label="Close", variant="outlined"),
                    self._downloads,
                ),
                self._alert, self._grid, sizing_mode="stretch_width", min_width=880,
            ),
            title="SQL", open=False, close_on_click=True, show_close_button=True, width_option="lg",
        )  # fmt: skip

    def open(self) -> None:
        self._dialog.open = True

    @param.depends("close", watch=True)
    def _close(self) -> None:
        self._dialog.open = False

    @param.depends("run", watch=True)
    def _run(self) -> None:
        try:
            result = sqlbox.run_sql(self.store, self.sql)
        except UserError as exc:
            self._say(str(exc), "error")
            self._downloads.visible = False
            # the last query's rows under this error would read as its answer
            self._grid.param.update(value=pd.DataFrame(), titles={})
            return
        data = result.data
        self._grid.param.update(value=data, titles={c: str(c) for c in data.columns})
        more = f" ({result.notice}; download for all)" if result.notice else ""
        self._say(plural(len(data), "row") + more, "success")
        self._downloads.visible = True

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True)

    def _download(self, fmt: str) -> io.BytesIO:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"query.{fmt}"
            try:
                # streamed from the sandbox to the file; formulas neutralised
                sqlbox.export_sql(self.store, self.sql, out, max_bytes=DOWNLOAD_BYTES)
            except UserError as exc:
                self._say(str(exc), "error")
                return io.BytesIO(b"")
            return io.BytesIO(out.read_bytes())

    def __panel__(self):
        return self._dialog


#: Copies the field `source` holds as the browser shows it. The Clipboard API needs a secure
#: page (https or localhost); served over plain http to another machine the older
#: execCommand("copy") does it, from a field put in the dialog (its focus trap would take
#: the focus back from one elsewhere in the page).
COPY_JS = """
const data = source.data || source;
const text = String(data.value == null ? "" : data.value);
const fallback = () => {
  const host = document.querySelector(".MuiDialog-container") || document.body;
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  host.appendChild(area);
  area.select();
  try { document.execCommand("copy"); } finally { area.remove(); }
};
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text).catch(fallback);
} else {
  fallback();
}
"""


class CopyButton(Button):
    """A Copy button for the text of the widget `source` (named "Copy: the <what>").

    Its script is put on its model as the model is made, not through Panel's `jscallback`:
    on a dialog put on the page after it was opened (`CustomersPage._with`), Panel's link
    made every click fail in the browser ("[object Function] is not serializable")."""

    def __init__(self, source: Any, what: str, **params: Any):
        params = {"label": "Copy", "icon": "content_copy", "variant": "outlined",
                  "size": "small", "align": "center", "description": f"the {what}", **params}  # fmt: skip
        super().__init__(**params)
        self._source = source

    def _get_model(self, doc, root=None, parent=None, comm=None):
        from bokeh.models import CustomJS

        model = super()._get_model(doc, root, parent, comm)
        root = root or model
        found = self._source._models.get(root.ref["id"])
        if found is not None:
            model.data.js_on_change("clicks", CustomJS(args={"source": found[0]}, code=COPY_JS))
        return model


class ViewCode(pn.viewable.Viewer):
    """The current view as Python, as a command line, as JSON and as a link: to take it to a
    notebook, a script or a colleague and back. Each has a Copy button."""

    python = param.String(default="", doc="Python that rebuilds the view.")
    command = param.String(default="", doc="The command line that exports the view.")
    json = param.String(default="", doc="The view as JSON (View.from_json).")
    link = param.String(default="", doc="A link that opens the dashboard on this view.")
    close = param.Event(doc="Close.")

    def __init__(self, **params):
        super().__init__(**params)
        # monospace in the field itself (a style on the widget's box did not reach it)
        area = dict(sizing_mode="stretch_width", disabled=False,
                    sx={"& textarea, & input": {"fontFamily": "monospace", "fontSize": "0.85rem"}})  # fmt: skip
        fields = [
            ("Python", pmui.TextAreaInput.from_param(self.param.python, label="Python", rows=6, **area)),
            ("command line", pmui.TextAreaInput.from_param(self.param.command, label="Command line", rows=2, **area)),
            ("JSON", pmui.TextAreaInput.from_param(self.param.json, label="JSON", rows=2, **area)),
            ("link", pmui.TextInput.from_param(self.param.link, label="Link", **area)),
        ]  # fmt: skip
        rows = [pmui.Row(field, CopyButton(field, what), sizing_mode="stretch_width", margin=0)
                for what, field in fields]  # fmt: skip
        self._dialog = pmui.Dialog(
            pmui.Column(
                Text("In a notebook: from dashboard import open_store, View, run; "
                     "run(open_store(), view).data", variant="caption"),  # fmt: skip
                *rows,
                Button.from_param(self.param.close, label="Close", variant="outlined"),
                sizing_mode="stretch_width", min_width=280,
            ),
            title="Use this view elsewhere", open=False, close_on_click=True, show_close_button=True, width_option="md",
            sx=FADING_SX,
        )  # fmt: skip

    def show(self, python: str, json: str, link: str, command: str = "") -> None:
        """Open on the view's `python`, `json`, `link` and `command` line."""
        self.param.update(python=python, json=json, link=link, command=command)
        self._dialog.open = True

    @param.depends("close", watch=True)
    def _close(self) -> None:
        self._dialog.open = False

    def __panel__(self):
        return self._dialog
