"""A throw-away PostgreSQL server for the tests (Debian's postgresql 15 package).

`Server.start()` runs `initdb` into a temp folder and `pg_ctl start` on a free loopback port
(fsync off: nothing here must survive a crash). Postgres refuses to run as root, so as root
both run as the `postgres` user through `runuser`, in a folder that user can reach. The
folder holds `owner.pid` (the pytest process): a later run stops and removes servers whose
owner is gone (a run killed before its session ended).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")  # fmt: skip
ROOT = Path(tempfile.gettempdir()) / "customer-dashboard-pg-tests"


def bin_dir() -> Path | None:
    """Where pg_ctl and initdb are, or None (no Postgres on this machine)."""
    for d in BIN_DIRS:
        if (Path(d) / "pg_ctl").exists():
            return Path(d)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(bin_path: Path) -> None:
    """Stop and remove the servers of earlier runs whose pytest process is gone."""
    if not ROOT.exists():
        return
    for folder in ROOT.iterdir():
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = 0
        if owner and _alive(owner):
            continue
        if (folder / "data" / "postmaster.pid").exists():
            subprocess.run(_as_postgres([str(bin_path / "pg_ctl"), "stop", "-D",
                                         str(folder / "data"), "-m", "immediate"]),
                           capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


class Server:
    """One throw-away Postgres cluster; `url(db)` names a database on it."""

    def __init__(self, bin_path: Path):
        self.bin = bin_path
        ROOT.mkdir(mode=0o755, exist_ok=True)
        ROOT.chmod(0o755)  # the postgres user must reach its data folder inside
        self.folder = Path(tempfile.mkdtemp(prefix="pg-", dir=ROOT))
        self.folder.chmod(0o755)
        (self.folder / "owner.pid").write_text(str(os.getpid()))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.started = False

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        done = subprocess.run(_as_postgres(list(cmd)), capture_output=True, text=True,
                              timeout=timeout, cwd=self.folder)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> Server:
        """initdb and start the server; returns self."""
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.folder} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200 -c shared_buffers=64MB")  # fmt: skip
        self._run(str(self.bin / "pg_ctl"), "start", "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.folder / "server.log"), "-o", options)  # fmt: skip
        self.started = True
        return self

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def admin(self, sql: str) -> None:
        """One statement on the maintenance database (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        """Stop the server (fast) and remove its folder."""
        if self.started:
            with contextlib.suppress(Exception):
                self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast",
                          "-w", "-t", "30")  # fmt: skip
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_gone(pid: int, timeout: float = 10) -> bool:
    """Whether process `pid` ended within `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False
