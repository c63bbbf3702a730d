"""Properties of the KPI table over random stores (hypothesis).

Scores stay in [0, 100]; a value exists exactly when n > 0; the composite lies
within its component scores; vendor-level counts cover their RMs; movement
parts add up to the change; and two ticket metrics agree with a plain-Python
oracle written straight from the spec.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmdash.db import memory_db
from rmdash.kpi import compute_kpis
from rmdash.movement import movement
from rmdash.rules import load_rules

RMS = ["Rita", "Sam", None]
MONTHS = [datetime(2026, 1, 5, 9), datetime(2026, 2, 5, 9), datetime(2026, 3, 5, 9)]

tickets = st.lists(
    st.fixed_dictionaries(
        {
            "rm": st.sampled_from(RMS),
            "month": st.integers(0, 2),
            "ticket_type": st.sampled_from(["Incident", "Request", "Complaint", "Compliment"]),
            "priority": st.sampled_from([1, 2, 3, 4, None]),
            "response_min": st.one_of(st.none(), st.integers(0, 3000)),
            "escalated": st.sampled_from([True, False, None]),
            "plan": st.sampled_from([True, False, None]),
        }
    ),
    max_size=25,
)
surveys = st.lists(
    st.fixed_dictionaries(
        {
            "rm": st.sampled_from(RMS),
            "month": st.integers(0, 2),
            "overall": st.one_of(st.none(), st.integers(1, 5)),
            "communication": st.integers(1, 5),
            "nps": st.one_of(st.none(), st.integers(0, 10)),
        }
    ),
    max_size=8,
)
meetings = st.lists(
    st.fixed_dictionaries(
        {
            "rm": st.sampled_from(RMS),
            "month": st.integers(0, 2),
            "held": st.one_of(st.none(), st.integers(-10, 10)),
        }
    ),
    max_size=8,
)

_CON = memory_db()


def load(ticket_rows, survey_rows, meeting_rows):
    for table in ("tickets", "surveys", "meetings"):
        _CON.execute(f"DELETE FROM {table}")
    t = pd.DataFrame(
        {
            "ticket_id": [f"T{i}" for i in range(len(ticket_rows))],
            "vendor": "Acme",
            "rm": pd.Series([r["rm"] for r in ticket_rows], dtype=object),
            "ticket_type": [r["ticket_type"] for r in ticket_rows],
            "priority": pd.Series([r["priority"] for r in ticket_rows], dtype="Int8"),
            "opened_at": [MONTHS[r["month"]] for r in ticket_rows],
            "responded_at": [
                None
                if r["response_min"] is None
                else MONTHS[r["month"]] + timedelta(minutes=r["response_min"])
                for r in ticket_rows
            ],
            "action_plan_shared": pd.Series([r["plan"] for r in ticket_rows], dtype="boolean"),
            "escalated": pd.Series([r["escalated"] for r in ticket_rows], dtype="boolean"),
        }
    )
    _CON.execute(
        "INSERT INTO tickets (ticket_id, vendor, rm, ticket_type, priority, opened_at, responded_at, "
        "action_plan_shared, escalated) SELECT * FROM t"
    )
    for i, r in enumerate(survey_rows):
        _CON.execute(
            "INSERT INTO surveys (response_id, vendor, rm, survey_date, overall, communication, nps) "
            "VALUES (?, 'Acme', ?, ?, ?, ?, ?)",
            [f"S{i}", r["rm"], MONTHS[r["month"]].date(), r["overall"], r["communication"], r["nps"]],
        )
    for i, r in enumerate(meeting_rows):
        day = MONTHS[r["month"]].date()
        held = None if r["held"] is None else day + timedelta(days=r["held"])
        _CON.execute(
            "INSERT INTO meetings (meeting_id, vendor, rm, meeting_type, scheduled_date, held_date) "
            "VALUES (?, 'Acme', ?, 'MSR', ?, ?)",
            [f"M{i}", r["rm"], day, held],
        )
    return t


def oracle(ticket_rows, rm, month):
    """response_on_time and escalation_rate (value, n) by the spec's words, row by row."""
    rules = load_rules()
    rows = [r for r in ticket_rows if r["month"] == month and (rm is None or r["rm"] == rm)]
    answered = [r for r in rows if r["ticket_type"] in ("Incident", "Request")]
    on_time = [
        r
        for r in answered
        if r["response_min"] is not None
        and r["response_min"] <= rules.response_targets[r["ticket_type"]][r["priority"] or 3]
    ]
    scoped = [r for r in rows if r["ticket_type"] in ("Incident", "Request", "Complaint")]
    escalated = [r for r in scoped if r["escalated"]]

    def share(part, whole):
        return (len(part) / len(whole) if whole else None, len(whole))

    return share(on_time, answered), share(escalated, scoped)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets, surveys, meetings)
def test_kpi_table_properties_hold_for_any_store(ticket_rows, survey_rows, meeting_rows):
    load(ticket_rows, survey_rows, meeting_rows)
    t = compute_kpis(_CON)
    m, c, comp = t.metrics, t.components, t.composite

    assert ((m["score"] >= 0) & (m["score"] <= 100) | m["score"].isna()).all()
    assert (m["value"].notna() == (m["n"] > 0)).all()
    assert (m["score"].notna() == (m["n"] > 0)).all()
    assert ((c["score"] >= 0) & (c["score"] <= 100) | c["score"].isna()).all()

    scores = c["score"].to_numpy().reshape(len(comp), len(load_rules().components))
    for composite_value, row in zip(comp["composite"], scores, strict=True):
        present = row[~np.isnan(row)]
        if present.size == 0:
            assert np.isnan(composite_value)
        else:
            assert present.min() - 1e-9 <= composite_value <= present.max() + 1e-9

    # The vendor level counts every row of its RMs, and rows without rm on top.
    vendor_n = m[m["rm"].isna()].set_index(["period", "metric"])["n"]
    rm_n = m[m["rm"].notna()].groupby(["period", "metric"])["n"].sum()
    assert (vendor_n.reindex(rm_n.index) >= rm_n).all()

    for period_no, period in enumerate(["2026-01", "2026-02", "2026-03"]):
        for rm in ("Rita", "Sam", None):
            (resp, resp_n), (esc, esc_n) = oracle(ticket_rows, rm, period_no)
            rows = m[(m["period"] == period) & (m["rm"].isna() if rm is None else m["rm"] == rm)]
            if rows.empty:
                assert resp_n == 0 and esc_n == 0
                continue
            by = rows.set_index("metric")
            assert by.loc["response_on_time", "n"] == resp_n
            assert by.loc["escalation_rate", "n"] == esc_n
            if resp is not None:
                assert by.loc["response_on_time", "value"] == pytest.approx(resp)
            if esc is not None:
                assert by.loc["escalation_rate", "value"] == pytest.approx(esc)

    for rm in ("Rita", "Sam", None):
        for period in ("2026-02", "2026-03"):
            parts = movement(t, "Acme", rm, period)
            if parts.empty:
                continue
            sel = comp[(comp["rm"].isna() if rm is None else comp["rm"] == rm)].set_index("period")[
                "composite"
            ]
            change = sel[period] - sel[parts["from_period"].iloc[0]]
            for level in ("component", "metric"):
                assert abs(parts.loc[parts["level"] == level, "contribution"].sum() - change) < 1e-9
