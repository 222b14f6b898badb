"""The demo's review history: what the model review committee decided about the three demo versions, and why.

Written through the same services as the Sign-offs page and the CLI (request_review, vote with the demo sign-off,
update_condition, advance_stage), acting as the demo's people, so every request, signature, decision, condition
update and stage change is an entry of the hash-chained, anchored ledger. Nothing here is random; the reasons
quote the evidence each request froze (accuracy, p95 latency, PSI, audit verdicts), so they read the same
numbers the pages show. Condition due dates are relative to today (the service refuses dates in the past).

The committee is the demo's chair Amara Okafor and members Ben Hartmann, Chen Wei and Dolores Ruiz. The
versions are inserted one stage short of where the inventory shows them and the history moves them there:

RV-0001  adult-income v1 -> production, evidence as of 2026-08-15: approved. The drift episode (hours_per_week
         at 'act' from the week of 2026-09-07) came after that evidence, so the decision is stale; advance_stage
         refuses a stale decision, so v1 was not moved on it.
RV-0002  german-credit v1 -> production: approved with Dolores Ruiz recused (she led the team that built it);
         german-credit v1 moved to production.
RV-0003  adult-income v1 -> production, re-review with the drift in the evidence: approved over one dissent;
         adult-income v1 moved to production by the demo's set-up (see below).
RV-0004  adult-income v2 -> staging: approved with conditions (latency root cause, open and due soon; rollback
         rehearsal, met: reported by Farid Haddad, who owns it, and recorded by the chair, since the owner of a
         condition does not close it alone); adult-income v2 moved to staging by the demo's set-up.
RV-0005  adult-income v2 -> production: rejected for the latency regression and the failing fairness audit.

RV-0002 to RV-0005 freeze the evidence as of the newest telemetry day (the service's default). advance_stage
only moves a version on a decision no later evidence contradicts, and every demo version has such evidence
after an earlier date (german-credit's error spike on 2026-08-10, the adult-income drift from 2026-09-07, v2's
latency breach from 2026-09-14), so an approval the history moves a version on must have seen all of it.

Only german-credit v1 moves through the service (advance_stage), because only its gate passes: the service
refuses a move its release gate refuses. adult-income v1 and v2 have approvals but open checklists and open high
risks (governance/demo/validation.py gives them none of german-credit's validation), so the app would refuse to
move them. The demo needs versions that serve outside their gate, for the Overview's Stage gates section to show,
so its set-up moves them on their approvals itself (`_set_up_move`): the same table change and `stage_change`
entry as the service writes, with the gate's refusal and its reasons in the entry, so the record says which moves
the gate let through and which it did not.
"""

from __future__ import annotations

from datetime import timedelta

from governance.access import identity
from governance.decisions import committee, release_gate, review_state, stage_changes, voting
from governance.record import clock, ledger
from governance.record.repositories import reviews as review_record
from governance.record.store import GovernanceStore

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
CHAIR, BEN, CHEN, DOLORES = (PEOPLE[n] for n in ("amara.okafor", "ben.hartmann", "chen.wei", "dolores.ruiz"))
ENGINEERING = PEOPLE["farid.haddad"]    # requests reviews, moves versions, reports on conditions
DEMO_SIGN_OFF = {"method": "demo"}
STALE_AS_OF = "2026-08-15"             # before the drift episode (day 60, 2026-08-30)

# Where seed_demo inserts each version: one stage before the inventory's final stage, which this history reaches.
INSERTED_STAGES = {("adult-income", "v1"): "staging", ("adult-income", "v2"): "validation",
                   ("german-credit", "v1"): "staging"}


def _due(days: int) -> str:
    return (clock.today() + timedelta(days=days)).isoformat()


def _pct(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _kpis(evidence: dict) -> dict:
    k = evidence["kpis"]
    return {"accuracy": _pct(k.get("accuracy")), "p95": _ms(k.get("latency_p95_ms")),
            "errors": _pct(k.get("error_rate"), 2), "n": f"{k.get('predictions', 0):,}",
            "since": k["window"]["from"], "to": k["window"]["to"], "breaches": k.get("breaches", [])}


def _audit(evidence: dict) -> dict:
    audits = evidence["fairness_audits"]
    return audits[-1] if audits else {"audit_id": "no audit", "verdict": "missing", "criteria": {}}


def _risk_id(evidence: dict, words: str) -> str:
    return next((r["risk_id"] for r in evidence["open_risks"] if words in r["title"]), "the risk register")


def _acting_drift(evidence: dict) -> list[dict]:
    return [f for f in evidence["drift"]["features"] if f["status"] == "act"]


def _sign(store: GovernanceStore, review_id: str, ballots) -> dict:
    """Each ballot (member, vote, reason, conditions) in order, with the demo sign-off; the last vote's result."""
    outcome = None
    for user, vote, reason, conditions in ballots:
        outcome = voting.vote(store, review_id=review_id, actor=user, vote=vote, reason=reason,
                              conditions=conditions, reauth=DEMO_SIGN_OFF)
    return outcome


def _request(store: GovernanceStore, model: str, version: str, gate: str, as_of=None) -> dict:
    return review_state.request_review(store, model=model, version=version, gate=gate, actor=ENGINEERING, as_of=as_of)


def _advance(store: GovernanceStore, made: dict, reason: str) -> None:
    stage_changes.advance_stage(store, model=made["model"], version=made["version"], to_stage=made["gate"],
                                actor=ENGINEERING, reason=reason)


def _set_up_move(store: GovernanceStore, made: dict, reason: str) -> None:
    """Move a version on its approval although its gate refuses it, as only the demo's set-up can (see the module
    docstring): the entry the service would write, plus the gate's answer, and the set-up named as the actor."""
    model, version, stage = made["model"], made["version"], made["gate"]
    findings = release_gate.gate_findings(store, model=model, version=version, stage=stage)
    with store.write() as tx:
        review_record.move_stage(tx, model=model, version=version, stage=stage)
        ledger.append(store, actor="demo set-up", kind="stage_change", subject=f"{model} {version}",
                      payload={"model": model, "version": version, "from_stage": made["from_stage"],
                               "to_stage": stage, "review_id": made["review_id"],
                               "evidence_hash": made["evidence_hash"], "reason": reason,
                               "changed_by": "demo set-up (not through the app, which refuses this move)",
                               "changed_at": clock.now_iso_seconds(),
                               "gate": {"ok": findings["ok"], "reasons": findings["reasons"]}},
                      idempotency_key=f"stage_change:{model}:{version}:{stage}:{made['review_id']}")


def _adult_v1_before_drift(store: GovernanceStore) -> dict:
    made = _request(store, "adult-income", "v1", "production", as_of=STALE_AS_OF)
    ev, k, audit = made["evidence"], _kpis(made["evidence"]), _audit(made["evidence"])
    proxy = _risk_id(ev, "Proxy discrimination")
    watched = [f["feature"] for f in ev["drift"]["features"]]
    drift = ("stays below the watch threshold" if not watched else
             f"is below the watch threshold except {', '.join(watched)}")
    _sign(store, made["review_id"], [
        (CHAIR, "approve",
         f"Over the 30 days to {k['to']} v1 was {k['accuracy']} accurate on {k['n']} predictions, p95 latency "
         f"{k['p95']} against the 250 ms objective, error rate {k['errors']}. {audit['audit_id']} fails the "
         f"four-fifths rule for sex: that is the census proxy effect through relationship and marital status we "
         f"track as {proxy}, with a retrain under way and a person reviewing every decline. Approve.", ()),
        (BEN, "approve",
         f"Stable week on week and inside all three service levels; weekly PSI of the inputs against the "
         f"evaluation set {drift}.", ()),
        (CHEN, "approve",
         "Logistic regression with coefficients the card team can read and explain to applicants; the fairness "
         f"gap is known and owned under {proxy}. No objection to production.", ()),
    ])
    return made


def _german_with_recusal(store: GovernanceStore) -> None:
    made = _request(store, "german-credit", "v1", "production")
    ev, k, audit = made["evidence"], _kpis(made["evidence"]), _audit(made["evidence"])
    small_group = _risk_id(ev, "too small to audit")
    _sign(store, made["review_id"], [
        (DOLORES, "recuse",
         "Conflict of interest: until June I ran Lending Analytics, the team that built german-credit v1, and I "
         "approved its development plan myself. I recuse from this review.", ()),
        (BEN, "approve",
         f"{k['accuracy']} accurate on {k['n']} predictions over the 30 days to {k['to']}, p95 latency {k['p95']}, "
         f"error rate {k['errors']}: inside all three service levels. The 10 August error spike was a three-hour "
         "gateway outage, fixed the same day, not the model.", ()),
        (CHEN, "approve",
         f"{audit['audit_id']} is {audit['verdict']}, not a pass: the smaller foreign_worker group is below the "
         f"audit's minimum size ({small_group}). Acceptable for decision support, where a loan officer makes and "
         "explains every decision, while the supplementary sample is collected.", ()),
        (CHAIR, "approve",
         "Approve for production as decision support only, never for automated rejection, as the intended use "
         "states. Dolores Ruiz's recusal is noted; the three remaining members all approve.", ()),
    ])
    _advance(store, made, f"{made['review_id']} approved german-credit v1 for production (Dolores Ruiz recused); "
                          "released to the loan officers' screen")


def _adult_v1_re_review(store: GovernanceStore, stale: dict) -> dict:
    made = _request(store, "adult-income", "v1", "production")
    ev, k = made["evidence"], _kpis(made["evidence"])
    acting = _acting_drift(ev)
    drift = "; ".join(f"{f['feature']} at 'act' from the week of {f['first_period']} (PSI up to {f['max_psi']:.2f})"
                      for f in acting) or "no input at 'act'"
    worst = max((f["max_psi"] for f in acting), default=0.0)
    drift_risk = _risk_id(ev, "input drift")
    _sign(store, made["review_id"], [
        (CHAIR, "approve",
         f"Re-review because {stale['review_id']} went stale with the drift episode: {drift}. Over the 30 days to "
         f"{k['to']} accuracy on labelled traffic is {k['accuracy']}, against "
         f"{_kpis(stale['evidence'])['accuracy']} in the 30 days to {stale['as_of']}, and p95 latency is "
         f"{k['p95']}. The shift is real traffic from older applicants declaring longer hours ({drift_risk}), "
         "not a pipeline fault. Approve, with the drift risk owned by engineering.", ()),
        (BEN, "reject",
         f"A PSI of {worst:.2f} is well past the 0.25 'act' threshold and v1 never saw this population in "
         "training; I would retrain on the shifted traffic before confirming v1 in production.", ()),
        (CHEN, "approve",
         "The drifted weeks show no loss of accuracy yet, and v1 is the fallback for v2: without it there is no "
         "approved production model for the card. Approve, and watch the label-backed accuracy weekly.", ()),
        (DOLORES, "approve",
         f"Agree with the chair: accuracy {k['accuracy']} on the drifted traffic, error rate {k['errors']}, no "
         "service level breached. Retraining belongs in the next version's review.", ()),
    ])
    _set_up_move(store, made, f"{made['review_id']} approved adult-income v1 for production on evidence that "
                              "includes the drift episode")
    return made


def _adult_v2_staging(store: GovernanceStore) -> dict:
    made = _request(store, "adult-income", "v2", "staging")
    review_id = made["review_id"]
    k, audit = _kpis(made["evidence"]), _audit(made["evidence"])
    latency = next((b for b in k["breaches"] if b["kpi"] == "latency_p95_ms"), None)
    breach = (f"its p95 latency breached the {latency['target']:.0f} ms objective from {latency['start']} to "
              f"{latency['end']} (worst {latency['worst']:.0f} ms)" if latency else
              f"its p95 latency is {k['p95']}")
    failed = audit["criteria"].get("fail")
    decided = _sign(store, review_id, [
        (BEN, "approve_with_conditions",
         f"v2 is {k['accuracy']} accurate on its A/B traffic over the 30 days to {k['to']}, but {breach}. Staging "
         "only, on condition the regression is root-caused and fixed.",
         ({"text": "Root-cause the mid-September p95 latency regression of v2 and show seven consecutive days "
                   "with p95 under 250 ms", "owner": "farid.haddad", "due": _due(7)},)),
        (DOLORES, "approve_with_conditions",
         f"{audit['audit_id']} is {audit['verdict']} with {failed} failing criteria: like v1's audit it fails the "
         "four-fifths rule for sex. Acceptable in staging with a person reviewing every decline; not for "
         "production until a retrain removes the proxy features and a new audit passes.",
         ({"text": "Rehearse switching all adult-income traffic back to v1 and document the runbook",
           "owner": "farid.haddad", "due": _due(14)},
          {"text": f"Retrain v2 without relationship and marital_status and re-run the fairness audit: "
                   f"{audit['audit_id']}'s failure for sex must be resolved before a production request",
           "owner": "elif.kaya", "due": _due(45)})),
        (CHAIR, "approve",
         "Approve for staging with Ben's and Dolores's conditions; production is a separate review.", ()),
    ])
    rollback = next(c["condition_id"] for c in decided["decision"]["conditions"] if "back to v1" in c["text"])
    review_state.update_condition(store, condition_id=rollback, status="met", actor=CHAIR,
                                  reason="Watched Farid Haddad's rehearsal: all Adult traffic moved back to v1 and "
                                         "returned in minutes; I read the runbook in the release wiki")
    _set_up_move(store, made, f"{review_id} approved adult-income v2 for staging with conditions; the A/B split "
                              "continues behind v1")
    return {**made, "conditions": decided["decision"]["conditions"]}


def _adult_v2_production_rejected(store: GovernanceStore, staging: dict, v1: dict) -> None:
    made = _request(store, "adult-income", "v2", "production")
    k, audit = _kpis(made["evidence"]), _audit(made["evidence"])
    latency = next((b for b in k["breaches"] if b["kpi"] == "latency_p95_ms"), None)
    breach = (f"p95 latency breached the {latency['target']:.0f} ms objective on {latency['periods']} days from "
              f"{latency['start']} to {latency['end']}, worst {latency['worst']:.0f} ms" if latency else
              f"p95 latency is {k['p95']}")
    v1_p95 = _kpis(v1["evidence"])["p95"]
    open_ids = {c["condition_id"]: c for c in staging["conditions"]}
    latency_condition = next(i for i, c in open_ids.items() if "latency" in c["text"])
    fairness_condition = next(i for i, c in open_ids.items() if "fairness audit" in c["text"])
    _sign(store, made["review_id"], [
        (CHEN, "approve",
         f"v2 is more accurate than v1 on the same weeks ({k['accuracy']} against {_kpis(v1['evidence'])['accuracy']}) "
         "and its p95 has been back under 250 ms since the regression ended.", ()),
        (BEN, "reject",
         f"{breach}, where v1 holds {v1_p95} on the same traffic, and the root cause ({latency_condition}) is "
         "still open. A regression nobody can explain will come back under production load.", ()),
        (DOLORES, "reject",
         f"{audit['audit_id']} fails the four-fifths rule for sex; a model that decides premium card approvals "
         f"cannot go to production on a failing fairness audit. The retrain ({fairness_condition}) is still open.",
         ()),
        (CHAIR, "reject",
         f"Rejected: re-request once {latency_condition} and {fairness_condition} are met and a new audit of the "
         "retrained version passes. v1 stays in production.", ()),
    ])


def seed_demo_signoffs(store: GovernanceStore) -> None:
    """The demo's committee and review history; called by `demo.seed_demo` after the risk register."""
    committee.seed_demo_committee(store)
    stale = _adult_v1_before_drift(store)
    _german_with_recusal(store)
    v1 = _adult_v1_re_review(store, stale)
    staging = _adult_v2_staging(store)
    _adult_v2_production_rejected(store, staging, v1)
