"""`python -m governance risks list|add|update|history|import|coverage|propose|verify`: the register from scripts.

Changes are made as an account that proves who it is, as on the sign-in screen (`--by USER`, default: your login
name; a local account's password is prompted for or read from QUORUM_PASSWORD); the role is the account's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from governance import vocabulary
from governance.cli.files import read_input
from governance.cli import as_of
from governance.cli.users import acting_user, add_by_argument
from governance.errors import InvalidInputError

if TYPE_CHECKING:   # the services are imported by the handlers that run: building the parser stays cheap
    from governance.access import identity

MAX_IMPORT_BYTES = 20 * 1024 * 1024


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    parser = commands.add_parser("risks", parents=[workspace], help="the AI risk register")
    sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)

    listing = sub.add_parser("list", parents=[workspace], help="risks with their current state")
    listing.add_argument("--model")
    listing.add_argument("--status", choices=vocabulary.RISK_STATUSES)
    listing.add_argument("--json", action="store_true", help="print the result as JSON")

    add = sub.add_parser("add", parents=[workspace], help="record a new risk (status: identified)")
    add.add_argument("--title", required=True)
    add.add_argument("--description", default="")
    add.add_argument("--category", required=True, choices=vocabulary.RISK_CATEGORIES)
    add.add_argument("--model", action="append", default=[], help="a model, or 'model version'; repeat for more")
    add.add_argument("--owner", required=True, help="the user name of the account who answers for the risk")
    add.add_argument("--likelihood", required=True, help="1 (rare) to 5 (almost certain)")
    add.add_argument("--impact", required=True, help="1 (negligible) to 5 (severe)")
    add.add_argument("--clause", action="append", default=[],
                     help="framework clause ref_id, e.g. 'MEASURE 2.11', 'Article 10', 'A.7'; repeat for more")
    add.add_argument("--next-review", metavar="YYYY-MM-DD")
    add_by_argument(add, what="records it")
    add.add_argument("--json", action="store_true", help="print the result as JSON")

    update = sub.add_parser("update", parents=[workspace], help="change fields of a risk, with a reason")
    update.add_argument("risk_id", metavar="ID")
    for field in vocabulary.RISK_EDITABLE:
        update.add_argument(f"--{field.replace('_', '-')}", dest=f"set_{field}", metavar="VALUE",
                            help="several values separated by ';'" if field in ("models", "clauses") else None)
    update.add_argument("--reason", required=True, help="why: recorded with every change")
    add_by_argument(update, what=f"changes it (accepting needs the role "
                                 f"{' or '.join(vocabulary.PERMISSIONS['accept risk'])})")
    update.add_argument("--json", action="store_true", help="print the result as JSON")

    shown = sub.add_parser("history", parents=[workspace], help="every event of one risk, oldest first")
    shown.add_argument("risk_id", metavar="ID")
    shown.add_argument("--json", action="store_true", help="print the result as JSON")

    imported = sub.add_parser("import", parents=[workspace],
                              help="add risks from a CSV: every row is checked first, all or nothing")
    imported.add_argument("file", metavar="FILE.csv")
    add_by_argument(imported, what="imports them")
    imported.add_argument("--json", action="store_true", help="print the result as JSON")

    covered = sub.add_parser("coverage", parents=[workspace], help="framework clauses with risks, controls, evidence")
    covered.add_argument("--framework", required=True, choices=tuple(vocabulary.RISK_FRAMEWORKS))
    covered.add_argument("--stale-after-days", type=int, default=vocabulary.STALE_AFTER_DAYS)
    covered.add_argument("--json", action="store_true", help="print the result as JSON")

    propose = sub.add_parser("propose", parents=[workspace],
                             help="turn monitoring findings (failing audits, drift 'act', SLO breaches) into proposals")
    propose.add_argument("--json", action="store_true", help="print the result as JSON")

    verify = sub.add_parser("verify", parents=[workspace], help="recheck the register's hash chain (exit 1 if broken)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")


def _actor(store, args) -> identity.User:
    return acting_user(store, args.by)


def _list(store, args) -> dict:
    from governance.decisions import risks

    cut = as_of.cutoff(store, args)
    then = {} if cut is None else {"today": cut.day, "before": cut.before}
    return {"risks": risks.list_risks(store, model=args.model, status=args.status, **then)}


def _print_list(result: dict) -> None:
    if not result["risks"]:
        print("no risks recorded: python -m governance risks add --help")
    for r in result["risks"]:
        residual = f" → {r['residual_level']}" if r["residual_level"] else ""
        print(f"{r['risk_id']}  {r['status']:<11} {r['inherent_level']:<8}{residual:<12} {r['category']:<28} "
              f"{r['owner'] or '-':<20} {r['title'][:60]}")


def _add(store, args) -> dict:
    from governance.decisions import risks

    return risks.add_risk(store, actor=_actor(store, args), risk=risks.NewRisk(
        title=args.title, description=args.description, category=args.category, models=args.model, owner=args.owner,
        likelihood=args.likelihood, impact=args.impact, clauses=args.clause, next_review=args.next_review))


def _update(store, args) -> dict:
    from governance.decisions import risks

    changes = {f: getattr(args, f"set_{f}") for f in risks.EDITABLE if getattr(args, f"set_{f}") is not None}
    if not changes:
        raise InvalidInputError("say what to change, e.g. --status assessed or --likelihood 3 (see --help)")
    return risks.update_risk(store, risk_id=args.risk_id, changes=changes, actor=_actor(store, args),
                             reason=args.reason)


def _print_risk(r: dict) -> None:
    print(f"{r['risk_id']}: {r['title']}")
    print(f"  {r['category']}, {r['status']}, owner {r['owner'] or '-'}; models {', '.join(r['models']) or '-'}")
    print(f"  inherent {r['likelihood']}×{r['impact']} = {r['inherent_score']} ({r['inherent_level']})"
          + (f"; residual {r['residual_score']} ({r['residual_level']})" if r["residual_score"] else ""))
    print(f"  clauses {', '.join(r['clauses']) or '-'}; next review {r['next_review'] or '-'}")


def _history(store, args) -> dict:
    from governance.decisions import risks

    cut = as_of.cutoff(store, args)
    return {"risk_id": args.risk_id,
            "events": risks.history(store, risk_id=args.risk_id, before=None if cut is None else cut.before)}


def _print_history(result: dict) -> None:
    for e in result["events"]:
        change = f"{e['field']}: {e['old_value']!r} → {e['new_value']!r}" if e["field"] else e["kind"]
        print(f"{e['at'][:19]}  {e['actor']:<24} {change}" + (f"  (reason: {e['reason']})" if e["reason"] else ""))


def _import(store, args) -> dict:
    from governance.decisions import risks

    content = read_input(args.file, limit=MAX_IMPORT_BYTES,
                         too_big="{path} is over {limit:,.0f} MB: a register that large is not a CSV of risks")
    return {"imported": risks.import_csv(store, content=content, name=Path(args.file).name,
                                         actor=_actor(store, args))}


def _print_import(result: dict) -> None:
    print(f"imported {len(result['imported'])} risks: {', '.join(r['risk_id'] for r in result['imported'])}")


def _coverage(store, args) -> dict:
    from governance.decisions import risks

    return risks.coverage(store, framework=args.framework, stale_after_days=args.stale_after_days)


def _print_coverage(result: dict) -> None:
    c = result["counts"]
    print(f"{result['name']}: {c['covered']} covered, {c['partial']} partial, {c['gap']} gaps "
          f"(evidence older than {result['stale_after_days']} days counts as stale)")
    for row in result["clauses"]:
        print(f"  {row['status']:<8} {row['ref_id']:<14} {row['title'][:60]:<62} {', '.join(row['risks'])}")


def _propose(store, args) -> dict:
    from governance.decisions.risk_proposals import propose_from_monitoring  # reads drift and KPIs: only when asked

    return propose_from_monitoring(store)


def _print_propose(result: dict) -> None:
    print(f"proposed {len(result['proposed'])} risks: {', '.join(result['proposed']) or '-'}")
    for link in result["linked"]:
        print(f"  linked {link['evidence']} to {link['risk_id']}")
    print("accept each with: python -m governance risks update ID --status identified --owner USER --reason …; "
          "or dismiss it with --status dismissed --reason …")


def _verify(store, args) -> dict:
    from governance.record import verification

    return verification.verify_register(store)


def _print_verify(result: dict) -> None:
    print(f"risk register: {result['events']} events, "
          + ("chain intact" if result["ok"] else f"CHAIN BROKEN: {result['problem']}"))


# subcommand -> (service, printer, exit code for a result)
COMMANDS = {
    "list": (_list, _print_list, lambda result: 0),
    "add": (_add, _print_risk, lambda result: 0),
    "update": (_update, _print_risk, lambda result: 0),
    "history": (_history, _print_history, lambda result: 0),
    "import": (_import, _print_import, lambda result: 0),
    "coverage": (_coverage, _print_coverage, lambda result: 0),
    "propose": (_propose, _print_propose, lambda result: 0),
    "verify": (_verify, _print_verify, lambda result: 0 if result["ok"] else 1),
}
