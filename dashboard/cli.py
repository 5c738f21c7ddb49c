"""`customer-dashboard`: the command line over the same service functions as the page.

Exit status: 0 done, 1 bad input or refused (nothing written), 2 usage. A person's mistake
is printed as one line per problem on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only light modules here: `--help` and `--version` must not load pandas, DuckDB or Bokeh
# (seconds of CPU); each command imports what it needs.
from .errors import UserError, ValidationError
from .locations import default_db_path, is_url, settings_path
from .words import plural

if TYPE_CHECKING:
    from . import customers
    from .store import Store

_WHERE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(!=|<=|>=|=|<|>|~)(.*)$", re.S)
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "contains"}


class UsageError(Exception):
    """Bad command-line usage (exit 2); `parser` is the (sub)command whose usage is shown."""

    def __init__(self, message: str, parser: argparse.ArgumentParser | None = None) -> None:
        super().__init__(message)
        self.parser = parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Says "(default: X)" after an option's help when X is worth saying (not None/off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class _Commands(argparse._SubParsersAction):
    """Subcommands whose one-line `help` is also their `--help` description."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if "help" in kwargs:
            kwargs.setdefault("description", kwargs["help"][:1].upper() + kwargs["help"][1:] + ".")
        parser = super().add_parser(name, **kwargs)
        parser.set_defaults(command_parser=parser)
        _log_options(parser, argparse.SUPPRESS)  # the usage line a command's usage error shows
        return parser


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)

    def error(self, message: str) -> None:  # type: ignore[override]  # main() exits, with 2
        raise UsageError(f"{self.prog}: error: {message}", self)


WHERE_HELP = "filter, repeatable: F=V, F!=V, F<V, F>V, F<=V, F>=V, F~V (contains)"


class _Version(argparse.Action):
    """`--version`: the installed package's version (looked up only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from . import __version__

        print(f"customer-dashboard {__version__}")
        parser.exit()


def _log_options(sp: argparse.ArgumentParser, default: Any) -> None:
    """--log-level and --log-json, before or after the command (`default` SUPPRESS on the
    commands, so that a value given before the command is not reset by theirs)."""
    from .logs import LEVELS

    sp.add_argument("--log-level", choices=LEVELS, default=default,
                    help="log this level and above to stderr (default: info for serve, "
                         "warning otherwise)")  # fmt: skip
    sp.add_argument("--log-json", action="store_true", default=default,
                    help="log one JSON object per line")  # fmt: skip


def parse_where(items: Sequence[str] | None) -> list[dict[str, Any]]:
    """`--where F=V` arguments as view filters, each compared with the field's own type.

    F=V equals (for tags: has V), F!=V, F<V, F<=V, F>V, F>=V, F~V contains; V empty means
    "is empty" with = and "is not empty" with !=.
    """
    from .fields import field as get_field

    filters = []
    for item in items or []:
        m = _WHERE.match(item)
        if not m:
            raise UserError(f"--where {item!r}: write it as FIELD=VALUE (or <, >, <=, >=, !=, ~)")
        name, op, value = m.group(1), _OPS[m.group(2)], m.group(3).strip()
        f = get_field(name)
        if value == "" and op in ("=", "!="):
            filters.append({"field": name, "op": "empty" if op == "=" else "not_empty"})
            continue
        op = f.type.typed_op(op, value)
        if op not in f.filter_ops:
            raise UserError(f"--where {item!r}: {f.label} cannot be compared with {m.group(2)}")
        filters.append({"field": name, "op": op, "value": value})
    return filters


def _target(args: argparse.Namespace) -> customers.Target:
    from .query import View

    if args.ids and args.where:
        raise UsageError("give --ids or --where, not both")
    if args.ids:
        try:
            return [int(x) for x in args.ids.split(",") if x.strip()]
        except ValueError:
            raise UserError(f"--ids {args.ids!r}: expected numbers like 1,2,3") from None
    if args.where:
        view = View(filters=parse_where(args.where))
        view.check()
        return view
    raise UsageError("choose customers with --ids 1,2,3 or --where FIELD=VALUE")


def _store(args: argparse.Namespace, *, write: bool) -> Store:
    from .store import Store

    path = args.db or default_db_path()
    if is_url(path):
        # Postgres: no snapshot and no owning server; a reader opens it without migrating
        # (it may create temporary tables, which a READ ONLY transaction forbids)
        return _with_settings(Store(path, user="cli", migrate=write), args)
    if not write:
        if not Path(path).exists():
            raise UserError(f"no database at {path}; create it with `customer-dashboard init`")
        from .snapshot import open_store

        # while the dashboard serves the file, its snapshot (seconds old) is read instead
        return _with_settings(open_store(path, user="cli"), args)
    return _with_settings(Store(path, user="cli"), args)


def _with_settings(store: Store, args: argparse.Namespace) -> Store:
    """`store`, holding the command's settings file (`_settings_of`)."""
    store.settings_given = getattr(args, "settings_file", None)
    return store


def _served(args: argparse.Namespace) -> Any:
    """The running dashboard's API client when it serves this database (its endpoint file
    is there): writes then go through the server, which owns the file. None otherwise."""
    from .remote import endpoint

    return endpoint(args.db or default_db_path())


def _target_body(target: Any) -> dict[str, Any]:
    """A target (ids or a view) as the API's request names it."""
    from .query import View

    if isinstance(target, View):
        return {"view": target.to_dict()}
    return {"ids": [int(i) for i in target]}


def _print_json(value: Any) -> None:
    """`--json` output: one JSON document on stdout (money already as decimal strings)."""
    print(json.dumps(value, default=_json_default, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    import datetime as dt
    from decimal import Decimal

    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    return str(value)


def _records(frame: Any, scales: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """A DataFrame as JSON-ready records: missing values null, timestamps ISO 8601, and the
    columns in `scales` (exact decimals, money) as decimal strings with at most that many
    places, never floats such as 1405413.5800000001."""
    from decimal import Decimal

    import pandas as pd

    scales = scales or {}
    out = []
    for row in frame.to_dict("records"):
        record = {}
        for key, value in row.items():
            if value is None or (not isinstance(value, list | dict) and pd.isna(value)):
                value = None
            elif key in scales and isinstance(value, float | int | Decimal):
                # the engine reads DECIMAL sums as floats: their shortest repr is the exact
                # decimal, rounded to the field's scale (an average may have more places)
                exact = Decimal(repr(value) if isinstance(value, float) else value)
                value = format(exact.quantize(Decimal(1).scaleb(-scales[key])).normalize(), "f")
            elif isinstance(value, pd.Timestamp):
                value = value.isoformat()
            elif hasattr(value, "item"):
                value = value.item()
            record[str(key)] = value
        out.append(record)
    return out


def _decimal_scales(names: Any) -> dict[str, int]:
    """The exact-decimal registry fields (money, rates) among `names`, with their scales."""
    from .fields import COLUMNS
    from .types import Number

    found = {}
    for name in names:
        f = COLUMNS.get(name)
        if f is not None and isinstance(f.type, Number):
            found[name] = f.type.scale
    return found


def _pivot_scales(
    view: Any, titles: Sequence[str], units: dict[str, str] | None = None
) -> dict[str, int]:
    """Which titled columns of a group or pivot table hold exact decimals (money, rates):
    a sum, minimum, maximum or average of a Number field; not counts, not --percent shares."""
    from .query import value_label

    if view.percent:
        return {}
    exact = _decimal_scales(f for f, _ in view.values)
    specs = [(f, a) for f, a in view.values if f in exact and a in ("sum", "avg", "min", "max")]
    from .fields import COLUMNS

    groups = {*view.groups, *(COLUMNS[g].label for g in view.groups)}
    found = {}
    for title in titles:
        for f, a in specs:
            label = value_label(f, a, units)
            # a group table titles the value "Sum of Balance"; a pivot "EUR · Sum of Balance",
            # or just "EUR" when it shows one value only
            single = view.pivot and len(view.values) == 1 and title not in groups
            if title == label or title.endswith(f" · {label}") or single:
                found[title] = exact[f]
    return found


@contextlib.contextmanager
def _progress(what: str, total: int | None = None, *, unit: str = "it") -> Iterator[Any]:
    """A tqdm progress bar on stderr for long work (an SMS batch at 1 message a second runs
    for hours), shown only when stderr is a terminal: never in pipes, files or logs. Yields
    `step(done, total=None)`."""
    if not sys.stderr.isatty():
        yield lambda *_: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, leave=False)

    def step(done: int, of: int | None = None) -> None:
        if of is not None and bar.total != of:
            bar.total = of
        bar.update(done - bar.n)

    try:
        yield step
    finally:
        bar.close()


def _ask(question: str) -> bool:
    """A yes/no question on the terminal; end of input (Ctrl-D) answers no."""
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        print(file=sys.stderr)
        return False


# --- commands ------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from . import money
    from .demo import add_demo

    with _store(args, write=True) as store:
        print(f"database {store.path} is at schema {store.schema_version()}")
        if args.demo:
            n = add_demo(
                store, args.demo, seed=args.seed, base=money.base_currency(args.settings_file)
            )
            from .undo import last_batch

            batch = last_batch(store) or {}
            print(f"added {n} demo customers; batch {batch.get('batch_id', '(none)')}")
    return 0


def cmd_pivot(args: argparse.Namespace) -> int:
    from . import query
    from .fields import COLUMNS
    from .query import View

    if args.view:
        view = View.from_json(args.view)  # a view copied from the page's Code dialog
    else:
        rows = [r for r in (args.rows or "").split(",") if r]
        values = [v for v in (args.values or "").split(",") if v]
        specs = []
        for v in values or ["*:count"]:
            fname, _, agg = v.partition(":")
            if not agg:
                raise UserError(f"--values {v!r}: write FIELD:AGGREGATE, e.g. credit:sum")
            specs.append([fname, agg])
        if not rows and not args.columns:
            raise UsageError("give --rows and/or --columns (or --view)")
        view = View(
            source=args.source,
            groups=rows,
            pivot=args.columns or None,
            values=[s for s in specs if s[0] != "*"],
            filters=parse_where(args.where),
            percent=args.percent,
        )
    if args.base:
        view = view.copy(base=args.base)  # the reporting currency of this report only
    if args.hide:
        # as a header menu's Hide column does: the engine leaves these columns out
        view = view.copy(hidden=[*view.hidden, *(h for h in args.hide if h not in view.hidden)])
    if args.expand:
        if view.mode != "groups":
            raise UserError("--expand opens groups of --rows; it does not go with --columns")
        if args.out:
            raise UserError("--expand prints the group tree; it does not go with --out")
        view = view.copy(expand=[parse_group_path(p) for p in args.expand])
    view.check()
    if view.expand and view.mode == "groups" and not args.out:  # a report has no open groups
        return _print_tree(args, view)
    with _store(args, write=False) as store:
        if args.out:
            from .reports import pivot_report

            n = pivot_report(store, view, args.out)
            print(f"wrote {plural(n, 'row')} and a totals row to {args.out}")
            return 0
        result = query.run(store, view, paged=False)
    table = result.table()
    if args.format == "csv":
        table.rename(columns={v: k for k, v in result.labels.items() if k in COLUMNS}).to_csv(
            sys.stdout, index=False
        )
    elif args.json or args.format == "json":
        _print_json(_records(table, _pivot_scales(view, list(table.columns), result.units)))
    else:
        print(table.to_string(index=False))
    return 0


#: --expand's separator between the group values of a path ("Active/EUR")
PATH_SEPARATOR = "/"


def parse_group_path(text: str) -> list[str | None]:
    """An --expand path: group values outermost first, joined by "/" ("Active/EUR"); a
    backslash makes the next character plain ("A\\/B" is the value A/B); an empty value or
    "(blank)" is a blank group ("Active/" or "Active/(blank)")."""
    from .types import BLANK

    values: list[str | None] = []
    part, plain, escaped = "", False, False
    for ch in text:
        if escaped:
            part, plain, escaped = part + ch, True, False
        elif ch == "\\":
            escaped = True
        elif ch == PATH_SEPARATOR:
            values.append(part if plain or (part and part != BLANK) else None)
            part, plain = "", False
        else:
            part += ch
    if escaped:
        raise UserError(f"--expand {text!r}: a path ends with a lone backslash")
    values.append(part if plain or (part and part != BLANK) else None)
    return values


def _print_tree(args: argparse.Namespace, view: Any) -> int:
    """pivot --expand: the group tree with the named groups open (`tree.outline`, as the
    page shows it), one line a group, customer or "more" row, then the Total."""
    import pandas as pd

    from . import tree
    from .fields import COLUMNS, ID_FIELD, KEY_FIELD
    from .query import PER_CURRENCY, value_column, value_label
    from .types import Money, is_blank

    with _store(args, write=False) as store:
        out = tree.outline(store, view, paged=False)
    top = out.top
    first = " › ".join(COLUMNS[g].label for g in view.groups)
    values = {"count": top.labels.get("count", "Customers")}
    values.update({value_column(f, a): value_label(f, a) for f, a in view.values})
    # the columns the engine gave (a hidden one it left out: --hide, the view's hidden)
    values = {c: title for c, title in values.items() if c in top.data.columns}
    leaf = tree.group_view(view, [None] * len(view.groups))
    fields = {c: COLUMNS[c].label for c in leaf.columns
              if c not in (KEY_FIELD, ID_FIELD, *view.groups)}  # fmt: skip
    exact = _decimal_scales(f for f, _ in view.values)
    scales = {} if view.percent else {
        values[value_column(f, a)]: exact[f]
        for f, a in view.values
        if f in exact and a in ("sum", "avg", "min", "max") and value_column(f, a) in values
    }  # fmt: skip
    scales.update({fields[k]: v for k, v in _decimal_scales(fields).items()})
    text = not (args.json or args.format in ("json", "csv"))
    indent = "  " if text else ""  # JSON and CSV say the level and kind in fields

    def cell(title: str, v: Any, unit: str | None) -> Any:
        if is_blank(v):
            return None
        if text and unit and unit != PER_CURRENCY:
            return Money.amount_text(v, unit)
        if hasattr(v, "tolist") and not isinstance(v, str):
            v = v.tolist()  # numpy scalars and arrays (a list field's values)
        if text and isinstance(v, list | tuple):
            return ", ".join(map(str, v))
        return v

    records: list[dict[str, Any]] = []
    for node in out.nodes:
        level, row, units = node["level"], node["row"], node["units"]
        rec: dict[str, Any] = {"kind": node["kind"], "level": level, "path": node["path"]}
        if node["kind"] == "group":
            field = view.groups[level]
            rec[first] = indent * level + COLUMNS[field].type.group_label(row.get(field))
            for col, title in values.items():
                rec[title] = cell(title, row.get(col), units.get(col))
        elif node["kind"] == "customer":
            rec[first] = indent * level + ("• " if text else "") + str(row.get(KEY_FIELD) or "")
            for name, title in fields.items():
                rec[title] = cell(title, row.get(name), units.get(name))
        else:
            rest = node["total"] - node["shown"]
            rec[first] = indent * level + (f"… {rest:,} more {node['what']} "
                                         f"({node['shown']:,} of {node['total']:,} shown)")  # fmt: skip
            rec.update(shown=node["shown"], total=node["total"])
        if not text:
            rec["units"] = {values.get(c) or fields.get(c): u for c, u in units.items() if u}
        records.append(rec)
    if top.totals is not None and len(top.totals):
        total = {"kind": "total", "level": 0, "path": [], first: top.total_label}
        units = {}
        for col, title in values.items():
            unit = top.total_units.get(col) or top.units.get(col)
            v = top.totals[col].iloc[0] if col in top.totals else None
            total[title] = cell(title, v, unit)
            if unit:
                units[title] = unit
        if not text:
            total["units"] = units
        records.append(total)
    if args.json or args.format == "json":  # each row its own keys: no customer's on a group
        _print_json([_records(pd.DataFrame([r], dtype=object), scales)[0] for r in records])
        return 0
    frame = pd.DataFrame(records, dtype=object)  # counts stay whole beside blanks
    columns = [first, *values.values(), *fields.values()]
    if args.format == "csv":
        frame[["kind", "level", *columns]].to_csv(sys.stdout, index=False)
    else:
        shown = frame[columns].astype(object)
        shown = shown.where(shown.notna(), "")
        print(shown.to_string(index=False, justify="left", formatters={
            first: lambda v: str(v).ljust(max(len(str(x)) for x in shown[first]))}))  # fmt: skip
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from .sqlbox import export_sql, run_sql

    text = sys.stdin.read() if args.query == "-" else args.query
    with _store(args, write=False) as store:
        if args.out:  # streamed to the file: every row, whole cells
            n = export_sql(store, text, args.out)
            print(f"wrote {plural(n, 'row')} to {args.out}")
            return 0
        result = run_sql(store, text, limit=args.limit)
    if args.json:
        _print_json(_records(result.data, _decimal_scales(result.data.columns)))
    elif args.format == "csv":
        result.data.to_csv(sys.stdout, index=False)
    else:
        print(result.data.to_string(index=False))
    if result.notice:
        print(f"({result.notice}; use --out FILE for all)", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from . import exports
    from .fields import FIELDS
    from .query import View

    columns = [c for c in (args.columns or "").split(",") if c]
    if args.view:
        view = View.from_json(args.view)  # a view copied from the page's Code dialog
    else:
        view = View(filters=parse_where(args.where), **({"columns": columns} if columns else {}))
        if not columns:
            view.columns = [f.name for f in FIELDS.values()]
    view.check()
    fmt = args.format or ("csv" if args.out == "-" else exports.format_of(args.out))
    if args.out != "-" and args.format and args.format != exports.format_of(args.out):
        raise UserError(f"--format {args.format} does not match the file name {args.out}")
    with _store(args, write=False) as store:
        if args.out != "-":
            n = exports.export_view(store, view, args.out)
        else:  # written to a file first (XLSX and Parquet need one), then streamed to stdout
            import shutil
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / f"export.{fmt}"
                n = exports.export_view(store, view, out)
                with out.open("rb") as written:
                    shutil.copyfileobj(written, sys.stdout.buffer)
                sys.stdout.flush()
    # with `-` stdout holds the file, so the summary goes to stderr
    print(f"exported {plural(n, 'customer')} to {'stdout' if args.out == '-' else args.out}",
          file=sys.stderr if args.out == "-" else sys.stdout)  # fmt: skip
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from . import customers
    from .fields import FIELDS

    changes: dict[str, str] = {}
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: write it as FIELD=VALUE")
        name = name.strip()
        # "channels+=5" arrives as name "channels+" and value "5": keep the operator
        if name and name[-1] in "+-*":
            name, value = (
                name[:-1],
                name[-1]
                + ("=" if FIELDS.get(name[:-1]) and FIELDS[name[:-1]].type.many else "")
                + value,
            )
        changes[name] = value
    if not changes:
        raise UsageError("give at least one --set FIELD=VALUE")
    target = _target(args)
    client = None if args.dry_run else _served(args)
    if client is not None:  # the dashboard owns the file: the same bulk edit, through it
        got = client.bulk_edit(_target_body(target), changes)
        count, lines = got.pop("count"), got.pop("lines")
        result = {k: got[k] for k in ("dry_run", "written", "batch_id")}
        result.update({k: v for k, v in got.items() if k not in result})
    else:
        # a dry run reads only (the served database's snapshot while the dashboard runs):
        # it takes no write lock and migrates nothing
        with _store(args, write=not args.dry_run) as store:
            batch = customers.bulk_edit(store, target, changes, dry_run=args.dry_run)
        summary = batch.details["summary"]
        count, lines = batch.count, summary.lines(first=10)
        result = {"dry_run": args.dry_run, "written": bool(batch.batch_id),
                  "batch_id": batch.batch_id or None, **summary.to_dict()}  # fmt: skip
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    if args.dry_run:
        print(f"would change {plural(count, 'customer')} (dry run, nothing written)")
    else:
        print(f"changed {plural(count, 'customer')}; batch {result['batch_id'] or '(none)'}")
    for line in lines:
        print(line if line.startswith("  ") else f"  {line}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from . import customers

    target = _target(args)
    client = _served(args)
    with contextlib.ExitStack() as stack:
        if client is not None:  # through the dashboard that owns the file
            from .remote import ApiProblem

            body = _target_body(target)
            try:
                client.request("DELETE", "/customers", body=body)
                n, names = 0, []  # nothing matched (else it asks for the count)
            except ApiProblem as exc:
                if exc.status != 409 or "count" not in exc.doc:
                    raise
                n, names = int(exc.doc["count"]), list(exc.doc.get("first") or [])

            def delete() -> dict[str, Any]:
                return client.request("DELETE", "/customers", body={**body, "confirm": n})
        else:
            store = stack.enter_context(_store(args, write=True))
            n, names = customers.preview_targets(store, target)

            def delete() -> dict[str, Any]:
                batch = customers.delete_customers(store, target)
                return {"deleted": batch.count, "batch_id": batch.batch_id, "ids": batch.ids}

        if n == 0:
            if args.json:
                _print_json({"deleted": 0, "batch_id": None})
            else:
                print("no customers match; nothing deleted")
            return 0
        if not args.yes:
            shown = ", ".join(names) + (" ..." if n > len(names) else "")
            if not sys.stdin.isatty():
                raise UserError(
                    f"would delete {plural(n, 'customer')} ({shown}); add --yes to confirm"
                )
            if not _ask(f"Delete {plural(n, 'customer')} ({shown})? [y/N] "):
                print("nothing deleted")
                return 1
        done = delete()
    if args.json:
        _print_json({k: done[k] for k in ("deleted", "batch_id", "ids")})
        return 0
    print(f"deleted {plural(done['deleted'], 'customer')}; batch {done['batch_id']}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .api import run_import
    from .errors import Problem
    from .store import Store

    options = {"sheet": args.sheet, "header_row": args.header_row, "encoding": args.encoding,
               "delimiter": args.delimiter, "decimal": args.decimal, "map": args.map or [],
               "set": args.set or [], "on_duplicate": args.on_duplicate,
               "valid_only": args.valid_only, "dry_run": args.dry_run}  # fmt: skip
    # `-`: the file from stdin, its kind (CSV, XLSX, ODS, XLS) sniffed from its bytes as
    # always; one byte more than the limit is read, so that an oversize file is refused
    if args.file == "-":
        from .importer import MAX_BYTES

        source: Any = sys.stdin.buffer.read(MAX_BYTES + 1)
    else:
        source = args.file
    client = _served(args)
    if client is not None:  # the dashboard owns the file: the same import, through it
        if isinstance(source, str):
            from .importer import MAX_BYTES, _load

            data = _load(source, MAX_BYTES)
        else:
            data = source
        report = client.import_file(data, Path(args.file).name, **{
            k: v for k, v in options.items() if v not in (None, [], False)})  # fmt: skip
    else:
        db = args.db or default_db_path()
        fresh = args.dry_run and not is_url(db) and not Path(db).exists()
        # a dry run against a database that does not exist yet checks against an empty one
        with Store(":memory:") if fresh else _store(args, write=not args.dry_run) as store:
            with _progress("import", 100, unit="%") as step:
                report = run_import(store, source, options,
                                    progress=lambda done, _what: step(round(100 * done)))  # fmt: skip
    blocked = report.pop("blocked")
    if report.pop("invalid_plan", False):  # the mapping or options themselves are wrong
        problems = [Problem(**p) for p in report["problems"]]
        if args.json:
            print(json.dumps({k: report[k] for k in ("written", "counts", "problems",
                                                     "warnings")}))  # fmt: skip
            return 1
        raise ValidationError(problems)
    written = bool(report["written"])
    if args.json:
        print(json.dumps(report, default=str))
    else:
        c = report["counts"]
        from .importer import counts_text

        print(counts_text(c))
        mapped = ", ".join(f"{h} -> {t}" for h, t in report["mapping"].items() if t)
        print(f"columns: {mapped}")
        for w in report["warnings"]:
            print(f"warning: {Problem(**w).describe()}", file=sys.stderr)
        problems = report["problems"]
        for p in problems[:50]:
            print(f"  {Problem(**p).describe()}", file=sys.stderr)
        if len(problems) > 50:
            print(f"  ... and {len(problems) - 50} more problems", file=sys.stderr)
        if written:
            print(f"imported; batch {report['batch_id']}")
        elif args.dry_run:
            print("dry run: nothing written" + ("" if not blocked else " (and problems remain)"))
        elif blocked:
            print("nothing written: fix the problems, or use --valid-only to import the valid rows")
    if args.dry_run:
        return 1 if blocked else 0
    return 0 if written or not blocked else 1


def cmd_send(args: argparse.Namespace) -> int:
    from . import messaging
    from .settings import Settings

    if args.resume or args.discard:
        return _send_again(args)
    if not args.channel or args.body is None:
        raise UsageError("give --channel and --body (or --resume BATCH / --discard BATCH)")
    target = _target(args)
    client = _served(args)
    if client is not None:  # the dashboard owns the file (and its settings): through it
        got = client.send(_target_body(target), args.channel, args.body, args.subject,
                          dry_run=args.dry_run)  # fmt: skip
    else:
        settings = Settings.load(args.settings_file) if not args.dry_run or args.settings else None
        with _store(args, write=True) as store:
            with _progress("send", unit="msg") as step:
                batch_id, plan, counts = messaging.send(
                    store, target, args.channel, args.body, args.subject, settings=settings,
                    dry_run=args.dry_run, progress=step,
                )  # fmt: skip
        preview = plan.preview
        got = {"batch_id": batch_id, "counts": counts, "warnings": plan.warnings,
               "skipped": [{"customer_id": c, "name": n, "reason": r}
                           for c, n, r in plan.skipped], "summary": plan.summary(),
               "preview": preview and {"recipient": preview.recipient,
                                       "subject": preview.subject, "body": preview.body}}  # fmt: skip
    batch_id, counts = got["batch_id"], got["counts"]
    if args.json:
        print(json.dumps({k: got[k] for k in ("batch_id", "counts", "warnings", "skipped")}))
    else:
        print(got["summary"])
        if got["preview"]:
            print(f"first message, to {got['preview']['recipient']}:")
            if got["preview"]["subject"]:
                print(f"  Subject: {got['preview']['subject']}")
            print("  " + got["preview"]["body"].replace("\n", "\n  "))
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"{'dry run, nothing sent' if args.dry_run else 'done'}: {shown}; batch {batch_id}")
    for warning in got["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return _send_status(batch_id, counts, args.json)


def _send_status(batch_id: str, counts: dict[str, int], quiet: bool) -> int:
    """0 when nothing is left to send and nothing failed; else 1, saying how to go on."""
    if counts["failed"] == 0 and counts["queued"] == 0 and counts["retrying"] == 0:
        return 0
    if (counts["queued"] or counts["retrying"]) and not quiet:
        print(f"left to send: resume with `customer-dashboard send --resume {batch_id}`, or "
              f"give up with --discard {batch_id}", file=sys.stderr)  # fmt: skip
    return 1


def _send_again(args: argparse.Namespace) -> int:
    """`send --resume BATCH` (send what it has not sent) or `send --discard BATCH`."""
    from . import messaging
    from .settings import Settings

    given = [
        n for n in ("ids", "where", "channel", "subject", "body", "dry_run") if getattr(args, n)
    ]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise UsageError(f"--resume and --discard act on a batch as it is; drop {option}")
    batch_id = args.resume or args.discard
    client = _served(args)
    if client is not None:  # through the dashboard that owns the file
        counts = client.request(
            "POST", f"/send/{batch_id}/{'resume' if args.resume else 'discard'}"
        )["counts"]
    else:
        with _store(args, write=True) as store:
            if args.resume:
                with _progress("send", unit="msg") as step:
                    counts = messaging.resume(store, batch_id, Settings.load(args.settings_file),
                                              progress=step)  # fmt: skip
            else:
                counts = messaging.discard(store, batch_id)
    if args.json:
        print(json.dumps({"batch_id": batch_id, "counts": counts}))
    else:
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"{'done' if args.resume else 'discarded'}: {shown}; batch {batch_id}")
    return _send_status(batch_id, counts, args.json) if args.resume else 0


def cmd_undo(args: argparse.Namespace) -> int:
    from .undo import undo

    client = _served(args)
    if client is not None:  # through the dashboard that owns the file
        got = client.undo(args.batch_id)
    else:
        with _store(args, write=True) as store:
            batch = undo(store, args.batch_id)
        got = {"undone": args.batch_id, "restored": batch.count, "batch_id": batch.batch_id,
               "effect": batch.details["effect"]}  # fmt: skip
    if args.json:
        _print_json({k: got[k] for k in ("undone", "restored", "batch_id")})
        return 0
    print(f"undid {args.batch_id}, {got['effect']}; batch {got['batch_id']}")
    return 0


def cmd_batches(args: argparse.Namespace) -> int:
    from .audit import batches

    with _store(args, write=False) as store:
        frame = batches(store, args.limit)
    cols = ["batch_id", "happened_at", "user_name", "action", "customer_count", "undone_by",
            "description"]  # fmt: skip
    if args.json:
        _print_json(_records(frame[cols]))
        return 0
    if frame.empty:
        print("no batches yet")
        return 0
    from .types import timestamp_text

    frame["happened_at"] = frame["happened_at"].map(lambda v: timestamp_text(v, seconds=True))
    print(frame[cols].fillna("").to_string(index=False, max_colwidth=60))
    return 0


def _password(args: argparse.Namespace) -> str:
    """The new password: one line of stdin with --password-stdin, else typed twice (never an
    argument, where other users could read it in the process list)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ; nothing was changed")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from . import users

    client = _served(args)
    if args.users_command == "list":
        if client is not None:  # the users table is never in the readers' snapshot
            found = [
                users.User(u["name"], u["role"]) for u in client.request("GET", "/users")["users"]
            ]
        else:
            with _store(args, write=False) as store:
                found = users.list_users(store)
        if args.json:
            _print_json([{"name": u.name, "role": u.role} for u in found])
            return 0
        for u in found:
            print(f"{u.name}\t{u.role}")
        if not found:
            print("no users (sign-in cannot be turned on until an admin exists)")
        return 0
    password = _password(args) if args.users_command in ("add", "passwd") else ""
    if client is not None:  # through the dashboard that owns the file
        if args.users_command == "add":
            client.request("POST", "/users", body={"name": args.name, "role": args.role,
                                                   "password": password})  # fmt: skip
            print(f"added {args.name} ({args.role})")
        elif args.users_command == "passwd":
            client.request("PUT", f"/users/{args.name}/password", body={"password": password})
            print(f"changed the password of {args.name}")
        else:
            client.request("DELETE", f"/users/{args.name}")
            print(f"removed {args.name}")
        return 0
    with _store(args, write=True) as store:
        if args.users_command == "add":
            users.add_user(store, args.name, args.role, password)
            print(f"added {args.name} ({args.role})")
        elif args.users_command == "passwd":
            users.set_password(store, args.name, password)
            print(f"changed the password of {args.name}")
        else:
            users.remove_user(store, args.name)
            print(f"removed {args.name}")
    return 0


def cmd_rates(args: argparse.Namespace) -> int:
    from decimal import Decimal

    from . import money

    base = money.check_base(args.base) if args.base else money.base_currency(args.settings_file)
    if args.rates_command == "list":
        with _store(args, write=False) as store:
            frame = money.list_rates(store, base)
        if args.json:
            _print_json({"base": base, "rates": _records(frame, {"rate": 8})})
            return 0
        if frame.empty:
            print(
                f"no exchange rates into {base}; add them with `customer-dashboard rates import FILE`"
            )
            return 0
        print(f"1 unit = ... {base}")
        for row in frame.itertuples(index=False):
            rate = format(Decimal(str(row.rate)).normalize(), "f")
            print(f"{row.currency}\t{rate}\t{str(row.day)[:10]}\t{row.user_name}")
        return 0
    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file)
    if isinstance(data, Path) and not data.is_file():
        raise UserError(f"no file {args.file}")
    day = None
    if args.date:
        from .types import Date

        try:
            day = Date().parse(args.date)
        except ValueError as exc:
            raise UserError(f"--date {args.date!r} {exc}") from None
    if args.dry_run:
        found = money.read_rates(data, base=base, day=day)
    else:
        with _store(args, write=True) as store:
            found = money.import_rates(store, data, base=base, day=day)
    for line in found.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if args.json:
        _print_json({"base": found.base, "batch_id": found.batch_id, "count": len(found.rates),
                     "warnings": found.warnings,
                     "rates": [{"currency": c, "rate": r, "date": d} for c, r, d in found.rates]})  # fmt: skip
    elif args.dry_run:
        print(
            f"would import {plural(len(found.rates), 'rate')} into {found.base} (dry run: nothing written)"
        )
    else:
        print(
            f"imported {plural(len(found.rates), 'rate')} into {found.base}; batch {found.batch_id}"
        )
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    """`tokens add USER`, `tokens list`, `tokens revoke ID`: the API's bearer tokens."""
    from . import tokens

    client = _served(args)
    if client is not None:  # through the dashboard that owns the file
        if args.tokens_command == "add":
            got = client.request("POST", "/tokens", body={"user": args.user, "label": args.label,
                                                          "expires": args.expires})  # fmt: skip
            found_tokens = None
        elif args.tokens_command == "revoke":
            got = client.request("DELETE", f"/tokens/{args.token_id}")
            print(f"revoked {got['token_id']} ({got['user']})")
            return 0
        else:
            listed = client.request("GET", "/tokens", query={"user": args.user})["tokens"]
            found_tokens = [tokens.Token.from_dict(t) for t in listed]
        if found_tokens is None:
            secret = got.pop("token")
            if args.json:
                _print_json({**got, "token": secret})
                return 0
            print(f"token {got['token_id']} for {got['user']} (expires "
                  f"{(got['expires_at'] or 'never')[:16]}):")  # fmt: skip
            print(secret)
            print("it is shown this once; keep it secret (only its hash is stored)",
                  file=sys.stderr)  # fmt: skip
            return 0
        return _print_tokens(found_tokens, args.json)
    with _store(args, write=True) as store:
        if args.tokens_command == "add":
            token, secret = tokens.add_token(store, args.user, label=args.label,
                                             expires=args.expires)  # fmt: skip
            if args.json:
                _print_json({**token.to_dict(), "token": secret})
                return 0
            until = token.expires_at.isoformat(timespec="minutes") if token.expires_at else "never"
            print(f"token {token.token_id} for {token.user} (expires {until}):")
            print(secret)
            print("it is shown this once; keep it secret (only its hash is stored)",
                  file=sys.stderr)  # fmt: skip
            return 0
        if args.tokens_command == "revoke":
            token = tokens.revoke_token(store, args.token_id)
            print(f"revoked {token.token_id} ({token.user})")
            return 0
        found = tokens.list_tokens(store, user=args.user)
    return _print_tokens(found, args.json)


def _print_tokens(found: list[Any], as_json: bool) -> int:
    if as_json:
        _print_json([t.to_dict() for t in found])
        return 0
    for t in found:
        d = t.to_dict()
        print("\t".join(str(d[k] or "-") for k in ("token_id", "user", "state", "label",
                                                    "created_at", "expires_at", "last_used_at")))  # fmt: skip
    if not found:
        print("no tokens")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from .backup import backup

    path = args.db or default_db_path()
    if is_url(path):
        raise UserError(
            "a PostgreSQL database is backed up with Postgres's own tools: "
            f"pg_dump -Fc -f {args.out} 'URL' (and restored with pg_restore -d 'URL' FILE)"
        )
    out = backup(path, args.out)
    print(f"backed up {path} to {out}")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from .pgstore import copy_tables
    from .store import Store

    if not is_url(args.source) and not Path(args.source).exists():
        raise UserError(f"no database at {args.source}")
    if not is_url(args.to) and Path(args.to).resolve() == Path(args.source).resolve():
        raise UserError("copy --from and --to name the same file")
    new_file = not is_url(args.to) and not Path(args.to).exists()
    try:
        with Store(args.source, user="cli", read_only=not is_url(args.source)) as source, \
                Store(args.to, user="cli") as target:  # fmt: skip
            there = target.scalar("SELECT (SELECT count(*) FROM customers) + "
                                  "(SELECT count(*) FROM batches)")  # fmt: skip
            if there:
                raise UserError(
                    f"{target.path} already holds data; copy into a new, empty database "
                    + (
                        "(createdb NAME, then --to postgresql://.../NAME)"
                        if is_url(args.to)
                        else "(a file that does not exist yet)"
                    )  # fmt: skip
                )
            counts = copy_tables(source, target)
    except BaseException:
        if new_file:  # a failed copy leaves no half-made file behind
            for made in (Path(args.to), Path(f"{args.to}.wal")):
                made.unlink(missing_ok=True)
        raise
    if args.json:
        _print_json({"from": str(args.source), "to": target.path, "rows": counts})
        return 0
    total = sum(counts.values())
    print(f"copied {plural(total, 'row')} from {args.source} to {target.path} "
          f"({', '.join(f'{t} {n}' for t, n in counts.items())}); counts checked")  # fmt: skip
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from .backup import restore

    path = args.db or default_db_path()
    if is_url(path):
        raise UserError("a PostgreSQL database is restored with Postgres's own tools: "
                        f"pg_restore --clean -d 'URL' {args.backup} (a pg_dump -Fc file); a "
                        "DuckDB file is copied in with `customer-dashboard copy --from FILE "
                        "--to URL`")  # fmt: skip
    if not args.yes:
        if not sys.stdin.isatty():  # a script or a pipe: nobody to ask, so never a guess
            raise UserError(f"would replace {path} with {args.backup}; add --yes to confirm")
        if not _ask(f"replace {path} with {args.backup}? (the current file is kept aside) [y/N] "):
            print("nothing changed")
            return 1
    kept = restore(args.backup, path)
    print(
        f"restored {path} from {args.backup}" + (f"; the previous file is {kept}" if kept else "")
    )
    return 0


#: The --settings option's help: where the file is unless it is given.
SETTINGS_HELP = ("settings file (default: settings.toml beside the database, or "
                 "$CUSTOMER_DASHBOARD_SETTINGS)")  # fmt: skip


def _settings_of(args: argparse.Namespace) -> None:
    """Name a command's settings file in `args.settings_file` (`locations.settings_path`:
    --settings, else $CUSTOMER_DASHBOARD_SETTINGS, else beside --db); the command passes it
    on, and its stores hold it (`_store`), so the engine's reporting currency, demo rates
    and Send read that file. Passed, not put in the environment: a process running several
    commands (a test, a notebook calling `main`) keeps its own."""
    db = getattr(args, "db", None)
    args.settings_file = str(settings_path(db, getattr(args, "settings", None)))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="customer-dashboard", description="The customer back office from the command "
                "line: the same service functions as the page.")  # fmt: skip
    p.add_argument("--version", action=_Version, help="print the version and exit")
    _log_options(p, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser,
                           metavar="COMMAND", title="commands")  # fmt: skip

    def db(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--db", help=f"database file, or a postgresql://user@host:port/name URL "
                        f"(default: {default_db_path()}, or $CUSTOMER_DASHBOARD_DB)")  # fmt: skip

    def select(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--ids", help="comma-separated customer ids")
        sp.add_argument("--where", action="append", metavar="F=V", help=WHERE_HELP)

    sp = sub.add_parser("init", help="create or migrate the database")
    db(sp)
    sp.add_argument("--demo", type=int, default=0, metavar="N", help="add N demo customers")
    sp.add_argument("--seed", type=int, default=42, help="demo data seed (same seed, same data)")
    sp.set_defaults(func=cmd_init)

    sp = sub.add_parser("pivot", help="group and pivot customers")
    db(sp)
    sp.add_argument("--rows", help="group rows by these fields, comma-separated")
    sp.add_argument("--columns", help="field whose values become columns")
    sp.add_argument("--values", help="FIELD:AGG[,FIELD:AGG]; AGG is count, count_distinct, "
                    "sum, avg, min or max (default: count of customers)")  # fmt: skip
    sp.add_argument("--where", action="append", metavar="F=V", help=WHERE_HELP)
    sp.add_argument(
        "--source",
        choices=("customers", "usage"),
        default="customers",
        help="rows are customers, or days of usage (revenue, calls, asr, ...)",
    )
    sp.add_argument(
        "--percent",
        choices=("row", "column", "total"),
        help="show shares of the row, column or grand total",
    )
    sp.add_argument("--view", help="a view's JSON, as the page's Code dialog shows it")
    sp.add_argument("--base", metavar="CCY",
                    help="the currency money over several currencies is reported in, for this "
                         "report (default: [money] base in the settings, EUR); rates into it "
                         "must be stored")  # fmt: skip
    sp.add_argument("--expand", action="append", metavar="PATH",
                    help="print the group tree with this group open (repeatable): its group "
                         "values joined by /, e.g. Active/EUR; an empty value or (blank) is a "
                         "blank group, \\/ a / inside a value; an open last level lists its "
                         "customers, one page")  # fmt: skip
    sp.add_argument("--hide", action="append", metavar="COLUMN",
                    help="leave this value column out (repeatable), named as --view's hidden "
                         "and sort keys: count, sum_credit; a pivot column as "
                         "VALUE@LABEL (sum_credit@GB), its row total as VALUE")  # fmt: skip
    sp.add_argument("--out", help="write a report to .xlsx (formatted) or .csv")
    # "json" stays accepted (earlier spelling of --json) but is no longer shown
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table",
                    metavar="{table,csv}", help="print an aligned table or CSV")  # fmt: skip
    json_option(sp)
    sp.set_defaults(func=cmd_pivot)

    sp = sub.add_parser("sql", help="run one read-only SELECT over the customer tables")
    sp.add_argument("query", help="the SELECT (or - to read it from stdin)")
    db(sp)
    sp.add_argument("--limit", type=int, default=1000, help="rows printed at most")
    sp.add_argument("--format", choices=("table", "csv"), default="table",
                    help="print an aligned table or CSV")  # fmt: skip
    json_option(sp)
    sp.add_argument("--out", help="write every row to .csv, .xlsx, .parquet or .json")
    sp.set_defaults(func=cmd_sql)

    sp = sub.add_parser("export", help="export customers (.csv, .xlsx, .parquet, .json)")
    sp.add_argument("out", help="the file to write, its format from its name; - for stdout")
    db(sp)
    sp.add_argument("--format", choices=("csv", "xlsx", "parquet", "json"),
                    help="the file format (default: from the file name; csv for -)")  # fmt: skip
    sp.add_argument("--where", action="append", metavar="F=V", help=WHERE_HELP)
    sp.add_argument("--columns", help="fields, comma-separated (default: all)")
    sp.add_argument("--view", help="a view's JSON, as the page's Code dialog shows it")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("edit", help="bulk edit customers")
    db(sp)
    select(sp)
    sp.add_argument("--set", action="append", metavar="F=V",
                    help='F=V sets; F=+5 adds, F=-5 subtracts, F=*1.2 multiplies, '
                         'F="*1.2, at most 50" bounds; tags: tags+=a, tags-=a')  # fmt: skip
    sp.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would change (how many go up, down, ...); write nothing",
    )
    json_option(sp)
    sp.set_defaults(func=cmd_edit)

    sp = sub.add_parser("delete", help="delete customers and their contacts")
    db(sp)
    select(sp)
    sp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    json_option(sp)
    sp.set_defaults(func=cmd_delete)

    sp = sub.add_parser("import", help="import customers from .xlsx, .xlsm, .xls, .ods or .csv")
    sp.add_argument("file", help="the file to import; - reads it from stdin (kind sniffed)")
    db(sp)
    sp.add_argument("--sheet", help="sheet name (default: the first)")
    sp.add_argument(
        "--header-row", type=int, help="1-based row of the column titles (default: found)"
    )
    sp.add_argument("--encoding", help="CSV encoding (default: detected; e.g. cp1252)")
    sp.add_argument("--delimiter", help="CSV delimiter (default: detected)")
    sp.add_argument("--decimal", choices=(",", "."),
                    help="the decimal mark of numbers written as text (default: detected per column)")  # fmt: skip
    sp.add_argument("--map", action="append", metavar='"Header=field"',
                    help="map a column to a field (contact.email for a contact); Header= ignores it")  # fmt: skip
    sp.add_argument("--set", action="append", metavar="field=value",
                    help="set a field for every row (tags+=x adds a tag)")  # fmt: skip
    sp.add_argument("--on-duplicate", choices=("error", "skip", "update"), default="error",
                    help="a row whose customer exists: a problem, left out, or updated")  # fmt: skip
    sp.add_argument(
        "--valid-only", action="store_true", help="import the valid rows, leave the rest"
    )
    sp.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    json_option(sp)
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser(
        "send", help="email or SMS the selected customers; resume or discard a batch"
    )
    db(sp)
    select(sp)
    sp.add_argument("--channel", choices=("email", "sms"), help="send an email or an SMS")
    sp.add_argument("--subject", help="email subject; placeholders such as {name} allowed")
    sp.add_argument("--body", help="message text; placeholders such as {credit} allowed")
    again = sp.add_mutually_exclusive_group()
    again.add_argument("--resume", metavar="BATCH",
                       help="send what batch BATCH has not sent yet (queued, failed temporarily)")  # fmt: skip
    again.add_argument("--discard", metavar="BATCH",
                       help="mark what batch BATCH has left as discarded; nothing is sent")  # fmt: skip
    sp.add_argument("--settings", help=SETTINGS_HELP)
    sp.add_argument(
        "--dry-run", action="store_true", help="record what would be sent; send nothing"
    )
    json_option(sp)
    sp.set_defaults(func=cmd_send)

    sp = sub.add_parser("undo", help="undo a batch (an add, edit, bulk edit, import or delete)")
    sp.add_argument("batch_id", help="the batch to undo, e.g. b-1a2b3c4d5e6f (see `batches`)")
    db(sp)
    json_option(sp)
    sp.set_defaults(func=cmd_undo)

    sp = sub.add_parser("batches", help="list recent batches (newest first)")
    db(sp)
    sp.add_argument("--limit", type=int, default=20, help="how many batches to list")
    json_option(sp)
    sp.set_defaults(func=cmd_batches)

    _add_later_commands(sub, db, json_option)
    return p


def json_option(sp: argparse.ArgumentParser) -> None:
    """The one `--json` of every command that prints data."""
    sp.add_argument("--json", action="store_true",
                    help="print the result as JSON (money as decimal strings)")  # fmt: skip


def _add_later_commands(sub: Any, db: Any, json_option: Any) -> None:
    """Commands whose code lives with the UI (serve); imported lazily so the core stays lean."""
    sp = sub.add_parser("serve", help="serve the dashboard in a browser")
    db(sp)
    sp.add_argument("--port", type=int, default=5006, help="the TCP port to listen on")
    sp.add_argument("--address", default="127.0.0.1",
                    help="the address to listen on (0.0.0.0: every interface)")  # fmt: skip
    sp.add_argument("--show", action="store_true", help="open a browser")
    sp.add_argument("--demo", type=int, default=1000, metavar="N",
                    help="demo customers to create when the database does not exist")  # fmt: skip
    sp.add_argument("--settings", help=SETTINGS_HELP)
    sp.add_argument(
        "--auth",
        action="store_true",
        help="require sign-in (users from the database; needs $CUSTOMER_DASHBOARD_COOKIE_SECRET)",
    )
    sp.add_argument(
        "--allow-websocket-origin",
        action="append",
        metavar="HOST[:PORT]",
        help="the public address of a proxy in front of the server",
    )
    sp.add_argument("--oauth-provider", metavar="NAME",
                    help="sign in through Panel's OAuth provider NAME (github, google, azure, "
                         "okta, auth0, gitlab, generic); id and secret from "
                         "$CUSTOMER_DASHBOARD_OAUTH_KEY / _SECRET")  # fmt: skip
    sp.add_argument("--oauth-redirect-uri", help="the public URL the provider returns to")
    sp.add_argument("--trust-proxy", action="store_true",
                    help="behind a TLS proxy on this machine: take the scheme and client "
                         "address from its X-Forwarded-Proto / X-Real-Ip headers (Secure "
                         "cookies, sign-in throttling per client)")  # fmt: skip
    sp.add_argument("--secure-cookies", action="store_true",
                    help="always mark sign-in cookies Secure (https only)")  # fmt: skip
    sp.add_argument("--no-api", action="store_true",
                    help="do not serve the HTTP API (/api/v1); the CLI then cannot write "
                         "while the dashboard runs")  # fmt: skip
    sp.add_argument("--api-rate", type=float, default=20.0, metavar="N",
                    help="API requests a second per token, on average (bursts of 5 s worth, at most 100; 0: "
                         "no limit)")  # fmt: skip
    sp.set_defaults(func=_serve)

    sp = sub.add_parser("users", help="manage who may sign in to the served dashboard")
    users_sub = sp.add_subparsers(dest="users_command", required=True, parser_class=_Parser,
                                  metavar="ACTION", title="actions")  # fmt: skip
    u = users_sub.add_parser("add", help="add a user")
    u.add_argument("name", help="the user name people sign in with")
    u.add_argument("--role", choices=("viewer", "editor", "admin"), required=True,
                   help="viewer reads; editor also writes; admin also manages users")  # fmt: skip
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    db(u)
    u.set_defaults(func=cmd_users)
    u = users_sub.add_parser("passwd", help="change a user's password")
    u.add_argument("name", help="the user whose password changes")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    db(u)
    u.set_defaults(func=cmd_users)
    u = users_sub.add_parser("remove", help="remove a user")
    u.add_argument("name", help="the user to remove")
    db(u)
    u.set_defaults(func=cmd_users)
    u = users_sub.add_parser("list", help="list users and their roles")
    db(u)
    json_option(u)
    u.set_defaults(func=cmd_users)

    sp = sub.add_parser("rates", help="exchange rates into the base (reporting) currency")
    rates_sub = sp.add_subparsers(dest="rates_command", required=True, parser_class=_Parser,
                                  metavar="ACTION", title="actions")  # fmt: skip
    r = rates_sub.add_parser("import", help="import a CSV of currency,rate rows (units of the "
                             "base currency per 1 unit), as one undoable batch")  # fmt: skip
    r.add_argument(
        "file", help="the CSV file (- reads stdin); an optional third column is the date"
    )
    r.add_argument("--date", help="the day the rates are for (default: today), e.g. 2026-11-30")
    r.add_argument("--dry-run", action="store_true", help="check the file, write nothing")
    listed = rates_sub.add_parser("list", help="the rates in use, one per currency")
    for each in (r, listed):
        each.add_argument(
            "--base",
            metavar="CCY",
            help="the base currency (default: [money] base in the settings, EUR)",
        )
        each.add_argument("--settings", help=SETTINGS_HELP)
        db(each)
        json_option(each)
        each.set_defaults(func=cmd_rates)
    sp = sub.add_parser("tokens", help="manage the API's bearer tokens (each acts as its user)")
    tokens_sub = sp.add_subparsers(dest="tokens_command", required=True, parser_class=_Parser,
                                   metavar="ACTION", title="actions")  # fmt: skip
    u = tokens_sub.add_parser("add", help="make a token for a user; printed once")
    u.add_argument("user", help="the user the token acts as (with their role)")
    u.add_argument("--label", help="what the token is for (e.g. billing sync)")
    u.add_argument("--expires", default="90d", metavar="DURATION",
                   help="lifetime: 90d (default), 12h, 2w, 1y, or never")  # fmt: skip
    db(u)
    json_option(u)
    u.set_defaults(func=cmd_tokens)
    u = tokens_sub.add_parser("list", help="list tokens (never their secrets)")
    u.add_argument("--user", help="only this user's tokens")
    db(u)
    json_option(u)
    u.set_defaults(func=cmd_tokens)
    u = tokens_sub.add_parser("revoke", help="revoke a token by its id (t-...)")
    u.add_argument("token_id", help="the token's id, from `tokens list`")
    db(u)
    u.set_defaults(func=cmd_tokens)

    sp = sub.add_parser(
        "backup", help="write a consistent copy of the database (safe while served)"
    )
    sp.add_argument("out", help="the backup file to write")
    db(sp)
    sp.set_defaults(func=cmd_backup)
    sp = sub.add_parser(
        "copy",
        help="copy every table, batch history included, from one database into a new "
        "one: DuckDB to PostgreSQL or back",
    )
    sp.add_argument("--from", dest="source", required=True, metavar="DB",
                    help="the database to copy: a DuckDB file or a postgresql:// URL")  # fmt: skip
    sp.add_argument("--to", required=True, metavar="DB",
                    help="an empty PostgreSQL database (postgresql://user@host:port/name) or a "
                    "DuckDB file that does not exist yet")  # fmt: skip
    json_option(sp)
    sp.set_defaults(func=cmd_copy)
    sp = sub.add_parser("restore", help="replace the database with a backup (not while served)")
    sp.add_argument("backup", help="the backup file to restore from")
    db(sp)
    sp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sp.set_defaults(func=cmd_restore)


def _serve(args: argparse.Namespace) -> int:
    from .ui.serve import serve

    return serve(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) its status."""
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        from . import logs

        level = getattr(args, "log_level", None) or (
            "info" if args.command == "serve" else "warning"
        )
        logs.setup(level, json_lines=getattr(args, "log_json", False))
        _settings_of(args)
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe is found here, not at exit after main returned
        return status
    except BrokenPipeError:
        # the reader stopped early (`| head`): as any Unix tool, stop writing, quietly; the
        # interpreter's last flush at exit would fail again, so stdout goes nowhere now
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe stopped
    except UsageError as exc:
        # argparse's convention: the command's usage line, then "prog: error: ...", status 2
        shown = exc.parser or getattr(args, "command_parser", None) or parser
        shown.print_usage(sys.stderr)
        print(str(exc) if exc.parser else f"{shown.prog}: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        for problem in exc.problems:
            print(f"error: {problem.describe()}", file=sys.stderr)
        return 1
    except UserError as exc:
        # a bad view's message for Python ends with `dashboard.field_list()`: not a command
        for line in (getattr(exc, "for_people", None) or str(exc)).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing more was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
