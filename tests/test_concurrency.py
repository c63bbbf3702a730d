"""Several people at once: browsing sessions, an upload, an undo and a scheduled command-line import.

DuckDB lets one process write a database file at a time, and inside a
process it gives every transaction a snapshot. rmdash relies on both:

- the app keeps no connection between reruns (``store.shared_cursor``: one
  connection while pages use it, closed when idle, and at once when another
  process is waiting for the file), so ``rmdash import`` can write while the
  app runs; the app then shows the new data (its KPI cache keys on the store
  version);
- writers inside one process take turns (``store._WRITE_LOCK``), so an upload
  and an undo from two sessions never conflict;
- a reader samples the store in one snapshot again and again while all of
  this happens: every state it sees must be a committed one (current tables
  equal to the newest active versions, no version rows of a batch that is not
  there, both sheets of a two-sheet upload or neither).

Sessions are real ``streamlit.testing.v1.AppTest`` runs in threads, on a demo
store built once with ``rmdash.demo.load_demo``. No timing is asserted; waits
are bounded hang guards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import MagicMock

import filebuilders as fb
import openpyxl
import pytest
from demo_store import demo_copy
from store_fixtures import file_plan, lock_held_by_another_process, sheet_plan, ticket
from streamlit.testing.v1 import AppTest

from rmdash import store
from rmdash.db import memory_db
from rmdash.importer import import_files
from rmdash.model import DatabaseBusy, ImportOptions
from rmdash.schema import load_schema

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGES = ["vendor", "rms", "data", "portfolio"]
HANG_GUARD = 120  # seconds; a session or a command still running after this is a hang


# ---------------------------------------------------------------- store samples


def sample(cur) -> tuple[tuple, list[str]]:
    """(state, problems) of the store, read in ONE snapshot.

    state = (store_version, active batch ids, current tickets, batches per file sha256).
    """
    cur.execute("BEGIN TRANSACTION")
    try:
        problems = store.verify_store(cur)
        for kind in load_schema().kinds.values():
            orphans = cur.execute(
                f"SELECT count(*) FROM {kind.versions_table} v "  # noqa: S608
                "WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.batch_id = v.batch_id)"
            ).fetchone()[0]
            if orphans:
                problems.append(f"{kind.versions_table}: {orphans} versions of a batch that is not there")
        unlogged = cur.execute(
            "SELECT count(*) FROM batches b WHERE NOT EXISTS "
            "(SELECT 1 FROM audit_log a WHERE a.action = 'import' AND a.batch_id = b.batch_id)"
        ).fetchone()[0]
        if unlogged:
            problems.append(f"{unlogged} batches without their audit entry")
        version = store.store_version(cur)
        active = tuple(
            r[0] for r in cur.execute("SELECT batch_id FROM batches WHERE active ORDER BY 1").fetchall()
        )
        tickets = cur.execute("SELECT count(*) FROM tickets").fetchone()[0]
        per_file = dict(cur.execute("SELECT sha256, count(*) FROM batches GROUP BY sha256").fetchall())
    finally:
        cur.execute("COMMIT")
    return (version, active, tickets, per_file), problems


@dataclass
class Reader:
    """Samples the store in a loop (through the app's shared connection) until stopped."""

    db: Path
    states: list[tuple] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with store.shared_cursor(self.db) as cur:
                    state, problems = sample(cur)
            except Exception as exc:  # recorded, then asserted on: a reader must never fail
                self.problems.append(f"reader failed: {type(exc).__name__}: {exc}")
                return
            self.states.append(state)
            self.problems += problems
            time.sleep(0.02)

    def versions_never_go_back(self) -> bool:
        versions = [s[0] for s in self.states]
        return versions == sorted(versions)


def run_threads(targets: dict[str, callable]) -> dict[str, BaseException]:
    """Run every target in its own thread; return the exceptions they raised, by name."""
    failures: dict[str, BaseException] = {}

    def guarded(name, target):
        try:
            target()
        except BaseException as exc:  # collected and asserted on by the test
            failures[name] = exc

    threads = [threading.Thread(target=guarded, args=(n, t), name=n) for n, t in targets.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD * 3)
        assert not t.is_alive(), f"{t.name} hangs"
    return failures


# ---------------------------------------------------------------- app sessions


def no_failure(at: AppTest, where: str) -> None:
    assert not at.exception, (where, [e.value for e in at.exception])
    assert not at.error, (where, [e.value for e in at.error])


def browse(rounds: int) -> callable:
    def session():
        at = AppTest.from_file(APP, default_timeout=HANG_GUARD)
        at.run()
        no_failure(at, "portfolio")
        for _ in range(rounds):
            for page in PAGES:
                at.switch_page(f"app_pages/{page}.py").run()
                no_failure(at, page)

    return session


def two_sheet_workbook(tag: str) -> bytes:
    """Tickets and meetings of a new vendor: one import, two batches."""
    header, *rows = fb.ticket_rows()
    tickets = [header, *[[f"{tag}-{r[0]}", f"Vendor {tag}", *r[2:]] for r in rows]]
    header, *rows = fb.meeting_rows()
    meetings = [header, *[[f"{tag}-{r[0]}", f"Vendor {tag}", *r[2:]] for r in rows]]
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, sheet_rows in {"Tickets": tickets, "Meetings": meetings}.items():
        sheet = book.create_sheet(name)
        for row in sheet_rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(files: list[tuple[str, bytes]]) -> callable:
    def session():
        at = AppTest.from_file(APP, default_timeout=HANG_GUARD)
        at.run()
        at.switch_page("app_pages/upload.py").run()
        for round_, (name, data) in enumerate(files):
            at.file_uploader(key=f"uploader_{round_}").set_value((name, data, XLSX)).run()
            no_failure(at, f"preview of {name}")
            at.button(key="upload_import").click().run()
            no_failure(at, f"import of {name}")
            assert at.success[0].value.startswith("Imported"), at.success

    return session


def undo_redo(batch_id: int, times: int) -> callable:
    def session():
        at = AppTest.from_file(APP, default_timeout=HANG_GUARD)
        at.run()
        at.switch_page("app_pages/upload.py").run()
        for _ in range(times):
            at.selectbox(key="upload_batch").set_value(batch_id).run()
            at.button(key="upload_undo").click().run()
            no_failure(at, "undo")
            assert f"Batch {batch_id}" in at.success[0].value and "undone" in at.success[0].value
            at.selectbox(key="upload_batch").set_value(batch_id).run()
            at.button(key="upload_redo").click().run()
            no_failure(at, "redo")
            assert "restored" in at.success[0].value

    return session


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def apptests_in_threads(monkeypatch):
    """Let AppTest runs overlap in threads, as sessions do in a real server.

    AppTest assumes one run at a time: each run installs a mock Runtime as the
    process-wide singleton and removes it when it ends (an overlapping run then
    fails with "Runtime hasn't been created!"), and patches config.get_option
    for its duration. A server has one Runtime for all sessions: this installs
    one shared mock Runtime and the AppTest config for the whole test instead.
    """
    import streamlit.testing.v1.app_test as app_test
    import streamlit.testing.v1.local_script_runner as local_script_runner
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1.util import build_mock_config_get_option

    class PerRunSlot:  # where AppTest's own per-run set/clear of the singleton lands, harmlessly
        _instance = None

    shared = MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.cache_storage_manager = MemoryCacheStorageManager()
    shared.dataframe_source_mgr = DataframeSourceManager()
    shared.bidi_component_registry = MagicMock()  # no custom components in rmdash
    monkeypatch.setattr(Runtime, "_instance", shared)
    monkeypatch.setattr(app_test, "Runtime", PerRunSlot)
    monkeypatch.setattr(app_test, "patch_config_options", lambda overrides: contextlib.nullcontext())
    # One script cache, as a server has: AppTest compiles the scripts afresh on every run, and
    # CPython 3.11 can fail compiling in two threads at once ("AST constructor recursion depth mismatch").
    cache = ScriptCache()
    monkeypatch.setattr(app_test, "ScriptCache", lambda: cache)
    monkeypatch.setattr(local_script_runner, "ScriptCache", lambda: cache)
    monkeypatch.setattr(config, "get_option", build_mock_config_get_option({"global.appTest": True}))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    return demo_copy(tmp_path_factory.mktemp("demo") / "demo.duckdb")


@pytest.fixture
def db(demo_db, tmp_path, monkeypatch) -> Path:
    """A private copy of the demo store, opened by the app through RMDASH_DB."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(demo_db, path)
    monkeypatch.setenv("RMDASH_DB", str(path))
    yield path
    store.close_shared()


def batch_of_kind(db: Path, kind: str) -> int:
    con = store.open_store(db, read_only=True)
    try:
        return next(b.batch_id for b in store.list_batches(con) if b.kind == kind)
    finally:
        con.close()


def cli_import(path: Path, db: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RMDASH_DB"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "rmdash", "import", str(path), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def vendor_tickets_csv(path: Path, vendor: str, n: int) -> Path:
    rows = [["Ticket ID", "Vendor", "RM", "Type", "Priority", "Opened", "Responded"]]
    rows += [
        [f"{vendor[:3]}-{i}", vendor, "Cleo CLI", "Incident", "P2", "2026-10-05 09:00", "2026-10-05 09:20"]
        for i in range(n)
    ]
    return fb.write_csv(path, rows)


# ---------------------------------------------------------------- in one process: the app's own sessions


def test_sessions_browse_while_one_uploads_and_another_undoes_and_nobody_sees_half_an_import(
    db, apptests_in_threads
):
    uploads = [("alpha.xlsx", two_sheet_workbook("ALPHA")), ("beta.xlsx", two_sheet_workbook("BETA"))]
    upload_shas = {hashlib.sha256(data).hexdigest() for _, data in uploads}
    surveys = batch_of_kind(db, "surveys")
    reader = Reader(db)
    sessions = {
        **{f"browser {i}": browse(rounds=1) for i in range(3)},
        "uploader": upload(uploads),
        "undoer": undo_redo(surveys, times=3),
    }

    read = threading.Thread(target=reader.run)
    read.start()
    try:
        failures = run_threads(sessions)
    finally:
        reader.stop.set()
        read.join(HANG_GUARD)

    print(f"{len(sessions)} sessions at once; reader took {len(reader.states)} snapshots")
    assert not failures, {name: repr(exc) for name, exc in failures.items()}
    assert reader.problems == []
    assert reader.versions_never_go_back()
    for _, _, _, per_file in reader.states:  # a two-sheet upload is seen whole or not at all
        assert all(per_file.get(sha, 0) in (0, 2) for sha in upload_shas), per_file
    assert len({s[0] for s in reader.states}) >= 3, "the reader must have sampled while the store changed"

    con = store.open_store(db)
    try:
        final, problems = sample(con)
    finally:
        con.close()
    assert problems == []
    assert all(final[3].get(sha) == 2 for sha in upload_shas)
    assert surveys in final[1]  # undone and redone three times: active again


def test_two_writers_in_one_process_take_turns_instead_of_failing(db, tmp_path):
    surveys = batch_of_kind(db, "surveys")
    files = [
        fb.write_xlsx(tmp_path / f"w{i}.xlsx", {"Tickets": [fb.TICKET_HEADER, *[[f"W{i}-{k}", *r[1:]] for k, r in enumerate(fb.ticket_rows()[1:])]]})
        for i in range(4)
    ]  # fmt: skip

    def importer():
        for path in files:
            with store.shared_cursor(db) as cur:
                import_files(cur, [path], ImportOptions(who="importer"))

    def undoer():
        for _ in range(4):
            with store.shared_cursor(db) as cur:
                store.set_active(cur, surveys, False, "undoer")
            with store.shared_cursor(db) as cur:
                store.set_active(cur, surveys, True, "undoer")

    failures = run_threads({"importer": importer, "undoer": undoer})

    assert not failures, {name: repr(exc) for name, exc in failures.items()}
    with store.shared_cursor(db) as cur:
        final, problems = sample(cur)
        actions = [a for (a,) in cur.execute("SELECT action FROM audit_log WHERE who <> 'demo'").fetchall()]
    assert problems == []
    assert sorted(actions) == sorted(["import"] * 4 + ["undo", "redo"] * 4)


# ---------------------------------------------------------------- two processes: the app and `rmdash import`


def test_a_command_line_import_while_the_app_browses_gets_in_and_the_app_shows_the_new_data(
    db, tmp_path, apptests_in_threads
):
    vendors = ["Zenith CLI Services", "Yonder CLI Services"]
    files = [vendor_tickets_csv(tmp_path / f"cli-{i}.csv", v, 40) for i, v in enumerate(vendors)]
    stop = threading.Event()
    reader = Reader(db)
    watcher = AppTest.from_file(APP, default_timeout=HANG_GUARD)
    watcher.run()
    assert not set(vendors) & set(_league_vendors(watcher))

    def busy_browser():
        at = AppTest.from_file(APP, default_timeout=HANG_GUARD)
        at.run()
        while not stop.is_set():
            for page in PAGES:
                at.switch_page(f"app_pages/{page}.py").run()
                no_failure(at, page)

    threads = [threading.Thread(target=busy_browser), threading.Thread(target=reader.run)]
    for t in threads:
        t.start()
    results = []
    try:
        for path in files:
            proc = cli_import(path, db)
            _, err = proc.communicate(timeout=HANG_GUARD)
            results.append((proc.returncode, err.strip()))
    finally:
        stop.set()
        reader.stop.set()
        for t in threads:
            t.join(HANG_GUARD)

    assert results == [(0, ""), (0, "")], results
    assert reader.problems == [] and reader.versions_never_go_back()
    before = reader.states[0][2]
    assert {s[2] for s in reader.states} <= {before, before + 40, before + 80}
    watcher.run()  # the same session, its KPI table cached before the imports
    assert set(vendors) <= set(_league_vendors(watcher))


def _league_vendors(at: AppTest) -> list[str]:
    for frame in at.dataframe:
        if {"Rank", "Vendor"} <= set(frame.value.columns):
            return list(frame.value["Vendor"])
    raise AssertionError("no league table")


def test_a_command_line_import_waits_while_a_page_uses_the_database_then_writes(db, tmp_path):
    path = vendor_tickets_csv(tmp_path / "wait.csv", "Waiting Vendor", 5)
    marker = db.with_name(db.name + ".waiting")
    with store.shared_cursor(db) as cur:  # a rerun in progress
        before = cur.execute("SELECT count(*) FROM tickets").fetchone()[0]
        proc = cli_import(path, db)
        deadline = time.monotonic() + HANG_GUARD
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the command must be waiting for the file"
        assert proc.poll() is None, "the command cannot finish while the app holds the file"
    _, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, err
    with store.shared_cursor(db) as cur:
        assert cur.execute("SELECT count(*) FROM tickets").fetchone()[0] == before + 5
    assert not marker.exists()


def test_the_app_says_the_database_is_busy_in_one_line_when_another_process_keeps_it(db, monkeypatch):
    at = AppTest.from_file(APP, default_timeout=HANG_GUARD)
    at.run()
    store.close_shared()
    monkeypatch.setattr(store, "DEFAULT_WAIT_SECONDS", 0.5)
    with lock_held_by_another_process(db):
        at.run()
        assert [e.value for e in at.error] == [store.BUSY_MESSAGE]  # once, not in sidebar and page
        assert not at.exception
        with pytest.raises(DatabaseBusy), store.shared_cursor(db):
            pass
    at.run()
    no_failure(at, "after the other process let go")


def test_the_app_holds_no_lock_between_reruns(db):
    at = AppTest.from_file(APP, default_timeout=HANG_GUARD)
    at.run()
    no_failure(at, "portfolio")
    # another process opens the file for writing (open_store waits for the app's idle close)
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from rmdash import store; store.open_store(sys.argv[1]).close()",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert opened.returncode == 0, opened.stderr


# One app server in a process of its own: ROUNDS times through every page, as one browsing session.
_SERVER = """
import sys
from streamlit.testing.v1 import AppTest
app, rounds, pages = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
at = AppTest.from_file(app, default_timeout=120)
at.run()
for _ in range(rounds):
    for page in pages:
        at.switch_page(f"app_pages/{page}.py").run()
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        if problems:
            print(page, problems)
            sys.exit(1)
print("ok")
"""


def test_two_app_servers_on_one_database_file_take_turns_and_neither_fails(db):
    env = os.environ | {"PYTHONPATH": str(REPO), "RMDASH_DB": str(db)}
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", _SERVER, APP, "2", ",".join(PAGES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    outcomes = [server.communicate(timeout=HANG_GUARD * 4) for server in servers]

    for server, (out, err) in zip(servers, outcomes, strict=True):
        assert server.returncode == 0 and out.strip().endswith("ok"), (out[-2000:], err[-2000:])


def test_two_uploads_at_once_put_the_instances_write_settings_back(tmp_path, monkeypatch):
    """DuckDB's write settings are the instance's: the second upload must not read the first's
    settings as the ones to put back (they would then stay for every session of the app)."""
    con = memory_db()
    defaults = write_settings(con)
    paused, resume = threading.Event(), threading.Event()
    real = store._write_sheet

    def pause_first_write(con_, plan, *args):
        if plan.file_name == "first.xlsx":
            paused.set()
            resume.wait(10)
        return real(con_, plan, *args)

    monkeypatch.setattr(store, "_write_sheet", pause_first_write)
    monkeypatch.setattr(store, "BULK_WRITE_ROWS", 1)  # the memory cap too
    uploads = [
        file_plan(tmp_path, name, sheet_plan("tickets", [ticket(tid)]))
        for name, tid in (("first.xlsx", "T1"), ("second.xlsx", "T2"))
    ]
    first = threading.Thread(target=store.write_plans, args=(con.cursor(), [uploads[0]], ImportOptions()))
    first.start()
    assert paused.wait(10)
    second = threading.Thread(target=store.write_plans, args=(con.cursor(), [uploads[1]], ImportOptions()))
    second.start()
    time.sleep(0.3)  # the second upload gets as far as it can while the first one writes
    resume.set()
    first.join(10)
    second.join(10)

    assert write_settings(con) == defaults
    assert con.execute("SELECT count(*) FROM tickets").fetchone() == (2,)


def write_settings(con) -> tuple:
    return con.execute(
        "SELECT current_setting('preserve_insertion_order'), current_setting('memory_limit')"
    ).fetchone()
