"""The notebooks as an analyst sees them: JupyterLab in Chromium, with no internet.

One JupyterLab for the module, on loopback, with its own config and runtime folders. Every
request the browser makes outside 127.0.0.1 is blocked by the test and fails it (Panel used
to load BokehJS from a CDN: nothing rendered behind a proxy). Each notebook in notebooks/ is
opened and run; every Panel or Bokeh output must show its grid rows, page or chart, and no
cell may raise or log a page error. nbmake runs the same notebooks without a browser, so it
cannot see any of this.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOKEN = "notebook-test-token"
#: Mime type of a Panel output (a Bokeh document bound to the kernel).
EXEC_MIME = "application/vnd.holoviews_exec.v0+json"

FRESH = [
    """import dashboard
from dashboard import Store, View, add_demo_customers, run

dashboard.notebook()
store = Store(":memory:")
add_demo_customers(store, 500, seed=3)""",
    "dashboard.show(store)",
    "dashboard.notebook()  # again: must not reload anything\n"
    'dashboard.show(store, View(status="Active", columns=["name", "status", "credit"]))',
    'dashboard.grid(store, View(groups=["country"], pivot="status"))',
    'pivot = View(groups=["status"], pivot="currency")\n'
    'dashboard.chart(run(store, pivot), pivot, "stacked")',
]


@pytest.fixture(scope="module")
def lab():
    """A JupyterLab on loopback over a copy of the notebooks (and a fresh notebook); yields
    (base URL, folder)."""
    require_chromium()
    tmp = Path(tempfile.mkdtemp(prefix="lab-"))
    work = tmp / "root"
    (work / "notebooks").mkdir(parents=True)
    for path in NOTEBOOKS:
        shutil.copy(path, work / "notebooks" / path.name)
    fresh = new_notebook(cells=[new_code_cell(src) for src in FRESH])
    fresh.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}  # fmt: skip
    nbformat.write(fresh, work / "fresh.ipynb")
    port = free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_DATA_DIR=str(tmp / "data"),
               IPYTHONDIR=str(tmp / "ipython"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))  # fmt: skip
    log = (tmp / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "lab.log").read_text())
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not start in 90 s"
                time.sleep(0.5)
        yield url, work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Offline:
    """A Chromium page that may reach only 127.0.0.1; remembers what it was refused and
    the errors the page logged."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1500, "height": 1000})
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, message) -> None:
        text = message.text
        if message.type == "error" or "Panel: ERROR" in text or "loaded multiple times" in text:
            self.errors.append(text)


def run_all(page, url: str, name: str) -> list[dict]:
    """Open `name` in JupyterLab, run all its cells, wait until the kernel is done; return
    each code cell's outputs (as saved in a notebook)."""
    page.goto(f"{url}/lab/tree/{name}?token={TOKEN}&reset")
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session
                             && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""",
        timeout=90_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const cells = w.content.widgets.filter(c => c.model.type === 'code');
                   return w.sessionContext.session.kernel.status === 'idle'
                       && cells.every(c => c.model.executionCount !== null); }""",
        timeout=300_000,
    )
    return page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets
                 .filter(c => c.model.type === 'code')
                 .map(c => c.model.outputs.toJSON())"""
    )


def check_rendered(session: Offline, outputs: list[dict], name: str) -> int:
    """Every Panel output shows grid rows or a chart; returns how many there were."""
    page = session.page
    errors = [f"{o['ename']}: {o['evalue']}" for out in outputs for o in out
              if o["output_type"] == "error"]  # fmt: skip
    assert not errors, f"{name}: a cell raised: {errors}"
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    shown = 0
    for i, out in enumerate(outputs):
        # a cell's value (Panel's own set-up outputs are display_data without rows)
        if not any(o["output_type"] == "execute_result" and EXEC_MIME in o.get("data", {})
                   for o in out):  # fmt: skip
            continue
        shown += 1
        area = cells.nth(i).locator(".jp-OutputArea")
        area.scroll_into_view_if_needed()
        content = area.locator(".tabulator-row, .bk-Canvas canvas, canvas")
        deadline = time.monotonic() + 45
        while content.count() == 0:
            if time.monotonic() > deadline:
                shot(page, f"jupyterlab-{Path(name).stem}-cell{i}")
                raise AssertionError(f"{name}: output of code cell {i} shows nothing")
            page.wait_for_timeout(250)
        # laid out on first render: no grid column wider than the output itself
        width = area.bounding_box()["width"]
        for box in [c.bounding_box() for c in area.locator(".tabulator-col").all()[:12]]:
            assert box is None or box["width"] < width, f"{name}: cell {i} collapsed"
    return shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_renders_its_outputs_offline(lab, browser, path):
    url, _ = lab
    session = Offline(browser)
    try:
        name = f"notebooks/{path.name}"
        outputs = run_all(session.page, url, name)
        shown = check_rendered(session, outputs, name)
        shot(session.page, f"jupyterlab-{path.stem}")
        source = path.read_text()
        assert shown >= source.count("dashboard.grid(") + source.count("dashboard.chart(")
        assert not session.blocked, f"requests outside 127.0.0.1: {session.blocked}"
        assert not session.errors, f"page errors: {session.errors}"
    finally:
        session.page.close()


def test_show_twice_then_grid_and_chart_in_a_fresh_notebook(lab, browser):
    url, work = lab
    session = Offline(browser)
    try:
        outputs = run_all(session.page, url, "fresh.ipynb")
        assert check_rendered(session, outputs, "fresh.ipynb") == 4
        page = session.page
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        shot(page, "jupyterlab-fresh")
        # the Active select shows the view's status, and icons are drawn by their font
        second = cells.nth(2).locator(".jp-OutputArea")
        assert second.get_by_text("Active", exact=True).count() >= 1
        icon = second.locator(".material-icons, .material-icons-outlined").first
        icon.wait_for(timeout=15_000)
        family = icon.evaluate("e => getComputedStyle(e).fontFamily")
        loaded = page.evaluate(f"() => document.fonts.check('24px {family.split(',')[0]}')")
        assert loaded, f"icon font {family} not loaded"
        # the setup ran once: the second dashboard.notebook() published nothing
        setup_outputs = [o for o in outputs[0] if o["output_type"] == "display_data"]
        assert not [o for o in outputs[2] if "application/javascript" in o.get("data", {})]
        assert setup_outputs, "dashboard.notebook() loaded nothing"
        # outputs stay small: Material UI's bundle comes from the Jupyter server once
        sizes = [len(json.dumps(out)) for out in outputs[1:]]
        assert max(sizes) < 2_000_000, f"output sizes {sizes}"
        assert not session.blocked, f"requests outside 127.0.0.1: {session.blocked}"
        assert not session.errors, f"page errors: {session.errors}"
    finally:
        session.page.close()
