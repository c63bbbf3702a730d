"""Components, composite, RAG, low-sample flags, periods, levels, filters, cache and the JSON shape."""

from __future__ import annotations

import json

import pytest
from kpi_fixtures import change_request, communication, component, composite, meeting, metric, survey, ticket

from rmdash.db import memory_db, open_db
from rmdash.kpi import compute_kpis, kpi_json, period_labels, period_range
from rmdash.model import RmdashError
from rmdash.rules import rules_from_toml


@pytest.fixture
def con():
    c = memory_db()
    yield c
    c.close()


def test_a_component_scores_the_mean_of_its_metrics_with_data_and_its_n_is_the_largest(con):
    # governance: held on time 1/2 -> 0.5 -> score 0; reports 2/2 -> 100; attendance has no data.
    meeting(con, held_date="2026-03-10", report_due_date="2026-03-12", report_sent_date="2026-03-11")
    meeting(con, held_date=None, report_due_date="2026-03-12", report_sent_date="2026-03-12")
    t = compute_kpis(con)
    assert metric(t, "attendance")["n"] == 0
    gov = component(t, "governance")
    assert gov["score"] == pytest.approx((0 + 100) / 2)
    assert gov["n"] == 2


def test_components_without_data_drop_out_and_the_weights_are_renormalised(con):
    # responsiveness (w 25): one incident answered on time, plan shared -> both metrics 100 -> 100
    ticket(con, priority=1, responded_at="2026-03-10 09:10", action_plan_shared=True)
    # communication (w 5): one short notice -> 0
    communication(con, change_type="Pricing", communicated_date="2026-02-01", effective_date="2026-03-01")
    t = compute_kpis(con)
    c = composite(t)
    # escalation also has data: the incident is not escalated -> rate 0 -> 100 (w 15)
    assert component(t, "escalation")["score"] == 100.0
    assert c["composite"] == pytest.approx((25 * 100 + 15 * 100 + 5 * 0) / (25 + 15 + 5))
    for name in ("governance", "change", "satisfaction"):
        assert component(t, name)["score"] != component(t, name)["score"]  # NaN: no score


def test_a_metric_with_no_rows_has_no_value_and_no_score_never_zero(con):
    ticket(con, ticket_type="Compliment")
    row = compute_kpis(con).to_json()["rows"][0]
    assert row["metrics"]["response_on_time"] == {"value": None, "n": 0, "score": None}
    assert row["components"]["responsiveness"] == {"score": None, "n": 0}
    assert row["metrics"]["complaint_share"] == {"value": 0.0, "n": 1, "score": 100.0}


def test_a_period_with_rows_but_no_metric_data_is_a_row_with_no_composite(con):
    # a delivered CR without actual cost or estimated date: dated, but in no metric's scope
    change_request(con, actual_cost=None, estimated_delivery_date=None)
    rows = compute_kpis(con).to_json()["rows"]
    assert [(r["rm"], r["period"], r["composite"], r["rag"]) for r in rows] == [
        (None, "2026-03", None, None),
        ("Rita", "2026-03", None, None),
    ]


def test_a_change_request_not_yet_delivered_has_no_period_and_makes_no_row(con):
    change_request(con, actual_cost=120, actual_delivery_date=None)
    assert compute_kpis(con).composite.empty


def test_scores_clamp_at_0_below_the_floor_and_at_100_beyond_the_target(con):
    ticket(con, escalated=True)  # escalation rate 1.0, far worse than the floor 0.20
    ticket(con, ticket_type="Compliment", opened_at="2026-04-02 10:00")  # complaint share 0 < target 0.2
    t = compute_kpis(con)
    assert metric(t, "escalation_rate")["score"] == 0.0
    assert metric(t, "complaint_share", period="2026-04")["score"] == 100.0


def test_lower_is_better_metrics_score_between_floor_and_target(con):
    # complaint share 0.5: 100 * (0.5 - 0.8) / (0.2 - 0.8) = 50
    ticket(con, ticket_type="Complaint")
    ticket(con, ticket_type="Compliment")
    assert metric(compute_kpis(con), "complaint_share")["score"] == pytest.approx(50.0)


def test_a_quarter_pools_its_rows_rather_than_averaging_its_months(con):
    meeting(con, scheduled_date="2026-01-10", held_date="2026-01-10")  # January: 1/1
    for _ in range(3):
        meeting(con, scheduled_date="2026-02-10", held_date=None)  # February: 0/3
    monthly = compute_kpis(con)
    assert metric(monthly, "meetings_held_on_time", "2026-01")["value"] == 1.0
    assert metric(monthly, "meetings_held_on_time", "2026-02")["value"] == 0.0
    quarterly = compute_kpis(con, "quarter")
    m = metric(quarterly, "meetings_held_on_time", "2026-Q1")
    assert m["value"] == pytest.approx(1 / 4)  # not (1 + 0) / 2
    assert m["n"] == 4


def test_rows_without_rm_count_only_at_vendor_level(con):
    ticket(con, rm="Rita", escalated=False)
    ticket(con, rm=None, escalated=True)
    ticket(con, rm="Sam", escalated=False)
    t = compute_kpis(con)
    assert metric(t, "escalation_rate", rm=None)["n"] == 3
    assert metric(t, "escalation_rate", rm=None)["value"] == pytest.approx(1 / 3)
    assert metric(t, "escalation_rate", rm="Rita")["value"] == 0.0
    assert metric(t, "escalation_rate", rm="Sam")["n"] == 1
    assert sorted(t.composite["rm"].fillna("-")) == ["-", "Rita", "Sam"]


def test_an_incident_with_no_priority_uses_the_p3_target(con):
    # The importer maps Outage to Incident and a blank priority to P3; here a blank priority
    # reaches the KPI engine directly and still gets the P3 target of 240 minutes.
    ticket(con, priority=None, responded_at="2026-03-10 12:59")  # 239 min
    ticket(con, priority=None, responded_at="2026-03-10 13:01")  # 241 min
    assert metric(compute_kpis(con), "response_on_time")["value"] == pytest.approx(0.5)


def test_rag_follows_the_bands_and_ignores_floating_noise_at_the_boundary(con):
    # 8.02 on a 1-10 scale is satisfaction 0.78, which scores 70 up to floating noise
    # (69.99999999999997); a vendor manager expects amber, not red.
    survey(con, overall=8.02, scale_min=1, scale_max=10)
    survey(con, overall=77.5, scale_min=0, scale_max=100, survey_date="2026-04-10")  # 68.75
    survey(con, overall=84, scale_min=0, scale_max=100, survey_date="2026-05-10")  # 85
    t = compute_kpis(con)
    assert composite(t)["composite"] == pytest.approx(70.0)
    assert composite(t)["composite"] < 70.0  # the noise is really there
    assert composite(t)["rag"] == "amber"
    assert composite(t, "2026-04")["rag"] == "red"
    assert composite(t, "2026-05")["rag"] == "green"


def test_low_sample_flags_metrics_and_components_below_five_and_the_composite_if_any_component_is(con):
    for _ in range(4):
        ticket(con, escalated=False, responded_at="2026-03-10 09:01", priority=1, action_plan_shared=True)
    ticket(con, ticket_type="Request", responded_at="2026-03-10 09:01", priority=1)
    t = compute_kpis(con)
    assert metric(t, "response_on_time")["n"] == 5
    assert metric(t, "response_on_time")["low_sample"] is False
    assert metric(t, "action_plan_shared")["low_sample"] is True  # 4 incidents
    assert metric(t, "resolution_communicated")["low_sample"] is False  # no data: not a low sample
    assert component(t, "responsiveness")["low_sample"] is False  # n = max(5, 4) = 5
    assert component(t, "escalation")["low_sample"] is False
    assert bool(composite(t)["low_sample"]) is False
    survey(con, overall=5)
    t = compute_kpis(con)
    assert component(t, "satisfaction")["low_sample"] is True
    assert bool(composite(t)["low_sample"]) is True


def test_weights_come_from_the_rules_and_a_changed_rule_set_changes_the_composite(con):
    ticket(con, priority=1, responded_at="2026-03-10 09:10", action_plan_shared=True)  # resp 100, esc 100
    ticket(con, ticket_type="Complaint")  # complaint share 1 -> 0; escalation = (100 + 0) / 2 = 50
    default = composite(compute_kpis(con))["composite"]
    assert default == pytest.approx((25 * 100 + 15 * 50) / 40)
    heavy = rules_from_toml("[components.escalation]\nweight = 75\n")
    assert composite(compute_kpis(con, rules=heavy))["composite"] == pytest.approx((25 * 100 + 75 * 50) / 100)


# ---------------------------------------------------------------- periods


def test_period_labels_for_months_calendar_and_fiscal_quarters():
    import pandas as pd

    starts = pd.Series(pd.to_datetime(["2026-01-01", "2026-03-01", "2026-04-01", "2026-12-01"]))
    assert list(period_labels(starts, "month")) == ["2026-01", "2026-03", "2026-04", "2026-12"]
    assert list(period_labels(starts, "quarter")) == ["2026-Q1", "2026-Q1", "2026-Q2", "2026-Q4"]
    assert list(period_labels(starts, "quarter", 4)) == ["FY2026-Q4", "FY2026-Q4", "FY2027-Q1", "FY2027-Q3"]


def test_period_ranges_round_trip_their_labels():
    from datetime import date

    assert period_range("2026-09", "month") == (date(2026, 9, 1), date(2026, 10, 1))
    assert period_range("2026-Q4", "quarter") == (date(2026, 10, 1), date(2027, 1, 1))
    assert period_range("FY2027-Q1", "quarter", 4) == (date(2026, 4, 1), date(2026, 7, 1))
    assert period_range("FY2027-Q4", "quarter", 4) == (date(2027, 1, 1), date(2027, 4, 1))
    with pytest.raises(RmdashError, match="2026-Q3"):
        period_range("2026-13", "quarter")


def test_fiscal_quarters_group_months_from_the_fiscal_start(con):
    meeting(con, scheduled_date="2026-03-31", held_date="2026-03-31")
    meeting(con, scheduled_date="2026-04-01", held_date=None)
    meeting(con, scheduled_date="2026-06-30", held_date="2026-06-30")
    t = compute_kpis(con, "quarter", rules=rules_from_toml("fiscal_year_start_month = 4\n"))
    assert metric(t, "meetings_held_on_time", "FY2026-Q4")["n"] == 1
    m = metric(t, "meetings_held_on_time", "FY2027-Q1")
    assert (m["n"], m["value"]) == (2, 0.5)
    assert str(composite(t, "FY2027-Q1")["period_start"].date()) == "2026-04-01"


def test_filters_keep_one_vendor_one_rm_or_one_period(con):
    ticket(con, vendor="Acme", rm="Rita")
    ticket(con, vendor="Acme", rm="Sam", opened_at="2026-04-01 10:00")
    ticket(con, vendor="Bolt", rm="Bo")
    t = compute_kpis(con, vendor="Acme")
    assert set(t.composite["vendor"]) == {"Acme"}
    t = compute_kpis(con, vendor="Acme", rm="Sam")
    assert list(zip(t.composite["rm"], t.composite["period"], strict=True)) == [("Sam", "2026-04")]
    t = compute_kpis(con, period="2026-03")
    assert set(t.composite["period"]) == {"2026-03"}
    assert len(t.composite) == 4  # Acme, Acme/Rita, Bolt, Bolt/Bo


def test_a_bad_grain_or_period_is_one_clear_error(con):
    with pytest.raises(RmdashError, match="grain must be month or quarter"):
        compute_kpis(con, "week")
    with pytest.raises(RmdashError, match="2026-09"):
        compute_kpis(con, "month", period="Sept")


# ---------------------------------------------------------------- JSON


def test_the_json_has_exactly_the_shape_of_spec_section_6(con):
    ticket(con, rm="Rita")
    from kpi_fixtures import contract

    contract(con)
    out = compute_kpis(con, "quarter").to_json()
    assert set(out) == {"grain", "rows"}
    assert out["grain"] == "quarter"
    vendor_row, rm_row = out["rows"]
    base = {"vendor", "rm", "period", "composite", "rag", "components", "metrics"}
    assert set(vendor_row) == base | {"service_credit", "bonus"}
    assert set(rm_row) == base  # RM rows carry no money
    assert vendor_row["rm"] is None and rm_row["rm"] == "Rita"
    assert vendor_row["period"] == "2026-Q1"
    assert set(vendor_row["components"]) == {
        "governance",
        "responsiveness",
        "escalation",
        "change",
        "satisfaction",
        "communication",
    }
    assert len(vendor_row["metrics"]) == 13
    for c in vendor_row["components"].values():
        assert set(c) == {"score", "n"} and isinstance(c["n"], int)
    for m in vendor_row["metrics"].values():
        assert set(m) == {"value", "n", "score"}
    json.dumps(out, allow_nan=False)  # no NaN anywhere


def test_a_vendor_without_a_contract_has_no_money_keys(con):
    ticket(con)
    vendor_row = compute_kpis(con).to_json()["rows"][0]
    assert "service_credit" not in vendor_row and "bonus" not in vendor_row


def test_kpi_json_reads_a_database_file(tmp_path):
    db = tmp_path / "store.duckdb"
    c = open_db(db)
    ticket(c, escalated=True)
    c.close()
    out = kpi_json(db, "month", vendor="Acme")
    assert [r["metrics"]["escalation_rate"]["value"] for r in out["rows"]] == [1.0, 1.0]
    with pytest.raises(RmdashError, match="no database"):
        kpi_json(tmp_path / "missing.duckdb", "month")


def test_results_are_cached_until_the_store_version_changes(tmp_path):
    c = open_db(tmp_path / "store.duckdb")
    ticket(c, escalated=True)
    first = compute_kpis(c)
    ticket(c, escalated=False)  # written behind the store's back: same store_version
    assert metric(compute_kpis(c), "escalation_rate")["n"] == metric(first, "escalation_rate")["n"] == 1
    c.execute("UPDATE store_meta SET value = '1' WHERE key = 'store_version'")
    assert metric(compute_kpis(c), "escalation_rate")["n"] == 2
    assert metric(compute_kpis(c, cache=False), "escalation_rate")["n"] == 2
    c.close()


def test_a_cached_table_is_a_copy_the_caller_may_change(tmp_path):
    c = open_db(tmp_path / "store.duckdb")
    ticket(c)
    mine = compute_kpis(c).composite
    mine.loc[0, "composite"] = -1.0
    assert compute_kpis(c).composite.loc[0, "composite"] != -1.0
    c.close()


# ---------------------------------------------------------------- command line


def test_the_kpi_command_prints_the_spec_json(tmp_path, capsys):
    from kpi_fixtures import contract

    from rmdash.cli import main

    db = tmp_path / "store.duckdb"
    c = open_db(db)
    ticket(c, escalated=False, opened_at="2026-08-03 10:00")
    ticket(c, vendor="Bolt", rm=None, opened_at="2026-09-03 10:00")
    contract(c)
    c.close()
    assert main(["kpi", "--db", str(db), "--grain", "quarter", "--vendor", "Acme", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["grain"] == "quarter"
    assert [(r["vendor"], r["rm"], r["period"]) for r in out["rows"]] == [
        ("Acme", None, "2026-Q3"),
        ("Acme", "Rita", "2026-Q3"),
    ]
    assert out["rows"][0]["metrics"]["escalation_rate"] == {"value": 0.0, "n": 1, "score": 100.0}
    assert "service_credit" in out["rows"][0] and "service_credit" not in out["rows"][1]


def test_the_kpi_command_without_json_prints_a_table_and_a_bad_period_is_one_line(tmp_path, capsys):
    from rmdash.cli import main

    db = tmp_path / "store.duckdb"
    c = open_db(db)
    ticket(c, escalated=False)
    c.close()
    assert main(["kpi", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["vendor", "rm", "period", "composite", "rag", "credit", "bonus"]
    assert lines[1].split()[:5] == ["Acme", "(vendor)", "2026-03", "37.5", "red"]  # (25·0 + 15·100) / 40
    assert main(["kpi", "--db", str(db), "--period", "March"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: period must look like 2026-09") and err.count("\n") == 1
