"""Plotly figure builders for the dashboard and the QBR deck.

Purpose: every chart rmdash draws, as a pure function of DataFrames shaped
like the KPI contract (docs/architecture.md: long frames with vendor, rm,
period, period_start, ...) plus the vendor colour mapping from rmdash.theme.
Boundary: no database, no streamlit, no KPI maths; callers pass data already
computed and filtered. Every figure uses the one template (rmdash.theme) and
never shows RAG by colour alone (words, icons and marker shapes go with it).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from rmdash import theme

SCORE_AXIS = {"range": [0, 104], "title": {"text": "Score (0–100)"}}
DASHES = ("solid", "dash", "dot", "dashdot")


def _legend_room(fig: go.Figure, chars_per_row: int = 110) -> go.Figure:
    """Grow the top margin with the legend's rows so a long legend never covers the title."""
    names = [str(t.name or "") for t in fig.data if t.showlegend is not False]
    if len(names) < 2:
        return fig
    per_row = max(1, chars_per_row // (max(len(n) for n in names) + 6))
    rows = -(-len(names) // per_row)
    fig.update_layout(margin={"t": 70 + 26 * rows}, height=(fig.layout.height or 420) + 26 * (rows - 1))
    return fig


def _figure(title: str, height: int = 420) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=theme.TEMPLATE_NAME, title={"text": _plain(title)}, height=height)
    return fig


def _empty(title: str, message: str = "No data for these filters") -> go.Figure:
    fig = _figure(title, height=260)
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _rag_texts(rags: pd.Series) -> list[str]:
    return [theme.rag_label(r) for r in rags]


def _add_rag_bands(fig: go.Figure, bands: Mapping[str, float]) -> None:
    """Shaded, labelled score bands behind a 0..100 chart (labels say which band is which)."""
    green, amber = float(bands["green"]), float(bands["amber"])
    spans = (("red", 0.0, amber), ("amber", amber, green), ("green", green, 104.0))
    for rag, lo, hi in spans:
        fig.add_hrect(y0=lo, y1=hi, fillcolor=theme.RAG_BAND_FILLS[rag], line_width=0, layer="below")
        fig.add_annotation(
            text=theme.rag_label(rag),
            xref="paper",
            x=1.005,
            xanchor="left",
            y=(lo + hi) / 2 if rag != "green" else (lo + 100.0) / 2,
            showarrow=False,
            font={"color": "#555555"},
        )


def composite_trend(
    composite: pd.DataFrame,
    colors: Mapping[str, str],
    bands: Mapping[str, float],
    *,
    series: str = "vendor",
    color_by: str | None = None,
    title: str = "Composite RM KPI over time",
) -> go.Figure:
    """One line per vendor (or per ``series`` column, e.g. an RM label) of the composite, over RAG bands.

    Markers take the RAG shape (circle / triangle / cross) and hover text the RAG word.
    With ``color_by`` (e.g. "vendor") a line takes that column's colour and
    lines of the same colour differ by dash (an RM keeps the vendor's colour).
    """
    data = composite.dropna(subset=["composite"])
    if data.empty:
        return _empty(title)
    fig = _figure(title)
    _add_rag_bands(fig, bands)
    fig.update_layout(margin={"r": 110})  # room for the band labels right of the plot
    dashes: dict[str, int] = {}
    for name, part in data.sort_values("period_start").groupby(series, sort=True):
        name = str(name)
        key = str(part[color_by].iloc[0]) if color_by else name
        dash = DASHES[dashes.setdefault(key, 0) % len(DASHES)]
        dashes[key] += 1
        fig.add_trace(
            go.Scatter(
                x=part["period"],
                y=part["composite"],
                name=_plain(name),
                mode="lines+markers",
                line={"color": theme.color_for(key, colors), "width": 3, "dash": dash},
                marker={
                    "size": 11,
                    "symbol": [theme.RAG_MARKERS.get(r, "circle-open") for r in part["rag"]],
                },
                customdata=_rag_texts(part["rag"]),
                hovertemplate="%{fullData.name}<br>%{x}: %{y:.1f} %{customdata}<extra></extra>",
            )
        )
    fig.update_yaxes(**SCORE_AXIS)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=_period_order(data))
    return _legend_room(fig)


def component_trends(components: pd.DataFrame, labels: Mapping[str, str], title: str) -> go.Figure:
    """One line per component score over time (one vendor or RM); low-sample points hollow."""
    data = components.dropna(subset=["score"])
    if data.empty:
        return _empty(title)
    fig = _figure(title)
    for i, (comp, part) in enumerate(data.sort_values("period_start").groupby("component", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=part["period"],
                y=part["score"],
                name=labels.get(comp, comp),
                mode="lines+markers",
                line={"color": theme.OKABE_ITO[i % len(theme.OKABE_ITO)], "width": 3},
                marker={
                    "size": 10,
                    "symbol": ["circle-open" if low else "circle" for low in part["low_sample"]],
                },
                customdata=part[["n"]].assign(
                    flag=[theme.LOW_SAMPLE if x else "" for x in part["low_sample"]]
                ),
                hovertemplate="%{x}: %{y:.1f} (n=%{customdata[0]}) %{customdata[1]}<extra></extra>",
            )
        )
    fig.update_yaxes(**SCORE_AXIS)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=_period_order(data))
    return _legend_room(fig)


def metric_trend(
    metrics: pd.DataFrame,
    colors: Mapping[str, str],
    *,
    title: str,
    percent: bool = True,
    series: str = "vendor",
) -> go.Figure:
    """One line per vendor of one metric's value over time (e.g. the escalation rate)."""
    data = metrics.dropna(subset=["value"])
    if data.empty:
        return _empty(title)
    fig = _figure(title)
    fmt = ".1%" if percent else ".1f"
    for name, part in data.sort_values("period_start").groupby(series, sort=True):
        name = str(name)
        fig.add_trace(
            go.Scatter(
                x=part["period"],
                y=part["value"],
                name=_plain(name),
                mode="lines+markers",
                line={"color": theme.color_for(name, colors), "width": 3},
                marker={"size": 9},
                customdata=part[["n"]],
                hovertemplate=f"%{{fullData.name}}<br>%{{x}}: %{{y:{fmt}}} (n=%{{customdata[0]}})<extra></extra>",
            )
        )
    fig.update_yaxes(tickformat=".0%" if percent else None, rangemode="tozero")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=_period_order(data))
    return _legend_room(fig)


def component_heatmap(
    components: pd.DataFrame, labels: Mapping[str, str], *, title: str, row: str = "vendor"
) -> go.Figure:
    """Rows (vendors) x components, cell = score with its number and RAG icon written in it."""
    data = components.dropna(subset=["score"])
    if data.empty:
        return _empty(title)
    grid = data.pivot_table(index=row, columns="component", values="score", aggfunc="mean")
    order = [c for c in labels if c in grid.columns] + [c for c in grid.columns if c not in labels]
    grid = grid[order].sort_index(ascending=False, key=lambda s: s.str.casefold())
    if "rag" in data.columns:
        rags = data.pivot_table(index=row, columns="component", values="rag", aggfunc="first").reindex_like(
            grid
        )
    else:
        rags = pd.DataFrame(None, index=grid.index, columns=grid.columns)
    text = [
        [
            "" if pd.isna(v) else f"{v:.0f} {theme.RAG_ICONS.get(r, '')}"
            for v, r in zip(grid.loc[idx], rags.loc[idx], strict=True)
        ]
        for idx in grid.index
    ]
    fig = _figure(title, height=max(300, 90 + 55 * len(grid)))
    fig.add_trace(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[_wrap(labels.get(c, c)) for c in grid.columns],
            y=[_plain(i) for i in grid.index],
            text=text,
            texttemplate="%{text}",
            colorscale=theme.SCORE_SCALE,
            zmin=0,
            zmax=100,
            colorbar={"title": {"text": "Score"}},
            hovertemplate="%{y} · %{x}: %{z:.1f}<extra></extra>",
            xgap=3,
            ygap=3,
        )
    )
    _write_no_data(fig, grid, labels)
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False)
    return fig


NO_DATA = "no data"


def _write_no_data(fig: go.Figure, grid: pd.DataFrame, labels: Mapping[str, str]) -> None:
    """Write "no data" in the heatmap's empty cells: a blank cell on a shared screen reads as a gap."""
    empty = [(labels.get(c, c), i) for i in grid.index for c in grid.columns if pd.isna(grid.loc[i, c])]
    if not empty:
        return
    fig.add_trace(
        go.Scatter(
            x=[_wrap(c) for c, _ in empty],
            y=[_plain(i) for _, i in empty],
            mode="text",
            text=[NO_DATA] * len(empty),
            textfont={"color": theme.NO_DATA_COLOR},
            hoverinfo="skip",
            showlegend=False,
        )
    )


def movement_waterfall(parts: pd.DataFrame, *, start_label: str, end_label: str, title: str) -> go.Figure:
    """Waterfall from the composite of one period to another; ``parts`` has label, value and kind.

    ``kind`` is "start", "part" or "end": start/end bars are absolute composites,
    parts are the contributions in between (they add up to end - start).
    """
    if parts.empty:
        return _empty(title, "Pick two periods that both have a composite")
    measure = ["absolute" if k in ("start", "end") else "relative" for k in parts["kind"]]
    measure[-1] = "total" if parts["kind"].iloc[-1] == "end" else measure[-1]
    fig = _figure(title)
    fig.add_trace(
        go.Waterfall(
            x=list(parts["label"]),
            y=list(parts["value"]),
            measure=measure,
            text=[
                f"{v:+.1f}" if k == "part" else f"{v:.1f}"
                for v, k in zip(parts["value"], parts["kind"], strict=True)
            ],
            textposition="outside",
            increasing={"marker": {"color": theme.RAG_COLORS["green"]}},
            decreasing={"marker": {"color": theme.RAG_COLORS["red"]}},
            totals={"marker": {"color": theme.OKABE_ITO[0]}},
            connector={"line": {"color": "#888888"}},
            hovertemplate="%{x}: %{text}<extra></extra>",
        )
    )
    start = float(parts["value"].iloc[0]) if parts["kind"].iloc[0] == "start" else 0.0
    levels = start + parts["value"].where(parts["kind"] == "part", 0.0).cumsum()
    lo, hi = float(levels.min()), float(levels.max())
    pad = max(3.0, (hi - lo) * 0.4)
    fig.update_yaxes(title={"text": "Composite"}, range=[max(0.0, lo - pad), min(110.0, hi + pad)])
    fig.update_xaxes(tickvals=list(parts["label"]), ticktext=[_wrap(x) for x in parts["label"]])
    return fig


def grouped_scores(
    frame: pd.DataFrame,
    *,
    group: str,
    series: str,
    value: str,
    title: str,
    colors: Mapping[str, str] | None = None,
    group_labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Grouped bars: for each ``group`` (e.g. component) one bar per ``series`` (e.g. RM)."""
    data = frame.dropna(subset=[value])
    if data.empty:
        return _empty(title)
    labels = group_labels or {}
    fig = _figure(title)
    for i, (name, part) in enumerate(data.groupby(series, sort=True)):
        name = str(name)
        color = (
            theme.color_for(name, colors) if colors is not None else theme.OKABE_ITO[i % len(theme.OKABE_ITO)]
        )
        fig.add_trace(
            go.Bar(
                x=[_wrap(labels.get(g, g)) for g in part[group]],
                y=part[value],
                name=_plain(name),
                marker={"color": color},
                text=[f"{v:.0f}" for v in part[value]],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{fullData.name}<br>%{x}: %{y:.1f}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(**{**SCORE_AXIS, "range": [0, 112]})  # room for the value above a full bar
    return _legend_room(fig)


RANKING_AXIS_END = 135  # composite axis end: a bar at 100 keeps its score and RAG word on screen


def ranking(
    frame: pd.DataFrame, *, label: str, color_by: str, colors: Mapping[str, str], title: str
) -> go.Figure:
    """Horizontal bars ranked by composite (best on top), coloured by ``color_by``, RAG word in the bar text."""
    data = frame.dropna(subset=["composite"]).sort_values("composite")
    if data.empty:
        return _empty(title)
    fig = _figure(title, height=max(320, 80 + 42 * len(data)))
    fig.add_trace(
        go.Bar(
            x=data["composite"],
            y=[_plain(v) for v in data[label]],
            orientation="h",
            marker={"color": [theme.color_for(str(v), colors) for v in data[color_by]]},
            text=[
                f"{c:.1f} {theme.rag_label(r)}" for c, r in zip(data["composite"], data["rag"], strict=True)
            ],
            textposition="outside",
            cliponaxis=False,
            customdata=[[_plain(v)] for v in data[color_by]],
            hovertemplate="%{y} (%{customdata[0]}): %{x:.1f}<extra></extra>",
            showlegend=False,
        )
    )
    # room right of 100 for "99.7 ✔ Green" at the presentation font; ticks stop at 100
    fig.update_xaxes(
        range=[0, RANKING_AXIS_END], tickvals=list(range(0, 101, 20)), title={"text": "Composite (0–100)"}
    )
    fig.update_yaxes(type="category")
    return fig


def money(frame: pd.DataFrame, *, title: str, currency: str = "") -> go.Figure:
    """Service credit (negative, owed by the vendor) and bonus (positive) per period."""
    data = frame.dropna(subset=["service_credit", "bonus"], how="all")
    if data.empty:
        return _empty(title, "No contract uploaded for this vendor")
    data = data.sort_values("period_start")
    fig = _figure(title, height=360)
    fig.add_trace(
        go.Bar(
            x=data["period"],
            y=-data["service_credit"].fillna(0.0),
            name="Service credit",
            marker={"color": theme.RAG_COLORS["red"], "pattern": {"shape": "/"}},
            hovertemplate=f"%{{x}}: credit {currency}%{{customdata:,.0f}}<extra></extra>",
            customdata=data["service_credit"].fillna(0.0),
        )
    )
    fig.add_trace(
        go.Bar(
            x=data["period"],
            y=data["bonus"].fillna(0.0),
            name="Bonus",
            marker={"color": theme.RAG_COLORS["green"]},
            hovertemplate=f"%{{x}}: bonus {currency}%{{y:,.0f}}<extra></extra>",
        )
    )
    fig.update_layout(barmode="relative")
    fig.update_yaxes(title={"text": f"Amount {currency}".strip()}, tickformat=",.0f", zeroline=True)
    fig.update_xaxes(type="category")
    return fig


def side_by_side(
    frame: pd.DataFrame, *, label: str, before: str, after: str, names: tuple[str, str], title: str
) -> go.Figure:
    """Two bars per label (e.g. old and new composite per vendor, or before/after an RM change)."""
    data = frame.dropna(subset=[before, after], how="all")
    if data.empty:
        return _empty(title)
    fig = _figure(title, height=max(320, 80 + 60 * len(data)))
    for col, name, color in ((before, names[0], "#999999"), (after, names[1], theme.OKABE_ITO[0])):
        fig.add_trace(
            go.Bar(
                y=[_plain(v) for v in data[label]],
                x=data[col],
                name=_plain(name),
                orientation="h",
                marker={"color": color},
                text=[("" if pd.isna(v) else f"{v:.1f}") for v in data[col]],
                textposition="outside",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(range=[0, 115], title={"text": "Score (0–100)"})
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def _period_order(frame: pd.DataFrame) -> list[str]:
    return list(frame.sort_values("period_start")["period"].astype(str).drop_duplicates())


def _wrap(text: object, width: int = 14) -> str:
    """Break a long axis label into lines (plain text, escaped) so it need not be rotated."""
    words, lines, line = _plain(text).split(" "), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "<br>".join(lines)


def _plain(text: object) -> str:
    """User text (vendor, RM names) shown as plain text: Plotly would otherwise read <b>, <a> etc."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
