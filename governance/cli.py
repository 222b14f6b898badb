"""python -m governance [--db PATH] <command> [--json]: the same services as the pages, for scripts and CI.

Usage and input errors print one line starting with `error:` on stderr and exit with code 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from pathlib import Path

import pandas as pd

from governance import (cli_alerts, cli_audit, cli_ledger, cli_models, cli_quality, cli_release, cli_reports,
                        cli_risks, cli_robustness, cli_signoffs, cli_telemetry, cli_users, errors)
from governance.compare import compare_versions, overlap_window
from governance.drift import drift_report
from governance.ingest import ingest_file
from governance.inventory import require_model, workspace_status
from governance.kpis import GRAINS, kpi_series, resolve_window
from governance.service_levels import breaches, service_levels
from governance.store import GovernanceStore
from governance.workspace import workspace_path

EXIT_USAGE = 2
EXIT_INTERNAL = 3
log = logging.getLogger("quorum.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors, in our one-line format
        self.exit(EXIT_USAGE, f"error: {message} (see `python -m governance --help`)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m governance", description="Quorum: AI governance workspace tools.")
    parser.add_argument("--db", metavar="PATH",
                        help="workspace file (default: $QUORUM_DB, else data/quorum.duckdb)")
    # --db is accepted after the command too (`init --demo --db ws.duckdb`); SUPPRESS keeps the global one.
    workspace = _Parser(add_help=False)
    workspace.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    init = commands.add_parser("init", parents=[workspace], help="create a workspace, optionally with the demo models and telemetry")
    init.add_argument("--demo", action="store_true", help="train the demo models and replay 90 days of telemetry")
    # Defaults live in governance.demo, imported only by `init`: scikit-learn takes seconds to import.
    init.add_argument("--rows", type=int, help="telemetry rows for the demo (default 1,000,000)")
    init.add_argument("--seed", type=int, help="random seed for the demo (default 42)")
    init.add_argument("--json", action="store_true", help="print the result as JSON")

    status = commands.add_parser("status", parents=[workspace], help="schema version, table sizes, models and versions")
    status.add_argument("--json", action="store_true", help="print the result as JSON")

    kpis = commands.add_parser("kpis", parents=[workspace], help="KPI time series and service-level breaches")
    kpis.add_argument("--model", required=True)
    kpis.add_argument("--version", help="one version (default: all)")
    kpis.add_argument("--since", metavar="YYYY-MM-DD", help="first day (default: the model's first telemetry)")
    kpis.add_argument("--until", metavar="YYYY-MM-DD", help="last day, inclusive (default: the newest telemetry)")
    kpis.add_argument("--grain", choices=GRAINS, default="day")
    kpis.add_argument("--json", action="store_true", help="print the result as JSON")

    drift = commands.add_parser("drift", parents=[workspace], help="data drift per feature: PSI and a two-sample test")
    drift.add_argument("--model", required=True)
    drift.add_argument("--version", required=True)
    drift.add_argument("--reference", default="training", metavar="training|YYYY-MM-DD:YYYY-MM-DD",
                       help="the held-out evaluation set (default) or a telemetry period, end day included")
    drift.add_argument("--current", metavar="YYYY-MM-DD:YYYY-MM-DD",
                       help="the window to judge, end day included (default: all telemetry after the reference)")
    drift.add_argument("--grain", choices=("day", "week"), default="week")
    drift.add_argument("--json", action="store_true", help="print the result as JSON")

    ingest = commands.add_parser("ingest", parents=[workspace],
                                 help="ingest telemetry from a CSV, Parquet or JSON-lines file")
    ingest.add_argument("kind", choices=("telemetry",), help="what the file holds")
    ingest.add_argument("file", help="the file; bad rows are quarantined, the good ones commit together")
    ingest.add_argument("--model", required=True)
    ingest.add_argument("--version", required=True)
    ingest.add_argument("--json", action="store_true", help="print the result as JSON")

    compare = commands.add_parser("compare", parents=[workspace],
                                  help="A/B comparison of two versions with 95%% intervals and verdicts")
    compare.add_argument("--model", required=True)
    compare.add_argument("--a", required=True, metavar="VERSION", help="the baseline version")
    compare.add_argument("--b", required=True, metavar="VERSION", help="the challenger version")
    compare.add_argument("--since", metavar="YYYY-MM-DD", help="first day (default: first day both served)")
    compare.add_argument("--until", metavar="YYYY-MM-DD", help="last day, inclusive (default: last day both served)")
    compare.add_argument("--json", action="store_true", help="print the result as JSON")

    cli_reports.add_parsers(commands, workspace=workspace, parser_class=_Parser)
    cli_robustness.add_parser(commands, workspace=workspace, parser_class=_Parser)
    cli_alerts.add_parser(commands, workspace=workspace, parser_class=_Parser)
    cli_release.add_parsers(commands, workspace=workspace, parser_class=_Parser)
    cli_audit.add_parser(commands, workspace=workspace, parser_class=_Parser)
    cli_models.add_parsers(commands, workspace=workspace, parser_class=_Parser)
    cli_risks.add_parser(commands, workspace=workspace, parser_class=_Parser)
    cli_users.add_parser(commands, workspace=workspace, parser_class=_Parser)
    cli_signoffs.add_parser(commands, workspace=workspace, parser_class=_Parser)
    cli_ledger.add_parser(commands, workspace=workspace)
    cli_quality.add_parser(commands, workspace=workspace, parser_class=_Parser)
    cli_telemetry.add_parser(commands, workspace=workspace, parser_class=_Parser)
    return parser


def _init(store: GovernanceStore, args) -> dict:
    result = {"workspace": str(store.path), "schema_version": store.schema_version()}
    if args.demo:
        from governance import demo

        progress = None if args.json else (lambda fraction, message: print(f"[{fraction:4.0%}] {message}",
                                                                           file=sys.stderr))
        result["demo"] = demo.seed_demo(store, rows=args.rows or demo.DEFAULT_ROWS,
                                        seed=demo.DEFAULT_SEED if args.seed is None else args.seed, progress=progress)
    return result


def _print_init(result: dict) -> None:
    print(f"workspace {result['workspace']} ready (schema version {result['schema_version']})")
    if "demo" in result:
        d = result["demo"]
        print(f"demo built: {d['rows']:,} telemetry rows, seed {d['seed']}, in {d['seconds']} s")


def _print_status(status: dict) -> None:
    print(f"workspace      {status['workspace']}")
    print(f"schema version {status['schema_version']}   data version {status['data_version']}")
    print("tables:")
    for table, rows in status["tables"].items():
        print(f"  {table:<20} {rows:>12,}")
    print("models:")
    if not status["models"]:
        print("  (none yet: python -m governance init --demo builds the demo)")
    for model in status["models"]:
        print(f"  {model['name']}  owner: {model['owner']}  risk tier: {model['risk_tier']}")
        for v in model["versions"]:
            print(f"    {v['version']:<6} {v['stage']:<11} accuracy {v['training_metrics'].get('accuracy')}"
                  f"  telemetry rows {v['telemetry_rows']:,}  {v['algorithm']}")


SERIES_FIELDS = ("version", "period", "n", "accuracy", "label_coverage", "latency_p50_ms", "latency_p95_ms",
                 "latency_p99_ms", "error_rate", "throughput_per_min", "cost_per_1k_usd")


def _kpis(store: GovernanceStore, args) -> dict:
    require_model(store, model=args.model, version=args.version)
    window = resolve_window(store, model=args.model, since=args.since, until=args.until)
    series = kpi_series(store, model=args.model, window=window, grain=args.grain, version=args.version)
    found = breaches(series, levels=service_levels(store, model=args.model), grain=args.grain)
    rows = series[list(SERIES_FIELDS)].astype(object).where(series[list(SERIES_FIELDS)].notna(), None)
    return {
        "model": args.model, "grain": args.grain,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "series": [{**row, "period": row["period"].isoformat()} for row in rows.to_dict("records")],
        "slo_breaches": [b.as_dict() for b in found],
    }


def _print_kpis(result: dict) -> None:
    print(f"{result['model']}  {result['window']['start']} to {result['window']['end']}  by {result['grain']}")
    print(f"{'version':<8}{'period':<21}{'n':>9}{'accuracy':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}{'$/1k':>8}")
    for r in result["series"]:
        show = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        print(f"{r['version']:<8}{r['period'][:19]:<21}{r['n']:>9,}{show(r['accuracy'], '.3f'):>10}"
              f"{show(r['latency_p50_ms'], '.0f'):>9}{show(r['latency_p95_ms'], '.0f'):>9}"
              f"{show(r['latency_p99_ms'], '.0f'):>9}{show(r['error_rate'], '.2%'):>8}"
              f"{show(r['cost_per_1k_usd'], '.3f'):>8}")
    print(f"service-level breaches: {len(result['slo_breaches'])}")
    for b in result["slo_breaches"]:
        print(f"  {b['version']} {b['kpi']}: {b['start']} to {b['end']} ({b['periods']} periods), "
              f"worst {b['worst']:.4g}; rule: {b['rule']}")


def _day_range(name: str, text: str) -> tuple[str, str]:
    start, sep, end = text.partition(":")
    if not sep or not start or not end:
        raise errors.InvalidInputError(f"{name} must look like 2026-07-01:2026-07-31, got {text!r}")
    return start, end


def _drift(store: GovernanceStore, args) -> dict:
    require_model(store, model=args.model, version=args.version)
    reference = "training" if args.reference == "training" else _day_range("--reference", args.reference)
    current = None
    if args.current:
        since, until = _day_range("--current", args.current)
        current = resolve_window(store, model=args.model, since=since, until=until)
    report = drift_report(store, model=args.model, version=args.version, reference=reference, current=current,
                          grain=args.grain)
    return report.as_dict()


def _print_drift(result: dict) -> None:
    print(f"{result['model']} {result['version']}: {result['current']['start'][:10]} to "
          f"{result['current']['end'][:10]} (end exclusive) against {result['reference']['description']}")
    print(result["thresholds"]["rule"])
    if result["label_note"]:
        print(f"note: {result['label_note']}")
    print(f"{'feature':<22}{'kind':<13}{'PSI':>8}{'test':>6}{'p-value':>11}  status   worst period")
    periods = pd.DataFrame(result["periods"])
    for f in result["features"]:
        mine = periods[periods["feature"] == f["feature"]].dropna(subset=["psi"])
        worst = mine.loc[mine["psi"].idxmax()] if not mine.empty else None
        worst_text = "" if worst is None else f"{worst['status']} (PSI {worst['psi']:.3f}, {str(worst['period'])[:10]})"
        p_value = "-" if f["p_value"] is None else f"{f['p_value']:.2e}"
        psi = "-" if f["psi"] is None else f"{f['psi']:.3f}"
        print(f"{f['feature']:<22}{f['kind']:<13}{psi:>8}{f['test']:>6}{p_value:>11}  {f['status']:<8} {worst_text}")


def _ingest(args) -> dict:
    """Straight into the workspace, or (while the app holds it) into its inbox, which the app absorbs."""
    outcome = ingest_file(workspace=workspace_path(db=args.db), file=Path(args.file), model=args.model,
                          version=args.version)
    return outcome.to_dict()


def _print_ingest(result: dict) -> None:
    said = {"ingested": "ingested into the workspace",
            "queued": "queued in the workspace's inbox: the running app absorbs it within a minute",
            "already_ingested": "already ingested earlier: nothing done",
            "rejected": "rejected"}[result["mode"]]
    print(f"{result['file_name']}: {said}")
    print(f"  rows accepted {result['rows_accepted']:,}, quarantined {result['rows_quarantined']:,}")
    for reason, count in result["quarantined_by_reason"].items():
        print(f"  {count:,} × {reason}")
    for problem in result["problems"]:
        print(f"  {problem}")
    if result["ignored_columns"]:
        print(f"  ignored columns: {', '.join(result['ignored_columns'])}")


def _compare(store: GovernanceStore, args) -> dict:
    for version in (args.a, args.b):
        require_model(store, model=args.model, version=version)
    window = overlap_window(store, model=args.model, a=args.a, b=args.b)
    if args.since or args.until or window is None:
        window = resolve_window(store, model=args.model, since=args.since, until=args.until)
    return {"model": args.model, "a": args.a, "b": args.b,
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "kpis": [c.as_dict() for c in compare_versions(store, model=args.model, a=args.a, b=args.b,
                                                           window=window)]}


def _print_compare(result: dict) -> None:
    print(f"{result['model']}: {result['b']} against {result['a']}, "
          f"{result['window']['start'][:10]} to {result['window']['end'][:10]} (end exclusive)")
    print(f"{'KPI':<26}{'a':>12}{'b':>12}{'b - a':>12}{'95% interval':>26}{'n a':>10}{'n b':>10}  verdict")
    for k in result["kpis"]:
        if k["difference"] is None:
            print(f"{k['kpi']:<26}{'-':>12}{'-':>12}{'-':>12}{'-':>26}{k['n_a']:>10,}{k['n_b']:>10,}  {k['verdict']}")
            continue
        interval = f"[{k['ci_low']:.4g}, {k['ci_high']:.4g}]"
        print(f"{k['kpi']:<26}{k['a']:>12.4g}{k['b']:>12.4g}{k['difference']:>12.4g}{interval:>26}"
              f"{k['n_a']:>10,}{k['n_b']:>10,}  {k['verdict']}")


COMMANDS = {"init": (_init, _print_init), "status": (workspace_status, _print_status), "kpis": (_kpis, _print_kpis),
            "compare": (_compare, _print_compare), "drift": (_drift, _print_drift),
            "ingest": (_ingest, _print_ingest), "explain": (cli_models.explain, cli_models.print_explanation)}
OPENS_ITS_OWN_WORKSPACE = {"ingest"}  # it must work while the app holds the file


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command in ("audit", "risks", "users", "signoff", "robustness", "alerts", "telemetry"):
        run, show, exit_code = {"audit": cli_audit, "risks": cli_risks, "users": cli_users, "signoff": cli_signoffs,
                                "robustness": cli_robustness, "alerts": cli_alerts,
                                "telemetry": cli_telemetry}[args.command].COMMANDS[args.subcommand]
    elif args.command == "verify":
        run, show, exit_code = cli_ledger.COMMAND
    elif args.command == "quality":
        run, show, exit_code = cli_quality.COMMAND
    elif args.command in cli_reports.COMMANDS:
        run, show, exit_code = cli_reports.COMMANDS[args.command]
    elif args.command in ("gate", "checklist", "retraining"):
        run, show, exit_code = cli_release.COMMANDS[args.command if args.command == "gate"
                                                    else (args.command, args.subcommand)]
    elif args.command == "model":
        (run, show), exit_code = cli_models.COMMANDS[args.subcommand], (lambda result: 0)
    else:
        (run, show), exit_code = COMMANDS[args.command], (lambda result: 0)
    try:
        if args.command in OPENS_ITS_OWN_WORKSPACE | cli_reports.OPENS_NO_WORKSPACE:
            result = run(args)
        else:
            with GovernanceStore(workspace_path(db=args.db)) as store:
                result = run(store) if args.command == "status" else run(store, args)
    except errors.GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # never a traceback for the user; keep it in the log for whoever runs the tool
        reference = uuid.uuid4().hex[:8]
        log.exception("internal error, reference %s", reference)
        print(f"error: internal error (reference {reference}); rerun with QUORUM_LOG=debug to see details",
              file=sys.stderr)
        return EXIT_INTERNAL
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        show(result)
    return exit_code(result)
