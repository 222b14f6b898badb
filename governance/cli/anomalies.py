"""`python -m governance anomalies [list|accept|levels] --model M …`: the flagged periods of a model's KPIs, and the
recorded acceptance of a new level.

One command with an action word (default `list`), not a group of sub-commands, so the plain listing reads as
`anomalies --model M --json` and the server's API reaches every action at the one route `/commands/anomalies`.
"""

from __future__ import annotations

import argparse

from governance.errors import InvalidInputError

ACTIONS = ("list", "accept", "levels")
KPI_CHOICES = ("latency_p95_ms", "error_rate", "accuracy")   # governance.monitoring.anomalies.BAD_DIRECTION, unimported here
ACCEPT_NEEDS = ("`anomalies accept` needs {missing}: e.g. --version v2 --kpi latency_p95_ms --from 2026-09-14 "
                "--reason …")
ONLY_FOR_ACCEPT = "{options} only go with `anomalies accept`"


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    parser = commands.add_parser(
        "anomalies", parents=[workspace],
        help="flagged KPI periods (list, the default); accept a KPI's new level (accept); accepted levels (levels)")
    parser.add_argument("action", nargs="?", choices=ACTIONS, default="list",
                        help="list (default): every flagged period; accept: record that a KPI's new level is "
                             "normal from --from on; levels: the accepted levels")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", help="one version (default: all; accept: required)")
    parser.add_argument("--kpi", choices=KPI_CHOICES, help="one KPI (default: all three; accept: required)")
    parser.add_argument("--grain", choices=("hour", "day"), default="day")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="first day listed (default: the first telemetry)")
    parser.add_argument("--until", metavar="YYYY-MM-DD", help="last day listed, inclusive (default: the newest)")
    parser.add_argument("--sensitivity", type=float, default=4.0,
                        help="spreads from the expected value that flag a period (default 4)")
    parser.add_argument("--from", dest="start", metavar="TIME",
                        help="accept: when the new level began, UTC (2026-09-14 or 2026-09-14T12:00)")
    parser.add_argument("--reason", help="accept: why the new level is the normal one (required)")
    parser.add_argument("--by", metavar="USER", help="accept: the engineering leader or admin accepting (default: "
                        "your login name); a local account's password is prompted for, or read from QUORUM_PASSWORD")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _run(store, args) -> dict:
    if args.action == "accept":
        return _accept(store, args)
    stray = [name for name, value in (("--from", args.start), ("--reason", args.reason), ("--by", args.by))
             if value is not None]
    if stray:
        raise InvalidInputError(ONLY_FOR_ACCEPT.format(options=", ".join(stray)))
    if args.action == "levels":
        return _levels(store, args)
    return _list(store, args)


def _list(store, args) -> dict:
    import pandas as pd

    from governance.monitoring.anomalies import kpi_anomalies
    from governance.monitoring.inventory import require_model
    from governance.monitoring.kpis import resolve_window

    require_model(store, model=args.model, version=args.version)
    window = resolve_window(store, model=args.model, since=args.since, until=args.until)
    flagged, accepted = [], []
    for kpi in [args.kpi] if args.kpi else list(KPI_CHOICES):
        found = kpi_anomalies(store, model=args.model, kpi=kpi, version=args.version, grain=args.grain,
                              sensitivity=args.sensitivity)
        accepted += found["accepted"]
        points = found["points"]
        points = points[points["anomalous"].astype(bool) & (points["period"] >= window.start)
                        & (points["period"] < window.end)]
        for row in points.itertuples(index=False):
            flagged.append({"version": row.version, "kpi": kpi, "period": pd.Timestamp(row.period).isoformat(),
                            "value": float(row.value), "expected": float(row.expected),
                            "expected_low": float(row.lower), "expected_high": float(row.upper),
                            "score": round(float(row.score), 2)})
    flagged.sort(key=lambda f: (f["period"], f["version"], f["kpi"]))
    return {"model": args.model, "version": args.version, "grain": args.grain, "sensitivity": args.sensitivity,
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "anomalies": flagged, "accepted": accepted}


def _accept(store, args) -> dict:
    from governance.monitoring.anomalies import accept_level
    from governance.cli.users import acting_user

    missing = [name for name, value in (("--version", args.version), ("--kpi", args.kpi), ("--from", args.start),
                                        ("--reason", args.reason)) if not value]
    if missing:
        raise InvalidInputError(ACCEPT_NEEDS.format(missing=", ".join(missing)))
    level = accept_level(store, model=args.model, version=args.version, kpi=args.kpi, start=args.start,
                         reason=args.reason, actor=acting_user(store, args.by))
    return {"accepted": level.as_dict()}


def _levels(store, args) -> dict:
    from governance.monitoring.anomalies import accepted_levels
    from governance.monitoring.inventory import require_model

    require_model(store, model=args.model, version=args.version)
    return {"model": args.model, "accepted": [level.as_dict() for level in accepted_levels(
        store, model=args.model, kpi=args.kpi, version=args.version)]}


def _print_level(level: dict) -> None:
    print(f"  {level['version']} {level['kpi']} from {level['from'][:16]} UTC: accepted by {level['by']} "
          f"({level['role']}) at {level['at'][:16]}: {level['reason']}")


def _show(result: dict) -> None:
    if "anomalies" in result:
        window = result["window"]
        print(f"{result['model']}: {len(result['anomalies'])} flagged {result['grain']}s from {window['start'][:10]} "
              f"to {window['end'][:10]} (end exclusive), {result['sensitivity']:g} spreads")
        for a in result["anomalies"]:
            print(f"  {a['period'][:16]}  {a['version']:<6}{a['kpi']:<16}{a['value']:>10.4g}  expected "
                  f"{a['expected_low']:.4g} to {a['expected_high']:.4g}  score {a['score']:.1f}")
    if "accepted" in result and isinstance(result["accepted"], dict):
        print("recorded in the ledger:")
        _print_level(result["accepted"])
        return
    if result.get("accepted"):
        print("accepted levels:")
        for level in result["accepted"]:
            _print_level(level)
    elif "anomalies" not in result:
        print(f"{result['model']}: no accepted levels")


COMMANDS = {"anomalies": (_run, _show)}
