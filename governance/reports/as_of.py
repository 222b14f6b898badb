"""The whole record as it stood at the end of a day, for the app's "As of" date and the CLI's --as-of.

Everything here is derived from the event logs, never from copies of tables kept aside: the ledger's entries and
the risk register's events recorded before the day's cut-off (governance.record.as_of says why and how), folded by
the very services that fold them for today, given the cut-off and the day as their "today":
- stages, committee members and rules, accounts and tokens: governance.record.record_state's folds (the ones
  `verify` compares the tables with);
- reviews and their validity: governance.decisions.review_state (expiry and overdue conditions judged on that day,
  staleness from the audits run and the telemetry timestamped by then);
- risks and their scores: governance.decisions.risks' fold of the register's events;
- the fairness policy (governance.evidence.fairness_policy: the one in force at a moment), the retraining policy
  (governance.decisions.release_gate), alert rules and schedule (governance.alerts), each the newest ledger entry
  recorded before the cut-off;
- the audits, robustness runs and explanations stored by then (append-only evidence, by its stored time).

It lives at this layer because it gathers decisions, evidence and alert settings together, as the reports do; the
record layer below holds the cut-off (governance.record.as_of).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from governance.access import identity, tokens as token_service
from governance import alerts
from governance.decisions import committee, release_gate, review_state, risks
from governance.evidence import fairness_policy
from governance.record import as_of as record_cutoff
from governance.record.store import GovernanceStore

READ_ONLY = "the record as it stood at the end of {day} (UTC) — read-only"
WRITES_TODAY = "--as-of shows the record as it stood; changes are made today: drop --as-of"


@dataclass(frozen=True)
class RecordAsOf:
    """The record as it stood at the end of `day` (UTC): every row recorded before `before` (the next midnight)."""
    day: date
    before: datetime
    stages: dict = field(default_factory=dict)            # (model, version) -> stage
    reviews: list = field(default_factory=list)           # review_state.list_reviews' summaries, newest first
    risks: list = field(default_factory=list)             # risks.list_risks' risks, by id
    fairness_policies: dict = field(default_factory=dict)  # model -> FairnessPolicy.as_dict()
    retraining_policies: dict = field(default_factory=dict)  # model -> release_gate.policy()
    alert_rules: dict = field(default_factory=dict)        # model -> alerts.rules()
    alert_schedule: dict = field(default_factory=dict)     # alerts.schedule()
    accounts: list = field(default_factory=list)           # identity.Account, by display name
    committee: list = field(default_factory=list)          # committee.members()
    committee_rules: dict = field(default_factory=dict)    # committee.rules()
    tokens: list = field(default_factory=list)             # tokens.TokenInfo, newest first
    fairness_audits: list = field(default_factory=list)
    robustness_runs: list = field(default_factory=list)
    explanations: list = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        """The models with a version registered by then."""
        return sorted({model for model, _ in self.stages})

    @property
    def banner(self) -> str:
        return READ_ONLY.format(day=self.day)

    def versions(self) -> list[dict]:
        return [{"model": m, "version": v, "stage": s} for (m, v), s in sorted(self.stages.items())]

    def as_dict(self) -> dict:
        """Plain JSON values (times as ISO text), what `--json` prints."""
        def plain(value):
            if isinstance(value, (datetime, date)):
                return value.isoformat()
            if isinstance(value, dict):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            return value
        return plain({"as_of": str(self.day), "versions": self.versions(), "reviews": self.reviews,
                      "risks": self.risks, "fairness_policies": self.fairness_policies,
                      "retraining_policies": self.retraining_policies, "alert_rules": self.alert_rules,
                      "alert_schedule": self.alert_schedule,
                      "accounts": [account_dict(a) for a in self.accounts], "committee": self.committee,
                      "committee_rules": self.committee_rules, "tokens": [asdict(t) for t in self.tokens],
                      "fairness_audits": self.fairness_audits, "robustness_runs": self.robustness_runs,
                      "explanations": self.explanations})


def account_dict(account: identity.Account) -> dict:
    return {**asdict(account.user), "email": account.email, "disabled": account.disabled}


def record_as_of(store: GovernanceStore, *, day) -> RecordAsOf:
    """The record as it stood at the end of `day` (a date or YYYY-MM-DD, UTC); a day after today or before the
    workspace's first record is refused with what to do."""
    cut = record_cutoff.cutoff(store, day=day)
    before, today = cut.before, cut.day
    stages = record_cutoff.stages(store, before=before)
    models = sorted({model for model, _ in stages})
    return RecordAsOf(
        day=today, before=before, stages=stages,
        reviews=review_state.list_reviews(store, today=today, before=before),
        risks=risks.list_risks(store, today=today, before=before),
        fairness_policies={m: fairness_policy.policies_in_force(store, model=m, at=before)[0].as_dict()
                           for m in models},
        retraining_policies={m: release_gate.policy(store, model=m, before=before) for m in models},
        alert_rules={m: alerts.rules(store, model=m, before=before) for m in models},
        alert_schedule=alerts.schedule(store, before=before),
        accounts=identity.accounts_as_of(store, before=before),
        committee=committee.members(store, before=before),
        committee_rules=committee.rules(store, before=before),
        tokens=token_service.tokens_as_of(store, before=before),
        fairness_audits=record_cutoff.fairness_audits(store, before=before),
        robustness_runs=record_cutoff.robustness_runs(store, before=before),
        explanations=record_cutoff.explanations(store, before=before))
