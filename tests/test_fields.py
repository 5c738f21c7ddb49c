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


# --- TOML mistakes in plain words, at their line and column -----------------------------

TOML_MISTAKES = [
    ("missing quote", 'a = 1\nname = "abc\nb = 2\n',
     "line 2, column 8: a string is not closed (its closing quote is missing)"),
    ("missing quote at the end", 'a = 1\nname = "abc',
     "line 2, column 8: a string is not closed (its closing quote is missing)"),
    ("missing value", "a = 1\nb =\n", "line 2: a key needs a value after ="),
    ("missing value at the end", "a = 1\nb = ", "line 2: a key needs a value after ="),
    ("duplicate key", "a = 1\na = 2\n", "line 2: the key a is defined twice (first on line 1)"),
    ("duplicate table", "[x]\na = 1\n[x]\nb = 2\n",
     "line 3: the table [x] is defined twice (first on line 1)"),
    ("unclosed table header", "[routing\nmax_cps = 5\n",
     "line 1: a table header is not closed (] is missing)"),
    ("empty table header", "[]\nb = 1\n",
     "line 1, column 2: a table header needs a name between [ and ] (and between dots)"),
    ("table name with a space", "[a b]\n", 'line 1: "a b" is not a valid table name '
     "(letters, digits, - and _; put other names in quotes)"),
    ("control character", 'a = "x\x01y"\n',
     "line 1, column 7: a string holds the invisible control character U+0001; "
     "write it as \\u0001"),
    ("invalid escape", 'a = "C:\\qdir"\n', "line 1, column 8: \\q is not an escape TOML "
     "knows (write \\\\ for a backslash, or use a 'literal string')"),
    ("text without quotes", "a = hello\n",
     'line 1, column 5: text needs quotes: "hello" (yes/no values are true and false)'),
    ("capital True", "a = True\n", "line 1, column 5: yes/no values are written in lower case: true"),
    ("key without =", "max_cps 5\n", "line 1: a key needs = and a value (key = value)"),
    ("two = signs", "[a]\nb = = 1\n", "line 2, column 5: there is one = too many"),
    ("unclosed array", "x = 1\nports = [5060,\n5061\n",
     "line 2, column 9: an array is not closed (] is missing)"),
    ("unclosed multi-line string", 'x = 1\nnote = """abc\n',
     'line 2, column 8: a multi-line string is not closed (its closing """ is missing)'),
    ("bad number", "a = 1_\n",
     "line 1, column 5: this is not a number TOML can read (write 12, 3.5 or 1e6)"),
    ("bad date", "a = 2026-13-45\n", "line 1, column 5: this is not a valid date (write 2026-11-25)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in TOML_MISTAKES],
                         ids=[m[0] for m in TOML_MISTAKES])  # fmt: skip
def test_toml_mistakes_are_told_in_plain_words_at_their_place(text, message):
    assert types.toml_problem(text) == message
    problem = types.toml_error(text)
    assert str(problem) == message and problem.line == int(message.split()[1].rstrip(",:"))
    with pytest.raises(ValueError, match="^has a mistake at line"):
        FIELDS["toml"].parse(text)


def test_good_toml_has_no_problem():
    assert types.toml_error('[routing]\nmax_cps = 5\nname = "a\\tb"\nok = true\n') is None


# --- the currency picker: money customers are billed in -----------------------------------


def test_the_currency_type_offers_billing_currencies_only():
    currency = FIELDS["currency"].type
    offered = set(currency.options().values())
    funds_and_units = {"XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XAG", "XAU", "XPD",
                       "XPT", "XTS", "XXX", "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN",
                       "UYI", "UYW"}  # fmt: skip
    assert not offered & funds_and_units
    assert {"EUR", "USD", "GBP", "CHF", "XAF", "XCD", "XOF", "XPF", "JPY"} <= offered
    assert len(offered) > 140
    # any ISO code is still read (older data and imports), and shown with its name
    assert currency.parse("che") == "CHE" and currency.option_label("CHE") == "CHE — WIR Euro"
    assert "CHE" in currency.known_values()


@pytest.mark.parametrize(("typed", "first"), [
    ("EUR", "EUR — Euro"), ("eur", "EUR — Euro"), ("nad", "NAD — Namibia Dollar"),
    ("rub", "RUB — Russian Ruble"), ("irr", "IRR — Iranian Rial"), ("ron", "RON — Romanian Leu"),
])  # fmt: skip
def test_the_code_typed_comes_first(typed, first):
    assert list(FIELDS["currency"].type.ranked_options(typed))[0] == first


def test_countries_rank_the_code_typed_first_too():
    assert list(FIELDS["country"].type.ranked_options("gb"))[0] == "GB — United Kingdom"
    assert list(FIELDS["country"].type.ranked_options("")) == list(FIELDS["country"].type.options())
