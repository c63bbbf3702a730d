"""Column-wise typing: dates, numbers, booleans, priorities, vocabularies and null tokens."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmdash import parse
from rmdash.schema import load_schema

SCHEMA = load_schema()


def text(*values) -> pa.Array:
    return pa.array(list(values), pa.string())


def ts(value: str) -> np.datetime64:
    return np.datetime64(value, "us")


# ---------------------------------------------------------------- null tokens


def test_null_tokens_and_blanks_become_null_and_text_is_trimmed():
    cleaned = parse.clean_text(
        text(" ? ", "N/A", "na", "NULL", "-", "", "  ", None, " Acme ", "0"), SCHEMA.null_tokens
    )
    assert cleaned.to_pylist() == [None] * 8 + ["Acme", "0"]


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("29/2/2016 06:38", "2016-02-29T06:38"),
        ("29-02-2016 01:16", "2016-02-29T01:16"),
        ("22/Dec/25 2:38 PM", "2025-12-22T14:38"),
        ("22/Dec/25 12:05 AM", "2025-12-22T00:05"),
        ("2026-01-05 13:45:10", "2026-01-05T13:45:10"),
        ("2026-01-05 13:45:10.500", "2026-01-05T13:45:10.500"),
        ("2026-01-05T10:00:00+02:00", "2026-01-05T08:00"),
        ("2026-01-05T10:00:00-0530", "2026-01-05T15:30"),
        ("2026-01-05T10:00:00Z", "2026-01-05T10:00"),
        ("2026-01-05", "2026-01-05T00:00"),
        ("20260105", "2026-01-05T00:00"),
        ("45000", "2023-03-15T00:00"),
        ("45000.25", "2023-03-15T06:00"),
        ("Dec 22, 2025", "2025-12-22T00:00"),
        ("December 22 2025 9:30", "2025-12-22T09:30"),
        ("Mon, 22 Dec 2025 10:00", "2025-12-22T10:00"),
        ("1-Mar-26", "2026-03-01T00:00"),
        ("31.12.99", "1999-12-31T00:00"),
    ],
)
def test_each_date_spelling_is_read(value, expected):
    result = parse.parse_dates(text(value))
    assert not result.bad[0]
    assert result.values[0] == ts(expected)


@pytest.mark.parametrize("value", ["31/31/2020", "29/2/2015", "2026-13-01", "hello", "12:30", "2016", "25:00 1/1/2026",
                                   "1/1/2026 25:00", "13/Foo/2020"])  # fmt: skip
def test_impossible_or_unknown_dates_are_flagged_not_guessed(value):
    result = parse.parse_dates(text(value, "01/01/2026"))
    assert result.bad[0]
    assert np.isnat(result.values[0])


def test_blank_cells_are_null_not_bad():
    result = parse.parse_dates(text(None, "2026-01-05"))
    assert np.isnat(result.values[0]) and not result.bad[0]


def test_a_first_part_above_twelve_makes_the_whole_column_day_first():
    result = parse.parse_dates(text("03/04/2026", "13/04/2026"))
    assert result.order == "dayfirst" and not result.ambiguous
    assert result.values[0] == ts("2026-04-03")


def test_a_second_part_above_twelve_makes_the_whole_column_month_first():
    result = parse.parse_dates(text("03/04/2026", "04/13/2026"))
    assert result.order == "monthfirst" and not result.ambiguous
    assert result.values[0] == ts("2026-03-04")


def test_an_ambiguous_column_is_read_day_first_and_says_so():
    result = parse.parse_dates(text("03/04/2026", "05/06/2026"))
    assert result.order == "dayfirst" and result.ambiguous
    assert result.values[1] == ts("2026-06-05")


def test_a_forced_order_wins_over_the_evidence_and_the_misfits_are_bad():
    result = parse.parse_dates(text("03/04/2026", "13/04/2026"), "monthfirst")
    assert result.order == "monthfirst" and not result.ambiguous
    assert result.values[0] == ts("2026-03-04")
    assert result.bad.tolist() == [False, True]
    assert result.conflicting == 1


def test_a_contradictory_column_follows_its_majority_and_counts_the_rest():
    result = parse.parse_dates(text("13/01/2026", "14/01/2026", "01/15/2026"))
    assert result.order == "dayfirst"
    assert result.conflicting == 1
    assert result.bad.tolist() == [False, False, True]


def test_real_excel_dates_and_iso_text_report_iso_and_serials_report_excel():
    assert parse.parse_dates(text("2026-01-05 00:00:00")).order == "iso"
    assert parse.parse_dates(text("45000", "45001")).order == "excel"
    assert parse.parse_dates(text("22/Dec/25")).order == "dayfirst"
    assert parse.parse_dates(text(None, None)).order is None


def test_a_date_column_keeps_the_calendar_day_as_written_and_drops_the_time():
    result = parse.parse_dates(text("2026-01-05T00:30:00+02:00", "5/1/2026 23:59"), date_only=True)
    assert result.values.tolist() == [ts("2026-01-05").astype(object), ts("2026-01-05").astype(object)]


def test_two_digit_years_pivot_like_strptime():
    result = parse.parse_dates(text("1/1/68", "1/1/69"))
    assert result.values[0] == ts("2068-01-01") and result.values[1] == ts("1969-01-01")


def test_bare_numbers_far_from_today_are_not_taken_for_serial_dates():
    result = parse.parse_dates(text("12", "45000"))
    assert result.bad.tolist() == [True, False]


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,200", 1200.0),
        ("$1,234.50", 1234.5),
        ("£12,500", 12500.0),
        ("€ 99", 99.0),
        ("EUR 1,000", 1000.0),
        ("1000 USD", 1000.0),
        ("(1,200)", -1200.0),
        ("-7.5", -7.5),
        ("10%", 10.0),
        ("0.10", 0.1),
        ("1e3", 1000.0),
        ("1 234 567", 1234567.0),
        ("1'234.5", 1234.5),
        ("1,234,567.89", 1234567.89),
    ],
)
def test_numbers_accept_separators_and_currency(value, expected):
    result = parse.parse_numbers(text(value))
    assert not result.bad[0] and result.values[0] == pytest.approx(expected)


def test_a_column_showing_decimal_commas_is_read_as_decimal_comma():
    result = parse.parse_numbers(text("1.234,56", "12,5", "1.200", "3"))
    assert result.decimal_comma
    assert result.values.tolist() == pytest.approx([1234.56, 12.5, 1200.0, 3.0])


def test_without_decimal_comma_evidence_a_comma_is_a_thousands_separator():
    result = parse.parse_numbers(text("1,200", "3,500"))
    assert not result.decimal_comma
    assert result.values.tolist() == [1200.0, 3500.0]


def test_malformed_grouping_and_words_are_bad_not_guessed():
    result = parse.parse_numbers(text("1,2", "12.50", "abc", "1.2.3", None, "$"))
    assert result.bad.tolist() == [True, False, True, True, False, True]


# ---------------------------------------------------------------- booleans


def test_booleans_accept_yes_no_y_n_true_false_one_zero_x_and_blank_is_false():
    values = text("Yes", "no", "Y", "n", "TRUE", "false", "1", "0", "x", "X", None, "")
    result = parse.parse_bools(values, SCHEMA.vocabulary_lookup("bool"))
    assert result.values.tolist() == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert not result.bad.any()


def test_an_unknown_boolean_is_bad():
    result = parse.parse_bools(text("maybe", "yes"), SCHEMA.vocabulary_lookup("bool"))
    assert result.bad.tolist() == [True, False]


# ---------------------------------------------------------------- priorities and vocabularies


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("P1", 1), ("p2", 2), ("1", 1), ("4", 4), ("Critical", 1), ("High", 2), ("Medium", 3), ("Low", 4),
        ("1 - Critical", 1), ("3 - Moderate", 3), ("2-High", 2), ("5 - Planning", 4), ("Highest", 1),
        ("Lowest", 4), ("Sev 2", 2), ("Severity 1", 1), ("P3 - Normal", 3),
    ],
)  # fmt: skip
def test_priorities_accept_numbers_words_and_numbered_labels(value, expected):
    assert parse.priority_of(value, SCHEMA.vocabulary_lookup("priority")) == expected


def test_blank_and_unrecognised_priorities_read_as_p3_and_are_counted():
    result = parse.parse_priorities(
        text("P1", None, "whenever", "9", "Low"), SCHEMA.vocabulary_lookup("priority")
    )
    assert result.values.tolist() == [1, 3, 3, 3, 4]
    assert result.defaulted == 3


def test_ticket_types_go_through_the_vocabulary_and_unknown_types_are_kept():
    lookup = SCHEMA.vocabulary_lookup("ticket_type")
    mapped = parse.map_vocabulary(text("Outage", "service request", "[System] Incident", "Bug", None), lookup)
    assert mapped.to_pylist() == ["Incident", "Request", "Incident", "Bug", None]


def test_change_types_go_through_the_vocabulary():
    mapped = parse.map_vocabulary(text("Re-pricing", "strategic"), SCHEMA.vocabulary_lookup("change_type"))
    assert mapped.to_pylist() == ["Pricing", "Strategy"]


def test_long_or_multi_line_values_are_quoted_on_one_line():
    quoted = parse.one_line_values(text("a\nb\tc", "x" * 100), limit=10)
    assert quoted.to_pylist() == ["a b c", "x" * 10 + "…"]


# ---------------------------------------------------------------- round trip


FORMATS = {
    "dayfirst": ["%d/%m/%Y %H:%M", "%d-%m-%Y %H:%M", "%d.%m.%y %H:%M", "%d/%b/%y %I:%M %p"],
    "monthfirst": ["%m/%d/%Y %H:%M", "%m/%d/%y %I:%M %p"],
    "iso": ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:00Z"],
}
moments = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(moments, min_size=1, max_size=20),
    order=st.sampled_from(sorted(FORMATS)),
    data=st.data(),
)
def test_any_column_written_in_one_format_reads_back_exactly(values, order, data):
    fmt = data.draw(st.sampled_from(FORMATS[order]))
    if order != "iso":  # a day above 12 settles the order, as in real exports
        values = [*values, dt.datetime(2026, 1, 25, 10, 30)]
    result = parse.parse_dates(text(*[v.strftime(fmt) for v in values]))
    assert not result.bad.any()
    assert [pd.Timestamp(v).to_pydatetime() for v in result.values] == values
    assert result.order == order and not result.ambiguous


# ---------------------------------------------------------------- raw cells of rejected rows as JSON


def test_rows_become_compact_json_objects_with_every_awkward_character_escaped():
    table = pa.table(
        {
            "a": ['say "hi"', "back\\slash", None, "line\nbreak\ttab\x01bell\x1f/é"],
            "b": ["1", "", "3", None],
        }
    )
    objects = parse.json_objects(table, ['Header "A"', "B"]).to_pylist()
    assert objects[0] == '{"Header \\"A\\"":"say \\"hi\\"","B":"1"}'
    assert [json.loads(o) for o in objects] == [
        {'Header "A"': 'say "hi"', "B": "1"},
        {'Header "A"': "back\\slash", "B": ""},
        {'Header "A"': None, "B": "3"},
        {'Header "A"': "line\nbreak\ttab\x01bell\x1f/é", "B": None},
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=20))
def test_any_text_survives_the_json_round_trip(values):
    objects = parse.json_objects(pa.table({"c": pa.array(values, pa.string())}), ["Cell"]).to_pylist()
    assert [json.loads(o)["Cell"] for o in objects] == values


def test_a_row_without_columns_is_an_empty_object_and_no_rows_give_no_objects():
    assert parse.json_objects(pa.table({"c": ["x"]}).select([]), []).to_pylist() == ["{}"]
    assert parse.json_objects(pa.table({"c": pa.array([], pa.string())}), ["C"]).to_pylist() == []


# ---------------------------------------------------------------- the plain-ISO fast path


_iso_like = st.builds(
    lambda y, mo, d, h, mi, s, sep, time: (
        f"{y:04d}-{mo:02d}-{d:02d}" + (f"{sep}{h:02d}:{mi:02d}:{s:02d}" if time else "")
    ),
    st.integers(1850, 2250),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from([" ", "T"]),
    st.booleans(),
)


_valid_iso = st.builds(
    lambda when, sep, time: when.strftime("%Y-%m-%d" + (f"{sep}%H:%M:%S" if time else "")),
    st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2199, 12, 31, 23, 59, 59)),
    st.sampled_from([" ", "T"]),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _valid_iso), min_size=1, max_size=30), st.booleans())
def test_a_column_of_valid_plain_iso_reads_by_one_cast_exactly_as_by_pattern(values, date_only):
    arr = pa.array(values, pa.string())
    if arr.null_count < len(arr):
        assert parse._all_plain_iso(arr, date_only) is not None  # really the fast path
    assert_same_as_by_pattern(arr, date_only)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _valid_iso, _iso_like), min_size=1, max_size=30), st.booleans())
def test_a_plain_iso_column_reads_the_same_by_one_cast_as_by_pattern(values, date_only):
    assert_same_as_by_pattern(pa.array(values, pa.string()), date_only)


def assert_same_as_by_pattern(arr, date_only):
    fast = parse.parse_dates(arr, date_only=date_only)
    slow = parse._parse_dates_by_pattern(arr, "auto", date_only)
    assert np.array_equal(fast.values, slow.values, equal_nan=True)
    assert fast.bad.tolist() == slow.bad.tolist()
    assert (fast.order, fast.ambiguous, fast.conflicting) == (slow.order, slow.ambiguous, slow.conflicting)
    assert fast.evidence == slow.evidence


def test_a_column_of_excel_date_cells_takes_the_one_cast_path():
    arr = pa.array(["2026-01-05 09:00:00", None, "2026-02-28"])
    assert parse._all_plain_iso(arr, date_only=False) is not None
    for odd in ("2026-02-30", "1899-12-31", "5/1/2026", "2026-01-05 09:00"):
        assert parse._all_plain_iso(pa.array(["2026-01-05", odd]), date_only=False) is None
