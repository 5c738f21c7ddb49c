"""Setup › Users (admins only): who may sign in, with which role."""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import users
from ..access import ROLES
from ..errors import UserError
from ..store import Store
from .controls import Button
from .safe import Grid, Notice, Text, rows_height


class UsersPage(pn.viewable.Viewer):
    """List, add, change the role or password of, and remove users."""

    store = param.ClassSelector(class_=Store, doc="The store acting as the signed-in admin.")
    name_ = param.String(default="", label="Name", doc="The user to add or change.")
    role = param.Selector(default="viewer", objects=list(ROLES), doc="Their role.")
    password = param.String(default="", doc="A new password (at least 10 characters).")
    add = param.Event(doc="Add the user with this role and password.")
    change_role = param.Event(doc="Give the user this role.")
    change_password = param.Event(doc="Give the user this password.")
    remove = param.Event(doc="Remove the user.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._table = Grid(pd.DataFrame(), show_index=False, disabled=True,
                                           sizing_mode="stretch_width", height=rows_height(1),
                                           layout="fit_data_table",
                                           configuration={"placeholder": "No users yet."})  # fmt: skip
        self._alert = Notice(object="", severity="info", visible=False,
                                 sizing_mode="stretch_width")  # fmt: skip
        self._load()

    def _load(self) -> None:
        found = users.list_users(self.store)
        self._table.value = pd.DataFrame({"Name": [u.name for u in found],
                                          "Role": [u.role for u in found]})  # fmt: skip
        self._table.height = rows_height(len(found))

    def _do(self, action, done: str) -> None:
        try:
            action()
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self.password = ""
        self._load()
        self._say(done, "success")

    @param.depends("add", watch=True)
    def _add(self) -> None:
        self._do(lambda: users.add_user(self.store, self.name_, self.role, self.password),
                 f"Added {self.name_.strip()} ({self.role}).")  # fmt: skip

    @param.depends("change_role", watch=True)
    def _change_role(self) -> None:
        self._do(lambda: users.set_role(self.store, self.name_.strip(), self.role),
                 f"{self.name_.strip()} is now {self.role}.")  # fmt: skip

    @param.depends("change_password", watch=True)
    def _change_password(self) -> None:
        self._do(lambda: users.set_password(self.store, self.name_.strip(), self.password),
                 f"Changed the password of {self.name_.strip()}.")  # fmt: skip

    @param.depends("remove", watch=True)
    def _remove(self) -> None:
        self._do(lambda: users.remove_user(self.store, self.name_.strip()),
                 f"Removed {self.name_.strip()}.")  # fmt: skip

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True)

    def __panel__(self):
        button = dict(variant="outlined", size="small")
        return pmui.Column(
            Text("Users", variant="h6"),
            self._table,
            pn.FlexBox(  # wraps on a phone (in a row, Password and Remove were off the screen)
                pmui.TextInput.from_param(self.param.name_, label="Name", width=200),
                pmui.Select.from_param(self.param.role, label="Role", width=150),
                pmui.PasswordInput.from_param(self.param.password, label="Password", width=220),
                gap="8px", align_items="center",
            ),
            pn.FlexBox(
                Button.from_param(self.param.add, label="Add user", variant="contained",
                                       icon="person_add", size="small"),
                Button.from_param(self.param.change_role, label="Set role", **button),
                Button.from_param(self.param.change_password, label="Set password", **button),
                Button.from_param(self.param.remove, label="Remove", color="error", **button),
                gap="8px", align_items="center",
            ),
            self._alert,
            sizing_mode="stretch_width", max_width=900,
        )  # fmt: skip
