"""The one field registry.

Every customer attribute (and every contact attribute) is declared here exactly once. The
database schema, the grid's columns, the forms, the filters, bulk edit, import mapping and
validation all read these lists; a customer field named anywhere else is a bug.

Adding a field: append a `Field(..., since=N)` here and add `N` to `dashboard.migrations`
(whose step for N adds the columns of the fields declared `since=N`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import types as t
from .errors import Problem, ValidationError

TABS = ("Basic", "Config", "Address", "Verification")
STATUSES = ("Active", "Inactive", "Pending Approval")
#: The field behind the page's "Active" quick filter.
STATUS_FIELD = "status"


@dataclass(frozen=True)
class Field:
    """One customer (or contact) attribute and every rule about it."""

    name: str
    label: str
    type: t.FieldType
    tab: str
    required: bool = False
    default: Any = None
    editable: bool = True  # shown as an input in the Add/Edit form
    bulk_editable: bool = False
    importable: bool = True
    immutable: bool = False  # may be set when the customer is created, never changed after
    unique: bool = False  # unique after trimming, case-insensitively
    aliases: tuple[str, ...] = ()
    default_visible: bool = False  # a grid column before the user chooses
    on_phone: bool = False  # one of the few grid columns a phone-sized screen shows
    system: bool = False  # set by the store, read-only everywhere
    doc: str = ""
    since: int = 1  # the migration that created its column
    #: Where the value lives: "customers" (a column), "usage" (the daily usage table, or an
    #: expression over it), "metrics" (a per-customer aggregate of recent usage).
    source: str = "customers"
    #: SQL over stored columns for computed fields (never written, never typed in).
    expr: str | None = None
    #: (numerator, denominator, scale) for a rate: its group average is weighted,
    #: scale * sum(numerator) / sum(denominator), not an average of daily rates.
    ratio: tuple[str, str, int] | None = None
    #: Aggregates offered for this field, when narrower than its type's.
    aggs: tuple[str, ...] | None = None
    #: Whether rows may be grouped or pivoted by it; None: decided by its kind.
    dimension: bool | None = None
    #: For a contact's yes/no: the channel ("sms", "email") it opts the contact out of.
    opt_out: str | None = None

    @property
    def sql_type(self) -> str:
        return self.type.sql

    @property
    def choices(self) -> tuple[str, ...]:
        """The allowed values of a choice field (empty for other kinds)."""
        return getattr(self.type, "choices", ())

    @property
    def kind(self) -> str:
        return self.type.kind

    @property
    def filter_ops(self) -> tuple[str, ...]:
        return self.type.filter_ops

    @property
    def aggregates(self) -> tuple[str, ...]:
        return self.aggs if self.aggs is not None else self.type.aggregates

    @property
    def stored(self) -> bool:
        """Whether the value is a column of its table (not computed)."""
        return self.expr is None

    @property
    def groupable(self) -> bool:
        """Whether rows can be grouped (and pivoted) by this field's values."""
        if self.dimension is not None:
            return self.dimension
        return self.type.dimension and not self.system

    @property
    def rate(self) -> bool:
        """A computed share (ASR): the grid shows it with "%"; a stored one (Tax) is a
        plain number."""
        return self.source != "customers"

    @property
    def formatter(self) -> dict | None:
        """The grid's Tabulator formatter of this field's values."""
        return self.type.grid_formatter(rate=self.rate)

    @property
    def stored_default(self) -> Any:
        """The default as stored (a fresh list for tags)."""
        return self.type.stored_default(self.default)

    def parse(self, raw: Any, region: str | None = None) -> Any:
        """Parse and check one value; raises ValueError with a message for a person.

        `region` (the customer's country) is where a national phone number is read.
        """
        value = self.type.parse(raw, region)
        if value is None or value == []:
            if self.required:
                raise ValueError("is required")
            return self.type.blank()
        return value


def _money(name, label, doc, minimum=None, **kw):
    return Field(name, label, t.Money(minimum=minimum), "Basic", doc=doc, **kw)


CUSTOMER_FIELDS: tuple[Field, ...] = (
    # --- System ---------------------------------------------------------------------
    Field(
        "id",
        "ID",
        t.Identifier(),
        "System",
        editable=False,
        importable=False,
        system=True,
        default_visible=True,
        doc="Assigned by the system when the customer is created.",
    ),
    # --- Basic ----------------------------------------------------------------------
    Field(
        "name",
        "Customer Name",
        t.Text(max_length=120),
        "Basic",
        required=True,
        unique=True,
        aliases=("customer", "company", "company name", "account", "account name", "customer name"),
        default_visible=True,
        on_phone=True,
        doc="A name or unique identifier for each customer.",
    ),
    Field(
        "status",
        "Status",
        t.Choice(choices=STATUSES),
        "Basic",
        required=True,
        default="Active",
        bulk_editable=True,
        aliases=("state", "account status"),
        default_visible=True,
        on_phone=True,
        doc="Active: may pass calls. Inactive: disabled. Pending Approval: a new signup.",
    ),
    Field(
        "channels",
        "Channels",
        t.Integer(minimum=0, maximum=1_000_000),
        "Basic",
        default=0,
        bulk_editable=True,
        aliases=("max channels", "concurrent calls", "max calls"),
        default_visible=True,
        doc="Maximum concurrent calls.",
    ),
    Field(
        "flow_speed",
        "Flow Speed (CPS)",
        t.Number(sql="DECIMAL(9,2)", scale=2, minimum=Decimal(0), maximum=Decimal(100_000)),
        "Basic",
        default=Decimal(0),
        bulk_editable=True,
        aliases=("cps", "flow speed", "calls per second"),
        default_visible=True,
        doc="Calls per second.",
    ),
    _money(
        "debit_limit",
        "Debit Limit",
        "The debit limit for postpay customers.",
        default=Decimal(0),
        bulk_editable=True,
        aliases=("credit limit", "postpay limit"),
        default_visible=True,
    ),
    _money(
        "minimum_payment",
        "Minimum Payment",
        "The minimum payment to keep the account active.",
        minimum=Decimal(0),
        default=Decimal(0),
        bulk_editable=True,
        aliases=("min payment",),
    ),
    Field(
        "tax",
        "Tax",
        t.Percent(),
        "Basic",
        default=Decimal(0),
        bulk_editable=True,
        aliases=("tax rate", "vat", "tax %"),
        doc="Percentage charged on top of costs.",
    ),
    Field(
        "currency",
        "Currency",
        t.Currency(),
        "Basic",
        required=True,
        immutable=True,
        aliases=("ccy", "currency code"),
        default_visible=True,
        doc="ISO 4217 code. Cannot be changed once the customer exists.",
    ),
    _money(
        "credit",
        "Balance",
        "The account balance. Maintained by billing; read-only here.",
        editable=False,
        importable=True,
        aliases=("credit", "account balance"),
        default=Decimal(0),
        default_visible=True,
        on_phone=True,
    ),
    # --- Config ---------------------------------------------------------------------
    Field(
        "paypal_email",
        "PayPal Email",
        t.Email(),
        "Config",
        bulk_editable=False,
        aliases=("paypal",),
        doc="The customer's PayPal account, for payments via IPN.",
    ),
    Field("website", "Website", t.Url(), "Config", aliases=("web", "url", "web site")),
    Field(
        "portal_access",
        "Portal Access",
        t.YesNo(),
        "Config",
        default=True,
        bulk_editable=True,
        aliases=("portal",),
        doc="Whether the customer may sign in to the Customer Portal.",
    ),
    Field(
        "tags",
        "Tags",
        t.Tags(),
        "Config",
        default=(),
        bulk_editable=True,
        aliases=("labels", "tag"),
        default_visible=True,
        doc="Short labels (meta-data).",
    ),
    Field(
        "toml",
        "TOML",
        t.Toml(),
        "Config",
        aliases=("config", "configuration"),
        doc="Configuration for Script Forge, stored exactly as written.",
    ),
    # --- Address --------------------------------------------------------------------
    Field(
        "address_line1",
        "Address Line 1",
        t.Text(),
        "Address",
        aliases=("address", "address 1", "street"),
    ),
    Field("address_line2", "Address Line 2", t.Text(), "Address", aliases=("address 2",)),
    Field(
        "city", "City", t.Text(max_length=100), "Address", aliases=("town",), default_visible=True
    ),
    Field(
        "region",
        "Region",
        t.Text(max_length=100),
        "Address",
        aliases=("state/province", "province", "county"),
    ),
    Field(
        "postcode",
        "Postcode",
        t.Text(max_length=20),
        "Address",
        aliases=("zip", "zip code", "postal code", "post code"),
    ),
    Field(
        "country",
        "Country",
        t.Country(),
        "Address",
        bulk_editable=True,
        aliases=("country code", "nation"),
        default_visible=True,
        doc="ISO 3166-1 alpha-2 code (names are accepted and converted).",
    ),
    # --- Verification ---------------------------------------------------------------
    Field(
        "approved_clis_only",
        "Approved CLI's Only",
        t.YesNo(),
        "Verification",
        default=False,
        bulk_editable=True,
        aliases=("approved clis only", "approved cli only"),
        doc="The customer must verify each CLI in the portal before using it.",
    ),
    Field(
        "email_verification",
        "Email Verification",
        t.YesNo(),
        "Verification",
        default=False,
        bulk_editable=True,
        doc="The customer must verify their email in the portal to dial.",
    ),
    Field(
        "mobile_verification",
        "Mobile Verification",
        t.YesNo(),
        "Verification",
        default=False,
        bulk_editable=True,
        doc="The customer must verify their mobile in the portal to dial.",
    ),
    # --- System ---------------------------------------------------------------------
    Field(
        "created_at",
        "Created",
        t.Timestamp(),
        "System",
        editable=False,
        importable=False,
        system=True,
    ),
    Field(
        "updated_at",
        "Updated",
        t.Timestamp(),
        "System",
        editable=False,
        importable=False,
        system=True,
    ),
)

CONTACT_FIELDS: tuple[Field, ...] = (
    Field(
        "name",
        "Contact Name",
        t.Text(max_length=120),
        "Contacts",
        aliases=("contact", "contact name", "contact person"),
    ),
    Field(
        "email",
        "Email",
        t.Email(),
        "Contacts",
        aliases=("contact email", "email", "e-mail", "email address"),
    ),
    Field(
        "mobile",
        "Mobile",
        t.Phone(),
        "Contacts",
        aliases=("contact mobile", "mobile", "phone", "cell", "mobile number", "contact phone"),
    ),
    Field(
        "sms_opt_out",
        "Opted out of SMS",
        t.YesNo(),
        "Contacts",
        default=False,
        importable=False,
        opt_out="sms",
    ),
    Field(
        "email_opt_out",
        "Opted out of email",
        t.YesNo(),
        "Contacts",
        default=False,
        importable=False,
        opt_out="email",
    ),
)

#: How many days of usage the per-customer figures in the grid (ASR, ACD, ...) cover.
METRIC_DAYS = 30


def _usage(name, label, ftype, doc, **kw):
    return Field(name, label, ftype, "Usage", editable=False, importable=False, source="usage",
                 doc=doc, since=4, **kw)  # fmt: skip


def _metric(name, label, ftype, expr, doc, **kw):
    return Field(name, label, ftype, "Usage", editable=False, importable=False, source="metrics",
                 expr=expr, doc=doc, since=4, dimension=False, **kw)  # fmt: skip


_MEASURE = {"dimension": False, "aggs": ("sum", "avg", "min", "max")}

#: The daily usage table (one row per customer and day, fed by the switch's CDRs), and
#: figures computed from it. A usage view joins each row to its customer, so customer
#: fields group, filter and pivot usage ("revenue by country and month").
USAGE_FIELDS: tuple[Field, ...] = (
    _usage("day", "Day", t.Date(), "The day the calls were made (UTC).", dimension=True),
    _usage("month", "Month", t.Month(), "The first day of the call's month.", dimension=True,
           expr="date_trunc('month', \"day\")::DATE"),  # fmt: skip
    _usage("calls", "Calls", t.Integer(), "Call attempts.", **_MEASURE),
    _usage("connected", "Connected Calls", t.Integer(), "Answered calls.", **_MEASURE),
    _usage("minutes", "Minutes", t.Number(sql="DECIMAL(14,2)", scale=2), "Billed minutes.",
           **_MEASURE),  # fmt: skip
    _usage("revenue", "Revenue", t.Money(), "Billed to the customer.", **_MEASURE),
    _usage("cost", "Cost", t.Money(), "Paid to carriers for the same calls.", **_MEASURE),
    _usage("margin", "Margin", t.Money(), "Revenue less cost.", expr='"revenue" - "cost"',
           **_MEASURE),  # fmt: skip
    _usage("asr", "ASR %", t.Percent(), "Answer-seizure ratio: connected / calls.",
           expr='round(100.0 * "connected" / nullif("calls", 0), 2)',
           ratio=("connected", "calls", 100), dimension=False, aggs=("avg", "min", "max")),
    _usage("acd", "ACD (min)", t.Number(scale=2), "Average call duration of connected calls.",
           expr='round("minutes" / nullif("connected", 0), 2)',
           ratio=("minutes", "connected", 1), dimension=False, aggs=("avg", "min", "max")),
)  # fmt: skip

_NUMBER_AGGS = ("sum", "avg", "min", "max")

#: Per-customer figures over the last METRIC_DAYS days: grid columns like any field
#: (sort, filter, aggregate), computed from usage by one grouped join when shown.
METRICS: tuple[Field, ...] = (
    _metric("calls_30d", f"Calls ({METRIC_DAYS} d)", t.Integer(), 'sum("calls")::BIGINT',
            "Call attempts in the last 30 days.", aggs=_NUMBER_AGGS),
    _metric("minutes_30d", f"Minutes ({METRIC_DAYS} d)", t.Number(scale=2), 'sum("minutes")',
            "Billed minutes in the last 30 days.", aggs=_NUMBER_AGGS),
    _metric("revenue_30d", f"Revenue ({METRIC_DAYS} d)", t.Money(), 'sum("revenue")',
            "Revenue in the last 30 days.", aggs=_NUMBER_AGGS),
    _metric("asr_30d", f"ASR % ({METRIC_DAYS} d)", t.Percent(),
            'round(100.0 * sum("connected") / nullif(sum("calls"), 0), 2)',
            "Answer-seizure ratio over the last 30 days.", aggs=("avg", "min", "max")),
    _metric("acd_30d", f"ACD min ({METRIC_DAYS} d)", t.Number(scale=2),
            'round(sum("minutes") / nullif(sum("connected"), 0), 2)',
            "Average call duration over the last 30 days.", aggs=("avg", "min", "max")),
)  # fmt: skip

FIELDS: dict[str, Field] = {f.name: f for f in CUSTOMER_FIELDS}
USAGE: dict[str, Field] = {f.name: f for f in USAGE_FIELDS}
#: The usage field that names the day a usage row covers (its key, with the customer).
USAGE_DAY: str = next(f.name for f in USAGE_FIELDS if f.kind == "date" and f.stored)
#: Every name a view may use (customer fields, usage fields, metrics); names are unique.
COLUMNS: dict[str, Field] = {f.name: f for f in (*CUSTOMER_FIELDS, *METRICS, *USAGE_FIELDS)}
assert len(COLUMNS) == len(CUSTOMER_FIELDS) + len(METRICS) + len(USAGE_FIELDS), "names clash"

#: What a view can read: one row per customer, or one per customer and day of usage.
SOURCES: dict[str, str] = {"customers": "Customers", "usage": "Daily usage"}


def columns_for(source: str = "customers") -> dict[str, Field]:
    """The fields a view over `source` may show, filter, group, aggregate and sort by."""
    if source == "usage":
        return {f.name: f for f in (*USAGE_FIELDS, *CUSTOMER_FIELDS)}
    return {f.name: f for f in (*CUSTOMER_FIELDS, *METRICS)}


CONTACTS: dict[str, Field] = {f.name: f for f in CONTACT_FIELDS}

#: The customer's id: the key every other table refers to, and how the grid names a row.
ID_FIELD: str = next(f.name for f in CUSTOMER_FIELDS if f.kind == "id")
#: The field that identifies a customer to people (unique, trimmed, case-insensitive).
KEY_FIELD: str = next(f.name for f in CUSTOMER_FIELDS if f.unique)
#: The customer's list of tags (tag editor, "Tags += x" in imports).
TAGS_FIELD: str = next(f.name for f in CUSTOMER_FIELDS if f.kind == "tags")
#: The field that holds a customer's currency (money is shown in it).
CURRENCY_FIELD: str = next(f.name for f in CUSTOMER_FIELDS if f.kind == "currency")
#: Contact fields that identify a contact; a contact needs at least one of them.
CONTACT_IDENTITY: tuple[str, ...] = tuple(f.name for f in CONTACT_FIELDS if f.type.searchable)
#: The contact field holding a phone number that is read in the customer's country.
MOBILE_FIELD: str = next(f.name for f in CONTACT_FIELDS if f.kind == "phone")
#: When a customer was added and last changed: set by the store on every write.
CREATED_FIELD: str = next(f.name for f in CUSTOMER_FIELDS if f.system and f.kind == "timestamp")
UPDATED_FIELD: str = [f.name for f in CUSTOMER_FIELDS if f.system and f.kind == "timestamp"][-1]
#: The contact field holding an email address.
EMAIL_FIELD: str = next(f.name for f in CONTACT_FIELDS if f.kind == "email")
#: Each channel's opt-out contact field: {"sms": "sms_opt_out", "email": "email_opt_out"}.
OPT_OUT_FIELDS: dict[str, str] = {f.opt_out: f.name for f in CONTACT_FIELDS if f.opt_out}
#: The customer field that gives the country a national phone number is read in.
COUNTRY_FIELD: str = next(f.name for f in CUSTOMER_FIELDS if f.kind == "country")

#: How the demo data (dashboard.demo) makes each field's value: SQL over one demo row, which
#: offers i (its number), h (a hash of it), nm (its name), domain, ctry (its country's code,
#: ccy, cities, region), created; and the parameters $statuses, $tags, $tomls, $streets,
#: $seed. A field missing here gets its default. Kept beside the fields so that a field is
#: still declared in one file.
DEMO_VALUES: dict[str, str] = {
    "name": "nm",
    "status": "CASE WHEN h % 10 < 7 THEN $statuses[1] WHEN h % 10 < 9 THEN $statuses[2] "
    "ELSE $statuses[3] END",
    "channels": "([10, 20, 30, 50, 100, 200, 500])[1 + (h // 7) % 7]",
    "flow_speed": "([1, 2, 5, 10, 20, 50])[1 + (h // 11) % 6]::DECIMAL(9,2)",
    "debit_limit": "(((h // 13) % 101) * 50)::DECIMAL(18,4)",
    "minimum_payment": "([0, 10, 25, 50, 100])[1 + (h // 17) % 5]::DECIMAL(18,4)",
    "tax": "([0, 5, 7.5, 10, 15, 20])[1 + (h // 19) % 6]::DECIMAL(7,4)",
    "currency": "ctry.ccy",
    "credit": "((((h // 23) % 2000000)::BIGINT - 300000) / 100)::DECIMAL(18,4)",
    "paypal_email": "CASE WHEN (h // 29) % 10 < 3 THEN 'accounts@' || domain END",
    "website": "CASE WHEN (h // 31) % 10 < 6 THEN 'https://www.' || domain END",
    "portal_access": "(h // 37) % 20 <> 0",
    "tags": "list_filter($tags::VARCHAR[], lambda x, k: hash(i, k, $seed) % 6 = 0)",
    "toml": "CASE WHEN (h // 41) % 10 = 0 THEN ($tomls::VARCHAR[])[1 + (h // 43) % 3] END",
    "address_line1": "(1 + (h // 47) % 240)::VARCHAR || ' ' || "
    "($streets::VARCHAR[])[1 + (h // 53) % 10]",
    "address_line2": "CASE WHEN (h // 59) % 4 = 0 THEN 'Suite ' || (1 + (h // 61) % 900)::VARCHAR END",
    "city": "ctry.cities[1 + ((h // 67) % len(ctry.cities))::INTEGER]",
    "region": "nullif(ctry.region, '')",
    "postcode": "lpad(((h // 71) % 99999)::VARCHAR, 5, '0')",
    "country": "ctry.code",
    "approved_clis_only": "(h // 73) % 4 = 0",
    "email_verification": "(h // 79) % 3 = 0",
    "mobile_verification": "(h // 83) % 5 = 0",
    "created_at": "created",
    "updated_at": "created",
}
#: The same for a demo customer's contacts: SQL over the customer c, the contact's number k,
#: a first name f and a last name l, with ctry and $seed.
DEMO_CONTACT_VALUES: dict[str, str] = {
    "name": "f || ' ' || l",
    "email": "lower(replace(replace(f, 'ü', 'u'), ' ', '')) || '.' || "
    "lower(replace(replace(l, 'ü', 'u'), ' ', '')) || k::VARCHAR || '@' || "
    "split_part(coalesce(c.website, 'https://www.' || lower(replace(split_part(c.name, ' ', 1) "
    "|| split_part(c.name, ' ', 2), '.', '')) || '.example'), 'www.', 2)",
    "mobile": "ctry.prefix || lpad((hash(c.id, k, $seed) % (10 ** ctry.digits)::UBIGINT)::VARCHAR, "
    "ctry.digits, '0')",
    "sms_opt_out": "hash(c.id, k, $seed + 1) % 25 = 0",
    "email_opt_out": "hash(c.id, k, $seed + 2) % 30 = 0",
}

#: The prefix that names a contact field where customer and contact fields share one list
#: (import mapping targets: "contact.email").
CONTACT_PREFIX = "contact."


def field(name: str) -> Field:
    """The field (customer, usage or metric) called `name`; a clear error for an unknown
    name."""
    try:
        return COLUMNS[name]
    except (KeyError, TypeError):
        from .errors import UserError

        raise UserError(f"unknown field {name!r}; fields are: {', '.join(COLUMNS)}") from None


def named(text: str) -> Field | None:
    """The customer field `text` names as people write it: its name or its label as the
    grid shows it, in any case and spacing ("credit", "Balance", "customer  name"); None
    when it names none. Names win over labels."""
    key = " ".join(str(text).split()).casefold()
    for f in CUSTOMER_FIELDS:
        if f.name.casefold() == key:
            return f
    for f in CUSTOMER_FIELDS:
        if f.label.casefold() == key:
            return f
    return None


def fields_on_tab(tab: str) -> list[Field]:
    """The editable fields of a form tab, in registry order."""
    return [f for f in CUSTOMER_FIELDS if f.tab == tab and f.editable]


def bulk_editable() -> list[Field]:
    """Fields offered by Bulk Edit (and accepted by the store's bulk edit)."""
    return [f for f in CUSTOMER_FIELDS if f.bulk_editable]


def importable() -> list[Field]:
    """Customer fields a spreadsheet column may be mapped to."""
    return [f for f in CUSTOMER_FIELDS if f.importable]


def default_columns(source: str = "customers") -> list[str]:
    """The grid's columns before a user chooses."""
    if source == "usage":
        return [USAGE_DAY, KEY_FIELD, *[f.name for f in USAGE_FIELDS if not f.dimension]]
    return [f.name for f in CUSTOMER_FIELDS if f.default_visible]


def searchable() -> list[Field]:
    """Text fields the quick search looks in."""
    return [f for f in CUSTOMER_FIELDS if f.type.searchable]


def writable() -> list[Field]:
    """Fields a person may give when adding a customer."""
    return [f for f in CUSTOMER_FIELDS if not f.system]


def normalise_header(text: str) -> str:
    """A header reduced to what matters for matching: "Debit Limit ($)" -> "debitlimit"."""
    text = re.sub(r"\((\$|€|£|%|[a-z]{3})\)", "", str(text).lower())
    return re.sub(r"[^a-z0-9]+", "", text)


def match_header(header: str) -> str | None:
    """The import target for a spreadsheet header, guessed from names, labels and aliases.

    Returns a customer field name, "contact.<name>" for a contact field, or None.
    Customer fields win over contact fields on the same words (e.g. "Name").
    """
    key = normalise_header(header)
    if not key:
        return None
    for f in importable():
        if key in {normalise_header(x) for x in (f.name, f.label, *f.aliases)}:
            return f.name
    for f in CONTACT_FIELDS:
        if f.importable and key in {normalise_header(x) for x in (f.label, *f.aliases)}:
            return CONTACT_PREFIX + f.name
    return None


def validate(
    values: dict[str, Any],
    registry: dict[str, Field] = FIELDS,
    *,
    row: int | None = None,
    columns: dict[str, str] | None = None,
    partial: bool = False,
    region: str | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """Parse every value of a record; return the clean values and every problem.

    With `partial` (an edit), fields not given are left alone; otherwise required fields
    must be present. `columns` names the source column of each field (imports).
    """
    clean: dict[str, Any] = {}
    problems: list[Problem] = []
    columns = columns or {}
    for name, raw in values.items():
        f = registry.get(name)
        if f is None:
            problems.append(Problem(name, raw, "is not a known field", row, columns.get(name)))
            continue
        if f.system:
            problems.append(Problem(name, raw, "is set by the system", row, columns.get(name)))
            continue
        try:
            clean[name] = f.parse(raw, region)
        except ValueError as exc:
            problems.append(Problem(name, raw, f"{f.label} {exc}", row, columns.get(name)))
    if not partial:
        for f in registry.values():
            if f.required and f.name not in values and f.default is None:
                problems.append(Problem(f.name, None, f"{f.label} is required", row))
    return clean, problems


def new_problems(
    clean: dict[str, Any],
    registry: dict[str, Field] = FIELDS,
    *,
    row: int | None = None,
    columns: dict[str, str] | None = None,
) -> list[Problem]:
    """The parsed values of a new record that a new record may not take, each type's
    `new_problem` (a currency nobody is billed in): Add customer, the API and imports all
    check a new customer here, so the rule has one home."""
    columns = columns or {}
    problems = []
    for name, value in clean.items():
        f = registry.get(name)
        why = f.type.new_problem(value) if f is not None else None
        if f is not None and why:
            problems.append(Problem(name, value, f"{f.label} {why}", row, columns.get(name)))
    return problems


def with_new_rule(registry: dict[str, Field] = FIELDS) -> list[Field]:
    """The fields whose type refuses some parsed values for a new record (`new_problem`)."""
    base = t.FieldType.new_problem
    return [f for f in registry.values() if type(f.type).new_problem is not base]


def require_valid(values: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """`validate`, raising ValidationError with every problem when there is one."""
    clean, problems = validate(values, **kw)
    if problems:
        raise ValidationError(problems)
    return clean
