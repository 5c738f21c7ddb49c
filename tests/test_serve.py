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


def test_the_page_and_its_scripts_travel_compressed(tmp_path):
    """~7 MB of scripts uncompressed: a page across a slow link waited seconds for them."""
    import gzip
    import re
    from urllib.parse import quote

    with served(tmp_path / "z.duckdb", demo=20, extra=["--no-api"]) as url:

        def get(path: str) -> tuple[bytes, str | None]:
            req = urllib.request.Request(url + path, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read(), r.headers.get("Content-Encoding")

        body, encoding = get("/")
        assert encoding == "gzip"
        html = gzip.decompress(body).decode()
        scripts = re.findall(r'<script[^>]+src="([^"]+\.js[^"?]*)', html)
        assert scripts  # the page names its scripts; each comes gzipped and smaller
        for src in scripts:
            body, encoding = get("/" + quote(src.lstrip("/"), safe="/@"))
            assert encoding == "gzip", src
            assert len(body) < len(gzip.decompress(body)), src
