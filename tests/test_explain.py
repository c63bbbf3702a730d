"""Explain one (vendor, rm, period): every number, its contribution, and the rows that failed it."""

from __future__ import annotations

import pandas as pd
import pytest
from kpi_fixtures import change_request, communication, meeting, survey, ticket

from rmdash.db import memory_db
from rmdash.explain import explain
from rmdash.model import RmdashError


@pytest.fixture(scope="module")
def con():
    c = memory_db()
    t0 = "2026-03-10 09:00"
    ticket(c, ticket_id="T-LATE", priority=1, opened_at=t0, responded_at="2026-03-10 09:45")  # 45 > 30
    ticket(
        c,
        ticket_id="T-OK",
        priority=2,
        opened_at=t0,
        responded_at="2026-03-10 09:30",
        action_plan_shared=True,
    )
    ticket(c, ticket_id="R-NEVER", ticket_type="Request", opened_at=t0)  # P3 request, never answered
    ticket(c, ticket_id="T-NORM", rm=None, priority=1, opened_at=t0, escalated=True)  # no rm
    ticket(c, ticket_id="C-1", ticket_type="Complaint", opened_at=t0)
    meeting(c, meeting_id="M-HELD", held_date="2026-03-10", required_attendees="CFO; CIO", attendees="cfo")
    meeting(c, meeting_id="M-MISSED", held_date=None, report_due_date="2026-03-12")
    change_request(c, cr_id="CR-OVER", estimated_cost=100, actual_cost=150)
    change_request(c, cr_id="CR-EXACT", estimated_cost=100, actual_cost=100)
    change_request(c, cr_id="CR-UNDER", estimated_cost=100, actual_cost=90)
    survey(c, response_id="S-DET", overall=2, nps=3, comment="slow")
    survey(c, response_id="S-PRO", overall=5, nps=10)
    communication(
        c,
        comm_id="N-SHORT",
        change_type="Pricing",
        communicated_date="2026-01-01",
        effective_date="2026-03-01",
    )
    communication(
        c, comm_id="N-OK", change_type="Process", communicated_date="2026-01-01", effective_date="2026-03-01"
    )
    yield c
    c.close()


@pytest.fixture(scope="module")
def rita(con):
    return explain(con, "Acme", "Rita", "2026-03", "month")


@pytest.fixture(scope="module")
def acme(con):
    return explain(con, "Acme", None, "2026-03", "month")


def test_late_responses_list_minutes_taken_against_the_target(rita):
    rows = rita.failing["response_on_time"]
    assert rows["ticket_id"].tolist() == ["R-NEVER", "T-LATE"]  # by opened_at, then id
    late = rows.set_index("ticket_id")
    assert late.loc["T-LATE", "minutes_taken"] == pytest.approx(45.0)
    assert late.loc["T-LATE", "target_minutes"] == 30
    assert late.loc["R-NEVER", "target_minutes"] == 1440  # blank priority: P3 request
    assert late.loc["R-NEVER", "priority_used"] == 3


def test_rows_without_rm_appear_only_at_vendor_level(rita, acme):
    assert "T-NORM" not in set(rita.failing["response_on_time"]["ticket_id"])
    vendor_rows = acme.failing["response_on_time"].set_index("ticket_id")
    assert set(vendor_rows.index) == {"T-LATE", "R-NEVER", "T-NORM"}
    assert pd.isna(vendor_rows.loc["T-NORM", "rm"]) and vendor_rows.loc["T-LATE", "rm"] == "Rita"
    assert acme.failing["escalation_rate"]["ticket_id"].tolist() == ["T-NORM"]
    assert rita.failing["escalation_rate"].empty
    assert "rm" not in rita.failing["escalation_rate"].columns


def test_each_metric_lists_the_rows_that_hurt_it(rita):
    f = rita.failing
    assert f["meetings_held_on_time"]["meeting_id"].tolist() == ["M-MISSED"]
    assert f["reports_on_time"]["meeting_id"].tolist() == ["M-MISSED"]
    att = f["attendance"].iloc[0]
    assert (att["meeting_id"], att["missing_titles"], att["attended_n"], att["required_n"]) == (
        "M-HELD",
        "CIO",
        1,
        2,
    )
    assert f["action_plan_shared"]["ticket_id"].tolist() == ["T-LATE"]
    assert f["complaint_share"]["ticket_id"].tolist() == ["C-1"]
    cost = f["cost_accuracy"]
    assert cost["cr_id"].tolist() == ["CR-OVER", "CR-UNDER"]  # largest variance first; exact CR not listed
    assert cost["cost_variance"].tolist() == [50.0, -10.0]
    assert cost["cost_variance_pct"].tolist() == pytest.approx([0.5, -0.1])
    assert f["nps"]["response_id"].tolist() == ["S-DET"]
    assert f["satisfaction"]["response_id"].tolist() == ["S-DET"]  # 0.25 < target 0.90; S-PRO is 1.0
    short = f["change_notice_on_time"].iloc[0]
    assert (short["comm_id"], short["notice_days_given"], short["required_notice_days"]) == (
        "N-SHORT",
        59,
        182,
    )
    assert len(f["change_notice_on_time"]) == 1
    assert f["schedule_on_time"].empty  # no CR has both delivery dates


def test_numerator_and_denominator_give_the_value(rita):
    m = rita.metrics.set_index("metric")
    assert (m.loc["response_on_time", "numerator"], m.loc["response_on_time", "denominator"]) == (1.0, 3)
    assert m.loc["response_on_time", "value"] == pytest.approx(1 / 3)
    assert (m.loc["nps", "numerator"], m.loc["nps", "denominator"]) == (0.0, 2)
    assert m.loc["nps", "target"] == 50 and m.loc["nps", "floor"] == -20
    assert m.loc["resolution_communicated", "denominator"] == 0
    assert (
        m.loc["resolution_communicated", "numerator"] != m.loc["resolution_communicated", "numerator"]
    )  # NaN


def test_contributions_add_up_to_the_composite(rita, acme):
    for e in (rita, acme):
        assert e.metrics["contribution"].sum() == pytest.approx(e.composite, abs=1e-9)
        assert e.components["contribution"].sum() == pytest.approx(e.composite, abs=1e-9)
        assert e.components["weight_share"].sum() == pytest.approx(1.0)


def test_a_component_contribution_is_its_weight_share_times_its_score(rita):
    c = rita.components.set_index("component")
    assert c.loc["communication", "score"] == 0.0  # one of two notices short: 0.5 -> floor
    assert c.loc["communication", "weight_share"] == pytest.approx(5 / 100)  # every component has data
    assert c.loc["governance", "contribution"] == pytest.approx(0.20 * c.loc["governance", "score"])


def test_limit_caps_the_failing_rows_per_metric(con):
    e = explain(con, "Acme", None, "2026-03", "month", limit=1)
    assert len(e.failing["response_on_time"]) == 1


def test_explaining_a_row_that_does_not_exist_is_one_clear_error(con):
    with pytest.raises(RmdashError, match="no data for Acme / Nobody in 2026-03"):
        explain(con, "Acme", "Nobody", "2026-03", "month")


def test_a_quarter_explains_the_pooled_rows(con):
    e = explain(con, "Acme", "Rita", "2026-Q1", "quarter")
    assert set(e.failing["response_on_time"]["ticket_id"]) == {"T-LATE", "R-NEVER"}
    assert e.period == "2026-Q1"


def test_the_explain_command_prints_numbers_and_failing_rows(tmp_path, capsys):
    import json

    from rmdash.cli import main
    from rmdash.db import open_db

    db = tmp_path / "store.duckdb"
    c = open_db(db)
    ticket(c, ticket_id="T-LATE", priority=1, responded_at="2026-03-10 09:45")
    c.close()
    args = ["explain", "--db", str(db), "--vendor", "Acme", "--rm", "Rita", "--period", "2026-03"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("Acme / Rita, 2026-03: composite")
    assert "T-LATE" in text and "response_on_time: incidents and requests answered late or never" in text
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["failing"]["response_on_time"][0]["ticket_id"] == "T-LATE"
    assert out["failing"]["response_on_time"][0]["minutes_taken"] == 45.0
    assert out["failing"]["response_on_time"][0]["opened_at"].startswith("2026-03-10T09:00")
    assert main(["explain", "--db", str(db), "--vendor", "Acme"]) == 2  # --period is required


def test_failing_rows_come_worst_first_never_answered_then_the_largest_miss():
    c = memory_db()
    t0 = "2026-03-10 09:00"  # P1 incidents: target 30 minutes
    ticket(c, ticket_id="T-45", priority=1, opened_at=t0, responded_at="2026-03-10 09:45")  # 15 over
    ticket(c, ticket_id="T-NEVER", priority=1, opened_at="2026-03-11 09:00")
    ticket(c, ticket_id="T-300", priority=1, opened_at="2026-03-12 09:00", responded_at="2026-03-12 14:00")
    meeting(c, meeting_id="M-2", scheduled_date="2026-03-02", held_date="2026-03-11")  # 9 days off
    meeting(c, meeting_id="M-NEVER", scheduled_date="2026-03-20", held_date=None)
    meeting(c, meeting_id="M-30", scheduled_date="2026-03-01", held_date="2026-03-31")  # 30 days off
    failing = explain(c, "Acme", "Rita", "2026-03", "month").failing
    assert list(failing["response_on_time"]["ticket_id"]) == ["T-NEVER", "T-300", "T-45"]
    assert list(failing["meetings_held_on_time"]["meeting_id"]) == ["M-NEVER", "M-30", "M-2"]
    c.close()
