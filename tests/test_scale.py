"""Scale: a large file typed in parts gives the same store as one pass; KPI results are reused, not recomputed.

The parts are made small here (a few hundred rows, a few KiB per CSV block)
so that every cross-part rule is exercised on a file a test can write: an
event log whose repeated keys sit in different parts, a date column whose
day/month order is only settled near the end of the file, a sibling date
column that follows it, a decimal comma that only shows late, rejected rows
in several parts, and warnings whose counts add up over the parts.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from rmdash import kpi, plan, readers, store
from rmdash.importer import import_files
from rmdash.model import ImportOptions, ProgressEvent
from tests import filebuilders as fb

SMALL_PARTS = {"CHUNK_ROWS": 97, "SPILL_ROWS": 0}  # typed in parts, every part spilled to Parquet
PARTS_IN_MEMORY = {"CHUNK_ROWS": 97, "SPILL_ROWS": 10**9}  # typed in parts, all kept in memory
TINY_BLOCKS = {"CSV_STREAM_BYTES": 0, "CSV_BLOCK_BYTES": 4096}
TIME_COLUMNS = {"imported_at", "at_time", "first_seen", "created_at"}


def ticket_log_rows(n: int = 1200, iso: bool = False) -> list[list]:
    """Tickets as an event log: ambiguous numeric dates, month-first evidence only near the end
    (``iso``: ISO dates instead, nothing for the parts to settle)."""
    rows = [
        ["Ticket ID", "Vendor", "RM", "Type", "Priority", "Opened", "Resolved", "Escalated", "Description"]
    ]
    for i in range(n):
        day, month = i % 12 + 1, (i // 12) % 12 + 1
        opened = f"{month:02d}/{day:02d}/2026 10:{i % 60:02d}"  # both parts <= 12: fits either order
        if i > n - 40:  # the only values that settle the order: month-first
            opened = f"{month:02d}/{13 + i % 15}/2026 09:00"
        if iso:
            opened = f"2026-{month:02d}-{day:02d} 10:{i % 60:02d}:00"
        key = i if i < n - 60 else i - 100  # the last 60 rows update keys of 100 rows before
        vendor = "" if i % 250 == 7 else f"Vendor {key % 3}"  # blank required value: rejected
        ticket = f"T{key:05d}"
        resolved = f"{day:02d}/{month:02d}/2026" if i % 5 else ""
        if i % 333 == 5:
            resolved = "31/31/2026"  # unreadable either way: rejected
        priority = "" if i % 10 == 0 else f"P{i % 4 + 1}"
        rows.append([ticket, vendor, f"RM {i % 4}", "Incident", priority, opened, resolved, "no", f"row {i}"])
    return rows


def change_request_rows(n: int = 600) -> list[list]:
    """Costs written '1.234' (a decimal point or a thousands dot?) until a '1.234,50' near the end settles it."""
    rows = [["CR ID", "Vendor", "Requested", "Estimated cost", "Actual cost"]]
    for i in range(n):
        estimate = f"{1 + i % 9}.{i % 1000:03d}" + (",50" if i > n - 20 else "")
        rows.append([f"CR{i:04d}", "Acme", f"2026-{i % 12 + 1:02d}-03", estimate, "1200" if i % 2 else ""])
    return rows


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every table of a store, rows sorted, without the columns that hold the time of the import."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            columns = [
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                    [table],
                ).fetchall()
                if name not in TIME_COLUMNS
            ]
            select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
            out[table] = sorted(
                con.execute(f"SELECT {select} FROM {table}").fetchall(), key=lambda r: tuple(map(str, r))
            )
        return out
    finally:
        con.close()


def import_with(monkeypatch, tmp_path: Path, name: str, files: list[Path], **constants) -> Path:
    with monkeypatch.context() as m:
        for key, value in constants.items():
            m.setattr(readers if hasattr(readers, key) else plan, key, value)
        db = tmp_path / f"{name}.duckdb"
        import_files(db, files, ImportOptions(who="test"))
    return db


def plan_with(monkeypatch, path: Path, **constants):
    with monkeypatch.context() as m:
        for key, value in constants.items():
            m.setattr(readers if hasattr(readers, key) else plan, key, value)
        return plan.plan_file(path, ImportOptions())


def described(sheet) -> dict:
    """Everything a plan says about a sheet, its rows included (read back from disk when spilled)."""
    import pandas as pd
    import pyarrow.parquet as pq

    rows = sheet.rows
    if sheet.spilled is not None:
        rows = pd.concat([pq.read_table(f).to_pandas() for f in sheet.spilled.files], ignore_index=True)
    return {
        "rows": rows.astype(str).values.tolist(),
        "columns": list(rows.columns),
        "accepted": sheet.accepted,
        "rejected": sheet.rejected.astype(str).values.tolist(),
        "superseded": sheet.superseded,
        "skipped": sheet.skipped,
        "warnings": sheet.warnings,
        "date_orders": sheet.date_orders,
        "ambiguous": sheet.ambiguous_dates,
    }


# ---------------------------------------------------------------- typed in parts = one pass


def test_a_csv_streamed_in_small_parts_plans_exactly_like_one_pass(tmp_path, monkeypatch):
    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows())
    whole = plan_with(monkeypatch, path)
    parts = plan_with(monkeypatch, path, **SMALL_PARTS, **TINY_BLOCKS)

    sheet, streamed = whole.sheets[0], parts.sheets[0]
    assert streamed.spilled is not None and len(streamed.spilled.files) > 5  # really typed in parts
    assert sheet.spilled is None
    assert described(streamed) == described(sheet)
    # the cross-part rules really were exercised
    assert sheet.date_orders == {"opened_at": "monthfirst", "resolved_at": "monthfirst"}
    assert sheet.ambiguous_dates == ["resolved_at"]
    assert sheet.superseded == 60 and len(sheet.rejected) > 5
    assert any("blank or unrecognised, read as P3" in w for w in sheet.warnings)


def test_parts_kept_in_memory_plan_and_store_exactly_like_one_pass(tmp_path, monkeypatch):
    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows())
    whole = plan_with(monkeypatch, path)
    parts = plan_with(monkeypatch, path, **PARTS_IN_MEMORY, **TINY_BLOCKS)
    assert parts.sheets[0].spilled is None and parts.sheets[0].accepted_rows.column(0).num_chunks > 5
    assert described(parts.sheets[0]) == described(whole.sheets[0])
    assert whole.sheets[0].superseded == 60  # repeats across parts were dropped, the last kept
    stores = [
        import_with(monkeypatch, tmp_path, name, [path], **c)
        for name, c in (("w", {}), ("m", PARTS_IN_MEMORY))
    ]
    assert snapshot(stores[1]) == snapshot(stores[0])


def test_a_csv_streamed_in_small_parts_gives_the_same_store_as_one_pass(tmp_path, monkeypatch):
    tickets = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows())
    crs = fb.write_csv(tmp_path / "change_requests.csv", change_request_rows())
    whole = import_with(monkeypatch, tmp_path, "whole", [tickets, crs])
    parts = import_with(monkeypatch, tmp_path, "parts", [tickets, crs], **SMALL_PARTS, **TINY_BLOCKS)

    assert snapshot(parts) == snapshot(whole)
    con = duckdb.connect(str(whole), read_only=True)
    costs = con.execute("SELECT min(estimated_cost), max(estimated_cost) FROM change_requests").fetchone()
    con.close()
    assert costs == (1000.0, 9593.5)  # '1.000' read with the decimal comma the end of the file showed


def test_a_workbook_typed_in_small_parts_gives_the_same_store_as_one_pass(tmp_path, monkeypatch):
    book = fb.write_xlsx(tmp_path / "export.xlsx", {"Tickets": ticket_log_rows(700)})
    whole = import_with(monkeypatch, tmp_path, "whole", [book])
    parts = import_with(monkeypatch, tmp_path, "parts", [book], **SMALL_PARTS)
    assert snapshot(parts) == snapshot(whole)


def test_a_large_csv_with_blank_lines_is_read_whole_and_still_imports(tmp_path, monkeypatch):
    rows = ticket_log_rows(400)
    rows.insert(200, [])  # a blank line: pyarrow cannot stream it with the sheet's row numbers
    path = fb.write_csv(tmp_path / "tickets.csv", rows)
    whole = plan_with(monkeypatch, path)
    streamed = plan_with(monkeypatch, path, **SMALL_PARTS, **TINY_BLOCKS)
    assert described(streamed.sheets[0]) == described(whole.sheets[0])
    assert whole.sheets[0].skipped == 1


def test_spilled_parts_are_removed_with_the_plan(tmp_path, monkeypatch):
    import gc

    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(500))
    planned = plan_with(monkeypatch, path, **SMALL_PARTS)
    folder = Path(planned.sheets[0].spilled.files[0]).parent
    assert folder.is_dir()
    del planned
    gc.collect()
    assert not folder.exists()


# ---------------------------------------------------------------- progress


def test_an_import_reports_progress_up_to_done(tmp_path, monkeypatch):
    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(800, iso=True))
    events: list[ProgressEvent] = []
    with monkeypatch.context() as m:
        m.setattr(plan, "CHUNK_ROWS", 200)
        import_files(tmp_path / "p.duckdb", [path], ImportOptions(who="test"), progress=events.append)
    typing = [e for e in events if e.stage == "typing"]
    assert [e.rows_done for e in typing] == [200, 400, 600, 800]
    assert all(e.rows_total == 800 for e in typing)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and events[-1].stage == "done" and events[-1].fraction == 1.0
    assert events[-1].rows_done == plan.plan_file(path, ImportOptions()).sheets[0].accepted


def test_progress_reports_a_rate_and_the_time_left():
    event = ProgressEvent(stage="typing", file="t.csv", rows_done=250, rows_total=1000, elapsed=5.0)
    assert event.rate == 50.0 and event.seconds_left == 15.0
    assert ProgressEvent(stage="reading", file="t.csv").seconds_left is None


# ---------------------------------------------------------------- the store's one write path


def test_store_verifies_after_a_spilled_import_and_its_undo(tmp_path, monkeypatch):
    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(600))
    db = import_with(monkeypatch, tmp_path, "s", [path], **SMALL_PARTS)
    con = store.open_store(db)
    try:
        assert store.verify_store(con) == []
        accepted = plan.plan_file(path, ImportOptions()).sheets[0].accepted
        assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == accepted
        store.set_active(con, 1, False, "test")
        assert (
            store.verify_store(con) == [] and con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
        )
    finally:
        con.close()
    kpi.clear_cache()


# ---------------------------------------------------------------- KPI results kept per store version and rules


def kpi_rows(vendor: str, n: int = 60) -> list[list]:
    rows = [["Ticket ID", "Vendor", "RM", "Type", "Priority", "Opened", "Responded", "Escalated"]]
    for i in range(n):
        opened = f"2026-{i % 6 + 1:02d}-{i % 27 + 1:02d} 09:00:00"
        responded = f"2026-{i % 6 + 1:02d}-{i % 27 + 1:02d} {10 + i % 9:02d}:00:00"
        rows.append(
            [f"{vendor[:1]}{i}", vendor, f"RM {i % 2}", "Incident", f"P{i % 4 + 1}", opened, responded, "no"]
        )
    return rows


@pytest.fixture
def kpi_store(tmp_path):
    kpi.clear_cache()
    db = tmp_path / "kpi.duckdb"
    import_files(db, [fb.write_csv(tmp_path / "acme.csv", kpi_rows("Acme"))], ImportOptions(who="test"))
    con = store.open_store(db)
    yield con
    con.close()
    kpi.clear_cache()


@pytest.fixture
def queries(monkeypatch) -> list[int]:
    """Counts the KPI engine's trips to the database."""
    calls: list[int] = []
    real = kpi._query_kinds

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(kpi, "_query_kinds", counted)
    return calls


def test_a_filter_change_reads_the_precomputed_kpi_rows(kpi_store, queries):
    from pandas.testing import assert_frame_equal

    from rmdash import views

    views.all_kpis(kpi_store, "month")
    assert len(queries) == 1
    rules = views.active_rules(kpi_store)
    filters = [
        {"vendor": "Acme"},
        {"rm": "RM 1"},
        {"period": "2026-03"},
        {"vendor": "Acme", "period": "2026-02"},
    ]
    kept = [kpi.compute_kpis(kpi_store, "month", rules, **f) for f in filters]
    assert len(queries) == 1  # no query: the rows were filtered from the cached table
    for f, table in zip(filters, kept, strict=True):
        queried = kpi.compute_kpis(kpi_store, "month", rules, cache=False, **f)
        for part in ("composite", "components", "metrics"):
            assert_frame_equal(getattr(table, part), getattr(queried, part))
        assert len(table.composite) > 0 and table.to_json() == queried.to_json()


def test_a_cached_kpi_table_is_recomputed_after_an_upload_an_undo_and_a_rule_change(
    kpi_store, queries, tmp_path
):
    from rmdash import rules as rules_mod
    from rmdash import views

    first = views.all_kpis(kpi_store, "month")
    assert views.all_kpis(kpi_store, "month").to_json() == first.to_json() and len(queries) == 1

    batch = import_files(kpi_store, [fb.write_csv(tmp_path / "bolt.csv", kpi_rows("Bolt"))], ImportOptions())
    uploaded = views.all_kpis(kpi_store, "month")
    assert len(queries) == 2 and set(uploaded.composite["vendor"]) == {"Acme", "Bolt"}

    store.set_active(kpi_store, batch[0].batch_id, False, "test")
    undone = views.all_kpis(kpi_store, "month")
    assert len(queries) == 3 and undone.to_json() == first.to_json()

    heavier = views.whatif_rules(views.active_rules(kpi_store), {"responsiveness": 90}, None)
    rules_mod.save_rule_set(kpi_store, heavier, "responsiveness first", "test")
    reweighted = views.all_kpis(kpi_store, "month")
    assert len(queries) == 4
    assert reweighted.composite["composite"].tolist() != first.composite["composite"].tolist()


def test_the_upload_page_progress_bar_moves_with_the_rows_read(kpi_store, tmp_path, monkeypatch):
    from rmdash import views
    from rmdash.filters import Filters

    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(600, iso=True))
    seen: list[tuple[float, str]] = []
    monkeypatch.setattr(plan, "CHUNK_ROWS", 200)
    view = views.upload_view(
        kpi_store, Filters(), files=[("tickets.csv", str(path))], progress=lambda *a: seen.append(a)
    )
    assert view.ready
    assert [text for _, text in seen if "rows" in text] == [
        f"Reading tickets.csv: {n:,} rows" for n in (200, 400, 600)
    ]
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0


def test_the_command_line_prints_progress_with_rate_and_time_left(tmp_path, monkeypatch, capsys):
    from rmdash.cli import ProgressPrinter, main

    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(300, iso=True))
    assert main(["import", str(path), "--db", str(tmp_path / "c.duckdb"), "--progress"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "tickets.csv: reading 0 rows (0%)"
    assert err[-1].startswith("imported 238 rows in ")  # 300 rows - 60 superseded - 2 without a vendor
    event = ProgressEvent(
        stage="typing", file="t.csv", rows_done=500, rows_total=2000, fraction=0.25, elapsed=2.0
    )
    assert (
        ProgressPrinter.line(event, 4.0)
        == "t.csv: typing 500 of 2,000 rows (25%), 250 rows/s, about 12 s left"
    )


def test_a_bulk_write_gives_the_same_store_and_puts_the_settings_back(tmp_path, monkeypatch):
    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(600))
    plain = import_with(monkeypatch, tmp_path, "plain", [path])
    monkeypatch.setattr(store, "BULK_WRITE_ROWS", 1)
    con = store.open_store(tmp_path / "bulk.duckdb")
    try:
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()
        import_files(con, [path], ImportOptions(who="test"))
        assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone() == (True,)
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == before
    finally:
        con.close()
    assert snapshot(tmp_path / "bulk.duckdb") == snapshot(plain)


def test_a_sheet_staged_in_many_batches_gives_the_same_store_as_one_batch_also_after_undo_and_redo(
    tmp_path, monkeypatch
):
    """Many small Arrow batches, taken by DuckDB's threads in any order (600 rows: one row group;
    several row groups are the next test's)."""
    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(600))
    again = fb.write_csv(tmp_path / "again.csv", ticket_log_rows(600)[:400])  # a re-import: unchanged keys
    one = import_with(monkeypatch, tmp_path, "one", [path, again])
    monkeypatch.setattr(store, "STAGE_BATCH_ROWS", 7)
    many = import_with(monkeypatch, tmp_path, "many", [path, again])
    assert snapshot(many) == snapshot(one)

    for db in (one, many):
        con = store.open_store(db)
        try:
            store.set_active(con, 1, False, "test")
            store.set_active(con, 1, True, "test")
            assert store.verify_store(con) == []
        finally:
            con.close()
    assert snapshot(many) == snapshot(one)


def test_a_sheet_of_several_row_groups_written_by_both_threads_gives_the_same_store_as_one_batch(
    tmp_path, monkeypatch
):
    """70k rows: more than two of the store's row groups (rmdash.db.ROW_GROUP_ROWS), so both of
    DuckDB's threads fill and write row groups of their own, as at 100k tickets."""
    path = fb.write_csv(tmp_path / "tickets.csv", ticket_log_rows(70_000, iso=True))
    parallel = import_with(monkeypatch, tmp_path, "parallel", [path])
    monkeypatch.setattr(store, "STAGE_BATCH_ROWS", 1_000_000)  # one batch: one thread scans it
    single = import_with(monkeypatch, tmp_path, "single", [path])
    assert snapshot(parallel) == snapshot(single)
    con = duckdb.connect(str(parallel), read_only=True)
    try:
        groups = con.execute(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('tickets_versions')"
        ).fetchone()[0]
    finally:
        con.close()
    assert groups >= 3
