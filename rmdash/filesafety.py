"""Safety checks an untrusted file passes before any parser sees its bytes.

Purpose: size limits, magic bytes, zip bombs (entry count, total size,
compression ratio), XML with a DTD or entities (billion laughs), encrypted
or legacy Office files; each refusal is one ``ImportRefused`` line saying
what to do. Boundary: stdlib, defusedxml and olefile only (no pyarrow, no
pandas), so the CLI's read-ahead thread can run them while the heavy
modules are still loading; rmdash.readers calls them before it parses.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from rmdash.model import ImportRefused

# Safety limits. A real 300k-row export is ~30 MB zipped and ~300 MB unpacked,
# with XML compressing 5-30x; bombs compress thousands of times.
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_ZIP_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 2 * 1024 * 1024 * 1024
MAX_ENTRY_RATIO = 200  # uncompressed / compressed, checked for entries above RATIO_FLOOR
RATIO_FLOOR_BYTES = 1024 * 1024
MAX_PROLOG_BYTES = 1024 * 1024  # an XML part must open its root element within this
# A large CSV is streamed (never decoded whole), so only this bounds it (10M tickets are ~1.8 GB).
MAX_CSV_BYTES = 8 * 1024 * 1024 * 1024

ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_NOT_SPREADSHEETS = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "an image",
    b"\xff\xd8\xff": "an image",
    b"GIF8": "an image",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}
_XML_PART = re.compile(r"\.(xml|rels|vml)$", re.IGNORECASE)


def one_line(text: object, limit: int = 80) -> str:
    """A user-supplied label (file/sheet name, cell text) made safe for a one-line message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def check_size_and_read_head(path: Path, label: str) -> bytes:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as err:
        raise ImportRefused(f"'{label}' cannot be opened: {one_line(err.strerror or err)}") from err
    if size == 0:
        raise ImportRefused(f"'{label}' is empty: export the data again and upload the new file")
    # a workbook is parsed whole; a large CSV is streamed, so it may be larger
    limit = MAX_FILE_BYTES if head.startswith((ZIP_MAGIC, _OLE, _EMPTY_ZIP)) else MAX_CSV_BYTES
    if size > limit:
        raise ImportRefused(f"'{label}' is larger than {limit // 2**20:,} MB: split it into smaller files")
    return head


def refuse_non_text(head: bytes, label: str) -> None:
    if head.startswith(_EMPTY_ZIP):
        raise ImportRefused(
            f"'{label}' is an empty zip archive, not a workbook: upload an .xlsx or .csv file"
        )
    for magic, what in _NOT_SPREADSHEETS.items():
        if head.startswith(magic):
            raise ImportRefused(
                f"'{label}' is {what}, not a spreadsheet: upload an .xlsx, .xlsm or .csv file"
            )


def check_ole(path: Path, label: str) -> None:
    """OLE2 container: an encrypted OOXML workbook, a legacy .xls or another old Office file."""
    import olefile  # only for the rare OLE2 file

    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(s).casefold() for s in ole.listdir(streams=True, storages=True)}
    except Exception:  # damaged OLE: still an old Office format
        streams = set()
    if {"encryptioninfo", "encryptedpackage"} & streams:
        raise ImportRefused(f"'{label}' is password-protected: remove the password and upload again")
    if streams and not ({"workbook", "book"} & streams):
        raise ImportRefused(
            f"'{label}' is an old Office document, not a spreadsheet: upload an .xlsx, .xlsm or .csv file"
        )
    raise ImportRefused(f"'{label}' is a legacy .xls: open it in Excel and save as .xlsx")


def check_workbook_zip(path: Path, label: str) -> None:
    """Refuse zip bombs, non-workbook zips and XML parts carrying a DTD, before any parser sees them."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_zip_sizes(infos, label)
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                raise ImportRefused(_not_a_workbook(archive, names, label))
            for info in infos:
                if _XML_PART.search(info.filename) or info.filename == "[Content_Types].xml":
                    _check_xml_prolog(archive, info, label)
    except ImportRefused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as err:
        raise ImportRefused(
            f"'{label}' is damaged or truncated (not a readable workbook): export it again and upload the new file"
        ) from err


def _check_zip_sizes(infos: list[zipfile.ZipInfo], label: str) -> None:
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ImportRefused(f"'{label}' has {len(infos)} parts inside (a zip bomb?): not imported")
    if any(i.flag_bits & 0x1 for i in infos):
        raise ImportRefused(f"'{label}' is password-protected: remove the password and upload again")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ImportRefused(
            f"'{label}' unpacks to {total // 2**20} MB (a zip bomb?): not imported; split the data into smaller files"
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > MAX_ENTRY_RATIO:
            raise ImportRefused(
                f"'{label}' contains a part compressed {ratio:.0f}:1 (a zip bomb?): not imported"
            )


def _not_a_workbook(archive: zipfile.ZipFile, names: set[str], label: str) -> str:
    if "word/document.xml" in names:
        what = "a Word document"
    elif any(n.startswith("ppt/") for n in names):
        what = "a PowerPoint file"
    elif "mimetype" in names and b"opendocument.spreadsheet" in archive.read("mimetype")[:200]:
        return f"'{label}' is an OpenDocument spreadsheet (.ods): open it and save as .xlsx"
    else:
        what = "a zip archive"
    return f"'{label}' is {what}, not an Excel workbook: upload an .xlsx, .xlsm or .csv file"


class _RootReached(Exception):
    """Raised by the prolog check once the XML root element opens (no DTD can follow)."""


class _StopAtRoot:
    def start(self, tag, attrib):
        raise _RootReached

    def end(self, tag):
        pass

    def data(self, data):
        pass

    def close(self):
        pass


def _check_xml_prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> None:
    """Parse an XML part with defusedxml up to its root element: a DTD or entity is refused.

    A DOCTYPE (and so any entity declaration: billion laughs, external
    entities) can only stand before the root element, so reading the prolog
    is enough and costs one chunk, however large the part.
    """
    parser = DefusedXMLParser(target=_StopAtRoot(), forbid_dtd=True)
    read = 0
    try:
        with archive.open(info) as part:
            while chunk := part.read(65536):
                read += len(chunk)
                parser.feed(chunk)
                if read > MAX_PROLOG_BYTES:
                    break
    except _RootReached:
        return
    except DefusedXmlException as err:
        raise ImportRefused(
            f"'{label}' contains XML with a DTD or entities in '{one_line(info.filename)}' (unsafe): not imported"
        ) from err
    except Exception as err:  # expat syntax errors, bad CRC, truncated stream
        raise ImportRefused(
            f"'{label}' is damaged ('{one_line(info.filename)}' is not valid XML): export it again and upload"
        ) from err
    if read == 0 and info.file_size == 0:
        raise ImportRefused(f"'{label}' is damaged ('{one_line(info.filename)}' is empty): export it again")
    raise ImportRefused(
        f"'{label}' is damaged ('{one_line(info.filename)}' has no XML content): export it again"
    )
