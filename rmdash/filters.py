"""Dashboard filter state and its URL query parameters, both ways.

Purpose: one definition of what the shared filters are (vendors, RM, period
range, grain, the vendor in focus, presentation mode), how they are written
into and read back from a URL (so a link reopens the same view), and what they
mean for a long KPI frame (which rows they keep). Boundary: pure functions over
plain values and pandas frames; no streamlit, no database.

The period range is kept as calendar months ("2026-01".."2026-06") whatever
the grain, so switching month <-> quarter keeps the range: a period is shown
when it overlaps the range.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd

GRAINS = ("month", "quarter")
PERIOD_MONTHS = {"month": 1, "quarter": 3}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Filters:
    vendors: tuple[str, ...] = ()  # empty = every vendor
    rm: str | None = None
    month_from: str | None = None  # "YYYY-MM", None = from the first period
    month_to: str | None = None  # "YYYY-MM", None = to the last period
    grain: str = "month"
    focus: str | None = None  # the one vendor a single-vendor page shows
    present: bool = False

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)


def _values(params: Mapping[str, str | Sequence[str]], key: str) -> list[str]:
    raw = params.get(key)
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    return [str(v) for v in raw]


def _one(params: Mapping[str, str | Sequence[str]], key: str) -> str | None:
    vals = [v.strip() for v in _values(params, key) if v.strip()]
    return vals[-1] if vals else None


def _month(value: str | None) -> str | None:
    return value if value is not None and _MONTH.match(value) else None


def from_query(params: Mapping[str, str | Sequence[str]]) -> Filters:
    """Filters from URL query parameters; anything malformed falls back to its default."""
    vendors = tuple(dict.fromkeys(v.strip() for v in _values(params, "vendor") if v.strip()))
    grain = _one(params, "grain")
    month_from, month_to = _month(_one(params, "from")), _month(_one(params, "to"))
    if month_from and month_to and month_from > month_to:
        month_from, month_to = month_to, month_from
    return Filters(
        vendors=vendors,
        rm=_one(params, "rm"),
        month_from=month_from,
        month_to=month_to,
        grain=grain if grain in GRAINS else "month",
        focus=_one(params, "focus"),
        present=(_one(params, "present") or "").casefold() in _TRUE,
    )


def to_query(f: Filters) -> dict[str, str | list[str]]:
    """URL query parameters for ``f``; defaults are left out to keep links short."""
    out: dict[str, str | list[str]] = {}
    if f.vendors:
        out["vendor"] = list(f.vendors)
    if f.rm:
        out["rm"] = f.rm
    if f.month_from:
        out["from"] = f.month_from
    if f.month_to:
        out["to"] = f.month_to
    if f.grain != "month":
        out["grain"] = f.grain
    if f.focus:
        out["focus"] = f.focus
    if f.present:
        out["present"] = "1"
    return out


def restrict(f: Filters, vendors: Sequence[str], rms: Sequence[str]) -> Filters:
    """Drop filter values that name a vendor or RM the store does not have (e.g. from an old link)."""
    known_v, known_rm = set(vendors), set(rms)
    return f.with_(
        vendors=tuple(v for v in f.vendors if v in known_v),
        rm=f.rm if f.rm in known_rm else None,
        focus=f.focus if f.focus in known_v else None,
    )


# ---------------------------------------------------------------- periods


def month_of(ts: pd.Timestamp) -> str:
    return f"{ts.year:04d}-{ts.month:02d}"


def _month_start(month: str) -> pd.Timestamp:
    return pd.Timestamp(f"{month}-01")


def in_range(period_start: pd.Series, grain: str, f: Filters) -> pd.Series:
    """Which periods (by their start) overlap the filter's month range."""
    starts = (
        period_start if pd.api.types.is_datetime64_any_dtype(period_start) else pd.to_datetime(period_start)
    )
    keep = pd.Series(True, index=period_start.index)
    if f.month_to:
        keep &= starts <= _month_start(f.month_to)
    if f.month_from:  # the period ends after the range starts
        keep &= starts > _month_start(f.month_from) - pd.DateOffset(months=PERIOD_MONTHS[grain])
    return keep


def range_labels(periods: pd.DataFrame, grain: str, f: Filters) -> tuple[str, str] | None:
    """(first, last) period label inside the range, for a range slider; None when none is."""
    if periods.empty:
        return None
    ordered = periods.sort_values("period_start")
    inside = ordered[in_range(ordered["period_start"], grain, f)]
    if inside.empty:
        inside = ordered
    return str(inside["period"].iloc[0]), str(inside["period"].iloc[-1])


def months_for_labels(periods: pd.DataFrame, grain: str, first: str, last: str) -> tuple[str, str]:
    """The month range covering periods ``first``..``last`` (labels from ``periods``)."""
    starts = dict(zip(periods["period"].astype(str), pd.to_datetime(periods["period_start"]), strict=True))
    lo, hi = starts[first], starts[last]
    if lo > hi:
        lo, hi = hi, lo
    hi_end = hi + pd.DateOffset(months=PERIOD_MONTHS[grain] - 1)
    return month_of(lo), month_of(hi_end)


def is_whole_range(periods: pd.DataFrame, grain: str, first: str, last: str) -> bool:
    """True when ``first``..``last`` spans every period (the range filter is then left out)."""
    ordered = periods.sort_values("period_start")["period"].astype(str)
    return bool(len(ordered)) and first == ordered.iloc[0] and last == ordered.iloc[-1]


# ---------------------------------------------------------------- frames


def select(
    frame: pd.DataFrame, f: Filters, grain: str, *, level: str = "vendor", use_rm: bool = True
) -> pd.DataFrame:
    """Rows of a long KPI frame (vendor, rm, period, period_start, ...) the filters keep.

    ``level``: "vendor" keeps vendor-level rows (rm null), "rm" keeps RM rows,
    "any" keeps both. With ``use_rm`` and an RM chosen, RM-level rows are those of that RM.
    """
    keep = in_range(frame["period_start"], grain, f)
    if f.vendors:
        keep &= frame["vendor"].isin(f.vendors)
    if level == "vendor":
        keep &= frame["rm"].isna()
    elif level == "rm":
        keep &= frame["rm"].notna()
        if use_rm and f.rm:
            keep &= frame["rm"] == f.rm
    return frame[keep]
