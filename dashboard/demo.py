"""Realistic, deterministic demo customers, made in SQL (a million in seconds).

Nothing here is a real person or company: names are combinations of word lists, emails use
the reserved `.example` domain, and mobiles are drawn from ranges that libphonenumber accepts
as valid mobiles. The same `seed` and count always give the same customers (for one DuckDB
version: rows are derived from DuckDB's `hash`).

Tests, the demo server, benchmarks and the docs all use this one generator.
"""

from __future__ import annotations

from typing import Any

from . import audit, dialect, search
from .access import require
from .errors import UserError
from .fields import CONTACT_FIELDS, CUSTOMER_FIELDS, DEMO_CONTACT_VALUES, DEMO_VALUES, STATUSES
from .store import Rollback, Store, utcnow

ADJECTIVES = (
    "Blue",
    "Red",
    "Swift",
    "Bright",
    "North",
    "South",
    "East",
    "West",
    "Silver",
    "Golden",
    "Rapid",
    "Clear",
    "Prime",
    "Nova",
    "Apex",
    "Summit",
    "Harbor",
    "River",
    "Cedar",
    "Maple",
    "Falcon",
    "Orbit",
    "Vertex",
    "Quantum",
    "Polar",
    "Coastal",
    "Metro",
    "Urban",
    "Alpine",
    "Crystal",
    "Iron",
    "Stone",
    "Sky",
    "Star",
    "Sun",
    "Moon",
    "Ocean",
    "Atlas",
    "Zenith",
    "Echo",
    "Pioneer",
    "Liberty",
    "Unity",
    "Vector",
    "Pulse",
    "Signal",
    "Beacon",
    "Arc",
)
NOUNS = (
    "Wave",
    "Link",
    "Line",
    "Path",
    "Bridge",
    "Gate",
    "Point",
    "Net",
    "Voice",
    "Call",
    "Tel",
    "Connect",
    "Route",
    "Stream",
    "Port",
    "Hub",
    "Cloud",
    "Fiber",
    "Spark",
    "Tower",
    "Field",
    "Circuit",
    "Relay",
    "Channel",
    "Node",
    "Grid",
    "Axis",
    "Core",
    "Peak",
    "Ridge",
    "Bay",
)
KINDS = (
    "Telecom",
    "Communications",
    "Networks",
    "VoIP",
    "Telephony",
    "Carrier",
    "Wholesale",
    "Systems",
    "Media",
    "Solutions",
    "Voice",
    "Connect",
)
LEGAL = ("Ltd", "LLC", "Inc", "GmbH", "S.A.", "Pty Ltd", "B.V.", "Group", "Co")

# country, currency, mobile prefix, digits after it, cities, region
COUNTRIES = (
    ("GB", "GBP", "+44783", 7, ("London", "Manchester", "Leeds"), "England"),
    ("US", "USD", "+121255501", 2, ("New York", "Chicago", "Austin"), "NY"),
    ("US", "USD", "+121255501", 2, ("Miami", "Denver", "Seattle"), "CA"),
    ("DE", "EUR", "+49151", 8, ("Berlin", "Hamburg", "Munich"), "Bayern"),
    ("FR", "EUR", "+3361", 7, ("Paris", "Lyon", "Lille"), "Île-de-France"),
    ("ES", "EUR", "+346", 8, ("Madrid", "Valencia", "Seville"), "Madrid"),
    ("NL", "EUR", "+3161", 7, ("Amsterdam", "Utrecht", "Rotterdam"), "Noord-Holland"),
    ("IE", "EUR", "+35387", 7, ("Dublin", "Cork", "Galway"), "Leinster"),
    ("IT", "EUR", "+39347", 7, ("Milan", "Rome", "Turin"), "Lombardia"),
    ("AU", "AUD", "+6141", 7, ("Sydney", "Melbourne", "Perth"), "NSW"),
    ("CA", "CAD", "+141655501", 2, ("Toronto", "Ottawa", "Calgary"), "Ontario"),
    ("ZA", "ZAR", "+2782", 7, ("Johannesburg", "Cape Town", "Durban"), "Gauteng"),
    ("BR", "BRL", "+55119", 8, ("São Paulo", "Campinas", "Santos"), "SP"),
    ("IN", "INR", "+9198", 8, ("Mumbai", "Delhi", "Bengaluru"), "Maharashtra"),
    ("SG", "SGD", "+6591", 6, ("Singapore",), ""),
    ("AE", "AED", "+97150", 7, ("Dubai", "Abu Dhabi"), "Dubai"),
    ("NG", "NGN", "+234803", 7, ("Lagos", "Abuja"), "Lagos"),
    ("SE", "SEK", "+4670", 7, ("Stockholm", "Gothenburg"), "Stockholm"),
    ("PL", "PLN", "+48501", 6, ("Warsaw", "Kraków"), "Mazowieckie"),
    ("MX", "MXN", "+5255", 8, ("Mexico City", "Guadalajara"), "CDMX"),
    ("JP", "JPY", "+81901", 7, ("Tokyo", "Osaka"), "Tokyo"),
)
TAGS = ("wholesale", "retail", "vip", "prepaid", "postpay", "reseller", "cli-verified",
        "fraud-watch", "high-volume", "trial", "enterprise", "sip-trunk")  # fmt: skip
STREETS = ("High Street", "Main Street", "Station Road", "Park Avenue", "Church Lane",
           "Market Square", "Harbour Road", "Mill Lane", "King Street", "Queen's Road")  # fmt: skip
FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Jamie", "Avery",
         "Riley", "Quinn", "Charlie", "Dana", "Elliot", "Frankie", "Harper", "Kai", "Logan",
         "Noa", "Parker", "Reese", "Rowan", "Sasha", "Toni")  # fmt: skip
LAST = ("Smith", "Garcia", "Müller", "Rossi", "Dubois", "Novak", "Silva", "Khan", "Kim",
        "Ito", "Okafor", "Larsen", "Nowak", "Ivanova", "Cohen", "Patel", "Murphy", "Costa",
        "Jensen", "Weber", "Moreau", "Santos", "Haddad", "Lopez")  # fmt: skip

TOML_SAMPLES = (
    '# Script Forge routing overrides\n[routing]\nmax_cps = 20\nprefer = "least-cost"\n',
    '[billing]\ninvoice_day = 1  # first of the month\nterms = "net30"\n',
    "# fraud limits set by the NOC\n[limits]\ndaily_spend = 500.0\nblock_premium = true\n",
)


#: At most this many demo customers get daily usage (90 days each), so that a million
#: customers still make a usage table of a few million rows.
USAGE_CUSTOMERS = 20_000


def add_demo_customers(
    store: Store,
    n: int,
    *,
    seed: int = 42,
    user: str = "demo",
    usage_days: int = 90,
    usage_customers: int = USAGE_CUSTOMERS,
) -> int:
    """Add `n` demo customers (with 1-3 contacts each) in one transaction; returns how many.

    Names continue from the customers already there, so calling it twice adds new names.
    About `usage_customers` of the new customers (USAGE_CUSTOMERS unless given) get
    `usage_days` days of daily usage ending yesterday.
    """
    require(store, "import")
    if n <= 0:
        return 0
    combos = len(ADJECTIVES) * len(NOUNS) * len(KINDS) * len(LEGAL)
    added = 0
    with store.transaction() as cur:
        start = cur.execute("SELECT count(*) FROM customers").fetchall()[0][0]
        batch_id, at = audit.open_batch(cur, "import", user, f"demo data: {n} customers")
        cur.execute("DROP TABLE IF EXISTS temp._demo")
        # every new customer's numbers and name, once: the customers and their contacts are
        # both made from this table (joined by id, not by name). Names are unique within a
        # batch (7919 is prime to the number of combinations, so a round's names differ);
        # a name a customer already has is left out, as a UNIQUE conflict would leave it.
        cur.execute(
            f"""CREATE TEMP TABLE _demo AS
WITH base AS (
  SELECT i, (hash(i, ?) >> 1)::BIGINT AS h, (i * 7919 + ?) % {combos} AS j
  FROM range(?, ?) r(i)
), picked AS (
  SELECT *, ?::STRUCT(code VARCHAR, ccy VARCHAR, prefix VARCHAR, digits INTEGER,
                      cities VARCHAR[], region VARCHAR)[] AS countries
  FROM base
), named AS (
  SELECT
    i, h,
    (?::VARCHAR[])[1 + (j % {len(ADJECTIVES)})] AS adj,
    (?::VARCHAR[])[1 + ((j // {len(ADJECTIVES)}) % {len(NOUNS)})] AS noun,
    (?::VARCHAR[])[1 + ((j // {len(ADJECTIVES) * len(NOUNS)}) % {len(KINDS)})] AS kind,
    (?::VARCHAR[])[1 + ((j // {len(ADJECTIVES) * len(NOUNS) * len(KINDS)}) % {len(LEGAL)})]
      AS legal,
    i // {combos} AS round,
    countries[1 + (h % len(countries))::INTEGER] AS ctry
  FROM picked
), whole AS (
  SELECT *,
    adj || ' ' || noun || ' ' || kind || ' ' || legal
      || CASE WHEN round > 0 THEN ' ' || (round + 1)::VARCHAR ELSE '' END AS nm
  FROM named
)
SELECT *, lower(trim(nm)) AS name_key, i - ? + 1 AS rn
FROM whole
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.name_key = lower(trim(whole.nm)))""",
            [
                seed, seed, start, start + n,
                [dict(zip(("code", "ccy", "prefix", "digits", "cities", "region"), c, strict=True))
                 for c in COUNTRIES],
                list(ADJECTIVES), list(NOUNS), list(KINDS), list(LEGAL), start,
            ],
        )  # fmt: skip
        added = cur.execute("SELECT count(*) FROM temp._demo").fetchall()[0][0]
        if not added:  # every name taken: nothing to write, not even the batch
            cur.execute("DROP TABLE temp._demo")
            raise Rollback
        # the ids: `n` values of the customers' own sequence (the writer holds the store's
        # lock, so they are consecutive), in the order of the demo numbers; a name left out
        # leaves its id unused, as a conflicting row's DEFAULT would have
        first_id, last_id = cur.execute(
            "SELECT min(v), max(v) FROM (SELECT nextval('customer_id_seq') AS v FROM range(?))",
            [n],
        ).fetchall()[0]
        if last_id - first_id + 1 != n:  # pragma: no cover - another writer took some
            raise RuntimeError("customer ids were taken while making demo data")
        # a field without a demo value (one added later) gets its default
        given = {f.name: DEMO_VALUES.get(f.name, f"$default_{f.name}") for f in CUSTOMER_FIELDS
                 if f.name in DEMO_VALUES or (f.default is not None and not f.system)}  # fmt: skip
        defaults = {f"default_{f.name}": f.stored_default for f in CUSTOMER_FIELDS
                    if f.name in given and f.name not in DEMO_VALUES}  # fmt: skip
        cols = ", ".join(f'"{n}"' for n in given)
        exprs = ",\n  ".join(given.values())
        cur.execute(
            f"""INSERT INTO customers (id, {cols}, name_key)
SELECT
  id,
  {exprs},
  name_key
FROM (
  SELECT *,
    $first + rn - 1 AS id,
    lower(adj || noun) || (CASE WHEN round > 0 THEN (round + 1)::VARCHAR ELSE '' END)
      || '.example' AS domain,
    TIMESTAMP '2023-01-02 09:00:00' + to_seconds(((h // 89) % 94000000)::BIGINT) AS created
  FROM temp._demo
)
ORDER BY id""",
            {"statuses": list(STATUSES), "tags": list(TAGS), "seed": seed,
             "tomls": list(TOML_SAMPLES), "streets": list(STREETS), "first": first_id,
             **defaults},
        )  # fmt: skip
        names = [f.name for f in CONTACT_FIELDS if f.name in DEMO_CONTACT_VALUES]
        cols = ", ".join(f'"{n}"' for n in names)
        exprs = ",\n  ".join(DEMO_CONTACT_VALUES[n] for n in names)
        cur.execute(
            f"""INSERT INTO contacts (customer_id, position, {cols})
SELECT c.id, k,
  {exprs}
FROM (SELECT c.*, d.ctry, d.h
      FROM customers c
      JOIN (SELECT $first + rn - 1 AS id, ctry, h FROM temp._demo) d
        ON c.id = d.id
      WHERE c.id BETWEEN $first AND $last) c,
  range(3) r(k),
  LATERAL (SELECT ($first_names::VARCHAR[])[1 + (hash(c.id, k, 'f') % $nfirst)::INTEGER] AS f,
                  ($last_names::VARCHAR[])[1 + (hash(c.id, k, 'l') % $nlast)::INTEGER] AS l)
WHERE k < 1 + c.h % 3""",
            {"seed": seed, "first_names": list(FIRST), "nfirst": len(FIRST),
             "last_names": list(LAST), "nlast": len(LAST), "first": first_id, "last": last_id},
        )  # fmt: skip
        cur.execute(
            "UPDATE batches SET customer_count = ?, description = ? WHERE batch_id = ?",
            [added, f"demo data: {added} customers", batch_id],
        )
        cur.execute("DROP TABLE temp._demo")
        # bulk demo data: one set-based pass over every customer when it is most of them,
        # else the new customers' rows only
        if added > search.REBUILD_OVER or added * 2 > start + added:
            search.refresh(cur, None)
        else:
            search.refresh(cur, range(first_id, last_id + 1))
        if usage_days > 0:
            _add_usage(
                cur, first_id, usage_days, seed, max(1, -(-added // max(1, usage_customers)))
            )
    return int(added)


#: Rough rates into EUR of the demo's currencies (units of EUR per unit), for the demo data.
DEMO_RATES = {"USD": "0.92", "GBP": "1.17", "AUD": "0.60", "CAD": "0.66", "PLN": "0.23",
              "BRL": "0.17", "SGD": "0.69", "JPY": "0.0061", "INR": "0.011", "MXN": "0.050",
              "NGN": "0.00058", "AED": "0.25", "ZAR": "0.050", "SEK": "0.087", "CHF": "1.05"}  # fmt: skip


def is_empty(store: Store) -> bool:
    """Whether nothing was ever written to the database: no customer and no batch."""
    return (
        store.scalar("SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM batches)")
        == 0
    )


def add_demo(store: Store, n: int, *, seed: int = 42, base: str = "EUR") -> int:
    """Add `n` demo customers and the demo rates into `base`; returns how many customers.

    On PostgreSQL the generator's SQL (DuckDB's `hash`, `range`, STRUCT parameters) cannot
    run, so the demo is made in an in-memory DuckDB and copied across, batch history
    included (`pgstore.copy_tables`): the database must be empty then, and gets the same
    customers as DuckDB does for the same seed.
    """
    require(store, "import")
    if store.dialect is dialect.DUCKDB:
        added = add_demo_customers(store, n, seed=seed)
        add_demo_rates(store, base=base)
        return added
    if not is_empty(store):
        raise UserError(f"demo data goes into an empty PostgreSQL database only; {store.path} "
                        "already holds customers or batches")  # fmt: skip
    from .pgstore import copy_tables

    with Store(":memory:", user=store.user) as made:
        added = add_demo_customers(made, n, seed=seed)
        add_demo_rates(made, base=base)
        copy_tables(made, store)
    return added


def add_demo_rates(store: Store, rates: dict[str, Any] | None = None, *, base: str = "EUR") -> int:
    """Store exchange rates into `base` for the demo (DEMO_RATES unless `rates` given),
    dated today, as seed data like the demo customers: a person's rates come from
    `money.import_rates`, audited and undoable. Returns how many were stored."""
    rates = DEMO_RATES if rates is None else rates
    rows = [[c, base, str(r), "demo", "demo", utcnow()] for c, r in rates.items() if c != base]
    with store.transaction() as cur:
        cur.executemany(
            'INSERT INTO rates (currency, base, rate, "day", user_name, batch_id, imported_at) '
            "VALUES (?, ?, ?, current_date, ?, ?, ?)",
            rows,
        )
    return len(rows)


def _add_usage(cur, first_id: int, days: int, seed: int, every: int) -> None:
    """Daily usage for every `every`-th new customer: weekdays busier than weekends,
    Active customers busier than the rest, each with its own ASR, ACD, rate and margin."""
    cur.execute(
        """INSERT INTO usage_daily (customer_id, "day", calls, connected, minutes, revenue, cost)
SELECT id, "day", calls, connected, minutes,
  round(minutes * rate, 4)::DECIMAL(18,4) AS revenue,
  round(minutes * rate * cost_share, 4)::DECIMAL(18,4) AS cost
FROM (
  SELECT *, (calls * asr)::INTEGER AS connected,
    round((calls * asr)::INTEGER * acd, 2)::DECIMAL(14,2) AS minutes
  FROM (
    SELECT c.id, d."day",
      (c.channels * (2 + hash(c.id, ?) % 20)
        * CASE WHEN dayofweek(d."day") IN (0, 6) THEN 0.4 ELSE 1 END
        * (0.6 + (hash(c.id, d."day", ?) % 80) / 100.0)
        * CASE c.status WHEN 'Active' THEN 1 WHEN 'Pending Approval' THEN 0.1 ELSE 0.02 END
      )::INTEGER AS calls,
      0.30 + (hash(c.id, ?, 'asr') % 45) / 100.0 AS asr,
      1.2 + (hash(c.id, ?, 'acd') % 40) / 10.0 AS acd,
      0.004 + (hash(c.id, ?, 'rate') % 30) / 1000.0 AS rate,
      0.6 + (hash(c.id, ?, 'cost') % 30) / 100.0 AS cost_share
    FROM customers c,
      (SELECT (current_date - r.k::INTEGER)::DATE AS "day" FROM range(1, ? + 1) r(k)) d
    WHERE c.id >= ? AND hash(c.id, ?) % ? = 0
  )
)
WHERE calls > 0""",
        [seed, seed, seed, seed, seed, seed, days, first_id, seed, every],
    )
