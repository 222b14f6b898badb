"""`python -m governance signoff request|vote|status|list|queue|advance|condition|member|rules`: committee sign-offs.

Everyone acts as an account (`--by USER`) and proves it like on the sign-in screen: a local account's password
is prompted for (or read from QUORUM_PASSWORD in scripts); demo users act without one in the demo workspace.
A vote is a signature: the password given is checked again as the signature's re-authentication.
"""

from __future__ import annotations

import argparse

from governance import vocabulary
from governance.access import identity
from governance.access.caller import acting_name, through_server
from governance.cli import as_of
from governance.cli.users import acting_user, read_password
from governance.errors import InvalidInputError

BAD_CONDITION = "--condition is \"text|owner|YYYY-MM-DD\", got {value!r}"


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    parser = commands.add_parser("signoff", parents=[workspace], help="committee reviews and sign-offs of stage gates")
    sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)

    # its own --as-of is the day the evidence is taken up to: the workspace options without the record's --as-of
    # (a request is a change, made today), so that the two do not clash
    request = sub.add_parser("request", parents=[as_of.without_option(workspace)],
                             help="ask the committee to review a version for its next stage (freezes the evidence)")
    request.add_argument("--model", required=True)
    request.add_argument("--version", required=True)
    request.add_argument("--gate", required=True, choices=vocabulary.SIGNOFF_STAGES[1:], help="the stage to move to")
    request.add_argument("--as-of", metavar="YYYY-MM-DD",
                         help="the day the evidence is taken up to (default: the version's newest telemetry day)")
    request.add_argument("--by", metavar="USER", help="the account requesting (default: your login name)")
    request.add_argument("--json", action="store_true", help="print the result as JSON")

    vote = sub.add_parser("vote", parents=[workspace], help="sign a review with your vote (asks for your password)")
    vote.add_argument("review_id", metavar="RV-NNNN")
    vote.add_argument("--by", metavar="USER", help="the committee member signing (default: your login name)")
    vote.add_argument("--vote", required=True, choices=vocabulary.VOTES)
    vote.add_argument("--reason", required=True, help="why: recorded with the signature")
    vote.add_argument("--condition", action="append", default=[], metavar="TEXT|OWNER|YYYY-MM-DD",
                      help="a condition of approve_with_conditions; repeat for more")
    vote.add_argument("--json", action="store_true", help="print the result as JSON")

    status = sub.add_parser("status", parents=[workspace], help="one review: evidence, votes, decision, validity")
    status.add_argument("review_id", metavar="RV-NNNN")
    status.add_argument("--json", action="store_true", help="print the result as JSON")

    listing = sub.add_parser("list", parents=[workspace], help="reviews, newest first")
    listing.add_argument("--model")
    listing.add_argument("--version")
    listing.add_argument("--json", action="store_true", help="print the result as JSON")

    waiting = sub.add_parser("queue", parents=[workspace], help="open reviews awaiting your vote")
    waiting.add_argument("--by", metavar="USER", help="the committee member (default: your login name)")
    waiting.add_argument("--json", action="store_true", help="print the result as JSON")

    advance = sub.add_parser("advance", parents=[workspace],
                             help="move a version to its next stage on a valid committee approval")
    advance.add_argument("--model", required=True)
    advance.add_argument("--version", required=True)
    advance.add_argument("--stage", required=True, choices=vocabulary.SIGNOFF_STAGES[1:])
    advance.add_argument("--by", metavar="USER", help="the account moving it (default: your login name)")
    advance.add_argument("--reason", required=True)
    advance.add_argument("--json", action="store_true", help="print the result as JSON")

    condition = sub.add_parser("condition", parents=[workspace], help="mark a condition of an approval met or waived")
    condition.add_argument("condition_id", metavar="RV-NNNN-CN")
    condition.add_argument("--status", required=True, choices=vocabulary.CONDITION_STATUSES)
    condition.add_argument("--reason", required=True)
    condition.add_argument("--by", metavar="USER", help="the account recording it (default: your login name)")
    condition.add_argument("--json", action="store_true", help="print the result as JSON")

    member = sub.add_parser("member", parents=[workspace], help="the review committee: list, add, remove")
    member.add_argument("action", choices=("list", "add", "remove"))
    member.add_argument("user_name", metavar="USER", nargs="?")
    member.add_argument("--by", metavar="USER", help="the admin or chair changing it (default: your login name)")
    member.add_argument("--json", action="store_true", help="print the result as JSON")

    rules = sub.add_parser("rules", parents=[workspace], help="the committee's quorum rules: show them, or set one")
    rules.add_argument("key", metavar="SETTING", nargs="?",
                       help="quorum_fraction, chair_required or decision_validity_days (none: show the rules)")
    rules.add_argument("value", metavar="VALUE", nargs="?", help="its new value (recorded in the ledger)")
    rules.add_argument("--by", metavar="USER", help="the admin or chair changing it (default: your login name)")
    rules.add_argument("--json", action="store_true", help="print the result as JSON")


def _by(args) -> str:
    return acting_name(args.by)


def _request(store, args) -> dict:
    from governance.decisions import review_state   # pandas and the telemetry sources: only for the command that runs

    return review_state.request_review(store, model=args.model, version=args.version, gate=args.gate,
                                       actor=acting_user(store, _by(args)), as_of=args.as_of)


def _conditions(values: list[str]) -> list[dict]:
    found = []
    for value in values:
        parts = [p.strip() for p in value.split("|")]
        if len(parts) != 3:
            raise InvalidInputError(BAD_CONDITION.format(value=value))
        found.append({"text": parts[0], "owner": parts[1], "due": parts[2]})
    return found


def _vote(store, args) -> dict:
    """The signer's password (or demo sign-in) is the signature's re-authentication."""
    from governance.decisions import voting

    user = identity.get_user(store, user_name=_by(args))
    method = voting.reauthentication_method(store, signer=user, where="server" if through_server() else "terminal")
    reauth = {"method": method}
    if method == "password":
        reauth["password"] = read_password(prompt=f"Password of {user.user_name} (to sign): ",
                                           variable="QUORUM_PASSWORD")
    return voting.vote(store, review_id=args.review_id, actor=user, vote=args.vote, reason=args.reason,
                       conditions=_conditions(args.condition), reauth=reauth)


def _status(store, args) -> dict:
    from governance.decisions import review_state

    cut = as_of.cutoff(store, args)
    then = {} if cut is None else {"today": cut.day, "before": cut.before}
    return review_state.review(store, review_id=args.review_id, **then)


def _list(store, args) -> dict:
    from governance.decisions import review_state

    cut = as_of.cutoff(store, args)
    then = {} if cut is None else {"today": cut.day, "before": cut.before}
    return {"reviews": review_state.list_reviews(store, model=args.model, version=args.version, **then)}


def _queue(store, args) -> dict:
    from governance.decisions import review_state

    return {"reviews": review_state.queue(store, user=identity.get_user(store, user_name=_by(args)))}


def _advance(store, args) -> dict:
    from governance.decisions import stage_changes

    return stage_changes.advance_stage(store, model=args.model, version=args.version, to_stage=args.stage,
                                       actor=acting_user(store, _by(args)), reason=args.reason)


def _condition(store, args) -> dict:
    from governance.decisions import review_state

    return review_state.update_condition(store, condition_id=args.condition_id, status=args.status, reason=args.reason,
                                         actor=acting_user(store, _by(args)))


def _member(store, args) -> dict:
    from governance.decisions import committee

    if args.action != "list":
        as_of.refuse_change(args)
        if not args.user_name:
            raise InvalidInputError(f"say whom to {args.action}: signoff member {args.action} USER --by ADMIN")
        change = committee.add_member if args.action == "add" else committee.remove_member
        change(store, user_name=args.user_name, actor=acting_user(store, _by(args)))
    before = getattr(as_of.cutoff(store, args), "before", None)
    return {"members": committee.members(store, before=before), "rules": committee.rules(store, before=before)}


def _rules(store, args) -> dict:
    from governance.decisions import committee

    if args.key is not None:
        as_of.refuse_change(args)
        if args.value is None:
            raise InvalidInputError(f"give the new value: signoff rules {args.key} VALUE --by USER")
        return {"rules": committee.set_rule(store, key=args.key, value=args.value, actor=acting_user(store, _by(args)))}
    return {"rules": committee.rules(store, before=getattr(as_of.cutoff(store, args), "before", None))}


# --- printing --------------------------------------------------------------------------------------------------
def _print_review(r: dict) -> None:
    print(f"{r['review_id']}: {r['model']} {r['version']} {r['from_stage']} → {r['gate']}, evidence as of "
          f"{r['as_of']} (SHA-256 {r['evidence_hash'][:16]}…), requested by {r['requested_by']}")
    for v in r["votes"]:
        print(f"  {v['signature']}: {v['reason']}")
        for c in v["conditions"]:
            print(f"      condition: {c['text']} (owner {c['owner']}, due {c['due']})")
    t = r["tally"]
    print(f"  tally: {t['approvals']} for, {t['rejections']} against, {t['abstentions']} abstaining, "
          f"{t['recusals']} recused, {t['remaining']} yet to vote; quorum {'met' if t['quorum'] else 'not met'}")
    if r["decision"]:
        d = r["decision"]
        print(f"  decision: {d['outcome']} at {d['decided_at']}, valid until {d['valid_until']}")
        for c in r["conditions"]:
            print(f"  {c['condition_id']} {c['status']}{' OVERDUE' if c['overdue'] else ''}: {c['text']} "
                  f"(owner {c['owner']}, due {c['due']})")
            if c["status"] != "open":   # who closed it and why: what the committee reads
                print(f"    {c['condition_id']} {c['status']} by {c['updated_by']}: {c['update_reason']}")
    validity = r["validity"]
    print(f"  validity: {validity['state']}" + (" (flagged)" if validity["flagged"] else "")
          + (f" — {validity['summary']}" if validity.get("summary") else ""))


def _print_vote(result: dict) -> None:
    s = result["signature"]
    print(("already signed: " if result["retried"] else "signed: ")
          + f"{s['printed_name']} ({s['role']}) {s['meaning']} {s['review_id']} at {s['signed_at']}")
    if result["decision"]:
        d = result["decision"]
        print(f"decided: {d['outcome']} ({d['tally']['approvals']} for, {d['tally']['rejections']} against), "
              f"valid until {d['valid_until']}")


def _print_list(result: dict) -> None:
    if not result["reviews"]:
        print("no reviews yet: python -m governance signoff request --help")
    for r in result["reviews"]:
        print(f"{r['review_id']}  {r['model']} {r['version']} → {r['gate']:<11} {r['status']:<8} "
              f"{r['outcome'] or '-':<25} {r['validity']}{' (flagged)' if r['flagged'] else ''}  votes {r['votes']}")


def _print_queue(result: dict) -> None:
    if not result["reviews"]:
        print("nothing awaits your vote")
    for r in result["reviews"]:
        print(f"{r['review_id']}  {r['model']} {r['version']} → {r['gate']:<11} requested by {r['requested_by']} "
              f"at {r['requested_at'][:19]}")


def _print_advance(result: dict) -> None:
    print(f"{result['model']} {result['version']}: {result['from_stage']} → {result['to_stage']} "
          f"on {result['review_id']}, by {result['changed_by']}")


def _print_member(result: dict) -> None:
    for m in result["members"]:
        print(f"{m['user_name']:<28} {m['role']:<18} {m['display_name']}")
    r = result["rules"]
    print(f"quorum: more than {r['quorum_fraction']:g} of the non-recused members"
          + (", the chair among them" if r["chair_required"] else "")
          + f"; decisions valid {r['decision_validity_days']} days")


def _print_rules(result: dict) -> None:
    r = result["rules"]
    print(f"quorum: more than {r['quorum_fraction']:g} of the non-recused members"
          + (", the chair among them" if r["chair_required"] else "")
          + f"; decisions valid {r['decision_validity_days']} days")


# subcommand -> (service, printer, exit code for a result)
COMMANDS = {
    "request": (_request, _print_review, lambda result: 0),
    "vote": (_vote, _print_vote, lambda result: 0),
    "status": (_status, _print_review, lambda result: 0),
    "list": (_list, _print_list, lambda result: 0),
    "queue": (_queue, _print_queue, lambda result: 0),
    "advance": (_advance, _print_advance, lambda result: 0),
    "condition": (_condition, _print_review, lambda result: 0),
    "member": (_member, _print_member, lambda result: 0),
    "rules": (_rules, _print_rules, lambda result: 0),
}
