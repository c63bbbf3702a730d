"""Each of the 13 metrics of spec section 5, against values computed by hand.

Every test builds its own in-memory store, inserts current rows directly and
reads one metric of the RM "Rita" at vendor "Acme" in March 2026.
"""

from __future__ import annotations

import pytest
from kpi_fixtures import change_request, communication, meeting, metric, survey, ticket

from rmdash.db import memory_db
from rmdash.kpi import compute_kpis


@pytest.fixture
def con():
    c = memory_db()
    yield c
    c.close()


def score(v, target, floor):
    return max(0.0, min(100.0, 100 * (v - floor) / (target - floor)))


# ---------------------------------------------------------------- governance


def test_meetings_held_on_time_counts_meetings_held_within_seven_days_either_way(con):
    meeting(con, held_date="2026-03-10")  # same day: on time
    meeting(con, held_date="2026-03-17")  # +7: on time
    meeting(con, held_date="2026-03-03")  # -7: on time
    meeting(con, held_date="2026-03-18")  # +8: late
    meeting(con, held_date=None)  # not held
    meeting(con, scheduled_date="2026-04-02", held_date="2026-03-30")  # April's meeting, not March's
    m = metric(compute_kpis(con), "meetings_held_on_time")
    assert m["n"] == 5
    assert m["value"] == pytest.approx(3 / 5)
    assert m["score"] == pytest.approx(score(0.6, 1.0, 0.5)) == pytest.approx(20.0)


def test_attendance_compares_titles_trimmed_and_case_insensitive_over_held_meetings_with_required(con):
    meeting(
        con,
        held_date="2026-03-10",
        required_attendees="Head of IT; CFO ; Service Owner",
        attendees=" head of it;cfo;Intern",
    )  # 2 of 3
    meeting(con, held_date="2026-03-11", required_attendees="CFO", attendees="CFO; COO")  # 1 of 1
    meeting(con, held_date="2026-03-12", required_attendees="CFO;CFO;cfo", attendees=None)  # 0 of 1
    meeting(con, held_date=None, required_attendees="CFO", attendees=None)  # not held: out
    meeting(con, held_date="2026-03-13", required_attendees=None, attendees="CFO")  # no required: out
    meeting(con, held_date="2026-03-14", required_attendees=" ; ", attendees="CFO")  # blank list: out
    m = metric(compute_kpis(con), "attendance")
    assert m["n"] == 3
    assert m["value"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["score"] == pytest.approx(score(5 / 9, 1.0, 0.5))


def test_reports_on_time_counts_a_report_never_sent_as_late(con):
    meeting(con, report_due_date="2026-03-15", report_sent_date="2026-03-15")  # on the day
    meeting(con, report_due_date="2026-03-15", report_sent_date="2026-03-14")
    meeting(con, report_due_date="2026-03-15", report_sent_date="2026-03-01")
    meeting(con, report_due_date="2026-03-15", report_sent_date="2026-03-16")  # a day late
    meeting(con, report_due_date=None, report_sent_date="2026-03-16")  # no due date: out
    meeting(con, report_due_date="2026-03-20", report_sent_date=None)  # never sent: late
    m = metric(compute_kpis(con), "reports_on_time")
    assert m["n"] == 5
    assert m["value"] == pytest.approx(3 / 5)
    assert m["score"] == pytest.approx(20.0)


# ---------------------------------------------------------------- responsiveness


def test_response_on_time_uses_the_target_of_type_and_priority_and_p3_when_priority_is_blank(con):
    t0 = "2026-03-10 09:00:00"
    ticket(con, priority=1, opened_at=t0, responded_at="2026-03-10 09:30:00")  # P1 30 min: on time
    ticket(con, priority=1, opened_at=t0, responded_at="2026-03-10 09:30:00.5")  # half a second late
    ticket(con, priority=2, opened_at=t0, responded_at="2026-03-10 09:59:00")  # P2 59 of 60
    ticket(con, priority=None, opened_at=t0, responded_at="2026-03-10 13:00:00")  # P3 240: on time
    ticket(con, priority=None, opened_at=t0, responded_at="2026-03-10 13:01:00")  # P3 241: late
    ticket(con, priority=1, opened_at=t0, responded_at=None)  # never: late
    req = {"ticket_type": "Request", "opened_at": t0}
    ticket(con, priority=4, responded_at="2026-03-12 09:00:00", **req)  # P4 2880: on time
    ticket(con, priority=None, responded_at="2026-03-11 09:00:00", **req)  # P3 1440: on time
    ticket(con, priority=None, responded_at="2026-03-11 09:01:00", **req)  # 1441: late
    ticket(con, priority=3, responded_at="2026-03-10 10:00:00", **req)  # on time
    ticket(con, ticket_type="Complaint", opened_at=t0, responded_at=None)  # out of scope
    ticket(con, ticket_type="Compliment", opened_at=t0, responded_at=None)  # out of scope
    m = metric(compute_kpis(con), "response_on_time")
    assert m["n"] == 10
    assert m["value"] == pytest.approx(6 / 10)
    assert m["score"] == pytest.approx(100 * (0.6 - 0.5) / (0.95 - 0.5))


def test_response_targets_come_from_the_rules(con):
    from rmdash.rules import rules_from_toml

    ticket(con, priority=1, responded_at="2026-03-10 09:45:00")  # 45 min
    strict = compute_kpis(con)
    loose = compute_kpis(con, rules=rules_from_toml("[response_targets.Incident]\n1 = 60\n"))
    assert metric(strict, "response_on_time")["value"] == 0.0
    assert metric(loose, "response_on_time")["value"] == 1.0


def test_action_plan_shared_is_a_share_of_all_incidents_with_no_flag_counting_as_not_shared(con):
    for flag in (True, True, True, False):
        ticket(con, action_plan_shared=flag)
    # Spec: n = Incident tickets. No recorded action plan (no column in the upload) is
    # not "action_plan_shared true", so it counts as not shared; the import warns about it.
    ticket(con, action_plan_shared=None)
    ticket(con, ticket_type="Request", action_plan_shared=False)  # out of scope
    m = metric(compute_kpis(con), "action_plan_shared")
    assert m["n"] == 5
    assert m["value"] == pytest.approx(0.6)
    assert m["score"] == pytest.approx(20.0)


def test_resolution_communicated_within_24_hours_of_resolution(con):
    r = "2026-03-11 10:00:00"
    ticket(con, resolved_at=r, resolution_communicated_at="2026-03-12 10:00:00")  # exactly 24 h
    ticket(con, resolved_at=r, resolution_communicated_at="2026-03-12 10:00:01")  # 24 h 1 s: late
    ticket(con, resolved_at=r, resolution_communicated_at=None)  # never told: late
    ticket(con, resolved_at=r, resolution_communicated_at="2026-03-11 11:00:00")
    ticket(con, resolved_at=r, resolution_communicated_at="2026-03-11 12:00:00")
    ticket(con, resolved_at=None, resolution_communicated_at=None)  # unresolved: out
    ticket(con, ticket_type="Request", resolved_at=r)  # not an incident: out
    m = metric(compute_kpis(con), "resolution_communicated")
    assert m["n"] == 5
    assert m["value"] == pytest.approx(0.6)
    assert m["score"] == pytest.approx(100 * 0.1 / 0.45)


# ---------------------------------------------------------------- escalation


def test_escalation_rate_is_lower_is_better_over_incidents_requests_and_complaints(con):
    ticket(con, escalated=True)
    for _ in range(6):
        ticket(con, escalated=False)
    ticket(con, escalated=None)  # no escalation recorded: not escalated (spec), still in n
    ticket(con, ticket_type="Request", escalated=False)
    ticket(con, ticket_type="Complaint", escalated=False)
    ticket(con, ticket_type="Compliment", escalated=True)  # out of scope
    m = metric(compute_kpis(con), "escalation_rate")
    assert m["n"] == 10
    assert m["value"] == pytest.approx(0.1)
    assert m["score"] == pytest.approx(100 * (0.1 - 0.20) / (0.02 - 0.20))  # 55.56


def test_complaint_share_is_complaints_over_complaints_and_compliments(con):
    ticket(con, ticket_type="Complaint")
    for _ in range(3):
        ticket(con, ticket_type="Compliment")
    ticket(con, ticket_type="Incident")  # out of scope
    m = metric(compute_kpis(con), "complaint_share")
    assert m["n"] == 4
    assert m["value"] == pytest.approx(0.25)
    assert m["score"] == pytest.approx(100 * (0.25 - 0.8) / (0.2 - 0.8))  # 91.67


# ---------------------------------------------------------------- change


def test_cost_accuracy_is_the_mean_closeness_to_estimate_over_delivered_costed_crs(con):
    change_request(con, estimated_cost=100, actual_cost=110)  # 0.90
    change_request(con, estimated_cost=200, actual_cost=150)  # 0.75
    change_request(con, estimated_cost=100, actual_cost=95)  # 0.95
    change_request(con, estimated_cost=100, actual_cost=None)  # no actual: out
    change_request(con, estimated_cost=0, actual_cost=50)  # no estimate: out
    change_request(
        con, estimated_cost=100, actual_cost=100, actual_delivery_date=None
    )  # not delivered: no period
    m = metric(compute_kpis(con), "cost_accuracy")
    assert m["n"] == 3
    assert m["value"] == pytest.approx((0.9 + 0.75 + 0.95) / 3)
    assert m["score"] == pytest.approx(100 * ((0.9 + 0.75 + 0.95) / 3 - 0.6) / 0.35)


def test_cost_accuracy_of_a_cr_three_times_its_estimate_is_zero_not_negative(con):
    change_request(con, estimated_cost=100, actual_cost=300)
    m = metric(compute_kpis(con), "cost_accuracy")
    assert (m["value"], m["score"]) == (0.0, 0.0)


def test_schedule_on_time_over_crs_with_both_delivery_dates(con):
    change_request(con, estimated_delivery_date="2026-03-20", actual_delivery_date="2026-03-15")
    change_request(con, estimated_delivery_date="2026-03-15", actual_delivery_date="2026-03-15")
    change_request(con, estimated_delivery_date="2026-03-14", actual_delivery_date="2026-03-15")
    change_request(con, estimated_delivery_date=None, actual_delivery_date="2026-03-15")  # out
    m = metric(compute_kpis(con), "schedule_on_time")
    assert m["n"] == 3
    assert m["value"] == pytest.approx(2 / 3)
    assert m["score"] == pytest.approx(100 * (2 / 3 - 0.5) / 0.4)


# ---------------------------------------------------------------- satisfaction


def test_satisfaction_rescales_each_answer_by_its_survey_scale_then_averages_per_response(con):
    survey(con, overall=5, communication=3)  # blank scale = 1-5: (1 + 0.5) / 2 = 0.75
    survey(con, overall=10, trust_integrity=1, scale_min=1, scale_max=10)  # (1 + 0) / 2 = 0.5
    survey(con, overall=10, proactivity=5, language_skills=0, scale_min=0, scale_max=10)  # 1.5 / 3
    survey(con, nps=9)  # no question answered: out of satisfaction
    m = metric(compute_kpis(con), "satisfaction")
    assert m["n"] == 3
    assert m["value"] == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert m["score"] == pytest.approx(100 * ((0.75 + 0.5 + 0.5) / 3 - 0.5) / 0.4)


def test_satisfaction_on_a_one_to_seven_scale(con):
    survey(con, overall=7, communication=4, business_understanding=1, scale_min=1, scale_max=7)
    m = metric(compute_kpis(con), "satisfaction")
    assert m["value"] == pytest.approx((1 + 0.5 + 0) / 3)


def test_nps_is_percent_promoters_minus_percent_detractors(con):
    for score_ in (10, 9, 8, 7, 6, 0, None):
        survey(con, overall=3, nps=score_)
    m = metric(compute_kpis(con), "nps")
    assert m["n"] == 6
    assert m["value"] == pytest.approx(100 * 2 / 6 - 100 * 2 / 6)
    assert m["score"] == pytest.approx(100 * (0 + 20) / 70)


def test_nps_of_all_promoters_is_100_and_scores_full(con):
    for _ in range(3):
        survey(con, overall=3, nps=10)
    m = metric(compute_kpis(con), "nps")
    assert (m["value"], m["score"]) == (pytest.approx(100.0), 100.0)


# ---------------------------------------------------------------- communication


def test_change_notice_needs_six_months_for_pricing_and_thirty_days_for_the_rest(con):
    def comm(change_type, days):
        effective = "2026-03-31"
        communicated = str(__import__("datetime").date(2026, 3, 31) - __import__("datetime").timedelta(days))
        communication(con, change_type=change_type, communicated_date=communicated, effective_date=effective)

    comm("Pricing", 182)  # on time
    comm("Pricing", 181)  # short
    comm("Process", 30)
    comm("Process", 29)  # short
    comm("Strategy", 45)
    comm("Legal", 30)  # any other type: 30 days
    comm("Cost", 10)  # short
    m = metric(compute_kpis(con), "change_notice_on_time")
    assert m["n"] == 7
    assert m["value"] == pytest.approx(4 / 7)
    assert m["score"] == pytest.approx(100 * (4 / 7 - 0.5) / 0.5)


def test_communications_are_dated_by_their_effective_date(con):
    communication(con, communicated_date="2025-06-01", effective_date="2026-03-01", change_type="Pricing")
    table = compute_kpis(con)
    assert list(table.composite["period"].unique()) == ["2026-03"]


def test_an_upload_without_flag_columns_counts_every_ticket_as_not_escalated_and_not_shared(con):
    for _ in range(3):
        ticket(con, escalated=None, action_plan_shared=None)  # the export had neither column
    t = compute_kpis(con)
    assert metric(t, "escalation_rate")["n"] == 3
    assert metric(t, "escalation_rate")["value"] == 0.0
    assert metric(t, "action_plan_shared")["n"] == 3
    assert metric(t, "action_plan_shared")["value"] == 0.0
    assert metric(t, "response_on_time")["n"] == 3  # never answered: late, as the spec says
