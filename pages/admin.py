import pandas as pd
import streamlit as st

from components.as_of import read_only_note, record_then
from components.auth import can, current_user, needs
from components.formatting import ABSENT, cell, count, plain, timestamp
from components.page import keep_valid, render_page
from components.workspace import cached, get_store
from governance import alerts
from governance.access import identity, tokens
from governance.alerts import scheduler
from governance.decisions import committee, release_gate
from governance.errors import GovernanceError
from governance.monitoring import telemetry_setup, telemetry_sources
from governance.monitoring.inventory import list_models, workspace_status


def model_choice(key: str) -> str | None:
    """The model a section is about (kept per section), or None in a workspace without models."""
    models = list(cached(list_models)["name"])
    if not models:
        return None
    keep_valid(key, models, models[0])
    return st.selectbox("Model", models, key=key)


def retraining_policy() -> None:
    """Each model's written retraining policy: the triggers the Overview judges, recorded in the ledger."""
    st.subheader("Retraining policy")
    model = model_choice("ad_policy_model")
    if model is None:
        return
    then = record_then()
    current = (cached(release_gate.policy, model=model) if then is None else
               cached(release_gate.policy, model=model, before=then.before))
    st.caption(f"In force: set by {plain(current['set_by'])} at {timestamp(current['set_at'])}." if current["set_by"]
               else "In force: the defaults (no policy recorded yet).")
    if then is not None:
        st.json({k: v for k, v in current.items() if k not in ("model", "set_by", "set_at")}, expanded=False)
        read_only_note()
        return
    may = can("configure monitoring")
    with st.form("ad_policy"):
        drift = st.checkbox("Retrain when a feature drifts to 'act'", value=bool(current["drift_act"]))
        days = st.number_input("Retrain when accuracy is below its service level on this many of the last 30 days",
                               min_value=1, max_value=30, value=int(current["accuracy_below_slo_days"] or 3))
        coverage = st.number_input("Retrain when label coverage falls below (share)", min_value=0.0,
                                   max_value=1.0, step=0.05, value=float(current["min_label_coverage"] or 0.5))
        age = st.number_input("Retrain when the model is older than (days)", min_value=1, max_value=3650,
                              value=int(current["max_model_age_days"] or 365))
        text = st.text_area("The written policy", value=current["text"] or "", max_chars=4000)
        submitted = st.form_submit_button("Record the policy", type="primary", disabled=not may,
                                          help=None if may else needs("configure monitoring"))
    if submitted:
        try:
            release_gate.set_policy(get_store(), model=model, actor=current_user(), policy={
                "drift_act": drift, "accuracy_below_slo_days": int(days), "min_label_coverage": float(coverage),
                "max_model_age_days": int(age), "text": text or None})
        except GovernanceError as exc:
            st.error(plain(str(exc)))
            return
        st.success(f"Recorded the retraining policy of {plain(model)}.")


def alert_rules() -> None:
    """Per model: which conditions alert, how loudly, whom; recorded in the ledger, the newest in force."""
    st.subheader("Alert rules")
    flash = st.session_state.pop("ad_rules_flash", None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    model = model_choice("ad_rules_model")
    if model is None:
        return
    then = record_then()
    if then is not None and model not in then.alert_rules:
        st.caption(f"{plain(model)} had no version registered at the end of {then.day}.")
        return
    rules = cached(alerts.rules, model=model) if then is None else then.alert_rules[model]
    st.dataframe(pd.DataFrame([{
        "condition": alerts.WHAT_WORDS[what], "on": rule["enabled"], "severity": rule["severity"],
        "recipients": ", ".join(rule["recipients"]) or "nobody",
        "threshold": f"{rule[alerts.THRESHOLDS[what][0]]:g} {alerts.THRESHOLDS[what][4]}"
        if what in alerts.THRESHOLDS else ""} for what, rule in rules.items()]), hide_index=True)
    st.caption("Service-level targets and drift thresholds are the KPIs' and Drift settings; these rules say "
               "who hears of a breach. A role reaches every enabled account in it that has an e-mail address.")
    if read_only_note():
        return
    may = can("configure monitoring")
    keep_valid("ad_rules_what", list(alerts.WHATS), alerts.WHATS[0])
    what = st.selectbox("Change the rule for", alerts.WHATS, format_func=alerts.WHAT_WORDS.get, key="ad_rules_what")
    rule = rules[what]
    people = [c["user_name"] for c in cached(identity.contacts)]
    with st.form(f"ad_rules_{model}_{what}"):
        enabled = st.checkbox("Alert on this condition", value=bool(rule["enabled"]))
        severity = st.segmented_control("Severity", list(alerts.SEVERITIES), default=rule["severity"],
                                        required=True)
        recipients = st.multiselect(
            "Recipients", list(dict.fromkeys([*identity.ROLES, *people, *rule["recipients"]])),
            default=rule["recipients"], accept_new_options=True,
            help="A role, a person's account, or type an e-mail address or a webhook URL (Slack, Teams) and press "
                 "Enter.")
        threshold = None
        if what in alerts.THRESHOLDS:
            name, _, low, high, words = alerts.THRESHOLDS[what]
            threshold = st.number_input(f"Alert at ({words})", min_value=float(low), max_value=float(high),
                                        value=float(rule[name]), step=0.5 if what == "anomaly" else 1.0)
        submitted = st.form_submit_button("Record the rule", type="primary", disabled=not may,
                                          help=None if may else needs("configure monitoring"))
    if submitted:
        change = {"enabled": enabled, "severity": severity, "recipients": recipients}
        if threshold is not None:
            change[alerts.THRESHOLDS[what][0]] = threshold
        try:
            alerts.set_rules(get_store(), model=model, changes={what: change}, actor=current_user())
        except GovernanceError as exc:
            st.error(plain(str(exc)))
            return
        st.session_state["ad_rules_flash"] = (f"Recorded the rule for {alerts.WHAT_WORDS[what]} of {plain(model)}; "
                                              "it applies from the next check.")
        st.rerun()


def telemetry_source_section() -> None:
    """Where each model's telemetry is read from, how many rows it has there, and the last query on it."""
    st.subheader("Telemetry sources")
    flash = st.session_state.pop("ad_source_flash", None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    rows = []
    for model in cached(list_models)["name"]:
        source = cached(telemetry_sources.source_for, model=model)
        try:
            found = cached(telemetry_sources.row_count, model=model)
        except GovernanceError as exc:
            found, problem = None, str(exc)
        else:
            problem = None
        last = telemetry_sources.last_query(model)   # this process's, so never cached
        rows.append({"model": model, "source": source.kind, "location": source.location or "this workspace",
                     "rows": ABSENT if found is None else count(found),
                     "last query": timestamp(last["at"]) if last else "none yet",
                     "seconds": f"{last['seconds']:.3f}" if last else ABSENT,
                     "engine": last["engine"] if last else ABSENT,
                     "set by": cell(source.set_by) or "(the default)", "problem": cell(problem)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
        "rows": st.column_config.TextColumn(alignment="right"),
        "seconds": st.column_config.TextColumn("last query (s)", alignment="right")})
    st.caption("A Parquet dataset is read in place by DuckDB, opening only the daily partitions a view's window "
               "touches; Spark runs the same SQL, translated by sqlglot, and returns only aggregates. "
               "`python -m governance telemetry export` writes a model's telemetry as such a dataset.")
    if read_only_note():   # where telemetry is read from is today's setting
        return
    may = can("configure monitoring")
    model = model_choice("ad_source_model")
    if model is None:
        return
    with st.form(f"ad_source_{model}"):
        kind = st.segmented_control("Read telemetry from", telemetry_sources.KINDS, required=True,
                                    default=cached(telemetry_sources.source_for, model=model).kind)
        location = st.text_input("Location (a dataset's folder, or a Spark table)",
                                 value=cached(telemetry_sources.source_for, model=model).location or "")
        master = st.text_input("Spark master", placeholder=telemetry_sources.DEFAULT_MASTER)
        submitted = st.form_submit_button("Use this source", type="primary", disabled=not may,
                                          help=None if may else needs("configure monitoring"))
    if submitted:
        try:
            with st.spinner("Trying the source…"):
                telemetry_setup.set_source(get_store(), model=model, kind=kind, location=location,
                                           master=master, actor=current_user())
        except GovernanceError as exc:
            st.error(plain(str(exc)))
            return
        st.session_state["ad_source_flash"] = f"{plain(model)} now reads its telemetry from {kind}."
        st.rerun()


def api_tokens() -> None:
    """Tokens that let a program call the HTTP API as one account: listed for everyone, issued by an admin and
    shown once, revoked by an admin or by the token's own account."""
    st.subheader("API tokens")
    issued = st.session_state.pop("ad_token_issued", None)   # shown on this run only, then gone from the session
    if issued:
        st.success(f"Issued {issued['token_id']} ({plain(issued['name'])}), acting as {plain(issued['user_name'])}. "
                   "Copy it now: it will not be shown again, and Quorum keeps only its SHA-256.",
                   icon=":material/key:")
        st.code(issued["token"], language=None)
        st.caption("A program sends it as `Authorization: Bearer <token>`; it acts with that account's role, "
                   "never more.")
    flash = st.session_state.pop("ad_token_flash", None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    then = record_then()
    # its state depends on the clock (expiry), so never cached; as of a day, its state then (from the ledger)
    listed = tokens.list_tokens(get_store()) if then is None else then.tokens
    st.dataframe(pd.DataFrame([{
        "id": t.token_id, "name": t.name, "account": t.user_name, "starts with": f"qrm_{t.prefix}…",
        "created": timestamp(t.created_at), "expires": timestamp(t.expires_at) or "never",
        "last used": timestamp(t.last_used_at) or "never", "state": t.state} for t in listed],
        columns=["id", "name", "account", "starts with", "created", "expires", "last used", "state"]),
        hide_index=True)
    if read_only_note():
        return
    user = current_user()
    admin = can("manage users")
    active = [t for t in listed if t.state == "active"]
    if active:
        st.caption("Revoking stops a token at once and cannot be undone: an admin, or the token's own account.")
    for t in active:
        mine = user is not None and user.user_name == t.user_name
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f"**{t.token_id}** · {plain(t.name)} · acts as {plain(t.user_name)}")
        if right.button("Revoke", key=f"ad_token_revoke_{t.token_id}", disabled=not (admin or mine),
                        help=None if admin or mine else needs("manage users") + " Or be the token's account."):
            try:
                tokens.revoke_token(get_store(), token_id=t.token_id, actor=user)
            except GovernanceError as exc:
                st.error(plain(str(exc)))
                return
            st.session_state["ad_token_flash"] = f"Revoked {t.token_id} ({plain(t.name)}): it is refused from now on."
            st.rerun()
    people = cached(identity.list_users)
    with st.form("ad_token", clear_on_submit=True):
        account = st.selectbox("Account it acts as", [p.user_name for p in people],
                               format_func={p.user_name: f"{p.display_name} ({p.role})" for p in people}.get,
                               help="The token gets this account's role, never more.")
        name = st.text_input("What it is for", placeholder="ci-release-gate", max_chars=tokens.MAX_NAME)
        days = st.number_input("Expires after (days; 0: never)", min_value=0, max_value=tokens.MAX_EXPIRES_DAYS,
                               value=90, step=1)
        submitted = st.form_submit_button("Issue token", type="primary", disabled=not admin,
                                          help=None if admin else needs("manage users"))
    if submitted:
        try:
            made = tokens.create_token(get_store(), name=name, user_name=account, actor=user,
                                       expires_days=int(days) or None)
        except GovernanceError as exc:
            st.error(plain(str(exc)))
            return
        st.session_state["ad_token_issued"] = {"token_id": made.token_id, "name": made.name,
                                               "user_name": made.user_name, "token": made.token}
        st.rerun()


def accounts_section() -> None:
    """Every account with its state; an admin disables one (it can no longer sign in, act or use its tokens) or
    enables it again. Accounts are never deleted: their names stay on what they signed."""
    st.subheader("Accounts")
    flash = st.session_state.pop("ad_account_flash", None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    then = record_then()
    listed = cached(identity.accounts) if then is None else then.accounts   # the ledger holds no e-mail addresses
    st.dataframe(pd.DataFrame([{
        "account": a.user.user_name, "name": a.user.display_name, "role": a.user.role,
        "signs in": {"local": "password", "oidc": "identity provider", "demo": "demo mode"}.get(a.user.source,
                                                                                              a.user.source),
        "e-mail": cell(a.email), "state": "disabled" if a.disabled else "enabled"} for a in listed],
        columns=["account", "name", "role", "signs in", "e-mail", "state"]), hide_index=True)
    st.caption("Add accounts with `python -m governance users add NAME --role ROLE --by ADMIN`. Disabling is "
               "recorded in the ledger with the admin who did it.")
    if not listed or read_only_note():
        return
    by_name = {a.user.user_name: a for a in listed}
    keep_valid("ad_account", list(by_name), listed[0].user.user_name)
    chosen = st.selectbox("Account", list(by_name), key="ad_account", format_func=lambda name: (
        f"{by_name[name].user.display_name} ({by_name[name].user.role}) — "
        + ("disabled" if by_name[name].disabled else "enabled")))
    account = by_name[chosen]
    may = can("manage users")
    verb = "Enable" if account.disabled else "Disable"
    if st.button(f"{verb} {account.user.user_name}", key="ad_account_toggle", disabled=not may,
                 icon=":material/person_check:" if account.disabled else ":material/person_off:",
                 help=None if may else needs("manage users")):
        try:
            identity.set_disabled(get_store(), user_name=chosen, disabled=not account.disabled, actor=current_user())
        except GovernanceError as exc:
            st.error(plain(str(exc)))
            return
        st.session_state["ad_account_flash"] = plain(
            f"{chosen} is {'enabled' if account.disabled else 'disabled'}"
            + (": it signs in and acts again." if account.disabled else
               ": it can no longer sign in, act or use its API tokens."))
        st.rerun()


def committee_rules_section() -> None:
    """The review committee's quorum rules (committee.rules), changed by its chair or an admin, each change
    recorded in the ledger."""
    st.subheader("Committee rules")
    flash = st.session_state.pop("ad_committee_flash", None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    then = record_then()
    current = cached(committee.rules) if then is None else then.committee_rules
    st.caption(plain(f"In force: a quorum is more than {current['quorum_fraction']:g} of the committee members "
                     "who did not recuse" + (", the chair among them" if current["chair_required"] else "")
                     + f"; a decision is valid for {current['decision_validity_days']} days."))
    if then is not None:
        st.caption(plain("Members then: " + ", ".join(f"{m['display_name']} ({m['role']})" for m in then.committee)))
        read_only_note()
        return
    may = can("manage committee")
    with st.form("ad_committee_rules"):
        fraction = st.number_input("Quorum: more than this share of the members who did not recuse",
                                   min_value=0.05, max_value=0.95, step=0.05, value=float(current["quorum_fraction"]))
        chair = st.checkbox("The chair must be among them", value=bool(current["chair_required"]))
        days = st.number_input("A decision is valid for (days)", min_value=1, max_value=3650, step=1,
                               value=int(current["decision_validity_days"]))
        submitted = st.form_submit_button("Record the rules", type="primary", disabled=not may,
                                          help=None if may else needs("manage committee"))
    if submitted:
        wanted = {"quorum_fraction": round(float(fraction), 4), "chair_required": bool(chair),
                  "decision_validity_days": int(days)}
        changed = [key for key, value in wanted.items() if value != current[key]]
        try:
            for key in changed:   # one ledger entry per setting changed, as `signoff rules KEY VALUE` records
                committee.set_rule(get_store(), key=key, value=wanted[key], actor=current_user())
        except GovernanceError as exc:
            st.error(plain(str(exc)))
            return
        st.session_state["ad_committee_flash"] = (f"Recorded {', '.join(changed)}." if changed
                                                  else "Nothing changed: those are the rules in force.")
        st.rerun()


def check_schedule() -> None:
    """How often the server checks the alert rules on its own (no cron job needed); recorded in the ledger."""
    st.subheader("Scheduled checks")
    then = record_then()
    current = cached(alerts.schedule) if then is None else then.alert_schedule
    running = scheduler.running()
    said = f"The server checks the alert rules every {current['every_minutes']} minutes"
    said += (f" (set by {current['set_by']} at {timestamp(current['set_at'])})." if current["set_by"]
             else " (the default).")
    if running is None:
        said += (" This app runs without the server's scheduler (`streamlit run`): start it with "
                 "`python -m governance serve` for scheduled checks, or run `alerts check` yourself.")
    elif running.last_result is not None:
        said += f" The last scheduled check found {running.last_result['open']} open alerts."
    st.caption(plain(said))
    if read_only_note():
        return
    may = can("configure monitoring")
    low, high = alerts.SCHEDULE_BOUNDS
    with st.form("ad_schedule"):
        minutes = st.number_input("Check the alert rules every (minutes)", min_value=low, max_value=high,
                                  value=int(current["every_minutes"]), step=5)
        submitted = st.form_submit_button("Record the schedule", disabled=not may,
                                          help=None if may else needs("configure monitoring"))
    if submitted:
        try:
            alerts.set_schedule(get_store(), every_minutes=int(minutes), actor=current_user())
        except GovernanceError as exc:
            st.error(plain(str(exc)))
            return
        st.success(f"The server now checks the alert rules every {int(minutes)} minutes.")


def body() -> None:
    status = cached(workspace_status)
    left, right, _ = st.columns([1, 1, 2])
    left.metric("Schema version", status["schema_version"], border=True)
    right.metric("Data version", status["data_version"], border=True,
                 help="Bumped by every committed write; cached figures are keyed on it.")
    store = get_store()
    if store.engine == "postgresql":   # its path is a folder in the lake; people know it by its URL (no password)
        st.markdown(f"Workspace: `{store.location}`, telemetry in the lake `{store.lake}`")
    else:
        st.markdown(f"Workspace file: `{store.path}`")
    st.subheader("Tables")
    st.dataframe(pd.DataFrame(list(status["tables"].items()), columns=["table", "rows"]), hide_index=True,
                 column_config={"rows": st.column_config.NumberColumn(format="localized")})
    telemetry_source_section()
    alert_rules()
    check_schedule()
    retraining_policy()
    accounts_section()
    committee_rules_section()
    api_tokens()


render_page("Admin", body, caption="The workspace behind this app: its schema, its tables, its size, where each "
                                   "model's telemetry is read from, the models' alert rules and their retraining "
                                   "policies, the accounts, the committee's rules, and the API tokens programs use.")
