"""The QBR deck: built from demo data, read back with python-pptx, numbers equal to the KPI engine's."""

from __future__ import annotations

import io
import math

import kpi_fixtures as kf
import openpyxl
import pandas as pd
import pytest
from demo_store import demo_copy
from pptx import Presentation
from pptx.util import Inches

from rmdash import cli, qbr, store, theme
from rmdash.db import memory_db, open_db
from rmdash.demo import demo_stories
from rmdash.explain import failing_rows
from rmdash.kpi import Filters, compute_kpis
from rmdash.model import RmdashError
from rmdash.movement import movement
from rmdash.rules import load_rules

END_MONTH = "2026-09"  # the demo window ends here: 2026-Q3 is its last complete quarter
VENDOR = "Helix Back Office Services"  # the sliding vendor: red in 2026-Q3, a late process change
PERIOD = "2026-Q3"
HOSTILE_VENDOR = '=HYPERLINK("http://x","y")<script>alert(1)</script>'
HOSTILE_COMMENT = "=cmd|' /C calc'!A0 <b>bold</b> \x07bell"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return demo_copy(tmp_path_factory.mktemp("qbr") / "demo.duckdb", END_MONTH)


@pytest.fixture(scope="module")
def con(db):
    c = open_db(db, read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def table(con):
    return compute_kpis(con, "quarter", cache=False)


@pytest.fixture(scope="module")
def content(con):
    return qbr.build_qbr_content(con, VENDOR, PERIOD)


@pytest.fixture(scope="module")
def deck(content):
    return Presentation(io.BytesIO(qbr.write_pptx(content)))


def _pick(frame: pd.DataFrame, vendor=VENDOR, rm=None, period=PERIOD) -> pd.DataFrame:
    rm_match = frame["rm"].isna() if rm is None else frame["rm"] == rm
    return frame[(frame["vendor"] == vendor) & rm_match & (frame["period"] == period)]


def _charts(slide) -> list:
    return [shape.chart for shape in slide.shapes if shape.has_chart]


def _tables(slide) -> list[list[list[str]]]:
    out = []
    for shape in slide.shapes:
        if shape.has_table:
            t = shape.table
            out.append([[t.cell(i, j).text for j in range(len(t.columns))] for i in range(len(t.rows))])
    return out


def _texts(slide) -> str:
    return "\n".join(shape.text_frame.text for shape in slide.shapes if shape.has_text_frame)


def _series(chart) -> dict[str, tuple]:
    return {s.name: tuple(s.values) for s in chart.plots[0].series}


def _close(a, b) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# ---------------------------------------------------------------- slides and titles


def test_the_deck_is_16_9_with_a_slide_per_part_and_titles_in_order(deck, content):
    assert deck.slide_width * 9 == deck.slide_height * 16 and deck.slide_height == Inches(7.5)
    titles = [s.shapes.title.text for s in deck.slides]
    labels = [c.label for c in load_rules().components.values()]
    assert len(titles) == 4 + len(labels) + 3 == 13
    assert titles[0] == f"{VENDOR}: quarterly business review 2026-Q3"
    assert titles[1:4] == [
        "Headline 2026-Q3",
        "What moved the score, 2026-Q2 → 2026-Q3",
        "Component scores, last four quarters",
    ]
    for title, label in zip(titles[4:10], labels, strict=True):
        assert title.startswith(f"{label}: ")
    assert titles[10:] == ["Stakeholder surveys", "Re-pricing and change notices", "Agreed actions"]
    assert titles == qbr.slide_titles(content)


def test_the_title_slide_names_the_vendor_quarter_rms_date_and_the_upload_it_reflects(con, deck, content):
    text = _texts(deck.slides[0])
    assert VENDOR in text and "2026-Q3 (1 Jul – 30 Sep 2026)" in text
    assert "Relationship managers: Daniel Osei, Marta Kowalska, Sofia Lind" in text
    assert f"Prepared {content.generated_on:%-d %B %Y}" in text
    newest = max(b.batch_id for b in store.list_batches(con) if b.active)
    assert f"Data as of upload batch {newest} (rmdash-demo.xlsx / " in text


def test_the_headline_shows_composite_rag_word_change_and_money_from_the_engine(deck, table):
    now = _pick(table.composite).iloc[0]
    before = _pick(table.composite, period="2026-Q2").iloc[0]
    text = _texts(deck.slides[1])
    assert f"{now['composite']:.1f}" in text
    assert now["rag"] == "red" and "✖ Red" in text
    assert (
        f"{now['composite'] - before['composite']:+.1f} points vs 2026-Q2 ({before['composite']:.1f})" in text
    )
    assert f"Service credit EUR {now['service_credit']:,.0f} of EUR {now['at_risk']:,.0f} at risk" in text
    (scorecard,) = _tables(deck.slides[1])
    comps = _pick(table.components).set_index("component")
    assert scorecard[0] == ["Component", "Weight", "2026-Q2", "2026-Q3", "Change", "RAG"]
    assert scorecard[1][3] == f"{comps.at['governance', 'score']:.1f}"


# ---------------------------------------------------------------- chart values = KPI engine


def test_the_waterfall_is_a_native_chart_whose_parts_are_the_engines_contributions(deck, table):
    (chart,) = _charts(deck.slides[2])
    series = _series(chart)
    parts = movement(table, VENDOR, None, PERIOD)
    parts = parts[parts["level"] == "component"]
    categories = list(chart.plots[0].categories)
    assert categories[0] == "2026-Q2" and categories[-1] == "2026-Q3"
    assert len(categories) == len(parts) + 2
    signed = [
        (up or 0.0) - (down or 0.0)
        for up, down in zip(series["Increase"][1:-1], series["Decrease"][1:-1], strict=True)
    ]
    assert signed == pytest.approx(list(parts["contribution"]), abs=1e-9)
    start = _pick(table.composite, period="2026-Q2")["composite"].iloc[0]
    end = _pick(table.composite)["composite"].iloc[0]
    assert series["Composite"][0] == pytest.approx(start) and series["Composite"][-1] == pytest.approx(end)
    assert sum(signed) == pytest.approx(end - start)
    # each floating bar rests on the lower of the levels before and after it
    levels = start + pd.Series([0.0, *signed]).cumsum()
    assert list(series["Base"][1:-1]) == pytest.approx(
        [min(a, b) for a, b in zip(levels[:-1], levels[1:], strict=True)]
    )


def test_component_and_trend_charts_carry_the_engines_scores_for_four_quarters(deck, table):
    bars, line = _charts(deck.slides[3])
    quarters = ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    rules = load_rules()
    assert list(bars.plots[0].categories) == [c.label for c in rules.components.values()]
    series = _series(bars)
    assert list(series) == quarters
    for quarter in quarters:
        comps = _pick(table.components, period=quarter).set_index("component")
        expected = [comps.at[name, "score"] if name in comps.index else None for name in rules.components]
        for got, want in zip(series[quarter], expected, strict=True):
            assert _close(got, want), (quarter, got, want)
    assert list(line.plots[0].categories) == quarters
    composite = [_pick(table.composite, period=q)["composite"].iloc[0] for q in quarters]
    assert list(_series(line)["Composite"]) == pytest.approx(composite)


def test_the_component_and_trend_charts_are_in_the_vendors_colour(deck, table):
    color = theme.color_for(VENDOR, theme.vendor_colors(table.composite["vendor"].unique()))
    bars, line = _charts(deck.slides[3])
    newest = bars.plots[0].series[3]
    assert str(newest.format.fill.fore_color.rgb) == color.lstrip("#").upper()
    assert str(line.plots[0].series[0].format.line.color.rgb) == color.lstrip("#").upper()
    oldest = bars.plots[0].series[0]
    assert str(oldest.format.fill.fore_color.rgb) == qbr.tint(color, 0.3 + 0.7 / 4).lstrip("#")


# ---------------------------------------------------------------- component slides


def test_each_component_slide_lists_its_metrics_with_value_n_target_score_and_low_sample(deck, table):
    rules = load_rules()
    metrics = _pick(table.metrics).set_index("metric")
    for slide, comp in zip(list(deck.slides)[4:10], rules.components.values(), strict=True):
        metric_table = _tables(slide)[0]
        assert metric_table[0] == ["Metric", "Value", "n", "Target", "Floor", "Score", "Note"]
        for row, m in zip(metric_table[1:], rules.metrics_of(comp.name), strict=True):
            r = metrics.loc[m.name]
            assert row[0] == m.label
            assert row[1] == qbr.format_value(r["value"], m.format)
            assert row[2] == f"{int(r['n']):,}"
            assert row[3] == qbr.format_value(m.target, m.format)
            assert row[5].startswith(f"{r['score']:.1f}")
            assert (row[6] == theme.LOW_SAMPLE) == (0 < r["n"] < rules.low_sample_n)
    # Helix's one change notice this quarter: n = 1 is a low sample
    communication = _tables(deck.slides[9])[0]
    assert communication[1][2] == "1" and communication[1][6] == theme.LOW_SAMPLE


def test_component_slides_list_the_worst_items_from_explain(con, deck):
    rules = load_rules()
    where = Filters(vendor=VENDOR, period=PERIOD)
    late = failing_rows(con, rules.metrics["response_on_time"], rules, "quarter", where)
    not_held = failing_rows(con, rules.metrics["meetings_held_on_time"], rules, "quarter", where)
    items = _tables(deck.slides[5])[1]  # responsiveness: metric, item, detail
    assert items[0] == ["Metric", "Item", "Detail"]
    listed = [row[1] for row in items[1:] if row[0] == "Response on time"]
    assert listed == list(late["ticket_id"].head(len(listed))) and listed
    governance = _tables(deck.slides[4])[1]
    meetings = [row[1] for row in governance[1:] if row[0] == "Meetings held on time"]
    assert meetings == list(not_held["meeting_id"].head(len(meetings))) and meetings
    assert f"answered late or never: {len(late):,}" in _texts(deck.slides[5])


# ---------------------------------------------------------------- surveys, notices, actions


def test_the_survey_slide_charts_question_scores_and_quotes_comments(con, deck, content):
    (chart,) = _charts(deck.slides[10])
    rows = store.current_rows(con, "surveys", vendors=[VENDOR])
    rows = rows[
        (rows["survey_date"] >= pd.Timestamp("2026-07-01"))
        & (rows["survey_date"] < pd.Timestamp("2026-10-01"))
    ]
    scale = rows["scale_max"] - rows["scale_min"]
    expected = [100 * ((rows[q] - rows["scale_min"]) / scale).mean() for q in ("overall", "communication")]
    assert list(chart.plots[0].series[0].values[:2]) == pytest.approx(expected)
    text = _texts(deck.slides[10])
    assert f"{len(rows)} responses this quarter." in text
    assert content.survey.comments and all(f"“{c.text}”" in text for c in content.survey.comments)


def test_the_notices_slide_shows_notice_given_against_required(con):
    stories = demo_stories(END_MONTH)
    quarter = qbr.quarter_of(str(stories.late_pricing_month))
    c = qbr.build_qbr_content(con, stories.late_pricing_vendor, quarter)
    header, rows = qbr.notice_rows(c)
    deck = Presentation(io.BytesIO(qbr.write_pptx(c)))
    (table,) = _tables(deck.slides[11])
    assert (
        table[0]
        == list(header)
        == [
            "Type",
            "Ref",
            "RM",
            "Announced",
            "Effective",
            "Notice given",
            "Required",
            "Result",
        ]
    )
    pricing = [r for r in table[1:] if r[0] == "Pricing"]
    assert len(pricing) == 1
    short = 182 - stories.late_pricing_notice_days
    assert pricing[0][5:] == [f"{stories.late_pricing_notice_days} days", "182 days", f"✖ {short} days short"]
    later = [r for r in table[1:] if r[-1].endswith("(effective later)")]
    assert later, "a change announced this quarter that takes effect later is listed too"


def test_the_agreed_actions_slide_is_an_empty_table_to_fill_in(deck):
    (table,) = _tables(deck.slides[12])
    assert table[0] == list(qbr.ACTION_COLUMNS)
    assert [row[0] for row in table[1:]] == [str(i) for i in range(1, qbr.ACTION_ROWS + 1)]
    assert all(cell == "" for row in table[1:] for cell in row[1:])


# ---------------------------------------------------------------- look and templates


def test_the_default_look_uses_the_apps_font_and_palette(deck):
    font = theme.FONT_FAMILY.split(",")[0].strip()
    title_run = deck.slides[1].shapes.title.text_frame.paragraphs[0].runs[0]
    assert title_run.font.name == font
    tables = [s for s in deck.slides[12].shapes if s.has_table]
    header_cell = tables[0].table.cell(0, 1)
    assert str(header_cell.fill.fore_color.rgb) == theme.OKABE_ITO[0].lstrip("#")


def _template(path) -> None:
    """A 4:3-ish template with its own slide size, theme name and fonts, a named layout and one old slide."""
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(11), Inches(6)
    layouts = prs.slide_layouts
    layouts[5].name = "rmdash content"  # normally "Title Only"
    title = layouts[5].placeholders[0]  # the layout's own title position, kept by the deck
    title.left, title.top, title.width, title.height = Inches(1.5), Inches(0.3), Inches(8), Inches(0.8)
    old = prs.slides.add_slide(layouts[1])
    old.shapes.title.text = "An old slide that must go"
    from pptx.opc.constants import RELATIONSHIP_TYPE as RT

    theme_part = prs.slide_masters[0].part.part_related_by(RT.THEME)
    xml = theme_part.blob.decode("utf-8")
    xml = xml.replace('name="Office Theme"', 'name="Acme Theme"').replace(
        '<a:latin typeface="Calibri"/>', '<a:latin typeface="Georgia"/>'
    )
    theme_part._blob = xml.encode("utf-8")
    prs.save(path)


def test_a_users_template_gives_its_size_theme_and_layouts_and_loses_its_old_slides(tmp_path, content):
    path = tmp_path / "acme.pptx"
    _template(path)
    deck = Presentation(io.BytesIO(qbr.write_pptx(content, template=path)))
    assert (deck.slide_width, deck.slide_height) == (Inches(11), Inches(6))
    titles = [s.shapes.title.text for s in deck.slides]
    assert titles == qbr.slide_titles(content) and "An old slide that must go" not in titles
    assert [s.slide_layout.name for s in deck.slides][1:] == ["rmdash content"] * 12
    assert deck.slides[0].slide_layout.name == "Title Slide"
    from pptx.opc.constants import RELATIONSHIP_TYPE as RT

    theme_xml = deck.slide_masters[0].part.part_related_by(RT.THEME).blob.decode("utf-8")
    assert 'name="Acme Theme"' in theme_xml and 'typeface="Georgia"' in theme_xml
    # the template's fonts apply: runs carry no font of their own
    assert deck.slides[1].shapes.title.text_frame.paragraphs[0].runs[0].font.name is None
    title = deck.slides[1].shapes.title
    assert (title.left, title.top, title.width) == (Inches(1.5), Inches(0.3), Inches(8))
    # every shape the deck adds stays on the template's (smaller) slide; placeholders are the template's
    for slide in deck.slides:
        for shape in (s for s in slide.shapes if not s.is_placeholder):
            assert shape.left + shape.width <= deck.slide_width + 1, (slide.shapes.title.text, shape.name)
            assert shape.top + shape.height <= deck.slide_height + 1, (slide.shapes.title.text, shape.name)


def test_a_template_without_the_named_layouts_falls_back_to_the_office_ones(tmp_path, content):
    path = tmp_path / "plain.pptx"
    Presentation().save(path)
    deck = Presentation(io.BytesIO(qbr.write_pptx(content, template=path)))
    assert [s.slide_layout.name for s in deck.slides][:2] == ["Title Slide", "Title Only"]


def test_a_file_that_is_not_a_deck_is_refused_as_a_template(tmp_path, content):
    path = tmp_path / "notes.pptx"
    path.write_text("not a presentation")
    with pytest.raises(RmdashError, match="cannot use notes.pptx as a template"):
        qbr.write_pptx(content, template=path)


# ---------------------------------------------------------------- hostile text, RM level, errors


@pytest.fixture
def hostile_con():
    con = memory_db()
    for i in range(6):
        kf.meeting(con, vendor=HOSTILE_VENDOR, rm="@SUM(A1)", scheduled_date=f"2026-0{7 + i % 3}-0{i + 1}")
    kf.survey(
        con,
        vendor=HOSTILE_VENDOR,
        rm="@SUM(A1)",
        survey_date="2026-08-10",
        overall=2.0,
        comment=HOSTILE_COMMENT,
    )
    kf.meeting(con, vendor=HOSTILE_VENDOR, rm="@SUM(A1)", scheduled_date="2026-05-02", held_date="2026-05-02")
    yield con
    con.close()


def test_hostile_vendor_and_comment_text_is_stored_as_plain_text(hostile_con):
    c = qbr.build_qbr_content(hostile_con, HOSTILE_VENDOR, PERIOD)
    data = qbr.write_pptx(c)
    deck = Presentation(io.BytesIO(data))
    assert deck.slides[0].shapes.title.text == f"{HOSTILE_VENDOR}: quarterly business review 2026-Q3"
    assert "RM: @SUM(A1)" in _texts(deck.slides[0]) or "manager: @SUM(A1)" in _texts(deck.slides[0])
    survey = _texts(deck.slides[10])
    assert "“=cmd|' /C calc'!A0 <b>bold</b> bell”" in survey  # the bell control character is dropped
    xml = deck.slides[0].shapes.title._element.xml
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in xml and "<script>" not in xml
    for slide in deck.slides:  # chart data is a spreadsheet too: nothing in it is a formula
        for chart in _charts(slide):
            book = openpyxl.load_workbook(io.BytesIO(chart.part.chart_workbook.xlsx_part.blob))
            for row in book.worksheets[0].iter_rows():
                assert all(cell.data_type != "f" for cell in row)


def test_an_rm_deck_uses_that_rms_numbers_and_leaves_money_to_the_vendor(con, table):
    c = qbr.build_qbr_content(con, VENDOR, PERIOD, rm="Sofia Lind")
    row = _pick(table.composite, rm="Sofia Lind").iloc[0]
    assert c.headline.composite == pytest.approx(row["composite"])
    assert c.rms == ("Sofia Lind",)
    assert c.headline.service_credit is None and "vendor-level deck" in c.headline.money_text
    deck = Presentation(io.BytesIO(qbr.write_pptx(c)))
    assert deck.slides[0].shapes.title.text == f"{VENDOR} / Sofia Lind: quarterly business review 2026-Q3"
    (bars, _) = _charts(deck.slides[3])
    comps = _pick(table.components, rm="Sofia Lind").set_index("component")
    assert _close(_series(bars)["2026-Q3"][0], comps.at["governance", "score"])


@pytest.mark.parametrize(
    ("vendor", "period", "rm", "message"),
    [
        ("Nobody Ltd", PERIOD, None, "no data for vendor 'Nobody Ltd'; vendors with data: Bluepeak"),
        (VENDOR, "2024-Q1", None, f"{VENDOR} has no data in 2024-Q1; quarters with data: 2025-Q2 to 2026-Q3"),
        (VENDOR, "2026-09", None, "period must look like 2026-Q3"),
        (VENDOR, PERIOD, "Nobody", f"{VENDOR} has no RM 'Nobody'; its RMs: Daniel Osei"),
    ],
)
def test_a_deck_for_something_without_data_is_one_clear_error(con, vendor, period, rm, message):
    with pytest.raises(RmdashError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) as err:
        qbr.build_qbr_content(con, vendor, period, rm=rm)
    assert "\n" not in str(err.value)


def test_quarter_of_turns_a_month_into_its_quarter():
    assert qbr.quarter_of("2026-09") == "2026-Q3"
    assert qbr.quarter_of("2026-10") == "2026-Q4"
    assert qbr.quarter_of("2026-Q1") == "2026-Q1"


# ---------------------------------------------------------------- command line


def test_the_qbr_command_writes_the_deck(db, tmp_path, capsys):
    out = tmp_path / "helix.pptx"
    code = cli.main(["qbr", "--vendor", VENDOR, "--period", PERIOD, "--out", str(out), "--db", str(db)])
    assert code == 0, capsys.readouterr().err
    assert str(out) in capsys.readouterr().out
    deck = Presentation(str(out))
    assert len(deck.slides) == 13


def test_the_qbr_command_refuses_an_unknown_format_and_a_missing_database(db, tmp_path, capsys):
    code = cli.main(
        ["qbr", "--vendor", VENDOR, "--period", PERIOD, "--out", str(tmp_path / "x.docx"), "--db", str(db)]
    )
    assert code == 2
    assert "--out must end in .pptx or .pdf" in capsys.readouterr().err
    code = cli.main(
        [
            "qbr",
            "--vendor",
            VENDOR,
            "--period",
            PERIOD,
            "--out",
            str(tmp_path / "x.pptx"),
            "--db",
            str(tmp_path / "none.duckdb"),
        ]
    )
    assert code == 2
    assert "there is no database" in capsys.readouterr().err
    assert not (tmp_path / "x.pptx").exists()


# ---------------------------------------------------------------- dashboard buttons


def test_the_dashboard_buttons_make_the_quarters_deck_only_when_clicked(db, monkeypatch):
    opened = []

    def connect():
        opened.append(1)
        return open_db(db, read_only=True)

    monkeypatch.setattr("rmdash.qbr_pdf.pdf_available", lambda: False)
    files = qbr.qbr_downloads(connect, VENDOR, "2026-09")  # a month of the page: its quarter's deck
    assert list(files) == ["Download QBR deck 2026-Q3 (PowerPoint)"]  # no PDF without chromium
    make, name, mime = files["Download QBR deck 2026-Q3 (PowerPoint)"]
    assert name == "qbr-Helix-Back-Office-Services-2026-Q3.pptx" and mime == qbr.PPTX_MIME
    assert opened == []  # nothing is made (or opened) before the click
    deck = Presentation(io.BytesIO(make()))
    assert deck.slides[0].shapes.title.text == f"{VENDOR}: quarterly business review 2026-Q3"
    assert opened == [1]
    monkeypatch.setattr("rmdash.qbr_pdf.pdf_available", lambda: True)
    files = qbr.qbr_downloads(connect, VENDOR, PERIOD, rm="Sofia Lind")
    assert [n for _, n, _ in files.values()] == [
        "qbr-Helix-Back-Office-Services-Sofia-Lind-2026-Q3.pptx",
        "qbr-Helix-Back-Office-Services-Sofia-Lind-2026-Q3.pdf",
    ]


def test_a_first_quarter_without_surveys_or_notices_still_makes_every_slide_and_says_why():
    con = memory_db()
    try:
        for day in range(1, 6):
            kf.meeting(
                con, vendor="Acme", rm="Rita", scheduled_date=f"2026-07-0{day}", held_date=f"2026-07-0{day}"
            )
        c = qbr.build_qbr_content(con, "Acme", PERIOD)
        deck = Presentation(io.BytesIO(qbr.write_pptx(c)))
    finally:
        con.close()
    assert [s.shapes.title.text for s in deck.slides] == qbr.slide_titles(c)
    assert c.headline.composite == pytest.approx(100.0) and c.data_as_of == "no active upload"
    assert "No composite in 2026-Q2: nothing to compare with." in _texts(deck.slides[2])
    assert not _charts(deck.slides[2])
    assert "No survey responses this quarter." in _texts(deck.slides[10])
    assert "No change notices this quarter." in _texts(deck.slides[11])
    assert "No contract uploaded for this vendor" in _texts(deck.slides[1])
    (bars, line) = _charts(deck.slides[3])
    assert _series(line)["Composite"] == (None, None, None, 100.0)
