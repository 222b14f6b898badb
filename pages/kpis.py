import pandas as pd
import streamlit as st

from components.as_of import as_of_day, last_day as as_of_last_day, read_only_note
from components.auth import can, current_user, needs
from components.charts import SERIES_POINT_BUDGET, anomaly_band, estimate_chart, kpi_line_chart
from components.formatting import (heading, kpi_label, kpi_value, milliseconds, per_minute, percent, period, plural,
                                   plain, timestamp, usd, usd_compact)
from components.kpi_tiles import kpi_tile, tile_row
from components.page import arrive_from_link, keep_valid, read_notes, render_page
from components.workspace import cached, get_store
from governance.errors import GovernanceError
from governance.monitoring.anomalies import (ACCEPT_PERMISSION, BAD_DIRECTION, accept_level, accepted_levels,
                                             kpi_anomalies)
from governance.monitoring.inventory import list_models, list_versions
from governance.monitoring.kpis import GRAINS, Window, data_window, kpi_summary, kpi_view
from governance.monitoring.performance_estimate import estimate_performance
from governance.monitoring.service_levels import (BURN_RULES_TEXT, KPIS, SLO_PERIOD_DAYS, service_levels,
                                                  set_service_level, slo_judgment)
from governance.vocabulary import KPI_RATIOS

HOURLY_MAX_DAYS = 31  # keeps an hourly chart within the point budget
CONTROL_WIDTHS = {"model": 150, "versions": 180, "window": 230}   # px: a model's name, two versions, two dates


def controls() -> tuple[str, list[str], str, Window] | None:
    models = cached(list_models)["name"].tolist()
    if not models:
        st.info("No models in this workspace yet.")
        return None
    arrive_from_link({"model": "kp_model"})
    keep_valid("kp_model", models, models[0])
    # Each control keeps the width its words need (the grain's three buttons, the window's two dates); on a
    # narrow page the row wraps instead of cutting them off.
    row = st.container(horizontal=True, wrap=True)
    model = row.selectbox("Model", models, key="kp_model", width=CONTROL_WIDTHS["model"])
    versions = cached(list_versions)
    versions = versions[versions["model"] == model]["version"].tolist()
    chosen = row.multiselect("Versions", versions, default=versions, width=CONTROL_WIDTHS["versions"])
    grain = row.segmented_control("Grain", GRAINS, default="day", required=True, width="content")
    span = cached(data_window, model=model)
    if span is None:
        st.info(f"{model} has no telemetry yet.")
        return None
    last_day = as_of_last_day((span.end - pd.Timedelta(days=1)).date())   # up to the "As of" day
    if last_day < span.start.date():   # the "As of" day is before this model's first telemetry
        st.info(plain(f"{model} had no telemetry by the end of {as_of_day()}."))
        return None
    picked = row.date_input("Window", value=(span.start.date(), last_day), min_value=span.start.date(),
                            max_value=last_day, width=CONTROL_WIDTHS["window"])
    if not chosen:
        st.warning("Choose at least one version.")
        return None
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick the last day of the window too.")
        return None
    window = Window(pd.Timestamp(picked[0]), pd.Timestamp(picked[1]) + pd.Timedelta(days=1))
    if grain == "hour" and window.days > HOURLY_MAX_DAYS:
        window = Window(window.end - pd.Timedelta(days=HOURLY_MAX_DAYS), window.end)
        st.caption(f"Hourly grain shows at most {HOURLY_MAX_DAYS} days: showing "
                   f"{window.start:%Y-%m-%d} to {(window.end - pd.Timedelta(days=1)):%Y-%m-%d}.")
    return model, chosen, grain, window


def tiles(model: str, versions: list[str], window: Window, summary: pd.DataFrame) -> None:
    levels = cached(service_levels, model=model)
    judged = cached(slo_judgment, model=model, window=window)
    now = summary.set_index("version")
    before = cached(kpi_summary, model=model, window=window.previous()).set_index("version")
    st.caption(f"{window.start:%Y-%m-%d} to {(window.end - pd.Timedelta(days=1)):%Y-%m-%d}; "
               f"changes are against the {window.days:g} days before.")
    for version in versions:
        if version not in now.index:
            st.info(f"{model} {version} served no predictions in this window.")
            continue
        row = now.loc[version]
        prev = before.loc[version] if version in before.index else pd.Series(dtype=float)
        st.markdown(f"**{model} {version}** · {int(row['n']):,} predictions · labels arrived for "
                    f"{percent(row['label_coverage'], digits=0)}")
        row_of_tiles = tile_row()
        objective = lambda kpi: {} if kpi not in levels else {  # noqa: E731
            "level": levels[kpi], "status": judged.status(version, kpi, end=window.end),
            "budget_left": (lambda b: None if b is None else b.remaining)(judged.budgets.get((version, kpi)))}
        tile = lambda kpi, **kw: kpi_tile(row_of_tiles, label=heading(kpi_label(kpi)), value=row[kpi],  # noqa: E731
                                          previous=prev.get(kpi), **kw)
        tile("accuracy", show=lambda v: percent(v), **objective("accuracy"),
             help_text="Correct predictions among requests whose outcome has arrived.")
        tile("latency_p95_ms", show=milliseconds, lower_is_better=True, **objective("latency_p95_ms"),
             help_text=f"p50 {milliseconds(row['latency_p50_ms'])}, p99 {milliseconds(row['latency_p99_ms'])};"
                       " successful requests only.")
        tile("error_rate", show=lambda v: percent(v, digits=2), lower_is_better=True, **objective("error_rate"),
             help_text=f"{plural(int(row['failures']), 'failed request')}.")
        tile("throughput_per_min", show=per_minute,
             help_text="Predictions per minute, on average over the window.")
        tile("cost_per_1k_usd", show=lambda v: usd(v, digits=3), lower_is_better=True,
             help_text=f"Cost per 1,000 predictions; CPU {row['cpu_pct']:.0f}%, memory {row['memory_mb']:,.0f} MB "
                       "on average.")
        tile("expected_value_usd", show=usd_compact,
             help_text=f"{usd(row['expected_value_usd'])}; approved volume {usd_compact(row['approved_volume_usd'])}.")


def with_band(figure, *, model: str, kpi: str, grain: str, window: Window, versions: list[str], label: str):
    """The anomaly detector's expected band and flagged periods on a KPI chart, at day or hour grain."""
    if grain not in ("day", "hour"):
        return figure
    points = cached(kpi_anomalies, model=model, kpi=kpi, grain=grain)["points"]
    if points.empty:
        return figure
    shown = points[points["version"].isin(versions) & (points["period"] >= window.start)
                   & (points["period"] < window.end)]
    return anomaly_band(figure, shown, label=label, possible=(0.0, 1.0 if kpi in KPI_RATIOS else None))


def charts(series: pd.DataFrame, levels: dict, *, model: str, grain: str, window: Window) -> None:
    target = lambda kpi: levels[kpi].target if kpi in levels else None  # noqa: E731
    versions = sorted(series["version"].unique())
    band = lambda figure, kpi, label: with_band(figure, model=model, kpi=kpi, grain=grain,  # noqa: E731
                                                window=window, versions=versions, label=label)
    if grain in ("day", "hour"):
        st.caption("Shaded: the range expected from each version's own recent past (weekday or hour-of-day "
                   "pattern included), wider for a period of few requests; red rings: anomalies in the bad "
                   "direction. A lasting shift stays ringed until it ends or its new level is accepted (below).")
    quality, speed, reliability, resources, stability = st.tabs(
        ["Quality", "Latency & throughput", "Errors", "Resources & value", "Stability"])
    with quality:
        st.plotly_chart(band(kpi_line_chart(series, columns={"accuracy": "accuracy", "precision": "precision",
                                                             "recall": "recall"},
                                            title="Accuracy, precision, recall", y_title="", percent=True,
                                            target=target("accuracy")), "accuracy", "accuracy expected"), theme=None)
        st.plotly_chart(kpi_line_chart(series, columns={"label_coverage": "label coverage"},
                                       title="Label coverage (outcomes that have arrived)", y_title="",
                                       percent=True), theme=None)
        estimates(model=model, versions=versions, grain=grain, window=window, target=target)
    with speed:
        st.plotly_chart(band(kpi_line_chart(series, columns={"latency_p50_ms": "p50", "latency_p95_ms": "p95",
                                                             "latency_p99_ms": "p99"}, title="Inference latency",
                                            y_title="ms", target=target("latency_p95_ms")),
                             "latency_p95_ms", "p95 expected"), theme=None)
        st.plotly_chart(kpi_line_chart(series, columns={"throughput_per_min": "throughput"},
                                       title="Throughput", y_title="predictions per minute"), theme=None)
    with reliability:
        st.plotly_chart(band(kpi_line_chart(series, columns={"error_rate": "error rate"}, title="Error rate",
                                            y_title="", percent=True, target=target("error_rate")),
                             "error_rate", "error rate expected"), theme=None)
        st.plotly_chart(kpi_line_chart(series, columns={"failures": "failures"}, title="Failed requests",
                                       y_title="failures"), theme=None)
    with resources:
        st.plotly_chart(kpi_line_chart(series, columns={"cpu_pct": "CPU %"}, title="CPU utilisation",
                                       y_title="%"), theme=None)
        st.plotly_chart(kpi_line_chart(series, columns={"memory_mb": "memory"}, title="Memory", y_title="MB"),
                        theme=None)
        st.plotly_chart(kpi_line_chart(series, columns={"cost_per_1k_usd": "cost per 1k"},
                                       title="Cost per 1,000 predictions", y_title="USD"), theme=None)
        st.plotly_chart(kpi_line_chart(series, columns={"expected_value_usd": "expected value"},
                                       title="Business outcome: expected value of approvals", y_title="USD"),
                        theme=None)
    with stability:
        st.caption("Rolling standard deviation over the last 7 periods: a rising line means a less stable model.")
        st.plotly_chart(kpi_line_chart(series, columns={"accuracy_rolling_std": "accuracy"},
                                       title="Accuracy stability", y_title="std of accuracy"), theme=None)
        st.plotly_chart(kpi_line_chart(series, columns={"latency_p95_rolling_std_ms": "p95 latency"},
                                       title="p95 latency stability", y_title="std of p95 (ms)"), theme=None)


ESTIMATE_METRICS = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "roc_auc": "ROC AUC"}


def estimates(*, model: str, versions: list[str], grain: str, window: Window, target) -> None:
    """Performance estimated from the scores before labels arrive (CBPE), beside the realised figures, with the
    method and, for a version whose calibration check fails, a warning that the estimate is not reliable."""
    st.subheader("Estimated before the labels arrive")
    if grain == "hour":
        st.caption("Performance is estimated per day or week: choose the day or week grain to see it.")
        return
    try:
        found = cached(estimate_performance, model=model, grain=grain, since=window.start.date(),
                       until=(window.end - pd.Timedelta(days=1)).date())
    except GovernanceError as exc:
        st.info(plain(exc))
        return
    read_notes(found.notes)
    st.caption(plain(found.method))
    unreliable = tuple(v for v in versions if v in found.checks and not found.reliable(v))
    for version in versions:
        if version in unreliable:
            st.warning(plain(f"{model} {version}: {found.warning(version)} CBPE fails under concept drift: do not "
                             "read the dashed line as the model's performance."), icon=":material/warning:")
        elif version in found.checks:
            st.caption(plain(f"{model} {version}: calibration check holds. {found.checks[version].why}"))
    rows = found.frame()
    rows = rows[rows["version"].isin(versions)]
    if rows.empty:
        st.info("No scored predictions to estimate from in this window.")
        return
    metric = st.segmented_control("Metric estimated", list(ESTIMATE_METRICS), default="accuracy", required=True,
                                  format_func=ESTIMATE_METRICS.get, key="kp_estimate_metric")
    shown = rows[rows["metric"] == metric]
    st.plotly_chart(estimate_chart(shown, title=f"{ESTIMATE_METRICS[metric]}: estimated from scores (dashed, 95% "
                                                f"interval shaded) and realised (solid)",
                                   target=target(metric) if metric == "accuracy" else None, unreliable=unreliable),
                    theme=None)
    coverage = pd.DataFrame([c.as_dict() for c in found.coverage])
    waiting = coverage[coverage["version"].isin(versions) & (coverage["labelled"] == 0)] if len(coverage) else coverage
    if len(waiting):
        periods = plural(waiting["period"].nunique(), grain)
        st.caption(plain(f"No label yet for {periods} of {', '.join(versions)} (from {waiting['period'].min()}): "
                         "there the estimate is all there is."))


def breach_table(model: str, versions: list[str], window: Window, grain: str) -> None:
    st.subheader("Service-level breaches")
    st.caption(f"Judged hour by hour whatever the grain shown, on each objective's error budget over "
               f"{SLO_PERIOD_DAYS} days: {BURN_RULES_TEXT}.")
    found = [b for b in cached(slo_judgment, model=model, window=window).breaches if b.version in versions]
    if not found:
        st.success("No breaches in this window.")
        return
    st.dataframe(breach_rows(found, grain), hide_index=True)


def breach_rows(found, grain: str) -> pd.DataFrame:
    """Breaches as people read them: the KPI's name, when it started and ended (moments at hour grain, days
    otherwise), the worst hour's value and the target in the KPI's unit, the peak burn and when it was detected."""
    hourly = grain == "hour"
    first, last = ("from", "until") if hourly else ("first day", "last day")
    shown = "hour" if hourly else "day"
    return pd.DataFrame([{
        "version": b.version, "KPI": kpi_label(b.kpi), first: period(b.start, grain=shown),
        last: period(b.end if hourly else pd.Timestamp(b.end) - pd.Timedelta(hours=1), grain=shown),
        "hours": b.hours, "worst hour": kpi_value(b.kpi, b.worst), "target": kpi_value(b.kpi, b.target),
        "peak burn": f"{b.peak_burn:.1f}x", "detected": period(b.detected_at, grain="hour"), "rule": b.rule}
        for b in found])


def objectives_form(model: str, levels: dict) -> None:
    with st.expander("Service-level objectives", icon=":material/tune:"):
        if levels:
            st.dataframe(pd.DataFrame([{"KPI": kpi_label(l.kpi), "rule": l.rule(), "set by": l.set_by,
                                        "set at": timestamp(l.set_at)} for l in levels.values()]), hide_index=True)
        if read_only_note():   # objectives are set today
            return
        with st.form("slo"):
            kpi = st.selectbox("KPI", list(KPIS), format_func=lambda k: KPIS[k].label)
            current = levels.get(kpi)
            target = st.number_input("Target (its error budget follows from it)",
                                     value=float(current.target) if current else 0.0,
                                     format="%.4f")
            warning = st.number_input("Amber level (on the passing side; 0 = default rule)", value=0.0,
                                      format="%.4f",
                                      help="The status turns amber once this share of the error budget is spent: "
                                           "amber level ÷ target for error rate and latency, (1 − amber) ÷ "
                                           "(1 − target) for accuracy. The default, 10% of the way towards "
                                           "perfect, is 90% of the budget.")
            if st.form_submit_button("Save objective", disabled=not can("configure monitoring"),
                                     help=needs("configure monitoring")):
                try:
                    set_service_level(get_store(), model=model, kpi=kpi, target=target,
                                      warning=warning or None, actor=current_user())
                except GovernanceError as exc:
                    st.error(plain(exc))
                    return
                st.success(f"Saved: {KPIS[kpi].label} objective for {model}.")
                st.rerun()


def body() -> None:
    chosen = controls()
    if chosen is None:
        return
    model, versions, grain, window = chosen
    view = cached(kpi_view, model=model, window=window, grain=grain)
    read_notes(view.notes)
    tiles(model, versions, window, view.summary)
    series = view.series[view.series["version"].isin(versions)]
    if series.empty:
        st.info("No predictions in this window.")
        return
    if len(series) * 3 > SERIES_POINT_BUDGET:
        st.caption("Long window at fine grain: choose a coarser grain for a lighter chart.")
    levels = cached(service_levels, model=model)
    charts(series, levels, model=model, grain=grain, window=window)
    breach_table(model, versions, window, grain)
    objectives_form(model, levels)
    accepted_levels_form(model, versions, span_end=window.end)


def accepted_levels_form(model: str, versions: list[str], *, span_end) -> None:
    """The anomaly baselines' accepted new levels (who, when, why) and, for those allowed, the form to accept one:
    a sustained shift stays flagged until it ends or someone records here that it is the new normal."""
    with st.expander("Accepted anomaly levels", icon=":material/rule:"):
        levels = cached(accepted_levels, model=model)
        if levels:
            st.dataframe(pd.DataFrame([{"version": a.version, "KPI": kpi_label(a.kpi),
                                        "normal from": timestamp(a.start), "accepted by": f"{a.by} ({a.role})",
                                        "recorded": timestamp(a.at), "reason": a.reason} for a in levels]),
                         hide_index=True)
        else:
            st.caption("No new level has been accepted: a sustained shift stays flagged until it ends or an "
                       "engineering leader or admin accepts it here.")
        if read_only_note():   # a new level is accepted today
            return
        with st.form("accept_level"):
            row = st.columns(4)
            version = row[0].selectbox("Version", versions)
            kpi = row[1].selectbox("KPI", list(BAD_DIRECTION), format_func=kpi_label)
            day = row[2].date_input("Normal from (UTC)", value=(pd.Timestamp(span_end) - pd.Timedelta(days=1)).date())
            hour = row[3].number_input("Hour (UTC)", min_value=0, max_value=23, value=0, step=1)
            reason = st.text_input("Why is this the new normal?", max_chars=2000)
            if st.form_submit_button("Accept the new level", disabled=not can(ACCEPT_PERMISSION),
                                     help=needs(ACCEPT_PERMISSION)):
                try:
                    accept_level(get_store(), model=model, version=version, kpi=kpi, reason=reason,
                                 start=pd.Timestamp(day) + pd.Timedelta(hours=int(hour)), actor=current_user())
                except GovernanceError as exc:
                    st.error(plain(exc))
                    return
                st.success(f"Recorded: {kpi_label(kpi)} of {model} {version} is normal from {day} {int(hour):02d}:00 "
                           "UTC on.")
                st.rerun()


render_page("KPIs", body, caption="Is each model healthy, and still worth what it costs?")
