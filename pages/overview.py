import pandas as pd
import streamlit as st

from components.as_of import open_episodes, record_then, versions_then
from components.charts import daily_volume_chart
from components.formatting import (count, count_compact, heading, kpi_label, milliseconds, percent, plain,
                                   plural, timestamp, usd, usd_compact)
from components.kpi_tiles import tile, tile_row
from components.page import render_page
from components.workspace import cached
from governance.alerts import episodes
from governance.decisions.release_gate import all_triggers, serving_outside_their_gate
from governance.monitoring.inventory import list_models, list_versions
from governance.monitoring.kpis import DEFINITIONS, daily_volume, headline_figures


def body() -> None:
    models = cached(list_models)
    if models.empty:
        st.info("This workspace has no models yet. Build the demo with "
                "`python -m governance --db <this workspace> init --demo`, or start the app without QUORUM_DB "
                "to use the bundled demo workspace.")
        return

    then = record_then()
    if then is not None:
        as_of_body(then, models)
        return
    for h in cached(headline_figures, window_days=7):
        st.subheader(plain(h.model))
        st.caption(f"Last {plural(h.window_days, 'day')} of telemetry, up to {timestamp(h.window_end)}")
        row = tile_row()
        tile(row, heading(kpi_label("predictions")), count_compact(h.predictions),
             help_text=f"{count(h.predictions)} predictions served in these {h.window_days} days.")
        tile(row, heading(kpi_label("accuracy")), percent(h.accuracy), help_text=DEFINITIONS["accuracy"])
        tile(row, heading(kpi_label("label_coverage")), percent(h.label_coverage, digits=0),
             help_text=DEFINITIONS["label_coverage"])
        tile(row, heading(kpi_label("latency_p95_ms")), milliseconds(h.latency_p95_ms),
             help_text=DEFINITIONS["latency_p95_ms"])
        tile(row, heading(kpi_label("error_rate")), percent(h.error_rate, digits=2), help_text=DEFINITIONS["error_rate"])
        tile(row, heading(kpi_label("expected_value_usd")), usd_compact(h.expected_value_usd),
             help_text=f"{usd(h.expected_value_usd)}: business value the approvals are expected to bring; cost "
                       f"{usd(h.cost_per_1k_usd, digits=2)} per 1,000 predictions.")

    st.subheader("Stage gates")
    outside = cached(serving_outside_their_gate)
    st.caption("Each version that serves in validation, staging or production is checked against that stage's "
               "gate as it stands today (the approval, the validation checklist and the blocking risks), as "
               "`python -m governance gate` and a pipeline would check it.")
    if not outside:
        st.success("Every serving version passes the gate of the stage it serves at.", icon=":material/verified:")
    for found in outside:
        st.warning(plain(f"{found.model} {found.version} serves in {found.stage} but no longer passes its "
                       f"{found.stage} gate ({plural(len(found.reasons), 'reason')}):")
                 + "\n" + "\n".join(f"- {plain(reason)}" for reason in found.reasons), icon=":material/gpp_bad:")
    st.page_link("pages/signoffs.py", label="Stage gates, checklists and approvals on the Sign-offs page",
                 icon=":material/approval:")

    st.subheader("Retraining")
    st.caption("Each model's retraining policy, judged on its production version (set on the Admin page or with "
               "`python -m governance retraining policy`; defaults until one is recorded).")
    for found in cached(all_triggers):
        met = [t for t in found["triggers"] if t["met"]]
        name = f"{found['model']} {found['version'] or ''}".strip()
        if met:
            st.warning(plain(f"{name} meets its retraining policy: "
                             + "; ".join(f"{t['trigger']} ({t['detail']})" for t in met)), icon=":material/autorenew:")
        else:
            st.success(plain(f"{name}: no retraining trigger met. " + (found.get("note") or "")),
                       icon=":material/check_circle:")

    st.subheader("Open alerts")
    open_alerts = cached(episodes, open_only=True)
    if not open_alerts:
        st.caption("No open alert. `python -m governance alerts check` evaluates the alert rules (run it from cron "
                   "or a CI schedule), as does the Alerts page.")
    for e in open_alerts:
        show = st.error if e["severity"] == "critical" else st.warning if e["severity"] == "warning" else st.info
        show(plain(f"[{e['severity']}] {e['title']} (open since {timestamp(e['opened_at'])})"),
             icon=":material/notifications_active:")
    st.page_link("pages/alerts.py", label="Every alert, its evidence and the messages sent",
                 icon=":material/notifications:")

    inventory(models, cached(list_versions))
    st.plotly_chart(daily_volume_chart(cached(daily_volume)), theme=None)


def as_of_body(then, models) -> None:
    """The Overview as the record stood at the end of the "As of" day: the stages and policies of then, the alerts
    open then and the telemetry up to then (the gates and triggers judged today are left out: they are today's)."""
    st.caption(f"Stage gates and retraining triggers are judged today, so they are not shown for {then.day}; "
               "the Sign-offs page shows the reviews and their validity as they stood.")
    st.subheader("Retraining policies in force")
    for model, policy in then.retraining_policies.items():
        who = f"set by {policy['set_by']} at {timestamp(policy['set_at'])}" if policy.get("set_by") else "the defaults"
        st.markdown(plain(f"{model}: {who}"))
    st.subheader("Alerts open then")
    open_then = open_episodes(cached(episodes), before=then.before)
    if not open_then:
        st.caption(f"No alert was open at the end of {then.day}.")
    for e in open_then:
        st.warning(plain(f"[{e['severity']}] {e['title']} (open since {timestamp(e['opened_at'])})"),
                   icon=":material/notifications_active:")
    inventory(models[models["name"].isin(then.models)], versions_then(cached(list_versions)))
    volume = cached(daily_volume)
    if not volume.empty:   # telemetry timestamped up to the day
        volume = volume[pd.to_datetime(volume["day"]).dt.date <= then.day]
    st.plotly_chart(daily_volume_chart(volume), theme=None)


def inventory(models, versions) -> None:
    st.subheader("Model inventory")
    table = versions.assign(
        accuracy=versions["training_metrics"].map(lambda m: m.get("accuracy")),
        roc_auc=versions["training_metrics"].map(lambda m: m.get("roc_auc")),
    )[["model", "version", "stage", "accuracy", "roc_auc", "telemetry_rows", "owner", "risk_tier", "created_at",
       "algorithm"]]
    st.dataframe(table, hide_index=True, column_config={
        "risk_tier": "risk tier",
        "accuracy": st.column_config.NumberColumn("held-out accuracy", format="%.3f"),
        "roc_auc": st.column_config.NumberColumn("held-out ROC AUC", format="%.3f"),
        "telemetry_rows": st.column_config.NumberColumn("telemetry rows", format="localized"),
        "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD"),
    })
    for model in models.itertuples(index=False):
        with st.expander(f"Model card: {plain(model.name)}"):   # what registration was told, shown as text
            st.markdown(f"**Purpose.** {plain(model.purpose)}")
            st.markdown(f"**Intended use.** {plain(model.intended_use)}")
            st.markdown(f"**Owner.** {plain(model.owner)}  \n**Risk tier.** {plain(model.risk_tier)}  \n"
                        f"**Data set.** {plain(model.dataset)}")
            for v in versions[versions["model"] == model.name].itertuples(index=False):
                st.markdown(f"**{plain(v.version)}** ({v.stage}): {plain(v.algorithm)}. Artifact sha256 "
                            f"`{v.artifact_sha256}`")


render_page("Overview", body, caption="Every deployed model at a glance: health, value and who owns it.")
