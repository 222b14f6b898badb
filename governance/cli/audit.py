"""`python -m governance audit run|list|show|verify|compare|policy`: fairness audits from scripts and CI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from governance import vocabulary
from governance.cli.files import read_input
from governance.cli import as_of
from governance.cli.users import acting_user, add_by_argument
from governance.errors import InvalidInputError
from governance.jobs import current_progress

if TYPE_CHECKING:   # the services are imported by the handlers that run: building the parser stays cheap
    from governance.record.store import GovernanceStore

NO_SOURCE = "say what to audit: --data FILE.csv (with --y-true and --y-pred) or --model M --version V"
BOTH_SOURCES = "give either --data or --model/--version, not both"
FILE_COLUMNS_NEEDED = "--data needs --y-true COL and --y-pred COL (the outcome and the model's prediction)"


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    audit = commands.add_parser("audit", parents=[workspace], help="fairness audits: run, list, show, verify, compare; the fairness policy")
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
        if name == "verify":
            one.add_argument("--file", metavar="FILE.csv", help="the audited CSV file, for an audit of a file: "
                             "the workspace keeps only its hash, so its results are recomputed only from this file")
        one.add_argument("--json", action="store_true", help="print the result as JSON")

    compare = sub.add_parser("compare", parents=[workspace], help="two audits' criteria side by side")
    compare.add_argument("a", metavar="ID")
    compare.add_argument("b", metavar="ID")
    compare.add_argument("--json", action="store_true", help="print the result as JSON")

    policy = sub.add_parser("policy", parents=[workspace],
                            help="a model's fairness policy (the bar its audits must clear): show it, or set it")
    policy.add_argument("action", choices=("show", "set"), help="show: the policy in force, its history and each "
                        "version's standing result; set: record a new policy (committee chair or admin)")
    policy.add_argument("--model", required=True)
    policy.add_argument("--criterion", action="append", metavar="NAME>=V",
                        help="set: a criterion, as `audit run --criteria` takes them; repeat for each "
                             "(e.g. --criterion demographic_parity_ratio>=0.8 --criterion "
                             "equalized_odds_difference<=0.1)")
    policy.add_argument("--min-group-size", type=int, default=vocabulary.FAIRNESS_DEFAULT_MIN_GROUP_SIZE,
                        metavar="N", help="set: the largest minimum group size an audit may use (default "
                                          f"{vocabulary.FAIRNESS_DEFAULT_MIN_GROUP_SIZE})")
    policy.add_argument("--reason", help="set: why the policy is set or changed (required; recorded in the ledger)")
    add_by_argument(policy, what="sets the policy")
    policy.add_argument("--json", action="store_true", help="print the result as JSON")


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _run(store: GovernanceStore, args) -> dict:
    from governance.evidence import fairness
    from governance.evidence.fairness_inputs import read_csv_data

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
        from governance.evidence import fairness

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
    from governance.evidence import fairness

    frame = fairness.list_audits(store, model=args.model, version=args.version)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    cut = as_of.cutoff(store, args)
    if cut is not None:   # the audits defined by then, each as it stood: one that ran later had not run yet
        from governance.record import as_of as record_as_of

        then = {a["audit_id"]: a for a in record_as_of.fairness_audits(store, before=cut.before)}
        records = [r if then[r["audit_id"]]["ran_at"] is not None else
                   {**r, "verdict": then[r["audit_id"]]["verdict"], "ran_at": None, "ran_by": None, "n_rows": None,
                    "evidence_hash": None, "pass": None, "fail": None, "inconclusive": None}
                   for r in records if r["audit_id"] in then]
    return {"audits": [{**r, "defined_at": str(r["defined_at"]), "ran_at": r["ran_at"] and str(r["ran_at"])}
                       for r in records]}


def _print_list(result: dict) -> None:
    if not result["audits"]:
        print("no fairness audits yet: python -m governance audit run --help")
    for a in result["audits"]:
        print(f"{a['audit_id']}  {a['source_name']:<34} {a['sensitive']:<32} {a['verdict']:<13} "
              f"{a['defined_at'][:16]}  {a['defined_by']}")


def _verify(store: GovernanceStore, args) -> dict:
    from governance.evidence import fairness

    if args.file:
        return fairness.verify_audit(store, audit_id=args.audit_id, file=read_input(args.file),
                                     file_name=Path(args.file).name)
    return fairness.verify_audit(store, audit_id=args.audit_id)


def _show(store: GovernanceStore, args) -> dict:
    from governance.evidence import fairness

    return fairness.get_audit(store, audit_id=args.audit_id)


def _print_verify(result: dict) -> None:
    partly = "" if result.get("recomputed", True) else " (in part: see what was not recomputed below)"
    print(f"{result['audit_id']}: {'verified' + partly if result['ok'] else 'VERIFICATION FAILED'}")
    for check in result["checks"]:
        print(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['check']}")
        if check.get("detail"):
            print(f"       {check['detail']}")
    for skipped in result.get("not_recomputed", []):
        print(f"  NOT RECOMPUTED {skipped['what']}: {skipped['why']}")


def _compare(store: GovernanceStore, args) -> dict:
    from governance.evidence import fairness

    frame = fairness.compare_audits(store, a=args.a, b=args.b)
    return {"a": args.a, "b": args.b, "criteria": frame.astype(object).where(frame.notna(), None).to_dict("records")}


def _print_compare(result: dict) -> None:
    print(f"{'features':<22}{'criterion':<40}{result['a']:>22}{result['b']:>22}")
    for r in result["criteria"]:
        cell = lambda t: "-" if r[f"value_{t}"] is None else f"{r[f'value_{t}']:.3f} {r[f'verdict_{t}']}"  # noqa: E731
        print(f"{r['sensitive']:<22}{r['criterion']:<40}{cell('a'):>22}{cell('b'):>22}")


SET_NEEDS = "audit policy set needs --criterion NAME>=V (one or more) and --reason TEXT"
SHOW_TAKES_NO = "audit policy show takes only --model (and --json): {options} are for `audit policy set`"


def _policy(store: GovernanceStore, args) -> dict:
    from governance.decisions import release_gate
    from governance.evidence import fairness_policy
    from governance.monitoring.inventory import list_versions, require_model

    if args.action == "set":
        as_of.refuse_change(args)
        if not args.criterion or not (args.reason or "").strip():
            raise InvalidInputError(SET_NEEDS)
        # each --criterion may itself hold several, comma-separated, as `audit run --criteria` takes them
        criteria = [part for text in args.criterion for part in text.split(",")]
        return fairness_policy.set_policy(store, model=args.model, criteria=criteria, reason=args.reason,
                                          min_group_size=args.min_group_size,
                                          actor=acting_user(store, args.by)).as_dict()
    given = [name for name, value in (("--criterion", args.criterion), ("--reason", args.reason),
                                      ("--by", args.by)) if value]
    if given:
        raise InvalidInputError(SHOW_TAKES_NO.format(options=", ".join(given)))
    require_model(store, model=args.model)
    cut = as_of.cutoff(store, args)
    if cut is not None:   # the policy in force then, and the ones set before it (the standing results are today's)
        history = [p for p in fairness_policy.policy_history(store, model=args.model)
                   if p.set_at.replace("Z", "") < cut.before.isoformat()]
        return {"model": args.model,
                "in_force": fairness_policy.policies_in_force(store, model=args.model, at=cut.before)[0].as_dict(),
                "history": [p.as_dict() for p in history], "standing": {}}
    versions = list_versions(store)
    standing = {v: release_gate.standing_fairness_result(store, model=args.model, version=v).as_dict()
                for v in sorted(versions[versions["model"] == args.model]["version"])}
    for result in standing.values():
        result.pop("policy")   # the policy in force is shown once, above
    return {"model": args.model, "in_force": fairness_policy.policy_in_force(store, model=args.model).as_dict(),
            "history": [p.as_dict() for p in fairness_policy.policy_history(store, model=args.model)],
            "standing": standing}


def _print_policy_line(p: dict) -> str:
    who = f"set by {p['set_by']} at {p['set_at']}" if p["set_by"] else "the defaults (no policy recorded)"
    return (f"{', '.join(p['criteria'])}; {p['confidence']:.0%} intervals; minimum group size at most "
            f"{p['min_group_size']:,} — {who}: {p['reason']}")


def _print_policy(result: dict) -> None:
    if "in_force" not in result:   # set: the policy just recorded
        print(f"{result['model']}: fairness policy recorded (ledger entry {result['ledger_seq']})")
        print(f"  {_print_policy_line(result)}")
        return
    print(f"{result['model']}: fairness policy in force")
    print(f"  {_print_policy_line(result['in_force'])}")
    if len(result["history"]) > 1:
        print("  earlier:")
        for p in result["history"][:-1]:
            print(f"    {_print_policy_line(p)}")
    for version, s in result["standing"].items():
        state = "done" if s["done"] else "not done"
        print(f"{version}: standing {s['audit_id'] or 'none'} ({s['verdict'] or 'no audit counts'}), checklist "
              f"{state}: {s['why']}")
        for aside in s["set_aside"]:
            print(f"  set aside {aside['audit_id']} ({aside['verdict']}): {aside['reason']}")


# subcommand -> (service, printer, exit code for a result)
COMMANDS = {
    "run": (_run, _print_audit, lambda result: 0),
    "list": (_list, _print_list, lambda result: 0),
    "show": (_show, _print_audit, lambda result: 0),
    "verify": (_verify, _print_verify, lambda result: 0 if result["ok"] else 1),
    "compare": (_compare, _print_compare, lambda result: 0),
    "policy": (_policy, _print_policy, lambda result: 0),
}
