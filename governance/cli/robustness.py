"""`python -m governance robustness run|list|show`: robustness checks of a model version from scripts and CI."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from governance import vocabulary
from governance.cli.users import acting_user, add_by_argument
from governance.jobs import current_progress

if TYPE_CHECKING:   # the services are imported by the handlers that run: building the parser stays cheap
    from governance.record.store import GovernanceStore

DEFAULT_LEVELS_TEXT = ",".join(f"{level:g}" for level in vocabulary.ROBUSTNESS_DEFAULT_LEVELS)


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    parser = commands.add_parser("robustness", parents=[workspace],
                                 help="robustness checks: perturbation, shift and missing values (run, list, show)")
    sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)

    run = sub.add_parser("run", parents=[workspace],
                         help="lock a run's criteria, then run it on the version's evaluation set and store it")
    run.add_argument("--model", required=True)
    run.add_argument("--version", required=True)
    run.add_argument("--levels", default=DEFAULT_LEVELS_TEXT, metavar="L[,L…]",
                     help="noise levels in (0, 1]: sd as a fraction of each numeric feature's sd, and the chance "
                          f"of a category swap (default: {DEFAULT_LEVELS_TEXT})")
    run.add_argument("--criteria", default=vocabulary.ROBUSTNESS_DEFAULT_CRITERIA, metavar="NAME<=V[@LEVEL],…",
                     help=f"pass/fail criteria, fixed before the run (default: "
                          f"{vocabulary.ROBUSTNESS_DEFAULT_CRITERIA}); "
                          f"names: {', '.join(vocabulary.ROBUSTNESS_CRITERIA)}")
    run.add_argument("--seed", type=int, default=vocabulary.ROBUSTNESS_DEFAULT_SEED)
    run.add_argument("--min-slice", type=int, default=vocabulary.ROBUSTNESS_DEFAULT_MIN_SLICE, metavar="N",
                     help="slices with fewer rows are reported too small, with no figure")
    add_by_argument(run, what="runs the checks")
    run.add_argument("--json", action="store_true", help="print the result as JSON")

    listing = sub.add_parser("list", parents=[workspace], help="robustness runs, newest first")
    listing.add_argument("--model")
    listing.add_argument("--version")
    listing.add_argument("--json", action="store_true", help="print the result as JSON")

    show = sub.add_parser("show", parents=[workspace], help="one run: definition, checks, criteria and verdicts")
    show.add_argument("run_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print the result as JSON")


def _run(store: GovernanceStore, args) -> dict:
    from governance.evidence import robustness

    return robustness.run_robustness(store, model=args.model, version=args.version, actor=acting_user(store, args.by),
                                     levels=args.levels, criteria=args.criteria, seed=args.seed,
                                     min_slice=args.min_slice,
                                     progress=_fraction_progress("Running the robustness checks"))


def _fraction_progress(message: str):
    """The job's or terminal's progress (fraction, message) for a service that reports a fraction only."""
    report = current_progress()
    return None if report is None else (lambda fraction: report(fraction, message))


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _change(drop) -> str:
    """An accuracy drop as a signed change in percentage points: 0.012 -> "-1.2 pts"."""
    return "-" if drop is None else f"{-100 * drop:+.1f} pts"


def _print_run(run: dict) -> None:
    d = run["definition"]
    print(f"{run['run_id']}  {run['model']} {run['version']}  {run['n'] or d['source']['rows_used']:,} rows  "
          f"verdict: {run['verdict'] or 'not run yet'}")
    print(f"  defined {run['defined_at']} by {run['defined_by']}; criteria locked before the run; seed {d['seed']}, "
          f"levels {', '.join(f'{x:g}' for x in d['levels'])}, slices under {d['min_slice_size']} too small")
    if run["status"] != "completed":
        return
    print(f"  evidence hash {run['evidence_hash']}")
    for c in run["criteria"]:
        print(f"  [{c['verdict']}] {c['explanation']}")
    p = run["perturbation"]
    print(f"  accuracy {_percent(p['clean_accuracy'])} as is; all features perturbed: " + "; ".join(
        f"level {e['level']:g}: {_percent(e['flip_rate'])} flipped, accuracy {_change(e['accuracy_drop'])}"
        for e in p["all_features"]))
    print("  worst-affected features (flip rate at level "
          f"{max(d['levels']):g}): " + ", ".join(f"{w['feature']} {_percent(w['flip_rate'])}"
                                                  for w in p["worst_features"]))
    for m in run["missing_values"]:
        detail = (f"{m['error_class']}: {m['message']}" if m["outcome"] == "errors" else
                  f"accuracy {_change(m['accuracy_drop'])}")
        print(f"  missing {m['feature']:<24} {m['outcome']:<9} {detail}")
    for s in run["shift"]["slices"]:
        figure = (s["reason"] if s["status"] != "ok" else
                  f"{_percent(s['accuracy'])} (95% CI {_percent(s['ci_low'])}–{_percent(s['ci_high'])})")
        print(f"  slice {s['dimension'] + ' = ' + s['group']:<36} n={s['n']:<7,} {figure}")
    for w in run["shift"]["weeks"]:
        figure = (w["reason"] if w["status"] != "ok" else
                  f"{_percent(w['accuracy'])} (95% CI {_percent(w['ci_low'])}–{_percent(w['ci_high'])})")
        drift = f"  drift at 'act': {', '.join(w['drift_features'])}" if w["drift_act"] else ""
        print(f"  week of {w['week']}  n={w['n']:<7,} {figure}{drift}")
    for note in run["notes"]:
        print(f"  note: {note}")


def _list(store: GovernanceStore, args) -> dict:
    from governance.evidence import robustness

    from governance.cli import as_of

    runs = robustness.list_runs(store, model=args.model, version=args.version)
    cut = as_of.cutoff(store, args)
    if cut is not None:   # the runs defined by then, each as it stood: one that ran later had no result yet
        from governance.record import as_of as record_as_of

        then = {r["run_id"]: r for r in record_as_of.robustness_runs(store, before=cut.before)}
        runs = [r if then[r["run_id"]]["status"] == "completed" else
                {**r, "status": "defined", "verdict": None, "ran_by": None, "ran_at": None, "n": None,
                 "evidence_hash": None, "pass": None, "fail": None, "inconclusive": None}
                for r in runs if r["run_id"] in then]
    return {"runs": runs}


def _print_list(result: dict) -> None:
    if not result["runs"]:
        print("no robustness runs yet: python -m governance robustness run --help")
    for r in result["runs"]:
        print(f"{r['run_id']}  {r['model'] + ' ' + r['version']:<22} {r['verdict'] or 'not run yet':<13} "
              f"{r['criteria']:<60} {r['defined_at'][:16]}  {r['defined_by']}")


def _show(store: GovernanceStore, args) -> dict:
    from governance.evidence import robustness

    return robustness.get_run(store, run_id=args.run_id)


# subcommand -> (service, printer, exit code for a result)
COMMANDS = {
    "run": (_run, _print_run, lambda result: 0),
    "list": (_list, _print_list, lambda result: 0),
    "show": (_show, _print_run, lambda result: 0),
}
