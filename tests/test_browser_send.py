"""The Send form in a real Chromium, to a real SMTP server on loopback."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.browser import (
    button,
    chromium,
    click_until,
    free_port,
    open_page,
    require_chromium,
    served,
    shot,
)
from tests.conftest import Inbox

pytestmark = pytest.mark.browser


class Mail:
    """A mail server on loopback (aiosmtpd, keeping what it gets in `inbox`), the settings
    file that names it, and the dashboard served with those settings."""

    def __init__(self, tmp_path: Path):
        self.inbox, self.port = Inbox(), free_port()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.settings = tmp_path / "settings.toml"  # none until `set_up`: nothing set up

    def set_up(self) -> None:
        """Write the settings: email from noc@carrier.example through this server."""
        self.settings.write_text(
            f'[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\nport = {self.port}\n'
            'security = "none"\nrate = 100\n'
        )  # fmt: skip

    def start(self) -> None:
        """Set up and start the server (until then its port refuses connections)."""
        self.set_up()
        self.smtp.start()

    @contextlib.contextmanager
    def page(self, db: Path, *, demo: int = 60, size=(1280, 720)):
        """The dashboard on `db` (with `demo` demo customers) served with these settings,
        and a ready Chromium page of `size` on it; yields (url, page)."""
        with (
            served(db, demo=demo, extra=["--settings", str(self.settings)]) as url,
            chromium() as browser,
        ):
            yield url, open_page(browser, url, size)


@pytest.fixture
def mail(tmp_path):
    """A `Mail` on a port of its own, stopped after the test (if it was started)."""
    require_chromium()
    mail = Mail(tmp_path)
    yield mail
    if mail.smtp.loop.is_running():
        mail.smtp.stop()


def test_send_email_to_two_ticked_customers(tmp_path, mail):
    mail.start()
    with mail.page(tmp_path / "c.duckdb", size=(1500, 1000)) as (_url, pg):
        for i in range(2):
            pg.locator(".tabulator-row").nth(i).get_by_role("checkbox").check()
        pg.get_by_text("2 customers selected").wait_for()
        click_until(pg, button(pg, "Send").first,
                    pg.get_by_text("2 customers selected.", exact=False))  # fmt: skip
        pg.get_by_role("textbox", name=re.compile("^Subject")).fill("Your balance, {name}")
        pg.get_by_role("textbox", name=re.compile("^Message")).fill("Balance: {credit}")
        button(pg, "Preview").click()
        pg.get_by_text(re.compile("^First message, to")).wait_for()
        shot(pg, "browser-send-01-preview")
        button(pg.get_by_role("dialog"), "Send…").click()
        button(pg.get_by_role("dialog"), "Send to 2 customers").click()
        pg.get_by_text(re.compile(r"^Sent: 2 sent")).first.wait_for(timeout=20000)
        pg.keyboard.press("Escape")
        pg.get_by_role("dialog").wait_for(state="hidden")
        # the customer's card lists the message, its status in words
        pg.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.click()
        card = pg.get_by_role("dialog")
        card.get_by_role("tab", name="Messages").click()
        log = card.locator('.tabulator-row .tabulator-cell[tabulator-field="status"]')
        log.first.wait_for()
        assert log.first.inner_text() == "Sent"
    inbox = mail.inbox
    assert len(inbox.messages) == 2
    subjects = sorted(m["Subject"] for _, m in inbox.messages)
    assert all(s.startswith("Your balance, ") for s in subjects)
    assert len({tuple(r) for r, _ in inbox.messages}) == 2


def _headers_fit(pg, width: int) -> None:
    """Every column of the log is on screen: none starts or ends past the window's edge."""
    edges = pg.eval_on_selector_all(
        ".tabulator-col[tabulator-field]",
        "cols => cols.map(c => [c.getAttribute('tabulator-field'), "
        "c.getBoundingClientRect().right])",
    )
    edges = [(field, right) for field, right in edges if field != "_index"]  # hidden
    assert len(edges) == 8 and all(right <= width for _, right in edges), edges


def test_send_not_set_up_then_stopped_then_resumed_from_the_messages_page(tmp_path, mail):
    from playwright.sync_api import expect

    # no settings file yet: nothing is set up; the mail server comes up later
    with mail.page(tmp_path / "c.duckdb") as (url, pg):
        for i in range(2):
            pg.locator(".tabulator-row").nth(i).get_by_role("checkbox").check()
        pg.get_by_text("2 customers selected").wait_for()
        click_until(pg, button(pg, "Send").first,
                    pg.get_by_text("2 customers selected.", exact=False))  # fmt: skip
        dialog = pg.get_by_role("dialog")
        dialog.get_by_text(re.compile(
            "^Email is not set up: no SMTP server, no From address")).wait_for()  # fmt: skip
        send = button(dialog, "Send…")
        expect(send).to_be_disabled()
        shot(pg, "browser-send-02-not-set-up-1280")

        # set up, but the server is down: the send stops and says where to resume
        mail.set_up()
        pg.get_by_role("textbox", name=re.compile("^Subject")).fill("Your balance, {name}")
        pg.get_by_role("textbox", name=re.compile("^Message")).fill("Balance: {credit}")
        button(pg, "Preview").click()
        expect(dialog.get_by_text(re.compile("^Email is not set up"))).to_be_hidden()
        expect(send).to_be_enabled()
        send.click()
        send = button(dialog, "Send to 2 customers")  # the confirmation's
        send.click()
        stopped = dialog.get_by_text(re.compile("cannot reach the SMTP server"))
        stopped.wait_for(timeout=20000)
        said = stopped.inner_text()
        assert f"cannot reach the SMTP server 127.0.0.1:{mail.port}" in said  # what failed
        assert "Messages page (/messages)" in said and "send again" not in said
        # the message in place of the progress, not under an empty bar left behind
        expect(dialog.get_by_role("progressbar")).to_have_count(0)
        expect(send).to_be_disabled()  # another click would queue the same messages again
        shot(pg, "browser-send-03-stopped-1280")

        mail.smtp.start()
        pg.goto(url + "/messages")
        pg.get_by_text("Batches with messages left to send").wait_for(timeout=20000)
        pg.get_by_text(re.compile(r"· b-[0-9a-f]{12}: 2 queued$")).wait_for()
        pg.locator(".tabulator-row").first.wait_for()
        pg.wait_for_timeout(1000)  # the page's loading veil fades
        _headers_fit(pg, 1280)
        shot(pg, "browser-messages-01-left-1280")
        button(pg, "Resume").click()
        pg.get_by_text(re.compile(r"^Batch b-[0-9a-f]{12}: 2 sent\.$")).wait_for(timeout=30000)
        expect(pg.get_by_text("Batches with messages left to send")).to_be_hidden()
        expect(pg.locator('.tabulator-cell[tabulator-field="status"]').first).to_have_text("Sent")
        shot(pg, "browser-messages-02-resumed-1280")
        pg.set_viewport_size({"width": 1440, "height": 900})
        pg.wait_for_timeout(500)
        shot(pg, "browser-messages-03-1440")
        pg.set_viewport_size({"width": 390, "height": 844})
        pg.wait_for_timeout(500)
        shot(pg, "browser-messages-04-390")
    inbox = mail.inbox
    assert len(inbox.messages) == 2 and len({tuple(r) for r, _ in inbox.messages}) == 2


def test_send_asks_in_words_before_anything_goes_out(tmp_path, mail):
    """Send went out at once: now a confirmation says to how many customers and who is
    skipped (counted by the plan the send uses), its button named by the action; Back and
    Cancel (and Escape) send nothing, the button sends."""
    from playwright.sync_api import expect

    from dashboard import add_customer
    from dashboard.store import Store

    db = tmp_path / "c.duckdb"
    with Store(db) as store:
        for i in range(3):
            add_customer(store, {"name": f"Mailable {i}", "currency": "EUR"},
                         [{"name": "Ops", "email": f"ops{i}@mailable.example"}])  # fmt: skip
        add_customer(store, {"name": "Phone Only", "currency": "EUR"},
                     [{"name": "Ops", "mobile": "+447831000001"}])  # fmt: skip
        add_customer(store, {"name": "Nobody Home", "currency": "EUR"})
    mail.start()
    question = "Send this email to 3 customers? 2 have no email address and will be skipped."
    with mail.page(db, demo=0) as (_url, pg):
        for i in range(5):
            pg.locator(".tabulator-row").nth(i).get_by_role("checkbox").check()
        pg.get_by_text("5 customers selected").wait_for()
        dialog = pg.get_by_role("dialog")

        def ask() -> None:
            click_until(pg, button(pg, "Send").first,
                        pg.get_by_text("5 customers selected.", exact=False))  # fmt: skip
            pg.get_by_role("textbox", name=re.compile("^Subject")).fill("Your balance, {name}")
            pg.get_by_role("textbox", name=re.compile("^Message")).fill("Balance: {credit}")
            button(dialog, "Send…").click()
            dialog.get_by_text(question).wait_for()

        ask()
        send = button(dialog, "Send to 3 customers")
        expect(send).to_be_focused()  # Enter confirms; Tab reaches Cancel and Back
        expect(button(dialog, "Back")).to_be_visible()
        expect(button(dialog, "Cancel")).to_be_visible()
        shot(pg, "browser-send-04-confirm-1280")
        pg.set_viewport_size({"width": 390, "height": 844})
        pg.wait_for_timeout(500)
        expect(send).to_be_in_viewport(ratio=1)  # whole, not cut at the dialog's edge
        shot(pg, "browser-send-05-confirm-390")
        pg.set_viewport_size({"width": 1280, "height": 720})
        # Back: the message as written, nothing sent
        button(dialog, "Back").click()
        expect(pg.get_by_role("textbox", name=re.compile("^Message"))).to_have_value(
            "Balance: {credit}")  # fmt: skip
        expect(button(dialog, "Send…")).to_be_focused()
        # Cancel sends nothing (and asks first, as every close of a typed message does)
        button(dialog, "Send…").click()
        dialog.get_by_text(question).wait_for()
        button(dialog, "Cancel").click()
        dialog.get_by_text("Your message is not sent; close anyway?").wait_for()
        button(dialog, "Discard changes").click()
        dialog.wait_for(state="hidden")
        # Escape closes the confirmation too (the same message again: nothing to ask),
        # pressed once the focus is in it (on the body, no dialog hears a key)
        ask()
        expect(send).to_be_focused()
        pg.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
        pg.wait_for_timeout(1000)
        assert mail.inbox.messages == []
        # confirmed with Enter on the focused button: sent
        ask()
        expect(send).to_be_focused()
        pg.keyboard.press("Enter")
        pg.get_by_text(re.compile(r"^Sent: 3 sent")).first.wait_for(timeout=20000)
    assert sorted(r for rs, _ in mail.inbox.messages for r in rs) == [
        f"ops{i}@mailable.example" for i in range(3)]  # fmt: skip
