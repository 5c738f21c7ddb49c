"""Send: email through a real SMTP server on loopback (aiosmtpd), SMS through the real
twilio client against a local server that answers as Twilio's Messages API does."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from dashboard import add_customer
from dashboard.errors import UserError
from dashboard.messaging import (
    SmtpTransport,
    counts,
    deliver,
    message_log,
    placeholders,
    plan_send,
    queue,
    refresh_status,
    render,
    send,
)  # fmt: skip
from dashboard.settings import Settings
from tests.browser import free_port
from tests.conftest import Inbox


@pytest.fixture
def settings(tmp_path, smtp):
    s = Settings.load(tmp_path / "settings.toml")
    s.update({"email": {"from": "billing@carrier.example", "host": "127.0.0.1", "port": smtp[1],
                        "security": "none", "rate": 1000}})  # fmt: skip
    return s


@pytest.fixture
def customers(store):
    a = add_customer(store, {"name": "Acme", "currency": "USD", "credit": "1234.5"},
                     [{"name": "Ann", "email": "ann@acme.example", "mobile": "+447831000001"},
                      {"name": "Al", "email": "al@acme.example", "mobile": "+447831000002"}]).ids[0]  # fmt: skip
    b = add_customer(store, {"name": "Beta", "currency": "EUR"},
                     [{"name": "Bo", "email": "bo@beta.example", "mobile": "+447831000003"},
                      {"name": "Opt", "email": "opt@beta.example", "email_opt_out": True,
                       "sms_opt_out": True, "mobile": "+447831000004"}]).ids[0]  # fmt: skip
    c = add_customer(store, {"name": "Nobody Ltd", "currency": "EUR"}).ids[0]
    return [a, b, c]


def test_one_email_per_customer_to_all_its_contacts_and_no_one_else(
    store, customers, smtp, settings
):
    inbox, _ = smtp
    batch_id, plan, result = send(store, customers, "email", "Dear {name}, your balance is {credit} {currency}.",
                                  "Balance for {name}", settings=settings)  # fmt: skip
    assert result["sent"] == 2 and result["skipped"] == 1 and plan.opted_out == 1
    assert [s[2] for s in plan.skipped] == ["no contact with a usable email"]
    by_to = {tuple(sorted(r)): m for r, m in inbox.messages}
    acme = by_to[("al@acme.example", "ann@acme.example")]
    assert acme["Subject"] == "Balance for Acme" and acme["From"] == "billing@carrier.example"
    assert "your balance is 1,234.50 USD" in acme.get_payload()
    assert "Cc" not in acme and "Bcc" not in acme
    assert (
        by_to[("bo@beta.example",)]["To"] == "bo@beta.example"
    )  # the opted-out contact is left out
    for rcpts, _ in inbox.messages:
        domains = {r.split("@")[1] for r in rcpts}
        assert len(domains) == 1  # never two customers' addresses in one message
    log = message_log(store, batch_id=batch_id)
    assert set(log.status) == {"sent", "skipped"} and log.provider_id.notna().sum() == 2


def test_4xx_is_retried_with_backoff_and_5xx_is_not(store, customers, smtp, settings):
    inbox, _ = smtp
    inbox.temp_fail["bo@beta.example"] = 2
    inbox.reject.update({"ann@acme.example", "al@acme.example"})
    plan = plan_send(store, customers[:2], "email", "Hello {name}", "Hi")
    batch_id = queue(store, plan, user="ann")
    waits = []
    result = deliver(store, batch_id, settings, sleep=waits.append, backoff=0.5)
    assert result["sent"] == 1 and result["failed"] == 1
    log = message_log(store, batch_id=batch_id).set_index("recipient")
    assert log.loc["bo@beta.example", "attempts"] == 3
    acme = log.loc["ann@acme.example, al@acme.example"]
    assert acme["attempts"] == 1 and "550" in acme["error"] and acme["status"] == "failed"
    assert [w for w in waits if w >= 0.5] == [0.5, 1.0]  # exponential back-off between attempts


def test_a_partly_refused_email_is_sent_once_and_says_who_missed_it(
    store, customers, smtp, settings
):
    inbox, _ = smtp
    inbox.reject.add("al@acme.example")
    batch_id, _, result = send(store, customers[:1], "email", "Hello", "Hi", settings=settings)
    assert result["sent"] == 1 and inbox.messages[0][0] == ["ann@acme.example"]
    assert "al@acme.example (550)" in message_log(store, batch_id=batch_id).error.iloc[0]


def test_a_crash_half_way_then_resume_sends_each_message_exactly_once(store, smtp, settings):
    inbox, _ = smtp
    ids = [add_customer(store, {"name": f"C{i}", "currency": "EUR"}, [{"email": f"c{i}@x{i}.example"}]).ids[0]
           for i in range(6)]  # fmt: skip
    batch_id = queue(store, plan_send(store, ids, "email", "Hi {name}", "Hi"))

    class Crashing(SmtpTransport):
        sent = 0

        def send(self, m):
            if Crashing.sent == 3:
                raise KeyboardInterrupt("the process was stopped")
            Crashing.sent += 1
            return super().send(m)

    with pytest.raises(KeyboardInterrupt):
        deliver(store, batch_id, settings, transport=Crashing(settings))
    assert counts(store, batch_id)["sent"] == 3 and len(inbox.messages) == 3
    assert deliver(store, batch_id, settings)["sent"] == 6
    received = sorted(r[0] for r, _ in inbox.messages)
    assert received == sorted(f"c{i}@x{i}.example" for i in range(6))


def test_placeholders_are_fields_only_and_subjects_one_line(store, customers):
    assert placeholders("Hi {name}, {credit}") == ["name", "credit"]
    for bad in ("{name.__class__}", "{name[0]}", "{password}", "{name!r}", "{credit:>10}", "{"):
        with pytest.raises(UserError):
            placeholders(bad)
    assert render("{name} owes {credit}", {"name": "A", "credit": None}) == "A owes "
    with pytest.raises(UserError, match="one line"):
        plan_send(store, customers, "email", "body", "Hello\r\nBcc: victim@example.com")
    with pytest.raises(UserError, match="unknown placeholder"):
        plan_send(store, customers, "sms", "Hi {nickname}")


def test_dry_run_needs_no_server_and_records_what_would_be_sent(store, customers, tmp_path):
    batch_id, plan, result = send(store, customers, "sms", "Balance {credit}", dry_run=True,
                                  settings=Settings.load(tmp_path / "none.toml"))  # fmt: skip
    assert result["dry-run"] == 3 and result["sent"] == 0  # Ann, Al, Bo; Opt opted out
    assert plan.preview.body == "Balance 1,234.50"


def test_unreachable_smtp_server_is_a_clear_error(store, customers, tmp_path):
    s = Settings.load(tmp_path / "s.toml")
    s.update(
        {
            "email": {
                "from": "a@b.example",
                "host": "127.0.0.1",
                "port": free_port(),
                "security": "none",
            }
        }
    )
    batch_id = queue(store, plan_send(store, customers, "email", "x", "y"))
    with pytest.raises(UserError, match="cannot reach the SMTP server"):
        deliver(store, batch_id, s)


# --- SMS ---------------------------------------------------------------------------------

SID = "AC" + "0" * 32


class FakeTwilio(BaseHTTPRequestHandler):
    """Answers like Twilio's Messages API: 201 with a SID, 400 with an error code, 429."""

    script: dict[str, list[tuple[int, int | None]]] = {}
    received: list[dict] = []

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        assert self.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        to = form["To"][0]
        status, code = (
            (self.script.get(to) or [(201, None)]).pop(0) if self.script.get(to) else (201, None)
        )
        if status == 201:
            sid = f"SM{len(self.received):032d}"
            self.received.append(
                {"to": to, "from": form["From"][0], "body": form["Body"][0], "sid": sid}
            )
            self._reply(201, {"sid": sid, "status": "queued", "to": to, "from": form["From"][0],
                              "body": form["Body"][0], "account_sid": SID})  # fmt: skip
        else:
            self._reply(status, {"code": code, "message": f"error {code}", "status": status,
                                 "more_info": f"https://www.twilio.com/docs/errors/{code}"})  # fmt: skip

    def do_GET(self):
        sid = self.path.rsplit("/", 1)[1].removesuffix(".json")
        self._reply(200, {"sid": sid, "status": "delivered", "account_sid": SID})


@pytest.fixture
def twilio(tmp_path, monkeypatch):
    FakeTwilio.script, FakeTwilio.received = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeTwilio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    s = Settings.load(tmp_path / "settings.toml")
    s.update({"sms": {"from": "+15005550006", "account_sid": SID, "rate": 1000,
                      "api_url": f"http://127.0.0.1:{server.server_port}"}})  # fmt: skip
    monkeypatch.setenv("CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN", "test-token")
    yield s
    server.shutdown()


def test_sms_to_each_contact_mobile_with_the_real_twilio_client(store, customers, twilio):
    batch_id, plan, result = send(store, customers, "sms", "Hi {name}", settings=twilio)
    assert result["sent"] == 3
    assert sorted(m["to"] for m in FakeTwilio.received) == [
        "+447831000001",
        "+447831000002",
        "+447831000003",
    ]
    assert {m["from"] for m in FakeTwilio.received} == {"+15005550006"}
    assert refresh_status(store, batch_id, twilio)["delivered"] == 3


@pytest.mark.parametrize("url", ["http://api.example.com", "http://10.0.0.5:8080",
                                 "http://127.0.0.1.evil.example", "http://[::ffff:10.0.0.1]",
                                 "http://u@127.0.0.1@evil.example/", "ftp://api.twilio.com"])  # fmt: skip
def test_the_twilio_api_must_be_https_unless_on_this_machine(tmp_path, twilio, url, store,
                                                              customers):  # fmt: skip
    s = Settings.load(tmp_path / "other.toml")
    with pytest.raises(UserError, match="api_url.*https://"):
        s.update({"sms": {"api_url": url}})
    for fine in ("https://api.twilio.com", "http://127.0.0.1:9", "http://127.8.0.1",
                 "http://[::1]:8080", "http://localhost:9"):  # fmt: skip
        s.update({"sms": {"api_url": fine}})
    # a hand-edited file is refused when it is used, before the token goes anywhere
    twilio.doc["sms"]["api_url"] = url
    with pytest.raises(UserError, match="Twilio API address.*https://"):
        send(store, customers, "sms", "Hi {name}", settings=twilio)
    assert FakeTwilio.received == []


def test_sms_permanent_errors_429_retry_and_stop_opts_out(store, customers, twilio):
    FakeTwilio.script = {"+447831000001": [(429, 20429), (201, None)],
                         "+447831000002": [(400, 21610)], "+447831000003": [(400, 21211)]}  # fmt: skip
    batch_id = queue(store, plan_send(store, customers, "sms", "Hi {name}"))
    result = deliver(store, batch_id, twilio, sleep=lambda s: None)
    assert result["sent"] == 1 and result["failed"] == 2
    log = message_log(store, batch_id=batch_id).set_index("recipient")
    assert log.loc["+447831000001", "attempts"] == 2
    assert "21211" in log.loc["+447831000003", "error"]
    assert store.scalar("SELECT sms_opt_out FROM contacts WHERE mobile = '+447831000002'") is True
    again = plan_send(store, customers, "sms", "Hi")
    assert "+447831000002" not in [m.recipient for m in again.messages]


def test_settings_file_keeps_comments_and_never_holds_secrets(tmp_path, monkeypatch):
    path = tmp_path / "settings.toml"
    path.write_text(
        '# our mail relay\n[email]\nhost = "smtp.example.com"  # the relay\nport = 587\n'
    )
    s = Settings.load(path)
    s.update({"email": {"from": "billing@example.com", "rate": 5}})
    s.save()
    text = path.read_text()
    assert (
        "# our mail relay" in text
        and "# the relay" in text
        and 'from = "billing@example.com"' in text
    )
    monkeypatch.setenv("CUSTOMER_DASHBOARD_SMTP_PASSWORD", "s3cret")
    assert Settings.load(path).secret("email", "password") == "s3cret" and "s3cret" not in text
    with pytest.raises(UserError) as info:
        s.update({"email": {"security": "ssl", "port": 0}, "sms": {"from": "555-1234"}})
    text = str(info.value)
    assert "security" in text and "port" in text and "origination" in text


def test_cli_send_email_and_dry_run(tmp_path, smtp):
    import subprocess
    import sys

    inbox, port = smtp
    db = tmp_path / "c.duckdb"

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "dashboard.cli", *a, "--db", str(db)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert cli("init", "--demo", "20").returncode == 0
    r = cli(
        "send",
        "--channel",
        "sms",
        "--where",
        "country=GB",
        "--body",
        "Hi {name}",
        "--dry-run",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["sent"] == 0
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\nport = {port}\n'
                        'security = "none"\nrate = 500\n')  # fmt: skip
    r = cli("send", "--channel", "email", "--ids", "1,2,3", "--subject", "Hello {name}",
            "--body", "Balance {credit}", "--settings", str(settings))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "sent 3" in r.stdout and len(inbox.messages) == 3
    r = cli("send", "--channel", "email", "--ids", "1", "--subject", "x", "--body", "{secret}",
            "--settings", str(settings))  # fmt: skip
    assert r.returncode == 1 and "unknown placeholder" in r.stderr and "Traceback" not in r.stderr


def test_wrong_smtp_credentials_are_a_clear_error(store, customers, tmp_path, monkeypatch):
    from aiosmtpd.smtp import AuthResult

    port = free_port()
    c = Controller(Inbox(), hostname="127.0.0.1", port=port, auth_require_tls=False,
                   authenticator=lambda *a: AuthResult(success=False, handled=False))  # fmt: skip
    c.start()
    try:
        s = Settings.load(tmp_path / "s.toml")
        s.update({"email": {"from": "a@b.example", "host": "127.0.0.1", "port": port, "security": "none",
                            "username": "billing"}})  # fmt: skip
        monkeypatch.setenv("CUSTOMER_DASHBOARD_SMTP_PASSWORD", "wrong")
        batch_id = queue(store, plan_send(store, customers, "email", "x", "y"))
        with pytest.raises(UserError, match="refused the username or password"):
            deliver(store, batch_id, s)
        assert counts(store, batch_id)["queued"] == 2  # nothing lost: a later send resumes
    finally:
        c.stop()


def test_messages_page_refreshes_sms_delivery_status(store, customers, twilio, tmp_path):
    from dashboard.ui.setup import MessagesPage

    path = tmp_path / "settings.toml"
    twilio.save(path)
    batch_id, _, result = send(store, customers, "sms", "Hi {name}", settings=twilio)
    page = MessagesPage(store=store, batch_id=batch_id, settings_path=str(path))
    page.__panel__()
    page.param.trigger("refresh_delivery")
    assert "3 delivered" in page.message and set(page._table.value["status"]) == {
        "delivered",
        "skipped",
    }


def test_message_log_filters_by_status_in_the_database(store, customers, smtp, settings):
    batch_id, _, _ = send(store, customers, "email", "Hi", "Hi", settings=settings)
    sent = message_log(store, batch_id=batch_id, status="sent")
    assert set(sent.status) == {"sent"} and len(sent) == 2
    assert len(message_log(store, batch_id=batch_id, status="skipped")) == 1
