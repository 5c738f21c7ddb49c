"""`serve` refuses to start sign-in unsafely, never allows every origin, and can hand sign-in
to an OAuth provider (checked up to the redirect: no network beyond loopback)."""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request

import pytest

from dashboard import Store, UserError, add_demo_customers
from dashboard.cli import main
from dashboard.ui.serve import _origins
from dashboard.users import add_user
from tests.browser import served

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


def test_sign_in_needs_a_user(db, monkeypatch, capsys):
    monkeypatch.setenv("CUSTOMER_DASHBOARD_COOKIE_SECRET", SECRET)
    assert main(["serve", "--auth", "--db", str(db), "--port", "0"]) == 1
    assert "there are no users" in capsys.readouterr().err


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
