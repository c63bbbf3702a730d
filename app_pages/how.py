"""How KPIs are computed: generated from the rules registry, with a worked example from the data."""

import streamlit as st

from app_pages import shell
from rmdash import theme, views

f = shell.current_filters()
view: views.HowView = shell.view(views.how_view, f)

st.header("How KPIs are computed", anchor=False)
st.caption(
    f"Rule set: {view.rules_label}. Every number below comes from the rules registry, not from this page."
)
shell.headline("Composite = weighted mean of component scores; a component = mean of its metric scores")

st.subheader("Components and weights", anchor=False)
# a static table wraps the long texts; it writes floats with 4 decimals unless told otherwise
st.table(view.components.set_index("Component").style.format({"Weight": "{:g}"}, na_rep=theme.MISSING))
st.subheader("Metrics", anchor=False)
st.write(
    "Each metric has a value and a sample size n. Its score is linear between its floor (score 0) and its "
    "target (score 100), clamped to 0–100: score = 100 × (value − floor) ÷ (target − floor). "
    "A metric with n = 0 has no score; a component with no scored metric is left out of the composite."
)
st.table(view.metrics.set_index("Metric"))
st.subheader("RAG bands, low samples and money", anchor=False)
st.write(view.rag_text)
st.write(view.money_text)
left, right = st.columns(2)
with left:
    st.caption("Response targets by ticket type and priority")
    st.dataframe(view.response_targets, placeholder=theme.MISSING, hide_index=True, key="how_response")
with right:
    st.caption("Notice required before a change takes effect")
    st.dataframe(view.notice_days, placeholder=theme.MISSING, hide_index=True, key="how_notice")

shell.subheader(view.example_title)
if not view.example_metrics.empty:
    st.dataframe(
        view.example_metrics,
        placeholder=theme.MISSING,
        hide_index=True,
        width="stretch",
        height=shell.table_height(view.example_metrics),
        key="how_example_metrics",
    )
    st.dataframe(
        view.example_components,
        placeholder=theme.MISSING,
        hide_index=True,
        width="stretch",
        key="how_example_components",
    )
    st.markdown(f"**{view.example_composite}**")
