import pandas as pd
import streamlit as st

from components.charts import comparison_chart
from components.page import render_page
from components.workspace import cached
from governance.compare import compare_versions, overlap_window
from governance.inventory import list_versions
from governance.kpis import Window, data_window

VERDICT_BADGES = {"better": ("better", "green"), "worse": ("worse", "red"),
                  "no significant difference": ("no significant difference", "gray"),
                  "not computable": ("not computable", "gray")}


def body() -> None:
    versions = cached(list_versions)
    models = sorted(m for m, group in versions.groupby("model") if len(group) >= 2)
    if not models:
        st.info("A/B comparison needs a model with at least two versions.")
        return
    left, a_col, b_col, dates = st.columns([2, 1, 1, 2.6])
    model = left.selectbox("Model", models)
    names = versions[versions["model"] == model]["version"].tolist()
    a = a_col.selectbox("Version A (baseline)", names, index=0)
    b = b_col.selectbox("Version B (challenger)", names, index=min(1, len(names) - 1))
    if a == b:
        st.warning("Choose two different versions.")
        return
    default = cached(overlap_window, model=model, a=a, b=b) or cached(data_window, model=model)
    if default is None:
        st.info(f"{model} has no telemetry yet.")
        return
    last = (default.end - pd.Timedelta(days=1)).date()
    picked = dates.date_input("Window (default: the days both versions served)", value=(default.start.date(), last))
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick the last day of the window too.")
        return
    window = Window(pd.Timestamp(picked[0]), pd.Timestamp(picked[1]) + pd.Timedelta(days=1))
    frame = pd.DataFrame([c.as_dict() for c in cached(compare_versions, model=model, a=a, b=b, window=window)])
    st.caption(f"Differences are B − A. Rates: Newcombe score interval; latency, cost and value: bootstrap "
               f"over the whole population. {window.start:%Y-%m-%d} to "
               f"{(window.end - pd.Timedelta(days=1)):%Y-%m-%d}.")
    with st.container(horizontal=True, wrap=True):
        for row in frame.itertuples(index=False):
            text, colour = VERDICT_BADGES[row.verdict]
            st.badge(f"{row.kpi}: {text}", color=colour)
    st.dataframe(frame, hide_index=True, column_config={
        "kpi": "KPI", "a": st.column_config.NumberColumn(f"A ({a})", format="%.4g"),
        "b": st.column_config.NumberColumn(f"B ({b})", format="%.4g"),
        "difference": st.column_config.NumberColumn("B − A", format="%.4g"),
        "ci_low": st.column_config.NumberColumn("95% low", format="%.4g"),
        "ci_high": st.column_config.NumberColumn("95% high", format="%.4g"),
        "n_a": st.column_config.NumberColumn("n A", format="localized"),
        "n_b": st.column_config.NumberColumn("n B", format="localized")})
    st.plotly_chart(comparison_chart(frame), theme=None)


render_page("A/B comparison", body, caption="Is the new version better than the old one, beyond chance?")
