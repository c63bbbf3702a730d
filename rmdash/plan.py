"""plan_file(): an untrusted file on disk -> a validated FilePlan; nothing is written.

Purpose: the importer's front half. For every sheet: find the header and
kind (rmdash.detect), apply presets, saved mappings, ``--map`` and constants,
skip blank / totals / repeated-header rows, type every column (rmdash.parse),
reject rows with a missing required value or an unreadable cell (with the
sheet row number, a one-line reason and the raw cell texts), and let a later
row with the same key replace an earlier one. Boundary: reads the file via
rmdash.readers and the registry; writes nothing and touches no store (set work over
Arrow, such as finding repeated keys, runs in a private in-memory DuckDB). A file
that cannot be used at all raises ``ImportRefused`` with one line saying what
to do.

Precedence (see docs/decisions.md, "Import"): for a column, a user constant
(``--vendor``, ``--rm``, upload-page constants) > saved-mapping constant >
``--map`` > saved mapping > preset > canonical name > synonym > survey
question keywords > preset constant. A constant overrides a column the file
has: the user said so explicitly; the file's column stays in the raw archive.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rmdash import detect, parse, trace
from rmdash.model import FilePlan, ImportOptions, ImportRefused, ProgressEvent, SheetPlan, SpilledRows
from rmdash.readahead import being_read_ahead
from rmdash.readers import (
    HEAD_ROWS,
    Chunk,
    NotStreamable,
    RawSheet,
    column_letter,
    one_line,
    open_sheets,
    sha256_file,
)
from rmdash.schema import Column, Kind, Schema, fold, load_schema

# The CLI's flags that set a constant for a column (spec section 6); every
# other column is fixed with --map COLUMN=HEADER.
CLI_CONSTANT_FLAGS = {"vendor": "--vendor NAME", "rm": "--rm NAME"}
DATE_ORDER_FLAGS = {"dayfirst": "--dayfirst", "monthfirst": "--monthfirst"}
_ANSWER_LABELS = "survey answers are labels"
_TYPE_WORDS = {
    "date": "a date",
    "datetime": "a date",
    "number": "a number",
    "score": "a number",
    "bool": "yes/no",
}
_IMPORT_ID = '{"ImportId"'
MAX_CELL_CHARS = 32_767  # Excel's own limit for the text of one cell
# Rows typed at a time: a sheet with more is typed in parts (peak memory stays
# that of one part plus the accepted rows kept).
CHUNK_ROWS = 250_000
# Accepted rows kept in memory (Arrow, ~150 bytes a row): a sheet with more has
# its parts spilled to Parquet files, so 10M rows never sit in memory at once.
# Below it, writing Parquet would cost more than it saves (1M rows: 0.9 s).
SPILL_ROWS = 2_000_000

Progress = Callable[[ProgressEvent], None]


class MissingColumn(ImportRefused):
    """A required column the sheet lacks (or leaves empty): the upload page can offer a constant for it."""

    def __init__(self, message: str, kind: str, column: str, sheet: str | None):
        super().__init__(message)
        self.kind = kind
        self.column = column
        self.sheet = sheet


def plan_file(
    path: str | Path,
    options: ImportOptions,
    saved_mappings: list[dict] | None = None,
    display_name: str | None = None,
    progress: Progress | None = None,
) -> FilePlan:
    """Read, map, type and validate every sheet of one file; raise ImportRefused if none can be used.

    ``display_name`` is only a label (messages, FilePlan.file_name); the file
    is always opened from ``path``. ``progress`` is called as sheets are read
    and typed (rows done, an estimate of the total); see ProgressEvent.
    """
    schema = load_schema()
    path = Path(path)
    label = one_line(display_name or path.name, 200)
    _check_options(options, schema)
    saved = [detect.saved_mapping(m) for m in saved_mappings or []]
    named = _named_mapping(options, saved)
    # While a workbook read ahead is still being parsed this thread only waits: do now what comes next
    digest = sha256_file(path) if being_read_ahead(path) else None
    _scratch_duckdb().close()
    sheets = open_sheets(path, label)
    trace.mark("plan: sheets open")
    plans: list[SheetPlan] = []
    skipped: list[str] = []
    reporter = _Reporter(progress, label, len(sheets))
    for raw in sheets:
        outcome = _SheetPlanner(raw, schema, options, saved, named, label, reporter).plan()
        reporter.sheet_done()
        trace.mark(f"plan: sheet {raw.name or label!r} typed")
        if isinstance(outcome, str):
            skipped.append(f"{one_line(raw.name or label)}: {outcome}")
        else:
            plans.append(outcome)
    if not plans:
        raise ImportRefused(_nothing_recognised(label, options, schema, skipped, len(sheets)))
    return FilePlan(
        path=str(path),
        file_name=label,
        sha256=digest or sha256_file(path),
        size=path.stat().st_size,
        sheets=plans,
        skipped_sheets=skipped,
    )


def survey_scale(options: ImportOptions) -> tuple[float, float]:
    """The question scale of this upload: --survey-scale, else the registry default."""
    if options.survey_scale:
        return float(options.survey_scale[0]), float(options.survey_scale[1])
    low, high = detect.registry_toml("schema.toml")["kinds"]["surveys"]["scale"]
    return float(low), float(high)


def _nps_range() -> tuple[float, float]:
    low, high = detect.registry_toml("schema.toml")["kinds"]["surveys"]["nps_range"]
    return float(low), float(high)


def _check_options(options: ImportOptions, schema: Schema) -> None:
    if options.kind is not None and options.kind not in schema.kinds:
        raise ImportRefused(f"unknown kind '{one_line(options.kind)}': use one of {', '.join(schema.kinds)}")
    known = {c.name for k in schema.kinds.values() for c in k.columns}
    for source, names in (("constant", options.constants), ("--map", options.column_map)):
        for name in names:
            if name not in known:
                raise ImportRefused(
                    f"{source}: unknown column '{one_line(name)}': use a column name of the data contract, "
                    "e.g. vendor, ticket_id, opened_at"
                )
    if options.date_order not in ("auto", "dayfirst", "monthfirst"):
        raise ImportRefused(
            f"unknown date order '{one_line(options.date_order)}': use dayfirst or monthfirst"
        )
    if options.survey_scale is not None:
        low, high = options.survey_scale
        if not low < high:
            raise ImportRefused(
                f"--survey-scale {low:g}-{high:g}: the minimum must be below the maximum, e.g. 1-5"
            )


def _named_mapping(options: ImportOptions, saved: list[dict]) -> dict | None:
    if not options.mapping_name:
        return None
    for mapping in saved:
        if mapping.get("name") == options.mapping_name:
            return mapping
    names = ", ".join(sorted(str(m.get("name")) for m in saved)) or "none saved yet"
    raise ImportRefused(f"no saved mapping named '{one_line(options.mapping_name)}' (saved: {names})")


def _nothing_recognised(
    label: str, options: ImportOptions, schema: Schema, skipped: list[str], n: int
) -> str:
    if options.kind:
        kind = schema.kind(options.kind)
        wanted = ", ".join(kind.required)
        return (
            f"'{label}': no header with {kind.name} columns ({wanted}) in the first {HEAD_ROWS} rows"
            f"{' of any sheet' if n > 1 else ''}: check the file or map the columns with --map COLUMN=HEADER"
        )
    if n == 1 and skipped and skipped[0].endswith("empty sheet"):
        return f"'{label}' has no data: export it again and upload the new file"
    return (
        f"'{label}': no recognisable header{' in any sheet' if n > 1 else ''} in the first {HEAD_ROWS} rows "
        "(expected columns such as ticket_id, vendor, opened_at): check the file, or pass --kind and --map"
    )


# ---------------------------------------------------------------- one sheet


@dataclass
class _Problems:
    """Reasons collected per row (Arrow text, null = no problem), combined only for rejected rows."""

    n: int
    masks: list[np.ndarray] = field(default_factory=list)
    reasons: list[pa.Array] = field(default_factory=list)

    def add(self, mask: np.ndarray, reason: pa.Array | str) -> None:
        if not mask.any():
            return
        if isinstance(reason, str):
            reason = pc.fill_null(pa.nulls(self.n, pa.string()), reason)
        self.masks.append(mask)
        self.reasons.append(reason)

    def rejected(self) -> np.ndarray:
        out = np.zeros(self.n, bool)
        for mask in self.masks:
            out |= mask
        return out

    def reasons_for(self, rejected: np.ndarray) -> pa.Array:
        selector = pa.array(rejected)
        parts = [
            pc.if_else(pa.array(m).filter(selector), r.filter(selector), "")
            for m, r in zip(self.masks, self.reasons, strict=True)
        ]
        # (binary_join_element_wise's null_handling="skip" drops rows in pyarrow 26: join, then tidy)
        joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
        joined = pc.replace_substring_regex(joined, "\x1f+", "; ")
        return pc.replace_substring_regex(joined, "^; |; $", "")


class _Reporter:
    """Progress events of one file's planning (nothing happens without a callback)."""

    def __init__(self, progress: Progress | None, file_label: str, n_sheets: int):
        self.progress = progress
        self.file = file_label
        self.n_sheets = max(n_sheets, 1)
        self.sheets_done = 0
        self.started = time.monotonic()

    def __call__(self, stage: str, sheet: str | None, rows_done: int, rows_total, sheet_fraction: float):
        if self.progress is None:
            return
        self.progress(
            ProgressEvent(
                stage=stage,
                file=self.file,
                sheet=sheet,
                rows_done=rows_done,
                rows_total=rows_total,
                fraction=min(1.0, (self.sheets_done + sheet_fraction) / self.n_sheets),
                elapsed=time.monotonic() - self.started,
            )
        )

    def sheet_done(self) -> None:
        self.sheets_done += 1


@dataclass
class _Tally:
    """What the parts of one sheet add up to; warnings and decisions come from it at the end."""

    n: int = 0  # data rows (after skipping)
    skipped: int = 0
    long_cells: dict[int, int] = field(default_factory=dict)  # column index -> cells cut
    dates: dict[str, parse.DateEvidence] = field(default_factory=dict)
    numbers: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # (comma seen, dot seen)
    priorities: dict[str, tuple[bool, int]] = field(default_factory=dict)  # (column present, defaulted)
    blank_required: dict[str, bool] = field(default_factory=dict)  # every row so far blank
    date_orders_used: list[dict[str, str]] = field(default_factory=list)  # per part: numeric dates
    decimal_comma_used: list[dict[str, bool]] = field(default_factory=list)  # per part


@dataclass
class _Decisions:
    """Per column, how the whole column is read: day/month order of numeric dates, decimal comma."""

    dates: dict[str, tuple[str | None, bool, int, str | None]]  # order, ambiguous, conflicting, like
    decimal_comma: dict[str, bool]

    def date_value_order(self, name: str) -> str | None:
        return self.dates[name][0]


@dataclass
class _Part:
    rows: pa.Table
    rejected: pa.Table
    superseded: int


class _SpillDirectory:
    """Owns a temporary directory of Parquet parts; removed when this object is collected."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="rmdash-plan-"))
        weakref.finalize(self, shutil.rmtree, str(self.path), ignore_errors=True)


class _RowSink:
    """The accepted rows of a sheet's parts: kept in memory up to SPILL_ROWS, spilled to Parquet beyond."""

    def __init__(self, key: list[str]):
        self.key = key
        self.tables: list[pa.Table] = []
        self.files: list[str] = []
        self.key_hashes: list[np.ndarray] = []  # per spilled part, a 64-bit hash of each row's key
        self.directory: _SpillDirectory | None = None

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)
        if self.files or sum(t.num_rows for t in self.tables) > SPILL_ROWS:
            while self.tables:
                self._spill(self.tables.pop(0))

    def _spill(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        self.key_hashes.append(_key_hashes(table, self.key))
        if self.directory is None:
            self.directory = _SpillDirectory()
        path = self.directory.path / f"part-{len(self.files):05d}.parquet"
        pq.write_table(table, path)
        self.files.append(str(path))

    def drop_repeated_keys(self) -> int:
        """Across parts, a later row with the same key replaces an earlier one; returns rows dropped.

        Each part is already free of repeats. Parts in memory are compared
        whole; of spilled parts, rows whose key hash occurs in more than one
        place are the only candidates, and their keys are compared exactly.
        """
        if not self.files:
            return self._drop_repeated_keys_in_memory()
        import pyarrow.parquet as pq

        hashes = np.concatenate(self.key_hashes)
        ordered = np.sort(hashes)  # a sort costs a copy; a hash table of 10M keys costs far more
        repeated_hashes = ordered[1:][ordered[1:] == ordered[:-1]]
        del ordered
        if repeated_hashes.size == 0:
            return 0
        candidates = np.isin(hashes, repeated_hashes)
        bounds = np.cumsum([0] + [len(h) for h in self.key_hashes])
        parts = []
        for i, path in enumerate(self.files):
            rows = np.flatnonzero(candidates[bounds[i] : bounds[i + 1]])
            parts.append(pq.read_table(path, columns=self.key).take(rows))
        keys = pa.concat_tables(parts)
        last = last_of_each_key([keys.column(name) for name in self.key], keys.num_rows)
        repeated = np.zeros(len(hashes), bool)
        if last is not None:
            repeated[np.flatnonzero(candidates)] = ~last
        for i, path in enumerate(self.files):
            drop = repeated[bounds[i] : bounds[i + 1]]
            if drop.any():
                pq.write_table(pq.read_table(path).filter(pa.array(~drop)), path)
        return int(repeated.sum())

    def _drop_repeated_keys_in_memory(self) -> int:
        if len(self.tables) < 2:
            return 0
        rows = pa.concat_tables(self.tables)
        last = last_of_each_key([rows.column(name) for name in self.key], rows.num_rows)
        if last is None:
            return 0
        self.tables = [rows.filter(pa.array(last))]
        return int(rows.num_rows - last.sum())

    def result(self) -> tuple[pa.Table, SpilledRows | None]:
        if not self.files:
            return (self.tables[0] if len(self.tables) == 1 else pa.concat_tables(self.tables)), None
        import pyarrow.parquet as pq

        empty = pq.read_table(self.files[0]).slice(0, 0)
        count = sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
        return empty, SpilledRows(files=list(self.files), count=count, owner=self.directory)


def _key_hashes(table: pa.Table, key: list[str]) -> np.ndarray:
    """A 64-bit hash of each row's key (equal keys, equal hashes), to find repeats across parts."""
    with _scratch_duckdb() as con:
        con.register("part_keys", table.select(key))
        columns = ", ".join(f'"{name}"' for name in key)  # key names come from the registry
        return con.execute(f"SELECT hash({columns}) AS h FROM part_keys").fetchnumpy()["h"]  # noqa: S608


class _SheetPlanner:
    def __init__(self, raw: RawSheet, schema, options, saved, named, file_label, reporter=None):
        self.raw = raw
        self.schema: Schema = schema
        self.options: ImportOptions = options
        self.saved = saved
        self.named = named
        self.file_label = file_label
        self.where = f"file '{file_label}'" if raw.name is None else f"sheet '{one_line(raw.name)}'"
        self.warnings: list[str] = []
        self.report = reporter or _Reporter(None, file_label, 1)

    # ------------------------------------------------------------ header, kind, mapping

    def plan(self) -> SheetPlan | str:
        rows = self.raw.head(HEAD_ROWS)
        if not any(any(row) for row in rows):
            return "empty sheet"
        choice = self._choose(rows)
        if choice is None:
            return "no recognisable header"
        self.kind: Kind = self.schema.kind(choice.kind)
        self.choice = choice
        self.preset = choice.preset
        self.mapping_used = choice.saved or self.named
        header = rows[choice.row]
        below = rows[choice.row + 1] if choice.row + 1 < len(rows) else []
        self.cmap = detect.map_columns(
            header,
            self.kind,
            explicit=self._explicit_sources(),
            preset=self.preset,
            question_texts=below,
            sheet_label=self.where,
        )
        self.constants = self._constants()
        self.header = header
        self._warn_duplicate_headers()
        self._check_required_columns()
        return self._build(choice.row + 1)

    def _choose(self, rows) -> detect.HeaderChoice | None:
        options, named = self.options, self.named
        forced = options.kind or (named["kind"] if named else None)
        forced_reason = "--kind" if options.kind else f"saved mapping '{named['name']}'" if named else ""
        extra = set(options.column_map.values())
        if named:
            extra |= {str(h) for h in named["mapping"].values()}
        is_csv = self.raw.name is None
        name_kind = None if is_csv else detect.kind_from_name(self.raw.name, self.schema)
        hint = detect.kind_from_name(Path(self.file_label).stem, self.schema) if is_csv else None
        return detect.choose_header(
            rows,
            self.schema,
            forced_kind=forced,
            forced_reason=forced_reason,
            name_kind=name_kind,
            name_reason=f"sheet name '{one_line(self.raw.name)}'",
            hint_kind=hint,
            extra_headers=extra,
            saved_mappings=[] if named else self.saved,
        )

    def _explicit_sources(self) -> list[tuple[str, dict, bool]]:
        sources = [("--map", dict(self.options.column_map), True)]
        if self.mapping_used:
            strict = self.mapping_used is self.named
            sources.append(
                (f"saved mapping '{self.mapping_used['name']}'", self.mapping_used["mapping"], strict)
            )
        return sources

    def _constants(self) -> dict[str, str]:
        """Effective constants of this sheet, restricted to the kind's columns (see module docstring)."""
        names = set(self.kind.column_names)
        out: dict[str, str] = {}
        if self.preset:
            out.update({k: v for k, v in self.preset.constants.items() if k not in self.cmap.positions})
        if self.mapping_used:
            out.update({k: str(v) for k, v in self.mapping_used["constants"].items() if v not in (None, "")})
        out.update({k: str(v) for k, v in self.options.constants.items() if v not in (None, "")})
        out = {k: v.strip() for k, v in out.items() if k in names and v.strip()}
        for name in out:  # a constant overrides the file's column, which stays in the raw archive only
            index = self.cmap.positions.pop(name, None)
            if index is not None:
                self.cmap.unmapped.append(self.cmap.mapping.pop(name))
        return out

    def _derived_columns(self) -> set[str]:
        return set(self.preset.derived) if self.preset else set()

    def _check_required_columns(self) -> None:
        have = set(self.cmap.positions) | set(self.constants) | self._derived_columns()
        for name in self.kind.required:
            if name not in have:
                raise MissingColumn(
                    f"{self.kind.name} {self.where} has no {name} column: pass {_fix_flag(name)}",
                    self.kind.name,
                    name,
                    self.raw.name,
                )
        if self.kind.at_least_one and not have.intersection(self.kind.at_least_one):
            raise ImportRefused(
                f"{self.kind.name} {self.where} has no question score column "
                f"({', '.join(self.kind.at_least_one)}): pass --map {self.kind.at_least_one[0]}=HEADER"
            )

    # ------------------------------------------------------------ rows

    def _build(self, start: int) -> SheetPlan:
        """Type the rows below the header, part by part (one part for most sheets).

        A large sheet is typed CHUNK_ROWS rows at a time so memory stays that
        of one part. What depends on a whole column (the day/month order of
        numeric dates, a decimal comma, the counts in warnings, the last row per
        key) is decided from what all parts add up to, so the plan is the one a
        single pass would give; a part typed before its column's evidence was
        complete is typed again (docs/decisions.md, "Scale").
        """
        fixed: _Decisions | None = None
        while True:
            try:
                outcome = self._type_parts(start, fixed)
            except NotStreamable:  # not a plain rectangular UTF-8 CSV after all: read it whole
                self.raw = self.raw.whole()
                continue
            if isinstance(outcome, _Decisions):
                fixed = outcome
                continue
            return outcome

    def _type_parts(self, start: int, fixed: _Decisions | None) -> SheetPlan | _Decisions:
        """One pass over the parts; the decisions to type again with when a part was typed otherwise."""
        self._tally, self._fixed = _Tally(), fixed
        sink, rejected, superseded = _RowSink(list(self.kind.key)), [], 0
        rows_done = 0
        self.report("reading", self.raw.name, 0, None, 0.0)
        for i, chunk in enumerate(self.raw.chunks_from(start, CHUNK_ROWS)):
            part = self._type_part(chunk.table, chunk.first_row_no, first=i == 0)
            sink.add(part.rows)
            rejected.append(part.rejected)
            superseded += part.superseded
            rows_done += chunk.table.num_rows
            self.report("typing", self.raw.name, rows_done, _rows_total(chunk, rows_done), chunk.fraction)
        decisions = self._decisions(self._tally.dates, self._tally.numbers)
        if fixed is None and self._typed_otherwise(decisions):
            return decisions
        superseded += sink.drop_repeated_keys()
        return self._finish(sink, rejected, superseded, decisions)

    def _type_part(self, table: pa.Table, first_row_no: int, first: bool) -> _Part:
        n = table.num_rows
        row_no = np.arange(first_row_no, first_row_no + n, dtype=np.int64)
        cleaned = {
            i: self._clean(table, i) for i in set(self.cmap.positions.values()) | self._source_positions()
        }
        keep = ~self._skippable(table, cleaned, n, first)
        self._tally.skipped += int(n - keep.sum())
        if not keep.all():  # filtering copies every column: only when some row is skipped
            selector = pa.array(keep)
            table = table.filter(selector)
            cleaned = {i: arr.filter(selector) for i, arr in cleaned.items()}
            row_no = row_no[keep]
        n = table.num_rows
        self._tally.n += n

        self.problems = _Problems(n)
        texts = self._canonical_texts(cleaned, n)
        typed = {}
        typed.update(self._type_dates(texts))
        decimal_comma: dict[str, bool] = {}
        for column in self.kind.columns:
            if column.name not in typed:
                typed[column.name] = self._type_column(column, texts[column.name], n, decimal_comma)
        self._tally.decimal_comma_used.append(decimal_comma)
        self._apply_held_rule(typed, texts, cleaned, n)
        self._check_required_values(typed, texts, n)
        if self.kind.at_least_one:
            self._check_surveys(typed, texts, n)

        rejected_mask = self.problems.rejected() if self.problems.masks else np.zeros(n, bool)
        rejected = self._rejected_table(table, row_no, rejected_mask)
        rows = self._accepted_table(typed, row_no, ~rejected_mask)
        rows, superseded = self._keep_last_per_key(rows)
        return _Part(rows, rejected, superseded)

    def _typed_otherwise(self, decisions: _Decisions) -> bool:
        """Was a part typed with another date order or decimal separator than the whole column takes?"""
        for used in self._tally.date_orders_used:
            if any(decisions.date_value_order(name) != order for name, order in used.items()):
                return True
        for used in self._tally.decimal_comma_used:
            if any(decisions.decimal_comma[name] != comma for name, comma in used.items()):
                return True
        return False

    def _finish(self, sink: _RowSink, rejected: list[pa.Table], superseded: int, decisions) -> SheetPlan:
        tally = self._tally
        for index, count in tally.long_cells.items():
            self._warn_long_cells(index, count)
        if tally.n == 0:
            self.warnings.append("no data rows below the header")
        self.date_orders: dict[str, str] = {}
        self.ambiguous: list[str] = []
        for name, (order, ambiguous, conflicting, like) in decisions.dates.items():
            self._note_date_order(name, order, ambiguous, conflicting, like)
        for name, (present, defaulted) in tally.priorities.items():
            self._warn_priorities(name, present, defaulted, tally.n)
        for name, blank in tally.blank_required.items():
            if tally.n and blank and name in self.cmap.positions:
                self._refuse_empty_column(name)
        found = [t for t in rejected if t.num_rows]
        rejected_rows = pa.concat_tables(found) if len(found) > 1 else (found or rejected)[0]
        rows, spilled = sink.result()
        return SheetPlan(
            file_name=self.file_label,
            sheet=self.raw.name,
            kind=self.kind.name,
            kind_reason=self.choice.kind_reason,
            header_row=self.choice.row + 1,
            mapping=dict(self.cmap.mapping),
            unmapped=list(self.cmap.unmapped),
            constants=dict(self.constants),
            date_orders=self.date_orders,
            ambiguous_dates=self.ambiguous,
            accepted_rows=rows,
            rejected_rows=rejected_rows,
            superseded=superseded,
            skipped=tally.skipped,
            warnings=self.warnings,
            preset=self.preset.name if self.preset else None,
            layout_signature=detect.layout_signature(self.header),
            spilled=spilled,
            keys_unique=True,  # every part was deduplicated, and then the parts among them
        )

    def _clean(self, table: pa.Table, index: int) -> pa.Array:
        return self._cut_long_cells(
            parse.clean_text(table.column(index).combine_chunks(), self.schema.null_tokens), index
        )

    def _cut_long_cells(self, cells: pa.Array, index: int) -> pa.Array:
        """Text longer than Excel's cell limit is cut to it (the original stays in the raw archive).

        Only a tool, never Excel, writes such a cell; kept whole it would bloat
        every table and download that shows the column.
        """
        tally = self._tally.long_cells
        tally.setdefault(index, 0)  # every column, so the warnings keep column order
        if (pc.max(pc.binary_length(cells)).as_py() or 0) <= MAX_CELL_CHARS:
            return cells  # a cell has at least as many bytes as characters: none can be too long
        too_long = pc.fill_null(pc.greater(pc.utf8_length(cells), MAX_CELL_CHARS), False)
        count = pc.sum(too_long).as_py() or 0
        tally[index] += count
        if not count:
            return cells
        return pc.if_else(too_long, pc.utf8_slice_codeunits(cells, 0, MAX_CELL_CHARS), cells)

    def _warn_long_cells(self, index: int, count: int) -> None:
        if count:
            self.warnings.append(
                f"'{one_line(self.header[index], 40)}': {count} cell(s) longer than {MAX_CELL_CHARS:,} "
                "characters (Excel's limit) cut to that length; the original file is kept in the archive"
            )

    def _warn_duplicate_headers(self) -> None:
        """A header used twice: the first column is imported, the user is told which."""
        folded = [fold(c) if c else "" for c in self.header]
        for canonical, index in self.cmap.positions.items():
            twins = [column_letter(i) for i, f in enumerate(folded) if f == folded[index] and i != index]
            if twins:
                self.warnings.append(
                    f"{canonical}: the header '{one_line(self.header[index], 40)}' appears more than once; "
                    f"column {column_letter(index)} is imported, column {', '.join(twins)} only kept in the archive"
                )

    def _header_index(self, header: str) -> int | None:
        target = fold(header)
        for i, cell in enumerate(self.header):
            if cell and fold(cell) == target:
                return i
        return None

    def _source_positions(self) -> set[int]:
        """Columns read by preset rules (derived keys, cancel markers) besides the mapped ones."""
        out = set()
        if self.preset:
            for spec in self.preset.derived.values():
                out |= {i for h in spec.get("concat", ()) if (i := self._header_index(h)) is not None}
            if self.preset.held_rule:
                index = self._header_index(self.preset.held_rule["cancel_header"])
                if index is not None:
                    out.add(index)
        return out

    def _skippable(self, table: pa.Table, cleaned: dict[int, pa.Array], n: int, first: bool) -> np.ndarray:
        """Blank rows, totals rows, repeated header / label rows and Qualtrics ImportId rows.

        ``first``: this part starts right below the header.
        """
        if n == 0:
            return np.zeros(0, bool)
        mapped = list(cleaned.values())
        blank = np.ones(n, bool)
        for arr in mapped:
            blank &= pc.is_null(arr).to_numpy(zero_copy_only=False)
        skip = blank | self._totals_rows(table, cleaned, n) | self._header_like_rows(table, cleaned, n)
        for arr in mapped:
            skip |= pc.fill_null(pc.starts_with(arr, _IMPORT_ID), False).to_numpy(zero_copy_only=False)
        if first and self.preset and self.preset.questions == "row_below_header":
            skip[0] = True  # the question-text row under the header
        return skip

    def _totals_rows(self, table: pa.Table, cleaned: dict[int, pa.Array], n: int) -> np.ndarray:
        """Rows whose first non-blank cell is a totals label ("Total", "Grand total: ...").

        Only rows whose key cell is blank or itself a totals label are examined
        (a real row has an id), so wide sheets stay cheap.
        """
        prefixes = sorted(self.schema.totals_prefixes, key=len, reverse=True)
        pattern = r"(?i)^(?:" + "|".join(re.escape(p) for p in prefixes) + r")(?:$|[\s:(])"
        keys = [
            self.cmap.positions[k]
            for k in self.kind.key
            if k in self.cmap.positions and k not in self.constants
        ]
        candidates = np.ones(n, bool)
        if keys:
            candidates = np.zeros(n, bool)
            for i in keys:
                arr = cleaned[i]
                candidates |= pc.is_null(arr).to_numpy(zero_copy_only=False)
                candidates |= pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(
                    zero_copy_only=False
                )
        out = np.zeros(n, bool)
        if not candidates.any():
            return out
        subset = table.filter(pa.array(candidates))
        first = pa.nulls(subset.num_rows, pa.string())
        for column in reversed(subset.columns):
            text = pc.utf8_trim_whitespace(column.combine_chunks())
            text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
            first = pc.coalesce(text, first)
        out[candidates] = pc.fill_null(pc.match_substring_regex(first, pattern), False).to_numpy(
            zero_copy_only=False
        )
        return out

    def _header_like_rows(self, table: pa.Table, cleaned: dict[int, pa.Array], n: int) -> np.ndarray:
        """A repeated header (page breaks in reports) or a label row such as Qualtrics' second row.

        Candidates: a mapped cell equal to its own header. Confirmed
        when the key cell repeats its header, or at least two cells and half
        the row's non-blank cells do.
        """
        candidates = np.zeros(n, bool)
        for i, arr in cleaned.items():
            if i >= len(self.header) or self.header[i] is None:
                continue
            # exact (case-insensitive) copies first: folding every cell of a big sheet costs more
            # than all the typing; the folded comparison then runs on these few rows only. Only
            # cells as long as the header can be a copy, so only those are lower-cased.
            header = str(self.header[i]).strip()
            rows = np.flatnonzero(
                pc.fill_null(pc.equal(pc.utf8_length(arr), len(header)), False).to_numpy(zero_copy_only=False)
            )
            if rows.size:
                same = pc.equal(pc.utf8_lower(arr.take(rows)), header.lower())
                candidates[rows[pc.fill_null(same, False).to_numpy(zero_copy_only=False)]] = True
        out = np.zeros(n, bool)
        if not candidates.any():
            return out
        key_positions = {self.cmap.positions[k] for k in self.kind.key if k in self.cmap.positions}
        folded_header = [fold(h) if h else "" for h in self.header]
        for r in np.flatnonzero(candidates):  # a handful of rows at most
            cells = [c[0].as_py() for c in table.slice(int(r), 1).columns]
            folded = [fold(c) if c else "" for c in cells]
            equal = [
                i for i, f in enumerate(folded) if f and i < len(folded_header) and f == folded_header[i]
            ]
            nonblank = sum(1 for f in folded if f)
            key_repeat = any(i in key_positions for i in equal)
            out[r] = key_repeat or (len(equal) >= 2 and 2 * len(equal) >= nonblank)
        return out

    def _canonical_texts(self, cleaned: dict[int, pa.Array], n: int) -> dict[str, pa.Array]:
        """Cleaned text of every canonical column: file column, constant, derived value, or all null."""
        cleaned = dict(cleaned)
        self._cancelled = np.zeros(n, bool)
        if self.preset and self.preset.held_rule:
            self._strip_cancel_prefix(cleaned, n)
        texts: dict[str, pa.Array] = {}
        for column in self.kind.columns:
            name = column.name
            if name in self.constants:
                texts[name] = pc.fill_null(pa.nulls(n, pa.string()), self.constants[name])
            elif name in self.cmap.positions:
                texts[name] = self._value_map(name, cleaned[self.cmap.positions[name]])
            elif self.preset and name in self.preset.derived:
                texts[name] = self._derive(self.preset.derived[name], cleaned, n)
            else:
                texts[name] = pa.nulls(n, pa.string())
        return texts

    def _value_map(self, name: str, arr: pa.Array) -> pa.Array:
        mapping = self.preset.values.get(name) if self.preset else None
        if not mapping:
            return arr
        folded = {fold(k): v for k, v in mapping.items() if k != "*"}
        other = mapping.get("*")
        return parse.map_distinct(
            arr, lambda v: folded.get(fold(v), other if other is not None else v), pa.string()
        )

    def _derive(self, spec: dict, cleaned: dict[int, pa.Array], n: int) -> pa.Array:
        parts = [cleaned[i] for h in spec.get("concat", ()) if (i := self._header_index(h)) is not None]
        if not parts:
            return pa.nulls(n, pa.string())
        any_value = np.zeros(n, bool)
        for part in parts:
            any_value |= pc.is_valid(part).to_numpy(zero_copy_only=False)
        joined = pc.binary_join_element_wise(*[pc.fill_null(p, "") for p in parts], " | ")
        return pc.if_else(pa.array(any_value), joined, pa.scalar(None, pa.string()))

    def _strip_cancel_prefix(self, cleaned: dict[int, pa.Array], n: int) -> None:
        rule = self.preset.held_rule
        index = self._header_index(rule["cancel_header"])
        if index is None:
            return
        prefixes = "|".join(re.escape(p) for p in rule.get("cancel_prefixes", ()))
        pattern = r"(?i)^\s*(?:" + prefixes + r")\s*"
        arr = cleaned[index]
        self._cancelled = pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(
            zero_copy_only=False
        )
        cleaned[index] = pc.replace_substring_regex(arr, pattern, "")

    # ------------------------------------------------------------ typing and validation

    def _type_column(self, column: Column, text: pa.Array, n: int, decimal_comma: dict[str, bool]):
        present = column.name in self.cmap.positions or column.name in self.constants
        present = present or bool(self.preset and column.name in self.preset.derived)
        kind = column.type
        if kind in ("number", "score"):
            result = self._type_numbers(column.name, text)
            decimal_comma[column.name] = result.decimal_comma
            self._reject_unreadable(column, text, result.bad)
            return result.values
        if kind == "bool":
            if not present:
                # The KPI engine counts an unknown flag as "no" (the spec's denominators), so
                # say so: a perfect escalation rate from an export without the column misleads.
                note = f"{column.name}: no {column.name} column; every row counts as 'no'"
                if n and note not in self.warnings:
                    self.warnings.append(note)
                return pa.nulls(n, pa.bool_())
            result = parse.parse_bools(text, self.schema.vocabulary_lookup("bool"))
            self._reject_unreadable(column, text, result.bad)
            return result.values
        if kind == "priority":
            result = parse.parse_priorities(text, self.schema.vocabulary_lookup("priority"))
            _, defaulted = self._tally.priorities.get(column.name, (present, 0))
            self._tally.priorities[column.name] = (present, defaulted + result.defaulted)
            return result.values
        if column.vocabulary:
            return parse.map_vocabulary(text, self.schema.vocabulary_lookup(column.vocabulary))
        return text

    def _type_dates(self, texts: dict[str, pa.Array]) -> dict[str, np.ndarray]:
        """Every date column, each with its own day/month order.

        A column whose values fit both orders takes the order the sheet's
        other date columns settled (one export tool writes one format), else
        the default; either way it is listed as ambiguous with a warning.
        """
        columns = [c for c in self.kind.columns if c.type in ("date", "datetime")]
        results = {
            c.name: parse.parse_dates(texts[c.name], self.options.date_order, date_only=c.type == "date")
            for c in columns
        }
        tally = self._tally.dates
        for name, result in results.items():
            tally[name] = tally[name] + result.evidence if name in tally else result.evidence
        # the whole column's decision when known, else the one of every part typed so far
        decisions = self._fixed or self._decisions(tally, {})
        used: dict[str, str] = {}
        out = {}
        for column in columns:
            result = results[column.name]
            order = decisions.date_value_order(column.name)
            if result.evidence.counts.get("numeric"):
                used[column.name] = order
                if order != result.order:  # a sibling column's order, or the whole column's
                    result = parse.parse_dates(texts[column.name], order, date_only=column.type == "date")
            self._reject_unreadable(column, texts[column.name], result.bad)
            out[column.name] = result.values
        self._tally.date_orders_used.append(used)
        return out

    def _decisions(self, dates: dict[str, parse.DateEvidence], numbers: dict) -> _Decisions:
        """How each column is read, from the evidence of its values (see _type_dates).

        A date column whose values fit both orders takes the order the sheet's
        other date columns settled (one export tool writes one format), else
        the default; either way it is listed as ambiguous with a warning.
        """
        decided = {name: evidence.decide(self.options.date_order) for name, evidence in dates.items()}
        settled = {name: d[0] for name, d in decided.items() if d[0] in DATE_ORDER_FLAGS and not d[1]}
        sibling = next(iter(settled.items())) if len(set(settled.values())) == 1 else None
        out = {}
        for name, (order, ambiguous, conflicting) in decided.items():
            like = None
            if ambiguous and sibling:
                like, order, conflicting = sibling[0], sibling[1], 0
            out[name] = (order, ambiguous, conflicting, like)
        commas = {name: parse.decimal_comma_from(*seen) for name, seen in numbers.items()}
        return _Decisions(dates=out, decimal_comma=commas)

    def _type_numbers(self, name: str, text: pa.Array) -> parse.NumberResult:
        """A number column with the whole column's decimal separator (see _build)."""
        forced = self._fixed.decimal_comma.get(name) if self._fixed else None
        result = parse.parse_numbers(text, forced)
        comma, dot = self._tally.numbers.get(name, (False, False))
        self._tally.numbers[name] = (comma or result.comma_seen, dot or result.dot_seen)
        running = parse.decimal_comma_from(*self._tally.numbers[name])
        if forced is None and running != result.decimal_comma:
            result = parse.parse_numbers(text, running)
        return result

    def _note_date_order(self, name: str, order, ambiguous: bool, conflicting: int, like=None) -> None:
        if order is None:
            return
        self.date_orders[name] = order
        source = self._source_label(name)
        if ambiguous:
            self.ambiguous.append(name)
            other = "monthfirst" if order == "dayfirst" else "dayfirst"
            self.warnings.append(
                f"{source}: every date fits both day-first and month-first; read as "
                f"{order.replace('first', '-first')}{f' like {like}' if like else ''} "
                f"(pass {DATE_ORDER_FLAGS[other]} if they are {other.replace('first', '-first')})"
            )
        elif conflicting:
            self.warnings.append(
                f"{source}: {conflicting} date(s) do not fit the "
                f"{order.replace('first', '-first')} order of the rest of the column and were rejected"
            )

    def _warn_priorities(self, name: str, present: bool, defaulted: int, n: int) -> None:
        if n and not present:
            self.warnings.append(f"{name}: no {name} column; every row read as P3")
        elif defaulted:
            self.warnings.append(f"{name}: {defaulted} row(s) blank or unrecognised, read as P3")

    def _source_label(self, name: str) -> str:
        header = self.cmap.mapping.get(name)
        return f"{name} ('{one_line(header, 40)}')" if header and fold(header) != fold(name) else name

    def _reject_unreadable(self, column: Column, text: pa.Array, bad: np.ndarray) -> None:
        if not bad.any():
            return
        if column.name in self.constants:
            raise ImportRefused(
                f"constant {column.name}='{one_line(self.constants[column.name], 40)}' "
                f"cannot be read as {_TYPE_WORDS[column.type]}: correct the value"
            )
        reason = pc.binary_join_element_wise(
            f"{column.name}: cannot read '",
            parse.one_line_values(text),
            f"' as {_TYPE_WORDS[column.type]}",
            "",
        )
        self.problems.add(bad, reason)
        if column.type == "score":
            self._warn_answer_labels(column, text, bad)

    def _warn_answer_labels(self, column: Column, text: pa.Array, bad: np.ndarray) -> None:
        """Scores exported as their answer text ("Extremely satisfied"): say how to export numbers.

        Survey tools export either the answer's number or its label; which
        number a label stands for depends on the survey, so labels are not
        guessed at (their rows are rejected) and the sheet says what to do.
        """
        first = parse.one_line_values(text.slice(int(np.argmax(bad)), 1)).to_pylist()[0]
        if not first or not any(ch.isalpha() for ch in first):
            return
        if any(w.startswith(_ANSWER_LABELS) for w in self.warnings):
            return  # one note for the sheet: every question of such an export is the same
        self.warnings.append(
            f"{_ANSWER_LABELS} such as '{one_line(first, 40)}' ({column.name}), not numbers: export the "
            "survey again with numeric values (Qualtrics: Download Data, 'Use numeric values')"
        )

    def _apply_held_rule(self, typed: dict, texts: dict, cleaned: dict, n: int) -> None:
        """Calendar exports: Cancelled by subject prefix, else Held when the date has passed."""
        if not (self.preset and self.preset.held_rule) or n == 0:
            return
        scheduled = typed[self.kind.period_column]
        today = np.datetime64(date.today(), "us")
        held = ~self._cancelled & ~np.isnat(scheduled) & (scheduled <= today)
        if "status" not in self.cmap.positions and "status" not in self.constants:
            status = np.where(self._cancelled, "Cancelled", np.where(held, "Held", "Planned"))
            typed["status"] = pa.array(status, pa.string())
        if "held_date" not in self.cmap.positions and "held_date" not in self.constants:
            typed["held_date"] = np.where(held, scheduled, np.datetime64("NaT"))

    def _check_required_values(self, typed: dict, texts: dict, n: int) -> None:
        for name in self.kind.required:
            blank = pc.is_null(texts[name]).to_numpy(zero_copy_only=False)
            # a mapped required column blank in every row is refused when the whole sheet is typed
            self._tally.blank_required[name] = self._tally.blank_required.get(name, True) and bool(
                blank.all()
            )
            self.problems.add(blank, f"{name}: blank (required)")

    def _refuse_empty_column(self, name: str) -> None:
        header = self.cmap.mapping[name]
        raise MissingColumn(
            f"{self.kind.name} {self.where}: column '{one_line(header, 40)}' ({name}) is empty: "
            f"pass {_fix_flag(name)}",
            self.kind.name,
            name,
            self.raw.name,
        )

    def _check_surveys(self, typed: dict, texts: dict, n: int) -> None:
        low, high = survey_scale(self.options)
        scores = [c for c in self.kind.at_least_one if c in typed]
        any_score = np.zeros(n, bool)
        for name in scores:
            values = typed[name]
            any_score |= ~np.isnan(values)
            outside = ~np.isnan(values) & ((values < low) | (values > high))
            reason = pc.binary_join_element_wise(
                f"{name}: ",
                parse.one_line_values(texts[name]),
                f" is outside the survey scale {low:g}-{high:g} (pass --survey-scale MIN-MAX)",
                "",
            )
            self.problems.add(outside, reason)
        nps_low, nps_high = _nps_range()
        if "nps" in typed:
            values = typed["nps"]
            outside = ~np.isnan(values) & ((values < nps_low) | (values > nps_high))
            reason = pc.binary_join_element_wise(
                "nps: ", parse.one_line_values(texts["nps"]), f" is outside {nps_low:g}-{nps_high:g}", ""
            )
            self.problems.add(outside, reason)
        self.problems.add(~any_score, f"no question score ({', '.join(self.kind.at_least_one)})")

    # ------------------------------------------------------------ output frames

    def _rejected_table(self, table: pa.Table, row_no: np.ndarray, rejected: np.ndarray) -> pa.Table:
        """row_no, reason and raw (a JSON object of the row's cell texts under the sheet's headers)."""
        if not rejected.any():
            return pa.table(
                {
                    "row_no": pa.array([], pa.int64()),
                    "reason": pa.array([], pa.string()),
                    "raw": pa.array([], pa.string()),
                }
            )
        selector = pa.array(rejected)
        raw = parse.json_objects(table.filter(selector), _unique_labels(self.header, table.num_columns))
        return pa.table(
            {"row_no": pa.array(row_no[rejected]), "reason": self.problems.reasons_for(rejected), "raw": raw}
        )

    def _accepted_table(self, typed: dict, row_no: np.ndarray, accepted: np.ndarray) -> pa.Table:
        """The accepted rows, one Arrow column per canonical column (SheetPlan.accepted_rows)."""
        selector = pa.array(accepted)
        data: dict[str, pa.Array] = {}
        for column in self.kind.columns:
            values = typed[column.name]
            if isinstance(values, pa.Array | pa.ChunkedArray):
                data[column.name] = values.filter(selector)
            else:  # numpy: NaN and NaT are blanks, so they become nulls
                data[column.name] = pa.array(values[accepted], from_pandas=True)
        count = int(accepted.sum())
        if self.kind.name == "surveys":
            low, high = survey_scale(self.options)
            data["scale_min"] = pa.array(np.full(count, low))
            data["scale_max"] = pa.array(np.full(count, high))
        data["row_no"] = pa.array(row_no[accepted])
        for column in self.kind.columns:
            if column.type in ("text", "titles") and data[column.name].type != pa.string():
                data[column.name] = data[column.name].cast(pa.string())
        return pa.table(data)

    def _keep_last_per_key(self, rows: pa.Table) -> tuple[pa.Table, int]:
        """Event logs: a later row with the same key replaces an earlier one."""
        last = last_of_each_key([rows.column(name) for name in self.kind.key], rows.num_rows)
        if last is None:
            return rows, 0
        return rows.filter(pa.array(last)), int(rows.num_rows - last.sum())


def last_of_each_key(columns: list[pa.Array | pa.ChunkedArray], n: int) -> np.ndarray | None:
    """Mask of the rows that are the last of their key (the key being all ``columns``), None if no key repeats.

    One hash aggregate in DuckDB finds the repeated keys and each one's last
    row (parallel; 1M rows: ~0.05 s, where pyarrow's dictionary encoding of
    an id column took 0.1 s per 250k rows); blank keys are a value of their
    own, as in any GROUP BY.
    """
    if n == 0:
        return None
    names = [f"k{i}" for i in range(len(columns))]
    keys = pa.Table.from_arrays([*columns, pa.array(np.arange(n, dtype=np.int64))], names=[*names, "pos"])
    group = ", ".join(names)
    matches = " AND ".join(f"r.{k} IS NOT DISTINCT FROM d.{k}" for k in names)
    with _scratch_duckdb() as con:
        con.register("keyed_rows", keys)
        repeated = con.sql(
            f"SELECT {group}, max(pos) AS last_pos FROM keyed_rows GROUP BY {group} HAVING count(*) > 1"  # noqa: S608
        ).to_arrow_table()
        if repeated.num_rows == 0:
            return None
        con.register("repeated_keys", repeated)
        dropped = con.execute(
            f"SELECT r.pos FROM keyed_rows r JOIN repeated_keys d ON {matches} WHERE r.pos < d.last_pos"  # noqa: S608
        ).fetchnumpy()["pos"]
    last = np.ones(n, bool)
    last[dropped] = False
    return last


_SCRATCH: duckdb.DuckDBPyConnection | None = None


def start_scratch_duckdb() -> None:
    """Start the scratch instance now (the importer does while a workbook is being read ahead)."""
    _scratch_duckdb().close()


def _scratch_duckdb() -> duckdb.DuckDBPyConnection:
    """A cursor on this process's in-memory DuckDB, for set work over Arrow (no store is touched).

    One instance for the process (starting one costs ~20 ms); a cursor per use,
    so plans made in several threads (upload sessions) do not share one.
    """
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = duckdb.connect(":memory:")
        _SCRATCH.execute("SET enable_progress_bar = false")
    return _SCRATCH.cursor()


def _rows_total(chunk: Chunk, rows_done: int) -> int | None:
    """Rows of the sheet: known for a workbook, estimated from the bytes read for a streamed CSV."""
    if chunk.rows_total is not None:
        return chunk.rows_total
    return round(rows_done / chunk.fraction) if chunk.fraction > 0 else None


def _fix_flag(column: str) -> str:
    """The flag that supplies a missing column: a constant flag, else --map (or --set for a constant)."""
    return CLI_CONSTANT_FLAGS.get(
        column, f"--map {column}=HEADER (or --set {column}=VALUE for the whole file)"
    )


def _unique_labels(header: list[str | None], width: int) -> list[str]:
    """Header texts as JSON keys: blank -> 'column N', duplicates numbered."""
    labels, seen = [], {}
    for i in range(width):
        text = str(header[i]).strip() if i < len(header) and header[i] else f"column {i + 1}"
        count = seen.get(text, 0) + 1
        seen[text] = count
        labels.append(text if count == 1 else f"{text} ({count})")
    return labels
