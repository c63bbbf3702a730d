"""Settings / what-if: move weights and targets, compare old and new composite live, save or discard."""

import streamlit as st

from app_pages import shell
from rmdash import charts, theme, views

f = shell.current_filters()
weights, targets = shell.widget_values("w_"), shell.widget_values("t_")
view: views.WhatIfView = shell.view(views.whatif_view, f, weights=weights, targets=targets)

st.header("Settings / what-if", anchor=False)
if saved := st.session_state.pop("whatif_saved", None):
    st.success(saved)
if view.frame.empty:
    shell.empty_state(view.frame.empty)
    st.stop()
shell.headline(f"What if the weights and targets were different? ({view.period})")

sliders, result = st.columns([2, 3])
with sliders:
    st.caption("Component weights (relative: they need not add up to 100)")
    for comp, w in view.weights.items():
        st.slider(
            view.frame.component_labels[comp], 0.0, 100.0, float(w), 1.0, format="%.0f", key=f"w_{comp}"
        )
    with st.expander("Metric targets (the value that scores 100)"):
        for metric, t in view.targets.items():
            lo, hi, step = view.target_ranges[metric]
            st.slider(view.frame.metric_labels[metric], lo, hi, float(t), step, key=f"t_{metric}")
with result:
    st.dataframe(
        view.table,
        placeholder=theme.MISSING,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.1f") for c in ("Current", "What-if")}
        | {"Change": st.column_config.NumberColumn(format="%+.1f")},
        key="whatif_table",
    )
    shell.show(
        charts.side_by_side(
            view.table,
            label="Vendor",
            before="Current",
            after="What-if",
            names=("Current rules", "What-if"),
            title=f"Composite per vendor, {view.period}",
        ),
        key="whatif_chart",
    )

st.divider()
if not view.changed:
    st.caption("Move a slider to try other rules; nothing is saved until you say so.")
else:
    label = st.text_input(
        "Name of the new rule set", key="whatif_label", placeholder="e.g. 2027 contract weights"
    )
    save, discard = st.columns(2)
    if save.button("Save as a new rule-set version", type="primary", key="whatif_save"):
        with shell.cursor() as cur:
            version = views.save_whatif(cur, weights, targets, label, who=None)
        st.session_state["whatif_saved"] = (
            f"Saved as rule-set version {version}: every page now scores with it."
        )
        st.rerun()
    if discard.button("Discard changes", key="whatif_discard"):
        for key in [k for k in st.session_state if k.startswith(("w_", "t_"))]:
            del st.session_state[key]
        st.rerun()
if len(view.rule_sets):
    with st.expander("Saved rule sets"):
        st.dataframe(
            view.rule_sets,
            placeholder=theme.MISSING,
            hide_index=True,
            width="stretch",
            key="whatif_rule_sets",
        )
