"""The QBR pack: one vendor's (or RM's) quarter as an editable PowerPoint deck (and, via qbr_pdf, a PDF).

Purpose: what a vendor manager puts on the screen in the quarterly business
review. Two steps, so that every format shows the same numbers:

1. :func:`build_qbr_content` asks the KPI engine (rmdash.kpi, movement,
   explain) for one (vendor, rm, quarter) and returns a plain data object,
   :class:`QbrContent` (numbers and texts, no pptx, no figures);
2. :func:`write_pptx` renders it as a 16:9 deck with native, editable
   PowerPoint charts (rmdash.qbr_pdf renders the SAME content as a PDF).

Slides: title, headline, movement waterfall, component scores and trend over
four quarters, one slide per component (metrics and the items behind them),
surveys, re-pricing and change notices, agreed actions (empty table).

Boundary: reads the store through the KPI engine plus two small queries over
kpi.base_sql (survey dimensions and comments; change notices); never writes
the store. Text from uploads (vendor, RM, comments) only ever goes into plain
text runs (escaped XML), and into chart data only after formula neutralising
(a chart's embedded workbook is a spreadsheet too). Look: the palette and
fonts of rmdash.theme, or the masters, theme and layouts of a user's template.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path

import duckdb
import pandas as pd
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LABEL_POSITION, XL_LEGEND_POSITION, XL_MARKER_STYLE
from pptx.enum.shapes import MSO_SHAPE, PP_PLACEHOLDER
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Pt

from rmdash import exports, theme
from rmdash.explain import explain
from rmdash.kpi import Filters, KpiTable, base_sql, bind, compute_kpis, period_range
from rmdash.model import RmdashError
from rmdash.movement import movement, previous_period
from rmdash.rules import Rules, active_rules
from rmdash.schema import load_schema

GRAIN = "quarter"
TREND_QUARTERS = 4
ITEMS_PER_SLIDE = 6  # items behind the score on a component slide, shared among its metrics
COMMENTS_SHOWN = 5  # verbatim survey comments: the most critical first, then the most positive
POSITIVE_COMMENTS = 2
COMMENT_CHARS = 300
CELL_CHARS = 90
ACTION_COLUMNS = ("#", "Agreed action", "Owner", "Due date", "Status")
ACTION_ROWS = 6
COVERAGE_LABEL = "Coverage (components with/without data)"
PPTX_MIME = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PDF_MIME = "application/pdf"
FORMATS = ("pptx", "pdf")


# ---------------------------------------------------------------- the content (plain data)


@dataclass(frozen=True)
class Headline:
    composite: float | None
    rag: str | None
    rag_text: str  # "✔ Green": the word always goes with the colour
    low_sample: bool
    previous_period: str
    previous_composite: float | None
    change: float | None
    currency: str
    at_risk: float | None
    service_credit: float | None
    bonus: float | None
    money_text: str
    summary: str  # the biggest movers, in one sentence


@dataclass(frozen=True)
class MovePart:
    label: str
    component: str | None  # None: the coverage part
    contribution: float  # composite points


@dataclass(frozen=True)
class Movement:
    from_period: str
    to_period: str
    start: float | None  # composite of from_period
    end: float | None  # composite of to_period
    parts: tuple[MovePart, ...]  # add up to end - start
    note: str  # why there is no waterfall, when there is none


@dataclass(frozen=True)
class Trend:
    periods: tuple[str, ...]  # the last four quarters, oldest first
    period_starts: tuple[date, ...]
    composite: tuple[float | None, ...]
    rags: tuple[str | None, ...]
    components: tuple[str, ...]  # component names, rules order
    labels: tuple[str, ...]  # their labels
    scores: tuple[tuple[float | None, ...], ...]  # [quarter][component]
    low_sample: tuple[tuple[bool, ...], ...]  # [quarter][component]


@dataclass(frozen=True)
class MetricLine:
    name: str
    label: str
    value: float | None
    value_text: str
    n: int
    target_text: str
    floor_text: str
    score: float | None
    rag: str | None
    low_sample: bool


@dataclass(frozen=True)
class Item:
    metric: str  # label of the metric the item hurt
    item: str  # its id (ticket, meeting, CR, response, notice)
    detail: str


@dataclass(frozen=True)
class ComponentPage:
    name: str
    label: str
    description: str
    weight: float
    score: float | None
    rag: str | None
    n: int
    low_sample: bool
    metrics: tuple[MetricLine, ...]
    items: tuple[Item, ...]
    items_note: str  # "3 of 41 late responses shown", ...


@dataclass(frozen=True)
class Comment:
    text: str
    who: str  # role, date, NPS


@dataclass(frozen=True)
class Survey:
    responses: int
    dimensions: tuple[tuple[str, float | None, int], ...]  # label, score 0-100, answers
    satisfaction: MetricLine | None
    nps: MetricLine | None
    comments: tuple[Comment, ...]


@dataclass(frozen=True)
class Notice:
    ref: str
    change_type: str
    rm: str
    communicated: date | None
    effective: date | None
    given_days: int | None
    required_days: int | None
    on_time: bool | None
    scored: bool  # effective in this quarter (counts in its KPI); else announced now, effective later


@dataclass(frozen=True)
class QbrContent:
    vendor: str
    rm: str | None  # None: the vendor-level deck
    rms: tuple[str, ...]  # the RM(s) the deck covers
    period: str
    period_text: str  # "1 Jul – 30 Sep 2026"
    generated_on: date
    data_as_of: str  # the newest active upload: batch id, file, time
    rules_label: str
    color: str  # the vendor's colour (as on the dashboard)
    bands: tuple[float, float]  # RAG thresholds: green, amber
    low_sample_n: int  # below this n a metric or component is flagged "low sample"
    headline: Headline
    movement: Movement
    trend: Trend
    components: tuple[ComponentPage, ...]
    survey: Survey
    notices: tuple[Notice, ...]
    notice_text: str
    action_columns: tuple[str, ...] = ACTION_COLUMNS
    action_rows: int = ACTION_ROWS

    @property
    def who(self) -> str:
        return self.vendor if self.rm is None else f"{self.vendor} / {self.rm}"


def slide_titles(c: QbrContent) -> list[str]:
    """The title of every slide (and PDF page), in order; both renderers use these."""
    return [
        f"{c.who}: quarterly business review {c.period}",
        f"Headline {c.period}",
        f"What moved the score, {c.movement.from_period} → {c.movement.to_period}",
        "Component scores, last four quarters",
        *[f"{p.label}: {_score_text(p.score)} {theme.rag_label(p.rag)}" for p in c.components],
        "Stakeholder surveys",
        "Re-pricing and change notices",
        "Agreed actions",
    ]


# ---------------------------------------------------------------- building the content


def build_qbr_content(
    con: duckdb.DuckDBPyConnection,
    vendor: str,
    period: str,
    rm: str | None = None,
    rules: Rules | None = None,
    today: date | None = None,
) -> QbrContent:
    """Everything the deck shows for ``vendor`` (or its RM ``rm``) in quarter ``period`` ("2026-Q3").

    ``rules`` default to the dashboard's: the newest saved rule set, else the
    configured rules. Raises RmdashError (one line) for an unknown vendor,
    RM or a quarter without data.
    """
    if rules is None:
        rules = active_rules(con)  # the rules the dashboard scores with
    start, end = period_range(period, GRAIN, rules.fiscal_year_start_month)
    table = compute_kpis(con, GRAIN, rules)
    row = _composite_row(table, vendor, rm, period)
    colors = theme.vendor_colors(table.composite["vendor"].dropna().unique())
    trend = _trend(table, vendor, rm, period, rules)
    moves = _movement(table, vendor, rm, period, rules)
    why = explain(con, vendor, rm, period, GRAIN, rules)
    metric_lines = _metric_lines(why.metrics, rules)
    return QbrContent(
        vendor=str(vendor),
        rm=rm,
        rms=_rms(table, vendor, rm, period),
        period=period,
        period_text=f"{start:%-d %b} – {_last_day(end):%-d %b %Y}",
        generated_on=today or date.today(),
        data_as_of=_data_as_of(con),
        rules_label=rules.version_label,
        color=theme.color_for(str(vendor), colors),
        bands=(rules.rag.green, rules.rag.amber),
        low_sample_n=rules.low_sample_n,
        headline=_headline(table, row, vendor, rm, period, moves),
        movement=moves,
        trend=trend,
        components=_component_pages(why, metric_lines, rules),
        survey=_survey(con, vendor, rm, period, rules, metric_lines),
        notices=_notices(con, vendor, rm, start, end, rules),
        notice_text=_notice_text(metric_lines, rules),
    )


def _pick(frame: pd.DataFrame, vendor: str, rm: str | None, period: str | None = None) -> pd.DataFrame:
    rm_match = frame["rm"].isna() if rm is None else frame["rm"] == rm
    keep = (frame["vendor"] == vendor) & rm_match
    if period is not None:
        keep &= frame["period"] == period
    return frame[keep]


def _composite_row(table: KpiTable, vendor: str, rm: str | None, period: str) -> pd.Series:
    c = table.composite
    if not (c["vendor"] == vendor).any():
        known = ", ".join(sorted(c["vendor"].dropna().unique(), key=str.casefold)[:6])
        raise RmdashError(f"no data for vendor {vendor!r}; vendors with data: {known or 'none yet'}")
    if rm is not None and not ((c["vendor"] == vendor) & (c["rm"] == rm)).any():
        known = ", ".join(sorted(c.loc[(c["vendor"] == vendor), "rm"].dropna().unique(), key=str.casefold))
        raise RmdashError(f"{vendor} has no RM {rm!r}; its RMs: {known or 'none'}")
    found = _pick(c, vendor, rm, period)
    if found.empty:
        quarters = list(_pick(c, vendor, rm).sort_values("period_start")["period"])
        span = f"{quarters[0]} to {quarters[-1]}" if quarters else "none"
        who = vendor if rm is None else f"{vendor} / {rm}"
        raise RmdashError(f"{who} has no data in {period}; quarters with data: {span}")
    return found.iloc[0]


def _last_day(end_exclusive: date) -> date:
    return (pd.Timestamp(end_exclusive) - pd.Timedelta(days=1)).date()


def _rms(table: KpiTable, vendor: str, rm: str | None, period: str) -> tuple[str, ...]:
    if rm is not None:
        return (rm,)
    c = table.composite
    rows = c[(c["vendor"] == vendor) & c["rm"].notna() & (c["period"] == period)]
    return tuple(sorted(rows["rm"].astype(str).unique(), key=str.casefold))


def _data_as_of(con: duckdb.DuckDBPyConnection) -> str:
    from rmdash.store import list_batches

    active = [b for b in list_batches(con) if b.active]
    if not active:
        return "no active upload"
    b = max(active, key=lambda s: s.batch_id)
    where = f"{b.file} / {b.sheet}" if b.sheet else b.file
    when = (b.imported_at or "")[:16]
    return f"upload batch {b.batch_id} ({where}), imported {when}".strip()


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _score_text(score: float | None) -> str:
    return "–" if score is None else f"{score:.1f}"


def _money(value: float | None, currency: str) -> str:
    return "–" if value is None else f"{currency} {value:,.0f}".strip()


def _headline(table, row, vendor, rm, period, moves: Movement) -> Headline:
    composite = _num(row["composite"])
    prev = moves.from_period
    before = _pick(table.composite, vendor, rm, prev)
    prev_composite = _num(before["composite"].iloc[0]) if len(before) else None
    change = None if composite is None or prev_composite is None else composite - prev_composite
    currency = row["currency"] if isinstance(row["currency"], str) else ""
    at_risk, credit, bonus = (_num(row[k]) for k in ("at_risk", "service_credit", "bonus"))
    if rm is not None:
        money = "Service credit and bonus are the vendor's (its contract): see the vendor-level deck."
    elif at_risk is None:
        money = "No contract uploaded for this vendor: no service credit or bonus."
    else:
        money = (
            f"Service credit {_money(credit, currency)} of {_money(at_risk, currency)} at risk; "
            f"bonus {_money(bonus, currency)}."
        )
    return Headline(
        composite=composite,
        rag=row["rag"] if isinstance(row["rag"], str) else None,
        rag_text=theme.rag_label(row["rag"]),
        low_sample=bool(row["low_sample"]),
        previous_period=prev,
        previous_composite=prev_composite,
        change=change,
        currency=currency,
        at_risk=at_risk,
        service_credit=credit,
        bonus=bonus,
        money_text=money,
        summary=_movers(moves),
    )


def _movers(moves: Movement) -> str:
    parts = [p for p in moves.parts if p.component is not None]
    if not parts:
        return moves.note
    up = max(parts, key=lambda p: p.contribution)
    down = min(parts, key=lambda p: p.contribution)
    bits = []
    if up.contribution > 0.05:
        bits.append(f"biggest gain {up.label} {up.contribution:+.1f}")
    if down.contribution < -0.05:
        bits.append(f"biggest loss {down.label} {down.contribution:+.1f}")
    if not bits:
        return f"No component moved the composite by more than 0.1 point since {moves.from_period}."
    return f"Since {moves.from_period}: " + "; ".join(bits) + " points."


def _movement(table: KpiTable, vendor, rm, period, rules: Rules) -> Movement:
    prev = previous_period(table, period)
    parts = movement(table, vendor, rm, period, prev)
    parts = parts[parts["level"] == "component"]
    if parts.empty:
        return Movement(prev, period, None, None, (), f"No composite in {prev}: nothing to compare with.")
    labels = {c.name: c.label for c in rules.components.values()}
    moves = tuple(
        MovePart(
            label=labels.get(comp, COVERAGE_LABEL) if isinstance(comp, str) else COVERAGE_LABEL,
            component=comp if isinstance(comp, str) else None,
            contribution=float(x),
        )
        for comp, x in zip(parts["component"], parts["contribution"], strict=True)
    )
    return Movement(prev, period, float(parts["start"].iloc[0]), float(parts["end"].iloc[-1]), moves, "")


def _trend(table: KpiTable, vendor, rm, period, rules: Rules) -> Trend:
    periods = [period]
    while len(periods) < TREND_QUARTERS:
        periods.insert(0, previous_period(table, periods[0]))
    comp_names = list(rules.components)
    composite, rags, scores, lows = [], [], [], []
    for p in periods:
        c = _pick(table.composite, vendor, rm, p)
        composite.append(_num(c["composite"].iloc[0]) if len(c) else None)
        rags.append(c["rag"].iloc[0] if len(c) and isinstance(c["rag"].iloc[0], str) else None)
        comps = _pick(table.components, vendor, rm, p).set_index("component")
        scores.append(tuple(_num(comps.at[n, "score"]) if n in comps.index else None for n in comp_names))
        lows.append(tuple(bool(comps.at[n, "low_sample"]) if n in comps.index else False for n in comp_names))
    fiscal = rules.fiscal_year_start_month
    return Trend(
        periods=tuple(periods),
        period_starts=tuple(period_range(p, GRAIN, fiscal)[0] for p in periods),
        composite=tuple(composite),
        rags=tuple(rags),
        components=tuple(comp_names),
        labels=tuple(rules.components[n].label for n in comp_names),
        scores=tuple(scores),
        low_sample=tuple(lows),
    )


def format_value(value: float | None, fmt: str) -> str:
    """A metric value as people read it: 93.1 % for shares, 42.0 for numbers, – for none."""
    if value is None:
        return "–"
    return f"{value:.1%}" if fmt == "percent" else f"{value:,.1f}"


def _metric_lines(metrics: pd.DataFrame, rules: Rules) -> dict[str, MetricLine]:
    out = {}
    for r in metrics.itertuples(index=False):
        value, score = _num(r.value), _num(r.score)
        out[r.metric] = MetricLine(
            name=r.metric,
            label=r.label,
            value=value,
            value_text=format_value(value, r.format),
            n=int(r.n),
            target_text=format_value(_num(r.target), r.format),
            floor_text=format_value(_num(r.floor), r.format),
            score=score,
            rag=rules.rag_of(score),
            low_sample=bool(r.low_sample),
        )
    return out


def _component_pages(why, lines: dict[str, MetricLine], rules: Rules) -> tuple[ComponentPage, ...]:
    comps = why.components.set_index("component")
    pages = []
    for c in rules.components.values():
        members = rules.metrics_of(c.name)
        failing = {m.name: why.failing.get(m.name, pd.DataFrame()) for m in members}
        quota = _item_quota({name: len(rows) for name, rows in failing.items()})
        items, counts = [], []
        for m in members:
            rows = failing[m.name]
            if len(rows):
                counts.append(f"{m.failing}: {len(rows):,} ({quota[m.name]} shown)")
            for _, f in rows.head(quota[m.name]).iterrows():
                items.append(_item(m.label, f, m.explain_columns))
        note = (
            "Items behind the score, in the order of the rules: " + "; ".join(counts) + "."
            if counts
            else "Nothing hurt these metrics this quarter."
        )
        score = _num(comps.at[c.name, "score"]) if c.name in comps.index else None
        pages.append(
            ComponentPage(
                name=c.name,
                label=c.label,
                description=c.description,
                weight=float(c.weight),
                score=score,
                rag=rules.rag_of(score),
                n=int(comps.at[c.name, "n"]) if c.name in comps.index else 0,
                low_sample=bool(comps.at[c.name, "low_sample"]) if c.name in comps.index else False,
                metrics=tuple(lines[m.name] for m in members if m.name in lines),
                items=tuple(items),
                items_note=note,
            )
        )
    return tuple(pages)


def _item_quota(available: dict[str, int]) -> dict[str, int]:
    """How many items each metric lists: ITEMS_PER_SLIDE dealt out in turn to the metrics that have some."""
    quota = dict.fromkeys(available, 0)
    left = ITEMS_PER_SLIDE
    while left and any(quota[k] < available[k] for k in available):
        for k in available:
            if left and quota[k] < available[k]:
                quota[k] += 1
                left -= 1
    return quota


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def plain(text: object, limit: int = CELL_CHARS) -> str:
    """User text on one line: control characters dropped, whitespace folded, at most ``limit`` characters."""
    one = " ".join(_CONTROL.sub(" ", str(text)).split())
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "…"


def _cell(column: str, value) -> str:
    """One explain cell as text: dates without midnight times, fractions (``*_pct``) as percent."""
    if value is None or (not isinstance(value, str | list | tuple) and bool(pd.isna(value))):
        return "–"
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if column.endswith("_pct"):
            return f"{float(value):+.0%}"
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return plain(value, 60)


def _item(metric_label: str, row: pd.Series, columns: Sequence[str]) -> Item:
    first, rest = columns[0], [c for c in columns[1:]]
    if "rm" in row.index:
        rest.append("rm")
    detail = "; ".join(f"{c.replace('_', ' ')}: {_cell(c, row[c])}" for c in rest if c in row.index)
    return Item(metric=metric_label, item=_cell(first, row[first]), detail=plain(detail, 170))


def _survey(con, vendor, rm, period, rules: Rules, lines: dict[str, MetricLine]) -> Survey:
    sql, params = base_sql("surveys", rules, GRAIN, Filters(vendor=vendor, rm=rm, period=period))
    questions = load_schema().kind("surveys").at_least_one
    means = ", ".join(f'avg("r_{q}") AS "{q}__mean", count("r_{q}") AS "{q}__n"' for q in questions)
    row = con.execute(f"SELECT count(*) AS responses, {means} FROM ({sql}) s", bind(sql, params)).fetchone()  # noqa: S608 (registry identifiers; values bound)
    dims = tuple(
        (
            q.replace("_", " ").capitalize(),
            None if row[1 + 2 * i] is None else 100.0 * row[1 + 2 * i],
            row[2 + 2 * i],
        )
        for i, q in enumerate(questions)
    )
    comments = con.execute(
        f"""SELECT comment, respondent_role, survey_date, question_mean, nps FROM ({sql}) s
            WHERE comment IS NOT NULL AND trim(comment) <> ''
            ORDER BY question_mean NULLS LAST, response_id""",  # noqa: S608 (registry SQL; values bound)
        bind(sql, params),
    ).df()
    return Survey(
        responses=int(row[0]),
        dimensions=dims,
        satisfaction=lines.get("satisfaction"),
        nps=lines.get("nps"),
        comments=_pick_comments(comments),
    )


def _pick_comments(frame: pd.DataFrame) -> tuple[Comment, ...]:
    """The most critical comments first, then the most positive ones (duplicates once)."""
    frame = frame.assign(key=frame["comment"].map(lambda t: plain(t, COMMENT_CHARS).casefold()))
    frame = frame.drop_duplicates("key")
    if len(frame) > COMMENTS_SHOWN:
        frame = pd.concat([frame.head(COMMENTS_SHOWN - POSITIVE_COMMENTS), frame.tail(POSITIVE_COMMENTS)])
    out = []
    for r in frame.itertuples(index=False):
        bits = [plain(r.respondent_role, 40)] if isinstance(r.respondent_role, str) else []
        bits.append(_cell("survey_date", r.survey_date))
        if _num(r.nps) is not None:
            bits.append(f"NPS {r.nps:.0f}")
        out.append(Comment(text=plain(r.comment, COMMENT_CHARS), who=", ".join(bits)))
    return tuple(out)


def _notices(con, vendor, rm, start: date, end: date, rules: Rules) -> tuple[Notice, ...]:
    """Change notices effective in the quarter (they count in its KPI) or announced in it (effective later)."""
    sql, params = base_sql("communications", rules, GRAIN, Filters(vendor=vendor, rm=rm))
    metric = next(iter(rules.metrics_of_kind("communications")), None)
    # row_value is a number or a condition (true = 1, false or null = 0): compare it as a number
    on_time = (
        f"coalesce(CAST(({metric.row_value}) AS DOUBLE), 0) >= 1.0"
        if metric
        else "notice_days_given >= required_notice_days"
    )
    query = f"""
        SELECT comm_id, change_type, rm, communicated_date, effective_date,
               notice_days_given, required_notice_days, {on_time} AS on_time,
               effective_date >= $q_from AND effective_date < $q_to AS scored
        FROM ({sql}) c
        WHERE (effective_date >= $q_from AND effective_date < $q_to)
           OR (communicated_date >= $q_from AND communicated_date < $q_to)
        ORDER BY effective_date, comm_id"""  # noqa: S608 (registry SQL and identifiers; values bound)
    rows = con.execute(query, bind(query, {**params, "q_from": start, "q_to": end})).fetchall()
    return tuple(
        Notice(
            ref=plain(ref, 30),
            change_type=plain(kind, 30),
            rm=plain(who, 40) if who else "",
            communicated=comm,
            effective=eff,
            given_days=None if given is None else int(given),
            required_days=None if required is None else int(required),
            on_time=None if ok is None else bool(ok),
            scored=bool(scored),
        )
        for ref, kind, who, comm, eff, given, required, ok, scored in rows
    )


def _notice_text(lines: dict[str, MetricLine], rules: Rules) -> str:
    metric = next(iter(rules.metrics_of_kind("communications")), None)
    line = lines.get(metric.name) if metric else None
    if line is None or line.n == 0:
        return "No change took effect this quarter: the change-notice metric has no value."
    required = ", ".join(f"{k} {v:.0f} days" for k, v in rules.notice_days.items() if k != "default")
    return (
        f"{line.label}: {line.value_text} of {line.n} changes effective this quarter "
        f"(score {_score_text(line.score)}). Required notice: {required}, any other {rules.notice_days['default']:.0f} days."
    )


def notice_result(n: Notice) -> str:
    """ "✔ on time", "✖ 170 days short", with "(effective later)" for a change not yet scored."""
    if n.on_time is None or n.given_days is None or n.required_days is None:
        text = "–"
    elif n.on_time:
        text = f"{theme.RAG_ICONS['green']} on time"
    else:
        text = f"{theme.RAG_ICONS['red']} {n.required_days - n.given_days} days short"
    return text if n.scored else f"{text} (effective later)"


def notice_rows(c: QbrContent) -> tuple[tuple[str, ...], list[list[str]]]:
    """The notices slide's table: header and rows (both renderers use it)."""
    header = ("Type", "Ref", "RM", "Announced", "Effective", "Notice given", "Required", "Result")
    rows = [
        [
            n.change_type,
            n.ref,
            n.rm or "(vendor)",
            _cell("communicated", n.communicated),
            _cell("effective", n.effective),
            "–" if n.given_days is None else f"{n.given_days} days",
            "–" if n.required_days is None else f"{n.required_days} days",
            notice_result(n),
        ]
        for n in c.notices
    ]
    return header, rows


def metric_rows(p: ComponentPage) -> tuple[tuple[str, ...], list[list[str]]]:
    """A component slide's metric table: header and rows (both renderers use it)."""
    header = ("Metric", "Value", "n", "Target", "Floor", "Score", "Note")
    rows = [
        [
            m.label,
            m.value_text,
            f"{m.n:,}",
            m.target_text,
            m.floor_text,
            f"{_score_text(m.score)} {theme.RAG_ICONS.get(m.rag or '', '')}".strip(),
            theme.LOW_SAMPLE if m.low_sample else ("no data" if m.n == 0 else ""),
        ]
        for m in p.metrics
    ]
    return header, rows


def headline_lines(c: QbrContent) -> list[str]:
    """The headline slide's facts under the big number (both renderers use them)."""
    h = c.headline
    lines = []
    if h.change is not None:
        lines.append(f"{h.change:+.1f} points vs {h.previous_period} ({_score_text(h.previous_composite)})")
    else:
        lines.append(f"No composite in {h.previous_period} to compare with")
    if h.low_sample:
        low = [lab for lab, flag in zip(c.trend.labels, c.trend.low_sample[-1], strict=True) if flag]
        lines.append(f"{theme.LOW_SAMPLE}: {', '.join(low)} (fewer than {c.low_sample_n} rows)")
    lines.append(h.money_text)
    return lines


def scorecard_rows(c: QbrContent) -> tuple[tuple[str, ...], list[list[str]]]:
    """The headline slide's component table: score this and last quarter, change, RAG (both renderers)."""
    t = c.trend
    before, now = t.scores[-2], t.scores[-1]
    header = ("Component", "Weight", t.periods[-2], t.periods[-1], "Change", "RAG")
    rows = []
    for i, page in enumerate(c.components):
        change = None if before[i] is None or now[i] is None else now[i] - before[i]
        flag = f" {theme.LOW_SAMPLE}" if t.low_sample[-1][i] else ""
        rows.append(
            [
                page.label,
                f"{page.weight:.0f}",
                _score_text(before[i]),
                _score_text(now[i]),
                "–" if change is None else f"{change:+.1f}",
                theme.rag_label(page.rag) + flag,
            ]
        )
    return header, rows


def title_lines(c: QbrContent) -> list[str]:
    """The title slide's subtitle lines."""
    rms = ", ".join(c.rms) if c.rms else "none recorded"
    label = "Relationship manager" if len(c.rms) == 1 else "Relationship managers"
    return [
        f"{c.period} ({c.period_text})",
        f"{label}: {rms}",
        f"Prepared {c.generated_on:%-d %B %Y}",
        f"Data as of {c.data_as_of}",
        f"KPI rules: {c.rules_label}",
    ]


def footer_text(c: QbrContent) -> str:
    return f"{c.who} · QBR {c.period} · data as of {c.data_as_of}"


def tint(color: str, share: float) -> str:
    """``color`` (#RRGGBB) mixed with white: share 1.0 is the colour itself, 0.0 white."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(255 - (255 - v) * share) for v in rgb]
    return "#" + "".join(f"{v:02X}" for v in mixed)


def quarter_tints(c: QbrContent) -> list[str]:
    """One shade of the vendor's colour per trend quarter, the current quarter full colour."""
    k = len(c.trend.periods)
    return [tint(c.color, 0.3 + 0.7 * (i + 1) / k) for i in range(k)]


def quarter_of(label: str, rules: Rules | None = None) -> str:
    """The quarter label of a month ("2026-09" -> "2026-Q3") or quarter label (returned as is)."""
    from rmdash.kpi import period_labels
    from rmdash.rules import load_rules

    rules = rules or load_rules()
    if "Q" in label:
        return label
    start, _ = period_range(label, "month", rules.fiscal_year_start_month)
    return str(period_labels(pd.Series([pd.Timestamp(start)]), GRAIN, rules.fiscal_year_start_month).iloc[0])


# ---------------------------------------------------------------- the PowerPoint deck

SLIDE_WIDTH = Emu(12192000)  # 13.333 in: 16:9
SLIDE_HEIGHT = Emu(6858000)  # 7.5 in
# A template chooses its layouts by these names (case-insensitive), else the usual Office names.
TITLE_LAYOUTS = ("rmdash title", "Title Slide")
CONTENT_LAYOUTS = ("rmdash content", "Title Only", "Title and Content")
_TITLE_TYPES = (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE)
INK = "#1A1A1A"
MUTED = "#555555"
GRID = "#E5E5E5"


def write_pptx(content: QbrContent, template: str | Path | None = None) -> bytes:
    """The deck as .pptx bytes: the app's look, or the masters, theme and layouts of ``template``."""
    deck = _Deck(content, template)
    deck.title_slide()
    deck.headline_slide()
    deck.movement_slide()
    deck.trend_slide()
    for page in content.components:
        deck.component_slide(page)
    deck.survey_slide()
    deck.notices_slide()
    deck.actions_slide()
    buf = io.BytesIO()
    deck.prs.save(buf)
    return buf.getvalue()


def _rgb(color: str) -> RGBColor:
    return RGBColor.from_string(color.lstrip("#").upper())


def _open_template(template: str | Path):
    try:
        prs = Presentation(str(template))
    except Exception:  # python-pptx raises several kinds for a file that is not a deck
        raise RmdashError(
            f"cannot use {Path(template).name} as a template: save it as a PowerPoint .pptx file"
        ) from None
    slide_ids = prs.slides._sldIdLst  # python-pptx has no public "delete slide"
    for sld_id in list(slide_ids):
        prs.part.drop_rel(sld_id.rId)  # the slide part is then not saved
        slide_ids.remove(sld_id)
    return prs


def _layout(prs, names: Sequence[str]):
    """The first layout named one of ``names``; else the one with a title and fewest placeholders."""
    layouts = [layout for master in prs.slide_masters for layout in master.slide_layouts]
    by_name: dict[str, object] = {}
    for layout in layouts:
        by_name.setdefault(layout.name.strip().casefold(), layout)
    for name in names:
        if name.casefold() in by_name:
            return by_name[name.casefold()]
    titled = [
        layout
        for layout in layouts
        if any(ph.placeholder_format.type in _TITLE_TYPES for ph in layout.placeholders)
    ]
    if titled:
        return min(titled, key=lambda layout: len(layout.placeholders))
    return layouts[0]


def _horizontal_labels(axis) -> None:
    """Axis labels written horizontally (PowerPoint then wraps long ones instead of slanting them)."""
    axis.tick_labels.font.size = axis.tick_labels.font.size  # creates the axis's text properties
    body = axis._element.find(qn("c:txPr")).find(qn("a:bodyPr"))
    body.set("rot", "0")
    body.set("vert", "horz")


def _placeholders(slide, *wanted: Sequence) -> list:
    """Per group of placeholder types, the slide's first placeholder of one of them (or None).

    Every other placeholder is removed: an unused one would show "Click to add text".
    """
    found = [
        next((ph for ph in slide.placeholders if ph.placeholder_format.type in types), None)
        for types in wanted
    ]
    keep = {id(ph._element) for ph in found if ph is not None}
    for ph in list(slide.placeholders):
        if id(ph._element) not in keep:
            ph._element.getparent().remove(ph._element)
    return found


class _Deck:
    """The deck being written: the presentation, its look and the slide geometry."""

    def __init__(self, content: QbrContent, template: str | Path | None):
        self.c = content
        self.custom = template is not None
        if self.custom:
            self.prs = _open_template(template)
        else:
            self.prs = Presentation()
            self.prs.slide_width, self.prs.slide_height = SLIDE_WIDTH, SLIDE_HEIGHT
        self.w, self.h = int(self.prs.slide_width), int(self.prs.slide_height)
        # font sizes follow a template's slide size (a 4:3 slide holds less text per line)
        self.scale = min(self.h / SLIDE_HEIGHT, self.w / SLIDE_WIDTH)
        # The app's look sets its font on every run; a template's theme fonts apply otherwise.
        self.font = None if self.custom else theme.FONT_FAMILY.split(",")[0].strip()
        self.margin = int(self.w * 0.045)
        self.title_layout = _layout(self.prs, TITLE_LAYOUTS)
        self.content_layout = _layout(self.prs, CONTENT_LAYOUTS)
        self.titles = iter(slide_titles(content))

    # ------------------------------------------------------------ text
    def pt(self, size: float) -> Pt:
        return Pt(max(6, round(size * self.scale)))

    def style(self, font, size: float, bold: bool = False, color: str | None = INK) -> None:
        font.size = self.pt(size)
        font.bold = bold
        if self.font:
            font.name = self.font
        if color and not (self.custom and color == INK):  # a template's text colour wins over plain ink
            font.color.rgb = _rgb(color)

    def write(self, frame, lines: Sequence, size: float = 16, color: str | None = INK) -> None:
        """Paragraphs of plain text runs; a line is text or (text, size, bold, colour[, points before])."""
        frame.word_wrap = True
        frame.clear()
        for i, line in enumerate(lines):
            text, lsize, bold, lcolor, before = (
                (line, size, False, color, 0) if isinstance(line, str) else (*line, 0)[:5]
            )
            para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            if before and i:
                para.space_before = self.pt(before)
            run = para.add_run()
            run.text = plain(text, 400)
            self.style(run.font, lsize, bold, lcolor)

    def textbox(self, slide, box, lines: Sequence, size: float = 16, color: str | None = INK):
        shape = slide.shapes.add_textbox(*box)
        self.write(shape.text_frame, lines, size, color)
        return shape

    # ------------------------------------------------------------ slides
    def slide(self, layout=None):
        """A new slide with its title set; returns (slide, body box: left, top, width, height)."""
        slide = self.prs.slides.add_slide(layout or self.content_layout)
        (title,) = _placeholders(slide, _TITLE_TYPES)
        if title is None:
            title = slide.shapes.add_textbox(self.margin, int(self.h * 0.04), self.w - 2 * self.margin, 1)
        if not self.custom or title.height is None or title.top is None:
            title.left, title.top = self.margin, int(self.h * 0.04)
            title.width, title.height = self.w - 2 * self.margin, int(self.h * 0.12)
        self.write(title.text_frame, [next(self.titles)], size=30, color=INK)
        title.text_frame.vertical_anchor = MSO_ANCHOR.MIDDLE
        for para in title.text_frame.paragraphs:
            para.alignment = PP_ALIGN.LEFT
        self.footer(slide)
        top = int(title.top + title.height + self.h * 0.02)
        bottom = int(self.h * 0.92)
        return slide, (self.margin, top, self.w - 2 * self.margin, max(bottom - top, int(self.h * 0.3)))

    def footer(self, slide) -> None:
        box = (self.margin, int(self.h * 0.935), self.w - 2 * self.margin, int(self.h * 0.05))
        self.textbox(slide, box, [footer_text(self.c)], size=10, color=MUTED)

    def title_slide(self) -> None:
        c = self.c
        slide = self.prs.slides.add_slide(self.title_layout)
        title, subtitle = _placeholders(slide, _TITLE_TYPES, (PP_PLACEHOLDER.SUBTITLE,))
        if title is None:
            title = slide.shapes.add_textbox(self.margin, int(self.h * 0.25), self.w - 2 * self.margin, 1)
        if subtitle is None:
            subtitle = slide.shapes.add_textbox(self.margin, int(self.h * 0.55), self.w - 2 * self.margin, 1)
        if not self.custom:
            title.left, title.top = self.margin, int(self.h * 0.22)
            title.width, title.height = self.w - 2 * self.margin, int(self.h * 0.25)
            subtitle.left, subtitle.top = self.margin, int(self.h * 0.52)
            subtitle.width, subtitle.height = self.w - 2 * self.margin, int(self.h * 0.34)
            bar = slide.shapes.add_shape(
                MSO_SHAPE.RECTANGLE, self.margin, int(self.h * 0.48), int(self.w * 0.18), int(self.h * 0.012)
            )
            bar.fill.solid()
            bar.fill.fore_color.rgb = _rgb(c.color)
            bar.line.fill.background()
        self.write(title.text_frame, [next(self.titles)], size=38, color=INK)
        self.write(subtitle.text_frame, title_lines(c), size=18, color=MUTED)
        for frame in (title.text_frame, subtitle.text_frame):
            for para in frame.paragraphs:
                para.alignment = PP_ALIGN.LEFT

    def headline_slide(self) -> None:
        c, h = self.c, self.c.headline
        slide, (x, y, w, hh) = self.slide()
        rag_color = theme.RAG_COLORS.get(h.rag or "", MUTED)
        big = [
            (_score_text(h.composite), 80, True, rag_color),
            (h.rag_text, 30, True, rag_color),
            ("Composite RM KPI (0–100)", 14, False, MUTED),
        ]
        self.textbox(slide, (x, y, int(w * 0.36), int(hh * 0.42)), big)
        facts = [(line, 18, False, INK, 8) for line in headline_lines(c)]
        self.textbox(slide, (x + int(w * 0.4), y + int(hh * 0.03), int(w * 0.6), int(hh * 0.4)), facts)
        self.textbox(slide, (x, y + int(hh * 0.43), w, int(hh * 0.08)), [(h.summary, 16, False, INK)])
        header, rows = scorecard_rows(c)
        top = y + int(hh * 0.53)
        self.table(
            slide, (x, top, w, y + hh - top), header, rows, (0.34, 0.1, 0.12, 0.12, 0.12, 0.2), row_h=0.05
        )

    def movement_slide(self) -> None:
        m = self.c.movement
        slide, (x, y, w, hh) = self.slide()
        if not m.parts or m.start is None or m.end is None:
            self.textbox(slide, (x, y, w, int(hh * 0.3)), [m.note], size=20)
            return
        cats = [m.from_period, *[p.label for p in m.parts], m.to_period]
        levels = [m.start]
        for p in m.parts:
            levels.append(levels[-1] + p.contribution)
        base = [0.0] + [min(a, b) for a, b in zip(levels[:-1], levels[1:], strict=True)] + [0.0]
        up = [None] + [p.contribution if p.contribution >= 0 else None for p in m.parts] + [None]
        down = [None] + [-p.contribution if p.contribution < 0 else None for p in m.parts] + [None]
        total = [m.start] + [None] * len(m.parts) + [m.end]
        data = CategoryChartData(number_format="0.0")
        data.categories = [chart_text(t) for t in cats]
        data.add_series("Base", base)
        data.add_series("Increase", up)
        data.add_series("Decrease", down)
        data.add_series("Composite", total)
        chart = self.chart(slide, XL_CHART_TYPE.COLUMN_STACKED, (x, y, w, int(hh * 0.86)), data)
        plot = chart.plots[0]
        plot.gap_width, plot.overlap = 40, 100
        colors = {  # the dashboard's waterfall colours (rmdash.charts.movement_waterfall)
            "Increase": theme.RAG_COLORS["green"],
            "Decrease": theme.RAG_COLORS["red"],
            "Composite": theme.OKABE_ITO[0],
        }
        for s in plot.series:
            if s.name == "Base":  # the invisible stand the floating bars rest on
                s.format.fill.background()
                s.format.line.fill.background()
                continue
            s.format.fill.solid()
            s.format.fill.fore_color.rgb = _rgb(colors[s.name])
            for i, v in enumerate(s.values):
                if v is None:
                    continue
                label = s.points[i].data_label
                text = {"Composite": f"{v:.1f}", "Increase": f"{v:+.1f}", "Decrease": f"{-v:+.1f}"}[s.name]
                self.write(label.text_frame, [text], size=13, color=INK)
                label.position = (
                    XL_LABEL_POSITION.INSIDE_END if s.name == "Composite" else XL_LABEL_POSITION.CENTER
                )
        chart.has_legend = False
        lo, hi = min(levels), max(levels)
        pad = max(3.0, (hi - lo) * 0.4)
        axis = chart.value_axis
        axis.minimum_scale = max(0.0, math.floor((lo - pad) / 5) * 5)
        axis.maximum_scale = min(100.0, math.ceil((hi + pad) / 5) * 5)
        _horizontal_labels(chart.category_axis)
        chart.category_axis.tick_labels.font.size = self.pt(11)
        axis.has_major_gridlines = True
        axis.major_gridlines.format.line.color.rgb = _rgb(GRID)
        change = m.end - m.start
        note = (
            f"The parts add up to the change of {change:+.1f} points. Each component's part is its weight × its score "
            "change over the components with data in both quarters; coverage is what components gaining or losing data moved."
        )
        self.textbox(slide, (x, y + int(hh * 0.87), w, int(hh * 0.13)), [note], size=12, color=MUTED)

    def trend_slide(self) -> None:
        c, t = self.c, self.c.trend
        slide, (x, y, w, hh) = self.slide()
        data = CategoryChartData(number_format="0.0")
        data.categories = [chart_text(label) for label in t.labels]
        for period, scores in zip(t.periods, t.scores, strict=True):
            data.add_series(chart_text(period), list(scores))
        left_w = int(w * 0.62)
        chart = self.chart(slide, XL_CHART_TYPE.COLUMN_CLUSTERED, (x, y, left_w, int(hh * 0.88)), data)
        self.chart_title(chart, "Component scores (0–100), by quarter")
        plot = chart.plots[0]
        plot.gap_width, plot.overlap = 60, -5
        for s, color in zip(plot.series, quarter_tints(c), strict=True):
            s.format.fill.solid()
            s.format.fill.fore_color.rgb = _rgb(color)
        last = plot.series[len(plot.series) - 1]
        last.data_labels.show_value = True
        last.data_labels.number_format, last.data_labels.number_format_is_linked = "0", False
        last.data_labels.position = XL_LABEL_POSITION.OUTSIDE_END
        self.style(last.data_labels.font, 11)
        self.score_axis(chart)
        _horizontal_labels(chart.category_axis)
        chart.category_axis.tick_labels.font.size = self.pt(10)
        self.legend(chart)

        line = CategoryChartData(number_format="0.0")
        line.categories = [chart_text(p) for p in t.periods]
        line.add_series("Composite", list(t.composite))
        right = (x + left_w + int(w * 0.03), y, w - left_w - int(w * 0.03), int(hh * 0.88))
        trend = self.chart(slide, XL_CHART_TYPE.LINE_MARKERS, right, line)
        self.chart_title(trend, "Composite, last four quarters")
        s = trend.plots[0].series[0]
        s.smooth = False
        s.format.line.color.rgb = _rgb(c.color)
        s.format.line.width = Pt(3.5)
        s.marker.style, s.marker.size = XL_MARKER_STYLE.CIRCLE, 9
        s.marker.format.fill.solid()
        s.marker.format.fill.fore_color.rgb = _rgb(c.color)
        s.marker.format.line.color.rgb = _rgb(c.color)
        s.data_labels.show_value = True
        s.data_labels.number_format, s.data_labels.number_format_is_linked = "0.0", False
        s.data_labels.position = XL_LABEL_POSITION.ABOVE
        self.style(s.data_labels.font, 12)
        self.score_axis(trend)
        trend.has_legend = False
        low = [lab for lab, flag in zip(t.labels, t.low_sample[-1], strict=True) if flag]
        bands = f"RAG: green ≥ {c.bands[0]:.0f}, amber ≥ {c.bands[1]:.0f}, red below."
        note = bands + (f" {theme.LOW_SAMPLE} in {c.period}: {', '.join(low)}." if low else "")
        self.textbox(slide, (x, y + int(hh * 0.9), w, int(hh * 0.1)), [note], size=12, color=MUTED)

    def component_slide(self, p: ComponentPage) -> None:
        slide, (x, y, w, hh) = self.slide()
        flag = f" · {theme.LOW_SAMPLE}" if p.low_sample else ""
        intro = f"{p.description} Weight {p.weight:.0f}; n = {p.n:,}{flag}."
        self.textbox(slide, (x, y, w, int(hh * 0.1)), [intro], size=14, color=MUTED)
        header, rows = metric_rows(p)
        top = y + int(hh * 0.11)
        table_h = self.table(
            slide,
            (x, top, w, int(hh * 0.3)),
            header,
            rows,
            (0.3, 0.1, 0.08, 0.1, 0.1, 0.12, 0.2),
            row_h=0.055,
        )
        top += table_h + int(hh * 0.03)
        self.textbox(slide, (x, top, w, int(hh * 0.08)), [p.items_note], size=12, color=MUTED)
        top += int(hh * 0.09)
        if p.items:
            rows = [[i.metric, i.item, i.detail] for i in p.items]
            self.table(
                slide,
                (x, top, w, y + hh - top),
                ("Metric", "Item", "Detail"),
                rows,
                (0.2, 0.14, 0.66),
                size=10,
                row_h=0.065,
            )

    def survey_slide(self) -> None:
        s = self.c.survey
        slide, (x, y, w, hh) = self.slide()
        left_w = int(w * 0.46)
        if s.responses == 0:
            self.textbox(slide, (x, y, w, int(hh * 0.2)), ["No survey responses this quarter."], size=20)
            return
        data = CategoryChartData(number_format="0.0")
        data.categories = [chart_text(label) for label, _, _ in s.dimensions]
        data.add_series("Score (0–100)", [score for _, score, _ in s.dimensions])
        chart = self.chart(slide, XL_CHART_TYPE.BAR_CLUSTERED, (x, y, left_w, int(hh * 0.78)), data)
        self.chart_title(chart, f"Question scores (0–100), {s.responses} responses")
        series = chart.plots[0].series[0]
        series.format.fill.solid()
        series.format.fill.fore_color.rgb = _rgb(self.c.color)
        chart.plots[0].gap_width = 50
        series.data_labels.show_value = True
        series.data_labels.number_format, series.data_labels.number_format_is_linked = "0", False
        series.data_labels.position = XL_LABEL_POSITION.OUTSIDE_END
        self.style(series.data_labels.font, 11)
        self.score_axis(chart)
        chart.category_axis.reverse_order = True  # first question on top
        chart.has_legend = False
        self.textbox(slide, (x, y + int(hh * 0.8), left_w, int(hh * 0.2)), survey_facts(s), size=13)
        quotes: list = [("What stakeholders said", 16, True, INK)]
        for cm in s.comments:
            quotes.append((f"“{cm.text}”", 14, False, INK, 10))
            quotes.append((f"— {cm.who}", 11, False, MUTED))
        if not s.comments:
            quotes.append(("No comments this quarter.", 14, False, MUTED))
        self.textbox(slide, (x + left_w + int(w * 0.04), y, w - left_w - int(w * 0.04), hh), quotes)

    def notices_slide(self) -> None:
        slide, (x, y, w, hh) = self.slide()
        self.textbox(slide, (x, y, w, int(hh * 0.14)), [self.c.notice_text], size=14, color=MUTED)
        header, rows = notice_rows(self.c)
        if not rows:
            self.textbox(
                slide, (x, y + int(hh * 0.16), w, int(hh * 0.2)), ["No change notices this quarter."], size=20
            )
            return
        widths = (0.11, 0.1, 0.15, 0.11, 0.11, 0.11, 0.1, 0.21)
        self.table(slide, (x, y + int(hh * 0.16), w, int(hh * 0.84)), header, rows, widths, size=12)

    def actions_slide(self) -> None:
        slide, (x, y, w, hh) = self.slide()
        rows = [[str(i)] + [""] * (len(self.c.action_columns) - 1) for i in range(1, self.c.action_rows + 1)]
        self.table(
            slide,
            (x, y, w, hh),
            self.c.action_columns,
            rows,
            (0.05, 0.5, 0.17, 0.13, 0.15),
            size=14,
            row_h=0.11,
        )

    # ------------------------------------------------------------ charts and tables
    def chart(self, slide, kind, box, data):
        chart = slide.shapes.add_chart(kind, *box, data).chart
        if self.font:
            chart.font.name = self.font
        chart.font.size = self.pt(12)
        chart.has_title = False
        return chart

    def chart_title(self, chart, text: str) -> None:
        chart.has_title = True
        self.write(chart.chart_title.text_frame, [text], size=14, color=INK)

    def score_axis(self, chart) -> None:
        axis = chart.value_axis
        axis.minimum_scale, axis.maximum_scale, axis.major_unit = 0, 100, 20
        axis.has_major_gridlines = True
        axis.major_gridlines.format.line.color.rgb = _rgb(GRID)
        axis.tick_labels.font.size = self.pt(11)
        chart.category_axis.tick_labels.font.size = self.pt(11)

    def legend(self, chart) -> None:
        chart.has_legend = True
        chart.legend.position = XL_LEGEND_POSITION.BOTTOM
        chart.legend.include_in_layout = False
        chart.legend.font.size = self.pt(11)

    def table(self, slide, box, header, rows, widths, size: float = 12, row_h: float = 0.075) -> int:
        """A table of plain text; returns its height. Rows are at most ``row_h`` of the slide height."""
        x, y, w, hh = box
        n = len(rows) + 1
        height = min(hh, int(self.h * row_h * n))
        shape = slide.shapes.add_table(n, len(header), x, y, w, height)
        table = shape.table
        for j, share in enumerate(widths):
            table.columns[j].width = (
                int(w * share) if j < len(widths) - 1 else w - sum(int(w * s) for s in widths[:-1])
            )
        for i in range(n):
            table.rows[i].height = int(height / n)
        for i, values in enumerate([list(header), *rows]):
            for j, value in enumerate(values):
                cell = table.cell(i, j)
                cell.margin_top = cell.margin_bottom = int(self.h * 0.006)
                self.write(
                    cell.text_frame,
                    [str(value)],
                    size=size,
                    color="#FFFFFF" if i == 0 and not self.custom else INK,
                )
                if i == 0:
                    for run in cell.text_frame.paragraphs[0].runs:
                        run.font.bold = True
                    if not self.custom:
                        cell.fill.solid()
                        cell.fill.fore_color.rgb = _rgb(theme.OKABE_ITO[0])
                elif not self.custom:
                    cell.fill.solid()
                    cell.fill.fore_color.rgb = _rgb("#FFFFFF" if i % 2 else "#F2F2F2")
        return height


def survey_facts(s: Survey) -> list[str]:
    """The survey slide's lines under the chart (both renderers use them)."""
    lines = [f"{s.responses} responses this quarter."]
    for m in (s.satisfaction, s.nps):
        if m is not None and m.n:
            flag = f" {theme.LOW_SAMPLE}" if m.low_sample else ""
            lines.append(f"{m.label}: {m.value_text} (score {_score_text(m.score)}, n = {m.n}){flag}")
    return lines


def export_qbr(
    con: duckdb.DuckDBPyConnection,
    vendor: str,
    period: str,
    fmt: str = "pptx",
    rm: str | None = None,
    template: str | Path | None = None,
    rules: Rules | None = None,
) -> bytes:
    """The deck (``fmt`` "pptx") or its PDF (``fmt`` "pdf") for one vendor (or RM) and quarter."""
    if fmt not in FORMATS:
        raise RmdashError(f"QBR format must be pptx or pdf, got {fmt!r}")
    content = build_qbr_content(con, vendor, period, rm=rm, rules=rules)
    if fmt == "pdf":
        from rmdash.qbr_pdf import write_pdf

        return write_pdf(content)
    return write_pptx(content, template)


def qbr_downloads(
    connect: Callable[[], duckdb.DuckDBPyConnection], vendor: str, period: str, rm: str | None = None
) -> dict[str, tuple[Callable[[], bytes], str, str]]:
    """The dashboard's QBR buttons: label -> (make bytes, file name, MIME type), made only when clicked.

    ``period`` may be a month or a quarter (the deck is the quarter's);
    ``connect()`` opens a connection for the moment a file is made. The PDF is
    offered only where Chromium is installed.
    """
    from rmdash.qbr_pdf import pdf_available

    quarter = quarter_of(period)
    stem = file_stem_of(vendor, rm, quarter)

    def make(fmt: str) -> bytes:
        with connect() as con:
            return export_qbr(con, vendor, quarter, fmt, rm=rm)

    files = {f"Download QBR deck {quarter} (PowerPoint)": (partial(make, "pptx"), f"{stem}.pptx", PPTX_MIME)}
    if pdf_available():
        files[f"Download QBR deck {quarter} (PDF)"] = (partial(make, "pdf"), f"{stem}.pdf", PDF_MIME)
    return files


def write_qbr_file(
    db_path: str | Path,
    vendor: str,
    period: str,
    out: str | Path,
    rm: str | None = None,
    template: str | Path | None = None,
    config: str | Path | None = None,
) -> Path:
    """The CLI's entry: write the deck or PDF (by ``out``'s suffix) from the store at ``db_path``."""
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise RmdashError(f"--out must end in .pptx or .pdf, got {out.name!r}")
    if template is not None and fmt == "pdf":
        raise RmdashError("--template applies to .pptx decks only; leave it out for a PDF")
    if template is not None and not Path(template).is_file():
        raise RmdashError(f"template {template} not found: give an existing .pptx file")
    from rmdash import store
    from rmdash.rules import load_rules

    rules = load_rules(config) if config is not None else None
    con = store.open_store(db_path, read_only=True)
    try:
        data = export_qbr(con, vendor, period, fmt, rm=rm, template=template, rules=rules)
    finally:
        con.close()
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise RmdashError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def chart_text(text: object) -> str:
    """Text for a chart's category or series name: it lands in the chart's embedded workbook too."""
    return str(exports.neutralise_text(plain(text, 60)))


def file_stem_of(vendor: str, rm: str | None, period: str) -> str:
    """A safe file name stem: qbr-<vendor>[-<rm>]-<period>."""
    raw = "-".join(["qbr", vendor, *([rm] if rm else []), period])
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")[:120] or "qbr"
