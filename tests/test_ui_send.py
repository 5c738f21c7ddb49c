"""Send, Setup > Settings and Messages in the page, without a browser (real SMTP server)."""

from __future__ import annotations

import re

import pytest
from bokeh.document import Document

from dashboard.ui.app import customers_page
from dashboard.ui.setup import MessagesPage, SettingsPage


@pytest.fixture
def settings_file(tmp_path, smtp):
    path = tmp_path / "settings.toml"
    path.write_text(f'# ops relay\n[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\nport = {smtp[1]}\n'
                    'security = "none"\nrate = 500\n')  # fmt: skip
    return path


def test_send_from_the_page_to_all_matching(demo, smtp, settings_file):
    inbox, _ = smtp
    page = customers_page(demo, user="ann", settings_path=str(settings_file))
    page.__panel__().get_root(Document())
    page.view.status = "Pending Approval"
    page.selection.param.trigger("select_all")
    page.toolbar.param.trigger("send")
    d = page.send_dialog
    assert d.is_open
    d.param.update(channel="email", subject="Account {name}", body="Balance {credit} {currency}")
    d.param.trigger("preview")
    assert "email message" in d.message and "(s)" not in d.message  # "2 email messages"
    assert "First message, to" in d._first.object
    batch_id = d.send_now()
    n = demo.scalar(
        "SELECT count(*) FROM messages WHERE batch_id = ? AND status = 'sent'", [batch_id]
    )
    assert n == len(inbox.messages) > 0 and "Sent:" in page.message
    log = MessagesPage(store=demo, batch_id=batch_id)
    assert set(log._table.value["status"]) <= {"Sent", "Skipped"}


def test_send_refuses_unknown_placeholders_before_sending(demo, settings_file, smtp):
    page = customers_page(demo, settings_path=str(settings_file))
    page.grid.table.selection = [0]
    page.toolbar.param.trigger("send")
    d = page.send_dialog
    d.param.update(channel="sms", body="Hi {password}")
    assert d.send_now() is None and "unknown placeholder" in d.message
    assert demo.scalar("SELECT count(*) FROM messages") == 0


def test_settings_page_saves_keeping_comments_and_tests_email(settings_file, smtp):
    inbox, _ = smtp
    page = SettingsPage(path=str(settings_file))
    page.__panel__()
    page.form.email_rate = 20
    page.param.trigger("save")
    assert "Saved" in page.message
    text = settings_file.read_text()
    assert "# ops relay" in text and "rate = 20" in text
    page.test_to = "me@ops.example"
    page.param.trigger("test_email")
    assert "accepted by the server" in page.message and inbox.messages[-1][0] == ["me@ops.example"]
    page.form.email_security = "none"
    page.form.sms_from = "12345"
    page.param.trigger("save")
    assert "origination" in page.message
    page.form.sms_from = ""
    page.test_to = "+447831000001"
    page.param.trigger("test_sms")
    assert "Twilio" in page.message  # no account set: a clear message, not a traceback


def test_a_customers_card_lists_its_messages(demo, smtp, settings_file):
    page = customers_page(demo, settings_path=str(settings_file))
    page.grid.table.selection = [0]
    cid = page.selection.ids[0]
    page.toolbar.param.trigger("send")
    page.send_dialog.param.update(channel="email", subject="Hi {name}", body="Hello")
    page.send_dialog.send_now()
    page.card.open_customer(cid)
    shown = page.card._messages.value
    assert (
        len(shown) == 1
        and shown.iloc[0]["status"] == "Sent"  # in words, as the Messages page says it
        and shown.iloc[0]["subject"].startswith("Hi ")
    )


def _open_send(store, settings_path, **params):
    page = customers_page(store, user="ann", settings_path=str(settings_path))
    page.__panel__().get_root(Document())
    page.grid.table.selection = [0, 1]
    page.toolbar.param.trigger("send")
    d = page.send_dialog
    d.param.update(**params)
    return page, d


def test_send_is_off_while_the_channel_is_not_set_up(demo, tmp_path, smtp, monkeypatch):
    monkeypatch.delenv("CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN", raising=False)
    path = tmp_path / "settings.toml"  # no file: nothing set up
    page, d = _open_send(demo, path, channel="email", subject="Hi {name}", body="Hello")
    assert d._setup.visible and d._setup.object.startswith(
        "Email is not set up: no SMTP server, no From address"
    )
    assert "dry run needs no server" in d._setup.object and not d.can_send
    assert d._send_button.disabled
    d.param.trigger("preview")
    assert "First message, to" in d._first.object and d._setup.visible  # preview still works
    assert d.send_now() is None and "Email is not set up" in d.message
    assert demo.scalar("SELECT count(*) FROM messages") == 0
    d.dry_run = True
    assert d.can_send and d.send_now() is not None  # a dry run needs no server
    # said in words: not "Dry run: 2 dry run"
    assert re.match(r"Dry run: \d+ messages? recorded, nothing sent\.$", d.message), d.message
    d.dry_run = False
    d.channel = "sms"
    assert "SMS is not set up" in d._setup.object and not d.can_send
    d.channel = "email"
    path.write_text(f'[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\n'
                    f'port = {smtp[1]}\nsecurity = "none"\nrate = 500\n')  # fmt: skip
    d.param.trigger("preview")  # the settings are read again
    assert not d._setup.visible and d.can_send
    assert d.send_now() is not None and "Sent: 2 sent" in page.message


def test_send_asks_in_words_counted_by_the_plan_and_sends_nothing_before(store, tmp_path):
    from dashboard import add_customer

    for name, contacts in [
        ("Two Mobiles", [{"name": "A", "mobile": "+447831000001"},
                         {"name": "B", "mobile": "+447831000002"}]),
        ("One Mobile", [{"name": "C", "mobile": "+447831000003", "email": "c@x.example"}]),
        ("Stopped", [{"name": "D", "mobile": "+447831000004", "sms_opt_out": True}]),
        ("Nothing", []),
    ]:  # fmt: skip
        add_customer(store, {"name": name, "currency": "EUR"}, contacts)
    page = customers_page(store, settings_path=str(tmp_path / "none.toml"))
    page.__panel__().get_root(Document())
    page.selection.param.trigger("select_all")
    page.toolbar.param.trigger("send")
    d = page.send_dialog
    d.param.update(channel="sms", body="Hi {name}", dry_run=True)
    d.param.trigger("preview")
    assert d.message.startswith("3 SMS messages;"), d.message  # not "3 sms messages"
    d.param.trigger("send")
    assert d.asking and d.question == (
        "Record this SMS for 2 customers (3 mobile numbers) as a dry run? Nothing is sent. "
        "2 have no mobile number (or only opted-out ones) and will be skipped. "
        "1 contact opted out of SMS is left out.")  # fmt: skip
    assert d._confirm_button.label == "Record for 2 customers"
    assert store.scalar("SELECT count(*) FROM messages") == 0
    d.param.trigger("back")
    assert not d.asking and d._compose.visible
    d.param.update(channel="email", subject="Hi {name}")
    d.param.trigger("send")
    assert d.question == (
        "Record this email for 1 customer as a dry run? Nothing is sent. "
        "3 have no email address and will be skipped."
    )
    d.dry_run = False  # email is not set up: the button is off, and says why
    d.param.trigger("back")
    d.param.trigger("send")
    assert not d.asking and "Email is not set up" in d.message
    assert store.scalar("SELECT count(*) FROM messages") == 0


def test_send_preview_warns_how_many_sms_go_to_india(store, tmp_path):
    from dashboard import add_customer

    add_customer(store, {"name": "Delhi Telecom", "currency": "INR", "country": "IN"},
                 [{"name": "Ravi", "mobile": "+919812345678"},
                  {"name": "Asha", "mobile": "+917012345678"},
                  {"name": "Pat", "mobile": "+447831000001"}])  # fmt: skip
    add_customer(store, {"name": "Mumbai Voice", "currency": "INR", "country": "IN"},
                 [{"name": "Dev", "mobile": "+919822222222"}])  # fmt: skip
    _, d = _open_send(store, tmp_path / "none.toml", channel="sms", body="Hi {name}")
    assert not d._warnings.visible
    d.param.trigger("preview")
    assert d._warnings.visible and d._warnings.severity == "warning"
    assert d._warnings.object == ("3 SMS go to India: the carrier's documentation says there "
                                  "are some reports of issues with SMS being delivered to "
                                  "numbers in India.")  # fmt: skip
    d.channel = "email"
    assert not d._warnings.visible


def test_a_stopped_send_says_where_to_resume_and_the_messages_page_resumes_it(demo, tmp_path, smtp):
    import asyncio

    from tests.browser import free_port

    inbox, port = smtp
    path = tmp_path / "settings.toml"
    text = ('[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\nport = {}\n'
            'security = "none"\nrate = 500\n')  # fmt: skip
    path.write_text(text.format(free_port()))  # set up, but nothing answers there
    page, d = _open_send(demo, path, channel="email", subject="Hi {name}", body="Hello")
    d.param.trigger("send")  # the confirmation: "Send this email to 2 customers?"
    asyncio.run(d._send())
    assert d.is_open and d._alert.visible and "cannot reach the SMTP server" in d.message
    assert "Messages page (/messages)" in d.message and "send again" not in d.message
    batch_id = demo.scalar("SELECT any_value(batch_id) FROM messages")

    log = MessagesPage(store=demo, settings_path=str(path))
    log.__panel__().get_root(Document())
    assert log._open.objects[0].object == "Batches with messages left to send"
    row = log._open.objects[1]
    assert f"{batch_id}: 2 queued" in row.objects[0].object
    assert [b.label for b in row.objects[1:]] == ["Resume", "Discard"]
    assert row.objects[1].description.startswith(f"Resume batch {batch_id}: send its 2 messages")
    path.write_text(text.format(port))
    asyncio.run(log.resume_batch(batch_id))
    assert log.message == f"Batch {batch_id}: 2 sent." and len(inbox.messages) == 2
    assert log._open.objects == [] and set(log._table.value["status"]) == {"Sent"}
    asyncio.run(log.resume_batch(batch_id))
    assert "nothing left to send" in log.message and len(inbox.messages) == 2


def test_messages_page_discards_after_asking_and_viewers_only_read(demo, tmp_path):
    from dashboard.messaging import plan_send, queue

    batch_id = queue(demo, plan_send(demo, [1, 2, 3], "email", "Hi {name}", "Hi"))
    log = MessagesPage(store=demo, settings_path=str(tmp_path / "none.toml"))
    log.__panel__()
    discard_button = log._open.objects[1].objects[2]
    discard_button.clicks += 1
    assert log._confirm.visible and f"left in batch {batch_id}?" in log._confirm_text.object
    log.param.trigger("discard_no")
    assert not log._confirm.visible and demo.scalar(
        "SELECT count(*) FROM messages WHERE status = 'queued'") > 0  # fmt: skip
    discard_button.clicks += 1
    log.param.trigger("discard_yes")
    assert "discarded" in log.message and log._open.objects == []
    assert set(log._table.value["status"]) <= {"Discarded", "Skipped"}

    other = queue(demo, plan_send(demo, [4], "email", "Hi", "Hi"))
    viewer = MessagesPage(store=demo.acting_as("vic", "viewer"))
    viewer.__panel__()
    row = viewer._open.objects[1]
    assert other in row.objects[0].object and len(row.objects) == 1  # no Resume, no Discard
    import asyncio

    asyncio.run(viewer.resume_batch(other))
    assert "may not send messages" in viewer.message
    viewer.ask_discard(other, 1)
    viewer.param.trigger("discard_yes")
    assert "may not send messages" in viewer.message
    assert demo.scalar("SELECT count(*) FROM messages WHERE batch_id = ? AND status = 'queued'",
                       [other]) == 1  # fmt: skip


def test_messages_page_shows_a_page_of_words_and_names_newest_first(demo, tmp_path):
    from dashboard.messaging import discard, plan_send, queue
    from dashboard.ui.setup import LOG_TITLES, LOG_WIDTHS

    ids = demo.rows("SELECT id, name FROM customers ORDER BY id LIMIT 120")
    batch_id = queue(demo, plan_send(demo, [i for i, _ in ids], "email", "Hi {name}", "Hi"))
    log = MessagesPage(store=demo)
    log.__panel__()
    shown = log._table.value
    assert list(shown.columns) == list(LOG_TITLES) and len(shown) == 50
    assert log._table.titles == LOG_TITLES and sum(LOG_WIDTHS.values()) <= 1200
    assert log._count.object == "120 messages" and log._pager.count == 3
    assert shown.customer.iloc[0] == ids[-1][1] and shown.channel.iloc[0] == "Email"
    assert set(shown.status) <= {"Queued", "Skipped"}
    log.page = 3
    assert len(log._table.value) == 20 and log._table.value.customer.iloc[-1] == ids[0][1]
    log.status = "skipped"  # the filter goes back to the first page
    assert log.page == 1 and set(log._table.value.status) <= {"Skipped"}
    discard(demo, batch_id)
    log.param.update(status="all", batch_id=batch_id)
    assert set(log._table.value.status) <= {"Discarded", "Skipped"}
    assert log._batch.value == batch_id and batch_id in [v for v in log._batch.options.values()]


def test_send_closes_at_once_but_asks_before_losing_a_typed_message(demo):
    from dashboard.ui.send import SendDialog

    dialog = SendDialog(store=demo)
    dialog.__panel__().get_root(Document())
    dialog.open_for([1], 1)
    dialog._dialog.open = False  # Escape with nothing typed
    assert not dialog.is_open
    dialog.open_for([1], 1)
    dialog.body = "Your balance is {credit}"
    dialog._dialog.open = False  # Escape after typing
    assert dialog.is_open and dialog._guard.asking
    dialog._guard.param.trigger("keep_editing")
    assert dialog.is_open and not dialog._guard.asking
    dialog.param.trigger("cancel")
    assert dialog._guard.asking
    dialog._guard.param.trigger("discard")
    assert not dialog.is_open


def test_the_settings_show_a_port_without_a_thousands_separator(settings_file):
    """The SMTP port read "2,525": a port is a code, shown as typed."""
    import panel_material_ui as pmui
    from bokeh.document import Document

    page = SettingsPage(path=str(settings_file))
    page.__panel__().get_root(Document())
    ports = [w for w in page.__panel__().select(pmui.IntInput) if "port" in w.label.lower()]
    assert ports and all(w.format is not None for w in ports)
    model = ports[0].get_root(Document())
    assert model.data.format.format == "0"
