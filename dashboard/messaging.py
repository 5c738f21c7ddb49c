"""Send: email and SMS to selected customers, with a message log.

    plan = plan_send(store, target, "email", body="Dear {name}, your balance is {credit}.",
                     subject="Your {currency} balance")
    batch_id = queue(store, plan, user="ann")           # every message logged as queued
    counts = deliver(store, batch_id, Settings.load())  # sends what is not yet accepted

One email per customer, To every email of that customer's contacts (never another
customer's); one SMS per contact mobile. Placeholders are customer fields by name only
({name}, {credit}); anything else is refused before sending. Each message has an
idempotency key: `deliver` on the same batch again (after a crash) sends only what the
server has not yet accepted. Temporary failures (SMTP 4xx, Twilio 429 / 20429, timeouts) are
retried with back-off, and left "failed temporarily" for a later resume when they persist;
permanent ones (SMTP 5xx, Twilio 21211 / 21610 / 21614) are logged and not retried; 21610
marks the contact opted out of SMS.

A batch that stopped (no server, a crash, temporary failures) keeps what it did not send:
`resume` sends it (each message still at most once), `discard` marks it discarded and sends
nothing. `channel_problem` says what is missing before anything is queued.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
import string
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pandas as pd
import phonenumbers
import pycountry

from . import audit
from .access import require
from .customers import Target, target_sql
from .errors import UserError
from .fields import (
    CURRENCY_FIELD,
    CUSTOMER_FIELDS,
    EMAIL_FIELD,
    FIELDS,
    ID_FIELD,
    KEY_FIELD,
    MOBILE_FIELD,
    OPT_OUT_FIELDS,
    named,
)
from .query import quote
from .settings import Settings, api_url_problem
from .store import Store, utcnow
from .words import plural

CHANNELS = ("email", "sms")
#: Each channel's message and address in words, as the confirmation before a send says them.
CHANNEL_WORDS = {"email": ("this email", "email address"), "sms": ("this SMS", "mobile number")}
PHONE_FIELD = MOBILE_FIELD
OPT_OUT = OPT_OUT_FIELDS
PERMANENT_TWILIO = {21211: "not a valid phone number", 21610: "the number has unsubscribed (STOP)",
                    21614: "the number cannot receive SMS"}  # fmt: skip

#: SMS destinations (ISO 3166 codes) where the carrier's documentation reports delivery
#: problems, with what it says: Send's preview warns and counts the SMS going there.
SMS_PROBLEM_COUNTRIES = {
    "IN": "there are some reports of issues with SMS being delivered to numbers in India",
}

#: Every message status, in words for people (the log, its filter, the Send dialog).
STATUSES = {
    "queued": "Queued",
    "retrying": "Failed temporarily",
    "sending": "Sending",
    "unconfirmed": "Unconfirmed",
    "sent": "Sent",
    "delivered": "Delivered",
    "undelivered": "Undelivered",
    "failed": "Failed",
    "skipped": "Skipped",
    "dry-run": "Dry run",
    "discarded": "Discarded",
}
#: Never accepted by the server: what `resume` sends.
RESUMABLE = ("queued", "retrying")
#: What keeps a batch open (to resume or discard): unsent, or maybe sent ("unconfirmed",
#: never sent again), or caught mid-handover by a crash ("sending", turned "unconfirmed").
LEFT = ("queued", "retrying", "unconfirmed", "sending")


class TemporaryFailure(Exception):
    """Worth trying again later."""


class PermanentFailure(Exception):
    """Will fail however often it is tried."""

    def __init__(self, message: str, code: int | None = None):
        self.code = code
        super().__init__(message)


# --- rendering -----------------------------------------------------------------------


def placeholders(template: str) -> list[str]:
    """The field names a template uses; refuses anything but plain fields, written by name
    or by label in any case: {credit}, {Balance} and {balance} are the same field."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template or ""))
    except ValueError as exc:
        raise UserError(f"the message has a broken placeholder: {exc}") from None
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        f = named(name) if name and not (spec or conv) else None
        if f is not None:
            names.append(f.name)
            continue
        if not name or not name.replace(" ", "").isidentifier() or spec or conv:
            raise UserError(f"placeholder {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                            "is not allowed: use a field name such as {name} or {credit}")  # fmt: skip
        raise UserError(f"unknown placeholder {{{name}}}; use a field's name or its label "
                        "as the grid shows it: "
                        + ", ".join("{" + f.name + "}" + (f" ({f.label})" if f.label.casefold()
                                    != f.name.casefold() else "") for f in CUSTOMER_FIELDS))  # fmt: skip
    return names


def _shown(name: str, record: dict[str, Any]) -> str:
    f = FIELDS[name]
    value = record.get(name)
    if value is None:
        return ""
    # money as the page shows it, with its currency (1,234.50 EUR: a customer reading a bare
    # amount cannot tell which currency it is in); anything else as it would be typed
    if f.type.in_currency:
        return f.type.amount_text(value, record.get(CURRENCY_FIELD)) or ""
    return f.type.to_text(value)


def render(template: str, record: dict[str, Any]) -> str:
    """A template with the customer's own fields put in (nothing else can be reached)."""
    names = iter(placeholders(template))
    out = []
    for literal, name, _, _ in string.Formatter().parse(template or ""):
        out.append(literal)
        if name is not None:
            field_name = next(names)
            out.append(_shown(field_name, record))
    return "".join(out)


# --- planning ------------------------------------------------------------------------


@dataclass
class Outgoing:
    customer_id: int
    customer: str
    contact_id: int | None
    recipient: str  # email: the customer's addresses joined by ", "; sms: one E.164 number
    subject: str | None
    body: str


@dataclass
class SendPlan:
    channel: str
    messages: list[Outgoing] = field(default_factory=list)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # id, name, why
    opted_out: int = 0
    warnings: list[str] = field(default_factory=list)  # e.g. SMS to a problem country

    @property
    def preview(self) -> Outgoing | None:
        return self.messages[0] if self.messages else None

    def summary(self) -> str:
        return (f"{plural(len(self.messages), f'{self.channel_name} message')}; "
                f"{plural(len(self.skipped), 'customer')} with no usable contact skipped; "
                f"{plural(self.opted_out, 'opted-out contact')} skipped")  # fmt: skip

    @property
    def customers(self) -> int:
        """How many customers get a message (an SMS goes to each of a customer's mobiles)."""
        return len({m.customer_id for m in self.messages})

    def question(self, *, dry_run: bool = False) -> str:
        """The confirmation asked before anything is sent, in words: to how many customers,
        who is skipped and why ("Send this email to 12 customers? 3 have no email address
        and will be skipped.")."""
        what, address = CHANNEL_WORDS[self.channel]
        n, k = self.customers, len(self.skipped)
        if not n:
            return (f"None of the {plural(k, 'selected customer')} has a {address} to send to: "
                    "nothing to send.")  # fmt: skip
        # an SMS goes to every mobile of a customer: say how many messages that is
        each = (f" ({plural(len(self.messages), address)})"
                if len(self.messages) != n else "")  # fmt: skip
        words = [f"Record {what} for {plural(n, 'customer')}{each} as a dry run? Nothing is sent."
                 if dry_run else f"Send {what} to {plural(n, 'customer')}{each}?"]  # fmt: skip
        if k:
            only = " (or only opted-out ones)" if self.opted_out else ""
            words.append(f"{k:,} {'has' if k == 1 else 'have'} no {address}{only} "
                         "and will be skipped.")  # fmt: skip
        if self.opted_out:
            words.append(f"{plural(self.opted_out, 'contact')} opted out of {self.channel_name} "
                         f"{'is' if self.opted_out == 1 else 'are'} left out.")  # fmt: skip
        return " ".join(words)

    def action(self, *, dry_run: bool = False) -> str:
        """The confirmation's button, named by what it does ("Send to 12 customers")."""
        return f"{'Record for' if dry_run else 'Send to'} {plural(self.customers, 'customer')}"

    @property
    def channel_name(self) -> str:
        """The channel as people say it: "email", "SMS"."""
        return "SMS" if self.channel == "sms" else self.channel


def plan_send(
    store: Store, target: Target, channel: str, body: str, subject: str | None = None
) -> SendPlan:
    """Render every message and list who is skipped and why; sends nothing."""
    if channel not in CHANNELS:
        raise UserError(f"channel must be email or sms, not {channel!r}")
    if not (body or "").strip():
        raise UserError("the message body is empty")
    if channel == "email":
        if not (subject or "").strip():
            raise UserError("an email needs a subject")
        if "\r" in subject or "\n" in subject:
            raise UserError("the subject must be one line (no line breaks)")
    names = set(placeholders(body)) | set(placeholders(subject or "")) | {KEY_FIELD, CURRENCY_FIELD}
    sub, params = target_sql(target)
    cols = ", ".join(f"c.{quote(n)}" for n in sorted(names))
    address = EMAIL_FIELD if channel == "email" else PHONE_FIELD
    rows = store.execute(
        f"SELECT c.id, {cols}, k.id, k.{address}, k.{OPT_OUT[channel]} FROM customers c "
        f"LEFT JOIN contacts k ON k.customer_id = c.id WHERE c.id IN ({sub}) "
        "ORDER BY c.id, k.position, k.id",
        params,
    ).fetchall()
    plan = SendPlan(channel)
    by_customer: dict[int, dict[str, Any]] = {}
    for row in rows:
        cid = row[0]
        rec = by_customer.setdefault(cid, {"record": dict(zip(sorted(names), row[1:-3], strict=True)),
                                           "contacts": []})  # fmt: skip
        contact_id, addr, opted = row[-3], row[-2], row[-1]
        if contact_id is None:
            continue
        if not addr:
            continue
        if opted:
            plan.opted_out += 1
            continue
        rec["contacts"].append((contact_id, addr))
    for cid, info in by_customer.items():
        record = info["record"]
        text = render(body, record)
        subj = render(subject, record) if channel == "email" else None
        if not info["contacts"]:
            plan.skipped.append((cid, record[KEY_FIELD], f"no contact with a usable {address}"))
            continue
        if channel == "email":
            emails = list(dict.fromkeys(a for _, a in info["contacts"]))
            plan.messages.append(
                Outgoing(cid, record[KEY_FIELD], None, ", ".join(emails), subj, text)
            )
        else:
            for contact_id, number in dict.fromkeys(info["contacts"]):
                plan.messages.append(
                    Outgoing(cid, record[KEY_FIELD], contact_id, number, None, text)
                )
    if channel == "sms":
        plan.warnings = problem_country_warnings(m.recipient for m in plan.messages)
    return plan


def sms_country(number: str) -> str | None:
    """The ISO 3166 code of the country an E.164 number belongs to (None: unknown)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return None


def problem_country_warnings(numbers) -> list[str]:
    """One warning per country of SMS_PROBLEM_COUNTRIES that some of `numbers` are in,
    with how many SMS go there."""
    found: dict[str, int] = {}
    for number in numbers:
        code = sms_country(number)
        if code in SMS_PROBLEM_COUNTRIES:
            found[code] = found.get(code, 0) + 1
    out = []
    for code, n in found.items():
        country = pycountry.countries.get(alpha_2=code)
        name = country.name if country else code
        out.append(f"{n:,} SMS go to {name}: the carrier's documentation says "
                   f"{SMS_PROBLEM_COUNTRIES[code]}.")  # fmt: skip
    return out


def channel_problem(settings: Settings, channel: str) -> str | None:
    """What keeps `channel` from sending with these settings, in words (None: it is set up).

    Email needs an SMTP server and a From address; SMS an origination number, the Twilio
    account SID, the auth token (a secret, from the environment or the secrets file) and an
    API address the token may travel to.
    """
    missing = []
    if channel == "email":
        if not settings.get("email", "host"):
            missing.append("no SMTP server")
        if not settings.get("email", "from"):
            missing.append("no From address")
        what = "Email"
    else:
        if not settings.get("sms", "from"):
            missing.append("no SMS origination number")
        if not settings.get("sms", "account_sid"):
            missing.append("no Twilio account SID")
        if not settings.secret("sms", "auth_token"):
            missing.append("no Twilio auth token (CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN)")
        why = api_url_problem(settings.get("sms", "api_url"))
        if why:
            missing.append(f"the Twilio API address {settings.get('sms', 'api_url')!r} {why}")
        what = "SMS"
    if not missing:
        return None
    return f"{what} is not set up: {', '.join(missing)} (Setup › Settings)"


def queue(store: Store, plan: SendPlan, *, user: str | None = None, dry_run: bool = False) -> str:
    """Log every message of the plan (queued, or dry-run) in one transaction; its batch id."""
    require(store, "send")
    user = user or store.user
    if not plan.messages and not plan.skipped:
        raise UserError("no customers selected")
    status = "dry-run" if dry_run else "queued"
    with store.transaction() as cur:
        # the customers messaged: the changes list says "Messages to 2 customers"
        messaged = len({m.customer_id for m in plan.messages})
        batch_id, at = audit.open_batch(cur, "send", user, f"send {plan.channel}: {plan.summary()}",
                                        customer_count=messaged)  # fmt: skip
        rows = pd.DataFrame(
            [(hashlib.sha256(f"{batch_id}|{m.customer_id}|{m.contact_id}|{m.recipient}".encode()).hexdigest(),
              m.customer_id, m.contact_id, m.recipient, m.subject, m.body) for m in plan.messages],
            columns=["idempotency_key", "customer_id", "contact_id", "recipient", "subject", "body"],
        ).astype({"customer_id": "int64", "contact_id": "Int64"})  # fmt: skip
        cur.register("_outgoing", rows)
        # one statement for the whole batch: 10,000 messages are logged in well under a second
        cur.execute(
            "INSERT INTO messages (batch_id, idempotency_key, customer_id, contact_id, channel, "
            "recipient, subject, body, status, user_name, created_at, updated_at) "
            "SELECT ?, idempotency_key, customer_id, contact_id, ?, recipient, subject, body, ?, ?, ?, ? "
            "FROM _outgoing",
            [batch_id, plan.channel, status, user, at, at],
        )
        cur.unregister("_outgoing")
        for cid, _name, why in plan.skipped:
            key = hashlib.sha256(f"{batch_id}|{cid}|skipped".encode()).hexdigest()
            cur.execute(
                "INSERT INTO messages (batch_id, idempotency_key, customer_id, channel, recipient, "
                "body, status, error, user_name, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, '', '', 'skipped', ?, ?, ?, ?)",
                [batch_id, key, cid, plan.channel, why, user, at, at],
            )
    return batch_id


# --- transports ----------------------------------------------------------------------


class SmtpTransport:
    """One SMTP connection, reused for a batch, reopened after a drop."""

    def __init__(self, settings: Settings, timeout: float = 30):
        problem = channel_problem(settings, "email")
        if problem:
            raise UserError(problem)
        self.s = settings
        self.timeout = timeout
        self.conn: smtplib.SMTP | None = None
        self.note: str | None = None  # what the last accepted message did not reach

    def _connect(self) -> smtplib.SMTP:
        host, port = self.s.get("email", "host"), int(self.s.get("email", "port"))
        security = self.s.get("email", "security")
        try:
            if security == "tls":
                conn = smtplib.SMTP_SSL(
                    host, port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(host, port, timeout=self.timeout)
                if security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            user = self.s.get("email", "username")
            if user:
                conn.login(user, self.s.secret("email", "password") or "")
        except smtplib.SMTPAuthenticationError:
            raise UserError(f"the SMTP server {host} refused the username or password") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise UserError(f"cannot reach the SMTP server {host}:{port}: {_why(exc)}") from None
        return conn

    def send(self, m: dict[str, Any]) -> str:
        if self.conn is None:
            self.conn = self._connect()
        msg = EmailMessage()
        msg["From"] = self.s.get("email", "from")
        msg["To"] = m["recipient"]
        msg["Subject"] = m["subject"]
        msg["Message-ID"] = make_msgid(
            idstring=m["idempotency_key"][:16], domain="customer-dashboard"
        )
        msg.set_content(m["body"])
        try:
            refused = self.conn.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            text = "; ".join(
                f"{r}: {c} {t.decode(errors='replace')}" for r, (c, t) in exc.recipients.items()
            )
            if any(400 <= c < 500 for c in codes):
                raise TemporaryFailure(text) from None
            raise PermanentFailure(text) from None
        except smtplib.SMTPResponseException as exc:
            text = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
            if 400 <= exc.smtp_code < 500:
                self.close()
                raise TemporaryFailure(text) from None
            raise PermanentFailure(text, exc.smtp_code) from None
        except (smtplib.SMTPServerDisconnected, TimeoutError, ConnectionError) as exc:
            self.close()
            raise TemporaryFailure(f"connection lost: {exc}") from None
        if refused:
            # accepted for the customer's other addresses: sending again would duplicate it
            self.note = "not accepted for " + "; ".join(
                f"{r} ({c})" for r, (c, _t) in refused.items())  # fmt: skip
        return msg["Message-ID"]

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.conn = None


class TwilioTransport:
    """The real twilio client, pointed at settings' sms.api_url."""

    def __init__(self, settings: Settings):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        # the API address is checked here too: a hand-edited file is never validated on save
        problem = channel_problem(settings, "sms")
        if problem:
            raise UserError(problem)
        sid, token = settings.get("sms", "account_sid"), settings.secret("sms", "auth_token")
        self.client = Client(sid, token, http_client=TwilioHttpClient(timeout=20))
        self.client.api.base_url = settings.get("sms", "api_url").rstrip("/")
        self.sender = settings.get("sms", "from")

    def send(self, m: dict[str, Any]) -> str:
        from twilio.base.exceptions import TwilioRestException

        try:
            msg = self.client.api.account.messages.create(
                to=m["recipient"], from_=self.sender, body=m["body"]
            )
        except TwilioRestException as exc:
            if exc.status == 429 or exc.code == 20429 or exc.status >= 500:
                raise TemporaryFailure(f"{exc.status} {exc.code}: {exc.msg}") from None
            reason = PERMANENT_TWILIO.get(exc.code, exc.msg)
            raise PermanentFailure(f"Twilio {exc.code}: {reason}", exc.code) from None
        except Exception as exc:  # requests' timeouts and connection errors
            if (
                "timeout" in type(exc).__name__.lower()
                or "connection" in type(exc).__name__.lower()
            ):
                raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
            raise
        return msg.sid

    def status(self, sid: str) -> str:
        return self.client.api.account.messages(sid).fetch().status

    def close(self) -> None:
        pass


# --- delivering ----------------------------------------------------------------------


class DeliveryStopped(UserError):
    """Delivery stopped before the batch was through (no server, bad credentials...); what
    was not sent stays in the log, to resume or discard."""


class _Deliveries:
    """The batches this process is delivering now, kept on the database (`Store.attached`).

    One loop at a time per batch: a second one (Resume clicked while Send still runs) would
    take the first one's message in hand for one interrupted by a crash. DuckDB lets one
    process write a file, so the process that holds the database is the only deliverer; on
    Postgres several processes may deliver, so the loop also holds the batch's lock on the
    database (`Store.hold`), which the other processes see."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: set[str] = set()

    def close(self) -> None:
        pass


def _deliveries(store: Store) -> _Deliveries:
    return store.attached("messaging.deliveries", _Deliveries)


def being_sent(store: Store, batch_id: str) -> bool:
    """Whether a process (this one, or another on the same Postgres database) is delivering
    the batch right now."""
    d = _deliveries(store)
    with d.lock:
        if batch_id in d.batches:
            return True
    return store.held(_lock_name(batch_id))


def _lock_name(batch_id: str) -> str:
    return f"send {batch_id}"


@contextmanager
def _delivering(store: Store, batch_id: str) -> Iterator[None]:
    busy = "batch {} is being sent right now{}; wait until it is done"
    d = _deliveries(store)
    with d.lock:
        if batch_id in d.batches:
            raise UserError(busy.format(batch_id, ""))
        d.batches.add(batch_id)
    try:
        # another server process (or the CLI) on the same Postgres database may be sending it:
        # its message in hand must not be settled as interrupted, nor its queue taken too
        with store.hold(_lock_name(batch_id)) as mine:
            if not mine:
                raise UserError(busy.format(batch_id, " by another process"))
            yield
    finally:
        with d.lock:
            d.batches.discard(batch_id)


def _settle_interrupted(cur_or_store: Any, batch_id: str) -> None:
    """Messages still "sending" when nobody is delivering them were caught mid-handover by a
    crash: they may have arrived, so they become "unconfirmed" and are never sent again."""
    sql = ("UPDATE messages SET status = 'unconfirmed', updated_at = ?, error = ? "
           "WHERE batch_id = ? AND status = 'sending'")  # fmt: skip
    params = [utcnow(), UNCONFIRMED, batch_id]
    if isinstance(cur_or_store, Store):
        cur_or_store.execute_write(sql, params)
    else:
        cur_or_store.execute(sql, params)


def deliver(
    store: Store,
    batch_id: str,
    settings: Settings,
    *,
    transport: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 4,
    backoff: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Send the batch's messages that the server has not accepted yet; returns the counts.

    Safe to call again after a crash: sent messages are never sent twice. A message is
    marked "sending" (committed) before it is handed to the server; one still "sending" when
    delivery starts again was interrupted mid-handover (the process was killed), so it may
    or may not have arrived: it is marked "unconfirmed" and not sent again, because a
    duplicate is the worse outcome for a customer. A message failing temporarily
    `max_attempts` times in a row is left "retrying" (failed temporarily) for a later
    resume. Raises DeliveryStopped (saying what is left and where to resume) when the
    server cannot be used at all.
    """
    require(store, "send")
    with _delivering(store, batch_id):
        _settle_interrupted(store, batch_id)
        return _deliver(store, batch_id, settings, transport=transport, sleep=sleep,
                        max_attempts=max_attempts, backoff=backoff, progress=progress)  # fmt: skip


def _deliver(store: Store, batch_id: str, settings: Settings, *, transport: Any,
             sleep: Callable[[float], None], max_attempts: int, backoff: float,
             progress: Callable[[int, int], None] | None) -> dict[str, int]:  # fmt: skip
    pending = store.execute(
        "SELECT id, idempotency_key, customer_id, contact_id, channel, recipient, subject, body, "
        f"attempts FROM messages WHERE batch_id = ? AND status IN {_in(RESUMABLE)} ORDER BY id",
        [batch_id],
    ).fetchall()
    keys = ("id", "idempotency_key", "customer_id", "contact_id", "channel", "recipient",
            "subject", "body", "attempts")  # fmt: skip
    messages = [dict(zip(keys, r, strict=True)) for r in pending]
    if not messages:
        return counts(store, batch_id)
    channel = messages[0]["channel"]
    if transport is None:
        try:
            transport = SmtpTransport(settings) if channel == "email" else TwilioTransport(settings)
        except UserError as exc:
            raise _stopped(store, batch_id, exc) from None
    rate = float(settings.get(channel, "rate"))
    gap = 1.0 / rate if rate > 0 else 0.0
    last = 0.0
    try:
        for i, m in enumerate(messages, start=1):
            attempts, tries = m["attempts"], 0
            while True:
                wait = last + gap - time.monotonic()
                if wait > 0:
                    sleep(wait)
                last = time.monotonic()
                if not _claim(store, m["id"], attempts + 1):
                    break  # discarded meanwhile: not sent
                attempts, tries = attempts + 1, tries + 1
                try:
                    provider_id = transport.send(m)
                except TemporaryFailure as exc:
                    if tries >= max_attempts:
                        _mark(store, m["id"], "retrying", attempts,
                              error=f"gave up for now after {tries} attempts: {exc}; "
                                    "resume the batch to try again")  # fmt: skip
                        break
                    _mark(store, m["id"], "retrying", attempts, error=str(exc))
                    sleep(min(backoff * 2 ** (tries - 1), 60))
                    continue
                except PermanentFailure as exc:
                    _mark(store, m["id"], "failed", attempts, error=str(exc))
                    if exc.code == 21610 and m["contact_id"] is not None:
                        _opt_out(store, m["contact_id"])
                    break
                except UserError as exc:
                    # the server cannot be used at all (unreachable, refused the login):
                    # it did not take this message, nor will it take the rest
                    _mark(store, m["id"], "queued", attempts - 1)
                    raise _stopped(store, batch_id, exc) from None
                except BaseException:
                    # the transport raised, so the server did not take it: send it later
                    _mark(store, m["id"], "queued", attempts - 1)
                    raise
                note = getattr(transport, "note", None)
                _mark(store, m["id"], "sent", attempts, provider_id=provider_id, error=note)
                if note:
                    transport.note = None
                break
            if progress:
                progress(i, len(messages))
    finally:
        transport.close()
    return counts(store, batch_id)


def _why(exc: BaseException) -> str:
    """A network failure in an operator's words ("nothing answers there"), not Python's
    "[Errno 111] Connection refused"."""
    if isinstance(exc, ConnectionRefusedError):
        return "nothing answers on that port (is the server running, is the port right?)"
    if isinstance(exc, socket.gaierror):
        return "no such host name"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer in time"
    if isinstance(exc, ssl.SSLError):
        return f"the secure connection failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc)


def _stopped(store: Store, batch_id: str, exc: Exception) -> DeliveryStopped:
    left = sum(n for s, n in counts(store, batch_id).items() if s in RESUMABLE)
    what = str(exc).rstrip(".")
    return DeliveryStopped(
        f"{what}. Nothing more was sent: {plural(left, 'message')} of batch {batch_id} "
        f"{'is' if left == 1 else 'are'} left to "
        f"send. Resume or discard them on the Messages page (/messages), or with "
        f"`customer-dashboard send --resume {batch_id}` (or --discard)."
    )


def _claim(store: Store, message_id: int, attempts: int) -> bool:
    """Mark a message "sending" unless it was sent, discarded or taken meanwhile; whether
    it was (one conditional update, so no message is ever handed over twice)."""
    with store.transaction() as cur:
        got = cur.execute(
            "UPDATE messages SET status = 'sending', attempts = ?, updated_at = ? "
            f"WHERE id = ? AND status IN {_in(RESUMABLE)} RETURNING id",
            [attempts, utcnow(), message_id],
        ).fetchall()
    return bool(got)


def _in(statuses: Sequence[str]) -> str:
    """A SQL list of status constants (never data)."""
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise ValueError(f"not message statuses: {unknown}")
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"


def _left(found: dict[str, int]) -> str:
    return describe_counts({s: n for s, n in found.items() if s in LEFT})


def resume(
    store: Store,
    batch_id: str,
    settings: Settings,
    *,
    user: str | None = None,
    transport: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 4,
    backoff: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Send what batch `batch_id` has not sent yet (queued, or failed temporarily); returns
    the counts. Each message is still sent at most once: sent ones are not sent again, and
    "unconfirmed" ones (maybe sent before a crash) never are. The other arguments are
    `deliver`'s."""
    require(store, "send")
    user = user or store.user
    channel = store.scalar("SELECT any_value(channel) FROM messages WHERE batch_id = ?",
                           [batch_id])  # fmt: skip
    if channel is None:
        raise UserError(f"there is no send batch {batch_id!r}")
    with _delivering(store, batch_id):
        _settle_interrupted(store, batch_id)
        found = counts(store, batch_id)
        if not any(found[s] for s in RESUMABLE):
            maybe = found["unconfirmed"]
            raise UserError(
                f"batch {batch_id} has nothing left to send"
                + (f" ({maybe:,} unconfirmed: they may have been sent, so they are never sent "
                   "again; discard them to close the batch)" if maybe else "")
            )  # fmt: skip
        problem = channel_problem(settings, channel)
        if problem:
            raise UserError(f"{problem}; batch {batch_id} was not resumed")
        with store.transaction() as cur:
            audit.open_batch(cur, "resume", user, f"resume send batch {batch_id}: {_left(found)}")
        return _deliver(store, batch_id, settings, transport=transport, sleep=sleep,
                        max_attempts=max_attempts, backoff=backoff, progress=progress)  # fmt: skip


def discard(store: Store, batch_id: str, *, user: str | None = None) -> dict[str, int]:
    """Mark what batch `batch_id` has left (queued, failed temporarily, unconfirmed) as
    "discarded": nothing more of it is sent. Returns the counts. A delivery running now
    stops before its next message (the message in hand is finished)."""
    require(store, "send")
    user = user or store.user
    active = being_sent(store, batch_id)
    # while a delivery runs, its message "sending" is in hand, not interrupted
    statuses = tuple(s for s in LEFT if s != "sending")
    with store.transaction() as cur:
        if not active:
            _settle_interrupted(cur, batch_id)
        found = dict(cur.execute("SELECT status, count(*) FROM messages WHERE batch_id = ? "
                                 "GROUP BY 1", [batch_id]).fetchall())  # fmt: skip
        if not found:
            raise UserError(f"there is no send batch {batch_id!r}")
        if not any(found.get(s) for s in statuses):
            raise UserError(f"batch {batch_id} has nothing left to discard")
        gone = describe_counts({s: found.get(s, 0) for s in statuses})
        audit.open_batch(cur, "discard", user, f"discard send batch {batch_id}: {gone}")
        cur.execute(
            "UPDATE messages SET status = 'discarded', updated_at = ?, "
            "error = ? || coalesce('; before: ' || error, '') "
            f"WHERE batch_id = ? AND status IN {_in(statuses)}",
            [utcnow(), f"discarded by {user}", batch_id],
        )
    return counts(store, batch_id)


UNCONFIRMED = (
    "delivery stopped while this message was being handed to the server; it may "
    "have been sent, so it is not sent again"
)


def _mark(store: Store, message_id: int, status: str, attempts: int, *, error: str | None = None,
          provider_id: str | None = None) -> None:  # fmt: skip
    now = utcnow()
    store.execute_write(
        "UPDATE messages SET status = ?, attempts = ?, error = ?, provider_id = coalesce(?, provider_id), "
        "updated_at = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
        [status, attempts, error, provider_id, now, status, now, message_id],
    )


def _opt_out(store: Store, contact_id: int) -> None:
    """Twilio 21610 (the number sent STOP): the contact is opted out of SMS, audited."""
    with store.transaction() as cur:
        sms = OPT_OUT_FIELDS["sms"]
        row = cur.execute(
            f'SELECT customer_id, "{sms}" FROM contacts WHERE id = ?', [contact_id]
        ).fetchall()
        if not row or row[0][1]:
            return
        batch_id, at = audit.open_batch(
            cur, "edit", "twilio", "SMS opt-out reported by Twilio (21610)"
        )
        cur.execute(f'UPDATE contacts SET "{sms}" = true WHERE id = ?', [contact_id])
        audit.record(cur, batch_id, at, "twilio", "update", row[0][0],
                     {sms: {"contact": contact_id, "value": False}},
                     {sms: {"contact": contact_id, "value": True}})  # fmt: skip
        audit.close_batch(cur, batch_id)


def counts(store: Store, batch_id: str) -> dict[str, int]:
    """How many messages of the batch are in each status."""
    rows = store.rows(
        "SELECT status, count(*) FROM messages WHERE batch_id = ? GROUP BY 1", [batch_id]
    )
    out = dict.fromkeys(STATUSES, 0)
    out.update({s: int(n) for s, n in rows})
    return out


def describe_counts(found: dict[str, int]) -> str:
    """Counts in words: "3 sent, 2 failed temporarily"."""
    return ", ".join(f"{n:,} {STATUSES.get(s, s).lower()}" for s, n in found.items() if n)


def refresh_status(
    store: Store, batch_id: str, settings: Settings, *, transport: Any = None
) -> dict[str, int]:
    """Fetch each sent SMS's delivery status from Twilio (queued -> sent -> delivered...)."""
    require(store, "send")
    rows = store.rows(
        "SELECT id, provider_id FROM messages WHERE batch_id = ? AND channel = 'sms' "
        "AND provider_id IS NOT NULL AND status IN ('sent', 'queued', 'sending')",
        [batch_id],
    )
    if rows:
        transport = transport or TwilioTransport(settings)
        for message_id, sid in rows:
            status = transport.status(sid)
            mapped = {
                "delivered": "delivered",
                "undelivered": "undelivered",
                "failed": "failed",
            }.get(status)
            if mapped:
                store.execute_write("UPDATE messages SET status = ?, updated_at = ? WHERE id = ?",
                                    [mapped, utcnow(), message_id])  # fmt: skip
    return counts(store, batch_id)


def _log_filter(batch_id: str | None, customer_id: int | None, status: str | None
                ) -> tuple[str, list[Any]]:  # fmt: skip
    """The WHERE clause and its parameters choosing messages by batch, customer and status:
    one home for the message log's filters, used by the log and by its pages."""
    where, params = ["TRUE"], []
    for column, value in (("status", status), ("batch_id", batch_id), ("customer_id", customer_id)):
        if value is not None and value != "":
            where.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(where), params


def message_log(store: Store, *, batch_id: str | None = None, customer_id: int | None = None,
                status: str | None = None, limit: int = 500) -> Any:  # fmt: skip
    """The message log, newest first, optionally for one batch, customer or status."""
    sql_where, params = _log_filter(batch_id, customer_id, status)
    return store.df(
        "SELECT id, batch_id, customer_id, contact_id, channel, recipient, subject, body, status, "
        f"provider_id, error, attempts, user_name, created_at, sent_at FROM messages WHERE {sql_where} "
        "ORDER BY id DESC LIMIT ?",
        [*params, limit],
    )


def message_page(store: Store, *, batch_id: str | None = None, status: str | None = None,
                 offset: int = 0, limit: int = 50) -> tuple[pd.DataFrame, int]:  # fmt: skip
    """One page of the message log, newest first, with each customer's name (None for a
    customer deleted since), and how many messages match in all."""
    sql_where, params = _log_filter(batch_id, None, status)
    total = store.scalar(f"SELECT count(*) FROM messages WHERE {sql_where}", params)
    # the page first, then its customers' names: joining before the LIMIT would join every
    # message of the log (a third of a second at a million messages)
    page = store.df(
        f"SELECT m.id, m.created_at, m.customer_id, c.{quote(KEY_FIELD)} AS customer, m.channel, "
        "m.recipient, m.subject, m.status, m.provider_id, m.error, m.batch_id FROM ("
        f"SELECT * FROM messages WHERE {sql_where} ORDER BY id DESC LIMIT ? OFFSET ?) m "
        f"LEFT JOIN customers c ON c.{quote(ID_FIELD)} = m.customer_id ORDER BY m.id DESC",
        [*params, max(1, min(int(limit), 500)), max(0, int(offset))],
    )
    return page, int(total)


def send_batches(store: Store, *, open_only: bool = False, limit: int = 100) -> pd.DataFrame:
    """Send batches, newest first: channel, when, who, how many messages and how many in
    each status; `open_only`: only those with something left to send or settle (queued,
    failed temporarily, unconfirmed). `being_sent` says whether a process (this one, or
    another on the same Postgres database) is delivering it now."""
    per_status = ", ".join(f"count(*) FILTER (WHERE status = '{s}') AS \"{s}\""
                           for s in STATUSES)  # fmt: skip
    # the batches wanted first, then only their messages counted: the log may hold millions
    if open_only:
        wanted = store.rows(f"SELECT batch_id FROM messages WHERE status IN {_in(LEFT)} "
                            "GROUP BY 1 ORDER BY min(id) DESC LIMIT ?", [max(1, int(limit))])  # fmt: skip
    else:
        wanted = store.rows("SELECT batch_id FROM batches WHERE action = 'send' "
                            "ORDER BY happened_at DESC, batch_id DESC LIMIT ?", [max(1, int(limit))])  # fmt: skip
    frame = store.df(
        "SELECT batch_id, any_value(channel) AS channel, min(created_at) AS created_at, "
        f"any_value(user_name) AS user_name, count(*) AS total, {per_status} FROM messages "
        "WHERE list_contains(?, batch_id) GROUP BY batch_id ORDER BY min(id) DESC",
        [[b for (b,) in wanted]],
    )
    frame["being_sent"] = [being_sent(store, b) for b in frame["batch_id"]]
    return frame


def send_test(
    settings: Settings, channel: str, to: str, *, by: Any = None, transport: Any = None
) -> str:
    """Send one test message to an address or number the user typed; the server's answer.

    `by` (the acting Store or Actor; None: the local operator) needs the "send" role: a test
    SMS costs money and a test message shows the settings work. Raises UserError with the
    server's words when it refuses (bad settings, credentials...).
    """
    from .types import Email, Phone

    require(by, "send")
    try:
        recipient = Email().parse(to) if channel == "email" else Phone().parse(to)
    except ValueError as exc:
        raise UserError(f"{to!r} {exc}") from None
    transport = transport or (
        SmtpTransport(settings) if channel == "email" else TwilioTransport(settings)
    )
    m = {"recipient": recipient, "subject": "customer-dashboard test message", "idempotency_key": hashlib.sha256(
        f"test|{recipient}|{time.time()}".encode()).hexdigest(),
         "body": "This is a test message from customer-dashboard (Setup > Settings)."}  # fmt: skip
    try:
        provider_id = transport.send(m)
    except (TemporaryFailure, PermanentFailure) as exc:
        raise UserError(f"the server refused the test message: {exc}") from None
    finally:
        transport.close()
    return f"accepted by the server ({provider_id})"


def _db_of(store: Store) -> str | None:
    """The database `store` opened, for finding its settings (None: in memory)."""
    path = getattr(store, "path", None)  # a PostgreSQL store's is its (redacted) URL
    return None if path in (None, ":memory:") else str(path)


def send(store: Store, target: Target, channel: str, body: str, subject: str | None = None, *,
         settings: Settings | None = None, dry_run: bool = False, user: str | None = None,
         transport: Any = None, progress: Callable[[int, int], None] | None = None,
         ) -> tuple[str, SendPlan, dict[str, int]]:  # fmt: skip
    """Plan, log and (unless a dry run) deliver; returns the batch id, the plan and counts.
    A channel that is not set up is refused before anything is queued. `progress(done,
    total)` is called as messages go out."""
    plan = plan_send(store, target, channel, body, subject)
    if not dry_run:
        # a notebook's store: the settings beside its database (locations.settings_path)
        settings = settings or Settings.load(store.settings_file())
        problem = channel_problem(settings, channel)
        if problem:
            raise UserError(f"{problem}; nothing was queued")
    batch_id = queue(store, plan, user=user, dry_run=dry_run)
    if dry_run:
        return batch_id, plan, counts(store, batch_id)
    return batch_id, plan, deliver(store, batch_id, settings, transport=transport,
                                   progress=progress)  # fmt: skip


__all__: Sequence[str] = ("plan_send", "queue", "deliver", "send", "send_test", "counts", "message_log", "render",
                          "placeholders", "refresh_status", "SmtpTransport", "TwilioTransport", "resume",
                          "discard", "send_batches", "message_page", "channel_problem", "describe_counts",
                          "STATUSES", "SMS_PROBLEM_COUNTRIES", "DeliveryStopped")  # fmt: skip
