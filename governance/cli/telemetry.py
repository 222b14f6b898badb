"""`python -m governance telemetry export|source|show|rollup`: where a model's telemetry is read from.

    telemetry export --model M --out DIR        the workspace's telemetry as a date-partitioned Parquet dataset
    telemetry source --model M --kind workspace|parquet|spark [--location DIR_OR_TABLE] [--master URL] [--by USER]
    telemetry show [--model M]                  each model's source, its row count and the last query's time
    telemetry rollup --model M [--since YYYY-MM-DD] [--engine duckdb|spark]
                                                rebuild the rollups beside the day partitions of the model's dataset
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from datetime import date

from governance import vocabulary
from governance.cli.users import acting_user, add_by_argument
from governance.errors import InvalidInputError
from governance.jobs import current_progress

if TYPE_CHECKING:   # the services are imported by the handlers that run: building the parser stays cheap
    from governance.monitoring import telemetry_sources

ENGINES = ("duckdb", "spark")
BAD_SINCE = "--since is a day as YYYY-MM-DD (e.g. 2026-08-14), got {value!r}"
WORKSPACE_KEEPS_ITS_OWN = ("{model}'s telemetry is read from the workspace, which keeps its own hourly rollup in step "
                           "with every write: there is nothing to roll up. `telemetry rollup` is for a model read "
                           "from a Parquet dataset, a Spark folder or a shared workspace's lake")
NOT_A_LOCAL_DATASET = ("{model}'s telemetry is read from {location}, which is not a folder on this machine: rollups "
                       "are written beside a dataset's day partitions, so run `telemetry rollup` where the folder is "
                       "mounted, or point the model at a local or mounted copy")


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    group = commands.add_parser("telemetry", parents=[workspace],
                                help="where telemetry is read from: the workspace, a Parquet dataset, or Spark")
    sub = group.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)
    export = sub.add_parser("export", parents=[workspace],
                            help="write a model's telemetry as a Parquet dataset partitioned by day")
    export.add_argument("--model", required=True)
    export.add_argument("--out", required=True, metavar="DIR", help="a new folder")
    source = sub.add_parser("source", parents=[workspace], help="choose where a model's telemetry is read from")
    source.add_argument("--model", required=True)
    source.add_argument("--kind", required=True, choices=vocabulary.TELEMETRY_SOURCE_KINDS)
    source.add_argument("--location", metavar="DIR_OR_TABLE",
                        help="parquet: the dataset's folder; spark: that folder, or a table in Spark's catalog")
    source.add_argument("--master", metavar="URL",
                        help=f"spark: the cluster (default {vocabulary.DEFAULT_SPARK_MASTER})")
    add_by_argument(source, what="sets it (an engineering leader or admin)")
    show = sub.add_parser("show", parents=[workspace], help="each model's source and its row count")
    show.add_argument("--model")
    rollup = sub.add_parser("rollup", parents=[workspace],
                            help="rebuild the rollups beside the day partitions of a model's dataset or lake")
    rollup.add_argument("--model", required=True)
    rollup.add_argument("--since", metavar="YYYY-MM-DD", help="only the partitions of this day and later")
    rollup.add_argument("--engine", choices=ENGINES, default="duckdb",
                        help="what computes them: DuckDB here (default), or Spark (the source's master, else "
                             f"{vocabulary.DEFAULT_SPARK_MASTER})")
    for parser in (export, source, show, rollup):
        parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _export(store, args) -> dict:
    from governance.monitoring import telemetry_setup

    return telemetry_setup.export_parquet(store, model=args.model, out=args.out)


def _print_export(result: dict) -> None:
    print(f"{result['model']}: {result['rows']:,} rows in {result['partitions']} daily partitions "
          f"({result['bytes']:,} bytes) under {result['location']}")
    if "rollup_bytes" in result:
        print(f"  rolled up: {result['rollups']} partitions, {result['rollup_bytes']:,} bytes "
              f"({_share(result['rollup_bytes'], result['bytes'])} of the dataset)")


def _source(store, args) -> dict:
    from governance.monitoring import telemetry_setup

    source = telemetry_setup.set_source(store, model=args.model, kind=args.kind, location=args.location,
                                          master=args.master, actor=acting_user(store, args.by))
    return _described(store, source)


def _described(store, source: telemetry_sources.Source) -> dict:
    from governance.monitoring import telemetry_sources

    return {"model": source.model, "kind": source.kind, "location": source.location, "master": source.master,
            "set_by": source.set_by, "set_at": source.set_at,
            "rows": telemetry_sources.row_count(store, model=source.model),
            "last_query": telemetry_sources.last_query(source.model)}


def _show(store, args) -> dict:
    from governance.monitoring import telemetry_sources
    from governance.monitoring.inventory import list_models, require_model

    if args.model:
        require_model(store, model=args.model)
    models = [args.model] if args.model else list(list_models(store)["name"])
    return {"sources": [_described(store, telemetry_sources.source_for(store, model=m)) for m in models]}


def _print_sources(result: dict) -> None:
    for s in result.get("sources", [result]):
        where = f" {s['location']}" if s["location"] else ""
        last = s["last_query"]
        print(f"{s['model']}: {s['kind']}{where}, {s['rows']:,} rows"
              + (f" (counted in {last['seconds']} s)" if last else ""))


def _rollup(store, args) -> dict:
    """Rebuild the rollups of the model's dataset (from --since on), with a progress bar at a terminal."""
    import os
    import time

    from governance.monitoring import lake_rollup, telemetry_sources
    from governance.monitoring.inventory import require_model

    require_model(store, model=args.model)
    since = _day(args.since)
    source = telemetry_sources.source_for(store, model=args.model)
    if source.kind == "workspace":
        raise InvalidInputError(WORKSPACE_KEEPS_ITS_OWN.format(model=args.model))
    telemetry_sources.check_location(store, source)   # before the file system is looked at
    location = source.location or ""   # a folder or a glob here; not a table in Spark's catalog, nor remote storage
    if not (source.is_folder and "://" not in location
            and (any(c in location for c in "*?[") or os.path.isdir(location))):
        raise InvalidInputError(NOT_A_LOCAL_DATASET.format(model=args.model, location=source.location))
    report = current_progress()   # the terminal's progress line (none with --json), or a server job's
    progress = None if report is None else (
        lambda done, total, day: report(done / total, f"{_bar(done, total)} {done}/{total} {day}"))
    started = time.perf_counter()
    made = lake_rollup.rollup_dataset(location=source.location, since=since, engine=args.engine,
                                      master=source.master, progress=progress)
    seconds = time.perf_counter() - started
    dataset_bytes = telemetry_sources.bytes_of(telemetry_sources.dataset_files(source.location))
    rollup_bytes = lake_rollup.rollup_bytes(location=source.location)
    return {"model": args.model, "location": source.location, "engine": args.engine,
            "since": since.isoformat() if since else None, "partitions": len(made),
            "rows": sum(m.rows for m in made), "seconds": round(seconds, 3),
            "bytes": sum(m.bytes for m in made), "rollup_bytes": rollup_bytes, "dataset_bytes": dataset_bytes,
            "rollup_share_pct": round(100 * rollup_bytes / dataset_bytes, 3) if dataset_bytes else None,
            "left_out": [note for m in made for note in m.left_out],
            "days": [{"day": m.day.isoformat(), "rows": m.rows, "seconds": round(m.seconds, 3), "bytes": m.bytes}
                     for m in made]}


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(BAD_SINCE.format(value=text)) from None


def _bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "#" * filled + "-" * (width - filled)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "n/a"


def _print_rollup(result: dict) -> None:
    since = f" from {result['since']}" if result["since"] else ""
    print(f"{result['model']}: {result['partitions']} day partitions{since} rolled up by {result['engine']}: "
          f"{result['rows']:,} rows in {result['seconds']:.2f} s, {result['bytes']:,} bytes of rollups written")
    print(f"  rollups now {result['rollup_bytes']:,} bytes, {_share(result['rollup_bytes'], result['dataset_bytes'])}"
          f" of the dataset's {result['dataset_bytes']:,} bytes under {result['location']}")
    for note in result["left_out"]:
        print(f"  left out for a wrong schema: {note}")


COMMANDS = {"export": (_export, _print_export, lambda result: 0), "source": (_source, _print_sources, lambda r: 0),
            "show": (_show, _print_sources, lambda result: 0), "rollup": (_rollup, _print_rollup, lambda r: 0)}
