"""`python -m governance model register …` and `python -m governance explain …`."""

from __future__ import annotations

import argparse
from pathlib import Path

from governance.cli.files import read_input
from governance.cli.users import acting_user, add_by_argument
from governance.jobs import current_progress

TOO_BIG = "{path} is {size:,.0f} MB, over the {limit:,.0f} MB limit: nothing was registered"


def add_parsers(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    model = commands.add_parser("model", parents=[workspace], help="register a model version from a skops file")
    sub = model.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)
    register = sub.add_parser("register", parents=[workspace],
                              help="store a skops model (never pickle) and, optionally, its evaluation set")
    register.add_argument("--model", required=True)
    register.add_argument("--version", required=True)
    register.add_argument("--file", required=True, metavar="MODEL.skops")
    register.add_argument("--eval", metavar="FILE.csv",
                          help="held-out rows: the model's input columns, the outcome (0/1) and sensitive columns")
    register.add_argument("--y-true", default="y_true", metavar="COL", help="outcome column of --eval (default y_true)")
    register.add_argument("--sensitive", metavar="COL[,COL…]", help="sensitive columns of --eval, kept for audits")
    register.add_argument("--purpose", metavar="TEXT", help="what the model is for (a new model only)")
    register.add_argument("--intended-use", metavar="TEXT",
                          help="how, by whom and for which decisions it is meant to be used, and what not for "
                               "(a new model only)")
    register.add_argument("--training-data", metavar="TEXT",
                          help="this version's training data: provenance, scope, selection, labelling, cleaning")
    register.add_argument("--owner", help="who answers for it (default: you)")
    add_by_argument(register, what="registers it")
    register.add_argument("--json", action="store_true", help="print the result as JSON")

    explain = commands.add_parser("explain", parents=[workspace],
                                  help="SHAP explanation of a version: global importance, one row, checks")
    explain.add_argument("--model", required=True)
    explain.add_argument("--version", required=True)
    explain.add_argument("--rows", type=int, default=10_000, metavar="N", help="rows to explain (default 10,000)")
    explain.add_argument("--row", type=int, metavar="ID",
                         help="row to explain locally (default: the declined applicant nearest the threshold)")
    add_by_argument(explain, what="computes it, when none is stored for these settings yet")
    explain.add_argument("--json", action="store_true", help="print the result as JSON")


def register(store, args) -> dict:
    from governance.evidence.model_registry import MAX_EVALUATION_BYTES, MAX_MODEL_BYTES, register_model

    return register_model(
        store, model=args.model, version=args.version,
        content=read_input(args.file, limit=MAX_MODEL_BYTES, too_big=TOO_BIG),
        file_name=Path(args.file).name,
        evaluation=read_input(args.eval, limit=MAX_EVALUATION_BYTES, too_big=TOO_BIG) if args.eval else None,
        evaluation_name=Path(args.eval).name if args.eval else None,
        y_true=args.y_true, sensitive=[s.strip() for s in (args.sensitive or "").split(",") if s.strip()],
        purpose=args.purpose, intended_use=args.intended_use, training_data=args.training_data,
        owner=args.owner, actor=acting_user(store, args.by)).as_dict()


def print_registration(result: dict) -> None:
    print(f"registered {result['model']} {result['version']}: {result['algorithm']}")
    print(f"  artifact sha256 {result['artifact_sha256']}")
    print(f"  inputs: {', '.join(result['features'])}")
    print(f"  evaluation rows: {result['evaluation_rows']:,}"
          + (f"; accuracy {result['metrics']['accuracy']}" if result["metrics"] else ""))


def explain(store, args) -> dict:
    from governance.evidence import explanations

    stored = explanations.current_explanation(store, model=args.model, version=args.version, rows=args.rows)
    # Reading a stored explanation changes nothing; computing one writes it, as the checked account (a password at
    # the terminal, the token's account through the server), never as a name typed in.
    actor = acting_user(store, args.by) if args.by or stored.explanation is None else None
    summary = explanations.explain_version(store, model=args.model, version=args.version, rows=args.rows,
                                            actor=actor, progress=current_progress())
    row_id = args.row if args.row is not None else explanations.near_threshold_rejection(
        store, model=args.model, version=args.version)
    local = explanations.explain_row(store, model=args.model, version=args.version, row_id=row_id)
    return {"explainer": summary["explainer"], "explainer_settings": summary["explainer_settings"],
            "estimate": summary["estimate"], "base_value": summary["base_value"],
            "output_units": summary["output_units"], "rows_explained": summary["rows_explained"],
            "global": summary["global"],
            "local": {k: local[k] for k in ("row_id", "prediction", "probability", "output", "contributions",
                                            "narrative")},
            "additivity_max_error": summary["additivity_max_error"],
            "stability_kendall_tau": summary["stability_kendall_tau"], "stability": summary["stability"],
            "cohorts": summary["cohorts"], "explanation_id": summary["explanation_id"],
            "computed_by": summary.get("computed_by"),
            "model_sha256": summary["model_sha256"], "data_sha256": summary["data_sha256"]}


def print_explanation(result: dict) -> None:
    units = result["output_units"].replace("_", "-")
    print(f"{result['explainer_settings']} (values in {units})")
    print(f"additivity max error {result['additivity_max_error']:.2e}; ranking stability (Kendall's tau, worst) "
          f"{result['stability_kendall_tau']:.2f}{'  UNSTABLE' if result['stability']['unstable'] else ''}")
    magnitudes = result["stability"].get("magnitudes")
    if magnitudes:
        largest = magnitudes["max_relative_change"]
        verdict = ("not computable" if largest is None else
                   f"{largest:.1%}, {'stable' if magnitudes['stable'] else 'APPROXIMATE'} "
                   f"(tolerance {magnitudes['tolerance']:.0%})")
        print(f"magnitudes: largest relative change of a top-{len(magnitudes['features'])} mean |SHAP| {verdict}")
    print("global importance (mean |SHAP|):")
    for g in result["global"][:10]:
        print(f"  {g['feature']:<24}{g['mean_abs_shap']:.4f}")
    print(f"row {result['local']['row_id']}: {result['local']['narrative']}")
    for cohort in result["cohorts"]:
        proxies = [f["feature"] for f in cohort["features"] if f["proxy"]]
        if proxies:
            print(f"possible proxies for {cohort['attribute']}: {', '.join(proxies)}")


COMMANDS = {"register": (register, print_registration)}
