"""The SQL box's worker process: runs queries on the sandbox's copy of the customer tables.

`dashboard.sqlbox` starts it as a script (`python -I sqlbox_worker.py SETTINGS`), so it
imports nothing of the dashboard and holds nothing of the server: not its memory, not its
database, not its files. Its address space is capped before DuckDB loads (so a query that
builds huge values meets a clean out-of-memory error instead of taking the server's
memory), and the server kills it when a query runs too long.

Protocol, over stdin/stdout as multiprocessing Connection messages: the server sends JSON
requests ({"op": "describe" | "stream", "sql", "params", "size"}); the worker answers with
messages whose first byte says what follows: R ready, J JSON, S an Arrow schema, B an Arrow
record batch, D done, E an error as JSON. Only bytes cross (never pickles), and the server
checks every batch it reads.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    """Open the copy named in the settings (JSON) and answer requests until stdin closes."""
    settings = json.loads(argv[0])
    # the protocol gets fds of its own; anything printed goes to stderr, never into it
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    if settings.get("address_space"):
        import resource

        cap = int(settings["address_space"])
        try:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        except (ValueError, OSError):  # a system that will not lower it: DuckDB's limit only
            pass

    from multiprocessing.connection import Connection

    import duckdb

    requests = Connection(proto_in, writable=False)
    answers = Connection(proto_out, readable=False)
    con = duckdb.connect(settings["path"], read_only=True, config=settings["config"])
    answers.send_bytes(b"R")
    while True:
        try:
            request = json.loads(requests.recv_bytes())
        except EOFError:
            return
        cur = con.cursor()
        try:
            _answer(cur, request, answers)
        except BaseException as exc:  # noqa: BLE001 - every failure is an answer
            error = {"kind": type(exc).__name__, "message": str(exc)}
            answers.send_bytes(b"E" + json.dumps(error).encode())
        finally:
            cur.close()


def _answer(cur, request: dict, answers) -> None:
    rel = cur.sql(request["sql"], params=request.get("params") or None)
    if request["op"] == "describe":
        described = {"names": list(rel.columns), "types": [t.id for t in rel.types]}
        answers.send_bytes(b"J" + json.dumps(described).encode())
        return
    if rel is None:  # a statement, not a query (only if the server's check let one by)
        answers.send_bytes(b"D")
        return
    reader = rel.to_arrow_reader(int(request["size"]))
    answers.send_bytes(b"S" + reader.schema.serialize().to_pybytes())
    for batch in reader:
        answers.send_bytes(b"B" + batch.serialize().to_pybytes())
    answers.send_bytes(b"D")


if __name__ == "__main__":
    main(sys.argv[1:])
