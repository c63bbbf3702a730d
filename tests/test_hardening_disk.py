"""A full disk during an import, and an undo killed mid-write: one clear line, the store before or after.

Spec section 3: an import is one transaction. tests/test_crash_safety.py kills
imports; this file fills the disk under them. Two ways:

- a real, tiny tmpfs holding the store (needs root to mount; skipped where
  mounting is not allowed), filled to several levels: every import either fails
  with the one-line "disk is full" message and leaves the store identical to
  before, or fits and leaves it identical to a complete import; once space is
  freed the same import succeeds;
- a write failure (``OSError(ENOSPC)``) injected mid-transaction and during the
  copy of a large upload to the raw archive, which runs everywhere;
- ``rmdash undo`` of a 100,000-row batch SIGKILLed as it writes (the import's
  kills are tests/test_crash_safety.py's): the batch is active or undone, whole,
  and the store works on.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import filebuilders as fb
import numpy as np
import pandas as pd
import pytest
from hardening import ImportRunner, fingerprint

from rmdash import store
from rmdash.importer import import_files
from rmdash.model import ImportOptions, RmdashError

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIG_ROWS = 100_000
DISK_FULL = "the disk holding the database is full: free some space and try again"
# Tables whose rows carry the wall-clock time of the import: compared by their counts only.
TIMED_TABLES = {"batches", "audit_log", "files"}


def tickets_csv(path: Path, n: int) -> Path:
    i = np.arange(n)
    pd.DataFrame(
        {
            "ticket_id": [f"T{k:07d}" for k in i],
            "vendor": np.where(i % 2 == 0, "Acme", "Beta"),
            "ticket_type": "Incident",
            "opened_at": "2026-01-05 09:00",
            "description": [f"ticket number {k} of a monthly export" for k in i],
        }
    ).to_csv(path, index=False)
    return path


def data_state(fp: dict) -> dict:
    """A fingerprint without the time-stamped rows (their counts still compared)."""
    return {table: (value if table not in TIMED_TABLES else value[0]) for table, value in fp.items()}


def assert_sound(db: Path) -> None:
    con = store.open_store(db, read_only=True)
    try:
        assert store.verify_store(con) == []
    finally:
        con.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """The earlier store, the big CSV, and the fingerprints before and after a complete import."""
    tmp = tmp_path_factory.mktemp("disk")
    base = tmp / "base.duckdb"
    import_files(base, [fb.small_workbook(tmp / "earlier.xlsx")], ImportOptions(who="test"))
    big = tickets_csv(tmp / "big.csv", BIG_ROWS)
    complete = tmp / "complete.duckdb"
    shutil.copyfile(base, complete)
    import_files(complete, [big], ImportOptions(who="test"))
    needed = sum(p.stat().st_size for p in tmp.glob("complete.duckdb*"))
    return {
        "tmp": tmp,
        "base": base,
        "big": big,
        "before": fingerprint(base),
        "after": data_state(fingerprint(complete)),
        "needed": needed,
        "complete": complete,
    }


# ---------------------------------------------------------------- a real full disk


@pytest.fixture(scope="module")
def small_disk(scenario):
    """A tmpfs mounted for this module, big enough for one complete import with room to spare."""
    mount = scenario["tmp"] / "small-disk"
    mount.mkdir()
    size_mb = 3 * scenario["needed"] // 2**20 + 16
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'}); the injected tests cover it"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def runner(scenario):
    run = ImportRunner(scenario["tmp"])
    yield run
    run.close()


def fill_disk_leaving(mount: Path, free_bytes: int) -> Path:
    """Write a filler file so that about ``free_bytes`` stay free on the mount."""
    stats = os.statvfs(mount)
    filler = mount / f"filler-{uuid.uuid4().hex}"
    size = stats.f_bavail * stats.f_frsize - free_bytes
    with filler.open("wb") as fh:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            fh.write(chunk[: min(size, len(chunk))])
            size -= len(chunk)
    return filler


def fresh_store_on(mount: Path, base: Path) -> Path:
    for leftover in mount.iterdir():
        leftover.unlink()
    db = mount / "store.duckdb"
    shutil.copyfile(base, db)
    return db


def test_an_import_onto_a_full_disk_fails_in_one_line_and_leaves_the_store_before_or_after(
    scenario, small_disk, runner
):
    needed = scenario["needed"]
    levels = [1 << 20, needed // 4, needed // 2, 9 * needed // 10, 2 * needed]
    outcomes = []
    for free in levels:
        db = fresh_store_on(small_disk, scenario["base"])
        filler = fill_disk_leaving(small_disk, free)
        result = runner.cli_import(scenario["big"], db)
        filler.unlink()
        assert result.signal is None and "Traceback" not in result.stderr
        if result.exit_code == 0:
            assert data_state(fingerprint(db)) == scenario["after"]
            outcomes.append("after")
        else:
            assert result.exit_code == 2, result.stderr
            assert result.error_line == f"error: the import failed; nothing was changed: {DISK_FULL}"
            assert fingerprint(db) == scenario["before"], "a failed import changed the store"
            outcomes.append("before")
        assert_sound(db)
    print("free space levels (MB):", [round(f / 2**20) for f in levels], "outcomes:", outcomes)
    assert outcomes[0] == "before", "1 MB of free space cannot hold a 100,000-row import"
    assert outcomes[-1] == "after", "twice the space an import needs must be enough"


def test_after_a_full_disk_the_same_import_succeeds_once_space_is_freed(scenario, small_disk, runner):
    db = fresh_store_on(small_disk, scenario["base"])
    filler = fill_disk_leaving(small_disk, 2 << 20)
    failed = runner.cli_import(scenario["big"], db)
    assert failed.exit_code == 2 and DISK_FULL in failed.error_line
    filler.unlink()

    again = runner.cli_import(scenario["big"], db)

    assert again.exit_code == 0, again.stderr
    assert data_state(fingerprint(db)) == scenario["after"]
    assert_sound(db)


def test_a_large_upload_that_fills_the_disk_while_archived_leaves_no_partial_copy(
    scenario, small_disk, monkeypatch
):
    monkeypatch.setattr(store, "ARCHIVE_THRESHOLD_BYTES", 1024)  # archive the big CSV beside the store
    db = fresh_store_on(small_disk, scenario["base"])
    filler = fill_disk_leaving(small_disk, 4 << 20)
    try:
        with pytest.raises(RmdashError) as caught:
            import_files(db, [scenario["big"]], ImportOptions(who="test"))
    finally:
        filler.unlink()
    assert str(caught.value) == f"big.csv: cannot copy it to the archive, nothing was changed: {DISK_FULL}"
    assert list((small_disk / "archive").iterdir()) == []
    assert fingerprint(db) == scenario["before"]


# ---------------------------------------------------------------- an injected write failure


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_write_failing_mid_transaction_rolls_the_whole_import_back(scenario, tmp_path, monkeypatch):
    db = tmp_path / "store.duckdb"
    shutil.copyfile(scenario["base"], db)
    # the original bytes are stored after every batch row is written: the last step of the transaction
    monkeypatch.setattr(store, "_store_file", _no_space)

    with pytest.raises(RmdashError) as caught:
        import_files(
            db, [fb.write_xlsx(tmp_path / "more.xlsx", {"Tickets": _more_tickets()})], ImportOptions()
        )

    assert str(caught.value) == f"the import failed; nothing was changed: {DISK_FULL}"
    assert fingerprint(db) == scenario["before"]
    assert_sound(db)


def test_a_write_failing_while_archiving_removes_the_partial_copy(scenario, tmp_path, monkeypatch):
    db = tmp_path / "store.duckdb"
    shutil.copyfile(scenario["base"], db)
    monkeypatch.setattr(store, "ARCHIVE_THRESHOLD_BYTES", 1024)

    def half_then_full(source: Path, target: Path) -> str:
        target.write_bytes(source.read_bytes()[:2048])
        _no_space()

    monkeypatch.setattr(store, "_copy_hashing", half_then_full)
    with pytest.raises(
        RmdashError, match=f"cannot copy it to the archive, nothing was changed: {DISK_FULL}$"
    ):
        import_files(db, [scenario["big"]], ImportOptions())
    assert list((tmp_path / "archive").iterdir()) == []
    assert fingerprint(db) == scenario["before"]


def _more_tickets() -> list[list]:
    header, *rows = fb.ticket_rows()
    return [header, *[[f"N{r[0]}", *r[1:]] for r in rows]]


# ---------------------------------------------------------------- an undo killed mid-write

UNDO_KILLS = 4


def undo_state(db: Path) -> tuple:
    """The data (as data_state) and which batches are active."""
    con = store.open_store(db, read_only=True)
    try:
        active = con.execute("SELECT batch_id, active FROM batches ORDER BY batch_id").fetchall()
        problems = store.verify_store(con)
    finally:
        con.close()
    assert problems == []
    return data_state(fingerprint(db)), active


def _start_cli(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RMDASH_DB"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "rmdash", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )


def _wait_until_writing(proc: subprocess.Popen, db: Path) -> None:
    """Return once the database file or its write-ahead log changes (or the command ends)."""
    wal = db.with_name(db.name + ".wal")
    before = db.stat().st_mtime_ns, db.stat().st_size
    deadline = time.monotonic() + 120  # hang guard
    while proc.poll() is None and time.monotonic() < deadline:
        if wal.exists() or (db.stat().st_mtime_ns, db.stat().st_size) != before:
            return
        time.sleep(0.001)


def test_an_undo_killed_while_it_writes_leaves_the_batch_active_or_undone(scenario, tmp_path):
    complete = tmp_path / "complete.duckdb"
    shutil.copyfile(scenario["complete"], complete)
    con = store.open_store(complete)
    con.execute("CHECKPOINT")  # no write-ahead log left: the undo's own writes are what we watch
    con.close()
    big_batch = max(b for b, _ in undo_state(complete)[1])
    active_state = undo_state(complete)
    undone = tmp_path / "undone.duckdb"
    shutil.copyfile(complete, undone)
    done = _start_cli("undo", str(big_batch), "--db", str(undone))
    assert done.wait(timeout=120) == 0, done.stderr.read()
    undone_state = undo_state(undone)
    assert undone_state != active_state

    rng = random.Random(20261123)
    outcomes = []
    for i in range(UNDO_KILLS):
        db = tmp_path / f"kill-{i}.duckdb"
        shutil.copyfile(complete, db)
        proc = _start_cli("undo", str(big_batch), "--db", str(db))
        _wait_until_writing(proc, db)
        time.sleep(rng.choice([0, 0.002, 0.01, 0.05]))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
        state = undo_state(db)
        assert state in (active_state, undone_state), "a killed undo left a partial store"
        outcomes.append("undone" if state == undone_state else "active")
    print("undo kills:", outcomes)
    again = _start_cli("redo" if state == undone_state else "undo", str(big_batch), "--db", str(db))
    assert again.wait(timeout=120) == 0, again.stderr.read()  # the store works on after a kill
