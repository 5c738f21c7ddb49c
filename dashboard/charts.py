"""Charts of a group or pivot result (Bokeh): bars of the totals, bars stacked by the pivot
field, or a heatmap of the cells. Built from the small result the engine returns, so the
notebook and the page draw the same figure.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd
from bokeh.models import (
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    HoverTool,
    LinearColorMapper,
    NumeralTickFormatter,
)
from bokeh.palettes import Blues256, Category20
from bokeh.plotting import figure
from bokeh.transform import transform

from . import query
from .errors import UserError
from .fields import COLUMNS
from .query import Result, View

KINDS = {"bar": "Bars", "stacked": "Stacked", "heatmap": "Heatmap"}
#: What each kind draws, in words for people (the kind's button says it).
KIND_HELP = {
    "bar": "bars of the totals",
    "stacked": "bars stacked by the pivot columns or the second group level",
    "heatmap": "rows by columns, coloured by value",
}
#: Most bars (rows) and stacked series (pivot columns) a chart draws: the largest, and the
#: rest added up as "Other" (where values add up: counts and sums).
TOP_N = 12
OTHER = "Other"


def _additive(view: View) -> bool:
    """Whether the charted values add up (counts and sums), so the rest can be "Other"."""
    return all(a in ("count", "sum") for _, a in view.values[:1]) or not view.values


def top_rows(result: Result, view: View, n: int = TOP_N) -> tuple[Result, int]:
    """`result` cut to its `n` largest rows (by the charted value: the first value, or a
    pivot's row total) plus one "Other" row adding up the rest when values add up; and how
    many rows there were. The rows keep the result's order; Other comes last."""
    data = result.data
    if len(data) <= n or not view.groups:
        return result, len(data)
    groups = len(view.groups)
    cols = list(data.columns[groups:])
    if result.mode == "pivot":
        key = query.TOTAL if query.TOTAL in data.columns else cols[-1]
    else:
        key = _charted(view)
    size = pd.to_numeric(data[key], errors="coerce").fillna(0).abs()
    keep = sorted(size.sort_values(ascending=False, kind="stable").index[:n])
    top = data.loc[keep]
    if _additive(view) and not view.percent:
        rest = data.drop(index=keep)
        other = {g: OTHER if i == 0 else "" for i, g in enumerate(view.groups)}
        for c in cols:
            other[c] = pd.to_numeric(rest[c], errors="coerce").sum()
        top = pd.concat([top, pd.DataFrame([other])], ignore_index=True)
    cut = Result(top.reset_index(drop=True), result.total, result.mode, result.totals,
                 result.labels, result.queries, result.customers, units=result.units)  # fmt: skip
    cut.other = _additive(view) and not view.percent  # type: ignore[attr-defined]
    return cut, len(data)


def _charted(view: View) -> str:
    """The result column a group chart draws: the first value, else the customer count."""
    return query.value_column(*view.values[0]) if view.values else "count"


def _as_shown(result: Result, view: View) -> View:
    """The view as its result shows it: without the values whose every column the view
    hides (`View.hidden`: the engine left them out of the result), so the chart draws, and
    its title names, the first value still shown."""
    if not view.hidden:
        return view
    columns = set(result.data.columns)
    held = set(result.value_of.values())
    kept = [v for v in view.values
            if (tuple(v) in held if result.mode == "pivot" else query.value_column(*v) in columns)]  # fmt: skip
    if (view.values and not kept and result.mode == "pivot") or (
        result.mode == "groups" and not kept and "count" not in columns
    ):
        raise UserError("every value column of this view is hidden, so there is nothing to "
                        "chart: show a hidden column back (Show hidden columns)")  # fmt: skip
    return view if kept == [list(v) for v in view.values] else view.copy(values=kept)


def _title(view: View, spread: bool, result: Result | None = None) -> str:
    units = result.units if result is not None else None
    values = [query.value_label(f, a, units) for f, a in view.values[:1]] or ["Customers"]
    by = [COLUMNS[g].label for g in view.groups]
    if spread and view.pivot:
        by.append(COLUMNS[view.pivot].label)
    text = values[0] + (" by " + " and ".join(by) if by else "")
    unit = (units or {}).get(query.value_column(*view.values[0])) if view.values else None
    if spread and unit and unit != query.PER_CURRENCY and query.native_split(view):
        # the table keeps each currency's own amounts: say the chart's are not those
        text += ", each currency converted"
    return text + (f" ({query.PERCENTAGES[view.percent]})" if view.percent else "")


def _row_labels(result: Result, view: View) -> list[str]:
    labels = []
    for _, row in result.data[view.groups].iterrows() if view.groups else []:
        parts = []
        if getattr(result, "other", False) and len(labels) == len(result.data) - 1:
            labels.append(OTHER)  # the rest, added up
            continue
        for name in view.groups:
            parts.append(COLUMNS[name].type.group_label(row[name]))
        labels.append(" · ".join(parts))
    return labels or [query.TOTAL]


def _numbers(series: pd.Series) -> list[float]:
    return [0.0 if pd.isna(v) else float(v) for v in pd.to_numeric(series, errors="coerce")]


def kind_problem(view: View, kind: str) -> str | None:
    """Why a chart of `kind` cannot show `view` (None: it can), in words for people: stacked
    bars and a heatmap need a second dimension (a second group level or a pivot), and
    stacks only add up counts and sums."""
    if kind == "bar" or view.mode == "rows":
        return None
    name = "Stacked bars" if kind == "stacked" else "A heatmap"
    if not view.pivot and len(view.groups) < 2:
        return f"{name} need{'s' * (kind == 'heatmap')} a second group level or a pivot"
    if kind == "stacked" and not _additive(view):
        return "Stacked bars add values up: only counts and sums stack (try Heatmap)"
    return None


def spread(result: Result, view: View) -> tuple[Result, View] | None:
    """`result` as rows × series of one value: a pivot's columns of its first value (with
    its row total as `query.TOTAL`), or the second group level's groups under the first;
    and the view whose `groups` label its rows. None when there is no second dimension."""
    data = result.data
    groups = list(view.groups)
    if result.mode == "pivot":
        cols = list(data.columns[len(groups) :])
        if len(view.values) > 1:
            # several values: chart the first one's columns (the result says which value
            # each column holds), named by their pivot value ("GB · Sum of ..." is "GB")
            first = tuple(view.values[0])
            mine = [c for c in cols if tuple(result.value_of.get(c, ())) == first]
            suffix = " · " + query.value_label(*first)
            names = {c: str(c).removesuffix(suffix) for c in mine}
            frame = data[groups + mine].rename(columns=names)
        else:
            frame = data[groups + cols]
        if query.TOTAL not in frame.columns:
            cells = list(frame.columns[len(groups) :])
            frame = frame.assign(**{query.TOTAL: frame[cells].apply(
                pd.to_numeric, errors="coerce").sum(axis=1)})  # fmt: skip
        return replace(result, data=frame.reset_index(drop=True)), view
    if len(groups) < 2 or len(data) == 0:
        return None
    first, rest = groups[0], groups[1:]
    value = _charted(view)
    row_of = [COLUMNS[first].type.group_label(v) for v in data[first]]
    col_of = [" · ".join(COLUMNS[g].type.group_label(row[g]) for g in rest)
              for _, row in data[rest].iterrows()]  # fmt: skip
    long = pd.DataFrame({"r": row_of, "c": col_of, "v": _numbers(data[value])})
    wide = long.pivot_table(index="r", columns="c", values="v", aggfunc="sum", sort=False,
                            fill_value=0 if _additive(view) else None)  # fmt: skip
    wide.columns = [str(c) for c in wide.columns]
    raw = dict(zip(row_of, data[first], strict=True))
    wide[query.TOTAL] = wide.sum(axis=1)
    wide.insert(0, first, [raw[r] for r in wide.index])
    return replace(result, data=wide.reset_index(drop=True), mode="pivot"), view.copy(
        groups=[first], expand=[]
    )


def _top_cells(frame: pd.DataFrame, cells: list, additive: bool, n: int = TOP_N):
    """The `n` largest series of `frame` (the rest added up as Other when values add up)."""
    if len(cells) <= n:
        return frame, cells
    sums = {c: pd.to_numeric(frame[c], errors="coerce").fillna(0).abs().sum() for c in cells}
    big = sorted(cells, key=lambda c: -sums[c])[: n - 1 if additive else n]
    keep = [c for c in cells if c in big]
    out = frame[keep].copy()
    if not additive:
        return out, keep
    out[OTHER] = frame[[c for c in cells if c not in keep]].apply(
        pd.to_numeric, errors="coerce").sum(axis=1)  # fmt: skip
    return out, [*keep, OTHER]


def chart(result: Result, view: View, kind: str = "bar", *, small: bool = False,
          **figure_options: Any):  # fmt: skip
    """A Bokeh figure of `result`, the result of `run(store, view)` for a group or pivot
    view (one page of it: 50 rows unless `page_size` says otherwise).

    bar: the first value (the row total in a pivot) per row; stacked: the pivot's columns
    (or the second group level's groups) of the first value stacked per row; heatmap: rows ×
    those columns coloured by value. Beyond `TOP_N` rows or series the rest is "Other". In a
    notebook set up with `dashboard.notebook()`, the figure displays itself. `small`: for a
    phone's narrow screen (smaller labels, upright column names, a narrow colour bar).
    """
    if not isinstance(kind, str) or kind.lower() not in KINDS:
        raise UserError(f"chart kind must be one of {', '.join(map(repr, KINDS))}; not {kind!r}")
    kind = kind.lower()
    if result.mode == "rows" or view.mode == "rows":
        raise UserError(
            "a chart needs a group or pivot view: add groups=[...] (and values=[...] or "
            "pivot=...), e.g. View(groups=['country'], values=[['credit', 'sum']])"
        )
    if result.mode != view.mode:
        raise UserError(f"this result is a {result.mode} result but the view is a {view.mode} "
                        "view: chart a result with the view that produced it")  # fmt: skip
    view = _as_shown(result, view)
    problem = kind_problem(view, kind)
    if problem:
        raise UserError(problem)
    mixed = [c for c, u in result.units.items() if u == query.PER_CURRENCY]
    if mixed:
        # bars of yen beside bars of euros on one axis compare nothing
        rated = all(c in result.total_units for c in mixed)
        raise UserError(
            "this chart would put amounts in different currencies on one axis: "
            + ("chart run(store, view, converted=True), whose amounts are all in "
               f"{result.total_units[mixed[0]]}" if rated else
               "import exchange rates (customer-dashboard rates import FILE, or Setup › "
               "Rates) or filter by one Currency")
        )  # fmt: skip
    options = {"height": 360, "sizing_mode": "stretch_width", "toolbar_location": "above",
               "tools": "pan,wheel_zoom,box_zoom,reset,save", **figure_options}  # fmt: skip
    wide = spread(result, view)
    if wide is not None and (kind != "bar" or view.percent == "row"):
        # shares of each row's total are bars stacked to 100 %, never identical 100-bars
        cut, count = top_rows(*wide)
        rows = _row_labels(cut, wide[1])
        cells = [c for c in cut.data.columns[len(wide[1].groups) :] if c != query.TOTAL]
        title = _title(view, True, result) + _shown(rows, cut, count)
        if kind == "heatmap":
            frame, cells = _top_cells(cut.data, cells, _additive(view), 2 * TOP_N)
            options["height"] = max(options["height"], 60 + 22 * len(rows))
            return _heatmap(frame, rows, cells, options, title, small)
        frame, cells = _top_cells(cut.data, cells, _additive(view))
        return _stacked(frame, rows, cells, options, title)
    if result.mode == "pivot" and wide is not None:
        result = wide[0]  # the row totals of the first value
    result, count = top_rows(result, view)
    rows = _row_labels(result, view)
    total = query.TOTAL if result.mode == "pivot" else _charted(view)
    values = _numbers(result.data[total]) if total in result.data else []
    title = _title(view, False, result) + _shown(rows, result, count)
    other = bool(getattr(result, "other", False))
    colors = ["#1f6fb2"] * (len(rows) - other) + ["#9e9e9e"] * other
    source = ColumnDataSource({"row": rows, "value": values, "color": colors})
    fig = figure(x_range=rows, title=title, **options)
    fig.vbar(x="row", top="value", width=0.8, source=source, color="color")
    fig.add_tools(HoverTool(tooltips=[("", "@row"), ("value", "@value{0,0.[00]}")]))
    _style(fig)
    if other and len(values) > 1:
        _clip_other(fig, rows[-1], values)
    return fig


def _shown(rows: list[str], result: Result, count: int) -> str:
    drawn = len(rows) - int(bool(getattr(result, "other", False)))
    return f" (largest {drawn} of {count:,})" if drawn < count else ""


def _clip_other(fig, label: str, values: list[float]) -> None:
    """Keep the named bars readable when Other (the rest added up) dwarfs them: the axis
    ends above the largest named bar, and Other's cut bar says its value."""
    named, rest = max(values[:-1], default=0), values[-1]
    if named <= 0 or rest <= 2 * named:
        return
    end = named * 1.25
    fig.y_range.end = end
    fig.text(x=[label], y=[end * 0.97], text=[f"{rest:,.0f} ↑"], text_align="center",
             text_baseline="top", text_font_size="11px", text_color="#333333",
             background_fill_color="white", background_fill_alpha=0.85)  # fmt: skip


def _stacked(frame, rows, cells, options, title):
    data = {"row": rows}
    keys = [f"k{i}" for i in range(len(cells))]
    for key, col in zip(keys, cells, strict=True):
        data[key] = _numbers(frame[col])
    colors = (
        list(Category20[20] * 4)[: len(cells)]
        if len(cells) > 2
        else ["#1f6fb2", "#ff7f0e"][: len(cells)]
    )
    if cells and cells[-1] == OTHER:
        colors[-1] = "#bdbdbd"  # the rest added up: apart from the named series
    fig = figure(x_range=rows, title=title, **options)
    renderers = fig.vbar_stack(keys, x="row", width=0.8, color=colors,
                               source=ColumnDataSource(data),
                               legend_label=[str(c) for c in cells])  # fmt: skip
    for r, col in zip(renderers, cells, strict=True):
        fig.add_tools(HoverTool(renderers=[r], tooltips=[(str(col), f"@{r.name}{{0,0.[00]}}")]))
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"
    fig.legend.label_text_font_size = "11px"
    fig.legend.spacing = 0
    fig.legend.padding = 4
    fig.add_layout(fig.legend[0], "right")
    _style(fig)
    return fig


def _heatmap(frame, rows, cells, options, title, small=False):
    xs, ys, vs = [], [], []
    for i, row in enumerate(rows):
        for col in cells:
            xs.append(str(col))
            ys.append(row)
            vs.append(_numbers(frame[col].iloc[[i]])[0])
    mapper = LinearColorMapper(palette=list(reversed(Blues256)), low=min(vs, default=0),
                               high=max(vs, default=1))  # fmt: skip
    fig = figure(x_range=[str(c) for c in cells], y_range=list(reversed(rows)),
                 title=title, **options)  # fmt: skip
    fig.rect(x="x", y="y", width=1, height=1, source=ColumnDataSource({"x": xs, "y": ys, "v": vs}),
             fill_color=transform("v", mapper), line_color="white")  # fmt: skip
    fig.add_tools(HoverTool(tooltips=[("", "@y · @x"), ("value", "@v{0,0.[00]}")]))
    fig.grid.grid_line_color = None
    fig.xaxis.major_label_orientation = 0.8 if len(cells) > 6 else 0
    bar = ColorBar(color_mapper=mapper, width=12, label_standoff=6,
                   formatter=NumeralTickFormatter(format="0,0.[00]"))  # fmt: skip
    if small:
        # a phone: column names upright and row names smaller, so neither runs into the
        # next; the colour bar narrower, with few ticks in short numbers ("1.2m")
        fig.xaxis.major_label_orientation = math.pi / 2 if len(cells) > 3 else 0
        for axis in (fig.xaxis, fig.yaxis):
            axis.major_label_text_font_size = "10px"
        fig.min_border_left = fig.min_border_right = 4
        bar.update(width=8, label_standoff=4, major_label_text_font_size="10px",
                   ticker=BasicTicker(desired_num_ticks=4),
                   formatter=NumeralTickFormatter(format="0.[0]a"))  # fmt: skip
    # the colour scale: which value a shade means
    fig.add_layout(bar, "right")
    return fig


def _style(fig) -> None:
    fig.xgrid.grid_line_color = None
    fig.y_range.start = 0
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0.[00]")
    fig.xaxis.major_label_orientation = 0.8 if len(fig.x_range.factors) > 8 else 0
