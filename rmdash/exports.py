"""Safe spreadsheet downloads: CSV and XLSX bytes with formula injection neutralised.

Purpose: every table rmdash lets a user download (current rows, rejected rows,
KPI tables) holds text that came from untrusted uploads. A spreadsheet runs a
cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return as a
formula (OWASP "CSV injection"), so such TEXT cells get a leading apostrophe;
numbers stay numbers (a negative number is a number, not text). XLSX files
are written by xlsxwriter with ``strings_to_formulas`` and ``strings_to_urls``
off, so no text ever becomes a formula or a hyperlink. Boundary: DataFrames in,
bytes (or a file) out; no database, no streamlit.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from rmdash.model import RmdashError

# OWASP: the characters that make a spreadsheet treat a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
_SHEET_NAME_MAX = 31  # Excel's limit
_XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def neutralise_text(value: object) -> object:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose formula-like text cells start with an apostrophe.

    Only text columns (object or string dtype) are touched, and in them only
    the cells that are ``str``: a number that sits in an object column stays
    a number.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        is_text = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).astype(bool)
        if not is_text.any():
            continue
        text = values.where(is_text, "").astype(str)
        risky = is_text & text.str.startswith(FORMULA_START)
        if risky.any():
            # object dtype: the column may mix text with numbers, None and NaN
            out[column] = values.astype(object).where(~risky, "'" + text)
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel reads accents right), no index, formulas neutralised.

    Rows end with CRLF (RFC 4180), which also makes the writer quote any cell
    holding a carriage return: a lone CR inside a cell cannot split a row.
    """
    return neutralise(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_xlsx_bytes(frames: pd.DataFrame | Mapping[str, pd.DataFrame], sheet: str = "Data") -> bytes:
    """An .xlsx with one sheet per frame (a single frame goes on ``sheet``); nothing stored as a formula."""
    named = {sheet: frames} if isinstance(frames, pd.DataFrame) else dict(frames)
    if not named:
        raise RmdashError("nothing to export: give at least one table")
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="xlsxwriter", engine_kwargs={"options": _XLSX_OPTIONS}) as xl:
        for name, frame in zip(_sheet_names(named), named.values(), strict=True):
            _excel_ready(neutralise(frame)).to_excel(xl, sheet_name=name, index=False)
    return buf.getvalue()


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write :func:`to_csv_bytes` to ``path``; a one-line RmdashError when the file cannot be written."""
    try:
        Path(path).write_bytes(to_csv_bytes(frame))
    except OSError as exc:
        raise RmdashError(f"cannot write {path}: {exc.strerror or exc}") from None


def _sheet_names(named: Mapping[str, pd.DataFrame]) -> list[str]:
    """Names Excel accepts: no []:*?/\\, at most 31 characters, not blank, unique (case-insensitive)."""
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(named, start=1):
        base = _SHEET_NAME_BAD.sub("_", str(name)).strip().strip("'")[:_SHEET_NAME_MAX] or f"Sheet{i}"
        candidate, k = base, 2
        while candidate.casefold() in seen:
            suffix = f" ({k})"
            candidate = base[: _SHEET_NAME_MAX - len(suffix)] + suffix
            k += 1
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def _excel_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel has no time zones: time-zone-aware columns are written as naive UTC."""
    out = frame
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            out = out if out is not frame else frame.copy()
            out[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return out
