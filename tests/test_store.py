"""The store: batches, versions, current rows, identical re-imports, undo/redo, rejected rows, archive.

Plans are built directly (store_fixtures: typed frames with canonical
columns, as rmdash.plan produces them) so these tests pin the store alone; the end-to-end
tests through real files are in test_importer.py and test_cli.py.
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_fixtures import file_plan, lock_held_by_another_process, sheet_plan, ticket, tickets_now, write

from rmdash import store
from rmdash.db import memory_db
from rmdash.model import DatabaseBusy, ImportOptions, ImportRefused, RmdashError


@pytest.fixture
def con(tmp_path):
    con = store.open_store(tmp_path / "store.duckdb")
    yield con
    con.close()


def temporary_relations(con) -> list[str]:
    """Temp tables and views of the connection, the write's Arrow stage (a registered view) included."""
    return [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()
    ]


def table_counts(con) -> dict[str, int]:
    tables = ["batches", "rejected_rows", "files", "mappings", "audit_log", "tickets", "tickets_versions"]
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}


# ------------------------------------------------------------------ import


def test_importing_a_sheet_makes_one_batch_and_its_rows_current(con, tmp_path):
    [summary] = write(con, tmp_path, "t.xlsx", sheet_plan("tickets", [ticket("T1"), ticket("T2")]))

    assert (summary.batch_id, summary.kind, summary.new, summary.changed, summary.unchanged) == (
        1,
        "tickets",
        2,
        0,
        0,
    )
    assert summary.active and summary.duplicate_of is None
    assert [(b.batch_id, b.file, b.sheet, b.new) for b in store.list_batches(con)] == [
        (1, "t.xlsx", "Sheet1", 2)
    ]
    assert tickets_now(con) == [("Acme", "T1", None, 1), ("Acme", "T2", None, 1)]
    assert store.store_version(con) == 1
    assert store.verify_store(con) == []


def test_typed_values_arrive_in_the_store_types(con, tmp_path):
    row = ticket("T1", priority=1, escalated=True, opened_at="2026-02-03 04:05:06", resolved_at=None)
    write(con, tmp_path, "t.xlsx", sheet_plan("tickets", [row]))

    got = con.execute("SELECT priority, escalated, opened_at, resolved_at, row_no FROM tickets").fetchall()
    assert got == [(1, True, pd.Timestamp("2026-02-03 04:05:06").to_pydatetime(), None, 2)]
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name='tickets'"
        ).fetchall()
    )
    assert types["priority"] == "TINYINT" and types["opened_at"] == "TIMESTAMP"


def test_a_second_upload_counts_new_changed_and_unchanged_keys(con, tmp_path):
    write(con, tmp_path, "jan.xlsx", sheet_plan("tickets", [ticket("T1"), ticket("T2")]))
    [s] = write(
        con,
        tmp_path,
        "feb.xlsx",
        sheet_plan("tickets", [ticket("T1"), ticket("T2", description="now resolved"), ticket("T3")]),
    )

    assert (s.batch_id, s.new, s.changed, s.unchanged) == (2, 1, 1, 1)
    # Current is the newest version per key: every key of batch 2 points at batch 2.
    assert tickets_now(con) == [
        ("Acme", "T1", None, 2),
        ("Acme", "T2", "now resolved", 2),
        ("Acme", "T3", None, 2),
    ]
    assert con.execute("SELECT count(*) FROM tickets_versions").fetchall() == [(5,)]


def test_the_same_id_at_another_vendor_is_another_key(con, tmp_path):
    write(
        con,
        tmp_path,
        "a.xlsx",
        sheet_plan("tickets", [ticket("T1", vendor="Acme"), ticket("T1", vendor="Beta")]),
    )
    assert [r[:2] for r in tickets_now(con)] == [("Acme", "T1"), ("Beta", "T1")]


def test_a_contract_is_keyed_by_vendor_alone_so_a_later_upload_replaces_it(con, tmp_path):
    write(
        con,
        tmp_path,
        "c1.xlsx",
        sheet_plan("contracts", [{"vendor": "Acme", "monthly_fee": 1000, "at_risk_pct": 10}]),
    )
    [s] = write(
        con,
        tmp_path,
        "c2.xlsx",
        sheet_plan("contracts", [{"vendor": "Acme", "monthly_fee": 2000, "at_risk_pct": 10}]),
    )

    assert (s.new, s.changed) == (0, 1)
    assert store.current_rows(con, "contracts")[["vendor", "monthly_fee"]].values.tolist() == [
        ["Acme", 2000.0]
    ]


def test_rows_of_one_key_within_a_sheet_keep_the_last_and_count_as_superseded(con, tmp_path):
    rows = [ticket("T1", description="first", row_no=2), ticket("T1", description="last", row_no=3)]
    [s] = write(con, tmp_path, "log.csv", sheet_plan("tickets", rows, sheet=None, superseded=0))

    assert (s.new, s.superseded) == (1, 1)
    assert tickets_now(con) == [("Acme", "T1", "last", 1)]
    assert con.execute("SELECT count(*) FROM tickets_versions").fetchall() == [(2,)]


def test_surveys_keep_their_scale_and_a_rescaled_reimport_is_a_change(con, tmp_path):
    row = {"response_id": "R1", "vendor": "Acme", "survey_date": "2026-03-01", "overall": 8}
    write(con, tmp_path, "s1.csv", sheet_plan("surveys", [{**row, "scale_min": 1, "scale_max": 10}]))
    [s] = write(con, tmp_path, "s2.csv", sheet_plan("surveys", [{**row, "scale_min": 0, "scale_max": 10}]))

    assert s.changed == 1
    assert con.execute("SELECT scale_min, scale_max FROM surveys").fetchall() == [(0.0, 10.0)]


# ------------------------------------------------------------------ identical re-import


def test_reimporting_an_identical_sheet_changes_nothing_and_says_so(con, tmp_path):
    plan = sheet_plan("tickets", [ticket("T1"), ticket("T2")])
    write(con, tmp_path, "t.xlsx", plan)
    before = table_counts(con)

    [again] = write(con, tmp_path, "t.xlsx", plan)

    assert again.batch_id is None and again.duplicate_of == 1
    assert again.warnings == ["identical to batch 1, nothing changed"]
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
    assert table_counts(con) == before
    assert store.store_version(con) == 1
    # no copy of the rows stays behind in the connection (the app keeps its connection for long)
    assert temporary_relations(con) == []


def test_the_same_rows_in_a_resaved_file_are_still_identical(con, tmp_path):
    write(con, tmp_path, "t.xlsx", sheet_plan("tickets", [ticket("T1"), ticket("T2")]), content=b"xlsx bytes")
    reordered = sheet_plan("tickets", [ticket("T2", row_no=2), ticket("T1", row_no=3)], sheet="Export")
    [again] = write(con, tmp_path, "t.csv", reordered, content=b"csv bytes")

    assert again.duplicate_of == 1


def test_the_same_rows_in_any_order_are_identical_but_a_repeated_or_swapped_value_is_not(con, tmp_path):
    rows = [ticket("T1", priority=1), ticket("T2", priority=2), ticket("T3", priority=3)]
    write(con, tmp_path, "t.xlsx", sheet_plan("tickets", rows))

    [reordered] = write(con, tmp_path, "t.xlsx", sheet_plan("tickets", rows[::-1]))
    # the same multiset of values, but T1 and T2 traded priorities: two changed rows
    swapped = [ticket("T1", priority=2), ticket("T2", priority=1), ticket("T3", priority=3)]
    [traded] = write(con, tmp_path, "t.xlsx", sheet_plan("tickets", swapped))
    # a row given twice is a different multiset of rows than the row once
    twice = [ticket("T1", priority=2), *swapped]
    [repeated] = write(con, tmp_path, "t.xlsx", sheet_plan("tickets", twice))

    assert reordered.duplicate_of == 1
    assert (traded.batch_id, traded.changed, traded.unchanged) == (2, 2, 1)
    assert (repeated.batch_id, repeated.superseded, repeated.unchanged) == (3, 1, 3)


def test_a_constant_that_changes_the_values_makes_the_same_file_a_new_batch(con, tmp_path):
    write(con, tmp_path, "t.csv", sheet_plan("tickets", [ticket("T1", vendor="Acme")]), content=b"same")
    [s] = write(con, tmp_path, "t.csv", sheet_plan("tickets", [ticket("T1", vendor="Beta")]), content=b"same")

    assert (s.batch_id, s.new) == (2, 1)
    assert con.execute("SELECT count(*) FROM files").fetchall() == [(1,)]


def test_reimporting_a_sheet_identical_to_an_undone_batch_points_to_redo(con, tmp_path):
    plan = sheet_plan("tickets", [ticket("T1")])
    write(con, tmp_path, "t.xlsx", plan)
    store.set_active(con, 1, False, "tester")

    [again] = write(con, tmp_path, "t.xlsx", plan)

    assert again.duplicate_of == 1 and not again.active
    assert again.warnings == ["identical to undone batch 1: use `redo 1`"]
    assert tickets_now(con) == []


def test_two_identical_sheets_in_one_import_write_one_batch(con, tmp_path):
    a = sheet_plan("tickets", [ticket("T1")], sheet="A")
    b = sheet_plan("tickets", [ticket("T1")], sheet="B")
    first, second = write(con, tmp_path, "t.xlsx", a, b)

    assert (first.batch_id, second.batch_id, second.duplicate_of) == (1, None, 1)


def test_a_sheet_with_only_rejected_rows_is_a_batch_that_keeps_them(con, tmp_path):
    rejected = pd.DataFrame({"row_no": [2], "reason": ["opened_at is blank"], "raw": ['{"Number": "T9"}']})
    [s] = write(con, tmp_path, "bad.csv", sheet_plan("tickets", [], sheet=None, rejected=rejected))

    assert (s.batch_id, s.new, s.rejected) == (1, 0, 1)
    assert store.rejected_rows(con, 1).to_dict("records") == [
        {"row_no": 2, "reason": "opened_at is blank", "raw": '{"Number": "T9"}'}
    ]


# ------------------------------------------------------------------ rejected rows and --strict


def test_rejected_rows_are_kept_with_raw_values_and_never_reach_current_rows(con, tmp_path):
    rejected = pd.DataFrame(
        {
            "row_no": [4, 7],
            "reason": ["opened_at: 'soon' is not a date", "ticket_id is blank"],
            "raw": [{"Number": "T3", "Opened": "soon"}, {"Number": "", "Opened": "2026-01-01"}],
        }
    )
    [s] = write(con, tmp_path, "t.xlsx", sheet_plan("tickets", [ticket("T1")], rejected=rejected))

    assert s.rejected == 2
    got = store.rejected_rows(con, s.batch_id)
    assert got["row_no"].tolist() == [4, 7]
    assert json.loads(got["raw"][0]) == {"Number": "T3", "Opened": "soon"}
    assert [r[1] for r in tickets_now(con)] == ["T1"]


def test_strict_refuses_the_whole_import_on_any_rejected_row_and_leaves_the_store_untouched(con, tmp_path):
    write(con, tmp_path, "jan.xlsx", sheet_plan("tickets", [ticket("T1")]))
    before = table_counts(con)
    rejected = pd.DataFrame({"row_no": [9], "reason": ["ticket_id is blank"], "raw": ["{}"]})
    good = file_plan(tmp_path, "good.xlsx", sheet_plan("tickets", [ticket("T2")]))
    bad = file_plan(
        tmp_path, "bad.xlsx", sheet_plan("tickets", [ticket("T3")], sheet="Feb", rejected=rejected)
    )

    with pytest.raises(
        ImportRefused, match=r"1 row was rejected.*bad.xlsx sheet 'Feb' row 9: ticket_id is blank"
    ):
        store.write_plans(con, [good, bad], ImportOptions(strict=True))

    assert table_counts(con) == before


def test_rejected_row_lookup_of_an_unknown_batch_is_a_clear_error(con):
    with pytest.raises(RmdashError, match="there is no batch 42"):
        store.rejected_rows(con, 42)


# ------------------------------------------------------------------ one transaction


def test_a_failure_in_the_middle_of_an_import_leaves_the_store_as_it_was(con, tmp_path, monkeypatch):
    write(con, tmp_path, "jan.xlsx", sheet_plan("tickets", [ticket("T1")]))
    before_rows, before_counts = tickets_now(con), table_counts(con)
    calls = []
    real = store._replace_current

    def fail_on_second_sheet(con_, kind, batch_id):
        calls.append(batch_id)
        if len(calls) == 2:
            raise duckdb.IOException("disk full\nsecond line of detail")
        real(con_, kind, batch_id)

    monkeypatch.setattr(store, "_replace_current", fail_on_second_sheet)
    plans = [
        file_plan(tmp_path, "a.xlsx", sheet_plan("tickets", [ticket("T1", description="x"), ticket("T2")])),
        file_plan(tmp_path, "b.xlsx", sheet_plan("tickets", [ticket("T9")])),
    ]

    with pytest.raises(RmdashError) as err:
        store.write_plans(con, plans, ImportOptions())

    assert str(err.value) == "the import failed; nothing was changed: IOException: disk full"
    assert (tickets_now(con), table_counts(con)) == (before_rows, before_counts)
    assert store.store_version(con) == 1
    assert temporary_relations(con) == []  # the failed sheet's rows are not kept in the connection


def test_a_file_that_changed_after_planning_is_refused(con, tmp_path):
    plan = file_plan(tmp_path, "t.xlsx", sheet_plan("tickets", [ticket("T1")]))
    (tmp_path / "t.xlsx").write_bytes(b"edited meanwhile")

    with pytest.raises(ImportRefused, match="t.xlsx changed while it was being imported"):
        store.write_plans(con, [plan], ImportOptions())
    assert table_counts(con)["batches"] == 0


def test_a_file_plan_without_sheets_is_refused_with_the_reason(con, tmp_path):
    plan = file_plan(tmp_path, "notes.xlsx")
    plan.skipped_sheets = ["Notes: no recognisable header"]
    with pytest.raises(
        ImportRefused, match=r"notes.xlsx: nothing to import \(Notes: no recognisable header\)"
    ):
        store.write_plans(con, [plan], ImportOptions())


def test_sheets_the_plan_skipped_are_reported_on_the_files_first_batch(con, tmp_path):
    plan = file_plan(tmp_path, "wb.xlsx", sheet_plan("tickets", [ticket("T1")]))
    plan.skipped_sheets = ["Notes: no recognisable header"]
    [s] = store.write_plans(con, [plan], ImportOptions())
    assert s.warnings == ["not imported: Notes: no recognisable header"]


# ------------------------------------------------------------------ raw archive


def test_the_original_bytes_are_archived_once_per_content(con, tmp_path):
    write(con, tmp_path, "t.xlsx", sheet_plan("tickets", [ticket("T1")]), content=b"original bytes")
    write(con, tmp_path, "t2.xlsx", sheet_plan("tickets", [ticket("T2")]), content=b"original bytes")

    assert con.execute("SELECT file_name, size, archive_path FROM files").fetchall() == [("t.xlsx", 14, None)]
    assert store.read_archived_file(con, hashlib.sha256(b"original bytes").hexdigest()) == b"original bytes"


def test_a_very_large_upload_is_archived_as_a_file_beside_the_database(con, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "ARCHIVE_THRESHOLD_BYTES", 10)
    data = b"a large upload, over the threshold"
    sha = hashlib.sha256(data).hexdigest()
    write(con, tmp_path, "big.csv", sheet_plan("tickets", [ticket("T1")], sheet=None), content=data)

    assert con.execute("SELECT content, archive_path, size FROM files").fetchall() == [
        (None, f"archive/{sha}", 34)
    ]
    assert (tmp_path / "archive" / sha).read_bytes() == data
    assert store.read_archived_file(con, sha) == data


# ------------------------------------------------------------------ undo / redo


def _import_three_months(con, tmp_path):
    write(con, tmp_path, "jan.xlsx", sheet_plan("tickets", [ticket("T1", description="jan"), ticket("T2")]))
    write(con, tmp_path, "feb.xlsx", sheet_plan("tickets", [ticket("T1", description="feb"), ticket("T3")]))
    write(con, tmp_path, "mar.xlsx", sheet_plan("tickets", [ticket("T3", description="mar"), ticket("T4")]))


def test_undo_leaves_current_rows_as_if_the_batch_had_never_been_imported(con, tmp_path):
    _import_three_months(con, tmp_path)

    undone = store.set_active(con, 2, False, "tester")

    assert not undone.active
    assert tickets_now(con) == [
        ("Acme", "T1", "jan", 1),
        ("Acme", "T2", None, 1),
        ("Acme", "T3", "mar", 3),
        ("Acme", "T4", None, 3),
    ]
    fresh = store.open_store(tmp_path / "fresh.duckdb")
    write(fresh, tmp_path, "jan.xlsx", sheet_plan("tickets", [ticket("T1", description="jan"), ticket("T2")]))
    write(fresh, tmp_path, "mar.xlsx", sheet_plan("tickets", [ticket("T3", description="mar"), ticket("T4")]))
    assert [r[:3] for r in tickets_now(con)] == [r[:3] for r in tickets_now(fresh)]
    assert store.verify_store(con) == []


def test_redo_restores_exactly_what_undo_took_away(con, tmp_path):
    _import_three_months(con, tmp_path)
    before = store.current_rows(con, "tickets")

    store.set_active(con, 2, False, "tester")
    store.set_active(con, 2, True, "tester")

    pd.testing.assert_frame_equal(store.current_rows(con, "tickets"), before)


def test_undoing_the_only_batch_of_a_key_removes_the_key(con, tmp_path):
    _import_three_months(con, tmp_path)
    store.set_active(con, 3, False, "tester")
    assert [r[1] for r in tickets_now(con)] == ["T1", "T2", "T3"]
    assert tickets_now(con)[2] == ("Acme", "T3", None, 2)


def test_undo_and_redo_refuse_a_batch_already_in_that_state(con, tmp_path):
    _import_three_months(con, tmp_path)
    with pytest.raises(RmdashError, match="batch 2 is active; there is nothing to redo"):
        store.set_active(con, 2, True, "tester")
    store.set_active(con, 2, False, "tester")
    with pytest.raises(RmdashError, match=r"batch 2 is already undone; `redo 2` restores it"):
        store.set_active(con, 2, False, "tester")
    with pytest.raises(RmdashError, match="there is no batch 9"):
        store.set_active(con, 9, False, "tester")


def test_store_version_grows_on_import_undo_and_redo_and_the_audit_log_says_who(con, tmp_path):
    _import_three_months(con, tmp_path)
    store.set_active(con, 1, False, "ann")
    store.set_active(con, 1, True, "bob")

    assert store.store_version(con) == 5
    log = store.audit_log(con)
    assert log[["action", "batch_id"]].values.tolist() == [
        ["import", 1],
        ["import", 2],
        ["import", 3],
        ["undo", 1],
        ["redo", 1],
    ]
    assert log["who"].tolist()[-2:] == ["ann", "bob"]


# A small model of the store: random uploads over a few keys, random undo/redo,
# always compared with a fresh store that imported only the active batches.
_upload = st.lists(
    st.tuples(st.sampled_from(["T1", "T2", "T3", "T4"]), st.sampled_from(["Acme", "Beta"])),
    min_size=1,
    max_size=4,
    unique=True,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uploads=st.lists(_upload, min_size=1, max_size=5), toggles=st.lists(st.integers(0, 4), max_size=6))
def test_current_rows_always_equal_a_fresh_import_of_the_active_batches(tmp_path_factory, uploads, toggles):
    tmp = tmp_path_factory.mktemp("model")
    con = memory_db()
    plans = [
        sheet_plan("tickets", [ticket(t, vendor=v, description=f"upload {i}") for t, v in keys])
        for i, keys in enumerate(uploads)
    ]
    for i, plan in enumerate(plans):
        write(con, tmp, f"u{i}.xlsx", plan)
    active = [True] * len(plans)
    for toggle in toggles:
        i = toggle % len(plans)
        store.set_active(con, i + 1, not active[i], "model")
        active[i] = not active[i]
        assert store.verify_store(con) == []

    fresh = memory_db()
    for i, plan in enumerate(plans):
        if active[i]:
            write(fresh, tmp, f"u{i}.xlsx", plan)
    assert [r[:3] for r in tickets_now(con)] == [r[:3] for r in tickets_now(fresh)]
    con.close()
    fresh.close()


# ------------------------------------------------------------------ mappings, filters


def test_save_mapping_stores_the_layout_and_a_later_save_replaces_it(con, tmp_path):
    plan = sheet_plan("tickets", [ticket("T1")], layout_signature="sig-1", constants={"vendor": "Acme"})
    write(con, tmp_path, "t.xlsx", plan, options=ImportOptions(save_mapping="ServiceNow Acme"))
    plan2 = sheet_plan("tickets", [ticket("T2")], layout_signature="sig-2")
    write(con, tmp_path, "t2.xlsx", plan2, options=ImportOptions(save_mapping="ServiceNow Acme"))

    [saved] = store.saved_mappings(con)
    assert (saved["name"], saved["kind"], saved["layout_signature"], saved["constants"]) == (
        "ServiceNow Acme",
        "tickets",
        "sig-2",
        {},
    )
    assert saved["mapping"]["ticket_id"] == "ticket_id"


def test_save_mapping_refuses_an_import_with_several_layouts(con, tmp_path):
    a = sheet_plan("tickets", [ticket("T1")], sheet="A", layout_signature="x")
    b = sheet_plan("meetings", [], sheet="B", layout_signature="y")
    with pytest.raises(ImportRefused, match="needs one sheet layout but this import has 2"):
        write(con, tmp_path, "wb.xlsx", a, b, options=ImportOptions(save_mapping="m"))
    assert table_counts(con)["batches"] == 0


def test_current_rows_filter_by_vendor_and_rm(con, tmp_path):
    rows = [
        ticket("T1", vendor="Acme", rm="Rita"),
        ticket("T2", vendor="Acme", rm="Sam"),
        ticket("T3", vendor="Beta"),
    ]
    write(con, tmp_path, "t.xlsx", sheet_plan("tickets", rows))

    assert store.current_rows(con, "tickets", vendors=["Acme"])["ticket_id"].tolist() == ["T1", "T2"]
    assert store.current_rows(con, "tickets", vendors=["Acme"], rms=["Sam"])["ticket_id"].tolist() == ["T2"]
    with pytest.raises(RmdashError, match="unknown kind 'ticket'"):
        store.current_rows(con, "ticket")


# ------------------------------------------------------------------ opening


def test_a_database_locked_by_another_process_is_reported_as_busy(tmp_path):
    path = tmp_path / "locked.duckdb"
    store.open_store(path).close()
    with (
        lock_held_by_another_process(path),
        pytest.raises(
            DatabaseBusy, match="^the database is busy with another import; try again in a minute$"
        ),
    ):
        store.open_store(path, wait_seconds=0.3)
    store.open_store(path, wait_seconds=0.3).close()


def test_opening_something_that_is_not_a_database_says_so(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"these are not the tables you are looking for" * 200)
    with pytest.raises(RmdashError, match="is not an rmdash database"):
        store.open_store(path)


def test_reading_a_database_that_does_not_exist_says_what_to_do(tmp_path):
    with pytest.raises(RmdashError, match="there is no database at .*missing.duckdb; import a file"):
        store.open_store(tmp_path / "missing.duckdb", read_only=True)


def test_skipped_sheet_notes_are_kept_with_the_batch(con, tmp_path):
    plan = file_plan(tmp_path, "wb.xlsx", sheet_plan("tickets", [ticket("T1")]))
    plan.skipped_sheets = ["Notes: no recognisable header"]
    store.write_plans(con, [plan], ImportOptions())
    assert store.list_batches(con)[0].warnings == ["not imported: Notes: no recognisable header"]


def test_undoing_a_later_contract_upload_brings_the_earlier_contract_back(con, tmp_path):
    acme = {"vendor": "Acme", "at_risk_pct": 10}
    write(con, tmp_path, "c1.xlsx", sheet_plan("contracts", [{**acme, "monthly_fee": 1000}]))
    write(
        con,
        tmp_path,
        "c2.xlsx",
        sheet_plan(
            "contracts",
            [{**acme, "monthly_fee": 2000}, {"vendor": "Beta", "monthly_fee": 500, "at_risk_pct": 5}],
        ),
    )

    store.set_active(con, 2, False, "tester")

    assert store.current_rows(con, "contracts")[["vendor", "monthly_fee", "batch_id"]].values.tolist() == [
        ["Acme", 1000.0, 1]
    ]
    assert store.verify_store(con) == []
