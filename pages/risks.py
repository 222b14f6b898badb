import csv
from datetime import date

import pandas as pd
import streamlit as st

from components.as_of import read_only, read_only_note, record_then
from components.auth import can, current_user
from components.formatting import ABSENT, cell, day, plain, plural, timestamp
from components.page import arrive_from_link, keep_valid, lazy_tabs, render_page
from components.risk_charts import heat_map
from components.workspace import cached, get_store
from governance.access import identity
from governance.decisions import risks
from governance.errors import GovernanceError
from governance.monitoring.inventory import list_models
from governance.record import clock
from governance.record.workspace import DATA_DIR

TABS = ("Register", "Framework coverage", "Actions")
ALL = "All"
NO_CHANGE = "(no change)"
NO_SCORE = "not scored"
NO_OWNER = "(no owner yet)"
LEVELS = ("low", "medium", "high", "critical")
EDIT, ACCEPT = "edit risks", "accept risk"
EMPTY_STATE = "No risks recorded yet — add one below, import a CSV or propose risks from monitoring."
SIGN_IN_FIRST = "Sign in to change the register: until then it is read-only."
PROPOSE_HELP = ("Failing fairness audits, input drift at 'act' level and service-level breaches become proposed "
                "risks with their evidence, or evidence on an open risk of the same model and category; a finding "
                "already on record is skipped.")


def joined(values) -> str:
    return "; ".join(values) if isinstance(values, (list, tuple)) else ("" if values is None else str(values))


def shown(value) -> str:
    """A field of the risk detail: lists joined, blank when there is nothing to show."""
    return joined(value) if isinstance(value, list) else cell(value)


def is_overdue(r: dict) -> bool:
    return bool(r["review_overdue"] or r["overdue_controls"])


def allowed(action: str) -> dict:
    """Arguments that grey a write control out, saying which role it needs; the services enforce it anyway."""
    if read_only():
        return {"disabled": True, "help": "The record as it stood on a past day is read-only."}
    if can(action):
        return {"disabled": False}
    return {"disabled": True, "help": f"Needs the role {' or '.join(identity.PERMISSIONS[action])}."}


def owner_select(label: str, *, key: str, current: str | None = None, container=st) -> str | None:
    """Accounts of the workspace, shown as 'Display Name (role)'; the user name is what is stored."""
    users = {u.user_name: u.signature_name for u in cached(identity.list_users)}
    names = list(users)
    return container.selectbox(label, names, index=names.index(current) if current in users else None,
                               format_func=users.get, key=key, placeholder="Choose an account")


# --- reference data ------------------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False)
def shipped_clauses() -> pd.DataFrame:
    """The framework clauses as shipped, read without writing (the workspace loads them on first use)."""
    rows = []
    for key, (_, file_name) in risks.FRAMEWORKS.items():
        with open(DATA_DIR / file_name, newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                title = record.get("title") or record.get("topic") or record.get("outcome")
                rows.append({"framework": key, "ref_id": record["ref_id"], "title": title})
    return pd.DataFrame(rows, columns=["framework", "ref_id", "title"])


def clause_table() -> pd.DataFrame:
    if risks.frameworks_loaded(get_store()):
        return cached(risks.clauses)
    return shipped_clauses()


def clause_labels() -> dict[str, str]:
    table = clause_table()
    return {r.ref_id: f"{r.ref_id} — {r.title}" for r in table.itertuples(index=False)}


def model_names() -> list[str]:
    return cached(list_models)["name"].tolist()


# --- register ------------------------------------------------------------------------------------------------------
def register_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "risk_id": r["risk_id"], "title": r["title"], "category": r["category"], "models": joined(r["models"]),
        "owner": cell(r["owner"]), "status": r["status"], "inherent_level": r["inherent_level"],
        "inherent_score": r["inherent_score"], "residual_level": cell(r["residual_level"]),
        "residual_score": cell(r["residual_score"]), "next_review": day(r.get("next_review")),
        "review_overdue": r["review_overdue"], "overdue_controls": r["overdue_controls"]} for r in rows],
        columns=["risk_id", "title", "category", "models", "owner", "status", "inherent_level", "inherent_score",
                 "residual_level", "residual_score", "next_review", "review_overdue", "overdue_controls"])


def filters(everything: list[dict]) -> list[dict]:
    cols = st.columns([2, 2, 2, 2, 2, 2], vertical_alignment="bottom")
    models = [ALL] + model_names()
    keep_valid("rk_f_model", models, ALL)
    model = cols[0].selectbox("Model", models, key="rk_f_model")
    keep_valid("rk_f_category", [ALL, *risks.CATEGORIES], ALL)
    category = cols[1].selectbox("Category", [ALL, *risks.CATEGORIES], key="rk_f_category")
    owners = [ALL] + sorted({r["owner"] or NO_OWNER for r in everything})
    keep_valid("rk_f_owner", owners, ALL)
    owner = cols[2].selectbox("Owner", owners, key="rk_f_owner")
    keep_valid("rk_f_status", [ALL, *risks.STATUSES], ALL)
    status = cols[3].selectbox("Status", [ALL, *risks.STATUSES], key="rk_f_status")
    keep_valid("rk_f_level", [ALL, *LEVELS], ALL)
    band = cols[4].selectbox("Inherent level", [ALL, *LEVELS], key="rk_f_level")
    overdue = cols[5].checkbox("Overdue only", key="rk_f_overdue",
                               help="A review date that has passed, or a control past its due date.")
    rows = everything
    if model != ALL:
        rows = [r for r in rows if any(m.split(" ")[0] == model for m in r["models"])]
    if category != ALL:
        rows = [r for r in rows if r["category"] == category]
    if owner != ALL:
        rows = [r for r in rows if (r["owner"] or NO_OWNER) == owner]
    if status != ALL:
        rows = [r for r in rows if r["status"] == status]
    if band != ALL:
        rows = [r for r in rows if r["inherent_level"] == band]
    if overdue:
        rows = [r for r in rows if is_overdue(r)]
    return rows


def selected_cells(event) -> set[tuple[int, int]]:
    try:
        points = event.selection.points
    except AttributeError:
        points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else []
    return {(int(p["x"]), int(p["y"])) for p in points if p.get("x") is not None and p.get("y") is not None}


def heat_maps(rows: list[dict]) -> list[dict]:
    """Inherent and residual side by side; a clicked cell narrows the list to its risks."""
    left, right = st.columns(2)
    with left:
        inherent = st.plotly_chart(heat_map(rows, title="Inherent risk"), theme=None, width="content",
                                   key="rk_heat_inherent", on_select="rerun", selection_mode="points")
    with right:
        residual = st.plotly_chart(heat_map(rows, title="Residual risk (after controls)",
                                            likelihood="residual_likelihood", impact="residual_impact"),
                                   theme=None, width="content", key="rk_heat_residual", on_select="rerun",
                                   selection_mode="points")
    picked_inherent, picked_residual = selected_cells(inherent), selected_cells(residual)
    if picked_inherent:
        rows = [r for r in rows if (r["likelihood"], r["impact"]) in picked_inherent]
    if picked_residual:
        rows = [r for r in rows if (r.get("residual_likelihood"), r.get("residual_impact")) in picked_residual]
    if picked_inherent or picked_residual:
        cells = [f"inherent {x} × {y}" for x, y in sorted(picked_inherent)] + \
                [f"residual {x} × {y}" for x, y in sorted(picked_residual)]
        st.caption(f"Showing the risks in the clicked cell ({', '.join(cells)}, likelihood × impact). "
                   "Double-click the chart to clear.")
    else:
        st.caption("Likelihood × impact, counts per cell. Click a cell to list only its risks.")
    return rows


def propose_button() -> None:
    """Monitoring's findings into the register on demand; it acts as monitoring, so any editor may start it."""
    if not st.button("Propose from monitoring", key="rk_propose", icon=":material/radar:",
                     **{"help": PROPOSE_HELP, **allowed(EDIT)}):
        return
    from governance.decisions.risk_proposals import propose_from_monitoring  # reads drift and KPIs: only when asked

    run(lambda: propose_from_monitoring(get_store()), proposal_summary)


def proposal_summary(result: dict) -> str:
    lines = [f"Monitoring proposed {', '.join(result['proposed'])}." if result["proposed"]
             else "Monitoring found nothing new to propose."]
    lines += [f"Linked {plain(link['evidence'])} to {link['risk_id']}." for link in result["linked"]]
    return "  \n".join(lines)   # markdown line breaks


def register_tab() -> None:
    flash = st.session_state.pop("rk_flash", None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    if current_user() is None:
        st.info(SIGN_IN_FIRST, icon=":material/lock:")
    then = record_then()
    if then is None:
        propose_button()
    everything = cached(risks.list_risks) if then is None else then.risks
    if not everything:
        st.info(EMPTY_STATE, icon=":material/inventory_2:")
    else:
        rows = filters(everything)
        rows = heat_maps(rows)
        st.subheader("Register")
        if rows:
            st.dataframe(register_table(rows), hide_index=True, key="rk_table", column_config={
                "risk_id": "Risk", "title": "Title", "category": "Category", "models": "Models", "owner": "Owner",
                "status": "Status", "inherent_level": "Inherent level",
                "inherent_score": st.column_config.NumberColumn("Inherent score", format="%d"),
                "residual_level": "Residual level",
                "residual_score": st.column_config.TextColumn("Residual score", alignment="right"),
                "next_review": "Next review", "review_overdue": "Review overdue",
                "overdue_controls": st.column_config.NumberColumn("Overdue controls", format="%d")})
        else:
            st.info("No risk matches these filters.")
        st.download_button("Download CSV", data=risks.export_csv(rows), file_name="risks.csv", mime="text/csv",
                           icon=":material/download:", key="rk_download",
                           help="The risks listed above; cells a spreadsheet would run as formulas are neutralised.")
        detail(rows or everything)
    if read_only_note():
        return
    add_form()
    import_panel()


def records(heading: str, rows: list[dict], columns: dict[str, str], *, key: str, empty: str, wide: str = "") -> None:
    """A heading, then the rows as a table (columns: field -> heading; `wide`: the column that may wrap), or a line
    saying there are none."""
    st.markdown(f"**{heading}**")
    if rows:
        config = {field: st.column_config.TextColumn(label, width=WIDE_COLUMN_PX if field == wide else None)
                  for field, label in columns.items()}
        st.dataframe(pd.DataFrame(rows, columns=list(columns)), hide_index=True, key=key, column_config=config,
                     row_height=WRAPPING_ROW_PX if wide else None)
    else:
        st.caption(empty)


def detail(rows: list[dict]) -> None:
    st.subheader("Risk detail")
    ids = [r["risk_id"] for r in rows]
    titles = {r["risk_id"]: f"{r['risk_id']} · {r['title']}" for r in rows}
    if st.session_state.get("rk_show") in ids:   # a risk just added: the picker exists only after this
        st.session_state["rk_risk"] = st.session_state.pop("rk_show")
    keep_valid("rk_risk", ids, ids[0])
    risk_id = st.selectbox("Risk", ids, format_func=titles.get, key="rk_risk")
    then = record_then()
    r = cached(risks.get_risk, risk_id=risk_id) if then is None else next(x for x in rows if x["risk_id"] == risk_id)
    st.text(r["title"])
    if r.get("description"):
        st.text(r["description"])
    fields = [("Status", r["status"]), ("Why (accepted, closed or withdrawn)", r.get("status_reason")),
              ("Category", r["category"]), ("Models", r["models"]), ("Owner", r["owner"]),
              ("Inherent", f"{r['likelihood']} × {r['impact']} = {r['inherent_score']} ({r['inherent_level']})"),
              ("Residual", f"{r['residual_likelihood']} × {r['residual_impact']} = {r['residual_score']} "
                           f"({r['residual_level']})" if r["residual_score"] else None),
              ("Next review", day(r.get("next_review"))), ("Review overdue", "yes" if r["review_overdue"] else "no"),
              ("Clauses", r["clauses"]), ("Recorded", f"{timestamp(r['created_at'])} by {r['created_by']}")]
    st.dataframe(pd.DataFrame({"field": [f for f, _ in fields], "value": [shown(v) for _, v in fields]}),
                 hide_index=True, key="rk_fields", height=(len(fields) + 1) * 35 + 3)
    records("Controls", [{**c, "owner": cell(c.get("owner")), "due": day(c.get("due"))} for c in r["controls"]],
            {"control_id": "control", "title": "title", "owner": "owner", "due": "due", "status": "status"},
            key="rk_controls", empty="No controls yet.")
    records("Evidence", [{**e, "kind": words(e["kind"]), "note": cell(e.get("note")),
                          "linked_at": timestamp(e["linked_at"])} for e in r["evidence"]],
            {"kind": "kind", "ref": "reference", "note": "note", "linked_at": "linked", "linked_by": "by"},
            key="rk_evidence", empty="No evidence linked yet.", wide="note")
    events = cached(risks.history, risk_id=risk_id, before=None if then is None else then.before)
    st.markdown(f"**Timeline** ({plural(len(events), 'change')}, the newest last)")
    st.dataframe(timeline(events), hide_index=True, key="rk_timeline", row_height=WRAPPING_ROW_PX,
                 column_config=TIMELINE_COLUMNS, height=40 + WRAPPING_ROW_PX * min(len(events), 6))
    if then is not None:   # the past record is read-only
        return
    (proposal_form if r["status"] == "proposed" else update_form)(r)
    controls_panel(r)


WRAPPING_ROW_PX = 84   # above 4rem a row wraps its text: up to four lines of what changed and why
WIDE_COLUMN_PX = 300
# Narrow enough together for a 1280 px window, so the reason is on screen; wider windows stretch them.
TIMELINE_COLUMNS = {"when": st.column_config.TextColumn("when", width=145),
                    "who": st.column_config.TextColumn("who", width=155),
                    "what changed": st.column_config.TextColumn("what changed", width=240),
                    "reason": st.column_config.TextColumn("reason", width=240)}


def words(name: str) -> str:
    """An identifier as words: residual_likelihood -> residual likelihood."""
    return str(name).replace("_", " ")


def value_text(value) -> str:
    """A recorded value as a sentence fragment: lists joined, nothing recorded as 'not set'."""
    if value is None or value == "" or value == []:
        return "not set"
    if isinstance(value, dict):
        return ", ".join(f"{words(k)} {value_text(v)}" for k, v in value.items())
    return joined(value) if isinstance(value, list) else str(value)


def what_changed(event: dict) -> str:
    """One event of a risk's history in words: 'status: identified → assessed', 'control C1 added: …'."""
    kind, old, new = event["kind"], event["old_value"], event["new_value"]
    if kind == "created":
        return f"risk recorded: likelihood {new.get('likelihood')} × impact {new.get('impact')}, " \
               f"owner {value_text(new.get('owner'))}"
    if kind == "changed":
        return f"{words(event['field'])}: {value_text(old)} → {value_text(new)}"
    if kind == "control_added":
        details = ", ".join(part for part in (f"owner {new['owner']}" if new.get("owner") else "",
                                              f"due {day(new['due'])}" if new.get("due") else "") if part)
        return f"control {new['control_id']} added: {new['title']}" + (f" ({details})" if details else "")
    if kind == "control_changed":
        return f"control {new['control_id']} {words(event['field'] or 'status')}: {value_text(old.get('value'))} → " \
               f"{value_text(new.get('value'))}"
    if kind == "evidence_linked":
        return f"evidence linked: {words(new['kind'])} {new['ref']}" + (f": {new['note']}" if new.get("note") else "")
    return f"{words(kind)}: {value_text(new)}"


def timeline(events: list[dict]) -> pd.DataFrame:
    """The risk's history, oldest first: when, who, what changed in words, and why."""
    return pd.DataFrame([{"when": timestamp(e["at"]), "who": e["actor"], "what changed": what_changed(e),
                          "reason": e["reason"] or ABSENT} for e in events],
                        columns=["when", "who", "what changed", "reason"])


def score_options(current) -> tuple[list, int]:
    options = [NO_SCORE, 1, 2, 3, 4, 5]
    return options, options.index(current) if current in options else 0


def update_form(r: dict) -> None:
    risk_id = r["risk_id"]
    with st.form(f"rk_update_{risk_id}"):
        st.markdown(f"**Update {risk_id}** — every change is recorded with who, when and why.")
        following = sorted(risks.NEXT_STATUSES[r["status"]])
        # accepting is offered only to those who may: others would only meet the service's refusal
        statuses = [NO_CHANGE, *(s for s in following if s != "accepted" or can(ACCEPT))]
        status = st.selectbox("Status", statuses, key=f"rk_u_status_{risk_id}",
                              help=f"From {r['status']!r} a risk can go to: "
                                   f"{', '.join(following) or 'nowhere (it is final)'}. Accepting needs the "
                                   f"role {' or '.join(identity.PERMISSIONS[ACCEPT])}.")
        a, b, c, d = st.columns(4)
        likelihood = a.slider("Likelihood", 1, 5, r["likelihood"], key=f"rk_u_likelihood_{risk_id}")
        impact = b.slider("Impact", 1, 5, r["impact"], key=f"rk_u_impact_{risk_id}")
        options, index = score_options(r.get("residual_likelihood"))
        residual_likelihood = c.selectbox("Residual likelihood", options, index=index,
                                          key=f"rk_u_rlikelihood_{risk_id}")
        options, index = score_options(r.get("residual_impact"))
        residual_impact = d.selectbox("Residual impact", options, index=index, key=f"rk_u_rimpact_{risk_id}")
        a, b = st.columns(2)
        owner = owner_select("Owner", key=f"rk_u_owner_{risk_id}", current=r.get("owner"), container=a)
        current_review = date.fromisoformat(r["next_review"]) if r.get("next_review") else None
        next_review = b.date_input("Next review", value=current_review, key=f"rk_u_review_{risk_id}")
        reason = st.text_area("Reason (required)", key=f"rk_u_reason_{risk_id}", max_chars=risks.MAX_TEXT)
        submitted = st.form_submit_button("Record the change", type="primary", **allowed(EDIT))
    if not submitted:
        return
    wanted = {"status": None if status == NO_CHANGE else status, "likelihood": likelihood, "impact": impact,
              "residual_likelihood": None if residual_likelihood == NO_SCORE else residual_likelihood,
              "residual_impact": None if residual_impact == NO_SCORE else residual_impact, "owner": owner,
              "next_review": next_review.isoformat() if next_review else None}
    changes = {field: value for field, value in wanted.items()
               if not (field in ("status", "owner") and value is None) and value != r.get(field)}
    if not changes:
        st.error("Nothing changed: set a new status, score, owner or review date.")
        return
    run(lambda: risks.update_risk(get_store(), risk_id=risk_id, changes=changes, actor=current_user(),
                                  reason=reason), f"{risk_id}: recorded {', '.join(changes)}.")


def proposal_form(r: dict) -> None:
    """A proposal from monitoring becomes a risk with an owner, or is dismissed; either way with a reason."""
    risk_id = r["risk_id"]
    with st.form(f"rk_proposal_{risk_id}"):
        st.markdown(f"**Proposal {risk_id}** — accept it as an identified risk with an owner, or dismiss it.")
        owner = owner_select("Owner (when accepting)", key=f"rk_p_owner_{risk_id}", current=r.get("owner"))
        reason = st.text_area("Reason (required)", key=f"rk_p_reason_{risk_id}", max_chars=risks.MAX_TEXT)
        a, b = st.columns(2)
        accept = a.form_submit_button("Accept", type="primary", icon=":material/check:", **allowed(EDIT))
        dismiss = b.form_submit_button("Dismiss", icon=":material/close:", **allowed(EDIT))
    if accept:
        changes = {"status": "identified", **({"owner": owner} if owner and owner != r.get("owner") else {})}
        run(lambda: risks.update_risk(get_store(), risk_id=risk_id, changes=changes, actor=current_user(),
                                      reason=reason), f"{risk_id}: accepted as an identified risk.")
    if dismiss:
        run(lambda: risks.update_risk(get_store(), risk_id=risk_id, changes={"status": "dismissed"},
                                      actor=current_user(), reason=reason), f"{risk_id}: dismissed.")


def controls_panel(r: dict) -> None:
    risk_id = r["risk_id"]
    with st.expander("Add a control or link evidence", icon=":material/shield:"):
        with st.form(f"rk_control_{risk_id}"):
            st.markdown("**New control**")
            a, b, c = st.columns([3, 2, 2])
            title = a.text_input("Control", max_chars=risks.MAX_TITLE, key=f"rk_c_title_{risk_id}")
            owner = owner_select("Control owner", key=f"rk_c_owner_{risk_id}", container=b)
            due = c.date_input("Due", value=None, key=f"rk_c_due_{risk_id}")
            if st.form_submit_button("Add control", **allowed(EDIT)):
                run(lambda: risks.add_control(get_store(), risk_id=risk_id, title=title, owner=owner,
                                              due=due.isoformat() if due else None, actor=current_user()),
                    f"{risk_id}: control added.")
        open_controls = [c for c in r["controls"] if c["status"] != "done"]
        if open_controls:
            with st.form(f"rk_control_status_{risk_id}"):
                st.markdown("**Control status**")
                a, b = st.columns(2)
                control_id = a.selectbox("Control", [c["control_id"] for c in r["controls"]],
                                         format_func=lambda i: next(f"{i} · {c['title']}" for c in r["controls"]
                                                                    if c["control_id"] == i),
                                         key=f"rk_cs_id_{risk_id}")
                status = b.selectbox("New status", risks.CONTROL_STATUSES, key=f"rk_cs_status_{risk_id}")
                reason = st.text_input("Reason", key=f"rk_cs_reason_{risk_id}")
                if st.form_submit_button("Record control status", **allowed(EDIT)):
                    run(lambda: risks.update_control(get_store(), risk_id=risk_id, control_id=control_id,
                                                     status=status, actor=current_user(), reason=reason),
                        f"{risk_id}: control {control_id} is now {status}.")
        with st.form(f"rk_evidence_{risk_id}"):
            st.markdown("**Link evidence**")
            a, b = st.columns(2)
            kind = a.selectbox("Kind", risks.EVIDENCE_KINDS, key=f"rk_e_kind_{risk_id}")
            ref = b.text_input("Reference (e.g. FA-0001)", max_chars=risks.MAX_TITLE, key=f"rk_e_ref_{risk_id}")
            note = st.text_input("Note", key=f"rk_e_note_{risk_id}")
            if st.form_submit_button("Link evidence", **allowed(EDIT)):
                run(lambda: risks.link_evidence(get_store(), risk_id=risk_id, kind=kind, ref=ref, note=note,
                                                actor=current_user()), f"{risk_id}: evidence linked.")


def run(action, flash) -> None:
    """Do one write; on success rerun showing `flash` (a text, or made from the action's result)."""
    try:
        result = action()
    except GovernanceError as exc:
        st.error(plain(exc))
        return
    st.session_state["rk_flash"] = flash(result) if callable(flash) else flash
    st.rerun()


def add_form() -> None:
    st.subheader("Add a risk")
    generation = st.session_state.get("rk_new_generation", 0)  # a new form after each risk added
    labels = clause_labels()
    with st.form(f"rk_new_{generation}"):
        title = st.text_input("Title", key=f"rk_new_title_{generation}")
        description = st.text_area("Description", key=f"rk_new_description_{generation}")
        a, b = st.columns(2)
        category = a.selectbox("Category", risks.CATEGORIES, key=f"rk_new_category_{generation}")
        owner = owner_select("Owner", key=f"rk_new_owner_{generation}", container=b)
        models = st.multiselect("Models", model_names(), key=f"rk_new_models_{generation}")
        a, b = st.columns(2)
        likelihood = a.slider("Likelihood", 1, 5, 3, key=f"rk_new_likelihood_{generation}",
                              help="1 rare … 5 almost certain")
        impact = b.slider("Impact", 1, 5, 3, key=f"rk_new_impact_{generation}", help="1 minor … 5 severe")
        chosen = st.multiselect("Framework clauses", list(labels), format_func=labels.get,
                                key=f"rk_new_clauses_{generation}")
        next_review = st.date_input("Next review", value=None, key=f"rk_new_review_{generation}")
        submitted = st.form_submit_button("Add risk", type="primary", icon=":material/add:", **allowed(EDIT))
    if not submitted:
        return

    def add() -> dict:
        added = risks.add_risk(get_store(), actor=current_user(), risk=risks.NewRisk(
            title=title, description=description, category=category, owner=owner, likelihood=likelihood,
            impact=impact, models=tuple(models), clauses=tuple(chosen),
            next_review=next_review.isoformat() if next_review else None))
        st.session_state.update(rk_new_generation=generation + 1, rk_show=added["risk_id"])
        return added
    run(add, lambda added: f"{added['risk_id']} recorded.")


def import_panel() -> None:
    with st.expander("Import risks from a CSV file", icon=":material/upload_file:"):
        st.caption(f"Columns: {', '.join(risks.IMPORT_COLUMNS)}; owners are user names of accounts. Every row is "
                   "checked first: any problem and nothing is imported.")
        permission = allowed(EDIT)
        upload = st.file_uploader("CSV file", type="csv", key="rk_import_file", disabled=permission["disabled"])
        if st.button("Import", key="rk_import", **{**permission, "disabled": permission["disabled"] or upload is None}):
            try:
                added = risks.import_csv(get_store(), content=upload.getvalue(), name=upload.name,
                                         actor=current_user())
            except GovernanceError as exc:
                st.code(str(exc), language=None)  # the problems by row, as plain text
                st.error("Nothing was imported: fix the problems above and import again.")
                return
            st.session_state["rk_flash"] = f"Imported {plural(len(added), 'risk')}."
            st.rerun()


# --- coverage ------------------------------------------------------------------------------------------------------
def coverage_tab() -> None:
    a, b = st.columns([2, 1])
    keys = list(risks.FRAMEWORKS)
    framework = a.selectbox("Framework", keys, format_func=lambda k: risks.FRAMEWORKS[k][0], key="rk_framework")
    stale = b.number_input("Evidence is stale after (days)", min_value=1, max_value=3650,
                           value=risks.STALE_AFTER_DAYS, step=1, key="rk_stale")
    then = record_then()
    result = cached(risks.coverage, framework=framework, stale_after_days=int(stale),
                    **({} if then is None else {"today": then.day, "before": then.before}))
    counts = result["counts"]
    c1, c2, c3 = st.columns(3)
    c1.metric("Covered", counts["covered"], help="Mapped to a risk with a control and evidence fresher than the "
                                                 "stale limit.")
    c2.metric("Partial", counts["partial"], help="Mapped to a risk, but no control or no fresh evidence.")
    c3.metric("Gap", counts["gap"], help="No open risk is mapped to this clause.")
    table = pd.DataFrame([{"clause": c["ref_id"], "title": c["title"], "status": c["status"],
                           "risks": joined(c["risks"]), "has control": c["has_control"],
                           "fresh evidence": c["has_fresh_evidence"]} for c in result["clauses"]],
                         columns=["clause", "title", "status", "risks", "has control", "fresh evidence"])
    st.dataframe(table, hide_index=True, key="rk_coverage")
    st.caption(f"{result['name']}: a clause is covered when a risk mapped to it has a control and evidence linked "
               f"within {int(stale)} days; withdrawn risks do not count.")


# --- actions -------------------------------------------------------------------------------------------------------
def actions_tab() -> None:
    then = record_then()
    today = (clock.today() if then is None else then.day).isoformat()
    listed = cached(risks.list_risks) if then is None else then.risks
    everything = [r for r in listed if r["status"] not in ("closed", "withdrawn", "dismissed")]
    rows = [{"owner": c["owner"], "risk_id": r["risk_id"], "risk": r["title"], "action": f"control {c['control_id']}",
             "title": c["title"], "due": day(c.get("due")), "status": c["status"],
             "overdue": bool(c.get("due") and c["due"] < today)}
            for r in everything for c in r["controls"] if c["status"] != "done"]
    rows += [{"owner": r["owner"] or NO_OWNER, "risk_id": r["risk_id"], "risk": r["title"], "action": "review",
              "title": "review the risk", "due": day(r["next_review"]), "status": r["status"],
              "overdue": r["review_overdue"]} for r in everything if r.get("next_review")]
    if not rows:
        st.info("No actions due: no open control and no review date on an open risk.")
        return
    frame = pd.DataFrame(rows)
    frame["sort_due"] = frame["due"].replace(ABSENT, "9999-12-31")
    frame = frame.sort_values(["overdue", "owner", "sort_due"], ascending=[False, True, True]).drop(columns="sort_due")
    per_owner = frame.groupby("owner").agg(actions=("action", "size"), overdue=("overdue", "sum")).reset_index()
    st.markdown("**By owner**")
    st.dataframe(per_owner.sort_values(["overdue", "actions"], ascending=False), hide_index=True, key="rk_owners")
    st.markdown("**Due and overdue** (overdue first)")
    st.dataframe(frame, hide_index=True, key="rk_actions", column_config={
        "risk_id": "Risk", "risk": "Risk title", "title": "Action", "action": "Kind", "due": "Due",
        "overdue": "Overdue"})


def body() -> None:
    arrive_from_link({"risk": "rk_risk"}, also={"rk_tab": TABS[0], **{f"rk_f_{name}": ALL for name in (
        "model", "category", "owner", "status", "level")}})
    lazy_tabs("rk_tab", dict(zip(TABS, (register_tab, coverage_tab, actions_tab))))


render_page("Risks", body, caption="The AI risk register: every change recorded with who, when and why, mapped to "
                                   "NIST AI RMF 1.0, the EU AI Act and ISO/IEC 42001.")
