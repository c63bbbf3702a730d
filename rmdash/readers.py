"""Untrusted file on disk -> raw sheets of text cells, after safety checks.

Purpose: the only module that opens a file a user uploaded. It decides what
the bytes are (xlsx/xlsm workbook or CSV text) from their content, refuses
what must not be parsed (legacy .xls, password-protected workbooks, zip bombs,
XML with a DTD, binary junk, damaged archives) with a one-line
``ImportRefused``, and hands back every sheet as text cells: ``RawSheet``.
Boundary: no header detection, no typing, no database; the caller's display
name is never used to build a path.

Reading: workbooks go through fastexcel (calamine -> Arrow) with every column
forced to text, so ids never turn into floats and real Excel dates arrive as
ISO text ("2026-01-05 13:45:10"); CSV text is decoded here (UTF-8, UTF-8 with
BOM, UTF-16 with BOM, else cp1252), its delimiter sniffed, its first rows parsed
for header detection, and the body parsed by pyarrow.csv with every column as
text. Row numbers are the ones Excel shows (1-based, title rows included).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv

from rmdash import filesafety
from rmdash.filesafety import (
    _OLE,
    ZIP_MAGIC,
    check_ole,
    check_size_and_read_head,
    check_workbook_zip,
    one_line,
    refuse_non_text,
)
from rmdash.model import ImportRefused
from rmdash.readahead import load_text_sheet, read_text_sheet, take_prefetched

if TYPE_CHECKING:
    import pandas as pd

HEAD_ROWS = 30  # rows read for header detection and preview
# A large CSV is streamed (read in blocks, never decoded whole), so memory does
# not grow with it and only this bounds it (10M tickets are ~1.8 GB).
CSV_STREAM_BYTES = 64 * 1024 * 1024  # CSV files above this are streamed
STREAM_HEAD_BYTES = 1024 * 1024  # bytes decoded for header detection of a streamed CSV
CSV_BLOCK_BYTES = 16 * 1024 * 1024  # pyarrow's read block for a streamed CSV

_CSV_DELIMITERS = (",", ";", "\t", "|")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


# Python's csv module refuses a field over 128 KiB; an export may carry a long
# text cell (plan cuts cells to Excel's own limit), so allow any field a file
# under the size limit can hold.
csv.field_size_limit(filesafety.MAX_FILE_BYTES)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- raw sheets


@dataclass
class RawSheet:
    """One sheet (or a CSV file) as text cells.

    ``head(n)`` gives the first n rows (row i is sheet row i+1) for header
    detection; ``rows_from(start)`` gives every row from 0-based row ``start``
    to the end as an Arrow table of nullable strings with positional columns,
    plus the sheet row number of its first row.
    """

    name: str | None
    _loader: object = field(repr=False)

    def head(self, n: int = HEAD_ROWS) -> list[list[str | None]]:
        return self._loader.head(n)

    def rows_from(self, start: int) -> tuple[pa.Table, int]:
        return self._loader.rows_from(start)

    def preview(self, n: int = HEAD_ROWS) -> pa.Table:
        """The first n rows as read (no header detection), for the upload page."""
        return self._loader.preview(n)

    @property
    def column_letters(self) -> list[str]:
        return self._loader.column_letters()

    def chunks_from(self, start: int, rows: int) -> Iterator[Chunk]:
        """The rows from 0-based row ``start`` as tables of at most about ``rows`` rows.

        A streamed CSV is read block by block and never held whole; other
        sheets are sliced. Every call starts again from ``start``. A streamed
        CSV that turns out not to be plain rectangular UTF-8 raises
        ``NotStreamable`` (use ``whole()`` and start again).
        """
        chunks = getattr(self._loader, "chunks_from", None)
        if chunks is not None:
            return chunks(start, rows)
        table, first_row_no = self.rows_from(start)
        return _slices(table, first_row_no, rows)

    @property
    def streamed(self) -> bool:
        return isinstance(self._loader, _CsvStream)

    def whole(self) -> RawSheet:
        """This sheet read whole (a streamed CSV decoded in memory; refused when too large)."""
        if not self.streamed:
            return self
        return RawSheet(self.name, self._loader.whole())


@dataclass
class Chunk:
    """A part of a sheet: its rows as text, the sheet row number of the first, how far the sheet is read."""

    table: pa.Table
    first_row_no: int
    fraction: float  # share of the sheet read once this chunk is done
    rows_total: int | None  # rows of the sheet from the start row; None while unknown


class NotStreamable(Exception):
    """A streamed CSV has ragged rows, blank lines, bytes that are not UTF-8 or a cell longer than a block."""


def _slices(table: pa.Table, first_row_no: int, rows: int) -> Iterator[Chunk]:
    total = table.num_rows
    starts = range(0, total, max(rows, 1)) if total else [0]
    for offset in starts:
        part = table.slice(offset, rows)
        done = offset + part.num_rows
        yield Chunk(part, first_row_no + offset, done / total if total else 1.0, total)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cells(table: pa.Table, n: int) -> list[list[str | None]]:
    """First n rows of a text table as lists (empty text -> None)."""
    cols = [c.to_pylist() for c in table.slice(0, n).columns]
    return [[v if v not in ("", None) else None for v in row] for row in zip(*cols, strict=True)]


def _as_text_table(table: pa.Table) -> pa.Table:
    names = [f"c{i}" for i in range(table.num_columns)]
    cols = [c if c.type == pa.string() else c.cast(pa.string()) for c in table.columns]
    return pa.Table.from_arrays(cols, names=names)


class _WorkbookSheet:
    """A worksheet read once by fastexcel, every column as text."""

    def __init__(
        self, path: Path, reader, index: int, name: str, loaded: tuple[pa.Table, list[str]] | None = None
    ):
        self._path = path
        self._reader = reader
        self._index = index
        self._name = name
        self._table: pa.Table | None = None
        self._letters: list[str] = []
        if loaded is not None:  # read ahead by prefetch_workbook
            self._table, self._letters = loaded

    def _load(self, n_rows: int | None = None) -> pa.Table:
        try:
            if n_rows is None:  # the whole sheet: a large one is read in two parts at once
                table, self._letters = read_text_sheet(self._path, self._reader, self._index, self._name)
            else:
                table, self._letters = _load_sheet(self._reader, self._index, n_rows)
            return table
        except Exception as err:  # calamine raises many kinds; all mean "damaged"
            raise ImportRefused(
                f"sheet '{one_line(self._name)}' cannot be read (damaged workbook): "
                "open it in Excel, save it again and upload the new file"
            ) from err

    def _full(self) -> pa.Table:
        # calamine parses the whole sheet even for a small window (measured: a
        # 30-row window of a 100k-row sheet costs as much as the full read), so
        # the sheet is read once and header detection looks at its first rows.
        if self._table is None:
            self._table = self._load()
        return self._table

    def head(self, n: int) -> list[list[str | None]]:
        return _cells(self._full(), n)

    def preview(self, n: int) -> pa.Table:
        return self._table.slice(0, n) if self._table is not None else self._load(n)

    def rows_from(self, start: int) -> tuple[pa.Table, int]:
        table = self._full()
        return table.slice(start), start + 1

    def column_letters(self) -> list[str]:
        return self._letters


def _load_sheet(reader, index: int, n_rows: int | None = None) -> tuple[pa.Table, list[str]]:
    """One sheet as a text table with positional columns, and its column letters."""
    return text_table(load_text_sheet(reader, index, n_rows))


def text_table(sheet) -> tuple[pa.Table, list[str]]:
    """A sheet fastexcel loaded as text -> (text table with positional columns, column letters)."""
    letters = [column_letter(c.absolute_index) for c in sheet.available_columns()]
    # from_batches, not pa.table(): pa.table() first asks whether its argument is a
    # pandas frame, which imports pandas (0.35 s), in the read-ahead thread too
    return _as_text_table(pa.Table.from_batches([sheet.to_arrow()])), letters


class _CsvText:
    """A decoded CSV: sniffed delimiter, head rows parsed, body parsed by pyarrow on demand."""

    def __init__(self, text: str, label: str):
        self.text = text
        self.label = label
        self.delimiter, skip_lines = _sniff_delimiter(text)
        self._records, self._offsets = _head_records(text, self.delimiter, skip_lines)

    def head(self, n: int) -> list[list[str | None]]:
        return [[v if v.strip() else None for v in row] for row in self._records[:n]]

    def preview(self, n: int) -> pa.Table:
        rows = self._records[:n]
        width = max((len(r) for r in rows), default=0)
        cols = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
        return pa.table({f"c{i}": pa.array(c, pa.string()) for i, c in enumerate(cols)})

    def column_letters(self) -> list[str]:
        width = max((len(r) for r in self._records), default=0)
        return [column_letter(i) for i in range(width)]

    def rows_from(self, start: int) -> tuple[pa.Table, int]:
        if start >= len(self._offsets):  # the head read every record: nothing below the header
            width = len(self._records[start - 1]) if self._records else 0
            return pa.table({f"c{i}": pa.array([], pa.string()) for i in range(width)}), start + 1
        body = self.text[self._offsets[start] :]
        width = len(self._records[start])
        table = _pyarrow_csv(body, self.delimiter, width)
        if table is None:  # ragged rows: pyarrow cannot pad them
            table = _python_csv(body, self.delimiter, width)
        return table, start + 1


class _CsvStream(_CsvText):
    """A large UTF-8 CSV: the head decoded for header detection, the body streamed by pyarrow.

    The body is parsed with the options of the whole-file path (every column
    as text, quoted newlines, blank lines kept), straight from the file's bytes
    at the offset of the first data record, so its values are the ones the
    whole-file path would give. Anything that path handles specially (ragged
    rows, blank lines, bytes that are not UTF-8, a cell longer than a block)
    raises NotStreamable instead.
    """

    def __init__(self, path: Path, head_text: str, bom: int, label: str):
        super().__init__(head_text, label)
        self.path = path
        self.bom = bom
        self.size = path.stat().st_size

    def head_is_complete(self) -> bool:
        """Every head record (and the one after) ended inside the decoded head."""
        if len(self._offsets) <= HEAD_ROWS:
            return False  # so few records in this many bytes: leave it to the whole-file path
        rest = self.text[self._offsets[-1] :]
        consumed = 0

        def tracked():
            nonlocal consumed
            for line in io.StringIO(rest, newline=""):
                consumed += len(line)
                yield line

        next(csv.reader(tracked(), delimiter=self.delimiter), None)
        return consumed < len(rest)

    def whole(self) -> _CsvText:
        if self.size > filesafety.MAX_FILE_BYTES:
            raise ImportRefused(
                f"'{self.label}' is larger than {filesafety.MAX_FILE_BYTES // 2**20} MB and not a plain UTF-8 CSV "
                "(ragged rows, blank lines or another encoding): save it as CSV UTF-8, or split it, and upload again"
            )
        return _CsvText(_decode_text(self.path.read_bytes(), self.label), self.label)

    def rows_from(self, start: int) -> tuple[pa.Table, int]:
        chunks = list(self.chunks_from(start, 1 << 62))
        tables = [c.table for c in chunks]
        return (pa.concat_tables(tables) if len(tables) > 1 else tables[0]), start + 1

    def chunks_from(self, start: int, rows: int) -> Iterator[Chunk]:
        if start >= len(self._offsets):  # every record was in the head: nothing below the header
            table, first_row_no = super().rows_from(start)
            yield Chunk(table, first_row_no, 1.0, 0)
            return
        offset = self.bom + len(self.text[: self._offsets[start]].encode("utf-8"))
        width = len(self._records[start])
        read, convert = _csv_options(self.delimiter, width)
        read.block_size = CSV_BLOCK_BYTES
        invalid = []

        def on_invalid(row) -> str:
            invalid.append(row)
            return "skip"

        parse = pacsv.ParseOptions(
            delimiter=self.delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        )
        body_bytes = max(self.size - offset, 1)
        # pyarrow reads ahead, so the bytes read say little: estimate the rows from the head's row length
        head_bytes = len(self.text[self._offsets[start] : self._offsets[-1]].encode("utf-8"))
        estimate = max(1, round(body_bytes * (len(self._offsets) - 1 - start) / max(head_bytes, 1)))
        first_row_no, done_rows, pending = start + 1, 0, []
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            try:
                reader = pacsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
                for batch in reader:
                    if invalid:
                        raise NotStreamable("ragged rows or blank lines")
                    pending.append(batch)
                    if sum(b.num_rows for b in pending) >= rows:
                        table = pa.Table.from_batches(pending)
                        pending = []
                        done_rows += table.num_rows
                        estimate = max(estimate, done_rows + 1)  # not done yet: at least one row to come
                        yield Chunk(
                            table, first_row_no + done_rows - table.num_rows, done_rows / estimate, estimate
                        )
            except pa.ArrowInvalid as err:  # not UTF-8, or a row longer than a block
                raise NotStreamable(str(err)) from err
        if invalid:
            raise NotStreamable("ragged rows or blank lines")
        if pending or done_rows == 0:
            names = [f"c{i}" for i in range(width)]
            table = (
                pa.Table.from_batches(pending)
                if pending
                else pa.table({n: pa.array([], pa.string()) for n in names})
            )
            yield Chunk(table, first_row_no + done_rows, 1.0, done_rows + table.num_rows)


def _sniff_delimiter(text: str) -> tuple[str, int]:
    """Delimiter of a CSV text, and how many leading lines to drop (Excel's ``sep=;`` line).

    For each candidate, parse the first lines and pick the one whose most common
    field count (>1) is shared by the most lines, then the widest.
    """
    first_line = text[: text.find("\n")] if "\n" in text else text
    match = re.fullmatch(r"\s*sep=(.)\s*", first_line)
    if match:
        return match.group(1), 1
    sample = text[:65536]
    lines = sample.splitlines()[:60]
    best, best_score = ",", (0, 0)
    for delim in _CSV_DELIMITERS:
        counts = Counter(len(r) for r in csv.reader(lines, delimiter=delim) if len(r) > 1)
        if not counts:
            continue
        width, lines_with_width = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        score = (lines_with_width, width)
        if score > best_score:
            best, best_score = delim, score
    return best, 0


def _head_records(text: str, delimiter: str, skip_lines: int) -> tuple[list[list[str]], list[int]]:
    """The first HEAD_ROWS+1 records and the character offset where each starts.

    csv.reader pulls physical lines one at a time and ``line_num`` says how
    many it consumed, so a quoted value spanning lines keeps offsets exact.
    """
    lines = io.StringIO(text, newline="")
    position = 0
    for _ in range(skip_lines):
        position += len(lines.readline())
    line_ends: list[int] = []

    def tracked():
        nonlocal position
        for line in lines:
            position += len(line)
            line_ends.append(position)
            yield line

    start = position
    reader = csv.reader(tracked(), delimiter=delimiter)
    records, offsets = [], []
    for record in reader:
        offsets.append(start)
        records.append(record)
        start = line_ends[reader.line_num - 1]
        if len(records) > HEAD_ROWS:
            break
    return records, offsets


def _csv_options(delimiter: str, width: int):
    names = [f"c{i}" for i in range(width)]
    read = pacsv.ReadOptions(column_names=names, block_size=8 * 1024 * 1024)
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    return read, convert


def _pyarrow_csv(body: str, delimiter: str, width: int) -> pa.Table | None:
    """Parse the CSV body with pyarrow; None when a row has another field count."""
    read, convert = _csv_options(delimiter, width)
    ragged = []

    def on_invalid(row) -> str:
        ragged.append(row)
        return "skip"

    parse = pacsv.ParseOptions(
        delimiter=delimiter,
        newlines_in_values=True,
        ignore_empty_lines=False,  # keep blank lines so row numbers stay the sheet's
        invalid_row_handler=on_invalid,
    )
    data = body.encode("utf-8")
    try:
        try:
            table = pacsv.read_csv(
                io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert
            )
        except pa.ArrowInvalid as err:
            if "straddl" not in str(err):
                raise
            # one row (a very long cell) is larger than a block: read the body as one block
            ragged.clear()
            read.block_size = len(data) + 1
            table = pacsv.read_csv(
                io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert
            )
    except pa.ArrowInvalid as err:
        raise ImportRefused("the CSV file cannot be parsed (damaged or not a CSV): check the file") from err
    return None if ragged else table


def _python_csv(body: str, delimiter: str, width: int) -> pa.Table:
    """Fallback for hand-made CSVs whose rows have different field counts: pad/trim to width.

    Only reached when pyarrow saw a ragged row (rare: tool exports are rectangular).
    """
    rows = list(csv.reader(io.StringIO(body, newline=""), delimiter=delimiter))
    width = max([width, *(len(r) for r in rows)])
    columns = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
    return pa.table({f"c{i}": pa.array(c, pa.string()) for i, c in enumerate(columns)})


# ---------------------------------------------------------------- file type and safety


def open_sheets(path: str | Path, label: str | None = None) -> list[RawSheet]:
    """Every sheet of a workbook, or the one table of a CSV, after the safety checks.

    ``label`` (the name the user gave the file) is used in messages only.
    """
    path = Path(path)
    label = one_line(label or path.name)
    head = check_size_and_read_head(path, label)
    if head.startswith(ZIP_MAGIC):
        check_workbook_zip(path, label)
        return _workbook_sheets(path, label)
    if head.startswith(_OLE):
        check_ole(path, label)
    refuse_non_text(head, label)
    return [_csv_sheet(path, label)]


def _csv_sheet(path: Path, label: str) -> RawSheet:
    """A CSV read whole, or streamed when it is large and plain UTF-8."""
    size = path.stat().st_size
    if size > CSV_STREAM_BYTES:
        stream = _stream(path, label)
        if stream is not None:
            return RawSheet(None, stream)
    if size > filesafety.MAX_FILE_BYTES:
        raise ImportRefused(
            f"'{label}' is larger than {filesafety.MAX_FILE_BYTES // 2**20} MB and not a plain UTF-8 CSV: "
            "save it as CSV UTF-8, or split it, and upload again"
        )
    return RawSheet(None, _CsvText(_decode_text(path.read_bytes(), label), label))


def _stream(path: Path, label: str) -> _CsvStream | None:
    """A streamed CSV, or None when its head is not plain UTF-8 or holds no complete header block."""
    head_bytes = STREAM_HEAD_BYTES
    while head_bytes <= 16 * STREAM_HEAD_BYTES:
        with open(path, "rb") as fh:
            data = fh.read(head_bytes)
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return None  # UTF-16: decoded whole
        try:  # a character cut at the end of the head is left out, not an error
            text = codecs.getincrementaldecoder("utf-8")().decode(data[bom:], final=False)
        except UnicodeDecodeError:
            return None  # not plain UTF-8: the whole-file path reads stray bytes as cp1252
        _check_text_sample(text, label)
        stream = _CsvStream(path, text, bom, label)
        if stream.head_is_complete():
            return stream
        head_bytes *= 4
    return None


def preview_sheets(
    path: str | Path, n: int = HEAD_ROWS, label: str | None = None
) -> dict[str | None, pd.DataFrame]:
    """The first n raw rows of every sheet, as text, for the upload page.

    Keys are sheet names (None for a CSV); columns are the sheet's column
    letters; empty cells are "". Runs the same safety checks as an import.
    """
    out: dict[str | None, pd.DataFrame] = {}
    for sheet in open_sheets(path, label):
        table = sheet.preview(n)
        frame = table.to_pandas().astype(object).where(lambda f: f.notna(), "")
        letters = sheet.column_letters
        frame.columns = letters[: frame.shape[1]] if len(letters) >= frame.shape[1] else frame.columns
        out[sheet.name] = frame.astype(str)
    return out


def _workbook_sheets(path: Path, label: str) -> list[RawSheet]:
    import fastexcel

    ahead = take_prefetched(path)
    try:
        reader = ahead.reader if ahead and ahead.reader else fastexcel.read_excel(str(path))
        names = list(reader.sheet_names)
    except Exception as err:
        raise ImportRefused(
            f"'{label}' cannot be read (damaged workbook): open it in Excel, save it again and upload"
        ) from err
    if not names:
        raise ImportRefused(f"'{label}' has no worksheets: check the file")
    loaded = ahead.sheets if ahead else {}
    return [
        RawSheet(name, _WorkbookSheet(path, reader, i, name, loaded.get(i))) for i, name in enumerate(names)
    ]


def _decode_text(data: bytes, label: str) -> str:
    """CSV bytes -> text: UTF-8 (BOM optional), UTF-16 with BOM, else cp1252; binary refused."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = _decode(data[3:], "utf-8", label)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _decode(data, "utf-16", label)
    elif b"\x00" in data[:65536]:
        raise ImportRefused(
            f"'{label}' is not a text or spreadsheet file: upload an .xlsx, .xlsm or .csv file"
        )
    else:
        # UTF-8, with any byte that is not UTF-8 read as cp1252: a pure cp1252 file
        # reads as cp1252, and a file whose rows were saved in both (rows pasted
        # from two systems) keeps every name right instead of turning 'é' into 'Ã©'.
        text = _decode(data, "utf-8", label, errors=_CP1252_FALLBACK)
    _check_text_sample(text, label)
    if not text.strip():
        raise ImportRefused(f"'{label}' is empty: export the data again and upload the new file")
    return text


def _check_text_sample(text: str, label: str) -> None:
    """Refuse binary junk and HTML/XML posing as CSV, from the first 64 KiB of the text."""
    sample = text[:65536]
    if len(_CONTROL.findall(sample)) > max(2, len(sample) // 200):
        raise ImportRefused(
            f"'{label}' is not a text or spreadsheet file: upload an .xlsx, .xlsm or .csv file"
        )
    if sample.lstrip().startswith("<"):
        raise ImportRefused(
            f"'{label}' is an HTML or XML document, not a spreadsheet: open it in Excel and save as .xlsx"
        )


def _cp1252_bytes(err: UnicodeDecodeError) -> tuple[str, int]:
    """Decode error handler: the bytes UTF-8 could not read, read as cp1252 (strict)."""
    return err.object[err.start : err.end].decode("cp1252"), err.end


_CP1252_FALLBACK = "rmdash-cp1252-fallback"
codecs.register_error(_CP1252_FALLBACK, _cp1252_bytes)


def _decode(data: bytes, encoding: str, label: str, errors: str = "strict") -> str:
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError as err:
        raise ImportRefused(
            f"'{label}' is not readable text (unknown encoding or binary): save it as CSV UTF-8 and upload again"
        ) from err
