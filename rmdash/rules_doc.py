"""The KPI rules described for people: tables and sentences, and docs/kpis.md.

Purpose: one description of the rules registry (components and weights,
every metric's formula, target and floor, RAG bands, low-sample flag,
response targets, notice periods, money) that the app's "How KPIs are
computed" page shows and that ``python -m rmdash rules --markdown`` writes as
docs/kpis.md. Boundary: reads a ``Rules`` object only; no database, no UI.
A test keeps docs/kpis.md equal to ``rules_markdown(load_rules())``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rmdash import theme
from rmdash.rules import Rules
from rmdash.schema import load_schema

SCORE_RULE = (
    "Each metric has a value and a sample size n. Its score is linear between its floor (score 0) and its "
    "target (score 100), clamped to 0–100: score = 100 × (value − floor) ÷ (target − floor). "
    "A metric with n = 0 has no score; a component with no scored metric is left out of the composite."
)
COMPOSITE_RULE = (
    "Component score = mean of the scores of its metrics that have data; component n = the largest n among "
    "them. Composite = Σ weight × component score ÷ Σ weight, over the components that have a score."
)
MOVEMENT_RULE = (
    "Movement between two periods is split into one part per component (its weighted change over the "
    "weight of the components scored in both periods) plus a coverage part when the set of components "
    "with data changed; the parts add up exactly to the change in composite."
)


def format_value(value, fmt: str) -> str:
    """A value, target or floor as a person reads it: 95.0% for shares, 50.0 for points, – for none."""
    if value is None or pd.isna(value):
        return "–"
    return f"{value:.1%}" if fmt == "percent" else f"{value:,.1f}"


@dataclass
class RulesDoc:
    label: str
    components: pd.DataFrame
    metrics: pd.DataFrame
    rag_text: str
    money_text: str
    response_targets: pd.DataFrame
    notice_days: pd.DataFrame


def describe_rules(rules: Rules) -> RulesDoc:
    """Every number of ``rules`` in tables and sentences."""
    total = sum(c.weight for c in rules.components.values())
    components = pd.DataFrame(
        [
            {
                "Component": c.label,
                "Weight": c.weight,
                "Share of composite": f"{c.weight / total:.0%}" if total else "–",
                "Metrics": ", ".join(m.label for m in rules.metrics_of(c.name)),
                "What it measures": c.description,
            }
            for c in rules.components.values()
        ]
    )
    metrics = pd.DataFrame(
        [
            {
                "Metric": m.label,
                "Component": rules.components[m.component].label,
                "How it is computed": m.formula,
                "Better": "higher" if m.direction == "higher" else "lower",
                "Target (score 100)": format_value(m.target, m.format),
                "Floor (score 0)": format_value(m.floor, m.format),
                "From": load_schema().kind(m.kind).label,
            }
            for m in rules.metrics.values()
        ]
    )
    g, a = rules.rag.green, rules.rag.amber
    rag_text = (
        f"{theme.rag_label('green')} at {g:g} or more, {theme.rag_label('amber')} from {a:g} to below {g:g}, "
        f"{theme.rag_label('red')} below {a:g}. A metric or component with fewer than {rules.low_sample_n} rows "
        f"is flagged {theme.LOW_SAMPLE}."
    )
    mo = rules.money
    money_text = (
        f"At-risk amount = monthly fee × at-risk % per month (× {mo.months_per_quarter} per quarter). "
        f"Service credit = at-risk amount × clamp(({mo.credit_starts_below:g} − composite) ÷ "
        f"({mo.credit_starts_below:g} − {mo.credit_full_at:g}), 0, 1). Bonus = monthly fee × bonus % when the "
        f"composite is {mo.bonus_at:g} or more. A percentage above 1 is read as a percent and one of at most 1 "
        "as a fraction (10 and 0.10 both mean 10 %; a 1 % bonus is written 0.01). Money sits on vendor-level "
        "rows only."
    )
    response_targets = (
        pd.DataFrame(
            {
                f"P{p}": {
                    t: f"{mins:g} min"
                    for t, by in rules.response_targets.items()
                    for q, mins in by.items()
                    if q == p
                }
                for p in (1, 2, 3, 4)
            }
        )
        .rename_axis("Ticket type")
        .reset_index()
    )
    notice_days = pd.DataFrame(
        [
            {"Change type": ("any other" if k == "default" else k), "Notice needed (days)": v}
            for k, v in rules.notice_days.items()
        ]
    )
    return RulesDoc(
        label=rules.version_label,
        components=components,
        metrics=metrics,
        rag_text=rag_text,
        money_text=money_text,
        response_targets=response_targets,
        notice_days=notice_days,
    )


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(v) -> str:
        text = f"{v:g}" if isinstance(v, float) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def rules_markdown(rules: Rules) -> str:
    """docs/kpis.md: the rules as a user-facing page, generated (never edited by hand)."""
    doc = describe_rules(rules)
    parts = [
        "# How KPIs are computed",
        "",
        "<!-- Generated from rmdash/registry/rules.toml by `python -m rmdash rules --markdown`; "
        "do not edit by hand. -->",
        "",
        f"Rule set: {doc.label}. The app's *How KPIs are computed* page shows the same, with a worked "
        "example from your data.",
        "",
        "## Composite",
        "",
        COMPOSITE_RULE,
        "",
        _markdown_table(doc.components),
        "",
        "## Metrics",
        "",
        SCORE_RULE,
        "",
        _markdown_table(doc.metrics),
        "",
        "## RAG bands and low samples",
        "",
        doc.rag_text,
        "",
        "## Response targets",
        "",
        _markdown_table(doc.response_targets),
        "",
        "## Notice required before a change takes effect",
        "",
        _markdown_table(doc.notice_days),
        "",
        "## Money",
        "",
        doc.money_text,
        "",
        "## Movement",
        "",
        MOVEMENT_RULE,
        "",
    ]
    return "\n".join(parts)
