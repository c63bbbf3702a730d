"""The raw archive keeps every upload's bytes, except the macros of a macro-enabled workbook."""

from __future__ import annotations

import io
import zipfile

import filebuilders as fb

from rmdash import store
from rmdash.archive import has_macros, without_macros
from rmdash.importer import import_files
from rmdash.model import ImportOptions


def xlsm_with_macros(path):
    """A real workbook with a VBA project part added, named .xlsm."""
    fb.write_xlsx(path.with_suffix(".tmp.xlsx"), {"Tickets": fb.ticket_rows()})
    with (
        zipfile.ZipFile(path.with_suffix(".tmp.xlsx")) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 pretend VBA: Sub AutoOpen() Shell(...)")
    return path


def test_an_xlsm_is_imported_as_data_and_archived_without_its_macros(tmp_path):
    path = xlsm_with_macros(tmp_path / "pack.xlsm")
    db = tmp_path / "s.duckdb"

    [summary] = import_files(db, [path], ImportOptions())

    assert summary.new == 3
    con = store.open_store(db, read_only=True)
    archived = store.read_archived_file(con, summary.sha256)
    con.close()
    names = zipfile.ZipFile(io.BytesIO(archived)).namelist()
    assert "xl/vbaProject.bin" not in names
    assert "xl/worksheets/sheet1.xml" in names  # the data is all still there
    assert has_macros(path.read_bytes()) and not has_macros(archived)


def test_files_without_macros_are_archived_byte_for_byte(tmp_path):
    path = fb.write_xlsx(tmp_path / "pack.xlsx", {"Tickets": fb.ticket_rows()})
    content = path.read_bytes()
    assert without_macros(content) is content
    assert without_macros(b"Ticket ID,Vendor\n") == b"Ticket ID,Vendor\n"
