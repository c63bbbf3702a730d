"""Vendor: one vendor's composite over time, why it moved, its metrics, RMs, money and the rows behind a metric."""

import streamlit as st

from app_pages import shell
from rmdash import charts, qbr, theme, views

f = shell.focus_filters()
compare = (shell.widget_value("vendor_from"), shell.widget_value("vendor_to"))
view: views.VendorView = shell.view(
    views.vendor_view, f, compare=compare, metric=shell.widget_value("vendor_metric")
)

st.header("Vendor", anchor=False)
shell.focus_vendor(view.vendors, view.vendor)
if view.frame.empty:
    shell.empty_state(view.frame.empty)
    st.stop()

shell.headline(view.headline)
if not shell.is_presenting():  # the QBR pack: made only when a button is clicked
    for col, (label, (make, name, mime)) in zip(
        st.columns(2), qbr.qbr_downloads(shell.cursor, view.vendor, view.period).items(), strict=False
    ):
        col.download_button(
            label, make, file_name=name, mime=mime, key=f"vendor_qbr_{name}", on_click="ignore"
        )
shell.show(
    charts.composite_trend(
        view.trend, view.frame.colors, view.frame.bands, title=f"{view.vendor}: composite RM KPI"
    ),
    key="vendor_trend",
)
lo, hi = view.compare
if len(view.periods) > 1:
    if not shell.is_presenting():
        left, right = st.columns(2)
        with left:
            shell.choose("Movement from", view.periods, lo, key="vendor_from")
        with right:
            shell.choose("to", view.periods, hi, key="vendor_to")
    shell.show(
        charts.movement_waterfall(
            view.movement, start_label=lo, end_label=hi, title=f"Why the composite moved, {lo} → {hi}"
        ),
        key="vendor_waterfall",
    )
if shell.is_presenting():
    st.stop()  # one headline per screen

shell.show(
    charts.component_trends(view.components, view.frame.component_labels, title="Component scores over time"),
    key="vendor_components",
)
st.subheader(f"Metrics, {view.period}", anchor=False)
st.dataframe(
    view.metrics,
    placeholder=theme.MISSING,
    hide_index=True,
    width="stretch",
    height=shell.table_height(view.metrics),
    column_config={"Score": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.1f")},
    key="vendor_metrics",
)

shell.subheader(f"Relationship managers of {view.vendor}, {view.period}")
if view.rm_table.empty:
    st.info("No rows of this vendor carry an RM in this period.")
else:
    st.dataframe(
        view.rm_table,
        placeholder=theme.MISSING,
        hide_index=True,
        width="stretch",
        column_config={"Composite": st.column_config.NumberColumn(format="%.1f")},
        key="vendor_rms",
    )
    shell.show(
        charts.grouped_scores(
            view.rm_scores,
            group="component",
            series="rm",
            value="score",
            title="RMs side by side",
            group_labels=view.frame.component_labels,
        ),
        key="vendor_rm_chart",
    )

st.subheader("Money", anchor=False)
st.write(view.money_text)
if not view.money.empty:
    shell.show(
        charts.money(view.money, title="Service credit and bonus", currency=view.currency), key="vendor_money"
    )

st.subheader("The rows behind a metric", anchor=False)
st.selectbox(
    f"Metric ({view.period})",
    list(view.metric_choices),
    format_func=view.metric_choices.get,
    index=None,
    key="vendor_metric",
    placeholder="Pick a metric to see the rows that hurt it",
)
if view.explain_text:
    st.write(view.explain_text)
    st.dataframe(
        view.explain_rows, placeholder=theme.MISSING, hide_index=True, width="stretch", key="vendor_explain"
    )
