"""Limits: the upload size cap, the core's own size and zip caps, and validated config files.

The browser upload is capped by Streamlit (``server.maxUploadSize`` in
.streamlit/config.toml, set on purpose below the core's cap, so every file the
page accepts the core can read); the core refuses anything above its own caps
whatever the shell (rmdash/readers.py: file size, zip parts, unpacked size,
compression ratio), each with one line naming the limit. A rules override
(``--config`` / ``RMDASH_CONFIG``) is validated: a bad one is one line naming
the key, in the CLI and on the dashboard, never a traceback.

The bad-file corpus (tests/test_hardening_files.py) proves the caps refuse
bombs; here each cap is checked at its boundary (at the limit: read; one over:
refused), so a cap can neither be silently dropped nor set too tight.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import filebuilders as fb
import pytest
from hardening import markdown_texts, unsafe_fragments
from streamlit.testing.v1 import AppTest

from rmdash import filesafety, readers, store
from rmdash.importer import import_files
from rmdash.model import ImportOptions, ImportRefused
from rmdash.plan import plan_file

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
MiB = 1024 * 1024


# ---------------------------------------------------------------- the upload cap


def test_the_upload_size_cap_is_set_on_purpose_and_below_the_cores_own_cap():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text("utf-8"))
    cap_mb = config["server"]["maxUploadSize"]
    assert isinstance(cap_mb, int) and cap_mb >= 1
    assert cap_mb * MiB <= min(filesafety.MAX_FILE_BYTES, filesafety.MAX_CSV_BYTES), (
        "the page would accept files the core refuses"
    )


def test_streamlit_reads_the_upload_cap_from_the_projects_config():
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("streamlit")), "config", "show"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text("utf-8"))
    assert f"maxUploadSize = {config['server']['maxUploadSize']}" in shown.stdout


def _csv_of_size(path: Path, size: int) -> Path:
    """A ticket CSV padded to exactly ``size`` bytes (a long description)."""
    head = b"Ticket ID,Vendor,Type,Opened,Description\r\nS-1,Acme,Incident,2026-01-05 09:00,"
    path.write_bytes(head + b"x" * (size - len(head) - 2) + b"\r\n")
    assert path.stat().st_size == size
    return path


def test_the_csv_size_cap_reads_a_file_at_the_limit_and_refuses_one_byte_more(tmp_path, monkeypatch):
    monkeypatch.setattr(filesafety, "MAX_CSV_BYTES", 2 * MiB)
    at_limit = plan_file(_csv_of_size(tmp_path / "at.csv", 2 * MiB), ImportOptions(kind="tickets"))
    assert len(at_limit.sheets[0].rows) == 1
    with pytest.raises(ImportRefused) as over:
        plan_file(_csv_of_size(tmp_path / "over.csv", 2 * MiB + 1), ImportOptions(kind="tickets"))
    assert str(over.value) == "'over.csv' is larger than 2 MB: split it into smaller files"


def test_the_workbook_size_cap_reads_a_file_at_the_limit_and_refuses_one_byte_more(tmp_path, monkeypatch):
    path = fb.small_workbook(tmp_path / "tickets.xlsx")
    size = path.stat().st_size
    monkeypatch.setattr(filesafety, "MAX_FILE_BYTES", size)
    assert len(plan_file(path, ImportOptions()).sheets[0].rows) == 3
    monkeypatch.setattr(filesafety, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(
        ImportRefused, match="^'tickets.xlsx' is larger than .* MB: split it into smaller files$"
    ):
        plan_file(path, ImportOptions())


def test_the_upload_page_says_in_one_line_that_a_file_is_over_the_cap(tmp_path, monkeypatch):
    db = tmp_path / "store.duckdb"
    import_files(db, [fb.small_workbook(tmp_path / "first.xlsx")], ImportOptions(who="test"))
    monkeypatch.setenv("RMDASH_DB", str(db))
    monkeypatch.setattr(filesafety, "MAX_CSV_BYTES", 1 * MiB)
    data = _csv_of_size(tmp_path / "big.csv", 1 * MiB + MiB // 2).read_bytes()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="uploader_0").set_value(("big-export.csv", data, "text/csv")).run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert errors == ["'big-export.csv' is larger than 1 MB: split it into smaller files"]
    assert at.button(key="upload_import").disabled
    store.close_shared()


# ---------------------------------------------------------------- the zip caps, at their boundaries


@pytest.fixture
def workbook(tmp_path) -> Path:
    """A real workbook with one sheet part over the ratio check's floor (1 MiB unpacked)."""
    header, *rows = fb.ticket_rows()
    rows = [[f"Z{i}", *r[1:]] for i in range(4000) for r in rows[:1]]
    return fb.write_xlsx(tmp_path / "tickets.xlsx", {"Tickets": [header, *rows]})


def _infos(path: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return archive.infolist()


def test_the_zip_part_count_cap_reads_at_the_limit_and_refuses_one_more(workbook, monkeypatch):
    parts = len(_infos(workbook))
    monkeypatch.setattr(filesafety, "MAX_ZIP_ENTRIES", parts)
    assert readers.open_sheets(workbook)
    monkeypatch.setattr(filesafety, "MAX_ZIP_ENTRIES", parts - 1)
    with pytest.raises(
        ImportRefused, match=f"^'tickets.xlsx' has {parts} parts inside \\(a zip bomb\\?\\): not imported$"
    ):
        readers.open_sheets(workbook)


def test_the_unpacked_size_cap_reads_at_the_limit_and_refuses_one_byte_more(workbook, monkeypatch):
    total = sum(i.file_size for i in _infos(workbook))
    monkeypatch.setattr(filesafety, "MAX_UNCOMPRESSED_BYTES", total)
    assert readers.open_sheets(workbook)
    monkeypatch.setattr(filesafety, "MAX_UNCOMPRESSED_BYTES", total - 1)
    with pytest.raises(
        ImportRefused, match="unpacks to .* MB \\(a zip bomb\\?\\): not imported; split the data"
    ):
        readers.open_sheets(workbook)


def test_the_compression_ratio_cap_reads_at_the_limit_and_refuses_just_below_it(workbook, monkeypatch):
    big = [i for i in _infos(workbook) if i.file_size > filesafety.RATIO_FLOOR_BYTES]
    assert big, "the workbook has a part the ratio check looks at"
    worst = max(i.file_size / i.compress_size for i in big)
    monkeypatch.setattr(filesafety, "MAX_ENTRY_RATIO", math.ceil(worst))
    assert readers.open_sheets(workbook)
    monkeypatch.setattr(filesafety, "MAX_ENTRY_RATIO", math.floor(worst) - 1)
    with pytest.raises(ImportRefused, match=f"contains a part compressed {worst:.0f}:1 \\(a zip bomb\\?\\)"):
        readers.open_sheets(workbook)


def test_real_exports_stay_far_below_the_compression_cap(workbook):
    """The default cap leaves room: a repetitive 4,000-row sheet compresses well under it."""
    worst = max(i.file_size / max(i.compress_size, 1) for i in _infos(workbook))
    assert worst * 4 < filesafety.MAX_ENTRY_RATIO


# ---------------------------------------------------------------- config files


BAD_CONFIGS = {
    "text where a number goes": ('[metrics.nps]\ntarget = "abc"\n', "rules: metrics.nps.target must be a number, got 'abc'"),
    "a misspelt key": ("[metrics.nps]\ntargte = 40\n", "rules: unknown key metrics.nps.targte"),
    "SQL in a config file": ('[metrics.nps]\nrow_value = "1"\n', "rules: metrics.nps.row_value cannot be set in a config file"),
    "an infinite target": ("[metrics.nps]\ntarget = inf\n", "rules: metrics.nps.target must be a finite number, got inf"),
    "nested thousands deep": ("x = " + "[" * 5000 + "]" * 5000 + "\n", "is nested too deeply to be a rules file"),
}  # fmt: skip


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("limits")
    db = tmp / "store.duckdb"
    import_files(db, [fb.small_workbook(tmp / "first.xlsx")], ImportOptions(who="test"))
    return db


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("RMDASH_DB", "RMDASH_CONFIG")}
    return subprocess.run(
        [sys.executable, "-m", "rmdash", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
    )


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_a_bad_config_file_given_to_the_cli_is_one_line_naming_the_key(small_store, tmp_path, name):
    text, message = BAD_CONFIGS[name]
    config = tmp_path / "rules.toml"
    config.write_text(text, "utf-8")
    done = _cli("kpi", "--db", str(small_store), "--grain", "month", "--config", str(config), "--json")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    line = done.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and message in line, line


def test_the_config_named_by_the_environment_is_validated_the_same_way(small_store, tmp_path):
    text, message = BAD_CONFIGS["a misspelt key"]
    config = tmp_path / "rules.toml"
    config.write_text(text, "utf-8")
    done = _cli("kpi", "--db", str(small_store), "--json", env={"RMDASH_CONFIG": str(config)})
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1


def test_the_dashboard_with_a_bad_config_shows_one_line_naming_the_key(small_store, tmp_path, monkeypatch):
    text, message = BAD_CONFIGS["text where a number goes"]
    config = tmp_path / "rules.toml"
    config.write_text(text, "utf-8")
    monkeypatch.setenv("RMDASH_DB", str(small_store))
    monkeypatch.setenv("RMDASH_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    errors = {e.value for e in at.error}
    assert errors and all(message in e and "\n" not in e for e in errors), errors
    store.close_shared()


def test_texts_a_config_file_sets_are_shown_as_plain_text(small_store, tmp_path, monkeypatch):
    config = tmp_path / "rules.toml"
    config.write_text('[metrics.nps]\nlabel = "NPS <img src=x onerror=alert(1)> **loud**"\n', "utf-8")
    monkeypatch.setenv("RMDASH_DB", str(small_store))
    monkeypatch.setenv("RMDASH_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/how.py").run()
    assert not at.exception and not at.error
    texts = markdown_texts(at)
    assert unsafe_fragments(texts, ["<img src=", "**loud**"]) == []
    shown = [t for _, t in texts if "loud" in t] + [
        str(v) for d in at.dataframe for v in d.value.to_numpy().ravel()
    ]
    assert any("img src=x" in s.replace("\\", "") for s in shown), "the label is on the page"
    store.close_shared()
