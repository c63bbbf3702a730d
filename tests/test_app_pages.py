"""Every page of the app, driven through Streamlit's AppTest on the demo data.

One demo store is built per session (rmdash.demo.load_demo, the real import
path) and the app opens it through RMDASH_DB, as it does in production. Tests
that change data (upload, undo, saving a rule set) work on their own copy.
Numbers on screen are checked against rmdash.kpi computed independently.
"""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import plotly.graph_objects as go
import plotly.io as pio
import pyarrow as pa
import pytest
from demo_store import demo_copy
from streamlit.testing.v1 import AppTest

from rmdash import theme, views
from rmdash.db import open_db
from rmdash.importer import import_files
from rmdash.kpi import compute_kpis
from rmdash.model import ImportOptions
from rmdash.store import set_active

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["portfolio", "vendor", "rms", "upload", "data", "how", "settings"]
TIMEOUT = 60


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    return demo_copy(tmp_path_factory.mktemp("demo") / "demo.duckdb")


@pytest.fixture(scope="session")
def demo_kpis(demo_db):
    con = open_db(demo_db)
    try:
        return {grain: compute_kpis(con, grain, cache=False) for grain in ("month", "quarter")}
    finally:
        con.close()


@pytest.fixture
def app_db(demo_db, monkeypatch) -> Path:
    monkeypatch.setenv("RMDASH_DB", str(demo_db))
    return demo_db


@pytest.fixture
def own_db(demo_db, tmp_path, monkeypatch) -> Path:
    """A private copy of the demo store for tests that change data."""
    path = tmp_path / "own.duckdb"
    shutil.copyfile(demo_db, path)
    monkeypatch.setenv("RMDASH_DB", str(path))
    return path


def _app(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def _no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _table(at: AppTest, *columns: str):
    """The first table on screen with these columns (AppTest does not expose a dataframe's key)."""
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")


def _figures(at: AppTest) -> list[go.Figure]:
    return [pio.from_json(chart.proto.spec) for chart in at.get("plotly_chart")]


def _figure(at: AppTest, title_start: str) -> go.Figure:
    found = [f for f in _figures(at) if f.layout.title.text.startswith(title_start)]
    assert found, [f.layout.title.text for f in _figures(at)]
    return found[0]


def _values(array) -> list:
    """A trace's data array as a list (Plotly sends numbers as base64 typed arrays)."""
    if isinstance(array, dict) and "bdata" in array:
        return list(np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])))
    return list(array)


def _unescape(text: str) -> str:
    return text.replace("\\", "")


def _vendor_rows(kpis, grain: str, period: str):
    c = kpis[grain].composite
    return c[c["rm"].isna() & (c["period"] == period)].set_index("vendor")


# ---------------------------------------------------------------- smoke


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_demo_data_without_an_error(app_db, page):
    at = _app(page)
    _no_failure(at)
    assert at.header[0].value  # the page drew its title
    assert len(at.dataframe) + len(at.get("plotly_chart")) + len(at.table) > 0
    # a cell with no value shows "–", not Streamlit's grey "None" (an RM with no change requests)
    assert all(table.proto.placeholder == theme.MISSING for table in at.dataframe)


def test_the_scorecard_pages_draw_their_charts_and_tables(app_db):
    expected = {"portfolio": (3, 1), "vendor": (5, 2), "rms": (4, 2)}
    for page, (charts, tables) in expected.items():
        at = _app(page)
        assert len(at.get("plotly_chart")) >= charts, page
        assert len(at.dataframe) >= tables, page


# ---------------------------------------------------------------- portfolio and filters


def test_the_league_table_shows_the_kpi_engines_numbers_for_the_latest_quarter(app_db, demo_kpis):
    at = _app(grain="quarter")
    league = _table(at, "Rank", "Vendor").set_index("Vendor")
    period = max(demo_kpis["quarter"].composite["period"])
    truth = _vendor_rows(demo_kpis, "quarter", period)
    assert set(league.index) == set(truth.index)
    for vendor, row in league.iterrows():
        assert row["Composite"] == pytest.approx(truth.loc[vendor, "composite"])
        assert row["RAG"].split()[-1].lower() == truth.loc[vendor, "rag"]
    assert _unescape(at.subheader[0].value).startswith(f"{period}: ")


def test_a_vendor_filter_changes_the_league_the_charts_and_the_url(app_db):
    at = _app(grain="quarter")
    assert len(_table(at, "Rank", "Vendor")) == 4
    at.multiselect(key="flt_vendor").set_value(["Helix Back Office Services"]).run()
    _no_failure(at)
    assert list(_table(at, "Rank", "Vendor")["Vendor"]) == ["Helix Back Office Services"]
    trend = _figure(at, "Composite RM KPI over time")
    assert [t.name for t in trend.data] == ["Helix Back Office Services"]
    assert at.query_params["vendor"] == "Helix Back Office Services"


def test_switching_to_quarters_pools_months_into_quarters(app_db):
    at = _app()
    assert "-Q" not in at.subheader[0].value
    at.radio(key="flt_grain").set_value("quarter").run()
    _no_failure(at)
    assert "-Q" in at.subheader[0].value
    assert at.query_params["grain"] == "quarter"


def test_a_link_with_filters_reopens_the_same_view(app_db):
    at = _app(vendor=["Bluepeak IT Services", "Northwind Contact Solutions"], grain="quarter", to="2026-03")
    _no_failure(at)
    league = _table(at, "Rank", "Vendor")
    assert set(league["Vendor"]) == {"Bluepeak IT Services", "Northwind Contact Solutions"}
    assert _unescape(at.subheader[0].value).startswith("2026-Q1: ")
    assert at.select_slider(key="flt_range_quarter").value[1] == "2026-Q1"


def test_filters_survive_a_page_switch(app_db):
    at = _app(grain="quarter")
    at.multiselect(key="flt_vendor").set_value(["Greenfield Facilities Management"]).run()
    at.switch_page("app_pages/vendor.py").run()
    _no_failure(at)
    assert at.selectbox(key="flt_focus").options == ["Greenfield Facilities Management"]
    assert at.query_params["vendor"] == "Greenfield Facilities Management"
    assert at.query_params["grain"] == "quarter"


# ---------------------------------------------------------------- vendor page


def test_the_vendor_page_draws_the_chosen_vendors_composite(app_db, demo_kpis):
    at = _app("vendor", grain="quarter", focus="Helix Back Office Services")
    _no_failure(at)
    trend = _figure(at, "Helix Back Office Services: composite")
    c = demo_kpis["quarter"].composite
    truth = c[(c["vendor"] == "Helix Back Office Services") & c["rm"].isna()].sort_values("period_start")
    assert _values(trend.data[0].y) == pytest.approx(list(truth["composite"]))
    at.selectbox(key="flt_focus").set_value("Northwind Contact Solutions").run()
    assert _unescape(at.subheader[0].value).startswith("Northwind Contact Solutions: ")
    assert at.query_params["focus"] == "Northwind Contact Solutions"


def test_the_waterfall_adds_up_from_one_chosen_period_to_the_other(app_db, demo_kpis):
    at = _app("vendor", grain="quarter", focus="Bluepeak IT Services")
    at.selectbox(key="vendor_from").set_value("2025-Q4").run()
    at.selectbox(key="vendor_to").set_value("2026-Q2").run()
    _no_failure(at)
    wf = _figure(at, "Why the composite moved, 2025-Q4 → 2026-Q2").data[0]
    rows = _vendor_rows(demo_kpis, "quarter", "2025-Q4"), _vendor_rows(demo_kpis, "quarter", "2026-Q2")
    start, end = (r.loc["Bluepeak IT Services", "composite"] for r in rows)
    y = _values(wf.y)
    assert y[0] == pytest.approx(start)
    assert y[-1] == pytest.approx(end)
    assert y[0] + sum(y[1:-1]) == pytest.approx(end)


def test_picking_a_metric_lists_the_rows_that_hurt_it(app_db):
    at = _app("vendor", grain="month", focus="Bluepeak IT Services", **{"from": "2026-01", "to": "2026-01"})
    at.selectbox(key="vendor_metric").set_value("escalation_rate").run()
    _no_failure(at)
    rows = _table(at, "ticket_id")
    metrics = _table(at, "Metric", "Score").set_index("Metric")
    n = metrics.loc["Escalation rate", "n"]
    share = float(metrics.loc["Escalation rate", "Value"].rstrip("%")) / 100
    assert len(rows) == round(n * share)  # every escalated ticket of the month is listed
    assert {"ticket_id", "rm"} <= set(rows.columns)


# ---------------------------------------------------------------- RMs, how, data, settings


def test_the_rm_filter_narrows_the_scorecards_and_finds_the_rm_change(app_db):
    at = _app("rms", grain="quarter")
    _no_failure(at)
    assert len(_table(at, "RM", "Composite")) > 1
    swap = _table(at, "From RM", "To RM").iloc[0]
    assert (swap["Vendor"], swap["From RM"], swap["To RM"]) == (
        "Bluepeak IT Services",
        "James Carter",
        "Aisha Khan",
    )
    at.selectbox(key="flt_rm").set_value("Aisha Khan").run()
    cards = _table(at, "RM", "Composite")
    assert list(cards["RM"]) == ["Aisha Khan"]
    assert at.query_params["rm"] == "Aisha Khan"


def test_the_how_page_lists_every_metric_with_its_target_and_a_worked_example(app_db):
    at = _app("how")
    _no_failure(at)
    metrics = next(t.value for t in at.table if "How it is computed" in t.value.columns)
    assert len(metrics) == 13
    held = metrics.loc["Meetings held on time"]
    assert (held["Target (score 100)"], held["Floor (score 0)"]) == ("100.0%", "50.0%")
    assert at.markdown[-1].value.startswith("**Composite = (")
    weights = next(t for t in at.table if "Weight" in t.value.columns)
    shown = pa.ipc.open_stream(weights.proto.arrow_data.styler.display_values).read_all().to_pandas()
    assert list(shown["Weight"]) == [f"{w:g}" for w in weights.value["Weight"]]  # "20", not "20.0000"


def test_the_data_page_browses_each_kind_with_the_filters(app_db):
    at = _app("data")
    kinds = at.selectbox(key="data_kind")
    at = kinds.set_value("contracts").run()
    _no_failure(at)
    assert len(_table(at, "vendor")) == 4
    at.multiselect(key="flt_vendor").set_value(["Bluepeak IT Services"]).run()
    rows = _table(at, "vendor")
    assert list(rows["vendor"]) == ["Bluepeak IT Services"]
    assert len(at.get("download_button")) == 2


def test_what_if_weights_change_the_new_composite_and_saving_makes_a_rule_set(own_db):
    at = _app("settings", grain="quarter")
    table = _table(at, "Current", "What-if")
    assert (table["Current"] == table["What-if"]).all()
    at.slider(key="w_governance").set_value(100.0).run()
    _no_failure(at)
    table = _table(at, "Current", "What-if")
    assert not (table["Current"].round(6) == table["What-if"].round(6)).all()
    at.text_input(key="whatif_label").input("governance heavy").run()
    at.button(key="whatif_save").click().run()
    _no_failure(at)
    con = open_db(own_db)
    try:
        saved = con.execute("SELECT version, label FROM rule_sets").fetchall()
    finally:
        con.close()
    assert saved == [(1, "governance heavy")]


# ---------------------------------------------------------------- upload, undo and the cache


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _tickets_xlsx(n: int) -> bytes:
    """A small ServiceNow-like export: title row, header on row 3, no vendor column."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Incidents"
    ws.append(["Incident export"])
    ws.append([])
    ws.append(["Number", "Type", "Priority", "Opened", "Responded", "Escalated"])
    for i in range(n):
        ws.append(
            [
                f"INC{i:04d}",
                "Incident",
                "P2",
                f"2026-10-{i + 1:02d} 09:00",
                f"2026-10-{i + 1:02d} 09:20",
                "no",
            ]
        )
    ws.append(["INC-BAD", "Incident", "P2", "not a date", "", "no"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_upload_previews_imports_and_undo_takes_it_back_at_once(own_db):
    at = _app("upload")
    at.file_uploader(key="uploader_0").set_value(("acme-tickets.xlsx", _tickets_xlsx(6), XLSX)).run()
    assert not at.exception
    assert [_unescape(e.value) for e in at.error] == [
        "sheet 'Incidents' looks like tickets but has no vendor column: give its value below"
    ]
    const = [t for t in at.text_input if t.key and t.key.endswith("_vendor")]
    assert const, "the page offers a constant for the missing vendor column"
    const[0].input("Zeta Services").run()
    _no_failure(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Rows accepted": "6", "Rows rejected": "1"}
    assert "Sheet Incidents" in _unescape(at.subheader[0].value)
    at.button(key="upload_import").click().run()
    _no_failure(at)
    assert at.success[0].value.startswith("Imported")
    history = _table(at, "Batch", "File")
    assert history.iloc[0]["File"] == "acme-tickets.xlsx" and history.iloc[0]["New"] == 6

    at.switch_page("app_pages/portfolio.py").run()
    assert "Zeta Services" in set(_table(at, "Rank", "Vendor")["Vendor"])

    at.switch_page("app_pages/upload.py").run()
    at.button(key="upload_undo").click().run()
    _no_failure(at)
    assert "undone" in at.success[0].value
    at.switch_page("app_pages/portfolio.py").run()
    assert "Zeta Services" not in set(_table(at, "Rank", "Vendor")["Vendor"])


# ---------------------------------------------------------------- presentation mode and errors


def test_presentation_mode_hides_admin_pages_and_keeps_the_filters(app_db):
    at = _app(grain="quarter", vendor="Helix Back Office Services", present="1")
    _no_failure(at)
    assert at.toggle(key="flt_present").value is True
    assert at.title[0].value.startswith("2026-Q")  # the one headline, large
    assert list(at.table[0].value["Vendor"]) == ["Helix Back Office Services"]
    assert len(at.get("plotly_chart")) == 1
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/upload.py")
    at.toggle(key="flt_present").set_value(False).run()
    assert "present" not in at.query_params
    at.switch_page("app_pages/upload.py").run()
    _no_failure(at)


def test_the_presented_league_writes_scores_to_one_decimal_and_a_missing_one_as_a_dash(app_db, monkeypatch):
    real = views._league

    def league_with_a_new_vendor(*args):
        league = real(*args)
        league.loc[len(league)] = {
            **league.iloc[-1].to_dict(),
            "Vendor": "New Vendor",
            "Rank": len(league) + 1,
        }
        league.loc[len(league) - 1, ["Composite", "Change"]] = float("nan")  # no score yet, no change
        return league

    monkeypatch.setattr(views, "_league", league_with_a_new_vendor)
    at = _app(present="1")

    shown = pa.ipc.open_stream(at.table[0].proto.arrow_data.styler.display_values).read_all().to_pandas()
    scores = at.table[0].value
    assert list(shown["Composite"][:-1]) == [
        f"{x:.1f}" for x in scores["Composite"][:-1]
    ]  # st.table: 4 decimals
    assert list(shown["Change"][:-1]) == [f"{x:+.1f}" for x in scores["Change"][:-1]]
    assert list(shown.iloc[-1][["Vendor", "Composite", "Change"]]) == [
        "New Vendor",
        theme.MISSING,
        theme.MISSING,
    ]


def test_a_broken_store_shows_one_line_and_no_traceback(tmp_path, monkeypatch):
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_text("this is not a database")
    monkeypatch.setenv("RMDASH_DB", str(bad))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.error and all("\n" not in e.value and "Traceback" not in e.value for e in at.error)


@pytest.fixture
def emptied_db(tmp_path, monkeypatch) -> Path:
    """A store whose only batch was undone: nothing current, and no demo reload (it has a batch)."""
    path = tmp_path / "emptied.duckdb"
    csv = tmp_path / "one.csv"
    csv.write_text("Ticket ID,Vendor,Type,Opened\nT1,Acme,Incident,2026-10-01 09:00\n", "utf-8")
    batch = import_files(path, [csv], ImportOptions(who="test"))[0]
    con = open_db(path)
    try:
        set_active(con, batch.batch_id, False, "test")
    finally:
        con.close()
    monkeypatch.setenv("RMDASH_DB", str(path))
    return path


@pytest.mark.parametrize("page", ["portfolio", "vendor", "rms", "settings", "data"])
def test_every_page_says_what_to_do_when_there_is_no_data(emptied_db, page):
    at = _app(page)
    _no_failure(at)
    assert at.info, "an empty state, not a blank page"
    text = " ".join(i.value for i in at.info) + " ".join(m.value for m in at.markdown)
    assert "Upload" in text and "data/samples" in text and "demo" in text
    assert not at.get("plotly_chart")
