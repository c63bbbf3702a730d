"""Realistic demo data with QBR stories, the sample template workbooks, and the demo load.

Purpose: give a new user (and every test and screenshot) 18 months of believable
data for four fictional vendors, generated deterministically from a seed, and
the template workbooks a user downloads and fills. Boundary: builds pandas
frames of the canonical columns (names from the registry), writes .xlsx files
and hands them to ``rmdash.importer.import_files`` (the real import path);
it never writes store tables itself.

The vendors (2 to 3 RMs each) and the stories deliberately built in (the
presenter's guide is docs/demo-data.md; month numbers count from 1 = the
first month of the 18-month window):

* Northwind Contact Solutions (contact centre) improves steadily: red at the
  start, green (and a bonus) by the end.
* Helix Back Office Services (back office) slides: green for the first
  months, then amber, red by the end; in month 17 it also announces a process
  change with 12 days' notice.
* Bluepeak IT Services (IT service desk) has a bad outage in month 9: dozens
  of P1 incidents within two days, slow responses, few action plans, many
  escalations and complaints. Its RM James Carter is replaced by Aisha Khan
  from month 11 on: every Bluepeak row dated from that month (period date of
  the kind) belongs to the new RM, and the scores recover.
* Greenfield Facilities Management (facilities) is steady amber/green, but its
  re-pricing effective in month 15 was announced only 75 days before (the
  contract asks for 182), so change communication fails that month.

Rows without an RM (vendor level only): about 3 % of tickets, a third of the
change communications, a tenth of the survey responses, and the contracts.

How the numbers are made: each vendor has a quality curve q(month) in [0, 1]
(plus a per-RM offset and a little noise); for each KPI metric the chance that
a row passes is placed at ``floor + (target - floor) * q`` with the metric's
floor and target from the rules registry, so the composite tracks about
100 * q and lands in green, amber and red where the stories say.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import xlsxwriter

from rmdash.model import BatchSummary, ImportOptions
from rmdash.rules import load_rules
from rmdash.schema import KIND_NAMES, Kind, load_schema

MONTHS = 18  # length of the demo window
OUTAGE_MONTH = 8  # 0-based month index of Bluepeak's outage
RM_CHANGE_MONTH = 10  # 0-based month index from which Bluepeak's new RM is in charge
LATE_PRICING_MONTH = 14  # 0-based month index in which Greenfield's re-pricing takes effect
LATE_PRICING_NOTICE_DAYS = 75
SLIDING_LATE_PROCESS_MONTH = 16
SLIDING_LATE_PROCESS_NOTICE_DAYS = 12
SAMPLE_TICKET_ROWS = 200  # the tickets template keeps the file small
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"
DEMO_USER = "demo"

# --------------------------------------------------------------------------- vendor profiles


@dataclass(frozen=True)
class RmProfile:
    name: str
    share: float  # share of the vendor's tickets, weekly ops meetings and survey respondents
    offset: float = 0.0  # how much better (+) or worse (-) than the vendor's quality curve
    lead: bool = False  # chairs the monthly service review and the QBR
    start: int = 0  # first month index in charge
    end: int = MONTHS  # first month index no longer in charge


@dataclass(frozen=True)
class VendorProfile:
    name: str
    service: str
    code: str  # prefix of every id
    volume: tuple[int, int]  # tickets per month, low and high
    incident_share: float  # of incidents + requests
    feedback_rate: float  # complaints + compliments per ticket
    categories: dict[str, tuple[str, str]]  # category -> (incident text, request text)
    cr_rate: float  # change requests per month
    cr_titles: tuple[str, ...]
    quality: tuple[tuple[float, float], ...]  # (position in window 0..1, quality) knots
    rms: tuple[RmProfile, ...]
    ops_weekday: str  # weekly ops meeting day, pandas weekday code
    pricing_month: int  # month index a yearly re-pricing takes effect
    monthly_fee: float
    at_risk_pct: float  # 10 = 10 %, 0.12 = 12 % (both forms on purpose)
    bonus_pct: float | None
    currency: str


IMPROVING = "Northwind Contact Solutions"
SLIDING = "Helix Back Office Services"
OUTAGE_VENDOR = "Bluepeak IT Services"
REPLACED_VENDOR = "Bluepeak IT Services"
REPLACED_RM, NEW_RM = "James Carter", "Aisha Khan"
LATE_PRICING_VENDOR = "Greenfield Facilities Management"

VENDORS: tuple[VendorProfile, ...] = (
    VendorProfile(
        name=IMPROVING,
        service="Contact centre",
        code="NWC",
        volume=(1150, 1500),
        incident_share=0.30,
        feedback_rate=0.035,
        categories={
            "Telephony": ("IVR routing failure, calls dropping", "New IVR message for product launch"),
            "Call handling": ("Queue backlog above service level", "Extra agents for campaign weekend"),
            "Quality": ("Mis-selling flagged in call audit", "Calibration session for new scripts"),
            "Workforce planning": ("Rota gap left queue unstaffed", "Forecast update for seasonal peak"),
            "Reporting": ("Daily MI report missing", "New dashboard view for abandon rate"),
            "CRM": ("CRM screen pop not working", "Add field to customer record"),
        },
        cr_rate=2.0,
        cr_titles=(
            "Add web chat channel",
            "Extend opening hours to Saturday",
            "New IVR menu for billing queries",
            "Speech analytics pilot",
            "Retention team script update",
            "Callback scheduling in CRM",
        ),
        quality=((0.0, 0.50), (0.35, 0.66), (0.7, 0.86), (1.0, 0.99)),
        rms=(
            RmProfile("Priya Raman", 0.55, 0.02, lead=True),
            RmProfile("Tom Whitaker", 0.45, -0.03),
        ),
        ops_weekday="MON",
        pricing_month=8,
        monthly_fee=180_000.0,
        at_risk_pct=10.0,
        bonus_pct=0.03,
        currency="GBP",
    ),
    VendorProfile(
        name=SLIDING,
        service="Back office",
        code="HBO",
        volume=(380, 620),
        incident_share=0.25,
        feedback_rate=0.05,
        categories={
            "Invoice processing": ("Invoices stuck in approval queue", "Onboard new supplier to AP"),
            "Payroll": ("Payroll file rejected by bank", "Add allowance code to payroll"),
            "Claims": ("Claims backlog past SLA", "Bulk re-assessment of claims"),
            "Reconciliation": ("Bank reconciliation out of balance", "Monthly reconciliation extract"),
            "Data entry": ("Keying errors in customer records", "Data load of new price list"),
            "Document management": ("Scanned documents missing", "Archive retrieval request"),
        },
        cr_rate=3.0,
        cr_titles=(
            "Automate invoice matching",
            "New expense policy rules",
            "Payroll for new subsidiary",
            "OCR for claims forms",
            "Month-end close calendar change",
            "Vendor master data clean-up",
        ),
        quality=((0.0, 0.95), (0.3, 0.93), (0.6, 0.78), (1.0, 0.50)),
        rms=(
            RmProfile("Marta Kowalska", 0.40, 0.0, lead=True),
            RmProfile("Daniel Osei", 0.35, -0.04),
            RmProfile("Sofia Lind", 0.25, 0.05),
        ),
        ops_weekday="TUE",
        pricing_month=8,
        monthly_fee=95_000.0,
        at_risk_pct=0.12,
        bonus_pct=0.05,
        currency="EUR",
    ),
    VendorProfile(
        name=OUTAGE_VENDOR,
        service="IT service desk",
        code="BPK",
        volume=(800, 1100),
        incident_share=0.45,
        feedback_rate=0.03,
        categories={
            "Network": ("Site network down", "New network port for meeting room"),
            "Email": ("Mailbox not syncing", "Shared mailbox for finance team"),
            "Access management": ("Account locked out", "Access to reporting system"),
            "Hardware": ("Laptop will not boot", "Replacement laptop for new starter"),
            "Software": ("Application crashes on start", "Install analytics software"),
            "VPN": ("VPN drops every few minutes", "VPN token for contractor"),
        },
        cr_rate=4.0,
        cr_titles=(
            "Migrate file shares to cloud",
            "Single sign-on for HR system",
            "Upgrade Wi-Fi in head office",
            "Self-service password reset",
            "Endpoint encryption roll-out",
            "Monitoring for core switches",
        ),
        quality=((0.0, 0.74), (0.5, 0.72), (0.62, 0.82), (1.0, 0.92)),
        rms=(
            RmProfile(REPLACED_RM, 0.60, -0.05, lead=True, end=RM_CHANGE_MONTH),
            RmProfile(NEW_RM, 0.60, 0.03, lead=True, start=RM_CHANGE_MONTH),
            RmProfile("Lena Fischer", 0.40, 0.0),
        ),
        ops_weekday="WED",
        pricing_month=11,
        monthly_fee=140_000.0,
        at_risk_pct=15.0,
        bonus_pct=None,
        currency="USD",
    ),
    VendorProfile(
        name=LATE_PRICING_VENDOR,
        service="Facilities",
        code="GFM",
        volume=(220, 380),
        incident_share=0.35,
        feedback_rate=0.06,
        categories={
            "HVAC": ("Air conditioning failed on floor 3", "Adjust heating schedule"),
            "Cleaning": ("Washrooms not cleaned", "Deep clean after office move"),
            "Security": ("Access gate out of order", "Visitor passes for event"),
            "Maintenance": ("Water leak in kitchen", "Install new shelving"),
            "Catering": ("Coffee machines out of service", "Catering for board meeting"),
            "Space planning": ("Desk booking system down", "Reconfigure open-plan area"),
        },
        cr_rate=2.0,
        cr_titles=(
            "LED lighting upgrade",
            "Extend cleaning to weekends",
            "New visitor management system",
            "EV charging points",
            "Meeting room sensors",
            "Waste recycling programme",
        ),
        quality=((0.0, 0.89), (0.25, 0.92), (0.5, 0.87), (0.75, 0.91), (1.0, 0.89)),
        rms=(
            RmProfile("Owen Price", 0.60, 0.0, lead=True),
            RmProfile("Nadia Haddad", 0.40, 0.02),
        ),
        ops_weekday="THU",
        pricing_month=LATE_PRICING_MONTH,
        monthly_fee=60_000.0,
        at_risk_pct=0.08,
        bonus_pct=0.02,
        currency="GBP",
    ),
)

MEETING_TYPES: dict[str, tuple[str, ...]] = {
    "Weekly ops": ("Service Delivery Manager", "Operations Lead", "Client Service Owner"),
    "Monthly service review": (
        "Relationship Manager",
        "Head of Service Delivery",
        "Client Service Owner",
        "Client VMO Lead",
    ),
    "QBR": (
        "Account Director",
        "Relationship Manager",
        "Head of Service Delivery",
        "Client VMO Lead",
        "Client Sponsor",
    ),
}
EXTRA_ATTENDEE = "Service Desk Analyst"

RESPONDENT_ROLES = (
    "Client VMO Lead",
    "Head of Customer Operations",
    "Finance Business Partner",
    "IT Service Owner",
    "Procurement Manager",
    "Team Leader",
    "Operations Director",
    "Service Owner",
)
COMMENTS = {
    "good": (
        "The RM is proactive and keeps us informed.",
        "Great partnership, issues are raised early.",
        "Very responsive, knows our business well.",
        "Service reviews are well prepared and useful.",
        "Clear communication and honest about problems.",
    ),
    "mixed": (
        "Generally fine, but reports sometimes arrive late.",
        "Responsive on day-to-day issues, less so on improvements.",
        "Good intentions, follow-up on actions could be better.",
        "OK overall; we would like more proactive ideas.",
    ),
    "bad": (
        "We learn about outages from our own users, not the vendor.",
        "Action plans are vague and deadlines slip.",
        "Escalations are needed to get anything done.",
        "The RM does not understand our priorities.",
        "Meeting packs arrive late or not at all.",
    ),
}
COMPLAINT_TEXT = "Complaint: slow handling and no update from the vendor"
COMPLIMENT_TEXT = "Compliment: thanks to the team for going the extra mile"
OUTAGE_CATEGORY = "Network"
OUTAGE_TEXT = "Major outage: core network down, users cannot log in"
OUTAGE_TICKETS = 85
OTHER_CHANGE_TYPES = ("Process", "Strategy", "Cost")

# Priority mix (P1..P4) by ticket type, and typical hours to resolve by priority.
PRIORITY_MIX = {
    "Incident": (0.01, 0.09, 0.45, 0.45),
    "Request": (0.0, 0.05, 0.55, 0.40),
    "Complaint": (0.0, 0.30, 0.70, 0.0),
    "Compliment": (0.0, 0.0, 0.0, 1.0),
}
RESOLVE_HOURS = np.array([3.0, 10.0, 30.0, 72.0])
COMPLAINT_RESPONSE_MINUTES = 1440  # a working day; complaints have no response metric
# Tickets open more often in office hours (hour 0..23 weights).
HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 10, 12, 13, 12, 10, 8, 5, 4, 3, 2, 2, 1], float
)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()


# --------------------------------------------------------------------------- registry access


@cache
def column_help() -> dict:
    """Plain-language meaning of every upload column and type (registry/column_help.toml)."""
    text = resources.files("rmdash.registry").joinpath("column_help.toml").read_text("utf-8")
    return tomllib.loads(text)


# --------------------------------------------------------------------------- the window


@dataclass(frozen=True)
class Window:
    """The 18 calendar months the demo covers."""

    months: pd.PeriodIndex

    @property
    def start(self) -> pd.Timestamp:
        return self.months[0].start_time

    @property
    def end(self) -> pd.Timestamp:
        """Exclusive end: the first instant after the last month."""
        return (self.months[-1] + 1).start_time

    def month_index(self, ts: np.ndarray) -> np.ndarray:
        """0-based month index of each datetime64 value (may fall outside 0..MONTHS-1)."""
        m = np.asarray(ts, dtype="datetime64[M]").astype(np.int64)
        return m - np.datetime64(self.months[0].strftime("%Y-%m"), "M").astype(np.int64)


def demo_window(end_month: str | date | pd.Period | None = None) -> Window:
    """The demo's months; by default ending with the last complete month before today."""
    if end_month is None:
        last = pd.Timestamp.today().to_period("M") - 1
    else:
        last = pd.Period(end_month, freq="M")
    return Window(pd.period_range(end=last, periods=MONTHS, freq="M"))


@dataclass(frozen=True)
class Stories:
    """Where each built-in story sits in a concrete window (for tests and the presenter)."""

    improving: str
    sliding: str
    outage_vendor: str
    outage_month: pd.Period
    replaced_vendor: str
    replaced_rm: str
    new_rm: str
    rm_change_month: pd.Period
    late_pricing_vendor: str
    late_pricing_month: pd.Period
    late_pricing_notice_days: int


def demo_stories(end_month: str | date | pd.Period | None = None) -> Stories:
    w = demo_window(end_month)
    return Stories(
        improving=IMPROVING,
        sliding=SLIDING,
        outage_vendor=OUTAGE_VENDOR,
        outage_month=w.months[OUTAGE_MONTH],
        replaced_vendor=REPLACED_VENDOR,
        replaced_rm=REPLACED_RM,
        new_rm=NEW_RM,
        rm_change_month=w.months[RM_CHANGE_MONTH],
        late_pricing_vendor=LATE_PRICING_VENDOR,
        late_pricing_month=w.months[LATE_PRICING_MONTH],
        late_pricing_notice_days=LATE_PRICING_NOTICE_DAYS,
    )


# --------------------------------------------------------------------------- generation helpers


class _Gen:
    """Seeded random streams and the quality model for one demo build."""

    def __init__(self, seed: int, window: Window):
        self.seed = seed
        self.window = window
        self.rules = load_rules()

    def chance(self, metric: str, s: np.ndarray) -> np.ndarray:
        """Chance a row passes `metric` at quality `s`: the metric's floor at 0, its target at 1."""
        m = self.rules.metrics[metric]
        return np.clip(m.floor + (m.target - m.floor) * s, 0.0, 1.0)

    def response_minutes(self, ticket_type: np.ndarray, priority: np.ndarray) -> np.ndarray:
        out = np.full(len(ticket_type), float(COMPLAINT_RESPONSE_MINUTES))
        for ttype, by_priority in self.rules.response_targets.items():
            for p, minutes in by_priority.items():
                out[(ticket_type == ttype) & (priority == int(p))] = minutes
        return out

    def notice_days(self, change_type: str) -> int:
        days = self.rules.notice_days
        return int(days.get(change_type, days["default"]))

    def rng(self, *keys: str | int) -> np.random.Generator:
        # One independent stream per (kind, vendor, month): changing one part of
        # the generator leaves every other part's numbers as they were.
        ints = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
        return np.random.default_rng([self.seed, *ints])

    @staticmethod
    def quality(v: VendorProfile, month: np.ndarray) -> np.ndarray:
        pos, q = zip(*v.quality, strict=True)
        return np.interp(np.asarray(month, float) / (MONTHS - 1), pos, q)

    @staticmethod
    def rm_weights(v: VendorProfile) -> np.ndarray:
        """[month, rm] share of each RM in charge that month (rows sum to 1)."""
        w = np.zeros((MONTHS, len(v.rms)))
        for i, rm in enumerate(v.rms):
            w[rm.start : rm.end, i] = rm.share
        return w / w.sum(axis=1, keepdims=True)

    @staticmethod
    def lead_rm(v: VendorProfile, month: np.ndarray) -> np.ndarray:
        """Index of the lead RM in charge in each month."""
        out = np.full(len(month), -1)
        for i, rm in enumerate(v.rms):
            if rm.lead:
                out[(month >= rm.start) & (month < rm.end)] = i
        return out

    def pick_rm(self, rng, v: VendorProfile, month: np.ndarray, blank_share: float) -> np.ndarray:
        """RM index per row by the shares of the RMs in charge that month; -1 = no RM."""
        cum = self.rm_weights(v).cumsum(axis=1)[np.clip(month, 0, MONTHS - 1)]
        idx = (rng.random(len(month))[:, None] > cum).sum(axis=1)
        idx = np.minimum(idx, len(v.rms) - 1)
        return np.where(rng.random(len(month)) < blank_share, -1, idx)

    @staticmethod
    def rm_offset(v: VendorProfile, rm_idx: np.ndarray) -> np.ndarray:
        offsets = np.array([rm.offset for rm in v.rms] + [0.0])
        return offsets[rm_idx]  # -1 picks the trailing 0.0

    @staticmethod
    def rm_names(v: VendorProfile, rm_idx: np.ndarray) -> np.ndarray:
        names = np.array([rm.name for rm in v.rms] + [None], dtype=object)
        return names[rm_idx]


def _ids(code: str, tag: str | np.ndarray, seq: np.ndarray, width: int) -> np.ndarray:
    """Vectorised ids such as NWC-INC000123."""
    numbers = np.char.zfill(seq.astype(str), width)
    return np.char.add(np.char.add(f"{code}-", tag), numbers).astype(object)


def _days(rng, low: int, high: int, n: int) -> np.ndarray:
    return rng.integers(low, high, n).astype("timedelta64[D]")


def _as_day(ts: np.ndarray) -> np.ndarray:
    return np.asarray(ts, dtype="datetime64[D]").astype("datetime64[s]")


NAT = np.datetime64("NaT", "s")


# --------------------------------------------------------------------------- tickets


def _ticket_month(gen: _Gen, vi: int, v: VendorProfile, mi: int) -> dict[str, np.ndarray]:
    rng = gen.rng("tickets", vi, mi)
    month = gen.window.months[mi]
    wobble = 1 + 0.08 * np.sin(2 * np.pi * (month.month - 1) / 12)
    n = int(rng.integers(*v.volume) * wobble)
    outage = v.name == OUTAGE_VENDOR and mi == OUTAGE_MONTH
    n_all = n + (OUTAGE_TICKETS if outage else 0)

    rm_idx = gen.pick_rm(rng, v, np.full(n_all, mi), blank_share=0.03)
    s = gen.quality(v, np.full(n_all, mi)) + gen.rm_offset(v, rm_idx) + rng.normal(0, 0.03)

    days = month.days_in_month
    start = np.datetime64(month.start_time.strftime("%Y-%m-%d"), "s")
    seconds = (
        rng.integers(0, days, n_all) * 86400
        + rng.choice(24, n_all, p=HOUR_WEIGHTS) * 3600
        + rng.integers(0, 3600, n_all)
    )
    opened = start + seconds.astype("timedelta64[s]")

    feedback = rng.random(n_all) < v.feedback_rate
    complaint = rng.random(n_all) < gen.chance("complaint_share", s)
    incident = rng.random(n_all) < v.incident_share
    ttype = np.where(
        feedback, np.where(complaint, "Complaint", "Compliment"), np.where(incident, "Incident", "Request")
    ).astype(object)
    priority = np.zeros(n_all, dtype=np.int64)
    for name, mix in PRIORITY_MIX.items():
        mask = ttype == name
        priority[mask] = rng.choice(4, int(mask.sum()), p=mix) + 1
    cat_names = np.array(list(v.categories), dtype=object)
    cat_idx = rng.integers(0, len(cat_names), n_all)

    if outage:
        # The outage: a burst of P1 network incidents within two days mid-month,
        # handled badly (slow, no plan, escalated) and followed by complaints.
        burst = slice(n, n_all)
        opened[burst] = start + (12 * 86400 + 8 * 3600 + rng.integers(0, 40 * 3600, OUTAGE_TICKETS)).astype(
            "timedelta64[s]"
        )
        ttype[burst] = "Incident"
        priority[burst] = 1
        cat_idx[burst] = list(v.categories).index(OUTAGE_CATEGORY)
        s = s - 0.55  # the whole month's handling suffers
        ttype[:n][feedback[:n]] = np.where(
            rng.random(int(feedback[:n].sum())) < 0.9, "Complaint", "Compliment"
        )

    is_inc = ttype == "Incident"
    is_cmp = ttype == "Complaint"
    is_cpl = ttype == "Compliment"

    target_min = gen.response_minutes(ttype, priority)
    on_time = rng.random(n_all) < gen.chance("response_on_time", s)
    resp_min = np.where(
        on_time, target_min * rng.uniform(0.05, 0.95, n_all), target_min * rng.uniform(1.1, 6, n_all)
    )
    no_response = is_cpl | (rng.random(n_all) < 0.02 * np.clip(1 - s, 0, 1))
    responded = opened + (resp_min * 60).astype("timedelta64[s]")
    responded[no_response] = NAT

    plan = np.where(is_inc, rng.random(n_all) < gen.chance("action_plan_shared", s), None)

    hours = RESOLVE_HOURS[priority - 1] * rng.lognormal(0, 0.7, n_all)
    hours = np.where(is_cmp, 96 * rng.lognormal(0, 0.5, n_all), hours)
    resolved = opened + (hours * 3600).astype("timedelta64[s]")
    end = np.datetime64(gen.window.end.strftime("%Y-%m-%d"), "s")
    unresolved = is_cpl | (resolved >= end)
    resolved[unresolved] = NAT

    told_on_time = rng.random(n_all) < gen.chance("resolution_communicated", s)
    told_hours = np.where(told_on_time, rng.uniform(0.1, 23.5, n_all), rng.uniform(25, 120, n_all))
    told = resolved + (told_hours * 3600).astype("timedelta64[s]")
    told[unresolved | (rng.random(n_all) < 0.02 * np.clip(1 - s, 0, 1))] = NAT

    escalated = ~is_cpl & (rng.random(n_all) < gen.chance("escalation_rate", s))

    texts = np.array([pair for pair in v.categories.values()], dtype=object)  # [category, 2]
    description = np.where(is_inc, texts[cat_idx, 0], texts[cat_idx, 1])
    description = np.where(is_cmp, COMPLAINT_TEXT, np.where(is_cpl, COMPLIMENT_TEXT, description))
    if outage:
        description[n:] = OUTAGE_TEXT

    return {
        "vendor": np.full(n_all, v.name, dtype=object),
        "rm": gen.rm_names(v, rm_idx),
        "ticket_type": ttype,
        "priority": np.char.add("P", priority.astype(str)).astype(object),
        "opened_at": opened,
        "responded_at": responded,
        "action_plan_shared": plan,
        "resolved_at": resolved,
        "resolution_communicated_at": told,
        "escalated": escalated,
        "category": cat_names[cat_idx],
        "description": description,
    }


TICKET_TAGS = {"Incident": "INC", "Request": "REQ", "Complaint": "CMP", "Compliment": "CPL"}


def _tickets(gen: _Gen) -> pd.DataFrame:
    parts = []
    for vi, v in enumerate(VENDORS):
        months = [_ticket_month(gen, vi, v, mi) for mi in range(MONTHS)]
        cols = {k: np.concatenate([m[k] for m in months]) for k in months[0]}
        order = np.argsort(cols["opened_at"], kind="stable")
        cols = {k: a[order] for k, a in cols.items()}
        tags = pd.Series(cols["ticket_type"]).map(TICKET_TAGS).to_numpy(dtype=str)
        cols["ticket_id"] = _ids(v.code, tags, np.arange(1, len(order) + 1), 6)
        parts.append(pd.DataFrame(cols))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- meetings


def _meeting_dates(v: VendorProfile, w: Window) -> tuple[np.ndarray, np.ndarray]:
    last = w.end - pd.Timedelta(days=1)
    weekly = pd.date_range(w.start, last, freq=f"W-{v.ops_weekday}")
    monthly = pd.date_range(w.start, last, freq="WOM-2THU")
    qbr = pd.date_range(w.start, last, freq="WOM-3WED")
    qbr = qbr[qbr.month.isin([1, 4, 7, 10])]  # the QBR reviews the quarter just ended
    dates = np.concatenate([weekly.values, monthly.values, qbr.values]).astype("datetime64[s]")
    types = np.array(
        ["Weekly ops"] * len(weekly) + ["Monthly service review"] * len(monthly) + ["QBR"] * len(qbr),
        dtype=object,
    )
    order = np.lexsort((types, dates))
    return dates[order], types[order]


def _attendance(rng, types: np.ndarray, held: np.ndarray, chance: np.ndarray) -> tuple[list, list]:
    """Required and present titles per meeting, as '; '-joined text."""
    required, present = [], []
    for mtype, is_held, p in zip(types, held, chance, strict=True):
        titles = MEETING_TYPES[mtype]
        required.append("; ".join(titles))
        if not is_held:
            present.append(None)
            continue
        came = [t for t in titles if rng.random() < p] or [titles[0]]
        if rng.random() < 0.15:
            came.append(EXTRA_ATTENDEE)
        present.append("; ".join(came))
    return required, present


def _meetings(gen: _Gen) -> pd.DataFrame:
    parts = []
    w = gen.window
    for vi, v in enumerate(VENDORS):
        rng = gen.rng("meetings", vi)
        scheduled, types = _meeting_dates(v, w)
        n = len(scheduled)
        mi = w.month_index(scheduled)
        rm_idx = np.where(types == "Weekly ops", gen.pick_rm(rng, v, mi, 0.0), gen.lead_rm(v, mi))
        s = gen.quality(v, mi) + gen.rm_offset(v, rm_idx) + rng.normal(0, 0.04, n)

        r = rng.random(n)
        on_time = r < gen.chance("meetings_held_on_time", s)
        held_late = ~on_time & (rng.random(n) < 0.5)
        shift = np.where(on_time, rng.choice([0, 0, 0, 0, 0, 1, -1, 2, -2, 3], n), rng.integers(8, 22, n))
        held = scheduled + shift.astype("timedelta64[D]")
        end = np.datetime64(w.end.strftime("%Y-%m-%d"), "s")
        was_held = (on_time | held_late) & (held < end)
        held[~was_held] = NAT
        status = np.where(was_held, np.where(on_time, "Held", "Rescheduled"), "Cancelled").astype(object)

        required, present = _attendance(rng, types, was_held, gen.chance("attendance", s))

        # Weekly ops send minutes the day after; reviews and QBRs send the pack 3 days before.
        due = scheduled + np.where(types == "Weekly ops", 1, -3).astype("timedelta64[D]")
        report_ok = rng.random(n) < gen.chance("reports_on_time", s)
        sent = due + np.where(report_ok, -rng.integers(0, 2, n), rng.integers(1, 11, n)).astype(
            "timedelta64[D]"
        )
        sent[~report_ok & (rng.random(n) < 0.2)] = NAT
        due[~was_held] = NAT
        sent[~was_held] = NAT

        parts.append(
            pd.DataFrame(
                {
                    "meeting_id": _ids(v.code, "MTG-", np.arange(1, n + 1), 4),
                    "vendor": v.name,
                    "rm": gen.rm_names(v, rm_idx),
                    "meeting_type": types,
                    "scheduled_date": scheduled,
                    "held_date": held,
                    "status": status,
                    "required_attendees": required,
                    "attendees": present,
                    "report_due_date": due,
                    "report_sent_date": sent,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- change requests


def _change_requests(gen: _Gen) -> pd.DataFrame:
    parts = []
    w = gen.window
    end = np.datetime64(w.end.strftime("%Y-%m-%d"), "s")
    for vi, v in enumerate(VENDORS):
        rng = gen.rng("change_requests", vi)
        per_month = rng.poisson(v.cr_rate, MONTHS)
        req_month = np.repeat(np.arange(MONTHS), per_month)
        n = len(req_month)
        month_start = np.array(
            [np.datetime64(w.months[m].start_time.strftime("%Y-%m-%d"), "s") for m in range(MONTHS)]
        )
        requested = month_start[req_month] + _days(rng, 0, 28, n)
        s = gen.quality(v, req_month) + rng.normal(0, 0.05, n)

        estimate = np.round(rng.lognormal(np.log(14_000), 0.8, n), -2)
        est_delivery = requested + _days(rng, 14, 90, n)
        on_time = rng.random(n) < gen.chance("schedule_on_time", s)
        slip = np.where(on_time, -rng.integers(0, 10, n), rng.integers(3, 45, n))
        delivered = est_delivery + slip.astype("timedelta64[D]")
        cancelled = rng.random(n) < 0.04
        open_ = ~cancelled & (delivered >= end)
        done = ~cancelled & ~open_

        accuracy = gen.chance("cost_accuracy", s)  # mean 1 - |deviation| at this quality
        deviation = np.abs(rng.normal(0, 1, n)) * (1 - accuracy) / 0.8  # E|N(0,1)| = 0.8
        sign = np.where(rng.random(n) < 0.75, 1.0, -1.0)  # overruns are more common
        actual = np.round(estimate * (1 + sign * deviation), -1)

        # Whoever is in charge when the CR lands (or, if still open, at the end)
        # owns it: the new RM inherits every open item at a handover.
        owner_month = np.where(done, w.month_index(delivered), MONTHS - 1)
        owner_month = np.where(cancelled, req_month, owner_month)
        rm_idx = np.where(
            rng.random(n) < 0.6, gen.lead_rm(v, owner_month), gen.pick_rm(rng, v, owner_month, 0.0)
        )
        title_idx = rng.integers(0, len(v.cr_titles), n)
        delivered[~done] = NAT
        actual[~done] = np.nan
        parts.append(
            pd.DataFrame(
                {
                    "cr_id": _ids(v.code, "CR-", np.arange(1, n + 1), 4),
                    "vendor": v.name,
                    "rm": gen.rm_names(v, rm_idx),
                    "title": np.array(v.cr_titles, dtype=object)[title_idx],
                    "requested_date": requested,
                    "estimated_cost": estimate,
                    "actual_cost": actual,
                    "estimated_delivery_date": est_delivery,
                    "actual_delivery_date": delivered,
                    "status": np.where(done, "Delivered", np.where(cancelled, "Cancelled", "In progress")),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- surveys

# the question columns, from the registry (a response needs at least one of them)
SURVEY_QUESTIONS = load_schema().kinds["surveys"].at_least_one


def _surveys(gen: _Gen) -> pd.DataFrame:
    parts = []
    w = gen.window
    survey_months = [i for i, m in enumerate(w.months) if m.month % 3 == 0]
    for vi, v in enumerate(VENDORS):
        rng = gen.rng("surveys", vi)
        counts = rng.integers(5, 21, len(survey_months))
        mi = np.repeat(survey_months, counts)
        n = len(mi)
        month_start = np.array([np.datetime64(w.months[m].start_time.strftime("%Y-%m-%d"), "s") for m in mi])
        survey_date = month_start + _days(rng, 7, 22, n)
        rm_idx = gen.pick_rm(rng, v, mi, blank_share=0.1)
        s = gen.quality(v, mi) + gen.rm_offset(v, rm_idx)
        mood = gen.chance("satisfaction", s) + rng.normal(0, 0.08, n)  # rescaled 0..1 mean score
        scores = np.clip(
            np.rint(1 + 4 * (mood[:, None] + rng.normal(0, 0.1, (n, len(SURVEY_QUESTIONS))))), 1, 5
        )
        scores[rng.random(scores.shape) < 0.05] = np.nan  # skipped questions
        nps = np.clip(np.rint(10 * mood + 0.8 + rng.normal(0, 1.0, n)), 0, 10)
        nps[rng.random(n) < 0.05] = np.nan
        mood_text = np.where(mood >= 0.8, "good", np.where(mood >= 0.6, "mixed", "bad"))
        pick = rng.integers(0, 100, n)
        comment = np.array(
            [COMMENTS[t][p % len(COMMENTS[t])] for t, p in zip(mood_text, pick, strict=True)], dtype=object
        )
        comment[rng.random(n) < 0.35] = None
        period = np.array([f"{w.months[m].year % 100:02d}Q{w.months[m].quarter}" for m in mi])
        seq = np.concatenate([np.arange(1, c + 1) for c in counts])
        frame = pd.DataFrame(
            {
                "response_id": _ids(v.code, np.char.add("SV", np.char.add(period, "-")), seq, 3),
                "vendor": v.name,
                "rm": gen.rm_names(v, rm_idx),
                "survey_date": survey_date,
                "respondent_role": np.array(RESPONDENT_ROLES, dtype=object)[
                    rng.integers(0, len(RESPONDENT_ROLES), n)
                ],
                **{q: scores[:, i] for i, q in enumerate(SURVEY_QUESTIONS)},
                "nps": nps,
                "comment": comment,
            }
        )
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- communications


def _communications(gen: _Gen) -> pd.DataFrame:
    parts = []
    w = gen.window
    for vi, v in enumerate(VENDORS):
        rng = gen.rng("communications", vi)
        n_other = int(rng.integers(5, 8))
        eff_month = np.concatenate([[v.pricing_month], np.sort(rng.integers(0, MONTHS, n_other))])
        types = np.array(["Pricing", *rng.choice(OTHER_CHANGE_TYPES, n_other)], dtype=object)
        required = np.array([gen.notice_days(t) for t in types])
        notice = required + rng.integers(5, 60, len(types))
        if v.name == LATE_PRICING_VENDOR:
            notice[0] = LATE_PRICING_NOTICE_DAYS
        if v.name == SLIDING:
            eff_month = np.append(eff_month, SLIDING_LATE_PROCESS_MONTH)
            types = np.append(types, "Process")
            notice = np.append(notice, SLIDING_LATE_PROCESS_NOTICE_DAYS)
        n = len(types)
        # Re-pricings take effect on the 1st of the month; other changes on any working day.
        month_start = np.array(
            [np.datetime64(w.months[m].start_time.strftime("%Y-%m-%d"), "s") for m in eff_month]
        )
        offset = np.where(types == "Pricing", 0, rng.integers(0, 25, n))
        effective = month_start + offset.astype("timedelta64[D]")
        communicated = effective - notice.astype("timedelta64[D]")
        rm_idx = np.where(rng.random(n) < 1 / 3, -1, gen.lead_rm(v, eff_month))
        order = np.argsort(communicated, kind="stable")
        parts.append(
            pd.DataFrame(
                {
                    "comm_id": _ids(v.code, "CN-", np.arange(1, n + 1), 3),
                    "vendor": v.name,
                    "rm": gen.rm_names(v, rm_idx)[order],
                    "change_type": types[order],
                    "communicated_date": communicated[order],
                    "effective_date": effective[order],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _contracts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vendor": [v.name for v in VENDORS],
            "monthly_fee": [v.monthly_fee for v in VENDORS],
            "at_risk_pct": [v.at_risk_pct for v in VENDORS],
            "bonus_pct": [np.nan if v.bonus_pct is None else v.bonus_pct for v in VENDORS],
            "currency": [v.currency for v in VENDORS],
        }
    )


# --------------------------------------------------------------------------- frames


def _canonical(kind: Kind, frame: pd.DataFrame) -> pd.DataFrame:
    """The kind's canonical columns, in registry order, with one dtype per contract type."""
    missing = set(kind.column_names) ^ set(frame.columns)
    if missing:  # the generator and the registry disagree: a bug, not user input
        raise AssertionError(f"demo {kind.name} columns differ from the registry: {sorted(missing)}")
    out = {}
    for col in kind.columns:
        values = frame[col.name]
        if col.type in ("date", "datetime"):
            values = pd.to_datetime(values).astype("datetime64[s]")
            out[col.name] = values.dt.normalize() if col.type == "date" else values
        elif col.type in ("number", "score"):
            out[col.name] = values.astype("float64")
        elif col.type == "bool":
            out[col.name] = values.astype("boolean")
        else:
            out[col.name] = values.astype("str")
    return pd.DataFrame(out)


def demo_frames(seed: int = 7, end_month: str | date | pd.Period | None = None) -> dict[str, pd.DataFrame]:
    """Every kind's demo rows as canonical frames, deterministic for (seed, end_month)."""
    gen = _Gen(seed, demo_window(end_month))
    raw = {
        "meetings": _meetings(gen),
        "tickets": _tickets(gen),
        "change_requests": _change_requests(gen),
        "surveys": _surveys(gen),
        "communications": _communications(gen),
        "contracts": _contracts(),
    }
    schema = load_schema()
    return {name: _canonical(schema.kind(name), raw[name]) for name in KIND_NAMES}


# --------------------------------------------------------------------------- xlsx writing

CellType = Literal["string", "number", "date", "datetime", "bool"]
_EXCEL_EPOCH = np.datetime64("1899-12-30", "s")
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


@dataclass
class XlsxColumn:
    """One column ready for a worksheet: header, cell type and Python values (None = blank)."""

    header: str
    cell: CellType
    values: Sequence[Any]
    width: float = 14


def excel_serials(values: Any) -> list[float | None]:
    """datetime64 values as Excel serial day numbers (a real Excel date once formatted)."""
    ts = np.asarray(values, dtype="datetime64[s]")
    days = (ts - _EXCEL_EPOCH) / np.timedelta64(86400, "s")
    return [None if np.isnan(d) else d for d in days.tolist()]


def xlsx_column(name: str, col_type: str, series: pd.Series) -> XlsxColumn:
    """A frame column of a registry type as an XlsxColumn."""
    if col_type in ("date", "datetime"):
        return XlsxColumn(name, col_type, excel_serials(series.to_numpy()), 12 if col_type == "date" else 17)
    if col_type in ("number", "score"):
        return XlsxColumn(name, "number", [None if pd.isna(x) else x for x in series.tolist()], 12)
    if col_type == "bool":
        return XlsxColumn(name, "bool", [None if pd.isna(x) else bool(x) for x in series.tolist()], 10)
    values = [None if pd.isna(x) else str(x) for x in series.tolist()]
    longest = max((len(x) for x in values if x), default=10)
    return XlsxColumn(name, "string", values, float(min(max(longest, len(name)) + 2, 60)))


def write_sheet(workbook: xlsxwriter.Workbook, name: str, columns: Sequence[XlsxColumn]) -> Any:
    """Write a header row and the columns, row by row (works in constant_memory mode)."""
    ws = workbook.add_worksheet(name)
    bold = workbook.add_format({"bold": True})
    fmts = {
        "date": workbook.add_format({"num_format": DATE_FORMAT}),
        "datetime": workbook.add_format({"num_format": DATETIME_FORMAT}),
    }
    for c, col in enumerate(columns):
        ws.set_column(c, c, col.width)
        ws.write_string(0, c, col.header, bold)
    writers = []
    for c, col in enumerate(columns):
        if col.cell == "string":
            writers.append((c, ws.write_string, col.values, None))
        elif col.cell == "bool":  # Yes/No text: what exports hold and what a user types
            writers.append(
                (
                    c,
                    ws.write_string,
                    ["Yes" if v else "No" if v is not None else None for v in col.values],
                    None,
                )
            )
        else:
            writers.append((c, ws.write_number, col.values, fmts.get(col.cell)))
    n = len(columns[0].values) if columns else 0
    for r in range(n):
        row = r + 1
        for c, write, values, fmt in writers:
            v = values[r]
            if v is not None:
                write(row, c, v, fmt)
    ws.freeze_panes(1, 0)
    return ws


def _workbook(path: Path, created: datetime) -> xlsxwriter.Workbook:
    # Shared strings (not constant_memory): the demo's ~55k rows repeat the same vendor,
    # RM, type and category texts, so this is faster and smaller, and fits in memory easily.
    wb = xlsxwriter.Workbook(str(path))
    # A fixed creation time keeps the bytes identical for identical data.
    wb.set_properties({"title": "rmdash", "author": "rmdash", "created": created})
    return wb


def frame_columns(kind: Kind, frame: pd.DataFrame) -> list[XlsxColumn]:
    return [xlsx_column(c.name, c.type, frame[c.name]) for c in kind.columns]


def _readme_columns(kind: Kind) -> list[XlsxColumn]:
    help_ = column_help()
    meanings = help_["kinds"].get(kind.name, {})
    schema = load_schema()
    rows = []
    for col in kind.columns:
        accepted = help_["types"].get(col.type, "")
        if col.vocabulary:
            accepted = "One of: " + ", ".join(schema.vocabularies[col.vocabulary])
        if col.name in kind.at_least_one:
            mandatory = "at least one score"
        else:
            mandatory = "yes" if col.required else "no"
        rows.append(
            (col.name, col.type, mandatory, meanings.get(col.name, ""), accepted, ", ".join(col.synonyms))
        )
    headers = ("Column", "Data type", "Mandatory", "Meaning", "How to write it", "Also recognised as")
    widths = (26, 10, 12, 60, 60, 60)
    return [XlsxColumn(h, "string", [r[i] for r in rows], widths[i]) for i, h in enumerate(headers)]


def _readme_notes(kind: Kind) -> list[str]:
    return [
        f"{kind.label}: {column_help()['kinds'][kind.name]['_what']}",
        f"Replace the sample rows on the '{kind.label}' sheet with your own; keep one header row.",
        "A header may be the column name or any name under 'Also recognised as' (case, spaces and "
        "punctuation do not matter).",
        "Other columns are kept in the upload archive but not used. Key: " + " + ".join(kind.key) + ".",
    ]


def _sample_rows(kind: str, frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    if kind != "tickets" or len(frame) <= SAMPLE_TICKET_ROWS:
        return frame
    rows = np.random.default_rng([seed, 99]).choice(len(frame), SAMPLE_TICKET_ROWS, replace=False)
    return frame.iloc[np.sort(rows)].reset_index(drop=True)


def sample_file_name(kind: str) -> str:
    return f"{kind}.xlsx"


def write_sample_workbooks(frames: dict[str, pd.DataFrame], out_dir: Path = SAMPLES_DIR) -> list[Path]:
    """One template workbook per kind: the sample rows, then a README sheet describing each column."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = load_schema()
    created = _created(frames)
    paths = []
    for name, frame in frames.items():
        kind = schema.kind(name)
        path = out_dir / sample_file_name(name)
        wb = _workbook(path, created)
        write_sheet(wb, kind.label, frame_columns(kind, _sample_rows(name, frame, 0)))
        readme = write_sheet(wb, "README", _readme_columns(kind))
        for i, line in enumerate(_readme_notes(kind)):
            readme.write_string(len(kind.columns) + 2 + i, 0, line)
        wb.close()
        paths.append(path)
    return paths


def _created(frames: dict[str, pd.DataFrame]) -> datetime:
    """A creation time derived from the data, so identical data gives identical files."""
    latest = max(
        (frame[c].max() for frame in frames.values() for c in frame.columns if frame[c].dtype.kind == "M"),
        default=pd.Timestamp("2026-01-01"),
    )
    return pd.Timestamp(latest).normalize().to_pydatetime()


def write_demo_workbook(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    """All rows of every kind in one workbook, one sheet per kind (named by the kind's label)."""
    schema = load_schema()
    wb = _workbook(Path(path), _created(frames))
    for name, frame in frames.items():
        kind = schema.kind(name)
        write_sheet(wb, kind.label, frame_columns(kind, frame))
    wb.close()
    return Path(path)


# --------------------------------------------------------------------------- loading

DEMO_FILE_NAME = "rmdash-demo.xlsx"


def load_demo(
    db_path: str | Path | duckdb.DuckDBPyConnection,
    seed: int = 7,
    end_month: str | date | pd.Period | None = None,
    samples_dir: Path | None = SAMPLES_DIR,
) -> list[BatchSummary]:
    """Import the demo through the real import path; refresh the sample templates when writable."""
    from rmdash.importer import import_files  # imported late: demo frames need no importer

    frames = demo_frames(seed, end_month)
    with tempfile.TemporaryDirectory(prefix="rmdash-demo-") as tmp:
        path = write_demo_workbook(frames, Path(tmp) / DEMO_FILE_NAME)
        summaries = import_files(db_path, [path], ImportOptions(who=DEMO_USER))
    if samples_dir is not None and _writable(Path(samples_dir)):
        write_sample_workbooks(frames, Path(samples_dir))
    return summaries


def _writable(directory: Path) -> bool:
    target = directory if directory.exists() else directory.parent
    return target.is_dir() and os.access(target, os.W_OK)


def ensure_demo(db_path: str | Path | duckdb.DuckDBPyConnection, **kwargs) -> list[BatchSummary]:
    """Load the demo when the store has no batches yet (first start); otherwise do nothing.

    ``db_path`` is a store path or an open connection; ``kwargs`` go to load_demo.
    """
    from rmdash import store

    if isinstance(db_path, duckdb.DuckDBPyConnection):
        return [] if _batch_count(db_path) else load_demo(db_path, **kwargs)
    con = store.open_store(db_path)
    try:
        count = _batch_count(con)
    finally:
        con.close()
    return [] if count else load_demo(db_path, **kwargs)


def _batch_count(con: duckdb.DuckDBPyConnection) -> int:
    (count,) = con.execute("SELECT count(*) FROM batches").fetchone()
    return int(count)
