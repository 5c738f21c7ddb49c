"""`customer-dashboard serve` owns its database: with its API off (--no-api), other
processes' writes are refused clearly (with it on, they go through it: test_cli_served)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from dashboard.store import server_file
from tests.browser import served


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_serve_creates_demo_data_and_refuses_other_writers(tmp_path):
    db = tmp_path / "served.duckdb"
    with served(db, demo=120, extra=["--no-api"]) as url:
        page = urllib.request.urlopen(url + "/", timeout=30).read().decode()
        assert "<title>Customers</title>" in page
        info = json.loads(server_file(db).read_text())
        assert info["url"].endswith(url.rsplit(":", 1)[1])
        r = cli("edit", "--db", str(db), "--set", "channels=5", "--ids", "1")
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr
        assert f"pid {info['pid']}" in lines[0] and info["url"] in lines[0]
        guide = urllib.request.urlopen(url + "/guide", timeout=30).read().decode()
        assert "<title>" in guide
    assert not server_file(db).exists()  # the server cleans up after itself
    r = cli("edit", "--db", str(db), "--set", "channels=5", "--ids", "1")
    assert r.returncode == 0, r.stderr
