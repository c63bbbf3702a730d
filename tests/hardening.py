"""Shared tools of the hardening tests: a store fingerprint and a runner measuring each import's peak memory.

``fingerprint(db)`` is a digest of every table of a store file (row count and
the sum of the rows' hashes), so "the database is identical to before" is one
comparison. ``ImportRunner`` is a warm Python process (rmdash, DuckDB, pyarrow
and fastexcel already imported) that forks one child per import and reads the
child's peak resident memory with ``os.wait4``; a child that hangs is killed
by its own alarm (a hang guard, not a timing assertion). ``markdown_texts``
and ``unsafe_fragments`` find user text that an AppTest screen would render
as Markdown without escaping.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
HANG_GUARD_SECONDS = 180  # a child still running after this is killed: the test then fails as a hang
MEMORY_BOUND_MB = 1024  # generous: a 300k-row xlsx peaks at ~450 MB (docs: measured-limits)


def fingerprint(db: Path | str) -> dict[str, tuple[int, int]]:
    """{table: (row count, sum of its rows' hashes)} for every table of the store at ``db``.

    The sum is order-free and counts a duplicated row twice, so any added,
    removed or changed row (one cell is enough) changes it.
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() AND NOT temporary ORDER BY table_name"
            ).fetchall()
        ]
        return {
            table: tuple(
                con.execute(
                    f'SELECT count(*), coalesce(sum(hash(x)::HUGEINT), 0) FROM "{table}" x'  # noqa: S608
                ).fetchone()
            )
            for table in tables
        }
    finally:
        con.close()


@dataclass
class ChildResult:
    exit_code: int | None  # None when the child died of a signal
    signal: int | None
    peak_rss_mb: float
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        return self.stderr.strip()


_RUNNER = r"""
import json, os, resource, signal, sys, traceback
sys.path[:0] = [sys.argv[1]]
import duckdb, fastexcel, numpy, pandas, pyarrow, pyarrow.csv, pyarrow.compute  # the children inherit them
from rmdash import cli, importer, plan, store
from rmdash.model import ImportOptions, RmdashError


def upload(job):
    # the upload page's route: plan with the browser's file name as a label, then write the plan
    try:
        planned = plan.plan_file(job["path"], ImportOptions(), display_name=job["display_name"])
        con = store.open_store(job["db"])
        try:
            summaries = importer.import_plans(con, [planned], ImportOptions(who="upload"))
        finally:
            con.close()
    except RmdashError as err:
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
        return 2
    print(json.dumps([s.to_json() for s in summaries], default=str))
    return 0


def child(job):
    signal.alarm(job["hang_guard"])
    os.chdir(job["cwd"])
    out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    code = 3
    try:
        if job["mode"] == "cli":
            code = cli.main(job["argv"])
        elif job["mode"] == "upload":
            code = upload(job)
        elif job["mode"] == "allocate":  # calibration: proves the measurement sees memory
            block = bytearray(job["mb"] * 1024 * 1024)
            block[:: 4096] = b"x" * len(block[:: 4096])
            code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


print(json.dumps({"ready": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(job)
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps({
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "maxrss_kb": usage.ru_maxrss,
    }), flush=True)
"""


class ImportRunner:
    """A warm process that runs each import in a forked child and reports the child's peak RSS."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.count = 0
        env = {k: v for k, v in os.environ.items() if k not in ("RMDASH_DB", "RMDASH_CONFIG")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, str(REPO)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.baseline_mb = self._reply()["ready"] / 1024

    def _reply(self) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG_GUARD_SECONDS + 60)
        assert ready, "the import runner stopped answering"
        line = self.proc.stdout.readline()
        assert line, "the import runner died"
        return json.loads(line)

    def run(self, mode: str, cwd: Path | None = None, **job) -> ChildResult:
        self.count += 1
        out = self.workdir / f"child-{self.count}.out"
        err = self.workdir / f"child-{self.count}.err"
        job.update(
            mode=mode,
            cwd=str(cwd or self.workdir),
            stdout=str(out),
            stderr=str(err),
            hang_guard=HANG_GUARD_SECONDS,
        )
        self.proc.stdin.write(json.dumps(job, default=str) + "\n")
        self.proc.stdin.flush()
        reply = self._reply()
        return ChildResult(
            exit_code=reply["exit_code"],
            signal=reply["signal"],
            peak_rss_mb=reply["maxrss_kb"] / 1024,
            stdout=out.read_text("utf-8", errors="replace"),
            stderr=err.read_text("utf-8", errors="replace"),
        )

    def cli_import(self, path: Path, db: Path, *flags: str, cwd: Path | None = None) -> ChildResult:
        """`python -m rmdash import PATH --db DB --json` in a forked child."""
        return self.run("cli", cwd=cwd, argv=["import", str(path), "--db", str(db), "--json", *flags])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ---------------------------------------------------------------- what a page renders as Markdown

MARKDOWN_ELEMENTS = {
    "markdown",
    "caption",
    "title",
    "header",
    "subheader",
    "error",
    "warning",
    "info",
    "success",
}


def markdown_texts(at) -> list[tuple[str, str]]:
    """(element type, text) of everything on an AppTest screen that Streamlit renders as Markdown:
    text elements, headings, alerts, and every element's label and help."""
    out = []
    for node in at._tree:
        kind = getattr(node, "type", type(node).__name__)
        if kind in MARKDOWN_ELEMENTS:
            out.append((kind, str(node.value)))
        proto = getattr(node, "proto", None)
        for attr in ("label", "help"):
            text = getattr(proto, attr, None) if proto is not None else None
            if isinstance(text, str) and text:
                out.append((f"{kind}.{attr}", text))
    return out


def _escapes_masked(text: str) -> str:
    """The text with every backslash-escaped character masked: what is left is what Markdown reads."""
    return re.sub(r"\\.", "\x00", text)


def unsafe_fragments(texts: list[tuple[str, str]], tokens: list[str]) -> list[tuple[str, str, str]]:
    """The hostile ``tokens`` a Markdown renderer would read as markup (present and not escaped)."""
    return [
        (kind, token, text[:120])
        for kind, text in texts
        for token in tokens
        if token in _escapes_masked(text)
    ]
