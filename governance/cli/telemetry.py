"""`python -m governance telemetry export|source|show`: where a model's telemetry is read from.

    telemetry export --model M --out DIR        the workspace's telemetry as a date-partitioned Parquet dataset
    telemetry source --model M --kind workspace|parquet|spark [--location DIR_OR_TABLE] [--master URL] [--by USER]
    telemetry show [--model M]                  each model's source, its row count and the last query's time
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from governance import vocabulary
from governance.cli.users import acting_user, add_by_argument

if TYPE_CHECKING:   # the services are imported by the handlers that run: building the parser stays cheap
    from governance.monitoring import telemetry_sources


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
    for parser in (export, source, show):
        parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _export(store, args) -> dict:
    from governance.monitoring import telemetry_setup

    return telemetry_setup.export_parquet(store, model=args.model, out=args.out)


def _print_export(result: dict) -> None:
    print(f"{result['model']}: {result['rows']:,} rows in {result['partitions']} daily partitions "
          f"({result['bytes']:,} bytes) under {result['location']}")


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


COMMANDS = {"export": (_export, _print_export, lambda result: 0), "source": (_source, _print_sources, lambda r: 0),
            "show": (_show, _print_sources, lambda result: 0)}
