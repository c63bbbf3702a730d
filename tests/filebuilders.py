"""Real files for the importer's tests: workbooks, CSVs, export layouts and bad files.

Every builder writes into a folder the test gives (tmp_path) and returns the
path. Workbooks are written with openpyxl (real Excel date cells where a
datetime is given), CSVs byte for byte as the exporting tool would, and bad
files (zip bombs, billion laughs, encrypted, legacy .xls...) by hand.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
import zipfile
from pathlib import Path

import openpyxl

# ---------------------------------------------------------------- writers


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    """A workbook with one sheet per entry; rows of values (datetime -> a real date cell)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = "dd/mm/yyyy hh:mm"
                elif isinstance(cell.value, dt.date):
                    cell.number_format = "dd/mm/yyyy"
    wb.save(path)
    return path


def write_csv(
    path: Path,
    rows: list[list],
    delimiter: str = ",",
    encoding: str = "utf-8",
    bom: bool = False,
    newline: str = "\r\n",
) -> Path:
    """A CSV as Excel or an export tool writes it (quotes where needed)."""
    lines = []
    for row in rows:
        cells = []
        for value in row:
            text = "" if value is None else str(value)
            if any(ch in text for ch in (delimiter, '"', "\n", "\r")):
                text = '"' + text.replace('"', '""') + '"'
            cells.append(text)
        lines.append(delimiter.join(cells))
    data = (newline.join(lines) + newline).encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- canonical kinds

TICKET_HEADER = [
    "Ticket ID",
    "Vendor",
    "RM",
    "Type",
    "Priority",
    "Opened",
    "Responded",
    "Action Plan",
    "Resolved",
    "Resolution Communicated",
    "Escalated",
    "Category",
    "Description",
]


def ticket_rows() -> list[list]:
    """Three tickets with real datetimes (for xlsx) in the canonical layout."""
    return [
        TICKET_HEADER,
        ["INC-1", "Acme", "Jane Roe", "Incident", "P1", dt.datetime(2026, 1, 5, 9, 0), dt.datetime(2026, 1, 5, 9, 20),
         "yes", dt.datetime(2026, 1, 5, 15, 0), dt.datetime(2026, 1, 5, 16, 0), "no", "Network", "Core switch down"],
        ["REQ-2", "Acme", "Jane Roe", "Request", "P3", dt.datetime(2026, 1, 13, 10, 0), None,
         "", None, None, "", "Access", "New starter"],
        ["CMP-3", "Acme", None, "Complaint", "", dt.datetime(2026, 2, 2, 8, 30), None,
         None, None, None, "yes", None, "Late report"],
    ]  # fmt: skip


MEETING_HEADER = ["Meeting ID", "Vendor", "RM", "Meeting Type", "Scheduled Date", "Held Date", "Status",
                  "Required Attendees", "Attendees", "Report Due", "Report Sent"]  # fmt: skip


def meeting_rows() -> list[list]:
    return [
        MEETING_HEADER,
        ["M1", "Acme", "Jane Roe", "QBR", dt.date(2026, 1, 15), dt.date(2026, 1, 16), "Held", "CIO; CFO", "CIO",
         dt.date(2026, 1, 10), dt.date(2026, 1, 9)],
        ["M2", "Acme", "Jane Roe", "Monthly service review", dt.date(2026, 2, 12), None, "Planned", "CIO", None,
         None, None],
    ]  # fmt: skip


CR_HEADER = ["CR #", "Supplier", "Title", "Raised", "Estimated Cost", "Actual Cost", "Target Date", "Delivered",
             "Status"]  # fmt: skip


def cr_rows() -> list[list]:
    return [
        CR_HEADER,
        ["CR-1", "Acme", "New portal", dt.date(2026, 1, 3), "£12,500", "£13,000.50", dt.date(2026, 3, 1),
         dt.date(2026, 3, 4), "Delivered"],
        ["CR-2", "Acme", "Report", dt.date(2026, 1, 20), "1,200", None, dt.date(2026, 4, 1), None, "Open"],
    ]  # fmt: skip


SURVEY_HEADER = ["Response ID", "Vendor", "Survey Date", "Role", "Overall", "Communication", "NPS", "Comment"]


def survey_rows() -> list[list]:
    return [
        SURVEY_HEADER,
        ["R1", "Acme", dt.date(2026, 3, 31), "CIO", 4, 5, 9, "Good"],
        ["R2", "Acme", dt.date(2026, 3, 30), "CFO", 2, None, 5, None],
    ]


COMM_HEADER = ["Notice ID", "Vendor", "Change Type", "Announced", "Effective Date"]


def communication_rows() -> list[list]:
    return [
        COMM_HEADER,
        ["N1", "Acme", "Re-pricing", dt.date(2026, 1, 2), dt.date(2026, 7, 1)],
        ["N2", "Acme", "Process", dt.date(2026, 2, 1), dt.date(2026, 2, 20)],
    ]


CONTRACT_HEADER = ["Supplier", "Monthly Fee", "At Risk %", "Bonus %", "Currency"]


def contract_rows() -> list[list]:
    return [CONTRACT_HEADER, ["Acme", "€100,000", "10%", "2", "EUR"]]


# ---------------------------------------------------------------- export layouts (presets)

SERVICENOW_LIST_HEADER = ["Number", "Opened", "Short description", "Caller", "Priority", "State", "Category",
                          "Assignment group", "Assigned to", "Updated", "Updated by", "Resolved", "Closed",
                          "Company", "Escalation"]  # fmt: skip


def servicenow_list_rows() -> list[list]:
    """ServiceNow incident list export (column labels), as its xlsx export writes them."""
    return [
        SERVICENOW_LIST_HEADER,
        ["INC0010001", "2026-01-05 09:00:00", "Email down", "Ann Lee", "1 - Critical", "Closed", "Network",
         "Service Desk", "Bob Kay", "2026-01-09 10:00:00", "system", "2026-01-05 12:00:00", "2026-01-08 12:00:00",
         "Acme", "Normal"],
        ["INC0010002", "2026-01-06 10:30:00", "Laptop slow", "Cy Dee", "4 - Low", "Resolved", "Hardware",
         "Service Desk", "Bob Kay", "2026-01-07 10:00:00", "system", "2026-01-07 09:00:00", "",
         "Acme", "Overdue"],
        ["INC0010003", "2026-01-07 11:00:00", "VPN drops", "Ann Lee", "3 - Moderate", "In Progress", "Network",
         "Network Ops", "", "2026-01-07 12:00:00", "system", "", "", "Acme", "High"],
    ]  # fmt: skip


EVENT_LOG_HEADER = ["number", "incident_state", "active", "reassignment_count", "reopen_count", "sys_mod_count",
                    "made_sla", "caller_id", "opened_by", "opened_at", "sys_created_by", "sys_created_at",
                    "sys_updated_by", "sys_updated_at", "contact_type", "location", "category", "subcategory",
                    "u_symptom", "cmdb_ci", "impact", "urgency", "priority", "assignment_group", "assigned_to",
                    "knowledge", "u_priority_confirmation", "notify", "problem_id", "rfc", "vendor", "caused_by",
                    "closed_code", "resolved_by", "resolved_at", "closed_at"]  # fmt: skip


def _event(number, state, mod, opened, updated, priority, resolved="?", vendor="?") -> list:
    values = {
        "number": number, "incident_state": state, "active": "true" if state != "Closed" else "false",
        "reassignment_count": "0", "reopen_count": "0", "sys_mod_count": str(mod), "made_sla": "true",
        "caller_id": "Caller 2403", "opened_by": "Opened by  8", "opened_at": opened,
        "sys_created_by": "Created by 6", "sys_created_at": opened, "sys_updated_by": "Updated by 21",
        "sys_updated_at": updated, "contact_type": "Phone", "location": "Location 143",
        "category": "Category 55", "subcategory": "Subcategory 170", "u_symptom": "Symptom 72", "cmdb_ci": "?",
        "impact": "2 - Medium", "urgency": "2 - Medium", "priority": priority, "assignment_group": "Group 56",
        "assigned_to": "?", "knowledge": "true", "u_priority_confirmation": "false", "notify": "Do Not Notify",
        "problem_id": "?", "rfc": "?", "vendor": vendor, "caused_by": "?", "closed_code": "code 5",
        "resolved_by": "Resolved by 149", "resolved_at": resolved, "closed_at": "5/3/2016 12:00",
    }  # fmt: skip
    return [values[h] for h in EVENT_LOG_HEADER]


def servicenow_event_log_rows() -> list[list]:
    """UCI incident event log layout: one row per update, `?` for blank, day-first text dates.

    INC0000045 has 4 updates, INC0000047 has 2: 6 rows, 2 keys, 4 superseded.
    """
    return [
        EVENT_LOG_HEADER,
        _event("INC0000045", "New", 0, "29/2/2016 01:16", "29/2/2016 01:23", "3 - Moderate"),
        _event("INC0000045", "Resolved", 1, "29/2/2016 01:16", "29/2/2016 08:53", "3 - Moderate"),
        _event("INC0000047", "Active", 0, "29/2/2016 04:40", "29/2/2016 04:57", "3 - Moderate"),
        _event("INC0000045", "Resolved", 2, "29/2/2016 01:16", "29/2/2016 11:29", "3 - Moderate",
               resolved="29/2/2016 11:29"),
        _event("INC0000047", "Active", 1, "29/2/2016 04:40", "1/3/2016 09:52", "2 - High"),
        _event("INC0000045", "Closed", 3, "29/2/2016 01:16", "5/3/2016 12:00", "3 - Moderate",
               resolved="29/2/2016 11:29"),
    ]  # fmt: skip


JIRA_HEADER = ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Priority", "Resolution", "Assignee",
               "Reporter", "Creator", "Created", "Updated", "Last Viewed", "Resolved", "Labels", "Labels",
               "Description"]  # fmt: skip


def jira_rows() -> list[list]:
    return [
        JIRA_HEADER,
        ["Payroll job failed", "OPS-101", "10001", "[System] Incident", "Done", "Highest", "Done", "Raj P",
         "Ann Lee", "Ann Lee", "22/Dec/25 2:38 PM", "23/Dec/25 9:00 AM", "", "22/Dec/25 6:05 PM", "payroll", "p1",
         "The nightly payroll job failed.\nRerun done."],
        ["New laptop", "OPS-102", "10002", "[System] Service request", "Open", "Medium", "", "", "Cy Dee",
         "Cy Dee", "03/Jan/26 9:15 AM", "03/Jan/26 9:15 AM", "", "", "", "", ""],
        ["Typo on invoice", "OPS-103", "10003", "Bug", "Open", "Lowest", "", "", "Cy Dee", "Cy Dee",
         "04/Jan/26 11:00 AM", "04/Jan/26 11:00 AM", "", "", "", "", ""],
    ]  # fmt: skip


QUALTRICS_META = ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished",
                  "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
                  "ExternalReference", "LocationLatitude", "LocationLongitude", "DistributionChannel",
                  "UserLanguage"]  # fmt: skip
QUALTRICS_LABELS = ["Start Date", "End Date", "Response Type", "IP Address", "Progress", "Duration (in seconds)",
                    "Finished", "Recorded Date", "Response ID", "Recipient Last Name", "Recipient First Name",
                    "Recipient Email", "External Data Reference", "Location Latitude", "Location Longitude",
                    "Distribution Channel", "User Language"]  # fmt: skip
QUALTRICS_QUESTIONS = {
    "Q1": "How satisfied are you overall with the relationship?",
    "Q2_1": "Please rate the relationship manager on the following - Communication",
    "Q2_2": "Please rate the relationship manager on the following - Trust and integrity",
    "Q2_3": "Please rate the relationship manager on the following - Proactivity",
    "Q2_4": "Please rate the relationship manager on the following - Understanding of our business",
    "Q3": "How likely are you to recommend this supplier to a colleague?",
    "Q4": "Any other comments?",
}


def qualtrics_rows() -> list[list]:
    """Qualtrics CSV: header, question-text row, ImportId row, then responses (numeric values)."""
    meta_ids = ["startDate", "endDate", "status", "ipAddress", "progress", "duration", "finished", "recordedDate",
                "_recordId", "recipientLastName", "recipientFirstName", "recipientEmail", "externalDataReference",
                "locationLatitude", "locationLongitude", "distributionChannel", "userLanguage"]  # fmt: skip
    import_ids = [f'{{"ImportId":"{m}","timeZone":"Europe/London"}}' for m in meta_ids]
    import_ids += [f'{{"ImportId":"QID{q[1:].split("_")[0]}"}}' for q in QUALTRICS_QUESTIONS]

    def response(rid, recorded, scores, comment):
        return ["2026-03-02 09:00:00", "2026-03-02 09:05:00", "0", "10.0.0.1", "100", "300", "True", recorded,
                rid, "Lee", "Ann", "ann@example.com", "", "51.5", "-0.1", "email", "EN", *scores, comment]  # fmt: skip

    return [
        QUALTRICS_META + list(QUALTRICS_QUESTIONS),
        QUALTRICS_LABELS + list(QUALTRICS_QUESTIONS.values()),
        import_ids,
        response("R_1a", "2026-03-02 09:05:01", ["4", "5", "4", "3", "4", "9"], "Great RM"),
        response("R_2b", "2026-03-03 14:00:00", ["2", "", "3", "", "", "6"], ""),
        response("R_3c", "2026-03-04 08:00:00", ["", "", "", "", "", ""], "No answers"),
    ]


FORMS_HEADER = ["ID", "Start time", "Completion time", "Email", "Name",
                "How would you rate the RM's communication?", "How responsive is the RM?",
                "How likely are you to recommend the supplier?", "What is your role?",
                "Any comments?"]  # fmt: skip


def ms_forms_rows() -> list[list]:
    return [
        FORMS_HEADER,
        [1, dt.datetime(2026, 3, 14, 10, 0, 5), dt.datetime(2026, 3, 14, 10, 3, 12), "ann@example.com", "Ann Lee",
         4, 5, 10, "CIO", "Keep it up"],
        [2, dt.datetime(2026, 3, 15, 9, 0), dt.datetime(2026, 3, 15, 9, 2), "cy@example.com", "Cy Dee",
         3, 2, 6, "CFO", None],
    ]  # fmt: skip


OUTLOOK_HEADER = ["Subject", "Start Date", "Start Time", "End Date", "End Time", "All day event", "Reminder on/off",
                  "Reminder Date", "Reminder Time", "Meeting Organizer", "Required Attendees", "Optional Attendees",
                  "Meeting Resources", "Billing Information", "Categories", "Description", "Location", "Mileage",
                  "Priority", "Private", "Sensitivity", "Show time as"]  # fmt: skip


def _outlook(subject, start, organizer="Jane Roe", required="Ann Lee;Cy Dee") -> list:
    return [subject, start, "10:00:00 AM", start, "11:00:00 AM", "False", "True", start, "9:45:00 AM", organizer,
            required, "", "", "", "Governance", "Agenda attached", "Teams", "", "Normal", "False", "Normal", "2"]  # fmt: skip


def outlook_rows() -> list[list]:
    """Outlook calendar CSV (US locale: month-first dates): a past QBR, a cancelled review, a future one."""
    return [
        OUTLOOK_HEADER,
        _outlook("QBR Acme Q4", "1/15/2020"),
        _outlook("Canceled: Monthly service review", "2/13/2020"),
        _outlook("QBR Acme Q1 2099", "4/20/2099"),
    ]


# ---------------------------------------------------------------- bad files


def _rewrite_zip(
    source: Path, target: Path, replace: dict[str, bytes], add: dict[str, bytes] | None = None
) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        existing = set(src.namelist())
        extra = {n: d for n, d in replace.items() if n not in existing} | (add or {})
        for name, data in extra.items():
            dst.writestr(name, data)
    return target


def small_workbook(path: Path) -> Path:
    return write_xlsx(path, {"Tickets": ticket_rows()})


def zip_bomb_xlsx(tmp: Path) -> Path:
    """A valid workbook carrying one part of 64 MiB of zeros (ratio ~1000:1)."""
    base = small_workbook(tmp / "base.xlsx")
    target = tmp / "bomb.xlsx"
    _rewrite_zip(base, target, {})
    with (
        zipfile.ZipFile(target, "a", zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/media/pad.bin", "w") as part,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(64):
            part.write(chunk)
    return target


def lying_size_zip_xlsx(tmp: Path) -> Path:
    """A workbook whose central directory claims a part unpacks to 3 GiB."""
    base = small_workbook(tmp / "base.xlsx")
    data = bytearray(base.read_bytes())
    offset = data.rfind(b"PK\x01\x02")  # last central-directory entry
    struct.pack_into("<I", data, offset + 24, 3 * 1024**3)  # uncompressed size
    target = tmp / "lying.xlsx"
    target.write_bytes(bytes(data))
    return target


def many_entries_xlsx(tmp: Path, count: int = 10_050) -> Path:
    base = small_workbook(tmp / "base.xlsx")
    return _rewrite_zip(base, tmp / "many.xlsx", {}, {f"xl/media/p{i}.bin": b"x" for i in range(count)})


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>'
)


def billion_laughs_xlsx(tmp: Path) -> Path:
    base = small_workbook(tmp / "base.xlsx")
    return _rewrite_zip(base, tmp / "laughs.xlsx", {"xl/sharedStrings.xml": BILLION_LAUGHS})


def external_entity_xlsx(tmp: Path) -> Path:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row></sheetData></worksheet>'
    )
    base = small_workbook(tmp / "base.xlsx")
    return _rewrite_zip(base, tmp / "xxe.xlsx", {"xl/worksheets/sheet1.xml": evil})


def encrypted_xlsx(tmp: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    base = small_workbook(tmp / "base.xlsx")
    target = tmp / "locked.xlsx"
    with open(base, "rb") as src, open(target, "wb") as out:
        OOXMLFile(src).encrypt("secret", out)
    return target


def legacy_xls(tmp: Path) -> Path:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Tickets")
    for c, value in enumerate(["Ticket ID", "Vendor", "Type", "Opened"]):
        sheet.write(0, c, value)
    target = tmp / "old.xls"
    book.save(str(target))
    return target


def truncated_xlsx(tmp: Path) -> Path:
    data = small_workbook(tmp / "base.xlsx").read_bytes()
    target = tmp / "cut.xlsx"
    target.write_bytes(data[: len(data) // 2])
    return target


def broken_sheet_xlsx(tmp: Path) -> Path:
    """Zip and XML prolog fine, sheet body not XML: only the spreadsheet reader can notice."""
    base = small_workbook(tmp / "base.xlsx")
    garbage = b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>9999</v></c><<<'
    return _rewrite_zip(base, tmp / "broken.xlsx", {"xl/worksheets/sheet1.xml": garbage})


def docx_file(tmp: Path) -> Path:
    target = tmp / "letter.docx"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", '<?xml version="1.0"?><document/>')
    return target


def ods_file(tmp: Path) -> Path:
    target = tmp / "calc.ods"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", '<?xml version="1.0"?><office:document-content/>')
    return target


def random_bytes(path: Path, size: int = 8192, seed: int = 7) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def prose_csv(path: Path) -> Path:
    path.write_text(
        "Dear team,\nplease find the monthly figures attached; they look better than last month.\n"
        "Kind regards, Jane\n",
        encoding="utf-8",
    )
    return path


def pdf_file(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n")
    return path


def html_as_xls(path: Path) -> Path:
    path.write_text("<html><body><table><tr><td>Ticket ID</td><td>Vendor</td></tr></table></body></html>")
    return path


def png_file(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return path
