"""The QBR pack as a PDF: the same QbrContent as the deck, one page per slide.

Purpose: a PDF for people who will not open PowerPoint, with the numbers of
the deck (both render one rmdash.qbr.QbrContent). How: an HTML page per slide
(escaped text, Plotly figures from rmdash.charts / the rmdash template, with
plotly.js inlined so nothing is fetched), printed by headless Debian Chromium
(``--print-to-pdf``) in a throw-away profile. Works offline.

Boundary: QbrContent in, PDF bytes out; runs one Chromium process per PDF
and removes its temporary files. No database access. Every text from uploads
is HTML-escaped (and Plotly-escaped inside figures), never interpreted.
"""

from __future__ import annotations

import html
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from rmdash import charts, theme
from rmdash.model import RmdashError
from rmdash.qbr import (
    INK,
    MUTED,
    QbrContent,
    footer_text,
    headline_lines,
    metric_rows,
    notice_rows,
    quarter_tints,
    scorecard_rows,
    slide_titles,
    survey_facts,
    title_lines,
)

PAGE_W, PAGE_H = 1280, 720  # CSS pixels of a 13.333 in × 7.5 in (16:9) page
PRINT_TIMEOUT_S = 120
VIRTUAL_TIME_MS = 20000  # time Chromium lets the page's scripts (Plotly) run before printing
NO_CHROMIUM = (
    "the PDF needs the chromium browser, which is not installed: run `bash scripts/ensure-chromium.sh` "
    "(or `apt-get install chromium`), or download the PowerPoint deck instead"
)

_CSS = f"""
@page {{ size: 13.333in 7.5in; margin: 0; }}
html, body {{ margin: 0; padding: 0; background: white; }}
body {{ font-family: {theme.FONT_FAMILY}; color: {INK};
       -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
section.slide {{ width: {PAGE_W}px; height: {PAGE_H}px; box-sizing: border-box; padding: 30px 58px 0 58px;
                position: relative; overflow: hidden; break-after: page; page-break-after: always; }}
section.slide:last-child {{ break-after: auto; page-break-after: auto; }}
h1 {{ font-size: 36px; font-weight: 400; margin: 10px 0 18px 0; }}
section.title h1 {{ font-size: 44px; margin-top: 150px; }}
.bar {{ width: 230px; height: 9px; margin: 10px 0 26px 0; }}
.sub {{ font-size: 21px; color: {MUTED}; line-height: 1.45; }}
.muted {{ color: {MUTED}; }}
.small {{ font-size: 15px; }}
.footer {{ position: absolute; left: 58px; right: 58px; bottom: 14px; font-size: 12px; color: {MUTED};
           white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.row {{ display: flex; gap: 36px; }}
.big {{ font-size: 96px; font-weight: 700; line-height: 1; }}
.rag {{ font-size: 40px; font-weight: 700; margin-top: 6px; }}
.facts p {{ font-size: 22px; margin: 0 0 12px 0; }}
table {{ border-collapse: collapse; width: 100%; font-size: 15px; }}
th {{ background: {theme.OKABE_ITO[0]}; color: white; text-align: left; padding: 6px 8px; }}
td {{ padding: 5px 8px; vertical-align: top; }}
tr:nth-child(even) td {{ background: #F2F2F2; }}
table.items {{ font-size: 12.5px; }}
table.actions td {{ height: 48px; font-size: 18px; }}
blockquote {{ margin: 0 0 12px 0; font-size: 18px; }}
blockquote cite {{ display: block; font-size: 13px; color: {MUTED}; font-style: normal; margin-top: 2px; }}
"""


def chromium_path() -> str | None:
    """The Chromium executable (Debian's ``chromium``), or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pdf_available() -> bool:
    return chromium_path() is not None


def write_pdf(content: QbrContent) -> bytes:
    """The PDF of ``content``: one page per slide of the deck. RmdashError when Chromium is missing or fails."""
    browser = chromium_path()
    if browser is None:
        raise RmdashError(NO_CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="rmdash-qbr-") as tmp:
        page, pdf = Path(tmp) / "qbr.html", Path(tmp) / "qbr.pdf"
        page.write_text(render_html(content), encoding="utf-8")
        _print_to_pdf(browser, page, pdf, Path(tmp) / "profile")
        data = pdf.read_bytes() if pdf.exists() else b""
    if not data.startswith(b"%PDF"):
        raise RmdashError("chromium did not produce the PDF; download the PowerPoint deck instead")
    return data


def _print_to_pdf(browser: str, page: Path, pdf: Path, profile: Path) -> None:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
        "--no-pdf-header-footer",
        f"--virtual-time-budget={VIRTUAL_TIME_MS}",
        f"--print-to-pdf={pdf}",
        page.as_uri(),
    ]
    # Own process group: on a timeout the browser's helper processes are ended with it.
    proc = subprocess.Popen(  # noqa: S603 (fixed arguments; the page is our own file)
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=PRINT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise RmdashError(
            "chromium took too long to print the PDF; try again, or download the PowerPoint deck"
        ) from None


# ---------------------------------------------------------------- HTML


def render_html(c: QbrContent) -> str:
    """One HTML document, a <section> per slide, with plotly.js inline (no network)."""
    titles = iter(slide_titles(c))
    sections = [
        _title(c, next(titles)),
        _slide(c, next(titles), _headline(c)),
        _slide(c, next(titles), _movement(c)),
        _slide(c, next(titles), _trend(c)),
        *[_slide(c, next(titles), _component(c, p)) for p in c.components],
        _slide(c, next(titles), _survey(c)),
        _slide(c, next(titles), _notices(c)),
        _slide(c, next(titles), _actions(c)),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(slide_titles(c)[0])}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{''.join(sections)}</body></html>"
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _slide(c: QbrContent, title: str, body: str, cls: str = "") -> str:
    return (
        f'<section class="slide {cls}"><h1>{_e(title)}</h1>{body}'
        f'<div class="footer">{_e(footer_text(c))}</div></section>'
    )


def _title(c: QbrContent, title: str) -> str:
    lines = "".join(f"<div>{_e(line)}</div>" for line in title_lines(c))
    body = f'<div class="bar" style="background:{c.color}"></div><div class="sub">{lines}</div>'
    return (
        f'<section class="slide title"><h1>{_e(title)}</h1>{body}'
        f'<div class="footer">{_e(footer_text(c))}</div></section>'
    )


def _headline(c: QbrContent) -> str:
    h = c.headline
    color = theme.RAG_COLORS.get(h.rag or "", MUTED)
    number = "–" if h.composite is None else f"{h.composite:.1f}"
    facts = "".join(f"<p>{_e(line)}</p>" for line in headline_lines(c))
    return (
        '<div class="row">'
        f'<div style="width:430px"><div class="big" style="color:{color}">{_e(number)}</div>'
        f'<div class="rag" style="color:{color}">{_e(h.rag_text)}</div>'
        '<div class="muted small">Composite RM KPI (0–100)</div></div>'
        f'<div class="facts" style="width:700px;padding-top:14px">{facts}</div></div>'
        f'<p style="font-size:20px;margin:14px 0">{_e(h.summary)}</p>'
        + _table(*scorecard_rows(c), widths=(34, 10, 12, 12, 12, 20))
    )


def _figure(fig: go.Figure, width: int, height: int) -> str:
    fig.update_layout(width=width, height=height, title={"text": ""}, margin={"t": 40, "l": 10, "b": 10})
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        config={"staticPlot": True, "displayModeBar": False},
        default_width=f"{width}px",
        default_height=f"{height}px",
    )


def _plot_text(text: object) -> str:
    """Plotly reads a subset of HTML in labels: escape it (as rmdash.charts does for user text)."""
    return html.escape(str(text), quote=False)


def _movement(c: QbrContent) -> str:
    m = c.movement
    if not m.parts or m.start is None or m.end is None:
        return f'<p style="font-size:24px">{_e(m.note)}</p>'
    parts = pd.DataFrame(
        {
            "label": [m.from_period, *[p.label for p in m.parts], m.to_period],
            "value": [m.start, *[p.contribution for p in m.parts], m.end],
            "kind": ["start", *["part"] * len(m.parts), "end"],
        }
    )
    fig = charts.movement_waterfall(parts, start_label=m.from_period, end_label=m.to_period, title="")
    note = (
        f"The parts add up to the change of {m.end - m.start:+.1f} points. Each component's part is its "
        "weight × its score change over the components with data in both quarters; coverage is what "
        "components gaining or losing data moved."
    )
    return _figure(fig, PAGE_W - 116, 500) + f'<p class="muted small">{_e(note)}</p>'


def _trend(c: QbrContent) -> str:
    t = c.trend
    bars = go.Figure()
    bars.update_layout(template=theme.TEMPLATE_NAME, barmode="group", bargap=0.25)
    labels = ["<br>".join(textwrap.wrap(_plot_text(label), 14)) for label in t.labels]
    for i, (period, scores, color) in enumerate(zip(t.periods, t.scores, quarter_tints(c), strict=True)):
        last = i == len(t.periods) - 1
        bars.add_trace(
            go.Bar(
                x=labels,
                y=list(scores),
                name=_plot_text(period),
                marker={"color": color},
                text=[("" if v is None else f"{v:.0f}") for v in scores] if last else None,
                textposition="outside",
                cliponaxis=False,
            )
        )
    bars.update_yaxes(**charts.SCORE_AXIS)
    bars.update_layout(legend={"y": -0.25, "yanchor": "top"}, title={"text": ""})
    frame = pd.DataFrame(
        {
            "vendor": c.vendor,
            "period": list(t.periods),
            "period_start": pd.to_datetime(list(t.period_starts)),
            "composite": [float("nan") if v is None else v for v in t.composite],
            "rag": list(t.rags),
        }
    )
    bands = {"green": c.bands[0], "amber": c.bands[1]}
    line = charts.composite_trend(frame, {c.vendor: c.color}, bands, title="")
    line.update_layout(showlegend=False)
    line.update_traces(  # the values written at the points, as in the deck
        mode="lines+markers+text",
        text=[("" if v is None else f"{v:.1f}") for v in t.composite],
        textposition="top center",
    )
    low = [lab for lab, flag in zip(t.labels, t.low_sample[-1], strict=True) if flag]
    note = f"RAG: green ≥ {c.bands[0]:.0f}, amber ≥ {c.bands[1]:.0f}, red below." + (
        f" {theme.LOW_SAMPLE} in {c.period}: {', '.join(low)}." if low else ""
    )
    return (
        '<div class="row" style="gap:20px">'
        f"<div><b>Component scores (0–100), by quarter</b>{_figure(bars, 720, 470)}</div>"
        f"<div><b>Composite, last four quarters</b>{_figure(line, 420, 470)}</div></div>"
        f'<p class="muted small">{_e(note)}</p>'
    )


def _table(header, rows, cls: str = "", widths: tuple[int, ...] | None = None) -> str:
    cols = "".join(f'<col style="width:{w}%">' for w in widths) if widths else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><colgroup>{cols}</colgroup><tr>{head}</tr>{body}</table>'


def _component(c: QbrContent, p) -> str:
    flag = f" · {theme.LOW_SAMPLE}" if p.low_sample else ""
    intro = f"{p.description} Weight {p.weight:.0f}; n = {p.n:,}{flag}."
    header, rows = metric_rows(p)
    parts = [
        f'<p class="muted small" style="margin-top:0">{_e(intro)}</p>',
        _table(header, rows, widths=(30, 10, 8, 10, 10, 12, 20)),
        f'<p class="muted small">{_e(p.items_note)}</p>',
    ]
    if p.items:
        items = [[i.metric, i.item, i.detail] for i in p.items]
        parts.append(_table(("Metric", "Item", "Detail"), items, cls="items", widths=(20, 14, 66)))
    return "".join(parts)


def _survey(c: QbrContent) -> str:
    s = c.survey
    if s.responses == 0:
        return '<p style="font-size:24px">No survey responses this quarter.</p>'
    fig = go.Figure()
    fig.update_layout(template=theme.TEMPLATE_NAME, showlegend=False)
    fig.add_trace(
        go.Bar(
            y=[_plot_text(label) for label, _, _ in s.dimensions],
            x=[score for _, score, _ in s.dimensions],
            orientation="h",
            marker={"color": c.color},
            text=[("" if v is None else f"{v:.0f}") for _, v, _ in s.dimensions],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_xaxes(range=[0, 104], title={"text": "Score (0–100)"})
    fig.update_yaxes(autorange="reversed", type="category")
    facts = "".join(f"<div>{_e(line)}</div>" for line in survey_facts(s))
    quotes = (
        "".join(f"<blockquote>“{_e(cm.text)}”<cite>— {_e(cm.who)}</cite></blockquote>" for cm in s.comments)
        or '<p class="muted">No comments this quarter.</p>'
    )
    return (
        '<div class="row">'
        f"<div><b>Question scores (0–100), {s.responses} responses</b>{_figure(fig, 560, 420)}"
        f'<div class="small" style="margin-top:8px">{facts}</div></div>'
        f'<div style="width:580px"><h2 style="font-size:22px;margin:0 0 12px 0">What stakeholders said</h2>'
        f"{quotes}</div></div>"
    )


def _notices(c: QbrContent) -> str:
    header, rows = notice_rows(c)
    text = f'<p class="muted small" style="margin-top:0">{_e(c.notice_text)}</p>'
    if not rows:
        return text + '<p style="font-size:24px">No change notices this quarter.</p>'
    return text + _table(header, rows, widths=(11, 10, 15, 11, 11, 11, 10, 21))


def _actions(c: QbrContent) -> str:
    rows = [[str(i)] + [""] * (len(c.action_columns) - 1) for i in range(1, c.action_rows + 1)]
    return _table(c.action_columns, rows, cls="actions", widths=(5, 50, 17, 13, 15))
