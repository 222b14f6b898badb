"""python -m governance [--db PATH] <command> [--json]: the same services as the pages, for scripts and CI.

Usage and input errors print one line starting with `error:` on stderr and exit with code 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid

from governance import errors
from governance.inventory import workspace_status
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


COMMANDS = {"init": (_init, _print_init), "status": (workspace_status, _print_status)}


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    run, show = COMMANDS[args.command]
    try:
        with GovernanceStore(workspace_path(db=args.db)) as store:
            result = run(store, args) if args.command == "init" else run(store)
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
    return 0
