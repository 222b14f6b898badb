"""The record as it stood at the end of a day: the day's cut-off, and the parts of the record this layer derives.

An auditor asks what the committee knew on a day. Quorum answers from what cannot have been rewritten since: the
ledger (governance.record.ledger) and the risk register's events (governance.record.risk_chain), both append-only
hash chains whose every row carries the moment it was recorded. The record as it stood at the end of day D is the
fold of the rows recorded before the next midnight (UTC, the one clock), never a copy of the tables kept aside:
the same folds `verify` compares the tables with (governance.record.record_state) run over the shorter chain.

Append-only evidence (fairness audits, robustness runs, explanations) is filtered by its own stored time: it is
never changed after it is stored, so what had been stored by then is exactly the rows stored before the cut-off.

This module holds the cut-off and what the record layer alone can fold (stages, and the stored evidence); the
whole record as of a day, with reviews, risks, policies, alert rules, accounts and tokens, is assembled a few
layers up (governance.reports.as_of.record_as_of), from the services' own rules given the cut-off.

Limits (said where they are shown): telemetry is not part of the record's chains: a telemetry view as of D shows
the rows whose timestamps fall on or before D, whenever they arrived; an account's e-mail address and a token's
last use are not in the ledger and are not reconstructed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from governance.errors import InvalidInputError
from governance.record import clock, record_state
from governance.record.repositories import as_of as as_of_rows
from governance.record.store import GovernanceStore

NOT_A_DAY = "--as-of takes a day like 2026-11-30 (YYYY-MM-DD, UTC), got {value!r}"
FUTURE_DAY = ("{day} is after today ({today}, UTC): the record as it stood can only be shown for a day that has "
              "begun; leave the date empty for the live record")
BEFORE_RECORD = ("{day} is before this workspace's record begins ({first}, UTC): nothing was recorded yet; give a "
                 "day from {first} on")
EMPTY_RECORD = "this workspace has recorded nothing yet, so there is no earlier record to show: drop the date"


@dataclass(frozen=True)
class Cutoff:
    """A day and its cut-off: the record as it stood at the end of `day` is every row recorded before `before`
    (the next midnight, naive UTC as the record stores its times)."""
    day: date
    before: datetime


def parse_day(value) -> date:
    """A day from a date or ISO text (YYYY-MM-DD), or a clear error."""
    try:
        return clock.to_date(value)
    except ValueError:
        raise InvalidInputError(NOT_A_DAY.format(value=value)) from None


def end_of(day: date) -> datetime:
    """The moment day ends: the next midnight, naive UTC."""
    return datetime.combine(day + timedelta(days=1), time())


def cutoff(store: GovernanceStore, *, day) -> Cutoff:
    """The cut-off of `day`; a day after today, or before the workspace's first record, is refused."""
    day = parse_day(day)
    today = clock.today()
    if day > today:
        raise InvalidInputError(FUTURE_DAY.format(day=day, today=today))
    first = as_of_rows.record_begins(store)
    if first is None:
        raise InvalidInputError(EMPTY_RECORD)
    if day < first.date():
        raise InvalidInputError(BEFORE_RECORD.format(day=day, first=first.date()))
    return Cutoff(day=day, before=end_of(day))


def stages(store: GovernanceStore, *, before: datetime) -> dict[tuple[str, str], str]:
    """(model, version) -> its stage then, for every version registered by then: the last stage change recorded
    before the cut-off, else the stage a version is registered with."""
    moved = record_state.stage_changes(store, before=before)
    return {(r.model, r.version): moved.get((r.model, r.version), (record_state.REGISTERED_STAGE, 0))[0]
            for r in as_of_rows.version_registrations(store) if r.created_at < before}


def _verdict_then(audit: as_of_rows.StoredAudit, before: datetime) -> str:
    if audit.ran_at is not None and audit.ran_at < before:
        return audit.verdict
    if audit.failed_at is not None and audit.failed_at < before:
        return "could not run"
    return "not run yet"


def fairness_audits(store: GovernanceStore, *, before: datetime) -> list[dict]:
    """The fairness audits defined by then, newest first, each with its verdict then ('not run yet' for one that
    ran later)."""
    return [{"audit_id": a.audit_id, "model": a.model, "version": a.version, "defined_at": a.defined_at,
             "ran_at": a.ran_at if a.ran_at is not None and a.ran_at < before else None,
             "verdict": _verdict_then(a, before)}
            for a in as_of_rows.fairness_audits(store) if a.defined_at < before]


def robustness_runs(store: GovernanceStore, *, before: datetime) -> list[dict]:
    """The robustness runs defined by then, newest first, each with its status and verdict then (None until it
    had results, as governance.evidence.robustness.list_runs says)."""
    found = []
    for r in as_of_rows.robustness_runs(store):
        if r.defined_at < before:
            ran = r.ran_at is not None and r.ran_at < before
            found.append({"run_id": r.audit_id, "model": r.model, "version": r.version, "defined_at": r.defined_at,
                          "ran_at": r.ran_at if ran else None, "status": "completed" if ran else "defined",
                          "verdict": r.verdict if ran else None})
    return found


def explanations(store: GovernanceStore, *, before: datetime) -> list[dict]:
    """The explanations stored by then, oldest first."""
    return [{"explanation_id": e.explanation_id, "model": e.model, "version": e.version,
             "computed_at": e.computed_at}
            for e in as_of_rows.explanation_times(store) if e.computed_at < before]
