"""The Streamlit side every page shares: connection, cache, filters, presentation mode.

Purpose: the only place that talks to Streamlit's runtime on behalf of all
pages: one cached DuckDB connection (a cursor per call, so Streamlit's threads
never share one), KPI tables cached by store version and rule set (an upload
or an undo bumps the version, so the next rerun recomputes), the sidebar
filters kept in the URL, presentation mode and the guard that keeps
tracebacks off the screen. Boundary: no SQL, no KPI maths, no parsing; those
live in rmdash/ (views, kpi, store, ...). Not a page: app.py does not list it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from rmdash import filters, theme, views
from rmdash.filters import Filters
from rmdash.model import RmdashError
from rmdash.store import shared_cursor

log = logging.getLogger("rmdash.app")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
_FILTERS = "_rmdash_filters"  # session key of the current Filters (survives page switches)
GENERIC_ERROR = (
    "Something went wrong while drawing this page. It has been logged; try again or change the filters."
)

PRESENT_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], [data-testid="stToolbarActions"], [data-testid="stMainMenu"],
[data-testid="stAppDeployButton"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
[data-testid="stElementToolbar"] { display: none !important; }
html { font-size: 125%; }
[data-testid="stMainBlockContainer"] { padding-top: 4rem; max-width: 100%; }
</style>
"""


def db_path() -> str:
    return os.environ.get("RMDASH_DB", str(ROOT / "data" / "rmdash.duckdb"))


@st.cache_resource(show_spinner=False)
def _prepared(path: str) -> str:
    """Once per server and database: the demo fills a new, empty store on first start."""
    from rmdash.demo import ensure_demo

    ensure_demo(path)
    return path


def cursor():
    """A cursor for this rerun's queries (use it in a ``with`` block).

    The server shares one connection while pages use it and closes it when idle
    (rmdash.store.shared_cursor): between reruns the app holds no lock on the
    database file, so `rmdash import` from a scheduled job can write.
    """
    return shared_cursor(_prepared(db_path()))


_DATA_KEY = "_rmdash_data_key"  # (database, store version, rule-set hash) read at the start of this rerun


def refresh_data_key() -> tuple[str, int, str]:
    """Read the store version and the active rule set (two tiny queries) once per rerun.

    app.py calls this first on every rerun, so an upload, an undo or a saved
    rule set (each followed by a rerun) invalidates every cached KPI table at once.
    """
    from rmdash.store import store_version

    with cursor() as cur:
        key = (db_path(), int(store_version(cur)), views.rules_key(cur))
    st.session_state[_DATA_KEY] = key
    return key


@st.cache_resource(show_spinner="Computing KPIs…", max_entries=8)
def _kpis(path: str, version: int, rules: str, grain: str):
    """Shared by every session and never copied: views treat the KPI table as read-only."""
    with shared_cursor(path) as cur:
        table = views.all_kpis(cur, grain)
    views.prepare(table)
    return table


@st.cache_resource(show_spinner=False, max_entries=8)
def _options(path: str, version: int, rules: str, grain: str):
    return views.filter_options(_kpis(path, version, rules, grain))


def _cache_key(grain: str) -> tuple[str, int, str, str]:
    key = st.session_state.get(_DATA_KEY) or refresh_data_key()
    return (*key, grain)


def kpis(grain: str):
    """Every vendor's and RM's KPIs at this grain, cached until the store or the rules change."""
    return _kpis(*_cache_key(grain))


def filter_options(grain: str):
    return _options(*_cache_key(grain))


def current_filters() -> Filters:
    return st.session_state.get(_FILTERS) or Filters()


def view(fn: Callable[..., Any], f: Filters | None = None, **kwargs) -> Any:
    """The page's one call into the core: ``fn(cursor, filters, kpis=<cached>, **kwargs)``."""
    f = f or current_filters()
    table = kpis(f.grain)
    with cursor() as cur:
        return fn(cur, f, kpis=table, **kwargs)


# ---------------------------------------------------------------- filters and the URL


def _query_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params.keys()}  # noqa: SIM118


def _seed(key: str, value: Any) -> None:
    """Give a widget its value from the filters when it has none (first run, or it was hidden)."""
    if key not in st.session_state:
        st.session_state[key] = value


def publish(f: Filters) -> None:
    """Keep the filters in the session (page switches) and in the URL (links)."""
    st.session_state[_FILTERS] = f
    wanted = filters.to_query(f)
    if _query_params() != {k: (v if isinstance(v, list) else [v]) for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)


def sidebar_filters() -> Filters:
    """Draw the shared filters in the sidebar (hidden by CSS in presentation mode) and return them."""
    if _FILTERS not in st.session_state:  # a new session: the link's query string decides
        st.session_state[_FILTERS] = filters.from_query(_query_params())
    f: Filters = st.session_state[_FILTERS]
    side = st.sidebar
    side.header("Filters")
    _seed("flt_grain", f.grain)
    grain = side.radio("Grain", filters.GRAINS, key="flt_grain", horizontal=True, format_func=str.capitalize)
    f = f.with_(grain=grain)
    options = filter_options(grain)
    if options.vendors:
        f = filters.restrict(f, options.vendors, options.rms)
        f = _period_filter(side, f, options.periods)
        _seed("flt_vendor", list(f.vendors))
        chosen = side.multiselect("Vendor", options.vendors, key="flt_vendor", placeholder="All vendors")
        f = f.with_(vendors=tuple(chosen))
        rms = options.rms_of(f.vendors)
        _seed("flt_rm", f.rm if f.rm in rms else None)
        if st.session_state["flt_rm"] not in rms:
            st.session_state["flt_rm"] = None
        rm = side.selectbox("Relationship manager", rms, key="flt_rm", index=None, placeholder="All RMs")
        f = f.with_(rm=rm)
    else:
        side.info("No data yet: the Upload page takes your exports.")
    side.caption("The address bar keeps these filters: copy it to share this exact view.")
    publish(f)
    return f


def _period_filter(side, f: Filters, periods) -> Filters:
    labels = list(periods["period"].astype(str))
    if len(labels) < 2:
        return f.with_(month_from=None, month_to=None)
    key = f"flt_range_{f.grain}"
    _seed(key, filters.range_labels(periods, f.grain, f))
    if st.session_state[key][0] not in labels or st.session_state[key][1] not in labels:
        st.session_state[key] = (labels[0], labels[-1])
    first, last = side.select_slider("Periods", labels, key=key)
    if filters.is_whole_range(periods, f.grain, first, last):
        return f.with_(month_from=None, month_to=None)
    month_from, month_to = filters.months_for_labels(periods, f.grain, first, last)
    return f.with_(month_from=month_from, month_to=month_to)


def widget_value(key: str, default: Any = None) -> Any:
    """A page widget's value from the last interaction, read before the page's one core call."""
    return st.session_state.get(key, default)


def widget_values(prefix: str) -> dict[str, Any]:
    """Values of the page widgets whose keys start with ``prefix`` (key without the prefix)."""
    return {k[len(prefix) :]: v for k, v in st.session_state.items() if k.startswith(prefix)}


def focus_filters() -> Filters:
    """The filters with the vendor picked on a single-vendor page (``focus`` in the URL)."""
    f = current_filters()
    return f.with_(focus=st.session_state.get("flt_focus", f.focus))


def choose(label: str, options: list, value: Any, key: str, **kwargs) -> Any:
    """A selectbox showing ``value`` (already resolved by the core to one of ``options``)."""
    if value in options:
        st.session_state[key] = value
    return st.selectbox(label, options, key=key, **kwargs)


def focus_vendor(vendors: list[str], vendor: str | None) -> None:
    """The vendor picker of a single-vendor page; its choice goes into the URL as ``focus``."""
    if not vendors:
        return
    choose("Vendor", vendors, vendor, key="flt_focus")
    publish(current_filters().with_(focus=vendor))


# ---------------------------------------------------------------- presentation


def presentation_switch() -> bool:
    """The one switch (top right) for presentation mode; ``?present=1`` turns it on too."""
    f = current_filters()
    _seed("flt_present", f.present)
    _, right = st.columns([5, 1])
    present = right.toggle(
        "Presentation mode", key="flt_present", help="Hide sidebar and edit controls, larger text"
    )
    publish(f.with_(present=present))
    if present:
        st.html(PRESENT_CSS)
    return present


def is_presenting() -> bool:
    return current_filters().present


_MARKDOWN = re.compile(r"([\\`*_\[\]#|<>~$:])")


def plain(text: object) -> str:
    """User text (vendor and RM names, comments) escaped so Markdown shows it as typed."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def headline(text: str) -> None:
    """The one message of the screen: large in presentation mode, a subheader otherwise."""
    if is_presenting():
        st.title(plain(text), anchor=False)
    else:
        st.subheader(plain(text), anchor=False)


def subheader(text: str) -> None:
    st.subheader(plain(text), anchor=False)


def show(fig, key: str | None = None) -> None:
    """Render a figure from rmdash.charts with the app's template (not Streamlit's theme)."""
    if is_presenting():
        theme.apply_presentation(fig)
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})


def table_height(frame) -> int:
    """Pixels that show every row of a short table without a scrollbar."""
    return 38 + 35 * max(len(frame), 1)


def empty_state(message: str) -> None:
    """What to do when there is nothing to show: upload, use a template, or load the demo."""
    st.info(plain(message))
    st.markdown(
        "- **Upload** your monthly exports (xlsx or csv) on the Upload page.\n"
        "- **Templates**: blank and filled example workbooks are in `data/samples/` in the project folder.\n"
        "- **Demo data**: `python -m rmdash demo --db <your database>` fills an empty store with realistic data."
    )
    if not is_presenting():
        st.page_link("app_pages/upload.py", label="Go to Upload", icon=":material/upload:")
    if SAMPLES.is_dir():
        for sample in sorted(SAMPLES.glob("*.xlsx"))[:6]:
            st.download_button(
                f"Template: {sample.name}",
                sample.read_bytes(),
                file_name=sample.name,
                key=f"tpl_{sample.name}",
            )


def guarded(run: Callable[[], None], already_shown: str | None = None) -> str | None:
    """Run a page body; users see one line, never a traceback. Returns the line shown, if any.

    ``already_shown``: a line an earlier part of this rerun showed (the sidebar's "database busy"),
    not repeated in the page body.
    """
    try:
        run()
        return None
    except RmdashError as err:
        message = str(err).splitlines()[0] if str(err) else "That did not work."
    except Exception:
        log.exception("page failed")
        message = GENERIC_ERROR
    if message != already_shown:
        st.error(message)
    return message
