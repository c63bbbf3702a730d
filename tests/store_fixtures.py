"""Builders of planned sheets and files for store and CLI tests (no spreadsheet parsing involved).

``sheet_plan`` builds a SheetPlan the way rmdash.plan hands it over: every
canonical column of the kind, typed, plus row_no; ``file_plan`` wraps sheets in
a FilePlan whose bytes really exist on disk (the store archives them).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa

from rmdash import store
from rmdash.model import FilePlan, ImportOptions, SheetPlan
from rmdash.schema import load_schema

_PANDAS_TYPES = {
    "text": "str",
    "titles": "str",
    "number": "float64",
    "score": "float64",
    "bool": "boolean",
    "priority": "Int8",
}
_EXTRA_DEFAULTS = {"scale_min": 1.0, "scale_max": 5.0}


def typed_frame(kind: str, rows: list[dict]) -> pd.DataFrame:
    """Rows as plan_file() hands them over: every canonical column, typed, plus row_no."""
    k = load_schema().kind(kind)
    frame = pd.DataFrame(rows)
    out = {}
    for col in k.columns:
        values = (
            frame[col.name] if col.name in frame.columns else pd.Series([None] * len(frame), dtype="object")
        )
        if col.type in ("date", "datetime"):
            out[col.name] = pd.to_datetime(values)
        else:
            out[col.name] = values.astype(_PANDAS_TYPES[col.type])
    for extra in k.extra_columns:
        values = (
            frame[extra] if extra in frame.columns else pd.Series(_EXTRA_DEFAULTS[extra], index=frame.index)
        )
        out[extra] = values.astype("float64")
    result = pd.DataFrame(out, index=frame.index)
    result["row_no"] = frame["row_no"] if "row_no" in frame.columns else range(2, len(frame) + 2)
    return result


def sheet_plan(kind: str, rows: list[dict], sheet: str | None = "Sheet1", rejected=None, **kw) -> SheetPlan:
    return SheetPlan(
        file_name=kw.pop("file_name", "upload.xlsx"),
        sheet=sheet,
        kind=kind,
        kind_reason="test",
        header_row=1,
        mapping={c: c for c in (rows[0] if rows else {})},
        unmapped=[],
        constants=kw.pop("constants", {}),
        date_orders={},
        ambiguous_dates=[],
        accepted_rows=pa.Table.from_pandas(typed_frame(kind, rows), preserve_index=False),
        rejected_rows=rejected_table(rejected),
        **kw,
    )


def rejected_table(rejected: pd.DataFrame | None) -> pa.Table:
    """Rejected rows as SheetPlan holds them: row_no int64, reason and raw (JSON text; dicts are dumped)."""
    frame = rejected if rejected is not None else pd.DataFrame({"row_no": [], "reason": [], "raw": []})
    return pa.table(
        {
            "row_no": pa.array(frame["row_no"].tolist(), pa.int64()),
            "reason": pa.array(frame["reason"].tolist(), pa.string()),
            "raw": pa.array(
                [json.dumps(v) if isinstance(v, dict) else v for v in frame["raw"].tolist()], pa.string()
            ),
        }
    )


def file_plan(tmp_path, name: str, *sheets: SheetPlan, content: bytes | None = None) -> FilePlan:
    """A FilePlan whose bytes really exist on disk (the store archives them)."""
    data = content if content is not None else f"{name}:{[s.accepted for s in sheets]}".encode()
    path = tmp_path / name
    path.write_bytes(data)
    return FilePlan(
        path=str(path),
        file_name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        sheets=list(sheets),
    )


def ticket(tid: str, vendor: str = "Acme", **kw) -> dict:
    row = {
        "ticket_id": tid,
        "vendor": vendor,
        "rm": "Rita",
        "ticket_type": "Incident",
        "priority": 2,
        "opened_at": "2026-01-05 09:00",
    }
    row.update(kw)
    return row


def write(con, tmp_path, name, *sheets, options=None, content=None):
    """Import one planned file straight through the store."""
    return store.write_plans(
        con, [file_plan(tmp_path, name, *sheets, content=content)], options or ImportOptions()
    )


def tickets_now(con) -> list[tuple]:
    """Current tickets as (vendor, ticket_id, description, batch_id), None for blanks."""
    frame = store.current_rows(con, "tickets").astype(object)
    frame = frame.where(frame.notna(), None)
    return list(frame[["vendor", "ticket_id", "description", "batch_id"]].itertuples(index=False, name=None))


@contextmanager
def lock_held_by_another_process(path: Path) -> Iterator[None]:
    """Another Python process holds the database's write lock for the duration of the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


_HOLD_LOCK = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""
