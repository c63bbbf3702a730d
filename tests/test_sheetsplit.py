"""A large sheet read in two parts at once gives exactly what reading it whole gives, or falls back."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

import fastexcel
import openpyxl
import pyarrow.compute as pc
import pytest
import xlsxwriter
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rmdash import readahead, readers, sheetsplit
from rmdash.readers import text_table


@pytest.fixture
def split_everything(monkeypatch, tmp_path):
    """Split sheets of any size, with temp parts under tmp_path (so the test sees them cleaned up)."""
    monkeypatch.setattr(sheetsplit, "SPLIT_MIN_BYTES", 0)
    parts = tmp_path / "parts"
    parts.mkdir()
    monkeypatch.setattr(sheetsplit.tempfile, "tempdir", str(parts))
    return parts


def whole_read(path: Path, sheet: int = 0):
    return text_table(readahead.load_text_sheet(fastexcel.read_excel(str(path)), sheet))


def messy_rows(n: int) -> list[list]:
    """Title rows, a header, data with dates, numbers, blanks and text, and a block of blank rows."""
    rows: list[list] = [["Ticket export"], [], ["id", "vendor", "opened", "score", "note"]]
    for i in range(n):
        if n // 2 <= i < n // 2 + 7:
            rows.append([])  # blank rows in the middle, where a cut may fall
            continue
        rows.append(
            [
                f"T{i:05d}",
                "Acme & Co <b>" if i % 3 else "  ",
                datetime(2026, 1 + i % 12, 1 + i % 28, i % 24, 30),
                i * 1.5 if i % 5 else None,
                f"note {i}" if i % 7 else "",
            ]
        )
    return rows


def write_xlsxwriter(path: Path, rows: list[list], constant_memory: bool, start_col: int = 0) -> Path:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
    sheet = book.add_worksheet("R&D tickets")
    dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write_datetime(r, start_col + c, value, dates)
            elif value is not None:
                sheet.write(r, start_col + c, value)
        if r > len(rows) * 3 // 4:
            sheet.write(r, start_col + 8, "late column")  # a column only the second part has
    book.close()
    return path


def write_openpyxl(path: Path, rows: list[list]) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "First"
    book.active.append(["small"])
    sheet = book.create_sheet("Data")
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


@pytest.fixture
def parts_read(monkeypatch):
    """(first filled row, rows) of each part calamine parsed, in the order they finished."""
    seen = []
    real = sheetsplit._parse

    def spy(path, sheet_name, into):
        real(path, sheet_name, into)
        seen.append((first_filled_row(into.batch), into.batch.num_rows))

    monkeypatch.setattr(sheetsplit, "_parse", spy)
    return seen


def first_filled_row(batch) -> int:
    """0-based index of the first row with a value (a part holds every row from Excel row 1)."""
    firsts = [pc.index(pc.is_valid(column), True).as_py() for column in batch.columns]
    return min((i for i in firsts if i >= 0), default=batch.num_rows)


@pytest.mark.parametrize("share", [0.05, 0.3, 0.5, 0.55, 0.8, 0.97])
@pytest.mark.parametrize("chunk", [4096, 1024 * 1024], ids=["small chunks", "one chunk"])
@pytest.mark.parametrize("constant_memory", [True, False], ids=["inline strings", "shared strings"])
def test_a_split_read_equals_the_whole_read_wherever_the_cut_falls(
    tmp_path, split_everything, parts_read, monkeypatch, share, chunk, constant_memory
):
    monkeypatch.setattr(sheetsplit, "FIRST_PART_SHARE", share)
    monkeypatch.setattr(sheetsplit, "_CHUNK", chunk)
    path = write_xlsxwriter(tmp_path / "t.xlsx", messy_rows(3000), constant_memory, start_col=1)

    split = sheetsplit.read_split(path, "R&D tickets")

    assert split is not None
    table, letters = split
    expected_table, expected_letters = whole_read(path)
    assert letters == expected_letters
    assert table.equals(expected_table)
    # the cut fell near the share: both parts hold rows
    (first_start, first_rows), (second_start, second_rows) = sorted(parts_read)
    assert first_start == 0 and first_rows > 0 and second_rows > second_start > 0
    assert abs(second_start / table.num_rows - share) < 0.05
    assert list(split_everything.iterdir()) == []  # the parts are removed


def test_a_split_read_of_an_openpyxl_workbook_reads_the_named_sheet(tmp_path, split_everything, parts_read):
    path = write_openpyxl(tmp_path / "o.xlsx", messy_rows(2000))

    table, letters = sheetsplit.read_split(path, "Data")

    assert sorted(parts_read)[1][0] > 1000  # cut past the middle, in the named sheet's rows

    expected_table, expected_letters = whole_read(path, sheet=1)
    assert letters == expected_letters
    assert table.equals(expected_table)


# a 1x1 PNG: a picture in the workbook, which the parts leave blank
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_other_sheets_and_pictures_are_not_copied_into_the_parts_yet_every_sheet_reads_the_same(
    tmp_path, split_everything, parts_read
):
    import io

    path = tmp_path / "two.xlsx"
    book = xlsxwriter.Workbook(str(path))
    other = book.add_worksheet("Meetings")
    for r in range(300):
        other.write_row(r, 0, [f"M{r}", "QBR", r])
    other.insert_image("E2", "dot.png", {"image_data": io.BytesIO(_PNG)})
    data = book.add_worksheet("Tickets")
    for r, row in enumerate(messy_rows(1500)):
        for c, value in enumerate(row):
            if value is not None and not isinstance(value, datetime):
                data.write(r, c, value)
    data.insert_image("H3", "dot.png", {"image_data": io.BytesIO(_PNG)})
    book.close()

    table, letters = sheetsplit.read_split(path, "Tickets")

    assert len(parts_read) == 2
    expected_table, expected_letters = whole_read(path, sheet=1)
    assert letters == expected_letters
    assert table.equals(expected_table)
    with zipfile.ZipFile(path) as original:
        parts = sheetsplit._other_parts(original, "xl/worksheets/sheet2.xml")
    assert parts["xl/worksheets/sheet1.xml"] == sheetsplit._EMPTY_SHEET  # the other sheet, emptied
    assert all(data == b"" for name, data in parts.items() if name.startswith("xl/media/"))
    assert any(name.startswith("xl/media/") for name in parts)


def test_a_sheet_below_the_size_threshold_is_read_whole(tmp_path):
    path = write_xlsxwriter(tmp_path / "t.xlsx", messy_rows(200), constant_memory=True)

    assert sheetsplit.read_split(path, "R&D tickets") is None


def test_nothing_below_the_cut_gives_the_first_part_alone(tmp_path, split_everything, monkeypatch):
    # the only row past the share is blank: the whole read ends with the last row that has cells
    monkeypatch.setattr(sheetsplit, "FIRST_PART_SHARE", 0.999)
    path = write_xlsxwriter(tmp_path / "t.xlsx", [*messy_rows(1000), []], constant_memory=True)
    _rewrite_sheet(path, lambda xml: xml.replace(b"</sheetData>", b'<row r="5000"/></sheetData>'))

    split = sheetsplit.read_split(path, "R&D tickets")

    assert split is not None
    assert split[0].equals(whole_read(path)[0])


def _rewrite_sheet(path: Path, change) -> None:
    """Rewrite the first worksheet's XML of a workbook in place."""
    with zipfile.ZipFile(path) as book:
        entries = {info.filename: book.read(info) for info in book.infolist()}
    entries["xl/worksheets/sheet1.xml"] = change(entries["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in entries.items():
            book.writestr(name, data)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda xml: re.sub(rb'<row r="\d+"', b"<row", xml), id="rows without numbers"),
        pytest.param(
            lambda xml: re.sub(rb"<(/?)(?!\?)([A-Za-z]+)", rb"<\1x:\2", xml).replace(
                b"<x:worksheet ",
                b'<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ',
            ),
            id="namespace prefix",
        ),
        pytest.param(
            # the sheet's last row moved to the top: a row of the first part lies past the cut
            lambda xml: re.sub(
                rb"(<sheetData>)(.*)(<row [^>]*>(?:(?!<row ).)*</row>)(</sheetData>)",
                rb"\1\3\2\4",
                xml,
                flags=re.S,
            ),
            id="a row of the first part past the cut",
        ),
        pytest.param(
            # the sheet's first data rows moved to the end: a row of the second part lies above the cut
            lambda xml: re.sub(
                rb"(<sheetData>(?:<row [^>]*>(?:(?!<row ).)*</row>){3})((?:<row [^>]*>(?:(?!<row ).)*</row>){5})(.*)(</sheetData>)",
                rb"\1\3\2\4",
                xml,
                flags=re.S,
            ),
            id="a row of the second part above the cut",
        ),
    ],
)
def test_an_unusual_sheet_xml_is_read_whole(tmp_path, split_everything, change):
    path = write_xlsxwriter(tmp_path / "t.xlsx", messy_rows(1000), constant_memory=True)
    _rewrite_sheet(path, change)

    assert sheetsplit.read_split(path, "R&D tickets") is None


def test_a_chart_sheet_or_unknown_name_is_read_whole(tmp_path, split_everything):
    path = tmp_path / "chart.xlsx"
    book = xlsxwriter.Workbook(str(path))
    data = book.add_worksheet("Data")
    data.write_column(0, 0, list(range(50)))
    chart = book.add_chart({"type": "line"})
    chart.add_series({"values": "=Data!$A$1:$A$50"})
    book.add_chartsheet("Trend").set_chart(chart)
    book.close()

    assert sheetsplit.read_split(path, "Trend") is None  # a chart sheet has no rows
    assert sheetsplit.read_split(path, "No such sheet") is None
    assert sheetsplit.read_split(path, "Data") is not None  # the same workbook's worksheet does split


def test_open_sheets_reads_a_large_sheet_in_parts_and_types_the_same_rows(
    tmp_path, split_everything, monkeypatch
):
    path = write_xlsxwriter(tmp_path / "t.xlsx", messy_rows(2000), constant_memory=True)
    splits = []
    real = sheetsplit.read_split
    monkeypatch.setattr(sheetsplit, "read_split", lambda *a: splits.append(real(*a)) or splits[-1])

    [sheet] = readers.open_sheets(path)
    table, _ = sheet.rows_from(0)

    assert len(splits) == 1 and splits[0] is not None  # read in parts, not whole
    assert table.equals(whole_read(path)[0])


def test_a_part_calamine_cannot_read_falls_back_to_the_whole_read(tmp_path, split_everything, monkeypatch):
    path = write_xlsxwriter(tmp_path / "t.xlsx", messy_rows(500), constant_memory=True)

    def broken(path, sheet_name, into):
        into.error = RuntimeError("calamine: damaged part")

    monkeypatch.setattr(sheetsplit, "_parse", broken)
    [sheet] = readers.open_sheets(path)

    assert sheet.rows_from(0)[0].equals(whole_read(path)[0])


# ------------------------------------------------------------------ property

_cells = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(
        ['<row r="1">', "</sheetData>", "&amp;", "  ", "x"]
    ),  # tags as text: escaped by the writer
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
)
_rows = st.lists(st.lists(_cells, max_size=7), min_size=1, max_size=120)


@example(rows=[["0"], [None, None, "0"]], share=0.625, constant_memory=False, start_col=0).via(
    "found in CI: column B empty in both parts, each part's columns narrower than the sheet's"
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=_rows,
    share=st.floats(0.01, 0.99),
    constant_memory=st.booleans(),
    start_col=st.integers(0, 3),
)
def test_any_sheet_reads_the_same_split_or_whole(
    tmp_path_factory, monkeypatch, rows, share, constant_memory, start_col
):
    monkeypatch.setattr(sheetsplit, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(sheetsplit, "FIRST_PART_SHARE", share)
    monkeypatch.setattr(sheetsplit, "_CHUNK", 512)  # many chunk boundaries, even in a small sheet
    path = tmp_path_factory.mktemp("prop") / "p.xlsx"
    write_xlsxwriter(path, rows, constant_memory, start_col=start_col)

    split = sheetsplit.read_split(path, "R&D tickets")

    event("split" if split is not None else "read whole")
    if split is not None:  # None: no row tag past the share, read whole (the caller's path)
        table, letters = split
        expected_table, expected_letters = whole_read(path)
        assert letters == expected_letters
        assert table.equals(expected_table)
