"""Real export layouts (presets): ServiceNow, Jira, Qualtrics, Microsoft Forms, Outlook.

Each test writes a file with the export's own column names and value
spellings and checks what lands in the plan.
"""

from __future__ import annotations

import datetime as dt

import filebuilders as fb
import pandas as pd
import pytest

from rmdash.detect import presets
from rmdash.model import ImportOptions, ImportRefused
from rmdash.plan import plan_file
from rmdash.schema import load_schema


def only_sheet(path, **options):
    plan = plan_file(path, ImportOptions(**options))
    assert len(plan.sheets) == 1
    return plan.sheets[0]


def at(sheet, key_column, key):
    rows = sheet.rows.set_index(key_column)
    return rows.loc[key]


def test_every_preset_in_the_registry_is_loaded_by_load_schema():
    names = {p.name for p in presets(load_schema())}
    assert names == {"servicenow_incident_list", "servicenow_incident_fields", "jira_issues", "qualtrics_survey",
                     "ms_forms_survey", "outlook_calendar"}  # fmt: skip


def test_servicenow_incident_list_export(tmp_path):
    path = fb.write_xlsx(tmp_path / "incident.xlsx", {"Page 1": fb.servicenow_list_rows()})
    sheet = only_sheet(path)
    assert sheet.preset == "servicenow_incident_list"
    assert sheet.kind == "tickets" and sheet.kind_reason == "header (ServiceNow incident list export)"
    assert sheet.constants == {"ticket_type": "Incident"}
    assert sheet.rows["ticket_type"].tolist() == ["Incident"] * 3
    assert sheet.rows["vendor"].tolist() == ["Acme"] * 3
    assert sheet.rows["priority"].tolist() == [1, 4, 3]
    assert sheet.rows["escalated"].tolist() == [False, True, True]  # Normal -> no, anything else -> yes
    first = at(sheet, "ticket_id", "INC0010001")
    assert first["opened_at"] == pd.Timestamp("2026-01-05 09:00")
    assert first["resolved_at"] == pd.Timestamp("2026-01-05 12:00")
    assert first["resolution_communicated_at"] == pd.Timestamp("2026-01-08 12:00")
    assert first["description"] == "Email down" and first["category"] == "Network"
    assert {"Caller", "State", "Assignment group", "Updated"} <= set(sheet.unmapped)


def test_a_vendor_constant_overrides_the_servicenow_company_column(tmp_path):
    path = fb.write_xlsx(tmp_path / "incident.xlsx", {"Page 1": fb.servicenow_list_rows()})
    sheet = only_sheet(path, constants={"vendor": "Globex"})
    assert sheet.rows["vendor"].tolist() == ["Globex"] * 3
    assert "vendor" not in sheet.mapping and "Company" in sheet.unmapped


def test_servicenow_event_log_keeps_the_last_row_per_incident(tmp_path):
    path = fb.write_csv(tmp_path / "incident_event_log.csv", fb.servicenow_event_log_rows())
    sheet = only_sheet(path, constants={"vendor": "Acme"})
    assert sheet.preset == "servicenow_incident_fields"
    assert sheet.superseded == 4 and len(sheet.rows) == 2 and len(sheet.rejected) == 0
    assert sheet.date_orders["opened_at"] == "dayfirst"
    # closed_at only holds 5/3/2016: it follows the day-first order the other date columns settled, and says so
    assert sheet.ambiguous_dates == ["resolution_communicated_at"]
    assert any("read as day-first like opened_at" in w for w in sheet.warnings)
    first = at(sheet, "ticket_id", "INC0000045")
    assert first["row_no"] == 7  # its last update
    assert first["resolved_at"] == pd.Timestamp("2016-02-29 11:29")
    assert first["opened_at"] == pd.Timestamp("2016-02-29 01:16")
    assert first["resolution_communicated_at"] == pd.Timestamp("2016-03-05 12:00")
    assert first["category"] == "Category 55" and first["ticket_type"] == "Incident"
    second = at(sheet, "ticket_id", "INC0000047")
    assert second["priority"] == 2 and pd.isna(second["resolved_at"])


def test_servicenow_event_log_without_vendor_values_asks_for_vendor(tmp_path):
    path = fb.write_csv(tmp_path / "incident_event_log.csv", fb.servicenow_event_log_rows())
    with pytest.raises(ImportRefused, match=r"column 'vendor' \(vendor\) is empty: pass --vendor NAME"):
        plan_file(path, ImportOptions())


def test_jira_csv_export(tmp_path):
    path = fb.write_csv(tmp_path / "Jira.csv", fb.jira_rows())
    sheet = only_sheet(path, constants={"vendor": "Acme"})
    assert sheet.preset == "jira_issues" and sheet.kind == "tickets"
    assert sheet.rows["ticket_id"].tolist() == ["OPS-101", "OPS-102", "OPS-103"]
    assert sheet.rows["ticket_type"].tolist() == ["Incident", "Request", "Bug"]
    assert sheet.rows["priority"].tolist() == [1, 3, 4]
    first = at(sheet, "ticket_id", "OPS-101")
    assert first["opened_at"] == pd.Timestamp("2025-12-22 14:38")
    assert first["resolved_at"] == pd.Timestamp("2025-12-22 18:05")
    assert first["description"] == "Payroll job failed"
    assert sheet.date_orders["opened_at"] == "dayfirst"
    assert sheet.unmapped.count("Labels") == 2 and "Description" not in sheet.mapping.values()


def test_qualtrics_survey_csv(tmp_path):
    path = fb.write_csv(tmp_path / "RM survey_March 2026.csv", fb.qualtrics_rows())
    sheet = only_sheet(path, constants={"vendor": "Acme"})
    assert sheet.preset == "qualtrics_survey" and sheet.kind == "surveys"
    assert sheet.header_row == 1
    assert sheet.skipped == 2  # the question-text row and the ImportId row
    assert sheet.rows["response_id"].tolist() == ["R_1a", "R_2b"]
    first = at(sheet, "response_id", "R_1a")
    assert (first["overall"], first["communication"], first["trust_integrity"], first["nps"]) == (4, 5, 4, 9)
    assert first["survey_date"] == pd.Timestamp("2026-03-02")
    assert first["comment"] == "Great RM"
    assert (first["scale_min"], first["scale_max"]) == (1.0, 5.0)
    (rejected,) = sheet.rejected.to_dict("records")
    assert rejected["row_no"] == 6 and rejected["reason"].startswith("no question score")
    assert '"ResponseId":"R_3c"' in rejected["raw"]


def test_a_qualtrics_export_with_choice_text_says_to_export_numeric_values(tmp_path):
    rows = fb.qualtrics_rows()
    labels = {
        "5": "Extremely satisfied",
        "4": "Somewhat satisfied",
        "3": "Neither",
        "2": "Somewhat dissatisfied",
    }
    score_columns = range(len(rows[0]) - len(fb.QUALTRICS_QUESTIONS), len(rows[0]) - 1)
    for row in rows[3:]:
        for i in score_columns:
            row[i] = labels.get(row[i], row[i])
    path = fb.write_csv(tmp_path / "RM survey_choice text.csv", rows)

    sheet = only_sheet(path, constants={"vendor": "Acme"})

    advice = [w for w in sheet.warnings if "answers are labels" in w]
    assert advice == [
        "survey answers are labels such as 'Somewhat satisfied' (overall), not numbers: export the survey "
        "again with numeric values (Qualtrics: Download Data, 'Use numeric values')"
    ]  # once for the sheet; its rows are still rejected, with the same reasons as before
    reasons = sheet.rejected["reason"].tolist()
    assert reasons[0].startswith("overall: cannot read 'Somewhat satisfied' as a number; communication: ")


def test_a_score_that_is_a_stray_symbol_gets_no_export_advice(tmp_path):
    rows = fb.qualtrics_rows()
    rows[3][-7] = "4/5"  # the first response's first score: a typo, not an answer label
    path = fb.write_csv(tmp_path / "RM survey.csv", rows)

    sheet = only_sheet(path, constants={"vendor": "Acme"})

    assert not [w for w in sheet.warnings if "answers are labels" in w]
    assert sheet.rejected["reason"].tolist()[0] == "overall: cannot read '4/5' as a number"


def test_microsoft_forms_excel_download(tmp_path):
    path = fb.write_xlsx(tmp_path / "RM feedback(1-2).xlsx", {"Sheet1": fb.ms_forms_rows()})
    sheet = only_sheet(path, constants={"vendor": "Acme"})
    assert sheet.preset == "ms_forms_survey"
    assert sheet.mapping["communication"] == "How would you rate the RM's communication?"
    assert sheet.mapping["responsiveness"] == "How responsive is the RM?"
    assert sheet.mapping["nps"] == "How likely are you to recommend the supplier?"
    assert sheet.mapping["respondent_role"] == "What is your role?"
    assert sheet.mapping["comment"] == "Any comments?"
    assert sheet.rows["response_id"].tolist() == ["1", "2"]
    assert sheet.rows["communication"].tolist() == [4.0, 3.0]
    assert sheet.rows["survey_date"].tolist() == [pd.Timestamp("2026-03-14"), pd.Timestamp("2026-03-15")]
    assert {"Email", "Name", "Start time"} <= set(sheet.unmapped)


def test_outlook_calendar_csv_export(tmp_path):
    path = fb.write_csv(tmp_path / "calendar.csv", fb.outlook_rows())
    sheet = only_sheet(path, constants={"vendor": "Acme"})
    assert sheet.preset == "outlook_calendar" and sheet.kind == "meetings"
    assert sheet.date_orders["scheduled_date"] == "monthfirst"
    rows = sheet.rows.set_index("meeting_type")
    qbr = rows.loc["QBR Acme Q4"]
    assert qbr["meeting_id"] == "QBR Acme Q4 | 1/15/2020 | 10:00:00 AM"
    assert qbr["scheduled_date"] == pd.Timestamp("2020-01-15")
    assert qbr["status"] == "Held" and qbr["held_date"] == pd.Timestamp("2020-01-15")
    assert qbr["rm"] == "Jane Roe" and qbr["required_attendees"] == "Ann Lee;Cy Dee"
    cancelled = rows.loc["Monthly service review"]  # "Canceled: " prefix dropped from type and id
    assert cancelled["status"] == "Cancelled" and pd.isna(cancelled["held_date"])
    assert cancelled["meeting_id"].startswith("Monthly service review | ")
    future = rows.loc["QBR Acme Q1 2099"]
    assert future["status"] == "Planned" and pd.isna(future["held_date"])


def test_a_preset_of_another_kind_does_not_apply_when_the_kind_is_forced(tmp_path):
    rows = [["Number", "Opened", "Short description", "Supplier", "Type", "Estimate", "Raised"],
            ["C1", "2026-01-01", "x", "Acme", "Normal", "100", "2026-01-01"]]  # fmt: skip
    sheet = only_sheet(fb.write_csv(tmp_path / "x.csv", rows), kind="change_requests")
    assert sheet.preset is None and sheet.kind == "change_requests"
    assert sheet.rows["cr_id"].tolist() == ["C1"]


def test_forms_dates_written_as_text_month_first_are_read_month_first(tmp_path):
    rows = fb.ms_forms_rows()
    rows[1][2], rows[2][2] = "3/14/26 10:03:12", "3/15/26 9:02:00"
    sheet = only_sheet(fb.write_xlsx(tmp_path / "f.xlsx", {"Sheet1": rows}), constants={"vendor": "Acme"})
    assert sheet.rows["survey_date"].tolist() == [
        pd.Timestamp(dt.date(2026, 3, 14)),
        pd.Timestamp("2026-03-15"),
    ]
