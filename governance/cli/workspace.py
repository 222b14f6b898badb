"""`python -m governance init|status|serve`: create a workspace, report on it, serve it to a team."""

from __future__ import annotations

import argparse
import os
import sys

from governance.record.workspace import PROJECT_ROOT


def add_parsers(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    init = commands.add_parser("init", parents=[workspace], help="create a workspace, optionally with the demo models and telemetry")
    init.add_argument("--demo", action="store_true", help="train the demo models and replay 90 days of telemetry")
    # Defaults live in governance.demo, imported only by `init`: scikit-learn takes seconds to import.
    init.add_argument("--rows", type=int, help="telemetry rows for the demo (default 1,000,000)")
    init.add_argument("--seed", type=int, help="random seed for the demo (default 42)")
    init.add_argument("--json", action="store_true", help="print the result as JSON")

    status = commands.add_parser("status", parents=[workspace], help="schema version, table sizes, models and versions")
    status.add_argument("--json", action="store_true", help="print the result as JSON")

    serve = commands.add_parser("serve", parents=[workspace],
                                help="serve the workspace to a team: the app and the HTTP API (/api/v1/) on one port")
    serve.add_argument("--port", type=int, default=8501, help="the port (default 8501)")
    serve.add_argument("--address", default="localhost",
                       help="the address to bind (default localhost: this machine only; 0.0.0.0 for every interface, "
                            "behind a TLS reverse proxy)")
    serve.add_argument("--demo", action="store_true",
                       help="build the demo into an empty workspace on first start (the default workspace always is)")


def init(store, args) -> dict:
    from governance.record import ledger, ledger_keys

    key, made = ledger_keys.initialise(store)   # the one place a ledger key is ever made
    result = {"workspace": store.location, "schema_version": store.schema_version(),
              "ledger_key": {"source": key.source, "fingerprint": key.fingerprint, "made": made}}
    ledger.refresh_anchor(store)   # the empty chains' anchor: from now on a removed ledger and anchor are seen
    if args.demo:
        from governance import demo

        progress = None if args.json else (lambda fraction, message: print(f"[{fraction:4.0%}] {message}",
                                                                           file=sys.stderr))
        result["demo"] = demo.seed_demo(store, rows=args.rows or demo.DEFAULT_ROWS,
                                        seed=demo.DEFAULT_SEED if args.seed is None else args.seed, progress=progress)
    return result


def print_init(result: dict) -> None:
    print(f"workspace {result['workspace']} ready (schema version {result['schema_version']})")
    key = result["ledger_key"]
    print(f"ledger key: {'made in ' if key['made'] else ''}{key['source']} (fingerprint {key['fingerprint']}); "
          "back it up: the workspace verifies only with it")
    if "demo" in result:
        d = result["demo"]
        print(f"demo built: {d['rows']:,} telemetry rows, seed {d['seed']}, in {d['seconds']} s")


def status(store, args) -> dict:
    from governance.cli import as_of
    from governance.monitoring.inventory import workspace_status

    found = workspace_status(store)
    cut = as_of.cutoff(store, args)
    if cut is None:
        return found
    from governance.record.as_of import stages

    then = stages(store, before=cut.before)   # the versions registered by then, at the stage they were at
    models = [{**m, "versions": [{**v, "stage": then[(m["name"], v["version"])]} for v in m["versions"]
                                 if (m["name"], v["version"]) in then]} for m in found["models"]]
    return {**found, "models": [m for m in models if m["versions"]],
            "note": "models, versions and stages as they stood; table sizes and telemetry rows are today's"}


def print_status(status: dict) -> None:
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
    if "note" in status:   # --as-of
        print(f"note: {status['note']}")


def serve(args) -> None:
    """Become the server: Streamlit runs server.py, whose st.App serves the pages and the API on one port and
    owns the workspace for as long as it runs."""
    if args.db:
        os.environ["QUORUM_DB"] = str(args.db)
    if getattr(args, "lake", None):
        os.environ["QUORUM_LAKE"] = str(args.lake)
    if args.demo:
        os.environ["QUORUM_AUTO_DEMO"] = "1"
    command = [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "server.py"),
               "--server.port", str(args.port), "--server.address", args.address, "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
    sys.stdout.flush()
    os.execv(sys.executable, command)


COMMANDS = {"init": (init, print_init), "status": (status, print_status)}
