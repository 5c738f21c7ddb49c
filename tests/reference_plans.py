"""The engine's plans before one grouping-sets scan (main until issue 17), kept as the
reference the property tests compare the new plans with: one query for the page, one for
the totals, one for the count, and for a pivot one query for its labels and one FILTER
aggregate per pivot value. Slow, simple and checked against pandas by tests/test_pivot.py."""

from __future__ import annotations

from typing import Any

from dashboard.errors import UserError
from dashboard.fields import COLUMNS
from dashboard.query import (
    BLANK,
    MAX_PIVOT_COLUMNS,
    TOTAL,
    Query,
    Result,
    View,
    _count_args,
    _from,
    _order_by,
    _pivot_values,
    _shares,
    _values,
    aggregate_sql,
    column_sql,
    compile_where,
    quote,
    value_column,
    value_label,
)
from dashboard.store import Store


def run(store: Store, view: View, *, paged: bool = True) -> Result:
    """A group or pivot view answered by the old plans."""
    return (
        run_pivot(store, view, paged=paged) if view.pivot else run_groups(store, view, paged=paged)
    )


def _group_order(view: View, groups: list[str]) -> str:
    allowed = {g: quote(g) for g in groups}
    for fname, agg in _values(view):
        allowed[value_column(fname, agg)] = f'"{value_column(fname, agg)}"'
    return _order_by(view, allowed, [quote(g) + " ASC NULLS LAST" for g in groups])


def _group_select(groups: list[str]) -> tuple[str, str]:
    """The group columns as selected (aliased by name) and as grouped by."""
    select = ", ".join(f"{column_sql(g)} AS {quote(g)}" for g in groups)
    return select, ", ".join(column_sql(g) for g in groups)


def compile_groups(view: View, *, paged: bool = True) -> tuple[Query, Query, Query]:
    """Group rows (one page), the grand total row, and the number of groups."""
    view.check()
    where, params = compile_where(view)
    source = _from(view)
    gselect, gby = _group_select(view.groups)
    aggs = ", ".join(
        f'{aggregate_sql(fname, agg, source=view.source)} AS "{value_column(fname, agg)}"'
        for fname, agg in _values(view)
    )
    sql = (
        f"SELECT {gselect}, {aggs} FROM {source} WHERE {where} GROUP BY {gby} "
        f"ORDER BY {_group_order(view, view.groups)}"
    )
    page_params = list(params)
    if paged:
        sql += " LIMIT ? OFFSET ?"
        page_params += [view.page_size, (view.page - 1) * view.page_size]
    total = Query(f"SELECT {aggs} FROM {source} WHERE {where}", list(params))
    count = Query(
        f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {where} GROUP BY {gby})",
        list(params),
    )
    return Query(sql, page_params), total, count


def compile_pivot_values(view: View) -> Query:
    """The distinct values of the pivot field under the view's filters (its column labels)."""
    view.check()
    where, params = compile_where(view)
    col = column_sql(view.pivot)
    return Query(
        f"SELECT DISTINCT {col} AS p FROM {_from(view)} WHERE {where} "
        "ORDER BY p NULLS LAST LIMIT ?",
        [*params, MAX_PIVOT_COLUMNS + 1],
    )


def compile_pivot(
    view: View, labels: list[Any], *, paged: bool = True
) -> tuple[Query, Query, Query]:
    """Pivot rows (one page), the totals row and the number of row groups.

    Cells are aliased p{i}_{value}; the caller renames them to the pivot labels.
    """
    view.check()
    where, params = compile_where(view)
    source = _from(view)
    pcol = column_sql(view.pivot)
    cells: list[str] = []
    cell_params: list[Any] = []
    for i, label in enumerate(labels):
        cond = f"{pcol} IS NULL" if label is None else f"{pcol} = ?"
        for fname, agg in _pivot_values(view):
            sql = aggregate_sql(fname, agg, cond, view.source)
            cells.append(f'{sql} AS "p{i}_{value_column(fname, agg)}"')
            if label is not None:
                cell_params.extend([label] * sql.count("FILTER"))
    for fname, agg in _pivot_values(view):
        cells.append(
            f'{aggregate_sql(fname, agg, source=view.source)} AS "total_{value_column(fname, agg)}"'
        )
    select_cells = ", ".join(cells)
    groups = view.groups
    if groups:
        gselect, gby = _group_select(groups)
        allowed = {g: quote(g) for g in groups}
        for fname, agg in _pivot_values(view):
            allowed[value_column(fname, agg)] = f'"total_{value_column(fname, agg)}"'
        order = _order_by(view, allowed, [quote(g) + " ASC NULLS LAST" for g in groups])
        sql = (
            f"SELECT {gselect}, {select_cells} FROM {source} WHERE {where} "
            f"GROUP BY {gby} ORDER BY {order}"
        )
        page_params = [*cell_params, *params]
        if paged:
            sql += " LIMIT ? OFFSET ?"
            page_params += [view.page_size, (view.page - 1) * view.page_size]
        count = Query(
            f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {where} GROUP BY {gby})",
            list(params),
        )
    else:
        sql = f"SELECT {select_cells} FROM {source} WHERE {where}"
        page_params = [*cell_params, *params]
        count = Query("SELECT 1", [])
    total = Query(f"SELECT {select_cells} FROM {source} WHERE {where}", [*cell_params, *params])
    return Query(sql, page_params), total, count


def run_groups(store: Store, view: View, *, paged: bool = True) -> Result:
    q, tq, cq = compile_groups(view, paged=paged)
    data = q.run(store)
    totals = tq.run(store)
    count = int(store.scalar(cq.sql, cq.params))
    labels = {g: COLUMNS[g].label for g in view.groups}
    for fname, agg in _values(view):
        labels[value_column(fname, agg)] = value_label(fname, agg)
    customers = int(totals["count"].iloc[0]) if len(totals) else 0
    if view.percent:
        # a group's share of the grand total ("row" is the group itself: 100 % each)
        cols = [value_column(f, a) for f, a in _values(view)]
        data, totals = _shares(data, totals, {c: c for c in cols}, {c: c for c in cols}, view)
    return Result(data, count, "groups", totals, labels, [q, tq, cq], customers)


def pivot_labels(store: Store, view: View) -> list[Any]:
    """The pivot field's distinct values under the view's filters; refuses too many."""
    pq = compile_pivot_values(view)
    labels = [v for (v,) in store.rows(pq.sql, pq.params)]
    if len(labels) > MAX_PIVOT_COLUMNS:
        raise UserError(
            f"{COLUMNS[view.pivot].label} has more than {MAX_PIVOT_COLUMNS} values here; "
            "filter first or pivot on another field"
        )
    return labels


def run_pivot(store: Store, view: View, *, paged: bool = True) -> Result:
    labels = pivot_labels(store, view)
    q, tq, cq = compile_pivot(view, labels, paged=paged)
    data = q.run(store)
    totals = tq.run(store)
    count = int(store.scalar(cq.sql, cq.params))
    values = _pivot_values(view)
    if view.percent:
        row_total = {}
        for fname, agg in values:
            vc = value_column(fname, agg)
            row_total.update({f"p{i}_{vc}": f"total_{vc}" for i in range(len(labels))})
            row_total[f"total_{vc}"] = f"total_{vc}"
        data, totals = _shares(data, totals, row_total, {c: c for c in row_total}, view)
    names: dict[str, str] = {}
    single = len(values) == 1
    for i, label in enumerate(labels):
        text = BLANK if label is None else COLUMNS[view.pivot].type.to_text(label)
        for fname, agg in values:
            vc = value_column(fname, agg)
            names[f"p{i}_{vc}"] = text if single else f"{text} · {value_label(fname, agg)}"
    for fname, agg in values:
        vc = value_column(fname, agg)
        names[f"total_{vc}"] = TOTAL if single else f"{TOTAL} · {value_label(fname, agg)}"
    titles = {g: COLUMNS[g].label for g in view.groups}
    data = data.rename(columns=names)
    totals = totals.rename(columns=names)
    customers = int(store.scalar(*_count_args(view)))
    return Result(data, count, "pivot", totals, titles, [q, tq, cq], customers)
