"""The one look of every rmdash chart: Plotly template, palette, vendor colours, RAG labels.

Purpose: a single place for fonts, colours and the words/icons that carry RAG,
so that the dashboard, the QBR deck and any export look alike and a vendor
keeps its colour on every chart. Boundary: pure presentation constants and
tiny pure functions; no data access, no streamlit.

Accessibility choices (docs/decisions.md, Dashboard): the Okabe-Ito palette is
distinguishable with the common colour-vision deficiencies; RAG is never shown
by colour alone: every RAG value is rendered with a word and a shape icon.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import plotly.graph_objects as go
import plotly.io as pio

# Okabe & Ito (2008), "Color Universal Design". Black last: it is also the axis colour.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow (weak on white: used last among colours)
    "#000000",  # black
)

# RAG: colour + word + a shape that differs per status (never colour alone).
RAG_COLORS = {"green": "#009E73", "amber": "#E69F00", "red": "#D55E00"}
RAG_ICONS = {"green": "✔", "amber": "▲", "red": "✖"}
RAG_WORDS = {"green": "Green", "amber": "Amber", "red": "Red"}
RAG_MARKERS = {"green": "circle", "amber": "triangle-up", "red": "x"}
NO_RAG = "– no data"
# What a table cell with no value shows (st.dataframe's own "None" reads like a name on a QBR screen)
MISSING = "–"
NO_DATA_COLOR = "#6b6b6b"  # "no data" written in a chart: grey, readable on white (contrast 5.3:1)
LOW_SAMPLE = "⚑ low sample"
# Light fills for the RAG bands drawn behind a composite trend (text labels name them).
RAG_BAND_FILLS = {
    "green": "rgba(0,158,115,0.10)",
    "amber": "rgba(230,159,0,0.12)",
    "red": "rgba(213,94,0,0.10)",
}

# A colour-blind-safe continuous scale for scores 0..100 (vermillion -> orange -> blue-green).
SCORE_SCALE = [[0.0, "#D55E00"], [0.5, "#E69F00"], [0.75, "#F0E442"], [1.0, "#009E73"]]

FONT_FAMILY = "Source Sans Pro, Segoe UI, Helvetica Neue, Arial, sans-serif"
BASE_FONT_SIZE = 16
PRESENT_FONT_SIZE = 22
TEMPLATE_NAME = "rmdash"


def rag_label(rag: str | None) -> str:
    """'✔ Green', '▲ Amber', '✖ Red' or '– no data': the text that always sits beside a RAG colour."""
    if rag is None or (isinstance(rag, float) and math.isnan(rag)) or rag not in RAG_WORDS:
        return NO_RAG
    return f"{RAG_ICONS[rag]} {RAG_WORDS[rag]}"


def vendor_colors(vendors: Iterable[str]) -> dict[str, str]:
    """A stable colour per vendor: by position in the sorted list of every vendor in the store.

    Pass the store's full vendor list (not the filtered one) so that filtering
    never recolours a vendor. Beyond the palette's length colours repeat; the
    legend and hover text always name the vendor.
    """
    ordered = sorted({str(v) for v in vendors if v is not None}, key=str.casefold)
    return {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(ordered)}


def color_for(name: str, colors: dict[str, str]) -> str:
    """The colour of ``name`` in ``colors``; a hash-stable palette colour for a name not in it."""
    if name in colors:
        return colors[name]
    digest = hashlib.sha256(str(name).casefold().encode("utf-8")).digest()
    return OKABE_ITO[digest[0] % len(OKABE_ITO)]


def _template(font_size: int) -> go.layout.Template:
    axis = {
        "showgrid": True,
        "gridcolor": "#E5E5E5",
        "zeroline": False,
        "linecolor": "#444444",
        "ticks": "outside",
        "title": {"standoff": 8},
        "automargin": True,
    }
    return go.layout.Template(
        layout={
            "font": {"family": FONT_FAMILY, "size": font_size, "color": "#1A1A1A"},
            "title": {
                "font": {"size": round(font_size * 1.25)},
                "x": 0.0,
                "xanchor": "left",
                "xref": "paper",
                "y": 0.985,
                "yanchor": "top",
                "yref": "container",
            },
            "colorway": list(OKABE_ITO),
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "xaxis": axis,
            "yaxis": axis,
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0.0, "title": {"text": ""}},
            "hoverlabel": {"font": {"size": font_size}},
            "margin": {"l": 10, "r": 10, "t": 95, "b": 10},
        }
    )


pio.templates[TEMPLATE_NAME] = _template(BASE_FONT_SIZE)


def apply_presentation(fig: go.Figure) -> go.Figure:
    """Enlarge a figure's fonts for a meeting-room screen (returns the same figure)."""
    fig.update_layout(
        font={"size": PRESENT_FONT_SIZE},
        title={"font": {"size": round(PRESENT_FONT_SIZE * 1.3)}},
        hoverlabel={"font": {"size": PRESENT_FONT_SIZE}},
    )
    return fig
