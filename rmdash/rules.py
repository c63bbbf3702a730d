"""The KPI rules, loaded from ``registry/rules.toml`` and a user's override file.

Purpose: one typed, validated view of every metric, component, weight, target,
floor, RAG band, money threshold, response target and notice period; its hash
(for caches); its TOML form (for the settings page); and saved rule-set
versions in the store (table ``rule_sets``) so a past quarter can be shown
under the rules of the day or recomputed under today's. Boundary: reading and
validating rules, and reading/writing ``rule_sets``; no KPI arithmetic.

Trust: the packaged file may carry SQL fragments (``in_scope``, ``row_value``,
``failing_when``, ...). A user file (``path`` argument, else the
``RMDASH_CONFIG`` environment variable) may override numbers and texts only;
an attempt to set SQL is refused. Every problem is one ``RmdashError`` line
naming the key, e.g. ``rules: metrics.nps.target must be a number, got 'abc'``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd

from rmdash.model import RmdashError
from rmdash.schema import load_schema

ENV_CONFIG = "RMDASH_CONFIG"

# Scores and composites are compared with thresholds after rounding to this
# many decimals, so floating noise (84.99999999999999 for 85) never changes a
# colour or an amount of money.
THRESHOLD_DECIMALS = 9

# Keys of a metric that are SQL (or SQL identifiers): they only ship with the package.
SQL_KEYS = frozenset({"in_scope", "row_value", "failing_when", "explain_columns", "explain_order", "kind"})
_METRIC_TEXT = ("label", "description", "formula", "failing", "unit", "format", "direction", "component")
_METRIC_KEYS = frozenset(_METRIC_TEXT) | {"target", "floor"} | SQL_KEYS
_COMPONENT_KEYS = frozenset({"label", "weight", "description"})
_TOP_KEYS = frozenset(
    {
        "version_label",
        "low_sample_n",
        "fiscal_year_start_month",
        "rag",
        "money",
        "parameters",
        "components",
        "response_targets",
        "notice_days",
        "survey",
        "metrics",
    }
)
_RAG_KEYS = ("green", "amber")
_MONEY_KEYS = ("credit_full_at", "credit_starts_below", "bonus_at", "months_per_quarter")
_SURVEY_KEYS = frozenset({"default_scale", "allowed_scales"})
_RESPONSE_TYPES = ("Incident", "Request")
_PRIORITIES = ("1", "2", "3", "4")
_PARAM_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_SCALE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*$")
# `$target` and `$floor` in failing_when are the metric's own numbers.
_METRIC_REFS = frozenset({"target", "floor"})


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    description: str
    component: str
    kind: str
    unit: str
    format: str
    direction: str  # "higher" or "lower" is better
    target: float
    floor: float
    formula: str
    in_scope: str  # SQL: the row counts in n
    row_value: str  # SQL: the row's contribution to the mean
    failing: str  # words: which rows the explain view lists
    failing_when: str = "row_value < 1.0"  # SQL over row_value, $target, $floor
    explain_columns: tuple[str, ...] = ()
    explain_order: str = ""

    def score(self, value: float) -> float:
        """Linear score between floor (0) and target (100), clamped; NaN stays NaN."""
        raw = 100.0 * (value - self.floor) / (self.target - self.floor)
        return raw if math.isnan(raw) else min(100.0, max(0.0, raw))


@dataclass(frozen=True)
class Component:
    name: str
    label: str
    weight: float
    description: str


@dataclass(frozen=True)
class Rag:
    green: float = 85.0
    amber: float = 70.0


@dataclass(frozen=True)
class Money:
    credit_full_at: float = 50.0
    credit_starts_below: float = 85.0
    bonus_at: float = 95.0
    months_per_quarter: int = 3


@dataclass(frozen=True)
class Rules:
    version_label: str
    low_sample_n: int
    fiscal_year_start_month: int
    rag: Rag
    money: Money
    parameters: dict[str, float]
    components: dict[str, Component]
    metrics: dict[str, Metric]
    response_targets: dict[str, dict[int, float]]  # ticket type -> priority -> minutes
    notice_days: dict[str, float]  # change type -> days; key "default" for any other type
    survey_default_scale: tuple[float, float] = (1.0, 5.0)
    survey_allowed_scales: tuple[str, ...] = ("1-5",)
    _hash: str = field(default="", repr=False, compare=False)

    # ------------------------------------------------------------ lookups
    def metrics_of(self, component: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.component == component]

    def metrics_of_kind(self, kind: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.kind == kind]

    @property
    def kinds(self) -> list[str]:
        """Kinds that feed at least one metric, in registry order of the metrics."""
        return list(dict.fromkeys(m.kind for m in self.metrics.values()))

    def rag_of(self, score: float | None) -> str | None:
        """ "green", "amber", "red" for a score; None when there is no score."""
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return None
        s = round(float(score), THRESHOLD_DECIMALS)
        if s >= self.rag.green:
            return "green"
        if s >= self.rag.amber:
            return "amber"
        return "red"

    @property
    def hash(self) -> str:
        """SHA-256 of everything that defines the numbers (and the texts)."""
        return self._hash

    # ------------------------------------------------------------ TOML
    def to_toml(self) -> str:
        """This rule set as a user override file (numbers and texts; no SQL).

        ``load_rules(path)`` of the text gives back rules with the same hash.
        """
        return _to_toml(_override_dict(self))


def rag_of(score: float | None, rules: Rules | None = None) -> str | None:
    """RAG colour of a score under ``rules`` (default: the loaded rules)."""
    return (rules or load_rules()).rag_of(score)


def rules_hash(rules: Rules) -> str:
    return rules.hash


# ---------------------------------------------------------------- loading


@cache
def _packaged_text() -> str:
    return resources.files("rmdash.registry").joinpath("rules.toml").read_text("utf-8")


@cache
def _packaged_rules() -> Rules:
    return _build(tomllib.loads(_packaged_text()))


def load_rules(path: str | Path | None = None) -> Rules:
    """The packaged rules, overridden by a user file (``path``, else ``$RMDASH_CONFIG``)."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
    if path is None:
        return _packaged_rules()
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise RmdashError(f"rules: config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RmdashError(f"rules: cannot read config file {path}: {err}") from None
    return rules_from_toml(text, source=str(path))


def rules_from_toml(text: str, source: str = "override") -> Rules:
    """Packaged rules overridden by the TOML ``text`` of a user file."""
    try:
        override = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RmdashError(f"rules: {source} is not valid TOML: {err}") from None
    except RecursionError:  # arrays or tables nested thousands deep: tomllib recurses
        raise RmdashError(f"rules: {source} is nested too deeply to be a rules file") from None
    return apply_override(override)


def apply_override(override: dict) -> Rules:
    """Packaged rules with a user's override dict applied (validated)."""
    _check_override(override)
    merged = copy.deepcopy(tomllib.loads(_packaged_text()))
    _deep_merge(merged, override)
    return _build(merged)


def _deep_merge(base: dict, over: dict) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


# ---------------------------------------------------------------- validation


def _fail(message: str) -> RmdashError:
    return RmdashError(f"rules: {message}")


def _unknown(where: str, key: str, known) -> RmdashError:
    prefix = f"{where}." if where else ""
    return _fail(f"unknown key {prefix}{key} (known: {', '.join(sorted(known))})")


def _check_override(over: dict) -> None:
    """Refuse what a user file may not do: unknown keys, new metrics, SQL."""
    packaged = tomllib.loads(_packaged_text())
    for key in over:
        if key not in _TOP_KEYS:
            raise _unknown("", key, _TOP_KEYS)
    for name, body in _table(over, "metrics").items():
        if name not in packaged["metrics"]:
            raise _fail(f"unknown metric metrics.{name} (known: {', '.join(packaged['metrics'])})")
        for key in _table(over, f"metrics.{name}", body):
            if key in SQL_KEYS:
                raise _fail(
                    f"metrics.{name}.{key} cannot be set in a config file: the SQL ships only with the package"
                )
    for name in _table(over, "components"):
        if name not in packaged["components"]:
            raise _fail(f"unknown component components.{name} (known: {', '.join(packaged['components'])})")
    for name in _table(over, "parameters"):
        if name not in packaged["parameters"]:
            raise _unknown("parameters", name, packaged["parameters"])


def _table(d: dict, where: str, value=None) -> dict:
    value = d.get(where.rsplit(".", 1)[-1], {}) if value is None else value
    if not isinstance(value, dict):
        raise _fail(f"{where} must be a table, got {value!r}")
    return value


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"{where} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _integer(value, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(f"{where} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(f"{where} must be text, got {value!r}")
    return value


def _required(d: dict, key: str, where: str):
    if key not in d:
        raise _fail(f"{where}.{key} is missing")
    return d[key]


def _scale(value, where: str) -> tuple[float, float]:
    m = _SCALE.match(value) if isinstance(value, str) else None
    if not m or float(m.group(1)) >= float(m.group(2)):
        raise _fail(f"{where} must look like '1-5' (min below max), got {value!r}")
    return float(m.group(1)), float(m.group(2))


def _build(d: dict) -> Rules:
    """Validate a complete rules dict and build the typed Rules."""
    for key in d:
        if key not in _TOP_KEYS:
            raise _unknown("", key, _TOP_KEYS)
    rag = _build_rag(_table(d, "rag"))
    money = _build_money(_table(d, "money"))
    parameters = {k: _number(v, f"parameters.{k}") for k, v in _table(d, "parameters").items()}
    if "default_priority" in parameters:
        _integer(_num(parameters["default_priority"]), "parameters.default_priority", 1, 4)
    components = _build_components(_table(d, "components"))
    metrics = {
        name: _build_metric(name, body, components, parameters) for name, body in _table(d, "metrics").items()
    }
    if not metrics:
        raise _fail("metrics: at least one metric is needed")
    survey = _table(d, "survey")
    for key in survey:
        if key not in _SURVEY_KEYS:
            raise _unknown("survey", key, _SURVEY_KEYS)
    allowed = survey.get("allowed_scales", ["1-5"])
    if not isinstance(allowed, list):
        raise _fail(f"survey.allowed_scales must be a list, got {allowed!r}")
    for i, s in enumerate(allowed):
        _scale(s, f"survey.allowed_scales[{i}]")
    rules = Rules(
        version_label=_text(d.get("version_label", ""), "version_label"),
        low_sample_n=_integer(d.get("low_sample_n", 5), "low_sample_n", 1, 1_000_000),
        fiscal_year_start_month=_integer(
            d.get("fiscal_year_start_month", 1), "fiscal_year_start_month", 1, 12
        ),
        rag=rag,
        money=money,
        parameters=parameters,
        components=components,
        metrics=metrics,
        response_targets=_build_response_targets(_table(d, "response_targets")),
        notice_days=_build_notice_days(_table(d, "notice_days")),
        survey_default_scale=_scale(survey.get("default_scale", "1-5"), "survey.default_scale"),
        survey_allowed_scales=tuple(allowed),
    )
    digest = hashlib.sha256(_canonical_json(rules).encode()).hexdigest()
    object.__setattr__(rules, "_hash", digest)
    return rules


def _build_rag(d: dict) -> Rag:
    for key in d:
        if key not in _RAG_KEYS:
            raise _unknown("rag", key, _RAG_KEYS)
    green = _number(d.get("green", 85.0), "rag.green")
    amber = _number(d.get("amber", 70.0), "rag.amber")
    if not 0 <= amber < green <= 100:
        raise _fail(f"rag.amber must be below rag.green, both within 0-100, got amber {amber}, green {green}")
    return Rag(green=green, amber=amber)


def _build_money(d: dict) -> Money:
    for key in d:
        if key not in _MONEY_KEYS:
            raise _unknown("money", key, _MONEY_KEYS)
    full = _number(d.get("credit_full_at", 50.0), "money.credit_full_at")
    starts = _number(d.get("credit_starts_below", 85.0), "money.credit_starts_below")
    if full >= starts:
        raise _fail(f"money.credit_full_at must be below money.credit_starts_below, got {full} and {starts}")
    return Money(
        credit_full_at=full,
        credit_starts_below=starts,
        bonus_at=_number(d.get("bonus_at", 95.0), "money.bonus_at"),
        months_per_quarter=_integer(d.get("months_per_quarter", 3), "money.months_per_quarter", 1, 12),
    )


def _build_components(d: dict) -> dict[str, Component]:
    out = {}
    for name, body in d.items():
        where = f"components.{name}"
        body = _table(d, where, body)
        for key in body:
            if key not in _COMPONENT_KEYS:
                raise _unknown(where, key, _COMPONENT_KEYS)
        weight = _number(_required(body, "weight", where), f"{where}.weight")
        if weight < 0:
            raise _fail(f"{where}.weight must be 0 or more, got {weight:g}")
        out[name] = Component(
            name=name,
            label=_text(body.get("label", name), f"{where}.label"),
            weight=weight,
            description=_text(body.get("description", ""), f"{where}.description"),
        )
    if not out:
        raise _fail("components: at least one component is needed")
    if sum(c.weight for c in out.values()) <= 0:
        raise _fail("components: the weights must not all be 0")
    return out


def _build_metric(name: str, body, components: dict, parameters: dict) -> Metric:
    where = f"metrics.{name}"
    body = _table({}, where, body)
    for key in body:
        if key not in _METRIC_KEYS:
            raise _unknown(where, key, _METRIC_KEYS)
    texts = {k: _text(_required(body, k, where), f"{where}.{k}") for k in _METRIC_TEXT}
    target = _number(_required(body, "target", where), f"{where}.target")
    floor = _number(_required(body, "floor", where), f"{where}.floor")
    if target == floor:
        raise _fail(f"{where}.target must differ from {where}.floor, both are {target:g}")
    direction = texts["direction"]
    if direction not in ("higher", "lower"):
        raise _fail(f"{where}.direction must be 'higher' or 'lower', got {direction!r}")
    if (direction == "higher") != (target > floor):
        side = "above" if direction == "higher" else "below"
        raise _fail(
            f"{where}.target must be {side} {where}.floor ({direction} is better), got target {target:g}, floor {floor:g}"
        )
    if texts["component"] not in components:
        raise _fail(f"{where}.component must be one of {', '.join(components)}, got {texts['component']!r}")
    kind = _text(_required(body, "kind", where), f"{where}.kind")
    schema = load_schema()
    if kind not in schema.kinds or not schema.kinds[kind].period_column:
        raise _fail(f"{where}.kind must be a kind with a period date, got {kind!r}")
    sql = {k: _text(_required(body, k, where), f"{where}.{k}") for k in ("in_scope", "row_value")}
    failing_when = _text(body.get("failing_when", "row_value < 1.0"), f"{where}.failing_when")
    explain_order = _text(body.get("explain_order", ""), f"{where}.explain_order")
    for key, fragment in (*sql.items(), ("explain_order", explain_order)):
        for ref in _PARAM_REF.findall(fragment):
            if ref not in parameters:
                raise _fail(f"{where}.{key} refers to ${ref}, which is not in [parameters]")
    for ref in _PARAM_REF.findall(failing_when):
        if ref not in parameters and ref not in _METRIC_REFS:
            raise _fail(f"{where}.failing_when refers to ${ref}, which is not in [parameters]")
    columns = body.get("explain_columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) and _IDENT.match(c) for c in columns):
        raise _fail(f"{where}.explain_columns must be a list of column names, got {columns!r}")
    return Metric(
        name=name,
        kind=kind,
        target=target,
        floor=floor,
        failing_when=failing_when,
        explain_columns=tuple(columns),
        explain_order=explain_order,
        **texts,
        **sql,
    )


def _build_response_targets(d: dict) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for ticket_type, body in d.items():
        where = f"response_targets.{ticket_type}"
        if ticket_type not in _RESPONSE_TYPES:
            raise _unknown("response_targets", ticket_type, _RESPONSE_TYPES)
        body = _table({}, where, body)
        for p in body:
            if p not in _PRIORITIES:
                raise _unknown(where, p, _PRIORITIES)
        out[ticket_type] = {}
        for p in _PRIORITIES:
            minutes = _number(_required(body, p, where), f"{where}.{p}")
            if minutes <= 0:
                raise _fail(f"{where}.{p} must be above 0 minutes, got {minutes:g}")
            out[ticket_type][int(p)] = minutes
    for ticket_type in _RESPONSE_TYPES:
        if ticket_type not in out:
            raise _fail(f"response_targets.{ticket_type} is missing")
    return out


def _build_notice_days(d: dict) -> dict[str, float]:
    out = {}
    for change_type, days in d.items():
        out[change_type] = _number(days, f"notice_days.{change_type}")
        if out[change_type] < 0:
            raise _fail(f"notice_days.{change_type} must be 0 or more, got {out[change_type]:g}")
    if "default" not in out:
        raise _fail("notice_days.default is missing")
    return out


# ---------------------------------------------------------------- serialising


def _as_dict(rules: Rules) -> dict:
    d = asdict(rules)
    d.pop("_hash", None)
    return d


def _canonical_json(rules: Rules) -> str:
    return json.dumps(_as_dict(rules), sort_keys=True, default=str, ensure_ascii=False)


def _num(x: float) -> int | float:
    """Whole numbers written without '.0' (a weight of 20, not 20.0)."""
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else x


def _override_dict(rules: Rules) -> dict:
    """Everything a user file may set, in the registry's layout."""
    d = _as_dict(rules)
    metric_keys = (*_METRIC_TEXT, "target", "floor")
    return {
        "version_label": rules.version_label,
        "low_sample_n": rules.low_sample_n,
        "fiscal_year_start_month": rules.fiscal_year_start_month,
        "rag": {k: _num(v) for k, v in d["rag"].items()},
        "money": {k: _num(v) for k, v in d["money"].items()},
        "parameters": {k: _num(v) for k, v in rules.parameters.items()},
        "survey": {
            "default_scale": "-".join(f"{_num(x)}" for x in rules.survey_default_scale),
            "allowed_scales": list(rules.survey_allowed_scales),
        },
        "response_targets": {
            t: {str(p): _num(m) for p, m in by_p.items()} for t, by_p in rules.response_targets.items()
        },
        "notice_days": {k: _num(v) for k, v in rules.notice_days.items()},
        "components": {
            c.name: {"label": c.label, "weight": _num(c.weight), "description": c.description}
            for c in rules.components.values()
        },
        "metrics": {
            m.name: {
                k: (_num(v) if isinstance(v, float) else v) for k, v in asdict(m).items() if k in metric_keys
            }
            for m in rules.metrics.values()
        },
    }


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value) -> str:
    # JSON string and number literals are valid TOML literals.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _to_toml(d: dict, prefix: str = "") -> str:
    scalars = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    lines = []
    if prefix and scalars:
        lines.append(f"[{prefix}]")
    lines += scalars
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in d.items():
        if isinstance(v, dict):
            sub = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            out += "\n" + _to_toml(v, sub)
    return out


# ---------------------------------------------------------------- rule-set versions


def save_rule_set(con: duckdb.DuckDBPyConnection, rules: Rules, label: str, who: str | None) -> int:
    """Store ``rules`` as the next rule-set version and return that version number."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # naive UTC, as every time in the store
    con.execute("BEGIN TRANSACTION")
    try:
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM rule_sets").fetchone()[0]
        con.execute(
            "INSERT INTO rule_sets (version, label, sha256, toml, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
            [version, label, rules.hash, rules.to_toml(), now, who],
        )
        con.execute(
            "INSERT INTO audit_log (at_time, who, action, sha256, detail) VALUES (?, ?, 'rules', ?, ?)",
            [now, who, rules.hash, json.dumps({"version": version, "label": label})],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return int(version)


def load_rule_set(con: duckdb.DuckDBPyConnection, version: int) -> Rules:
    """The rules saved as ``version`` (numbers from then, metric SQL from this package)."""
    row = con.execute("SELECT toml FROM rule_sets WHERE version = ?", [int(version)]).fetchone()
    if row is None:
        raise RmdashError(f"rules: there is no saved rule set version {version}; see the list of rule sets")
    return rules_from_toml(row[0], source=f"rule set version {version}")


@functools.lru_cache(maxsize=8)
def _saved_rules(text: str, version: int) -> Rules:
    return rules_from_toml(text, source=f"rule set version {version}")


def active_rules(con: duckdb.DuckDBPyConnection, config: str | Path | None = None) -> Rules:
    """The rules every shell scores with, so the app, the CLI and the deck agree.

    An explicit ``config`` file wins (the CLI's --config); else the newest rule
    set saved in this store (the app's Settings page); else ``load_rules()``
    (RMDASH_CONFIG, else the packaged defaults).
    """
    if config is not None:
        return load_rules(config)
    row = con.execute("SELECT toml, version FROM rule_sets ORDER BY version DESC LIMIT 1").fetchone()
    return _saved_rules(row[0], int(row[1])) if row else load_rules()


def list_rule_sets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Saved rule sets, newest first: version, label, sha256, created_at, created_by."""
    return con.execute(
        "SELECT version, label, sha256, created_at, created_by FROM rule_sets ORDER BY version DESC"
    ).df()
