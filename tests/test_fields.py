"""The field registry and every field type's parsing of good and bad values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from dashboard import fields, types
from dashboard.errors import ValidationError
from dashboard.fields import CONTACTS, CUSTOMER_FIELDS, FIELDS, match_header, validate


def test_registry_holds_the_seed_fields_once_each():
    names = [f.name for f in CUSTOMER_FIELDS]
    assert len(names) == len(set(names))
    expected = {
        "id", "name", "status", "channels", "flow_speed", "debit_limit", "minimum_payment",
        "tax", "currency", "credit", "paypal_email", "website", "portal_access", "tags", "toml",
        "address_line1", "address_line2", "city", "region", "postcode", "country",
        "approved_clis_only", "email_verification", "mobile_verification", "created_at",
        "updated_at",
    }  # fmt: skip
    assert set(names) == expected
    assert set(CONTACTS) == {"name", "email", "mobile", "sms_opt_out", "email_opt_out"}


def test_labels_and_tabs_follow_the_seed():
    assert FIELDS["name"].label == "Customer Name"
    assert FIELDS["flow_speed"].label == "Flow Speed (CPS)"
    assert FIELDS["credit"].label == "Balance"
    assert FIELDS["approved_clis_only"].tab == "Verification"
    assert [f.name for f in fields.fields_on_tab("Address")] == [
        "address_line1", "address_line2", "city", "region", "postcode", "country"]  # fmt: skip
    assert "credit" not in [f.name for f in fields.fields_on_tab("Basic")]  # not editable


def test_money_is_decimal_in_sql_never_float():
    for name in ("debit_limit", "minimum_payment", "credit"):
        assert FIELDS[name].sql_type.startswith("DECIMAL")
    assert FIELDS["credit"].parse("1,234.5") == Decimal("1234.5000")


def test_bulk_editable_excludes_name_currency_and_balance():
    names = {f.name for f in fields.bulk_editable()}
    assert {"channels", "status", "flow_speed", "portal_access", "country", "debit_limit",
            "minimum_payment", "tax", "tags", "approved_clis_only"} <= names  # fmt: skip
    assert not names & {"name", "currency", "credit", "id"}


GOOD = [
    ("name", "  Acme Telecom  ", "Acme Telecom"),
    ("status", "pending approval", "Pending Approval"),
    ("status", "INACTIVE", "Inactive"),
    ("channels", "1,000", 1000),
    ("channels", "1E+3", 1000),
    ("channels", 30.0, 30),
    ("flow_speed", "2.5", Decimal("2.50")),
    ("debit_limit", "$1,250.75", Decimal("1250.7500")),
    ("debit_limit", "-50", Decimal("-50.0000")),
    ("tax", "7.5%", Decimal("7.5000")),
    ("currency", "usd", "USD"),
    ("paypal_email", "Pay@Example.com", "Pay@example.com"),
    ("website", "acme.example", "https://acme.example"),
    ("portal_access", "No", False),
    ("portal_access", "TRUE", True),
    ("portal_access", 1, True),
    ("tags", "vip; wholesale, vip", ["vip", "wholesale"]),
    ("toml", "# comment kept\n[a]\nb = 1\n", "# comment kept\n[a]\nb = 1\n"),
    ("country", "gb", "GB"),
    ("country", "Germany", "DE"),
    ("country", "FRA", "FR"),
    ("approved_clis_only", "yes", True),
]


@pytest.mark.parametrize(("name", "raw", "expected"), GOOD)
def test_good_values_parse_as_people_type_them(name, raw, expected):
    assert FIELDS[name].parse(raw) == expected


BAD = [
    ("name", "", "is required"),
    ("name", "x" * 121, "at most 120"),
    ("status", "Enabled", "must be one of"),
    ("channels", "-1", "at least 0"),
    ("channels", "2.5", "whole number"),
    ("channels", "ten", "must be a number"),
    ("flow_speed", "1.234", "decimal places"),
    ("minimum_payment", "-5", "at least 0"),
    ("tax", "101", "at most 100"),
    ("tax", "-1", "at least 0"),
    ("currency", "XYZ", "ISO 4217"),
    ("currency", "", "is required"),
    ("paypal_email", "not-an-email", "valid email"),
    ("website", "ftp://files.example", "web address"),
    ("portal_access", "maybe", "yes or no"),
    ("tags", ["x" * 41], "longer than"),
    ("toml", "[a]\nb = \n", "line 2"),
    ("country", "Atlantis", "ISO 3166"),
]


@pytest.mark.parametrize(("name", "raw", "message"), BAD)
def test_bad_values_are_refused_with_a_message(name, raw, message):
    with pytest.raises(ValueError, match=message):
        FIELDS[name].parse(raw)


def test_phone_numbers_are_stored_in_e164_and_checked_for_validity():
    mobile = CONTACTS["mobile"]
    assert mobile.parse("+44 7911 123456") == "+447911123456"
    assert mobile.type._parse("07911 123456", "GB") == "+447911123456"
    assert mobile.parse(447911123456.0) == "+447911123456"  # a spreadsheet lost the +
    with pytest.raises(ValueError, match="valid phone"):
        mobile.parse("+44 1234")
    with pytest.raises(ValueError, match="not a phone number"):
        mobile.parse("call me")


def test_toml_error_names_the_line_and_text_is_kept_exactly():
    problem = types.toml_problem("ok = 1\n\nbad = = 2\n")
    assert problem is not None and "line 3" in problem
    text = "# keep me\nkey   =   'spaced'   # and me\n"
    assert FIELDS["toml"].parse(text) == text


def test_timestamps_accept_dates_and_iso_text():
    ts = types.Timestamp()
    assert ts.parse("2026-11-25") == dt.datetime(2026, 11, 25)
    assert ts.parse(dt.date(2026, 1, 2)) == dt.datetime(2026, 1, 2)
    with pytest.raises(ValueError):
        ts.parse("yesterday")


def test_validate_reports_every_problem_not_just_the_first():
    clean, problems = validate({"name": "", "tax": "150", "channels": "-3", "currency": "ZZZ"})
    assert {p.field for p in problems} == {"name", "tax", "channels", "currency"}
    assert all(p.message.startswith(FIELDS[p.field].label) for p in problems)
    with pytest.raises(ValidationError) as info:
        fields.require_valid({"tax": "150"})
    assert len(info.value.problems) == 3  # tax, and missing name and currency
    assert "Customer Name is required" in str(info.value)


def test_system_and_unknown_fields_cannot_be_written():
    _, problems = validate({"id": 5, "colour": "red"}, partial=True)
    assert [(p.field, p.message) for p in problems] == [
        ("id", "is set by the system"), ("colour", "is not a known field")]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Customer Name", "name"),
        ("customer_name", "name"),
        ("Flow Speed (CPS)", "flow_speed"),
        ("CPS", "flow_speed"),
        ("Debit Limit ($)", "debit_limit"),
        ("  debit   LIMIT ", "debit_limit"),
        ("Balance", "credit"),
        ("Contact Email", "contact.email"),
        ("Mobile", "contact.mobile"),
        ("Zip", "postcode"),
        ("Favourite colour", None),
    ],
)
def test_import_headers_are_matched_from_labels_and_aliases(header, target):
    assert match_header(header) == target


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", "1234.5"),
        ("1,5", "1.5"),
        ("12,34", "12.34"),
        ("1,000", "1000"),
        ("$1,250.75", "1250.75"),
    ],
)
def test_commas_are_thousands_separators_only_where_they_group_thousands(raw, expected):
    assert FIELDS["debit_limit"].parse(raw) == Decimal(expected)
    with pytest.raises(ValueError):
        FIELDS["debit_limit"].parse("1,2,3")
