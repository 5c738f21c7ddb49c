"""`serve` refuses to start sign-in unsafely, never allows every origin, and can hand sign-in
to an OAuth provider (checked up to the redirect: no network beyond loopback). Password
sign-in against real servers: throttled, hashing off the event loop, Secure cookies behind
TLS, and sessions that end when the user's password, role or account changes."""

from __future__ import annotations

import argparse
import http.cookiejar
import queue
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from dashboard import Store, UserError, add_demo_customers
from dashboard.cli import main
from dashboard.ui.serve import _origins
from dashboard.users import add_user, remove_user, set_password, set_role
from tests.browser import free_port, served

SECRET = "x" * 40


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "customers.duckdb"
    with Store(path) as store:
        add_demo_customers(store, 30, seed=1, usage_days=0)
    return path


def test_sign_in_needs_a_long_cookie_secret(db, monkeypatch, capsys):
    monkeypatch.delenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", raising=False)
    assert main(["serve", "--auth", "--db", str(db), "--port", "0"]) == 1
    assert "cookie secret of at least 32 characters" in capsys.readouterr().err
    monkeypatch.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", "short")
    assert main(["serve", "--auth", "--db", str(db), "--port", "0"]) == 1


def test_sign_in_needs_an_admin(db, monkeypatch, capsys):
    monkeypatch.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", SECRET)
    assert main(["serve", "--auth", "--db", str(db), "--port", "0"]) == 1
    assert "there is no admin user" in capsys.readouterr().err
    with Store(db) as store:
        add_user(store, "vic", "viewer", "vic's long password")
        add_user(store, "ed", "editor", "ed's long password!")
    assert main(["serve", "--auth", "--db", str(db), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "there is no admin user" in err


def test_origins_are_the_served_address_and_never_everyone():
    args = argparse.Namespace(address="127.0.0.1", port=5006,
                              allow_websocket_origin=["dashboard.example.com"])  # fmt: skip
    assert _origins(args) == ["127.0.0.1:5006", "dashboard.example.com", "localhost:5006"]
    args.allow_websocket_origin = ["*"]
    with pytest.raises(UserError, match="never"):
        _origins(args)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def _location(url):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")
    return 200, ""


def test_signed_in_server_sends_strangers_to_the_login_page(db, monkeypatch):
    with Store(db) as store:
        add_user(store, "ana", "admin", "ana's long password")
    monkeypatch.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", SECRET)
    with served(db, demo=0, extra=["--auth"]) as url:
        for path in ("/", "/settings", "/messages"):
            code, where = _location(url + path)
            assert code == 302 and "login" in where, (path, code, where)


def test_oauth_hands_sign_in_to_the_provider(db, monkeypatch):
    with Store(db) as store:
        add_user(store, "octocat", "viewer", "unused random password")
        add_user(store, "monalisa", "admin", "another unused password")
    monkeypatch.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", SECRET)
    monkeypatch.setenv("CUSTOMER_DASHBOARD_OAUTH_KEY", "test-client-id")
    monkeypatch.setenv("CUSTOMER_DASHBOARD_OAUTH_SECRET", "test-client-secret")
    with served(db, demo=0, extra=["--oauth-provider", "github"]) as url:
        code, where = _location(url + "/")
        assert code == 302 and "login" in where
        code, where = _location(url + "/" + where.lstrip("./"))
        assert code == 302
        assert where.startswith("https://github.com/login/oauth/authorize")
        assert "client_id=test-client-id" in where


# --- password sign-in against real servers ----------------------------------------------

PASSWORDS = {"ana": "ana's long password", "vic": "vic's long password",
             "ed": "ed's long password!"}  # fmt: skip


def _login(url, name, password, headers=None):
    """POST the login form, redirects not followed: (status, Location, Set-Cookie headers)."""
    data = urllib.parse.urlencode({"username": name, "password": password}).encode()
    request = urllib.request.Request(url + "/login", data=data, headers=headers or {})
    try:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.headers.get_all("Set-Cookie") or []
    raise AssertionError("the login form did not redirect")


def _error(location):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("error", [""])[0]


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A served database with sign-in, behind a (pretend) TLS proxy: --trust-proxy."""
    db = tmp_path_factory.mktemp("signed") / "customers.duckdb"
    with Store(db) as store:
        add_demo_customers(store, 20, seed=3, usage_days=0)
        for name, role in (("ana", "admin"), ("vic", "viewer"), ("ed", "editor")):
            add_user(store, name, role, PASSWORDS[name])
        for i in range(8):  # eight people signing in at once
            add_user(store, f"clerk{i}", "viewer", f"clerk {i}'s password")
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", SECRET)
    try:
        with served(db, demo=0, extra=["--auth", "--trust-proxy"]) as url:
            yield url
    finally:
        mp.undo()


def test_guessing_is_throttled_per_name_and_per_address(signed):
    url = signed
    client = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(5):
        code, where, _ = _login(url, "vic", "a wrong guess!", client)
        assert code == 302 and _error(where) == "Invalid username or password!"
    code, where, _ = _login(url, "vic", "a wrong guess!", client)  # the sixth
    assert "Too many attempts; try again in" in _error(where)
    code, where, cookies = _login(url, "vic", PASSWORDS["vic"], client)
    assert "Too many attempts; try again in" in _error(where) and not cookies
    # the guesser is locked out, not vic signing in from her own address
    code, elsewhere, cookies = _login(url, "vic", PASSWORDS["vic"],
                                      {"X-Forwarded-For": "198.51.100.1"})  # fmt: skip
    assert code == 302 and cookies and not _error(elsewhere)
    # one address trying many names is locked for every name
    other = {"X-Forwarded-For": "203.0.113.99"}
    for i in range(10):
        _login(url, f"nobody-{i}", "a wrong guess!", other)
    assert "try again in" in _error(_login(url, "ana", PASSWORDS["ana"], other)[1])
    # the page says it
    page = urllib.request.urlopen(url + "/login?error=" + urllib.parse.quote(_error(where)),
                                  timeout=10).read().decode()  # fmt: skip
    assert "Too many attempts; try again in" in page


def _get_ms(url) -> float:
    start = time.perf_counter()
    urllib.request.urlopen(url + "/login", timeout=30).read()
    return (time.perf_counter() - start) * 1000


def test_password_checks_leave_the_event_loop_free(signed):
    url = signed
    idle = [_get_ms(url) for _ in range(5)]
    stop = threading.Event()
    done: queue.Queue = queue.Queue()

    def sign_in_again_and_again(i):
        n = 0
        while not stop.is_set():
            code, where, cookies = _login(url, f"clerk{i}", f"clerk {i}'s password",
                                          {"X-Forwarded-For": f"192.0.2.{i}"})  # fmt: skip
            assert code == 302 and cookies and not _error(where)
            n += 1
        done.put(n)

    threads = [threading.Thread(target=sign_in_again_and_again, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)  # every thread is hashing by now
        busy = []
        for _ in range(20):
            busy.append(_get_ms(url))
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    signed_in = sum(done.get_nowait() for _ in threads)
    print(
        f"GET /login: idle median {statistics.median(idle):.1f} ms; while 8 clients sign "
        f"in ({signed_in} sign-ins): median {statistics.median(busy):.1f} ms, "
        f"max {max(busy):.1f} ms"
    )
    assert signed_in >= 8
    # hashing on the event loop made every GET wait behind the queued hashes (median 619-760
    # ms); off it, the median stays at a few ms. The median, not the max: one GET meeting a
    # busy machine (other processes on 2 cores) is not the event loop's doing.
    assert statistics.median(busy) < 100


def _secure(cookies) -> dict[str, bool]:
    return {c.split("=", 1)[0]: "secure" in c.lower() for c in cookies}


def test_cookies_are_secure_behind_a_tls_proxy(signed):
    url = signed
    code, _, cookies = _login(url, "ed", PASSWORDS["ed"],
                              {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.50"})  # fmt: skip
    flags = _secure(cookies)
    assert code == 302 and {"user", "dashboard_session"} <= set(flags) and all(flags.values())
    assert all("httponly" in c.lower() and "samesite=lax" in c.lower() for c in cookies
               if c.startswith(("user=", "dashboard_session=")))  # fmt: skip
    code, _, cookies = _login(url, "ed", PASSWORDS["ed"], {"X-Forwarded-For": "192.0.2.50"})
    assert code == 302 and not any(_secure(cookies).values())  # plain http: no Secure


def _jar(set_cookies) -> str:
    """A Cookie header sending back what Set-Cookie headers set."""
    return "; ".join(c.split(";", 1)[0] for c in set_cookies)


def _get(url, cookie="", headers=None) -> tuple[int, str, list[str]]:
    request = urllib.request.Request(url, headers={"Cookie": cookie, **(headers or {})})
    try:
        answer = urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.headers.get_all("Set-Cookie") or []
    return answer.status, "", answer.headers.get_all("Set-Cookie") or []


@pytest.mark.parametrize(
    "target",
    [
        "///evil.example/phish",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/\t/evil.example",
        " //evil.example",
    ],
)
def test_sign_in_never_sends_people_to_another_site(signed, target):
    url = signed
    client = {"X-Forwarded-For": "192.0.2.61"}
    code, _, set_by_page = _get(url + "/login?next=" + urllib.parse.quote(target), headers=client)
    assert code == 200
    data = urllib.parse.urlencode({"username": "ed", "password": PASSWORDS["ed"]}).encode()
    request = urllib.request.Request(url + "/login", data=data,
                                     headers={"Cookie": _jar(set_by_page), **client})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
    assert answer.value.code == 302 and answer.value.headers["Location"] == "/"


def test_sign_in_goes_on_to_the_link_it_was_opened_for(signed):
    url = signed
    client = {"X-Forwarded-For": "192.0.2.62"}
    link = '/?view={"status":"Active"}'
    _, _, set_by_page = _get(url + "/login?next=" + urllib.parse.quote(link), headers=client)
    code, where, _ = _login(url, "ed", PASSWORDS["ed"], {"Cookie": _jar(set_by_page), **client})
    assert code == 302 and where == link


def test_a_sign_in_posted_from_another_site_is_refused(signed):
    url = signed
    client = {"X-Forwarded-For": "192.0.2.63"}
    for origin in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                   {"Referer": "http://evil.example/form.html"}):  # fmt: skip
        data = urllib.parse.urlencode({"username": "ed", "password": PASSWORDS["ed"]}).encode()
        request = urllib.request.Request(url + "/login", data=data, headers={**client, **origin})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
        assert answer.value.code == 403, origin
        assert not answer.value.headers.get_all("Set-Cookie"), origin
    here = urllib.parse.urlsplit(url).netloc
    code, where, cookies = _login(
        url, "ed", PASSWORDS["ed"], {**client, "Origin": f"http://{here}"}
    )
    assert code == 302 and cookies and not _error(where)


def test_signing_out_ends_the_session_on_the_server(signed):
    url = signed
    client = {"X-Forwarded-For": "192.0.2.64"}
    code, _, cookies = _login(url, "vic", PASSWORDS["vic"], client)
    copied = _jar(cookies)
    assert _get(url + "/", copied, client)[0] == 200
    assert _get(url + "/logout", copied, client)[0] == 200
    # a copy of the cookies taken before signing out no longer opens the page
    code, where, _ = _get(url + "/", copied, client)
    assert code == 302 and "login" in where
    # signing in again works
    code, _, cookies = _login(url, "vic", PASSWORDS["vic"], client)
    assert _get(url + "/", _jar(cookies), client)[0] == 200


def test_secure_cookies_flag_and_an_untrusted_proxy_header(db, monkeypatch):
    with Store(db) as store:
        add_user(store, "ana", "admin", PASSWORDS["ana"])
    monkeypatch.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", SECRET)
    with served(db, demo=0, extra=["--auth"]) as url:
        # without --trust-proxy anyone could send the header: it changes nothing
        _, _, cookies = _login(url, "ana", PASSWORDS["ana"], {"X-Forwarded-Proto": "https"})
        assert cookies and not any(_secure(cookies).values())
    with served(db, demo=0, extra=["--auth", "--secure-cookies"]) as url:
        _, _, cookies = _login(url, "ana", PASSWORDS["ana"])
        flags = _secure(cookies)
        assert {"user", "dashboard_session"} <= set(flags) and all(flags.values())


@pytest.fixture
def in_process(tmp_path):
    """The dashboard with password sign-in on Panel's server in a thread of this process, so
    that the test changes users in the very store the server uses (as Setup > Users does)."""
    import panel as pn
    from panel.config import config

    from dashboard.ui.app import EXTENSIONS, session_app
    from dashboard.ui.auth import StoreAuthProvider

    store = Store(tmp_path / "customers.duckdb", user="server")
    add_demo_customers(store, 20, seed=4, usage_days=0)
    for name, role in (("ana", "admin"), ("ed", "editor")):
        add_user(store, name, role, PASSWORDS[name])
    provider = StoreAuthProvider(store)
    port, ready = free_port(), queue.Queue()
    old_secret = config.cookie_secret

    def run():
        pn.extension(*EXTENSIONS)
        srv = pn.serve({"/": lambda: session_app(store, auth=provider)}, port=port,
                       address="127.0.0.1", show=False, start=False,
                       websocket_origin=[f"127.0.0.1:{port}"], auth_provider=provider,
                       cookie_secret=SECRET)  # fmt: skip
        ready.put(srv)
        srv.start()
        srv.io_loop.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    srv = ready.get(timeout=30)
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        srv.io_loop.add_callback(srv.io_loop.stop)
        thread.join(timeout=30)
        provider.pool.shutdown()
        config.cookie_secret = old_secret
        store.close()


def _browser(url, name):
    """A client with its own cookie jar, signed in as `name`."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    data = urllib.parse.urlencode({"username": name, "password": PASSWORDS[name]}).encode()
    try:
        opener.open(url + "/login", data=data, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302 and not _error(exc.headers["Location"])
    assert {c.name for c in jar} >= {"user", "dashboard_session"}
    return opener


def _status(opener, url):
    try:
        response = opener.open(url + "/", timeout=60)
        return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def test_a_password_change_role_change_or_removal_ends_the_session(in_process):
    url, store = in_process
    admin = store.acting_as("ana", "admin")
    changes = [("password", lambda: set_password(admin, "ed", PASSWORDS["ed"])),
               ("role", lambda: set_role(admin, "ed", "viewer")),
               ("removal", lambda: remove_user(admin, "ed"))]  # fmt: skip
    for what, change in changes:
        ed = _browser(url, "ed")
        code, body = _status(ed, url)
        assert code == 200 and "not signed in" not in body, what
        change()
        code, where = _status(ed, url)
        assert code == 302 and "login" in where, what
    # another user's session goes on, until they sign out
    ana = _browser(url, "ana")
    assert _status(ana, url)[0] == 200
    ana.open(url + "/logout", timeout=30).read()
    assert _status(ana, url)[0] == 302
