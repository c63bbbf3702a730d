"""Header row, kind and column mapping from the first rows of a sheet."""

from __future__ import annotations

import filebuilders as fb
import pytest

from rmdash import detect
from rmdash.model import ImportRefused
from rmdash.schema import load_schema

SCHEMA = load_schema()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Tickets", "tickets"),
        ("tickets jan 2026", "tickets"),
        ("Incidents", "tickets"),
        ("Change Requests Q1", "change_requests"),
        ("CR log", "change_requests"),
        ("Change communications", "communications"),
        ("Governance meetings", "meetings"),
        ("Survey responses", "surveys"),
        ("Contracts", "contracts"),
        ("Crisis", None),
        ("Sheet1", None),
        ("README", None),
        (None, None),
    ],
)
def test_the_sheet_name_names_a_kind_by_its_leading_words(name, kind):
    assert detect.kind_from_name(name, SCHEMA) == kind


def test_a_header_below_title_rows_is_found_and_its_kind_read_from_the_header():
    rows = [["Acme Ltd — monthly export"], ["Run on 2026-02-01"], [], *fb.ticket_rows()]
    choice = detect.choose_header(rows, SCHEMA)
    assert (choice.row, choice.kind, choice.kind_reason) == (3, "tickets", "header")


def test_the_kind_with_the_best_coverage_of_required_columns_wins():
    rows = [["Notice ID", "Supplier", "Type", "Announced", "Effective"]]
    assert detect.choose_header(rows, SCHEMA).kind == "communications"
    rows = [["CR #", "Supplier", "Raised", "Estimate"]]
    assert detect.choose_header(rows, SCHEMA).kind == "change_requests"


def test_a_forced_kind_looks_for_that_kinds_header_only():
    rows = fb.meeting_rows()
    choice = detect.choose_header(rows, SCHEMA, forced_kind="meetings")
    assert (choice.kind, choice.kind_reason) == ("meetings", "--kind")
    assert detect.choose_header(rows, SCHEMA, forced_kind="contracts") is None


def test_a_sheet_name_kind_is_used_and_falls_back_to_the_header_when_that_kind_has_none():
    choice = detect.choose_header(fb.ticket_rows(), SCHEMA, name_kind="tickets", name_reason="sheet name 'T'")
    assert choice.kind_reason == "sheet name 'T'"
    choice = detect.choose_header(
        fb.ticket_rows(), SCHEMA, name_kind="contracts", name_reason="sheet name 'C'"
    )
    assert (choice.kind, choice.kind_reason) == ("tickets", "header")


def test_a_readme_listing_column_names_is_not_taken_for_a_header():
    rows = [
        ["Column", "Data type", "Mandatory", "Meaning"],
        ["cr_id", "text", "yes", "Identifies the change request"],
        ["actual_cost", "number", "no", "The cost actually charged"],
        ["status", "text", "no", "Requested, Approved"],
    ]
    assert detect.choose_header(rows, SCHEMA) is None


def test_a_repeated_label_row_under_the_header_does_not_replace_it():
    rows = fb.qualtrics_rows()
    choice = detect.choose_header(rows, SCHEMA)
    assert (choice.row, choice.kind) == (0, "surveys")
    assert choice.preset.name == "qualtrics_survey"


def test_a_saved_mapping_is_chosen_by_the_layout_signature_of_any_of_the_first_rows():
    header = ["Ref", "Raised on", "Sev", "Kind of ticket"]
    saved = {"name": "acme", "kind": "tickets", "layout_signature": detect.layout_signature(header),
             "mapping": {"ticket_id": "Ref"}, "constants": {}}  # fmt: skip
    choice = detect.choose_header([["Acme export"], header, ["1", "2026-01-01", "P1", "Incident"]], SCHEMA,
                                  saved_mappings=[saved])  # fmt: skip
    assert (choice.row, choice.kind, choice.kind_reason) == (1, "tickets", "saved mapping 'acme'")
    assert choice.saved is saved


def test_layout_signature_ignores_case_spacing_punctuation_and_blank_edges():
    a = detect.layout_signature(["Ticket ID", "Opened At", None])
    b = detect.layout_signature([None, "ticket_id", "OPENED-AT"])
    assert a == b and len(a) == detect.SIGNATURE_LENGTH
    assert a != detect.layout_signature(["Opened At", "Ticket ID"])


def test_saved_mapping_rows_from_the_database_have_their_json_decoded():
    row = {"name": "x", "kind": "tickets", "layout_signature": "ab", "mapping": '{"ticket_id": "Ref"}',
           "constants": None}  # fmt: skip
    assert detect.saved_mapping(row)["mapping"] == {"ticket_id": "Ref"}
    assert detect.saved_mapping(row)["constants"] == {}


def test_synonyms_map_headers_and_unknown_headers_are_listed():
    header = ["Ticket #", "Supplier", "Record Type", "Created", "Subcategory", "Category", "Internal notes"]
    cmap = detect.map_columns(header, SCHEMA.kind("tickets"))
    assert cmap.mapping == {
        "ticket_id": "Ticket #",
        "vendor": "Supplier",
        "ticket_type": "Record Type",
        "opened_at": "Created",
        "category": "Category",  # the canonical name beats the synonym "Subcategory"
    }
    assert cmap.unmapped == ["Subcategory", "Internal notes"]


def test_an_explicit_map_wins_and_a_missing_mapped_header_is_refused():
    header = ["Ref", "Ticket ID", "Supplier"]
    cmap = detect.map_columns(
        header, SCHEMA.kind("tickets"), explicit=[("--map", {"ticket_id": "ref"}, True)]
    )
    assert cmap.mapping["ticket_id"] == "Ref"
    assert "Ticket ID" in cmap.unmapped
    with pytest.raises(ImportRefused, match="no column 'Nope' for ticket_id"):
        detect.map_columns(header, SCHEMA.kind("tickets"), explicit=[("--map", {"ticket_id": "Nope"}, True)])


def test_survey_questions_are_mapped_by_keywords_in_their_text():
    rows = fb.qualtrics_rows()
    preset = detect.choose_header(rows, SCHEMA).preset
    cmap = detect.map_columns(rows[0], SCHEMA.kind("surveys"), preset=preset, question_texts=rows[1])
    assert cmap.mapping == {
        "response_id": "ResponseId",
        "survey_date": "RecordedDate",
        "overall": "Q1",
        "communication": "Q2_1",
        "trust_integrity": "Q2_2",
        "proactivity": "Q2_3",
        "business_understanding": "Q2_4",
        "nps": "Q3",
        "comment": "Q4",
    }
    assert "UserLanguage" in cmap.unmapped  # metadata is never a question (not language_skills)
