"""Send at volume: 10,000 emails to a loopback SMTP server (aiosmtpd) and the SMS path's
throughput against its configured rate (the real twilio client, a local Twilio-like API).

    python benchmarks/send.py [--emails 10000] [--sms 200] [--sms-rate 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller  # noqa: E402

from dashboard import Store  # noqa: E402
from dashboard.messaging import SmtpTransport, deliver, plan_send, queue  # noqa: E402
from dashboard.settings import Settings  # noqa: E402
from tests.browser import free_port  # noqa: E402
from tests.conftest import Inbox  # noqa: E402
from tests.test_send import SID, FakeTwilio  # noqa: E402


def customers(store: Store, n: int, channel: str) -> list[int]:
    contact = "email" if channel == "email" else "mobile"
    store.execute_write(
        "INSERT INTO customers (name, name_key, status, currency, created_at, updated_at) "
        "SELECT 'C' || i, 'c' || i, 'Active', 'EUR', now()::TIMESTAMP, now()::TIMESTAMP FROM range(?) t(i)",
        [n],
    )
    value = "'c' || c.id || '@bench' || c.id || '.example'" if contact == "email" else \
        "'+44783' || lpad((1000000 + c.id)::VARCHAR, 7, '0')"  # fmt: skip
    store.execute_write(
        f"INSERT INTO contacts (customer_id, position, {contact}, sms_opt_out, email_opt_out) "
        f"SELECT c.id, 0, {value}, false, false FROM customers c"
    )
    return [r[0] for r in store.rows("SELECT id FROM customers ORDER BY id")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=10_000)
    ap.add_argument("--sms", type=int, default=200)
    ap.add_argument("--sms-rate", type=float, default=50)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())

    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    settings = Settings.load(tmp / "s.toml")
    settings.update({"email": {"from": "noc@carrier.example", "host": "127.0.0.1", "port": port,
                               "security": "none", "rate": 100_000}})  # fmt: skip
    connections = {"n": 0}

    class Counting(SmtpTransport):
        def _connect(self):
            connections["n"] += 1
            return super()._connect()

    with Store(":memory:") as store:
        ids = customers(store, args.emails, "email")
        t = time.perf_counter()
        batch = queue(
            store,
            plan_send(store, ids, "email", "Dear {name}, your balance is {credit}.", "Balance"),
        )
        queued = time.perf_counter() - t
        t = time.perf_counter()
        result = deliver(store, batch, settings, transport=Counting(settings))
        took = time.perf_counter() - t
    smtp.stop()
    print(f"{args.emails:,} emails: planned and logged in {queued:.1f} s; delivered in {took:.1f} s "
          f"= {result['sent'] / took:,.0f} messages/s over {connections['n']} SMTP connection(s); "
          f"server received {len(inbox.messages):,}")  # fmt: skip

    FakeTwilio.script, FakeTwilio.received = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeTwilio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import os

    os.environ["CUSTOMER_DASHBOARD_TWILIO_AUTH_TOKEN"] = "bench"
    settings.update({"sms": {"from": "+15005550006", "account_sid": SID, "rate": args.sms_rate,
                             "api_url": f"http://127.0.0.1:{server.server_port}"}})  # fmt: skip
    with Store(":memory:") as store:
        ids = customers(store, args.sms, "sms")
        batch = queue(store, plan_send(store, ids, "sms", "Hi {name}"))
        t = time.perf_counter()
        result = deliver(store, batch, settings)
        took = time.perf_counter() - t
    server.shutdown()
    print(f"{args.sms:,} SMS at a configured rate of {args.sms_rate:g}/s: {result['sent']:,} sent in "
          f"{took:.1f} s = {result['sent'] / took:.1f}/s")  # fmt: skip


if __name__ == "__main__":
    main()
