"""Voting on a review: one signature per committee member, bound to the evidence hash of the request, with the
signer's presence confirmed at signing time; the decision rule that settles a review; and why someone may not vote.

Decision rule (`tally`)
    N = the committee's members (current members and anyone who has voted on the review) minus those who
    recused themselves; *cast* = the votes other than recuse (approve, approve_with_conditions, reject,
    abstain). There is a **quorum** when cast > quorum_fraction x N (default one half, so more than half of
    the non-recused members) and, when chair_required (default), a committee chair has cast a vote -- unless
    every chair on the committee recused, when the requirement falls away rather than blocking the review.
    approvals = approve + approve_with_conditions; rejections = reject; abstentions count to the quorum only;
    remaining = non-recused members who have not voted yet. The review is decided as soon as there is a
    quorum and the outcome can no longer change:
        approved  when approvals > rejections + remaining
        rejected  when approvals + remaining <= rejections
    So once everybody has voted (remaining = 0) with a quorum, a tie (or all abstaining) is rejected: there is
    no majority to approve. "approved_with_conditions" is an approval where any approving vote carried
    conditions; each becomes a condition RV-0001-C1, … with an owner and a due date, open until met or waived.
    A decision is valid for decision_validity_days (default 365) after it was taken.

The signature and, when it settles the outcome, the decision are appended to the ledger in one transaction.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta

from governance.access import identity
from governance.access.identity import PermissionDeniedError, User
from governance.decisions.committee import NOT_ON_COMMITTEE, current_account, members, on_committee, rules
from governance.errors import GovernanceError, InvalidInputError
from governance.record import clock, ledger
from governance.record.repositories import reviews as review_record
from governance.record.repositories.reviews import ReviewRecord
from governance.record.store import GovernanceStore
from governance.validation import checked_text as _text
from governance.vocabulary import VOTES

MEANINGS = {"approve": "approved", "approve_with_conditions": "approved with conditions", "reject": "rejected",
            "abstain": "abstained", "recuse": "recused"}
OUTCOMES = ("approved", "approved_with_conditions", "rejected")
SIGNING_FRESHNESS_SECONDS = 600
MAX_REASON = 2_000
MAX_CONDITION = 500
SIGNING_PLACES = ("app", "terminal", "server")
_REVIEW_ID = re.compile(r"^RV-(\d{4,})$")

UNKNOWN_REVIEW = "there is no review {review_id!r}; `python -m governance signoff list` shows them"
NOT_REQUESTED_YET = ("{review_id} had not been requested yet before {before} (UTC): a later day shows it, "
                     "`signoff list --as-of DAY` lists the reviews of a day")
BAD_VOTE = "vote must be one of {known}, got {value!r}"
NEEDS_CONDITIONS = "approve_with_conditions needs at least one condition (text, owner, due date)"
CONDITIONS_ONLY_WITH = "conditions go with the vote approve_with_conditions, not {vote!r}"
BAD_CONDITION = "a condition is {{text, owner, due}}, got {value!r}"
UNKNOWN_OWNER = "condition owner {name!r} has no account in this workspace"
BAD_DATE = "{field} must be a date like 2026-12-31, got {value!r}"
DUE_IN_PAST = "condition due date {due} is in the past: give a date from today ({today}) on"
ALREADY_VOTED = "you already voted on {review_id} ({vote}, at {at}): a signature cannot be changed or repeated"
ALREADY_DECIDED = "{review_id} was already decided ({outcome}, at {at}): votes are closed; request a new review"
REAUTH_NEEDED = ("signing needs you to confirm who you are: re-enter your password (local accounts) "
                 "or sign in again with the identity provider")
REAUTH_PASSWORD = "re-authentication failed: wrong password; re-enter your password to sign"
REAUTH_STALE = ("your identity-provider sign-in is {minutes} minutes old; signing needs one from the last "
                "{limit} minutes: sign in again")
REAUTH_METHOD = "{who} signs in {how}: {fix}"
REAUTH_DEMO = "demo sign-off without a password works only for demo users in the demo workspace: re-enter your password"
REAUTH_OTHER_USER = "re-authentication was for {other}, not {who}: sign in again as yourself"
VOTES_CLOSED = "Votes are closed: the committee has decided."
SIGNED_ALREADY = "You have signed this review."
NOT_A_VOTER = "Only committee members and the chair vote; you act as {role}."
CANNOT_SIGN_HERE = ("{who} cannot sign here: a vote needs the signer's password (a local account) or a sign-in to "
                    "the app (identity provider, demo mode); sign in the app to vote")


def as_date(value, field: str) -> date:
    """A date from a date, a datetime or ISO text; refuses anything else naming `field`."""
    try:
        return clock.to_date(value)
    except ValueError:
        raise InvalidInputError(BAD_DATE.format(field=field, value=value)) from None


def check_review_id(review_id) -> str:
    """The review id (RV-0001), stripped; refuses anything that cannot be one."""
    text = (review_id or "").strip() if isinstance(review_id, str) else ""
    if not _REVIEW_ID.match(text):
        raise InvalidInputError(UNKNOWN_REVIEW.format(review_id=review_id))
    return text


def review_events(store: GovernanceStore, review_id: str, *, before: datetime | None = None) -> ReviewRecord:
    """The ledger entries of one review (`before`: recorded before that moment, the review as it stood then);
    refuses an id no review was requested under."""
    found = review_record.review_record(store, review_id=review_id, before=before)
    if found is None and before is not None and review_record.review_record(store, review_id=review_id) is not None:
        raise InvalidInputError(NOT_REQUESTED_YET.format(review_id=review_id, before=before.isoformat(sep=" ")))
    if found is None:
        raise InvalidInputError(UNKNOWN_REVIEW.format(review_id=review_id))
    return found


def votes_by_person(signatures) -> dict[str, dict]:
    """One vote per person: the first signature counts (the service never records a second)."""
    votes: dict[str, dict] = {}
    for entry in signatures:
        votes.setdefault(entry["payload"]["user_name"], {**entry["payload"], "seq": entry["seq"],
                                                         "entry_hash": entry["entry_hash"]})
    return votes


def tally(*, votes: dict[str, dict], committee: list[dict], rule: dict) -> dict:
    """The decision rule (see the module docstring) over votes by user name and the committee's members."""
    roles = {m["user_name"]: m["role"] for m in committee}
    roles.update({name: v["role"] for name, v in votes.items()})
    recused = {name for name, v in votes.items() if v["vote"] == "recuse"}
    electorate = set(roles) - recused
    cast = {name: v["vote"] for name, v in votes.items() if v["vote"] != "recuse"}
    counts = {vote: sum(1 for v in cast.values() if v == vote) for vote in VOTES if vote != "recuse"}
    counts["recuse"] = len(recused)
    approvals = counts["approve"] + counts["approve_with_conditions"]
    rejections = counts["reject"]
    remaining = len(electorate - set(votes))
    chairs = {name for name in electorate if roles[name] == "committee chair"}
    chair_cast = bool(chairs & set(cast))
    chair_ok = not rule["chair_required"] or not chairs or chair_cast
    quorum = bool(electorate) and len(cast) > rule["quorum_fraction"] * len(electorate) and chair_ok
    outcome = None
    if quorum:
        if approvals > rejections + remaining:
            conditional = any(v["vote"] == "approve_with_conditions" for v in votes.values())
            outcome = "approved_with_conditions" if conditional else "approved"
        elif approvals + remaining <= rejections:
            outcome = "rejected"
    return {"members": len(electorate), "cast": len(cast), "approvals": approvals, "rejections": rejections,
            "abstentions": counts["abstain"], "recusals": len(recused), "remaining": remaining,
            "counts": counts, "quorum": quorum, "chair_voted": chair_cast, "outcome": outcome}


def _decision_payload(*, review_id: str, request: dict, votes: dict[str, dict], result: dict, rule: dict) -> dict:
    decided = clock.now()   # one moment for the decision's time and the first day of its validity
    outcome = result["outcome"]
    approving = outcome != "rejected"
    against = ("reject",) if approving else ("approve", "approve_with_conditions")
    ordered = sorted(votes.values(), key=lambda v: v["seq"])
    conditions = []
    if approving:
        for v in ordered:
            for c in v["conditions"]:
                conditions.append({"condition_id": f"{review_id}-C{len(conditions) + 1}", "text": c["text"],
                                   "owner": c["owner"], "due": c["due"], "status": "open",
                                   "set_by": v["user_name"]})
    return {"review_id": review_id, "outcome": outcome, "tally": result,
            "voters": [{"user_name": v["user_name"], "printed_name": v["printed_name"], "role": v["role"],
                        "vote": v["vote"]} for v in ordered],
            "dissent": [{"user_name": v["user_name"], "printed_name": v["printed_name"], "vote": v["vote"],
                         "reason": v["reason"]} for v in ordered if v["vote"] in against],
            "conditions": conditions, "decided_at": decided.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "valid_until": str(decided.date() + timedelta(days=rule["decision_validity_days"])),
            "evidence_hash": request["evidence_hash"], "as_of": request["as_of"],
            "model": request["model"], "version": request["version"], "gate": request["gate"]}


def _conditions(store: GovernanceStore, vote: str, conditions, *, today: date) -> list[dict]:
    conditions = list(conditions or ())
    if vote != "approve_with_conditions":
        if conditions:
            raise InvalidInputError(CONDITIONS_ONLY_WITH.format(vote=vote))
        return []
    if not conditions:
        raise InvalidInputError(NEEDS_CONDITIONS)
    checked = []
    for c in conditions:
        if not isinstance(c, dict) or set(c) - {"text", "owner", "due"}:
            raise InvalidInputError(BAD_CONDITION.format(value=c))
        text = _text(c.get("text"), "condition", limit=MAX_CONDITION)
        owner = _text(c.get("owner"), "condition owner", limit=identity.MAX_NAME)
        try:
            owner = identity.get_user(store, user_name=owner).user_name
        except GovernanceError:
            raise InvalidInputError(UNKNOWN_OWNER.format(name=owner)) from None
        due = as_date(c.get("due"), "condition due date")
        if due < today:
            raise InvalidInputError(DUE_IN_PAST.format(due=due, today=today))
        checked.append({"text": text, "owner": owner, "due": str(due)})
    return checked


def reauthentication_method(store: GovernanceStore, *, signer: User, where: str) -> str:
    """How `signer` proves at signing time that they are there: the one rule the Sign-offs page and the CLI share.

    A local account re-enters its password (in the app, at a terminal or through the server). An account of the
    identity provider signs in the app, on a sign-in from the last SIGNING_FRESHNESS_SECONDS (no terminal can show
    that). A demo person signs without a password, only in the demo workspace and not through a server: a token
    proves its account, not that anyone is at the keyboard. `where`: "app", "terminal" or "server".
    Returns "password", "oidc" or "demo" (the `reauth` method `vote` then checks), or refuses saying where to sign."""
    if where not in SIGNING_PLACES:
        raise ValueError(f"where must be one of {SIGNING_PLACES}, got {where!r}")
    if signer.source == "local":
        return "password"
    if signer.source == "oidc" and where == "app":
        return "oidc"
    if signer.source == "demo" and where != "server" and identity.is_demo_workspace(store):
        return "demo"
    raise PermissionDeniedError(CANNOT_SIGN_HERE.format(who=signer.user_name))


def reauthenticate(store: GovernanceStore, *, actor: User, reauth) -> str:
    """Confirm the signer is present now; returns the method used. See `vote`."""
    if not isinstance(reauth, dict) or reauth.get("method") not in ("password", "oidc", "demo"):
        raise PermissionDeniedError(REAUTH_NEEDED)
    method = reauth["method"]
    if method == "password":
        if actor.source != "local":
            how = "through the identity provider" if actor.source == "oidc" else "as a demo user"
            fix = "sign in again" if actor.source == "oidc" else "use the demo sign-off"
            raise PermissionDeniedError(REAUTH_METHOD.format(who=actor.user_name, how=how, fix=fix))
        try:
            confirmed = identity.authenticate(store, user_name=actor.user_name, password=reauth.get("password") or "")
        except identity.SignInError:
            raise PermissionDeniedError(REAUTH_PASSWORD) from None
        if confirmed.user_name != actor.user_name:
            raise PermissionDeniedError(REAUTH_OTHER_USER.format(other=confirmed.user_name, who=actor.user_name))
        return "password"
    if method == "oidc":
        if actor.source != "oidc":
            raise PermissionDeniedError(REAUTH_METHOD.format(
                who=actor.user_name, how="with a password" if actor.source == "local" else "as a demo user",
                fix="re-enter your password" if actor.source == "local" else "use the demo sign-off"))
        signed_in_at = reauth.get("signed_in_at")
        if isinstance(signed_in_at, bool) or not isinstance(signed_in_at, (int, float)):
            raise PermissionDeniedError(REAUTH_NEEDED)
        age = time.time() - float(signed_in_at)
        if age > SIGNING_FRESHNESS_SECONDS or age < -60:  # a minute of clock skew either way, no more
            raise PermissionDeniedError(REAUTH_STALE.format(minutes=max(0, round(age / 60)),
                                                            limit=SIGNING_FRESHNESS_SECONDS // 60))
        return "oidc"
    if actor.source != "demo" or not identity.is_demo_workspace(store):
        raise PermissionDeniedError(REAUTH_DEMO)
    return "demo"


def vote(store: GovernanceStore, *, review_id: str, actor: User, vote: str, reason: str, conditions=(),
         reauth: dict | None = None, idempotency_key: str | None = None) -> dict:
    """Sign a review: one vote per committee member, bound to the request's evidence hash.

    vote       approve, approve_with_conditions, reject, abstain or recuse
    reason     why, in the signer's words (required, at most 2,000 characters)
    conditions with approve_with_conditions only, at least one: {text, owner (a user name), due (ISO date)}
    reauth     proof the signer is present now: {"method": "password", "password": …} for local accounts,
               {"method": "oidc", "signed_in_at": epoch seconds} within SIGNING_FRESHNESS_SECONDS for accounts of
               the identity provider, {"method": "demo"} for demo users in the demo workspace
    Returns {"signature", "decision" (None while open), "retried"}. Submitting the very same vote again (a
    retry) returns the first signature; any other second vote is refused.
    """
    identity.require(actor, "vote")
    review_id = check_review_id(review_id)
    if vote not in VOTES:
        raise InvalidInputError(BAD_VOTE.format(known=", ".join(VOTES), value=vote))
    reason = _text(reason, "reason", limit=MAX_REASON)
    checked = _conditions(store, vote, conditions, today=clock.today())
    signer = current_account(store, actor)
    identity.require(signer, "vote")
    method = reauthenticate(store, actor=signer, reauth=reauth)
    with store.write() as tx:
        events = review_events(store, review_id)
        request = events.request["payload"]
        votes = votes_by_person(events.signatures)
        mine = votes.get(signer.user_name)
        if mine is not None:
            same = (mine["vote"], mine["reason"], mine["conditions"]) == (vote, reason, checked)
            if same and (idempotency_key is None or mine.get("submission") in (None, idempotency_key)):
                decision = events.decision["payload"] if events.decision else None
                return {"signature": mine, "decision": decision, "retried": True}
            raise InvalidInputError(ALREADY_VOTED.format(review_id=review_id, vote=mine["vote"], at=mine["signed_at"]))
        if not on_committee(store, user_name=signer.user_name):
            raise PermissionDeniedError(NOT_ON_COMMITTEE.format(who=signer.display_name, role=signer.role))
        if events.decision:
            d = events.decision["payload"]
            raise InvalidInputError(ALREADY_DECIDED.format(review_id=review_id, outcome=d["outcome"],
                                                           at=d["decided_at"]))
        payload = {"review_id": review_id, "evidence_hash": request["evidence_hash"], "user_name": signer.user_name,
                   "printed_name": signer.display_name, "role": signer.role, "meaning": MEANINGS[vote],
                   "vote": vote, "reason": reason, "conditions": checked, "signed_at": clock.now_iso_seconds(),
                   "auth_method": method}
        if idempotency_key:
            payload["submission"] = idempotency_key
        entry = ledger.append(store, actor=signer.recorded_as, kind="signature", subject=review_id,
                              payload=payload, idempotency_key=f"signature:{review_id}:{signer.user_name}")
        votes[signer.user_name] = {**payload, "seq": entry["seq"], "entry_hash": entry["entry_hash"]}
        rule = rules(store)
        result = tally(votes=votes, committee=members(store), rule=rule)
        decision = None
        if result["outcome"]:
            decision = _decision_payload(review_id=review_id, request=request, votes=votes, result=result, rule=rule)
            ledger.append(store, actor=signer.recorded_as, kind="decision", subject=review_id, payload=decision,
                          idempotency_key=f"decision:{review_id}")
    return {"signature": votes[signer.user_name], "decision": decision, "retried": False}


def why_no_vote(store: GovernanceStore, *, review: dict, user: User) -> str | None:
    """None when `user` may sign `review` (as `review` folds it) now, else why not: the eligibility the Sign-offs
    page shows, from the same facts `vote` checks (an open review, one signature each, a voting role, a seat on the
    committee)."""
    if review["status"] != "open":
        return VOTES_CLOSED
    if any(v["user_name"] == user.user_name for v in review["votes"]):
        return SIGNED_ALREADY
    if not identity.allowed(user, "vote"):
        return NOT_A_VOTER.format(role=user.role)
    if not on_committee(store, user_name=user.user_name):
        return NOT_ON_COMMITTEE.format(who=user.display_name, role=user.role)
    return None
