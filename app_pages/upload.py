"""Upload: drop files, check what will be imported (kind, header, mapping, dates, rejected rows), import, undo."""

import streamlit as st

from app_pages import shell
from app_pages import upload_widgets as ui
from rmdash import theme, views

f = shell.current_filters()
st.header("Upload", anchor=False)
files = ui.saved_uploads(
    st.file_uploader(
        "Drop your monthly exports (xlsx, xlsm or csv; several at once)",
        type=["xlsx", "xlsm", "csv"],
        accept_multiple_files=True,
        key=ui.uploader_key(),
    )
)
bar = st.progress(0.0) if files else None
view: views.UploadView = shell.view(
    views.upload_view,
    f,
    files=files,
    choices=ui.choices(files),
    batch=shell.widget_value("upload_batch"),
    plan_cache=ui.plan_cache(),
    progress=bar.progress if bar else None,
)
if bar:
    bar.empty()

if done := st.session_state.pop("upload_done", None):
    st.success(shell.plain(done[0]))
    if done[1] is not None:
        st.dataframe(
            done[1], placeholder=theme.MISSING, hide_index=True, width="stretch", key="upload_done_table"
        )

for upload in view.files:
    with st.expander(shell.plain(upload.name), expanded=True, icon=":material/description:"):
        ui.file_controls(upload, view)
        if upload.error:
            st.error(shell.plain(upload.error))
        for i, sheet in enumerate(upload.sheets):
            shell.subheader(
                f"Sheet {sheet.sheet or '(csv)'}: {view.kinds[sheet.kind]} ({sheet.kind_reason}), "
                f"header on row {sheet.header_row}"
            )
            st.caption(shell.plain(f"Dates: {sheet.dates}"))
            ui.mapping_editor(upload, i, sheet)
            accepted, rejected = st.columns(2)
            accepted.metric("Rows accepted", f"{sheet.accepted:,}")
            rejected.metric("Rows rejected", f"{len(sheet.rejected):,}")
            for note in sheet.notes:
                st.caption(shell.plain(note))
            if len(sheet.rejected):
                st.dataframe(
                    sheet.rejected,
                    placeholder=theme.MISSING,
                    hide_index=True,
                    width="stretch",
                    key=f"rej_{upload.name}_{i}",
                )
                ui.downloads(
                    views.table_downloads(sheet.rejected, "rejected-rows", "Rejected"), key=f"rejdl_{i}"
                )

if view.files:
    save_as = st.text_input(
        "Save this column mapping as (optional; one sheet layout only)", key="upload_save_as"
    )
    if st.button(
        f"Import {len(view.files)} file(s)", type="primary", disabled=not view.ready, key="upload_import"
    ):
        with st.status("Importing…", expanded=True) as status:
            st.write("Writing every sheet in one transaction: all of it or nothing.")
            with shell.cursor() as cur:
                summary = views.import_uploads(cur, view.files, save_as, who=None)
            status.update(label="Import finished", state="complete")
        ui.finish("Imported. Every page now shows the new data.", summary)
elif view.history.empty:
    shell.empty_state("Nothing imported yet. Drop your first export above.")

st.subheader("Import history", anchor=False)
if view.history.empty:
    st.caption("No batches yet.")
else:
    st.dataframe(
        view.history, placeholder=theme.MISSING, hide_index=True, width="stretch", key="upload_history"
    )
    shell.choose("Batch", list(view.history["Batch"]), view.batch, key="upload_batch")
    undo, redo = st.columns(2)
    if undo.button("Undo this batch", key="upload_undo"):
        ui.set_active(view.batch, False)
    if redo.button("Redo this batch", key="upload_redo"):
        ui.set_active(view.batch, True)
    st.caption(f"Rejected rows of batch {view.batch}: {len(view.rejected)}")
    if len(view.rejected):
        st.dataframe(
            view.rejected, placeholder=theme.MISSING, hide_index=True, width="stretch", key="upload_rejected"
        )
        ui.downloads(view.rejected_downloads, key="upload_rejdl")

st.subheader("Audit log", anchor=False)
st.caption(
    "Every import, undo, redo, saved mapping and rule change: who, when, what, and the file's SHA-256. Read-only."
)
if view.audit.empty:
    st.caption("Nothing recorded yet.")
else:
    st.dataframe(view.audit, placeholder=theme.MISSING, hide_index=True, width="stretch", key="upload_audit")
    ui.downloads(view.audit_downloads, key="upload_auditdl")
