"""Service credits and bonus from contracts (spec section 5, "Financial"), computed by hand.

The composite is set through one survey answer on a 0-100 scale: satisfaction
is then the only component, so composite = 100 * (answer/100 - 0.5) / 0.4.
"""

from __future__ import annotations

import pytest
from kpi_fixtures import composite, contract, survey, ticket

from rmdash.db import memory_db
from rmdash.kpi import as_fraction, compute_kpis, money_by_year
from rmdash.model import RmdashError


@pytest.fixture
def con():
    c = memory_db()
    yield c
    c.close()


def with_composite(con, answer: float, survey_date="2026-03-20", rm="Rita"):
    """A survey whose answer gives composite 100 * (answer / 100 - 0.5) / 0.4."""
    survey(con, overall=answer, scale_min=0, scale_max=100, survey_date=survey_date, rm=rm)


def vendor_row(con, period="2026-03", grain="month"):
    return composite(compute_kpis(con, grain), period, rm=None)


def test_at_risk_pct_of_10_and_of_0_10_both_mean_ten_percent(con):
    assert list(as_fraction([10, 0.10, 1, 0.5, 100])) == pytest.approx([0.10, 0.10, 1.0, 0.5, 1.0])
    contract(con, vendor="Acme", monthly_fee=20_000, at_risk_pct=10)
    contract(con, vendor="Bolt", monthly_fee=20_000, at_risk_pct=0.10)
    with_composite(con, 90)
    survey(con, vendor="Bolt", overall=90, scale_min=0, scale_max=100)
    t = compute_kpis(con)
    assert composite(t, vendor="Acme", rm=None)["at_risk"] == pytest.approx(2_000)
    assert composite(t, vendor="Bolt", rm=None)["at_risk"] == pytest.approx(2_000)


def test_no_service_credit_at_or_above_85(con):
    contract(con, monthly_fee=10_000, at_risk_pct=10)
    with_composite(con, 84)  # composite 85 (up to floating noise)
    row = vendor_row(con)
    assert row["composite"] == pytest.approx(85)
    assert row["service_credit"] == 0.0


def test_a_partial_service_credit_is_linear_between_85_and_50(con):
    contract(con, monthly_fee=10_000, at_risk_pct=10)
    with_composite(con, 77)  # composite 67.5: halfway between 85 and 50
    row = vendor_row(con)
    assert row["composite"] == pytest.approx(67.5)
    assert row["service_credit"] == pytest.approx(1_000 * (85 - 67.5) / (85 - 50)) == pytest.approx(500)


def test_the_full_at_risk_amount_is_credited_at_or_below_50(con):
    contract(con, monthly_fee=10_000, at_risk_pct=0.1)
    with_composite(con, 70)  # composite 50
    assert vendor_row(con)["service_credit"] == pytest.approx(1_000)
    with_composite(con, 55, survey_date="2026-04-10")  # composite 12.5
    assert vendor_row(con, "2026-04")["service_credit"] == pytest.approx(1_000)


def test_the_bonus_is_paid_from_95_and_is_fee_times_bonus_pct(con):
    contract(con, monthly_fee=10_000, at_risk_pct=10, bonus_pct=2)
    # 4.52 on the default 1-5 scale is 0.88: composite 95 up to floating noise (94.99999999999996)
    survey(con, overall=4.52)
    with_composite(con, 87.9, survey_date="2026-04-10")  # composite 94.75
    row = vendor_row(con)
    assert row["composite"] == pytest.approx(95)
    assert row["composite"] < 95  # the noise is really there; the bonus must still be paid
    assert row["bonus"] == pytest.approx(200)
    assert row["service_credit"] == 0.0
    assert vendor_row(con, "2026-04")["bonus"] == 0.0


def test_a_blank_bonus_pct_pays_no_bonus(con):
    contract(con, monthly_fee=10_000, at_risk_pct=10, bonus_pct=None)
    with_composite(con, 90)  # composite 100
    assert vendor_row(con)["bonus"] == 0.0


def test_a_quarter_puts_three_months_at_risk_and_pays_three_months_of_bonus(con):
    contract(con, monthly_fee=10_000, at_risk_pct=10, bonus_pct=0.05)
    with_composite(con, 77, survey_date="2026-01-20")  # Q1 pools one response: composite 67.5
    row = vendor_row(con, "2026-Q1", "quarter")
    assert row["at_risk"] == pytest.approx(3_000)
    assert row["service_credit"] == pytest.approx(1_500)
    con.execute("UPDATE surveys SET overall = 90")  # composite 100
    assert vendor_row(con, "2026-Q1", "quarter")["bonus"] == pytest.approx(1_500)


def test_rm_rows_carry_no_money(con):
    contract(con)
    with_composite(con, 60)
    rm_row = composite(compute_kpis(con), rm="Rita")
    assert rm_row[["at_risk", "service_credit", "bonus"]].isna().all()


def test_a_period_without_a_composite_has_no_credit_and_no_bonus(con):
    contract(con, bonus_pct=5)
    ticket(con, ticket_type="Compliment", opened_at="2026-03-02 10:00")  # complaint share: has a score
    # A CR delivered without cost or estimated date: the row exists but nothing scores.
    from kpi_fixtures import change_request

    change_request(con, actual_cost=None, estimated_delivery_date=None, actual_delivery_date="2026-04-10")
    row = vendor_row(con, "2026-04")
    assert row["composite"] != row["composite"]  # NaN
    assert row["service_credit"] != row["service_credit"] and row["bonus"] != row["bonus"]
    assert row["at_risk"] == pytest.approx(1_000)  # the contract still puts money at risk
    out = compute_kpis(con).to_json()
    april = next(r for r in out["rows"] if r["period"] == "2026-04" and r["rm"] is None)
    assert april["service_credit"] is None and april["bonus"] is None


def test_money_by_year_sums_the_monthly_rows_per_vendor(con):
    contract(con, monthly_fee=10_000, at_risk_pct=10, bonus_pct=1)
    with_composite(con, 77, survey_date="2025-12-10")  # 67.5: credit 500
    with_composite(con, 70, survey_date="2026-01-10")  # 50: credit 1,000
    with_composite(con, 90, survey_date="2026-02-10")  # 100: bonus 10,000 * 1 (fraction 1 = 100 %)
    out = money_by_year(compute_kpis(con))
    assert out[["vendor", "year"]].values.tolist() == [["Acme", 2025], ["Acme", 2026]]
    assert out["service_credit"].tolist() == pytest.approx([500, 1_000])
    assert out["bonus"].tolist() == pytest.approx([0, 10_000])
    assert out["at_risk"].tolist() == pytest.approx([1_000, 2_000])


def test_money_by_year_uses_the_fiscal_year_when_one_is_set(con):
    from rmdash.rules import rules_from_toml

    contract(con, monthly_fee=10_000, at_risk_pct=10)
    with_composite(con, 70, survey_date="2026-03-10")  # FY2026
    with_composite(con, 70, survey_date="2026-04-10")  # FY2027
    rules = rules_from_toml("fiscal_year_start_month = 4\n")
    out = money_by_year(compute_kpis(con, rules=rules))
    assert out["year"].tolist() == [2026, 2027]


def test_money_by_year_needs_monthly_rows(con):
    with pytest.raises(RmdashError, match="grain month"):
        money_by_year(compute_kpis(con, "quarter"))
