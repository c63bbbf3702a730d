"""Page-level views against a small store whose every number is computed by hand.

The store: governance meetings only, so each composite equals the score of
"meetings held on time" (attendance and reports have no rows in scope):
score = 100 x (share held on time - 0.5) / (1.0 - 0.5).

  Acme      2026-02: 8 of 10 held on time -> 0.8 -> 60 (red)    RM Rita
  Acme      2026-03: 10 of 10             -> 1.0 -> 100 (green)  RM Rita
  Borealis  2026-03: 5 of 10              -> 0.5 -> 0 (red)      RM Sam
  Crux      2026-01..02 RM Old: 6 of 10 each -> 20;  2026-03..04 RM New: 9 of 10 -> 80
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from kpi_fixtures import meeting

from rmdash import views
from rmdash.db import memory_db
from rmdash.filters import Filters


def _month(con, vendor: str, rm: str, month: str, held: int, total: int = 10, meeting_type="Monthly review"):
    for i in range(total):
        day = f"{month}-{i + 1:02d}"
        held_date = day if i < held else None
        meeting(con, vendor=vendor, rm=rm, scheduled_date=day, held_date=held_date, meeting_type=meeting_type)


@pytest.fixture(scope="module")
def con():
    c = memory_db()
    _month(c, "Acme", "Rita", "2026-02", 8, meeting_type="=HYPERLINK(1)")
    _month(c, "Acme", "Rita", "2026-03", 10)
    _month(c, "Borealis", "Sam", "2026-03", 5)
    for month in ("2026-01", "2026-02"):
        _month(c, "Crux", "Old", month, 6)
    for month in ("2026-03", "2026-04"):
        _month(c, "Crux", "New", month, 9)
    yield c
    c.close()


MARCH = Filters(month_to="2026-03")


def test_the_league_ranks_vendors_by_composite_with_rag_words_change_and_trend(con):
    view = views.portfolio_view(con, MARCH)
    assert view.period == "2026-03"
    league = view.league.set_index("Vendor")
    assert list(view.league["Vendor"]) == ["Acme", "Crux", "Borealis"]
    assert league.loc["Acme", "Composite"] == pytest.approx(100.0)
    assert league.loc["Acme", "RAG"] == "✔ Green"
    assert league.loc["Acme", "Change"] == pytest.approx(40.0)
    assert league.loc["Acme", "Trend"] == [60.0, 100.0]
    assert league.loc["Crux", "Composite"] == pytest.approx(80.0)
    assert league.loc["Crux", "RAG"] == "▲ Amber"
    assert league.loc["Borealis", "RAG"] == "✖ Red"
    assert pd.isna(league.loc["Borealis", "Change"])  # no February row
    assert view.headline == "2026-03: 1 of 3 vendors green; best Acme at 100.0"


def test_a_vendor_filter_and_a_period_range_change_the_league(con):
    only_borealis = views.portfolio_view(con, MARCH.with_(vendors=("Borealis",)))
    assert list(only_borealis.league["Vendor"]) == ["Borealis"]
    february = views.portfolio_view(con, Filters(month_from="2026-02", month_to="2026-02"))
    assert february.period == "2026-02"
    assert dict(zip(february.league["Vendor"], february.league["Composite"], strict=True)) == {
        "Acme": pytest.approx(60.0),
        "Crux": pytest.approx(20.0),
    }


def test_a_quarter_pools_its_months(con):
    view = views.portfolio_view(con, Filters(grain="quarter", month_to="2026-03"))
    league = view.league.set_index("Vendor")
    assert view.period == "2026-Q1"
    assert league.loc["Acme", "Composite"] == pytest.approx(80.0)  # 18 of 20 -> 0.9
    assert league.loc["Crux", "Composite"] == pytest.approx(100 * (21 / 30 - 0.5) / 0.5)


def test_filters_that_match_nothing_give_an_empty_state_not_an_error(con):
    view = views.portfolio_view(con, Filters(month_from="2027-01"))
    assert view.frame.empty == views.NO_MATCH
    assert views.portfolio_view(memory_db(), Filters()).frame.empty == views.NO_DATA


def test_the_vendor_view_explains_the_movement_and_lists_the_failing_rows(con):
    view = views.vendor_view(
        con, MARCH.with_(focus="Acme"), compare=("2026-02", "2026-03"), metric="meetings_held_on_time"
    )
    assert view.vendor == "Acme"
    assert view.headline == "Acme: 100.0 ✔ Green in 2026-03, +40.0 vs 2026-02"
    assert list(view.movement["kind"]) == ["start", "part", "end"]
    assert list(view.movement["value"]) == pytest.approx([60.0, 40.0, 100.0])
    assert view.movement["label"].iloc[1] == "Governance"
    held = view.metrics.set_index("Metric").loc["Meetings held on time"]
    assert (held["Value"], held["n"], held["Target"], held["Score"]) == ("100.0%", 10, "100.0%", 100.0)
    assert list(view.rm_table["RM"]) == ["Rita"]
    assert view.explain_rows.empty  # nothing failed in March


def test_explain_lists_the_meetings_not_held_in_the_chosen_period(con):
    view = views.vendor_view(
        con, Filters(month_to="2026-02", focus="Acme"), compare=None, metric="meetings_held_on_time"
    )
    assert view.period == "2026-02"
    assert len(view.explain_rows) == 2
    assert view.explain_rows["held_date"].isna().all()


def test_the_focus_vendor_falls_back_to_the_first_one_the_filters_allow(con):
    view = views.vendor_view(con, MARCH.with_(vendors=("Borealis", "Crux"), focus="Acme"))
    assert view.vendors == ["Borealis", "Crux"]
    assert view.vendor == "Borealis"


def test_rms_are_ranked_and_a_replacement_is_found_with_before_and_after(con):
    view = views.rm_view(con, Filters())
    assert view.period == "2026-04"
    assert list(view.ranking["RM"]) == ["New · Crux"]  # the only RM with April data
    march = views.rm_view(con, MARCH)
    ranked = march.ranking.sort_values("composite", ascending=False)
    assert list(ranked["rm"]) == ["Rita", "New", "Sam"]
    swap = march.replacements.iloc[0]
    assert (swap["Vendor"], swap["From RM"], swap["To RM"], swap["From period"]) == (
        "Crux",
        "Old",
        "New",
        "2026-03",
    )
    assert swap["Composite before"] == pytest.approx(20.0)
    assert swap["Composite after"] == pytest.approx(80.0)
    assert swap["Change"] == pytest.approx(60.0)


def test_an_rm_is_compared_with_the_whole_vendor(con):
    view = views.rm_view(con, MARCH.with_(rm="Rita"))
    assert view.focus_rm == "Rita · Acme"
    assert set(view.versus["series"]) == {"RM Rita", "Acme (whole vendor)"}
    assert list(view.scorecards["RM"]) == ["Rita"]


def test_the_worked_example_shows_the_arithmetic_of_the_composite(con):
    view = views.how_view(con, MARCH.with_(focus="Acme"))
    assert view.example_title == "Worked example: Acme, 2026-03"
    held = view.example_metrics.set_index("Metric").loc["Meetings held on time"]
    assert held["Score"] == "100 × (1 − 0.5) ÷ (1 − 0.5) = 100.0 → 100.0"
    assert view.example_composite == "Composite = (20 × 100.0) ÷ (20) = 100.0 → ✔ Green"
    weights = dict(zip(view.components["Component"], view.components["Weight"], strict=True))
    assert weights["Governance"] == 20


def test_what_if_a_lower_target_rescores_every_vendor_without_saving(con):
    view = views.whatif_view(con, Filters(month_to="2026-02"), targets={"meetings_held_on_time": 0.9})
    assert view.changed
    acme = view.table.set_index("Vendor").loc["Acme"]
    assert acme["Current"] == pytest.approx(60.0)
    assert acme["What-if"] == pytest.approx(75.0)  # 100 x (0.8 - 0.5) / (0.9 - 0.5)
    assert acme["What-if RAG"] == "▲ Amber"
    assert views.rules_mod.list_rule_sets(con).empty


def test_saving_a_what_if_makes_it_the_rule_set_every_page_uses():
    c = memory_db()
    _month(c, "Acme", "Rita", "2026-02", 8)
    version = views.save_whatif(c, {}, {"meetings_held_on_time": 0.9}, "stricter", who="tester")
    assert version == 1
    assert views.active_rules(c).metrics["meetings_held_on_time"].target == 0.9
    league = views.portfolio_view(c, Filters()).league
    assert league["Composite"].iloc[0] == pytest.approx(75.0)


def test_the_data_view_filters_rows_and_neutralises_formulas_in_downloads(con):
    view = views.data_view(
        con, Filters(vendors=("Acme",), month_from="2026-02", month_to="2026-02"), kind="meetings"
    )
    assert len(view.rows) == 10
    assert set(view.rows["vendor"]) == {"Acme"}
    make_csv, name, _ = view.downloads["Download CSV"]
    assert name == "rmdash-meetings.csv"
    csv = pd.read_csv(io.BytesIO(make_csv()), encoding="utf-8-sig")
    assert set(csv["meeting_type"]) == {"'=HYPERLINK(1)"}
    make_xlsx, _, _ = view.downloads["Download XLSX"]
    xlsx = pd.read_excel(io.BytesIO(make_xlsx()), engine="openpyxl")
    assert set(xlsx["meeting_type"]) == {"'=HYPERLINK(1)"}


def test_filter_options_offer_every_vendor_rm_and_period(con):
    options = views.filter_options(views.all_kpis(con, "month"))
    assert options.vendors == ["Acme", "Borealis", "Crux"]
    assert options.rms_of(["Crux"]) == ["New", "Old"]
    assert list(options.periods["period"]) == ["2026-01", "2026-02", "2026-03", "2026-04"]
