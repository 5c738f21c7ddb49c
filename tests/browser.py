"""Helpers for browser tests: a real server subprocess and Debian's Chromium via Playwright."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[1] / "screenshots"))

#: Counts Tabulator's full redraws (every row laid out again) from the page's first script on.
COUNT_REDRAWS = """
window.cdRedraws = 0;
let cls;
Object.defineProperty(window, "Tabulator", {configurable: true, get() { return cls; }, set(v) {
  cls = v;
  const redraw = v.prototype.redraw;
  v.prototype.redraw = function (...args) { window.cdRedraws++; return redraw.apply(this, args); };
}});
"""


def require_chromium() -> None:
    """Skip (saying why) where no Chromium can be had; under CI a missing browser fails."""
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    reason = f"no Chromium at {CHROMIUM}: install Debian's package with `apt-get install chromium`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI must run the browser tests)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_Stay)


@contextlib.contextmanager
def served(
    db: Path | str,
    *,
    demo: int = 300,
    poll_ms: int | None = None,
    extra: list[str] | None = None,
    log: Path | None = None,
):
    """Run `customer-dashboard serve` as a subprocess; yields its base URL. The server's
    log goes to `log`, by default beside the database file (a Postgres URL needs `log`)."""
    port = free_port()
    env = dict(os.environ)
    if poll_ms:
        env["CUSTOMER_DASHBOARD_POLL_MS"] = str(poll_ms)
    log_path = log or Path(str(db) + ".server.log")
    log = log_path.open("w")
    _LOGS[log_path] = 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "serve", "--db", str(db), "--port", str(port),
         "--demo", str(demo), *(extra or [])],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()}")
            try:
                # no redirects followed: a signed-in server answers 302 (to its login page or
                # an OAuth provider, which must not be contacted), and that means it is up
                _NO_REDIRECTS.open(url + "/guide", timeout=2).read()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("server did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        _LOGS.pop(log_path, None)
        text = log_path.read_text()
        if "Traceback" in text:  # a server-side error shows in the test output, not only the UI
            print(f"--- server log ({log_path}) ---\n{text[-6000:]}")


def shot(page, name: str) -> Path:
    """Save a screenshot of the page's current state for people to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# --- driving the page -----------------------------------------------------------


def button(pg, text: str):
    """A button by its visible text, found through its accessible name, which must start
    with that text ("Refresh", "Refresh: reload from the database", "Save the customer"):
    what a screen reader announces and voice control clicks."""
    return pg.get_by_role("button", name=re.compile(f"^{re.escape(text)}(?!\\w)"))


def click_until(pg, target, shown, attempts: int = 3, timeout: float = 10_000) -> None:
    """Click `target` until `shown` (a locator) is visible. A click made while the page's
    websocket is still busy with the first render can be lost; a person clicks again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for i in range(attempts):
        try:
            target.click(timeout=5_000)
        except PlaywrightTimeout:
            pass  # covered: what the first click opened is on its way
        try:
            shown.wait_for(timeout=timeout)
            return
        except PlaywrightTimeout:
            if i == attempts - 1:
                raise


def more(pg, item: str, shown) -> None:
    """Choose `item` in the toolbar's More menu, until `shown` (a locator) is visible."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        button(pg, "More").first.click()
        try:
            pg.get_by_role("menuitem", name=item).click(timeout=5_000)
            shown.wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            pg.keyboard.press("Escape")
            if attempt == 2:
                raise


def count_text(pg) -> str:
    return pg.get_by_text(re.compile(r"^[\d,]+ (customers?|groups?|rows?)")).first.inner_text()


def wait_count(pg, pattern: str) -> None:
    pg.get_by_text(re.compile(pattern)).first.wait_for(timeout=15000)


def cells(pg, field: str) -> list[str]:
    return pg.locator(
        f'.tabulator-row .tabulator-cell[tabulator-field="{field}"]'
    ).all_inner_texts()


def option(pg, text: str):
    """An item of the open select or autocomplete list."""
    return pg.locator("li").filter(has_text=re.compile(f"^{re.escape(text)}$")).first


def open_select(pg, label: str) -> None:
    pg.get_by_role("combobox", name=re.compile(f"^{re.escape(label)}")).first.click()
    pg.wait_for_timeout(300)


def dialog_drawn(pg, name: str | re.Pattern | None = None):
    """The dialog (called `name`, if given) once its content is drawn: the card and Bulk
    Upload say "Opening …" first (under their content, dialogs.Opening) and draw their
    fields a moment later."""
    dialog = pg.get_by_role("dialog", name=name) if name is not None else pg.get_by_role("dialog")
    dialog.first.wait_for()
    dialog.first.locator(".MuiDialogContent-root > div > *").first.wait_for(state="visible")
    return dialog.first


#: Records, at every frame the browser paints, what the open dialog's or drawer's content
#: box shows (`window.cdFrames`, [ms since the start, what]): "line" where it says
#: "Opening …" (dialogs.Opening's line, or a text of that form), "covered" where that line
#: is under content not drawn yet (never_blank takes it alone for an empty box), "content" where other text is drawn (a button's label
#: aside: a drawer's Close button is there from the start), "blank" where none of these,
#: and "+bar" with a progress bar in it. `window.cdLine` keeps the last line read.
WATCH_OPENING = """() => {
  const deep = (root, sel) => {
    const out = [...root.querySelectorAll(sel)];
    root.querySelectorAll('*').forEach((e) => { if (e.shadowRoot) out.push(...deep(e.shadowRoot, sel)); });
    return out;
  };
  const shown = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const texts = (root, out) => {
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let n = walk.currentNode; n; n = walk.nextNode()) {
      if (n.nodeType === 3) {
        const t = n.textContent.trim(), p = n.parentElement;
        if (t && p && !p.closest('button, style, script') && shown(p)) out.push(t);
      } else if (n.shadowRoot) texts(n.shadowRoot, out);
    }
    return out;
  };
  const OPENING = /^Opening .*\u2026$/;
  window.cdFrames = [];
  window.cdLine = null;
  const t0 = performance.now();
  const tick = () => {
    const papers = deep(document, '.MuiDialog-paper, .MuiDrawer-paper').filter(shown);
    const paper = papers[papers.length - 1];
    if (paper) {
      const box = paper.querySelector('.MuiDialogContent-root') || paper;
      const made = (getComputedStyle(box, '::before').content || '').match(/^"(.*?)"/);
      const words = texts(box, []);
      const line = (made && OPENING.test(made[1]) && made[1]) || words.find((t) => OPENING.test(t));
      if (line) window.cdLine = line;
      let covered = false;
      if (made && line === made[1]) {
        // the box's own line (its ::before) is seen where nothing lies on its first words
        const r = box.getBoundingClientRect(), rows = getComputedStyle(box).gridTemplateRows.split(' ');
        const above = rows.slice(0, rows.length - 1).reduce((a, h) => a + parseFloat(h), 0);
        const x = r.left + parseFloat(getComputedStyle(box).paddingLeft) + 20;
        covered = box.getRootNode().elementFromPoint(x, r.top + above + 28) !== box;
      }
      const seen = [];
      if (line) seen.push(covered ? 'covered' : 'line');
      if (words.some((t) => !OPENING.test(t))) seen.push('content');
      let what = seen.join('+') || 'blank';
      if (deep(box, '[role=progressbar]').some(shown)) what += '+bar';
      window.cdFrames.push([Math.round(performance.now() - t0), what]);
    }
    if (window.cdFrames.length < 4000) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def opening_frames(pg) -> list[tuple[int, str]]:
    """What the open dialog or drawer showed, frame by frame, since `WATCH_OPENING` ran."""
    return [tuple(f) for f in pg.evaluate("window.cdFrames")]


def never_blank(frames: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Assert that a dialog or drawer, from its first frame on screen, showed its opening
    line or its content, never an empty box; returns the story (each change of what it
    showed), which a failure shows too."""
    story = [f for i, f in enumerate(frames) if i == 0 or f[1] != frames[i - 1][1]]
    assert frames, "the dialog never showed"

    def empty(what: str) -> bool:
        # "covered" alone: the line is under content that has no text yet, an empty box
        # to the eye as much as "blank" (the content came 45-700 ms after it covered the line)
        return what.startswith("blank") or what == "covered"

    assert not empty(frames[0][1]), ("its first frame was empty", story)
    assert not [f for f in frames if empty(f[1])], ("an empty box for a while", story)
    return story


def close_menu(pg) -> None:
    """Close an open select menu (a multi-select stays open after a pick)."""
    listbox = pg.locator('[role="listbox"]')

    def open_() -> bool:
        return any(lb.is_visible() for lb in listbox.all())

    for _ in range(3):
        if not open_():
            return
        pg.keyboard.press("Escape")
        # the menu fades out: a second Escape while it still shows would close the pop-out
        # the select sits in (the Columns drawer) instead
        deadline = time.monotonic() + 4
        while open_() and time.monotonic() < deadline:
            pg.wait_for_timeout(100)
    if open_():
        raise AssertionError("the select menu did not close")


def choose(pg, label: str, text: str) -> None:
    """Pick `text` in the select labelled `label`. Options can change on the server (a
    filter's conditions follow its field), so reopen the menu until they have arrived."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(8):
        pg.get_by_role("combobox", name=re.compile(f"^{re.escape(label)}")).first.click()
        item = option(pg, text)
        try:
            item.wait_for(timeout=2500)
        except PlaywrightTimeout:
            pg.keyboard.press("Escape")
            pg.wait_for_timeout(500)
            continue
        item.click()
        pg.wait_for_timeout(300)
        return
    raise AssertionError(f"{label!r} never offered {text!r}")


def close_drawer(pg) -> None:
    pg.mouse.click(200, 900)
    pg.wait_for_timeout(400)


def wait_cells(pg, field: str, check, timeout: float = 15.0) -> list[str]:
    """Wait until the grid's `field` cells satisfy `check` (a list to equal, or a predicate);
    return them. Grid updates arrive over the websocket a moment after the notice."""
    import time as _time

    deadline = _time.monotonic() + timeout
    while True:
        got = cells(pg, field)
        ok = check(got) if callable(check) else got == check
        if ok:
            return got
        if _time.monotonic() > deadline:
            raise AssertionError(f"{field} cells are {got!r}, expected {check!r}")
        pg.wait_for_timeout(200)


_JS_ERRORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Server logs of the running `served()` servers and how much of each was already checked.
_LOGS: dict[Path, int] = {}


def take_problems() -> list[str]:
    """Every page error, console error and server traceback since the last call (the
    `clean_browser` fixture fails a browser test on any of them)."""
    problems = []
    for errors in list(_JS_ERRORS.values()):
        problems += [f"browser: {e}" for e in errors]
        errors.clear()
    for path, offset in list(_LOGS.items()):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        new = text[offset:]
        _LOGS[path] = len(text)
        # from the first error on, so the report shows the error, not the log's tail
        starts = [i for i in (new.find("Traceback"), new.find("ERROR:")) if i >= 0]
        if starts:
            first = new.rfind("\n", 0, min(starts)) + 1
            problems.append(f"server ({path.name}): {new[first : first + 4000]}")
    return problems


def js_errors(page) -> list[str]:
    """The JavaScript errors the page has logged since `goto_ready` opened it."""
    return list(_JS_ERRORS.get(page, []))


def watch(page) -> list[str]:
    """Collect the page's JavaScript errors (console errors and uncaught exceptions)."""
    if page in _JS_ERRORS:
        return _JS_ERRORS[page]
    errors = _JS_ERRORS.setdefault(page, [])
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{exc}"))
    return errors


def goto_ready(page, url: str) -> None:
    """Open the dashboard at `url` and wait until it can be used: its grid and toolbar are
    drawn and the browser has told the server the page is ready (the page is drawn from
    the HTML before its websocket is up, and a click made before that can be lost)."""
    watch(page)
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on(
        "framesent", lambda payload: sent.append(payload if isinstance(payload, str) else "")
    ))  # fmt: skip
    page.goto(url if "?" in url else url.rstrip("/") + "/")
    page.wait_for_selector(".tabulator-row")
    button(page, "Columns").first.wait_for()  # the toolbar has rendered
    deadline = time.monotonic() + 30
    while not any("document_ready" in frame for frame in sent):
        assert time.monotonic() < deadline, "the page never told the server it was ready"
        page.wait_for_timeout(50)
    # the server then enables the toolbar (disabled until then: toolbar._wire_on_load); a
    # focus() and a key pressed before its answer came reached a disabled button
    columns = button(page, "Columns").first
    while columns.is_disabled():
        assert time.monotonic() < deadline, "the toolbar stayed disabled"
        page.wait_for_timeout(50)


def demo_server(name: str, demo: int = 300, prepare=None):
    """A module-scoped `server` fixture for a test module: `demo` demo customers served
    from a database of its own; yields (database path, url). `prepare(store)`, if given,
    fills the database instead (before the server starts), e.g. with customers a test
    needs beside demo ones."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        require_chromium()
        db = tmp_path_factory.mktemp(name) / "customers.duckdb"
        if prepare is not None:
            from dashboard import Store

            with Store(db) as store:
                prepare(store)
        with served(db, demo=0 if prepare is not None else demo) as url:
            yield db, url

    return server


#: The cookie secret of signed-in test servers (`--auth` needs one of 32+ characters).
COOKIE_SECRET = "a-cookie-secret-for-tests-only-0123456789abcdef"
#: The people of signed-in test servers, by role.
PEOPLE = {"ana": "admin", "vic": "viewer"}


def password(name: str) -> str:
    """The test password of `name` (long enough for the password rules)."""
    return f"{name}'s long password"


def add_people(store, people: dict[str, str] = PEOPLE) -> None:
    """Add `people` (name -> role), each with `password(name)`."""
    from dashboard.users import add_user

    for name, role in people.items():
        add_user(store, name, role, password(name))


@contextlib.contextmanager
def served_signed_in(db: Path, extra: list[str] | None = None):
    """`served` with `--auth` (people sign in), the server given COOKIE_SECRET; yields
    the url."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", COOKIE_SECRET)
    try:
        with served(db, demo=0, extra=["--auth", *(extra or [])]) as url:
            yield url
    finally:
        mp.undo()


def sign_in(browser, url: str, name: str, pw: str | None = None, path: str = "/",
            size=(1500, 1000)):  # fmt: skip
    """A new page of `size` signed in as `name` (with `password(name)` unless `pw`), at
    `path`; returns once the form is sent (the caller waits for what it expects)."""
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    page.goto(url + path)
    page.wait_for_url(re.compile(r"/login"))
    page.fill('input[name="username"]', name)
    page.fill('input[name="password"]', password(name) if pw is None else pw)
    page.click('button[type="submit"]')
    return page


@contextlib.contextmanager
def chromium():
    """Debian's Chromium driven by Playwright (one home for how tests launch it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, size=(1280, 720), **context):
    """A new page of `size` (in a context of its own, with `context` options) on `url`, ready
    to use (downloads accepted, as a person's browser does)."""
    context.setdefault("accept_downloads", True)
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}, **context).new_page()
    goto_ready(page, url)
    return page


@contextlib.contextmanager
def one_page(url: str, *, height: int = 1000):
    """One Chromium page on the served dashboard, loaded and ready to use."""
    with chromium() as browser:
        yield open_page(browser, url, (1500, height))


@contextlib.contextmanager
def served_page(tmp_dir: Path, *, demo: int, height: int = 1000):
    """A fresh served database and one ready page on it (a module's shared fixture)."""
    require_chromium()
    with (
        served(tmp_dir / "customers.duckdb", demo=demo) as url,
        one_page(url, height=height) as page,
    ):
        yield page
