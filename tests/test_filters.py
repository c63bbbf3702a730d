"""Dashboard filters <-> URL query parameters, and what they keep of a KPI frame."""

from __future__ import annotations

import pandas as pd

from rmdash.filters import (
    Filters,
    from_query,
    in_range,
    months_for_labels,
    range_labels,
    restrict,
    select,
    to_query,
)


def test_filters_survive_a_round_trip_through_the_url():
    f = Filters(
        vendors=("Acme", "Borealis"),
        rm="Ann Lee",
        month_from="2026-01",
        month_to="2026-06",
        grain="quarter",
        focus="Acme",
        present=True,
    )
    params = to_query(f)
    assert params == {
        "vendor": ["Acme", "Borealis"],
        "rm": "Ann Lee",
        "from": "2026-01",
        "to": "2026-06",
        "grain": "quarter",
        "focus": "Acme",
        "present": "1",
    }
    assert from_query(params) == f


def test_default_filters_make_an_empty_query_string():
    assert to_query(Filters()) == {}
    assert from_query({}) == Filters()


def test_malformed_parameters_fall_back_to_defaults():
    f = from_query(
        {"grain": "week", "from": "2026-13", "to": "last year", "present": "maybe", "vendor": ["", " "]}
    )
    assert f == Filters()


def test_a_reversed_month_range_is_put_in_order():
    f = from_query({"from": "2026-06", "to": "2026-01"})
    assert (f.month_from, f.month_to) == ("2026-01", "2026-06")


def test_names_the_store_does_not_know_are_dropped():
    f = Filters(vendors=("Acme", "Gone Ltd"), rm="Nobody", focus="Gone Ltd")
    assert restrict(f, ["Acme", "Borealis"], ["Ann"]) == Filters(vendors=("Acme",))


QUARTERS = pd.DataFrame(
    {
        "period": ["2026-Q1", "2026-Q2", "2026-Q3"],
        "period_start": pd.to_datetime(["2026-01-01", "2026-04-01", "2026-07-01"]),
    }
)


def test_a_month_range_keeps_every_quarter_it_overlaps():
    f = Filters(month_from="2026-03", month_to="2026-04")
    assert list(in_range(QUARTERS["period_start"], "quarter", f)) == [True, True, False]
    assert range_labels(QUARTERS, "quarter", f) == ("2026-Q1", "2026-Q2")


def test_a_quarter_range_covers_its_whole_months():
    assert months_for_labels(QUARTERS, "quarter", "2026-Q2", "2026-Q3") == ("2026-04", "2026-09")


def test_select_keeps_the_chosen_vendors_level_and_periods():
    frame = pd.DataFrame(
        {
            "vendor": ["Acme", "Acme", "Acme", "Borealis"],
            "rm": [None, "Ann", "Bob", None],
            "period": ["2026-02"] * 4,
            "period_start": pd.to_datetime(["2026-02-01"] * 4),
        }
    )
    f = Filters(vendors=("Acme",), rm="Ann", month_from="2026-02", month_to="2026-02")
    assert list(select(frame, f, "month").index) == [0]
    assert list(select(frame, f, "month", level="rm").index) == [1]
    assert list(select(frame, f.with_(month_from="2026-03", month_to=None), "month").index) == []
