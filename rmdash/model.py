"""Plain data passed between the importer's stages, the store and the shells.

Purpose: one place for the shapes that cross module boundaries (import
options, the plan of a sheet before it is written, the summary of a batch
after it is written, the one error type a user may see). Boundary: dataclasses
and exceptions only; no logic that reads files or databases.
"""

from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # annotations only: the CLI must start without loading pandas or pyarrow
    import pandas as pd
    import pyarrow as pa

DateOrder = Literal["auto", "dayfirst", "monthfirst"]


class RmdashError(Exception):
    """An error whose message is one clear line meant for the user.

    Shells (CLI, app) print ``str(err)`` and nothing else; no traceback.
    """


class ImportRefused(RmdashError):
    """A whole file (or the whole import) is refused; the database is untouched."""


class DatabaseBusy(RmdashError):
    """Another process holds the database's write lock."""


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


@dataclass
class ImportOptions:
    """What the user said about an upload (CLI flags or the upload page)."""

    kind: str | None = None  # force this kind for every sheet
    constants: dict[str, str] = field(default_factory=dict)  # canonical column -> constant
    column_map: dict[str, str] = field(default_factory=dict)  # canonical column -> file header
    date_order: DateOrder = "auto"
    survey_scale: tuple[float, float] | None = None  # (min, max); None = registry default
    mapping_name: str | None = None  # apply a saved mapping
    save_mapping: str | None = None  # save this upload's mapping under a name
    strict: bool = False  # any rejected row fails the whole import
    who: str = field(default_factory=_default_user)


@dataclass
class SheetPlan:
    """One sheet of one file, read, mapped, typed and validated, not yet written.

    ``accepted_rows`` (an Arrow table) holds the accepted rows: one column per
    canonical column of the kind (typed: text as string, date/datetime as
    timestamp[us], number/score as float64, bool as bool, priority as int8
    1..4; blanks are nulls), the kind's extra columns, and ``row_no`` (1-based
    row number in the sheet, as Excel shows it). Within a file a later row
    with the same key has already replaced an earlier one (counted in
    ``superseded``). ``rejected_rows`` (Arrow) has columns row_no, reason, raw
    (JSON object of the original cell texts). The import path stays in Arrow
    (no pandas: its import and copies cost more than typing a 100k-row
    sheet); ``rows`` and ``rejected`` give the same data as pandas frames for
    the upload page and for tests, converted on first use.

    A large sheet (typed in parts, see docs/decisions.md "Scale") keeps its
    accepted rows on disk instead: ``spilled`` names the Parquet parts, in
    order, and ``accepted_rows`` is then an empty table with the same columns.
    Use ``accepted`` for the count either way.
    """

    file_name: str
    sheet: str | None  # None for CSV
    kind: str
    kind_reason: str  # e.g. "sheet name 'Tickets'", "header", "--kind"
    header_row: int  # 1-based
    mapping: dict[str, str]  # canonical column -> header as found in the file
    unmapped: list[str]  # headers kept only in the raw archive
    constants: dict[str, str]
    date_orders: dict[str, str]  # date column -> "dayfirst" | "monthfirst" | "iso" | "excel"
    ambiguous_dates: list[str]  # date columns whose order was assumed, not decided
    accepted_rows: pa.Table
    rejected_rows: pa.Table
    superseded: int = 0
    skipped: int = 0  # blank, totals and repeated-header rows
    warnings: list[str] = field(default_factory=list)
    preset: str | None = None
    layout_signature: str = ""  # identifies the header layout, for saved mappings
    spilled: SpilledRows | None = None
    # True when the planner already kept only the last row of each key (plan_file always does),
    # so the store need not look for repeated keys again; a plan built by hand is checked
    keys_unique: bool = False

    @property
    def accepted(self) -> int:
        """How many accepted rows this sheet has (in ``accepted_rows`` or spilled to disk)."""
        return self.spilled.count if self.spilled is not None else self.accepted_rows.num_rows

    @property
    def rows(self) -> pd.DataFrame:
        """``accepted_rows`` as a pandas frame (bool columns as the nullable ``boolean`` dtype)."""
        return _to_pandas(self.accepted_rows)

    @property
    def rejected(self) -> pd.DataFrame:
        """``rejected_rows`` as a pandas frame."""
        return _to_pandas(self.rejected_rows)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


@dataclass
class SpilledRows:
    """Accepted rows of a large sheet as Parquet files (the columns of ``SheetPlan.rows``).

    The files live in a temporary directory owned by the plan; ``owner`` keeps
    it alive (the directory is removed when the owner is garbage collected).
    """

    files: list[str]
    count: int
    owner: object = field(default=None, repr=False, compare=False)


@dataclass
class ProgressEvent:
    """How far an import has got, for a progress bar (CLI and upload page).

    ``rows_total`` is None while unknown; for a streamed CSV it is an
    estimate from the bytes read so far. ``fraction`` is in [0, 1].
    """

    stage: str  # "reading", "typing", "writing", "done"
    file: str
    sheet: str | None = None
    rows_done: int = 0
    rows_total: int | None = None
    fraction: float = 0.0
    elapsed: float = 0.0  # seconds since the import started
    detail: str = ""

    @property
    def rate(self) -> float | None:
        """Rows per second so far."""
        return self.rows_done / self.elapsed if self.elapsed > 0 and self.rows_done else None

    @property
    def seconds_left(self) -> float | None:
        """Estimated from the rate so far; None until there is a rate and a total."""
        if not self.rate or self.rows_total is None:
            return None
        return max(0.0, (self.rows_total - self.rows_done) / self.rate)


@dataclass
class FilePlan:
    path: str
    file_name: str
    sha256: str
    size: int
    sheets: list[SheetPlan]
    skipped_sheets: list[str] = field(default_factory=list)  # "Notes: no recognisable header"


@dataclass
class BatchSummary:
    """What one imported (or refused-as-duplicate) sheet did to the store."""

    batch_id: int | None
    file: str
    sheet: str | None
    kind: str
    sha256: str
    active: bool
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    superseded: int = 0
    rejected: int = 0
    skipped: int = 0
    duplicate_of: int | None = None  # identical sheet already imported as this batch
    warnings: list[str] = field(default_factory=list)
    imported_at: str | None = None
    who: str | None = None

    def to_json(self) -> dict:
        return asdict(self)
