"""Widgets of the Upload page (not a page): files kept between reruns, per-file choices, mapping editor.

Purpose: the Streamlit plumbing the upload page needs and no other page does:
uploaded bytes written once to a private temporary folder (rmdash plans from
a path), the per-file choices (kind, date order, survey scale, saved mapping,
constants, column mapping edits) read back from widget state before the
page's one core call, and the undo/redo/import actions. Boundary: no parsing,
no SQL: rmdash.views plans and writes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import streamlit as st

from app_pages import shell
from rmdash import views
from rmdash.schema import load_schema

_DIR, _FILES, _ROUND, _PLANS = "_upload_dir", "_upload_files", "_upload_round", "_upload_plans"
DATE_ORDERS = {
    "auto": "Decide from the values",
    "dayfirst": "Day first (31/12)",
    "monthfirst": "Month first (12/31)",
}


def _fid(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]  # noqa: S324 (a widget key, not security)


def uploader_key() -> str:
    """The uploader's key; a new round after an import empties it."""
    return f"uploader_{st.session_state.setdefault(_ROUND, 0)}"


def saved_uploads(uploaded) -> list[tuple[str, str]]:
    """(file name, path) of every uploaded file, written once to this session's temporary folder."""
    folder = Path(st.session_state.setdefault(_DIR, tempfile.mkdtemp(prefix="rmdash-upload-")))
    known: dict = st.session_state.setdefault(_FILES, {})
    out = []
    for up in uploaded or []:
        name = Path(up.name).name or "upload"
        if up.file_id not in known:
            target = folder / f"{_fid(up.file_id)}-{name}"
            target.write_bytes(up.getvalue())
            known[up.file_id] = str(target)
        out.append((name, known[up.file_id]))
    return out


def plan_cache() -> dict:
    return st.session_state.setdefault(_PLANS, {})


def choices(files: list[tuple[str, str]]) -> dict[str, dict]:
    """Each file's choices from the widgets of the last run (before the page plans again)."""
    schema = load_schema()
    out = {}
    for name, _ in files:
        fid = _fid(name)
        column_map = {}
        for key, state in st.session_state.items():
            if isinstance(key, str) and key.startswith(f"up_mapedit|{fid}|") and isinstance(state, dict):
                kind = schema.kind(key.split("|")[3])
                for row, edit in (state.get("edited_rows") or {}).items():
                    if edit.get("Header in file"):
                        column_map[kind.column_names[int(row)]] = edit["Header in file"]
        out[name] = {
            "kind": st.session_state.get(f"up_kind_{fid}") or None,
            "date_order": st.session_state.get(f"up_dates_{fid}", "auto"),
            "survey_scale": st.session_state.get(f"up_scale_{fid}") or None,
            "mapping_name": st.session_state.get(f"up_map_{fid}") or None,
            "constants": shell.widget_values(f"up_const_{fid}_"),
            "column_map": column_map,
        }
    return out


def file_controls(upload: views.UploadFile, view: views.UploadView) -> None:
    """Kind, date order, survey scale, saved mapping and constants of one file."""
    fid = _fid(upload.name)
    kind_col, dates_col, map_col = st.columns(3)
    kind_col.selectbox(
        "Kind",
        [""] + list(view.kinds),
        key=f"up_kind_{fid}",
        format_func=lambda k: view.kinds.get(k, "Detect from sheet name / header"),
    )
    dates_col.selectbox("Date order", list(DATE_ORDERS), key=f"up_dates_{fid}", format_func=DATE_ORDERS.get)
    if view.mapping_names:
        map_col.selectbox(
            "Saved mapping",
            [""] + view.mapping_names,
            key=f"up_map_{fid}",
            format_func=lambda m: m or "None (detect)",
        )
    kinds = {s.kind for s in upload.sheets} | set(upload.missing.values())
    kinds |= {upload.options.kind} if upload.options.kind else set()
    if "surveys" in kinds:
        map_col.selectbox(
            "Survey scale",
            ["", "1-5", "1-7", "1-10", "0-10"],
            key=f"up_scale_{fid}",
            format_func=lambda s: s or "Default (1-5)",
        )
    missing = _missing_columns(upload)
    if missing:
        st.caption(
            "Columns the file lacks: give a value that holds for every row (e.g. the vendor of this export)."
        )
        cols = st.columns(min(len(missing), 4))
        for i, col in enumerate(missing):
            cols[i % len(cols)].text_input(col, key=f"up_const_{fid}_{col}")


def _missing_columns(upload: views.UploadFile) -> list[str]:
    """Columns to offer a constant for: what the plan says is missing, the vendor and RM when a
    sheet has no such column, and any column that already has a constant."""
    mapped = {
        c
        for s in upload.sheets
        for c, h in zip(s.mapping["Column"], s.mapping["Header in file"], strict=True)
        if h and not str(h).startswith("=")
    }
    wanted = list(upload.missing)
    if upload.sheets:
        wanted += [c for c in ("vendor", "rm") if c not in mapped]
    wanted += list(upload.options.constants)
    return list(dict.fromkeys(wanted))


def mapping_editor(upload: views.UploadFile, index: int, sheet: views.SheetReport) -> None:
    """The detected column mapping; pick another header for a column to change it."""
    st.data_editor(
        sheet.mapping,
        hide_index=True,
        width="stretch",
        height=shell.table_height(sheet.mapping),
        disabled=["Column", "Required"],
        column_config={
            "Header in file": st.column_config.SelectboxColumn(
                options=[""] + sheet.headers, help="Header mapped to this column"
            ),
        },
        key=f"up_mapedit|{_fid(upload.name)}|{index}|{sheet.kind}",
    )


def downloads(files: dict, key: str) -> None:
    cols = st.columns(max(len(files), 1))
    for col, (label, (make, file_name, mime)) in zip(cols, files.items(), strict=False):
        col.download_button(
            label, make, file_name=file_name, mime=mime, key=f"{key}_{file_name}", on_click="ignore"
        )


def finish(message: str, summary) -> None:
    """After an import: forget the uploaded files and plans, empty the uploader, show the summary."""
    shutil.rmtree(st.session_state.pop(_DIR, ""), ignore_errors=True)
    for key in (_FILES, _PLANS):
        st.session_state.pop(key, None)
    st.session_state[_ROUND] = st.session_state.get(_ROUND, 0) + 1
    st.session_state["upload_done"] = (message, summary)
    st.rerun()


def set_active(batch: int, active: bool) -> None:
    with shell.cursor() as cur:
        message = views.set_batch_active(cur, batch, active)
    st.session_state["upload_done"] = (message, None)
    st.rerun()
