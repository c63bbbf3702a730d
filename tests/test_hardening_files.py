"""A corpus of bad files, each imported for real: refused or partly imported as the spec says.

tests/test_bad_files.py proves that ``plan_file`` refuses the classic bad files
with one line. This corpus goes the whole way a user goes: ``rmdash import
FILE --db STORE --json`` (or the upload page's route, for a browser-supplied
file name), each in its own child process forked from a warm runner
(tests/hardening.py), and checks for every kind of file:

- the outcome the spec asks for (spec 3: a file that cannot be read is
  refused with a message that says what to do; rows with a missing required
  value are rejected and stored; blank rows are skipped),
- one line on stderr and exit code 2 for a refusal, never a traceback,
- the child's PEAK memory (``os.wait4`` rusage) under a generous bound,
- the store identical to before (a fingerprint of every table) after a refusal,
  and sound (``verify_store``) after a partial import.

Every file is generated here or by tests/filebuilders.py. No wall-clock
assertion: the children carry an alarm as a hang guard only.
"""

from __future__ import annotations

import json
import random
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import filebuilders as fb
import pytest
import xlsxwriter
from hardening import MEMORY_BOUND_MB, ImportRunner, fingerprint

from rmdash import store
from rmdash.filesafety import MAX_CSV_BYTES, MAX_FILE_BYTES
from rmdash.importer import import_files
from rmdash.model import ImportOptions
from rmdash.plan import MAX_CELL_CHARS

pytestmark = pytest.mark.slow

MILLION = 1_000_000
EXCEL_COLUMNS = 16_384

# ---------------------------------------------------------------- builders of the new kinds


def _empty(name: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        (tmp / name).write_bytes(b"")
        return tmp / name

    return build


def corrupt_xlsx(tmp: Path) -> Path:
    """A workbook whose sheet part has bytes flipped inside its compressed data (bad CRC)."""
    base = fb.small_workbook(tmp / "base.xlsx")
    with zipfile.ZipFile(base) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(base.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 8
    for i in range(start, start + 16):
        data[i] ^= 0xA5
    target = tmp / "corrupt.xlsx"
    target.write_bytes(bytes(data))
    return target


def no_header_xlsx(tmp: Path) -> Path:
    return fb.write_xlsx(
        tmp / "figures.xlsx",
        {
            "Sheet1": [["Quarterly figures"], [], ["North", 12, 14], ["South", 9, 11]],
            "Chart data": [[1, 2, 3]],
        },
    )


def header_only_csv(tmp: Path) -> Path:
    return fb.write_csv(tmp / "tickets.csv", [fb.TICKET_HEADER])


def required_all_blank_csv(tmp: Path) -> Path:
    """Ticket ID, Vendor, Type and Opened present as headers but blank in every row."""
    header = ["Ticket ID", "Vendor", "Type", "Opened", "RM", "Description"]
    rows = [[None, None, None, None, "Jane Roe", f"row {i}"] for i in range(5)]
    return fb.write_csv(tmp / "tickets.csv", [header, *rows])


def _sparse(path: Path, head: bytes, size: int) -> Path:
    """A file of ``size`` bytes that costs no disk: ``head``, then a hole."""
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def oversized_xlsx(tmp: Path) -> Path:
    return _sparse(tmp / "huge.xlsx", b"PK\x03\x04", MAX_FILE_BYTES + 1)


def oversized_csv(tmp: Path) -> Path:
    return _sparse(tmp / "huge.csv", b"Ticket ID,Vendor,Type,Opened\r\n", MAX_CSV_BYTES + 1)


def plain_zip(tmp: Path) -> Path:
    path = tmp / "export.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.txt", "Ticket ID,Vendor\nINC-1,Acme\n")
    return path


def binary_csv(tmp: Path) -> Path:
    path = tmp / "tickets.csv"
    path.write_bytes(b"Ticket ID,Vendor,Type,Opened\r\n" + bytes(range(256)) * 8)
    return path


def some_required_blank_csv(tmp: Path) -> Path:
    rows = [
        ["Ticket ID", "Vendor", "Type", "Opened"],
        ["A1", "Acme", "Incident", "2026-01-05 09:00"],
        ["A2", None, "Incident", "2026-01-05 09:00"],
        ["A3", "Acme", "Incident", None],
        ["A4", "Acme", "Incident", "soon"],
        ["A5", "Acme", "Request", "2026-01-06 10:00"],
    ]
    return fb.write_csv(tmp / "tickets.csv", rows)


def ten_mb_cell_csv(tmp: Path) -> Path:
    rows = [
        ["Ticket ID", "Vendor", "Type", "Opened", "Description"],
        ["A1", "Acme", "Incident", "2026-01-05 09:00", "x" * (10 * 1024 * 1024)],
        ["A2", "Acme", "Incident", "2026-01-06 09:00", "short"],
    ]
    return fb.write_csv(tmp / "tickets.csv", rows)


def widest_xlsx(tmp: Path) -> Path:
    """A sheet 16,384 columns wide (Excel's maximum): 4 known columns, the rest unknown."""
    path = tmp / "wide.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Tickets")
    sheet.write_row(
        0, 0, ["Ticket ID", "Vendor", "Type", "Opened"] + [f"Extra {i}" for i in range(4, EXCEL_COLUMNS)]
    )
    for r in range(1, 4):
        sheet.write_row(r, 0, [f"W{r}", "Acme", "Incident", "2026-01-05 09:00"] + ["v"] * (EXCEL_COLUMNS - 4))
    book.close()
    return path


def _inline_row(r: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{col}{r}" t="inlineStr"><is><t>{value}</t></is></c>'
        for col, value in zip("ABCD", values, strict=True)
    )
    return f'<row r="{r}">{cells}</row>'


def million_blank_rows_xlsx(tmp: Path) -> Path:
    """Header, one ticket, a million formatted-but-blank rows, one more ticket.

    xlsxwriter writes the styles; the sheet XML is streamed by hand (the same
    XML xlsxwriter's constant_memory mode writes, at a fraction of the cost).
    """
    base = tmp / "base.xlsx"
    book = xlsxwriter.Workbook(str(base))
    sheet = book.add_worksheet("Tickets")
    sheet.write_row(0, 0, ["Ticket ID", "Vendor", "Type", "Opened"])
    sheet.write_blank(1, 0, None, book.add_format({"bold": True}))
    book.close()
    with zipfile.ZipFile(base) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    last = MILLION + 3
    head = xml[: xml.index("<sheetData>") + len("<sheetData>")].replace('ref="A1:D2"', f'ref="A1:D{last}"')
    tail = xml[xml.index("</sheetData>") :]
    path = tmp / "tickets-blank-rows.xlsx"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info.filename))
        with dst.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write((head + _inline_row(1, ["Ticket ID", "Vendor", "Type", "Opened"])).encode())
            part.write(_inline_row(2, ["B1", "Acme", "Incident", "2026-01-05 09:00"]).encode())
            for start in range(3, last, 100_000):
                stop = min(start + 100_000, last)
                part.write(
                    "".join(f'<row r="{r}"><c r="A{r}" s="1"/></row>' for r in range(start, stop)).encode()
                )
            part.write((_inline_row(last, ["B2", "Acme", "Incident", "2026-01-06 09:00"]) + tail).encode())
    return path


def million_blank_lines_csv(tmp: Path) -> Path:
    path = tmp / "tickets.csv"
    path.write_bytes(
        b"Ticket ID,Vendor,Type,Opened\r\nC1,Acme,Incident,2026-01-05 09:00\r\n"
        + b",,,\r\n" * MILLION
        + b"C2,Acme,Incident,2026-01-06 09:00\r\n"
    )
    return path


def duplicate_headers_csv(tmp: Path) -> Path:
    rows = [
        ["Ticket ID", "Vendor", "Type", "Opened", "Vendor"],
        ["D1", "Acme", "Incident", "2026-01-05 09:00", "Globex"],
        ["D2", "Acme", "Request", "2026-01-06 09:00", "Globex"],
    ]
    return fb.write_csv(tmp / "tickets.csv", rows)


def mixed_encodings_csv(tmp: Path) -> Path:
    """Rows saved by two systems: one in UTF-8, one in cp1252 (Excel's Western default)."""
    path = tmp / "tickets.csv"
    path.write_bytes(
        b"Ticket ID,Vendor,Type,Opened,Description\r\n"
        + "E1,Société Générale,Incident,2026-01-05 09:00,café\r\n".encode()
        + "E2,Société Générale,Incident,2026-01-06 09:00,naïve\r\n".encode("cp1252")
    )
    return path


PATH_SHEET_NAME = '../../etc/passwd\\:*?[]"<>|'


def path_sheet_name_xlsx(tmp: Path) -> Path:
    """A sheet named with path characters (Excel forbids them; the XML can say anything)."""
    base = fb.write_xlsx(tmp / "base.xlsx", {"Sheet1": _other_tickets()})
    with zipfile.ZipFile(base) as archive:
        workbook = archive.read("xl/workbook.xml").decode()
    escaped = (
        PATH_SHEET_NAME.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )
    workbook = workbook.replace('name="Sheet1"', f'name="{escaped}"')
    return fb._rewrite_zip(base, tmp / "sheets.xlsx", {"xl/workbook.xml": workbook.encode()})


# ---------------------------------------------------------------- the corpus


@dataclass
class Case:
    build: Callable[[Path], Path]
    outcome: str  # "refused" or "imported"
    words: list[str] = field(default_factory=list)  # the refusal message must contain them
    check: Callable[[list[dict], Path], None] | None = None  # for imports: what the store must hold
    display_name: str | None = None  # upload-page route with this browser-supplied name


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _new_batch(summaries: list[dict]) -> dict:
    """The one batch an import made (the CLI calls its id ``id``, a BatchSummary ``batch_id``)."""
    [summary] = summaries
    summary["id"] = summary.get("id", summary.get("batch_id"))
    assert summary["id"] is not None, summary["warnings"]
    return summary


def _other_tickets() -> list[list]:
    """fb.ticket_rows() with other ids: the base store already holds those tickets."""
    header, *rows = fb.ticket_rows()
    return [header, *[[f"X{r[0]}", *r[1:]] for r in rows]]


def check_some_rejected(summaries, db):
    s = _new_batch(summaries)
    assert (s["new"], s["rejected"]) == (2, 3)
    assert _rows(
        db,
        "SELECT row_no, reason FROM rejected_rows WHERE batch_id = (SELECT max(batch_id) FROM batches) ORDER BY row_no",
    ) == [
        (3, "vendor: blank (required)"),
        (4, "opened_at: blank (required)"),
        (5, "opened_at: cannot read 'soon' as a date"),
    ]


def check_long_cell(summaries, db):
    s = _new_batch(summaries)
    assert s["new"] == 2
    assert any("longer than 32,767 characters" in w and "cut" in w for w in s["warnings"]), s["warnings"]
    assert _rows(
        db, f"SELECT ticket_id, length(description) FROM tickets WHERE batch_id = {s['id']} ORDER BY 1"
    ) == [
        ("A1", MAX_CELL_CHARS),
        ("A2", 5),
    ]
    [(size,)] = _rows(db, f"SELECT size FROM files WHERE sha256 = '{s['sha256']}'")
    assert size > 10 * 1024 * 1024  # the whole original is in the raw archive


def check_wide(summaries, db):
    s = _new_batch(summaries)
    assert s["new"] == 3
    assert _rows(db, f"SELECT ticket_id FROM tickets WHERE batch_id = {s['id']} ORDER BY 1") == [
        ("W1",),
        ("W2",),
        ("W3",),
    ]


def check_two_rows_million_skipped(prefix: str):
    def check(summaries, db):
        s = _new_batch(summaries)
        assert (s["new"], s["skipped"], s["rejected"]) == (2, MILLION, 0)
        assert _rows(db, f"SELECT ticket_id FROM tickets WHERE batch_id = {s['id']} ORDER BY 1") == [
            (f"{prefix}1",),
            (f"{prefix}2",),
        ]

    return check


def check_duplicate_headers(summaries, db):
    s = _new_batch(summaries)
    assert any("'Vendor' appears more than once" in w and "column B is imported" in w for w in s["warnings"])
    assert _rows(db, "SELECT DISTINCT vendor FROM tickets WHERE ticket_id LIKE 'D%'") == [("Acme",)]


def check_mixed_encodings(summaries, db):
    _new_batch(summaries)
    assert _rows(
        db, "SELECT ticket_id, vendor, description FROM tickets WHERE ticket_id LIKE 'E%' ORDER BY 1"
    ) == [
        ("E1", "Société Générale", "café"),
        ("E2", "Société Générale", "naïve"),
    ]


def check_path_sheet_name(summaries, db):
    s = _new_batch(summaries)
    assert s["sheet"] == PATH_SHEET_NAME and s["new"] == 3
    assert _rows(db, "SELECT sheet FROM batches ORDER BY batch_id DESC LIMIT 1") == [(PATH_SHEET_NAME,)]


def check_label_only(summaries, db):
    s = _new_batch(summaries)
    assert s["file"] == "../../evil<b>.csv" and s["new"] == 3


CORPUS: dict[str, Case] = {
    # refused: the database must stay exactly as it was
    "empty .csv (0 bytes)": Case(_empty("tickets.csv"), "refused", ["is empty", "export the data again"]),
    "empty .xlsx (0 bytes)": Case(_empty("tickets.xlsx"), "refused", ["is empty"]),
    "random bytes named .xlsx": Case(lambda t: fb.random_bytes(t / "data.xlsx"), "refused", ["not a text or spreadsheet file"]),
    "random bytes named .csv": Case(lambda t: fb.random_bytes(t / "data.csv", seed=11), "refused", ["not a text or spreadsheet file"]),
    "binary bytes after a CSV header": Case(binary_csv, "refused", ["not a text or spreadsheet file"]),
    "prose in a .csv": Case(lambda t: fb.prose_csv(t / "notes.csv"), "refused", ["no recognisable header"]),
    "truncated workbook (zip cut in half)": Case(fb.truncated_xlsx, "refused", ["damaged or truncated"]),
    "corrupt workbook (compressed bytes flipped)": Case(corrupt_xlsx, "refused", ["damaged", "export it again"]),
    "xlsx zip bomb (64 MiB part, ~1000:1)": Case(fb.zip_bomb_xlsx, "refused", ["zip bomb", "not imported"]),
    "zip whose directory claims 3 GiB": Case(fb.lying_size_zip_xlsx, "refused", ["zip bomb"]),
    "workbook with 10,050 parts": Case(fb.many_entries_xlsx, "refused", ["parts", "not imported"]),
    "billion-laughs XML entity": Case(fb.billion_laughs_xlsx, "refused", ["DTD", "not imported"]),
    "external XML entity (XXE)": Case(fb.external_entity_xlsx, "refused", ["DTD"]),
    "encrypted workbook (msoffcrypto)": Case(fb.encrypted_xlsx, "refused", ["password-protected", "remove the password"]),
    "legacy .xls (OLE header)": Case(fb.legacy_xls, "refused", ["legacy .xls", "save as .xlsx"]),
    "OpenDocument spreadsheet": Case(fb.ods_file, "refused", [".ods", "save as .xlsx"]),
    "Word document": Case(fb.docx_file, "refused", ["Word document"]),
    "zip archive named .xlsx": Case(plain_zip, "refused", ["zip archive", "not an Excel workbook"]),
    "PDF named .xlsx": Case(lambda t: fb.pdf_file(t / "report.xlsx"), "refused", ["PDF"]),
    "HTML page saved as .xls": Case(lambda t: fb.html_as_xls(t / "export.xls"), "refused", ["HTML"]),
    "workbook with no recognisable header": Case(no_header_xlsx, "refused", ["no recognisable header in any sheet"]),
    "CSV with only a header": Case(header_only_csv, "refused", ["a header but no data rows"]),
    "required columns all blank": Case(required_all_blank_csv, "refused", ["ticket_id", "is empty"]),
    "workbook over the size cap (sparse)": Case(oversized_xlsx, "refused", [f"larger than {MAX_FILE_BYTES // 2**20:,} MB", "split it"]),
    "CSV over the size cap (sparse)": Case(oversized_csv, "refused", [f"larger than {MAX_CSV_BYTES // 2**20:,} MB", "split it"]),
    # imported as the spec says: bad rows rejected or skipped, the rest imported
    "some required values blank": Case(some_required_blank_csv, "imported", check=check_some_rejected),
    "a 10 MB cell": Case(ten_mb_cell_csv, "imported", check=check_long_cell),
    "16,384 columns": Case(widest_xlsx, "imported", check=check_wide),
    "a million blank rows (xlsx)": Case(million_blank_rows_xlsx, "imported", check=check_two_rows_million_skipped("B")),
    "a million blank lines (csv)": Case(million_blank_lines_csv, "imported", check=check_two_rows_million_skipped("C")),
    "duplicate column names": Case(duplicate_headers_csv, "imported", check=check_duplicate_headers),
    "mixed encodings (UTF-8 and cp1252 rows)": Case(mixed_encodings_csv, "imported", check=check_mixed_encodings),
    "sheet named with path characters": Case(path_sheet_name_xlsx, "imported", check=check_path_sheet_name),
    "file name with ../ (upload page)": Case(
        lambda t: fb.write_csv(t / "upload.bin", _other_tickets()),
        "imported",
        check=check_label_only,
        display_name="../../evil<b>.csv",
    ),
}  # fmt: skip


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    run = ImportRunner(tmp_path_factory.mktemp("runner"))
    yield run
    run.close()


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> tuple[Path, dict]:
    """A store with one earlier import, and its fingerprint."""
    tmp = tmp_path_factory.mktemp("base")
    db = tmp / "base.duckdb"
    import_files(db, [fb.small_workbook(tmp / "earlier.xlsx")], ImportOptions(who="earlier"))
    return db, fingerprint(db)


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- tests


def test_the_corpus_has_at_least_twenty_kinds_of_bad_input():
    assert len(CORPUS) >= 20
    assert sum(c.outcome == "refused" for c in CORPUS.values()) >= 20


@pytest.mark.parametrize("name", list(CORPUS))
def test_each_bad_file_is_refused_or_partly_imported_as_the_spec_says(name, runner, base_store, tmp_path):
    case = CORPUS[name]
    source = tmp_path / "source"
    work = tmp_path / "work" / "deep"
    source.mkdir()
    work.mkdir(parents=True)
    path = case.build(source)
    db = work / "store.duckdb"
    shutil.copyfile(base_store[0], db)
    files_before = _files_under(tmp_path)

    if case.display_name is None:
        result = runner.cli_import(path, db, cwd=work)
    else:
        result = runner.run("upload", cwd=work, path=str(path), db=str(db), display_name=case.display_name)

    print(
        f"{name}: exit {result.exit_code}, peak {result.peak_rss_mb:.0f} MB, {result.error_line or 'imported'}"
    )
    assert result.signal is None, f"the import was killed (signal {result.signal}): a hang or a crash"
    assert result.peak_rss_mb < MEMORY_BOUND_MB, f"peak memory {result.peak_rss_mb:.0f} MB"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    if case.outcome == "refused":
        assert result.exit_code == 2, (result.exit_code, result.stderr)
        line = result.error_line
        assert line.startswith("error: ") and "\n" not in line and len(line) < 300, line
        for word in case.words:
            assert word in line, line
        assert fingerprint(db) == base_store[1], "a refused file changed the database"
    else:
        assert result.exit_code == 0, result.stderr
        summaries = json.loads(result.stdout)
        case.check(summaries, db)
        con = store.open_store(db, read_only=True)
        try:
            assert store.verify_store(con) == []
        finally:
            con.close()
    stray = {p for p in _files_under(tmp_path) - files_before if p.parent != work}
    assert not stray, f"files written outside the store's folder: {stray}"


def test_the_memory_measurement_sees_what_a_child_allocates(runner):
    """The bound above can fail: a child that touches 400 MB is measured at 400 MB or more."""
    result = runner.run("allocate", mb=400)
    assert result.exit_code == 0
    assert result.peak_rss_mb >= 400


def test_the_fingerprint_sees_a_one_cell_change(base_store, tmp_path):
    """The 'database identical to before' check can fail: one changed cell changes the fingerprint."""
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(base_store[0], db)
    assert fingerprint(db) == base_store[1]
    con = duckdb.connect(str(db))
    con.execute("UPDATE tickets SET description = 'edited' WHERE ticket_id = 'INC-1'")
    con.close()
    assert fingerprint(db)["tickets"] != base_store[1]["tickets"]


def test_random_bytes_of_many_sizes_are_always_refused_in_one_line(runner, base_store, tmp_path):
    """Fuzz: 12 random files (sizes 1 byte to 64 KiB, both extensions) never crash the import."""
    rng = random.Random(20261123)
    db = tmp_path / "store.duckdb"
    shutil.copyfile(base_store[0], db)
    for i in range(12):
        size = rng.choice([1, 3, 17, 511, 4096, 65536])
        path = tmp_path / f"fuzz-{i}.{'xlsx' if i % 2 else 'csv'}"
        data = bytes(rng.getrandbits(8) for _ in range(size))
        if i % 3 == 0:
            data = b"PK\x03\x04" + data  # a zip signature in front: the zip checks must refuse it too
        path.write_bytes(data)
        result = runner.cli_import(path, db)
        assert result.exit_code == 2 and result.error_line.startswith("error: "), (size, result.stderr)
        assert "\n" not in result.error_line and "internal error" not in result.error_line
    assert fingerprint(db) == base_store[1]
