"""The customer card: Add (+) and Edit, with the Basic, Config, Address, Verification,
Contacts and History tabs. Its form parameters and widgets are generated from the field
registry; every value goes to the service layer as typed, where it is parsed and checked.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param
from panel.io.state import set_curdoc

from .. import audit
from .. import customers as service
from ..access import allowed
from ..errors import ConflictError, UserError, ValidationError
from ..fields import (
    CONTACT_FIELDS,
    CONTACT_IDENTITY,
    COUNTRY_FIELD,
    CREATED_FIELD,
    CURRENCY_FIELD,
    FIELDS,
    ID_FIELD,
    KEY_FIELD,
    TABS,
    TAGS_FIELD,
    UPDATED_FIELD,
    Field,
    fields_on_tab,
    writable,
)  # fmt: skip
from ..store import Store
from ..types import YES_NO, timestamp_text
from .controls import Button
from .dialogs import FADING_SX, CloseGuard, Opening, follow_typing, typed
from .keys import DEEP_ALL_JS
from .safe import Grid, Notice, Text


class FirstProblem(pn.custom.JSComponent):
    """Takes the person to the first field a refused save marked: a refused Save showed its
    message, but left the focus on Save and the bad field out of sight (often on another
    tab, which the card opens). The field is focused and scrolled into view here, in the
    browser, once its tab has drawn it marked (a field is drawn when its tab first opens).
    Inside a dialog it seeks that dialog's fields; on a page of its own (Setup › Settings),
    the page's."""

    refused = param.Integer(default=0, doc="Counts refused saves; each one seeks the field.")

    _esm = (
        DEEP_ALL_JS
        + """
    // the card's dialog: up from this part through the shadow roots around it
    function dialogOf(el) {
      let node = el;
      while (node) {
        const dialog = node.closest && node.closest("[role='dialog']");
        if (dialog) return dialog;
        const root = node.getRootNode();
        node = root && root.host ? root.host : null;
      }
      return null;
    }
    // what takes the focus for a marked input: a select's own box (its input is hidden)
    function focusable(input) {
      if (input.getAttribute("aria-hidden") === "true" || input.type === "hidden") {
        const box = input.parentElement && input.parentElement.querySelector("[role='combobox']");
        return box && box.checkVisibility() ? box : null;
      }
      return input.checkVisibility() ? input : null;
    }
    export function render({ model, el }) {
      el.style.display = "none";
      let timer = null;
      const seek = () => {
        clearInterval(timer);
        const started = performance.now();
        timer = setInterval(() => {
          const scope = dialogOf(el) || document;
          const marked = deepAll(scope, "[aria-invalid='true']", []).map(focusable).filter(Boolean);
          if (marked.length || performance.now() - started > 4000) clearInterval(timer);
          if (!marked.length) return;
          // the first as a person reads the tab: top to bottom, then left to right
          const at = (e) => e.getBoundingClientRect();
          marked.sort((a, b) => (at(a).top - at(b).top) || (at(a).left - at(b).left));
          marked[0].scrollIntoView({block: "center"});
          marked[0].focus({preventScroll: true});
        }, 100);
      };
      model.on("refused", seek);
      model.on("remove", () => clearInterval(timer));
    }
    """
    )


def _form_parameter(f: Field) -> param.Parameter:
    doc = f.doc or f.label
    widget = f.type.widget
    if widget == "switch":
        return param.Boolean(default=bool(f.default), doc=doc)
    if widget == "tags":
        return param.List(default=[], doc=doc)
    if widget == "select":
        return param.Selector(default=f.default or f.choices[0], objects=list(f.choices), doc=doc)
    if widget == "picker":
        # every code the type reads: a customer may hold one the picker no longer offers
        # (a fund currency from an old import), and the card must still show it
        return param.Selector(default=None, objects=[None, *f.type.known_values()], doc=doc)
    return param.String(default=f.type.form_value(f.default), doc=doc)


def form_key(field_name: str) -> str:
    """The form parameter of a field: its own name, unless param reserves that name
    (every Parameterized has a constant `name`), then with a trailing underscore."""
    return field_name + "_" if field_name in param.Parameterized.param else field_name


FORM_FIELDS = [f for f in writable() if f.editable]
#: The TOML field, edited in a code editor that marks a parse error at its line.
TOML_FIELD = next(f.name for f in FORM_FIELDS if f.type.widget == "code")
#: Fields a person sees on the card but does not edit there.
READ_ONLY = [f for f in writable() if not f.editable]
#: The form's state: one parameter per editable customer field, made from the registry.
CustomerForm = param.parameterized_class(
    "CustomerForm", {form_key(f.name): _form_parameter(f) for f in FORM_FIELDS}
)

CONTACT_COLUMNS = ["id", *[f.name for f in CONTACT_FIELDS]]
#: How a contact cell with a problem looks (Tabulator cell style).
BAD_CELL = "background-color: #fdecea; color: #b71c1c; box-shadow: inset 0 0 0 2px #d32f2f"
#: The tabs after the registry's: the contacts grid, the audit log and the message log.
EXTRA_TABS = ("Contacts", "History", "Messages")
#: Contact fields' labels, by name.
CONTACT_LABELS = {f.name: f.label for f in CONTACT_FIELDS}
#: The History tab's columns (dashboard.audit.history) and their titles.
HISTORY_TITLES = {"at": "When", "user": "Who", "action": "Change", "field": "Field",
                  "old": "Before", "new": "After", "batch_id": "Batch"}  # fmt: skip
#: The Messages tab's columns (dashboard.messaging.message_log) and their titles.
MESSAGE_TITLES = {"created_at": "When", "channel": "Channel", "recipient": "To",
                  "subject": "Subject", "status": "Status", "error": "Problem"}  # fmt: skip


def _empty(titles: dict[str, str]) -> pd.DataFrame:
    """A table with these columns and no rows: a grid drawn in a hidden tab must know its
    columns from the start (Tabulator cannot add them later: "reading 'setColumns'")."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in titles})


def _contacts_frame(contacts: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{k: c.get(k) for k in CONTACT_COLUMNS} for c in contacts]
    frame = pd.DataFrame(rows, columns=CONTACT_COLUMNS).astype(object)
    for f in CONTACT_FIELDS:
        frame[f.name] = frame[f.name].map(f.type.form_value)
    return frame


class _ContactsGrid(Grid):
    """The contacts grid. Panel sends the cell styles again after every edit, each time
    with a new id, and Tabulator then redraws the whole grid: the editor a person had just
    tabbed into closed, the focus left the grid and the next Enter hit the dialog's close
    button. Here the id follows the styles, so unchanged styles are not sent again."""

    def _get_style_data(self, recompute: bool = True) -> dict[str, Any]:
        styles = super()._get_style_data(recompute)
        if styles:
            styles["id"] = hashlib.sha1(repr(sorted(styles["data"].items())).encode()).hexdigest()
        return styles


class ContactMarks(pn.custom.JSComponent):
    """Takes the red mark off contact cells fixed since the last save, in the browser.

    The marks are Tabulator cell styles; sending new ones redraws the whole grid, which
    closes the editor a person has just tabbed into (see `_ContactsGrid`). So a fixed cell
    loses its mark here, in place, and the styles are sent again only at the next save.
    It sits beside the contacts grid and finds it in their common parent."""

    fixed = param.List(default=[], doc="The fixed cells since the last save: [row, field].")

    _esm = """
    export function render({ model, el }) {
      const find = (root) => {
        const table = root.querySelector(".tabulator");
        if (table) return table;
        for (const child of root.querySelectorAll("*")) {
          const found = child.shadowRoot && find(child.shadowRoot);
          if (found) return found;
        }
        return null;
      };
      const grid = () => {
        const host = el.getRootNode().host;
        return host ? find(host.getRootNode()) : null;
      };
      const unmark = () => {
        const table = grid();
        if (!table) return;
        const rows = table.querySelectorAll(".tabulator-row");
        for (const [row, field] of model.fixed) {
          const cell = rows[row] && rows[row].querySelector(`.tabulator-cell[tabulator-field="${field}"]`);
          if (!cell) continue;
          for (const prop of ["background-color", "color", "box-shadow"]) cell.style.removeProperty(prop);
        }
      };
      model.on("fixed", unmark);
      // the grid puts its styles back on some redraws (a contact added): take them off again
      const timer = setInterval(() => { if (model.fixed.length) unmark(); }, 400);
      model.on("remove", () => clearInterval(timer));
      unmark();
    }
    """


def _shown(f: Field, value: Any) -> str:
    """A form value as a person reads it in a message."""
    if value is None or value == "" or value == []:
        return "(empty)"
    return f.type.option_label(value)


_CONTACT_PROBLEM = re.compile(r"contacts\[(\d+)\](?:\.(\w+))?$")


class _Made(dict):
    """Parts made on first use: `parts[name]` makes a missing one, `parts.get(name)` only
    looks (a part not made yet takes the card's state when it is made)."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, name: str) -> Any:
        made = self[name] = self._make(name)
        return made


#: Widgets with no helper text of their own (switches, the TOML editor): what is wrong
#: with them is said in a line below.
_NO_HELPER_TEXT = ("switch", "code")


#: How tall the card's sticky foot (Cancel and Save) is, in CSS pixels, with a margin.
FOOT_HEIGHT = 72
#: How tall the card's sticky tab row is, in CSS pixels, with a margin.
TABS_HEIGHT = 56


class CustomerCard(pn.viewable.Viewer):
    """Add or edit one customer and its contacts; shows its history."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    user = param.String(default="operator", doc="Name written to the audit log.")
    customer_id = param.Integer(
        default=None, allow_None=True, doc="The customer edited (None: a new one)."
    )
    row_version = param.Integer(
        default=None, allow_None=True, doc="The version loaded (optimistic lock)."
    )
    save = param.Event(doc="Save the customer and its contacts in one transaction.")
    cancel = param.Event(doc="Close without writing anything.")
    reload = param.Event(
        doc="Bring in what others saved since the card opened, keeping your own changes."
    )
    add_contact = param.Event(doc="Add an empty contact row.")
    remove_contacts = param.Event(doc="Remove the ticked contacts.")
    new_tag = param.String(default="", doc="A new tag to add (press Enter).")
    saved_batch = param.String(default="", doc="The batch id of the last save.")
    message = param.String(default="", doc="The last message shown in the card.")

    def __init__(self, **params):
        super().__init__(**params)
        self.form = CustomerForm()
        #: The form's widgets by field name, each made when its tab is first shown: the
        #: whole form took 1.1-1.7 s to make at the card's first open, one tab of it 0.3 s.
        self._widgets: dict[str, Any] = _Made(self._make_widget)
        #: The lines under widgets without a helper text, by field name.
        self._under: dict[str, Text] = _Made(
            lambda name: self._dress_under(
                name, Text("", variant="caption", visible=False, styles={"color": "#d32f2f"})
            )
        )
        #: Whether the customer exists (its fixed fields are then read-only).
        self._fixed = False
        self._tag_options: list[str] = []
        #: The grids of the Contacts, History and Messages tabs, once made, and the rows
        #: they show (kept here until they are made).
        self._grids: dict[str, Grid] = {}
        self._rows: dict[str, pd.DataFrame] = {
            "contacts": _contacts_frame([]), "history": _empty(HISTORY_TITLES),
            "messages": _empty(MESSAGE_TITLES),
        }  # fmt: skip
        #: Messages under fields, by field name (problems, and values both people changed).
        self._problems: dict[str, str] = {}
        #: Messages at contact cells, by (grid row, contact field).
        self._contact_marks: dict[tuple[int, str], str] = {}
        #: A message about the contacts as a whole (both people changed them).
        self._contacts_note = ""
        #: What the card held when it was loaded: the base for merging after a conflict.
        self._base: Any = None
        self._conflict: ConflictError | None = None
        #: A picker's entry for a code it no longer offers, held by this customer.
        self._held: dict[str, dict[str, Any]] = {}
        self._build()
        self.form.param.watch(self._money_labels, form_key(CURRENCY_FIELD))
        self.form.param.watch(self._edited, [form_key(f.name) for f in FORM_FIELDS])
        self._money_labels()

    # --- building --------------------------------------------------------------------

    def _widget(self, f: Field):
        p = self.form.param[form_key(f.name)]
        common = dict(label=f.label, sizing_mode="stretch_width")
        widget = f.type.widget
        if widget == "switch":
            return pmui.Switch.from_param(p, label=f.label, description=f.doc or None)
        if widget == "select":
            return pmui.Select.from_param(p, **common)
        if widget == "picker":
            widget = pmui.Select.from_param(
                p, options=self._picker_options(f), searchable=True, **common
            )
            # what was typed into the picker's search puts the exact code first; a pick
            # empties the search, which would otherwise greet the next opening
            widget.param.watch(lambda e, f=f: self._rank_options(f, e.new), "filter_str")
            widget.param.watch(lambda e: setattr(e.obj, "filter_str", ""), "value")
            return widget
        if widget == "tags":
            return pmui.MultiChoice.from_param(p, options=[], searchable=True, **common)
        if widget == "code":
            return pn.widgets.CodeEditor.from_param(
                p, language=f.type.kind, height=180, sizing_mode="stretch_width", theme="chrome",
                styles={"border": "1px solid #c4c4c4", "border-radius": "4px"},
            )  # fmt: skip
        return pmui.TextInput.from_param(p, **common)

    def _label(self, f: Field) -> str:
        """A field's label: money with its currency ("Debit Limit (EUR)"), others with
        their unit."""
        if f.type.in_currency:
            ccy = getattr(self.form, form_key(CURRENCY_FIELD))
            return f"{f.label} ({ccy})" if ccy else f.label
        return f"{f.label} ({f.type.unit})" if f.type.unit else f.label

    def _make_widget(self, name: str):
        """A field's widget as the card's state says it is now."""
        f = FIELDS[name]
        widget = self._widget(f)
        if "label" in widget.param and f.type.widget != "switch":
            widget.label = self._label(f)
        if name == TAGS_FIELD:
            widget.options = list(self._tag_options)
        widget.disabled = (f.immutable and self._fixed) or not self._can_write
        if f.type.widget == "code":
            widget.readonly = not self._can_write
        self._dress(f, widget)
        return follow_typing(widget)

    def _dress(self, f: Field, widget: Any) -> None:
        """Show the problem of field `f` (if any) at its widget."""
        text = self._problems.get(f.name, "")
        if f.type.widget not in _NO_HELPER_TEXT:
            widget.param.update(error_state=bool(text), helper_text=text)
        if f.name == TOML_FIELD:
            found = (
                f.type.problem(str(widget.value or "")) if TOML_FIELD in self._problems else None
            )
            widget.annotations = (
                [{"row": found.line - 1, "column": found.column - 1, "text": str(found),
                  "type": "error"}] if found else []
            )  # fmt: skip

    def _dress_under(self, name: str, under: Text) -> Text:
        text = self._problems.get(name, "")
        under.param.update(object=text, visible=bool(text))
        return under

    @property
    def _toml_error(self) -> Text:
        """The line under the TOML editor: the line and text of a parse error."""
        return self._under[TOML_FIELD]

    def _tab_items(self, tab: str) -> list[Any]:
        """What the tab called `tab` shows (made now)."""
        if tab == "Contacts":
            return self._contacts_items()
        if tab in ("History", "Messages"):
            return [self._history if tab == "History" else self._messages]
        items = []
        for f in fields_on_tab(tab):
            if f.name == TOML_FIELD:
                items.append(Text(f.label, variant="subtitle2"))
            items.append(self._widgets[f.name])
            if f.name == TAGS_FIELD and self._can_write:
                self._tag_input = pmui.TextInput.from_param(
                    self.param.new_tag, label="Add a tag", placeholder="type and press Enter",
                    width=220,
                )  # fmt: skip
                self._tag_input.param.watch(lambda e: self._add_tag(), "enter_pressed")
                items.append(self._tag_input)
            if f.type.widget in _NO_HELPER_TEXT:
                items.append(self._under[f.name])
        if tab == TABS[0]:
            items.append(self._balance)
        return items

    def _fill_tab(self, event) -> None:
        """A tab shown for the first time: make what it shows."""
        names = self._tab_order()
        if event.new is None or not 0 <= event.new < len(names):
            return
        box = self._boxes[names[event.new]]
        if not box.objects:
            box.objects = self._tab_items(names[event.new])

    def _grid(self, name: str) -> Grid:
        grid = self._grids.get(name)
        if grid is None:
            grid = self._grids[name] = self._make_grid(name, self._rows[name])
        return grid

    @property
    def _contacts(self) -> Grid:
        """The contacts grid (made on first use)."""
        return self._grid("contacts")

    @property
    def _history(self) -> Grid:
        """The History tab's grid (made on first use)."""
        return self._grid("history")

    @property
    def _messages(self) -> Grid:
        """The Messages tab's grid (made on first use)."""
        return self._grid("messages")

    def _put_rows(self, name: str, frame: pd.DataFrame) -> None:
        """Show `frame` in the grid called `name`, or keep it until the grid is made."""
        if name != "contacts" and name in self._grids and frame.equals(self._rows[name]):
            return  # read-only rows unchanged (History is read again on each change)
        self._rows[name] = frame
        if name in self._grids:
            self._grids[name].value = frame

    def _contact_frame(self) -> pd.DataFrame:
        """The contacts as the grid holds them (as loaded, while it is not made)."""
        grid = self._grids.get("contacts")
        return self._rows["contacts"] if grid is None else grid.value

    def _make_grid(self, name: str, frame: pd.DataFrame) -> Grid:
        if name == "history":
            return Grid(frame, titles=HISTORY_TITLES, show_index=False,
                        disabled=True, height=260, sizing_mode="stretch_width",
                        layout="fit_data_stretch",
                        # a long value (a list of contacts) is cut, read whole on hover:
                        # it pushed After out of sight
                        configuration={"placeholder": "No changes recorded yet.",
                                       "columnDefaults": {"maxWidth": 260, "tooltip": True}})  # fmt: skip
        if name == "messages":
            return Grid(frame, titles=MESSAGE_TITLES, show_index=False,
                        disabled=True, height=260, sizing_mode="stretch_width",
                        layout="fit_data_stretch",
                        configuration={"placeholder": "No messages sent yet."})  # fmt: skip
        grid = _ContactsGrid(
            frame, show_index=False, selectable="checkbox" if self._can_write else False,
            disabled=not self._can_write, sizing_mode="stretch_width",
            height=220, hidden_columns=["id"], layout="fit_data_stretch",
            titles={f.name: f.label for f in CONTACT_FIELDS},
            editors={f.name: ({"type": "tickCross"} if f.formatter == YES_NO else {"type": "input"})
                     for f in CONTACT_FIELDS},
            formatters={f.name: {"type": "tickCross"} for f in CONTACT_FIELDS
                        if f.formatter == YES_NO},
            # a long value is read whole on hover; a long title ("Opted out of email") wraps
            configuration={"columnDefaults": {"tooltip": True, "headerWordWrap": True}},
        )  # fmt: skip
        # a contact's problem shows at its cell, and is said in full under the grid (a
        # Problem column in the grid was squeezed to "E… is n…" and its wrapped text made
        # the row taller than the grid, so a red cell's editor showed empty)
        self._styled: dict[tuple[int, str], str] = dict(self._contact_marks)
        grid.style.apply(self._contact_styles, axis=None)
        grid.on_edit(self._contact_edited)
        return grid

    def _contacts_items(self) -> list[Any]:
        return [
            self._contacts,
            self._unmark,
            pmui.Row(
                Button.from_param(self.param.add_contact, label="Add contact", icon="person_add", variant="outlined", size="small"),
                Button.from_param(self.param.remove_contacts, label="Remove ticked", icon="person_remove", variant="outlined", size="small"),
                visible=self._can_write,
            ),
            Text("Email goes to every contact's email; SMS to every contact's mobile "
                            "(in E.164, e.g. +447911123456; a national number is read in the "
                            "customer's country).", variant="caption"),
            self._contact_errors,
        ]  # fmt: skip

    def _picker_options(self, f: Field, search: str = "") -> dict[str, Any]:
        return {f.type.no_choice: None, **self._held.get(f.name, {}),
                **f.type.ranked_options(search)}  # fmt: skip

    def _rank_options(self, f: Field, search: str) -> None:
        widget = self._widgets[f.name]
        widget.options = self._picker_options(f, search or "")
        # dicts holding the same items in another order are equal: param sees no change
        widget.param.trigger("options")

    def _build(self) -> None:
        """The card's frame: its dialog, holding a line that says what is opening. The
        body (tabs, form, buttons) is made when the card is first filled (`_made_body`):
        made here it held the first click's dialog back by 0.4-0.5 s at 1,000 customers."""
        # a viewer reads the card: every field read-only, no Save (the service checks too)
        self._can_write = allowed(self.store.role, "edit")
        self._drawn = False
        self._dialog = pmui.Dialog(
            title="Add customer", open=False, width_option="md",
            close_on_click=True, show_close_button=True, sizing_mode="stretch_width",
            # on a phone the card takes the screen's width less a thin margin (Material's
            # 32 px margins left 326 of 390 px, and the fields ran off its right edge)
            # and a long customer name wraps in the title instead of pushing the close
            # button out of sight
            sx={"& .MuiDialog-paper": {"@media (max-width: 599.95px)": {
                    "margin": "8px", "width": "calc(100% - 16px)", "maxHeight": "calc(100% - 16px)"}},
                "& .MuiDialogTitle-root": {"minWidth": 0, "flex": "1 1 auto", "overflowWrap": "anywhere",
                    "@media (max-width: 599.95px)": {"fontSize": "1.15rem", "padding": "12px 16px"}},
                # Cancel and Save stick to the box's foot (`_foot`): a field brought into
                # view (Tab, a refused save's first problem) stops above them, not under
                # them (at 1280x720 Currency stayed under Save, cut at the dialog's bottom);
                # likewise below the sticky tab row at the top
                "& .MuiDialogContent-root": {"scrollPaddingBottom": f"{FOOT_HEIGHT}px",
                                             "scrollPaddingTop": f"{TABS_HEIGHT}px"},
                **FADING_SX},
        )  # fmt: skip
        # what the card shows while it is first made and drawn: a still line, sized like a
        # short form (an animated progress bar here kept the browser repainting while it
        # had the whole form to draw)
        self._opening = Opening(self._dialog, min_height=160)
        self._snapshot: Any = None
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            # no browser waiting (a notebook, a test): the whole card at once, as before
            self._opening.made(self._made_body())

    #: The parts of the card's body, made together on first use (`_made_body`).
    _BODY_PARTS = frozenset({
        "_unmark", "_tag_input", "_styled", "_contact_errors", "_balance", "_system", "_boxes",
        "_tabs", "_alert", "_first_problem", "_reload_btn", "_read_only", "_actions", "_foot", "_body", "_guard",
    })  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes not set yet: a body part asked for before the body
        # was made makes it (a poll's History reload, an error shown while opening)
        if name in CustomerCard._BODY_PARTS and not self.__dict__.get("_making_body"):
            self._made_body()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _made_body(self) -> pmui.Column:
        """The card's body (tabs, form, buttons), made the first time it is needed."""
        if "_body" in self.__dict__:
            return self._body
        self._making_body = True
        self._unmark = ContactMarks(height=0, margin=0, sizing_mode="stretch_width")
        self._tag_input = None
        #: The marks the cells show: those of the last save. A cell keeps its mark while
        #: it is fixed: changing the styles redraws the grid, closing the editor in use.
        self._styled = {}
        self._contact_errors = Text("", variant="body2", styles={"color": "#d32f2f"})
        self._balance = Text("", variant="body2")
        self._system = Text("", variant="caption")
        # the Basic tab is made now, every other tab when it is first shown
        self._boxes = {tab: pmui.Column(sizing_mode="stretch_width") for tab in self._tab_order()}
        self._boxes[TABS[0]].objects = self._tab_items(TABS[0])
        tabs = list(self._boxes.items())
        # only the open tab is drawn: a grid drawn in a hidden tab has no size, and Tabulator
        # then fails on later updates ("reading 'rowManager'")
        # on a phone the tabs scroll with their arrows shown (Material UI hides them on
        # small screens: the tabs were cut at "VERIFIC", Contacts and History out of reach)
        # the tab row stays at the top of the card's scrolling box while the fields scroll
        # under it (at 1280x720 the card is taller than the window: scrolled, the tabs went
        # out of sight with the first fields); painted, so no field shows through it
        self._tabs = pmui.Tabs(*tabs, sizing_mode="stretch_width", dynamic=True, sx={
            "& .MuiTabs-root": {"position": "sticky", "top": 0, "zIndex": 2,
                                "background": "var(--mui-palette-background-paper, #fff)"},
            "& .MuiTabs-root .MuiTabs-scrollButtons.MuiTabs-scrollButtonsHideMobile": {
                "@media (max-width: 599.95px)": {"display": "flex", "width": 28}},
            "& .MuiTab-root": {"@media (max-width: 599.95px)": {"minWidth": 0, "px": 1.5}}})  # fmt: skip
        self._tabs.param.watch(self._fill_tab, "active")
        self._alert = Notice(
            object="", severity="error", visible=False, sizing_mode="stretch_width"
        )
        self._reload_btn = Button.from_param(
            self.param.reload, label="Reload", visible=False, size="small"
        )
        can_write = self._can_write
        # says why nothing can be changed (the fields are greyed out, there is no Save)
        self._read_only = Text(f"Read only: your role is {self.store.role or 'viewer'}.",
                               variant="body2", visible=not can_write,
                               styles={"color": "var(--mui-palette-text-secondary, #666)"})  # fmt: skip
        self._actions = pmui.Row(
            Button.from_param(self.param.cancel, label="Cancel" if can_write else "Close",
                                   variant="outlined"),
            Button.from_param(self.param.save, label="Save", variant="contained", icon="save",
                                   visible=can_write),
        )  # fmt: skip
        # the question before discarding, Cancel and Save stay at the foot of the card's
        # scrolling box: at 1280x720 the card is taller than the window, and the question
        # asked on Escape was below the fold, out of sight with its buttons
        self._foot = pmui.Column(
            self._actions, sizing_mode="stretch_width", margin=0, styles={
                "position": "sticky", "bottom": "-0.5em", "padding-bottom": "0.5em", "z-index": "2",
                "background": "var(--mui-palette-background-paper, #fff)",
                "border-top": "1px solid rgba(0, 0, 0, 0.12)"},
        )  # fmt: skip
        self._first_problem = FirstProblem(height=0, margin=0, sizing_mode="stretch_width")
        self._body = pmui.Column(self._read_only, self._alert, self._first_problem,
                                 self._reload_btn, self._tabs,
                                 self._system,
                                 self._foot, sizing_mode="stretch_width",
                                 min_width=280)  # fmt: skip
        # Escape and the close button close the card; unsaved typing is asked about first
        self._guard = CloseGuard(self._dialog, lambda: self.dirty, on_close=self._clear_problems)
        self._foot.insert(0, self._guard)  # above Cancel and Save
        self._making_body = False
        return self._body

    def __panel__(self):
        return self._dialog

    @staticmethod
    def page_parts() -> list[Any]:
        """What the page must hold from its first drawing for the card to work when it is
        opened later: the browser knows a custom component's type only if one was in the
        page when it was first drawn (`ContactMarks`)."""
        return [ContactMarks(visible=False, height=0, margin=0)]

    def _money_labels(self, *_) -> None:
        """Money is shown with its currency: "Debit Limit (EUR)"."""
        for f in FORM_FIELDS:
            widget = self._widgets.get(f.name)
            if f.type.in_currency and widget is not None:
                widget.label = self._label(f)

    # --- opening ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._dialog.open

    @property
    def tab_titles(self) -> list[str]:
        """The tabs' titles as shown, "Basic (2)" where two problems wait on Basic."""
        return list(self._tabs._names)

    def new(self) -> None:
        """Open an empty form for a new customer."""
        self._present("Add customer", self._fill_new, "the form")

    def _fill_new(self) -> None:
        defaults = CustomerForm()
        self._hold({})
        self.form.param.update(
            **{form_key(f.name): getattr(defaults, form_key(f.name)) for f in FORM_FIELDS}
        )
        self.param.update(customer_id=None, row_version=None)
        self._put_rows("contacts", _contacts_frame([]))
        self._put_rows("history", _empty(HISTORY_TITLES))
        self._put_rows("messages", _empty(MESSAGE_TITLES))
        self._fix(False)
        self._balance.object = ""
        self._system.object = ""
        self._refresh_tags([])
        self._base = self._state()

    def open_customer(self, customer_id: int) -> None:
        """Open the form on an existing customer."""
        try:
            record = service.get_customer(self.store, customer_id)
        except UserError as exc:
            self._show_error(str(exc))
            return
        verb = "Edit customer" if self._can_write else "Customer"
        self._present(f"{verb}: {record[KEY_FIELD]}", lambda: self._load(record),
                      str(record[KEY_FIELD]))  # fmt: skip

    def _present(self, title: str, fill, what: str) -> None:
        """Fill the card (`fill()`) and open it. The first time in a browser the card opens
        at once, saying "Opening `what`…", and is made and filled right after: making the
        whole form and drawing it the first time takes about a second."""
        self._conflict = None

        def show() -> None:
            body = self._made_body()
            self._clear_problems()
            try:
                fill()
            except UserError as exc:  # the database went away in between
                self._opening.made(body)
                self._show_error(str(exc))
                return
            self._opening.made(body)
            if waiting and not self._dialog.open:
                return  # closed while it was loading
            self._show(title)

        doc = pn.state.curdoc
        waiting = not (self._drawn or doc is None or doc.session_context is None)
        if not waiting:
            self._drawn = True
            show()
            return
        self._drawn = True
        self._opening.say(f"Opening {what}…")
        self._dialog.param.update(title=title, open=True)
        Opening.soon(show)

    def _show(self, title: str) -> None:
        self._snapshot = self._state()
        self._guard.reset()
        self._tabs.active = 0
        self._dialog.param.update(title=title, open=True)
        self._make_tabs_later()

    def _make_tabs_later(self) -> None:
        """Once the card is on screen, make the tabs not made yet (their Python parts: they
        are drawn when chosen), so that a tab chosen later does not stand empty while it is
        made. Not before the card is open: a card made before the first click never opened
        in the browser."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            return
        if all(box.objects for box in self._boxes.values()):
            return

        def later() -> None:
            with set_curdoc(doc):  # so that the changes go out as this session's
                for tab, box in self._boxes.items():
                    if not box.objects:
                        box.objects = self._tab_items(tab)

        doc.add_next_tick_callback(later)

    def _state(self) -> Any:
        """What the person can change, to tell whether they changed anything."""
        return (self.values(), self.contacts())

    @property
    def dirty(self) -> bool:
        """Whether the form holds changes that are not saved."""
        return self._snapshot is not None and self._state() != self._snapshot

    def close(self) -> None:
        """Close the card (nothing typed is kept)."""
        self._guard.close()

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self._guard.request_close()

    def _hold(self, record: dict[str, Any]) -> None:
        """Let the pickers show the customer's codes, also one they no longer offer."""
        self._held = {}
        for f in FORM_FIELDS:
            if f.type.widget == "picker":
                value = record.get(f.name)
                if value is not None and value not in f.type.options().values():
                    self._held[f.name] = {f.type.option_label(value): value}
                if f.name in self._widgets:
                    self._widgets[f.name].options = self._picker_options(f)

    def _form_values(self, record: dict[str, Any]) -> dict[str, Any]:
        """A stored customer as the form's parameters hold it."""
        values = {}
        for f in FORM_FIELDS:
            name = form_key(f.name)
            values[name] = f.type.form_value(record[f.name])
        return values

    def _load(self, record: dict[str, Any]) -> None:
        values = self._form_values(record)
        self._refresh_tags(values.get(form_key(TAGS_FIELD), []))
        self._hold(record)
        self.form.param.update(**values)
        self.param.update(customer_id=record[ID_FIELD], row_version=record["row_version"])
        self._put_rows("contacts", _contacts_frame(record["contacts"]))
        self._fix(True)
        # fields shown but not edited here (the balance, kept by billing)
        self._balance.object = " · ".join(
            f"{f.label}: {f.type.amount_text(record[f.name] or 0, record[CURRENCY_FIELD])}"
            if f.type.in_currency else f"{f.label}: {f.type.to_text(record[f.name])}"
            for f in READ_ONLY
        )  # fmt: skip
        self._system.object = (
            f"ID {record[ID_FIELD]} · created {timestamp_text(record[CREATED_FIELD])} · "
            f"updated {timestamp_text(record[UPDATED_FIELD])}"
        )
        self._read_history(record[ID_FIELD])
        self._base = self._state()

    def _read_history(self, customer_id: int) -> None:
        """The History and Messages tabs of customer `customer_id`, read now."""
        history = audit.history(self.store, customer_id, shown=True).assign(
            at=lambda d: d["at"].map(timestamp_text)
        )[list(HISTORY_TITLES)]
        self._put_rows("history", history)
        from ..messaging import STATUSES, message_log

        log = message_log(self.store, customer_id=customer_id, limit=200)
        self._put_rows("messages", (
            log[list(MESSAGE_TITLES)]
            .assign(
                created_at=lambda d: d["created_at"].map(timestamp_text),
                status=lambda d: d["status"].map(lambda s: STATUSES.get(s, s)),
            )
            .astype(object)
            .where(lambda d: d.notna(), "")
        ))  # fmt: skip

    def show_history(self) -> None:
        """Read the open customer's History and Messages again: a change saved elsewhere
        (the API, another session) shows while the card is open. The form is left as it
        is (a save then meets the usual conflict check)."""
        if self.customer_id is None:
            return
        try:
            self._read_history(self.customer_id)
        except UserError:
            pass  # the database went away: the next open says so

    def _fix(self, exists: bool) -> None:
        """Fields fixed once the customer exists are read-only on an existing one."""
        self._fixed = exists
        for f in FORM_FIELDS:
            if f.immutable and f.name in self._widgets:
                self._widgets[f.name].disabled = exists or not self._can_write

    def _refresh_tags(self, current: list[str]) -> None:
        self._tag_options = list(dict.fromkeys([*current, *service.known_tags(self.store)]))
        if TAGS_FIELD in self._widgets:
            self._widgets[TAGS_FIELD].options = list(self._tag_options)

    def _add_tag(self) -> None:
        tag = self.new_tag.strip()
        if not tag:
            return
        if tag not in self._tag_options:
            self._tag_options = [*self._tag_options, tag]
            if TAGS_FIELD in self._widgets:
                self._widgets[TAGS_FIELD].options = list(self._tag_options)
        key = form_key(TAGS_FIELD)
        if tag not in getattr(self.form, key):
            setattr(self.form, key, [*getattr(self.form, key), tag])
        self.new_tag = ""

    # --- contacts --------------------------------------------------------------------

    @param.depends("add_contact", watch=True)
    def _add_contact(self) -> None:
        blank = {f.name: f.type.form_value(f.default) for f in CONTACT_FIELDS}
        row = pd.DataFrame([{"id": None, **blank}], index=[len(self._contacts.value)])
        # streamed, not a new value: the rows drawn (and a cell being edited) stay as they are
        self._contacts.stream(row.astype(object), reset_index=False)

    @param.depends("remove_contacts", watch=True)
    def _remove_contacts(self) -> None:
        gone = set(self._contacts.selection)
        keep = [i for i in range(len(self._contacts.value)) if i not in gone]
        # marks follow their rows
        moved = {old: new for new, old in enumerate(keep)}
        self._contact_marks = {
            (moved[r], c): m for (r, c), m in self._contact_marks.items() if r in moved
        }
        self._styled = {(moved[r], c): m for (r, c), m in self._styled.items() if r in moved}
        self._contacts.value = self._contacts.value.iloc[keep].reset_index(drop=True)
        self._contacts.selection = []
        if gone:
            self._render_problems()

    def _contact_rows(self) -> list[tuple[int, dict[str, Any]]]:
        """The contacts as edited with their grid rows (0-based; blank rows dropped)."""
        out = []
        for row, rec in enumerate(self._contact_frame().to_dict("records")):
            contact = {f.name: rec.get(f.name) for f in CONTACT_FIELDS}
            for k, v in contact.items():
                if isinstance(v, str) and not v.strip():
                    contact[k] = None
            if not any(contact.get(k) for k in CONTACT_IDENTITY):
                continue
            cid = rec.get("id")
            if cid is not None and not pd.isna(cid):
                contact["id"] = int(cid)
            out.append((row, contact))
        return out

    def contacts(self) -> list[dict[str, Any]]:
        """The contacts as edited (blank rows dropped)."""
        return [contact for _, contact in self._contact_rows()]

    def _contact_styles(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Tabulator cell styles: the cells with a problem at the last save."""
        styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for row, name in self._styled:
            if row < len(frame) and name in styles.columns:
                styles.iloc[row, styles.columns.get_loc(name)] = BAD_CELL
        return styles

    def _restyle(self) -> None:
        """Mark the cells with a problem now (redraws the grid: not while a person types)."""
        if self._styled != self._contact_marks:
            self._styled = dict(self._contact_marks)
            self._unmark.fixed = []  # the styles sent now are the marks
            if "contacts" in self._grids:  # else made with these marks
                self._contacts.param.trigger("value")

    def _contact_edited(self, event) -> None:
        """A person changed a contact cell: its problem is theirs to have fixed (the list
        under the grid and the tab's count drop it); once its value is valid its red mark
        goes too, in the browser (new cell styles would redraw the grid under the person's
        typing)."""
        key = (event.row, event.column)
        if self._contact_marks.pop(key, None) is not None:
            self._render_problems(restyle=False)
        # a cell whose value is valid now loses its red mark (in the browser: see ContactMarks)
        if key in self._styled and self._contact_valid(*key):
            self._unmark.fixed = [*self._unmark.fixed, list(key)]

    def _contact_valid(self, row: int, name: str) -> bool:
        """Whether the contact in grid `row` has no problem with its field `name`."""
        frame = self._contact_frame()
        if not 0 <= row < len(frame):
            return False
        rec = frame.iloc[row].to_dict()
        contact = {f.name: rec.get(f.name) for f in CONTACT_FIELDS}
        contact = {k: None if isinstance(v, str) and not v.strip() else v
                   for k, v in contact.items()}  # fmt: skip
        region = getattr(self.form, form_key(COUNTRY_FIELD), None) or None
        _clean, problems = service.validate_contacts([contact], region=region)
        return not any(p.field == f"contacts[1].{name}" for p in problems)

    # --- saving ----------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The form's values as typed, by field name."""
        values = {f.name: getattr(self.form, form_key(f.name)) for f in FORM_FIELDS}
        for name, widget in self._widgets.items():  # the made ones: typing not yet left
            if name in values and typed(widget) != widget.value:
                values[name] = typed(widget)
        return values

    @param.depends("save", watch=True)
    def _save(self) -> None:
        self._clear_problems()
        values = self.values()
        rows = self._contact_rows()
        if self.customer_id is not None:
            for f in FORM_FIELDS:  # fixed once the customer exists
                if f.immutable:
                    values.pop(f.name, None)
        contacts = [contact for _, contact in rows]
        try:
            if self.customer_id is None:
                batch = service.add_customer(self.store, values, contacts, user=self.user)
                self.customer_id = batch.ids[0]
            else:
                batch = service.update_customer(
                    self.store, self.customer_id, values, contacts,
                    expected_version=self.row_version, user=self.user,
                )  # fmt: skip
        except ValidationError as exc:
            self._show_problems(exc, [row for row, _ in rows])
            return
        except ConflictError as exc:
            self._conflict = exc
            self._show_error(str(exc), conflict=True)
            return
        except UserError as exc:
            self._show_error(str(exc))
            return
        self._conflict = None
        self.close()
        self.message = f"Saved {values.get(KEY_FIELD)}" + (
            "." if batch.batch_id else " (no changes)."
        )
        self.saved_batch = batch.batch_id or ""
        self.param.trigger("saved_batch")

    # --- someone else saved first ----------------------------------------------------

    @param.depends("reload", watch=True)
    def _reload(self) -> None:
        if self.customer_id is None:
            return
        conflict, self._conflict = self._conflict, None
        mine, base = self._state(), self._base
        if conflict is None or base is None or mine == base:
            self.open_customer(self.customer_id)
            return
        try:
            record = service.get_customer(self.store, self.customer_id)
        except UserError as exc:
            self._show_error(str(exc))
            return
        self._merge(record, mine, base, conflict)

    def _merge(self, record: dict[str, Any], mine: Any, base: Any, conflict: ConflictError) -> None:
        """Load the customer as others saved it, then put back this person's own edits:
        a field only they changed keeps their value; a field only the others changed takes
        the others' value; a field both changed keeps theirs and says what the others
        saved, for the person to decide."""
        my_values, my_contacts = mine
        base_values, base_contacts = base
        self._load(record)
        theirs = self._state()
        their_values, their_contacts = theirs
        who = conflict.fields
        keep, clashes = {}, {}
        for f in FORM_FIELDS:
            name = f.name
            if my_values[name] == base_values[name] or f.immutable:
                continue  # not touched here: the saved value stands
            keep[form_key(name)] = my_values[name]
            if their_values[name] not in (base_values[name], my_values[name]):
                by = who.get(name) or "someone else"
                clashes[name] = (
                    f"{by} saved {_shown(f, their_values[name])} here after you opened the "
                    "card; yours is kept. Change it if theirs is right, then Save."
                )
        self._refresh_tags([*their_values[TAGS_FIELD], *my_values[TAGS_FIELD]])
        self.form.param.update(**keep)
        note = ""
        if my_contacts != base_contacts:
            self._put_rows("contacts", _contacts_frame(my_contacts))
            if their_contacts not in (base_contacts, my_contacts):
                by = who.get("contacts") or "someone else"
                listed = (
                    "; ".join(
                        " ".join(str(c.get(k) or "") for k in CONTACT_IDENTITY).strip()
                        for c in their_contacts
                    )
                    or "no contacts"
                )
                note = (f"{by} also changed the contacts after you opened the card and saved: "
                        f"{listed}. Yours are kept below; Save writes them.")  # fmt: skip
        self._clear_problems()
        self._problems = clashes
        self._contacts_note = note
        self._render_problems(open_first=True)
        self._snapshot = theirs  # what is saved now: the person's edits are unsaved
        changed = [FIELDS[n].label if n in FIELDS else n.title() for n in who]
        by = ", ".join(sorted(set(who.values()))) or "someone else"
        text = f"Reloaded: the changes {by} saved are in ({', '.join(changed) or 'none'})."
        if keep or my_contacts != base_contacts:
            text += " Your own changes to other fields are kept."
        both = len(clashes) + bool(note)
        if both:
            text += (f" {both} {'field was' if both == 1 else 'fields were'} changed by both of "
                     "you: marked below with what they saved. Check them, then Save.")  # fmt: skip
        else:
            text += " Save to write yours."
        self.message = text
        self._alert.param.update(object=text, severity="warning" if both else "info",
                                 visible=True)  # fmt: skip
        self._reload_btn.visible = False

    # --- problems --------------------------------------------------------------------

    def _edited(self, *events) -> None:
        """A person changed a field: the problem shown under it was theirs to fix."""
        names = {e.name.removesuffix("_") if e.name not in FIELDS else e.name for e in events}
        if names & self._problems.keys():
            for name in names:
                self._problems.pop(name, None)
            self._render_problems()

    def _clear_problems(self) -> None:
        had = bool(self._problems or self._contact_marks or self._contacts_note)
        self._problems, self._contact_marks, self._contacts_note = {}, {}, ""
        if had or any(n != t for n, t in zip(self._tabs._names, self._tab_order(), strict=False)):
            self._render_problems()
        self._alert.visible = False
        self._reload_btn.visible = False

    @staticmethod
    def _tab_order() -> list[str]:
        return [*TABS, *EXTRA_TABS]

    def _render_problems(self, open_first: bool = False, restyle: bool = True) -> None:
        """Show every problem where it is: under its field, at its contact cell, and as a
        count in each tab's title; `open_first` opens the first tab holding one; `restyle`
        marks the contact cells again."""
        for f in FORM_FIELDS:  # the parts made; the others are made so
            if f.name in self._widgets:
                self._dress(f, self._widgets[f.name])
            if f.name in self._under:
                self._dress_under(f.name, self._under[f.name])
        frame = self._contact_frame()
        if restyle:
            self._restyle()
        lines = []
        for (row, name), text in sorted(self._contact_marks.items()):
            who = str(frame.iloc[row]["name"] or "").strip() if row < len(frame) else ""
            value = str(frame.iloc[row][name]) if row < len(frame) and name in frame else ""
            label = CONTACT_LABELS.get(name, "")
            shown = f" {chr(8220)}{value}{chr(8221)}" if value else ""
            lines.append(f"Contact {row + 1}{f' ({who})' if who else ''}, {label}{shown}: {text}")
        if self._contacts_note:
            lines.append(self._contacts_note)
        self._contact_errors.object = "\n\n".join(lines)
        # the tabs: "Basic (2)"
        counts = {t: 0 for t in self._tab_order()}
        for name in self._problems:
            counts[FIELDS[name].tab] += 1
        counts["Contacts"] = len(self._contact_marks) + bool(self._contacts_note)
        titles = [f"{t} ({counts[t]})" if counts[t] else t for t in self._tab_order()]
        if list(self._tabs._names) != titles:
            self._tabs._names = titles
        if open_first:
            first = next((i for i, t in enumerate(self._tab_order()) if counts[t]), None)
            if first is not None:
                self._tabs.active = first

    def _show_problems(self, exc: ValidationError, rows: list[int]) -> None:
        """Put each problem of a refused save at its field or contact cell. `rows` are the
        grid rows of the contacts sent, in order (the service counts contacts from 1)."""
        fields: dict[str, str] = {}
        marks: dict[tuple[int, str], str] = {}
        elsewhere = []
        for problem in exc.problems:
            contact = _CONTACT_PROBLEM.match(problem.field)
            if contact:
                i, name = int(contact.group(1)), contact.group(2)
                row = rows[i - 1] if 0 < i <= len(rows) else i - 1
                text = problem.message.split(": ", 1)[-1]
                if name in CONTACT_LABELS:
                    text = text.removeprefix(CONTACT_LABELS[name]).strip()
                marks[(row, name or "name")] = text
                continue
            f = FIELDS.get(problem.field)
            if f is None or f not in FORM_FIELDS:
                elsewhere.append(problem.message)
                continue
            if f.type.widget == "code":
                found = f.type.problem(str(getattr(self.form, form_key(f.name)) or ""))
                fields[f.name] = str(found) if found else problem.message
            else:
                fields[f.name] = problem.message.removeprefix(f.label).strip()
        self._problems, self._contact_marks, self._contacts_note = fields, marks, ""
        self._render_problems(open_first=True)
        if fields:  # a contact's problem is shown at its cell, which takes no focus
            self._first_problem.refused += 1
        n = len(exc.problems)
        tabs = [t.split(" (")[0] for t in self.tab_titles if t.endswith(")")]
        where = f" (see {', '.join(tabs)})" if tabs else ""
        more = (" " + " ".join(elsewhere)) if elsewhere else ""
        self._show_error(f"{n} problem{'s' if n > 1 else ''} to fix before saving{where}. "
                         f"Nothing was saved.{more}")  # fmt: skip

    def _show_error(self, text: str, *, conflict: bool = False) -> None:
        self.message = text
        self._alert.param.update(
            object=text, severity="warning" if conflict else "error", visible=True
        )
        self._reload_btn.visible = conflict
