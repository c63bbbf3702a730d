"""Column-wise typing of text cells: dates, numbers, booleans, priorities, vocabularies.

Purpose: turn one column of cleaned text (an Arrow string array, nulls for
blanks) into typed values plus a mask of the cells that could not be read,
without a Python loop over rows: regexes run in Arrow (RE2), arithmetic in
numpy, and value lookups (booleans, priorities, vocabularies) fold each
*distinct* value once and broadcast through a dictionary encoding.
Boundary: knows the contract's types, not kinds, files or databases; the
vocabularies and null tokens come from the registry via the caller.

Dates: real Excel dates arrive from the reader as ISO text; Excel serial
numbers, ISO text with or without a UTC offset (datetimes are stored as naive
UTC; a *date* keeps the calendar day as written), day-first or month-first
numeric text with 2- or 4-digit years, and month names are accepted. The
day/month order is decided per column from its values (a first part above 12
means day-first, a second part above 12 month-first); a column that stays
ambiguous is read with the default order and reported as ambiguous.

Numbers: thousands separators, currency symbols/codes, spaces, ``%`` and
accounting negatives ``(1,200)`` are accepted. A column is read as
decimal-comma only when some value shows it unambiguously (``1.234,56``,
``12,5``, ``0,125``); otherwise a comma is a thousands separator and
``1,200`` is 1200. Grouping must be well formed (``1,2`` in a decimal-point
column is unreadable, not 12).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rmdash.schema import fold

DEFAULT_DATE_ORDER = "dayfirst"  # spec: an ambiguous column states its assumption; see docs/decisions.md

# ---------------------------------------------------------------- text


def clean_text(arr: pa.Array, null_tokens: frozenset[str]) -> pa.Array:
    """Trimmed text; empty cells and null tokens (``?``, ``N/A``, ``-``...) become null.

    Cost matters here (every mapped cell of every upload passes through), so
    the bytes are looked at first: the trim runs only when some value starts
    or ends with a byte that could be whitespace, and the token lookup only
    over values short enough to be a token.
    """
    arr = arr.cast(pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    view = _Utf8View(arr)
    if view.any_edge_byte_outside_printable_ascii():
        arr = pc.utf8_trim_whitespace(arr)
        view = _Utf8View(arr)
    # A token is a few characters; a character that lower-cases to ASCII takes at most 3 bytes.
    longest = 3 * max((len(t) for t in null_tokens), default=0)
    short = np.flatnonzero(view.valid & (view.lengths <= longest))
    if short.size == 0:
        return arr
    tokens = pa.array(sorted(null_tokens), pa.string())
    is_token = pc.is_in(pc.utf8_lower(arr.take(short)), value_set=tokens).to_numpy(zero_copy_only=False)
    if not is_token.any():
        return arr
    blank = np.zeros(len(arr), bool)
    blank[short[is_token]] = True
    return pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), arr)


class _Utf8View:
    """The bytes of an Arrow string array as numpy: start and length of every value (no copy)."""

    def __init__(self, arr: pa.Array):
        n = len(arr)
        buffers = arr.buffers()
        if buffers[1] is None:  # no value buffer at all: every value is null
            offsets = np.zeros(n + 1, np.int32)
        else:
            offsets = np.frombuffer(buffers[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
        data = buffers[2] if len(buffers) > 2 else None
        self.data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        self.starts = offsets[:-1]
        self.lengths = np.diff(offsets)
        self.valid = pc.is_valid(arr).to_numpy(zero_copy_only=False) if arr.null_count else np.ones(n, bool)

    def any_edge_byte_outside_printable_ascii(self) -> bool:
        """True when some value's first or last byte is a control, space or non-ASCII byte."""
        rows = self.valid & (self.lengths > 0)
        if not rows.any():
            return False
        first = self.data[self.starts[rows]]
        last = self.data[self.starts[rows] + self.lengths[rows] - 1]
        return bool(((first <= 0x20) | (first >= 0x7F) | (last <= 0x20) | (last >= 0x7F)).any())

    def fixed_width(self, pattern: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """Rows whose bytes fit ``pattern`` exactly ('9' = any ASCII digit, other characters as
        written), and the digit values of those rows, one array per '9' in pattern order."""
        rows = np.flatnonzero(self.valid & (self.lengths == len(pattern)))
        digit_at = [i for i, c in enumerate(pattern) if c == "9"]
        if rows.size == 0:
            return rows, [np.zeros(0, np.int64) for _ in digit_at]
        # every candidate row's bytes as one (rows x width) matrix: one gather, then whole-column tests
        cells = self.data[self.starts[rows][:, None] + np.arange(len(pattern), dtype=np.int32)]
        digits = cells[:, digit_at] - np.uint8(48)  # wraps below '0', so one comparison checks both ends
        ok = (digits <= 9).all(axis=1)
        for i, c in enumerate(pattern):
            if c != "9":
                ok &= np.isin(cells[:, i], [ord(x) for x in _FIXED_ALTERNATIVES.get(c, c)])
        kept = digits[ok].astype(np.int64)
        return rows[ok], [kept[:, j] for j in range(len(digit_at))]


# In fixed_width patterns, "T" stands for the date/time separator: a space or the letter T.
_FIXED_ALTERNATIVES = {"T": " T"}


def map_distinct(arr: pa.Array, mapper, out_type: pa.DataType) -> pa.Array:
    """Apply a Python function to each distinct non-null value once, then broadcast by index."""
    encoded = pc.dictionary_encode(arr)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    dictionary = encoded.dictionary.to_pylist()
    mapped = pa.array([mapper(v) for v in dictionary], out_type)
    return mapped.take(encoded.indices)


def one_line_values(arr: pa.Array, limit: int = 60) -> pa.Array:
    """Cell text made safe to quote in a one-line reason (whitespace runs -> one space, truncated)."""
    flat = pc.replace_substring_regex(arr, r"\s+", " ")
    short = pc.utf8_slice_codeunits(flat, 0, limit)
    too_long = pc.greater(pc.utf8_length(flat), limit)
    return pc.if_else(too_long, pc.binary_join_element_wise(short, "…", ""), short)


# JSON escapes of the characters a JSON string may not hold as they are (RFC 8259 section 7)
_JSON_SHORT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_JSON_OTHER_CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in _JSON_SHORT_ESCAPES]


def json_string_values(arr: pa.Array) -> pa.Array:
    """Each text as a JSON string literal (quoted and escaped), null stays null; column-wise."""
    text = arr.cast(pa.string())
    for char, escape in _JSON_SHORT_ESCAPES.items():
        text = pc.replace_substring(text, char, escape)
    if pc.any(pc.match_substring_regex(text, "[\\x00-\\x1f]")).as_py():
        for char in _JSON_OTHER_CONTROLS:
            text = pc.replace_substring(text, char, f"\\u{ord(char):04x}")
    return pc.binary_join_element_wise('"', text, '"', "")


def json_objects(table: pa.Table, labels: list[str]) -> pa.Array:
    """Each row as a compact JSON object {label: text or null}, in column order; column-wise.

    Used for the raw cells of rejected rows, so it must hold any text a cell
    can: quotes, backslashes, line breaks and control characters are escaped.
    """
    if table.num_rows == 0:
        return pa.array([], pa.string())
    members = []
    for label, column in zip(labels, table.columns, strict=True):
        value = pc.fill_null(json_string_values(column.combine_chunks()), "null")
        members.append(pc.binary_join_element_wise(json_string_values(pa.array([label]))[0], value, ":"))
    if not members:
        return pa.array(["{}"] * table.num_rows, pa.string())
    body = pc.binary_join_element_wise(*members, ",")
    return pc.binary_join_element_wise("{", body, "}", "")


def _str_field(struct: pa.StructArray, name: str) -> pa.Array:
    """A regex group as text, null where the row did not match or the group was empty."""
    values = struct.field(name)
    empty = pc.or_(pc.invert(struct.is_valid()), pc.equal(values, ""))
    return pc.if_else(empty, pa.scalar(None, pa.string()), values)


def _int_field(struct: pa.StructArray, name: str, default: int = 0) -> np.ndarray:
    values = pc.cast(_str_field(struct, name), pa.int64())
    return pc.fill_null(values, default).to_numpy(zero_copy_only=False)


def _matched(struct: pa.StructArray) -> np.ndarray:
    return struct.is_valid().to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------- dates

_TIME = (
    r"(?:[T\s]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?"
    r"\s*(?P<AP>[AaPp]\.?[Mm]\.?)?)?"
    r"\s*(?P<TZ>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)
_WEEKDAY = r"(?:[A-Za-z]{3,9},?\s+)?"
_DATE_PATTERNS = {
    "iso": r"^(?P<Y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})" + _TIME + "$",
    "compact": r"^(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$",
    "numeric": r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<Y>\d{4}|\d{2})" + _TIME + "$",
    "name_dmy": r"^" + _WEEKDAY + r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[-/.\s]+(?P<mon>[A-Za-z]{3,9})\.?[-/.,\s]+"
    r"(?P<Y>\d{4}|\d{2})" + _TIME + "$",
    "name_mdy": r"^" + _WEEKDAY + r"(?P<mon>[A-Za-z]{3,9})\.?[-/.\s]+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?[-/.\s]+"
    r"(?P<Y>\d{4}|\d{2})" + _TIME + "$",
    "serial": r"^(?P<days>\d{1,7})(?P<frac>\.\d+)?$",
}
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "us")
_SERIAL_YEARS = (1950, 2100)  # a bare number outside this range is not taken for a date
_US_PER_DAY = 86_400_000_000


@dataclass
class DateEvidence:
    """What a date column's values say about its format; parts of one column add up.

    A large file is typed in parts (rmdash.plan): the order of the whole column
    is decided from the evidence of all its parts, exactly as from the whole column.
    """

    counts: dict[str, int] = field(default_factory=dict)  # values read per pattern
    day_first: int = 0  # numeric dates readable only day-first
    month_first: int = 0  # numeric dates readable only month-first

    def __add__(self, other: DateEvidence) -> DateEvidence:
        counts = dict(self.counts)
        for name, count in other.counts.items():
            counts[name] = counts.get(name, 0) + count
        return DateEvidence(counts, self.day_first + other.day_first, self.month_first + other.month_first)

    def decide(self, date_order: str = "auto") -> tuple[str | None, bool, int]:
        """(order, ambiguous, conflicting) of a column with this evidence, as parse_dates reports it."""
        if self.counts.get("numeric"):
            return _order_from_evidence(self.day_first, self.month_first, date_order)
        return (_reported_order(self.counts) if self.counts else None), False, 0


@dataclass
class DateResult:
    values: np.ndarray  # datetime64[us], NaT for blank or unreadable
    bad: np.ndarray  # bool: non-blank but unreadable
    order: str | None  # "dayfirst" | "monthfirst" | "iso" | "excel" | None (no values)
    ambiguous: bool  # the day/month order was assumed, not decided by the values
    conflicting: int = 0  # numeric values that contradict the chosen order
    evidence: DateEvidence = field(default_factory=DateEvidence)


def parse_dates(arr: pa.Array, date_order: str = "auto", date_only: bool = False) -> DateResult:
    """Read a text column as dates or datetimes (see module docstring)."""
    plain = _all_plain_iso(arr, date_only)
    return plain if plain is not None else _parse_dates_by_pattern(arr, date_order, date_only)


_FIRST_YEAR, _END_YEAR = 1900, 2200  # the years _assemble accepts: [1900, 2200)
_PLAIN_ISO_BYTES = (10, 19)  # YYYY-MM-DD and YYYY-MM-DD HH:MM:SS (or with a T)
_YEAR_START_US = {
    y: int(np.datetime64(f"{y}-01-01", "us").astype(np.int64)) for y in (_FIRST_YEAR, _END_YEAR)
}


def _all_plain_iso(arr: pa.Array, date_only: bool) -> DateResult | None:
    """The result for a column written wholly in plain ISO (what Excel date cells give), else None.

    One Arrow cast reads it (1M values: 0.02 s instead of 0.4 s by pattern).
    Arrow's cast is strict ISO 8601 (no 31/04, no hour 24, no zone for a
    naive timestamp), and at these two lengths it accepts exactly the plain
    forms, so every value reads as the pattern path would read it; a column
    with any other value, or a year outside the accepted range, takes that path.
    """
    if not (isinstance(arr, pa.Array) and pa.types.is_string(arr.type)):
        return None
    present = len(arr) - arr.null_count
    if present == 0:
        return None
    view = _Utf8View(arr)
    lengths = view.lengths[view.valid]
    if not ((lengths == _PLAIN_ISO_BYTES[0]) | (lengths == _PLAIN_ISO_BYTES[1])).all():
        return None
    try:
        stamps = arr.cast(pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    extremes = pc.min_max(stamps)
    first, last = (extremes[k].value for k in ("min", "max"))  # microseconds since 1970
    if first < _YEAR_START_US[_FIRST_YEAR] or last >= _YEAR_START_US[_END_YEAR]:
        return None
    values = stamps.to_numpy(zero_copy_only=False)
    if date_only:
        values = values.astype("datetime64[D]").astype("datetime64[us]")
    counts = {"iso": present}
    return DateResult(
        values=values,
        bad=np.zeros(len(arr), bool),
        order=_reported_order(counts),
        ambiguous=False,
        conflicting=0,
        evidence=DateEvidence(counts),
    )


def _parse_dates_by_pattern(arr: pa.Array, date_order: str, date_only: bool) -> DateResult:
    """parse_dates for any mix of spellings: plain ISO by byte position, the rest by regex."""
    n = len(arr)
    present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    year = np.zeros(n, np.int64)
    month = np.zeros(n, np.int64)
    day = np.zeros(n, np.int64)
    hour = np.zeros(n, np.int64)
    minute = np.zeros(n, np.int64)
    second = np.zeros(n, np.int64)
    micro = np.zeros(n, np.int64)
    pm = np.zeros(n, np.int8)  # 0 none, 1 am, 2 pm
    tz_minutes = np.zeros(n, np.int64)
    done = ~present
    counts: dict[str, int] = {}
    evidence = DateEvidence(counts)
    order, ambiguous, conflicting = None, False, 0
    serial_values = np.full(n, np.nan)
    plain = _plain_iso(arr, year, month, day, hour, minute, second)
    if len(plain):
        done[plain] = True
        counts["iso"] = len(plain)

    for name, pattern in _DATE_PATTERNS.items():
        if done.all():
            break
        struct = pc.extract_regex(arr, pattern)
        hit = _matched(struct) & ~done
        if not hit.any():
            continue
        counts[name] = counts.get(name, 0) + int(hit.sum())
        if name == "serial":
            serial_values[hit] = _float_or_nan(arr)[hit]
            done |= hit
            continue
        y = _year_field(struct)
        if name == "numeric":
            a, b = _int_field(struct, "a"), _int_field(struct, "b")
            evidence.day_first, evidence.month_first = _order_evidence(a[hit], b[hit])
            order, ambiguous, conflicting = evidence.decide(date_order)
            d, m = (a, b) if order == "dayfirst" else (b, a)
        elif name in ("name_dmy", "name_mdy"):
            d = _int_field(struct, "d")
            mon = map_distinct(_str_field(struct, "mon"), lambda s: _MONTHS.get(s.casefold()), pa.int64())
            m = pc.fill_null(mon, 0).to_numpy(zero_copy_only=False)
        else:
            d, m = _int_field(struct, "d"), _int_field(struct, "m")
        year[hit], month[hit], day[hit] = y[hit], m[hit], d[hit]
        if name != "compact":
            _read_time(struct, hit, hour, minute, second, micro, pm, tz_minutes)
        done |= hit

    values, valid = _assemble(year, month, day, hour, minute, second, micro, pm, tz_minutes, date_only)
    serial_hit = ~np.isnan(serial_values)
    if serial_hit.any():
        serial_ts, serial_ok = _from_serial(serial_values)
        values = np.where(serial_hit, serial_ts, values)
        valid = np.where(serial_hit, serial_ok, valid)
    if date_only:
        values = values.astype("datetime64[D]").astype("datetime64[us]")
    bad = present & (~done | ~valid)
    values[~present | bad] = np.datetime64("NaT")
    if order is None and counts:
        order = _reported_order(counts)
    return DateResult(
        values=values, bad=bad, order=order, ambiguous=ambiguous, conflicting=conflicting, evidence=evidence
    )


_PLAIN_ISO = ("9999-99-99T99:99:99", "9999-99-99")  # what Excel date cells and most exports give


def _plain_iso(arr: pa.Array, year, month, day, hour, minute, second) -> list[int] | np.ndarray:
    """Rows written exactly ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD``, their fields filled in.

    Those rows would match the ``iso`` pattern with these very fields; reading
    them by byte position spares the regex (most of the cost of a date column).
    Range checks stay with ``_assemble``, as for every other row.
    """
    if not (pa.types.is_string(arr.type) and isinstance(arr, pa.Array)) or len(arr) == 0:
        return []
    view = _Utf8View(arr)
    found = []
    for pattern in _PLAIN_ISO:
        rows, d = view.fixed_width(pattern)
        if rows.size == 0:
            continue
        year[rows] = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
        month[rows] = d[4] * 10 + d[5]
        day[rows] = d[6] * 10 + d[7]
        if len(d) > 8:
            hour[rows] = d[8] * 10 + d[9]
            minute[rows] = d[10] * 10 + d[11]
            second[rows] = d[12] * 10 + d[13]
        found.append(rows)
    return np.concatenate(found) if found else []


def _float_or_nan(arr: pa.Array) -> np.ndarray:
    numeric = pc.match_substring_regex(arr, r"^\d+(\.\d+)?$")
    text = pc.if_else(pc.fill_null(numeric, False), arr, pa.scalar(None, pa.string()))
    return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)


def _order_evidence(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(values readable only day-first, values readable only month-first) of numeric dates a/b/y."""
    # A value with both parts above 12 is no evidence: it is unreadable either way.
    return int(((a > 12) & (b <= 12)).sum()), int(((b > 12) & (a <= 12)).sum())


def _order_from_evidence(
    day_first_evidence: int, month_first_evidence: int, date_order: str
) -> tuple[str, bool, int]:
    """Day/month order of a numeric date column: (order, ambiguous, values contradicting it)."""
    if date_order in ("dayfirst", "monthfirst"):
        against = month_first_evidence if date_order == "dayfirst" else day_first_evidence
        return date_order, False, against
    if day_first_evidence and not month_first_evidence:
        return "dayfirst", False, 0
    if month_first_evidence and not day_first_evidence:
        return "monthfirst", False, 0
    if day_first_evidence or month_first_evidence:  # contradictory column: the majority wins
        if day_first_evidence >= month_first_evidence:
            return "dayfirst", False, month_first_evidence
        return "monthfirst", False, day_first_evidence
    return DEFAULT_DATE_ORDER, True, 0


def _reported_order(counts: dict[str, int]) -> str:
    if counts.get("name_dmy", 0) >= max(counts.get("name_mdy", 0), 1):
        return "dayfirst"
    if counts.get("name_mdy"):
        return "monthfirst"
    if counts.get("iso") or counts.get("compact"):
        return "iso"
    return "excel"


def _year_field(struct: pa.StructArray) -> np.ndarray:
    """The year group; two digits pivot like strptime's %y (00-68 -> 2000s, 69-99 -> 1900s)."""
    year = _int_field(struct, "Y")
    two_digits = pc.fill_null(pc.equal(pc.utf8_length(_str_field(struct, "Y")), 2), False)
    pivoted = np.where(year < 69, 2000 + year, 1900 + year)
    return np.where(two_digits.to_numpy(zero_copy_only=False), pivoted, year)


def _read_time(struct, hit, hour, minute, second, micro, pm, tz_minutes) -> None:
    hour[hit] = _int_field(struct, "H")[hit]
    minute[hit] = _int_field(struct, "M")[hit]
    second[hit] = _int_field(struct, "S")[hit]
    frac = _str_field(struct, "F")
    frac6 = pc.utf8_rpad(pc.utf8_slice_codeunits(frac, 0, 6), width=6, padding="0")
    micro[hit] = pc.fill_null(pc.cast(frac6, pa.int64()), 0).to_numpy(zero_copy_only=False)[hit]
    ampm = pc.utf8_lower(pc.fill_null(_str_field(struct, "AP"), ""))
    is_pm = pc.starts_with(ampm, "p").to_numpy(zero_copy_only=False)
    is_am = pc.starts_with(ampm, "a").to_numpy(zero_copy_only=False)
    pm[hit & is_am] = 1
    pm[hit & is_pm] = 2
    tz = _str_field(struct, "TZ")
    tz_parts = pc.extract_regex(pc.fill_null(tz, ""), r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})?$")
    offset = _int_field(tz_parts, "h") * 60 + _int_field(tz_parts, "m")
    sign = np.where(
        pc.fill_null(_str_field(tz_parts, "sign"), "+").to_numpy(zero_copy_only=False) == "-", -1, 1
    )
    tz_minutes[hit] = (sign * offset)[hit]


def _assemble(year, month, day, hour, minute, second, micro, pm, tz_minutes, date_only):
    """Calendar fields -> datetime64[us] and a validity mask (month/day/time in range)."""
    valid = (
        (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31) & (year >= _FIRST_YEAR) & (year < _END_YEAR)
    )
    valid &= (minute <= 59) & (second <= 59)
    valid &= np.where(pm > 0, (hour >= 1) & (hour <= 12), hour <= 23)
    hour = np.where(pm == 2, hour % 12 + 12, np.where(pm == 1, hour % 12, hour))
    safe_year = np.where(valid, year, 1970)
    safe_month = np.where(valid, month, 1)
    safe_day = np.where(valid, day, 1)
    months = ((safe_year - 1970) * 12 + (safe_month - 1)).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + (safe_day - 1).astype("timedelta64[D]")
    valid &= days.astype("datetime64[M]") == months  # 31/04, 29/02 in a common year
    offset = 0 if date_only else tz_minutes * 60 * 1_000_000
    clock = ((hour * 60 + minute) * 60 + second) * 1_000_000 + micro - offset
    return days.astype("datetime64[us]") + clock.astype("timedelta64[us]"), valid


def _from_serial(serial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    finite = ~np.isnan(serial)
    safe = np.where(finite, serial, 0.0)
    micros = np.round(safe * _US_PER_DAY).astype(np.int64)
    values = _EXCEL_EPOCH + micros.astype("timedelta64[us]")
    years = values.astype("datetime64[Y]").astype(np.int64) + 1970
    ok = finite & (years >= _SERIAL_YEARS[0]) & (years <= _SERIAL_YEARS[1])
    return values, ok


# ---------------------------------------------------------------- numbers

_CURRENCY = r"[$€£¥₹₩₽¢\s\x{00a0}\x{202f}']"
_CODE = r"^[A-Za-z]{3}\s*|\s*[A-Za-z]{3}$"
_DOT_DECIMAL = r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$"
_COMMA_DECIMAL = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)?(?:,\d+)?$"
_COMMA_EVIDENCE = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+,\d+|\d+,\d{1,2}|\d+,\d{4,}|0,\d+)$"
_DOT_EVIDENCE = r"^[+-]?(?:\d{1,3}(?:,\d{3})+\.\d+|\d{1,3}(?:,\d{3}){2,}|\d+\.\d{1,2}|\d+\.\d{4,})$"


@dataclass
class NumberResult:
    values: np.ndarray  # float64, NaN for blank or unreadable
    bad: np.ndarray
    decimal_comma: bool
    comma_seen: bool = False  # evidence (parts of one column add up with ``or``): a value
    dot_seen: bool = False  # only a decimal comma / decimal point explains


def decimal_comma_from(comma_seen: bool, dot_seen: bool) -> bool:
    """A column is read as decimal-comma only when some value shows it and none shows a decimal point."""
    return comma_seen and not dot_seen


def parse_numbers(arr: pa.Array, decimal_comma: bool | None = None) -> NumberResult:
    """Read a text column as numbers (see module docstring for separators).

    ``decimal_comma`` forces the separator (the decision made over a whole
    column typed in parts); by default the values decide.
    """
    present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    text = pc.replace_substring_regex(arr, _CURRENCY, "")
    text = pc.replace_substring_regex(text, _CODE, "")
    text = pc.replace_substring_regex(text, r"%$", "")
    negative = pc.fill_null(pc.match_substring_regex(text, r"^\(.*\)$"), False)
    text = pc.replace_substring_regex(text, r"^\((.*)\)$", r"\1")
    comma_seen = pc.any(pc.match_substring_regex(text, _COMMA_EVIDENCE)).as_py() or False
    dot_seen = pc.any(pc.match_substring_regex(text, _DOT_EVIDENCE)).as_py() or False
    if decimal_comma is None:
        decimal_comma = decimal_comma_from(comma_seen, dot_seen)
    if decimal_comma:
        ok = pc.match_substring_regex(text, _COMMA_DECIMAL)
        plain = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    else:
        ok = pc.match_substring_regex(text, _DOT_DECIMAL)
        plain = pc.replace_substring(text, ",", "")
    ok = pc.and_(pc.fill_null(ok, False), pc.match_substring_regex(plain, r"\d"))
    readable = pc.if_else(ok, plain, pa.scalar(None, pa.string()))
    values = pc.cast(readable, pa.float64()).to_numpy(zero_copy_only=False)
    values = np.where(negative.to_numpy(zero_copy_only=False), -values, values)
    bad = present & np.isnan(values)
    return NumberResult(
        values=values, bad=bad, decimal_comma=decimal_comma, comma_seen=comma_seen, dot_seen=dot_seen
    )


# ---------------------------------------------------------------- booleans, priorities, vocabularies


@dataclass
class BoolResult:
    values: np.ndarray  # bool; blank = False
    bad: np.ndarray


def parse_bools(arr: pa.Array, vocabulary: dict[str, str]) -> BoolResult:
    """yes/no, y/n, true/false, 1/0, x/blank (blank = false), via the ``bool`` vocabulary."""

    def read(value: str) -> int:
        canonical = vocabulary.get(fold(value))
        return {"true": 1, "false": 0}.get(canonical, -1) if canonical else -1

    codes = pc.fill_null(map_distinct(arr, read, pa.int8()), 0).to_numpy(zero_copy_only=False)
    return BoolResult(values=codes == 1, bad=codes == -1)


_PRIORITY_NUMBER = re.compile(
    r"^\s*(?:p|sev(?:erity)?|prio(?:rity)?)?\s*(\d+)\s*[-–:.)]?\s*(.*)$", re.IGNORECASE
)


def priority_of(value: str, vocabulary: dict[str, str]) -> int | None:
    """One priority label -> 1..4, or None when unrecognised.

    The whole label is looked up first (``P1``, ``Critical``, ``Highest``);
    then a leading number 1..4 (``1 - Critical``); then the words after a
    number outside 1..4 (``5 - Planning`` -> Planning -> 4).
    """
    canonical = vocabulary.get(fold(value))
    if canonical:
        return int(canonical)
    match = _PRIORITY_NUMBER.match(value)
    if match:
        number = int(match.group(1))
        if 1 <= number <= 4:
            return number
        rest = vocabulary.get(fold(match.group(2)))
        if rest:
            return int(rest)
    return None


@dataclass
class PriorityResult:
    values: np.ndarray  # int8 1..4; blank or unrecognised -> default
    defaulted: int  # how many were blank or unrecognised


def parse_priorities(arr: pa.Array, vocabulary: dict[str, str], default: int = 3) -> PriorityResult:
    mapped = map_distinct(arr, lambda v: priority_of(v, vocabulary), pa.int8())
    defaulted = mapped.null_count
    values = pc.fill_null(mapped, default).to_numpy(zero_copy_only=False).astype(np.int8)
    return PriorityResult(values=values, defaulted=defaulted)


def map_vocabulary(arr: pa.Array, vocabulary: dict[str, str]) -> pa.Array:
    """Known spellings -> canonical value (``Outage`` -> ``Incident``); other text kept as given."""
    return map_distinct(arr, lambda v: vocabulary.get(fold(v), v), pa.string())
