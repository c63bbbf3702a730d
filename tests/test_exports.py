"""Downloads never carry a runnable formula: hostile text is neutralised, numbers stay numbers."""

from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest

from rmdash import exports

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "@SUM(A1)",
    "+1",
    "-2+3",
    "\tcmd",
    "\rcmd",
    "<script>alert(1)</script>",
]
NEUTRALISED = [
    '\'=HYPERLINK("http://x","y")',
    "'@SUM(A1)",
    "'+1",
    "'-2+3",
    "'\tcmd",
    "'\rcmd",
    "<script>alert(1)</script>",  # not formula-like: kept as it is (a spreadsheet shows it as text)
]


@pytest.fixture
def hostile() -> pd.DataFrame:
    n = len(HOSTILE)
    return pd.DataFrame(
        {
            "text": pd.Series(HOSTILE, dtype="str"),
            "mixed": pd.Series([-5, "=1+1", None, 2.5, "ok", "-x", float("nan")], dtype=object),
            "amount": [-1.5, -2.0, 0.0, 3.25, -100.0, 7.0, -0.5],
            "count": list(range(-3, n - 3)),
        }
    )


def _xlsx_cells(data: bytes, sheet: str | None = None) -> list[list[openpyxl.cell.Cell]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book[sheet] if sheet else book.worksheets[0]
    return [list(row) for row in ws.iter_rows()]


def test_formula_like_text_gets_an_apostrophe_and_other_cells_stay_as_they_were(hostile):
    out = exports.neutralise(hostile)
    assert list(out["text"]) == NEUTRALISED
    assert out["mixed"].iloc[0] == -5 and isinstance(out["mixed"].iloc[0], int)
    assert out["mixed"].iloc[1] == "'=1+1"
    assert out["mixed"].iloc[2] is None
    assert out["mixed"].iloc[3] == 2.5
    assert out["mixed"].iloc[5] == "'-x"
    pd.testing.assert_series_equal(out["amount"], hostile["amount"])
    assert list(hostile["text"]) == HOSTILE  # the caller's frame is not changed


def test_no_xlsx_cell_is_a_formula_and_negative_numbers_stay_numeric(hostile):
    rows = _xlsx_cells(exports.to_xlsx_bytes(hostile, sheet="Rows"))
    header, body = rows[0], rows[1:]
    assert [c.value for c in header] == ["text", "mixed", "amount", "count"]
    for row in body:
        for cell in row:
            assert cell.data_type != "f", cell.value
    texts = [row[0].value for row in body]
    assert texts[:5] == NEUTRALISED[:5]
    assert texts[5] in ("'\rcmd", "'_x000D_cmd")  # the xlsx escape of a carriage return
    assert texts[6] == "<script>alert(1)</script>"
    for value in texts[:6]:
        assert value.startswith("'")
    amounts = [row[2] for row in body]
    assert [c.value for c in amounts] == [-1.5, -2.0, 0.0, 3.25, -100.0, 7.0, -0.5]
    assert all(c.data_type == "n" for c in amounts)
    counts = [row[3] for row in body]
    assert [c.value for c in counts] == [-3, -2, -1, 0, 1, 2, 3]
    assert all(c.data_type == "n" for c in counts)
    assert body[0][1].value == -5 and body[0][1].data_type == "n"


def test_a_url_is_written_as_text_not_a_hyperlink():
    data = exports.to_xlsx_bytes(pd.DataFrame({"link": ["http://evil.example/x"]}))
    book = openpyxl.load_workbook(io.BytesIO(data))
    cell = book.worksheets[0]["A2"]
    assert cell.value == "http://evil.example/x"
    assert cell.hyperlink is None


def test_the_csv_carries_the_prefixes_and_plain_numbers(hostile):
    data = exports.to_csv_bytes(hostile)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 right
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(rows) == 1 + len(HOSTILE)  # the carriage return inside a cell did not split its row
    assert rows[0] == ["text", "mixed", "amount", "count"]
    assert [r[0] for r in rows[1:]] == NEUTRALISED
    assert [r[2] for r in rows[1:]] == ["-1.5", "-2.0", "0.0", "3.25", "-100.0", "7.0", "-0.5"]
    assert [r[1] for r in rows[1:]] == ["-5", "'=1+1", "", "2.5", "ok", "'-x", ""]


def test_several_frames_become_sheets_with_names_excel_accepts():
    frames = {
        "KPIs: 2026/Q3?": pd.DataFrame({"a": [1]}),
        "kpis_ 2026_q3_": pd.DataFrame({"a": ["=2"]}),
        "A" * 40: pd.DataFrame({"a": [-3]}),
    }
    book = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx_bytes(frames)))
    assert book.sheetnames == ["KPIs_ 2026_Q3_", "kpis_ 2026_q3_ (2)", "A" * 31]
    assert book["kpis_ 2026_q3_ (2)"]["A2"].value == "'=2"
    assert book["A" * 31]["A2"].value == -3


def test_time_zone_aware_columns_are_written_as_utc():
    frame = pd.DataFrame({"at": pd.to_datetime(["2026-07-01 12:00"]).tz_localize("Europe/Berlin")})
    book = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx_bytes(frame)))
    assert str(book.worksheets[0]["A2"].value) == "2026-07-01 10:00:00"


def test_writing_a_csv_where_it_cannot_be_written_is_one_clear_error(tmp_path):
    with pytest.raises(exports.RmdashError, match="cannot write"):
        exports.write_csv(pd.DataFrame({"a": [1]}), tmp_path / "missing" / "x.csv")
