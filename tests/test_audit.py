"""The audit log: every import, undo, redo, saved mapping and rule change, shown, exportable, never editable.

Each action through the real paths (the importer, the CLI, the store's undo
and redo, the Settings page's rule-set save) leaves one row saying who, when,
what and which file (its SHA-256, or the rule set's). Nothing else writes to
the log: a refused file and an identical re-import leave it as it was. The
Upload page shows it newest first in a read-only table with CSV/XLSX
downloads, and no code anywhere updates or deletes a row of it.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import filebuilders as fb
import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from rmdash import store, views
from rmdash.importer import import_files
from rmdash.model import ImportOptions, ImportRefused
from rmdash.readers import sha256_file

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def audit(db: Path) -> list[dict]:
    con = store.open_store(db, read_only=True)
    try:
        log = store.audit_log(con)
    finally:
        con.close()
    rows = log.to_dict("records")
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        row["batch_id"] = None if pd.isna(row["batch_id"]) else int(row["batch_id"])
    return rows


def two_sheet_workbook(path: Path, prefix: str = "A") -> Path:
    header, *rows = fb.ticket_rows()
    tickets = [header, *[[f"{prefix}{r[0]}", *r[1:]] for r in rows]]
    header, *rows = fb.meeting_rows()
    meetings = [header, *[[f"{prefix}{r[0]}", *r[1:]] for r in rows]]
    return fb.write_xlsx(path, {"Tickets": tickets, "Meetings": meetings})


@contextmanager
def another_time_zone(zone: str):
    """The process's local time zone set to ``zone`` (the log must not depend on it)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ")
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A store that went through every kind of action, with the clock readings around each."""
    tmp = tmp_path_factory.mktemp("audit")
    db = tmp / "store.duckdb"
    first = two_sheet_workbook(tmp / "first.xlsx")
    started = _now()
    summaries = import_files(db, [first], ImportOptions(who="alice"))
    after_import = len(audit(db))
    import_files(db, [first], ImportOptions(who="alice"))  # identical: nothing changes
    with pytest.raises(ImportRefused):
        import_files(db, [fb.prose_csv(tmp / "notes.csv")], ImportOptions(who="alice"))
    after_noops = len(audit(db))
    con = store.open_store(db)
    try:
        store.set_active(con, summaries[0].batch_id, False, "bob")
        store.set_active(con, summaries[0].batch_id, True, "bob")
        with another_time_zone("America/New_York"):
            views.save_whatif(con, {"governance": 40.0}, {}, "Governance first", who="carol")
    finally:
        con.close()
    second = fb.write_xlsx(
        tmp / "second.xlsx", {"Tickets": fb.ticket_rows()[:1] + [["Z-1", *fb.ticket_rows()[1][1:]]]}
    )
    import_files(db, [second], ImportOptions(who="dave", save_mapping="Acme tickets"))
    finished = _now()
    return {
        "db": db,
        "rows": audit(db),
        "first": first,
        "second": second,
        "batches": [s.batch_id for s in summaries],
        "counts": (after_import, after_noops),
        "window": (started, finished),
    }


# ---------------------------------------------------------------- what is recorded


def test_every_action_is_one_row_in_order(history):
    actions = [(r["action"], r["who"], r["batch_id"]) for r in history["rows"]]
    b1, b2 = history["batches"]
    assert actions == [
        ("import", "alice", b1),
        ("import", "alice", b2),
        ("undo", "bob", b1),
        ("redo", "bob", b1),
        ("rules", "carol", None),
        ("import", "dave", b2 + 1),
        ("mapping", "dave", None),
    ]


def test_an_import_records_the_files_hash_its_counts_and_when(history):
    first_sha = sha256_file(history["first"])
    tickets, meetings = history["rows"][:2]
    assert tickets["sha256"] == meetings["sha256"] == first_sha
    assert tickets["detail"] == {
        "file": "first.xlsx",
        "sheet": "Tickets",
        "kind": "tickets",
        "new": 3,
        "changed": 0,
        "unchanged": 0,
        "superseded": 0,
        "rejected": 0,
        "skipped": 0,
    }
    assert meetings["detail"]["kind"] == "meetings" and meetings["detail"]["new"] == 2
    started, finished = history["window"]  # naive UTC, whole seconds, like the store
    assert all(started <= r["at_time"].to_pydatetime() <= finished for r in history["rows"])


def test_undo_and_redo_record_the_batch_its_files_hash_and_the_keys_touched(history):
    undo, redo = history["rows"][2:4]
    assert undo["sha256"] == redo["sha256"] == sha256_file(history["first"])
    assert undo["detail"] == redo["detail"] == {"kind": "tickets", "keys": 3}


def test_a_rule_change_records_the_rule_sets_hash_version_and_label(history):
    rules = history["rows"][4]
    con = store.open_store(history["db"], read_only=True)
    try:
        (saved_sha,) = con.execute("SELECT sha256 FROM rule_sets WHERE version = 1").fetchone()
    finally:
        con.close()
    assert rules["sha256"] == saved_sha
    assert rules["detail"] == {"version": 1, "label": "Governance first"}


def test_a_saved_mapping_is_recorded_with_the_import_that_saved_it(history):
    imported, mapping = history["rows"][5:7]
    assert imported["sha256"] == sha256_file(history["second"])
    assert mapping["detail"] == {"name": "Acme tickets", "kind": "tickets"}
    assert mapping["at_time"] == imported["at_time"]


def test_a_refused_file_and_an_identical_reimport_leave_the_log_as_it_was(history):
    after_import, after_noops = history["counts"]
    assert after_import == 2 and after_noops == 2


def test_the_command_line_records_the_login_name(history, tmp_path):
    db = tmp_path / "cli.duckdb"
    env = {**{k: v for k, v in os.environ.items() if k != "RMDASH_DB"}, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "rmdash", "import", str(history["first"]), "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    subprocess.run(
        [sys.executable, "-m", "rmdash", "undo", "1", "--db", str(db)], check=True, env=env, timeout=120,
        capture_output=True,
    )  # fmt: skip
    rows = audit(db)
    assert [(r["action"], r["who"]) for r in rows] == [
        ("import", getpass.getuser()),
        ("import", getpass.getuser()),
        ("undo", getpass.getuser()),
    ]


# ---------------------------------------------------------------- shown, exportable, never editable


@pytest.fixture
def app_on_history(history, monkeypatch):
    monkeypatch.setenv("RMDASH_DB", str(history["db"]))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    yield at
    store.close_shared()


def _audit_table(at: AppTest):
    tables = [d for d in at.dataframe if {"When", "Who", "Action", "SHA-256"} <= set(d.value.columns)]
    assert len(tables) == 1, "the Upload page shows one audit table"
    return tables[0]


def test_the_upload_page_shows_the_whole_log_newest_first(history, app_on_history):
    shown = _audit_table(app_on_history).value
    rows = history["rows"]
    assert len(shown) == len(rows)
    assert list(shown["Action"]) == [r["action"] for r in reversed(rows)]
    assert list(shown["Who"]) == [r["who"] for r in reversed(rows)]
    assert list(shown["SHA-256"]) == [r["sha256"] for r in reversed(rows)]
    what = dict(zip(shown["Action"], shown["What"], strict=False))
    assert what["rules"] == "rule set version 1 'Governance first'"
    assert what["mapping"] == "column mapping 'Acme tickets' for tickets"
    assert (
        list(shown["What"])[-1] == "first.xlsx / Tickets: tickets, 3 new, 0 changed, 0 unchanged, 0 rejected"
    )


def test_the_audit_table_on_the_page_is_read_only(app_on_history):
    from streamlit.proto.Dataframe_pb2 import Dataframe

    table = _audit_table(app_on_history)
    assert table.proto.editing_mode == Dataframe.EditingMode.READ_ONLY
    assert not [w for w in app_on_history.text_input if w.key and "audit" in w.key]


def test_the_log_downloads_as_csv_and_xlsx_with_every_row(history, tmp_path):
    con = store.open_store(history["db"], read_only=True)
    try:
        view = views.upload_view(con, views.Filters())
    finally:
        con.close()
    files = {name: make() for name, (make, _, _) in view.audit_downloads.items()}
    csv_bytes = next(v for v in files.values() if not v.startswith(b"PK"))
    xlsx_bytes = next(v for v in files.values() if v.startswith(b"PK"))
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert [r["Action"] for r in rows] == [r["action"] for r in reversed(history["rows"])]
    assert rows[-1]["SHA-256"] == sha256_file(history["first"])
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes)).active
    assert sheet.max_row == len(history["rows"]) + 1


def test_no_code_updates_or_deletes_an_audit_row():
    sources = [REPO / "app.py", *REPO.glob("app_pages/*.py"), *REPO.glob("rmdash/**/*.py")]
    text = "\n".join(p.read_text("utf-8") for p in sources)
    writes = re.findall(
        r"(?i)\b(UPDATE|DELETE\s+FROM|TRUNCATE|DROP\s+TABLE|ALTER\s+TABLE|INSERT\s+INTO)\s+audit_log\b", text
    )
    assert writes and {w.split()[0].upper() for w in writes} == {"INSERT"}, writes
    assert "audit" not in " ".join(re.findall(r"data_editor\([^)]*", text))


def test_undo_in_the_app_adds_a_row_and_changes_none_before_it(history, tmp_path, monkeypatch):
    db = tmp_path / "copy.duckdb"
    db.write_bytes(history["db"].read_bytes())
    before = audit(db)
    monkeypatch.setenv("RMDASH_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    at.button(key="upload_undo").click().run()
    assert not at.exception and not at.error
    store.close_shared()
    after = audit(db)
    assert after[: len(before)] == before
    assert [r["action"] for r in after[len(before) :]] == ["undo"]
    assert _audit_table(at).value.iloc[0]["Action"] == "undo"
