"""Portfolio: every vendor at a glance (league table, composite and escalation trends, heatmap)."""

import streamlit as st

from app_pages import shell
from rmdash import charts, theme, views

f = shell.current_filters()
view: views.PortfolioView = shell.view(views.portfolio_view, f)

st.header("Portfolio", anchor=False)
if view.frame.empty:
    shell.empty_state(view.frame.empty)
    st.stop()

shell.headline(view.headline)
if shell.is_presenting():  # an HTML table scales with the larger presentation font
    league = view.league.drop(columns=["Trend"])  # st.table writes floats with 4 decimals and NaN blank
    st.table(league.style.format({"Composite": "{:.1f}", "Change": "{:+.1f}"}, na_rep=theme.MISSING))
else:
    st.dataframe(
        view.league,
        placeholder=theme.MISSING,
        hide_index=True,
        width="stretch",
        column_config={
            "Rank": st.column_config.NumberColumn(width="small"),
            "Composite": st.column_config.NumberColumn(
                format="%.1f", help=f"Composite RM KPI in {view.period}"
            ),
            "RAG": st.column_config.TextColumn(
                help="✔ Green ≥ {green:g}, ▲ Amber ≥ {amber:g}, ✖ Red below".format(**view.frame.bands)
            ),
            "Change": st.column_config.NumberColumn(format="%+.1f", help="Points vs the previous period"),
            "Trend": st.column_config.LineChartColumn(
                y_min=0, y_max=100, help="Composite over the periods shown"
            ),
            "Low sample": st.column_config.TextColumn(
                help="Components scored on fewer rows than the low-sample threshold"
            ),
        },
        key="league",
    )
st.caption(f"League table for {view.period}. RAG is written beside every score, never shown by colour alone.")

shell.show(charts.composite_trend(view.trend, view.frame.colors, view.frame.bands), key="portfolio_trend")
if shell.is_presenting():
    st.stop()  # one headline per screen: the league and the trend tell it

shell.show(
    charts.metric_trend(view.escalation, view.frame.colors, title="Escalation rate (lower is better)"),
    key="portfolio_escalation",
)
shell.show(
    charts.component_heatmap(
        view.heatmap, view.frame.component_labels, title=f"Component scores, {view.period}"
    ),
    key="portfolio_heatmap",
)
