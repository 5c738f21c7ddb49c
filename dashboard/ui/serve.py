"""`customer-dashboard serve`: the dashboard on Panel's server, owning the database file."""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from pathlib import Path

import panel as pn

from ..demo import add_demo_customers
from ..importer import MAX_BYTES
from ..snapshot import Publisher
from ..store import Store, default_db_path, server_file
from .app import EXTENSIONS, guide_app, messages_app, session_app, settings_app


def serve(args) -> int:
    path = Path(args.db or default_db_path())
    fresh = not path.exists()
    store = Store(path, user="server")
    if fresh and args.demo:
        n = add_demo_customers(store, args.demo)
        print(f"created {path} with {n} demo customers", flush=True)
    url = f"http://{args.address}:{args.port}"
    marker = server_file(path)
    marker.write_text(json.dumps({"pid": os.getpid(), "url": url}))

    # notebooks and the CLI read this copy while the server owns the file
    publisher = Publisher(store).start()

    def cleanup(*_):
        marker.unlink(missing_ok=True)
        publisher.stop()
        store.close()

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pn.extension(*EXTENSIONS)
    origins = [f"{args.address}:{args.port}", f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
    print(f"serving {path} at {url}", flush=True)
    pn.serve(
        {
            "/": lambda: session_app(store, settings_path=args.settings),
            "/guide": guide_app,
            "/settings": lambda: settings_app(args.settings),
            "/messages": lambda: messages_app(store),
        },
        port=args.port,
        address=args.address,
        show=args.show,
        title="Customers",
        websocket_origin=sorted(set(origins)),
        # uploads travel base64-encoded over the websocket; the importer enforces MAX_BYTES itself
        websocket_max_message_size=int(MAX_BYTES * 1.5),
        threaded=False,
    )
    return 0
