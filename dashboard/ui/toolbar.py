"""The toolbar of the carrier's Customers page: +, Bulk Upload, Bulk Edit, Refresh, Delete,
?, Send and the Active filter, then quick search, Columns and Filters; the analyst's SQL and
Code under More.

It wraps instead of running off the screen: at 1280 px it is one line, narrower it takes
two; on a phone the writing buttons are left out of the row and offered in the More menu.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import panel as pn
import panel_material_ui as pmui
import param

from ..access import allowed
from ..fields import STATUSES
from ..query import View
from .controls import Button, Menu

STATUS_OPTIONS = ["All", *STATUSES]
#: The search runs this long after the last key (Enter runs it at once): one query per pause
#: in the typing, not one per key.
SEARCH_PAUSE_MS = 350
GUIDE_URL = "/guide"

#: Which toolbar actions each role may use (the services refuse the others anyway).
ROLE_ACTIONS = {"add": "add", "upload": "import", "bulk_edit": "bulk_edit",
                "delete": "delete", "send": "send"}  # fmt: skip

#: On a phone the writing buttons do not fit beside the others: they are hidden here and
#: offered in the More menu (`Toolbar.compact`, set by the page from the window's width).
PHONE_CSS = """
@media (max-width: 700px) { :host(.writes) { display: none !important; } }
"""


class Action(NamedTuple):
    """One toolbar action: the Toolbar event it triggers and how it is shown."""

    key: str
    label: str
    help_text: str
    icon: str | None = None
    options: dict[str, Any] = {}
    #: Its name as a More menu item, where a bare "+" says nothing.
    name: str = ""

    @property
    def menu_label(self) -> str:
        """Its label in the More menu."""
        return self.name or self.label


#: The toolbar's buttons, in order: the one list the buttons and (on a phone) the More menu
#: are made from.
ACTIONS = (
    Action("add", "+", "add a customer", "add", # the button says "+" alone
           {"icon": None, "variant": "contained", "sx": {"minWidth": "44px"}},
           name="Add customer"),
    Action("upload", "Bulk Upload", "add or update customers from a spreadsheet", "upload_file"),
    Action("bulk_edit", "Bulk Edit", "change one field of the selected customers", "edit_note"),
    Action("refresh", "Refresh", "reload from the database", "refresh"),
    Action("delete", "Delete", "delete the selected customers", "delete", {"color": "error"}),
    Action("send", "Send", "email or SMS the selected customers", "send"),
    Action("columns", "Columns", "choose, group and pivot columns", "view_column"),
    Action("filters", "Filters", "filter the customers", "filter_list"),
)  # fmt: skip
#: What the More menu always offers.
MORE_ACTIONS = (
    Action("sql", "SQL", "run a read-only SQL query", "terminal"),
    Action("code", "Code", "use this view in a notebook", "code"),
    Action("changes", "Changes", "recent changes, each with Undo", "history"),
)


def action_button(event: param.Parameter, label: str, help_text: str, **options) -> pmui.Button:
    """A toolbar button whose accessible name starts with its visible label (screen readers
    and voice control find it by what it says), with the longer help after it."""
    options = {"variant": "outlined", "size": "small", "margin": (4, 3), **options}
    if options.get("icon") is None:
        options.pop("icon", None)
    return Button.from_param(event, label=label, description=f"{label}: {help_text}",
                                  **options)  # fmt: skip


class Toolbar(pn.viewable.Viewer):
    """The page's actions; each is an event the page acts on."""

    view = param.ClassSelector(class_=View, doc="The view whose status and search it edits.")
    role = param.String(default="admin", doc="The signed-in user's role: which actions show.")
    guide_url = param.String(default=GUIDE_URL, doc="Where `?` leads (Setup › Settings).")
    add = param.Event(doc="+ : add a customer.")
    upload = param.Event(doc="Bulk Upload a spreadsheet.")
    bulk_edit = param.Event(doc="Bulk Edit the selected customers.")
    refresh = param.Event(doc="Reload from the database.")
    delete = param.Event(doc="Delete the selected customers (asks first).")
    send = param.Event(doc="Send email or SMS to the selected customers.")
    sql = param.Event(doc="Run a read-only SQL query over the customer tables.")
    code = param.Event(doc="Use this view in a notebook (Python, JSON, link).")
    changes = param.Event(doc="Recent changes, each with Undo.")
    columns = param.Event(doc="Open the Columns pop-out.")
    filters = param.Event(doc="Open the Filters pop-out.")
    compact = param.Boolean(default=False, doc=(
        "Laid out for a phone: the writing buttons are hidden (PHONE_CSS) and offered in "
        "the More menu instead."))  # fmt: skip

    def __init__(self, **params):
        super().__init__(**params)
        self.buttons = {
            a.key: action_button(
                self.param[a.key], a.label, a.help_text, **{"icon": a.icon, **a.options}
            )  # fmt: skip
            for a in ACTIONS
        }
        self.buttons["help"] = Button(
            label="?", href=self.guide_url, target="_blank", variant="outlined", size="small",
            description="? User guide for this page (opens in a new tab)", margin=(4, 3),
            sx={"minWidth": "40px"},
        )  # fmt: skip
        self._more = self._make_more()
        for key, action in ROLE_ACTIONS.items():
            self.buttons[key].visible = allowed(self.role, action)
            self.buttons[key].css_classes = ["writes"]
            # beside the button's own (its tooltip's), not instead of them
            self.buttons[key].stylesheets = [*self.buttons[key].stylesheets, PHONE_CSS]
        self._status = pmui.Select.from_param(
            # "Active: All" read as a contradiction: the choice says whom it shows
            self.view.param.status, options={("All customers" if s == "All" else s): s
                                             for s in STATUS_OPTIONS}, label="Active", width=165,
            size="small", description="", margin=(4, 3),
        )  # fmt: skip
        self._search = pmui.TextInput.from_param(
            self.view.param.search, label="Search", placeholder="Name, city, email, mobile...",
            width=170, size="small", description="", margin=(4, 3),
        )  # fmt: skip
        # search as you type: the typed text is searched once the typing pauses
        self._typed_timer = None
        self._search.param.watch(self._on_typing, "value_input")
        self.view.param.watch(self._on_searched, "search")
        self._wire_on_load()

    def _wire_on_load(self) -> None:
        """Disable the controls that act through the server (the buttons, the Active select
        and the quick search) until the page has told the server it is ready: a click, a
        choice or typing made before (the page's first seconds, longer on a busy server)
        never left the browser, or was lost or half-applied, on a control that looked
        ready. They are enabled as the server hears the page is ready, from which moment
        what a person does reaches it."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None or pn.state.loaded:
            return  # not served (a notebook, a test), or loaded already: they work now
        waiting = [b for key, b in self.buttons.items() if key != "help"]
        waiting += [self._more, self._status, self._search]
        for b in waiting:
            b.disabled = True

        def wired() -> None:
            for b in waiting:
                b.disabled = False

        pn.state.onload(wired)

    def _on_typing(self, event) -> None:
        self._cancel_typed()
        if (event.new or "") == (self.view.search or ""):
            return
        self._typed_timer = pn.state.add_periodic_callback(
            self._search_typed, period=SEARCH_PAUSE_MS, count=1
        )

    def _cancel_typed(self) -> None:
        if self._typed_timer is not None:
            self._typed_timer.stop()
            self._typed_timer = None

    def _search_typed(self) -> None:
        self._typed_timer = None
        typed = self._search.value_input or ""
        if typed != (self.view.search or ""):
            self.view.search = typed

    def _on_searched(self, _event) -> None:
        # Enter (or a link, or a saved view) searched already: no second query after it
        self._cancel_typed()

    def _more_items(self) -> list[dict[str, str | None]]:
        """The More menu: on a phone first the writing actions its toolbar leaves out."""
        left_out = [a for a in ACTIONS if a.key in ROLE_ACTIONS] if self.compact else []
        return [
            {"label": a.menu_label, "icon": a.icon}
            for a in (*left_out, *MORE_ACTIONS)
            if a.key not in ROLE_ACTIONS or allowed(self.role, ROLE_ACTIONS[a.key])
        ]

    def _make_more(self) -> Menu:
        more = "the writing actions, SQL" if self.compact else "SQL"
        menu = Menu(
            label="More", icon="more_vert", variant="outlined", size="small", margin=(4, 3),
            description=f"More: {more}, code for notebooks, recent changes",
            items=self._more_items(),
        )  # fmt: skip
        menu.on_click(self._on_more)
        return menu

    @param.depends("compact", watch=True)
    def _on_compact(self) -> None:
        more = "the writing actions, SQL" if self.compact else "SQL"
        self._more.param.update(items=self._more_items(),
                                description=f"More: {more}, code for notebooks, recent changes")  # fmt: skip

    def _on_more(self, item) -> None:
        label = item["label"] if isinstance(item, dict) else str(item)
        by_label = {a.menu_label: a.key for a in (*ACTIONS, *MORE_ACTIONS)}
        self.param.trigger(by_label[label])

    def show_filters(self, active: int) -> None:
        """Say on the Filters button how many filters are in force."""
        label = f"Filters ({active})" if active else "Filters"
        self.buttons["filters"].param.update(
            label=label, variant="contained" if active else "outlined",
            description=f"{label}: filter the customers",
        )  # fmt: skip

    def __panel__(self):
        b = self.buttons
        actions = pn.Row(
            b["add"], b["upload"], b["bulk_edit"], b["refresh"], b["delete"], b["help"],
            b["send"], self._more, align="center", margin=0,
        )  # fmt: skip
        finding = pn.FlexBox(
            self._status, self._search, b["columns"], b["filters"], align_items="center",
            flex_wrap="wrap", margin=0, stylesheets=[":host { width: auto !important; }"],
        )  # fmt: skip
        return pn.FlexBox(
            actions, finding, justify_content="space-between", align_items="center",
            flex_wrap="wrap", sizing_mode="stretch_width", margin=(4, 0),
        )  # fmt: skip
