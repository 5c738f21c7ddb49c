"""The customer card: Add (+) and Edit, with the Basic, Config, Address, Verification,
Contacts and History tabs. Its form parameters and widgets are generated from the field
registry; every value goes to the service layer as typed, where it is parsed and checked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import audit
from .. import customers as service
from ..access import allowed
from ..errors import ConflictError, UserError, ValidationError
from ..fields import (
    CONTACT_FIELDS,
    CONTACT_IDENTITY,
    CURRENCY_FIELD,
    FIELDS,
    TABS,
    TAGS_FIELD,
    Field,
    fields_on_tab,
    writable,
)  # fmt: skip
from ..store import Store
from ..types import toml_problem
from .controls import Button
from .safe import Grid, Notice, Text


def _text(f: Field, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return (
            format(value.normalize(), "f")
            if value == value.to_integral()
            else format(value, "f").rstrip("0").rstrip(".")
        )
    return f.type.to_text(value)


def _form_parameter(f: Field) -> param.Parameter:
    doc = f.doc or f.label
    if f.kind == "bool":
        return param.Boolean(default=bool(f.default), doc=doc)
    if f.kind == "tags":
        return param.List(default=[], doc=doc)
    if f.kind == "choice":
        return param.Selector(default=f.default or f.choices[0], objects=list(f.choices), doc=doc)
    if f.kind in ("country", "currency"):
        return param.Selector(default=None, objects=[None, *f.type.options().values()], doc=doc)
    return param.String(default=_text(f, f.default), doc=doc)


def form_key(field_name: str) -> str:
    """The form parameter of a field: its own name, unless param reserves that name
    (every Parameterized has a constant `name`), then with a trailing underscore."""
    return field_name + "_" if field_name in param.Parameterized.param else field_name


FORM_FIELDS = [f for f in writable() if f.editable]
#: The TOML field, edited in a code editor that marks a parse error at its line.
TOML_FIELD = next(f.name for f in FORM_FIELDS if f.kind == "toml")
#: Fields a person sees on the card but does not edit there.
READ_ONLY = [f for f in writable() if not f.editable]
#: The form's state: one parameter per editable customer field, made from the registry.
CustomerForm = param.parameterized_class(
    "CustomerForm", {form_key(f.name): _form_parameter(f) for f in FORM_FIELDS}
)

CONTACT_COLUMNS = ["id", *[f.name for f in CONTACT_FIELDS]]
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
        if f.kind == "bool":
            frame[f.name] = frame[f.name].map(lambda v: bool(v) if v is not None else False)
        else:
            frame[f.name] = frame[f.name].map(lambda v: "" if v is None else str(v))
    return frame


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
    keep_editing = param.Event(label="Keep editing", doc="Go back to the form.")
    discard = param.Event(label="Discard changes", doc="Close and forget what was typed.")
    reload = param.Event(doc="Load the customer's current values again.")
    add_contact = param.Event(doc="Add an empty contact row.")
    remove_contacts = param.Event(doc="Remove the ticked contacts.")
    new_tag = param.String(default="", doc="A new tag to add (press Enter).")
    saved_batch = param.String(default="", doc="The batch id of the last save.")
    message = param.String(default="", doc="The last message shown in the card.")

    def __init__(self, **params):
        super().__init__(**params)
        self.form = CustomerForm()
        self._widgets: dict[str, Any] = {}
        self._build()
        self.form.param.watch(self._money_labels, form_key(CURRENCY_FIELD))
        self._money_labels()

    # --- building --------------------------------------------------------------------

    def _widget(self, f: Field):
        p = self.form.param[form_key(f.name)]
        common = dict(label=f.label, sizing_mode="stretch_width")
        if f.kind == "bool":
            return pmui.Switch.from_param(p, label=f.label, description=f.doc or None)
        if f.kind == "choice":
            return pmui.Select.from_param(p, **common)
        if f.kind == "country":
            return pmui.Select.from_param(
                p, options={"(none)": None, **f.type.options()}, searchable=True, **common
            )
        if f.kind == "currency":
            return pmui.Select.from_param(
                p, options={"(choose)": None, **f.type.options()}, searchable=True, **common
            )
        if f.kind == "tags":
            return pmui.MultiChoice.from_param(p, options=[], searchable=True, **common)
        if f.kind == TOML_FIELD:
            return pn.widgets.CodeEditor.from_param(
                p, language=TOML_FIELD, height=180, sizing_mode="stretch_width", theme="chrome",
                styles={"border": "1px solid #c4c4c4", "border-radius": "4px"},
            )  # fmt: skip
        if f.kind == "percent":
            common["label"] = f"{f.label} (%)"
        return pmui.TextInput.from_param(p, **common)

    def _build(self) -> None:
        for f in writable():
            if f.editable:
                self._widgets[f.name] = self._widget(f)
        self._toml_error = Text("", variant="caption", styles={"color": "#d32f2f"})
        self._tag_input = pmui.TextInput.from_param(self.param.new_tag, label="Add a tag",
                                                    placeholder="type and press Enter", width=220)  # fmt: skip
        self._tag_input.param.watch(lambda e: self._add_tag(), "enter_pressed")
        self._balance = Text("", variant="body2")
        self._system = Text("", variant="caption")
        tabs = []
        for tab in TABS:
            items = [self._widgets[f.name] for f in fields_on_tab(tab)]
            if tab == "Basic":
                items.append(self._balance)
            if tab == "Config":
                i = [f.name for f in fields_on_tab(tab)].index(TAGS_FIELD)
                items.insert(i + 1, self._tag_input)
                items.append(Text("TOML", variant="subtitle2"))
                items.remove(self._widgets[TOML_FIELD])
                items += [self._widgets[TOML_FIELD], self._toml_error]
            tabs.append((tab, pmui.Column(*items, sizing_mode="stretch_width")))
        self._contacts = Grid(
            _contacts_frame([]), show_index=False, selectable="checkbox", sizing_mode="stretch_width",
            height=220, hidden_columns=["id"], layout="fit_data_stretch",
            titles={f.name: f.label for f in CONTACT_FIELDS},
            editors={f.name: ({"type": "tickCross"} if f.kind == "bool" else {"type": "input"})
                     for f in CONTACT_FIELDS},  # fmt: skip
            formatters={f.name: {"type": "tickCross"} for f in CONTACT_FIELDS if f.kind == "bool"},
        )  # fmt: skip
        self._contact_errors = Text("", variant="body2", styles={"color": "#d32f2f"})
        contacts = pmui.Column(
            self._contacts,
            pmui.Row(
                Button.from_param(self.param.add_contact, label="Add contact", icon="person_add", variant="outlined", size="small"),
                Button.from_param(self.param.remove_contacts, label="Remove ticked", icon="person_remove", variant="outlined", size="small"),
            ),
            Text("Email goes to every contact's email; SMS to every contact's mobile "
                            "(in E.164, e.g. +447911123456; a national number is read in the "
                            "customer's country).", variant="caption"),
            self._contact_errors, sizing_mode="stretch_width",
        )  # fmt: skip
        tabs.append(("Contacts", contacts))
        self._history = Grid(_empty(HISTORY_TITLES), titles=HISTORY_TITLES, show_index=False,
                             disabled=True, height=260, sizing_mode="stretch_width",
                             layout="fit_data_stretch",
                             configuration={"placeholder": "No changes recorded yet."})  # fmt: skip
        tabs.append(("History", self._history))
        self._messages = Grid(_empty(MESSAGE_TITLES), titles=MESSAGE_TITLES, show_index=False,
                              disabled=True, height=260, sizing_mode="stretch_width",
                              layout="fit_data_stretch",
                              configuration={"placeholder": "No messages sent yet."})  # fmt: skip
        tabs.append(("Messages", self._messages))
        # only the open tab is drawn: a grid drawn in a hidden tab has no size, and Tabulator
        # then fails on later updates ("reading 'rowManager'")
        self._tabs = pmui.Tabs(*tabs, sizing_mode="stretch_width", dynamic=True)
        self._alert = Notice(
            object="", severity="error", visible=False, sizing_mode="stretch_width"
        )
        self._reload_btn = Button.from_param(
            self.param.reload, label="Reload", visible=False, size="small"
        )
        # a viewer reads the card; saving needs the editor role (the service checks it too)
        can_write = allowed(self.store.role, "edit")
        self._actions = pmui.Row(
            Button.from_param(self.param.cancel, label="Cancel" if can_write else "Close",
                                   variant="outlined"),
            Button.from_param(self.param.save, label="Save", variant="contained", icon="save",
                                   visible=can_write),
        )  # fmt: skip
        self._discard_bar = pmui.Row(
            Notice(object="You have changes that are not saved.", severity="warning",
                   sizing_mode="stretch_width"),  # fmt: skip
            Button.from_param(self.param.keep_editing, variant="outlined",
                                   description="Keep editing"),  # fmt: skip
            Button.from_param(self.param.discard, color="warning", variant="contained",
                                   description="Discard changes"),  # fmt: skip
            visible=False, sizing_mode="stretch_width",
        )  # fmt: skip
        # Escape and the close button close the card; unsaved typing is asked about first
        self._dialog = pmui.Dialog(
            pmui.Column(self._alert, self._reload_btn, self._tabs, self._system,
                        self._discard_bar, self._actions, sizing_mode="stretch_width",
                        min_width=320),  # fmt: skip
            title="Add customer", open=False, width_option="md", close_on_click=True,
            show_close_button=True, sizing_mode="stretch_width",
        )  # fmt: skip
        self._closing = False
        self._snapshot: Any = None
        self._dialog.param.watch(self._on_open, "open")

    def __panel__(self):
        return self._dialog

    def _money_labels(self, *_) -> None:
        """Money is shown with its currency: "Debit Limit (EUR)"."""
        ccy = getattr(self.form, form_key(CURRENCY_FIELD))
        for f in FORM_FIELDS:
            if f.kind == "money":
                self._widgets[f.name].label = f"{f.label} ({ccy})" if ccy else f.label

    # --- opening ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._dialog.open

    def new(self) -> None:
        """Open an empty form for a new customer."""
        defaults = CustomerForm()
        self.form.param.update(
            **{form_key(f.name): getattr(defaults, form_key(f.name)) for f in FORM_FIELDS}
        )
        self.param.update(customer_id=None, row_version=None)
        self._contacts.value = _contacts_frame([])
        self._history.value = _empty(HISTORY_TITLES)
        self._messages.value = _empty(MESSAGE_TITLES)
        self._widgets[CURRENCY_FIELD].disabled = False
        self._balance.object = ""
        self._system.object = ""
        self._refresh_tags([])
        self._clear_problems()
        self._show(title="Add customer")

    def open_customer(self, customer_id: int) -> None:
        """Open the form on an existing customer."""
        try:
            record = service.get_customer(self.store, customer_id)
        except UserError as exc:
            self._show_error(str(exc))
            return
        self._load(record)
        self._clear_problems()
        self._show(title=f"Edit customer: {record['name']}")

    def _show(self, title: str) -> None:
        self._snapshot = self._state()
        self._discard_bar.visible = False
        self._tabs.active = 0
        self._dialog.param.update(title=title, open=True)

    def _state(self) -> Any:
        """What the person can change, to tell whether they changed anything."""
        return (self.values(), self.contacts())

    @property
    def dirty(self) -> bool:
        """Whether the form holds changes that are not saved."""
        return self._snapshot is not None and self._state() != self._snapshot

    def close(self) -> None:
        """Close the card (nothing typed is kept)."""
        self._closing = True
        try:
            self._dialog.open = False
        finally:
            self._closing = False
        self._discard_bar.visible = False
        self._clear_problems()

    def _on_open(self, event) -> None:
        # closed in the browser (Escape, the close button, a click beside the card) with
        # unsaved changes: keep it open and ask
        if not event.new and not self._closing and self.dirty:
            self._discard_bar.visible = True
            self._dialog.open = True

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        if self.dirty:
            self._discard_bar.visible = True
            return
        self.close()

    @param.depends("keep_editing", watch=True)
    def _keep_editing(self) -> None:
        self._discard_bar.visible = False

    @param.depends("discard", watch=True)
    def _discard(self) -> None:
        self.close()

    def _load(self, record: dict[str, Any]) -> None:
        values = {}
        for f in FORM_FIELDS:
            name = form_key(f.name)
            v = record[f.name]
            if f.kind in ("bool",):
                values[name] = bool(v)
            elif f.kind == "tags":
                values[name] = list(v or [])
            elif f.kind in ("choice", "country", "currency"):
                values[name] = v
            else:
                values[name] = _text(f, v)
        self._refresh_tags(values.get(form_key(TAGS_FIELD), []))
        self.form.param.update(**values)
        self.param.update(customer_id=record["id"], row_version=record["row_version"])
        self._contacts.value = _contacts_frame(record["contacts"])
        for f in FORM_FIELDS:  # fixed once the customer exists
            self._widgets[f.name].disabled = f.immutable
        # fields shown but not edited here (the balance, kept by billing)
        self._balance.object = " · ".join(
            f"{f.label}: {record[CURRENCY_FIELD]} {Decimal(str(record[f.name] or 0)):,.2f}"
            if f.kind == "money" else f"{f.label}: {f.type.to_text(record[f.name])}"
            for f in READ_ONLY
        )  # fmt: skip
        self._system.object = (
            f"ID {record['id']} · created {str(record['created_at'])[:16]} · "
            f"updated {str(record['updated_at'])[:16]}"
        )
        self._history.value = audit.history(self.store, record["id"]).assign(
            at=lambda d: d["at"].astype(str).str.slice(0, 16)
        )[list(HISTORY_TITLES)]
        from ..messaging import message_log

        log = message_log(self.store, customer_id=record["id"], limit=200)
        self._messages.value = (
            log[list(MESSAGE_TITLES)]
            .assign(created_at=lambda d: d["created_at"].astype(str).str.slice(0, 16))
            .astype(object)
            .where(lambda d: d.notna(), "")
        )

    def _refresh_tags(self, current: list[str]) -> None:
        options = list(dict.fromkeys([*current, *service.known_tags(self.store)]))
        self._widgets[TAGS_FIELD].options = options

    def _add_tag(self) -> None:
        tag = self.new_tag.strip()
        if not tag:
            return
        widget = self._widgets[TAGS_FIELD]
        if tag not in widget.options:
            widget.options = [*widget.options, tag]
        key = form_key(TAGS_FIELD)
        if tag not in getattr(self.form, key):
            setattr(self.form, key, [*getattr(self.form, key), tag])
        self.new_tag = ""

    # --- contacts --------------------------------------------------------------------

    @param.depends("add_contact", watch=True)
    def _add_contact(self) -> None:
        blank = {f.name: (False if f.kind == "bool" else "") for f in CONTACT_FIELDS}
        self._contacts.value = pd.concat(
            [self._contacts.value, pd.DataFrame([{"id": None, **blank}])], ignore_index=True
        ).astype(object)

    @param.depends("remove_contacts", watch=True)
    def _remove_contacts(self) -> None:
        keep = [
            i for i in range(len(self._contacts.value)) if i not in set(self._contacts.selection)
        ]
        self._contacts.value = self._contacts.value.iloc[keep].reset_index(drop=True)
        self._contacts.selection = []

    def contacts(self) -> list[dict[str, Any]]:
        """The contacts as edited (blank rows dropped)."""
        out = []
        for rec in self._contacts.value.to_dict("records"):
            contact = {f.name: rec.get(f.name) for f in CONTACT_FIELDS}
            for k, v in contact.items():
                if isinstance(v, str) and not v.strip():
                    contact[k] = None
            if not any(contact.get(k) for k in CONTACT_IDENTITY):
                continue
            cid = rec.get("id")
            if cid is not None and not pd.isna(cid):
                contact["id"] = int(cid)
            out.append(contact)
        return out

    # --- saving ----------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The form's values as typed, by field name."""
        return {f.name: getattr(self.form, form_key(f.name)) for f in FORM_FIELDS}

    @param.depends("save", watch=True)
    def _save(self) -> None:
        self._clear_problems()
        values = self.values()
        if self.customer_id is not None:
            for f in FORM_FIELDS:  # fixed once the customer exists
                if f.immutable:
                    values.pop(f.name, None)
        try:
            if self.customer_id is None:
                batch = service.add_customer(self.store, values, self.contacts(), user=self.user)
                self.customer_id = batch.ids[0]
            else:
                batch = service.update_customer(
                    self.store, self.customer_id, values, self.contacts(),
                    expected_version=self.row_version, user=self.user,
                )  # fmt: skip
        except ValidationError as exc:
            self._show_problems(exc)
            return
        except ConflictError as exc:
            self._show_error(str(exc), conflict=True)
            return
        except UserError as exc:
            self._show_error(str(exc))
            return
        self.close()
        self.message = f"Saved {values.get('name')}" + (
            f" (batch {batch.batch_id})." if batch.batch_id else " (no changes)."
        )
        self.saved_batch = batch.batch_id or ""
        self.param.trigger("saved_batch")

    @param.depends("reload", watch=True)
    def _reload(self) -> None:
        if self.customer_id is not None:
            self.open_customer(self.customer_id)

    # --- problems --------------------------------------------------------------------

    def _clear_problems(self) -> None:
        for w in self._widgets.values():
            if hasattr(w, "error_state"):
                w.param.update(error_state=False, helper_text="")
        self._widgets[TOML_FIELD].annotations = []
        self._toml_error.object = ""
        self._contact_errors.object = ""
        self._alert.visible = False
        self._reload_btn.visible = False

    def _show_problems(self, exc: ValidationError) -> None:
        tabs = set()
        contact_lines = []
        for problem in exc.problems:
            if problem.field.startswith("contacts"):
                contact_lines.append(problem.message)
                tabs.add("Contacts")
                continue
            f = FIELDS.get(problem.field)
            widget = self._widgets.get(problem.field)
            if f is None or widget is None:
                contact_lines.append(problem.message)
                continue
            tabs.add(f.tab)
            text = problem.message.removeprefix(f.label).strip()
            if f.kind == TOML_FIELD:
                self._show_toml_problem(str(getattr(self.form, form_key(f.name))))
            elif hasattr(widget, "error_state"):
                widget.param.update(error_state=True, helper_text=text)
        self._contact_errors.object = "\n\n".join(contact_lines)
        n = len(exc.problems)
        where = ", ".join(t for t in (*TABS, "Contacts") if t in tabs)
        self._show_error(f"{n} problem{'s' if n > 1 else ''} to fix before saving (see {where}). "
                         "Nothing was saved.")  # fmt: skip

    def _show_toml_problem(self, text: str) -> None:
        problem = toml_problem(text)
        if not problem:
            return
        import re

        m = re.search(r"line (\d+), column (\d+)", problem)
        if m:
            self._widgets[TOML_FIELD].annotations = [
                {
                    "row": int(m.group(1)) - 1,
                    "column": int(m.group(2)) - 1,
                    "text": problem,
                    "type": "error",
                }
            ]
        self._toml_error.object = problem

    def _show_error(self, text: str, *, conflict: bool = False) -> None:
        self.message = text
        self._alert.param.update(
            object=text, severity="warning" if conflict else "error", visible=True
        )
        self._reload_btn.visible = conflict
