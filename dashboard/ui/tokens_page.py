"""Setup › Users › API tokens (admins only): make a token for a user (shown once), list and
revoke them. The same service functions as `customer-dashboard tokens`."""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import tokens
from ..errors import UserError
from ..store import Store
from .controls import Button
from .safe import Grid, Notice, Text, rows_height

#: What the Expires select offers (dashboard.tokens.parse_expiry reads them).
LIFETIMES = ["30d", "90d", "1y", "never"]
_SHOWN = {"token_id": "Token", "user": "User", "label": "Label", "state": "State",
          "created_at": "Created", "expires_at": "Expires", "last_used_at": "Last used"}  # fmt: skip


class TokensPage(pn.viewable.Viewer):
    """List, make and revoke the HTTP API's bearer tokens."""

    store = param.ClassSelector(class_=Store, doc="The store acting as the signed-in admin.")
    user = param.String(default="", doc="The user a new token acts as.")
    label = param.String(default="", doc="What the new token is for.")
    expires = param.Selector(default="90d", objects=LIFETIMES, doc="The new token's lifetime.")
    token_id = param.String(default="", label="Token id", doc="The token to revoke (t-...).")
    make = param.Event(doc="Make a token for the user; its secret is shown once.")
    revoke = param.Event(doc="Revoke the token with this id.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._table = Grid(pd.DataFrame(), show_index=False, disabled=True,
                           sizing_mode="stretch_width", height=rows_height(1),
                           layout="fit_data_table",
                           # an empty table says so (it was a blank strip)
                           configuration={"placeholder": "No API tokens yet."},
                           # fixed: the widths fitted to the first rows would cut later dates
                           widths={_SHOWN[k]: 150 for k in ("created_at", "expires_at",
                                                            "last_used_at")})  # fmt: skip
        # a token is one long word: broken anywhere, so it stays whole on a phone
        self._alert = Notice(object="", severity="info", visible=False,
                             sizing_mode="stretch_width", sx={"wordBreak": "break-all"})  # fmt: skip
        self._load()

    def _load(self) -> None:
        rows = []
        for t in tokens.list_tokens(self.store):
            row = t.to_dict()
            for k in ("created_at", "expires_at", "last_used_at"):
                value = getattr(t, k)  # to the minute: the table stays narrow
                row[k] = value.strftime("%Y-%m-%d %H:%M") if value else ""
            rows.append(row)
        frame = pd.DataFrame(rows, columns=list(_SHOWN)).rename(columns=_SHOWN)
        self._table.value = frame.fillna("")
        self._table.height = rows_height(len(frame))

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True)

    @param.depends("make", watch=True)
    def _make(self) -> None:
        try:
            token, secret = tokens.add_token(self.store, self.user.strip(),
                                             label=self.label, expires=self.expires)  # fmt: skip
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._load()
        self.label = ""
        # the secret is shown this once: only its hash is kept
        self._say(f"Token {token.token_id} for {token.user}; copy it now, it is not shown "
                  f"again:\n{secret}", "success")  # fmt: skip

    @param.depends("revoke", watch=True)
    def _revoke(self) -> None:
        try:
            token = tokens.revoke_token(self.store, self.token_id.strip())
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._load()
        self._say(f"Revoked {token.token_id} ({token.user}).", "success")

    def __panel__(self):
        button = dict(variant="outlined", size="small")
        return pmui.Column(
            Text("API tokens", variant="h6"),
            Text("Each token acts as its user, with their role, on /api/v1 "
                 "(see /api/v1/openapi.json).", variant="body2"),  # fmt: skip
            self._table,
            pn.FlexBox(  # wraps on a phone
                pmui.TextInput.from_param(self.param.user, label="User", width=180),
                pmui.TextInput.from_param(self.param.label, label="Label", width=200),
                pmui.Select.from_param(self.param.expires, label="Expires", width=120),
                Button.from_param(self.param.make, label="Make token", variant="contained",
                                  icon="key", size="small",
                                  description="Make a token; its secret is shown once"),  # fmt: skip
                gap="8px", align_items="center",
            ),
            pn.FlexBox(
                pmui.TextInput.from_param(self.param.token_id, label="Token id", width=180),
                Button.from_param(self.param.revoke, label="Revoke", color="error",
                                  description="Revoke this token: its next request is refused",
                                  **button),  # fmt: skip
                gap="8px", align_items="center",
            ),
            self._alert,
            sizing_mode="stretch_width", max_width=900,
        )  # fmt: skip
