"""`python -m governance gate …`, `checklist show|attest …` and `retraining policy|check …`: what a version needs
before it ships, from scripts and CI/CD pipelines."""

from __future__ import annotations

import argparse

from governance import vocabulary
from governance.cli.users import acting_user, add_by_argument


def add_parsers(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    gate = commands.add_parser("gate", parents=[workspace],
                               help="may this version run at this stage? exit 0 yes, 1 no with every reason")
    gate.add_argument("--model", required=True)
    gate.add_argument("--version", required=True)
    gate.add_argument("--stage", required=True, choices=vocabulary.SIGNOFF_STAGES[1:])
    gate.add_argument("--caller", metavar="TEXT",
                      help="where the check comes from, in your words, recorded beside the account that asks "
                           "(e.g. 'github-actions run 1234')")
    add_by_argument(gate, what="asks (through the server: the API token's)")
    gate.add_argument("--json", action="store_true", help="print the result as JSON")

    checklist = commands.add_parser("checklist", parents=[workspace], help="a version's validation checklist")
    sub = checklist.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)
    show = sub.add_parser("show", parents=[workspace], help="each item, done or not, with its evidence")
    attest = sub.add_parser("attest", parents=[workspace], help="record that you reviewed the explanation or risks")
    for parser in (show, attest):
        parser.add_argument("--model", required=True)
        parser.add_argument("--version", required=True)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
    attest.add_argument("--item", required=True, choices=tuple(vocabulary.ATTESTED))
    attest.add_argument("--note", required=True, help="what you checked")
    add_by_argument(attest, what="attests")

    retraining = commands.add_parser("retraining", parents=[workspace], help="retraining policy and its triggers")
    rsub = retraining.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)
    setting = rsub.add_parser("policy", parents=[workspace], help="record a model's retraining policy")
    setting.add_argument("--model", required=True)
    setting.add_argument("--drift-act", choices=("yes", "no"), default="yes",
                         help="retrain when a feature drifts to 'act' (default yes)")
    policy = vocabulary.DEFAULT_RETRAINING_POLICY
    setting.add_argument("--accuracy-days", type=int, default=policy["accuracy_below_slo_days"],
                         metavar="N", help="retrain when accuracy is below its service level on N days of 30")
    setting.add_argument("--min-label-coverage", type=float, metavar="SHARE",
                         default=policy["min_label_coverage"])
    setting.add_argument("--max-age-days", type=int, metavar="N",
                         default=policy["max_model_age_days"])
    setting.add_argument("--text", help="the written policy, in words")
    add_by_argument(setting, what="sets the policy")
    setting.add_argument("--json", action="store_true", help="print the result as JSON")
    check = rsub.add_parser("check", parents=[workspace], help="which models meet a retraining trigger now")
    check.add_argument("--model")
    check.add_argument("--json", action="store_true", help="print the result as JSON")


def _gate(store, args) -> dict:
    from governance.decisions import release_gate

    return release_gate.gate(store, model=args.model, version=args.version, stage=args.stage,
                             actor=acting_user(store, args.by), caller=args.caller)


def _print_gate(result: dict) -> None:
    verdict = "PASSES" if result["ok"] else "REFUSED"
    print(f"gate {result['stage']} for {result['model']} {result['version']}: {verdict} "
          f"(recorded as ledger entry {result['ledger_seq']}, asked by {result['checked_by']})")
    for reason in result["reasons"]:
        print(f"  - {reason}")


def _show(store, args) -> dict:
    from governance.decisions import release_gate

    return release_gate.checklist(store, model=args.model, version=args.version)


def _attest(store, args) -> dict:
    from governance.decisions import release_gate

    return release_gate.attest(store, model=args.model, version=args.version, item=args.item, note=args.note,
                               actor=acting_user(store, args.by))


def _print_checklist(result: dict) -> None:
    print(f"checklist of {result['model']} {result['version']}: {'complete' if result['complete'] else 'incomplete'}")
    for item in result["items"]:
        print(f"  [{'x' if item['done'] else ' '}] {item['item']}: {item['detail']}")


def _policy(store, args) -> dict:
    from governance.decisions import release_gate

    return release_gate.set_policy(store, model=args.model, actor=acting_user(store, args.by), policy={
        "drift_act": args.drift_act == "yes", "accuracy_below_slo_days": args.accuracy_days,
        "min_label_coverage": args.min_label_coverage, "max_model_age_days": args.max_age_days, "text": args.text})


def _check(store, args) -> dict:
    from governance.decisions import release_gate

    found = ([release_gate.retraining_triggers(store, model=args.model)] if args.model
             else release_gate.all_triggers(store))
    return {"models": found}


def _print_triggers(result: dict) -> None:
    for model in result["models"]:
        head = "RETRAIN" if model.get("retrain") else "ok"
        print(f"{model['model']} {model['version'] or ''}: {head}")
        for t in model["triggers"]:
            mark = "x" if t["met"] else "?" if t["met"] is None else " "
            print(f"  [{mark}] {t['trigger']}: {t['detail']}")


COMMANDS = {
    "gate": (_gate, _print_gate, lambda result: 0 if result["ok"] else 1),
    ("checklist", "show"): (_show, _print_checklist, lambda result: 0),
    ("checklist", "attest"): (_attest, lambda r: print(f"recorded: {r['item']} of {r['model']} {r['version']} "
                                                         f"by {r['by']}"), lambda result: 0),
    ("retraining", "policy"): (_policy, lambda r: print(f"policy of {r['model']} recorded by {r['set_by']}"),
                               lambda result: 0),
    ("retraining", "check"): (_check, _print_triggers, lambda result: 0),
}
