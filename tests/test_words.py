"""Words a person reads (issue 14): filters as said aloud, money with its currency, a
refused setting named by its form label, the settings file beside its database."""

from __future__ import annotations

from dashboard.query import Filter, View


def test_a_filter_reads_as_a_person_says_it():
    assert Filter("status", "=", "active").describe() == "Status = Active"
    assert Filter("credit", ">", "100").describe() == "Balance > 100.00"
    assert Filter("name", "contains", "harper").describe() == "Customer Name contains harper"
    assert Filter("channels", ">=", 1000).describe() == "Channels ≥ 1,000"
    assert Filter("credit", "between", ["1", "2000"]).describe() == (
        "Balance between 1.00 and 2,000.00"
    )
    # a value the type cannot read is shown as given (the filter is refused elsewhere)
    assert Filter("credit", ">", "lots").describe() == "Balance > lots"


def test_each_restriction_comes_with_the_view_without_it():
    view = View(status="Active", search=" acme ", filters=[["credit", ">", "100"]], page=3)
    found = view.restrictions()
    assert [label for label, _ in found] == ["Status = Active", "Balance > 100.00", "Search: acme"]
    assert view.describe() == [label for label, _ in found]
    no_status, no_credit, no_search = (without for _, without in found)
    assert (no_status.status, no_status.filters, no_status.search) == (
        "All",
        view.filters,
        " acme ",
    )
    assert no_credit.filters == [] and no_credit.status == "Active"
    assert no_search.search == "" and no_search.filters == view.filters
    assert {no_status.page, no_credit.page, no_search.page} == {1}
    assert View().restrictions() == []


def test_the_filters_chips_remove_the_status_and_the_search_too():
    from dashboard.ui.filters import FiltersPanel

    view = View(status="Inactive", search="x", filters=[["channels", ">", "5"]])
    panel = FiltersPanel(view=view)
    assert len(panel._chips.objects) == 3
    panel.remove(0)  # Status = Inactive
    assert view.status == "All" and view.search == "x" and len(view.filters) == 1
    panel.remove(1)  # the search, now second
    assert view.search == "" and len(view.filters) == 1
    assert len(panel._chips.objects) == 1


def test_money_is_shown_in_its_currency_by_its_type():
    from decimal import Decimal

    from dashboard.fields import FIELDS

    money, count = FIELDS["debit_limit"].type, FIELDS["channels"].type
    assert money.display_in(Decimal("2500"), "AED") == "2,500.00 AED"
    assert money.display_in(None, "AED") == ""
    assert money.display_in(Decimal("2500")) == "2,500.00"  # several currencies: no unit
    assert count.display_in(2500, "AED") == "2,500"  # not money: the currency is not its


def test_a_bulk_edit_of_money_says_each_customers_currency(store):
    from dashboard import add_customer, bulk_edit

    ids = [add_customer(store, {"name": n, "currency": c, "debit_limit": "1000"}).ids[0]
           for n, c in (("Aa Dirham", "AED"), ("Bb Yen", "JPY"))]  # fmt: skip
    summary = bulk_edit(store, ids, {"debit_limit": "2500"}, dry_run=True).details["summary"]
    lines = "\n".join(summary.lines())
    assert "Aa Dirham (id" in lines and "Debit Limit 1,000.00 AED → 2,500.00 AED" in lines
    assert "Debit Limit 1,000.00 JPY → 2,500.00 JPY" in lines
    assert [f["currency"] for f in summary.to_dict()["first"]] == ["AED", "JPY"]


def test_a_refused_setting_is_named_by_its_form_label(tmp_path):
    import pytest

    from dashboard.errors import ValidationError
    from dashboard.settings import Settings

    settings = Settings.load(tmp_path / "settings.toml")
    with pytest.raises(ValidationError) as caught:
        settings.update({"email": {"from": "x", "port": 0}, "money": {"base": "ABC"}})
    said = str(caught.value).splitlines()
    assert said[0].startswith("From address: 'x' is not a valid email address")
    assert "Port: 0 must be a positive number" in said
    assert "Base (reporting) currency: 'ABC' is not an ISO 4217 currency code" in said[-1]
    assert not any("field " in line for line in said)


def test_the_settings_file_lives_beside_its_database(tmp_path, monkeypatch):
    from pathlib import Path

    from dashboard.locations import settings_path
    from dashboard.settings import default_path

    monkeypatch.delenv("CUSTOMER_DASHBOARD_SETTINGS", raising=False)
    monkeypatch.delenv("CUSTOMER_DASHBOARD_DB", raising=False)
    db = tmp_path / "a" / "customers.duckdb"
    assert settings_path(db) == tmp_path / "a" / "settings.toml"
    assert settings_path() == default_path() == Path("data") / "settings.toml"
    assert settings_path("postgresql://u@h/x") == Path("data") / "settings.toml"
    assert settings_path(db, "mine.toml") == Path("mine.toml")  # --settings wins
    monkeypatch.setenv("CUSTOMER_DASHBOARD_DB", str(db))
    assert default_path() == tmp_path / "a" / "settings.toml"  # the default database's
    monkeypatch.setenv("CUSTOMER_DASHBOARD_SETTINGS", str(tmp_path / "s.toml"))
    assert settings_path(db) == tmp_path / "s.toml"


def test_a_command_reads_the_settings_beside_its_db(tmp_path):
    """`--db /srv/a/customers.duckdb` reads /srv/a/settings.toml (it read data/settings.toml
    under the current folder, another database's)."""
    import json
    import os
    import subprocess
    import sys

    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "settings.toml").write_text('[money]\nbase = "USD"\n', encoding="utf-8")
    db = folder / "customers.duckdb"
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUSTOMER_DASHBOARD_SETTINGS", "CUSTOMER_DASHBOARD_DB")}  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip

    r = cli("init", "--db", str(db), "--demo", "10")
    assert r.returncode == 0, r.stderr
    r = cli("rates", "list", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["base"] == "USD"
    assert not (tmp_path / "data").exists()


def test_one_of_a_thing_is_said_in_the_singular():
    import datetime as dt

    from dashboard.money import RatesImport

    assert str(RatesImport("EUR", [("USD", 1, dt.date(2026, 1, 1))])) == "1 rate into EUR"
    assert str(RatesImport("EUR", [("USD", 1, dt.date(2026, 1, 1))] * 2)) == "2 rates into EUR"


def test_a_new_customer_is_billed_in_money(store):
    import pytest

    from dashboard import add_customer
    from dashboard.errors import ValidationError

    for code in ("XXX", "XAU", "ABC"):
        with pytest.raises(ValidationError, match="Currency") as caught:
            add_customer(store, {"name": f"Co {code}", "currency": code})
        assert caught.value.problems[0].field == "currency"
    assert add_customer(store, {"name": "Co XOF", "currency": "xof"}).ids  # a union's money
