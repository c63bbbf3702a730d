"""Why the composite moved: component, metric and coverage parts that add up to the change.

Months for Acme / Rita, built from one P1 incident answered in 10 minutes
(response on time = 100) plus:
  Feb  plan not shared (0), not escalated: responsiveness 50, escalation 100         -> 68.75
  Mar  plan shared (100), escalated:       responsiveness 100, escalation 0          -> 62.5
  Apr  as March + a survey scoring 100:    + satisfaction 100                        -> 75
  May  as April + a compliment:            escalation (0 + 100) / 2 = 50             -> 87.5
"""

from __future__ import annotations

import pytest
from kpi_fixtures import survey, ticket

from rmdash.db import memory_db
from rmdash.kpi import compute_kpis
from rmdash.movement import movement, previous_period


@pytest.fixture(scope="module")
def table():
    con = memory_db()

    def incident(month, plan, escalated):
        ticket(
            con,
            priority=1,
            opened_at=f"2026-{month}-10 09:00",
            responded_at=f"2026-{month}-10 09:10",
            action_plan_shared=plan,
            escalated=escalated,
        )

    incident("02", False, False)
    incident("03", True, True)
    incident("04", True, True)
    survey(con, overall=5, survey_date="2026-04-15")
    incident("05", True, True)
    survey(con, overall=5, survey_date="2026-05-15")
    ticket(con, ticket_type="Compliment", opened_at="2026-05-20 10:00")
    t = compute_kpis(con)
    con.close()
    return t


def parts(df, level):
    rows = df[df["level"] == level]
    return {(r.part, r.component, r.metric): r.contribution for r in rows.itertuples()}


def test_the_composites_of_the_story_are_as_computed_by_hand(table):
    c = table.composite[table.composite["rm"] == "Rita"].set_index("period")["composite"]
    assert c.to_dict() == pytest.approx({"2026-02": 68.75, "2026-03": 62.5, "2026-04": 75.0, "2026-05": 87.5})


def test_each_component_contributes_its_weighted_change_when_the_same_components_have_data(table):
    df = movement(table, "Acme", "Rita", "2026-03")
    assert parts(df, "component") == pytest.approx(
        {
            ("component", "responsiveness", None): 25 * (100 - 50) / 40,
            ("component", "escalation", None): 15 * (0 - 100) / 40,
        }
    )
    assert df["contribution"][df["level"] == "component"].sum() == pytest.approx(62.5 - 68.75, abs=1e-9)


def test_metric_parts_split_a_component_equally_among_its_metrics(table):
    df = movement(table, "Acme", "Rita", "2026-03")
    assert parts(df, "metric") == pytest.approx(
        {
            ("metric", "responsiveness", "response_on_time"): 0.0,
            ("metric", "responsiveness", "action_plan_shared"): 25 / 40 * (100 - 0) / 2,
            ("metric", "escalation", "escalation_rate"): 15 / 40 * (0 - 100),
        }
    )


def test_a_component_gaining_data_shows_as_coverage(table):
    df = movement(table, "Acme", "Rita", "2026-04")
    assert parts(df, "component") == pytest.approx(
        {
            ("component", "responsiveness", None): 0.0,
            ("component", "escalation", None): 0.0,
            ("coverage", None, None): 75.0 - 62.5,
        }
    )


def test_a_metric_gaining_data_inside_a_component_shows_as_that_components_coverage(table):
    df = movement(table, "Acme", "Rita", "2026-05")
    assert parts(df, "component")[("component", "escalation", None)] == pytest.approx(15 * 50 / 60)
    metric_parts = parts(df, "metric")
    assert metric_parts[("metric", "escalation", "escalation_rate")] == pytest.approx(0.0)
    assert metric_parts[("coverage", "escalation", None)] == pytest.approx(12.5)
    assert ("coverage", None, None) not in metric_parts  # the same components have data


@pytest.mark.parametrize("to_period", ["2026-03", "2026-04", "2026-05"])
@pytest.mark.parametrize("level", ["component", "metric"])
def test_the_parts_of_each_level_add_up_exactly_to_the_change_and_chain_start_to_end(table, to_period, level):
    df = movement(table, "Acme", "Rita", to_period)
    c = table.composite[table.composite["rm"] == "Rita"].set_index("period")["composite"]
    before, after = c[previous_period(table, to_period)], c[to_period]
    rows = df[df["level"] == level]
    assert abs(rows["contribution"].sum() - (after - before)) < 1e-9
    assert rows["start"].iloc[0] == pytest.approx(before)
    assert rows["end"].iloc[-1] == pytest.approx(after, abs=1e-9)
    assert rows["start"].iloc[1:].to_numpy() == pytest.approx(rows["end"].iloc[:-1].to_numpy())


def test_two_chosen_periods_need_not_be_consecutive(table):
    df = movement(table, "Acme", "Rita", "2026-04", from_period="2026-02")
    assert parts(df, "component") == pytest.approx(
        {
            ("component", "responsiveness", None): 31.25,
            ("component", "escalation", None): -37.5,
            ("coverage", None, None): (75 - 68.75) - (31.25 - 37.5),
        }
    )
    assert set(df["from_period"]) == {"2026-02"} and set(df["to_period"]) == {"2026-04"}


def test_no_movement_without_a_composite_in_the_previous_period(table):
    assert movement(table, "Acme", "Rita", "2026-02").empty  # January has no rows
    assert movement(table, "Acme", "Nobody", "2026-03").empty


def test_previous_period_steps_one_month_or_one_quarter(table):
    assert previous_period(table, "2026-01") == "2025-12"
    from dataclasses import replace

    assert previous_period(replace(table, grain="quarter"), "2026-Q1") == "2025-Q4"
