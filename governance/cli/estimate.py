"""`python -m governance estimate --model M [--version V] [--grain day|week] --json`: each version's accuracy,
precision, recall and ROC AUC estimated per period from its scores before the labels arrive (CBPE), with 95%
intervals, the realised figures where labels did arrive, label coverage, and the calibration check that says
whether the estimate may be relied on (governance/monitoring/performance_estimate.py)."""

from __future__ import annotations

import argparse

ROW_FIELDS = ("version", "period", "metric", "estimate", "ci_low", "ci_high", "realised")


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    parser = commands.add_parser(
        "estimate", parents=[workspace],
        help="accuracy, precision, recall and ROC AUC estimated from scores before labels arrive (CBPE)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", help="one version (default: every version with telemetry)")
    parser.add_argument("--grain", choices=("day", "week"), default="day")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="first day (default: the model's first telemetry)")
    parser.add_argument("--until", metavar="YYYY-MM-DD",
                        help="last day, inclusive (default: the newest telemetry, never past today)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _run(store, args) -> dict:
    from governance.cli import as_of
    from governance.monitoring.performance_estimate import estimate_performance

    as_of.cutoff(store, args)   # --as-of (where honoured): a day within the record; the periods end on it
    found = estimate_performance(store, model=args.model, version=args.version, grain=args.grain,
                                 since=args.since, until=as_of.last_day(args.until, args))
    result = found.as_dict()
    result["rows"] = [{field: row[field] for field in ROW_FIELDS} for row in result["rows"]]
    result["warnings"] = {version: found.warning(version) for version in found.checks if found.warning(version)}
    return result


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _show(result: dict) -> None:
    print(f"{result['model']}: performance estimated from scores per {result['grain']}, "
          f"{result['start'][:10]} to {result['end'][:10]} (end exclusive)")
    for version, check in result["calibration"].items():
        state = "holds" if check["ok"] else "FAILS: the estimate is NOT reliable"
        print(f"  {version}: calibration check {state}. {check['why']}")
    coverage = {(c["version"], c["period"]): c for c in result["coverage"]}
    print(f"  {'version':<8}{'period':<12}{'metric':<10}{'estimate':>9}  {'95% interval':<15}{'realised':>9}"
          f"{'labels':>8}")
    for row in result["rows"]:
        share = coverage.get((row["version"], row["period"]), {}).get("label_coverage")
        interval = "n/a" if row["ci_low"] is None else f"{row['ci_low']:.3f}-{row['ci_high']:.3f}"
        mark = "" if result["reliable"].get(row["version"]) else "  (not reliable)"
        print(f"  {row['version']:<8}{row['period']:<12}{row['metric']:<10}{_number(row['estimate']):>9}  "
              f"{interval:<15}{_number(row['realised']):>9}{'n/a' if share is None else f'{share:.0%}':>8}{mark}")
    for note in result["notes"]:
        print(f"  note: {note}")


COMMANDS = {"estimate": (_run, _show)}
