"""The demo data: deterministic, realistic, every QBR story present; templates; the real import."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from rmdash import demo
from rmdash.schema import KIND_NAMES, load_schema

END = "2026-10"  # window May 2025 .. October 2026


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return demo.demo_frames(seed=7, end_month=END)


@pytest.fixture(scope="module")
def stories() -> demo.Stories:
    return demo.demo_stories(END)


def _months(series: pd.Series) -> set[str]:
    return set(series.dropna().dt.strftime("%Y-%m"))


def _period(kind: str, frame: pd.DataFrame) -> pd.Series:
    return frame[load_schema().kind(kind).period_column]


def _response_on_time(tickets: pd.DataFrame) -> pd.Series:
    """Spec targets (minutes): Incident P1 30, P2 60, P3 240, P4 480; Request 240, 480, 1440, 2880."""
    targets = {
        ("Incident", "P1"): 30,
        ("Incident", "P2"): 60,
        ("Incident", "P3"): 240,
        ("Incident", "P4"): 480,
        ("Request", "P1"): 240,
        ("Request", "P2"): 480,
        ("Request", "P3"): 1440,
        ("Request", "P4"): 2880,
    }
    t = tickets[tickets["ticket_type"].isin(["Incident", "Request"])]
    target = pd.Series(list(zip(t["ticket_type"], t["priority"], strict=True)), index=t.index).map(targets)
    minutes = (t["responded_at"] - t["opened_at"]).dt.total_seconds() / 60
    return (minutes <= target).rename("on_time")


def _on_time_share_by_month(tickets: pd.DataFrame, vendor: str) -> pd.Series:
    t = tickets[tickets["vendor"] == vendor]
    ok = _response_on_time(t)
    return ok.groupby(t.loc[ok.index, "opened_at"].dt.to_period("M")).mean()


# --------------------------------------------------------------------------- shape


def test_the_same_seed_gives_the_same_demo_and_another_seed_another(frames):
    again = demo.demo_frames(seed=7, end_month=END)
    for kind in KIND_NAMES:
        pd.testing.assert_frame_equal(frames[kind], again[kind])
    other = demo.demo_frames(seed=8, end_month=END)
    assert not frames["tickets"].equals(other["tickets"])


def test_every_kind_has_exactly_the_registry_columns_in_order(frames):
    schema = load_schema()
    assert list(frames) == list(KIND_NAMES)
    for kind, frame in frames.items():
        assert tuple(frame.columns) == schema.kind(kind).column_names, kind


def test_required_values_are_never_blank_and_ids_are_unique_per_vendor(frames):
    schema = load_schema()
    for kind, frame in frames.items():
        k = schema.kind(kind)
        for col in k.required:
            assert frame[col].notna().all(), f"{kind}.{col} has blanks"
        assert not frame.duplicated(list(k.key)).any(), kind
    scores = frames["surveys"][list(schema.kind("surveys").at_least_one)]
    assert scores.notna().any(axis=1).all()


def test_four_vendors_with_two_or_three_rms_each(frames):
    vendors = set(frames["contracts"]["vendor"])
    assert len(vendors) == 4
    for kind in ("meetings", "tickets", "change_requests", "surveys", "communications"):
        assert set(frames[kind]["vendor"]) == vendors, kind
    rms = pd.concat([frames[k][["vendor", "rm"]] for k in ("meetings", "tickets", "surveys")]).dropna()
    per_vendor = rms.groupby("vendor")["rm"].nunique()
    assert per_vendor.between(2, 3).all(), per_vendor.to_dict()


def test_the_window_is_eighteen_months_ending_with_the_given_month(frames):
    expected = {str(p) for p in pd.period_range("2025-05", "2026-10", freq="M")}
    assert _months(frames["tickets"]["opened_at"]) == expected
    assert _months(frames["meetings"]["scheduled_date"]) == expected
    assert _months(frames["change_requests"]["actual_delivery_date"]) <= expected
    assert _months(frames["surveys"]["survey_date"]) == {
        "2025-06",
        "2025-09",
        "2025-12",
        "2026-03",
        "2026-06",
        "2026-09",
    }
    assert _months(frames["communications"]["effective_date"]) <= expected


def test_by_default_the_window_ends_with_the_last_complete_month():
    months = demo.demo_window().months
    assert len(months) == 18
    assert months[-1] == pd.Timestamp.today().to_period("M") - 1


def test_ticket_volumes_are_a_few_hundred_to_1500_per_vendor_and_month(frames):
    counts = frames["tickets"].groupby(["vendor", frames["tickets"]["opened_at"].dt.to_period("M")]).size()
    assert counts.min() >= 200
    assert counts.max() <= 1700  # 1,500 at most plus the outage burst
    assert set(frames["tickets"]["ticket_type"]) == {"Incident", "Request", "Complaint", "Compliment"}
    assert set(frames["tickets"]["priority"]) == {"P1", "P2", "P3", "P4"}


def test_meetings_are_weekly_ops_monthly_reviews_and_a_qbr_per_quarter(frames):
    m = frames["meetings"]
    per_vendor = m.groupby(["vendor", "meeting_type"]).size().unstack()
    assert (per_vendor["Monthly service review"] == 18).all()
    # QBRs in the first month of each quarter: Jul 25, Oct 25, Jan 26, Apr 26, Jul 26, Oct 26.
    assert (per_vendor["QBR"] == 6).all()
    assert per_vendor["Weekly ops"].between(76, 80).all()
    qbr = m[m["meeting_type"] == "QBR"].iloc[0]
    assert "Client VMO Lead" in qbr["required_attendees"].split("; ")
    held = m[m["held_date"].notna()]
    assert held["status"].isin(["Held", "Rescheduled"]).all()
    assert (m.loc[m["held_date"].isna(), "status"] == "Cancelled").all()


def test_change_requests_have_costs_and_delivery_dates(frames):
    cr = frames["change_requests"]
    per_month = cr.groupby(["vendor", cr["requested_date"].dt.to_period("M")]).size()
    assert 1.5 <= per_month.mean() <= 5
    delivered = cr[cr["status"] == "Delivered"]
    assert delivered["actual_cost"].notna().all() and delivered["actual_delivery_date"].notna().all()
    assert (cr["estimated_cost"] > 0).all()
    assert (cr["estimated_delivery_date"] > cr["requested_date"]).all()
    assert cr.loc[cr["status"] != "Delivered", "actual_delivery_date"].isna().all()


def test_surveys_are_quarterly_with_5_to_20_respondents_per_vendor(frames):
    s = frames["surveys"]
    per_wave = s.groupby(["vendor", s["survey_date"].dt.to_period("M")]).size()
    assert per_wave.between(5, 20).all()
    scores = s[list(load_schema().kind("surveys").at_least_one)].stack().dropna()
    assert scores.between(1, 5).all()
    assert s["nps"].dropna().between(0, 10).all()
    assert s["comment"].notna().sum() > len(s) / 2


def test_communications_include_pricing_for_every_vendor_and_a_handful_a_year(frames):
    c = frames["communications"]
    assert (c[c["change_type"] == "Pricing"].groupby("vendor").size() >= 1).all()
    per_vendor = c.groupby("vendor").size()
    assert per_vendor.between(4, 12).all()  # 18 months: a handful a year
    assert set(c["change_type"]) <= {"Pricing", "Strategy", "Cost", "Process"}


def test_contracts_mix_percent_and_fraction_forms_of_the_share_at_risk(frames):
    c = frames["contracts"]
    assert (c["at_risk_pct"] > 1).any() and (c["at_risk_pct"] <= 1).any()
    assert c["monthly_fee"].gt(0).all() and c["currency"].notna().all()


def test_some_rows_are_vendor_level_only(frames):
    for kind in ("tickets", "surveys", "communications"):
        share = frames[kind]["rm"].isna().mean()
        assert 0 < share < 0.5, (kind, share)


# --------------------------------------------------------------------------- the stories


def test_the_improving_vendor_answers_on_time_far_more_often_at_the_end(frames, stories):
    share = _on_time_share_by_month(frames["tickets"], stories.improving)
    assert share.iloc[-3:].mean() > share.iloc[:3].mean() + 0.15


def test_the_sliding_vendor_answers_on_time_far_less_often_at_the_end(frames, stories):
    share = _on_time_share_by_month(frames["tickets"], stories.sliding)
    assert share.iloc[:3].mean() > share.iloc[-3:].mean() + 0.15


def test_the_outage_month_has_more_p1_incidents_than_any_other_month(frames, stories):
    t = frames["tickets"]
    p1 = t[(t["ticket_type"] == "Incident") & (t["priority"] == "P1")]
    per_month = p1.groupby(p1["opened_at"].dt.to_period("M")).size()
    assert per_month.idxmax() == stories.outage_month
    assert per_month.max() > 3 * per_month.drop(stories.outage_month).max()
    vendor_p1 = p1[p1["vendor"] == stories.outage_vendor]
    vendor_months = vendor_p1.groupby(vendor_p1["opened_at"].dt.to_period("M")).size()
    assert vendor_months.idxmax() == stories.outage_month


def test_the_outage_month_has_slow_responses_and_many_escalations(frames, stories):
    t = frames["tickets"]
    v = t[t["vendor"] == stories.outage_vendor]
    month = v["opened_at"].dt.to_period("M")
    on_time = _on_time_share_by_month(t, stories.outage_vendor)
    assert on_time.idxmin() == stories.outage_month
    escalation = v[v["ticket_type"] != "Compliment"].groupby(month)["escalated"].mean()
    assert escalation.idxmax() == stories.outage_month
    assert escalation[stories.outage_month] > 2 * escalation.drop(stories.outage_month).max()


def test_the_replaced_rm_has_no_rows_from_the_change_month_on_and_the_new_rm_none_before(frames, stories):
    change = stories.rm_change_month.start_time
    for kind in ("meetings", "tickets", "change_requests", "surveys", "communications"):
        f = frames[kind]
        f = f[f["vendor"] == stories.replaced_vendor]
        period = _period(kind, f)
        if kind == "change_requests":  # a cancelled CR has no delivery: it is dated by its request
            period = period.where(f["status"] != "Cancelled", f["requested_date"])
        old = f["rm"] == stories.replaced_rm
        new = f["rm"] == stories.new_rm
        assert (period[old] < change).all(), kind  # NaT (an open CR) fails this too: it went to the new RM
        assert not (period[new] < change).any(), kind
    tickets = frames["tickets"]
    assert (tickets["rm"] == stories.replaced_rm).sum() > 1000
    assert (tickets["rm"] == stories.new_rm).sum() > 1000


def test_the_late_repricing_had_less_than_six_months_notice_and_every_other_one_enough(frames, stories):
    c = frames["communications"]
    pricing = c[c["change_type"] == "Pricing"]
    notice = (pricing["effective_date"] - pricing["communicated_date"]).dt.days
    late = pricing[notice < 182]
    assert list(late["vendor"]) == [stories.late_pricing_vendor]
    assert late["effective_date"].dt.to_period("M").tolist() == [stories.late_pricing_month]
    assert int(notice[late.index[0]]) == stories.late_pricing_notice_days == 75


# --------------------------------------------------------------------------- sample workbooks


def test_sample_workbooks_are_real_xlsx_with_the_registry_headers_and_a_readme(frames, tmp_path):
    paths = demo.write_sample_workbooks(frames, tmp_path)
    schema = load_schema()
    assert sorted(p.name for p in paths) == sorted(f"{k}.xlsx" for k in KIND_NAMES)
    for path in paths:
        kind = schema.kind(path.stem)
        wb = openpyxl.load_workbook(path, read_only=True)
        assert wb.sheetnames == [kind.label, "README"]
        rows = list(wb[kind.label].iter_rows(values_only=True))
        assert rows[0] == kind.column_names
        expected = min(len(frames[kind.name]), 200) if kind.name == "tickets" else len(frames[kind.name])
        assert len(rows) - 1 == expected
        readme = list(wb["README"].iter_rows(values_only=True))
        assert readme[0][:3] == ("Column", "Data type", "Mandatory")
        assert [r[0] for r in readme[1 : 1 + len(kind.columns)]] == list(kind.column_names)
        assert all(r[3] for r in readme[1 : 1 + len(kind.columns)]), "every column has a meaning"
        wb.close()


def test_sample_dates_are_excel_date_cells_and_booleans_yes_or_no(frames, tmp_path):
    demo.write_sample_workbooks(frames, tmp_path)
    ws = openpyxl.load_workbook(tmp_path / "tickets.xlsx")["Tickets"]
    header = [c.value for c in ws[1]]
    opened = ws.cell(row=2, column=header.index("opened_at") + 1)
    assert opened.is_date and isinstance(opened.value, dt.datetime)
    first = frames["tickets"].iloc[0]["opened_at"]
    assert opened.value.year >= first.year
    escalated = {ws.cell(row=r, column=header.index("escalated") + 1).value for r in range(2, ws.max_row + 1)}
    assert escalated == {"Yes", "No"}
    ws = openpyxl.load_workbook(tmp_path / "meetings.xlsx")["Meetings"]
    cell = ws.cell(row=2, column=[c.value for c in ws[1]].index("scheduled_date") + 1)
    assert cell.is_date and cell.value == frames["meetings"].iloc[0]["scheduled_date"].to_pydatetime()


def test_writing_the_same_samples_twice_gives_identical_bytes(frames, tmp_path):
    a = demo.write_sample_workbooks(frames, tmp_path / "a")
    b = demo.write_sample_workbooks(frames, tmp_path / "b")
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name


def test_the_ticket_template_is_a_sorted_sample_of_200_tickets(frames):
    sample = demo._sample_rows("tickets", frames["tickets"], 0)
    assert len(sample) == 200
    assert set(sample["ticket_type"]) >= {"Incident", "Request"}
    assert sample.groupby("vendor", sort=False)["opened_at"].is_monotonic_increasing.all()


# --------------------------------------------------------------------------- the real import


@pytest.mark.slow
def test_the_templates_import_back_cleanly_and_their_readme_sheets_are_skipped(frames, tmp_path):
    pytest.importorskip("rmdash.plan", reason="the importer's planning stage has not landed yet")
    from rmdash.importer import import_files
    from rmdash.model import ImportOptions

    paths = demo.write_sample_workbooks(frames, tmp_path / "samples")
    summaries = import_files(tmp_path / "t.duckdb", paths, ImportOptions(who="test"))
    assert sorted(s.kind for s in summaries) == sorted(KIND_NAMES)
    assert all(s.rejected == 0 for s in summaries)
    by_kind = {s.kind: s.new for s in summaries}
    assert by_kind["tickets"] == 200
    assert by_kind["meetings"] == len(frames["meetings"])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    pytest.importorskip("rmdash.plan", reason="the importer's planning stage has not landed yet")
    base = tmp_path_factory.mktemp("demo")
    db = base / "demo.duckdb"
    summaries = demo.ensure_demo(db, end_month=END, samples_dir=base / "samples")
    return db, summaries, base


@pytest.mark.slow
def test_load_demo_imports_every_row_with_nothing_rejected(loaded, frames):
    from rmdash.db import open_db

    db, summaries, base = loaded
    assert {s.kind for s in summaries} == set(KIND_NAMES)
    assert all(s.rejected == 0 and s.batch_id is not None and s.active for s in summaries)
    assert all(s.who == demo.DEMO_USER for s in summaries if s.who is not None)
    con = open_db(db, read_only=True)
    try:
        for kind in KIND_NAMES:
            (n,) = con.execute(f"SELECT count(*) FROM {kind}").fetchone()
            assert n == len(frames[kind]), kind
        (rejected,) = con.execute("SELECT count(*) FROM rejected_rows").fetchone()
        assert rejected == 0
    finally:
        con.close()
    assert sorted(p.name for p in (base / "samples").iterdir()) == sorted(f"{k}.xlsx" for k in KIND_NAMES)


@pytest.mark.slow
def test_ensure_demo_leaves_a_store_with_batches_alone(loaded):
    db, _, base = loaded
    assert demo.ensure_demo(db, end_month=END, samples_dir=None) == []


@pytest.mark.slow
def test_imported_values_round_trip_exactly(loaded, frames):
    from rmdash.db import open_db

    db, _, _ = loaded
    con = open_db(db, read_only=True)
    try:
        got = con.execute(
            "SELECT ticket_id, priority, opened_at, escalated, action_plan_shared FROM tickets "
            "WHERE vendor = ? ORDER BY ticket_id",
            [demo.OUTAGE_VENDOR],
        ).df()
    finally:
        con.close()
    t = frames["tickets"]
    want = t[t["vendor"] == demo.OUTAGE_VENDOR].sort_values("ticket_id").reset_index(drop=True)
    assert got["ticket_id"].tolist() == want["ticket_id"].tolist()
    assert got["priority"].tolist() == want["priority"].str[1].astype(int).tolist()
    # Excel keeps datetimes to the millisecond; the demo's are whole seconds.
    assert (pd.to_datetime(got["opened_at"]).to_numpy() == want["opened_at"].to_numpy()).all()
    assert got["escalated"].tolist() == want["escalated"].tolist()
    assert np.array_equal(got["action_plan_shared"].fillna(False), want["action_plan_shared"].fillna(False))


@pytest.mark.slow
def test_demo_composites_tell_the_stories(loaded, stories):
    from rmdash.db import open_db
    from rmdash.kpi import compute_kpis

    db, _, _ = loaded
    con = open_db(db, read_only=True)
    try:
        table = compute_kpis(con, "month", cache=False)
    finally:
        con.close()
    c = table.composite[table.composite["rm"].isna()]
    assert set(c["rag"]) == {"green", "amber", "red"}
    by = c.pivot(index="period", columns="vendor", values="composite").sort_index()
    assert by[stories.improving].iloc[:3].mean() < 70 <= 85 <= by[stories.improving].iloc[-3:].mean()
    assert by[stories.sliding].iloc[:3].mean() >= 85 > 70 > by[stories.sliding].iloc[-3:].mean()
    outage = str(stories.outage_month)
    assert by.loc[outage, stories.outage_vendor] == by[stories.outage_vendor].min() < 50
    m = table.metrics
    notice = m[
        (m["rm"].isna())
        & (m["metric"] == "change_notice_on_time")
        & (m["vendor"] == stories.late_pricing_vendor)
    ]
    assert notice.set_index("period").loc[str(stories.late_pricing_month), "score"] == 0.0
