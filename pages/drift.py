import pandas as pd
import streamlit as st

from components.as_of import last_day, read_only_note
from components.auth import can, current_user, needs
from components.formatting import plain
from components.charts import distribution_chart, drift_heatmap, quality_trend_chart
from components.page import arrive_from_link, keep_valid, lazy_tabs, render_page
from components.workspace import cached, get_store
from governance.errors import GovernanceError
from governance.monitoring.data_quality import CHECKS, quality_report
from governance.monitoring.drift import default_reference_period, drift_report, drift_thresholds, set_drift_thresholds
from governance.monitoring.inventory import list_versions
from governance.monitoring.kpis import Window, data_window


def thresholds_form(model: str) -> None:
    current = cached(drift_thresholds, model=model)
    with st.expander("Drift thresholds", icon=":material/tune:"):
        st.caption(current.rule() + ("" if current.is_default else f" · set by {plain(current.set_by)}, {current.set_at:%Y-%m-%d}"))
        if read_only_note():   # thresholds are changed today
            return
        with st.form("drift-thresholds"):
            left, right = st.columns(2)
            watch = left.number_input("Watch from PSI", value=float(current.psi_watch), format="%.3f")
            act = right.number_input("Act from PSI", value=float(current.psi_act), format="%.3f")
            if st.form_submit_button("Save thresholds", disabled=not can("configure monitoring"),
                                     help=needs("configure monitoring")):
                try:
                    set_drift_thresholds(get_store(), model=model, psi_watch=watch, psi_act=act,
                                         actor=current_user())
                except GovernanceError as exc:
                    st.error(plain(exc))
                    return
                st.rerun()


def body() -> None:
    versions = cached(list_versions)
    if versions.empty:
        st.info("No models in this workspace yet.")
        return
    models = sorted(versions["model"].unique())
    arrive_from_link({"model": "dr_model"})
    keep_valid("dr_model", models, models[0])
    model_col, version_col, grain_col, ref_col = st.columns([2, 1, 1, 2])
    model = model_col.selectbox("Model", models, key="dr_model")
    version = version_col.selectbox("Version", versions[versions["model"] == model]["version"].tolist())
    grain = grain_col.segmented_control("Grain", ["day", "week"], default="week", required=True)
    reference_kind = ref_col.selectbox("Reference", ["held-out evaluation set", "a telemetry period"])
    span = cached(data_window, model=model)
    if span is None:
        st.info(f"{model} has no telemetry yet.")
        return
    first, last = span.start.date(), last_day((span.end - pd.Timedelta(days=1)).date())   # up to the "As of" day
    if last < first:   # the "As of" day is before this model's first telemetry
        st.info(f"{plain(model)} had no telemetry by the end of {last_day()}.")
        return
    reference = "training"
    if reference_kind == "a telemetry period":
        served = cached(default_reference_period, model=model, version=version)   # days this version served
        if served is None:
            st.info(plain(f"{model} {version} has served no predictions yet: compare it with its held-out "
                          "evaluation set."))
            return
        picked = st.date_input("Reference period", value=served, min_value=first, max_value=last)
        if not isinstance(picked, (tuple, list)) or len(picked) != 2:
            st.info("Pick the last day of the reference period too.")
            return
        reference = (picked[0].isoformat(), picked[1].isoformat())
    picked = st.date_input("Current window", value=(first, last), min_value=first, max_value=last)
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick the last day of the window too.")
        return
    window = Window(pd.Timestamp(picked[0]), pd.Timestamp(picked[1]) + pd.Timedelta(days=1))
    lazy_tabs("dr_tab", {
        "Drift": lambda: drift_tab(model, version, grain, reference, window),
        "Data quality": lambda: quality_tab(model, version, grain, picked[0].isoformat(), picked[1].isoformat()),
    })


def drift_tab(model: str, version: str, grain: str, reference, window: Window) -> None:
    report = cached(drift_report, model=model, version=version, reference=reference, current=window, grain=grain)

    st.caption(f"Reference: {report.reference.describe()}. {report.thresholds.rule()}.")
    if report.label_note:
        st.warning(report.label_note, icon=":material/label_off:")
    for note in report.notes:   # they name features, which come from the telemetry
        st.caption(plain(note))
    st.markdown(f"**Status of {report.judged_period_label}.**")
    partial = report.partial_periods
    if len(partial):
        cut = "; ".join(f"{row.period:%Y-%m-%d} ({row.days:g} of {7 if grain == 'week' else 1} days)"
                        for row in partial.itertuples(index=False))
        st.caption(f"Partial {grain}s, cut short by the window or the telemetry's ends, are labelled partial and not "
                   f"judged (blank in the heat map): {cut}.")
    features = report.features
    drifted = report.periods[report.periods["status"].isin(["watch", "act"])]
    if drifted.empty:
        st.success(f"No feature drifted in any {grain} of this window.")
    else:
        first = drifted.sort_values("period").groupby("feature", sort=False).agg(
            since=("period", "min"), worst=("psi", "max"), status=("status", lambda s: "act" if "act" in set(s)
                                                                   else "watch"))
        st.markdown(f"**Drifted in some {grain}s:** " + "; ".join(
            f"{plain(name)} ({row.status} from {row.since:%Y-%m-%d}, PSI up to {row.worst:.2f})"
            for name, row in first.iterrows()))
    flagged = features[features["feature"].isin(drifted["feature"])]
    st.plotly_chart(drift_heatmap(report.heatmap(judged_only=True), watch=report.thresholds.psi_watch,
                                  act=report.thresholds.psi_act), theme=None)
    st.caption(f"Status, PSI and rows: {report.judged_period_label}. The 'whole window' columns pool every "
               f"{grain} and decide nothing: drift confined to some {grain}s is diluted there; the heat map shows when.")
    st.dataframe(features, hide_index=True, column_config={
        "psi": st.column_config.NumberColumn("PSI", format="%.3f"),
        "n_current": st.column_config.NumberColumn("rows", format="localized"),
        "n_reference": st.column_config.NumberColumn("reference rows", format="localized"),
        "window_psi": st.column_config.NumberColumn("PSI, whole window", format="%.3f"),
        "window_n": st.column_config.NumberColumn("rows, whole window", format="localized"),
        "test": st.column_config.TextColumn("test, whole window"),
        "window_statistic": st.column_config.NumberColumn("statistic, whole window", format="%.4f"),
        "window_p_value": st.column_config.NumberColumn("p-value, whole window", format="%.2e"),
        "window_significant": st.column_config.CheckboxColumn("significant, whole window")})
    default = flagged["feature"].iloc[0] if not flagged.empty else report.feature_names[0]
    feature = st.selectbox("Feature detail", report.feature_names, index=report.feature_names.index(default))
    st.plotly_chart(distribution_chart(report.distribution(feature), feature=feature), theme=None)
    thresholds_form(model)


QUALITY_COLUMNS = ["check", "feature", "status", "value", "detail", "rule"]


def quality_tab(model: str, version: str, grain: str, since: str, until: str) -> None:
    """The version's data-quality checks over the window, and one check's trend per period."""
    result = cached(quality_report, model=model, version=version, grain=grain, since=since, until=until)
    reference = result["reference"].get(version)
    if reference is None:
        for note in result["notes"]:
            st.info(plain(note))
        return
    description = reference["description"]
    st.caption(f"{description[:1].upper()}{description[1:]}. Labels of predictions served from "
               f"{result['label_due_before'][:10]} on are not yet due and are left out of label coverage.")
    summary = result["summary"]
    failing = summary["fail"] + summary["warn"]
    counts = ", ".join(f"{summary[s]} {s}" for s in ("ok", "warn", "fail", "not judged"))
    if failing:
        st.warning(f"Data quality: {counts}.", icon=":material/rule:")
    else:
        st.success(f"Data quality: {counts}.", icon=":material/rule:")
    checks = pd.DataFrame(result["checks"])
    checks["feature"] = checks["feature"].fillna("(all inputs)")
    order = {"fail": 0, "warn": 1, "ok": 2, "not judged": 3}
    shown = checks.assign(_order=checks["status"].map(order)).sort_values(["_order", "check"], kind="stable")
    shown = shown.assign(value=[_quality_value(c, v) for c, v in zip(shown["check"], shown["value"])])
    st.dataframe(shown[QUALITY_COLUMNS], hide_index=True, column_config={
        "value": st.column_config.TextColumn("value"), "detail": st.column_config.TextColumn(width="large"),
        "rule": st.column_config.TextColumn(width="large")})
    trend = pd.DataFrame(result["trend"])
    check = st.selectbox("Trend of check", [c for c in CHECKS if c in set(trend["check"])], key="dq_check")
    mine = trend[trend["check"] == check]
    levels = checks[(checks["check"] == check) & checks["threshold"].notna()]["threshold"]
    warn = fail = None
    if len(levels) and len({(t["warn"], t["fail"]) for t in levels}) == 1:
        warn, fail = levels.iloc[0]["warn"], levels.iloc[0]["fail"]
    st.plotly_chart(quality_trend_chart(mine, check=check, warn=warn, fail=fail, days=check == "label delay"),
                    theme=None)
    st.caption(f"Per {grain}; a point's colour is its status, a gap a {grain} not judged. "
               f"Rule: {result['thresholds'][check]['rule']}.")


def _quality_value(check: str, value) -> str:
    if value is None or pd.isna(value):
        return "not judged"
    return f"{value:.1f} days" if check == "label delay" else f"{100 * value:.2f}%"


render_page("Drift", body, caption="Has the data moved under the model? Inputs and scores against a reference.")
