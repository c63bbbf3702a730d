"""Relationship managers: scorecards, ranking across vendors, an RM against their vendor, RM changes."""

import streamlit as st

from app_pages import shell
from rmdash import charts, theme, views

f = shell.current_filters()
view: views.RmView = shell.view(views.rm_view, f)

st.header("Relationship managers", anchor=False)
if view.frame.empty:
    shell.empty_state(view.frame.empty)
    st.stop()

shell.headline(view.headline)
shell.show(
    charts.ranking(
        view.ranking,
        label="RM",
        color_by="vendor",
        colors=view.frame.colors,
        title=f"RMs ranked across vendors, {view.period}",
    ),
    key="rm_ranking",
)
if shell.is_presenting():
    st.stop()  # one headline per screen

st.subheader(f"Scorecards, {view.period}", anchor=False)
score_columns = {
    label: st.column_config.NumberColumn(format="%.0f") for label in view.frame.component_labels.values()
}
st.dataframe(
    view.scorecards,
    placeholder=theme.MISSING,
    hide_index=True,
    width="stretch",
    column_config={
        "Composite": st.column_config.NumberColumn(format="%.1f"),
        "Change": st.column_config.NumberColumn(format="%+.1f", help="Points vs the previous period"),
        **score_columns,
    },
    key="rm_scorecards",
)
shell.show(
    charts.composite_trend(
        view.trend,
        view.frame.colors,
        view.frame.bands,
        series="RM",
        color_by="vendor",
        title="RM composite over time",
    ),
    key="rm_trend",
)

shell.subheader(f"{view.focus_rm} against the whole vendor")
st.caption("Pick an RM in the sidebar to compare another one.")
shell.show(
    charts.composite_trend(
        view.versus, view.versus_colors, view.frame.bands, series="series", title="RM vs vendor composite"
    ),
    key="rm_versus",
)

st.subheader("When an RM was replaced", anchor=False)
if view.replacements.empty:
    st.info("No RM handed a vendor over to another RM in the data shown.")
else:
    st.dataframe(
        view.replacements,
        placeholder=theme.MISSING,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.1f") for c in ("Composite before", "Composite after")
        }
        | {"Change": st.column_config.NumberColumn(format="%+.1f")},
        key="rm_replacements",
    )
    shell.show(
        charts.side_by_side(
            view.replacement_detail,
            label="component",
            before="before",
            after="after",
            names=("Old RM", "New RM"),
            title=view.replacement_title,
        ),
        key="rm_replacement_chart",
    )
