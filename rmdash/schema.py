"""The data contract, loaded from ``registry/schema.toml``.

Purpose: give every other module one typed view of the upload kinds, their
columns, synonyms and value vocabularies, plus the DuckDB column types and
table names derived from them. Boundary: pure data, no I/O beyond reading the
packaged TOML once; nothing here touches a database or a file a user gave.

Contract: table and column identifiers used in SQL anywhere in rmdash come
from here (``Kind.table``, ``Column.name``), never from user input.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

# DuckDB type of each contract type. Priority is stored as its number 1..4.
SQL_TYPES = {
    "text": "VARCHAR",
    "titles": "VARCHAR",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "number": "DOUBLE",
    "score": "DOUBLE",
    "bool": "BOOLEAN",
    "priority": "TINYINT",
}

# Columns the store adds to every kind's tables (not part of an upload).
SYSTEM_COLUMNS = {"batch_id": "INTEGER", "row_no": "INTEGER"}

# Columns the importer adds to one kind, derived from import options.
EXTRA_COLUMNS = {"surveys": {"scale_min": "DOUBLE", "scale_max": "DOUBLE"}}

_FOLD = re.compile(r"[\W_]+", re.UNICODE)


def fold(text: object) -> str:
    """Fold a header or value for matching: lower case, no spaces, underscores or punctuation.

    ``fold(" Ticket_ID ") == fold("ticket-id") == "ticketid"``; ``fold("Ticket #") == "ticket"``.
    """
    return _FOLD.sub("", str(text).strip().casefold())


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    synonyms: tuple[str, ...]
    vocabulary: str | None = None

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]

    @property
    def folded_names(self) -> tuple[str, ...]:
        """The canonical name and every synonym, folded, canonical first."""
        seen: dict[str, None] = {fold(self.name): None}
        for s in self.synonyms:
            seen.setdefault(fold(s), None)
        return tuple(seen)


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    description: str
    key: tuple[str, ...]
    period_column: str
    sheet_names: tuple[str, ...]
    columns: tuple[Column, ...]
    at_least_one: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        """Table of current rows (newest version per key among active batches)."""
        return self.name

    @property
    def versions_table(self) -> str:
        """Append-only table of every accepted row version."""
        return f"{self.name}_versions"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def extra_columns(self) -> dict[str, str]:
        return EXTRA_COLUMNS.get(self.name, {})

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def ddl_columns(self) -> list[tuple[str, str]]:
        """(name, DuckDB type) for the data columns, extras and system columns."""
        cols = [(c.name, c.sql_type) for c in self.columns]
        cols += list(self.extra_columns.items())
        cols += list(SYSTEM_COLUMNS.items())
        return cols


@dataclass(frozen=True)
class Schema:
    kinds: dict[str, Kind]
    null_tokens: frozenset[str]
    vocabularies: dict[str, dict[str, tuple[str, ...]]]
    totals_prefixes: tuple[str, ...]
    presets: dict[str, dict] = field(default_factory=dict)

    def kind(self, name: str) -> Kind:
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(self.kinds)
            raise ValueError(f"unknown kind {name!r}; use one of: {known}") from None

    def vocabulary_lookup(self, name: str) -> dict[str, str]:
        """Folded spelling -> canonical value for one vocabulary."""
        out: dict[str, str] = {}
        for canonical, spellings in self.vocabularies[name].items():
            out[fold(canonical)] = canonical
            for s in spellings:
                out[fold(s)] = canonical
        return out


def _parse(raw: dict) -> Schema:
    kinds = {}
    for name, k in raw["kinds"].items():
        cols = tuple(
            Column(
                name=c["name"],
                type=c["type"],
                required=bool(c.get("required", False)),
                synonyms=tuple(c.get("synonyms", ())),
                vocabulary=c.get("vocabulary"),
            )
            for c in k["columns"]
        )
        kinds[name] = Kind(
            name=name,
            label=k["label"],
            description=k.get("description", ""),
            key=tuple(k["key"]),
            period_column=k.get("period_column", ""),
            sheet_names=tuple(k.get("sheet_names", ())),
            columns=cols,
            at_least_one=tuple(k.get("at_least_one", ())),
        )
    vocab = {
        v: {str(canon): tuple(sp) for canon, sp in spellings.items()}
        for v, spellings in raw.get("vocabularies", {}).items()
    }
    return Schema(
        kinds=kinds,
        null_tokens=frozenset(t.strip().casefold() for t in raw.get("null_tokens", [])),
        vocabularies=vocab,
        totals_prefixes=tuple(p.casefold() for p in raw.get("totals", {}).get("prefixes", ())),
        presets=raw.get("presets", {}),
    )


@cache
def load_schema() -> Schema:
    """The packaged data contract (read once per process)."""
    text = resources.files("rmdash.registry").joinpath("schema.toml").read_text("utf-8")
    schema = _parse(tomllib.loads(text))
    presets_file = resources.files("rmdash.registry").joinpath("presets.toml")
    if presets_file.is_file():
        object.__setattr__(
            schema, "presets", tomllib.loads(presets_file.read_text("utf-8")).get("presets", {})
        )
    return schema


KIND_NAMES = ("meetings", "tickets", "change_requests", "surveys", "communications", "contracts")
