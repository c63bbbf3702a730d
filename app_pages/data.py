"""Data: browse the current rows of each kind with the shared filters; download them."""

import streamlit as st

from app_pages import shell
from rmdash import theme, views

f = shell.current_filters()
view: views.DataView = shell.view(views.data_view, f, kind=shell.widget_value("data_kind", "tickets"))

st.header("Data", anchor=False)
shell.choose("Kind", list(view.kinds), view.kind, key="data_kind", format_func=view.kinds.get)
st.caption(view.caption)
if view.empty:
    shell.empty_state(view.empty)
    st.stop()
st.dataframe(view.shown, placeholder=theme.MISSING, hide_index=True, width="stretch", key="data_rows")
for label, (content, file_name, mime) in view.downloads.items():
    st.download_button(label, content, file_name=file_name, mime=mime, key=f"data_dl_{file_name}")
