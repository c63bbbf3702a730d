"""Reading a workbook ahead (the CLI's import): same sheets, same refusals, never a stale file."""

from __future__ import annotations

import contextlib
import os
import threading

import filebuilders as fb
import pytest

from rmdash import readahead, readers
from rmdash.model import ImportRefused
from rmdash.readahead import prefetch_workbook
from rmdash.readers import open_sheets


def table_of(path):
    return [(s.name, s.rows_from(0)[0].to_pylist(), s.column_letters) for s in open_sheets(path)]


def test_a_workbook_read_ahead_gives_the_same_sheets_as_reading_it_then(tmp_path):
    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows(), "Meetings": fb.meeting_rows()})
    plain = table_of(path)
    prefetch_workbook(path)
    assert table_of(path) == plain
    assert str(path.resolve()) not in readahead._prefetched  # used once, then forgotten


def test_the_read_ahead_is_what_open_sheets_uses(tmp_path, monkeypatch):
    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows()})
    prefetch_workbook(path)
    readahead._prefetched[str(path.resolve())].thread.join()

    def must_not_load(*args, **kwargs):
        raise AssertionError("the sheet was read again")

    monkeypatch.setattr(readers, "_load_sheet", must_not_load)
    assert open_sheets(path)[0].head(1)[0][0] == "Ticket ID"


def test_a_file_changed_after_the_read_ahead_is_read_again(tmp_path):
    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows()})
    prefetch_workbook(path)
    readahead._prefetched[str(path.resolve())].thread.join()
    fb.write_xlsx(path, {"Meetings": fb.meeting_rows()})
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert [s.name for s in open_sheets(path)] == ["Meetings"]


def test_a_zip_bomb_read_ahead_is_still_refused_by_open_sheets(tmp_path):
    path = fb.zip_bomb_xlsx(tmp_path)
    prefetch_workbook(path)
    with pytest.raises(ImportRefused, match="zip bomb"):
        open_sheets(path)


def test_a_csv_or_a_missing_file_is_not_read_ahead(tmp_path):
    csv = fb.write_csv(tmp_path / "t.csv", fb.ticket_rows())
    prefetch_workbook(csv)
    prefetch_workbook(tmp_path / "missing.xlsx")
    assert [s.name for s in open_sheets(csv)] == [None]
    assert str((tmp_path / "missing.xlsx").resolve()) not in readahead._prefetched


def test_a_read_ahead_nobody_took_is_reported_until_it_ends(tmp_path):
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    readahead._prefetched["elsewhere.xlsx"] = readahead._Prefetch(("elsewhere.xlsx", 1, 1), thread)
    thread.start()
    try:
        assert readahead.unused_reads()  # the command's exit need not wait for it
    finally:
        release.set()
        thread.join()
        del readahead._prefetched["elsewhere.xlsx"]
    assert not readahead.unused_reads()


def test_an_interrupted_wait_for_the_read_ahead_keeps_it_listed(tmp_path, monkeypatch):
    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows()})
    prefetch_workbook(path)
    ahead = readahead._prefetched[str(path.resolve())]
    ahead.thread.join()

    class Interrupted:
        def join(self):
            raise KeyboardInterrupt

        def is_alive(self):
            return True

    monkeypatch.setattr(ahead, "thread", Interrupted())
    with pytest.raises(KeyboardInterrupt):
        open_sheets(path)
    assert readahead.unused_reads()  # so `python -m rmdash` exits at once instead of waiting
    readahead._prefetched.clear()


def settle(readahead) -> None:
    """Wait until no read-ahead runs and none is queued (the queue and the map change under its lock)."""
    while True:
        with readahead._queue_lock:
            running = [a.thread for a in readahead._prefetched.values() if a.thread.is_alive()]
            if not running and not readahead._queued:
                return
        for thread in running:
            thread.join()


def test_workbooks_are_read_ahead_one_after_another_each_once_the_one_before_is_taken(tmp_path):
    first = fb.write_xlsx(tmp_path / "a.xlsx", {"Tickets": fb.ticket_rows()})
    csv = fb.write_csv(tmp_path / "b.csv", fb.ticket_rows())
    second = fb.write_xlsx(tmp_path / "c.xlsx", {"Meetings": fb.meeting_rows()})
    plain = [table_of(p) for p in (first, csv, second)]
    readahead.prefetch_workbooks([first, csv, second])
    assert list(readahead._prefetched) == [str(first.resolve())]  # one at a time
    readahead._prefetched[str(first.resolve())].thread.join()
    assert str(second.resolve()) not in readahead._prefetched  # waits until the first is taken
    assert table_of(first) == plain[0]  # taken: the CSV is looked at, then the second workbook read
    settle(readahead)
    assert readahead._prefetched[str(second.resolve())].reader is not None
    assert [table_of(csv), table_of(second)] == plain[1:]
    assert not readahead._queued and str(second.resolve()) not in readahead._prefetched
    readahead._prefetched.clear()


@contextlib.contextmanager
def being_read(path):
    """A read-ahead of ``path`` still running until the block calls what it yields (or ends).

    It stays listed to the end of the block, then it is forgotten.
    """
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    key = readahead._file_key(path)
    readahead._prefetched[key[0]] = readahead._Prefetch(key, thread)
    thread.start()

    def finish() -> None:
        release.set()
        thread.join()

    try:
        yield finish
    finally:
        finish()
        readahead._prefetched.pop(key[0], None)


def test_a_file_counts_as_being_read_ahead_only_while_its_unchanged_read_runs(tmp_path):
    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows()})
    with being_read(path) as finish:
        assert readahead.being_read_ahead(path)  # plan_file hashes the file meanwhile
        assert not readahead.being_read_ahead(tmp_path / "other.xlsx")
        finish()
        assert str(path.resolve()) in readahead._prefetched
        assert not readahead.being_read_ahead(path)  # still listed, its read over


def test_the_scratch_duckdb_starts_while_a_workbook_is_read_ahead(tmp_path, monkeypatch):
    from rmdash import importer, plan

    path = fb.write_xlsx(tmp_path / "t.xlsx", {"Tickets": fb.ticket_rows()})
    monkeypatch.setattr(plan, "_SCRATCH", None)
    importer._start_scratch_duckdb_while_reading([path])
    assert plan._SCRATCH is None  # nothing read ahead: nothing to wait for

    with being_read(path):
        importer._start_scratch_duckdb_while_reading([path])
    assert plan._SCRATCH is not None
