import pandas as pd
import streamlit as st

from components.as_of import last_day
from components.charts import comparison_chart
from components.formatting import count, kpi_change, kpi_interval, kpi_label, kpi_value
from components.page import render_page
from components.workspace import cached
from governance.monitoring.compare import compare_versions, default_window
from governance.monitoring.inventory import list_versions
from governance.monitoring.kpis import Window

VERDICT_BADGES = {"better": ("better", "green"), "worse": ("worse", "red"),
                  "no significant difference": ("no significant difference", "gray"),
                  "not computable": ("not computable", "gray")}


def comparison_table(frame: pd.DataFrame, *, a: str, b: str) -> pd.DataFrame:
    """One row per KPI as people read it: its name, the verdict, each figure in the KPI's unit (rates' changes in
    percentage points) and the sample sizes. The method of each interval is in the caption."""
    return pd.DataFrame([{
        "KPI": kpi_label(r.kpi), "verdict": r.verdict, f"A ({a})": kpi_value(r.kpi, r.a),
        f"B ({b})": kpi_value(r.kpi, r.b), "B − A": kpi_change(r.kpi, r.difference),
        "95% interval of B − A": kpi_interval(r.kpi, r.ci_low, r.ci_high), "n A": count(r.n_a),
        "n B": count(r.n_b)} for r in frame.itertuples(index=False)])


def body() -> None:
    versions = cached(list_versions)
    models = sorted(m for m, group in versions.groupby("model") if len(group) >= 2)
    if not models:
        st.info("A/B comparison needs a model with at least two versions.")
        return
    left, a_col, b_col, dates = st.columns([1.4, 1.2, 1.2, 2.6])   # room for each label on one line
    model = left.selectbox("Model", models)
    names = versions[versions["model"] == model]["version"].tolist()
    a = a_col.selectbox("Version A (baseline)", names, index=0)
    b = b_col.selectbox("Version B (challenger)", names, index=min(1, len(names) - 1))
    if a == b:
        st.warning("Choose two different versions.")
        return
    default = cached(default_window, model=model, a=a, b=b)
    if default is None:
        st.info(f"{model} has no telemetry yet.")
        return
    last = last_day((default.end - pd.Timedelta(days=1)).date())   # up to the "As of" day
    if last < default.start.date():
        st.info(f"{model} {a} and {b} had not both served by the end of {last_day()}.")
        return
    picked = dates.date_input("Window (default: the days both versions served)", value=(default.start.date(), last),
                              max_value=last_day())
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick the last day of the window too.")
        return
    window = Window(pd.Timestamp(picked[0]), pd.Timestamp(picked[1]) + pd.Timedelta(days=1))
    frame = pd.DataFrame([c.as_dict() for c in cached(compare_versions, model=model, a=a, b=b, window=window)])
    methods = "; ".join(f"{', '.join(kpi_label(k) for k in group['kpi'])}: {method}"
                        for method, group in frame.groupby("method", sort=False))
    st.caption(f"Differences are B − A; rates' differences in percentage points (pp). 95% intervals: {methods}, "
               f"over the whole population. {window.start:%Y-%m-%d} to {(window.end - pd.Timedelta(days=1)):%Y-%m-%d}.")
    with st.container(horizontal=True, wrap=True):
        for row in frame.itertuples(index=False):
            text, colour = VERDICT_BADGES[row.verdict]
            st.badge(f"{kpi_label(row.kpi)}: {text}", color=colour)
    st.dataframe(comparison_table(frame, a=a, b=b), hide_index=True)
    st.plotly_chart(comparison_chart(frame.assign(kpi=frame["kpi"].map(kpi_label))), theme=None)


render_page("A/B comparison", body, caption="Is the new version better than the old one, beyond chance?")
