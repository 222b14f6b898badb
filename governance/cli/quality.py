"""`python -m governance quality --model M [--version V] [--file FILE.csv [--label COL]] [--grain day|week]
[--since D] [--until D] [--json]`: data quality of a model's telemetry, or of a file, against the version's stored
held-out evaluation set.

Exit code: 0 when no check fails (ok, warn or not judged), 1 when any check fails, so CI can gate on it; usage
and input errors exit 2 as every command does.
"""

from __future__ import annotations

import argparse
import io
from typing import TYPE_CHECKING

from governance import vocabulary
from governance.cli.files import read_input
from governance.errors import InvalidInputError

if TYPE_CHECKING:   # the services are imported by the handlers that run: building the parser stays cheap
    import pandas as pd

    from governance.record.store import GovernanceStore

FILE_LIMIT = 512 * 2**20
FILE_NEEDS_VERSION = "--file needs --version V: the version whose evaluation set is the reference"
UNREADABLE_CSV = "cannot read {path} as CSV: {reason}"


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class=None) -> None:
    quality = commands.add_parser(
        "quality", parents=[workspace],
        help="data quality: schema, missing values, ranges, duplicates, unseen categories, labels (exit 1 on a fail)")
    quality.add_argument("--model", required=True)
    quality.add_argument("--version", help="one version (default: each version of the model)")
    quality.add_argument("--file", metavar="FILE.csv",
                         help="check this evaluation or telemetry file (one column per feature) instead of telemetry")
    quality.add_argument("--label", metavar="COL", help="the label column of --file, for label coverage")
    quality.add_argument("--grain", choices=vocabulary.QUALITY_GRAINS, default="week",
                         help="trend periods (telemetry)")
    quality.add_argument("--since", metavar="YYYY-MM-DD", help="first day (default: the model's first telemetry)")
    quality.add_argument("--until", metavar="YYYY-MM-DD", help="last day, inclusive (default: the newest telemetry)")
    quality.add_argument("--json", action="store_true", help="print the result as JSON")


def _read_csv(path: str) -> pd.DataFrame:
    import pandas as pd

    content = read_input(path, limit=FILE_LIMIT)
    try:
        return pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().split("\n")[0][:160] or type(exc).__name__
        raise InvalidInputError(UNREADABLE_CSV.format(path=path, reason=reason)) from None


def run(store: GovernanceStore, args) -> dict:
    from governance.monitoring import data_quality

    if args.file:
        if not args.version:
            raise InvalidInputError(FILE_NEEDS_VERSION)
        frame = _read_csv(args.file)
        return data_quality.check_file(store, model=args.model, version=args.version, frame=frame,
                                       label=args.label, name=args.file)
    if args.label:
        raise InvalidInputError("--label applies to --file only: telemetry's labels are its label column")
    return data_quality.quality_report(store, model=args.model, version=args.version, grain=args.grain,
                                       since=args.since, until=args.until)


def _value(check: dict) -> str:
    value = check["value"]
    if value is None:
        return "-"
    if check["check"] == "label delay":
        return f"{value:.1f} d"
    return f"{100 * value:.2f}%"


def show(result: dict) -> None:
    if "source" in result:
        print(f"{result['source']}: {result['rows']:,} rows, {result['model']} {result['version']}")
    else:
        print(f"{result['model']} {', '.join(result['versions'])}: {result['window']['start'][:10]} to "
              f"{result['window']['end'][:10]} (end exclusive); labels due before {result['label_due_before'][:10]}")
    references = result["reference"]
    for reference in ([references] if "description" in references else references.values()):
        print(reference["description"])
    summary = result["summary"]
    print("  ".join(f"{status}: {summary[status]}" for status in vocabulary.QUALITY_STATUSES))
    print(f"{'version':<8}{'check':<19}{'feature':<24}{'value':>10}  {'status':<11}detail")
    for c in result["checks"]:
        print(f"{c['version']:<8}{c['check']:<19}{(c['feature'] or '-'):<24}{_value(c):>10}  {c['status']:<11}"
              f"{c['detail']}")
    print("rules:")
    for check in vocabulary.QUALITY_CHECKS:
        rule = result["thresholds"][check]["rule"]
        print(f"  {check}: {rule}")
    for note in result["notes"]:
        print(f"note: {note}")


def exit_code(result: dict) -> int:
    return 1 if any(c["status"] == "fail" for c in result["checks"]) else 0


# (service, printer, exit code for a result), as cli_ledger.COMMAND
COMMAND = (run, show, exit_code)
