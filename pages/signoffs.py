import time
import uuid
from datetime import timedelta

import pandas as pd
import streamlit as st

from components import signoff_views as views
from components.as_of import read_only, read_only_note, record_then, versions_then
from components.auth import can, current_user, needs, session_auth, sign_out
from components.formatting import plain
from components.page import keep_valid, lazy_tabs, render_page
from components.workspace import cached, get_store
from governance.access import identity
from governance.decisions import committee, release_gate, review_evidence, review_state, stage_changes, stages, voting
from governance.errors import GovernanceError
from governance.monitoring.inventory import list_versions
from governance.record import clock, ledger

TABS = ("My queue", "Reviews", "Request a review", "Stage gates", "Ledger")
ALL = "All models"
VOTE, REQUEST, CONDITION, STAGE = "vote", "request review", "update condition", "change stage"
VOTE_LABELS = {"approve": "Approve", "approve_with_conditions": "Approve with conditions", "reject": "Reject",
               "abstain": "Abstain", "recuse": "Recuse"}


def allowed(action: str) -> dict:
    """Arguments that grey a write control out, saying which role it needs; the services enforce it anyway."""
    if read_only():
        return {"disabled": True, "help": "The record as it stood on a past day is read-only."}
    return {"disabled": False} if can(action) else {"disabled": True, "help": needs(action)}



def flash() -> None:
    message = st.session_state.pop("so_flash", None)
    if message:
        st.success(message, icon=":material/task_alt:")


def run(action, message) -> None:
    """Do one write; on success rerun showing `message` (a text, or made from the action's result)."""
    try:
        result = action()
    except GovernanceError as exc:
        st.error(plain(str(exc)))
        return
    st.session_state["so_flash"] = message(result) if callable(message) else message
    st.rerun()


def open_review(review_id: str) -> None:
    """Show a review in the Reviews tab on the next run (a callback, or before the tabs are drawn)."""
    st.session_state["so_goto"] = review_id


def follow_links() -> None:
    """?review=RV-0001 opens that review once; so does a button that asked for one."""
    wanted = st.query_params.get("review")
    if wanted and st.session_state.get("so_link_seen") != wanted:
        st.session_state["so_link_seen"] = wanted
        st.session_state["so_goto"] = wanted
    goto = st.session_state.pop("so_goto", None)
    if goto:
        st.session_state["so_tab"] = "Reviews"
        st.session_state["so_review"] = goto
        st.session_state["so_f_model"] = ALL


def on_committee(user) -> bool:
    return cached(committee.on_committee, user_name=user.user_name)


# --- my queue --------------------------------------------------------------------------------------------------
def queue_tab() -> None:
    if read_only_note():   # the queue is what awaits a vote now; the Reviews tab shows the reviews as they stood
        return
    user = current_user()
    if not identity.allowed(user, VOTE):
        st.info(f"You act as {plain(user.role)}: only committee members and the committee chair vote, so nothing "
                "awaits your signature. The Reviews tab shows every review.", icon=":material/info:")
        return
    if not on_committee(user):
        st.info(plain(committee.NOT_ON_COMMITTEE.format(who=user.display_name, role=user.role)),
                icon=":material/group_off:")
        return
    waiting = cached(review_state.queue, user=user)
    if not waiting:
        st.success("Nothing awaits your vote.", icon=":material/done_all:")
        return
    st.markdown(f"**{len(waiting)} review(s) await your vote**, oldest first.")
    st.dataframe(views.queue_frame(waiting), hide_index=True, key="so_queue")
    for r in waiting:
        a, b = st.columns([4, 1], vertical_alignment="center")
        a.markdown(plain(f"{r['review_id']} · {r['model']} {r['version']} → {r['gate']}, requested "
                         f"{views.when(r['requested_at'])} by {r['requested_by']}"))
        b.button("Open", key=f"so_open_{r['review_id']}", on_click=open_review, args=(r["review_id"],),
                 icon=":material/open_in_new:")


# --- reviews ---------------------------------------------------------------------------------------------------
def reviews_tab() -> None:
    flash()
    then = record_then()
    everything = cached(review_state.list_reviews) if then is None else then.reviews
    if not everything:
        st.info("No reviews yet: an engineering leader, risk owner, the chair or an admin requests one in the "
                "'Request a review' tab.", icon=":material/inbox:")
        return
    models = [ALL] + sorted({r["model"] for r in everything})
    keep_valid("so_f_model", models, ALL)
    model = st.selectbox("Model", models, key="so_f_model")
    rows = [r for r in everything if model == ALL or r["model"] == model]
    st.dataframe(views.reviews_frame(rows), hide_index=True, key="so_reviews")
    labels = {r["review_id"]: f"{r['review_id']} · {r['model']} {r['version']} → {r['gate']}" for r in rows}
    ids = list(labels)
    keep_valid("so_review", ids, ids[0])
    review_id = st.selectbox("Review", ids, format_func=labels.get, key="so_review")
    st.query_params["review"] = review_id
    st.session_state["so_link_seen"] = review_id
    detail(cached(review_state.review, review_id=review_id) if then is None else
           cached(review_state.review, review_id=review_id, today=then.day, before=then.before))


def approved(decision: dict | None) -> bool:
    return bool(decision) and decision["outcome"] != "rejected"


def header(r: dict) -> None:
    st.subheader(f"{r['review_id']} · {plain(r['model'])} {plain(r['version'])}: {r['from_stage']} → {r['gate']}")
    outcome = (r["decision"] or {}).get("outcome")
    text, color = views.OUTCOME_BADGES.get(outcome, (str(outcome), "gray"))
    validity = r["validity"]
    a, b = st.columns([1, 3])
    with a:
        st.badge(text, color=color)
        st.caption(f"Validity: {views.validity_text(validity['state'], validity['flagged'])}")
    with b:
        st.markdown(f"Requested by {plain(r['requested_by'])} at {views.when(r['requested_at'])}; evidence as of "
                    f"{r['as_of']}" + (f"; valid until {r['decision']['valid_until']}" if approved(r["decision"]) else ""))
    reasons = "\n".join(f"- {plain(reason)}" for reason in validity["reasons"])
    if validity["re_review_required"]:
        st.error(f"**{review_state.RE_REVIEW}** ({validity['state']}):\n{reasons}", icon=":material/replay:")
    elif validity["flagged"]:
        st.warning(f"**Flagged**:\n{reasons}", icon=":material/flag:")
    elif validity["state"] == "valid":
        st.success(f"Valid until {r['decision']['valid_until']}.", icon=":material/verified:")
    st.markdown("**Evidence hash (SHA-256 of the frozen evidence)**")
    st.code(r["evidence_hash"], language=None)


def detail(r: dict) -> None:
    header(r)
    st.markdown("#### Frozen evidence")
    views.show_evidence(r["evidence"], key=f"so_ev_{r['review_id']}")
    votes_section(r)
    conditions_section(r)
    if not read_only():
        vote_form(r)


def votes_section(r: dict) -> None:
    st.markdown("#### Votes")
    st.caption(f"Tally: {views.tally_line(r['tally'])}")
    decision = r["decision"]
    if decision:
        left, right = st.columns(2)
        with left:
            st.markdown(f"**Decision: {views.outcome_text(decision['outcome'])}** at {views.when(decision['decided_at'])}"
                        + (f", valid until {decision['valid_until']}" if approved(decision) else ""))
        with right:
            if decision["dissent"]:
                st.markdown("**Dissent**\n" + "\n".join(
                    f"- {plain(d['printed_name'])} ({voting.MEANINGS.get(d['vote'], plain(d['vote']))}): "
                    f"{plain(d['reason'])}"
                    for d in decision["dissent"]))
            else:
                st.markdown("**Dissent**: none")
    if not r["votes"]:
        st.caption("No votes yet.")
        return
    st.dataframe(views.votes_frame(r["votes"]), hide_index=True, key=f"so_votes_{r['review_id']}")
    for v in r["votes"]:
        views.manifest(v)


def conditions_section(r: dict) -> None:
    if not r["conditions"]:
        return
    st.markdown("#### Conditions")
    st.dataframe(views.conditions_frame(r["conditions"]), hide_index=True, key=f"so_conditions_{r['review_id']}")
    still_open = [c["condition_id"] for c in r["conditions"] if c["status"] == "open"]
    if not still_open or read_only():
        return
    with st.form(f"so_condition_{r['review_id']}"):
        st.markdown("**Mark a condition met or waived**")
        st.caption(plain(review_state.OWN_CONDITION_RULE))
        a, b = st.columns(2)
        condition_id = a.selectbox("Condition", still_open, key=f"so_c_id_{r['review_id']}")
        status = b.radio("Becomes", review_state.CONDITION_STATUSES, horizontal=True,
                         key=f"so_c_status_{r['review_id']}")
        reason = st.text_input("Reason (required)", max_chars=voting.MAX_REASON, key=f"so_c_reason_{r['review_id']}")
        submitted = st.form_submit_button("Record", **allowed(CONDITION))
    if submitted:
        run(lambda: review_state.update_condition(get_store(), condition_id=condition_id, status=status, reason=reason,
                                                  actor=current_user()), f"{condition_id} is now {status}.")


# --- voting ----------------------------------------------------------------------------------------------------
def reauthentication(user) -> tuple[dict | None, bool]:
    """(the reauth for voting.vote, whether the form may be shown): the service's rule for this signer in the
    app; an identity-provider sign-in must also be recent, which only this session knows."""
    auth = session_auth() or {}
    try:
        method = voting.reauthentication_method(get_store(), signer=user, where="app")
    except GovernanceError as exc:
        st.warning(plain(str(exc)), icon=":material/lock:")
        return None, False
    if method == "oidc":
        age = time.time() - float(auth.get("signed_in_at") or 0)
        if age > voting.SIGNING_FRESHNESS_SECONDS:
            st.warning(f"Your sign-in with the identity provider is {round(age / 60)} minutes old; signing needs one "
                       f"from the last {voting.SIGNING_FRESHNESS_SECONDS // 60} minutes: sign in again.",
                       icon=":material/lock_clock:")
            if st.button("Sign in again", key="so_signin_again", icon=":material/login:"):
                sign_out()
                st.logout()
                st.rerun()
            return None, False
        return {"method": "oidc", "signed_in_at": auth.get("signed_in_at")}, True
    if method == "demo":
        return {"method": "demo"}, True
    return {"method": "password"}, True


def conditions_editor(review_id: str) -> list[dict]:
    """The grid of conditions in the vote form; its rows as records."""
    users = [u.user_name for u in cached(identity.list_users)]
    start = pd.DataFrame({"text": pd.Series(dtype="str"), "owner": pd.Series(dtype="str"),
                          "due": pd.Series(dtype="datetime64[ns]")})
    edited = st.data_editor(start, key=f"so_v_conditions_{review_id}", num_rows="dynamic", hide_index=True,
                            column_config={
                                "text": st.column_config.TextColumn("Condition", max_chars=voting.MAX_CONDITION),
                                "owner": st.column_config.SelectboxColumn("Owner", options=users),
                                "due": st.column_config.DateColumn("Due", min_value=clock.today(),
                                                                   default=clock.today() + timedelta(days=30))})
    return edited.to_dict("records")   # read on Sign by views.conditions_from_grid, which names a row lacking a field


def vote_form(r: dict) -> None:
    user = current_user()
    review_id = r["review_id"]
    reason_not = voting.why_no_vote(get_store(), review=r, user=user)
    st.markdown("#### Your vote")
    if reason_not:
        st.caption(plain(reason_not))
        return
    reauth, shown = reauthentication(user)
    if not shown:
        return
    choice = st.radio("Vote", voting.VOTES, format_func=VOTE_LABELS.get, horizontal=True,
                      key=f"so_v_vote_{review_id}")
    submission = st.session_state.setdefault(f"so_v_submission_{review_id}", uuid.uuid4().hex)
    with st.form(f"so_vote_{review_id}"):
        st.markdown(f"Signing as **{plain(user.display_name)}** ({plain(user.role)}), "
                    f"meaning **{voting.MEANINGS[choice]}**, over evidence SHA-256 `{r['evidence_hash']}`.")
        reason = st.text_area("Reason (required)", max_chars=voting.MAX_REASON, key=f"so_v_reason_{review_id}")
        rows = conditions_editor(review_id) if choice == "approve_with_conditions" else []
        if reauth["method"] == "password":
            reauth = {"method": "password", "password": st.text_input(
                "Your password (re-enter it to sign)", type="password", key=f"so_v_password_{review_id}")}
        elif reauth["method"] == "demo":
            st.caption("Demo mode signs without a password: the demo people have none.")
        else:
            st.caption("Signed with your recent identity-provider sign-in.")
        submitted = st.form_submit_button("Sign", type="primary", icon=":material/draw:", **allowed(VOTE))
    if submitted:
        run(lambda: voting.vote(get_store(), review_id=review_id, actor=current_user(), vote=choice, reason=reason,
                                conditions=views.conditions_from_grid(rows), reauth=reauth,
                                idempotency_key=submission), signed)


def signed(result: dict) -> str:
    s = result["signature"]
    lines = [(f"Already signed: this submission was recorded once, at {views.when(s['signed_at'])}; nothing was "
              "signed twice." if result["retried"] else
              f"Signed: {plain(s['printed_name'])} ({plain(s['role'])}) {s['meaning']} {s['review_id']} at "
              f"{views.when(s['signed_at'])}.")]
    if result["decision"]:
        d = result["decision"]
        lines.append(f"Decision reached: **{views.outcome_text(d['outcome'])}** ({d['tally']['approvals']} for, "
                     f"{d['tally']['rejections']} against), valid until {d['valid_until']}.")
    return "  \n".join(lines)


# --- requesting ------------------------------------------------------------------------------------------------
def request_tab() -> None:
    flash()
    if read_only_note():
        return
    if not can(REQUEST):
        st.info(f"Requesting a review: {needs(REQUEST)} You can preview the evidence.", icon=":material/lock:")
    versions = cached(list_versions)
    if versions.empty:
        st.info("No model versions yet: register one first.")
        return
    a, b, c, d = st.columns(4)
    models = sorted(versions["model"].unique())
    keep_valid("so_r_model", models, models[0])
    model = a.selectbox("Model", models, key="so_r_model")
    mine = versions[versions["model"] == model]
    keep_valid("so_r_version", list(mine["version"]), mine["version"].iloc[-1])
    version = b.selectbox("Version", list(mine["version"]), key="so_r_version")
    row = mine[mine["version"] == version].iloc[0]
    gate = stages.next_stage(row["stage"])
    if gate is None:
        c.selectbox("Gate", [row["stage"]], disabled=True, key="so_r_gate_none")
        st.info(f"{plain(model)} {plain(version)} is in {row['stage']!r}: there is no further stage to review it for.")
        return
    c.selectbox("Gate", [gate], key=f"so_r_gate_{gate}",
                help=f"{plain(model)} {plain(version)} is in {row['stage']!r}: only its next stage can be requested.")
    newest = None if pd.isna(row["last_ts"]) else pd.Timestamp(row["last_ts"]).date()
    as_of = d.date_input("Evidence as of", value=newest or clock.today(), key=f"so_r_as_of_{model}_{version}",
                         help="The day the evidence is taken up to; by default the version's newest telemetry.")
    try:
        evidence = cached(review_evidence.gather_evidence, model=model, version=version, as_of=as_of)
    except GovernanceError as exc:
        st.error(plain(str(exc)))
        return
    st.markdown("**Evidence that would be frozen** — SHA-256:")
    st.code(review_evidence.evidence_hash(evidence), language=None)
    views.show_evidence(evidence, key="so_preview")
    submission = st.session_state.setdefault("so_r_submission", uuid.uuid4().hex)
    if st.button("Request review", type="primary", icon=":material/send:", key="so_request", **allowed(REQUEST)):
        def request() -> dict:
            made = review_state.request_review(get_store(), model=model, version=version, gate=gate, as_of=as_of,
                                               actor=current_user(), idempotency_key=submission)
            st.session_state.pop("so_r_submission", None)
            open_review(made["review_id"])
            return made
        run(request, lambda made: f"{made['review_id']} requested: {plain(model)} {plain(version)} → {gate}, "
                                  f"evidence as of {made['as_of']}, SHA-256 {made['evidence_hash']}.")


# --- stage gates -----------------------------------------------------------------------------------------------
def gates_tab() -> None:
    flash()
    versions = cached(list_versions)
    then = record_then()
    reviews = cached(review_state.list_reviews) if then is None else then.reviews
    versions = versions_then(versions)   # as of a day: the versions registered by then, at the stage they were at
    rows = []
    for v in versions.itertuples(index=False):
        gate = stages.next_stage(v.stage)
        mine = [r for r in reviews if (r["model"], r["version"]) == (v.model, v.version)]   # newest first
        # The approval the version stands on in its current stage (the service's rule), and where the review
        # for the next one is.
        standing = review_state.standing_approval(reviews, model=v.model, version=v.version, stage=v.stage)
        newest = next((r for r in mine if r["gate"] == gate), None)
        rows.append({"model": v.model, "version": v.version, "stage": v.stage,
                     "standing": (f"{standing['review_id']}: "
                                  f"{views.validity_text(standing['validity'], standing['flagged'])}"
                                  if standing else "— (no review on record)"),
                     "gate": gate or "— (final stage)",
                     "review": (f"{newest['review_id']}: {views.outcome_text(newest['outcome'])}" if newest
                                else "no review yet" if gate else "—")})
    views.show_table(rows, {"model": "Model", "version": "Version", "stage": "Current stage",
                            "standing": "Approval for the current stage", "gate": "Next gate",
                            "review": "Newest review for it"},
                     key="so_gates", empty="No model versions yet.")
    if read_only_note():   # the checklist and the moves are today's
        return
    checklist_section(versions)
    movable = [r for r in rows if stages.next_stage(r["stage"])]
    if not movable:
        return
    labels = {f"{r['model']} {r['version']}": r for r in movable}
    with st.form("so_advance"):
        st.markdown("**Move a version to its next stage** — only when its gate passes: a valid committee approval "
                    "for it, the validation checklist above complete, and no blocking risk.")
        chosen = st.selectbox("Model version", list(labels), key="so_a_version")
        reason = st.text_input("Reason (required)", max_chars=voting.MAX_REASON, key="so_a_reason")
        target = labels[chosen]
        submitted = st.form_submit_button(f"Advance to {target['gate']}", type="primary", **allowed(STAGE))
    if submitted:
        run(lambda: stage_changes.advance_stage(get_store(), model=target["model"], version=target["version"],
                                                to_stage=target["gate"], actor=current_user(), reason=reason),
            lambda done: f"{plain(done['model'])} {plain(done['version'])}: {done['from_stage']} → "
                         f"{done['to_stage']} on {done['review_id']}.")


def checklist_section(versions) -> None:
    """A version's validation checklist (the gate needs it complete), and the attestations people record."""
    st.markdown("**Validation checklist** — with a valid approval and no blocking risk, what `python -m governance "
                "gate` needs before a version may run at a stage.")
    labels = [f"{v.model} {v.version}" for v in versions.itertuples(index=False)]
    if not labels:
        return
    keep_valid("so_c_version", labels, labels[0])
    chosen = st.selectbox("Model version", labels, key="so_c_version")
    model, version = chosen.rsplit(" ", 1)
    listed = cached(release_gate.checklist, model=model, version=version)
    for item in listed["items"]:
        icon = ":material/check_circle:" if item["done"] else ":material/radio_button_unchecked:"
        st.markdown(f"{icon} **{item['item']}**: {plain(item['detail'])}")
    may = [item for item, action in release_gate.ATTESTED.items() if can(action)]
    with st.form("so_attest", clear_on_submit=True):
        item = st.selectbox("Attest", list(release_gate.ATTESTED), key="so_c_item")
        note = st.text_input("What you checked (required)", max_chars=2000, key="so_c_note")
        submitted = st.form_submit_button("Record the attestation", disabled=not may,
                                          help=None if may else needs("run audit"))
    if submitted:
        run(lambda: release_gate.attest(get_store(), model=model, version=version, item=item, note=note,
                                        actor=current_user()),
            lambda done: f"Recorded: {done['item']} of {plain(model)} {plain(version)} by {plain(done['by'])}.")


# --- ledger ----------------------------------------------------------------------------------------------------
def ledger_tab() -> None:
    if st.button("Verify now", key="so_verify", icon=":material/fact_check:"):
        st.session_state["so_verify_attempt"] = st.session_state.get("so_verify_attempt", 0) + 1
    result = cached(views.verify_ledger, attempt=st.session_state.get("so_verify_attempt", 0))
    chains = result["chains"]
    if result["ok"]:
        st.success(f"The ledger is intact: {result['entries']:,} entries and "
                   f"{chains['risk register']['rows']:,} risk register events; every hash, link and signature "
                   "checks, the anchor matches, and stages and the committee agree with the ledger.",
                   icon=":material/verified_user:")
    for problem in result["problems"]:
        st.error(plain(problem), icon=":material/gpp_bad:")
    if result["key_problem"]:
        st.warning(plain(result["key_problem"]), icon=":material/key_off:")
    a, b, c = st.columns(3)
    a.metric("Ledger entries", f"{result['entries']:,}")
    b.metric("Risk register events", f"{chains['risk register']['rows']:,}")
    c.metric("Anchored at entry", "—" if result["anchor_seq"] is None else result["anchor_seq"])
    st.markdown("**Head hash**")
    st.code(result["head_hash"] or "(empty ledger)", language=None)
    st.markdown(f"**Newest {views.LEDGER_ROWS} entries**")
    then = record_then()
    entries = cached(ledger.entries) if then is None else cached(ledger.entries, before=then.before)
    if entries:
        st.dataframe(views.ledger_frame(entries), hide_index=True, key="so_ledger")
    else:
        st.caption("The ledger has no entries yet.")


def body() -> None:
    follow_links()
    lazy_tabs("so_tab", dict(zip(TABS, (queue_tab, reviews_tab, request_tab, gates_tab, ledger_tab))))


render_page("Sign-offs", body, caption="Committee reviews of stage gates: evidence frozen and hashed when requested, "
                                       "every vote a signature bound to it, all in a tamper-evident ledger.")
