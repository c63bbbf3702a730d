"""Small builders for KPI tests: insert current rows straight into a store's tables.

Each helper inserts one row of one kind with sensible defaults; keyword
arguments override any canonical column. Ids are generated when not given.
"""

from __future__ import annotations

import itertools

import pandas as pd

from rmdash.kpi import KpiTable

_ids = itertools.count(1)


def insert(con, table: str, **values) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    con.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))


def meeting(con, *, vendor="Acme", rm="Rita", scheduled_date="2026-03-10", **kw) -> None:
    kw.setdefault("meeting_id", f"M{next(_ids)}")
    kw.setdefault("meeting_type", "Monthly service review")
    insert(con, "meetings", vendor=vendor, rm=rm, scheduled_date=scheduled_date, **kw)


def ticket(
    con, *, vendor="Acme", rm="Rita", ticket_type="Incident", opened_at="2026-03-10 09:00", **kw
) -> None:
    kw.setdefault("ticket_id", f"T{next(_ids)}")
    # An export with both flag columns: a blank cell reads as false at import (null = no column).
    kw.setdefault("escalated", False)
    kw.setdefault("action_plan_shared", False)
    insert(con, "tickets", vendor=vendor, rm=rm, ticket_type=ticket_type, opened_at=opened_at, **kw)


def change_request(con, *, vendor="Acme", rm="Rita", estimated_cost=100.0, **kw) -> None:
    kw.setdefault("cr_id", f"CR{next(_ids)}")
    kw.setdefault("requested_date", "2026-01-01")
    kw.setdefault("actual_delivery_date", "2026-03-15")
    insert(con, "change_requests", vendor=vendor, rm=rm, estimated_cost=estimated_cost, **kw)


def survey(con, *, vendor="Acme", rm="Rita", survey_date="2026-03-20", **kw) -> None:
    kw.setdefault("response_id", f"S{next(_ids)}")
    insert(con, "surveys", vendor=vendor, rm=rm, survey_date=survey_date, **kw)


def communication(con, *, vendor="Acme", rm="Rita", change_type="Process", **kw) -> None:
    kw.setdefault("comm_id", f"C{next(_ids)}")
    kw.setdefault("communicated_date", "2026-01-01")
    kw.setdefault("effective_date", "2026-03-01")
    insert(con, "communications", vendor=vendor, rm=rm, change_type=change_type, **kw)


def contract(con, *, vendor="Acme", monthly_fee=10000.0, at_risk_pct=10.0, bonus_pct=None, currency="EUR"):
    insert(
        con,
        "contracts",
        vendor=vendor,
        monthly_fee=monthly_fee,
        at_risk_pct=at_risk_pct,
        bonus_pct=bonus_pct,
        currency=currency,
    )


def _pick(frame: pd.DataFrame, vendor: str, rm: str | None, period: str) -> pd.DataFrame:
    rm_match = frame["rm"].isna() if rm is None else frame["rm"] == rm
    return frame[(frame["vendor"] == vendor) & rm_match & (frame["period"] == period)]


def metric(
    table: KpiTable, name: str, period: str = "2026-03", vendor="Acme", rm: str | None = "Rita"
) -> dict:
    """{"value", "n", "score", "low_sample"} of one metric of one row (fails if the row is missing)."""
    rows = _pick(table.metrics, vendor, rm, period)
    row = rows[rows["metric"] == name]
    assert len(row) == 1, f"expected one row for {name} {vendor}/{rm}/{period}, got {len(row)}"
    r = row.iloc[0]
    return {"value": r["value"], "n": int(r["n"]), "score": r["score"], "low_sample": bool(r["low_sample"])}


def component(table: KpiTable, name: str, period="2026-03", vendor="Acme", rm: str | None = "Rita") -> dict:
    rows = _pick(table.components, vendor, rm, period)
    row = rows[rows["component"] == name]
    assert len(row) == 1
    r = row.iloc[0]
    return {"score": r["score"], "n": int(r["n"]), "low_sample": bool(r["low_sample"])}


def composite(table: KpiTable, period="2026-03", vendor="Acme", rm: str | None = "Rita") -> pd.Series:
    rows = _pick(table.composite, vendor, rm, period)
    assert len(rows) == 1, f"expected one composite row for {vendor}/{rm}/{period}, got {len(rows)}"
    return rows.iloc[0]
