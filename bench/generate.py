"""Synthetic upload files at benchmark scale (10k to 10M tickets), fully vectorised.

Purpose: deterministic pyarrow tables of every upload kind, with the canonical
columns of the registry and believable values, and writers to CSV and xlsx,
for the scale benchmarks. Boundary: makes files only; it never touches a
store (the benchmarks import what it writes through rmdash like a user would).
Realistic *stories* are rmdash.demo's job; this module is about volume.

Every column is built with numpy and pyarrow compute (no Python loop over
rows), so 10M tickets take seconds. Only the xlsx writer goes row by row,
because that is how a spreadsheet is written; it refuses more rows than an
Excel sheet holds.

CLI: ``python -m bench.generate --tickets 100000 --out bench/out --format csv,xlsx``
writes one file per kind and format, the other kinds in proportion to the tickets.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import xlsxwriter

from rmdash.demo import MEETING_TYPES, RESPONDENT_ROLES, XlsxColumn, excel_serials, write_sheet
from rmdash.schema import KIND_NAMES, load_schema

EXCEL_MAX_DATA_ROWS = 1_048_575  # 1,048,576 rows per sheet, one of them the header
N_VENDORS = 20
RMS_PER_VENDOR = 3
START = np.datetime64("2024-11-01T00:00:00", "s")  # a fixed window keeps the output deterministic
SPAN_DAYS = 730
# Rows of each kind per ticket: a governance meeting per 2,000 tickets, a change request
# per 1,000, a survey response per 500, a change communication per 20,000.
PER_TICKET = {
    "tickets": 1.0,
    "meetings": 1 / 2000,
    "change_requests": 1 / 1000,
    "surveys": 1 / 500,
    "communications": 1 / 20000,
}

FIRST_NAMES = (
    "Alex",
    "Sam",
    "Priya",
    "Tom",
    "Marta",
    "Daniel",
    "Sofia",
    "Aisha",
    "Lena",
    "Owen",
    "Nadia",
    "Ravi",
)
LAST_NAMES = ("Raman", "Whitaker", "Kowalska", "Osei", "Lind", "Carter", "Khan", "Fischer", "Price", "Haddad")
TICKET_TYPES = ("Incident", "Request", "Complaint", "Compliment")
TICKET_TYPE_P = (0.40, 0.55, 0.03, 0.02)
PRIORITIES = ("P1", "P2", "P3", "P4")
PRIORITY_P = (0.01, 0.08, 0.5, 0.41)
CATEGORIES = ("Network", "Email", "Access", "Hardware", "Software", "Billing", "Payroll", "Facilities")
DESCRIPTIONS = (
    "User cannot log in",
    "Service degraded for a site",
    "Request for new access",
    "Laptop replacement",
    "Invoice stuck in approval",
    "Report missing from daily pack",
    "Password reset",
    "Printer offline",
)
CR_TITLES = (
    "Migrate file shares",
    "New report",
    "Extend opening hours",
    "Automate matching",
    "SSO for HR system",
)
CR_STATUS = ("Delivered", "In progress", "Cancelled")
CHANGE_TYPES = ("Pricing", "Strategy", "Cost", "Process")
MEETING_STATUS = ("Held", "Rescheduled", "Cancelled")
COMMENTS = (
    "Proactive and clear.",
    "Reports arrive late.",
    "Good partnership.",
    "Escalations needed too often.",
)
SCORE_COLUMNS = load_schema().kinds["surveys"].at_least_one  # the question columns, from the registry


# --------------------------------------------------------------------------- vectorised helpers


def rows_for(tickets: int) -> dict[str, int]:
    """Rows of every kind for a benchmark of `tickets` tickets (at least one each)."""
    out = {kind: max(1, round(tickets * share)) for kind, share in PER_TICKET.items()}
    out["contracts"] = N_VENDORS
    return {kind: out[kind] for kind in KIND_NAMES}


def _rng(kind: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(kind.encode())])


def _pick(pool: tuple[str, ...] | list[str], idx: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """pool[idx] as an Arrow string array; rows where `null` is true are blank."""
    return pa.array(list(pool), pa.string()).take(pa.array(idx, pa.int32(), mask=null))


def _choice(rng, pool, n: int, p=None, null_share: float = 0.0) -> pa.Array:
    idx = rng.choice(len(pool), n, p=p)
    null = rng.random(n) < null_share if null_share else None
    return _pick(pool, idx, null)


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """PREFIX00000001 ... built in Arrow compute, not Python."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def vendor_names(n: int = N_VENDORS) -> list[str]:
    return [f"Vendor {i:03d}" for i in range(1, n + 1)]


def rm_names(n_vendors: int = N_VENDORS) -> list[str]:
    """RMS_PER_VENDOR names per vendor, vendor-major (RM j of vendor v is at v * RMS_PER_VENDOR + j)."""
    out = []
    for i in range(n_vendors * RMS_PER_VENDOR):
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        out.append(f"{first} {last} {i // RMS_PER_VENDOR + 1:03d}")
    return out


def _vendor_rm(rng, n: int, rm_null_share: float) -> tuple[pa.Array, pa.Array]:
    vendor = rng.integers(0, N_VENDORS, n)
    rm = vendor * RMS_PER_VENDOR + rng.integers(0, RMS_PER_VENDOR, n)
    return _pick(vendor_names(), vendor), _pick(rm_names(), rm, rng.random(n) < rm_null_share)


def _seconds(rng, n: int) -> np.ndarray:
    return START + rng.integers(0, SPAN_DAYS * 86400, n).astype("timedelta64[s]")


def _timestamps(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype("datetime64[s]"), pa.timestamp("s"), mask=null)


def _dates(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype("datetime64[D]"), pa.date32(), mask=null)


def _offset(values: np.ndarray, amounts: np.ndarray, unit: str) -> np.ndarray:
    return values + amounts.astype(f"timedelta64[{unit}]")


# --------------------------------------------------------------------------- kinds


def _tickets(rng, n: int) -> dict[str, pa.Array]:
    ttype_idx = rng.choice(4, n, p=TICKET_TYPE_P)
    is_incident = ttype_idx == 0
    is_compliment = ttype_idx == 3
    opened = _seconds(rng, n)
    responded = _offset(opened, rng.lognormal(np.log(40 * 60), 1.2, n).astype(np.int64), "s")
    resolved = _offset(opened, rng.lognormal(np.log(20 * 3600), 1.0, n).astype(np.int64), "s")
    told = _offset(resolved, rng.lognormal(np.log(6 * 3600), 1.0, n).astype(np.int64), "s")
    unresolved = is_compliment | (rng.random(n) < 0.04)
    vendor, rm = _vendor_rm(rng, n, 0.03)
    return {
        "ticket_id": _ids("INC", n, 9),
        "vendor": vendor,
        "rm": rm,
        "ticket_type": _pick(TICKET_TYPES, ttype_idx),
        "priority": _choice(rng, PRIORITIES, n, PRIORITY_P),
        "opened_at": _timestamps(opened),
        "responded_at": _timestamps(responded, is_compliment | (rng.random(n) < 0.02)),
        "action_plan_shared": pa.array(rng.random(n) < 0.85, pa.bool_(), mask=~is_incident),
        "resolved_at": _timestamps(resolved, unresolved),
        "resolution_communicated_at": _timestamps(told, unresolved | (rng.random(n) < 0.02)),
        "escalated": pa.array(~is_compliment & (rng.random(n) < 0.06)),
        "category": _choice(rng, CATEGORIES, n),
        "description": _choice(rng, DESCRIPTIONS, n),
    }


def _meetings(rng, n: int) -> dict[str, pa.Array]:
    types = list(MEETING_TYPES)
    titles = ["; ".join(MEETING_TYPES[t]) for t in types]
    partial = ["; ".join(MEETING_TYPES[t][:-1]) for t in types]  # one required title missing
    type_idx = rng.choice(len(types), n, p=(0.75, 0.2, 0.05))
    scheduled = START.astype("datetime64[D]") + rng.integers(0, SPAN_DAYS, n).astype("timedelta64[D]")
    status_idx = rng.choice(3, n, p=(0.85, 0.08, 0.07))
    shift = np.where(status_idx == 0, rng.integers(-2, 3, n), rng.integers(8, 22, n))
    not_held = status_idx == 2
    full = rng.random(n) < 0.8
    due = _offset(scheduled, np.where(type_idx == 0, 1, -3), "D")
    vendor, rm = _vendor_rm(rng, n, 0.0)
    return {
        "meeting_id": _ids("MTG", n, 8),
        "vendor": vendor,
        "rm": rm,
        "meeting_type": _pick(types, type_idx),
        "scheduled_date": _dates(scheduled),
        "held_date": _dates(_offset(scheduled, shift, "D"), not_held),
        "status": _pick(MEETING_STATUS, status_idx),
        "required_attendees": _pick(titles, type_idx),
        "attendees": _pick(titles + partial, type_idx + np.where(full, 0, len(types)), not_held),
        "report_due_date": _dates(due, not_held),
        "report_sent_date": _dates(
            _offset(due, rng.integers(-2, 6, n), "D"), not_held | (rng.random(n) < 0.05)
        ),
    }


def _change_requests(rng, n: int) -> dict[str, pa.Array]:
    requested = START.astype("datetime64[D]") + rng.integers(0, SPAN_DAYS, n).astype("timedelta64[D]")
    estimate = np.round(rng.lognormal(np.log(14_000), 0.8, n), -2)
    actual = np.round(estimate * (1 + rng.normal(0.05, 0.15, n)), -1)
    est_delivery = _offset(requested, rng.integers(14, 90, n), "D")
    status_idx = rng.choice(3, n, p=(0.8, 0.15, 0.05))
    done = status_idx == 0
    vendor, rm = _vendor_rm(rng, n, 0.02)
    return {
        "cr_id": _ids("CR", n, 8),
        "vendor": vendor,
        "rm": rm,
        "title": _choice(rng, CR_TITLES, n),
        "requested_date": _dates(requested),
        "estimated_cost": pa.array(estimate),
        "actual_cost": pa.array(actual, mask=~done),
        "estimated_delivery_date": _dates(est_delivery),
        "actual_delivery_date": _dates(_offset(est_delivery, rng.integers(-10, 30, n), "D"), ~done),
        "status": _pick(CR_STATUS, status_idx),
    }


def _surveys(rng, n: int) -> dict[str, pa.Array]:
    mood = rng.beta(6, 2, n)  # most stakeholders fairly happy, a tail of unhappy ones
    scores = np.clip(np.rint(1 + 4 * (mood[:, None] + rng.normal(0, 0.1, (n, len(SCORE_COLUMNS))))), 1, 5)
    skipped = rng.random(scores.shape) < 0.05
    nps = np.clip(np.rint(10 * mood + rng.normal(0.5, 1.0, n)), 0, 10)
    vendor, rm = _vendor_rm(rng, n, 0.1)
    return {
        "response_id": _ids("R", n, 9),
        "vendor": vendor,
        "rm": rm,
        "survey_date": _dates(
            START.astype("datetime64[D]") + rng.integers(0, SPAN_DAYS, n).astype("timedelta64[D]")
        ),
        "respondent_role": _choice(rng, RESPONDENT_ROLES, n),
        **{name: pa.array(scores[:, i], mask=skipped[:, i]) for i, name in enumerate(SCORE_COLUMNS)},
        "nps": pa.array(nps, mask=rng.random(n) < 0.05),
        "comment": _choice(rng, COMMENTS, n, null_share=0.4),
    }


def _communications(rng, n: int) -> dict[str, pa.Array]:
    type_idx = rng.choice(4, n, p=(0.25, 0.25, 0.25, 0.25))
    effective = START.astype("datetime64[D]") + rng.integers(0, SPAN_DAYS, n).astype("timedelta64[D]")
    notice = np.where(type_idx == 0, rng.integers(120, 240, n), rng.integers(10, 90, n))
    vendor, rm = _vendor_rm(rng, n, 0.3)
    return {
        "comm_id": _ids("CN", n, 8),
        "vendor": vendor,
        "rm": rm,
        "change_type": _pick(CHANGE_TYPES, type_idx),
        "communicated_date": _dates(_offset(effective, -notice, "D")),
        "effective_date": _dates(effective),
    }


def _contracts(rng, n: int) -> dict[str, pa.Array]:
    pct = rng.choice([5.0, 10.0, 15.0, 0.08, 0.12], n)  # both percent and fraction forms
    return {
        "vendor": pa.array(vendor_names(n)),
        "monthly_fee": pa.array(np.round(rng.uniform(20_000, 400_000, n), -3)),
        "at_risk_pct": pa.array(pct),
        "bonus_pct": pa.array(rng.choice([0.02, 0.03, 0.05], n), mask=rng.random(n) < 0.25),
        "currency": _choice(rng, ("GBP", "EUR", "USD"), n),
    }


BUILDERS: dict[str, Callable[[np.random.Generator, int], dict[str, pa.Array]]] = {
    "meetings": _meetings,
    "tickets": _tickets,
    "change_requests": _change_requests,
    "surveys": _surveys,
    "communications": _communications,
    "contracts": _contracts,
}


def generate(kind: str, n_rows: int, seed: int = 1) -> pa.Table:
    """`n_rows` rows of `kind` with the registry's canonical columns, deterministic for `seed`."""
    columns = load_schema().kind(kind).column_names
    data = BUILDERS[kind](_rng(kind, seed), int(n_rows))
    if set(data) != set(columns):
        raise AssertionError(
            f"bench {kind} columns differ from the registry: {sorted(set(data) ^ set(columns))}"
        )
    return pa.table({name: data[name] for name in columns})


# --------------------------------------------------------------------------- writers


def write_csv(table: pa.Table, path: str | Path) -> Path:
    """Comma-separated, UTF-8, header row; timestamps as ISO text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)
    return path


def _xlsx_column(name: str, array: pa.ChunkedArray) -> XlsxColumn:
    t = array.type
    if pa.types.is_timestamp(t):
        return XlsxColumn(name, "datetime", excel_serials(array.to_numpy()), 17)
    if pa.types.is_date(t):
        return XlsxColumn(name, "date", excel_serials(array.cast(pa.timestamp("s")).to_numpy()), 12)
    if pa.types.is_boolean(t):
        return XlsxColumn(name, "bool", array.to_pylist(), 10)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return XlsxColumn(name, "number", array.to_pylist(), 12)
    return XlsxColumn(name, "string", array.cast(pa.string()).to_pylist(), 20)


def write_xlsx(table: pa.Table, path: str | Path, sheet: str = "Data") -> Path:
    """One sheet with a header row and real Excel date cells (xlsxwriter constant_memory mode)."""
    if table.num_rows > EXCEL_MAX_DATA_ROWS:
        raise ValueError(
            f"{table.num_rows:,} rows do not fit an Excel sheet (at most {EXCEL_MAX_DATA_ROWS:,}); write CSV instead"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    wb.set_properties({"title": "rmdash benchmark data", "created": START.astype(object)})
    write_sheet(wb, sheet, [_xlsx_column(name, table[name]) for name in table.column_names])
    wb.close()
    return path


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tickets", type=int, required=True, help="number of tickets; other kinds in proportion"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--format", default="csv", help="comma-separated: csv, xlsx")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KIND_NAMES), help="comma-separated kinds to write")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [f for f in formats if f not in WRITERS] + [k for k in kinds if k not in KIND_NAMES]
    if bad:
        parser.error(f"unknown format or kind: {', '.join(bad)}")
    counts = rows_for(args.tickets)
    schema = load_schema()
    for kind in kinds:
        t0 = time.perf_counter()
        table = generate(kind, counts[kind], args.seed)
        made = time.perf_counter() - t0
        for fmt in formats:
            path = args.out / f"{kind}.{fmt}"
            if fmt == "xlsx" and table.num_rows > EXCEL_MAX_DATA_ROWS:
                print(f"{path}: skipped, {table.num_rows:,} rows exceed an Excel sheet")
                continue
            t1 = time.perf_counter()
            if fmt == "xlsx":
                write_xlsx(table, path, sheet=schema.kind(kind).label)
            else:
                write_csv(table, path)
            print(
                f"{path}: {table.num_rows:,} rows, generated {made:.2f} s, written {time.perf_counter() - t1:.2f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
