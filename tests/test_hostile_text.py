"""Hostile text from uploads is shown as plain text everywhere: pages, charts, the QBR deck, downloads.

Vendor names, RM names, survey comments and ticket descriptions come from
files users upload. Here they carry HTML, <script>, Markdown, Streamlit
Markdown directives (:red[...], $LaTeX$), Plotly hover placeholders (%{y}),
spreadsheet formulas (=, +, -, @) and a 2,000-character name. The store is the
demo data (rmdash.demo) with those names put in, imported through the real
importer. Then:

- every page (AppTest): no element that renders Markdown (text, headings,
  captions, alerts, widget and metric labels, help, expanders, tabs) shows a
  hostile fragment unescaped, and the names do reach the screen;
- every Plotly figure: no raw tag from user text (Plotly renders <b>, <a>,
  <br>... in labels and hovers) and no user text inside a hover template;
- the QBR deck: text only in plain runs, no formula and no formula-looking
  text in a chart's embedded workbook, no link; its PDF's HTML escapes all;
- downloads (CSV, XLSX): formula-looking text neutralised, no formula cells;
- the code: no page passes anything but a constant to unsafe_allow_html / st.html.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hardening import markdown_texts, unsafe_fragments
from pptx import Presentation
from streamlit.testing.v1 import AppTest

from rmdash import exports, store
from rmdash.demo import demo_frames, write_demo_workbook
from rmdash.importer import import_files
from rmdash.model import ImportOptions
from rmdash.qbr import build_qbr_content, write_pptx
from rmdash.qbr_pdf import render_html

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
END_MONTH = "2026-09"

VENDORS = {
    "Northwind Contact Solutions": '<script>alert("nw")</script> **Northwind** <img src=x onerror=alert(1)>',
    "Helix Back Office Services": '=HYPERLINK("http://evil.example/h","Helix") %{y} [Helix](javascript:alert(2))',
    "Bluepeak IT Services": '+Bluepeak :red[IT] $x^2$ <a href="http://evil.example">Services</a>',
    "Greenfield Facilities Management": "@Greenfield " + "very long vendor name " * 90 + "<u>end</u>",
}
RM_TEMPLATES = [
    "{} <b>bold</b>",
    "-{}|cmd",
    "{} _under_ *star* `code`",
    "{} <iframe src=//evil.example>",
    "{} :blue[rm] ~~gone~~",
]
COMMENT = "=cmd|' /C calc'!A0 <script>c()</script> **loud** :green[ok] "
DESCRIPTION = "@SUM(1,1) <img src=y onerror=z()> "

# Fragments that must never reach a Markdown renderer, or a Plotly label, unescaped.
MARKDOWN_TOKENS = [
    "<script>",
    "<img src=",
    "**Northwind**",
    "[Helix](javascript",
    ":red[IT]",
    "$x^2$",
    "<a href=",
    "<b>bold</b>",
    "_under_",
    "*star*",
    "`code`",
    "<iframe",
    ":blue[rm]",
    "~~gone~~",
    "<u>end</u>",
    "**loud**",
    ":green[ok]",
]
TAG_TOKENS = ["<script", "<img", "<a href", "<b>bold", "<iframe", "<u>end"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ---------------------------------------------------------------- the hostile store


def hostile_frames() -> dict:
    frames = demo_frames(7, END_MONTH)
    rms = sorted({rm for f in frames.values() if "rm" in f.columns for rm in f["rm"].dropna()})
    rm_names = {rm: RM_TEMPLATES[i % len(RM_TEMPLATES)].format(rm) for i, rm in enumerate(rms)}
    for frame in frames.values():
        frame["vendor"] = frame["vendor"].map(VENDORS)
        if "rm" in frame.columns:
            frame["rm"] = frame["rm"].map(rm_names, na_action="ignore")
    surveys = frames["surveys"]
    surveys["comment"] = surveys["comment"].map(lambda c: COMMENT + c, na_action="ignore")
    tickets = frames["tickets"]
    # a fifth of the tickets (every vendor, RM and month still there) keeps the import quick
    frames["tickets"] = tickets.iloc[::5].assign(description=DESCRIPTION + tickets["description"].fillna(""))
    return frames


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    db = tmp / "hostile.duckdb"
    workbook = write_demo_workbook(hostile_frames(), tmp / "hostile.xlsx")
    import_files(db, [workbook], ImportOptions(who="hostile"))
    return db


@pytest.fixture
def app_db(hostile_db, tmp_path, monkeypatch) -> Path:
    path = tmp_path / "store.duckdb"
    shutil.copyfile(hostile_db, path)
    monkeypatch.setenv("RMDASH_DB", str(path))
    yield path
    store.close_shared()


# ---------------------------------------------------------------- pages


def html_elements(at: AppTest) -> list[str]:
    return [node.proto.body for node in at._tree if getattr(node, "type", "") == "html"]


def run_page(page: str, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    at.run()
    if page != "portfolio":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def unescaped(text: str) -> str:
    return text.replace("\\", "")


PAGES = ["portfolio", "vendor", "rms", "upload", "data", "how", "settings"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_hostile_names_and_comments_as_plain_text(app_db, page):
    at = run_page(page)
    texts = markdown_texts(at)
    assert unsafe_fragments(texts, MARKDOWN_TOKENS) == []
    from app_pages.shell import PRESENT_CSS

    assert all(body == PRESENT_CSS for body in html_elements(at))


@pytest.mark.parametrize("vendor", list(VENDORS.values()), ids=list(VENDORS))
def test_the_vendor_page_of_each_hostile_vendor_shows_its_name_escaped(app_db, vendor):
    at = run_page("vendor", focus=vendor)
    texts = markdown_texts(at)
    assert unsafe_fragments(texts, MARKDOWN_TOKENS) == []
    # the name did reach a Markdown element (escaped), so the check above was not vacuous
    assert any(unescaped(vendor)[:40] in unescaped(text) for _, text in texts), "name not on screen"


def test_the_rm_page_with_a_hostile_rm_chosen_stays_plain(app_db):
    con = store.open_store(app_db, read_only=True)
    try:
        vendor, rm = con.execute(
            "SELECT vendor, rm FROM tickets WHERE rm LIKE '%<b>bold</b>%' LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    at = run_page("rms", vendor=vendor, rm=rm)
    texts = markdown_texts(at)
    assert unsafe_fragments(texts, MARKDOWN_TOKENS) == []
    assert any("<b>bold</b>" in unescaped(text) for _, text in texts), "the RM's name is on screen, escaped"


def test_a_hostile_file_name_and_hostile_cells_on_the_upload_page_stay_plain(app_db):
    name = "**up** <img src=x onerror=alert(9)> [x](javascript:y) :red[f].csv"
    rows = [
        ["Ticket ID", "Vendor", "Type", "Opened", "Description"],
        ["H-1", "<script>alert(3)</script>", "Incident", "2026-09-01 09:00", "**loud** <b>bold</b>"],
        ["H-2", "=1+1", "Incident", "not a date <img src=q>", "x"],
    ]
    data = "\r\n".join(",".join(r) for r in rows).encode()
    at = run_page("upload")
    at.file_uploader(key="uploader_0").set_value((name, data, "text/csv")).run()
    assert not at.exception
    texts = markdown_texts(at)
    assert unsafe_fragments(texts, MARKDOWN_TOKENS) == []
    assert any("up** <img" in unescaped(t) for _, t in texts), "the file name is on screen, escaped"


# ---------------------------------------------------------------- charts


def figure_strings(at: AppTest) -> list[tuple[str, str]]:
    """(JSON path, string) of every string in every Plotly figure on screen."""
    out = []

    def walk(value, path):
        if isinstance(value, str):
            out.append((path, value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for i, chart in enumerate(at.get("plotly_chart")):
        walk(json.loads(chart.proto.spec), f"fig{i}")
    return out


@pytest.mark.parametrize("page", ["portfolio", "vendor", "rms"])
def test_charts_show_hostile_names_as_text_and_never_inside_a_template(app_db, page):
    at = run_page(page, grain="quarter")
    strings = figure_strings(at)
    assert strings, "the page drew figures"
    raw = [(p, s[:100]) for p, s in strings for t in TAG_TOKENS if t in s]
    assert raw == [], "a tag from user text reaches Plotly's label renderer"
    templates = [
        (p, s) for p, s in strings if p.endswith(("hovertemplate", "texttemplate")) and "%{y} [Helix]" in s
    ]
    assert templates == [], "user text inside a hover template would be read as placeholders"
    assert any("&lt;" in s or "Bluepeak" in s or "Helix" in s for _, s in strings), "names are in the figures"


# ---------------------------------------------------------------- the QBR deck


def quarter_of_latest(db: Path, vendor: str) -> str:
    con = store.open_store(db, read_only=True)
    try:
        (latest,) = con.execute("SELECT max(opened_at) FROM tickets WHERE vendor = ?", [vendor]).fetchone()
    finally:
        con.close()
    return f"{latest.year}-Q{(latest.month - 1) // 3 + 1}"


@pytest.fixture(scope="module")
def decks(hostile_db):
    """QBR content and PowerPoint bytes for the vendors whose names are HTML and a formula."""
    out = {}
    con = store.open_store(hostile_db, read_only=True)
    try:
        for original in ("Northwind Contact Solutions", "Helix Back Office Services"):
            vendor = VENDORS[original]
            content = build_qbr_content(con, vendor, quarter_of_latest(hostile_db, vendor))
            out[original] = (content, write_pptx(content))
    finally:
        con.close()
    return out


def test_the_deck_keeps_hostile_text_in_plain_runs_without_links(decks):
    for original, (_, data) in decks.items():
        deck = Presentation(io.BytesIO(data))
        texts = []
        for slide in deck.slides:
            external = [r.target_ref for r in slide.part.rels.values() if r.is_external]
            assert external == [], f"{original}: a slide links to {external}"
            for shape in slide.shapes:
                if shape.has_text_frame:
                    texts.append(shape.text_frame.text)
                if shape.has_table:
                    texts += [cell.text for row in shape.table.rows for cell in row.cells]
        assert any(VENDORS[original][:30] in t for t in texts), (
            f"{original}: the name is on the slides as typed"
        )
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            xml = "".join(
                package.read(n).decode("utf-8", "replace") for n in package.namelist() if n.endswith(".xml")
            )
        assert "<script>" not in xml and "javascript:" not in xml.replace("javascript:alert(2))", "")


def test_the_decks_chart_workbooks_hold_no_formula_and_no_formula_looking_text(decks):
    checked = 0
    for original, (_, data) in decks.items():
        deck = Presentation(io.BytesIO(data))
        for slide in deck.slides:
            for shape in slide.shapes:
                if not shape.has_chart:
                    continue
                book = openpyxl.load_workbook(io.BytesIO(shape.chart.part.chart_workbook.xlsx_part.blob))
                for sheet in book.worksheets:
                    for row in sheet.iter_rows():
                        for cell in row:
                            assert cell.data_type != "f", (original, cell.coordinate, cell.value)
                            if isinstance(cell.value, str):
                                assert not cell.value.startswith(FORMULA_START), (original, cell.value)
                checked += 1
    assert checked >= 2, "the decks carry charts"


def test_the_deck_as_pdf_html_escapes_every_hostile_fragment(decks):
    for original, (content, _) in decks.items():
        html = render_html(content)
        for token in ("<script>alert", "<img src=x", '<a href="http://evil', "<b>bold</b>", "<iframe"):
            assert token not in html, (original, token)
        assert "&lt;script&gt;" in html or "HYPERLINK" in html


# ---------------------------------------------------------------- downloads


def test_downloads_of_hostile_rows_neutralise_formulas_and_hold_no_formula_cells(hostile_db):
    con = store.open_store(hostile_db, read_only=True)
    try:
        # every ticket carries the hostile description: 3,000 of them make the point
        frames = {
            kind: store.current_rows(con, kind).head(3000) for kind in ("surveys", "tickets", "contracts")
        }
    finally:
        con.close()
    for kind, frame in frames.items():
        rows = list(csv.reader(io.StringIO(exports.to_csv_bytes(frame).decode("utf-8-sig"))))
        for row in rows[1:]:
            for cell in row:
                if cell.startswith(FORMULA_START):
                    float(cell)  # only a number may start with - or +; text would raise here
        assert any(c.startswith("'=") for row in rows for c in row) or kind == "tickets", kind
        book = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx_bytes(frame, kind)))
        sheet = book.active
        assert not sheet._hyperlinks, kind
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (kind, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_START), (kind, cell.value)


def test_the_data_pages_downloads_are_the_neutralised_ones(app_db):
    from rmdash import views
    from rmdash.filters import Filters

    with store.shared_cursor(app_db) as cur:
        view = views.data_view(cur, Filters(), kind="surveys")
    made = {name: make() for name, (make, _, _) in view.downloads.items()}
    text = next(v for v in made.values() if not v.startswith(b"PK")).decode("utf-8-sig")
    assert "'=cmd|" in text and "\n=cmd" not in text and ",=cmd" not in text


# ---------------------------------------------------------------- the code


def _constant_names(tree: ast.Module) -> set[str]:
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_no_page_passes_anything_but_a_constant_to_unsafe_html():
    files = [REPO / "app.py", *sorted((REPO / "app_pages").glob("*.py"))]
    findings = []
    for path in files:
        tree = ast.parse(path.read_text("utf-8"))
        constants = _constant_names(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            unsafe = name == "html" or any(
                k.arg == "unsafe_allow_html"
                and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in node.keywords
            )
            if not unsafe:
                continue
            first = node.args[0] if node.args else None
            is_constant = isinstance(first, ast.Constant) or (
                isinstance(first, ast.Name) and first.id in constants
            )
            if not is_constant:
                findings.append(f"{path.name}:{node.lineno}")
    assert findings == [], f"user text could reach raw HTML at {findings}"
    assert not re.search(r"components\.v1|components\.html", "".join(p.read_text() for p in files))


def test_a_file_name_with_dot_dot_slashes_is_saved_inside_the_sessions_folder_only(app_db, tmp_path):
    import tempfile

    escape = f"rmdash-escape-{tmp_path.name}.csv"
    targets = [Path(tempfile.gettempdir()) / escape, Path(tempfile.gettempdir()).parent / escape]
    at = run_page("upload")
    data = b"Ticket ID,Vendor,Type,Opened\r\nP-1,Acme,Incident,2026-09-01 09:00\r\n"
    at.file_uploader(key="uploader_0").set_value((f"../../{escape}", data, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not any(t.exists() for t in targets), "an upload's name became a path outside its folder"
    saved = list(Path(at.session_state["_upload_dir"]).iterdir())
    assert [p.name.endswith(escape) for p in saved] == [True]
