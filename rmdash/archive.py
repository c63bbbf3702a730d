"""What the raw archive keeps of an upload: the original bytes, less any macros.

Purpose: the store keeps every uploaded file so that nothing is lost (unknown
columns, superseded event-log rows, formatting). A macro-enabled workbook
(.xlsm) is read as data only, and its macros are never kept: the VBA parts
of the zip are dropped before the bytes are archived. Everything else in the
file is kept byte for byte. Boundary: bytes in, bytes out; no database.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

# VBA project parts of an OOXML package (xl/vbaProject.bin, its signatures, ActiveX binaries).
_MACRO_PART = re.compile(r"(^|/)(vbaProject[^/]*\.bin|vbaData\.xml|activeX/.*\.bin)$", re.IGNORECASE)


def has_macros(content: bytes) -> bool:
    """True when ``content`` is a zip (OOXML) package holding VBA macro parts."""
    if not content.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            return any(_MACRO_PART.search(name) for name in zf.namelist())
    except zipfile.BadZipFile:
        return False


def without_macros(content: bytes) -> bytes:
    """The package with its macro parts removed; any other content returned unchanged."""
    if not has_macros(content):
        return content
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if not _MACRO_PART.search(info.filename):
                dst.writestr(info, src.read(info.filename))
    return out.getvalue()


def archive_bytes(source: Path) -> bytes:
    """What the archive stores for the file at ``source``."""
    return without_macros(Path(source).read_bytes())


def strip_macros_in_place(path: Path) -> None:
    """Rewrite the archived copy at ``path`` without its macro parts (large uploads kept as files)."""
    try:
        with zipfile.ZipFile(path) as zf:
            if not any(_MACRO_PART.search(name) for name in zf.namelist()):
                return
    except (zipfile.BadZipFile, OSError):
        return
    path.write_bytes(without_macros(path.read_bytes()))
