"""`python -m governance audit run|list|show|verify|compare`: fairness audits from scripts and CI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from governance import vocabulary
from governance.cli_files import read_input
from governance.cli_users import acting_user, add_by_argument
from governance.errors import InvalidInputError
from governance.jobs import current_progress

if TYPE_CHECKING:   # the services are imported by the handlers that run: building the parser stays cheap
    from governance.store import GovernanceStore

NO_SOURCE = "say what to audit: --data FILE.csv (with --y-true and --y-pred) or --model M --version V"
BOTH_SOURCES = "give either --data or --model/--version, not both"
FILE_COLUMNS_NEEDED = "--data needs --y-true COL and --y-pred COL (the outcome and the model's prediction)"


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    audit = commands.add_parser("audit", parents=[workspace], help="fairness audits: run, list, show, verify, compare")
    sub = audit.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)

    run = sub.add_parser("run", parents=[workspace], help="lock an audit definition, then run it and store the result")
    source = run.add_argument_group("what to audit (a CSV file, or a model version's stored evaluation set)")
    source.add_argument("--data", metavar="FILE.csv")
    source.add_argument("--y-true", metavar="COL", help="outcome column of --data")
    source.add_argument("--y-pred", metavar="COL", help="prediction column of --data (classes, not probabilities)")
    source.add_argument("--score", metavar="COL", help="probability column of --data, for calibration by group")
    source.add_argument("--pos-label", metavar="VALUE", help="the favourable outcome when labels are text")
    source.add_argument("--model")
    source.add_argument("--version")
    run.add_argument("--sensitive", required=True, metavar="COL[,COL…]", help="sensitive features, audited singly")
    run.add_argument("--intersectional", action="store_true", help="also audit their combinations (e.g. sex × race)")
    run.add_argument("--criteria", default=vocabulary.FAIRNESS_DEFAULT_CRITERIA, metavar="NAME>=V,NAME<=V",
                     help=f"pass/fail criteria (default: {vocabulary.FAIRNESS_DEFAULT_CRITERIA})")
    run.add_argument("--metrics", metavar="NAME[,NAME…]", help="metrics per group (default: all that apply)")
    run.add_argument("--min-group-size", type=int, default=vocabulary.FAIRNESS_DEFAULT_MIN_GROUP_SIZE, metavar="N")
    run.add_argument("--bootstrap", type=int, default=vocabulary.FAIRNESS_DEFAULT_BOOTSTRAP, metavar="N",
                     help="bootstrap resamples for the 95%% intervals")
    run.add_argument("--seed", type=int, default=vocabulary.FAIRNESS_DEFAULT_SEED)
    add_by_argument(run, what="runs the audit")
    run.add_argument("--json", action="store_true", help="print the result as JSON")

    listing = sub.add_parser("list", parents=[workspace], help="audits, newest first")
    listing.add_argument("--model")
    listing.add_argument("--version")
    listing.add_argument("--json", action="store_true", help="print the result as JSON")

    for name, text in (("show", "one audit: definition, groups, criteria, verdicts"),
                       ("verify", "recheck an audit's hashes and recompute its results (exit 1 if anything differs)")):
        one = sub.add_parser(name, parents=[workspace], help=text)
        one.add_argument("audit_id", metavar="ID")
        one.add_argument("--json", action="store_true", help="print the result as JSON")

    compare = sub.add_parser("compare", parents=[workspace], help="two audits' criteria side by side")
    compare.add_argument("a", metavar="ID")
    compare.add_argument("b", metavar="ID")
    compare.add_argument("--json", action="store_true", help="print the result as JSON")


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _run(store: GovernanceStore, args) -> dict:
    from governance import fairness
    from governance.fairness_inputs import read_csv_data

    if args.data and (args.model or args.version):
        raise InvalidInputError(BOTH_SOURCES)
    if args.data:
        if not (args.y_true and args.y_pred):
            raise InvalidInputError(FILE_COLUMNS_NEEDED)
        data = read_csv_data(content=read_input(args.data), name=Path(args.data).name, y_true=args.y_true, y_pred=args.y_pred,
                             score=args.score, pos_label=args.pos_label, sensitive=_names(args.sensitive))
    elif args.model and args.version:
        data = fairness.evaluation_set_data(store, model=args.model, version=args.version)
    else:
        raise InvalidInputError(NO_SOURCE)
    return fairness.run_new_audit(store, data=data, actor=acting_user(store, args.by),
                                  sensitive=_names(args.sensitive), criteria=args.criteria,
                                  metrics=_names(args.metrics) or None, intersectional=args.intersectional,
                                  min_group_size=args.min_group_size, bootstrap=args.bootstrap, seed=args.seed,
                                  progress=_fraction_progress("Resampling for the 95% intervals"))


def _fraction_progress(message: str):
    """The job's or terminal's progress (fraction, message) for a service that reports a fraction only."""
    report = current_progress()
    return None if report is None else (lambda fraction: report(fraction, message))


def _print_audit(audit: dict) -> None:
    d = audit["definition"]
    verdict = audit["verdict"] or ("could not run" if audit["status"] == "failed" else "not run yet")
    print(f"{audit['audit_id']}  {d['source']['name']}  {audit['n'] or 0:,} rows  verdict: {verdict}")
    print(f"  defined {audit['defined_at']} by {audit['defined_by']}; criteria locked before the run; "
          f"seed {d['seed']}, {d['bootstrap']:,} resamples, groups under {d['min_group_size']} too small")
    if audit["status"] == "failed":
        from governance import fairness

        print(f"  {fairness.COULD_NOT_RUN.format(audit_id=audit['audit_id'], reason=audit['failure']['reason'])}")
    if audit["status"] != "completed":
        return
    print(f"  evidence hash {audit['evidence_hash']}")
    for c in audit["criteria"]:
        print(f"  [{c['verdict']}] {' × '.join(c['sensitive'])}: {c['explanation']}")
    print(f"  {audit['correction']['note']}")
    for note in audit["notes"]:
        print(f"  note: {note}")


def _list(store: GovernanceStore, args) -> dict:
    from governance import fairness

    frame = fairness.list_audits(store, model=args.model, version=args.version)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {"audits": [{**r, "defined_at": str(r["defined_at"]), "ran_at": r["ran_at"] and str(r["ran_at"])}
                       for r in records]}


def _print_list(result: dict) -> None:
    if not result["audits"]:
        print("no fairness audits yet: python -m governance audit run --help")
    for a in result["audits"]:
        print(f"{a['audit_id']}  {a['source_name']:<34} {a['sensitive']:<32} {a['verdict']:<13} "
              f"{a['defined_at'][:16]}  {a['defined_by']}")


def _verify(store: GovernanceStore, args) -> dict:
    from governance import fairness

    return fairness.verify_audit(store, audit_id=args.audit_id)


def _show(store: GovernanceStore, args) -> dict:
    from governance import fairness

    return fairness.get_audit(store, audit_id=args.audit_id)


def _print_verify(result: dict) -> None:
    print(f"{result['audit_id']}: {'verified' if result['ok'] else 'VERIFICATION FAILED'}")
    for check in result["checks"]:
        print(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['check']}")


def _compare(store: GovernanceStore, args) -> dict:
    from governance import fairness

    frame = fairness.compare_audits(store, a=args.a, b=args.b)
    return {"a": args.a, "b": args.b, "criteria": frame.astype(object).where(frame.notna(), None).to_dict("records")}


def _print_compare(result: dict) -> None:
    print(f"{'features':<22}{'criterion':<40}{result['a']:>22}{result['b']:>22}")
    for r in result["criteria"]:
        cell = lambda t: "-" if r[f"value_{t}"] is None else f"{r[f'value_{t}']:.3f} {r[f'verdict_{t}']}"  # noqa: E731
        print(f"{r['sensitive']:<22}{r['criterion']:<40}{cell('a'):>22}{cell('b'):>22}")


# subcommand -> (service, printer, exit code for a result)
COMMANDS = {
    "run": (_run, _print_audit, lambda result: 0),
    "list": (_list, _print_list, lambda result: 0),
    "show": (_show, _print_audit, lambda result: 0),
    "verify": (_verify, _print_verify, lambda result: 0 if result["ok"] else 1),
    "compare": (_compare, _print_compare, lambda result: 0),
}
