"""Benchmark: `python -m rmdash import` of one file vs the fastest raw read of the same file.

Purpose: show what an import costs over what reading the file costs at all.
Each measurement is a fresh subprocess (interpreter start included on both
sides), run alternately so machine noise hits both alike:

- import: ``python -m rmdash import FILE --db <fresh file>`` (end to end: safety
  checks, header and kind detection, typing, validation, one transaction into
  a new DuckDB store, raw archive);
- limit, xlsx: fastexcel -> Arrow, every sheet, the library's own type
  inference (the fastest xlsx reader measured here);
- limit, CSV: ``pyarrow.csv.read_csv`` -> Arrow (multi-threaded, type
  inference); DuckDB's ``read_csv`` is measured too and the faster of the two
  is the limit.

Peak memory is each child's own peak RSS (its VmHWM, sampled until it
exits), so no measurement inherits the benchmark process's own peak. Goals (docs/benchmarks.md): import
time <= 1.5x the raw read's, peak RSS <= 2x the raw read's.

Usage: ``.venv/bin/python -m bench.bench_import FILE [--runs N]``
(``bench/out/100k/tickets.xlsx`` is written by ``python -m bench.generate --tickets 100000
--out bench/out/100k --format xlsx --kinds tickets``).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

IMPORT_TIME_GOAL = 1.5  # import / raw read, medians
IMPORT_MEMORY_GOAL = 2.0  # import peak RSS / raw read peak RSS, medians

_RAW_XLSX = """
import sys, fastexcel
reader = fastexcel.read_excel(sys.argv[1])
rows = sum(reader.load_sheet(i).to_arrow().num_rows for i in range(len(reader.sheet_names)))
print(rows)
"""
_RAW_CSV_PYARROW = """
import sys, pyarrow.csv as pacsv
print(pacsv.read_csv(sys.argv[1]).num_rows)
"""
_RAW_CSV_DUCKDB = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(con.execute("SELECT * FROM read_csv(?)", [sys.argv[1]]).to_arrow_table().num_rows)
"""

# The floor, for the reader (not a goal): the simplest import that keeps the rows, the same raw
# read, then one DuckDB table in a new file (no typing, no checks, one copy, no history).
_FLOOR_XLSX = """
import sys, duckdb, fastexcel, pyarrow as pa
reader = fastexcel.read_excel(sys.argv[1])
con = duckdb.connect(sys.argv[2])
for i in range(len(reader.sheet_names)):
    sheet = pa.Table.from_batches([reader.load_sheet(i).to_arrow()])
    con.execute(f"CREATE TABLE sheet{i} AS SELECT * FROM sheet")
con.close()
"""
_FLOOR_CSV = """
import sys, duckdb
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE rows AS SELECT * FROM read_csv(?)", [sys.argv[1]])
con.close()
"""


@dataclass
class Sample:
    seconds: float  # wall clock
    peak_mb: float  # the child's own peak RSS
    cpu_seconds: float = 0.0  # user + system CPU of the child (steadier than wall time on a busy machine)


@dataclass
class Series:
    """Repeated measurements of one command."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def peak_mb(self) -> list[float]:
        return [s.peak_mb for s in self.samples]

    @property
    def cpu_seconds(self) -> list[float]:
        return [s.cpu_seconds for s in self.samples]

    def median_s(self) -> float:
        return statistics.median(self.seconds)

    def median_mb(self) -> float:
        return statistics.median(self.peak_mb)


def run_child(argv: list[str], env: dict | None = None) -> Sample:
    """Run a command to completion; its wall time, CPU time and its own peak RSS (MB).

    The peak is the child's VmHWM (its address space's high-water mark),
    sampled until it exits. ``ru_maxrss`` would not do: a child started from
    a large parent inherits the parent's high-water mark through fork/exec.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and scripts)
            argv, stdout=subprocess.DEVNULL, stderr=errors, cwd=ROOT, env=env
        )
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _high_water_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        err = errors.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {proc.returncode}: {err.strip()[-500:]}")
    return Sample(seconds=elapsed, peak_mb=peak_kb / 1024, cpu_seconds=usage.ru_utime + usage.ru_stime)


def _high_water_kb(pid: int) -> int:
    """VmHWM of a running process (Linux), 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def raw_readers(path: Path) -> dict[str, list[str]]:
    """The raw-read commands for a file: label -> argv."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return {"fastexcel -> Arrow": [PYTHON, "-c", _RAW_XLSX, str(path)]}
    return {
        "pyarrow.csv -> Arrow": [PYTHON, "-c", _RAW_CSV_PYARROW, str(path)],
        "DuckDB read_csv -> Arrow": [PYTHON, "-c", _RAW_CSV_DUCKDB, str(path)],
    }


def floor_reader(path: Path) -> tuple[str, str]:
    """(label, script) of the floor for a file: its raw read written as one DuckDB table (argv: file, db)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return "fastexcel -> one DuckDB table", _FLOOR_XLSX
    return "DuckDB read_csv -> one DuckDB table", _FLOOR_CSV


def import_argv(path: Path, db: Path) -> list[str]:
    return [PYTHON, "-m", "rmdash", "import", str(path), "--db", str(db)]


@dataclass
class ImportResult:
    file: Path
    rows: int | None
    size_mb: float
    runs: int
    imports: Series
    raws: dict[str, Series]
    db_mb: float = 0.0
    floor: Series | None = None  # the simplest import that keeps the rows (see _FLOOR_XLSX)

    @property
    def limit(self) -> Series:
        """The fastest raw reader (by median time)."""
        return min(self.raws.values(), key=Series.median_s)

    @property
    def time_ratio(self) -> float:
        return self.imports.median_s() / self.limit.median_s()

    @property
    def memory_ratio(self) -> float:
        return self.imports.median_mb() / self.limit.median_mb()

    @property
    def meets_time(self) -> bool:
        return self.time_ratio <= IMPORT_TIME_GOAL

    @property
    def meets_memory(self) -> bool:
        return self.memory_ratio <= IMPORT_MEMORY_GOAL


def measure(
    path: str | Path, runs: int = 3, rows: int | None = None, work_dir: Path | None = None
) -> ImportResult:
    """Alternate `runs` imports (each into a fresh store) with `runs` of every raw reader."""
    compile_rmdash()
    path = Path(path).resolve()
    raws = {label: Series(label) for label in raw_readers(path)}
    imports = Series("rmdash import")
    floor_label, floor_script = floor_reader(path)
    floor = Series(floor_label)
    db_mb = 0.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for i in range(runs):
            for label, argv in raw_readers(path).items():
                raws[label].samples.append(run_child(argv, env))
            store_dir = Path(tmp) / f"run{i}"
            store_dir.mkdir()
            db = store_dir / "bench.duckdb"
            imports.samples.append(run_child(import_argv(path, db), env))
            db_mb = sum(f.stat().st_size for f in store_dir.rglob("*") if f.is_file()) / 2**20
            floor.samples.append(
                run_child([PYTHON, "-c", floor_script, str(path), str(store_dir / "floor.duckdb")], env)
            )
            shutil.rmtree(store_dir)
    return ImportResult(
        file=path,
        rows=rows,
        size_mb=path.stat().st_size / 2**20,
        runs=runs,
        imports=imports,
        raws=raws,
        db_mb=db_mb,
        floor=floor,
    )


def compile_rmdash() -> None:
    """Write rmdash's bytecode (.pyc) before measuring, as any installed copy has it.

    Why: Python caches a module's compiled bytecode on its first import, unless
    PYTHONDONTWRITEBYTECODE is set, as it is on the machines these benchmarks
    ran on; every import process then compiled rmdash's 13k lines again (about
    70 ms of CPU), which no installed copy pays. The limit's libraries come
    compiled by pip.
    """
    compileall.compile_dir(ROOT / "rmdash", quiet=1)


def stats(xs: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(x) for x in (min(xs), statistics.median(xs), max(xs)))


def describe(result: ImportResult) -> str:
    """Plain-text lines for a terminal."""
    lines = [f"{result.file.name} ({result.size_mb:.1f} MB), {result.runs} runs, min / median / max"]
    for series in (result.imports, *result.raws.values(), *([result.floor] if result.floor else [])):
        lines.append(
            f"  {series.label:<26} {stats(series.seconds)} s (CPU {stats(series.cpu_seconds)} s)   "
            f"peak RSS {stats(series.peak_mb, '{:.0f}')} MB"
        )
    lines.append(
        f"  time ratio {result.time_ratio:.2f}x (goal <= {IMPORT_TIME_GOAL}x: "
        f"{'met' if result.meets_time else 'MISSED'}), memory ratio {result.memory_ratio:.2f}x "
        f"(goal <= {IMPORT_MEMORY_GOAL}x: {'met' if result.meets_memory else 'MISSED'}); "
        f"limit = {result.limit.label}"
    )
    if result.floor is not None:
        lines.append(
            f"  floor (one DuckDB table, nothing checked): {result.floor.median_s() / result.limit.median_s():.2f}x "
            "the limit"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_import", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("file", type=Path, help="an xlsx or csv file to import")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (at least 3)")
    args = parser.parse_args(argv)
    if not args.file.exists():
        parser.error(f"{args.file} does not exist; write it with python -m bench.generate")
    print(describe(measure(args.file, max(3, args.runs))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
