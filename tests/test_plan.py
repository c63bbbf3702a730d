"""plan_file(): from a real file on disk to a validated FilePlan (nothing written)."""

from __future__ import annotations

import datetime as dt
import json

import filebuilders as fb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from rmdash import detect
from rmdash.model import ImportOptions, ImportRefused
from rmdash.plan import MissingColumn, last_of_each_key, plan_file
from rmdash.readers import sha256_file
from rmdash.schema import load_schema

SCHEMA = load_schema()


def plan(path, saved=None, **options):
    return plan_file(path, ImportOptions(**options), saved_mappings=saved)


def only_sheet(path, saved=None, **options):
    result = plan(path, saved, **options)
    assert len(result.sheets) == 1
    return result.sheets[0]


def refusal(path, saved=None, **options) -> str:
    with pytest.raises(ImportRefused) as caught:
        plan(path, saved, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- every kind


def all_kinds_workbook(tmp_path):
    return fb.write_xlsx(
        tmp_path / "monthly pack.xlsx",
        {
            "Tickets": fb.ticket_rows(),
            "Meetings": fb.meeting_rows(),
            "Change requests": fb.cr_rows(),
            "Surveys": fb.survey_rows(),
            "Comms": fb.communication_rows(),
            "Contracts": fb.contract_rows(),
            "Notes": [["Prepared by Jane"], ["Figures are provisional"]],
        },
    )


def test_a_workbook_with_every_kind_plans_one_sheet_per_kind_and_notes_the_skipped_sheet(tmp_path):
    path = all_kinds_workbook(tmp_path)
    result = plan(path)
    assert [(s.sheet, s.kind) for s in result.sheets] == [
        ("Tickets", "tickets"),
        ("Meetings", "meetings"),
        ("Change requests", "change_requests"),
        ("Surveys", "surveys"),
        ("Comms", "communications"),
        ("Contracts", "contracts"),
    ]
    assert result.skipped_sheets == ["Notes: no recognisable header"]
    assert result.sha256 == sha256_file(path) and result.size == path.stat().st_size
    assert result.file_name == "monthly pack.xlsx"
    for sheet in result.sheets:
        kind = SCHEMA.kind(sheet.kind)
        assert list(sheet.rows.columns) == [*kind.column_names, *kind.extra_columns, "row_no"]
        assert sheet.kind_reason == f"sheet name '{sheet.sheet}'"
        assert len(sheet.rejected) == 0, sheet.rejected.to_dict("records")


def test_rows_are_typed_as_the_model_documents(tmp_path):
    sheets = {s.kind: s for s in plan(all_kinds_workbook(tmp_path)).sheets}
    tickets = sheets["tickets"].rows
    assert tickets["ticket_id"].dtype == "str" and tickets["opened_at"].dtype.kind == "M"
    assert tickets["priority"].tolist() == [1, 3, 3] and tickets["priority"].dtype.kind == "i"
    assert tickets["escalated"].tolist() == [False, False, True]
    assert tickets["action_plan_shared"].tolist() == [True, False, False]
    assert tickets["row_no"].tolist() == [2, 3, 4]
    assert tickets.loc[0, "opened_at"] == pd.Timestamp("2026-01-05 09:00")
    meetings = sheets["meetings"].rows
    assert meetings.loc[0, "held_date"] == pd.Timestamp("2026-01-16") and pd.isna(
        meetings.loc[1, "held_date"]
    )
    assert meetings.loc[0, "required_attendees"] == "CIO; CFO"
    crs = sheets["change_requests"].rows
    assert crs["estimated_cost"].tolist() == [12500.0, 1200.0]
    assert crs.loc[0, "actual_cost"] == 13000.5 and np.isnan(crs.loc[1, "actual_cost"])
    surveys = sheets["surveys"].rows
    assert surveys["overall"].tolist() == [4.0, 2.0] and surveys["scale_max"].tolist() == [5.0, 5.0]
    comms = sheets["communications"].rows
    assert comms["change_type"].tolist() == ["Pricing", "Process"]
    contracts = sheets["contracts"].rows
    assert contracts.loc[0, ["monthly_fee", "at_risk_pct", "bonus_pct"]].tolist() == [100000.0, 10.0, 2.0]


def test_missing_optional_columns_are_present_and_all_null(tmp_path):
    rows = [["Ticket ID", "Vendor", "Type", "Opened"], ["T1", "Acme", "Incident", "2026-01-05 10:00"]]
    sheet = only_sheet(fb.write_csv(tmp_path / "t.csv", rows))
    row = sheet.rows.iloc[0]
    assert pd.isna(row["rm"]) and pd.isna(row["resolved_at"]) and pd.isna(row["escalated"])
    assert row["priority"] == 3
    assert "priority: no priority column; every row read as P3" in sheet.warnings


def test_a_tickets_sheet_without_flag_columns_warns_that_every_row_counts_as_no(tmp_path):
    rows = [
        ["Ticket ID", "Vendor", "Type", "Opened", "Escalated"],
        ["T1", "Acme", "Incident", "2026-01-05", "yes"],
    ]
    sheet = only_sheet(fb.write_csv(tmp_path / "t.csv", rows))
    assert "action_plan_shared: no action_plan_shared column; every row counts as 'no'" in sheet.warnings
    assert not any(w.startswith("escalated:") for w in sheet.warnings)  # the column is there


# ---------------------------------------------------------------- messy layouts


def test_title_rows_blank_rows_a_repeated_header_and_a_totals_row_are_skipped_not_rejected(tmp_path):
    rows = [
        ["ACME LTD — Incident report"],
        ["Period: January 2026"],
        [],
        fb.TICKET_HEADER,
        *fb.ticket_rows()[1:3],
        [],
        fb.TICKET_HEADER,  # page break in a report
        fb.ticket_rows()[3],
        ["Total", None, None, None, None, None, None, None, None, None, 3],
    ]
    sheet = only_sheet(fb.write_xlsx(tmp_path / "report.xlsx", {"Incidents": rows}))
    assert sheet.header_row == 4
    assert sheet.skipped == 3 and len(sheet.rejected) == 0
    assert sheet.rows["ticket_id"].tolist() == ["INC-1", "REQ-2", "CMP-3"]
    assert sheet.rows["row_no"].tolist() == [5, 6, 9]


def test_a_ticket_id_that_merely_starts_like_a_totals_word_is_kept(tmp_path):
    rows = [fb.TICKET_HEADER[:6], ["SUM-12", "Acme", None, "Incident", "P1", "2026-01-05 10:00"]]
    sheet = only_sheet(fb.write_csv(tmp_path / "t.csv", rows))
    assert sheet.rows["ticket_id"].tolist() == ["SUM-12"] and sheet.skipped == 0


def test_synonym_headers_are_mapped(tmp_path):
    rows = [["Case Number", "Service Provider", "Record Type", "Severity", "Logged", "First Response At",
             "Fixed At", "Is Escalated?"],
            ["C-1", "Acme", "Outage", "Sev2", "2026-02-01 08:00", "2026-02-01 08:10", "2026-02-01 09:00", "Y"]]  # fmt: skip
    sheet = only_sheet(fb.write_csv(tmp_path / "export.csv", rows))
    assert sheet.mapping == {
        "ticket_id": "Case Number",
        "vendor": "Service Provider",
        "ticket_type": "Record Type",
        "priority": "Severity",
        "opened_at": "Logged",
        "responded_at": "First Response At",
        "resolved_at": "Fixed At",
        "escalated": "Is Escalated?",
    }
    row = sheet.rows.iloc[0]
    assert (row["ticket_type"], row["priority"], bool(row["escalated"])) == ("Incident", 2, True)


def cr_text_rows(dates: list[str]) -> list[list]:
    return [
        ["CR ID", "Vendor", "Requested", "Estimated Cost"],
        *[[f"CR{i}", "Acme", d, "100"] for i, d in enumerate(dates)],
    ]


def test_day_first_text_dates_are_recognised_from_a_day_above_twelve(tmp_path):
    sheet = only_sheet(fb.write_csv(tmp_path / "crs.csv", cr_text_rows(["03/04/2026", "25/04/2026"])))
    assert sheet.date_orders == {"requested_date": "dayfirst"} and sheet.ambiguous_dates == []
    assert sheet.rows["requested_date"].tolist() == [pd.Timestamp("2026-04-03"), pd.Timestamp("2026-04-25")]


def test_month_first_text_dates_are_recognised_from_a_second_part_above_twelve(tmp_path):
    sheet = only_sheet(fb.write_csv(tmp_path / "crs.csv", cr_text_rows(["3/4/2026", "4/25/2026"])))
    assert sheet.date_orders == {"requested_date": "monthfirst"}
    assert sheet.rows["requested_date"].tolist() == [pd.Timestamp("2026-03-04"), pd.Timestamp("2026-04-25")]


def test_an_ambiguous_date_column_is_read_day_first_with_a_warning_naming_it_and_the_flag(tmp_path):
    sheet = only_sheet(fb.write_csv(tmp_path / "crs.csv", cr_text_rows(["03/04/2026", "05/06/2026"])))
    assert sheet.ambiguous_dates == ["requested_date"]
    assert sheet.rows["requested_date"].tolist() == [pd.Timestamp("2026-04-03"), pd.Timestamp("2026-06-05")]
    (warning,) = sheet.warnings
    assert warning.startswith("requested_date ('Requested'): every date fits both")
    assert "read as day-first" in warning and "--monthfirst" in warning


def test_monthfirst_forces_the_order_and_silences_the_warning(tmp_path):
    sheet = only_sheet(fb.write_csv(tmp_path / "crs.csv", cr_text_rows(["03/04/2026", "05/06/2026"])),
                       date_order="monthfirst")  # fmt: skip
    assert sheet.ambiguous_dates == [] and sheet.warnings == []
    assert sheet.rows["requested_date"].tolist() == [pd.Timestamp("2026-03-04"), pd.Timestamp("2026-05-06")]


def test_excel_serial_numbers_and_real_excel_dates_are_read(tmp_path):
    rows = [["CR ID", "Vendor", "Requested", "Estimated Cost", "Delivered"],
            ["CR1", "Acme", 46027, 100, dt.date(2026, 3, 2)],
            ["CR2", "Acme", 46028.5, 100, dt.datetime(2026, 3, 3, 17, 0)]]  # fmt: skip
    sheet = only_sheet(fb.write_xlsx(tmp_path / "crs.xlsx", {"CRs": rows}))
    assert sheet.date_orders == {"requested_date": "excel", "actual_delivery_date": "iso"}
    assert sheet.rows["requested_date"].tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-06")]
    assert sheet.rows["actual_delivery_date"].tolist() == [
        pd.Timestamp("2026-03-02"),
        pd.Timestamp("2026-03-03"),
    ]


def test_a_semicolon_cp1252_csv_with_decimal_commas_and_euro_signs(tmp_path):
    rows = [["Lieferant", "CR-Nr.", "CR ID", "Vendor", "Requested", "Estimated Cost", "Actual Cost", "Title"],
            ["x", "1", "CR1", "Müller GmbH", "13.01.2026", "1.234,50 €", "1.300,00 €", "Größere Änderung"],
            ["x", "2", "CR2", "Müller GmbH", "14.01.2026", "99,90 €", "", "Kleine"]]  # fmt: skip
    path = fb.write_csv(tmp_path / "crs.csv", rows, delimiter=";", encoding="cp1252")
    sheet = only_sheet(path)
    assert sheet.rows["vendor"].tolist() == ["Müller GmbH"] * 2
    assert sheet.rows["estimated_cost"].tolist() == [1234.5, 99.9]
    assert sheet.rows["actual_cost"].iloc[0] == 1300.0
    assert sheet.rows["title"].tolist() == ["Größere Änderung", "Kleine"]
    assert sheet.rows["requested_date"].tolist() == [pd.Timestamp("2026-01-13"), pd.Timestamp("2026-01-14")]


@pytest.mark.parametrize(("delimiter", "bom"), [(",", True), ("\t", False)])
def test_bom_and_tab_separated_csvs_plan_the_same_rows(tmp_path, delimiter, bom):
    rows = [["Ticket ID", "Vendor", "Type", "Opened"], ["T1", "Acme", "Incident", "2026-01-05T10:00:00Z"]]
    sheet = only_sheet(fb.write_csv(tmp_path / "t.csv", rows, delimiter=delimiter, bom=bom))
    assert sheet.mapping["ticket_id"] == "Ticket ID"  # no BOM glued to the first header
    assert sheet.rows.iloc[0]["opened_at"] == pd.Timestamp("2026-01-05 10:00")


def test_a_csv_file_name_breaks_a_tie_between_kinds(tmp_path):
    rows = [["ID", "Vendor", "Date"], ["1", "Acme", "2026-01-01"]]
    assert only_sheet(
        fb.write_csv(tmp_path / "meetings.csv", rows), constants={"meeting_type": "QBR"}
    ).kind == ("meetings")


# ---------------------------------------------------------------- kind, mappings and constants


def test_kind_override_applies_to_every_sheet(tmp_path):
    rows = [["Ref", "Supplier", "Type", "Opened"], ["R1", "Acme", "Complaint", "2026-01-02"]]
    sheet = only_sheet(fb.write_xlsx(tmp_path / "x.xlsx", {"Sheet1": rows}), kind="tickets",
                       column_map={"ticket_id": "Ref"})  # fmt: skip
    assert (sheet.kind, sheet.kind_reason) == ("tickets", "--kind")
    assert sheet.rows["ticket_id"].tolist() == ["R1"]


def test_a_missing_required_column_is_refused_naming_it_and_the_flag_that_fixes_it(tmp_path):
    rows = [["Ticket ID", "Type", "Opened"], ["T1", "Incident", "2026-01-02"]]
    path = fb.write_xlsx(tmp_path / "x.xlsx", {"Export": rows})
    assert refusal(path, kind="tickets") == "tickets sheet 'Export' has no vendor column: pass --vendor NAME"
    rows = [["Ticket ID", "Vendor", "Opened"], ["T1", "Acme", "2026-01-02"]]
    path = fb.write_csv(tmp_path / "tickets.csv", rows)
    assert (
        refusal(path) == "tickets file 'tickets.csv' has no ticket_type column: "
        "pass --map ticket_type=HEADER (or --set ticket_type=VALUE for the whole file)"
    )


def test_a_missing_required_column_tells_the_upload_page_which_column_to_offer_a_constant_for(tmp_path):
    rows = [["Ticket ID", "Type", "Opened"], ["T1", "Incident", "2026-01-02"]]
    with pytest.raises(MissingColumn) as caught:
        plan(fb.write_xlsx(tmp_path / "x.xlsx", {"Tickets": rows}))
    assert (caught.value.kind, caught.value.column, caught.value.sheet) == ("tickets", "vendor", "Tickets")


def test_a_survey_without_any_question_score_column_is_refused(tmp_path):
    rows = [["Response ID", "Vendor", "Survey Date", "Comment"], ["R1", "Acme", "2026-01-01", "ok"]]
    message = refusal(fb.write_csv(tmp_path / "survey.csv", rows), kind="surveys")
    assert "has no question score column" in message and "--map overall=HEADER" in message


def test_a_constant_fills_a_missing_required_column(tmp_path):
    rows = [["Ticket ID", "Type", "Opened"], ["T1", "Incident", "2026-01-02"]]
    sheet = only_sheet(fb.write_csv(tmp_path / "tickets.csv", rows), constants={"vendor": "Acme", "rm": "Jo"})
    assert sheet.rows[["vendor", "rm"]].values.tolist() == [["Acme", "Jo"]]
    assert sheet.constants == {"vendor": "Acme", "rm": "Jo"}


def test_a_constant_overrides_a_column_the_file_has(tmp_path):
    sheet = only_sheet(
        fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows()}), constants={"rm": "Max"}
    )
    assert sheet.rows["rm"].tolist() == ["Max"] * 3
    assert "rm" not in sheet.mapping and "RM" in sheet.unmapped


def test_a_constant_that_cannot_be_read_is_refused(tmp_path):
    rows = [["Ticket ID", "Vendor", "Type", "Opened"], ["T1", "Acme", "Incident", "2026-01-02"]]
    message = refusal(fb.write_csv(tmp_path / "t.csv", rows), constants={"escalated": "perhaps"})
    assert message == "constant escalated='perhaps' cannot be read as yes/no: correct the value"


def test_an_explicit_map_names_a_header_and_a_wrong_one_is_refused(tmp_path):
    rows = [["Inc Ref", "Vendor", "Type", "Raised on"], ["I-1", "Acme", "Incident", "2026-01-02 10:00"]]
    path = fb.write_csv(tmp_path / "tickets.csv", rows)
    sheet = only_sheet(path, column_map={"ticket_id": "Inc Ref", "opened_at": "raised on"})
    assert sheet.mapping["ticket_id"] == "Inc Ref" and sheet.mapping["opened_at"] == "Raised on"
    message = refusal(path, column_map={"ticket_id": "Nope", "opened_at": "Raised on"})
    assert "no column 'Nope' for ticket_id" in message


def test_unknown_option_values_are_refused_in_one_line(tmp_path):
    path = fb.write_csv(tmp_path / "t.csv", [["a"], ["b"]])
    assert "unknown kind 'bogus'" in refusal(path, kind="bogus")
    assert "unknown column 'colour'" in refusal(path, constants={"colour": "red"})
    assert "--survey-scale 5-1" in refusal(path, survey_scale=(5, 1))


def odd_layout(tmp_path, name="acme.xlsx"):
    rows = [["Acme weekly dump"], ["Inc Ref", "Raised on", "Kind", "Sev", "Misc"],
            ["I-1", "05/01/2026 10:00", "Outage", "2", "x"],
            ["I-2", "06/01/2026 11:00", "Request", "4", "y"]]  # fmt: skip
    return fb.write_xlsx(tmp_path / name, {"Sheet1": rows}), rows[1]


def test_a_saved_mapping_is_applied_automatically_to_the_same_layout(tmp_path):
    path, header = odd_layout(tmp_path)
    saved = [{
        "name": "acme weekly", "kind": "tickets", "layout_signature": detect.layout_signature(header),
        "mapping": json.dumps({"ticket_id": "Inc Ref", "opened_at": "Raised on", "ticket_type": "Kind",
                               "priority": "Sev"}),
        "constants": json.dumps({"vendor": "Acme"}),
    }]  # fmt: skip
    sheet = only_sheet(path, saved=saved)
    assert (sheet.kind, sheet.kind_reason, sheet.header_row) == ("tickets", "saved mapping 'acme weekly'", 2)
    assert sheet.layout_signature == saved[0]["layout_signature"]
    assert sheet.rows["ticket_type"].tolist() == ["Incident", "Request"]
    assert sheet.rows["vendor"].tolist() == ["Acme", "Acme"] and sheet.rows["priority"].tolist() == [2, 4]
    assert sheet.unmapped == ["Misc"]


def test_a_saved_mapping_named_by_the_user_is_applied_even_when_the_layout_differs(tmp_path):
    path, _ = odd_layout(tmp_path)
    saved = [{"name": "acme", "kind": "tickets", "layout_signature": "0" * 16,
              "mapping": {"ticket_id": "Inc Ref", "opened_at": "Raised on", "ticket_type": "Kind"},
              "constants": {"vendor": "Acme"}}]  # fmt: skip
    sheet = only_sheet(path, saved=saved, mapping_name="acme")
    assert sheet.kind_reason == "saved mapping 'acme'" and len(sheet.rows) == 2
    assert "no saved mapping named 'other'" in refusal(path, saved=saved, mapping_name="other")
    saved[0]["mapping"]["category"] = "Service Line"
    assert "saved mapping 'acme'" in refusal(path, saved=saved, mapping_name="acme")


def test_the_layout_signature_is_the_same_for_the_csv_and_xlsx_of_one_layout(tmp_path):
    xlsx = only_sheet(fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows()}))
    csv = only_sheet(fb.write_csv(tmp_path / "t.csv", fb.ticket_rows()))
    assert xlsx.layout_signature == csv.layout_signature == detect.layout_signature(fb.TICKET_HEADER)


# ---------------------------------------------------------------- rejected rows, superseded rows


def test_rejected_rows_carry_the_excel_row_number_a_one_line_reason_and_the_raw_cells(tmp_path):
    rows = [["Tickets export"], fb.TICKET_HEADER[:7],
            ["T1", "Acme", None, "Incident", "P1", "31/31/2020", None],
            ["T2", None, None, "Request", "P2", "05/01/2026 10:00", "soon\nish"],
            ["T3", "Acme", None, "Request", "P2", "06/01/2026 10:00", None]]  # fmt: skip
    sheet = only_sheet(fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": rows}))
    assert sheet.rows["ticket_id"].tolist() == ["T3"]
    records = sheet.rejected.to_dict("records")
    assert [r["row_no"] for r in records] == [3, 4]
    assert records[0]["reason"] == "opened_at: cannot read '31/31/2020' as a date"
    assert records[1]["reason"] == "responded_at: cannot read 'soon ish' as a date; vendor: blank (required)"
    assert all("\n" not in r["reason"] for r in records)
    raw = json.loads(records[0]["raw"])
    assert raw == {"Ticket ID": "T1", "Vendor": "Acme", "RM": None, "Type": "Incident", "Priority": "P1",
                   "Opened": "31/31/2020", "Responded": None}  # fmt: skip
    assert json.loads(records[1]["raw"])["Responded"] == "soon\nish"


def test_a_required_column_that_is_empty_throughout_is_refused(tmp_path):
    rows = [["Ticket ID", "Vendor", "Type", "Opened"], ["T1", "", "Incident", "2026-01-01"], ["T2", "?", "Request", "2026-01-01"]]  # fmt: skip
    message = refusal(fb.write_csv(tmp_path / "t.csv", rows))
    assert message == "tickets file 't.csv': column 'Vendor' (vendor) is empty: pass --vendor NAME"


def test_a_later_row_with_the_same_key_replaces_the_earlier_one_and_is_counted(tmp_path):
    rows = [["Ticket ID", "Vendor", "Type", "Opened", "Priority"],
            ["T1", "Acme", "Incident", "2026-01-01", "P3"],
            ["T1", "Globex", "Incident", "2026-01-01", "P3"],
            ["T1", "Acme", "Incident", "2026-01-01", "P1"]]  # fmt: skip
    sheet = only_sheet(fb.write_csv(tmp_path / "t.csv", rows))
    assert sheet.superseded == 1
    assert sheet.rows[["ticket_id", "vendor", "priority", "row_no"]].values.tolist() == [
        ["T1", "Globex", 3, 3],
        ["T1", "Acme", 1, 4],
    ]


def test_unrecognised_and_blank_priorities_read_as_p3_with_a_counting_warning(tmp_path):
    rows = [["Ticket ID", "Vendor", "Type", "Opened", "Priority"],
            ["T1", "Acme", "Incident", "2026-01-01", "urgent-ish"],
            ["T2", "Acme", "Incident", "2026-01-01", ""],
            ["T3", "Acme", "Incident", "2026-01-01", "2 - High"]]  # fmt: skip
    sheet = only_sheet(fb.write_csv(tmp_path / "t.csv", rows))
    assert sheet.rows["priority"].tolist() == [3, 3, 2]
    assert "priority: 2 row(s) blank or unrecognised, read as P3" in sheet.warnings


# ---------------------------------------------------------------- surveys


def survey_file(tmp_path, scores):
    rows = [["Response ID", "Vendor", "Survey Date", "Overall", "Communication", "NPS"]]
    rows += [[f"R{i}", "Acme", "2026-03-31", *s] for i, s in enumerate(scores, 1)]
    return fb.write_csv(tmp_path / "survey.csv", rows)


def test_a_score_outside_the_default_scale_is_rejected_with_the_flag_to_change_it(tmp_path):
    sheet = only_sheet(survey_file(tmp_path, [[5, 7, 9], [4, "", ""], ["", "", 10], [3, 3, 11]]))
    assert sheet.rows["response_id"].tolist() == ["R2"]
    reasons = sheet.rejected.set_index("row_no")["reason"].to_dict()
    assert reasons[2] == "communication: 7 is outside the survey scale 1-5 (pass --survey-scale MIN-MAX)"
    assert reasons[4].startswith("no question score (overall, communication")
    assert reasons[5] == "nps: 11 is outside 0-10"


def test_survey_scale_option_sets_the_scale_columns_and_the_bounds(tmp_path):
    sheet = only_sheet(survey_file(tmp_path, [[9, 10, 9], [0, 1, 0]]), survey_scale=(1, 10))
    assert sheet.rows["response_id"].tolist() == ["R1"]
    assert sheet.rows[["scale_min", "scale_max"]].values.tolist() == [[1.0, 10.0]]
    assert "outside the survey scale 1-10" in sheet.rejected["reason"].iloc[0]


# ---------------------------------------------------------------- size


def test_a_hundred_thousand_row_csv_is_planned_in_full(tmp_path):
    n = 100_000
    ids = np.arange(n)
    frame = pd.DataFrame({
        "Ticket ID": "T" + pd.Series(ids).astype(str),
        "Vendor": "Acme",
        "Type": np.where(ids % 3 == 0, "Incident", "Request"),
        "Priority": "P" + pd.Series(ids % 4 + 1).astype(str),
        "Opened": (pd.Timestamp("2026-01-01") + pd.to_timedelta(ids, unit="min")).strftime("%d/%m/%Y %H:%M"),
        "Escalated": np.where(ids % 50 == 0, "yes", "no"),
    })  # fmt: skip
    frame.loc[n - 1, "Opened"] = "not a date"
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    sheet = only_sheet(path)
    assert len(sheet.rows) == n - 1 and len(sheet.rejected) == 1
    assert sheet.rejected["row_no"].tolist() == [n + 1]
    assert sheet.rows["escalated"].sum() == 2000
    assert sheet.rows["priority"].value_counts().to_dict() == {1: 25000, 2: 25000, 3: 25000, 4: 24999}
    assert sheet.rows["opened_at"].max() == pd.Timestamp("2026-01-01") + pd.Timedelta(minutes=n - 2)


def test_the_last_row_of_each_key_is_found_over_several_columns_with_blank_keys_as_a_value():
    vendor = pa.array(["A", "B", "A", None, None, "A"])
    ticket = pa.array(["1", "1", "1", "7", "7", "2"])
    assert last_of_each_key([vendor, ticket], 6).tolist() == [False, True, True, False, True, True]
    assert last_of_each_key([vendor], 6).tolist() == [False, True, False, False, True, True]


def test_keys_that_never_repeat_need_no_filtering():
    assert last_of_each_key([pa.array(["x", "y"]), pa.array(["1", "1"])], 2) is None
    assert last_of_each_key([pa.array([], pa.string())], 0) is None


def test_keys_over_many_high_cardinality_columns_do_not_overflow_and_still_find_repeats():
    n = 5_000
    columns = [pa.array([f"{c}-{i % (n - 1)}" for i in range(n)]) for c in "abcdef"]  # row n-1 repeats row 0
    last = last_of_each_key(columns, n)
    assert last is not None and not last[0] and last[1:].all()
