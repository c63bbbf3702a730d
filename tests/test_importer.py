"""import_files end to end: real xlsx and csv files written here, planned, written in one transaction.

The store's own rules are pinned in test_store.py; these tests check that a
real upload arrives as the spec says (spec sections 2 and 3).
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from store_fixtures import tickets_now

from rmdash import store
from rmdash.importer import import_files, import_plans
from rmdash.model import ImportOptions, ImportRefused, RmdashError
from rmdash.plan import plan_file

TICKET_HEADER = ["Ticket ID", "Supplier", "Type", "Priority", "Opened", "Description"]


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def csv_file(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tickets_and_meetings(path: Path, description: str = "") -> Path:
    return workbook(
        path,
        {
            "Tickets": [
                ["Monthly service desk export"],  # a title row above the header
                [],
                TICKET_HEADER,
                ["T1", "Acme", "Incident", "P1", "2026-01-05 09:00", description],
                ["T2", "Acme", "Request", "P3", "2026-01-06 10:00", description],
            ],
            "Meetings": [
                ["Meeting ID", "Supplier", "Meeting Type", "Scheduled Date", "Held Date"],
                ["M1", "Acme", "QBR", "2026-01-15", "2026-01-16"],
            ],
        },
    )


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store.duckdb"


def read(db: Path, fn, *args):
    con = store.open_store(db, read_only=True)
    try:
        return fn(con, *args)
    finally:
        con.close()


def test_a_workbook_with_two_kinds_becomes_one_batch_per_sheet(db, tmp_path):
    summaries = import_files(db, [tickets_and_meetings(tmp_path / "jan.xlsx")], ImportOptions())

    assert [(s.batch_id, s.sheet, s.kind, s.new) for s in summaries] == [
        (1, "Tickets", "tickets", 2),
        (2, "Meetings", "meetings", 1),
    ]
    assert [r[:2] for r in read(db, tickets_now)] == [("Acme", "T1"), ("Acme", "T2")]
    meetings = read(db, store.current_rows, "meetings")
    assert meetings[["meeting_id", "meeting_type"]].values.tolist() == [["M1", "QBR"]]
    assert read(db, store.verify_store) == []


def test_reimporting_an_identical_file_changes_nothing_and_says_so(db, tmp_path):
    path = tickets_and_meetings(tmp_path / "jan.xlsx")
    import_files(db, [path], ImportOptions())
    version = read(db, store.store_version)

    again = import_files(db, [path], ImportOptions())

    assert [(s.batch_id, s.duplicate_of, s.warnings) for s in again] == [
        (None, 1, ["identical to batch 1, nothing changed"]),
        (None, 2, ["identical to batch 2, nothing changed"]),
    ]
    assert len(read(db, store.list_batches)) == 2
    assert read(db, store.store_version) == version


def test_a_later_file_counts_changed_rows_and_undo_brings_the_earlier_values_back(db, tmp_path):
    import_files(db, [tickets_and_meetings(tmp_path / "jan.xlsx", "open")], ImportOptions())
    [tickets, meetings] = import_files(
        db, [tickets_and_meetings(tmp_path / "feb.xlsx", "closed")], ImportOptions()
    )

    assert (tickets.changed, tickets.unchanged, meetings.duplicate_of) == (2, 0, 2)
    assert {r[2] for r in read(db, tickets_now)} == {"closed"}

    con = store.open_store(db)
    store.set_active(con, tickets.batch_id, False, "tester")
    assert {r[2] for r in tickets_now(con)} == {"open"}
    con.close()


def test_a_file_that_cannot_be_read_refuses_the_whole_import_and_leaves_the_store_untouched(db, tmp_path):
    import_files(db, [tickets_and_meetings(tmp_path / "jan.xlsx")], ImportOptions())
    good = csv_file(
        tmp_path / "good.csv", [",".join(TICKET_HEADER), "T9,Acme,Incident,P2,2026-02-01 08:00,x"]
    )
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not really a workbook")
    before = read(db, store.list_batches)

    with pytest.raises(ImportRefused, match="broken.xlsx"):
        import_files(db, [good, bad], ImportOptions())

    assert read(db, store.list_batches) == before
    assert "T9" not in [r[1] for r in read(db, tickets_now)]


def test_a_missing_file_is_refused_before_the_store_is_created(db, tmp_path):
    with pytest.raises(ImportRefused, match="nowhere.csv"):
        import_files(db, [tmp_path / "nowhere.csv"], ImportOptions())
    assert not db.exists()


def test_an_event_log_keeps_the_last_row_of_each_key_and_counts_the_superseded(db, tmp_path):
    log = csv_file(
        tmp_path / "audit.csv",
        [
            ",".join(TICKET_HEADER),
            "T1,Acme,Incident,P2,2026-01-05 09:00,opened",
            "T1,Acme,Incident,P1,2026-01-05 09:00,raised to P1",
            "T2,Acme,Request,P3,2026-01-06 10:00,opened",
            "T1,Acme,Incident,P1,2026-01-05 09:00,resolved",
        ],
    )
    [s] = import_files(db, [log], ImportOptions())

    assert (s.new, s.superseded) == (2, 2)
    assert read(db, tickets_now) == [("Acme", "T1", "resolved", 1), ("Acme", "T2", "opened", 1)]


def test_a_planned_sheet_says_its_keys_are_unique_so_the_store_does_not_look_for_repeats_again(
    db, tmp_path, monkeypatch
):
    log = csv_file(
        tmp_path / "audit.csv",
        [
            ",".join(TICKET_HEADER),
            "T1,Acme,Incident,P2,2026-01-05 09:00,opened",
            "T1,Acme,Incident,P1,2026-01-05 09:00,done",
        ],
    )
    [sheet] = plan_file(log, ImportOptions()).sheets
    assert sheet.keys_unique and sheet.superseded == 1
    queries = []
    real = store._scalar
    monkeypatch.setattr(store, "_scalar", lambda con, sql, *a: queries.append(sql) or real(con, sql, *a))

    [s] = import_files(db, [log], ImportOptions())

    assert (s.new, s.superseded) == (1, 1)
    assert not [q for q in queries if "HAVING count(*) > 1" in q]


def test_rejected_rows_of_a_real_file_keep_their_sheet_row_number_and_raw_cells(db, tmp_path):
    path = workbook(
        tmp_path / "t.xlsx",
        {
            "Tickets": [
                ["Ticket export"],
                TICKET_HEADER,
                ["T1", "Acme", "Incident", "P1", "2026-01-05 09:00", ""],
                ["T2", "Acme", "Incident", "P1", "not a date", ""],
            ]
        },
    )
    [s] = import_files(db, [path], ImportOptions())

    assert (s.new, s.rejected) == (1, 1)
    rejected = read(db, store.rejected_rows, s.batch_id)
    assert rejected["row_no"].tolist() == [4]
    assert "opened_at" in rejected["reason"][0]
    assert json.loads(rejected["raw"][0])["Opened"] == "not a date"
    assert [r[1] for r in read(db, tickets_now)] == ["T1"]


def test_strict_refuses_a_file_with_a_rejected_row_and_writes_nothing(db, tmp_path):
    path = csv_file(
        tmp_path / "t.csv",
        [",".join(TICKET_HEADER), "T1,Acme,Incident,P1,2026-01-05 09:00,", "T2,Acme,Incident,P1,soon,"],
    )
    with pytest.raises(
        ImportRefused, match=r"--strict: 1 row was rejected, nothing imported; first: t.csv row 3"
    ):
        import_files(db, [path], ImportOptions(strict=True))
    assert read(db, store.list_batches) == []


def test_a_vendor_constant_fills_an_export_without_a_vendor_column(db, tmp_path):
    path = csv_file(tmp_path / "snow.csv", ["Number,Type,Opened", "INC001,Incident,2026-01-05 09:00"])
    with pytest.raises(RmdashError, match="vendor"):
        import_files(db, [path], ImportOptions())

    import_files(db, [path], ImportOptions(constants={"vendor": "Acme"}))
    assert read(db, tickets_now) == [("Acme", "INC001", None, 1)]


def test_a_saved_mapping_reads_the_next_file_of_the_same_layout(db, tmp_path):
    header = "Ref,Client,Kind,Logged At"
    jan = csv_file(tmp_path / "jan.csv", [header, "R1,Acme,Incident,2026-01-05 09:00"])
    column_map = {"ticket_id": "Ref", "vendor": "Client", "ticket_type": "Kind", "opened_at": "Logged At"}
    import_files(db, [jan], ImportOptions(kind="tickets", column_map=column_map, save_mapping="Helpdesk"))

    [saved] = read(db, store.saved_mappings)
    assert (saved["name"], saved["kind"], saved["mapping"]) == ("Helpdesk", "tickets", column_map)

    feb = csv_file(tmp_path / "feb.csv", [header, "R2,Acme,Request,2026-02-05 09:00"])
    [s] = import_files(db, [feb], ImportOptions(mapping_name="Helpdesk"))
    assert (s.kind, s.new) == ("tickets", 1)
    assert [r[1] for r in read(db, tickets_now)] == ["R1", "R2"]


def test_an_unknown_saved_mapping_is_a_clear_error(db, tmp_path):
    path = csv_file(tmp_path / "t.csv", [",".join(TICKET_HEADER)])
    with pytest.raises(RmdashError, match="no saved mapping named 'Nope'"):
        import_files(db, [path], ImportOptions(mapping_name="Nope"))


def test_previewed_plans_are_written_through_an_open_connection(db, tmp_path):
    path = tickets_and_meetings(tmp_path / "upload-tmp-123.xlsx")
    plan = plan_file(path, ImportOptions(), display_name="January.xlsx")
    con = store.open_store(db)
    try:
        summaries = import_plans(con, [plan], ImportOptions(who="alice"))
        assert [(s.file, s.who) for s in summaries] == [("January.xlsx", "alice")] * 2
        assert con.execute("SELECT file_name FROM files").fetchall() == [("January.xlsx",)]
        assert import_files(con, [path], ImportOptions())[0].duplicate_of == 1
    finally:
        con.close()
