"""`python -m rmdash`: the command line for scheduled monthly loads (spec section 6).

Purpose: parse arguments, call one library function, print its result (a
compact table, or JSON with --json). Boundary: no logic of its own; importing
is rmdash.importer, the store is rmdash.store. A user never sees a traceback:
an RmdashError prints its one line and exits 2, anything else prints
"internal error: ..." and exits 3 (the traceback only with RMDASH_DEBUG=1).

Adding a subcommand is one function and one registration::

    def _kpi_arguments(p):                       # the subparser's own options
        p.add_argument("--grain", choices=["month", "quarter"], default="month")

    @command("kpi", "print the KPI table", _kpi_arguments)
    def _cmd_kpi(args) -> int:                    # --db is already parsed
        from rmdash.kpi import kpi_json           # heavy modules imported late
        ...
        return 0

Every subcommand gets ``--db`` (default $RMDASH_DB, else data/rmdash.duckdb).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rmdash.model import BatchSummary, ImportOptions, RmdashError
from rmdash.schema import load_schema

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_DB = "data/rmdash.duckdb"
EXIT_OK, EXIT_USER_ERROR, EXIT_INTERNAL = 0, 2, 3
REJECTED_SHOWN = 5  # rejected rows printed per batch after an import


class UsageError(RmdashError):
    """Bad command-line arguments (argparse's complaint, as one line)."""


# --------------------------------------------------------------------------- the command table


@dataclass(frozen=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] | None = None):
    """Register ``run(args) -> exit code`` as subcommand ``name`` (see the module docstring)."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = Command(help, configure or (lambda parser: None), run)
        return run

    return register


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line) instead of printing usage and exiting."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `python -m rmdash {self._subcommand()}--help`)")

    def _subcommand(self) -> str:
        parts = self.prog.split()[1:]
        return "".join(f"{p} " for p in parts)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rmdash", description="Measure an outsourcing vendor's Relationship Manager on facts."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        sub = subparsers.add_parser(name, help=cmd.help, description=cmd.help)
        sub.add_argument(
            "--db",
            type=Path,
            default=Path(os.environ.get("RMDASH_DB") or DEFAULT_DB),
            help="the store (default: $RMDASH_DB, else data/rmdash.duckdb)",
        )
        cmd.configure(sub)
        sub.set_defaults(run=cmd.run)
    return parser


def run() -> int:
    """The process entry point (``python -m rmdash``, the ``rmdash`` script): ``main`` on sys.argv.

    An import process keeps pandas unloaded (see _keep_pyarrow_off_pandas);
    ``main`` itself changes nothing process-wide, so tests may call it in-process.
    """
    if sys.argv[1:2] == ["import"]:
        _keep_pyarrow_off_pandas()
    return main()


def _keep_pyarrow_off_pandas() -> None:
    """Stop pyarrow loading pandas in an import process: 0.35 s and 45 MB for nothing.

    pyarrow imports pandas the first time it converts any Python object, only to
    ask whether the object is a pandas one; the import path never hands it one
    (it stays in Arrow from the reader to DuckDB). pyarrow asks once per process,
    so pandas is hidden while it asks, then importable again (the rejected-rows
    sample uses it through DuckDB). pyarrow's own pandas conversions
    (``Table.to_pandas``) stay off in this process; nothing on the import path uses them.
    """
    if "pandas" in sys.modules:
        return

    class _HidePandas:
        def find_spec(self, name, path=None, target=None):
            if name == "pandas" or name.startswith("pandas."):
                raise ImportError("pandas is not needed by an import")

    hide = _HidePandas()
    sys.meta_path.insert(0, hide)
    try:
        import pyarrow as pa

        pa.array([0])  # pyarrow decides here, once, that pandas is absent
    finally:
        sys.meta_path.remove(hide)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; return the exit code (0 ok, 2 the user's error, 3 internal error)."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else EXIT_OK
    except RmdashError as err:
        _fail(str(err))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _fail("interrupted; nothing was changed by the unfinished command")
        return EXIT_USER_ERROR
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("RMDASH_DEBUG") == "1":
            traceback.print_exc()
        _fail(f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_INTERNAL


def _fail(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"error: {one_line}", file=sys.stderr)


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, default=str))


# --------------------------------------------------------------------------- import


def _import_arguments(p: argparse.ArgumentParser) -> None:
    kinds = list(load_schema().kinds)
    p.add_argument("files", nargs="+", metavar="FILE", help=".xlsx, .xlsm or .csv files")
    p.add_argument("--kind", choices=kinds, help="import every sheet as this kind")
    p.add_argument(
        "--vendor", metavar="NAME", help="vendor for every row (when the file has no vendor column)"
    )
    p.add_argument("--rm", metavar="NAME", help="relationship manager for every row")
    p.add_argument(
        "--set",
        dest="constants",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="a constant for any column, e.g. --set currency=EUR",
    )
    order = p.add_mutually_exclusive_group()
    order.add_argument(
        "--dayfirst",
        dest="date_order",
        action="store_const",
        const="dayfirst",
        help="text dates are day first",
    )
    order.add_argument(
        "--monthfirst",
        dest="date_order",
        action="store_const",
        const="monthfirst",
        help="text dates are month first",
    )
    p.add_argument("--survey-scale", metavar="MIN-MAX", help="survey question scale, e.g. 1-10 (default 1-5)")
    p.add_argument(
        "--map",
        dest="column_map",
        action="append",
        default=[],
        metavar="COLUMN=HEADER",
        help="read canonical COLUMN from the file's HEADER",
    )
    mapping = p.add_mutually_exclusive_group()
    mapping.add_argument("--save-mapping", metavar="NAME", help="save this file's column choices under NAME")
    mapping.add_argument("--mapping", metavar="NAME", help="apply a saved mapping")
    p.add_argument("--strict", action="store_true", help="any rejected row fails the whole import")
    p.add_argument("--json", action="store_true", help="print the batch summary as JSON")
    p.add_argument(
        "--progress",
        action="store_true",
        help="print progress lines on stderr (shown live anyway when stderr is a terminal)",
    )


def options_from_args(args: argparse.Namespace) -> ImportOptions:
    """ImportOptions from the import subcommand's arguments (validated, one-line errors)."""
    constants = _pairs(args.constants, "--set", "COLUMN=VALUE", args.kind)
    for column, value in (("vendor", args.vendor), ("rm", args.rm)):
        if value is not None:
            constants[column] = value
    return ImportOptions(
        kind=args.kind,
        constants=constants,
        column_map=_pairs(args.column_map, "--map", "COLUMN=HEADER", args.kind),
        date_order=args.date_order or "auto",
        survey_scale=parse_scale(args.survey_scale) if args.survey_scale else None,
        mapping_name=args.mapping,
        save_mapping=args.save_mapping,
        strict=args.strict,
    )


def _pairs(items: list[str], flag: str, form: str, kind: str | None) -> dict[str, str]:
    """COLUMN=TEXT pairs; COLUMN must be a canonical column (of --kind when given)."""
    schema = load_schema()
    kinds = [schema.kind(kind)] if kind else list(schema.kinds.values())
    known = {c for k in kinds for c in k.column_names}
    pairs: dict[str, str] = {}
    for item in items:
        column, sep, text = item.partition("=")
        column = column.strip()
        if not sep or not column:
            raise UsageError(f"{flag} {item!r}: write it as {form}")
        if column not in known:
            where = f"of {kind}" if kind else "of any kind"
            raise UsageError(
                f"{flag} {item!r}: {column!r} is not a column {where}; see docs/spec.md section 2"
            )
        pairs[column] = text.strip()
    return pairs


_SCALE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[-–:]\s*(\d+(?:\.\d+)?)\s*$")


def parse_scale(text: str) -> tuple[float, float]:
    """'1-10' -> (1.0, 10.0); the minimum must be below the maximum."""
    match = _SCALE.match(text)
    if not match or float(match[1]) >= float(match[2]):
        raise UsageError(
            f"--survey-scale {text!r}: write it as MIN-MAX with MIN below MAX, e.g. 1-10 or 0-10"
        )
    return float(match[1]), float(match[2])


@command("import", "import spreadsheet exports (one batch per sheet, one transaction)", _import_arguments)
def _cmd_import(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    from rmdash import readahead

    # workbooks are parsed while the heavy modules below load (calamine releases the GIL), and
    # each next one while the one before it is typed
    readahead.prefetch_workbooks(args.files)
    from rmdash.importer import import_files  # reading spreadsheets loads heavy modules: only here

    show = args.progress or sys.stderr.isatty()
    summaries = import_files(args.db, args.files, options, progress=ProgressPrinter() if show else None)
    if args.json:
        _print_json([batch_json(s) for s in summaries])
    else:
        print_batches(summaries)
        _print_rejected_samples(args.db, summaries)
    return EXIT_OK


class ProgressPrinter:
    """Import progress on stderr: rows done, rate and time left; one live line on a terminal.

    Not a terminal (``--progress`` in a log): a line at most every few seconds.
    """

    def __init__(self, stream=None, every: float | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.every = every if every is not None else (0.2 if self.live else 5.0)
        self.started = time.monotonic()
        self.shown = float("-inf")

    def __call__(self, event) -> None:
        now = time.monotonic()
        if event.stage != "done" and now - self.shown < self.every:
            return
        self.shown = now
        line = self.line(event, now - self.started)
        if self.live:
            end = "\n" if event.stage == "done" else ""
            self.stream.write("\r\x1b[2K" + line + end)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    @staticmethod
    def line(event, elapsed: float) -> str:
        where = event.file + (f" / {event.sheet}" if event.sheet else "")
        if event.stage == "done":
            return f"imported {event.rows_done:,} rows in {elapsed:.1f} s"
        rows = f"{event.rows_done:,}"
        if event.rows_total:
            rows += f" of {event.rows_total:,}"
        parts = [f"{where}: {event.stage} {rows} rows ({event.fraction:.0%})"]
        if event.rate:
            parts.append(f"{event.rate:,.0f} rows/s")
        if 0 < event.fraction < 1:
            parts.append(f"about {elapsed * (1 - event.fraction) / event.fraction:,.0f} s left")
        return ", ".join(parts)


def batch_json(s: BatchSummary) -> dict:
    """Spec section 6: per batch its id, file, sheet, kind, sha256, active and the counts."""
    record = s.to_json()
    return {"id": record.pop("batch_id"), **record}


# --------------------------------------------------------------------------- printing batches

_BATCH_HEADERS = (
    "batch",
    "status",
    "kind",
    "file",
    "sheet",
    "new",
    "changed",
    "unchanged",
    "superseded",
    "rejected",
    "skipped",
)


def _status(s: BatchSummary) -> str:
    if s.duplicate_of is not None:
        return f"same as {s.duplicate_of}"
    return "active" if s.active else "undone"


def print_batches(summaries: Sequence[BatchSummary], show_time: bool = False) -> None:
    """A compact table of batches, then their warnings."""
    if not summaries:
        print("no batches yet")
        return
    headers = _BATCH_HEADERS + (("imported", "by") if show_time else ())
    rows = []
    for s in summaries:
        row = [
            "-" if s.batch_id is None else s.batch_id,
            _status(s),
            s.kind,
            s.file,
            s.sheet or "",
            s.new,
            s.changed,
            s.unchanged,
            s.superseded,
            s.rejected,
            s.skipped,
        ]
        rows.append(row + ([s.imported_at or "", s.who or ""] if show_time else []))
    print(format_table(headers, rows))
    warnings = [(s, w) for s in summaries for w in s.warnings]
    if warnings:
        print("\nwarnings:")
        for s, w in warnings:
            print(f"  {_label(s)}: {w}")


def _label(s: BatchSummary) -> str:
    where = f"{s.file} / {s.sheet}" if s.sheet else s.file
    return f"batch {s.batch_id} ({where})" if s.batch_id is not None else where


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Plain text columns; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(r, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _print_rejected_samples(db: Path, summaries: Sequence[BatchSummary]) -> None:
    """The first few rejected rows of each new batch, with their reasons."""
    with_rejected = [s for s in summaries if s.batch_id is not None and s.rejected]
    if not with_rejected:
        return
    from rmdash import store

    con = store.open_store(db, read_only=True)
    try:
        for s in with_rejected:
            rows = store.first_rejected(con, s.batch_id, REJECTED_SHOWN)
            more = f"first {len(rows)} of {s.rejected}; " if s.rejected > len(rows) else ""
            print(f"\nrejected rows of {_label(s)} ({more}all: `rmdash rejected {s.batch_id} --csv FILE`):")
            for row_no, reason in rows:
                print(f"  row {row_no}: {reason}")
    finally:
        con.close()


# --------------------------------------------------------------------------- batches, undo, redo, rejected


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def _open_existing(db: Path, read_only: bool):
    from rmdash import store

    if not db.exists():
        raise RmdashError(f"there is no database at {db}; import a file or run `rmdash demo` first")
    return store.open_store(db, read_only=read_only)


@command("batches", "list every imported batch (active and undone)", _json_flag)
def _cmd_batches(args: argparse.Namespace) -> int:
    from rmdash import store

    con = _open_existing(args.db, read_only=True)
    try:
        summaries = store.list_batches(con)
    finally:
        con.close()
    if args.json:
        _print_json([batch_json(s) for s in summaries])
    else:
        print_batches(summaries, show_time=True)
    return EXIT_OK


def _batch_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("batch", type=int, metavar="BATCH", help="batch id (see `rmdash batches`)")


def _set_active(args: argparse.Namespace, active: bool) -> int:
    from rmdash import store

    con = _open_existing(args.db, read_only=False)
    try:
        s = store.set_active(con, args.batch, active, ImportOptions().who)
    finally:
        con.close()
    what = f"{s.kind} from {s.file}" + (f" / {s.sheet}" if s.sheet else "")
    if active:
        print(f"batch {s.batch_id} ({what}) is active again")
    else:
        print(f"batch {s.batch_id} ({what}) is undone; `rmdash redo {s.batch_id}` brings it back")
    return EXIT_OK


@command("undo", "undo a batch: current data as if it had never been imported", _batch_argument)
def _cmd_undo(args: argparse.Namespace) -> int:
    return _set_active(args, active=False)


@command("redo", "redo an undone batch", _batch_argument)
def _cmd_redo(args: argparse.Namespace) -> int:
    return _set_active(args, active=True)


def _rejected_arguments(p: argparse.ArgumentParser) -> None:
    _batch_argument(p)
    p.add_argument(
        "--csv", type=Path, metavar="FILE", help="write all rejected rows with their original cells"
    )


@command("rejected", "show (or save) the rejected rows of a batch and why", _rejected_arguments)
def _cmd_rejected(args: argparse.Namespace) -> int:
    from rmdash import store

    con = _open_existing(args.db, read_only=True)
    try:
        if args.csv is not None:
            frame = store.rejected_rows_wide(con, args.batch)
            _write_csv(frame, args.csv)
            print(f"{len(frame)} rejected rows of batch {args.batch} written to {args.csv}")
            return EXIT_OK
        frame = store.rejected_rows(con, args.batch)
    finally:
        con.close()
    if frame.empty:
        print(f"batch {args.batch} has no rejected rows")
    else:
        print(
            format_table(
                ("row", "reason", "original cells"), frame[["row_no", "reason", "raw"]].values.tolist()
            )
        )
    return EXIT_OK


def _write_csv(frame, path: Path) -> None:
    """UTF-8 with BOM (Excel opens it right); cells of untrusted uploads cannot run as formulas."""
    from rmdash.exports import write_csv

    write_csv(frame, path)


# --------------------------------------------------------------------------- demo


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--if-empty", action="store_true", help="only when the store has no batches yet (first start)"
    )


@command("demo", "load realistic sample data (four vendors, 18 months)", _demo_arguments)
def _cmd_demo(args: argparse.Namespace) -> int:
    from rmdash.demo import ensure_demo, load_demo  # a heavy data generator: only here

    summaries = ensure_demo(args.db) if args.if_empty else load_demo(args.db)
    if not summaries:
        print(f"{args.db} already has data: demo not loaded")
        return EXIT_OK
    print_batches(summaries)
    print(f"\ndemo data is in {args.db}")
    return EXIT_OK


# --------------------------------------------------------------------------- rules


def _rules_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="FILE", help="KPI rules override (default: $RMDASH_CONFIG)")
    p.add_argument("--markdown", action="store_true", help="print the rules as docs/kpis.md (Markdown)")


@command("rules", "print the KPI rules in force (TOML, or Markdown for docs/kpis.md)", _rules_arguments)
def _cmd_rules(args: argparse.Namespace) -> int:
    from rmdash.rules import active_rules, load_rules
    from rmdash.rules_doc import rules_markdown

    if Path(args.db).exists():
        con = _open_existing(args.db, read_only=True)
        try:
            rules = active_rules(con, args.config)
        finally:
            con.close()
    else:  # no store yet: the configured rules
        rules = load_rules(args.config)
    print(rules_markdown(rules) if args.markdown else rules.to_toml(), end="")
    return EXIT_OK


# --------------------------------------------------------------------------- kpi, explain (rmdash.kpi, rmdash.explain)


def _kpi_filters(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--grain", choices=["month", "quarter"], default="month")
    p.add_argument("--vendor", metavar="V", required=required, help="one vendor")
    p.add_argument("--rm", metavar="R", help="one relationship manager (without it: the vendor level)")
    p.add_argument(
        "--period", metavar="P", required=required, help="one period: 2026-09 (month) or 2026-Q3 (quarter)"
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="KPI rules override (default: $RMDASH_CONFIG)")
    _json_flag(p)


def _kpi_arguments(p: argparse.ArgumentParser) -> None:
    _kpi_filters(p, required=False)


@command("kpi", "print the KPI table (composite, RAG, service credit, bonus)", _kpi_arguments)
def _cmd_kpi(args: argparse.Namespace) -> int:
    from rmdash.kpi import kpi_json

    out = kpi_json(
        args.db, args.grain, vendor=args.vendor, rm=args.rm, period=args.period, config=args.config
    )
    if args.json:
        _print_json(out)
        return EXIT_OK

    def num(x):
        return "" if x is None else f"{x:,.1f}"

    rows = [
        (
            r["vendor"],
            r["rm"] or "(vendor)",
            r["period"],
            num(r["composite"]),
            r["rag"] or "",
            num(r.get("service_credit")),
            num(r.get("bonus")),
        )
        for r in out["rows"]
    ]
    print(format_table(("vendor", "rm", "period", "composite", "rag", "credit", "bonus"), rows))
    return EXIT_OK


def _explain_arguments(p: argparse.ArgumentParser) -> None:
    _kpi_filters(p, required=True)
    p.add_argument("--limit", type=int, default=5, help="failing rows shown per metric (default 5)")


@command(
    "explain", "every number behind one vendor/RM/period and the rows that failed it", _explain_arguments
)
def _cmd_explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from rmdash.explain import explain
    from rmdash.rules import active_rules

    con = _open_existing(args.db, read_only=True)
    try:
        rules = active_rules(con, args.config)  # the dashboard's rules unless --config
        e = explain(
            con,
            args.vendor,
            args.rm,
            args.period,
            args.grain,
            rules=rules,
            limit=None if args.json else args.limit,
        )
    finally:
        con.close()
    if args.json:
        _print_json(e.to_json())
        return EXIT_OK
    who = args.vendor if args.rm is None else f"{args.vendor} / {args.rm}"
    composite = "no score" if e.composite is None else f"{e.composite:.1f} ({e.rag})"
    print(f"{who}, {args.period}: composite {composite}")
    rows = [
        (
            m.metric,
            m.component,
            "" if pd.isna(m.value) else f"{m.value:.3f}",
            m.n,
            "" if pd.isna(m.score) else f"{m.score:.1f}",
            m.target,
            m.floor,
            "" if pd.isna(m.contribution) else f"{m.contribution:.2f}",
        )
        for m in e.metrics.itertuples()
    ]
    print(format_table(("metric", "component", "value", "n", "score", "target", "floor", "points"), rows))
    for name, failing in e.failing.items():
        if not failing.empty:
            print(f"\n{name}: {e.rules.metrics[name].failing}")
            print(format_table(list(failing.columns), _display_cells(failing)))
    return EXIT_OK


def _display_cells(frame: pd.DataFrame) -> list[list[str]]:
    """Cells as short text: numbers to 2 decimals, dates without a midnight time, blanks empty."""
    import pandas as pd  # the import command runs without it until the importer loads it

    out = pd.DataFrame(index=frame.index)
    for name, column in frame.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            midnight = (column.dropna() == column.dropna().dt.normalize()).all()
            text = column.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M")
        elif pd.api.types.is_float_dtype(column):
            text = column.map(lambda x: f"{x:.2f}".rstrip("0").rstrip("."))
        else:
            text = column.astype(object).map(str)
        out[name] = text.where(column.notna(), "")
    return out.values.tolist()


# --------------------------------------------------------------------------- qbr (rmdash.qbr)


def _qbr_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vendor", metavar="V", required=True, help="the vendor")
    p.add_argument("--period", metavar="P", required=True, help="the quarter, e.g. 2026-Q3")
    p.add_argument("--rm", metavar="R", help="one relationship manager (without it: the vendor level)")
    p.add_argument("--out", type=Path, metavar="FILE", required=True, help="FILE.pptx (deck) or FILE.pdf")
    p.add_argument(
        "--template", type=Path, metavar="T.pptx", help="use this deck's masters, theme and layouts"
    )
    p.add_argument(
        "--config", type=Path, metavar="FILE", help="KPI rules override (default: the dashboard's)"
    )


@command("qbr", "write the QBR deck (PowerPoint) or its PDF for one vendor and quarter", _qbr_arguments)
def _cmd_qbr(args: argparse.Namespace) -> int:
    from rmdash.qbr import write_qbr_file

    if not args.db.exists():
        raise RmdashError(f"there is no database at {args.db}; import a file or run `rmdash demo` first")
    out = write_qbr_file(
        args.db, args.vendor, args.period, args.out, rm=args.rm, template=args.template, config=args.config
    )
    print(f"QBR pack for {args.vendor}, {args.period} written to {out}")
    return EXIT_OK
