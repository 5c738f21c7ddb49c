"""Send: email through a real SMTP server on loopback (aiosmtpd), SMS through the real
twilio client against a local server that answers as Twilio's Messages API does."""

from __future__ import annotations

import json
import threading
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from dashboard import add_customer
from dashboard.access import PermissionDenied
from dashboard.errors import UserError
from dashboard.messaging import (
    SMS_PROBLEM_COUNTRIES,
    DeliveryStopped,
    SmtpTransport,
    channel_problem,
    counts,
    deliver,
    discard,
    message_log,
    message_page,
    placeholders,
    plan_send,
    queue,
    refresh_status,
    render,
    resume,
    send,
    send_batches,
)  # fmt: skip
from dashboard.settings import Settings
from tests.browser import free_port
from tests.conftest import Inbox

# the store-level tests run on DuckDB and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.both_backends


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
    batch_id, plan, result = send(store, customers, "email", "Dear {name}, your balance is {credit}.",
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
    assert plan.preview.body == "Balance 1,234.50 USD"


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
    with pytest.raises(UserError, match="cannot reach the SMTP server") as info:
        deliver(store, batch_id, s)
    # in words, not Python's "[Errno 111] Connection refused"
    assert "nothing answers on that port" in str(info.value)
    assert "Errno" not in str(info.value)


def test_a_sends_batch_counts_the_customers_messaged(store, customers):
    """The changes list said "Messages to 0 customers": a send writes no audit rows, so
    its batch counted none."""
    from dashboard.undo import recent_batches

    plan = plan_send(store, customers, "email", "x", "y")
    messaged = len({m.customer_id for m in plan.messages})
    assert messaged > 0
    batch_id = queue(store, plan)
    entry = next(e for e in recent_batches(store).entries if e.batch_id == batch_id)
    assert entry.customer_count == messaged
    assert entry.headline() == f"Messages to {messaged} customer{'s' if messaged != 1 else ''}"


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
    with pytest.raises(UserError, match="^Twilio API address: .* must be .*https://"):
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
    assert "Security: " in text and "Port: 0 " in text and "origination" in text  # labels


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
        "Delivered",
        "Skipped",
    }


def test_message_log_filters_by_status_in_the_database(store, customers, smtp, settings):
    batch_id, _, _ = send(store, customers, "email", "Hi", "Hi", settings=settings)
    sent = message_log(store, batch_id=batch_id, status="sent")
    assert set(sent.status) == {"sent"} and len(sent) == 2
    assert len(message_log(store, batch_id=batch_id, status="skipped")) == 1


# --- a send that stops: not set up, resume, discard --------------------------------------


def _email_settings(tmp_path, port, name="s.toml"):
    s = Settings.load(tmp_path / name)
    s.update({"email": {"from": "billing@carrier.example", "host": "127.0.0.1", "port": port,
                        "security": "none", "rate": 1000}})  # fmt: skip
    return s


def _people(store, n, prefix="P"):
    return [add_customer(store, {"name": f"{prefix}{i}", "currency": "EUR"},
                         [{"email": f"{prefix.lower()}{i}@p{i}.example"}]).ids[0]
            for i in range(n)]  # fmt: skip


def test_a_channel_not_set_up_is_refused_before_anything_is_queued(store, customers, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    monkeypatch.delenv("CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("CUSTOMER_DASHBOARD_SECRETS", raising=False)
    empty = Settings.load(tmp_path / "none.toml")
    assert channel_problem(empty, "email") == (
        "Email is not set up: no SMTP server, no From address (Setup › Settings)"
    )
    sms = channel_problem(empty, "sms")
    assert "no SMS origination number" in sms and "no Twilio account SID" in sms
    assert "no Twilio auth token" in sms
    with pytest.raises(UserError, match="Email is not set up.*nothing was queued"):
        send(store, customers, "email", "Hi {name}", "Hi", settings=empty)
    with pytest.raises(UserError, match="SMS is not set up"):
        send(store, customers, "sms", "Hi {name}", settings=empty)
    assert store.scalar("SELECT count(*) FROM messages") == 0  # nothing stranded
    half = Settings.load(tmp_path / "half.toml")
    half.update({"email": {"host": "127.0.0.1"}})
    assert channel_problem(half, "email").endswith("no From address (Setup › Settings)")


def test_a_send_that_stops_says_where_to_resume_and_resume_sends_each_message_once(
    store, smtp, tmp_path
):
    inbox, port = smtp
    ids = _people(store, 5)
    down = _email_settings(tmp_path, free_port(), "down.toml")  # nothing listens there
    with pytest.raises(DeliveryStopped) as info:
        send(store, ids, "email", "Hi {name}", "Hi", settings=down)
    text = str(info.value)
    batch_id = message_log(store).batch_id.iloc[0]
    assert "cannot reach the SMTP server" in text and "send again" not in text
    assert f"5 messages of batch {batch_id} are left" in text
    assert "Messages page (/messages)" in text and f"--resume {batch_id}" in text
    assert counts(store, batch_id)["queued"] == 5
    opened = send_batches(store, open_only=True)
    assert opened.batch_id.tolist() == [batch_id] and opened.queued.tolist() == [5]

    # one message caught mid-handover by a crash may have arrived: never sent again
    store.execute_write("UPDATE messages SET status = 'sending' WHERE id = "
                        "(SELECT min(id) FROM messages WHERE batch_id = ?)", [batch_id])  # fmt: skip
    up = _email_settings(tmp_path, port)
    result = resume(store, batch_id, up)
    assert result["sent"] == 4 and result["unconfirmed"] == 1 and result["queued"] == 0
    received = sorted(r[0] for r, _ in inbox.messages)
    assert len(received) == 4 == len(set(received))
    with pytest.raises(UserError, match="nothing left to send.*1 unconfirmed"):
        resume(store, batch_id, up)
    assert len(inbox.messages) == 4
    # what resume did is in the batch list
    assert store.scalar("SELECT count(*) FROM batches WHERE action = 'resume' "
                        "AND description LIKE ?", [f"%{batch_id}%"]) == 1  # fmt: skip


def test_temporary_failures_are_left_to_resume_and_sent_once(store, smtp, tmp_path):
    inbox, port = smtp
    ids = _people(store, 3)
    inbox.temp_fail["p1@p1.example"] = 100  # 451 however often it is tried today
    batch_id = queue(store, plan_send(store, ids, "email", "Hi {name}", "Hi"))
    s = _email_settings(tmp_path, port)
    result = deliver(store, batch_id, s, sleep=lambda _s: None)
    assert result["sent"] == 2 and result["retrying"] == 1 and result["failed"] == 0
    log = message_log(store, batch_id=batch_id).set_index("recipient")
    assert log.loc["p1@p1.example", "error"].startswith("gave up for now after 4 attempts: ")
    assert "resume the batch" in log.loc["p1@p1.example", "error"]
    inbox.temp_fail.clear()
    assert resume(store, batch_id, s, sleep=lambda _s: None)["sent"] == 3
    assert sorted(r[0] for r, _ in inbox.messages) == [f"p{i}@p{i}.example" for i in range(3)]
    assert message_log(store, batch_id=batch_id).set_index("recipient").loc[
        "p1@p1.example", "attempts"] == 5  # fmt: skip


def test_discard_sends_nothing_and_closes_the_batch(store, smtp, tmp_path):
    inbox, port = smtp
    ids = _people(store, 4)
    batch_id = queue(store, plan_send(store, ids, "email", "Hi {name}", "Hi"), user="ann")
    store.execute_write("UPDATE messages SET status = 'retrying', error = '451 later' WHERE id = "
                        "(SELECT max(id) FROM messages WHERE batch_id = ?)", [batch_id])  # fmt: skip
    result = discard(store, batch_id, user="ann")
    assert result["discarded"] == 4 and result["queued"] == result["retrying"] == 0
    log = message_log(store, batch_id=batch_id)
    assert set(log.status) == {"discarded"}
    assert "discarded by ann; before: 451 later" in set(log.error)
    s = _email_settings(tmp_path, port)
    with pytest.raises(UserError, match="nothing left to send"):
        resume(store, batch_id, s)
    assert deliver(store, batch_id, s)["sent"] == 0 and inbox.messages == []
    with pytest.raises(UserError, match="nothing left to discard"):
        discard(store, batch_id)
    with pytest.raises(UserError, match="no send batch"):
        discard(store, "b-000000000000")
    assert send_batches(store, open_only=True).empty
    assert store.scalar("SELECT user_name FROM batches WHERE action = 'discard'") == "ann"


def test_resume_and_discard_need_the_send_role(store, smtp, tmp_path):
    _, port = smtp
    batch_id = queue(store, plan_send(store, _people(store, 2), "email", "Hi", "Hi"))
    s = _email_settings(tmp_path, port)
    for role in ("viewer", "editor"):
        who = store.acting_as("vic", role)
        with pytest.raises(PermissionDenied, match="may not send messages"):
            resume(who, batch_id, s)
        with pytest.raises(PermissionDenied, match="may not send messages"):
            discard(who, batch_id)
    assert counts(store, batch_id)["queued"] == 2
    assert resume(store.acting_as("ada", "admin"), batch_id, s)["sent"] == 2


def test_a_batch_being_sent_is_not_resumed_twice_and_discard_stops_it(store, smtp, tmp_path):
    inbox, port = smtp
    ids = _people(store, 4)
    batch_id = queue(store, plan_send(store, ids, "email", "Hi {name}", "Hi"))
    s = _email_settings(tmp_path, port)
    handing, go_on = threading.Event(), threading.Event()

    class Slow(SmtpTransport):
        def send(self, m):
            handing.set()
            go_on.wait(10)  # the first message is in hand while the others click
            return super().send(m)

    worker = threading.Thread(target=deliver, args=(store, batch_id, s),
                              kwargs={"transport": Slow(s)})  # fmt: skip
    worker.start()
    assert handing.wait(10)
    assert send_batches(store, open_only=True).being_sent.tolist() == [True]
    with pytest.raises(UserError, match="being sent right now"):
        resume(store, batch_id, s)
    with pytest.raises(UserError, match="being sent right now"):
        deliver(store, batch_id, s)
    assert discard(store, batch_id)["discarded"] == 3  # the one in hand is finished
    go_on.set()
    worker.join(10)
    assert counts(store, batch_id)["sent"] == 1 and len(inbox.messages) == 1


def test_sms_resume_after_429s_sends_each_once_through_twilio(store, customers, twilio):
    FakeTwilio.script = {"+447831000002": [(429, 20429)] * 4}
    batch_id = queue(store, plan_send(store, customers, "sms", "Hi {name}"))
    assert deliver(store, batch_id, twilio, sleep=lambda s: None)["retrying"] == 1
    assert sorted(m["to"] for m in FakeTwilio.received) == ["+447831000001", "+447831000003"]
    assert resume(store, batch_id, twilio, sleep=lambda s: None)["sent"] == 3
    assert sorted(m["to"] for m in FakeTwilio.received) == [
        "+447831000001", "+447831000002", "+447831000003"]  # fmt: skip


def test_sms_preview_warns_about_india_with_the_count(store, twilio):
    a = add_customer(store, {"name": "Delhi Telecom", "currency": "INR", "country": "IN"},
                     [{"name": "Ravi", "mobile": "+919812345678"},
                      {"name": "Asha", "mobile": "+917012345678"}]).ids[0]  # fmt: skip
    b = add_customer(store, {"name": "London Voice", "currency": "GBP"},
                     [{"name": "Al", "mobile": "+447831000009"}]).ids[0]  # fmt: skip
    plan = plan_send(store, [a, b], "sms", "Hi {name}")
    assert "IN" in SMS_PROBLEM_COUNTRIES
    assert plan.warnings == ["2 SMS go to India: the carrier's documentation says there are "
                             "some reports of issues with SMS being delivered to numbers in "
                             "India."]  # fmt: skip
    assert plan_send(store, [b], "sms", "Hi").warnings == []
    assert plan_send(store, [a], "email", "Hi", "Hi").warnings == []
    # a warning, not a refusal: the SMS still go out
    assert send(store, [a, b], "sms", "Hi {name}", settings=twilio)[2]["sent"] == 3


def test_message_page_is_newest_first_with_names_and_pages_in_the_database(store):
    ids = _people(store, 120, "N")
    batch_id = queue(store, plan_send(store, ids, "email", "Hi {name}", "Hi"))
    first, total = message_page(store, limit=50)
    assert total == 120 and len(first) == 50
    assert first.id.is_monotonic_decreasing and first.customer.iloc[0] == "N119"
    third, _ = message_page(store, offset=100, limit=50)
    assert len(third) == 20 and third.customer.iloc[-1] == "N0"
    discard(store, batch_id)
    none, total = message_page(store, status="queued")
    assert total == 0 and none.empty
    assert message_page(store, batch_id=batch_id, status="discarded")[1] == 120
    from dashboard import delete_customers

    delete_customers(store, ids[-1:])
    assert message_page(store, limit=1)[0].customer.tolist() == [None]  # deleted since


def test_cli_send_stops_then_resume_and_discard(tmp_path, smtp):
    import re
    import subprocess
    import sys

    inbox, port = smtp
    db = tmp_path / "c.duckdb"

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "dashboard.cli", *a, "--db", str(db)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    def settings(p):
        path = tmp_path / f"s{p}.toml"
        path.write_text(f'[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\n'
                        f'port = {p}\nsecurity = "none"\nrate = 500\n')  # fmt: skip
        return str(path)

    assert cli("init", "--demo", "20").returncode == 0
    down, up = settings(free_port()), settings(port)
    r = cli("send", "--channel", "email", "--ids", "1,2,3", "--subject", "Hi {name}",
            "--body", "Balance {credit}", "--settings", down)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr and "send again" not in r.stderr
    assert "cannot reach the SMTP server" in r.stderr and "Messages page" in r.stderr
    batch = re.search(r"--resume (b-[0-9a-f]{12})", r.stderr).group(1)

    r = cli("send", "--resume", batch, "--settings", up)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"done: sent 3; batch {batch}" and len(inbox.messages) == 3
    r = cli("send", "--resume", batch, "--settings", up, "--json")
    assert r.returncode == 1 and "nothing left to send" in r.stderr and len(inbox.messages) == 3

    r = cli("send", "--channel", "email", "--ids", "4,5", "--subject", "x", "--body", "y",
            "--settings", down)  # fmt: skip
    other = re.search(r"--resume (b-[0-9a-f]{12})", r.stderr).group(1)
    r = cli("send", "--discard", other, "--json")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["batch_id"] == other and answer["counts"]["discarded"] == 2
    r = cli("send", "--resume", other, "--settings", up)
    assert r.returncode == 1 and "nothing left to send" in r.stderr and len(inbox.messages) == 3

    r = cli("send", "--resume", batch, "--channel", "sms")
    assert r.returncode == 2 and "drop --channel" in r.stderr
    r = cli("send", "--resume", batch, "--discard", batch)
    assert r.returncode == 2 and "not allowed with" in r.stderr
    r = cli("send", "--ids", "1", "--body", "x")
    assert r.returncode == 2 and "--channel and --body" in r.stderr
    # not set up: refused before anything is queued, so nothing is stranded
    r = cli("send", "--channel", "sms", "--ids", "1", "--body", "x", "--settings", up)
    assert r.returncode == 1 and "SMS is not set up" in r.stderr


def test_a_placeholder_may_be_a_fields_label_in_any_case(store, customers):
    """The grid calls `credit` "Balance": {Balance} and {balance} are accepted as {credit}
    (they were refused as unknown); an unknown one lists names with their labels."""
    assert placeholders("{Balance} {balance} {CREDIT} {customer  name}") == [
        "credit", "credit", "credit", "name"]  # fmt: skip
    record = {"name": "A", "credit": Decimal("1234.5")}
    assert render("{Customer Name} owes {balance}", record) == "A owes 1,234.50"
    with pytest.raises(UserError, match=r"\{credit\} \(Balance\)"):
        placeholders("{saldo}")
    with pytest.raises(UserError, match="not allowed"):
        placeholders("{Balance:>10}")
    # money goes out with its currency: a bare amount does not say which one it is in
    assert render("{balance}", {**record, "currency": "JPY"}) == "1,234.50 JPY"
    plan = plan_send(store, customers, "sms", "Your balance is {Balance}")
    assert plan.preview.body.startswith("Your balance is ")
    ccy = store.scalar("SELECT currency FROM customers WHERE id = ?", [plan.preview.customer_id])
    assert plan.preview.body.endswith(f" {ccy}"), plan.preview.body
