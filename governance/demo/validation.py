"""The demo's validation checklist of german-credit v1: the history that lets it pass its production gate.

german-credit v1 serves in production on the committee's approval (RV-0002). The gate for production asks more
than the approval: a fairness audit that stands (or an accepted fairness risk), a passing robustness run, an
explanation reviewed, the risks reviewed since they last changed, and no open high risk. This history completes
each item through the same services as the pages, acting as the demo's people, so every step is on the record:

- Farid Haddad runs a robustness check with criteria stated before the run for a 300-applicant evaluation set
  (what a change of that size is worth to the bank, not what the data happened to show);
- Elif Kaya, the risk owner, accepts the risk that the minority foreign-worker group is too small to audit, with
  its planned control (a supplementary sample) and the reason: that is what makes the inconclusive audit
  acceptable for now;
- Farid Haddad puts 13-month retention of decision logs in place, which lowers that risk's residual level;
- Farid Haddad attests the explanation review and Elif Kaya the risk review, after the last change to its risks.

adult-income v1 and v2 get none of this: they fail their gates for the reasons their own history gives (a failing
fairness audit, open high risks, no robustness run). Called by `demo.seed_demo` after the risk register and
before the review history, so the reviews' frozen evidence holds the completed checklist.
"""

from __future__ import annotations

from governance.access import identity
from governance.decisions import release_gate, risks
from governance.evidence import robustness
from governance.record.store import GovernanceStore

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
MODEL, VERSION = "german-credit", "v1"
# Material effects for a credit decision, stated before the run; a 300-row evaluation set cannot resolve finer ones.
ROBUSTNESS_CRITERIA = ("flip_rate<=0.1@0.05", "accuracy_drop<=0.05@0.05", "slice_accuracy_gap<=0.25")


def _risk(store: GovernanceStore, title_start: str) -> dict:
    return next(r for r in risks.list_risks(store, model=MODEL, version=VERSION) if r["title"].startswith(title_start))


def seed_demo_validation(store: GovernanceStore) -> None:
    farid, elif_ = PEOPLE["farid.haddad"], PEOPLE["elif.kaya"]
    robustness.run_robustness(store, model=MODEL, version=VERSION, actor=farid, criteria=ROBUSTNESS_CRITERIA)

    too_small = _risk(store, "Minority foreign-worker group too small to audit")
    risks.update_risk(store, risk_id=too_small["risk_id"], actor=elif_, changes={"status": "accepted", "residual_likelihood": 2, "residual_impact": 4},
                      reason="Accepted until the supplementary sample of foreign-worker applicants arrives (control "
                             "planned): the audit of every other group is clean, and declines of the group are "
                             "reviewed by hand meanwhile")

    logs = _risk(store, "Decision logs kept for 90 days only")
    risks.update_risk(store, risk_id=logs["risk_id"], actor=farid, changes={"status": "assessed"},
                      reason="Scored with the platform team: no decision older than 90 days can be reconstructed")
    for control in risks.get_risk(store, risk_id=logs["risk_id"])["controls"]:
        risks.update_control(store, risk_id=logs["risk_id"], control_id=control["control_id"], status="done",
                             actor=farid, reason="Retention raised to 13 months in the telemetry store and the "
                                                 "input archive")
    risks.update_risk(store, risk_id=logs["risk_id"], actor=farid,
                      changes={"status": "mitigating", "residual_likelihood": 1, "residual_impact": 3},
                      reason="Telemetry and input records are now kept for 13 months; the first export to the "
                             "archive was checked")

    release_gate.attest(store, model=MODEL, version=VERSION, item="explanation reviewed", actor=farid,
                        note="Global importance led by checking account status, duration and credit history; no "
                             "sensitive feature or close proxy among the top five; the narrative read by the "
                             "credit team")
    release_gate.attest(store, model=MODEL, version=VERSION, item="risks reviewed", actor=elif_,
                        note="Every risk mapped to german-credit v1 reviewed after the retention change; the "
                             "foreign-worker risk stays accepted until the supplementary sample")
