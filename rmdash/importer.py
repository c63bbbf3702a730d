"""Import files into the store: plan every file first, then write them all in ONE transaction.

Purpose: the one import path used by the CLI, the demo loader and (through
``import_plans``) the upload page. Reading, mapping and validating a file is
rmdash.plan's business; writing batches is rmdash.store's. Boundary: this
module only orders the two so that a file that cannot be read refuses the
whole import before anything is written, and the database lock is held only
while writing, not while large spreadsheets are parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from rmdash import store
from rmdash.model import BatchSummary, FilePlan, ImportOptions, RmdashError
from rmdash.plan import plan_file


def import_files(
    db: str | Path | duckdb.DuckDBPyConnection,
    paths: Sequence[str | Path],
    options: ImportOptions,
) -> list[BatchSummary]:
    """Plan every file (nothing written), then write every sheet as a batch in one transaction.

    ``db`` is a store path (opened here, and closed) or an open connection.
    Any file that cannot be imported refuses the whole import (ImportRefused,
    RmdashError) and leaves the database untouched.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise RmdashError("no file to import; name at least one")
    if isinstance(db, duckdb.DuckDBPyConnection):
        plans = plan_files(paths, options, store.saved_mappings(db))
        return store.write_plans(db, plans, options, paths)

    plans = plan_files(paths, options, _saved_mappings_at(Path(db)))
    con = store.open_store(db)
    try:
        return store.write_plans(con, plans, options, paths)
    finally:
        con.close()


def import_plans(
    con: duckdb.DuckDBPyConnection, plans: Sequence[FilePlan], options: ImportOptions
) -> list[BatchSummary]:
    """Write plans the caller already made and showed (the upload page's preview), in one transaction."""
    return store.write_plans(con, plans, options)


def plan_files(paths: Sequence[Path], options: ImportOptions, saved_mappings: list[dict]) -> list[FilePlan]:
    """Plan every file; the first one that cannot be imported stops the whole import."""
    return [plan_file(path, options, saved_mappings=saved_mappings) for path in paths]


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
