"""Alerts: what needs someone's attention now, what was raised before, and every message sent about it."""

import pandas as pd
import streamlit as st

from components.as_of import deliveries_then, episodes_then, record_then
from components.auth import can, current_user, needs
from components.formatting import ABSENT, number, plain, plural, timestamp
from components.navigation import page_for_link
from components.page import keep_valid, render_page
from components.workspace import cached, get_store
from governance import alerts
from governance.alerts import delivery
from governance.errors import GovernanceError

ALL = "All"


def delivery_settings() -> delivery.DeliverySettings:
    """`[alerts]` in the app's secrets, overridden by QUORUM_* variables, as for `alerts check`."""
    try:
        secrets = st.secrets.to_dict()
    except Exception:  # no secrets file at all: Streamlit raises instead of returning an empty mapping
        secrets = None
    return delivery.DeliverySettings.load(secrets)


def actions() -> None:
    """Leaders check the rules at once instead of waiting for the schedule, and queue failed messages again."""
    may = can("configure monitoring")
    left, right, _ = st.columns([1, 1, 2])
    check = left.button("Check the rules now", type="primary", disabled=not may,
                        help="Opens, escalates and closes alerts, then sends what is due." if may
                        else needs("configure monitoring"))
    retry = right.button("Send failed messages again", disabled=not may,
                         help=None if may else needs("configure monitoring"))
    if not (check or retry):
        return
    store, settings = get_store(), delivery_settings()
    try:
        with st.spinner("Checking the alert rules and sending…"):
            if check:
                result = alerts.check(store, actor=current_user(), base_url=settings.base_url)
            else:
                requeued = delivery.retry_failed(store)
            sent = delivery.deliver_pending(store, settings=settings)
    except GovernanceError as exc:
        st.error(plain(exc))
        return
    if check:
        st.success(f"Opened {len(result['opened'])}, escalated {len(result['escalated'])}, closed "
                   f"{len(result['closed'])}; {result['open']} open now.")
        for u in result["unreachable"]:
            st.warning(plain(f"Not reached: {u['recipient']}, for {u['alert_key']}. Add the address with "
                             "`python -m governance users email`, or change the rule on the Admin page."))
    else:
        st.success(f"{plural(len(requeued), 'failed message')} queued again.")
    message = f"Messages: {sent['delivered']} delivered, {sent['retrying']} to retry, {sent['failed']} failed."
    (st.warning if sent["retrying"] or sent["failed"] else st.info)(message)
    if sent["retrying"] or sent["failed"]:
        st.caption(plain("Last error: " + next(r["detail"] for r in reversed(sent["results"])
                                               if r["result"] == "error")))


def episode_table(episodes: list[dict], outbox: list[dict]) -> pd.DataFrame:
    sent: dict[str, list[str]] = {}
    for d in outbox:
        sent.setdefault(d["alert_key"].rsplit(":", 1)[0], []).append(d["status"])
    table = pd.DataFrame(episodes)
    return table.assign(
        condition=table["what"].map(alerts.WHAT_WORDS),
        state=table["closed_at"].map(lambda c: "open" if c is None else "closed"),
        messages=table["alert_key"].map(lambda k: ", ".join(
            f"{sum(s == status for s in sent.get(k, []))} {status}" for status in ("delivered", "pending", "failed")
            if status in sent.get(k, [])) or "none"),
        **{column: table[column].map(timestamp) for column in ("opened_at", "last_seen_at", "closed_at")})


def evidence_rows(evidence: dict, prefix: str = "") -> list[dict]:
    """An alert's evidence as name and value, in words: nested sections as 'section · name', figures rounded,
    moments in UTC, absent values left out."""
    rows = []
    for key, value in evidence.items():
        name = f"{prefix}{str(key).replace('_', ' ')}"
        if isinstance(value, dict):
            rows.extend(evidence_rows(value, prefix=f"{name} · "))
        elif isinstance(value, (list, tuple)):
            if value:
                rows.append({"evidence": name, "value": "; ".join(number(v) for v in value)})
        elif number(value) != ABSENT:
            moment = isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and value[10:11] == "T"
            rows.append({"evidence": name, "value": timestamp(value) if moment else number(value)})
    return rows


def episode_detail(episode: dict, outbox: list[dict]) -> None:
    st.subheader(plain(episode["title"]))
    who = f" · opened by {episode.get('opened_by') or 'not recorded'}" + (
        f" · closed by {episode.get('closed_by') or 'not recorded'}" if episode["closed_at"] else "")
    st.caption(plain(f"{episode['severity']} · {alerts.WHAT_WORDS[episode['what']]} · alert {episode['alert_key']}"
                     + who))
    target = page_for_link(episode["link"])
    if target:
        st.page_link(target[0], label="Open the evidence in Quorum", icon=":material/open_in_new:",
                     query_params=target[1])
    evidence = evidence_rows(episode["evidence"] or {})
    if evidence:
        st.dataframe(pd.DataFrame(evidence, columns=["evidence", "value"]), hide_index=True)
    mine = [d for d in outbox if d["alert_key"].rsplit(":", 1)[0] == episode["alert_key"]]
    st.markdown("**Messages**")
    if not mine:
        st.caption("No message was queued for this alert: its rule names no recipient who could be reached.")
        return
    st.dataframe(pd.DataFrame([{
        "severity sent": d["alert_key"].rsplit(":", 1)[1], "channel": d["channel"], "to": d["recipient"],
        "status": d["status"], "attempts": len(d["attempts"]), "queued": timestamp(d["created_at"]),
        "delivered": timestamp(d["delivered_at"]),
        "next attempt": timestamp(d["next_attempt_at"]) if d["status"] == "pending" else ABSENT} for d in mine]),
        hide_index=True, column_config={"attempts": st.column_config.NumberColumn("attempts", format="%d")})
    attempts = [{"to": d["recipient"], **a} for d in mine for a in d["attempts"]]
    if attempts:
        st.markdown("**Every attempt**")
        st.dataframe(pd.DataFrame(attempts).assign(attempted_at=lambda f: f["attempted_at"].map(timestamp),
                                                   detail=lambda f: f["detail"].map(lambda d: d or ABSENT)),
                     hide_index=True, column_order=("attempted_at", "to", "attempt", "result", "detail"),
                     column_config={"attempted_at": "when"})


def body() -> None:
    tiles = st.container()   # drawn above the buttons, filled after them: the counts are what a check just left
    then = record_then()
    if then is None:
        actions()
    everything = cached(alerts.episodes)
    outbox = cached(delivery.history)
    if then is not None:   # the episodes and messages as they stood at the end of the day
        everything = episodes_then(everything, before=then.before)
        outbox = deliveries_then(outbox, before=then.before)
    open_now = [e for e in everything if e["closed_at"] is None]
    cols = tiles.columns(4)
    cols[0].metric("Open critical", sum(e["severity"] == "critical" for e in open_now), border=True)
    cols[1].metric("Open warnings", sum(e["severity"] != "critical" for e in open_now), border=True)
    cols[2].metric("Messages waiting", sum(d["status"] == "pending" for d in outbox), border=True,
                   help="Queued, or failed and due to be tried again with backoff.")
    cols[3].metric("Messages failed", sum(d["status"] == "failed" for d in outbox), border=True,
                   help="Every attempt failed; kept, and sent again with the button below.")
    if not everything:
        st.info("No alert has been raised yet. The rules are checked by `python -m governance alerts check` "
                "(from cron or a CI schedule) or with the button above.")
        return

    state_col, model_col, severity_col = st.columns([1, 1, 2])
    state = state_col.segmented_control("Show", ["open", "closed", ALL], default="open", required=True,
                                        key="al_state")
    models = [ALL] + sorted({e["model"] for e in everything if e["model"]})
    keep_valid("al_model", models, ALL)
    model = model_col.selectbox("Model", models, key="al_model")
    severities = severity_col.multiselect("Severity", list(alerts.SEVERITIES), default=list(alerts.SEVERITIES),
                                          key="al_severity")
    shown = sorted((e for e in everything if (state == ALL or (e["closed_at"] is None) == (state == "open"))
                    and model in (ALL, e["model"]) and e["severity"] in severities),
                   key=lambda e: -alerts.SEVERITIES.index(e["severity"]))   # the worst first, then the newest
    if not shown:
        st.info(f"No {'' if state == ALL else state + ' '}alert matches these filters.")
        return
    event = st.dataframe(
        episode_table(shown, outbox), hide_index=True, on_select="rerun", selection_mode="single-row",
        key="al_table", column_order=("severity", "condition", "title", "state", "opened_at", "last_seen_at",
                                      "closed_at", "messages"),
        column_config={"title": st.column_config.TextColumn("alert", width="large"), "opened_at": "opened",
                       "last_seen_at": "last seen", "closed_at": "closed"})
    rows = event.selection.rows
    episode_detail(shown[rows[0] if rows and rows[0] < len(shown) else 0], outbox)


render_page("Alerts", body, caption="Conditions that need someone's attention: each is raised once while it lasts, "
                                    "sent again only if it grows worse, and closed when it clears. Every message "
                                    "and attempt is kept.")
