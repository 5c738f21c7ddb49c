"""Setup > Settings: the From address, SMTP server, SMS origination number, Twilio account,
sending rates and the documentation link, in a TOML file read and written with tomlkit so a
person's comments and layout survive every save.

Secrets never live in this file: the SMTP password and the Twilio auth token come from
CUSTOMER_DASHBOARD_SMTP_PASSWORD and CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN, or from a secrets
file (same keys, TOML, outside the repository) named by CUSTOMER_DASHBOARD_SECRETS.

Saving needs the "settings" role (admins): `save(by=...)` names who saves (a session's
acting Store or an `access.Actor`; None is the local operator). The Twilio API address must
be https unless it is a loopback address (a local test server): the auth token travels in
every request.
"""

from __future__ import annotations

import copy
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomlkit

from .access import require
from .errors import Problem, UserError, ValidationError
from .locations import DEFAULT_SETTINGS, settings_path
from .types import Currency, Email, Phone

DEFAULT_PATH = DEFAULT_SETTINGS
SECURITY = ("none", "starttls", "tls")

#: The file's keys (a public contract) with their defaults.
DEFAULTS: dict[str, dict[str, Any]] = {
    "email": {
        "from": "",
        "host": "",
        "port": 587,
        "security": "starttls",
        "username": "",
        "rate": 10,
    },
    "sms": {"from": "", "account_sid": "", "rate": 1, "api_url": "https://api.twilio.com"},
    "docs": {"url": "/guide"},
    # the reporting currency: money over several currencies is converted into it
    "money": {"base": "EUR"},
}
#: What Setup › Settings calls each setting: a refused value is named by it, on the page
#: and in the CLI alike (`Problem.label`).
LABELS = {
    ("email", "from"): "From address", ("email", "host"): "SMTP server", ("email", "port"): "Port",
    ("email", "security"): "Security", ("email", "username"): "Username (empty: no login)",
    ("email", "rate"): "Emails per second", ("sms", "from"): "SMS origination number (E.164)",
    ("sms", "account_sid"): "Twilio account SID", ("sms", "rate"): "SMS per second",
    ("sms", "api_url"): "Twilio API address", ("docs", "url"): "Documentation link for ?",
    ("money", "base"): "Base (reporting) currency",
}  # fmt: skip
SECRET_ENV = {
    ("email", "password"): "CUSTOMER_DASHBOARD_SMTP_PASSWORD",
    ("sms", "auth_token"): "CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN",
}


def default_path(db: object = None) -> Path:
    """The settings file of database `db` (None: the default one): `locations.settings_path`."""
    return settings_path(db)


@dataclass
class Settings:
    """The settings document (a tomlkit document: comments and layout are kept)."""

    doc: tomlkit.TOMLDocument
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Settings:
        """Read the file (missing: the defaults); a broken file is a clear error."""
        p = Path(path) if path else default_path()
        if p.exists():
            try:
                doc = tomlkit.parse(p.read_text(encoding="utf-8"))
            except tomlkit.exceptions.ParseError as exc:
                raise UserError(f"the settings file {p} is not valid TOML: {exc}") from None
        else:
            doc = tomlkit.document()
        for section, values in DEFAULTS.items():
            if section not in doc:
                doc[section] = tomlkit.table()
            for key, value in values.items():
                if key not in doc[section]:
                    doc[section][key] = value
        return cls(doc, p)

    def get(self, section: str, key: str) -> Any:
        value = self.doc.get(section, {}).get(key, DEFAULTS[section][key])
        return value.unwrap() if hasattr(value, "unwrap") else value

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Every setting (no secrets), as plain values."""
        return {s: {k: self.get(s, k) for k in keys} for s, keys in DEFAULTS.items()}

    def update(self, changes: dict[str, dict[str, Any]]) -> None:
        """Change settings after checking every value (all problems reported at once)."""
        problems = []
        merged = copy.deepcopy(self.as_dict())
        for section, values in changes.items():
            if section not in DEFAULTS:
                problems.append(Problem(section, None, f"unknown settings section [{section}]"))
                continue
            for key, value in values.items():
                if key not in DEFAULTS[section]:
                    problems.append(Problem(f"{section}.{key}", value, "is not a setting"))
                    continue
                merged[section][key] = value
        problems += validate(merged)
        if problems:
            raise ValidationError(problems)
        for section, values in changes.items():
            for key in values:
                self.doc[section][key] = merged[section][key]

    def save(self, path: str | Path | None = None, *, by=None) -> Path:
        """Write the file, keeping the person's comments and layout; `by` (the acting Store
        or Actor; None: the local operator) needs the "settings" role."""
        require(by, "settings")
        p = Path(path) if path else self.path or default_path()
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(tomlkit.dumps(self.doc), encoding="utf-8")
        tmp.replace(p)  # all or nothing: a crash never leaves half a file
        self.path = p
        return p

    def secret(self, section: str, key: str) -> str | None:
        """A secret from the environment or the secrets file; never from the settings file."""
        env = SECRET_ENV[(section, key)]
        if os.environ.get(env):
            return os.environ[env]
        secrets_file = os.environ.get("CUSTOMER_DASHBOARD_SECRETS")
        if secrets_file and Path(secrets_file).exists():
            data = tomlkit.parse(Path(secrets_file).read_text(encoding="utf-8"))
            value = data.get(section, {}).get(key)
            return str(value) if value else None
        return None


def problem(section: str, key: str, value: Any, message: str) -> Problem:
    """A refused setting, named by what Setup › Settings calls it; `message` says what is
    wrong after the value ("is not ...", "must be ...")."""
    return Problem(f"{section}.{key}", value, message, label=LABELS.get((section, key)))


def validate(values: dict[str, dict[str, Any]]) -> list[Problem]:
    """Every problem with a set of settings."""
    problems = []
    e, s = values["email"], values["sms"]
    if e["from"]:
        try:
            Email().parse(e["from"])
        except ValueError as exc:
            problems.append(problem("email", "from", e["from"], str(exc)))
    if e["security"] not in SECURITY:
        problems.append(
            problem("email", "security", e["security"], f"must be one of {', '.join(SECURITY)}")
        )
    for section, key in (("email", "port"), ("email", "rate"), ("sms", "rate")):
        v = values[section][key]
        if (
            not isinstance(v, int | float)
            or isinstance(v, bool)
            or v <= 0
            or (key == "port" and v > 65535)
        ):
            problems.append(problem(section, key, v, "must be a positive number"))
    if s["from"]:
        try:
            if Phone().parse(s["from"]) != s["from"]:
                raise ValueError("must be written in E.164, e.g. +15005550006")
        except ValueError as exc:
            problems.append(problem("sms", "from", s["from"], str(exc)))
    if s["account_sid"] and not (s["account_sid"].startswith("AC") and len(s["account_sid"]) == 34):
        problems.append(
            problem(
                "sms",
                "account_sid",
                s["account_sid"],
                "is not a Twilio account SID (it starts with AC and has 34 characters)",
            )
        )
    base = values.get("money", {}).get("base", "EUR")
    try:
        if Currency().parse(base) is None:
            raise ValueError("is required")
    except (ValueError, TypeError) as exc:
        problems.append(problem("money", "base", base, str(exc)))
    why = api_url_problem(s["api_url"])
    if why:
        problems.append(problem("sms", "api_url", s["api_url"], why))
    return problems


def api_url_problem(url: str) -> str | None:
    """Why the Twilio API address `url` may not be used (None: it may): the auth token goes
    with every request, so plain http is allowed only to this machine (a test server)."""
    url = str(url or "")
    if url.startswith("https://"):
        return None
    if not url.startswith("http://"):
        return "must be an https:// address"
    if _loopback(urlsplit(url).hostname or ""):
        return None
    return ("must be https:// (plain http would send the Twilio auth token in clear); "
            "http:// is allowed only to this machine (127.0.0.1, ::1, localhost)")  # fmt: skip


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
