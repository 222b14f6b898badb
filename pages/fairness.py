import io

import numpy as np
import pandas as pd
import streamlit as st

from components.as_of import read_only, read_only_note, record_then
from components.auth import can, current_user, needs
from components.fairness_charts import audit_comparison_chart, group_metric_chart, mitigation_chart
from components.formatting import NOT_COMPUTABLE, code, percent, plain
from components.page import arrive_from_link, keep_valid, lazy_tabs, render_page
from components.workspace import cached, get_store
from governance.decisions import release_gate
from governance.errors import GovernanceError
from governance.evidence import fairness, fairness_metrics as fm, fairness_policy
from governance.evidence.fairness_inputs import UNREADABLE_CSV, AuditData, AuditError, read_csv_data
from governance.evidence.fairness_mitigation import mitigation_preview
from governance.monitoring.inventory import list_versions

TABS = ("Audits", "New audit", "Compare")
ALL = "All"
NAME_MAX = 100
NO_SCORE = "(no score)"
EVALUATION_SET, UPLOAD = "A model version's stored evaluation set", "An uploaded CSV file"
VERDICT_BADGES = {"pass": "green", "fail": "red", "inconclusive": "orange", "not computable": "gray",
                  "not run yet": "gray", "could not run": "red"}
RAN = ("pass", "fail", "inconclusive")
VERDICT_FILLS = {"pass": "#DDF2E5", "fail": "#F9DAD6", "inconclusive": "#FCEBD3", "not computable": "#ECEDF0"}
WHAT_IF = ("What-if only. This preview changes no deployed model and stores nothing: it shows what fairlearn's "
           "ThresholdOptimizer (a separate decision threshold per group) would do to this criterion on the "
           "evaluation rows. Group-specific thresholds need a legal review before any real use.")


# --- formatting ------------------------------------------------------------------------------------------------
def number(value, digits: int = 3) -> str:
    return NOT_COMPUTABLE if value is None or pd.isna(value) else f"{value:.{digits}f}"


def interval(low, high, digits: int = 3) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return NOT_COMPUTABLE
    return f"{low:.{digits}f}–{high:.{digits}f}"


def short(digest) -> str:
    return f"{digest[:12]}…" if isinstance(digest, str) and digest else "—"


def when(iso: str | None) -> str:
    return iso.replace("T", " ").removesuffix("Z") + " UTC" if iso else "—"


def rule(name: str, operator: str, threshold: float) -> str:
    return f"{name} {'≥' if operator == '>=' else '≤'} {threshold:g}"


def symbols(text: str) -> str:
    """'a>=0.8' or 'a >= 0.8' as people write it: 'a ≥ 0.8'."""
    return " ".join(text.replace(">=", " ≥ ").replace("<=", " ≤ ").split())


def feature_set(sensitive) -> str:
    return " × ".join(sensitive)


def group_label(group: dict, sensitive) -> str:
    return ", ".join(f"{k} = {group[k]}" for k in sensitive)


def group_text(group: dict, sensitive) -> str:
    """A group label for markdown: its values come from the data, so they are shown literally."""
    return plain(group_label(group, sensitive))


def verdict_fill(verdict) -> str:
    fill = VERDICT_FILLS.get(verdict)
    return f"background-color: {fill}; color: #262730" if fill else ""



# --- audits: history and one audit --------------------------------------------------------------------------------
def audits_tab() -> None:
    flash = st.session_state.pop("fa_flash", None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    everything = stored_by_then(cached(fairness.list_audits))
    if everything.empty:
        st.info("No fairness audits yet: define one under **New audit**.")
        return
    model_col, version_col, _ = st.columns([2, 1, 3])
    models = [ALL] + sorted(everything["model"].dropna().unique())
    keep_valid("fa_model", models, ALL)
    model = model_col.selectbox("Model", models, key="fa_model", persist_state="page")
    versions = [ALL] + (sorted(everything[everything["model"] == model]["version"].dropna().unique())
                        if model != ALL else [])
    keep_valid("fa_version", versions, ALL)
    version = version_col.selectbox("Version", versions, key="fa_version", persist_state="page")
    frame = stored_by_then(cached(fairness.list_audits, model=None if model == ALL else model,
                                  version=None if version == ALL else version))
    st.subheader("Audit history")
    history = frame.assign(evidence=frame["evidence_hash"].map(short), policy=policy_marks(frame))
    st.dataframe(history, hide_index=True, column_order=(
        "audit_id", "model", "version", "verdict", "policy", "pass", "fail", "inconclusive", "sensitive",
        "criteria", "defined_by", "defined_at", "ran_at", "evidence"), column_config={
        "audit_id": "Audit", "sensitive": "Sensitive features", "criteria": "Criteria (locked)",
        "policy": st.column_config.TextColumn("Against the model's fairness policy", width="medium"),
        "verdict": "Verdict",
        "pass": st.column_config.NumberColumn("pass", format="%d"),
        "fail": st.column_config.NumberColumn("fail", format="%d"),
        "inconclusive": st.column_config.NumberColumn("inconclusive", format="%d"),
        "defined_by": "Defined by",
        "defined_at": st.column_config.DatetimeColumn("Defined at (UTC)", format="YYYY-MM-DD HH:mm"),
        "ran_at": st.column_config.DatetimeColumn("Ran at (UTC)", format="YYYY-MM-DD HH:mm"),
        "evidence": "Evidence hash"})
    if model == ALL:
        st.caption("Choose a model to see its fairness policy (the bar its audits must clear) and the standing "
                   "result of each version.")
    else:
        policy_panel(model, versions[1:] if version == ALL else [version])
    ids = frame["audit_id"].tolist()
    names = {r.audit_id: f"{r.audit_id} · {r.source_name} · {r.sensitive} · {r.verdict}"
             for r in frame.itertuples(index=False)}
    keep_valid("fa_audit", ids, ids[0])
    audit_id = st.selectbox("Audit", ids, format_func=names.get, key="fa_audit", persist_state="page")
    then = record_then()
    if then is not None and not {a["audit_id"]: a for a in then.fairness_audits}[audit_id]["ran_at"]:
        st.info(f"{audit_id} was defined and locked but had not run by the end of {then.day}.",
                icon=":material/hourglass_empty:")
        return
    show_audit(cached(fairness.get_audit, audit_id=audit_id))


def stored_by_then(frame: pd.DataFrame) -> pd.DataFrame:
    """The audits as listed, or (as of a day) those defined by then, each with its verdict then."""
    then = record_then()
    if then is None:
        return frame
    verdicts = {a["audit_id"]: a for a in then.fairness_audits}
    frame = frame[frame["audit_id"].isin(list(verdicts))].copy()
    frame["verdict"] = [verdicts[i]["verdict"] for i in frame["audit_id"]]
    late = [verdicts[i]["ran_at"] is None for i in frame["audit_id"]]
    for column in ("ran_at", "pass", "fail", "inconclusive", "evidence_hash"):
        frame[column] = frame[column].where(~pd.Series(late, index=frame.index))
    return frame


def judged(model: str) -> dict:
    """Each audit of the model that ran, against the policy in force when it was locked (by audit id)."""
    return {a.audit_id: a for a in cached(fairness_policy.judge_audits, model=model)}


def policy_marks(frame: pd.DataFrame) -> list[str]:
    """For the history: whether each audit's criteria meet the policy of its lock time."""
    by_model = {m: judged(m) for m in frame["model"].dropna().unique()}
    marks = []
    for row in frame.itertuples(index=False):
        found = by_model.get(row.model, {}).get(row.audit_id)
        marks.append("—" if found is None else found.mark or "at least as strict: counts")
    return marks


def policy_text(policy: fairness_policy.FairnessPolicy) -> str:
    return (f"{'; '.join(rule(c.name, c.operator, c.threshold) for c in policy.criteria)} · "
            f"{policy.confidence:.0%} intervals · minimum group size at most {policy.min_group_size:,}")


def policy_panel(model: str, versions: list[str]) -> None:
    """The policy in force, its history, the standing result of each version, and (for the chair or an admin) a
    form to set a new policy with its reason."""
    then = record_then()
    policy = (cached(fairness_policy.policy_in_force, model=model) if then is None else
              cached(fairness_policy.policies_in_force, model=model, at=then.before)[0])
    st.subheader(f"Fairness policy of {plain(model)}")
    st.markdown(f"**In force:** {policy_text(policy)}")
    if policy.is_default:
        st.caption("No policy has been recorded for this model: these are the defaults audits use. Every audit is "
                   "judged against the policy in force when it was locked.")
    else:
        st.caption(f"Set by {plain(policy.set_by)} at {when(policy.set_at[:19])} (ledger entry {policy.ledger_seq}): "
                   f"{plain(policy.reason)}. Every audit is judged against the policy in force when it was locked.")
    history = cached(fairness_policy.policy_history, model=model)
    if then is not None:   # the policies set by then; the standing results are judged today
        history = [p for p in history if p.set_at.replace("Z", "") < then.before.isoformat()]
    if len(history) > 1:
        with st.expander(f"Earlier policies ({len(history) - 1})", icon=":material/history:"):
            st.markdown("\n".join(f"- {when(p.set_at[:19])}, {plain(p.set_by)}: {policy_text(p)} — {plain(p.reason)}"
                                   for p in reversed(history[:-1])))
    if read_only_note():
        return
    for version in versions:
        standing_summary(model, version)
    policy_form(model, policy)


def standing_summary(model: str, version: str) -> None:
    result = cached(release_gate.standing_fairness_result, model=model, version=version)
    if result.audit_id is None:
        st.markdown(f"**{version}: no standing result.** {plain(result.why)}.")
    else:
        state = "counts for the checklist" if result.done else "does not complete the checklist"
        st.markdown(f"**{version}: {result.audit_id} stands ({result.verdict}), {state}.** {plain(result.why)}.")
    if result.set_aside:
        st.markdown("\n".join(f"  - set aside {s.audit_id} ({s.verdict}): {plain(s.reason)}"
                               for s in result.set_aside))


def policy_form(model: str, policy: fairness_policy.FairnessPolicy) -> None:
    allowed = can(fairness_policy.PERMISSION)
    with st.expander("Set the fairness policy", icon=":material/gavel:"):
        st.caption("The bar every audit locked from now on must clear to count: each criterion present with a "
                   "threshold at least as demanding, intervals at least as confident, a minimum group size no "
                   "larger. Recorded in the ledger with your name and reason; earlier audits keep the policy of "
                   "their lock time. " + ("" if allowed else needs(fairness_policy.PERMISSION)))
        with st.form(f"fa_policy_form_{model}"):
            try:
                criteria = criteria_editor(key=f"fa_policy_criteria_{model}", initial=policy.criteria,
                                           title="**Criteria of the policy**")
            except GovernanceError as exc:
                st.error(plain(exc))
                criteria = None
            min_group = st.number_input("Largest minimum group size an audit may use", min_value=1,
                                        max_value=1_000_000, value=policy.min_group_size, step=1,
                                        key=f"fa_policy_min_group_{model}")
            reason = st.text_area("Reason (required, recorded in the ledger)", key=f"fa_policy_reason_{model}",
                                  max_chars=2000)
            submitted = st.form_submit_button("Record the policy", type="primary", icon=":material/gavel:",
                                              disabled=not allowed)
        if submitted and criteria is not None:
            try:
                fairness_policy.set_policy(get_store(), model=model, criteria=criteria, reason=reason,
                                           min_group_size=int(min_group), actor=current_user())
            except GovernanceError as exc:
                st.error(plain(str(exc)))
                return
            st.session_state["fa_flash"] = f"The fairness policy of {model} is recorded in the ledger."
            st.rerun()


def policy_warning(audit: dict) -> None:
    """An audit weaker than the policy of its lock time says so, with how it falls short."""
    model = audit["definition"]["source"].get("model")
    found = judged(model).get(audit["audit_id"]) if model else None
    if found is not None and found.mark:
        st.warning(f"**{found.mark}.** Against the policy in force when it was locked "
                   f"({plain(policy_text(found.policy))}): {plain('; '.join(found.weaker))}.", icon=":material/gpp_bad:")


def definition_summary(audit: dict) -> None:
    d = audit["definition"]
    st.markdown(f"**Criteria locked** at {when(audit['defined_at'])} by {plain(audit['defined_by'])}, before any result "
                f"existed. Definition hash `{short(audit['definition_hash'])}`.")
    if audit["status"] == "completed":
        st.markdown(f"**Ran** at {when(audit['ran_at'])} by {plain(audit['ran_by'])} on {audit['n']:,} rows. "
                    f"Data SHA-256 `{short(audit['data_sha256'])}`; evidence hash `{short(audit['evidence_hash'])}`.")
    criteria = "; ".join(rule(c["name"], c["operator"], c["threshold"]) for c in d["criteria"])
    score = code(d["score"]) if d["score"] else "none"   # column names and labels come from the uploaded file
    st.caption(f"Source: {plain(d['source']['name'])} ({d['source']['rows']:,} rows) · outcome {code(d['y_true'])}, "
               f"prediction {code(d['y_pred'])}, score {score}, positive label "
               f"{code(d['pos_label'])} · sensitive: {plain(', '.join(d['sensitive']))}"
               f"{' and their intersections' if d['intersectional'] else ''} · minimum group size "
               f"{d['min_group_size']:,} · {d['bootstrap']:,} bootstrap resamples, seed {d['seed']} · "
               f"{d['confidence']:.0%} intervals · criteria: {criteria}")
    with st.expander("The locked definition and the hashes in full", icon=":material/lock:"):
        st.json({"definition_hash": audit["definition_hash"], "data_sha256": audit["data_sha256"],
                 "evidence_hash": audit["evidence_hash"], "definition": d,
                 **({"environment": audit["environment"]} if "environment" in audit else {})}, expanded=1)


def show_audit(audit: dict) -> None:
    audit_id, d = audit["audit_id"], audit["definition"]
    verdict = audit["verdict"] or "not run yet"
    st.subheader(f"{audit_id}: {plain(d['source']['name'])}")
    with st.container(horizontal=True, wrap=True):
        st.badge(f"Verdict: {verdict}", color=VERDICT_BADGES[verdict], icon=":material/balance:")
        for name, n in (audit.get("verdict_counts") or {}).items():
            if n:
                st.badge(f"{n} {name}", color=VERDICT_BADGES[name])
    policy_warning(audit)
    definition_summary(audit)
    if audit["status"] == "failed":
        st.error(plain(fairness.COULD_NOT_RUN.format(audit_id=audit_id, reason=audit["failure"]["reason"])),
                 icon=":material/block:")
        return
    if audit["status"] != "completed":
        st.info(f"{audit_id} is defined and locked but has not run yet.", icon=":material/hourglass_empty:")
        if not read_only():
            run_panel(audit)
        return
    verdict_table(audit)
    too_small(audit)
    group_chart(audit)
    verify_panel(audit_id)
    mitigation_panel(audit)


def verdict_table(audit: dict) -> None:
    st.markdown("**Verdicts**")
    # st.table renders its cells as markdown: the feature names and the group values in the explanations come from
    # the audited data, so they are shown as text
    rows = [{"feature set": plain(feature_set(c["sensitive"])),
             "criterion": rule(c["name"], c["operator"], c["threshold"]),
             "value": number(c["value"]), "95% CI": interval(c["ci_low"], c["ci_high"]), "verdict": c["verdict"],
             "explanation": plain(c["explanation"])} for c in audit["criteria"]]
    table = pd.DataFrame(rows, columns=["feature set", "criterion", "value", "95% CI", "verdict", "explanation"])
    st.table(table.style.map(verdict_fill, subset=["verdict"]), hide_index=True)
    correction = audit["correction"]
    st.caption(f"{correction['note']} Method: {correction['method']}, {correction['tests']} tests, "
               f"α = {correction['alpha']:g}. Ratios are lowest ÷ highest group (1 = equal); differences are "
               "highest − lowest (0 = equal). Pass or fail only when the interval clears the threshold at the "
               "corrected level; otherwise inconclusive.")


def too_small(audit: dict) -> None:
    d = audit["definition"]
    st.markdown("**Too small to assess**")
    small = [g for g in audit["groups"] if g["status"] == "too_small"]
    if small:
        st.markdown("\n".join(
            f"- {group_text(g['group'], g['sensitive'])}: {g['n']:,} people, fewer than {d['min_group_size']:,}; "
            "figures shown, left out of every disparity" for g in small))
    else:
        st.caption(f"None: every group has at least {d['min_group_size']:,} people.")
    left_out = list(dict.fromkeys(f"- {group_text(x['group'], c['sensitive'])}: {plain(x['reason'])}"
                                  for c in audit["criteria"] for x in c["left_out"]))
    if left_out:
        st.markdown("**Left out of a criterion** (the group is large enough, but the rate rests on too few people "
                    "or none)\n" + "\n".join(left_out))
    for note in audit["notes"]:
        if "too small to assess" not in note:
            st.caption(plain(note))


def reference_line(audit: dict, sensitive: list, metric: str, frame: pd.DataFrame) -> tuple[float, str] | None:
    """Where a criterion on this metric draws the line, measured from the highest group it compares."""
    compared = frame[(frame["status"] == "ok") & frame["left_out"].isna()]["value"].dropna()
    if compared.empty:
        return None
    top = float(compared.max())
    found = [c for c in audit["criteria"] if c["sensitive"] == sensitive and c["value"] is not None
             and metric in fm.CRITERION_BASES.get(c["name"].rsplit("_", 1)[0], ())]
    for c in sorted(found, key=lambda c: c["operator"] != ">="):    # ratios first: the four-fifths line
        if c["operator"] == ">=":
            return top * c["threshold"], f"{c['threshold']:g} × highest eligible group ({c['name']})"
        return top - c["threshold"], f"highest eligible group − {c['threshold']:g} ({c['name']})"
    return None


def group_chart(audit: dict) -> None:
    d = audit["definition"]
    st.markdown("**Per group**")
    sets = list(dict.fromkeys(feature_set(g["sensitive"]) for g in audit["groups"]))
    by_label = {feature_set(g["sensitive"]): g["sensitive"] for g in audit["groups"]}
    metrics = list(d["metrics"])
    left, right = st.columns(2)
    keep_valid("fa_set", sets, sets[0])
    chosen = left.selectbox("Feature set", sets, key="fa_set", persist_state="page")
    keep_valid("fa_metric", metrics, "selection_rate" if "selection_rate" in metrics else metrics[0])
    metric = right.selectbox("Metric", metrics, format_func=lambda m: fm.METRIC_WORDS[m], key="fa_metric",
                             persist_state="page")
    sensitive = by_label[chosen]
    frame = fairness.group_table(audit, sensitive=sensitive)
    frame = frame[frame["metric"] == metric].reset_index(drop=True)
    words = fm.METRIC_WORDS[metric]
    left_out = {group_label(x["group"], c["sensitive"]): x["reason"].split(":")[0]
                for c in audit["criteria"] if c["sensitive"] == sensitive
                for x in c["left_out"] if words in x["reason"]}
    frame["left_out"] = frame["group"].map(left_out)
    st.plotly_chart(group_metric_chart(frame, metric=fm.METRIC_WORDS[metric], feature_set=chosen,
                                       min_group_size=d["min_group_size"],
                                       reference=reference_line(audit, sensitive, metric, frame)), theme=None)
    with st.expander("The figures behind the chart"):
        st.dataframe(pd.DataFrame({
            "group": frame["group"], "people": frame["n"],
            "status": frame["status"].map({"ok": "assessed", "too_small": "too small"}),
            fm.METRIC_WORDS[metric]: frame["value"].map(number),
            "95% CI": [interval(lo, hi) for lo, hi in zip(frame["ci_low"], frame["ci_high"])],
            "note": [reason or (f"left out of criteria: {note}" if isinstance(note, str) else "")
                     for reason, note in zip(frame["reason"], frame["left_out"])]}), hide_index=True)


def verify_panel(audit_id: str) -> None:
    clicked = st.button("Verify this audit", icon=":material/verified:", key="fa_verify",
                        help="Recheck the definition and evidence hashes, rehash the data and recompute the results.")
    slot = st.container()  # always there, so what follows keeps its place (an open expander stays open)
    if clicked:
        st.session_state["fa_verified"] = (audit_id, fairness.verify_audit(get_store(), audit_id=audit_id))
    checked = st.session_state.get("fa_verified")
    if not checked or checked[0] != audit_id:
        return
    result = checked[1]
    lines = "\n".join(f"- {':material/check_circle:' if c['ok'] else ':material/cancel:'} {c['check']}: "
                      + ("matches" if c["ok"] else f"DOES NOT MATCH ({plain(c['detail'] or 'differs')})")
                      for c in result["checks"])
    lines += "".join(f"\n- :material/help: not recomputed: {plain(n['what'])}, because {plain(n['why'])}"
                     for n in result["not_recomputed"])
    verdict = ("a check does not match" if not result["ok"] else "every check matches" if result["recomputed"]
               else "every check made matches, but not everything could be recomputed")
    (slot.success if result["ok"] and result["recomputed"] else slot.warning if result["ok"] else slot.error)(
        f"{audit_id}: {verdict}.\n\n{lines}")


def _preview(store, *, audit_id: str, sensitive: tuple, criterion: str, seed: int) -> dict:
    """The mitigation what-if of one failing criterion of an evaluation-set audit (cached by the caller)."""
    rows = fairness.audit_rows(store, audit_id=audit_id)
    return mitigation_preview(rows=rows, sensitive=list(sensitive), criterion=criterion, seed=seed)


def mitigation_panel(audit: dict) -> None:
    audit_id, d = audit["audit_id"], audit["definition"]
    failing = [c for c in audit["criteria"] if c["verdict"] == "fail"]
    if not failing:
        return
    with st.expander("Mitigation preview (what-if) for a failing criterion", icon=":material/science:"):
        st.info(WHAT_IF, icon=":material/science:")
        options = {f"{feature_set(c['sensitive'])} · {rule(c['name'], c['operator'], c['threshold'])}":
                   (tuple(c["sensitive"]), f"{c['name']}{c['operator']}{c['threshold']:g}") for c in failing}
        keep_valid("fa_mitigate", list(options), next(iter(options)))
        pick = st.selectbox("Failing criterion and feature set", list(options), key="fa_mitigate")
        sensitive, criterion = options[pick]
        key = (audit_id, sensitive, criterion)
        if st.button("Preview mitigation", icon=":material/play_arrow:"):
            try:
                if d["source"]["kind"] == "evaluation_set":
                    result = cached(_preview, audit_id=audit_id, sensitive=sensitive, criterion=criterion,
                                    seed=d["seed"])
                else:
                    rows = fairness.audit_rows(get_store(), audit_id=audit_id,
                                               data=st.session_state.get("fa_files", {}).get(audit_id))
                    result = mitigation_preview(rows=rows, sensitive=list(sensitive), criterion=criterion,
                                                seed=d["seed"])
            except GovernanceError as exc:
                st.error(plain(exc))
                return
            st.session_state["fa_preview"] = (key, result)
        stored = st.session_state.get("fa_preview")
        if stored and stored[0] == key:
            show_preview(stored[1])


def show_preview(preview: dict) -> None:
    name = preview["criterion"].split(">")[0].split("<")[0]
    before, after = preview["before"], preview["after"]
    st.table(pd.DataFrame({
        "": ["accuracy", name, f"meets {symbols(preview['criterion'])}"],
        "model as deployed": [percent(before["accuracy"]), number(before[name]), "yes" if before["passes"] else "no"],
        "what-if thresholds": [percent(after["accuracy"]), number(after[name]), "yes" if after["passes"] else "no"],
    }), hide_index=True)
    st.plotly_chart(mitigation_chart(preview), theme=None)
    st.caption(f"Constraint: {preview['constraint']}. Thresholds fitted on {preview['rows_fitted']:,} rows and "
               f"judged on the other {preview['rows_judged']:,}. {preview['note']}")


# --- running a locked audit ------------------------------------------------------------------------------------------
def run_now(audit_id: str, *, data: AuditData | None, bootstrap: int) -> None:
    """Run a locked audit with a progress bar, as the signed-in person; on success open its result under Audits."""
    bar = st.progress(0.0, text=f"Bootstrap: 0 of {bootstrap:,} resamples")

    def progress(fraction: float) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"Bootstrap: {round(fraction * bootstrap):,} of "
                                                        f"{bootstrap:,} resamples")
    try:
        result = fairness.run_audit(get_store(), audit_id=audit_id, actor=current_user(), data=data,
                                    progress=progress)
    except GovernanceError as exc:
        bar.empty()
        st.error(plain(exc))
        return
    st.session_state.pop("fa_locked", None)
    st.session_state["fa_goto"] = audit_id
    counts = ", ".join(f"{n} {v}" for v, n in result["verdict_counts"].items() if n)
    st.session_state["fa_flash"] = f"{audit_id} ran on {result['n']:,} rows: verdict {result['verdict']} ({counts})."
    st.rerun()


def run_panel(audit: dict) -> None:
    """Run an audit that is locked but has not run (from this session or an earlier one)."""
    audit_id, d = audit["audit_id"], audit["definition"]
    data = st.session_state.get("fa_files", {}).get(audit_id)
    if d["source"]["kind"] == "file" and data is None:
        upload = st.file_uploader(f"{audit_id} reads the file {plain(repr(d['source']['name']))}: give that same "
                                  "file to run it",
                                  type="csv", key=f"fa_rerun_file_{audit_id}")
        if upload is None:
            return
        try:
            data = read_csv_data(content=upload.getvalue(), name=d["source"]["name"], y_true=d["y_true"],
                                 y_pred=d["y_pred"], sensitive=d["sensitive"], score=d["score"],
                                 pos_label=d["pos_label"])
        except GovernanceError as exc:
            st.error(plain(exc))
            return
    if st.button("Run audit", type="primary", icon=":material/play_arrow:", key=f"fa_run_{audit_id}",
                 disabled=not can("run audit"), help=needs("run audit")):
        run_now(audit_id, data=data, bootstrap=d["bootstrap"])


# --- new audit ---------------------------------------------------------------------------------------------------
def csv_columns(content: bytes, name: str) -> list[str]:
    """The header of an uploaded CSV, to choose columns from (the rows are checked by the audit's own reader)."""
    try:
        return [str(c) for c in pd.read_csv(io.BytesIO(content), nrows=0, dtype=str).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().split("\n")[0][:160] or type(exc).__name__
        raise AuditError(UNREADABLE_CSV.format(name=name, reason=reason)) from None


@st.cache_data(show_spinner=False, max_entries=8)
def _read_upload(content: bytes, name: str, y_true: str, y_pred: str, sensitive: tuple, score: str | None,
                 pos_label: str | None) -> AuditData:
    return read_csv_data(content=content, name=name, y_true=y_true, y_pred=y_pred, sensitive=list(sensitive),
                         score=score, pos_label=pos_label)


def guess(columns: list[str], names: tuple[str, ...], fallback):
    lowered = {c.lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), fallback)


def evaluation_source() -> tuple[AuditData | None, list[str]]:
    versions = cached(list_versions)
    if versions.empty:
        st.info("No model versions in this workspace: upload a CSV file instead.")
        return None, []
    model_col, version_col = st.columns(2)
    models = sorted(versions["model"].unique())
    keep_valid("fa_new_model", models, models[0])
    model = model_col.selectbox("Model", models, key="fa_new_model", persist_state="page")
    names = versions[versions["model"] == model]["version"].tolist()
    keep_valid("fa_new_version", names, names[-1])
    version = version_col.selectbox("Version", names, key="fa_new_version", persist_state="page")
    try:
        data = cached(fairness.evaluation_set_data, model=model, version=version)
    except GovernanceError as exc:
        st.error(plain(exc))
        return None, []
    st.caption(f"{plain(data.name)}: {data.rows:,} rows, outcome `y_true`, prediction `y_pred`, score `score`, "
               f"positive label 1 · SHA-256 `{short(data.data_sha256)}`")
    attributes = list(data.attributes)
    keep_valid("fa_new_sensitive", attributes, [])
    sensitive = st.multiselect("Sensitive features", attributes, key="fa_new_sensitive", persist_state="page",
                               placeholder="choose the features to audit")
    return data, sensitive


def upload_source() -> tuple[AuditData | None, list[str]]:
    upload = st.file_uploader("CSV file: one row per person, with the outcome, the model's prediction, an optional "
                              "score and the sensitive features", type="csv", key="fa_upload")
    if upload is None:
        return None, []
    content = upload.getvalue()
    try:
        columns = csv_columns(content, upload.name)
    except GovernanceError as exc:
        st.error(plain(exc))
        return None, []
    if len(columns) < 3:
        st.error(f"{plain(upload.name)} has {len(columns)} column(s): an audit needs an outcome, a prediction and "
                 "at least one sensitive feature.")
        return None, []
    true_col, pred_col, score_col, label_col = st.columns(4)
    y_true = true_col.selectbox("Outcome column", columns, index=columns.index(
        guess(columns, ("y_true", "label", "outcome", "target", "actual"), columns[0])))
    y_pred = pred_col.selectbox("Prediction column", columns, index=columns.index(
        guess(columns, ("y_pred", "prediction", "predicted", "pred"), columns[min(1, len(columns) - 1)])))
    scores = [NO_SCORE] + columns
    score = score_col.selectbox("Score column (probability)", scores, index=scores.index(
        guess(columns, ("score", "probability", "proba", "prob"), NO_SCORE)))
    pos_label = label_col.text_input("Positive label", help="The favourable outcome, e.g. '>50K' or 'good'. "
                                     "Leave empty when outcome and prediction are 0/1.")
    others = [c for c in columns if c not in (y_true, y_pred, score)]
    sensitive = st.multiselect("Sensitive features", others, placeholder="choose the features to audit")
    if not sensitive:
        st.info("Choose at least one sensitive feature: the file is checked once you do.")
        return None, []
    try:
        data = _read_upload(content, upload.name, y_true, y_pred, tuple(sensitive),
                            None if score == NO_SCORE else score, pos_label.strip() or None)
    except GovernanceError as exc:
        st.error(plain(exc))
        return None, sensitive
    st.caption(f"{plain(upload.name)}: {data.rows:,} rows, checked · positive label {code(data.pos_label)} · SHA-256 "
               f"`{short(data.data_sha256)}`")
    for note in data.notes:
        st.info(plain(note))
    return data, sensitive


def criteria_editor(*, key: str = "fa_criteria", initial=None,
                    title: str = "**Criteria** (locked with the definition)") -> list[str]:
    initial = fairness.parse_criteria(fairness.DEFAULT_CRITERIA) if initial is None else initial
    defaults = pd.DataFrame([{"criterion": c.name, "threshold": c.threshold} for c in initial])
    st.markdown(title)
    edited = st.data_editor(defaults, key=key, num_rows="dynamic", hide_index=True, column_config={
        "criterion": st.column_config.SelectboxColumn("Criterion", options=fairness.CRITERION_NAMES, width="large"),
        "threshold": st.column_config.NumberColumn("Threshold", min_value=0.0, max_value=1.0, step=0.01)})
    texts = []
    for row in edited.itertuples(index=False):
        name, threshold = row.criterion, row.threshold
        if (name is None or pd.isna(name)) and (threshold is None or pd.isna(threshold)):
            continue
        if name is None or pd.isna(name) or threshold is None or pd.isna(threshold):
            raise AuditError("every criterion needs a name and a threshold: complete or delete the unfinished row")
        operator = ">=" if str(name).endswith("_ratio") else "<="
        texts.append(f"{name}{operator}{np.format_float_positional(float(threshold), trim='-')}")
    st.caption("The operator follows the name: a ratio (lowest ÷ highest group, 1 = equal) must be ≥ its threshold, "
               "a difference (highest − lowest, 0 = equal) ≤ it. "
               + ("Locks: " + "; ".join(symbols(t) for t in texts) if texts else ""))
    return texts


def new_audit_tab() -> None:
    if read_only_note():
        return
    locked = st.session_state.get("fa_locked")
    if locked:
        locked_panel(locked)
        return
    st.markdown("**Step 1 of 2: define the audit and lock it.** The definition is stored, with its hash, before "
                "any result exists; a changed definition is a new audit.")
    kind = st.radio("Source", (EVALUATION_SET, UPLOAD), horizontal=True, key="fa_source", persist_state="page")
    data, sensitive = evaluation_source() if kind == EVALUATION_SET else upload_source()
    if data is None:
        return
    intersectional = st.checkbox("Also audit intersections (e.g. sex × race)", key="fa_new_intersectional",
                                 disabled=len(sensitive) < 2, persist_state="page")
    available = list(fm.ALL_METRICS if data.score else fm.RATE_METRICS)
    metrics = st.multiselect("Metrics per group", available, default=available,
                                format_func=lambda m: fm.METRIC_WORDS[m], key=f"fa_new_metrics_{bool(data.score)}")
    try:
        # an evaluation-set audit starts from its model's policy: the bar it must clear to count
        bar = (cached(fairness_policy.policy_in_force, model=data.model).criteria
               if data.kind == "evaluation_set" else None)
        criteria = criteria_editor(key=f"fa_criteria_{data.model}" if bar else "fa_criteria", initial=bar)
    except GovernanceError as exc:
        st.error(plain(exc))
        return
    size_col, boot_col, seed_col = st.columns(3)
    min_group_size = size_col.number_input("Minimum group size", min_value=1, max_value=1_000_000,
                                           value=fairness.DEFAULT_MIN_GROUP_SIZE, step=1, key="fa_new_min_group")
    bootstrap = boot_col.number_input("Bootstrap resamples", min_value=fairness.MIN_BOOTSTRAP,
                                      max_value=fairness.MAX_BOOTSTRAP, value=fairness.DEFAULT_BOOTSTRAP, step=100,
                                      key="fa_new_bootstrap")
    seed = seed_col.number_input("Seed", min_value=0, max_value=2**32 - 1, value=fairness.DEFAULT_SEED, step=1,
                                 key="fa_new_seed")
    if not st.button("Lock definition", type="primary", icon=":material/lock:", disabled=not can("run audit"),
                     help=needs("run audit")):
        return
    try:
        definition = fairness.make_definition(
            data=data, sensitive=sensitive, criteria=criteria, metrics=metrics or None,
            intersectional=intersectional and len(sensitive) > 1, min_group_size=int(min_group_size),
            bootstrap=int(bootstrap), seed=int(seed))
        audit_id = fairness.define_audit(get_store(), definition=definition, actor=current_user())
    except GovernanceError as exc:
        st.error(plain(exc))
        return
    if data.kind == "file":  # a file audit runs on the same bytes: keep them for step 2
        st.session_state.setdefault("fa_files", {})[audit_id] = data
    st.session_state["fa_locked"] = {"audit_id": audit_id}
    st.rerun()


def locked_panel(locked: dict) -> None:
    audit_id = locked["audit_id"]
    audit = cached(fairness.get_audit, audit_id=audit_id)
    if audit["status"] == "failed":   # its run broke: closed for good, shown with the reason
        st.session_state.pop("fa_locked", None)
        show_audit(audit)
        return
    st.success(f"Step 1 of 2 done: {audit_id} is locked. Its definition hash is `{audit['definition_hash']}`; "
               "it can no longer change.", icon=":material/lock:")
    definition_summary(audit)
    st.markdown("**Step 2 of 2: run it.**")
    run_col, other_col = st.columns([1, 3])
    if run_col.button("Run audit", type="primary", icon=":material/play_arrow:", key="fa_run_locked",
                      disabled=not can("run audit"), help=needs("run audit")):
        run_now(audit_id, data=st.session_state.get("fa_files", {}).get(audit_id),
                bootstrap=audit["definition"]["bootstrap"])
    if other_col.button("Define another audit instead", key="fa_unlock",
                        help="This one stays in the history, locked and not run; it can run from there later."):
        st.session_state.pop("fa_locked", None)
        st.rerun()


# --- compare -----------------------------------------------------------------------------------------------------
def compare_tab() -> None:
    audits = cached(fairness.list_audits)
    done = audits[audits["verdict"].isin(RAN)]
    if len(done) < 2:
        st.info("Comparing needs two audits that have run.")
        return
    ids = done["audit_id"].tolist()
    names = {r.audit_id: f"{r.audit_id} · {r.source_name} · {r.sensitive} · {r.verdict}"
             for r in done.itertuples(index=False)}
    a_col, b_col = st.columns(2)
    keep_valid("fa_cmp_a", ids, "FA-0001" if "FA-0001" in ids else ids[-1])
    keep_valid("fa_cmp_b", ids, "FA-0002" if "FA-0002" in ids else ids[0])
    a = a_col.selectbox("Audit A", ids, format_func=names.get, key="fa_cmp_a", persist_state="page")
    b = b_col.selectbox("Audit B", ids, format_func=names.get, key="fa_cmp_b", persist_state="page")
    if a == b:
        st.warning("Choose two different audits.")
        return
    with st.container(horizontal=True, wrap=True):
        for tag, audit_id in (("A", a), ("B", b)):
            verdict = done.set_index("audit_id").loc[audit_id, "verdict"]
            st.badge(f"{tag} · {audit_id}: {verdict}", color=VERDICT_BADGES[verdict])
    frame = cached(fairness.compare_audits, a=a, b=b)
    absent = "not in this audit"
    table = pd.DataFrame({
        "feature set": frame["sensitive"], "criterion": frame["criterion"].map(symbols),
        f"A value ({a})": frame["value_a"].map(number),
        "A 95% CI": [interval(lo, hi) for lo, hi in zip(frame["ci_low_a"], frame["ci_high_a"])],
        "A verdict": frame["verdict_a"].fillna(absent),
        f"B value ({b})": frame["value_b"].map(number),
        "B 95% CI": [interval(lo, hi) for lo, hi in zip(frame["ci_low_b"], frame["ci_high_b"])],
        "B verdict": frame["verdict_b"].fillna(absent)})
    table.loc[frame["verdict_a"].isna(), ["A value (" + a + ")", "A 95% CI"]] = absent
    table.loc[frame["verdict_b"].isna(), ["B value (" + b + ")", "B 95% CI"]] = absent
    st.dataframe(table.style.map(verdict_fill, subset=["A verdict", "B verdict"]), hide_index=True)
    st.caption("Matched on feature set and criterion. Each audit's verdict is its own, judged with its own "
               "Holm correction; overlapping intervals do not make a difference significant.")
    chart = frame.assign(row=table["feature set"] + " · " + table["criterion"],
                         threshold=frame["criterion"].str.rsplit(" ", n=1).str[-1].astype(float))
    st.plotly_chart(audit_comparison_chart(chart, label_a=f"A: {a}", label_b=f"B: {b}"), theme=None)


def body() -> None:
    goto = st.session_state.pop("fa_goto", None)
    if goto:  # an audit that just ran opens under Audits
        st.session_state.update({"fa_tab": TABS[0], "fa_model": ALL, "fa_version": ALL, "fa_audit": goto})
    arrive_from_link({"audit": "fa_audit"}, also={"fa_model": ALL, "fa_version": ALL, "fa_tab": TABS[0]})
    lazy_tabs("fa_tab", dict(zip(TABS, (audits_tab, new_audit_tab, compare_tab))))


render_page("Fairness", body, caption="Do groups of people get equally good decisions? Audits with criteria locked "
                                      "before the numbers are seen.")
