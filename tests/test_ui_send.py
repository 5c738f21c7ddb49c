"""Send, Setup > Settings and Messages in the page, without a browser (real SMTP server)."""

from __future__ import annotations

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
    assert "email message(s)" in d.message and "First message, to" in d._first.object
    batch_id = d.send_now()
    n = demo.scalar(
        "SELECT count(*) FROM messages WHERE batch_id = ? AND status = 'sent'", [batch_id]
    )
    assert n == len(inbox.messages) > 0 and "Sent:" in page.message
    log = MessagesPage(store=demo, batch_id=batch_id)
    assert set(log._table.value["status"]) <= {"sent", "skipped"}


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
        and shown.iloc[0]["status"] == "sent"
        and shown.iloc[0]["subject"].startswith("Hi ")
    )
