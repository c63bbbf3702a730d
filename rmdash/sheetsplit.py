"""Reading one large worksheet on both cores: its XML split at a row boundary, the parts parsed at once.

Purpose: calamine parses a sheet on one core, and that parse is most of an
import's time (100k tickets: 0.55 s of about 0.75 s reading). A sheet's rows
are independent, so the sheet's XML is inflated once, cut at a ``<row``
tag past the middle, and each part is written as a small uncompressed
workbook next to a copy of the other parts of the file (shared strings,
styles); calamine parses the two at the same time (it releases the GIL) and
the two text tables are joined. Measured at 100k tickets: 0.70 s -> 0.52 s.

Contract: ``read_split`` gives exactly what reading the whole sheet gives
(same rows, Excel row i as row i-1, same columns by letter), or None when
the split does not apply, and the caller reads the sheet whole: a small
sheet, a chart sheet, a namespace prefix, a row without its ``r`` number,
rows out of order (a row of the first part past the cut, a cell of the
second part above it: the format requires ascending rows, and Excel calls
such a file damaged).

Boundary: stdlib at import time (the read-ahead thread starts before pyarrow
loads); fastexcel and pyarrow are loaded when a sheet is read. Only for a
workbook that passed rmdash.filesafety's checks: the parts are written by
this module from its bytes, in a private temporary directory removed after
the read.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

# Sheet XML below this is read whole: the split's fixed cost (copying the
# workbook's other parts, a second reader) is not worth it. 16 MiB is
# about 25k rows of 13 columns.
SPLIT_MIN_BYTES = 16 * 1024 * 1024
# Share of the sheet's XML in the first part. The first part is parsed while
# the second is still being inflated, so it gets a little more (measured
# best at 100k tickets among 0.5, 0.55, 0.6).
FIRST_PART_SHARE = 0.55
_CHUNK = 1024 * 1024
_PROLOG_LIMIT = 4 * 1024 * 1024  # the sheet's data must open within this
_SHEET_DATA = b"<sheetData>"
_CLOSE = b"</sheetData></worksheet>"
_EMPTY_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>'
)
_ROW_TAG = re.compile(rb"<row[ >][^>]*>")
_ROW_NUMBER = re.compile(rb"""\sr=["'](\d+)["']""")
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# fastexcel's load_sheet options for a sheet read as text, every row kept where Excel shows it
# (no header row: header detection is rmdash.detect's; rows are skipped by the caller only)
TEXT_SHEET_OPTIONS = {"header_row": None, "dtypes": "string", "whitespace_as_null": True}


@dataclass
class _Part:
    """One part's text table (still fastexcel's column names) and its columns' absolute indexes."""

    batch: object = None
    columns: list[int] | None = None
    error: BaseException | None = None


def read_split(path: str | Path, sheet_name: str) -> tuple[pa.Table, list[str]] | None:
    """The sheet read in two parts at once: (text table c0.., column letters), or None (read it whole).

    The same as load_sheet(**TEXT_SHEET_OPTIONS, skip_rows=0) of the whole
    sheet turned into a text table (rmdash.readers.text_table).
    """
    with zipfile.ZipFile(path) as book:
        entry = _sheet_entry(book, sheet_name)
        if entry is None or book.getinfo(entry).file_size < SPLIT_MIN_BYTES:
            return None
        with tempfile.TemporaryDirectory(prefix="rmdash-split-") as tmp:
            return _read_in_parts(book, entry, sheet_name, Path(tmp))


def _read_in_parts(book: zipfile.ZipFile, entry: str, sheet_name: str, tmp: Path):
    others = _other_parts(book, entry)
    with book.open(entry) as xml:
        cut = _write_first_part(xml, tmp / "first.xlsx", entry, others, book.getinfo(entry).file_size)
        if cut is None:
            return None
        prolog, rest, first_row = cut
        first = _Part()
        reader = threading.Thread(target=_parse, args=(tmp / "first.xlsx", sheet_name, first))
        reader.start()  # parsed while the rest is inflated, and while the second part is parsed
        second = _Part()
        try:
            _write_part(tmp / "second.xlsx", entry, others, [prolog, rest], xml)
            _parse(tmp / "second.xlsx", sheet_name, second)
        finally:
            reader.join()
    for part in (first, second):
        if part.error is not None:
            raise part.error  # the caller reads the whole sheet and reports it as damaged
    return _joined(first, second, first_row)


def _other_parts(book: zipfile.ZipFile, entry: str) -> dict[str, bytes]:
    """What each part's workbook holds beside its rows: the file's other parts, with the other
    worksheets emptied and pictures and embedded files left blank.

    calamine reads the workbook, its relationships, shared strings and
    styles; another large sheet or a large picture would only be copied twice
    for nothing (the names stay, so every relationship still points somewhere).
    """
    parts = {}
    for info in book.infolist():
        name = info.filename
        if name == entry:
            continue
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            parts[name] = _EMPTY_SHEET
        elif name.startswith(("xl/media/", "xl/embeddings/")):
            parts[name] = b""
        else:
            parts[name] = book.read(info)
    return parts


def _sheet_entry(book: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip entry of the worksheet of that name, or None (not a plain worksheet)."""
    from defusedxml import ElementTree

    try:
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    rel_id = next(
        (
            s.get(f"{_REL_NS}id")
            for s in workbook.iter()
            if s.tag.endswith("}sheet") and s.get("name") == sheet_name
        ),
        None,
    )
    target = next((r.get("Target") for r in rels if r.get("Id") == rel_id), None) if rel_id else None
    if not target or "worksheets/" not in target:
        return None
    name = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
    return name if name in book.namelist() else None


def _write_first_part(xml, out: Path, entry: str, others: dict, size: int):
    """Write the sheet's rows up to the first row tag past FIRST_PART_SHARE as a workbook.

    Returns (prolog up to <sheetData>, the bytes read past the cut, the cut
    row's number), or None when the XML is not the plain shape the split needs.
    """
    buffer = b""
    while _SHEET_DATA not in buffer:
        chunk = xml.read(_CHUNK)
        if not chunk or len(buffer) > _PROLOG_LIMIT:
            return None
        buffer += chunk
    start = buffer.index(_SHEET_DATA) + len(_SHEET_DATA)
    prolog = buffer[:start]
    if not re.match(rb"\s*(<\?xml[^>]*\?>)?\s*<worksheet[\s>]", prolog):
        return None  # a namespace prefix (x:worksheet): read whole
    cut_at = int(size * FIRST_PART_SHARE)  # stream offset past which the first row tag is the cut
    with _part_workbook(out, entry, others) as sheet:
        offset = 0  # stream offset of buffer[0]
        searched_from = start
        while True:
            found = _ROW_TAG.search(buffer, max(searched_from, cut_at - offset))
            if found is not None:
                number = _ROW_NUMBER.search(found.group())
                if number is None or b"</sheetData>" in buffer[searched_from : found.start()]:
                    return None
                sheet.write(buffer[: found.start()])
                sheet.write(_CLOSE)
                return prolog, buffer[found.start() :], int(number.group(1))
            if b"</sheetData>" in buffer[searched_from:]:
                return None  # no row past the share: nothing to split
            chunk = xml.read(_CHUNK)
            if not chunk:
                return None
            keep = min(len(buffer), 256)  # a row tag cut by the chunk boundary is searched again whole
            sheet.write(buffer[: len(buffer) - keep])
            offset += len(buffer) - keep
            buffer = buffer[len(buffer) - keep :] + chunk
            searched_from = 0


def _write_part(out: Path, entry: str, others: dict, head: list[bytes], xml) -> None:
    """The second part: the prolog, the bytes already read past the cut, the rest of the stream."""
    with _part_workbook(out, entry, others) as sheet:
        for piece in head:
            sheet.write(piece)
        shutil.copyfileobj(xml, sheet, _CHUNK)


@contextmanager
def _part_workbook(out: Path, entry: str, others: dict) -> Iterator:
    """A part's workbook at ``out``: the other parts as they are, and the sheet's XML as written
    to the stream this yields. Stored, not deflated: calamine need not inflate it again."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as part:
        for name, data in others.items():
            part.writestr(name, data, zipfile.ZIP_STORED)
        with part.open(zipfile.ZipInfo(entry), "w", force_zip64=True) as sheet:
            yield sheet


def _parse(path: Path, sheet_name: str, into: _Part) -> None:
    """Parse one part (run in a thread for the first part): its text batch and column indexes.

    Every row from Excel row 1 (blank above a part's first row), so what lies
    above the cut in the second part can be checked (_joined).
    """
    import fastexcel

    try:
        sheet = fastexcel.read_excel(str(path)).load_sheet(sheet_name, **TEXT_SHEET_OPTIONS, skip_rows=0)
        into.columns = [c.absolute_index for c in sheet.available_columns()]
        into.batch = sheet.to_arrow()
    except BaseException as err:  # noqa: BLE001 (re-raised in the caller's thread)
        into.error = err


def _joined(first: _Part, second: _Part, first_row: int):
    """The first part, then the second from the cut row on; columns aligned by letter.

    None when a row lies on the wrong side of the cut (rows out of order): a
    row of the first part past it, or a cell of the second part above it.
    """
    import pyarrow as pa

    from rmdash.readers import column_letter  # noqa: PLC0415 (pyarrow-heavy module, loaded by now)

    above = first_row - 1  # rows above the cut: the first part's, and blank ones before the cut row
    if _rows(first) > above:
        return None
    if any(column.null_count != len(column) for column in second.batch.slice(0, above).columns):
        return None
    if _rows(second) <= above:  # no cell at or below the cut: the whole read ends with the first part
        second.batch, second.columns = None, []
    # a sheet's columns run from its leftmost to its rightmost cell, empty ones between included;
    # each part's may be narrower (column B empty on both sides of the cut: still a column)
    present = set(first.columns) | set(second.columns)
    columns = list(range(min(present), max(present) + 1)) if present else []
    arrays = []
    for index in columns:
        pieces = [_column(first, index)]
        if second.batch is not None:  # blank rows between the two, then the second part's own rows
            pieces += [pa.nulls(above - _rows(first), pa.string()), _column(second, index).slice(above)]
        arrays.append(pa.chunked_array([p for p in pieces if len(p)], pa.string()))
    table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(columns))])
    return table, [column_letter(i) for i in columns]


def _rows(part: _Part) -> int:
    return part.batch.num_rows if part.batch is not None else 0


def _column(part: _Part, index: int):
    """A part's column by absolute index, as text; nulls where the part has no such column."""
    import pyarrow as pa

    if index not in part.columns:
        return pa.nulls(_rows(part), pa.string())
    column = part.batch.column(part.columns.index(index))
    return column if column.type == pa.string() else column.cast(pa.string())
