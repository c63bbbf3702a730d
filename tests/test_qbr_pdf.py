"""The QBR PDF: the deck's content printed by headless Chromium, one page per slide, charts drawn."""

from __future__ import annotations

import io
import shutil
import subprocess

import kpi_fixtures as kf
import numpy as np
import pytest
from demo_store import demo_copy
from PIL import Image
from plotly.offline import get_plotlyjs
from pypdf import PdfReader

from rmdash import cli, qbr, qbr_pdf, theme
from rmdash.db import memory_db, open_db
from rmdash.kpi import compute_kpis
from rmdash.model import RmdashError

END_MONTH = "2026-09"
VENDOR = "Northwind Contact Solutions"  # the improving vendor: green with a bonus in 2026-Q3
PERIOD = "2026-Q3"
HOSTILE_VENDOR = '=HYPERLINK("http://x","y")<script>alert(1)</script>'

needs_chromium = pytest.mark.skipif(
    not qbr_pdf.pdf_available(), reason="chromium is not installed: run scripts/ensure-chromium.sh"
)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return demo_copy(tmp_path_factory.mktemp("qbr-pdf") / "demo.duckdb", END_MONTH)


@pytest.fixture(scope="module")
def content(db):
    con = open_db(db, read_only=True)
    try:
        yield qbr.build_qbr_content(con, VENDOR, PERIOD)
    finally:
        con.close()


@pytest.fixture(scope="module")
def pdf(db, tmp_path_factory):
    """The PDF as the command line writes it."""
    if not qbr_pdf.pdf_available():
        pytest.skip("chromium is not installed: run scripts/ensure-chromium.sh")
    out = tmp_path_factory.mktemp("qbr-pdf-out") / "northwind.pdf"
    code = cli.main(["qbr", "--vendor", VENDOR, "--period", PERIOD, "--out", str(out), "--db", str(db)])
    assert code == 0
    return out


def _page_text(reader: PdfReader, i: int) -> str:
    return " ".join(reader.pages[i].extract_text().split())


@needs_chromium
def test_the_pdf_opens_with_one_16_9_page_per_slide(pdf, content):
    reader = PdfReader(pdf)
    assert len(reader.pages) == len(qbr.slide_titles(content)) == 13
    for page in reader.pages:
        box = page.mediabox
        assert (round(float(box.width)), round(float(box.height))) == (960, 540)  # 13.333 in × 7.5 in


@needs_chromium
def test_every_page_shows_its_slides_title_and_the_numbers_of_the_kpi_engine(db, pdf, content):
    reader = PdfReader(pdf)
    for i, title in enumerate(qbr.slide_titles(content)):
        assert title in _page_text(reader, i), (i, title)
    con = open_db(db, read_only=True)
    try:
        table = compute_kpis(con, "quarter", vendor=VENDOR, period=PERIOD, cache=False)
    finally:
        con.close()
    row = table.composite[table.composite["rm"].isna()].iloc[0]
    headline = _page_text(reader, 1)
    assert f"{row['composite']:.1f}" in headline
    assert theme.rag_label(row["rag"]) in headline
    assert f"bonus GBP {row['bonus']:,.0f}" in headline
    header, rows = qbr.scorecard_rows(content)  # the same rows as the deck's headline table
    for cells in rows:
        assert " ".join(cells[:5]) in headline
    notices = _page_text(reader, 11)
    for cells in qbr.notice_rows(content)[1]:
        assert cells[1] in notices


@needs_chromium
def test_a_chart_page_renders_to_a_picture_that_is_not_blank(pdf, content, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed: run scripts/ensure-chromium.sh")
    subprocess.run(
        ["pdftoppm", "-f", "4", "-l", "4", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True
    )
    (png,) = tmp_path.glob("page*.png")
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (450, 800)
    assert pixels.std() > 20  # not a blank page
    # the trend page's bars and line are drawn in the vendor's colour
    vendor = np.array([int(content.color[i : i + 2], 16) for i in (1, 3, 5)])
    near = (np.abs(pixels - vendor).sum(axis=2) < 40).sum()
    assert near > 500


def test_without_chromium_the_pdf_is_one_clear_error(content, monkeypatch):
    monkeypatch.setattr(qbr_pdf.shutil, "which", lambda name: None)
    with pytest.raises(
        RmdashError, match="the PDF needs the chromium browser, which is not installed"
    ) as err:
        qbr_pdf.write_pdf(content)
    assert "\n" not in str(err.value)


def test_a_template_is_refused_for_a_pdf(db, tmp_path, capsys):
    template = tmp_path / "t.pptx"
    template.write_bytes(b"")
    out = tmp_path / "x.pdf"
    args = ["qbr", "--vendor", VENDOR, "--period", PERIOD, "--out", str(out), "--template", str(template)]
    assert cli.main([*args, "--db", str(db)]) == 2
    assert "--template applies to .pptx decks only" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture
def hostile_content():
    con = memory_db()
    for i in range(5):
        kf.meeting(
            con, vendor=HOSTILE_VENDOR, rm="<img src=x onerror=alert(2)>", scheduled_date=f"2026-08-0{i + 1}"
        )
    kf.survey(
        con,
        vendor=HOSTILE_VENDOR,
        survey_date="2026-08-10",
        overall=4.0,
        comment="</p><script>alert(3)</script>",
    )
    try:
        yield qbr.build_qbr_content(con, HOSTILE_VENDOR, PERIOD)
    finally:
        con.close()


def test_hostile_text_is_escaped_in_the_pdf_page(hostile_content):
    page = qbr_pdf.render_html(hostile_content)
    for raw in ("<script>alert(1)</script>", "<img src=x", "<script>alert(3)</script>", "</p><script>"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/p&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in page
    # offline: plotly.js is inline and nothing else refers to the network
    assert get_plotlyjs() in page
    ours = page.replace(get_plotlyjs(), "")
    assert 'src="http' not in ours and 'href="http' not in ours and "<script src" not in ours


@needs_chromium
def test_hostile_text_is_printed_as_text(hostile_content):
    reader = PdfReader(io.BytesIO(qbr_pdf.write_pdf(hostile_content)))
    assert HOSTILE_VENDOR in _page_text(reader, 0)
    assert "</p><script>alert(3)</script>" in _page_text(reader, 10)


def test_a_sparse_quarter_renders_every_page_with_its_reasons():
    con = memory_db()
    try:
        for day in range(1, 6):
            kf.meeting(con, vendor="Acme", scheduled_date=f"2026-07-0{day}", held_date=f"2026-07-0{day}")
        c = qbr.build_qbr_content(con, "Acme", PERIOD)
    finally:
        con.close()
    page = qbr_pdf.render_html(c)
    assert page.count('<section class="slide') == len(qbr.slide_titles(c)) == 13
    for reason in (
        "No composite in 2026-Q2: nothing to compare with.",
        "No survey responses this quarter.",
        "No change notices this quarter.",
    ):
        assert reason in page
