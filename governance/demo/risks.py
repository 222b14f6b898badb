"""The demo's risk register: what a model risk team would have on record for the two demo models.

The risks are written through the same services as the pages, acting as the demo's people, so the register
is hash-chained and every change has an actor, a date and a reason. Dates are relative to today, so some
reviews and controls are always overdue and some are done. Monitoring then proposes what the demo's
episodes show (drift, service-level breaches, failing fairness audits); one proposal is accepted, one is
dismissed and the rest are left for the visitor to decide. Nothing here is random.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from governance.access import identity
from governance.decisions import risks
from governance.decisions.risk_proposals import propose_from_monitoring
from governance.evidence.fairness import DEFAULT_MIN_GROUP_SIZE, list_audits
from governance.record import clock
from governance.record.repositories import models as model_rows
from governance.record.store import GovernanceStore

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
ADULT_BOTH = ("adult-income v1", "adult-income v2")


@dataclass(frozen=True)
class Control:
    title: str
    owner: str
    due_in_days: int          # negative: due in the past
    status: str


@dataclass(frozen=True)
class Step:
    by: str
    changes: dict
    reason: str


@dataclass(frozen=True)
class DemoRisk:
    by: str
    risk: risks.NewRisk
    controls: tuple[Control, ...] = ()
    evidence: tuple[tuple[str, str, str], ...] = ()    # kind, reference, note
    steps: tuple[Step, ...] = ()


def _day(offset: int) -> str:
    return (clock.today() + timedelta(days=offset)).isoformat()


def _audit_ids(store: GovernanceStore) -> dict[tuple[str, str], str]:
    audits = list_audits(store)
    return {(a.model, a.version): a.audit_id for a in audits.itertuples(index=False)}


def _smallest_foreign_worker_group(store: GovernanceStore) -> tuple[int, int]:
    """(people in the smaller foreign_worker group, all people) in German credit's evaluation set."""
    rows = model_rows.evaluation_outcomes(store, model="german-credit", version="v1")
    counts = list(Counter(json.loads(sensitive).get("foreign_worker") for sensitive in rows["sensitive"]).values())
    return min(counts), sum(counts)


def _assessed(by: str, reason: str, **changes) -> Step:
    return Step(by, {"status": "assessed", **changes}, reason)


def _register(store: GovernanceStore) -> list[DemoRisk]:
    """One table of data: each risk as it was recorded, then what happened to it."""
    audits = _audit_ids(store)
    minority, applicants = _smallest_foreign_worker_group(store)
    return [
        DemoRisk("elif.kaya", risks.NewRisk(
            title="Proxy discrimination through marital status and relationship", category="fairness/bias",
            owner="elif.kaya", likelihood=4, impact=4, models=ADULT_BOTH, next_review=_day(30),
            clauses=("MEASURE 2.11", "Article 10", "A.7"),
            description="Sex is not an input of adult-income, but 'relationship' (Husband / Wife) and "
                        "'marital_status' carry it almost one to one in the 1994 census extract, so both versions "
                        "can reproduce the census gap in approvals between men and women. The fairness audits on "
                        "the evaluation sets fail the four-fifths rule for sex."),
            controls=(Control("Retrain without 'relationship' and compare accuracy and selection rates by sex",
                              "farid.haddad", 21, "in progress"),
                      Control("Intersectional fairness audit (sex × race) before every release", "amara.okafor",
                              -40, "done")),
            evidence=(("fairness_audit", audits["adult-income", "v1"],
                       "v1 fails demographic parity for sex on its evaluation set"),),
            steps=(_assessed("elif.kaya", "Scored with the card team: the audit already shows the gap, and declines "
                                          "that follow sex would be unlawful discrimination"),
                   Step("elif.kaya", {"status": "mitigating", "residual_likelihood": 3, "residual_impact": 4},
                        "Retraining without the proxy features is under way; residual until it ships"))),
        DemoRisk("farid.haddad", risks.NewRisk(
            title="Income labels are 1994 census figures: the $50K threshold is out of date", category="compliance",
            owner="farid.haddad", likelihood=4, impact=3, models=ADULT_BOTH, next_review=_day(-10),
            clauses=("Article 10", "MAP 2.3", "A.7"),
            description="The target is whether income exceeded $50K in 1994 dollars (about $105K today), and the "
                        "1994 census population is not the card's applicant population. Article 10 asks for "
                        "training data relevant and representative for the intended purpose."),
            controls=(Control("Re-derive the target from a recent income survey at an inflation-adjusted "
                              "threshold", "farid.haddad", 60, "planned"),),
            steps=(_assessed("farid.haddad", "Confirmed with the data owners: no recent labelled data is licensed "
                                             "yet"),)),
        DemoRisk("elif.kaya", risks.NewRisk(
            title=f"Minority foreign-worker group too small to audit ({minority} applicants)",
            category="fairness/bias", owner="elif.kaya", likelihood=3, impact=4, models=("german-credit v1",),
            next_review=_day(14), clauses=("MEASURE 2.11", "Article 10", "A.7"),
            description=f"Only {minority} of the {applicants} applicants in the German credit evaluation set are in "
                        "the smaller foreign_worker group (coded 'no' by the UCI codebook, which Grömping (2019) "
                        "found to be swapped: they are most likely the foreign workers). That is below the audit's "
                        f"minimum group size of {DEFAULT_MIN_GROUP_SIZE}, so the audit cannot judge the group and "
                        "a disparity against foreign applicants would go unseen."),
            controls=(Control("Collect a supplementary evaluation sample of foreign-worker applicants", "elif.kaya",
                              45, "planned"),),
            evidence=(("fairness_audit", audits["german-credit", "v1"],
                       "inconclusive: groups under the minimum size are left out"),),
            steps=(_assessed("elif.kaya", "Cannot be measured on this data: it needs more applicants of the group, "
                                          "not a model change"),)),
        DemoRisk("farid.haddad", risks.NewRisk(
            title="Membership inference on the German credit random forest", category="privacy",
            owner="farid.haddad", likelihood=2, impact=4, models=("german-credit v1",), next_review=_day(20),
            clauses=("MEASURE 2.10", "Article 15", "A.7"),
            description="The random forest was fitted on 700 applicants and fits them far more tightly than new "
                        "ones. Someone who can query scores can tell better than chance whether a person's "
                        "application was in the training data, which reveals that they applied for credit."),
            controls=(Control("Limit tree depth and leaf size, then re-measure the train-test gap", "farid.haddad",
                              -5, "in progress"),),
            steps=(_assessed("farid.haddad", "Scores are only served to loan officers, which keeps the likelihood "
                                             "low"),
                   Step("farid.haddad", {"status": "mitigating", "residual_likelihood": 2, "residual_impact": 3},
                        "Regularised retrain scheduled"))),
        DemoRisk("farid.haddad", risks.NewRisk(
            title="Model inversion from exposed scores", category="privacy", owner="elif.kaya", likelihood=2,
            impact=3, models=ADULT_BOTH, next_review=_day(90), clauses=("MEASURE 2.10", "A.7"),
            description="The web and mobile channels returned the raw score with four decimals; repeated queries "
                        "with varied inputs let someone infer a known applicant's undisclosed attributes (such as "
                        "capital gains) from how the score moves."),
            controls=(Control("Return the decision and a coarse band instead of the raw score", "farid.haddad", -20,
                              "done"),),
            steps=(_assessed("elif.kaya", "The score is coarsened now", residual_likelihood=1, residual_impact=3),
                   Step("elif.kaya", {"status": "accepted"},
                        "Residual 3 (low) is within the privacy risk appetite once the score is coarsened"))),
        DemoRisk("elif.kaya", risks.NewRisk(
            title="Applicants overstate self-reported hours and education", category="robustness/adversarial",
            owner="elif.kaya", likelihood=3, impact=3, models=ADULT_BOTH, next_review=_day(45),
            clauses=("MEASURE 2.7", "Article 15", "A.6"),
            description="hours_per_week and education_num are typed in by applicants on web and mobile and not "
                        "verified; a few extra declared hours move many borderline applicants across the approval "
                        "threshold."),
            controls=(Control("Verify declared hours against payroll data before an approval", "farid.haddad", -30,
                              "done"),
                      Control("Alert on unusual shifts in declared hours per channel", "farid.haddad", 10,
                              "in progress")),
            steps=(_assessed("elif.kaya", "Gaming is cheap and the gain is a credit line"),
                   Step("elif.kaya", {"status": "mitigating", "residual_likelihood": 2, "residual_impact": 3},
                        "Payroll check live; the channel alert is being built"))),
        DemoRisk("amara.okafor", risks.NewRisk(
            title="Declined loan applicants get no reasons", category="transparency/explainability",
            owner="amara.okafor", likelihood=4, impact=4, models=("german-credit v1",), next_review=_day(-3),
            clauses=("Article 13", "MEASURE 2.9", "A.8"),
            description="German credit scores come from a random forest without reason codes. Loan officers make "
                        "the final decision but cannot say which factors drove the score, so an applicant cannot "
                        "understand or contest a decline. The EU AI Act asks that deployers can interpret the "
                        "output (Article 13) and gives affected persons a right to an explanation of decisions "
                        "taken with high-risk systems."),
            controls=(Control("Per-decision reason codes from the Explanations page on the loan officer screen",
                              "farid.haddad", -12, "in progress"),
                      Control("Decline letter template listing the three main reasons", "elif.kaya", 14,
                              "planned")),
            steps=(_assessed("amara.okafor", "Every decline without reasons is exposed to a complaint"),
                   Step("amara.okafor", {"status": "mitigating", "residual_likelihood": 2, "residual_impact": 4},
                        "Reason codes are in pilot with two branches"))),
        DemoRisk("amara.okafor", risks.NewRisk(
            title="Reviewers rubber-stamp model declines", category="compliance", owner="amara.okafor",
            likelihood=3, impact=4, models=ADULT_BOTH, next_review=_day(-20),
            clauses=("Article 14", "GOVERN 3.2", "MANAGE 2.4"),
            description="The intended use has a person review every adult-income decline, but reviewers see the "
                        "model's decision first and have no time set aside to check it; automation bias can make "
                        "the review a formality. Article 14 requires effective human oversight, including the "
                        "ability to disregard the output."),
            controls=(Control("Monthly override-rate report per reviewer", "farid.haddad", 30, "planned"),),
            steps=(_assessed("amara.okafor", "Override rates are not measured yet; scored on the card team's own "
                                             "estimate"),)),
        DemoRisk("farid.haddad", risks.NewRisk(
            title="Vulnerable or tampered third-party libraries in the scoring stack", category="security",
            owner="farid.haddad", likelihood=2, impact=4, models=("adult-income", "german-credit"),
            next_review=_day(180), clauses=("GOVERN 6.1", "Article 15", "A.10"),
            description="Both models run on scikit-learn, NumPy and pandas from public package indexes. A "
                        "vulnerable or compromised release could leak applicant data or change scores; model files "
                        "are loaded with skops, which refuses unknown types, but the libraries themselves are "
                        "trusted."),
            controls=(Control("Pinned dependencies with a weekly vulnerability audit in CI", "farid.haddad", -60,
                              "done"),
                      Control("Load model files only as skops with trusted types", "farid.haddad", -90, "done")),
            evidence=(("other", "CI dependency audit (weekly)", "no known vulnerability in the pinned versions"),),
            steps=(_assessed("farid.haddad", "Both controls in place", residual_likelihood=1, residual_impact=4),
                   Step("elif.kaya", {"status": "accepted"},
                        "Residual 4 (low): pinned, audited dependencies and safe model loading; review in six "
                        "months"))),
        DemoRisk("farid.haddad", risks.NewRisk(
            title="Decision logs kept for 90 days only", category="compliance", owner="farid.haddad", likelihood=4,
            impact=3, models=("adult-income", "german-credit"), next_review=_day(7),
            clauses=("Article 12", "Article 26", "A.6"),
            description="The workspace holds 90 days of telemetry and no retention rule. Article 12 requires "
                        "high-risk systems to log events automatically and Article 26 requires deployers to keep "
                        "those logs for at least six months, so older decisions could not be reconstructed for a "
                        "complaint or a regulator."),
            controls=(Control("Keep telemetry and input records for 13 months", "farid.haddad", 20, "planned"),)),
        DemoRisk("elif.kaya", risks.NewRisk(
            title="Small and dated training sample for German credit", category="performance/drift",
            owner="amara.okafor", likelihood=3, impact=3, models=("german-credit v1",), next_review=_day(120),
            clauses=("MEASURE 2.5", "Article 10", "A.7"),
            description="The model learned from 700 applicants of a German bank decades ago (amounts in Deutsche "
                        "Mark), with good/bad labels that are the bank's judgement rather than observed repayment. "
                        "Accuracy measured on 300 held-out applicants has a wide interval, and the population has "
                        "changed since."),
            steps=(_assessed("elif.kaya", "Scored with lending analytics", residual_likelihood=3, residual_impact=2),
                   Step("amara.okafor", {"status": "accepted"},
                        "Accepted for decision support only: loan officers decide every application and a model "
                        "on current lending data is planned"))),
        DemoRisk("farid.haddad", risks.NewRisk(
            title="No tested rollback for adult-income v2", category="operational", owner="farid.haddad",
            likelihood=3, impact=3, models=("adult-income v2",), clauses=("MANAGE 2.4", "A.6"),
            description="v2 took half of the Adult traffic in an A/B split without a rehearsed way back to v1."),
            controls=(Control("Rehearse switching all traffic back to v1", "farid.haddad", -45, "done"),),
            steps=(_assessed("farid.haddad", "Needed before the A/B split grows"),
                   Step("farid.haddad", {"status": "closed"},
                        "Rollback rehearsed and documented: switching back takes minutes"))),
        DemoRisk("elif.kaya", risks.NewRisk(
            title="Sex and race used directly as model inputs", category="fairness/bias", owner="elif.kaya",
            likelihood=4, impact=5, models=("adult-income v1",), clauses=("MEASURE 2.11", "Article 10"),
            description="An early feature list for adult-income included sex and race."),
            steps=(_assessed("elif.kaya", "Found in the pre-release review"),
                   Step("elif.kaya", {"status": "closed"},
                        "Removed before v1 went to production: sex and race are kept only for fairness audits, "
                        "as the model card states"))),
        DemoRisk("farid.haddad", risks.NewRisk(
            title="Lower approval rates for applicants under 25 in German credit", category="fairness/bias",
            owner="elif.kaya", likelihood=3, impact=3, models=("german-credit v1",), clauses=("MEASURE 2.11",),
            description="Approval rates may be lower for applicants under 25."),
            steps=(Step("elif.kaya", {"status": "withdrawn"},
                        "Recorded twice: age bands are audited together with the foreign-worker group under that "
                        "risk"),)),
    ]


def _record(store: GovernanceStore, spec: DemoRisk) -> None:
    risk_id = risks.add_risk(store, risk=spec.risk, actor=PEOPLE[spec.by])["risk_id"]
    for c in spec.controls:
        risks.add_control(store, risk_id=risk_id, title=c.title, owner=c.owner, due=_day(c.due_in_days),
                          status=c.status, actor=PEOPLE[spec.risk.owner])
    for kind, ref, note in spec.evidence:
        risks.link_evidence(store, risk_id=risk_id, kind=kind, ref=ref, note=note, actor=PEOPLE[spec.by])
    for step in spec.steps:
        risks.update_risk(store, risk_id=risk_id, changes=step.changes, reason=step.reason, actor=PEOPLE[step.by])


def _decide_proposals(store: GovernanceStore, proposed: list[str]) -> None:
    """Accept the drift proposal and dismiss the one-off error spike; the rest wait for the visitor."""
    proposals = [risks.get_risk(store, risk_id=risk_id) for risk_id in proposed]
    drift = next((p for p in proposals if p["category"] == "performance/drift"), None)
    if drift:
        risks.update_risk(store, risk_id=drift["risk_id"], actor=PEOPLE["elif.kaya"],
                          changes={"status": "identified", "owner": "farid.haddad", "next_review": _day(14)},
                          reason="Confirmed: older applicants declaring longer hours are real traffic, not a pipeline "
                                 "fault, and the model was not trained on them")
    spike = next((p for p in proposals if p["category"] == "operational"
                  and any(m.startswith("german-credit") for m in p["models"])), None)
    if spike:
        risks.update_risk(store, risk_id=spike["risk_id"], actor=PEOPLE["amara.okafor"],
                          changes={"status": "dismissed"},
                          reason="A three-hour gateway outage on one day, fixed the same day: an incident for "
                                 "operations, not a model risk")


def seed_demo_risks(store: GovernanceStore) -> None:
    """The demo register; called by `demo.seed_demo` once the models, telemetry and audits are in."""
    for spec in _register(store):
        _record(store, spec)
    _decide_proposals(store, propose_from_monitoring(store)["proposed"])
