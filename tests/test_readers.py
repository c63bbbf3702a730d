"""Reading untrusted files into text cells: encodings, delimiters, row numbers, ids as text, preview."""

from __future__ import annotations

import datetime as dt
import hashlib

import filebuilders as fb
import pytest

from rmdash.readers import open_sheets, preview_sheets, sha256_file

ROWS = [
    ["Title row"],
    [],
    ["Ticket ID", "Vendor", "Note"],
    ["0012", "Zürich AG", "café €5"],
    ["13", "Acme", "ok"],
]


def cells(path):
    (sheet,) = open_sheets(path)
    return sheet


def test_sha256_of_a_file_is_the_hash_of_its_bytes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert sha256_file(path) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


@pytest.mark.parametrize(
    ("delimiter", "encoding", "bom"),
    [
        (",", "utf-8", False),
        (",", "utf-8", True),
        (";", "cp1252", False),
        ("\t", "utf-8", False),
        ("\t", "utf-16", False),  # Excel's "Unicode text": UTF-16 with BOM, tab separated
        ("|", "utf-8", False),
    ],
)
def test_csv_delimiter_and_encoding_are_recognised(tmp_path, delimiter, encoding, bom):
    path = fb.write_csv(tmp_path / "t.csv", ROWS, delimiter=delimiter, encoding=encoding, bom=bom)
    sheet = cells(path)
    assert sheet.name is None
    head = sheet.head(5)
    assert head[2] == ["Ticket ID", "Vendor", "Note"]
    assert head[3] == ["0012", "Zürich AG", "café €5"]


def test_csv_body_keeps_sheet_row_numbers_blank_lines_and_quoted_newlines(tmp_path):
    rows = [["Report"], ["Ticket ID", "Text"], ["1", "two\nlines"], [], ["2", "b"]]
    sheet = cells(fb.write_csv(tmp_path / "t.csv", rows, newline="\n"))
    table, first_row_no = sheet.rows_from(2)
    assert first_row_no == 3
    assert table.column(0).to_pylist() == ["1", "", "2"]
    assert table.column(1).to_pylist() == ["two\nlines", "", "b"]


def test_excel_sep_line_sets_the_delimiter(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sep=;\nTicket ID;Vendor\n1;Acme, Inc\n", encoding="utf-8")
    sheet = cells(path)
    assert sheet.head(3)[:2] == [["Ticket ID", "Vendor"], ["1", "Acme, Inc"]]


def test_a_ragged_csv_is_still_read_with_every_row_in_place(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "Ticket ID,Vendor,Type\n1,Acme,Incident\nTotal,1\n2,Acme,Request,extra\n", encoding="utf-8"
    )
    table, first_row_no = cells(path).rows_from(1)
    assert first_row_no == 2
    assert table.column(0).to_pylist() == ["1", "Total", "2"]
    assert table.column(3).to_pylist() == [None, None, "extra"]


def test_workbook_rows_keep_excel_row_numbers_even_with_leading_blank_rows(tmp_path):
    wb_rows = [
        [],
        [],
        ["Ticket ID", "Opened"],
        [1001, dt.datetime(2026, 1, 5, 13, 45)],
        [12345678901234, "x"],
    ]
    sheet = cells(fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": wb_rows}))
    assert sheet.name == "Tickets"
    head = sheet.head(5)
    assert head[2] == ["Ticket ID", "Opened"]
    table, first_row_no = sheet.rows_from(3)
    assert first_row_no == 4
    # ids stay text (no "1001.0"), real dates arrive as ISO text
    assert table.column(0).to_pylist() == ["1001", "12345678901234"]
    assert table.column(1).to_pylist()[0] == "2026-01-05 13:45:00"


def test_every_sheet_of_a_workbook_is_read_in_order(tmp_path):
    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows(), "Meetings": fb.meeting_rows()})
    assert [s.name for s in open_sheets(path)] == ["Tickets", "Meetings"]


def test_an_xlsm_is_read_as_data(tmp_path):
    path = fb.write_xlsx(tmp_path / "t.xlsm", {"Tickets": fb.ticket_rows()})
    assert open_sheets(path)[0].head(1)[0][0] == "Ticket ID"


def test_preview_gives_the_first_raw_rows_of_every_sheet_as_text_with_column_letters(tmp_path):
    rows = [["Acme export"], [None, "Ticket ID", "Opened"], [None, 7, dt.datetime(2026, 1, 5)]]
    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": rows, "Notes": [["hello"]]})
    preview = preview_sheets(path, n=2)
    assert list(preview) == ["Tickets", "Notes"]
    frame = preview["Tickets"]
    assert list(frame.columns) == ["A", "B", "C"]
    assert frame.values.tolist() == [["Acme export", "", ""], ["", "Ticket ID", "Opened"]]


def test_preview_of_a_csv_is_keyed_none(tmp_path):
    path = fb.write_csv(tmp_path / "t.csv", ROWS)
    preview = preview_sheets(path, n=3)
    assert list(preview) == [None]
    assert preview[None].iloc[2].tolist() == ["Ticket ID", "Vendor", "Note"]
