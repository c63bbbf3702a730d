"""A corpus of files that must never be parsed into data: each is refused with one line saying what to do.

The files are built by the tests (tests/filebuilders.py): zip bombs and
billion-laughs XML by hand with zipfile, encrypted workbooks with
msoffcrypto, a real legacy .xls with xlwt.
"""

from __future__ import annotations

import filebuilders as fb
import pytest

from rmdash.model import ImportOptions, ImportRefused
from rmdash.plan import plan_file
from rmdash.readers import open_sheets, preview_sheets


def refusal(path, **kw) -> str:
    with pytest.raises(ImportRefused) as caught:
        plan_file(path, ImportOptions(**kw))
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert len(message) < 300
    return message


BAD_FILES = {
    # name: (builder taking tmp_path, words the message must contain)
    "empty file": (lambda t: (t / "empty.csv").write_bytes(b"") and None or t / "empty.csv", ["empty"]),
    "zip bomb (one part 1000:1)": (fb.zip_bomb_xlsx, ["zip bomb"]),
    "zip with a lying size header": (fb.lying_size_zip_xlsx, ["zip bomb"]),
    "zip with too many parts": (fb.many_entries_xlsx, ["parts"]),
    "billion laughs in sharedStrings.xml": (fb.billion_laughs_xlsx, ["DTD", "not imported"]),
    "external entity in a sheet": (fb.external_entity_xlsx, ["DTD"]),
    "password-protected workbook": (fb.encrypted_xlsx, ["password-protected", "remove the password"]),
    "legacy .xls": (fb.legacy_xls, ["legacy .xls", "save as .xlsx"]),
    "truncated workbook": (fb.truncated_xlsx, ["damaged or truncated"]),
    "damaged sheet XML": (fb.broken_sheet_xlsx, ["damaged"]),
    "Word document": (fb.docx_file, ["Word document"]),
    "OpenDocument spreadsheet": (fb.ods_file, [".ods", "save as .xlsx"]),
    "random bytes named .csv": (lambda t: fb.random_bytes(t / "data.csv"), ["not"]),
    "random bytes named .xlsx": (lambda t: fb.random_bytes(t / "data.xlsx"), ["not"]),
    "prose in a .csv": (lambda t: fb.prose_csv(t / "notes.csv"), ["no recognisable header"]),
    "PDF named .xlsx": (lambda t: fb.pdf_file(t / "report.xlsx"), ["PDF"]),
    "HTML page saved as .xls": (lambda t: fb.html_as_xls(t / "export.xls"), ["HTML"]),
    "image": (lambda t: fb.png_file(t / "chart.png"), ["image"]),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_each_bad_file_is_refused_with_one_line_saying_what_to_do(tmp_path, name):
    builder, words = BAD_FILES[name]
    path = builder(tmp_path)
    message = refusal(path)
    for word in words:
        assert word in message, message


def test_the_corpus_covers_at_least_twelve_kinds_of_bad_file():
    assert len(BAD_FILES) >= 12


def test_a_dtd_is_refused_before_any_spreadsheet_parser_runs(tmp_path, monkeypatch):
    import fastexcel

    def must_not_run(*args, **kwargs):
        raise AssertionError("fastexcel reached an unsafe file")

    monkeypatch.setattr(fastexcel, "read_excel", must_not_run)
    with pytest.raises(ImportRefused):
        open_sheets(fb.billion_laughs_xlsx(tmp_path))


def test_a_zip_bomb_is_refused_from_the_zip_directory_without_unpacking(tmp_path, monkeypatch):
    import zipfile

    path = fb.zip_bomb_xlsx(tmp_path)

    def must_not_read(*args, **kwargs):
        raise AssertionError("a part was unpacked")

    monkeypatch.setattr(zipfile.ZipFile, "read", must_not_read)
    monkeypatch.setattr(zipfile.ZipFile, "open", must_not_read)
    with pytest.raises(ImportRefused, match="zip bomb"):
        open_sheets(path)


def test_the_preview_runs_the_same_safety_checks(tmp_path):
    with pytest.raises(ImportRefused, match="DTD"):
        preview_sheets(fb.billion_laughs_xlsx(tmp_path))


def test_a_csv_with_only_a_header_gives_an_empty_plan_with_a_warning(tmp_path):
    path = fb.write_csv(tmp_path / "tickets.csv", [fb.TICKET_HEADER])
    plan = plan_file(path, ImportOptions())
    sheet = plan.sheets[0]
    assert sheet.kind == "tickets"
    assert len(sheet.rows) == 0 and len(sheet.rejected) == 0
    assert "no data rows below the header" in sheet.warnings
    assert list(sheet.rows.columns)[-1] == "row_no"


def test_a_workbook_whose_sheets_are_all_unrecognisable_is_refused(tmp_path):
    path = fb.write_xlsx(
        tmp_path / "misc.xlsx", {"Notes": [["hello"], ["world"]], "Sheet2": [["a", "b"], [1, 2]]}
    )
    message = refusal(path)
    assert "no recognisable header in any sheet" in message


def test_an_empty_workbook_is_refused_as_having_no_data(tmp_path):
    path = fb.write_xlsx(tmp_path / "blank.xlsx", {"Sheet1": []})
    assert "has no data" in refusal(path)


def test_a_hostile_display_name_is_only_a_label_and_stays_on_one_line(tmp_path):
    path = fb.prose_csv(tmp_path / "upload.csv")
    name = "../../etc/passwd\n<script>alert(1)</script>.csv"
    with pytest.raises(ImportRefused) as caught:
        plan_file(path, ImportOptions(), display_name=name)
    message = str(caught.value)
    assert "\n" not in message
    assert not (tmp_path.parent.parent / "etc").exists()


def test_a_hostile_display_name_never_becomes_a_path(tmp_path):
    path = fb.write_csv(tmp_path / "upload.bin", fb.ticket_rows())
    plan = plan_file(path, ImportOptions(), display_name="../../x<b>.csv")
    assert plan.path == str(path)
    assert plan.file_name == "../../x<b>.csv"
    assert len(plan.sheets[0].rows) == 3
