"""`python -m governance kpis|compare|drift|ingest`: what monitoring shows on the KPI, A/B and Drift pages."""

from __future__ import annotations

import argparse
from pathlib import Path

from governance.cli import as_of
from governance.errors import InvalidInputError
from governance.vocabulary import KPI_GRAINS

SERIES_FIELDS = ("version", "period", "n", "accuracy", "label_coverage", "latency_p50_ms", "latency_p95_ms",
                 "latency_p99_ms", "error_rate", "throughput_per_min", "cost_per_1k_usd")


def add_parsers(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    kpis = commands.add_parser("kpis", parents=[workspace], help="KPI time series and service-level breaches")
    kpis.add_argument("--model", required=True)
    kpis.add_argument("--version", help="one version (default: all)")
    kpis.add_argument("--since", metavar="YYYY-MM-DD", help="first day (default: the model's first telemetry)")
    kpis.add_argument("--until", metavar="YYYY-MM-DD", help="last day, inclusive (default: the newest telemetry)")
    kpis.add_argument("--grain", choices=KPI_GRAINS, default="day")
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
    ingest.add_argument("file", help="the file; bad rows are quarantined, the good ones commit together "
                                     "(through a server it is uploaded)")
    ingest.add_argument("--model", required=True)
    ingest.add_argument("--version", required=True)
    ingest.add_argument("--by", metavar="USER",
                        help="the account that ingests, with the role to configure monitoring (default: your login "
                             "name); a local account's password is prompted for, or read from QUORUM_PASSWORD. "
                             "Queued in a served workspace's inbox, the file-system account is recorded instead")
    ingest.add_argument("--json", action="store_true", help="print the result as JSON")

    compare = commands.add_parser("compare", parents=[workspace],
                                  help="A/B comparison of two versions with 95%% intervals and verdicts")
    compare.add_argument("--model", required=True)
    compare.add_argument("--a", required=True, metavar="VERSION", help="the baseline version")
    compare.add_argument("--b", required=True, metavar="VERSION", help="the challenger version")
    compare.add_argument("--since", metavar="YYYY-MM-DD", help="first day (default: first day both served)")
    compare.add_argument("--until", metavar="YYYY-MM-DD", help="last day, inclusive (default: last day both served)")
    compare.add_argument("--json", action="store_true", help="print the result as JSON")


def kpis(store, args) -> dict:
    """Plain records throughout: no pandas to import (telemetry in the workspace), so the answer comes at once."""
    from governance.monitoring.inventory import require_model
    from governance.monitoring import telemetry_sources
    from governance.monitoring.kpis import kpi_records, resolve_window
    from governance.monitoring.service_levels import slo_judgment

    require_model(store, model=args.model, version=args.version)
    as_of.cutoff(store, args)   # --as-of: a day within the record; the window ends on it
    window = resolve_window(store, model=args.model, since=args.since, until=as_of.last_day(args.until, args),
                            pandas=False)
    with telemetry_sources.noting() as notes:   # a dataset's days read from rows, its files left out
        series = kpi_records(store, model=args.model, window=window, grain=args.grain, version=args.version)
        # judged on hourly counts whatever the grain shown: every grain lists the same breaches
        judged = slo_judgment(store, model=args.model, window=window, version=args.version)
    return {
        "model": args.model, "grain": args.grain,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "series": [{**{f: row[f] for f in SERIES_FIELDS}, "period": row["period"].isoformat()} for row in series],
        "slo_budgets": [{**budget.as_dict(), "rule": judged.levels[kpi].rule(),
                         "status": judged.status(version, kpi, end=window.end)}
                        for (version, kpi), budget in judged.budgets.items()],
        "slo_breaches": [b.as_dict() for b in judged.breaches],
        "notes": notes,
    }


def _show(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_kpis(result: dict) -> None:
    print(f"{result['model']}  {result['window']['start']} to {result['window']['end']}  by {result['grain']}")
    print(f"{'version':<8}{'period':<21}{'n':>9}{'accuracy':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}{'$/1k':>8}")
    for r in result["series"]:
        print(f"{r['version']:<8}{r['period'][:19]:<21}{r['n']:>9,}{_show(r['accuracy'], '.3f'):>10}"
              f"{_show(r['latency_p50_ms'], '.0f'):>9}{_show(r['latency_p95_ms'], '.0f'):>9}"
              f"{_show(r['latency_p99_ms'], '.0f'):>9}{_show(r['error_rate'], '.2%'):>8}"
              f"{_show(r['cost_per_1k_usd'], '.3f'):>8}")
    print("error budgets (last 28 days of the window):")
    for b in result.get("slo_budgets", []):
        left = "not computable (too few events)" if b["remaining"] is None else \
            f"{b['remaining']:.0%} left" if b["remaining"] > 0 else f"spent ({b['spent']:.0%} of it used)"
        print(f"  {b['version']} {b['kpi']}: {left}, {b['bad']:,} bad of {b['events']:,}; {b['status']}; "
              f"{b['rule']}")
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"service-level breaches: {len(result['slo_breaches'])}")
    for b in result["slo_breaches"]:
        print(f"  {b['version']} {b['kpi']}: {b['start']} to {b['end']} ({b['hours']} hours), "
              f"worst {_show(b['worst'], '.4g')}, peak burn {_show(b['peak_burn'], '.1f')}x, "
              f"detected {b['detected_at']}; "
              f"rule: {b['rule']}")


def _day_range(name: str, text: str) -> tuple[str, str]:
    start, sep, end = text.partition(":")
    if not sep or not start or not end:
        raise InvalidInputError(f"{name} must look like 2026-07-01:2026-07-31, got {text!r}")
    return start, end


def drift(store, args) -> dict:
    from governance.monitoring.drift import drift_report
    from governance.monitoring.inventory import require_model
    from governance.monitoring.kpis import resolve_window

    require_model(store, model=args.model, version=args.version)
    reference = "training" if args.reference == "training" else _day_range("--reference", args.reference)
    current = None
    if args.current:
        since, until = _day_range("--current", args.current)
        current = resolve_window(store, model=args.model, since=since, until=as_of.last_day(until, args))
    elif as_of.cutoff(store, args) is not None:   # all telemetry after the reference, up to the --as-of day
        since = None if reference == "training" else as_of.after(reference[1])
        current = resolve_window(store, model=args.model, since=since, until=as_of.last_day(None, args))
    report = drift_report(store, model=args.model, version=args.version, reference=reference, current=current,
                          grain=args.grain)
    return report.as_dict()


def print_drift(result: dict) -> None:
    print(f"{result['model']} {result['version']}: {result['current']['start'][:10]} to "
          f"{result['current']['end'][:10]} (end exclusive) against {result['reference']['description']}")
    print(result["thresholds"]["rule"])
    for note in ([result["label_note"]] if result["label_note"] else []) + result["notes"]:
        print(f"note: {note}")
    print(f"status and PSI: {result['judged_period_label']}; whole window: every {result['grain']} pooled, for "
          f"reference only")
    partial = sorted({str(p["period"])[:10] for p in result["periods"] if p["status"] == "partial"})
    if partial:
        print(f"partial {result['grain']}s (labelled partial, not judged): {', '.join(partial)}")
    print(f"{'feature':<22}{'kind':<13}{'status':<11}{'PSI':>8}{'whole PSI':>11}{'test':>6}{'whole p':>11}"
          f"  worst complete period")
    for f in result["features"]:
        judged = [p for p in result["periods"] if p["feature"] == f["feature"] and p["psi"] is not None
                  and p["status"] in ("ok", "watch", "act")]
        worst = max(judged, key=lambda p: p["psi"], default=None)
        worst_text = "" if worst is None else f"{worst['status']} (PSI {worst['psi']:.3f}, {str(worst['period'])[:10]})"
        p_value = "-" if f["window_p_value"] is None else f"{f['window_p_value']:.2e}"
        psi = "-" if f["psi"] is None else f"{f['psi']:.3f}"
        whole = "-" if f["window_psi"] is None else f"{f['window_psi']:.3f}"
        print(f"{f['feature']:<22}{f['kind']:<13}{f['status']:<11}{psi:>8}{whole:>11}{f['test']:>6}{p_value:>11}"
              f"  {worst_text}")


def ingest(store, args) -> dict:
    """Through the store this process holds (the server's), else straight into the workspace, or (while a
    process holds it) into its inbox, which that process absorbs."""
    from governance.cli.users import acting_user
    from governance.monitoring.ingest import ingest_file, ingest_path_into_store
    from governance.record.workspace import workspace_path

    if store is not None:
        return ingest_path_into_store(store, file=Path(args.file), model=args.model, version=args.version,
                                      actor=acting_user(store, args.by)).to_dict()
    return ingest_file(workspace=workspace_path(db=args.db), file=Path(args.file), model=args.model,
                       version=args.version, actor=lambda opened: acting_user(opened, args.by),
                       account=args.by, lake=getattr(args, "lake", None)).to_dict()


def print_ingest(result: dict) -> None:
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
    if result.get("ingested_by"):
        print(f"  {'to be recorded' if result['mode'] == 'queued' else 'recorded'} as ingested by "
              f"{result['ingested_by']}")


def compare(store, args) -> dict:
    from governance.monitoring.compare import compare_versions, comparison_window
    from governance.monitoring.inventory import require_model

    for version in (args.a, args.b):
        require_model(store, model=args.model, version=version)
    as_of.cutoff(store, args)
    window = comparison_window(store, model=args.model, a=args.a, b=args.b, since=args.since,
                               until=as_of.last_day(args.until, args))
    return {"model": args.model, "a": args.a, "b": args.b,
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "kpis": [c.as_dict() for c in compare_versions(store, model=args.model, a=args.a, b=args.b,
                                                           window=window)]}


def print_compare(result: dict) -> None:
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


COMMANDS = {"kpis": (kpis, print_kpis), "drift": (drift, print_drift), "ingest": (ingest, print_ingest),
            "compare": (compare, print_compare)}
