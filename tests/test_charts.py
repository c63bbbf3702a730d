"""Chart builders: pure functions of contract-shaped frames (no database, no streamlit)."""

from __future__ import annotations

import pandas as pd
import pytest

from rmdash import charts, theme

BANDS = {"green": 85.0, "amber": 70.0}


def _composite() -> pd.DataFrame:
    rows = [
        ("Acme", "2026-01", 90.0, "green"),
        ("Acme", "2026-02", 72.0, "amber"),
        ("Borealis", "2026-01", 60.0, "red"),
        ("Borealis", "2026-02", None, None),
    ]
    df = pd.DataFrame(rows, columns=["vendor", "period", "composite", "rag"])
    df["rm"] = None
    df["period_start"] = pd.to_datetime(df["period"] + "-01")
    return df


def test_every_vendor_keeps_its_colour_whatever_else_is_in_the_list():
    small = theme.vendor_colors(["Borealis", "Acme"])
    reordered = theme.vendor_colors(["Acme", "Borealis", "Acme"])
    assert small == reordered
    assert small["Acme"] != small["Borealis"]
    assert small["Acme"] == theme.OKABE_ITO[0]


def test_a_rag_status_is_always_written_with_a_word_and_an_icon():
    assert theme.rag_label("green") == "✔ Green"
    assert theme.rag_label("amber") == "▲ Amber"
    assert theme.rag_label("red") == "✖ Red"
    assert theme.rag_label(None) == theme.rag_label(float("nan")) == "– no data"


def test_composite_trend_draws_one_line_per_vendor_in_its_colour_with_rag_shapes():
    colors = theme.vendor_colors(["Acme", "Borealis"])
    fig = charts.composite_trend(_composite(), colors, BANDS)
    lines = {t.name: t for t in fig.data}
    assert set(lines) == {"Acme", "Borealis"}
    assert list(lines["Acme"].y) == [90.0, 72.0]
    assert list(lines["Borealis"].y) == [60.0]  # the period without a composite is not drawn
    assert lines["Acme"].line.color == colors["Acme"]
    assert list(lines["Acme"].marker.symbol) == ["circle", "triangle-up"]
    assert list(lines["Acme"].customdata) == ["✔ Green", "▲ Amber"]
    band_labels = {a.text for a in fig.layout.annotations}
    assert {"✔ Green", "▲ Amber", "✖ Red"} <= band_labels


def test_a_vendor_name_with_markup_is_shown_as_plain_text():
    df = _composite().assign(vendor="<b>Evil</b> & Co")
    fig = charts.composite_trend(df, {}, BANDS)
    assert fig.data[0].name == "&lt;b&gt;Evil&lt;/b&gt; &amp; Co"


def test_charts_with_no_rows_say_so_instead_of_drawing_an_empty_axis():
    fig = charts.composite_trend(_composite().iloc[0:0], {}, BANDS)
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == "No data for these filters"


def test_heatmap_writes_score_and_rag_icon_in_each_cell():
    comps = pd.DataFrame(
        {
            "vendor": ["Acme", "Acme", "Borealis"],
            "component": ["governance", "change", "governance"],
            "score": [90.4, 65.0, 75.0],
            "rag": ["green", "red", "amber"],
        }
    )
    fig = charts.component_heatmap(comps, {"governance": "Governance", "change": "Change"}, title="Scores")
    hm = fig.data[0]
    assert list(hm.x) == ["Governance", "Change"]  # the registry's component order
    assert list(hm.y) == ["Borealis", "Acme"]  # Acme drawn at the top
    text = {(y, x): hm.text[i][j] for i, y in enumerate(hm.y) for j, x in enumerate(hm.x)}
    assert text[("Acme", "Governance")] == "90 ✔"
    assert text[("Acme", "Change")] == "65 ✖"
    assert text[("Borealis", "Change")] == ""
    [no_data] = fig.data[1:]  # the empty cell says so: a blank reads as a gap on a shared screen
    assert (list(no_data.x), list(no_data.y), list(no_data.text)) == (["Change"], ["Borealis"], ["no data"])


def test_a_heatmap_with_every_cell_filled_writes_no_no_data():
    comps = pd.DataFrame({"vendor": ["Acme"], "component": ["governance"], "score": [90.0], "rag": ["green"]})
    assert len(charts.component_heatmap(comps, {"governance": "Governance"}, title="Scores").data) == 1


def test_waterfall_parts_add_up_from_start_to_end():
    parts = pd.DataFrame(
        {
            "label": ["2026-01", "Governance", "Coverage", "2026-02"],
            "value": [80.0, -6.0, 1.5, 75.5],
            "kind": ["start", "part", "part", "end"],
        }
    )
    fig = charts.movement_waterfall(parts, start_label="2026-01", end_label="2026-02", title="Why")
    wf = fig.data[0]
    assert list(wf.measure) == ["absolute", "relative", "relative", "total"]
    assert list(wf.text) == ["80.0", "-6.0", "+1.5", "75.5"]
    assert wf.y[0] + sum(wf.y[1:-1]) == pytest.approx(75.5)


def test_money_shows_credits_below_zero_and_bonus_above():
    df = pd.DataFrame(
        {
            "period": ["2026-Q1", "2026-Q2"],
            "period_start": pd.to_datetime(["2026-01-01", "2026-04-01"]),
            "service_credit": [1200.0, 0.0],
            "bonus": [0.0, 500.0],
        }
    )
    fig = charts.money(df, title="Money", currency="EUR")
    credit, bonus = fig.data
    assert list(credit.y) == [-1200.0, -0.0]
    assert list(bonus.y) == [0.0, 500.0]


def test_ranking_puts_the_best_on_top_and_writes_the_rag_word():
    df = pd.DataFrame(
        {
            "rm": ["Ann", "Bob"],
            "vendor": ["Acme", "Borealis"],
            "composite": [91.0, 66.0],
            "rag": ["green", "red"],
        }
    )
    fig = charts.ranking(
        df, label="rm", color_by="vendor", colors=theme.vendor_colors(["Acme", "Borealis"]), title="RMs"
    )
    bar = fig.data[0]
    assert list(bar.y) == ["Bob", "Ann"]  # plotly draws the last category at the top
    assert list(bar.text) == ["66.0 ✖ Red", "91.0 ✔ Green"]
    # a bar at 100 keeps "100.0 ✔ Green" on screen (it was cut off in presentation mode); ticks stop at 100
    assert fig.layout.xaxis.range[1] == charts.RANKING_AXIS_END > 130 and bar.cliponaxis is False
    assert list(fig.layout.xaxis.tickvals) == [0, 20, 40, 60, 80, 100]


def test_presentation_mode_enlarges_the_fonts():
    fig = charts.composite_trend(_composite(), {}, BANDS)
    theme.apply_presentation(fig)
    assert fig.layout.font.size == theme.PRESENT_FONT_SIZE > theme.BASE_FONT_SIZE
