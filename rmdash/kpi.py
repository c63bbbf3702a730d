"""The KPI engine: metrics in DuckDB SQL, then scores, components, composite, RAG and money.

Purpose: turn the store's current rows into the KPI table of spec section 5
for every (vendor, rm, period) at month or quarter grain, and the JSON of
spec section 6. Boundary: reads the current-row tables and ``store_meta``;
never writes. Metric definitions come from rmdash.rules (the registry); this
module only knows how to derive a few per-row helper columns per kind and how
to aggregate and score.

How (docs/architecture.md, "KPI contract"):
1. Per kind, ONE aggregation over a "base" relation (the kind's current rows
   plus derived columns such as a ticket's response target or a survey row's
   rescaled mean) groups by GROUPING SETS ((vendor, period), (vendor, rm,
   period)) and computes, for every metric of that kind, the sum of its
   ``row_value`` and the count of its rows where ``in_scope`` holds. Rows
   without rm count only in the vendor-level group. The five kinds' queries
   run as one statement, merged per key, with the contract joined.
2. In vectorised numpy/pandas: value = sum / n (none when n = 0), score =
   clamp(100 (v - floor) / (target - floor), 0, 100), component score = mean of
   its metrics' scores that exist, composite = weighted mean of the component
   scores that exist, RAG, low-sample flags, and money from ``contracts``.
Results are cached per (database file, store_version, rules hash, grain,
filters); an in-memory database is never cached.

SQL text is assembled only from the packaged registry's fragments and the
schema's identifiers; every value (filters, targets, notice days, scales) is
a bound parameter. That is why the f-string SQL carries ``noqa: S608``.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from rmdash.model import RmdashError
from rmdash.rules import THRESHOLD_DECIMALS, Metric, Rules, load_rules
from rmdash.schema import load_schema

GRAINS = ("month", "quarter")
_PARAM_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_MONTH_LABEL = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER_LABEL = re.compile(r"^(FY)?(\d{4})-Q([1-4])$")

COMPOSITE_COLUMNS = [
    "vendor",
    "rm",
    "period",
    "period_start",
    "composite",
    "rag",
    "low_sample",
    "at_risk",
    "service_credit",
    "bonus",
    "currency",
]
COMPONENT_COLUMNS = [
    "vendor",
    "rm",
    "period",
    "period_start",
    "component",
    "score",
    "n",
    "weight",
    "low_sample",
]
METRIC_COLUMNS = [
    "vendor",
    "rm",
    "period",
    "period_start",
    "metric",
    "component",
    "value",
    "n",
    "numerator",
    "score",
    "low_sample",
]


# ---------------------------------------------------------------- periods


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise RmdashError(f"grain must be month or quarter, got {grain!r}")


def period_labels(starts: pd.Series, grain: str, fiscal_start: int = 1) -> pd.Series:
    """Labels of period start dates: "2026-09", "2026-Q3", or "FY2027-Q1" for fiscal quarters.

    A fiscal year is named by the calendar year it ends in.
    """
    starts = pd.to_datetime(starts)
    year, month = starts.dt.year, starts.dt.month
    if grain == "month":
        return year.astype(str) + "-" + month.astype(str).str.zfill(2)
    quarter = ((month - fiscal_start) % 12) // 3 + 1
    if fiscal_start == 1:
        return year.astype(str) + "-Q" + quarter.astype(str)
    fiscal_year = year + (month >= fiscal_start).astype(int)
    return "FY" + fiscal_year.astype(str) + "-Q" + quarter.astype(str)


def period_range(label: str, grain: str, fiscal_start: int = 1) -> tuple[date, date]:
    """First day of the period a label names and the first day after it."""
    _check_grain(grain)
    if grain == "month":
        m = _MONTH_LABEL.match(label or "")
        if not m:
            raise RmdashError(f"period must look like 2026-09 for grain month, got {label!r}")
        start = date(int(m.group(1)), int(m.group(2)), 1)
        return start, _add_months(start, 1)
    m = _QUARTER_LABEL.match(label or "")
    fiscal = fiscal_start != 1
    if not m or bool(m.group(1)) != fiscal:
        example = "FY2027-Q1 (fiscal quarters)" if fiscal else "2026-Q3"
        raise RmdashError(f"period must look like {example} for grain quarter, got {label!r}")
    year, q = int(m.group(2)), int(m.group(3))
    first_month_of_year = date(year - 1 if fiscal else year, fiscal_start, 1)
    start = _add_months(first_month_of_year, 3 * (q - 1))
    return start, _add_months(start, 3)


def _add_months(d: date, months: int) -> date:
    k = d.year * 12 + d.month - 1 + months
    return date(k // 12, k % 12 + 1, 1)


def _period_start_sql(date_column: str, grain: str, fiscal_start: int) -> str:
    d = f"CAST({date_column} AS DATE)"
    if grain == "month":
        return f"CAST(date_trunc('month', {d}) AS DATE)"
    if fiscal_start == 1:
        return f"CAST(date_trunc('quarter', {d}) AS DATE)"
    return f"CAST(date_trunc('quarter', {d} - to_months($k_fy_shift)) + to_months($k_fy_shift) AS DATE)"


# ---------------------------------------------------------------- base relations


@dataclass(frozen=True)
class Filters:
    vendor: str | None = None
    rm: str | None = None
    period: str | None = None


def _lower_list(column: str) -> str:
    """SQL: the distinct trimmed, lower-cased, non-empty titles of a ';' list."""
    return (
        f"list_distinct(list_filter(list_transform(string_split(coalesce({column}, ''), ';'), "
        "lambda x: lower(trim(x))), lambda x: x <> ''))"
    )


def _derived_meetings() -> str:
    # Title lists repeat (the same people at every weekly ops), and list functions cost
    # about a microsecond a row: parse each distinct (required, attended) pair once.
    return f"""
        SELECT k.*,
            coalesce(t.required_n, 0) AS required_n,
            coalesce(t.attended_n, 0) AS attended_n,
            t.missing_titles,
            date_diff('day', scheduled_date, held_date) AS days_from_schedule,
            date_diff('day', report_due_date, report_sent_date) AS report_days_late
        FROM meetings k
        LEFT JOIN (
            SELECT t_required, t_attended,
                len(req_key) AS required_n,
                len(list_intersect(req_key, att_key)) AS attended_n,  -- distinct titles in both
                array_to_string(list_filter(
                    list_filter(list_transform(string_split(coalesce(t_required, ''), ';'),
                        lambda x: trim(x)), lambda x: x <> ''),
                    lambda x: NOT list_contains(att_key, lower(x))), '; ') AS missing_titles
            FROM (SELECT t_required, t_attended,
                         {_lower_list("t_required")} AS req_key, {_lower_list("t_attended")} AS att_key
                  FROM (SELECT DISTINCT required_attendees AS t_required, attendees AS t_attended
                        FROM meetings))
        ) t ON t.t_required IS NOT DISTINCT FROM k.required_attendees
           AND t.t_attended IS NOT DISTINCT FROM k.attendees"""  # noqa: S608 (registry SQL and identifiers; values bound)


def _derived_tickets() -> str:
    return """
        SELECT t.*, rt.target_minutes,
            (epoch_us(responded_at) - epoch_us(opened_at)) / 60000000.0 AS minutes_taken,
            (epoch_us(resolution_communicated_at) - epoch_us(resolved_at)) / 3600000000.0
                AS hours_to_communicate
        FROM (SELECT *, CASE WHEN priority BETWEEN 1 AND 4 THEN priority
                             ELSE $default_priority END AS priority_used
              FROM tickets) t
        LEFT JOIN (SELECT unnest($k_rt_type) AS rt_type, unnest($k_rt_priority) AS rt_priority,
                          unnest($k_rt_minutes) AS target_minutes) rt
          ON rt.rt_type = t.ticket_type AND rt.rt_priority = t.priority_used"""


def _derived_change_requests() -> str:
    return """
        SELECT c.*,
            actual_cost - estimated_cost AS cost_variance,
            (actual_cost - estimated_cost) / nullif(estimated_cost, 0) AS cost_variance_pct,
            date_diff('day', estimated_delivery_date, actual_delivery_date) AS schedule_days_late
        FROM change_requests c"""


def _derived_surveys() -> str:
    questions = load_schema().kind("surveys").at_least_one
    lo = "coalesce(scale_min, $k_survey_min)"
    hi = "coalesce(scale_max, $k_survey_max)"
    rescaled = ",\n".join(f"({q} - {lo}) / nullif({hi} - {lo}, 0) AS r_{q}" for q in questions)
    count = " + ".join(f"CAST(r_{q} IS NOT NULL AS INTEGER)" for q in questions)
    total = " + ".join(f"coalesce(r_{q}, 0.0)" for q in questions)
    return f"""
        SELECT s.*, ({count}) AS question_n, ({total}) / nullif(({count}), 0) AS question_mean
        FROM (SELECT *, {rescaled} FROM surveys) s"""  # noqa: S608 (registry SQL and identifiers; values bound)


def _derived_communications() -> str:
    return """
        SELECT c.*,
            coalesce(nt.days, $k_notice_default) AS required_notice_days,
            date_diff('day', communicated_date, effective_date) AS notice_days_given
        FROM communications c
        LEFT JOIN (SELECT unnest($k_nt_type) AS nt_type, unnest($k_nt_days) AS days) nt
          ON lower(nt.nt_type) = lower(c.change_type)"""


_DERIVED = {
    "meetings": _derived_meetings,
    "tickets": _derived_tickets,
    "change_requests": _derived_change_requests,
    "surveys": _derived_surveys,
    "communications": _derived_communications,
}


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _internal_params(rules: Rules) -> dict:
    """Values the derived SQL binds (prefix k_; rule parameters keep their names)."""
    targets = [(t, p, m) for t, by_p in rules.response_targets.items() for p, m in by_p.items()]
    notices = [(t, d) for t, d in rules.notice_days.items() if t != "default"]
    return {
        **{name: _num(v) for name, v in rules.parameters.items()},
        "k_rt_type": [t for t, _, _ in targets],
        "k_rt_priority": [p for _, p, _ in targets],
        "k_rt_minutes": [float(m) for _, _, m in targets],
        "k_nt_type": [t for t, _ in notices],
        "k_nt_days": [float(d) for _, d in notices],
        "k_notice_default": float(rules.notice_days["default"]),
        "k_survey_min": rules.survey_default_scale[0],
        "k_survey_max": rules.survey_default_scale[1],
        "k_fy_shift": rules.fiscal_year_start_month - 1,
    }


def base_sql(kind: str, rules: Rules, grain: str, filters: Filters) -> tuple[str, dict]:
    """SQL of one kind's rows in scope of the filters, with derived columns and period_start.

    Rows without a period date are left out (a change request not yet
    delivered has no metrics). Returns (sql, every parameter it may bind).
    """
    if kind not in _DERIVED:
        raise RmdashError(f"kind {kind!r} has no KPI metrics")
    date_column = load_schema().kind(kind).period_column
    where = [f"{date_column} IS NOT NULL", "vendor IS NOT NULL"]
    params = _internal_params(rules)
    if filters.vendor is not None:
        where.append("vendor = $k_vendor")
        params["k_vendor"] = filters.vendor
    if filters.rm is not None:
        where.append("rm = $k_rm")
        params["k_rm"] = filters.rm
    if filters.period is not None:
        start, end = period_range(filters.period, grain, rules.fiscal_year_start_month)
        where.append(f"{date_column} >= $k_from AND {date_column} < $k_to")
        params.update(k_from=start, k_to=end)
    sql = f"""
        SELECT b.*, {_period_start_sql(date_column, grain, rules.fiscal_year_start_month)} AS period_start
        FROM ({_DERIVED[kind]()}) b
        WHERE {" AND ".join(where)}"""  # noqa: S608 (registry SQL and identifiers; values bound)
    return sql, params


def bind(sql: str, params: dict) -> dict:
    """The parameters ``sql`` refers to ($name): DuckDB refuses unused ones."""
    used = set(_PARAM_REF.findall(sql))
    missing = used - params.keys()
    if missing:
        raise RmdashError(f"rules: SQL refers to ${sorted(missing)[0]}, which has no value")
    return {k: v for k, v in params.items() if k in used}


def _aggregate_sql(kind: str, metrics: list[Metric], rules: Rules, grain: str, filters: Filters):
    """One kind's aggregation: sum and count of every metric's rows in scope, per group.

    Groups are GROUPING SETS ((vendor, period), (vendor, rm, period)); the
    RM-level group of rows without rm is dropped (they count at vendor level only).
    """
    base, params = base_sql(kind, rules, grain, filters)
    # The same numbers as sum(row_value) FILTER (WHERE in_scope) and count(*) FILTER (...)
    # (a null in_scope is out of scope either way; a null row value adds 0), written as a
    # conditional sum and count_if: ten FILTER clauses cost DuckDB ten selection passes,
    # measurably slower on a million rows.
    aggregates = ",\n".join(
        f'sum(CASE WHEN ({m.in_scope}) THEN {row_value_sql(m)} ELSE 0.0 END) AS "{m.name}__sum", '
        f'count_if(({m.in_scope})) AS "{m.name}__n"'
        for m in metrics
    )
    if filters.rm is not None:  # only the chosen RM's rows: no vendor-level groups
        grouping = "GROUP BY vendor, rm, period_start"
        level = "FALSE"
        having = ""
    else:
        grouping = "GROUP BY GROUPING SETS ((vendor, period_start), (vendor, rm, period_start))"
        level = "GROUPING(rm) = 1"
        having = "HAVING GROUPING(rm) = 1 OR rm IS NOT NULL"  # rows without rm: vendor level only
    sql = f"""
        SELECT vendor, rm, period_start, {level} AS vendor_level,
        {aggregates}
        FROM ({base}) base
        {grouping}
        {having}"""  # noqa: S608 (registry SQL and identifiers; values bound)
    return sql, params


def row_value_sql(metric: Metric) -> str:
    """A metric's row value as a DOUBLE: a condition counts 1 when true, 0 when false or null."""
    return f"coalesce(CAST(({metric.row_value}) AS DOUBLE), 0.0)"


def kpi_sql(rules: Rules, grain: str, filters: Filters) -> tuple[str, dict]:
    """The whole KPI aggregation as ONE statement: each kind's own grouping-sets query, merged.

    One statement rather than five saves four round trips and lets DuckDB run
    the kinds' pipelines in one plan. A (vendor, level, rm, period) key
    appears at most once per kind, so max() merely picks that kind's number.
    """
    parts, params = [], {}
    for kind in rules.kinds:
        sql, p = _aggregate_sql(kind, rules.metrics_of_kind(kind), rules, grain, filters)
        parts.append(f"k_{kind} AS ({sql})")
        params.update(p)
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM k_{kind}" for kind in rules.kinds)  # noqa: S608
    merged = ",\n".join(
        f'max("{m}__{part}") AS "{m}__{part}"' for m in rules.metrics for part in ("sum", "n")
    )
    # The contract is the vendor's: only vendor-level rows get its terms.
    sql = f"""
        WITH {", ".join(parts)},
        merged AS (
            SELECT vendor, vendor_level, rm, period_start, {merged}
            FROM ({union}) kinds
            GROUP BY vendor, vendor_level, rm, period_start)
        SELECT merged.*, ct.monthly_fee AS contract_fee, ct.at_risk_pct AS contract_at_risk_pct,
               ct.bonus_pct AS contract_bonus_pct, ct.currency AS contract_currency
        FROM merged LEFT JOIN contracts ct ON ct.vendor = merged.vendor AND merged.vendor_level
        ORDER BY vendor, vendor_level DESC, rm, period_start"""  # noqa: S608 (registry SQL; values bound)
    return sql, bind(sql, params)


# ---------------------------------------------------------------- the table


@dataclass
class KpiTable:
    """The KPI table (docs/architecture.md): three long frames and the rules they used."""

    grain: str
    rules: Rules
    composite: pd.DataFrame
    components: pd.DataFrame
    metrics: pd.DataFrame

    def copy(self) -> KpiTable:
        return replace(
            self,
            composite=self.composite.copy(),
            components=self.components.copy(),
            metrics=self.metrics.copy(),
        )

    def to_json(self) -> dict:
        """Spec section 6: {"grain", "rows": [...]}; NaN -> null; scores unrounded."""
        return {"grain": self.grain, "rows": _json_rows(self)}


def _none_if_nan(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _json_rows(table: KpiTable) -> list[dict]:
    comp_names = list(table.rules.components)
    metric_names = list(table.rules.metrics)
    c, k, m = table.composite, len(comp_names), len(metric_names)
    # Long frames are ordered row-major (row, then component/metric in rules order).
    cs = table.components["score"].to_numpy(float).reshape(-1, k)
    cn = table.components["n"].to_numpy(np.int64).reshape(-1, k)
    mv = table.metrics["value"].to_numpy(float).reshape(-1, m)
    mn = table.metrics["n"].to_numpy(np.int64).reshape(-1, m)
    ms = table.metrics["score"].to_numpy(float).reshape(-1, m)
    rows = []
    for i, rec in enumerate(c.itertuples(index=False)):
        row = {
            "vendor": rec.vendor,
            "rm": rec.rm,
            "period": rec.period,
            "composite": _none_if_nan(rec.composite),
            "rag": rec.rag,
            "components": {
                name: {"score": _none_if_nan(cs[i, j]), "n": int(cn[i, j])}
                for j, name in enumerate(comp_names)
            },
            "metrics": {
                name: {"value": _none_if_nan(mv[i, j]), "n": int(mn[i, j]), "score": _none_if_nan(ms[i, j])}
                for j, name in enumerate(metric_names)
            },
        }
        if rec.rm is None and not math.isnan(rec.at_risk):  # a contract exists for this vendor
            row["service_credit"] = _none_if_nan(rec.service_credit)
            row["bonus"] = _none_if_nan(rec.bonus)
        rows.append(row)
    return rows


def _query_kinds(con, rules: Rules, grain: str, filters: Filters) -> pd.DataFrame:
    """One wide frame: a row per (vendor, level, rm, period) with data, sum/n per metric."""
    sql, params = kpi_sql(rules, grain, filters)
    return con.execute(sql, params).df()


def as_fraction(pct: pd.Series | np.ndarray) -> np.ndarray:
    """Spec: a value above 1 is a percent, one at most 1 a fraction (10 and 0.10 both mean 10 %)."""
    x = np.asarray(pct, dtype=float)
    return np.where(x > 1, x / 100.0, x)


def _build_table(wide: pd.DataFrame, rules: Rules, grain: str) -> KpiTable:
    metrics = list(rules.metrics.values())
    comps = list(rules.components.values())
    r_n, m_n, c_n = len(wide), len(metrics), len(comps)

    sums = wide[[f"{m.name}__sum" for m in metrics]].to_numpy(float).reshape(r_n, m_n)
    n = (
        np.nan_to_num(wide[[f"{m.name}__n" for m in metrics]].to_numpy(float))
        .astype(np.int64)
        .reshape(r_n, m_n)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(n > 0, sums / np.where(n > 0, n, 1), np.nan)
        target = np.array([m.target for m in metrics])
        floor = np.array([m.floor for m in metrics])
        score = np.clip(100.0 * (value - floor) / (target - floor), 0.0, 100.0)  # NaN stays NaN
    numerator = np.where(n > 0, np.nan_to_num(sums), np.nan)

    # Components: mean of the scores that exist; n = largest n among its metrics.
    member = np.array([[m.component == c.name for c in comps] for m in metrics], dtype=float)  # (M, C)
    has_score = ~np.isnan(score)
    score_sum = np.nan_to_num(score) @ member
    score_cnt = has_score.astype(float) @ member
    with np.errstate(invalid="ignore", divide="ignore"):
        comp_score = np.where(score_cnt > 0, score_sum / np.where(score_cnt > 0, score_cnt, 1), np.nan)
    comp_n = np.stack(
        [
            n[:, member[:, j] > 0].max(axis=1) if member[:, j].any() else np.zeros(r_n, np.int64)
            for j in range(c_n)
        ],
        axis=1,
    ).reshape(r_n, c_n)

    weight = np.array([c.weight for c in comps])
    comp_has = ~np.isnan(comp_score)
    w_sum = (comp_has * weight).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        composite = np.where(w_sum > 0, (np.nan_to_num(comp_score) * weight).sum(axis=1) / w_sum, np.nan)

    low = rules.low_sample_n
    metric_low = (n > 0) & (n < low)
    comp_low = comp_has & (comp_n < low)
    composite_low = (comp_low & (weight > 0)).any(axis=1) & ~np.isnan(composite)

    vendor_level = wide["vendor_level"].astype(bool).to_numpy()
    money = _money(wide, vendor_level, composite, rules, grain)
    # Columns are built as arrays and taken by index (no per-cell Python, no string re-parsing).
    keys = {
        "vendor": wide["vendor"].astype("str").array,
        # object dtype keeps None (pandas 3 would turn a str column's None into NaN)
        "rm": np.where(vendor_level, None, wide["rm"].astype(object).to_numpy()),
        "period": period_labels(wide["period_start"], grain, rules.fiscal_year_start_month).array,
        "period_start": pd.to_datetime(wide["period_start"]).to_numpy(),
    }
    composite_frame = _frame(
        keys,
        np.arange(r_n),
        composite=composite,
        rag=_rag(composite, rules),
        low_sample=composite_low,
        **money,
    )
    per_comp = np.repeat(np.arange(r_n), c_n)
    comp_names = pd.array([c.name for c in comps], dtype="str")
    per_metric = np.repeat(np.arange(r_n), m_n)
    metric_names = pd.array([m.name for m in metrics], dtype="str")
    metric_comps = pd.array([m.component for m in metrics], dtype="str")
    return KpiTable(
        grain=grain,
        rules=rules,
        composite=composite_frame[COMPOSITE_COLUMNS],
        components=_frame(
            keys,
            per_comp,
            component=comp_names.take(np.tile(np.arange(c_n), r_n)),
            score=comp_score.ravel(),
            n=comp_n.ravel(),
            weight=np.tile(weight, r_n),
            low_sample=comp_low.ravel(),
        )[COMPONENT_COLUMNS],
        metrics=_frame(
            keys,
            per_metric,
            metric=metric_names.take(np.tile(np.arange(m_n), r_n)),
            component=metric_comps.take(np.tile(np.arange(m_n), r_n)),
            value=value.ravel(),
            n=n.ravel(),
            numerator=numerator.ravel(),
            score=score.ravel(),
            low_sample=metric_low.ravel(),
        )[METRIC_COLUMNS],
    )


def _frame(keys: dict, rows: np.ndarray, **columns) -> pd.DataFrame:
    """The key columns taken at ``rows`` plus the given (already long) columns."""
    data = {
        "vendor": keys["vendor"].take(rows),
        "rm": pd.Series(keys["rm"][rows], dtype=object),
        "period": keys["period"].take(rows),
        "period_start": keys["period_start"][rows],
    }
    for name, values in columns.items():
        data[name] = pd.Series(values, dtype=object) if name in _OBJECT_COLUMNS else values
    return pd.DataFrame(data)


_OBJECT_COLUMNS = {"rag", "currency"}  # may hold None


def _rag(scores: np.ndarray, rules: Rules) -> np.ndarray:
    """Vectorised rules.rag_of: "green"/"amber"/"red", None without a score."""
    s = np.round(scores, THRESHOLD_DECIMALS)
    with np.errstate(invalid="ignore"):
        return np.select(
            [np.isnan(s), s >= rules.rag.green, s >= rules.rag.amber], [None, "green", "amber"], default="red"
        ).astype(object)


def _money(wide: pd.DataFrame, vendor_level, composite, rules: Rules, grain: str) -> dict:
    """at_risk, service_credit, bonus, currency per row (vendor-level rows with a contract only)."""
    months = 1 if grain == "month" else rules.money.months_per_quarter
    fee = np.where(vendor_level, wide["contract_fee"].to_numpy(float), np.nan)
    at_risk = fee * months * as_fraction(wide["contract_at_risk_pct"].to_numpy(float))
    bonus_frac = np.nan_to_num(as_fraction(wide["contract_bonus_pct"].to_numpy(float)))
    c = np.round(composite, THRESHOLD_DECIMALS)  # thresholds ignore floating noise
    mo = rules.money
    share = np.clip((mo.credit_starts_below - c) / (mo.credit_starts_below - mo.credit_full_at), 0.0, 1.0)
    credit = np.where(np.isnan(c), np.nan, at_risk * share)
    bonus = np.where(
        np.isnan(c) | np.isnan(fee), np.nan, np.where(c >= mo.bonus_at, fee * months * bonus_frac, 0.0)
    )
    currency = np.where(~np.isnan(fee), wide["contract_currency"].astype(object).to_numpy(), None)
    return {"at_risk": at_risk, "service_credit": credit, "bonus": bonus, "currency": currency}


# ---------------------------------------------------------------- entry points

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 32
_CACHE_LOCK = threading.Lock()


def _cache_key(con, rules: Rules, grain: str, filters: Filters):
    """None for an in-memory database (nothing identifies it across connections)."""
    path = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    if not path:
        return None
    version = con.execute("SELECT value FROM store_meta WHERE key = 'store_version'").fetchone()
    try:
        inode = Path(path).stat().st_ino
    except OSError:
        inode = None
    return (path, inode, version[0] if version else None, rules.hash, grain, filters)


def compute_kpis(
    con: duckdb.DuckDBPyConnection,
    grain: str = "month",
    rules: Rules | None = None,
    vendor: str | None = None,
    rm: str | None = None,
    period: str | None = None,
    cache: bool = True,
) -> KpiTable:
    """The KPI table for every (vendor, rm, period) with data, under ``rules`` (default: loaded rules).

    ``rm`` keeps only that RM's rows (no vendor-level rows); ``period`` is a
    label of the grain ("2026-09", "2026-Q3").
    """
    _check_grain(grain)
    rules = rules or load_rules()
    filters = Filters(vendor=vendor, rm=rm, period=period)
    if period is not None:
        period_range(period, grain, rules.fiscal_year_start_month)  # a bad label fails before any query
    key = _cache_key(con, rules, grain, filters) if cache else None
    if key is not None:
        whole = key[:-1] + (Filters(),)  # the same store version, rules and grain, unfiltered
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key].copy()
            if whole in _CACHE:  # a filter change reads the precomputed rows
                _CACHE.move_to_end(whole)
                return _filtered(_CACHE[whole], filters)
    table = _build_table(_query_kinds(con, rules, grain, filters), rules, grain)
    if key is not None:
        with _CACHE_LOCK:
            _CACHE[key] = table
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        return table.copy()
    return table


def _filtered(table: KpiTable, filters: Filters) -> KpiTable:
    """The rows of a whole KPI table that ``filters`` keep (a copy).

    Every row is computed from its own (vendor, rm, period) group, so these are
    the rows a filtered query gives, in the same order: a vendor's rows, one
    RM's rows (no vendor-level rows), or one period's rows.
    """

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        mask = np.ones(len(frame), bool)
        if filters.vendor is not None:
            mask &= (frame["vendor"] == filters.vendor).to_numpy()
        if filters.rm is not None:
            mask &= (frame["rm"] == filters.rm).to_numpy(dtype=bool, na_value=False)
        if filters.period is not None:
            mask &= (frame["period"] == filters.period).to_numpy()
        return frame[mask].reset_index(drop=True)

    return replace(
        table,
        composite=keep(table.composite),
        components=keep(table.components),
        metrics=keep(table.metrics),
    )


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def money_by_year(table: KpiTable) -> pd.DataFrame:
    """Per vendor and (fiscal) year: at_risk, service_credit, bonus totals from monthly rows.

    The year is the calendar year, or with a fiscal year start month the year
    the fiscal year ends in. ``months_scored`` counts the months with a
    composite (a month without one has no credit or bonus).
    """
    if table.grain != "month":
        raise RmdashError("money by year is summed from monthly rows: compute the KPI table with grain month")
    c = table.composite[table.composite["rm"].isna() & table.composite["at_risk"].notna()]
    start = table.rules.fiscal_year_start_month
    month = c["period_start"].dt.month
    year = c["period_start"].dt.year + ((month >= start) & (start != 1)).astype(int)
    out = (
        c.assign(year=year, months_scored=c["composite"].notna().astype(int))
        .groupby(["vendor", "year"], as_index=False)
        .agg(
            at_risk=("at_risk", "sum"),
            service_credit=("service_credit", "sum"),
            bonus=("bonus", "sum"),
            months_scored=("months_scored", "sum"),
        )
    )
    return out


def kpi_json(
    db_path: str | Path,
    grain: str,
    vendor: str | None = None,
    rm: str | None = None,
    period: str | None = None,
    config: str | Path | None = None,
) -> dict:
    """The spec section 6 object for the CLI ``kpi --json`` command."""
    from rmdash.rules import active_rules
    from rmdash.store import open_store  # waits for another process's write lock; clear errors

    con = open_store(db_path, read_only=True)
    try:
        rules = active_rules(con, config)  # the same rules as the dashboard unless --config
        return compute_kpis(con, grain, rules, vendor=vendor, rm=rm, period=period).to_json()
    finally:
        con.close()
