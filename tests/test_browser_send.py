"""The Send form in a real Chromium, to a real SMTP server on loopback."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller

from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    button,
    click_until,
    free_port,
    goto_ready,
    require_chromium,
    served,
    shot,
)
from tests.conftest import Inbox

pytestmark = pytest.mark.browser


def test_send_email_to_two_ticked_customers(tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\nport = {port}\n'
                        'security = "none"\nrate = 100\n')  # fmt: skip
    try:
        with (
            served(tmp_path / "c.duckdb", demo=60, extra=["--settings", str(settings)]) as url,
            sync_playwright() as p,
        ):
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1500, "height": 1000})
            goto_ready(pg, url)
            for i in range(2):
                pg.locator(".tabulator-row").nth(i).get_by_role("checkbox").check()
            pg.get_by_text("2 customers selected").wait_for()
            click_until(pg, button(pg, "Send").first,
                        pg.get_by_text("2 customers selected.", exact=False))  # fmt: skip
            pg.get_by_role("textbox", name=re.compile("^Subject")).fill("Your balance, {name}")
            pg.get_by_role("textbox", name=re.compile("^Message")).fill(
                "Balance: {credit} {currency}"
            )
            button(pg, "Preview").click()
            pg.get_by_text(re.compile("^First message, to")).wait_for()
            shot(pg, "browser-send-01-preview")
            pg.get_by_role("dialog").get_by_role("button", name=re.compile("^Send")).click()
            pg.get_by_text(re.compile(r"^Sent: 2 sent")).wait_for(timeout=20000)
            b.close()
    finally:
        smtp.stop()
    assert len(inbox.messages) == 2
    subjects = sorted(m["Subject"] for _, m in inbox.messages)
    assert all(s.startswith("Your balance, ") for s in subjects)
    assert len({tuple(r) for r, _ in inbox.messages}) == 2
