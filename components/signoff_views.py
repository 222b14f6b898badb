"""How the Sign-offs page shows a review: tables of reviews, votes, conditions, ledger entries and the frozen
evidence. Every text from users or data reaches markdown through plain(); tables show it literally anyway."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.formatting import milliseconds, percent, plain
from governance.errors import InvalidInputError
from governance.record import ledger, verification

OUTCOME_BADGES = {None: ("awaiting votes", "gray"), "approved": ("approved", "green"),
                  "approved_with_conditions": ("approved with conditions", "green"), "rejected": ("rejected", "red")}
VALIDITY_WORDS = {"pending": "pending", "rejected": "rejected", "valid": "valid", "expired": "re-review required",
                  "stale": "re-review required"}
LEDGER_ROWS = 200
CONDITION_ROW_INCOMPLETE = ("condition row {row} is missing its {missing}: fill it in, or delete the row (tick its "
                            "box on the left and press Delete)")


def when(iso: str | None) -> str:
    """An ISO timestamp (UTC, with or without Z) as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if not iso:
        return "—"
    return str(iso).replace("T", " ").removesuffix("Z")[:19] + " UTC"


def outcome_text(outcome: str | None) -> str:
    return OUTCOME_BADGES.get(outcome, (str(outcome), "gray"))[0]


def validity_text(state: str, flagged: bool) -> str:
    word = VALIDITY_WORDS.get(state, state)
    if state in ("expired", "stale"):
        word = f"{state} — re-review required"
    return word + (" (flagged: condition overdue)" if flagged else "")


def table(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """Rows as a frame with exactly `columns` (source key -> heading), in that order."""
    return pd.DataFrame([{heading: r.get(key) for key, heading in columns.items()} for r in rows],
                        columns=list(columns.values()))


def show_table(rows: list[dict], columns: dict[str, str], *, key: str, empty: str) -> None:
    if rows:
        st.dataframe(table(rows, columns), hide_index=True, key=key)
    else:
        st.caption(empty)


def reviews_frame(rows: list[dict]) -> pd.DataFrame:
    return table([{**r, "model_version": f"{r['model']} {r['version']}", "gate": f"{r['from_stage']} → {r['gate']}",
                   "requested": f"{when(r['requested_at'])} by {r['requested_by']}",
                   "outcome": outcome_text(r["outcome"]), "validity": validity_text(r["validity"], r["flagged"])}
                  for r in rows],
                 {"review_id": "Review", "model_version": "Model version", "gate": "Gate", "outcome": "Outcome",
                  "validity": "Validity", "votes": "Votes", "as_of": "Evidence as of", "requested": "Requested",
                  "valid_until": "Valid until", "open_conditions": "Open conditions"})


def queue_frame(rows: list[dict]) -> pd.DataFrame:
    return table([{**r, "requested_at": when(r["requested_at"])} for r in rows],
                 {"review_id": "Review", "model": "Model", "version": "Version", "gate": "Gate",
                  "as_of": "Evidence as of", "requested_at": "Requested at", "requested_by": "Requested by"})


def votes_frame(votes: list[dict]) -> pd.DataFrame:
    return table([{**v, "signed_at": when(v["signed_at"]),
                   "conditions": "; ".join(f"{c['text']} (owner {c['owner']}, due {c['due']})"
                                           for c in v["conditions"])} for v in votes],
                 {"printed_name": "Printed name", "role": "Role", "signed_at": "Signed (UTC)", "meaning": "Meaning",
                  "reason": "Reason", "conditions": "Conditions", "evidence_hash": "Evidence hash",
                  "bound_to_evidence": "Bound to the request's evidence", "auth_method": "Re-authenticated by"})


def manifest(vote: dict) -> None:
    """One signature as a person reads it: who, in what role, when, what it means, why, bound to what."""
    with st.container(border=True):
        st.markdown(f"**{plain(vote['printed_name'])}** ({plain(vote['role'])}) — **{plain(vote['meaning'])}** "
                    f"— {when(vote['signed_at'])}")
        st.markdown(f"Reason: {plain(vote['reason'])}")
        for c in vote["conditions"]:
            st.markdown(f"- condition: {plain(c['text'])} (owner {plain(c['owner'])}, due {c['due']})")
        st.caption(f"Signed over evidence SHA-256 {vote['evidence_hash']}"
                   + ("" if vote["bound_to_evidence"] else " — NOT the request's evidence hash"))


def conditions_frame(conditions: list[dict]) -> pd.DataFrame:
    return table([{**c, "overdue": "OVERDUE" if c["overdue"] else ""} for c in conditions],
                 {"condition_id": "Condition", "text": "Text", "owner": "Owner", "due": "Due", "status": "Status",
                  "overdue": "Overdue", "updated_by": "Updated by", "updated_at": "Updated at",
                  "update_reason": "Reason"})


def tally_line(t: dict) -> str:
    return (f"{t['approvals']} for, {t['rejections']} against, {t['abstentions']} abstaining, {t['recusals']} "
            f"recused, {t['remaining']} yet to vote; quorum {'met' if t['quorum'] else 'not met'}"
            + ("" if t["chair_voted"] else "; the chair has not voted"))


def ledger_frame(entries: list[dict]) -> pd.DataFrame:
    newest = list(reversed(entries))[:LEDGER_ROWS]
    return table([{**e, "recorded_at": when(str(e["recorded_at"]))} for e in newest],
                 {"seq": "Seq", "recorded_at": "Recorded (UTC)", "actor": "Actor", "kind": "Kind",
                  "subject": "Subject"})


def verify_ledger(store, *, attempt: int = 0) -> dict:
    """ledger.verify, with a counter so 'Verify now' gets a fresh cache entry."""
    return verification.verify(store)


# --- the frozen evidence ---------------------------------------------------------------------------------------
def _number(value, fmt) -> str:
    return "—" if value is None else fmt(value)


def show_evidence(evidence: dict, *, key: str) -> None:
    """The evidence exactly as stored, sections as tables; the raw JSON in the last expander."""
    audits = evidence.get("fairness_audits", [])
    with st.expander(f"Fairness audits ({len(audits)})", expanded=True):
        show_table([{**a, **{f"c_{k}": v for k, v in (a.get("criteria") or {}).items()}} for a in audits],
                   {"audit_id": "Audit", "verdict": "Verdict", "c_pass": "Pass", "c_fail": "Fail",
                    "c_inconclusive": "Inconclusive", "ran_at": "Ran at", "evidence_hash": "Evidence hash"},
                   key=f"{key}_audits", empty="No fairness audit of this version.")
    kpis = evidence.get("kpis", {})
    window = kpis.get("window", {})
    with st.expander("KPI snapshot", expanded=True):
        st.caption(f"{window.get('days')} days from {window.get('from')} to {window.get('to')}")
        if kpis.get("note"):
            st.caption(plain(kpis["note"]))
        else:
            show_table([{"predictions": f"{kpis.get('predictions', 0):,}",
                         "accuracy": _number(kpis.get("accuracy"), percent),
                         "latency": _number(kpis.get("latency_p95_ms"), milliseconds),
                         "error_rate": _number(kpis.get("error_rate"), lambda v: percent(v, digits=2)),
                         "coverage": _number(kpis.get("label_coverage"), percent)}],
                       {"predictions": "Predictions", "accuracy": "Accuracy", "latency": "p95 latency",
                        "error_rate": "Error rate", "coverage": "Label coverage"}, key=f"{key}_kpis", empty="")
            st.markdown("**Service-level breaches**")
            show_table(kpis.get("breaches", []),
                       {"kpi": "KPI", "start": "From", "end": "To", "periods": "Days", "worst": "Worst",
                        "target": "Target", "rule": "Rule"}, key=f"{key}_breaches", empty="No breach in the window.")
    drift = evidence.get("drift", {})
    with st.expander("Drift", expanded=True):
        if drift.get("note"):
            st.caption(plain(drift["note"]))
        show_table(drift.get("features", []),
                   {"feature": "Feature", "status": "Worst status", "first_period": "First week at it",
                    "periods": "Weeks at it", "max_psi": "Max PSI"},
                   key=f"{key}_drift", empty="No feature at 'watch' or 'act'.")
    explanation = evidence.get("explanation", {})
    with st.expander("Explanation summary"):
        if explanation.get("note"):
            st.caption(plain(explanation["note"]))
        else:
            st.caption(plain(f"{explanation.get('explanation_id')}: {explanation.get('explainer')} on "
                             f"{explanation.get('rows')} rows, computed {when(explanation.get('computed_at'))}"))
            show_table(explanation.get("top_features", []), {"feature": "Feature", "mean_abs_shap": "Mean |SHAP|"},
                       key=f"{key}_explanation", empty="No features.")
    risks = evidence.get("open_risks", [])
    with st.expander(f"Open risks ({len(risks)})"):
        show_table(risks, {"risk_id": "Risk", "title": "Title", "category": "Category",
                           "inherent_level": "Inherent level", "status": "Status"},
                   key=f"{key}_risks", empty="No open risk on this model version.")
    with st.expander("The evidence exactly as stored (JSON)"):
        st.json(evidence, expanded=False)


def conditions_from_grid(rows: list[dict]) -> list[dict]:
    """The conditions typed into the vote form's grid (its rows as records, in order), as the sign-off service takes
    them. A row with neither text nor owner is ignored: a stray click adds one, with only the due date the grid
    fills in by default. A row with some of text, owner and due date but not all is refused, named by its number
    with what it lacks."""
    def filled(value) -> str:
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()

    found = []
    for number, row in enumerate(rows, start=1):
        text, owner, due = (filled(row.get(k)) for k in ("text", "owner", "due"))
        if not text and not owner:
            continue
        missing = [name for name, value in (("condition text", text), ("owner", owner), ("due date", due)) if not value]
        if missing:
            raise InvalidInputError(CONDITION_ROW_INCOMPLETE.format(row=number, missing=" and ".join(missing)))
        found.append({"text": text, "owner": owner, "due": str(pd.Timestamp(due).date())})
    return found
