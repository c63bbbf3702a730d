"""An import killed at any moment leaves the store exactly as before it, or exactly as after it.

Spec section 3: "An import is one transaction: a crash or kill mid-import
leaves the database as it was before it." A real ``python -m rmdash import``
of a 50k-row CSV runs in a subprocess and is SIGKILLed, at random moments
and at the moment it starts writing the database file; the store is then
opened (DuckDB replays its write-ahead log) and compared with the store
before the import and the store after a complete import.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rmdash import store
from rmdash.importer import import_files
from rmdash.model import ImportOptions
from rmdash.schema import load_schema

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIG_ROWS = 50_000
RANDOM_KILLS = 5
KILLS_WHEN_WRITING = 4


def tickets_csv(path: Path, n: int, description: str) -> Path:
    """A ticket export with canonical headers; ids T0000000.. so a smaller file's keys overlap."""
    i = np.arange(n)
    opened = pd.Timestamp("2026-01-01") + pd.to_timedelta(i % 40_000, unit="min")
    frame = pd.DataFrame(
        {
            "ticket_id": [f"T{k:07d}" for k in i],
            "vendor": np.where(i % 3 == 0, "Acme", "Beta"),
            "rm": np.where(i % 2 == 0, "Rita", "Sam"),
            "ticket_type": np.where(i % 5 == 0, "Request", "Incident"),
            "priority": (i % 4) + 1,
            "opened_at": opened.strftime("%Y-%m-%d %H:%M"),
            "responded_at": (opened + pd.Timedelta(minutes=20)).strftime("%Y-%m-%d %H:%M"),
            "escalated": np.where(i % 17 == 0, "yes", "no"),
            "description": description,
        }
    )
    frame.to_csv(path, index=False)
    return path


def snapshot(db: Path) -> dict:
    """Everything an import can change, minus the wall-clock time of the batch."""
    con = store.open_store(db)
    try:
        problems = store.verify_store(con)
        state = {
            "batches": con.execute(
                "SELECT batch_id, file_name, sheet, kind, sha256, content_sha256, active, rows_new, rows_changed, "
                "rows_unchanged, rows_superseded, rows_rejected, rows_skipped FROM batches ORDER BY batch_id"
            ).fetchall(),
            "files": con.execute("SELECT sha256, size FROM files ORDER BY sha256").fetchall(),
            "rejected": con.execute("SELECT count(*) FROM rejected_rows").fetchall(),
            "audit": con.execute("SELECT action, batch_id FROM audit_log ORDER BY id").fetchall(),
            "store_version": store.store_version(con),
        }
        for kind in load_schema().kinds.values():
            state[kind.table] = con.execute(f"SELECT * FROM {kind.table} ORDER BY ALL").fetchall()
            state[kind.versions_table] = con.execute(f"SELECT count(*) FROM {kind.versions_table}").fetchall()
    finally:
        con.close()
    return {"problems": problems, **state}


def start_import(db: Path, csv: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RMDASH_DB"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "rmdash", "import", str(csv), "--db", str(db), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)


def wait_until_writing(proc: subprocess.Popen, db: Path, polls: int = 20_000) -> None:
    """Return as soon as the database file or its write-ahead log changes (or the import ends)."""
    wal = db.with_name(db.name + ".wal")
    before = db.stat().st_mtime_ns, db.stat().st_size
    for _ in range(polls):
        if proc.poll() is not None or wal.exists() or (db.stat().st_mtime_ns, db.stat().st_size) != before:
            return
        time.sleep(0.002)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """A store with one earlier import, the big CSV, and the store after a complete import."""
    tmp = tmp_path_factory.mktemp("crash")
    base = tmp / "base.duckdb"
    import_files(base, [tickets_csv(tmp / "earlier.csv", 1_000, "earlier")], ImportOptions(who="test"))
    big = tickets_csv(tmp / "big.csv", BIG_ROWS, "later")

    complete = tmp / "complete.duckdb"
    shutil.copy(base, complete)
    started = time.monotonic()
    proc = start_import(complete, big)
    _, err = proc.communicate(timeout=600)
    duration = time.monotonic() - started
    assert proc.returncode == 0, err.decode()
    return {
        "tmp": tmp,
        "base": base,
        "big": big,
        "before": snapshot(base),
        "after": snapshot(complete),
        "duration": duration,
    }


def test_the_complete_import_really_changes_the_store(scenario):
    before, after = scenario["before"], scenario["after"]
    assert before["problems"] == [] and after["problems"] == []
    assert len(before["tickets"]) == 1_000 and len(after["tickets"]) == BIG_ROWS
    assert [b[7:9] for b in after["batches"]] == [(1_000, 0), (BIG_ROWS - 1_000, 1_000)]


def _assert_before_or_after(scenario, db: Path) -> str:
    state = snapshot(db)
    assert state["problems"] == []
    if state == scenario["before"]:
        return "before"
    assert state == scenario["after"], "the killed import left a partial store"
    return "after"


def test_an_import_killed_at_random_moments_leaves_the_store_before_or_after(scenario):
    rng = random.Random(20260101)
    outcomes = []
    for i in range(RANDOM_KILLS):
        db = scenario["tmp"] / f"random-{i}.duckdb"
        shutil.copy(scenario["base"], db)
        proc = start_import(db, scenario["big"])
        # Python's start-up takes much of the run: most moments are drawn from its later part.
        time.sleep(rng.uniform(0.3, 1.05) * scenario["duration"])
        kill(proc)
        outcomes.append(_assert_before_or_after(scenario, db))
    print("random kills:", outcomes)


def test_an_import_killed_as_it_starts_writing_leaves_the_store_before_or_after(scenario):
    outcomes = []
    for i in range(KILLS_WHEN_WRITING):
        db = scenario["tmp"] / f"writing-{i}.duckdb"
        shutil.copy(scenario["base"], db)
        proc = start_import(db, scenario["big"])
        wait_until_writing(proc, db)
        time.sleep(0.02 * i * scenario["duration"])
        kill(proc)
        outcomes.append(_assert_before_or_after(scenario, db))
    print("kills while writing:", outcomes)


def test_an_import_can_run_again_after_a_killed_one(scenario):
    db = scenario["tmp"] / "again.duckdb"
    shutil.copy(scenario["base"], db)
    proc = start_import(db, scenario["big"])
    wait_until_writing(proc, db)
    kill(proc)

    rerun = start_import(db, scenario["big"])
    _, err = rerun.communicate(timeout=600)

    assert rerun.returncode == 0, err.decode()
    state = snapshot(db)
    assert state["problems"] == []
    assert state["tickets"] == scenario["after"]["tickets"]


# A stand-in for `python -m rmdash import` whose large-upload copy stops halfway: it archives
# anything over 1 KB (the real threshold is 32 MB), writes half the file, says so and waits to be killed.
_COPY_STOPS_HALFWAY = """
import sys, time
from pathlib import Path
from rmdash import store
store.ARCHIVE_THRESHOLD_BYTES = 1024
marker = Path(sys.argv.pop(1))

def half_then_wait(source, target):
    data = Path(source).read_bytes()
    with open(target, "wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
    marker.write_text("copying")
    time.sleep(120)

if marker.name.startswith("stop"):
    store._copy_hashing = half_then_wait
else:
    marker.write_text("no stop")
sys.argv = ["rmdash", "import", *sys.argv[1:]]
from rmdash.__main__ import run
sys.exit(run())
"""


def test_an_import_killed_while_copying_a_large_upload_to_the_archive_changes_nothing(scenario):
    tmp = scenario["tmp"]
    db = tmp / "archive-kill" / "store.duckdb"
    db.parent.mkdir()
    shutil.copy(scenario["base"], db)
    env = {k: v for k, v in os.environ.items() if k != "RMDASH_DB"} | {"PYTHONPATH": str(REPO)}
    marker = tmp / "stop-marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _COPY_STOPS_HALFWAY, str(marker), str(scenario["big"]), "--db", str(db)],
        env=env,
    )
    for _ in range(6000):  # up to a minute for Python to start, plan and begin the copy
        if marker.exists() or proc.poll() is not None:
            break
        time.sleep(0.01)
    assert marker.exists(), "the copy never started"
    kill(proc)

    assert snapshot(db) == scenario["before"]
    archive = db.parent / store.ARCHIVE_DIR_NAME
    assert [
        p.name for p in archive.iterdir() if not p.name.startswith(".")
    ] == []  # no half file under its hash
    assert any(
        p.name.endswith(".partial") for p in archive.iterdir()
    )  # the half copy, under a temporary name

    again = tmp / "again-marker"
    rerun = subprocess.run(
        [sys.executable, "-c", _COPY_STOPS_HALFWAY, str(again), str(scenario["big"]), "--db", str(db)],
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    state = snapshot(db)
    assert state["problems"] == [] and state["tickets"] == scenario["after"]["tickets"]
    [kept] = list(archive.iterdir())  # the killed import's half copy is gone
    assert kept.read_bytes() == scenario["big"].read_bytes()  # the whole upload, under its hash
