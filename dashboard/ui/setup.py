"""Setup > Settings (the TOML file, with Test Email and Test SMS) and the Messages log."""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from .. import messaging
from ..access import ROLES, Actor, allowed
from ..errors import UserError, ValidationError
from ..settings import DEFAULTS, SECURITY, Settings
from ..store import Store
from .controls import Button
from .safe import Grid, Notice, Text

LABELS = {
    ("email", "from"): "From address", ("email", "host"): "SMTP server", ("email", "port"): "Port",
    ("email", "security"): "Security", ("email", "username"): "Username (empty: no login)",
    ("email", "rate"): "Emails per second", ("sms", "from"): "SMS origination number (E.164)",
    ("sms", "account_sid"): "Twilio account SID", ("sms", "rate"): "SMS per second",
    ("sms", "api_url"): "Twilio API address", ("docs", "url"): "Documentation link for ?",
}  # fmt: skip


def _param(section: str, key: str, default) -> param.Parameter:
    doc = LABELS[(section, key)]
    if key == "security":
        return param.Selector(default=default, objects=list(SECURITY), doc=doc)
    if isinstance(default, bool):
        return param.Boolean(default=default, doc=doc)
    if key == "port":
        return param.Integer(default=default, bounds=(1, 65535), doc=doc)
    if isinstance(default, int | float):
        return param.Number(default=default, doc=doc)
    return param.String(default=default, doc=doc)


#: One parameter per setting, named section_key, made from the settings' public keys.
SettingsForm = param.parameterized_class(
    "SettingsForm",
    {f"{s}_{k}": _param(s, k, v) for s, keys in DEFAULTS.items() for k, v in keys.items()},
)


class SettingsPage(pn.viewable.Viewer):
    """Edit the settings file; secrets stay in the environment and are never shown."""

    path = param.String(default=None, allow_None=True, doc="The settings file.")
    role = param.Selector(default="admin", objects=list(ROLES), doc="The signed-in user's role.")
    store = param.ClassSelector(class_=Store, default=None, allow_None=True,
                                doc="The store acting as the signed-in user (None: the "
                                    "local operator with `role`).")  # fmt: skip
    save = param.Event(doc="Check and save the settings.")
    test_to = param.String(default="", doc="Where to send a test message.")
    test_email = param.Event(doc="Send a test email to test_to.")
    test_sms = param.Event(doc="Send a test SMS to test_to.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self.settings = Settings.load(self.path)
        self.form = SettingsForm()
        self.form.param.update(
            **{f"{s}_{k}": v for s, d in self.settings.as_dict().items() for k, v in d.items()}
        )
        self._alert = Notice(object="", severity="info", visible=False, sizing_mode="stretch_width")

    def _section(self, section: str, title: str):
        widgets = []
        for key in DEFAULTS[section]:
            p = self.form.param[f"{section}_{key}"]
            label = LABELS[(section, key)]
            if key == "security":
                widgets.append(pmui.Select.from_param(p, label=label, width=300))
            elif key == "port":
                widgets.append(pmui.IntInput.from_param(p, label=label, width=300))
            elif isinstance(DEFAULTS[section][key], int | float):
                widgets.append(pmui.FloatInput.from_param(p, label=label, width=300))
            else:
                widgets.append(pmui.TextInput.from_param(p, label=label, width=300))
        return pmui.Column(
            Text(title, variant="h6"),
            pmui.FlexBox(*widgets),
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        secrets = ("The SMTP password and the Twilio auth token are never stored here: set "
                   "CUSTOMER_DASHBOARD_SMTP_PASSWORD and CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN, or "
                   "a secrets file named by CUSTOMER_DASHBOARD_SECRETS.")  # fmt: skip
        return pmui.Column(
            self._alert,
            self._section("email", "Email (outbound server)"),
            self._section("sms", "SMS (Twilio)"),
            self._section("docs", "Documentation"),
            Text(secrets, variant="caption"),
            Button.from_param(self.param.save, label="Save settings", variant="contained", icon="save"),
            pmui.Divider(),
            pmui.Row(
                pmui.TextInput.from_param(self.param.test_to, label="Send a test to (email or +number)", width=320),
                Button.from_param(self.param.test_email, label="Test Email", variant="outlined"),
                Button.from_param(self.param.test_sms, label="Test SMS", variant="outlined"),
            ),
            sizing_mode="stretch_width", max_width=1100,
        )  # fmt: skip

    def values(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for s, keys in DEFAULTS.items():
            for k, default in keys.items():
                v = getattr(self.form, f"{s}_{k}")
                if (
                    isinstance(default, int)
                    and not isinstance(default, bool)
                    and float(v).is_integer()
                ):
                    v = int(v)
                out.setdefault(s, {})[k] = v
        return out

    @param.depends("save", watch=True)
    def _save(self) -> None:
        if not allowed(self.role, "settings"):
            self._say("Only admins may change the settings.", "error")
            return
        try:
            self.settings.update(self.values())
            path = self.settings.save(by=self._actor())
        except ValidationError as exc:
            self._say("; ".join(p.describe() for p in exc.problems), "error")
            return
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._say(f"Saved to {path}.", "success")

    def _actor(self):
        """Who the service functions check: the session's store, else the local operator."""
        return self.store if self.store is not None else Actor("operator", self.role)

    @param.depends("test_email", watch=True)
    def _test_email(self) -> None:
        self._test("email")

    @param.depends("test_sms", watch=True)
    def _test_sms(self) -> None:
        self._test("sms")

    def _test(self, channel: str) -> None:
        if not allowed(self.role, "send"):
            self._say("Only admins may send test messages.", "error")
            return
        try:
            self.settings.update(self.values())
            answer = messaging.send_test(self.settings, channel, self.test_to, by=self._actor())
        except ValidationError as exc:
            self._say("; ".join(p.describe() for p in exc.problems), "error")
            return
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._say(f"Test {channel}: {answer}.", "success")

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True)


class MessagesPage(pn.viewable.Viewer):
    """The message log: every message with its status, filterable."""

    store = param.ClassSelector(class_=Store, doc="The database gateway.")
    batch_id = param.String(default="", doc="Only this batch.")
    status = param.Selector(default="all", objects=["all", "queued", "retrying", "sending", "unconfirmed", "sent", "delivered",
                                                    "undelivered", "failed", "skipped", "dry-run"],
                            doc="Only this status.")  # fmt: skip
    refresh = param.Event(doc="Reload the log.")
    refresh_delivery = param.Event(doc="Fetch the batch's SMS delivery statuses from Twilio.")
    settings_path = param.String(default=None, allow_None=True, doc="The settings file.")
    message = param.String(default="", doc="The last message shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._alert = Notice(object="", severity="info", visible=False, sizing_mode="stretch_width")
        self._table = Grid(pd.DataFrame(), show_index=False, disabled=True, height=600,
                                           sizing_mode="stretch_width", layout="fit_data_table",
                                           pagination="local", page_size=50)  # fmt: skip
        self._load()

    @param.depends("batch_id", "status", "refresh", watch=True)
    def _load(self) -> None:
        log = messaging.message_log(
            self.store, batch_id=self.batch_id.strip() or None,
            status=None if self.status == "all" else self.status, limit=5000,
        )  # fmt: skip
        for col in ("created_at", "sent_at"):
            log[col] = log[col].astype(str).str.slice(0, 19).replace("NaT", "")
        self._table.value = log

    @param.depends("refresh_delivery", watch=True)
    def _refresh_delivery(self) -> None:
        batch = self.batch_id.strip()
        if not batch:
            self._say("Enter the batch whose SMS delivery to check.", "warning")
            return
        try:
            counts = messaging.refresh_status(self.store, batch, Settings.load(self.settings_path))
        except UserError as exc:
            self._say(str(exc), "error")
            return
        self._load()
        self._say(
            "Delivery: " + ", ".join(f"{v:,} {k}" for k, v in counts.items() if v) + ".", "success"
        )

    def _say(self, text: str, severity: str) -> None:
        self.message = text
        self._alert.param.update(object=text, severity=severity, visible=True)

    def __panel__(self):
        return pmui.Column(
            pmui.Row(pmui.TextInput.from_param(self.param.batch_id, label="Batch", width=220),
                     pmui.Select.from_param(self.param.status, label="Status", width=180),
                     Button.from_param(self.param.refresh, label="Refresh", icon="refresh", variant="outlined"),
                     Button.from_param(self.param.refresh_delivery, visible=allowed(self.store.role, "send"),
                                            label="Refresh SMS delivery status",
                                            icon="sms", variant="outlined")),
            self._alert, self._table, sizing_mode="stretch_width",
        )  # fmt: skip
