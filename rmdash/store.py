"""The DuckDB store: batches, row versions, current rows, undo/redo, rejected rows, archive, audit.

Purpose: write planned sheets (rmdash.model.SheetPlan) into the tables of
rmdash.db in ONE transaction per import, keep each kind's current table equal
to "the newest version per key among active batches", and read the store back
for the shells (batch lists, rejected rows, current rows, saved mappings, the
audit log). Boundary: it never reads or parses a user's spreadsheet (that is
rmdash.plan); the only file it touches is the original upload, copied verbatim
into the raw archive.

Invariants kept here (and checked by ``verify_store``):
- ``<kind>_versions`` is append-only: every accepted row of every batch.
- ``<kind>`` (current) holds exactly one row per key: the version with the
  highest batch_id, then the highest row_no, among active batches.
- ``store_meta.store_version`` grows on every change of current data.

SQL identifiers come from the registry (rmdash.schema) only; every value is a
bound parameter. That is why the f-string SQL below carries ``noqa: S608``.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:  # the import path runs without pandas (its import costs more than typing a sheet)
    import pandas as pd

from rmdash.archive import strip_macros_in_place, without_macros
from rmdash.db import open_db
from rmdash.model import (
    BatchSummary,
    DatabaseBusy,
    FilePlan,
    ImportOptions,
    ImportRefused,
    ProgressEvent,
    RmdashError,
    SheetPlan,
)
from rmdash.schema import Kind, load_schema

# Uploads above this size are archived as a content-addressed file beside the
# database instead of a BLOB, so the database file stays small enough to copy.
ARCHIVE_THRESHOLD_BYTES = 32 * 1024 * 1024
ARCHIVE_DIR_NAME = "archive"

BUSY_MESSAGE = "the database is busy with another import; try again in a minute"
DISK_FULL_MESSAGE = "the disk holding the database is full: free some space and try again"
# How long open_store waits for another process's write lock before giving up.
DEFAULT_WAIT_SECONDS = 10.0
# A write of this many accepted rows or more runs with bulk settings (see _bulk_write).
BULK_WRITE_ROWS = 500_000
BULK_MEMORY_LIMIT = "1.5GB"
# Rows per Arrow batch of a write's stage: DuckDB's threads take the rows a batch at a time.
STAGE_BATCH_ROWS = 16_384
# How long a shared connection (shared_cursor) stays open after its last use.
SHARED_IDLE_SECONDS = 1.0
# One writer at a time within a process: two threads' transactions would
# otherwise conflict on the store version (DuckDB: "Conflict on update"), and
# the second would put the first's write settings back as the instance's own.
_WRITE_LOCK = threading.RLock()

# Temporary tables and views of one write; they live in the connection's temp
# catalog and vanish on ROLLBACK (the stage's view over registered rows too, and
# with it the connection's reference to the rows).
_SRC = "_rm_src"
_STAGE = "_rm_stage"
_LATEST = "_rm_latest"
_KEYS = "_rm_keys"
_REJ = "_rm_rejected_src"


# --------------------------------------------------------------------------- opening


def open_store(
    path: str | Path, read_only: bool = False, wait_seconds: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the store at ``path``, waiting up to ``wait_seconds`` for another process's lock.

    DuckDB lets one process write a database file at a time. When another
    import holds it, this retries briefly, then raises DatabaseBusy. While it
    waits it keeps ``<db>.waiting`` fresh, so a server using shared_cursor lets
    go of the file between two reruns. A read-only open of a missing file is an
    RmdashError saying so.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise RmdashError(f"there is no database at {path}; import a file or run `rmdash demo` first")
    deadline = time.monotonic() + (DEFAULT_WAIT_SECONDS if wait_seconds is None else wait_seconds)
    waited = False
    try:
        while True:
            try:
                return open_db(path, read_only=read_only)
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" not in text.lower():
                    raise RmdashError(_open_failure(path, text)) from exc
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(BUSY_MESSAGE) from exc
                _say_waiting(path)
                waited = True
                time.sleep(0.2)
            except duckdb.Error as exc:
                raise RmdashError(_open_failure(path, str(exc))) from exc
    finally:
        if waited:
            with suppress(OSError):
                _waiting_marker(path).unlink()


# A process waiting for the lock touches ``<db>.waiting`` at every retry; a
# server using shared_cursor then lets go of the file as soon as it can, so
# a scheduled import gets in between two reruns. An older marker is the
# leftover of a killed process and is ignored.
_WAITING_FRESH_SECONDS = 2.0


def _waiting_marker(path: Path) -> Path:
    return path.with_name(path.name + ".waiting")


def _say_waiting(path: Path) -> None:
    with suppress(OSError):
        _waiting_marker(path).touch()


def _someone_waiting(path: Path) -> bool:
    try:
        return time.time() - _waiting_marker(path).stat().st_mtime < _WAITING_FRESH_SECONDS
    except OSError:
        return False


def _let_a_waiting_process_in(path: Path) -> None:
    """Before a new use of a shared connection: wait (bounded) while another process waits for the lock."""
    deadline = time.monotonic() + DEFAULT_WAIT_SECONDS
    while _someone_waiting(path) and time.monotonic() < deadline:
        time.sleep(0.05)


class _Shared:
    """A connection one process shares between threads, and how many of them use it now."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con: duckdb.DuckDBPyConnection | None = con
        self.users = 0
        self.closer: threading.Timer | None = None


_SHARED: dict[str, _Shared] = {}
_SHARED_LOCK = threading.Lock()


@contextmanager
def shared_cursor(
    path: str | Path, idle_seconds: float = SHARED_IDLE_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the one connection this process keeps to ``path`` while it is in use.

    For a long-running process (the app): every rerun's queries share one
    connection (no re-opening cost), and once nobody has used it for
    ``idle_seconds`` it is closed, so the process holds no lock on the file
    between reruns and `rmdash import` in another process can write. Opening
    waits for another process's lock like ``open_store`` (DatabaseBusy after).
    """
    path = Path(path)
    key = str(path.resolve())
    _let_a_waiting_process_in(path)
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            shared = _SHARED[key] = _Shared(open_store(path))
        shared.users += 1
        if shared.closer is not None:
            shared.closer.cancel()
            shared.closer = None
    cursor = shared.con.cursor()
    try:
        yield cursor
    finally:
        cursor.close()
        with _SHARED_LOCK:
            shared.users -= 1
            if shared.users == 0 and _someone_waiting(path):
                _close_unused(key, shared)
            elif shared.users == 0:
                shared.closer = threading.Timer(idle_seconds, _close_if_idle, args=(key, shared))
                shared.closer.daemon = True
                shared.closer.start()


def _close_if_idle(key: str, shared: _Shared) -> None:
    with _SHARED_LOCK:
        _close_unused(key, shared)


def _close_unused(key: str, shared: _Shared) -> None:
    """Close a shared connection nobody uses (the caller holds _SHARED_LOCK)."""
    if shared.users == 0 and _SHARED.get(key) is shared:
        del _SHARED[key]
        shared.con.close()
        shared.con = None  # a timer thread alive at exit must not keep a connection object


def close_shared() -> None:
    """Close every idle shared connection now (tests, shutdown)."""
    for key, shared in list(_SHARED.items()):
        _close_if_idle(key, shared)
        if shared.closer is not None:
            shared.closer.cancel()


atexit.register(close_shared)  # a connection still open at exit makes DuckDB's bindings complain


def _open_failure(path: Path, text: str) -> str:
    if "not a valid DuckDB database" in text:
        return f"{path} is not an rmdash database; give another --db path"
    return f"cannot open the database {path}: {_one_line(text)}"


def _one_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


# --------------------------------------------------------------------------- SQL helpers


def _kind(name: str) -> Kind:
    try:
        return load_schema().kind(name)
    except ValueError as exc:
        raise RmdashError(str(exc)) from None


def _data_columns(kind: Kind) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the columns that carry data: canonical + extras, no system columns."""
    return [(c.name, c.sql_type) for c in kind.columns] + list(kind.extra_columns.items())


def _col_list(kind: Kind, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{name}"' for name, _ in _data_columns(kind))


def _row_hash(kind: Kind, alias: str = "") -> str:
    """DuckDB expression hashing a row's data columns (same expression for stage and current)."""
    return f"hash({_col_list(kind, alias)})"


def _key_match(kind: Kind, left: str, right: str) -> str:
    return " AND ".join(f'{left}."{k}" = {right}."{k}"' for k in kind.key)


def _key_list(kind: Kind, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{k}"' for k in kind.key)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | dict | None = None):
    rows = _rows(con, sql, params)
    return rows[0][0] if rows else None


def _now() -> datetime:
    """Naive UTC, as every timestamp in the store."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, failure: str) -> Iterator[None]:
    """BEGIN ... COMMIT, one writer of this process at a time; on any exception ROLLBACK and
    raise a one-line RmdashError."""
    with _WRITE_LOCK:
        con.execute("BEGIN TRANSACTION")
        try:
            yield
            con.execute("COMMIT")
        except BaseException as exc:
            with suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if isinstance(exc, RmdashError) or not isinstance(exc, Exception):
                raise
            raise RmdashError(f"{failure}; nothing was changed: {_failure_reason(exc)}") from exc


def _is_disk_full(exc: BaseException) -> bool:
    """A full disk, as the OS (ENOSPC) or DuckDB ("No space left on device") reports it."""
    return (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left on device" in str(exc)


def _failure_reason(exc: BaseException) -> str:
    if _is_disk_full(exc):
        return DISK_FULL_MESSAGE
    return f"{type(exc).__name__}: {_one_line(exc)}"


def _bump_store_version(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "UPDATE store_meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'store_version'"
    )


def _audit(con, at: datetime, who: str, action: str, batch_id: int | None, sha256: str | None, detail: dict):
    con.execute(
        "INSERT INTO audit_log (at_time, who, action, batch_id, sha256, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [at, who, action, batch_id, sha256, json.dumps(detail, default=str)],
    )


# --------------------------------------------------------------------------- reading


def store_version(con: duckdb.DuckDBPyConnection) -> int:
    """Grows on every change of current data (import, undo, redo); caches key on it."""
    value = _scalar(con, "SELECT value FROM store_meta WHERE key = 'store_version'")
    return int(value or 0)


_BATCH_COLUMNS = (
    "batch_id, file_name, sheet, kind, sha256, active, rows_new, rows_changed, rows_unchanged, "
    "rows_superseded, rows_rejected, rows_skipped, warnings, imported_at, imported_by"
)


def _summary_from_row(row: tuple) -> BatchSummary:
    (bid, file_name, sheet, kind, sha, active, new, changed, unchanged, superseded, rejected, skipped) = row[
        :12
    ]
    warnings, imported_at, who = row[12:]
    return BatchSummary(
        batch_id=bid,
        file=file_name,
        sheet=sheet,
        kind=kind,
        sha256=sha,
        active=bool(active),
        new=new,
        changed=changed,
        unchanged=unchanged,
        superseded=superseded,
        rejected=rejected,
        skipped=skipped,
        warnings=json.loads(warnings) if warnings else [],
        imported_at=imported_at.isoformat(sep=" ") if imported_at else None,
        who=who,
    )


def list_batches(con: duckdb.DuckDBPyConnection) -> list[BatchSummary]:
    """Every batch ever imported (active or undone), oldest first."""
    rows = _rows(con, f"SELECT {_BATCH_COLUMNS} FROM batches ORDER BY batch_id")  # noqa: S608
    return [_summary_from_row(r) for r in rows]


def get_batch(con: duckdb.DuckDBPyConnection, batch_id: int) -> BatchSummary:
    rows = _rows(con, f"SELECT {_BATCH_COLUMNS} FROM batches WHERE batch_id = ?", [batch_id])  # noqa: S608
    if not rows:
        raise RmdashError(f"there is no batch {batch_id}; `rmdash batches` lists them")
    return _summary_from_row(rows[0])


def rejected_rows(con: duckdb.DuckDBPyConnection, batch_id: int) -> pd.DataFrame:
    """The rejected rows of one batch: row_no (as the sheet shows it), reason, raw (JSON text)."""
    get_batch(con, batch_id)
    return con.execute(
        "SELECT row_no, reason, CAST(raw AS VARCHAR) AS raw FROM rejected_rows WHERE batch_id = ? ORDER BY row_no",
        [batch_id],
    ).df()


def first_rejected(con: duckdb.DuckDBPyConnection, batch_id: int, n: int) -> list[tuple[int, str]]:
    """(row_no, reason) of the first ``n`` rejected rows of a batch (the import's summary; no pandas)."""
    return [
        (int(row_no), reason)
        for row_no, reason in _rows(
            con,
            "SELECT row_no, reason FROM rejected_rows WHERE batch_id = ? ORDER BY row_no LIMIT ?",
            [batch_id, n],
        )
    ]


def rejected_rows_wide(con: duckdb.DuckDBPyConnection, batch_id: int) -> pd.DataFrame:
    """Rejected rows with their original cells spread out again: row_no, reason, then one column per header.

    This is the download a user fixes and uploads again.
    """
    rejected = rejected_rows(con, batch_id)
    raw = rejected["raw"].dropna()
    if raw.empty:
        return rejected.drop(columns="raw")
    import pandas as pd

    cells = pd.read_json(io.StringIO("\n".join(raw)), lines=True, dtype=False)
    cells.index = raw.index
    cells = cells.rename(columns=lambda c: f"{c} (original)" if c in ("row_no", "reason") else c)
    return pd.concat([rejected.drop(columns="raw"), cells], axis=1)


def current_rows(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    vendors: Sequence[str] | None = None,
    rms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Current rows of one kind, optionally only some vendors and/or RMs.

    Contracts have no rm column: an rm filter does not apply to them.
    """
    k = _kind(kind)
    where, params = [], {}
    if vendors is not None:
        where.append("list_contains($vendors, vendor)")
        params["vendors"] = list(vendors)
    if rms is not None and "rm" in k.column_names:
        where.append("list_contains($rms, rm)")
        params["rms"] = list(rms)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    order = _key_list(k)
    return con.execute(f"SELECT * FROM {k.table} {clause} ORDER BY {order}", params).df()  # noqa: S608


def saved_mappings(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Saved column mappings, as plan_file() takes them: name, kind, layout_signature,
    mapping {canonical column: header}, constants {column: value}, created_at, created_by."""
    rows = _rows(
        con,
        "SELECT name, kind, layout_signature, CAST(mapping AS VARCHAR), CAST(constants AS VARCHAR), "
        "created_at, created_by FROM mappings ORDER BY name",
    )
    return [
        {
            "name": name,
            "kind": kind,
            "layout_signature": signature,
            "mapping": json.loads(mapping) if mapping else {},
            "constants": json.loads(constants) if constants else {},
            "created_at": created_at,
            "created_by": created_by,
        }
        for name, kind, signature, mapping, constants, created_at, created_by in rows
    ]


def audit_log(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Who did what when (import, undo, redo, mapping), oldest first."""
    return con.execute(
        "SELECT id, at_time, who, action, batch_id, sha256, CAST(detail AS VARCHAR) AS detail "
        "FROM audit_log ORDER BY id"
    ).df()


def verify_store(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Check the store's invariants; return one line per problem (empty when sound).

    Every current row belongs to an active batch, and each current table is
    exactly the newest version per key among active batches.
    """
    problems = []
    for k in load_schema().kinds.values():
        cols = f"{_col_list(k)}, batch_id, row_no"
        inactive = _scalar(
            con,
            f"SELECT count(*) FROM {k.table} c LEFT JOIN batches b USING (batch_id) "  # noqa: S608
            "WHERE b.active IS NOT TRUE",
        )
        if inactive:
            problems.append(f"{k.table}: {inactive} current rows belong to no active batch")
        expected = (
            f"SELECT {cols} FROM {k.versions_table} v JOIN batches b USING (batch_id) WHERE b.active "  # noqa: S608
            f"QUALIFY row_number() OVER (PARTITION BY {_key_list(k, 'v')} ORDER BY batch_id DESC, row_no DESC) = 1"
        )
        actual = f"SELECT {cols} FROM {k.table}"  # noqa: S608
        extra = _scalar(con, f"SELECT count(*) FROM ({actual} EXCEPT ALL {expected})")  # noqa: S608
        missing = _scalar(con, f"SELECT count(*) FROM ({expected} EXCEPT ALL {actual})")  # noqa: S608
        if extra or missing:
            problems.append(
                f"{k.table}: {extra} rows not the newest active version, {missing} newest versions missing"
            )
    return problems


# --------------------------------------------------------------------------- writing an import


def write_plans(
    con: duckdb.DuckDBPyConnection,
    plans: Sequence[FilePlan],
    options: ImportOptions,
    file_paths: Sequence[str | Path] | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> list[BatchSummary]:
    """Write every sheet of every planned file in ONE transaction; one BatchSummary per sheet.

    ``file_paths[i]`` is where the bytes of ``plans[i]`` are (default: ``plans[i].path``);
    they go to the raw archive. A sheet identical to an existing batch is not
    written again (its summary says which batch it duplicates). With
    ``options.strict`` any rejected row refuses the whole import. On any error
    the database is left exactly as it was. ``progress`` hears of each sheet
    written (stage "writing", rows so far of all sheets' accepted rows).
    """
    plans = list(plans)
    sources = [Path(p) for p in file_paths] if file_paths is not None else [Path(p.path) for p in plans]
    if len(sources) != len(plans):
        raise ValueError("file_paths must give one path per plan")
    _refuse_empty_files(plans)
    if options.strict:
        _refuse_rejected(plans)
    mapping_to_save = _mapping_to_save(plans, options) if options.save_mapping else None
    archived = _archive_large_files(con, plans, sources)

    at = _now()
    summaries: list[BatchSummary] = []
    report = _WriteProgress(progress, plans)
    # the lock first: the write settings are the DuckDB instance's, shared by every session's cursor
    with _WRITE_LOCK, _bulk_write(con, report.total), _transaction(con, "the import failed"):
        for plan, source in zip(plans, sources, strict=True):
            notes = _skipped_sheet_notes(plan)
            file_summaries = []
            for i, sheet in enumerate(plan.sheets):
                report(plan, sheet, done=False)
                file_summaries.append(_write_sheet(con, plan, sheet, options, at, notes if i == 0 else []))
                report(plan, sheet, done=True)
            if any(s.batch_id is not None for s in file_summaries):
                _store_file(con, plan, source, archived.get(plan.sha256), at)
            summaries += file_summaries
        if mapping_to_save is not None:
            _save_mapping(con, options, mapping_to_save, at)
        if any(s.batch_id is not None for s in summaries):
            _bump_store_version(con)
    return summaries


@contextmanager
def _bulk_write(con: duckdb.DuckDBPyConnection, rows: int) -> Iterator[None]:
    """DuckDB settings for a write, put back afterwards.

    Not keeping insertion order lets each of DuckDB's threads write whole row
    groups of its own straight to the file (its optimistic write), so the
    commit and the close have little left to write: 100k tickets, write
    0.30 s -> 0.20 s with the stage in Arrow batches (_stage_rows); 10M, write and close
    61 s -> 32 s. From BULK_WRITE_ROWS rows on, a memory cap makes DuckDB
    spill to its temporary directory instead of growing (10M: peak 3.6 GB ->
    2.0 GB). Every reader of the store orders its rows, so their physical
    order does not matter.
    """
    ordered, limit = con.execute(
        "SELECT current_setting('preserve_insertion_order'), current_setting('memory_limit')"
    ).fetchone()
    capped = rows >= BULK_WRITE_ROWS
    if capped:
        con.execute("RESET memory_limit")
        default = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        con.execute(f"SET memory_limit = '{BULK_MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if ordered else 'false'}")
        if capped:  # a limit someone set comes back as DuckDB prints it (rounded to 0.1 GiB)
            con.execute("RESET memory_limit" if limit == default else f"SET memory_limit = '{limit}'")


class _WriteProgress:
    """ProgressEvents of write_plans: accepted rows of the sheets written so far, of all sheets."""

    def __init__(self, progress, plans: Sequence[FilePlan]):
        self.progress = progress
        self.total = sum(sheet.accepted for plan in plans for sheet in plan.sheets)
        self.done = 0
        self.started = time.monotonic()

    def __call__(self, plan: FilePlan, sheet: SheetPlan, done: bool) -> None:
        if self.progress is None:
            return
        if done:
            self.done += sheet.accepted
        self.progress(
            ProgressEvent(
                stage="writing",
                file=plan.file_name,
                sheet=sheet.sheet,
                rows_done=self.done,
                rows_total=self.total,
                fraction=self.done / self.total if self.total else float(done),
                elapsed=time.monotonic() - self.started,
            )
        )


def _refuse_empty_files(plans: Sequence[FilePlan]) -> None:
    for plan in plans:
        if not plan.sheets:
            why = "; ".join(plan.skipped_sheets) or "no sheet with a recognisable header"
            raise ImportRefused(f"{plan.file_name}: nothing to import ({why})")
    if all(_is_empty_sheet(s) for p in plans for s in p.sheets):
        names = ", ".join(p.file_name for p in plans)
        raise ImportRefused(
            f"{names}: nothing to import (a header but no data rows): export the data again with its rows"
        )


def _is_empty_sheet(sheet: SheetPlan) -> bool:
    """A header and nothing below it (no accepted and no rejected rows): never a batch."""
    return sheet.accepted == 0 and sheet.rejected_rows.num_rows == 0


def _refuse_rejected(plans: Sequence[FilePlan]) -> None:
    """--strict: any rejected row refuses the whole import, naming the count and the first reason."""
    total, first = 0, None
    for plan in plans:
        for sheet in plan.sheets:
            n = sheet.rejected_rows.num_rows
            if n and first is None:
                row = sheet.rejected_rows.slice(0, 1).to_pylist()[0]
                where = f"{plan.file_name}" + (f" sheet {sheet.sheet!r}" if sheet.sheet else "")
                first = f"{where} row {row['row_no']}: {row['reason']}"
            total += n
    if total:
        rows = "row was" if total == 1 else "rows were"
        raise ImportRefused(f"--strict: {total} {rows} rejected, nothing imported; first: {first}")


def _mapping_to_save(plans: Sequence[FilePlan], options: ImportOptions) -> SheetPlan:
    """The one sheet layout --save-mapping stores; several different layouts are refused."""
    sheets = [s for p in plans for s in p.sheets]
    layouts = {(s.kind, s.layout_signature) for s in sheets}
    if len(layouts) != 1:
        raise ImportRefused(
            f"--save-mapping {options.save_mapping!r} needs one sheet layout but this import has "
            f"{len(layouts)}; import that file (or use --kind) on its own to save the mapping"
        )
    return sheets[0]


def _save_mapping(con, options: ImportOptions, sheet: SheetPlan, at: datetime) -> None:
    con.execute(
        "INSERT OR REPLACE INTO mappings (name, kind, layout_signature, mapping, constants, created_at, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            options.save_mapping,
            sheet.kind,
            sheet.layout_signature,
            json.dumps(sheet.mapping),
            json.dumps(sheet.constants),
            at,
            options.who,
        ],
    )
    _audit(con, at, options.who, "mapping", None, None, {"name": options.save_mapping, "kind": sheet.kind})


def _skipped_sheet_notes(plan: FilePlan) -> list[str]:
    """Sheets plan_file left out, reported (and kept) as warnings of the file's first batch."""
    return [f"not imported: {why}" for why in plan.skipped_sheets]


# ----------------------------------------------------------------- one sheet


def _write_sheet(
    con, plan: FilePlan, sheet: SheetPlan, options: ImportOptions, at: datetime, notes: list[str]
) -> BatchSummary:
    kind = _kind(sheet.kind)
    if _is_empty_sheet(sheet):
        return _empty_sheet_summary(plan, sheet, kind, notes)
    spilled = sheet.spilled is not None
    if spilled:
        _stage_spilled_rows(con, kind, sheet.spilled.files)
    else:
        _stage_rows(con, kind, sheet.accepted_rows)
    content = _content_sha256(con, kind, sheet.rejected_rows)
    duplicate = _find_identical(con, content)
    if duplicate is not None:
        _drop_stage(con, spilled)  # it holds every row: not kept in a long-lived connection (the app's)
        summary = _duplicate_summary(plan, sheet, kind, duplicate)
        summary.warnings += notes
        return summary

    batch_id = int(_scalar(con, "SELECT nextval('batch_seq')"))
    extra_superseded, latest_is_view = _keep_latest_per_key(con, kind, checked=sheet.keys_unique)
    new, changed, unchanged = _compare_with_current(con, kind)
    _append_versions(con, kind, batch_id)
    _replace_current(con, kind, batch_id)
    n_rejected = _store_rejected(con, sheet.rejected_rows, batch_id)

    summary = BatchSummary(
        batch_id=batch_id,
        file=plan.file_name,
        sheet=sheet.sheet,
        kind=kind.name,
        sha256=plan.sha256,
        active=True,
        new=new,
        changed=changed,
        unchanged=unchanged,
        superseded=sheet.superseded + extra_superseded,
        rejected=n_rejected,
        skipped=sheet.skipped,
        warnings=list(sheet.warnings) + notes,
        imported_at=at.isoformat(sep=" "),
        who=options.who,
    )
    _insert_batch_row(con, summary, sheet, content, options, at)
    _audit(con, at, options.who, "import", batch_id, plan.sha256, _counts(summary))
    _drop_temp(con, latest_is_view)
    _drop_stage(con, spilled)
    return summary


def _stage_rows(con, kind: Kind, rows: pa.Table) -> None:
    """The accepted rows as the stage: a view casting them to the store's types, with their row hash.

    A view over the plan's Arrow rows, in batches of STAGE_BATCH_ROWS, not a
    copy: every thread of DuckDB takes batches of it, and each writes whole
    row groups of its own (rmdash.db.ROW_GROUP_ROWS). A temp table was
    scanned one row group (122,880 rows) per thread, so a 100k-row sheet was
    staged, compared and written on one core: write 0.30 s -> 0.20 s, and
    the copy's memory is saved. The hash is computed only by the statements
    that read it (DuckDB drops unused columns of a view).
    """
    if "row_no" not in rows.column_names:
        rows = rows.append_column("row_no", pa.nulls(rows.num_rows, pa.int64()))
    present = [name for name, _ in _data_columns(kind) if name in rows.column_names]
    source = rows.select([*present, "row_no"])
    con.register(
        _SRC, pa.Table.from_batches(source.to_batches(max_chunksize=STAGE_BATCH_ROWS), source.schema)
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW {_STAGE} AS {_stage_query(kind, _SRC, present)}")


def _stage_query(kind: Kind, source: str, present: list[str]) -> str:
    """SELECT of the stage from ``source`` (a relation with columns ``present`` + row_no), cast to the store's types."""
    casts = ", ".join(
        f'CAST(src."{name}" AS {sql_type}) AS "{name}"'
        if name in present
        else f'CAST(NULL AS {sql_type}) AS "{name}"'
        for name, sql_type in _data_columns(kind)
    )
    return (
        f"SELECT *, {_row_hash(kind)} AS row_hash FROM "  # noqa: S608
        f"(SELECT {casts}, CAST(src.row_no AS INTEGER) AS row_no FROM {source} src)"
    )


def _stage_spilled_rows(con, kind: Kind, files: list[str]) -> None:
    """Like _stage_rows, from the Parquet parts of a large sheet, as a temp table: DuckDB reads
    them streaming and may spill the table to disk; a view would read every file once per statement."""
    source = "read_parquet($files, union_by_name = true)"
    query = _stage_query(kind, source, [name for name, _ in _data_columns(kind)])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS {query}", {"files": list(files)})


def _content_sha256(con, kind: Kind, rejected: pa.Table) -> str:
    """Identity of a sheet's content: its kind, the set of its accepted row hashes and its rejected rows.

    Options that change values (constants, date order, survey scale) change the
    rows and so the identity; a re-saved file with the same data keeps it.
    """
    rows_digest = _row_hashes_digest(con)
    rejected_digest = ""
    if rejected.num_rows:
        con.register(_REJ, rejected)
        try:
            rejected_digest = _scalar(
                con,
                "SELECT sha256(string_agg(concat_ws('|', row_no, coalesce(reason, ''), coalesce(raw, '')), "  # noqa: S608
                f"chr(10) ORDER BY row_no, reason)) FROM {_REJ}",
            )
        finally:
            con.unregister(_REJ)
    return hashlib.sha256(f"{kind.name}\n{rows_digest}\n{rejected_digest}".encode()).hexdigest()


def _row_hashes_digest(con) -> str:
    """Identity of the multiset of the stage's row hashes: count, sum(h), sum(hash(h)), in one pass.

    Order-independent: the same rows in any order give the same count and sums
    (a sorted text concatenation gave the same for 45 ms per 100k rows; this is 2 ms).
    Duplicated rows count, as sums do. Any other multiset of hashes differs in
    count, or must change sum(h) by exactly zero (its changes cancel: chance
    about 2^-64 for 64-bit hashes, the same odds as a changed row keeping its
    row hash at all) AND, independently, sum(hash(h)), a second, nonlinear mix
    of every hash. The sums are exact (HUGEINT), so nothing wraps around.
    """
    [(count, plain, mixed)] = _rows(
        con,
        f"SELECT count(*), coalesce(sum(row_hash), 0), coalesce(sum(hash(row_hash)), 0) FROM {_STAGE}",  # noqa: S608
    )
    return f"rows {count} {plain} {mixed}"


def _find_identical(con, content: str) -> tuple[int, bool] | None:
    """(batch_id, active) of a batch with the same content, preferring an active one."""
    rows = _rows(
        con,
        "SELECT batch_id, active FROM batches WHERE content_sha256 = ? ORDER BY active DESC, batch_id DESC LIMIT 1",
        [content],
    )
    return (rows[0][0], bool(rows[0][1])) if rows else None


def _duplicate_summary(
    plan: FilePlan, sheet: SheetPlan, kind: Kind, duplicate: tuple[int, bool]
) -> BatchSummary:
    batch_id, active = duplicate
    if active:
        message = f"identical to batch {batch_id}, nothing changed"
    else:
        message = f"identical to undone batch {batch_id}: use `redo {batch_id}`"
    return _not_a_batch(
        plan, sheet, kind, active=active, unchanged=sheet.accepted, duplicate_of=batch_id, warnings=[message]
    )


def _empty_sheet_summary(plan: FilePlan, sheet: SheetPlan, kind: Kind, notes: list[str]) -> BatchSummary:
    """A sheet with a header and no rows beside sheets with data: reported, not a batch."""
    warnings = [w for w in sheet.warnings if w != "no data rows below the header"]
    return _not_a_batch(
        plan,
        sheet,
        kind,
        active=False,
        skipped=sheet.skipped,
        warnings=["no data rows below the header: nothing imported", *warnings, *notes],
    )


def _not_a_batch(plan: FilePlan, sheet: SheetPlan, kind: Kind, **counts) -> BatchSummary:
    """The summary of a sheet that wrote nothing (identical to a batch, or empty): no batch id."""
    return BatchSummary(
        batch_id=None, file=plan.file_name, sheet=sheet.sheet, kind=kind.name, sha256=plan.sha256, **counts
    )


def _keep_latest_per_key(con, kind: Kind, checked: bool = False) -> tuple[int, bool]:
    """The last row per key of this sheet as ``_LATEST``; returns how many rows that drops
    and whether ``_LATEST`` is a view (for _drop_temp).

    plan_file already dedups (``checked``: SheetPlan.keys_unique), so ``_LATEST``
    is then a view of the stage; for a plan built otherwise, one hash aggregate
    (cheaper than copying the stage) guards the invariant.
    """
    repeated = (
        0
        if checked
        else _scalar(
            con,
            f"SELECT count(*) FROM (SELECT 1 FROM {_STAGE} GROUP BY {_key_list(kind)} HAVING count(*) > 1)",  # noqa: S608
        )
    )
    if not repeated:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_LATEST} AS SELECT * FROM {_STAGE}")  # noqa: S608
        return 0, True
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_LATEST} AS SELECT * FROM {_STAGE} "  # noqa: S608
        f"QUALIFY row_number() OVER (PARTITION BY {_key_list(kind)} ORDER BY row_no DESC) = 1"
    )
    dropped = _scalar(con, f"SELECT (SELECT count(*) FROM {_STAGE}) - (SELECT count(*) FROM {_LATEST})")  # noqa: S608
    return int(dropped), False


def _compare_with_current(con, kind: Kind) -> tuple[int, int, int]:
    """(new, changed, unchanged) keys of this sheet against the current rows of the same key."""
    new, changed, unchanged = _rows(
        con,
        f"""
        SELECT count(*) FILTER (WHERE c.row_hash IS NULL),
               count(*) FILTER (WHERE c.row_hash <> s.row_hash),
               count(*) FILTER (WHERE c.row_hash = s.row_hash)
        FROM {_LATEST} s
        LEFT JOIN (SELECT {_key_list(kind)}, {_row_hash(kind)} AS row_hash FROM {kind.table}) c
          ON {_key_match(kind, "s", "c")}
        """,  # noqa: S608
    )[0]
    return int(new), int(changed), int(unchanged)


def _append_versions(con, kind: Kind, batch_id: int) -> None:
    cols = _col_list(kind)
    con.execute(
        f"INSERT INTO {kind.versions_table} ({cols}, batch_id, row_no, row_hash) "  # noqa: S608
        f"SELECT {cols}, $batch_id, row_no, row_hash FROM {_STAGE}",
        {"batch_id": batch_id},
    )


def _replace_current(con, kind: Kind, batch_id: int) -> None:
    """Every key of this batch now points at this batch's version (it is the newest)."""
    cols = _col_list(kind)
    con.execute(f"DELETE FROM {kind.table} USING {_LATEST} s WHERE {_key_match(kind, kind.table, 's')}")  # noqa: S608
    con.execute(
        f"INSERT INTO {kind.table} ({cols}, batch_id, row_no) SELECT {cols}, $batch_id, row_no FROM {_LATEST}",  # noqa: S608
        {"batch_id": batch_id},
    )


def _store_rejected(con, rejected: pa.Table, batch_id: int) -> int:
    """Rejected rows (row_no, reason, raw JSON text) of the batch."""
    if not rejected.num_rows:
        return 0
    con.register(_REJ, rejected)
    try:
        con.execute(
            f"INSERT INTO rejected_rows (batch_id, row_no, reason, raw) "  # noqa: S608
            f"SELECT $batch_id, CAST(row_no AS INTEGER), reason, CAST(raw AS JSON) FROM {_REJ}",
            {"batch_id": batch_id},
        )
    finally:
        con.unregister(_REJ)
    return rejected.num_rows


def _insert_batch_row(con, s: BatchSummary, sheet: SheetPlan, content: str, options: ImportOptions, at):
    con.execute(
        """
        INSERT INTO batches (batch_id, file_name, sheet, kind, sha256, content_sha256, active,
            rows_new, rows_changed, rows_unchanged, rows_superseded, rows_rejected, rows_skipped,
            header_row, mapping, options, warnings, imported_at, imported_by)
        VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            s.batch_id,
            s.file,
            s.sheet,
            s.kind,
            s.sha256,
            content,
            s.new,
            s.changed,
            s.unchanged,
            s.superseded,
            s.rejected,
            s.skipped,
            sheet.header_row,
            json.dumps(sheet.mapping),
            json.dumps(_options_record(options, sheet)),
            json.dumps(s.warnings),
            at,
            options.who,
        ],
    )


def _options_record(options: ImportOptions, sheet: SheetPlan) -> dict:
    """What the user asked for plus what the plan decided (kind reason, date orders), for the record."""
    record = {k: v for k, v in asdict(options).items() if k != "who"}
    record.update(
        kind_reason=sheet.kind_reason,
        date_orders=sheet.date_orders,
        ambiguous_dates=sheet.ambiguous_dates,
        constants_applied=sheet.constants,
        preset=sheet.preset,
    )
    return record


def _counts(s: BatchSummary) -> dict:
    return {
        "file": s.file,
        "sheet": s.sheet,
        "kind": s.kind,
        "new": s.new,
        "changed": s.changed,
        "unchanged": s.unchanged,
        "superseded": s.superseded,
        "rejected": s.rejected,
        "skipped": s.skipped,
    }


def _drop_temp(con, latest_is_view: bool = False) -> None:
    """Drop this write's temp tables. ``_LATEST`` is a view when the stage's keys were unique
    (_keep_latest_per_key says which; DROP TABLE of a view would abort the transaction)."""
    if latest_is_view:
        con.execute(f"DROP VIEW {_LATEST}")
    tables = (_KEYS,) if latest_is_view else (_LATEST, _KEYS)
    con.execute("; ".join(f"DROP TABLE IF EXISTS {table}" for table in tables))


def _drop_stage(con, spilled: bool) -> None:
    """Drop a sheet's stage: a spilled sheet's temp table, or the view over its registered rows."""
    if spilled:
        con.execute(f"DROP TABLE {_STAGE}")
    else:
        con.execute(f"DROP VIEW {_STAGE}")
        con.unregister(_SRC)


# ----------------------------------------------------------------- the raw archive


def _database_dir(con) -> Path | None:
    path = _scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    return Path(path).resolve().parent if path else None


def _archive_large_files(con, plans: Sequence[FilePlan], sources: Sequence[Path]) -> dict[str, str]:
    """Copy uploads above the threshold to ``<db dir>/archive/<sha256>`` before the transaction.

    Returns sha256 -> archive path relative to the database directory. The copy
    is written to a temporary name and renamed, so a crash leaves either no
    file or a complete one; the name is the content's hash, so a leftover file
    is simply reused by the next import of the same upload.
    """
    db_dir = _database_dir(con)
    archived: dict[str, str] = {}
    for plan, source in zip(plans, sources, strict=True):
        size = _source_size(plan, source)
        if db_dir is None or size <= ARCHIVE_THRESHOLD_BYTES or plan.sha256 in archived:
            continue
        relative = f"{ARCHIVE_DIR_NAME}/{plan.sha256}"
        target = db_dir / relative
        if not target.exists():  # named by content hash: an existing copy is complete (renamed in)
            target.parent.mkdir(parents=True, exist_ok=True)
            _remove_partials_of_killed_imports(target.parent)
            partial = target.with_name(f".{plan.sha256}.{os.getpid()}.partial")
            try:
                digest = _copy_hashing(source, partial)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                reason = DISK_FULL_MESSAGE if _is_disk_full(exc) else _one_line(exc.strerror or exc)
                raise RmdashError(
                    f"{plan.file_name}: cannot copy it to the archive, nothing was changed: {reason}"
                ) from exc
            if digest != plan.sha256:
                partial.unlink(missing_ok=True)
                raise ImportRefused(_changed_message(plan))
            strip_macros_in_place(partial)  # .xlsm: its macros never kept
            os.replace(partial, target)
        archived[plan.sha256] = relative
    return archived


def _remove_partials_of_killed_imports(archive_dir: Path) -> None:
    """Delete half copies (``.<sha256>.<pid>.partial``) left by imports that were killed mid-copy.

    A copy in progress belongs to a live process; a process id the system
    has given to another process since keeps its file, which is the safe side.
    """
    for partial in archive_dir.glob(".*.partial"):
        try:
            pid = int(partial.name.rsplit(".", 2)[-2])
        except ValueError:
            continue
        if pid != os.getpid() and not _process_alive(pid):
            partial.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, another user's
        return True
    return True


def _source_size(plan: FilePlan, source: Path) -> int:
    try:
        return source.stat().st_size
    except OSError:
        raise ImportRefused(f"{plan.file_name}: the file is no longer there; upload it again") from None


def _copy_hashing(source: Path, target: Path) -> str:
    sha = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(8 * 1024 * 1024):
            sha.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return sha.hexdigest()


def _changed_message(plan: FilePlan) -> str:
    return f"{plan.file_name} changed while it was being imported; import it again"


def _store_file(con, plan: FilePlan, source: Path, archive_path: str | None, at: datetime) -> None:
    """The original bytes, once per distinct content (sha256)."""
    if _scalar(con, "SELECT count(*) FROM files WHERE sha256 = ?", [plan.sha256]):
        return
    if archive_path is not None:
        content, size = None, _source_size(plan, source)
    else:
        try:
            content = source.read_bytes()
        except OSError:
            raise ImportRefused(f"{plan.file_name}: the file is no longer there; upload it again") from None
        if hashlib.sha256(content).hexdigest() != plan.sha256:
            raise ImportRefused(_changed_message(plan))
        content = without_macros(content)  # .xlsm: read as data, its macros never kept
        size = len(content)
    con.execute(
        "INSERT INTO files (sha256, file_name, size, content, archive_path, first_seen) VALUES (?, ?, ?, ?, ?, ?)",
        [plan.sha256, plan.file_name, size, content, archive_path, at],
    )


def read_archived_file(con: duckdb.DuckDBPyConnection, sha256: str) -> bytes:
    """The original bytes of an upload, from the database or the archive directory."""
    rows = _rows(con, "SELECT content, archive_path FROM files WHERE sha256 = ?", [sha256])
    if not rows:
        raise RmdashError(f"no archived file with sha256 {sha256}")
    content, archive_path = rows[0]
    if content is not None:
        return bytes(content)
    db_dir = _database_dir(con)
    if db_dir is None:
        raise RmdashError("this in-memory database has no archive directory")
    return (db_dir / archive_path).read_bytes()


# --------------------------------------------------------------------------- undo / redo


def set_active(con: duckdb.DuckDBPyConnection, batch_id: int, active: bool, who: str) -> BatchSummary:
    """Undo (active=False) or redo (active=True) a batch, in one transaction.

    Only the keys that batch touched are recomputed: their current row becomes
    the newest version among active batches (or disappears).
    """
    batch = get_batch(con, batch_id)
    if batch.active == active:
        if active:
            raise RmdashError(f"batch {batch_id} is active; there is nothing to redo")
        raise RmdashError(f"batch {batch_id} is already undone; `redo {batch_id}` restores it")
    kind = _kind(batch.kind)
    action = "redo" if active else "undo"
    at = _now()
    with _transaction(con, f"{action} of batch {batch_id} failed"):
        con.execute("UPDATE batches SET active = ? WHERE batch_id = ?", [active, batch_id])
        keys = _recompute_keys_of_batch(con, kind, batch_id)
        _audit(con, at, who, action, batch_id, batch.sha256, {"kind": kind.name, "keys": keys})
        _bump_store_version(con)
    batch.active = active
    return batch


def _recompute_keys_of_batch(con, kind: Kind, batch_id: int) -> int:
    """Recompute the current rows of the keys ``batch_id`` has versions of; returns how many keys."""
    keys = _key_list(kind)
    cols = _col_list(kind, "v")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_KEYS} AS "  # noqa: S608
        f"SELECT DISTINCT {keys} FROM {kind.versions_table} WHERE batch_id = $batch_id",
        {"batch_id": batch_id},
    )
    con.execute(f"DELETE FROM {kind.table} USING {_KEYS} k WHERE {_key_match(kind, kind.table, 'k')}")  # noqa: S608
    con.execute(
        f"""
        INSERT INTO {kind.table} ({_col_list(kind)}, batch_id, row_no)
        SELECT {cols}, v.batch_id, v.row_no
        FROM {kind.versions_table} v
        JOIN {_KEYS} k ON {_key_match(kind, "v", "k")}
        JOIN batches b ON b.batch_id = v.batch_id AND b.active
        QUALIFY row_number() OVER (PARTITION BY {_key_list(kind, "v")} ORDER BY v.batch_id DESC, v.row_no DESC) = 1
        """  # noqa: S608
    )
    n = int(_scalar(con, f"SELECT count(*) FROM {_KEYS}"))  # noqa: S608
    _drop_temp(con)
    return n


__all__ = [
    "ARCHIVE_THRESHOLD_BYTES",
    "BUSY_MESSAGE",
    "audit_log",
    "current_rows",
    "get_batch",
    "list_batches",
    "open_store",
    "read_archived_file",
    "rejected_rows",
    "rejected_rows_wide",
    "saved_mappings",
    "set_active",
    "shared_cursor",
    "close_shared",
    "store_version",
    "verify_store",
    "write_plans",
]
