"""The KPI rules: spec defaults, user overrides, one-line errors, TOML round trip, saved rule sets."""

from __future__ import annotations

import pytest
from kpi_fixtures import composite, ticket

from rmdash.db import memory_db
from rmdash.kpi import compute_kpis
from rmdash.model import RmdashError
from rmdash.rules import (
    ENV_CONFIG,
    list_rule_sets,
    load_rule_set,
    load_rules,
    rag_of,
    rules_from_toml,
    save_rule_set,
)

# Spec section 5, copied by hand: (component, target, floor, direction).
SPEC_METRICS = {
    "meetings_held_on_time": ("governance", 1.0, 0.5, "higher"),
    "attendance": ("governance", 1.0, 0.5, "higher"),
    "reports_on_time": ("governance", 1.0, 0.5, "higher"),
    "response_on_time": ("responsiveness", 0.95, 0.5, "higher"),
    "action_plan_shared": ("responsiveness", 1.0, 0.5, "higher"),
    "resolution_communicated": ("responsiveness", 0.95, 0.5, "higher"),
    "escalation_rate": ("escalation", 0.02, 0.20, "lower"),
    "complaint_share": ("escalation", 0.20, 0.80, "lower"),
    "cost_accuracy": ("change", 0.95, 0.60, "higher"),
    "schedule_on_time": ("change", 0.90, 0.50, "higher"),
    "satisfaction": ("satisfaction", 0.90, 0.50, "higher"),
    "nps": ("satisfaction", 50, -20, "higher"),
    "change_notice_on_time": ("communication", 1.0, 0.5, "higher"),
}


@pytest.fixture(autouse=True)
def no_env_config(monkeypatch):
    monkeypatch.delenv(ENV_CONFIG, raising=False)


def test_the_packaged_rules_are_the_spec_defaults():
    r = load_rules()
    assert {m.name: (m.component, m.target, m.floor, m.direction) for m in r.metrics.values()} == SPEC_METRICS
    assert {c.name: c.weight for c in r.components.values()} == {
        "governance": 20,
        "responsiveness": 25,
        "escalation": 15,
        "change": 15,
        "satisfaction": 20,
        "communication": 5,
    }
    assert r.response_targets == {
        "Incident": {1: 30, 2: 60, 3: 240, 4: 480},
        "Request": {1: 240, 2: 480, 3: 1440, 4: 2880},
    }
    assert r.notice_days == {"Pricing": 182, "Strategy": 30, "Cost": 30, "Process": 30, "default": 30}
    assert (r.rag.green, r.rag.amber, r.low_sample_n) == (85, 70, 5)
    assert (r.money.credit_starts_below, r.money.credit_full_at, r.money.bonus_at) == (85, 50, 95)
    assert r.parameters["held_window_days"] == 7 and r.parameters["resolution_notice_hours"] == 24
    assert r.survey_default_scale == (1.0, 5.0)


def test_rag_bands():
    r = load_rules()
    assert [r.rag_of(s) for s in (100, 85, 84.9, 70, 69.99, 0)] == [
        "green",
        "green",
        "amber",
        "amber",
        "red",
        "red",
    ]
    assert r.rag_of(float("nan")) is None and rag_of(None) is None
    assert r.rag_of(84.99999999999999) == "green"  # floating noise is not a colour change


def test_a_user_file_overrides_numbers_and_keeps_the_rest(tmp_path):
    f = tmp_path / "my-rules.toml"
    f.write_text("[metrics.nps]\ntarget = 40\n\n[components.change]\nweight = 0\n\n[rag]\ngreen = 90\n")
    r = load_rules(f)
    assert r.metrics["nps"].target == 40 and r.metrics["nps"].floor == -20
    assert r.components["change"].weight == 0
    assert r.rag.green == 90 and r.rag.amber == 70
    assert r.metrics["nps"].row_value == load_rules().metrics["nps"].row_value
    assert r.hash != load_rules().hash


def test_the_environment_variable_names_the_user_file_and_an_argument_wins(tmp_path, monkeypatch):
    env_file = tmp_path / "env.toml"
    env_file.write_text("low_sample_n = 3\n")
    arg_file = tmp_path / "arg.toml"
    arg_file.write_text("low_sample_n = 8\n")
    monkeypatch.setenv(ENV_CONFIG, str(env_file))
    assert load_rules().low_sample_n == 3
    assert load_rules(arg_file).low_sample_n == 8


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[metrics.nps]\ntarget = "abc"\n', "rules: metrics.nps.target must be a number, got 'abc'"),
        ("colour = 1\n", "rules: unknown key colour"),
        ("[metrics.nps]\ntargte = 40\n", "rules: unknown key metrics.nps.targte"),
        ("[metrics.speed]\ntarget = 1\n", "rules: unknown metric metrics.speed"),
        ("[components.fun]\nweight = 1\n", "rules: unknown component components.fun"),
        ("[components.change]\nweight = -5\n", "rules: components.change.weight must be 0 or more, got -5"),
        ("[metrics.nps]\ntarget = -20\n", "rules: metrics.nps.target must differ from metrics.nps.floor"),
        ("[metrics.escalation_rate]\ntarget = 0.5\n", "rules: metrics.escalation_rate.target must be below"),
        ('[metrics.nps]\nin_scope = "TRUE"\n', "rules: metrics.nps.in_scope cannot be set in a config file"),
        ('[metrics.nps]\nrow_value = "1"\n', "rules: metrics.nps.row_value cannot be set in a config file"),
        ('[metrics.nps]\nkind = "tickets"\n', "rules: metrics.nps.kind cannot be set"),
        ("[rag]\ngreen = 60\n", "rules: rag.amber must be below rag.green"),
        ("[money]\ncredit_full_at = 90\n", "rules: money.credit_full_at must be below"),
        ("[parameters]\nnew_thing = 1\n", "rules: unknown key parameters.new_thing"),
        ("[parameters]\ndefault_priority = 7\n", "rules: parameters.default_priority must be a whole number"),
        (
            "fiscal_year_start_month = 13\n",
            "rules: fiscal_year_start_month must be a whole number from 1 to 12",
        ),
        ("[response_targets.Incident]\n1 = 0\n", "rules: response_targets.Incident.1 must be above 0"),
        ("[response_targets.Outage]\n1 = 10\n", "rules: unknown key response_targets.Outage"),
        ("[components.governance]\nweight = true\n", "must be a number, got True"),
        (
            "[components]\ngovernance.weight = 0\nresponsiveness.weight = 0\nescalation.weight = 0\n"
            "change.weight = 0\nsatisfaction.weight = 0\ncommunication.weight = 0\n",
            "rules: components: the weights must not all be 0",
        ),
        ("[metrics.nps\n", "rules: override is not valid TOML"),
    ],
)
def test_a_bad_user_file_is_refused_with_one_line_naming_the_key(toml, message):
    with pytest.raises(RmdashError) as err:
        rules_from_toml(toml)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_user_file_is_one_clear_error(tmp_path):
    with pytest.raises(RmdashError, match="not found"):
        load_rules(tmp_path / "nope.toml")


def test_a_user_may_add_a_notice_period_for_another_change_type():
    r = rules_from_toml("[notice_days]\nLegal = 90\n")
    assert r.notice_days["Legal"] == 90 and r.notice_days["Pricing"] == 182


def test_rules_round_trip_through_toml_with_the_same_hash():
    changed = rules_from_toml(
        'version_label = "Q3 trial"\n[metrics.nps]\ntarget = 45.5\n[notice_days]\nLegal = 60\n'
    )
    text = changed.to_toml()
    assert "in_scope" not in text and "row_value" not in text  # a saved file carries no SQL
    again = rules_from_toml(text)
    assert again.hash == changed.hash
    assert again.metrics["nps"].target == 45.5 and again.notice_days["Legal"] == 60
    assert load_rules().to_toml() == rules_from_toml(load_rules().to_toml()).to_toml()


def test_rule_sets_are_saved_as_versions_and_load_back(tmp_path):
    con = memory_db()
    today = load_rules()
    trial = rules_from_toml("[components.escalation]\nweight = 75\n")
    assert save_rule_set(con, today, "spec defaults", "vm") == 1
    assert save_rule_set(con, trial, "escalation heavy", "vm") == 2
    assert load_rule_set(con, 1).hash == today.hash
    assert load_rule_set(con, 2).hash == trial.hash
    listed = list_rule_sets(con)
    assert listed["version"].tolist() == [2, 1]
    assert listed["label"].tolist() == ["escalation heavy", "spec defaults"]
    assert listed["sha256"].tolist() == [trial.hash, today.hash]
    audit = con.execute("SELECT action, who FROM audit_log").fetchall()
    assert audit == [("rules", "vm"), ("rules", "vm")]
    with pytest.raises(RmdashError, match="no saved rule set version 9"):
        load_rule_set(con, 9)
    con.close()


def test_a_past_period_can_be_shown_under_its_rules_or_recomputed_under_todays():
    con = memory_db()
    ticket(con, priority=1, responded_at="2026-03-10 09:10", action_plan_shared=True)  # responsiveness 100
    ticket(con, ticket_type="Complaint")  # escalation (100 + 0) / 2 = 50
    then = save_rule_set(con, rules_from_toml("[components.escalation]\nweight = 75\n"), "Q1 rules", "vm")
    under_then = composite(compute_kpis(con, rules=load_rule_set(con, then)))["composite"]
    under_today = composite(compute_kpis(con))["composite"]
    assert under_then == pytest.approx((25 * 100 + 75 * 50) / 100)
    assert under_today == pytest.approx((25 * 100 + 15 * 50) / 40)
    con.close()


def test_active_rules_are_the_config_file_else_the_newest_saved_set_else_the_defaults(tmp_path):
    from rmdash.rules import active_rules, rules_from_toml, save_rule_set

    con = memory_db()
    assert active_rules(con).hash == load_rules().hash  # nothing saved: the packaged rules
    saved = rules_from_toml("[components.governance]\nweight = 40\n")
    save_rule_set(con, saved, "heavier governance", "test")
    assert active_rules(con).components["governance"].weight == 40  # the app's saved set
    user = tmp_path / "user.toml"
    user.write_text("[components.governance]\nweight = 10\n")
    assert active_rules(con, user).components["governance"].weight == 10  # --config wins
