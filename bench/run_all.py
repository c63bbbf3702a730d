"""Every benchmark at every scale, each beside its limit measured in the same run; rewrites docs/benchmarks.md.

Purpose: the one entry point of ``make bench``. For each scale (10k, 100k,
1M, 10M tickets; ``--scales`` picks some, ``--runs N`` sets the runs, at
least 3) it runs, alternately with their limits:

- import (bench.bench_import): ``python -m rmdash import`` of a tickets file
  into a fresh store vs the fastest raw read of the same file, xlsx (up to
  Excel's 1,048,576 rows per sheet) and CSV; time and each child's peak RSS;
- KPI table (bench.bench_kpi.run, the KPI engineer's benchmark, at this scale)
  vs one DuckDB GROUP BY scan;
- page (bench/bench_page.py, the dashboard engineer's benchmark, run as a
  child with ``--no-write``) rerun after a filter change vs the same figures
  drawn from data in memory.

Results are kept in docs/benchmarks.json, so a run of some scales updates
those and keeps the others. docs/benchmarks.md is then written whole from
that file: a summary against the goals, a chart of time and memory against
rows (docs/benchmarks.png, log scales), the import tables, and the KPI and
page sections of their own modules between their markers. Boundary: files
go to bench/out/ (git-ignored); nothing here is imported by rmdash.

Usage: ``.venv/bin/python -m bench.run_all [--scales 10k,100k] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_import, bench_kpi  # noqa: E402
from bench import generate as gen  # noqa: E402

SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
DATA = ROOT / "docs" / "benchmarks.json"
CHART = ROOT / "docs" / "benchmarks.png"
KPI_GOAL, PAGE_GOAL = 3.0, 1.5
MARKERS = {
    "kpi": ("<!-- kpi:start -->", "<!-- kpi:end -->"),
    "page": ("<!-- page:start -->", "<!-- page:end -->"),
}


# --------------------------------------------------------------------------- measuring


def tickets_file(scale: str, fmt: str) -> Path | None:
    """The scale's tickets file in ``fmt``, written once (the generator is deterministic); None if xlsx cannot hold it."""
    n = SCALES[scale]
    if fmt == "xlsx" and n > gen.EXCEL_MAX_DATA_ROWS:
        return None
    path = OUT / scale / f"tickets.{fmt}"
    if not path.exists():
        t0 = time.perf_counter()
        table = gen.generate("tickets", n, seed=1)
        (gen.write_xlsx(table, path, sheet="Tickets") if fmt == "xlsx" else gen.write_csv(table, path))
        print(f"  wrote {path.relative_to(ROOT)} in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def measure_import(scale: str, runs: int) -> dict:
    out = {}
    for fmt in ("xlsx", "csv"):
        path = tickets_file(scale, fmt)
        if path is None:
            continue
        print(f"  import {fmt}: {runs} runs, alternating with the raw read", flush=True)
        result = bench_import.measure(path, runs, rows=SCALES[scale], work_dir=OUT)
        print("  " + bench_import.describe(result).replace("\n", "\n  "), flush=True)
        out[fmt] = {
            "file_mb": result.size_mb,
            "db_mb": result.db_mb,
            "import": _series(result.imports),
            "raw": {label: _series(s) for label, s in result.raws.items()},
            "limit": result.limit.label,
        }
        if result.floor is not None:
            out[fmt]["floor"] = {"label": result.floor.label, **_series(result.floor)}
    return out


def _series(series: bench_import.Series) -> dict:
    return {"seconds": series.seconds, "cpu_seconds": series.cpu_seconds, "peak_mb": series.peak_mb}


def measure_kpi(scale: str, runs: int) -> dict:
    print(f"  KPI table vs one DuckDB scan: {runs} runs", flush=True)
    result = bench_kpi.run(SCALES[scale], runs)
    keep = (
        "counts",
        "generate_s",
        "kpi_rows",
        "kpi",
        "baseline",
        "quarter",
        "cached",
        "kpi_cpu",
        "baseline_cpu",
    )
    return {**{k: result[k] for k in keep if k in result}, "section": bench_kpi.report(result, runs)}


_RUN_LINE = re.compile(r"^run \d+: .*: app (\d+) ms, reference (\d+) ms$")


def measure_page(scale: str, runs: int) -> dict:
    """bench/bench_page.py as a child (it runs Streamlit's AppTest in its own process)."""
    script = ROOT / "bench" / "bench_page.py"
    if not script.exists():
        return {"missing": "bench/bench_page.py does not exist yet"}
    print(f"  page after a filter change vs in-memory figures: {runs} runs", flush=True)
    argv = [sys.executable, "-m", "bench.bench_page", "--tickets", str(SCALES[scale]), "--runs", str(runs)]
    proc = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [*argv, "--no-write"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {"failed": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    lines = proc.stdout.splitlines()
    runs_seen = [m for line in lines if (m := _RUN_LINE.match(line))]
    start = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    return {
        "app": [int(m[1]) / 1000 for m in runs_seen],
        "reference": [int(m[2]) / 1000 for m in runs_seen],
        "section": "\n".join(lines[start:]).strip(),
    }


# --------------------------------------------------------------------------- the document


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def mmm(xs: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(x) for x in (min(xs), med(xs), max(xs))) if xs else "–"


def limit_of(entry: dict) -> tuple[str, dict]:
    label = entry["limit"]
    return label, entry["raw"][label]


def verdict(ratio: float | None, goal: float) -> str:
    if ratio is None:
        return "–"
    return f"{ratio:.2f}x {'met' if ratio <= goal else '**missed**'}"


def import_ratios(entry: dict) -> tuple[float, float, float]:
    _, raw = limit_of(entry)
    return (
        med(entry["import"]["seconds"]) / med(raw["seconds"]),
        med(entry["import"]["cpu_seconds"]) / med(raw["cpu_seconds"]),
        med(entry["import"]["peak_mb"]) / med(raw["peak_mb"]),
    )


def summary_table(data: dict) -> list[str]:
    rows = [
        "| tickets | import xlsx / raw read (time, goal <= 1.5x) | import CSV / raw read | "
        "peak memory / raw read's (goal <= 2x) | KPI table / one scan (goal <= 3x) | "
        "page after a filter change / in-memory figures (goal <= 1.5x) |",
        "|---|---|---|---|---|---|",
    ]
    for scale in SCALES:
        s = data["scales"].get(scale)
        if not s:
            continue
        imp = s.get("import", {})
        cells = []
        for fmt in ("xlsx", "csv"):
            if fmt in imp:
                cells.append(verdict(import_ratios(imp[fmt])[0], bench_import.IMPORT_TIME_GOAL))
            elif fmt == "xlsx" and SCALES[scale] > gen.EXCEL_MAX_DATA_ROWS:
                cells.append("– (a sheet holds 1,048,576 rows)")
            else:
                cells.append("–")
        memory = [
            f"{fmt} {verdict(import_ratios(imp[fmt])[2], bench_import.IMPORT_MEMORY_GOAL)}" for fmt in imp
        ]
        cells.append(", ".join(memory) or "–")
        k = s.get("kpi")
        cells.append(verdict(med(k["kpi"]) / med(k["baseline"]), KPI_GOAL) if k else "–")
        p = s.get("page", {})
        cells.append(
            verdict(med(p["app"]) / med(p["reference"]), PAGE_GOAL) if p.get("app") else p.get("missing", "–")
        )
        rows.append(f"| {SCALES[scale]:,} | " + " | ".join(cells) + " |")
    return rows


def import_section(data: dict) -> list[str]:
    lines = [
        "## Import (bench/bench_import.py)",
        "",
        "`python -m rmdash import FILE --db <fresh store>` in a child process, end to end (safety checks, "
        "header and kind detection, typing, validation, one transaction, raw archive), alternately with "
        "the fastest raw read of the same file in a child process too: fastexcel to Arrow for xlsx; for "
        "CSV the faster of pyarrow.csv and DuckDB's read_csv, to Arrow. Both sides include starting "
        "Python. Peak memory is each child's own peak RSS (VmHWM, sampled until it exits). 10M tickets come from "
        "CSV only: an xlsx sheet holds at most 1,048,576 rows. Times in seconds, min / median / max; "
        "CPU is the child's user + system time (steadier than wall time when the machine is shared).",
        "",
        "The floor, measured alternately too, is not a goal but a reading aid: the simplest import that "
        "keeps the rows, the same raw read written as one DuckDB table in a new file, with nothing checked "
        "or typed, one copy and no history (bench/bench_import.py `_FLOOR_XLSX`, `_FLOOR_CSV`). An import "
        "that also types, checks and keeps history does all of this work and more (it can only hide some "
        "of its start-up behind the read, as rmdash does); where the floor is well above 1.5x the limit, "
        "that goal is out of reach for any such import.",
        "",
        "| tickets | file | what | wall (s) | CPU (s) | peak RSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    ratios = [
        "",
        "| tickets | file | time ratio, wall (CPU) | memory ratio | floor / limit (time) | store size |",
        "|---|---|---|---|---|---|",
    ]
    for scale in SCALES:
        imp = data["scales"].get(scale, {}).get("import", {})
        for fmt, e in imp.items():
            label, raw = limit_of(e)
            n = f"{SCALES[scale]:,}"
            where = f"{fmt}, {e['file_mb']:,.1f} MB"
            sides = [("rmdash import", e["import"]), (f"limit: {label}", raw)]
            if "floor" in e:
                sides.append((f"floor: {e['floor']['label']}", e["floor"]))
            for what, side in sides:
                lines.append(
                    f"| {n} | {where} | {what} | {mmm(side['seconds'])} | {mmm(side['cpu_seconds'])} | "
                    f"{mmm(side['peak_mb'], '{:,.0f}')} |"
                )
            t, c, m = import_ratios(e)
            ratios.append(
                f"| {n} | {fmt} | {verdict(t, bench_import.IMPORT_TIME_GOAL)} ({c:.2f}x) | "
                f"{verdict(m, bench_import.IMPORT_MEMORY_GOAL)} | {_floor_ratio(e)} | {e['db_mb']:,.0f} MB |"
            )
    return lines + ratios


def _floor_ratio(entry: dict) -> str:
    """The floor's median time over the limit's: the simplest import that keeps the rows."""
    if "floor" not in entry:
        return "–"
    _, raw = limit_of(entry)
    return f"{med(entry['floor']['seconds']) / med(raw['seconds']):.2f}x"


def kpi_section(data: dict) -> list[str]:
    lines = [
        "## KPI table at each scale (bench/bench_kpi.py)",
        "",
        "`bench_kpi.run` at every scale: the whole KPI table (every vendor and vendor x RM x month, cache "
        "off) vs its limit, one plain GROUP BY (vendor, rm, month) scan over the tickets with 11 "
        "aggregates, alternately in one process. Seconds, min / median / max. The store holds the other "
        "kinds in the same proportion as every benchmark here (bench.generate.PER_TICKET: a meeting per "
        "2,000 tickets, a change request per 1,000, a survey response per 500, a communication per "
        "20,000), which the KPI side reads too while the scan reads the tickets only.",
        "",
        "| tickets | KPI table | one scan | ratio (goal <= 3x) | cached table (same store version and rules) |",
        "|---|---|---|---|---|",
    ]
    for scale in SCALES:
        k = data["scales"].get(scale, {}).get("kpi")
        if k:
            lines.append(
                f"| {SCALES[scale]:,} | {mmm(k['kpi'], '{:.3f}')} | {mmm(k['baseline'], '{:.3f}')} | "
                f"{verdict(med(k['kpi']) / med(k['baseline']), KPI_GOAL)} | {mmm(k['cached'], '{:.4f}')} |"
            )
    return lines


def page_section(data: dict) -> list[str]:
    lines = [
        "## Vendor page after a filter change, at each scale (bench/bench_page.py)",
        "",
        "The dashboard engineer's benchmark at every scale: `app.py` under Streamlit's AppTest, warm, "
        "another vendor picked each run, vs a script drawing the same figures from views already in "
        "memory. Seconds, min / median / max.",
        "",
        "| tickets | app | in-memory reference | ratio (goal <= 1.5x) |",
        "|---|---|---|---|",
    ]
    for scale in SCALES:
        p = data["scales"].get(scale, {}).get("page")
        if p and p.get("app"):
            lines.append(
                f"| {SCALES[scale]:,} | {mmm(p['app'], '{:.3f}')} | {mmm(p['reference'], '{:.3f}')} | "
                f"{verdict(med(p['app']) / med(p['reference']), PAGE_GOAL)} |"
            )
        elif p:
            lines.append(f"| {SCALES[scale]:,} | {p.get('missing') or p.get('failed')} | | |")
    return lines


def marked(name: str, markdown: str | None) -> list[str]:
    start, end = MARKERS[name]
    return [start, markdown or "(not measured yet)", end]


def largest_sections(data: dict) -> dict[str, str]:
    """The KPI and page sections of the largest scale that has them."""
    found = {}
    for scale in SCALES:  # ascending: a larger scale overwrites
        for name in MARKERS:
            section = data["scales"].get(scale, {}).get(name, {}).get("section")
            if section:
                found[name] = section
    return found


def existing_sections() -> dict[str, str]:
    """The KPI and page sections as their modules last wrote them (kept when not re-run)."""
    text = DOC.read_text("utf-8") if DOC.exists() else ""
    found = {}
    for name, (start, end) in MARKERS.items():
        m = re.search(re.escape(start) + r"\n?(.*?)\n?" + re.escape(end), text, flags=re.S)
        if m:
            found[name] = m.group(1).strip()
    return found


def document(data: dict) -> str:
    m = data["machine"]
    sections = {**existing_sections(), **largest_sections(data)}
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run_all`; `--scales 10k,100k` and `--runs N` pick what to "
        "re-run, the other scales keep their last figures from docs/benchmarks.json). Do not edit by hand. "
        "Every figure sits beside its limit measured in the same run, alternately, because this machine is "
        "shared and a figure can move by half between runs.",
        "",
        f"Machine: {m['cpus']} CPUs, {m['memory_gb']:.0f} GiB RAM, Python {m['python']}, {m['platform']}. "
        "Dates and load per scale are in docs/benchmarks.json.",
        "",
        "## Summary against the goals (medians)",
        "",
        *summary_table(data),
        "",
        "![Time and peak memory against rows](benchmarks.png)",
        "",
        *import_section(data),
        "",
        *kpi_section(data),
        "",
        *page_section(data),
        "",
        "The two sections below are written by bench/bench_kpi.py and bench/bench_page.py themselves "
        "(their report of the largest scale measured).",
        "",
        *marked("kpi", sections.get("kpi")),
        "",
        *marked("page", sections.get("page")),
        "",
        "Where one machine stops, and what to do beyond it: docs/scaling.md.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the chart


def chart(data: dict, path: Path) -> str:
    """Time and peak memory against tickets, log scales, as a PNG; returns how it was rendered."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Median time (s)", "Median peak memory (MB)"))
    series: dict[str, tuple[list, list, list]] = {}

    def add(name: str, n: int, seconds: float | None, mb: float | None) -> None:
        xs, ts, ms = series.setdefault(name, ([], [], []))
        xs.append(n)
        ts.append(seconds)
        ms.append(mb)

    for scale, n in SCALES.items():
        s = data["scales"].get(scale)
        if not s:
            continue
        for fmt, e in s.get("import", {}).items():
            label, raw = limit_of(e)
            add(f"import {fmt}", n, med(e["import"]["seconds"]), med(e["import"]["peak_mb"]))
            add(f"raw read {fmt} (fastest reader)", n, med(raw["seconds"]), med(raw["peak_mb"]))
        if s.get("kpi"):
            add("KPI table", n, med(s["kpi"]["kpi"]), None)
            add("one DuckDB scan", n, med(s["kpi"]["baseline"]), None)
        if s.get("page", {}).get("app"):
            add("page after a filter change", n, med(s["page"]["app"]), None)
    palette = ["#0072B2", "#0072B2", "#D55E00", "#D55E00", "#009E73", "#009E73", "#CC79A7"]
    for i, (name, (xs, ts, ms)) in enumerate(series.items()):
        line = {"dash": "dot" if name.startswith(("raw", "one DuckDB")) else "solid", "color": palette[i % 7]}
        fig.add_trace(go.Scatter(x=xs, y=ts, name=name, mode="lines+markers", line=line), row=1, col=1)
        if any(v is not None for v in ms):
            trace = go.Scatter(x=xs, y=ms, name=name, mode="lines+markers", line=line, showlegend=False)
            fig.add_trace(trace, row=1, col=2)
    fig.update_xaxes(type="log", title_text="tickets")
    fig.update_yaxes(type="log")
    fig.update_layout(width=1200, height=520, template="plotly_white", title="rmdash at 10k to 10M tickets")
    return _png(fig, path)


def _png(fig, path: Path) -> str:
    """kaleido with Debian's chromium; else chromium's own --screenshot of the figure's HTML."""
    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
    try:
        fig.write_image(str(path), width=1200, height=520)
        return "kaleido"
    except Exception as err:  # kaleido missing or no browser it can drive
        html = path.with_suffix(".html")
        fig.write_html(str(html), include_plotlyjs=True)
        browser = os.environ["BROWSER_PATH"]
        proc = subprocess.run(  # noqa: S603 (a local browser on our own file)
            [
                browser,
                "--headless",
                "--no-sandbox",
                f"--screenshot={path}",
                "--window-size=1200,540",
                html.as_uri(),
            ],
            capture_output=True,
            check=False,
            timeout=120,
        )
        html.unlink(missing_ok=True)
        if proc.returncode != 0 or not path.exists():
            return f"not rendered ({type(err).__name__}; chromium exited {proc.returncode})"
        return "chromium --screenshot"


# --------------------------------------------------------------------------- main


def machine() -> dict:
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": psutil.virtual_memory().total / 2**30,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
    }


def load_data() -> dict:
    if DATA.exists():
        return json.loads(DATA.read_text("utf-8"))
    return {"scales": {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default=",".join(SCALES), help="comma-separated: 10k,100k,1m,10m")
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement (at least 3)")
    parser.add_argument(
        "--only", default="import,kpi,page", help="comma-separated benchmarks to run: import, kpi, page"
    )
    args = parser.parse_args(argv)
    scales = [s.strip().lower() for s in args.scales.split(",") if s.strip()]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = [s for s in scales if s not in SCALES] + sorted(only - {"import", "kpi", "page"})
    if unknown:
        parser.error(f"unknown scale or benchmark: {', '.join(unknown)}")
    runs = max(3, args.runs)

    data = load_data()
    data["machine"] = machine()
    for scale in scales:
        print(f"{scale} ({SCALES[scale]:,} tickets)", flush=True)
        entry = data["scales"].setdefault(scale, {})
        entry.update(measured_at=time.strftime("%Y-%m-%d %H:%M"), runs=runs)
        if "import" in only:
            entry["import"] = measure_import(scale, runs)
        if "kpi" in only:
            entry["kpi"] = measure_kpi(scale, runs)
        if "page" in only:
            entry["page"] = measure_page(scale, runs)
        entry["load_average"] = os.getloadavg()[0]
        DATA.write_text(json.dumps(data, indent=1, default=str) + "\n", "utf-8")  # keep what is measured
    rendered = chart(data, CHART)
    DOC.write_text(document(data), "utf-8")
    print(
        f"wrote {DOC.relative_to(ROOT)}, {DATA.relative_to(ROOT)} and {CHART.relative_to(ROOT)} ({rendered})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
