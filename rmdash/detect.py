"""Header row, kind and column mapping of a raw sheet.

Purpose: given the first rows of a sheet as text, find the header row (title
rows above it are common), decide the sheet's kind (``--kind``, a saved
mapping, the sheet name, or the header's best coverage of required columns),
recognise export layouts (presets), and map headers to canonical columns
(``--map`` > saved mapping > preset > canonical name > synonyms > survey
question keywords). Boundary: reads the registry and the first rows only; no
typing, no files, no database.

Every comparison of a header or a name goes through ``schema.fold``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from rmdash.model import ImportRefused
from rmdash.readers import one_line
from rmdash.schema import Kind, Schema, fold

SIGNATURE_LENGTH = 16  # hex characters of the layout hash


# ---------------------------------------------------------------- registry extras


@cache
def registry_toml(name: str) -> dict:
    """A packaged registry file as a plain dict (for entries schema.py does not type)."""
    return tomllib.loads(resources.files("rmdash.registry").joinpath(name).read_text("utf-8"))


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    kind: str
    signature: frozenset[str]  # folded headers
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    derived: dict[str, dict] = field(default_factory=dict)
    held_rule: dict | None = None
    questions: str | None = None  # "header" | "row_below_header"
    metadata: frozenset[str] = frozenset()  # folded


_PRESETS: dict[int, list[Preset]] = {}


def presets(schema: Schema) -> list[Preset]:
    """Schema.presets typed, most specific (longest signature) first (built once per schema)."""
    key = id(schema.presets)
    if key not in _PRESETS:
        _PRESETS[key] = _typed_presets(schema)
    return _PRESETS[key]


def _typed_presets(schema: Schema) -> list[Preset]:
    out = [
        Preset(
            name=name,
            label=raw.get("label", name),
            kind=raw["kind"],
            signature=frozenset(fold(h) for h in raw.get("signature", ())),
            columns=dict(raw.get("columns", {})),
            constants={k: str(v) for k, v in raw.get("constants", {}).items()},
            values={k: {str(a): str(b) for a, b in v.items()} for k, v in raw.get("values", {}).items()},
            derived=dict(raw.get("derived", {})),
            held_rule=raw.get("held_rule"),
            questions=raw.get("questions"),
            metadata=frozenset(fold(h) for h in raw.get("metadata", ())),
        )
        for name, raw in schema.presets.items()
    ]
    return sorted(out, key=lambda p: -len(p.signature))


def question_keywords() -> list[tuple[str, tuple[str, ...]]]:
    """(canonical column, keywords) in the order they are tried."""
    return [
        (entry["column"], tuple(k.casefold() for k in entry["keywords"]))
        for entry in registry_toml("presets.toml").get("question_keywords", [])
    ]


# ---------------------------------------------------------------- names and signatures


def kind_from_name(name: str | None, schema: Schema) -> str | None:
    """Kind named by a sheet (or file) name: its leading words fold to one of a kind's sheet_names.

    "Tickets", "Tickets Jan 2026", "CR log" match; "Crisis" does not match "cr".
    """
    if not name:
        return None
    words = [fold(w) for w in re.split(r"[\W_]+", str(name)) if fold(w)]
    best: tuple[int, str] | None = None
    for kind in schema.kinds.values():
        names = {fold(n) for n in kind.sheet_names}
        for length in range(len(words), 0, -1):
            if "".join(words[:length]) in names:
                if best is None or length > best[0]:
                    best = (length, kind.name)
                break
    return best[1] if best else None


def _trimmed(cells: list[str | None]) -> list[str]:
    folded = [fold(c) if c else "" for c in cells]
    while folded and not folded[-1]:
        folded.pop()
    while folded and not folded[0]:
        folded.pop(0)
    return folded


def layout_signature(cells: list[str | None]) -> str:
    """Stable hash of the folded header list (blank cells at either end ignored)."""
    joined = "\x1f".join(_trimmed(cells))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:SIGNATURE_LENGTH]


def saved_mapping(raw: dict) -> dict:
    """A row of the ``mappings`` table with its JSON columns decoded."""
    out = dict(raw)
    for key in ("mapping", "constants"):
        value = out.get(key)
        if isinstance(value, str):
            out[key] = json.loads(value) if value else {}
        elif value is None:
            out[key] = {}
    return out


# ---------------------------------------------------------------- header row and kind


@dataclass
class HeaderChoice:
    row: int  # 0-based row index in the sheet
    kind: str
    kind_reason: str
    preset: Preset | None = None
    saved: dict | None = None  # saved mapping applied


def _preset_for(present: set[str], kind: str, schema: Schema) -> Preset | None:
    for preset in presets(schema):
        if preset.kind == kind and preset.signature <= present:
            return preset
    return None


# What a row needs to be taken for a header: (columns recognised, required columns
# covered) when the kind is known (--kind, sheet name), and when only the header
# can tell (stricter, so a README or notes sheet listing column names is not a header).
MIN_HEADER_EVIDENCE = {"kind known": (2, 1), "header only": (3, 2)}


def _score(present: set[str], kind: Kind, extra: set[str], schema: Schema, kind_known: bool) -> tuple | None:
    """How well one row reads as the header of a kind; None when it is not a header.

    Order: a preset layout, then the share of required columns covered, then
    the number of columns recognised.
    """
    matched = [c for c in kind.columns if present.intersection(c.folded_names)]
    names = {c.name for c in matched}
    extras = len(present & extra)
    preset = _preset_for(present, kind.name, schema)
    hits = sum(1 for r in kind.required if r in names)
    groups = len(kind.required)
    if kind.at_least_one:
        groups += 1
        hits += any(c in names for c in kind.at_least_one)
    recognised = len(matched) + extras
    min_recognised, min_hits = MIN_HEADER_EVIDENCE["kind known" if kind_known else "header only"]
    if preset is None and (recognised < min_recognised or hits + extras < min_hits):
        return None
    return (preset is not None, hits / groups, recognised)


def choose_header(
    rows: list[list[str | None]],
    schema: Schema,
    *,
    forced_kind: str | None = None,
    forced_reason: str = "--kind",
    name_kind: str | None = None,
    name_reason: str = "",
    hint_kind: str | None = None,
    extra_headers: set[str] | frozenset[str] = frozenset(),
    saved_mappings: list[dict] = (),
) -> HeaderChoice | None:
    """Find the header row and kind of a sheet from its first rows, or None.

    A saved mapping whose layout signature equals a row's wins outright. Else
    the kind is the forced one, or the sheet-name one, or the kind whose best
    row covers the most required columns (``hint_kind`` breaks ties). Among
    rows, the best score wins and the earliest breaks ties (so a Qualtrics
    label row under the real header is not taken for it).
    """
    for i, row in enumerate(rows):
        if not any(row):
            continue
        signature = layout_signature(row)
        for mapping in saved_mappings:
            if mapping.get("layout_signature") != signature:
                continue
            if forced_kind and mapping["kind"] != forced_kind:
                continue
            kind = forced_kind or mapping["kind"]
            reason = forced_reason if forced_kind else f"saved mapping '{mapping['name']}'"
            present = {fold(c) for c in row if c}
            return HeaderChoice(i, kind, reason, _preset_for(present, kind, schema), mapping)

    present_rows = [{fold(c) for c in row if c} - {""} for row in rows]
    extra = {fold(h) for h in extra_headers}

    def best_row(kind: Kind, kind_known: bool = True) -> tuple[tuple, int] | None:
        best = None
        for i, present in enumerate(present_rows):
            score = _score(present, kind, extra, schema, kind_known)
            if score is not None and (best is None or score > best[0]):
                best = (score, i)
        return best

    def choice(kind_name: str, row: int, reason: str) -> HeaderChoice:
        return HeaderChoice(row, kind_name, reason, _preset_for(present_rows[row], kind_name, schema))

    if forced_kind:
        found = best_row(schema.kind(forced_kind))
        return choice(forced_kind, found[1], forced_reason) if found else None
    if name_kind:
        found = best_row(schema.kind(name_kind))
        if found:
            return choice(name_kind, found[1], name_reason)
    candidates = []
    for order, kind in enumerate(schema.kinds.values()):
        found = best_row(kind, kind_known=False)
        if found:
            candidates.append((found[0], kind.name == hint_kind, -order, found[1], kind.name))
    if not candidates:
        return None
    score, _, _, row, kind_name = max(candidates)
    preset = _preset_for(present_rows[row], kind_name, schema)
    reason = f"header ({preset.label})" if preset else "header"
    return HeaderChoice(row, kind_name, reason, preset)


# ---------------------------------------------------------------- column mapping


@dataclass
class ColumnMap:
    positions: dict[str, int]  # canonical column -> column index in the sheet
    mapping: dict[str, str]  # canonical column -> header as found in the file
    unmapped: list[str]  # non-blank headers not mapped (kept in the raw archive only)
    questions: dict[str, str] = field(default_factory=dict)  # canonical -> question text used


def _find(cells_folded: list[str], header: str) -> int | None:
    target = fold(header)
    if not target:
        return None
    for i, f in enumerate(cells_folded):
        if f == target:
            return i
    return None


def map_columns(
    cells: list[str | None],
    kind: Kind,
    *,
    explicit: list[tuple[str, dict[str, str], bool]] = (),
    preset: Preset | None = None,
    question_texts: list[str | None] | None = None,
    sheet_label: str = "",
) -> ColumnMap:
    """Map the header cells of one sheet to the kind's canonical columns.

    ``explicit`` holds (source label, {canonical: header}, strict) in
    precedence order; a strict source (``--map``, a saved mapping chosen by
    name) whose header is absent is refused, a lenient one (a preset) skipped.
    """
    folded = [fold(c) if c else "" for c in cells]
    positions: dict[str, int] = {}
    used: set[int] = set()
    columns = {c.name: c for c in kind.columns}

    sources = list(explicit)
    if preset is not None:
        sources.append((preset.label, preset.columns, False))
    for source, mapping, strict in sources:
        for canonical, header in mapping.items():
            if canonical not in columns or canonical in positions or not header:
                continue
            index = _find(folded, str(header))
            if index is None:
                if strict:
                    raise ImportRefused(
                        f"{source}: {sheet_label} has no column '{one_line(header)}' for {canonical}: "
                        "check the header or change the mapping"
                    )
                continue
            positions[canonical] = index
            used.add(index)

    def take(canonical: str, names: tuple[str, ...]) -> None:
        for name in names:
            for i, f in enumerate(folded):
                if f == name and i not in used:
                    positions[canonical] = i
                    used.add(i)
                    return

    for column in kind.columns:  # exact canonical names first, then synonyms in order
        if column.name not in positions:
            take(column.name, column.folded_names[:1])
    for column in kind.columns:
        if column.name not in positions:
            take(column.name, column.folded_names[1:])

    questions: dict[str, str] = {}
    if preset is not None and preset.questions:
        texts = cells if preset.questions == "header" else (question_texts or [])
        questions = _map_questions(folded, texts, used, positions, columns, preset)

    positions = {c.name: positions[c.name] for c in kind.columns if c.name in positions}
    mapping = {name: str(cells[i]).strip() for name, i in positions.items()}
    unmapped = [str(c).strip() for i, c in enumerate(cells) if c and i not in used and fold(c)]
    return ColumnMap(positions=positions, mapping=mapping, unmapped=unmapped, questions=questions)


def _map_questions(folded, texts, used, positions, columns, preset: Preset) -> dict[str, str]:
    """Survey question columns -> canonical columns by keywords in the question text."""
    keywords = [(col, words) for col, words in question_keywords() if col in columns]
    out: dict[str, str] = {}
    for i, f in enumerate(folded):
        if i in used or not f or f in preset.metadata or i >= len(texts) or not texts[i]:
            continue
        text = str(texts[i])
        item = text.rsplit(" - ", 1)[-1] if " - " in text else None
        target = _keyword_column(item, keywords) if item else None
        target = target or _keyword_column(text, keywords)
        if target and target not in positions:
            positions[target] = i
            used.add(i)
            out[target] = one_line(text, 120)
    return out


def _keyword_column(text: str, keywords: list[tuple[str, tuple[str, ...]]]) -> str | None:
    lowered = text.casefold()
    for column, words in keywords:
        if any(w in lowered for w in words):
            return column
    return None
