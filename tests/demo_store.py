"""The demo store for tests: generated once per test process, copied for each user.

load_demo (generate, write the workbooks, import them) takes seconds; copying
the finished DuckDB file takes milliseconds. Each caller gets its own copy, so
tests that upload or undo never see another test's changes.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from tempfile import mkdtemp

import duckdb

from rmdash.demo import load_demo


@cache
def _built(end_month: str | None) -> Path:
    path = Path(mkdtemp(prefix="rmdash-demo-")) / "demo.duckdb"
    load_demo(path, end_month=end_month, samples_dir=None)
    con = duckdb.connect(str(path))
    con.execute("CHECKPOINT")  # everything in the one file, so a file copy is the whole store
    con.close()
    return path


def demo_copy(target: Path, end_month: str | None = None) -> Path:
    """A private copy of the demo store at ``target`` (window ending ``end_month``, default: last month)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_built(end_month), target)
    return target
