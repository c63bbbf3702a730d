"""Page-level data for the dashboard: one call per page returns everything the page draws.

Purpose: turn the store, the KPI table and the shared filters into plain
dataclasses of frames and texts (tables ready to show, frames ready for
rmdash.charts, headlines), so that each page in pages/ is only filters, one
call here and charts. Boundary: no streamlit, no figures, no KPI arithmetic
(rmdash.kpi computes every number; this module selects, joins, orders and
words them). The caller may pass a KPI table it cached (``kpis=``); when it
does not, the table is computed here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from rmdash import explain, exports, movement, store, theme
from rmdash import filters as flt
from rmdash import rules as rules_mod
from rmdash.filters import Filters
from rmdash.kpi import Filters as KpiFilters
from rmdash.kpi import compute_kpis
from rmdash.model import FilePlan, ImportOptions, RmdashError
from rmdash.rules_doc import describe_rules, format_value
from rmdash.schema import load_schema

NO_DATA = "No data yet. Upload your monthly exports, or start from the templates or the demo data."
NO_MATCH = "Nothing matches these filters. Widen the period range or clear the vendor and RM filters."


# ---------------------------------------------------------------- rules and KPI table


active_rules = rules_mod.active_rules  # newest saved rule set, else the configured rules


def rules_key(con: duckdb.DuckDBPyConnection) -> str:
    """Changes whenever the active rules change (part of the dashboard's cache key)."""
    return active_rules(con).hash


def all_kpis(con: duckdb.DuckDBPyConnection, grain: str, rules: rules_mod.Rules | None = None):
    """Every vendor's and RM's KPIs at ``grain`` under the active rules (what the app caches)."""
    return compute_kpis(con, grain, rules=rules or active_rules(con))


def _kpis(con, f: Filters, kpis):
    return kpis if kpis is not None else all_kpis(con, f.grain)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


_MEMO = "_rmdash_views_memo"


def _memo(table, key, make):
    """``make()`` once per (read-only, cached) KpiTable object and key; later calls reuse it."""
    memo = getattr(table, _MEMO, None)
    if memo is None:
        memo = {}
        object.__setattr__(table, _MEMO, memo)
    if key not in memo:
        memo[key] = make()
    return memo[key]


def prepare(kpis) -> None:
    """Warm what the vendor page needs for every vendor (split by vendor, default waterfall).

    The app calls this once when it caches a KPI table, so picking another
    vendor later costs look-ups, not pandas work.
    """
    for vendor in kpis.composite["vendor"].dropna().unique():
        mine = _only_vendor(kpis, vendor)
        own = mine.composite[mine.composite["rm"].isna()].dropna(subset=["composite"])
        periods = list(own.sort_values("period_start")["period"].astype(str))
        if len(periods) > 1:
            _movement(mine, vendor, (periods[-2], periods[-1]), kpis.rules)


# ---------------------------------------------------------------- filter options


@dataclass
class FilterOptions:
    vendors: list[str]
    rms: list[str]
    periods: pd.DataFrame  # period, period_start: every period with data, in order
    vendor_rms: pd.DataFrame  # vendor, rm pairs

    def rms_of(self, vendors: Sequence[str]) -> list[str]:
        pairs = self.vendor_rms
        if vendors:
            pairs = pairs[pairs["vendor"].isin(list(vendors))]
        return sorted(pairs["rm"].drop_duplicates(), key=str.casefold)


def filter_options(kpis) -> FilterOptions:
    """What the sidebar offers: the vendors, RMs and periods that have KPI rows."""
    comp = kpis.composite
    periods = comp[["period", "period_start"]].drop_duplicates().sort_values("period_start")
    pairs = comp.loc[comp["rm"].notna(), ["vendor", "rm"]].drop_duplicates()
    return FilterOptions(
        vendors=sorted(comp["vendor"].dropna().unique(), key=str.casefold),
        rms=sorted(pairs["rm"].unique(), key=str.casefold),
        periods=periods.reset_index(drop=True),
        vendor_rms=pairs.reset_index(drop=True),
    )


# ---------------------------------------------------------------- shared pieces


@dataclass
class Frame:
    """What every scorecard page needs besides its own data."""

    colors: dict[str, str]  # vendor -> colour, over every vendor in the store
    bands: dict[str, float]  # RAG thresholds: green, amber
    component_labels: dict[str, str]
    metric_labels: dict[str, str]
    empty: str | None = None  # why there is nothing to show (the page shows an empty state)


def _frame(kpis, rules: rules_mod.Rules) -> Frame:
    colors = _memo(kpis, "colors", lambda: theme.vendor_colors(kpis.composite["vendor"].dropna().unique()))
    return Frame(
        colors=dict(colors),
        bands={"green": rules.rag.green, "amber": rules.rag.amber},
        component_labels={c.name: c.label for c in rules.components.values()},
        metric_labels={m.name: m.label for m in rules.metrics.values()},
    )


def _with_rag(frame: pd.DataFrame, rules: rules_mod.Rules, score: str = "score") -> pd.DataFrame:
    return frame.assign(rag=[rules.rag_of(s) for s in frame[score]])


def _latest_period(frame: pd.DataFrame) -> tuple[str, pd.Timestamp] | None:
    data = frame.dropna(subset=["composite"]) if "composite" in frame else frame
    if data.empty:
        return None
    last = data.sort_values("period_start").iloc[-1]
    return str(last["period"]), last["period_start"]


def _previous_period(all_periods: pd.DataFrame, period: str) -> str | None:
    labels = list(all_periods.sort_values("period_start")["period"].astype(str).drop_duplicates())
    i = labels.index(period) if period in labels else -1
    return labels[i - 1] if i > 0 else None


_format_value = format_value


def _money_text(value, currency: str) -> str:
    if _is_missing(value):
        return ""
    return f"{currency} {value:,.0f}".strip()


# ---------------------------------------------------------------- portfolio


@dataclass
class PortfolioView:
    frame: Frame
    period: str | None = None  # the latest period in range
    headline: str = ""
    league: pd.DataFrame = field(default_factory=pd.DataFrame)
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)  # vendor-level composite rows
    escalation: pd.DataFrame = field(default_factory=pd.DataFrame)  # metric rows of escalation_rate
    heatmap: pd.DataFrame = field(default_factory=pd.DataFrame)  # components of the latest period (+ rag)


def portfolio_view(con, f: Filters, kpis=None) -> PortfolioView:
    """League table, composite trend, escalation trend and vendor x component heatmap."""
    kpis = _kpis(con, f, kpis)
    rules = kpis.rules  # the rules the table was scored with (the active ones, when the app cached it)
    view = PortfolioView(frame=_frame(kpis, rules))
    if kpis.composite.empty:
        view.frame.empty = NO_DATA
        return view
    trend = flt.select(kpis.composite, f, f.grain)
    latest = _latest_period(trend)
    if latest is None:
        view.frame.empty = NO_MATCH
        return view
    period, _ = latest
    previous = _previous_period(kpis.composite, period)
    view.period = period
    view.trend = trend
    view.escalation = flt.select(kpis.metrics, f, f.grain).query("metric == 'escalation_rate'")
    comps = flt.select(kpis.components, f, f.grain)
    view.heatmap = _with_rag(comps[comps["period"] == period], rules)
    view.league = _league(kpis, trend, comps, period, previous)
    view.headline = _portfolio_headline(view.league, period)
    return view


def _league(kpis, trend, comps, period, previous) -> pd.DataFrame:
    vendor_rows = kpis.composite[kpis.composite["rm"].isna()]
    now = trend[trend["period"] == period].set_index("vendor")
    before = vendor_rows[vendor_rows["period"] == previous].set_index("vendor")["composite"]
    low = comps[(comps["period"] == period) & comps["low_sample"]].groupby("vendor")["component"].count()
    rows = []
    for vendor, r in now.iterrows():
        series = trend[trend["vendor"] == vendor].sort_values("period_start")["composite"].dropna()
        change = round(r["composite"] - before.get(vendor, float("nan")), 1) + 0.0  # no "-0.0"
        cur = r["currency"] if isinstance(r.get("currency"), str) else ""
        rows.append(
            {
                "Vendor": vendor,
                "Composite": r["composite"],
                "RAG": theme.rag_label(r["rag"]),
                "Change": change,
                "Trend": [round(float(x), 1) for x in series],
                "Low sample": f"{theme.LOW_SAMPLE} ({int(low[vendor])})" if low.get(vendor, 0) else "",
                "Service credit": _money_text(r.get("service_credit"), cur),
                "Bonus": _money_text(r.get("bonus"), cur),
            }
        )
    league = pd.DataFrame(rows)
    if league.empty:
        return league
    league = league.sort_values("Composite", ascending=False, na_position="last").reset_index(drop=True)
    league.insert(0, "Rank", range(1, len(league) + 1))
    return league


def _portfolio_headline(league: pd.DataFrame, period: str) -> str:
    if league.empty:
        return f"{period}: no vendor has a composite"
    scored = league.dropna(subset=["Composite"])
    greens = int(scored["RAG"].str.endswith("Green").sum())
    best = scored.iloc[0] if len(scored) else None
    lead = f"; best {best['Vendor']} at {best['Composite']:.1f}" if best is not None else ""
    return f"{period}: {greens} of {len(league)} vendors green{lead}"


# ---------------------------------------------------------------- relationship managers

# How many periods either side of an RM change the before/after comparison pools.
REPLACEMENT_WINDOW = 3


@dataclass
class RmView:
    frame: Frame
    period: str | None = None
    headline: str = ""
    scorecards: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per RM, latest period
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)  # RM composite rows (series "RM")
    ranking: pd.DataFrame = field(default_factory=pd.DataFrame)  # RM, vendor, composite, rag
    focus_rm: str | None = None  # "RM · vendor" compared with the vendor
    versus: pd.DataFrame = field(default_factory=pd.DataFrame)  # composite rows, series column "series"
    versus_colors: dict[str, str] = field(default_factory=dict)
    replacements: pd.DataFrame = field(default_factory=pd.DataFrame)
    replacement_detail: pd.DataFrame = field(default_factory=pd.DataFrame)  # component, before, after
    replacement_title: str = ""


def _rm_label(frame: pd.DataFrame) -> pd.Series:
    return frame["rm"].astype(str) + " · " + frame["vendor"].astype(str)


def rm_view(con, f: Filters, kpis=None) -> RmView:
    """Each RM's scorecard and trend, RMs ranked, an RM against their vendor, RM replacements."""
    kpis = _kpis(con, f, kpis)
    rules = kpis.rules  # the rules the table was scored with (the active ones, when the app cached it)
    view = RmView(frame=_frame(kpis, rules))
    all_rm = flt.select(kpis.composite, f, f.grain, level="rm", use_rm=False)
    if kpis.composite.empty or kpis.composite["rm"].isna().all():
        view.frame.empty = (
            NO_DATA
            if kpis.composite.empty
            else "No row carries an RM yet: upload files with an RM column, or set the RM at upload."
        )
        return view
    latest = _latest_period(all_rm)
    if latest is None:
        view.frame.empty = NO_MATCH
        return view
    view.period = period = latest[0]
    chosen = all_rm[all_rm["rm"] == f.rm] if f.rm else all_rm
    view.trend = chosen.assign(RM=_rm_label(chosen))
    now = all_rm[all_rm["period"] == period].assign(RM=lambda d: _rm_label(d))
    view.ranking = now[["RM", "rm", "vendor", "composite", "rag"]].dropna(subset=["composite"])
    comps = flt.select(kpis.components, f, f.grain, level="rm")
    view.scorecards = _scorecards(kpis, chosen, comps, period, rules)
    view.headline = _rm_headline(view.ranking, period)
    _versus(view, kpis, f, chosen, period)
    _replacements(view, kpis, f, rules)
    return view


def _scorecards(kpis, chosen, comps, period, rules) -> pd.DataFrame:
    now = chosen[chosen["period"] == period]
    previous = _previous_period(kpis.composite, period)
    rm_rows = kpis.composite[kpis.composite["rm"].notna()]
    before = rm_rows[rm_rows["period"] == previous].set_index(["vendor", "rm"])["composite"]
    scores = comps[comps["period"] == period].pivot_table(
        index=["vendor", "rm"], columns="component", values="score", aggfunc="first"
    )
    rows = []
    for _, r in now.iterrows():
        key = (r["vendor"], r["rm"])
        row = {
            "RM": r["rm"],
            "Vendor": r["vendor"],
            "Composite": r["composite"],
            "RAG": theme.rag_label(r["rag"]),
            "Change": r["composite"] - before.get(key, float("nan")),
            "Low sample": theme.LOW_SAMPLE if r.get("low_sample") else "",
        }
        for comp in rules.components.values():
            value = (
                scores.loc[key, comp.name] if key in scores.index and comp.name in scores.columns else None
            )
            row[comp.label] = float("nan") if value is None else float(value)
        rows.append(row)
    out = pd.DataFrame(rows)
    return (
        out.sort_values("Composite", ascending=False, na_position="last").reset_index(drop=True)
        if rows
        else out
    )


def _rm_headline(ranking: pd.DataFrame, period: str) -> str:
    if ranking.empty:
        return f"{period}: no RM has a composite"
    top = ranking.sort_values("composite", ascending=False).iloc[0]
    greens = int((ranking["rag"] == "green").sum())
    return f"{period}: {greens} of {len(ranking)} RMs green; top {top['RM']} at {top['composite']:.1f}"


def _versus(view: RmView, kpis, f: Filters, chosen: pd.DataFrame, period: str) -> None:
    """The focus RM (the RM filter, else the best-ranked one) against their vendor's composite."""
    if chosen.empty:
        return
    ranked = chosen[chosen["period"] == period].dropna(subset=["composite"]).sort_values("composite")
    pick = ranked.iloc[-1] if len(ranked) else chosen.iloc[-1]
    vendor, rm = pick["vendor"], pick["rm"]
    rm_rows = chosen[(chosen["vendor"] == vendor) & (chosen["rm"] == rm)]
    vendor_rows = flt.select(kpis.composite, f.with_(vendors=(vendor,)), f.grain)
    rm_name, vendor_name = f"RM {rm}", f"{vendor} (whole vendor)"
    view.focus_rm = f"{rm} · {vendor}"
    view.versus = pd.concat([rm_rows.assign(series=rm_name), vendor_rows.assign(series=vendor_name)])
    view.versus_colors = {vendor_name: view.frame.colors.get(vendor, theme.OKABE_ITO[0]), rm_name: "#000000"}


def _tenures(rm_rows: pd.DataFrame) -> pd.DataFrame:
    data = rm_rows.dropna(subset=["composite"])
    return (
        data.groupby(["vendor", "rm"])["period_start"]
        .agg(first="min", last="max")
        .reset_index()
        .sort_values("first")
    )


def _replacements(view: RmView, kpis, f: Filters, rules) -> None:
    """Where a vendor's RM handed over to another: the old RM's last periods vs the new RM's first."""
    rm_rows = kpis.composite[kpis.composite["rm"].notna()]
    if f.vendors:
        rm_rows = rm_rows[rm_rows["vendor"].isin(f.vendors)]
    found = []
    for vendor, ten in _tenures(rm_rows).groupby("vendor"):
        found += _handovers(vendor, ten, rm_rows.loc[rm_rows["vendor"] == vendor, "period_start"].max())
    if not found:
        return
    comps = kpis.components
    rows, details = [], []
    for vendor, old, new, switch in found:
        before = _window(rm_rows, vendor, old, switch, before=True)
        after = _window(rm_rows, vendor, new, switch, before=False)
        switch_label = str(rm_rows.loc[rm_rows["period_start"] == switch, "period"].iloc[0])
        rows.append(
            {
                "Vendor": vendor,
                "From RM": old,
                "To RM": new,
                "From period": switch_label,
                "Composite before": before["composite"].mean(),
                "Composite after": after["composite"].mean(),
            }
        )
        details.append((vendor, old, new, switch_label, before, after))
    table = pd.DataFrame(rows)
    table["Change"] = table["Composite after"] - table["Composite before"]
    view.replacements = table
    vendor, old, new, switch_label, before, after = _pick_replacement(details, f)
    labels = view.frame.component_labels
    b = _component_means(comps, vendor, old, before["period"])
    a = _component_means(comps, vendor, new, after["period"])
    detail = pd.DataFrame({"before": b, "after": a}).reindex(
        [c for c in labels if c in b.index or c in a.index]
    )
    detail.loc["composite"] = [before["composite"].mean(), after["composite"].mean()]
    detail.index = [labels.get(c, "Composite") for c in detail.index]
    view.replacement_detail = detail.rename_axis("component").reset_index()
    view.replacement_title = (
        f"{vendor}: {old} → {new} from {switch_label} (up to {REPLACEMENT_WINDOW} periods each side)"
    )


def _handovers(vendor: str, ten: pd.DataFrame, vendor_last: pd.Timestamp) -> list[tuple]:
    """RM pairs where the old one stopped before the vendor's last period and the new one
    started after the old one did, no later than the period after the old one's last."""
    out = []
    for _, old in ten.iterrows():
        if old["last"] >= vendor_last:
            continue  # still in charge
        gap_limit = old["last"] + pd.DateOffset(months=3)
        later = ten[(ten["first"] > old["first"]) & (ten["last"] > old["last"]) & (ten["first"] <= gap_limit)]
        if len(later):
            new = later.sort_values("first").iloc[0]
            out.append((vendor, old["rm"], new["rm"], new["first"]))
    return out


def _window(rm_rows, vendor, rm, switch, *, before: bool) -> pd.DataFrame:
    rows = rm_rows[(rm_rows["vendor"] == vendor) & (rm_rows["rm"] == rm)].dropna(subset=["composite"])
    rows = rows[rows["period_start"] < switch] if before else rows[rows["period_start"] >= switch]
    rows = rows.sort_values("period_start")
    return rows.tail(REPLACEMENT_WINDOW) if before else rows.head(REPLACEMENT_WINDOW)


def _component_means(comps: pd.DataFrame, vendor, rm, periods: pd.Series) -> pd.Series:
    sel = comps[(comps["vendor"] == vendor) & (comps["rm"] == rm) & comps["period"].isin(list(periods))]
    return sel.groupby("component")["score"].mean()


def _pick_replacement(details, f: Filters):
    for d in details:
        if f.rm in (d[1], d[2]):
            return d
    return details[-1]


# ---------------------------------------------------------------- vendor


@dataclass
class VendorView:
    frame: Frame
    vendors: list[str] = field(default_factory=list)  # what the vendor picker offers
    vendor: str | None = None
    headline: str = ""
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)  # this vendor's composite rows (vendor level)
    components: pd.DataFrame = field(default_factory=pd.DataFrame)  # its component rows
    periods: list[str] = field(default_factory=list)  # periods in range with a composite, in order
    compare: tuple[str, str] | None = None  # the two periods of the waterfall
    movement: pd.DataFrame = field(default_factory=pd.DataFrame)  # label, value, kind
    period: str | None = None  # the period of the metric table, RM comparison and explain
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)  # table: value, n, target, score, ...
    metric_choices: dict[str, str] = field(default_factory=dict)  # metric name -> label, for explain
    rm_scores: pd.DataFrame = field(default_factory=pd.DataFrame)  # rm, component, score (period)
    rm_table: pd.DataFrame = field(default_factory=pd.DataFrame)  # RM, Composite, RAG, ...
    money: pd.DataFrame = field(default_factory=pd.DataFrame)  # period rows with service_credit, bonus
    money_text: str = ""
    currency: str = ""
    explain_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    explain_text: str = ""


def vendor_view(
    con, f: Filters, kpis=None, compare: tuple[str, str] | None = None, metric: str | None = None
) -> VendorView:
    """One vendor (the focus filter, else the first in the filter): composite, components,
    movement between two periods, metric table, its RMs side by side, money, and the rows behind a metric."""
    kpis = _kpis(con, f, kpis)
    rules = kpis.rules  # the rules the table was scored with (the active ones, when the app cached it)
    view = VendorView(frame=_frame(kpis, rules))
    vendor_rows = kpis.composite[kpis.composite["rm"].isna()]
    view.vendors = sorted(
        (v for v in vendor_rows["vendor"].unique() if not f.vendors or v in f.vendors), key=str.casefold
    )
    if not view.vendors:
        view.frame.empty = NO_DATA if kpis.composite.empty else NO_MATCH
        return view
    view.vendor = vendor = f.focus if f.focus in view.vendors else view.vendors[0]
    kpis = _only_vendor(kpis, vendor)  # every step below works on this vendor's rows only
    one = f.with_(vendors=(vendor,))
    view.trend = flt.select(kpis.composite, one, f.grain)
    view.components = flt.select(kpis.components, one, f.grain)
    scored = view.trend.dropna(subset=["composite"]).sort_values("period_start")
    view.periods = list(scored["period"].astype(str))
    if not view.periods:
        view.frame.empty = f"{vendor} has no composite in this period range. Widen the range."
        return view
    view.compare = _compare_pair(view.periods, compare)
    view.period = view.compare[1]
    view.headline = _vendor_headline(
        vendor, kpis.composite, view.period, movement.previous_period(kpis, view.period)
    )
    view.movement = _movement(kpis, vendor, view.compare, rules)
    view.metrics = _metric_table(kpis, vendor, None, view.period, rules)
    view.metric_choices = {m.name: m.label for m in rules.metrics.values()}
    _vendor_rms(view, kpis, vendor, view.period, rules)
    _vendor_money(view, scored)
    if metric in rules.metrics:
        _explain(view, con, vendor, None, view.period, f.grain, metric, rules)
    return view


def _compare_pair(periods: list[str], compare) -> tuple[str, str]:
    if compare and compare[0] in periods and compare[1] in periods and compare[0] != compare[1]:
        lo, hi = sorted(compare, key=periods.index)
        return lo, hi
    return (periods[-2], periods[-1]) if len(periods) > 1 else (periods[-1], periods[-1])


_BY_VENDOR = "_rmdash_views_by_vendor"  # memo on a (cached, read-only) KpiTable


def _only_vendor(kpis, vendor: str):
    """The KPI table cut down to one vendor's rows (vendor and RM level), so later steps scan little.

    The split by vendor is made once per KpiTable object and kept on it: the app
    caches the table, so switching vendors costs a dictionary look-up.
    """
    split = getattr(kpis, _BY_VENDOR, None)
    if split is None:
        parts = {name: dict(tuple(getattr(kpis, name).groupby("vendor", sort=False))) for name in _FRAMES}
        vendors = set().union(*(p.keys() for p in parts.values()))
        split = {
            v: dataclasses.replace(
                kpis, **{name: parts[name].get(v, getattr(kpis, name).iloc[0:0]) for name in _FRAMES}
            )
            for v in vendors
        }
        object.__setattr__(kpis, _BY_VENDOR, split)
    empty = {name: getattr(kpis, name).iloc[0:0] for name in _FRAMES}
    return split.get(vendor) or dataclasses.replace(kpis, **empty)


_FRAMES = ("composite", "components", "metrics")


def _vendor_headline(vendor: str, composite: pd.DataFrame, period: str, previous: str) -> str:
    own = composite[composite["rm"].isna()]
    row = own[own["period"] == period].iloc[-1]
    before = own.loc[own["period"] == previous, "composite"].dropna()
    change = f", {row['composite'] - before.iloc[0]:+.1f} vs {previous}" if len(before) else ""
    return f"{vendor}: {row['composite']:.1f} {theme.rag_label(row['rag'])} in {period}{change}"


def _movement(kpis, vendor, compare, rules) -> pd.DataFrame:
    """Waterfall parts (label, value, kind) from the composite of compare[0] to compare[1]."""
    empty = pd.DataFrame(columns=["label", "value", "kind"])
    if compare[0] == compare[1]:
        return empty
    two = {
        name: frame[frame["rm"].isna() & frame["period"].isin(compare)]
        for name, frame in ((n, getattr(kpis, n)) for n in _FRAMES)
    }
    parts = _memo(
        kpis,
        ("movement", compare),
        lambda: movement.movement(dataclasses.replace(kpis, **two), vendor, None, compare[1], compare[0]),
    )
    parts = parts[parts["level"] == "component"]
    if parts.empty:
        return empty
    labels = {c.name: c.label for c in rules.components.values()}
    start, end = float(parts["start"].iloc[0]), float(parts["end"].iloc[-1])
    middle = pd.DataFrame(
        {
            "label": [
                labels.get(c, "Coverage (components with/without data)")
                for c in parts["component"].fillna("")
            ],
            "value": parts["contribution"].to_numpy(float),
            "kind": "part",
        }
    )
    ends = [
        pd.DataFrame({"label": [compare[0]], "value": [start], "kind": ["start"]}),
        middle,
        pd.DataFrame({"label": [compare[1]], "value": [end], "kind": ["end"]}),
    ]
    return pd.concat(ends, ignore_index=True)


def _metric_table(kpis, vendor, rm, period, rules) -> pd.DataFrame:
    m = kpis.metrics
    rows = m[(m["vendor"] == vendor) & (m["period"] == period)]
    rows = rows[rows["rm"] == rm] if rm else rows[rows["rm"].isna()]
    found = {
        name: (value, n, score, low)
        for name, value, n, score, low in zip(
            rows["metric"], rows["value"], rows["n"], rows["score"], rows["low_sample"], strict=True
        )
    }
    out = []
    for metric in rules.metrics.values():
        value, n, score, low = found.get(metric.name, (None, 0, None, False))
        out.append(
            {
                "Component": rules.components[metric.component].label,
                "Metric": metric.label,
                "Value": _format_value(value, metric.format),
                "n": int(n),
                "Target": _format_value(metric.target, metric.format),
                "Floor": _format_value(metric.floor, metric.format),
                "Score": None if _is_missing(score) else float(score),
                "RAG": theme.rag_label(rules.rag_of(score)),
                "Low sample": theme.LOW_SAMPLE if low else "",
            }
        )
    return pd.DataFrame(out)


def _vendor_rms(view: VendorView, kpis, vendor, period, rules) -> None:
    comps = kpis.components
    sel = comps[(comps["vendor"] == vendor) & comps["rm"].notna() & (comps["period"] == period)]
    view.rm_scores = sel[["rm", "component", "score", "n"]].reset_index(drop=True)
    comp = kpis.composite
    rms = comp[(comp["vendor"] == vendor) & comp["rm"].notna() & (comp["period"] == period)]
    view.rm_table = (
        pd.DataFrame(
            {
                "RM": rms["rm"],
                "Composite": rms["composite"],
                "RAG": [theme.rag_label(r) for r in rms["rag"]],
                "Low sample": [theme.LOW_SAMPLE if x else "" for x in rms["low_sample"]],
            }
        )
        .sort_values("Composite", ascending=False, na_position="last")
        .reset_index(drop=True)
    )


def _vendor_money(view: VendorView, scored: pd.DataFrame) -> None:
    money = scored.dropna(subset=["at_risk"])
    if money.empty:
        view.money_text = "No contract uploaded for this vendor: service credit and bonus need one."
        return
    view.money = money[["period", "period_start", "at_risk", "service_credit", "bonus"]]
    cur = money["currency"].dropna()
    view.currency = str(cur.iloc[0]) if len(cur) else ""
    credit, bonus = money["service_credit"].sum(), money["bonus"].sum()
    view.money_text = (
        f"Over {len(money)} periods shown: service credits {_money_text(credit, view.currency)}, "
        f"bonus {_money_text(bonus, view.currency)}, at risk {_money_text(money['at_risk'].sum(), view.currency)}."
    )


EXPLAIN_ROWS = 500  # failing rows listed for one metric (the worst first, in the registry's order)


def _explain(view: VendorView, con, vendor, rm, period, grain, metric, rules) -> None:
    m = rules.metrics[metric]
    where = KpiFilters(vendor=vendor, rm=rm, period=period)
    rows = explain.failing_rows(con, m, rules, grain, where, with_rm=rm is None, limit=EXPLAIN_ROWS + 1)
    more = f" (the first {EXPLAIN_ROWS})" if len(rows) > EXPLAIN_ROWS else ""
    view.explain_rows = rows.head(EXPLAIN_ROWS)
    view.explain_text = f"{m.label}: {m.formula}. Listed{more}: {m.failing}."


# ---------------------------------------------------------------- how KPIs are computed


@dataclass
class HowView:
    frame: Frame
    rules_label: str = ""
    components: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    rag_text: str = ""
    money_text: str = ""
    response_targets: pd.DataFrame = field(default_factory=pd.DataFrame)
    notice_days: pd.DataFrame = field(default_factory=pd.DataFrame)
    example_title: str = ""
    example_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    example_components: pd.DataFrame = field(default_factory=pd.DataFrame)
    example_composite: str = ""


def how_view(con, f: Filters, kpis=None) -> HowView:
    """Every formula, target, floor, weight and band from the rules registry, with a worked example."""
    kpis = _kpis(con, f, kpis)
    rules = kpis.rules  # the rules the table was scored with (the active ones, when the app cached it)
    doc = describe_rules(rules)
    view = HowView(
        frame=_frame(kpis, rules),
        rules_label=doc.label,
        components=doc.components,
        metrics=doc.metrics,
        rag_text=doc.rag_text,
        money_text=doc.money_text,
        response_targets=doc.response_targets,
        notice_days=doc.notice_days,
    )
    _worked_example(view, kpis, f, rules)
    return view


def _worked_example(view: HowView, kpis, f: Filters, rules) -> None:
    comp = flt.select(kpis.composite, f, f.grain).dropna(subset=["composite"])
    if comp.empty:
        view.example_title = "No data for a worked example yet."
        return
    pick = comp[comp["vendor"] == f.focus] if f.focus in set(comp["vendor"]) else comp
    row = pick.sort_values(["period_start", "vendor"]).iloc[-1]
    vendor, period = row["vendor"], row["period"]
    view.example_title = f"Worked example: {vendor}, {period}"
    m = kpis.metrics
    mrows = m[(m["vendor"] == vendor) & m["rm"].isna() & (m["period"] == period)].set_index("metric")
    lines = []
    for metric in rules.metrics.values():
        if metric.name not in mrows.index or int(mrows.loc[metric.name, "n"]) == 0:
            lines.append({"Metric": metric.label, "Value": "–", "n": 0, "Score": "no data: left out"})
            continue
        r = mrows.loc[metric.name]
        v, t, fl = float(r["value"]), metric.target, metric.floor
        lines.append(
            {
                "Metric": metric.label,
                "Value": f"{r['numerator']:g} ÷ {int(r['n'])} = {v:.4g}" if "numerator" in r else f"{v:.4g}",
                "n": int(r["n"]),
                "Score": f"100 × ({v:.4g} − {fl:g}) ÷ ({t:g} − {fl:g}) = {100 * (v - fl) / (t - fl):.1f}"
                f" → {float(r['score']):.1f}",
            }
        )
    view.example_metrics = pd.DataFrame(lines)
    c = kpis.components
    crows = c[(c["vendor"] == vendor) & c["rm"].isna() & (c["period"] == period)].set_index("component")
    parts, comps = [], []
    for name, component in rules.components.items():
        if name not in crows.index or _is_missing(crows.loc[name, "score"]):
            comps.append(
                {"Component": component.label, "Weight": component.weight, "Score": "no data: left out"}
            )
            continue
        s = float(crows.loc[name, "score"])
        scores = mrows[mrows["component"] == name]["score"].dropna()
        mean = " + ".join(f"{x:.1f}" for x in scores)
        comps.append(
            {
                "Component": component.label,
                "Weight": component.weight,
                "Score": f"({mean}) ÷ {len(scores)} = {s:.1f}",
            }
        )
        parts.append((component.weight, s))
    view.example_components = pd.DataFrame(comps)
    num = " + ".join(f"{w:g} × {s:.1f}" for w, s in parts)
    den = " + ".join(f"{w:g}" for w, _ in parts)
    view.example_composite = (
        f"Composite = ({num}) ÷ ({den}) = {row['composite']:.1f} → {theme.rag_label(row['rag'])}"
    )


# ---------------------------------------------------------------- data browser


DISPLAY_ROWS = 5000  # rows drawn in the browser table; downloads carry every row


@dataclass
class DataView:
    kinds: dict[str, str]  # kind -> label
    kind: str
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # every matching current row
    shown: pd.DataFrame = field(default_factory=pd.DataFrame)  # the first DISPLAY_ROWS of them
    caption: str = ""
    empty: str | None = None
    downloads: dict[str, tuple[Callable[[], bytes], str, str]] = field(
        default_factory=dict
    )  # label -> (make, file, mime)


def data_view(con, f: Filters, kpis=None, kind: str = "tickets") -> DataView:
    """Current rows of one kind with the filters applied (vendor, RM, period range on its period date)."""
    schema = load_schema()
    kinds = {k.name: k.label for k in schema.kinds.values()}
    if kind not in kinds:
        kind = "tickets"
    k = schema.kind(kind)
    rows = store.current_rows(con, kind, vendors=list(f.vendors) or None, rms=[f.rm] if f.rm else None)
    if k.period_column and (f.month_from or f.month_to) and not rows.empty:
        dates = pd.to_datetime(rows[k.period_column])
        keep = pd.Series(True, index=rows.index)
        if f.month_from:
            keep &= dates >= pd.Timestamp(f"{f.month_from}-01")
        if f.month_to:
            keep &= dates < pd.Timestamp(f"{f.month_to}-01") + pd.DateOffset(months=1)
        rows = rows[keep]
    rows = rows.drop(columns=[c for c in ("batch_id", "row_no") if c in rows.columns])
    view = DataView(kinds=kinds, kind=kind, rows=rows.reset_index(drop=True))
    view.shown = view.rows.head(DISPLAY_ROWS)
    if rows.empty:
        view.empty = f"No current {k.label.lower()} match these filters."
    more = f"; the first {DISPLAY_ROWS:,} are shown, downloads carry all" if len(rows) > DISPLAY_ROWS else ""
    view.caption = f"{len(rows):,} current {k.label.lower()} rows{more}. {k.description}"
    if not rows.empty:
        view.downloads = table_downloads(view.rows, f"rmdash-{kind}", k.label)
    return view


def table_downloads(
    frame: pd.DataFrame, stem: str, sheet: str
) -> dict[str, tuple[Callable[[], bytes], str, str]]:
    """CSV and XLSX files of a table, made only when asked for; formula-looking text neutralised."""
    return {
        "Download CSV": (functools.partial(exports.to_csv_bytes, frame), f"{stem}.csv", exports.CSV_MIME),
        "Download XLSX": (
            functools.partial(exports.to_xlsx_bytes, frame, sheet),
            f"{stem}.xlsx",
            exports.XLSX_MIME,
        ),
    }


# ---------------------------------------------------------------- upload


@dataclass
class SheetReport:
    """One planned sheet, as the upload page shows it before anything is written."""

    sheet: str | None
    kind: str
    kind_reason: str
    header_row: int
    mapping: pd.DataFrame  # Column, Required, Header in file (one row per column of the kind)
    headers: list[str]  # every header the sheet has (mapped or not)
    dates: str  # the date order per date column, saying which were assumed
    ambiguous: bool
    accepted: int
    rejected: pd.DataFrame  # row_no, reason, raw
    notes: list[str]  # superseded, skipped and warnings, in words


@dataclass
class UploadFile:
    name: str
    options: ImportOptions
    plan: FilePlan | None = None
    error: str | None = None  # why the file cannot be imported as it is
    sheets: list[SheetReport] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # column the file lacks -> its kind


@dataclass
class UploadView:
    kinds: dict[str, str]
    columns: dict[str, list[str]]  # kind -> its columns (for constants)
    mapping_names: list[str]
    files: list[UploadFile] = field(default_factory=list)
    ready: bool = False  # every file planned and has something to import
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    batch: int | None = None
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected_downloads: dict = field(default_factory=dict)
    empty: str | None = None
    audit: pd.DataFrame = field(default_factory=pd.DataFrame)  # newest first, read-only
    audit_downloads: dict = field(default_factory=dict)


def upload_options(choices: dict) -> ImportOptions:
    """ImportOptions from the upload page's per-file choices (blank choices mean 'detect')."""
    scale = choices.get("survey_scale")
    lo_hi = None
    if scale:
        lo, hi = str(scale).split("-")
        lo_hi = (float(lo), float(hi))
    return ImportOptions(
        kind=choices.get("kind") or None,
        constants={
            k: str(v).strip() for k, v in (choices.get("constants") or {}).items() if str(v or "").strip()
        },
        column_map={k: v for k, v in (choices.get("column_map") or {}).items() if v},
        date_order=choices.get("date_order") or "auto",
        survey_scale=lo_hi,
        mapping_name=choices.get("mapping_name") or None,
    )


def upload_view(
    con,
    f: Filters,
    kpis=None,
    files: Sequence[tuple[str, str]] = (),
    choices: dict[str, dict] | None = None,
    batch: int | None = None,
    plan_cache: dict | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> UploadView:
    """Plan each uploaded file (name, path) with its choices and report it; the import history."""
    schema = load_schema()
    saved = store.saved_mappings(con)
    view = UploadView(
        kinds={k.name: k.label for k in schema.kinds.values()},
        columns={k.name: list(k.column_names) for k in schema.kinds.values()},
        mapping_names=[m["name"] for m in saved],
    )
    for i, (name, path) in enumerate(files):
        if progress is not None:
            progress(i / len(files), f"Reading {name}…")
        options = upload_options((choices or {}).get(name, {}))
        rows = _rows_progress(progress, i, len(files), name)
        view.files.append(_plan_upload(name, path, options, saved, plan_cache, rows))
    view.ready = bool(view.files) and all(u.plan is not None and u.plan.sheets for u in view.files)
    view.history = _history(store.list_batches(con))
    view.audit = audit_table(store.audit_log(con))
    if not view.audit.empty:
        view.audit_downloads = table_downloads(view.audit, "rmdash-audit-log", "Audit log")
    if view.history.empty:
        view.empty = "Nothing imported yet."
    else:
        ids = list(view.history["Batch"])
        view.batch = batch if batch in ids else ids[0]
        view.rejected = store.rejected_rows(con, view.batch)
        if not view.rejected.empty:
            view.rejected_downloads = table_downloads(
                view.rejected, f"rmdash-rejected-batch-{view.batch}", "Rejected"
            )
    return view


def _rows_progress(progress, i: int, n: int, name: str):
    """The page's (fraction, text) progress callback fed from plan_file's ProgressEvents."""
    if progress is None:
        return None

    def report(event) -> None:
        text = f"Reading {name}: {event.rows_done:,} rows" if event.rows_done else f"Reading {name}…"
        progress(min(1.0, (i + event.fraction) / n), text)

    return report


def _plan_upload(name, path, options: ImportOptions, saved, cache: dict | None, progress=None) -> UploadFile:
    """Plan one file (nothing written); ``cache`` keeps the newest plan per file name across reruns."""
    from rmdash.plan import MissingColumn, plan_file

    key = (path, repr(options), repr(saved))
    upload = UploadFile(name=name, options=options)
    cached = cache.get(name) if cache is not None else None
    try:
        if cached is not None and cached[0] == key:
            plan = cached[1]
        else:
            plan = plan_file(path, options, saved_mappings=saved, display_name=name, progress=progress)
            if cache is not None:
                cache[name] = (key, plan)
    except MissingColumn as err:
        upload.missing = {err.column: err.kind}
        where = f"sheet '{err.sheet}'" if err.sheet else "the file"
        upload.error = f"{where} looks like {err.kind} but has no {err.column} column: give its value below"
        return upload
    except RmdashError as err:
        upload.error = str(err).splitlines()[0]
        return upload
    upload.plan = plan
    upload.sheets = [_sheet_report(s) for s in plan.sheets]
    if not plan.sheets:
        upload.error = "nothing to import: " + ("; ".join(plan.skipped_sheets) or "no recognisable header")
    return upload


def _sheet_report(s) -> SheetReport:
    kind = load_schema().kind(s.kind)
    mapping = pd.DataFrame(
        {
            "Column": list(kind.column_names),
            "Required": ["yes" if c.required else "" for c in kind.columns],
            "Header in file": [
                s.mapping.get(c, s.constants.get(c) and f"= {s.constants[c]}") or ""
                for c in kind.column_names
            ],
        }
    )
    dates = ", ".join(
        f"{col}: {order}{' (assumed: choose below if wrong)' if col in s.ambiguous_dates else ''}"
        for col, order in s.date_orders.items()
    )
    notes = list(s.warnings)
    if s.superseded:
        notes.append(f"{s.superseded} earlier rows replaced by a later row with the same key (event log)")
    if s.skipped:
        notes.append(f"{s.skipped} blank, totals or repeated-header rows skipped")
    return SheetReport(
        sheet=s.sheet,
        kind=s.kind,
        kind_reason=s.kind_reason,
        header_row=s.header_row,
        mapping=mapping,
        headers=list(dict.fromkeys([*s.mapping.values(), *s.unmapped])),
        dates=dates or "no date columns",
        ambiguous=bool(s.ambiguous_dates),
        accepted=s.accepted,
        rejected=s.rejected,
        notes=notes,
    )


def _history(batches) -> pd.DataFrame:
    rows = [
        {
            "Batch": b.batch_id,
            "Active": "yes" if b.active else "undone",
            "File": b.file,
            "Sheet": b.sheet or "",
            "Kind": b.kind,
            "New": b.new,
            "Changed": b.changed,
            "Unchanged": b.unchanged,
            "Superseded": b.superseded,
            "Rejected": b.rejected,
            "Imported at": b.imported_at,
            "By": b.who,
        }
        for b in reversed(batches)
    ]
    return pd.DataFrame(rows)


def audit_table(log: pd.DataFrame) -> pd.DataFrame:
    """The audit log as people read it, newest first: when, who, action, batch, what, SHA-256."""
    if log.empty:
        return pd.DataFrame(columns=["When", "Who", "Action", "Batch", "What", "SHA-256"])
    details = [json.loads(d) if d else {} for d in log["detail"]]
    return (
        pd.DataFrame(
            {
                "When": log["at_time"].astype(str),
                "Who": log["who"],
                "Action": log["action"],
                "Batch": log["batch_id"].astype("Int64"),
                "What": [_audit_what(a, d) for a, d in zip(log["action"], details, strict=True)],
                "SHA-256": log["sha256"],
            }
        )
        .iloc[::-1]
        .reset_index(drop=True)
    )


def _audit_what(action: str, d: dict) -> str:
    if action == "import":
        where = f"{d.get('file')}" + (f" / {d['sheet']}" if d.get("sheet") else "")
        counts = ", ".join(f"{d.get(k, 0)} {k}" for k in ("new", "changed", "unchanged", "rejected"))
        return f"{where}: {d.get('kind')}, {counts}"
    if action in ("undo", "redo"):
        return f"{d.get('kind')}: {d.get('keys')} keys recomputed"
    if action == "rules":
        return f"rule set version {d.get('version')} '{d.get('label')}'"
    if action == "mapping":
        return f"column mapping '{d.get('name')}' for {d.get('kind')}"
    return json.dumps(d, default=str)


def import_uploads(
    con, uploads: Sequence[UploadFile], save_mapping: str | None, who: str | None
) -> pd.DataFrame:
    """Write the previewed plans in one transaction; one summary row per sheet."""
    from rmdash.importer import import_plans

    plans = [u.plan for u in uploads if u.plan is not None]
    if len(plans) != len(uploads) or not plans:
        raise RmdashError("fix or remove the files marked with a problem before importing")
    options = ImportOptions(save_mapping=(save_mapping or "").strip() or None, who=who or _who())
    summaries = import_plans(con, plans, options)
    return pd.DataFrame(
        [
            {
                "File": s.file,
                "Sheet": s.sheet or "",
                "Kind": s.kind,
                "Batch": s.batch_id,
                "New": s.new,
                "Changed": s.changed,
                "Unchanged": s.unchanged,
                "Rejected": s.rejected,
                "Note": f"identical to batch {s.duplicate_of}: nothing changed"
                if s.duplicate_of
                else "; ".join(s.warnings),
            }
            for s in summaries
        ]
    )


def set_batch_active(con, batch_id: int, active: bool, who: str | None = None) -> str:
    """Undo (active False) or redo a batch; returns what happened, in words."""
    b = store.set_active(con, int(batch_id), active, who or _who())
    return f"Batch {b.batch_id} ({b.file}{' / ' + b.sheet if b.sheet else ''}) {'restored' if active else 'undone'}."


# ---------------------------------------------------------------- settings / what-if


@dataclass
class WhatIfView:
    frame: Frame
    period: str | None = None
    weights: dict[str, float] = field(default_factory=dict)  # the active rules' weights (slider defaults)
    targets: dict[str, float] = field(default_factory=dict)  # the active rules' targets
    target_ranges: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # min, max, step
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # Vendor, Current, What-if, Change, RAG...
    changed: bool = False
    rule_sets: pd.DataFrame = field(default_factory=pd.DataFrame)


def whatif_rules(current: rules_mod.Rules, weights: dict | None, targets: dict | None) -> rules_mod.Rules:
    """The active rules with some weights and targets replaced (validated like a config file)."""
    import tomllib

    override = tomllib.loads(current.to_toml())
    for name, w in (weights or {}).items():
        if name in override["components"]:
            override["components"][name]["weight"] = float(w)
    for name, t in (targets or {}).items():
        if name in override["metrics"]:
            override["metrics"][name]["target"] = float(t)
    return rules_mod.apply_override(override)


def _target_range(m: rules_mod.Metric) -> tuple[float, float, float]:
    """Slider bounds for a target: strictly on the better side of the floor, within the unit's range."""
    step = 0.01 if m.format == "percent" else 1.0
    top = 1.0 if m.format == "percent" else 100.0
    bottom = 0.0 if m.format == "percent" else -100.0
    if m.direction == "higher":
        return (m.floor + step, max(top, m.target), step)
    return (min(bottom, m.target), m.floor - step, step)


def whatif_view(
    con, f: Filters, kpis=None, weights: dict | None = None, targets: dict | None = None
) -> WhatIfView:
    """Old and new composite side by side for every vendor in the latest period, under changed rules."""
    kpis = _kpis(con, f, kpis)
    rules = kpis.rules  # the rules the table was scored with (the active ones, when the app cached it)
    view = WhatIfView(frame=_frame(kpis, rules))
    view.weights = {c.name: c.weight for c in rules.components.values()}
    view.targets = {m.name: m.target for m in rules.metrics.values()}
    view.target_ranges = {m.name: _target_range(m) for m in rules.metrics.values()}
    view.rule_sets = rules_mod.list_rule_sets(con)
    current = flt.select(kpis.composite, f, f.grain)
    latest = _latest_period(current)
    if latest is None:
        view.frame.empty = NO_DATA if kpis.composite.empty else NO_MATCH
        return view
    view.period = period = latest[0]
    new_rules = whatif_rules(rules, weights, targets)
    view.changed = new_rules.hash != rules.hash
    new = compute_kpis(con, f.grain, rules=new_rules, period=period) if view.changed else kpis
    old_rows = current[current["period"] == period].set_index("vendor")
    new_rows = flt.select(new.composite, f, f.grain)
    new_rows = new_rows[new_rows["period"] == period].set_index("vendor")
    table = pd.DataFrame(
        {
            "Vendor": old_rows.index,
            "Current": old_rows["composite"].to_numpy(),
            "Current RAG": [theme.rag_label(r) for r in old_rows["rag"]],
            "What-if": new_rows["composite"].reindex(old_rows.index).to_numpy(),
            "What-if RAG": [theme.rag_label(r) for r in new_rows["rag"].reindex(old_rows.index)],
        }
    )
    table["Change"] = table["What-if"] - table["Current"]
    view.table = table.sort_values("Vendor", key=lambda s: s.str.casefold()).reset_index(drop=True)
    return view


def save_whatif(con, weights: dict, targets: dict, label: str, who: str | None) -> int:
    """Save the what-if rules as the next rule-set version (the dashboard then scores with it)."""
    if not label.strip():
        raise RmdashError("give the new rule set a name before saving it")
    new_rules = whatif_rules(active_rules(con), weights, targets)
    return rules_mod.save_rule_set(con, new_rules, label.strip(), who or _who())


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
