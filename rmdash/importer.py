"""Import files into the store: plan every file first, then write them all in ONE transaction.

Purpose: the one import path used by the CLI, the demo loader and (through
``import_plans``) the upload page. Reading, mapping and validating a file is
rmdash.plan's business; writing batches is rmdash.store's. Boundary: this
module only orders the two so that a file that cannot be read refuses the
whole import before anything is written, and the database lock is held only
while writing, not while large spreadsheets are parsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb

from rmdash import store, trace
from rmdash.model import BatchSummary, FilePlan, ImportOptions, ProgressEvent, RmdashError
from rmdash.plan import plan_file, start_scratch_duckdb
from rmdash.readahead import being_read_ahead

Progress = Callable[[ProgressEvent], None]
# Share of an import's progress bar given to reading and typing (the rest is writing):
# measured at 1M-10M tickets, planning takes roughly two thirds of the time.
PLAN_SHARE = 0.7


def import_files(
    db: str | Path | duckdb.DuckDBPyConnection,
    paths: Sequence[str | Path],
    options: ImportOptions,
    progress: Progress | None = None,
) -> list[BatchSummary]:
    """Plan every file (nothing written), then write every sheet as a batch in one transaction.

    ``db`` is a store path (opened here, and closed) or an open connection.
    Any file that cannot be imported refuses the whole import (ImportRefused,
    RmdashError) and leaves the database untouched. ``progress`` is called
    as files are read, typed and written, last with stage "done" (fraction 1).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise RmdashError("no file to import; name at least one")
    started = time.monotonic()
    if isinstance(db, duckdb.DuckDBPyConnection):
        plans = plan_files(paths, options, store.saved_mappings(db), progress)
        return _write(db, plans, options, paths, progress, started)

    trace.mark("importer: planning")
    _start_scratch_duckdb_while_reading(paths)
    plans = plan_files(paths, options, _saved_mappings_at(Path(db)), progress)
    _return_freed_arrow_memory()
    trace.mark("importer: planned")
    con = store.open_store(db)
    trace.mark("importer: store open")
    try:
        return _write(con, plans, options, paths, progress, started)
    finally:
        trace.mark("importer: written and committed")
        con.close()
        trace.mark("importer: store closed")


def import_plans(
    con: duckdb.DuckDBPyConnection,
    plans: Sequence[FilePlan],
    options: ImportOptions,
    progress: Progress | None = None,
) -> list[BatchSummary]:
    """Write plans the caller already made and showed (the upload page's preview), in one transaction."""
    return _write(con, list(plans), options, None, progress, time.monotonic(), plan_share=0.0)


def plan_files(
    paths: Sequence[Path],
    options: ImportOptions,
    saved_mappings: list[dict],
    progress: Progress | None = None,
) -> list[FilePlan]:
    """Plan every file; the first one that cannot be imported stops the whole import."""
    plans = []
    for i, path in enumerate(paths):
        scaled = _scaled(progress, i / len(paths) * PLAN_SHARE, PLAN_SHARE / len(paths))
        plans.append(plan_file(path, options, saved_mappings=saved_mappings, progress=scaled))
    return plans


def _start_scratch_duckdb_while_reading(paths: list[Path]) -> None:
    """Start the plan's scratch DuckDB instance while a workbook is still being read ahead.

    Why: the main thread only waits for the read-ahead there, and starting an
    instance costs 20-60 ms on a busy machine. Only the scratch instance: the
    store's started there too (a named in-memory instance, see
    rmdash.db.open_db) saved 20 ms more but raised the import's peak memory by
    20-50 MB at 100k tickets, and its lock is taken only to write anyway.
    """
    if any(being_read_ahead(path) for path in paths):
        start_scratch_duckdb()


def _return_freed_arrow_memory() -> None:
    """Give the memory Arrow freed while reading and typing back to the system before DuckDB writes.

    Arrow's allocator (mimalloc) keeps freed pages for reuse; DuckDB allocates
    its own, so without this the write's memory comes on top of the read's
    leftovers: 100k tickets peak 310 MB -> 245 MB (the raw read alone: 138 MB).
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _write(con, plans, options, paths, progress, started: float, plan_share: float = PLAN_SHARE):
    scaled = _scaled(progress, plan_share, 1.0 - plan_share)
    summaries = store.write_plans(con, plans, options, paths, progress=scaled)
    if progress is not None:
        written = sum(s.accepted for p in plans for s in p.sheets)
        progress(
            ProgressEvent(
                stage="done",
                file=plans[-1].file_name if plans else "",
                rows_done=written,
                rows_total=written,
                fraction=1.0,
                elapsed=time.monotonic() - started,
            )
        )
    return summaries


def _scaled(progress: Progress | None, offset: float, share: float) -> Progress | None:
    """A callback that maps a stage's own fraction [0, 1] onto [offset, offset + share] of the import."""
    if progress is None:
        return None
    return lambda event: progress(replace(event, fraction=offset + share * event.fraction))


def _saved_mappings_at(db_path: Path) -> list[dict]:
    """Saved mappings of the store at ``db_path`` (none when it does not exist yet).

    Opened read-only and closed again at once, so another process may use the
    database while the files are being read.
    """
    if not db_path.exists():
        return []
    con = store.open_store(db_path, read_only=True)
    try:
        return store.saved_mappings(con)
    finally:
        con.close()
