"""One (vendor, rm, period) explained: every number behind its composite and the rows that hurt it.

Purpose: what a vendor manager opens before a QBR to defend a score: per
metric its value, numerator and denominator, score, target and floor, its
weighted contribution to the composite, and the rows that failed it (late
responses with minutes taken vs target, meetings not held, reports late, CRs
with their cost variance, escalations, complaints, detractors, short notices).
Boundary: reads the store through rmdash.kpi (numbers) and one SQL query per
metric (failing rows, values bound as parameters, columns from the registry).

At vendor level (rm None) every row of the vendor counts, including rows
without rm, and the failing rows carry an ``rm`` column; at RM level only that
RM's rows appear.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from rmdash.kpi import Filters, KpiTable, base_sql, bind, compute_kpis, row_value_sql
from rmdash.model import RmdashError
from rmdash.rules import Metric, Rules, load_rules


@dataclass
class Explanation:
    vendor: str
    rm: str | None
    period: str
    grain: str
    composite: float | None
    rag: str | None
    low_sample: bool
    at_risk: float | None
    service_credit: float | None
    bonus: float | None
    components: pd.DataFrame  # component, label, weight, score, n, low_sample, contribution
    metrics: pd.DataFrame  # metric, label, component, value, n, numerator, denominator, score, target, ...
    failing: dict[str, pd.DataFrame] = field(default_factory=dict)  # metric -> its failing rows
    rules: Rules | None = None

    def to_json(self) -> dict:
        """Plain JSON values (NaN -> null, dates as ISO text), for the CLI and downloads."""
        return {
            "vendor": self.vendor,
            "rm": self.rm,
            "period": self.period,
            "grain": self.grain,
            "composite": self.composite,
            "rag": self.rag,
            "low_sample": self.low_sample,
            "at_risk": self.at_risk,
            "service_credit": self.service_credit,
            "bonus": self.bonus,
            "components": _records(self.components),
            "metrics": _records(self.metrics),
            "failing": {name: _records(rows) for name, rows in self.failing.items()},
        }


def _records(frame: pd.DataFrame) -> list[dict]:
    # pandas' own JSON writer turns NaN/NaT into null and timestamps into ISO text.
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s"))


def _none_if_nan(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def explain(
    con: duckdb.DuckDBPyConnection,
    vendor: str,
    rm: str | None,
    period: str,
    grain: str = "month",
    rules: Rules | None = None,
    limit: int | None = None,
) -> Explanation:
    """Every number of one KPI row and, per metric, the rows that failed it (at most ``limit`` each)."""
    rules = rules or load_rules()
    table = compute_kpis(con, grain, rules, vendor=vendor, rm=rm, period=period)
    row = _row(table, vendor, rm, period)
    components, metrics = _contributions(table, vendor, rm, rules)
    filters = Filters(vendor=vendor, rm=rm, period=period)
    failing = {
        m.name: failing_rows(con, m, rules, grain, filters, with_rm=rm is None, limit=limit)
        for m in rules.metrics.values()
    }
    return Explanation(
        vendor=vendor,
        rm=rm,
        period=period,
        grain=grain,
        composite=_none_if_nan(row["composite"]),
        rag=row["rag"],
        low_sample=bool(row["low_sample"]),
        at_risk=_none_if_nan(row["at_risk"]),
        service_credit=_none_if_nan(row["service_credit"]),
        bonus=_none_if_nan(row["bonus"]),
        components=components,
        metrics=metrics,
        failing=failing,
        rules=rules,
    )


def _row(table: KpiTable, vendor: str, rm: str | None, period: str) -> pd.Series:
    c = table.composite
    rm_match = c["rm"].isna() if rm is None else c["rm"] == rm
    found = c[(c["vendor"] == vendor) & rm_match & (c["period"] == period)]
    if found.empty:
        who = vendor if rm is None else f"{vendor} / {rm}"
        raise RmdashError(f"no data for {who} in {period}: choose a vendor, RM and period that have rows")
    return found.iloc[0]


def _contributions(table: KpiTable, vendor: str, rm: str | None, rules: Rules):
    """Component and metric frames with their points of the composite (they sum to it)."""

    def pick(frame):
        rm_match = frame["rm"].isna() if rm is None else frame["rm"] == rm
        return frame[(frame["vendor"] == vendor) & rm_match].reset_index(drop=True)

    comps = pick(table.components)
    mets = pick(table.metrics)
    has = comps["score"].notna() & (comps["weight"] > 0)
    w_total = comps.loc[has, "weight"].sum()
    comps["label"] = comps["component"].map({c.name: c.label for c in rules.components.values()})
    comps["weight_share"] = np.where(has, comps["weight"] / w_total if w_total else np.nan, np.nan)
    comps["contribution"] = comps["weight_share"] * comps["score"]

    scored = mets.groupby("component")["score"].count()  # metrics with a score per component
    share = mets["component"].map(comps.set_index("component")["weight_share"])
    mets["contribution"] = share * mets["score"] / mets["component"].map(scored)
    mets["denominator"] = mets["n"]
    for attr in ("label", "target", "floor", "direction", "unit", "format", "formula", "failing"):
        mets[attr] = mets["metric"].map({m.name: getattr(m, attr) for m in rules.metrics.values()})
    comp_cols = ["component", "label", "weight", "weight_share", "score", "n", "low_sample", "contribution"]
    met_cols = [
        "metric",
        "label",
        "component",
        "value",
        "n",
        "numerator",
        "denominator",
        "score",
        "target",
        "floor",
        "direction",
        "unit",
        "format",
        "low_sample",
        "contribution",
        "formula",
        "failing",
    ]
    return comps[comp_cols], mets[met_cols]


def failing_rows(
    con: duckdb.DuckDBPyConnection,
    metric: Metric,
    rules: Rules,
    grain: str,
    filters: Filters,
    with_rm: bool = True,
    limit: int | None = None,
) -> pd.DataFrame:
    """The in-scope rows of ``metric`` that hurt it (``failing_when``), in the registry's order."""
    base, params = base_sql(metric.kind, rules, grain, filters)
    columns = (["rm"] if with_rm else []) + list(metric.explain_columns)
    select = ", ".join(f'"{c}"' for c in columns)
    order = f"ORDER BY {metric.explain_order}" if metric.explain_order else ""
    sql = f"""
        SELECT {select} FROM (
            SELECT b.*, {row_value_sql(metric)} AS row_value FROM ({base}) b WHERE ({metric.in_scope})
        ) scoped
        WHERE {metric.failing_when}
        {order}
        {"LIMIT $k_limit" if limit is not None else ""}"""  # noqa: S608 (registry SQL and identifiers; values bound)
    params = {**params, "target": metric.target, "floor": metric.floor}
    if limit is not None:
        params["k_limit"] = int(limit)
    return con.execute(sql, bind(sql, params)).df()
