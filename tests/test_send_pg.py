"""No double send on PostgreSQL, where several processes (servers, the CLI) may deliver the
same batch: the delivery holds the batch's advisory lock, so a second deliverer is refused
and does not settle the first one's message in hand; each message reaches the (loopback,
aiosmtpd) SMTP server exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from dashboard import Store, add_customer
from dashboard.errors import UserError
from dashboard.messaging import (
    SmtpTransport,
    being_sent,
    counts,
    deliver,
    discard,
    message_log,
    plan_send,
    queue,
    resume,
    send_batches,
)
from dashboard.settings import Settings
from tests.browser import free_port
from tests.conftest import Inbox

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

ROOT = Path(__file__).resolve().parents[1]


class SlowInbox(Inbox):
    """Takes a while over each message, as a real relay does: two deliverers overlap."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.08)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp():
    inbox = SlowInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _people(store, n):
    return [add_customer(store, {"name": f"P{i}", "currency": "EUR"},
                         [{"email": f"p{i}@p{i}.example"}]).ids[0]
            for i in range(n)]  # fmt: skip


def _settings_file(tmp_path, port) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f'[email]\nfrom = "noc@carrier.example"\nhost = "127.0.0.1"\n'
                    f'port = {port}\nsecurity = "none"\nrate = 1000\n')  # fmt: skip
    return path


def test_two_processes_resuming_one_batch_deliver_each_message_once(store, slow_smtp, tmp_path):
    inbox, port = slow_smtp
    n = 24
    batch_id = queue(store, plan_send(store, _people(store, n), "email", "Hi {name}", "Hi"))
    settings = _settings_file(tmp_path, port)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "dashboard.cli", "send", "--resume", batch_id,
               "--settings", str(settings), "--db", store._url, "--json"]  # fmt: skip
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]  # fmt: skip
    done = [p.communicate(timeout=180) + (p.returncode,) for p in procs]

    delivered = Counter(rcpt for rcpts, _ in inbox.messages for rcpt in rcpts)
    assert len(delivered) == n and set(delivered.values()) == {1}, delivered
    assert counts(store, batch_id)["sent"] == n
    assert set(message_log(store, batch_id=batch_id).status) == {"sent"}  # none "unconfirmed"
    # one process sent the batch; the other was refused while it ran (or, had it come after,
    # found nothing left), saying so in words, never with a traceback
    winners = [out for out, _err, code in done if code == 0]
    assert len(winners) == 1, done
    assert json.loads(winners[0])["counts"]["sent"] == n
    (loser,) = [err for _out, err, code in done if code != 0]
    assert "Traceback" not in loser
    assert "being sent right now by another process" in loser or "nothing left" in loser


def test_another_process_sees_the_batch_being_sent_and_leaves_its_message_in_hand(
    store, slow_smtp, tmp_path
):
    inbox, port = slow_smtp
    batch_id = queue(store, plan_send(store, _people(store, 4), "email", "Hi {name}", "Hi"))
    s = Settings.load(tmp_path / "s.toml")
    s.update({"email": {"from": "billing@carrier.example", "host": "127.0.0.1", "port": port,
                        "security": "none", "rate": 1000}})  # fmt: skip
    handing, go_on = threading.Event(), threading.Event()

    class Slow(SmtpTransport):
        def send(self, m):
            handing.set()
            go_on.wait(10)  # the first message is in hand while the other process acts
            return super().send(m)

    worker = threading.Thread(target=deliver, args=(store, batch_id, s),
                              kwargs={"transport": Slow(s)})  # fmt: skip
    worker.start()
    try:
        assert handing.wait(10)
        with Store(store._url, user="other") as other:  # what another server process opens
            assert being_sent(other, batch_id)
            assert send_batches(other, open_only=True).being_sent.tolist() == [True]
            with pytest.raises(UserError, match="being sent right now by another process"):
                resume(other, batch_id, s)
            with pytest.raises(UserError, match="being sent right now"):
                deliver(other, batch_id, s)
            # the message in hand is neither settled as interrupted nor discarded
            assert discard(other, batch_id)["discarded"] == 3
            assert counts(other, batch_id)["sending"] == 1
    finally:
        go_on.set()
        worker.join(10)
    assert counts(store, batch_id)["sent"] == 1 and len(inbox.messages) == 1
    assert not being_sent(store, batch_id)
    with Store(store._url) as other:  # let go of: the next delivery may take it
        assert not being_sent(other, batch_id)
