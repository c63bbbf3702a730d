"""rmdash app entry point: the router, the shared sidebar filters and presentation mode.

`streamlit run app.py` (or `make run`). Opens the store at $RMDASH_DB, else
data/rmdash.duckdb, and fills it with demo data on first start when it is
empty. Every page is a file in app_pages/ that reads top to bottom: filters, one
call into rmdash.views, charts. Nothing here computes a number.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `app_pages.shell` must import the same way under `streamlit run` and AppTest.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import streamlit as st  # noqa: E402

from app_pages import shell  # noqa: E402

st.set_page_config(page_title="rmdash · RM KPIs", page_icon=":material/handshake:", layout="wide")


def _page(file: str, title: str, icon: str, **kw) -> st.Page:
    return st.Page(f"app_pages/{file}", title=title, icon=f":material/{icon}:", **kw)


def _navigation(presenting: bool) -> dict[str, list]:
    """Grouped pages; in presentation mode only what may be shown to the vendor in a QBR."""
    groups = {
        "Scorecards": [
            _page("portfolio.py", "Portfolio", "leaderboard", default=True),
            _page("vendor.py", "Vendor", "storefront"),
            _page("rms.py", "Relationship managers", "groups"),
        ],
        "Data": [_page("upload.py", "Upload", "upload"), _page("data.py", "Data", "table")],
        "Rules": [
            _page("how.py", "How KPIs are computed", "function"),
            _page("settings.py", "Settings / what-if", "tune"),
        ],
    }
    if presenting:
        groups = {"Scorecards": groups["Scorecards"], "Rules": groups["Rules"][:1]}
    return groups


def main() -> None:
    # One failure (say, the database is busy) is shown once, not by every part of the rerun.
    shown = shell.guarded(shell.refresh_data_key)
    shown = shell.guarded(shell.sidebar_filters, already_shown=shown) or shown
    presenting = shell.presentation_switch()
    page = st.navigation(_navigation(presenting), position="top" if presenting else "sidebar")
    shell.guarded(page.run, already_shown=shown)


main()
