"""Why the composite moved between two periods: one part per component, per metric, and coverage.

Purpose: split the change of one (vendor, rm)'s composite from period a to
period b into parts that add up to the change (a waterfall). Boundary: pure
arithmetic over a KpiTable (rmdash.kpi); no database, no rules beyond the
weights the table carries.

Method (docs/decisions.md, "KPIs"): let K be the components with a score in
both periods and W_K the sum of their weights. Component c in K contributes
w_c (s_c^b - s_c^a) / W_K. Whatever is left of the change (components that
gained or lost data, which also changes the weights the others carry) is the
"coverage" part, so the parts add up to the change by construction. Inside a
component the same scheme splits its contribution per metric (metrics weigh
equally within a component), with a per-component coverage part when the set
of metrics with data differs. Both levels ("component" and "metric") start at
the composite of period a and end at the composite of period b.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rmdash.kpi import KpiTable, period_labels, period_range

MOVEMENT_COLUMNS = [
    "level",  # "component" or "metric": each level alone adds up to the change
    "part",  # "component", "metric" or "coverage"
    "component",
    "metric",
    "from_score",
    "to_score",
    "contribution",  # composite points
    "start",
    "end",
    "from_period",
    "to_period",
]


def previous_period(table: KpiTable, period: str) -> str:
    """The label of the period just before ``period`` at the table's grain."""
    start = pd.Period(_period_start(table, period), freq="M")
    step = 1 if table.grain == "month" else 3
    prev = (start - step).to_timestamp()
    return str(period_labels(pd.Series([prev]), table.grain, table.rules.fiscal_year_start_month).iloc[0])


def _period_start(table: KpiTable, period: str) -> pd.Timestamp:
    return pd.Timestamp(period_range(period, table.grain, table.rules.fiscal_year_start_month)[0])


def _select(frame: pd.DataFrame, vendor: str, rm: str | None, period: str) -> pd.DataFrame:
    rm_match = frame["rm"].isna() if rm is None else frame["rm"] == rm
    return frame[(frame["vendor"] == vendor) & rm_match & (frame["period"] == period)]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in MOVEMENT_COLUMNS})


def movement(
    table: KpiTable,
    vendor: str,
    rm: str | None,
    to_period: str,
    from_period: str | None = None,
) -> pd.DataFrame:
    """Waterfall parts of the composite change ``from_period`` -> ``to_period`` (default: the previous period).

    Empty when either period has no composite for this (vendor, rm).
    """
    from_period = from_period or previous_period(table, to_period)
    before = _select(table.composite, vendor, rm, from_period)
    after = _select(table.composite, vendor, rm, to_period)
    if before.empty or after.empty:
        return _empty()
    c_a, c_b = float(before["composite"].iloc[0]), float(after["composite"].iloc[0])
    if np.isnan(c_a) or np.isnan(c_b):
        return _empty()

    comps = _select(table.components, vendor, rm, from_period).merge(
        _select(table.components, vendor, rm, to_period)[["component", "score"]],
        on="component",
        suffixes=("_a", "_b"),
    )
    mets = _select(table.metrics, vendor, rm, from_period).merge(
        _select(table.metrics, vendor, rm, to_period)[["metric", "score"]],
        on="metric",
        suffixes=("_a", "_b"),
    )
    change = c_b - c_a
    w = comps["weight"].to_numpy(float)
    sa, sb = comps["score_a"].to_numpy(float), comps["score_b"].to_numpy(float)
    counted = w > 0  # a weight-0 component never moves the composite
    common = ~np.isnan(sa) & ~np.isnan(sb) & counted
    w_common = w[common].sum()
    contrib = np.where(common, w * (sb - sa) / w_common if w_common > 0 else 0.0, np.nan)
    coverage = change - np.nansum(contrib)
    coverage_differs = bool(((~np.isnan(sa) & counted) != (~np.isnan(sb) & counted)).any())

    component_rows = [
        _row("component", "component", c, None, a, b, x)
        for c, a, b, x, keep in zip(comps["component"], sa, sb, contrib, common, strict=True)
        if keep
    ]
    metric_rows = []
    for c, x, keep in zip(comps["component"], contrib, common, strict=True):
        if keep:
            metric_rows += _metric_rows(
                mets[mets["component"] == c], c, x, w[comps["component"] == c][0], w_common
            )
    if coverage_differs or not component_rows:
        component_rows.append(_row("component", "coverage", None, None, np.nan, np.nan, coverage))
        metric_rows.append(_row("metric", "coverage", None, None, np.nan, np.nan, coverage))
    rows = component_rows + metric_rows
    out = pd.DataFrame(rows)
    for name in ("component", "metric"):  # object dtype keeps None (pandas 3 str would make it NaN)
        out[name] = pd.Series([r[name] for r in rows], dtype=object)
    for level in ("component", "metric"):
        rows = out["level"] == level
        end = c_a + out.loc[rows, "contribution"].cumsum()
        out.loc[rows, "end"] = end
        out.loc[rows, "start"] = end - out.loc[rows, "contribution"]
    out["from_period"] = from_period
    out["to_period"] = to_period
    return out[MOVEMENT_COLUMNS]


def _row(level, part, component, metric, a, b, contribution) -> dict:
    return {
        "level": level,
        "part": part,
        "component": component,
        "metric": metric,
        "from_score": float(a),
        "to_score": float(b),
        "contribution": float(contribution),
    }


def _metric_rows(
    mets: pd.DataFrame, component: str, comp_contrib: float, weight: float, w_common: float
) -> list:
    """Split one component's contribution over its metrics (equal weights), plus coverage."""
    ma, mb = mets["score_a"].to_numpy(float), mets["score_b"].to_numpy(float)
    common = ~np.isnan(ma) & ~np.isnan(mb)
    k = common.sum()
    scale = weight / w_common
    parts = np.where(common, scale * (mb - ma) / k if k else 0.0, np.nan)
    rows = [
        _row("metric", "metric", component, m, a, b, x)
        for m, a, b, x, keep in zip(mets["metric"], ma, mb, parts, common, strict=True)
        if keep
    ]
    if bool((~np.isnan(ma) != ~np.isnan(mb)).any()) or not k:
        rows.append(
            _row("metric", "coverage", component, None, np.nan, np.nan, comp_contrib - np.nansum(parts))
        )
    return rows
