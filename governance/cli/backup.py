"""`python -m governance migrate|backup|restore`: move a DuckDB workspace to PostgreSQL and its lake, copy a
workspace of either engine into a backup folder, and restore such a folder into a new workspace.

They take no `--by` account: they run only on the machine that holds the workspace (never through a server), as an
operator who can already read its file or connect to its database. Whoever can do that can copy the record with
`cp` or `pg_dump` anyway, so an account check would protect nothing; what these commands add is the proof that the
copy is whole (verify, the chain heads, the counts). The ledger key is never copied: keep it separately.
"""

from __future__ import annotations

import argparse


def add_parsers(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    migrate = commands.add_parser(
        "migrate", parents=[workspace],
        help="move the DuckDB workspace (--db) to PostgreSQL: the record into the empty database --to, the telemetry "
             "into the empty lake folder --lake (default $QUORUM_LAKE); then verify, chain heads and counts are "
             "checked against the original, which is left as it was")
    migrate.add_argument("--to", required=True, metavar="URL", help="an empty PostgreSQL database: postgresql://…")
    migrate.add_argument("--json", action="store_true", help="print the result as JSON")

    backup = commands.add_parser(
        "backup", parents=[workspace],
        help="copy the workspace into a new folder: the DuckDB file, or pg_dump of the database and the lake's "
             "files; with the anchor and a manifest of every file's SHA-256 (never the ledger key: keep it apart)")
    backup.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    backup.add_argument("--json", action="store_true", help="print the result as JSON")

    restore = commands.add_parser(
        "restore", parents=[workspace],
        help="restore a backup folder into a new workspace (a new DuckDB file, or an empty PostgreSQL database with "
             "an empty --lake), after checking every file against its manifest; then verify it")
    restore.add_argument("--from", dest="backup_dir", required=True, metavar="DIR", help="the folder backup made")
    restore.add_argument("--to", required=True, metavar="LOCATION",
                         help="a new DuckDB file, or an empty PostgreSQL database (postgresql://…)")
    restore.add_argument("--json", action="store_true", help="print the result as JSON")


def migrate(store, args) -> dict:
    from governance import errors
    from governance.record import workspace_copy
    from governance.record.postgres_store import NO_LAKE
    from governance.record.workspace import lake_path

    lake = lake_path(lake=getattr(args, "lake", None))
    if not lake:
        raise errors.InvalidInputError(NO_LAKE)
    result = workspace_copy.migrate(source=store, to_url=args.to, lake=lake).as_dict()
    return result | {"rollups": roll_up_lake(lake)}


def roll_up_lake(lake) -> int:
    """Roll up every day partition of a lake just filled (by migrate), so pages read summaries from the start
    rather than every row; the number of partitions rolled up. Here and not in workspace_copy: the record layer
    may not reach the monitoring layer's rollups."""
    from governance.monitoring import lake_rollup
    from governance.monitoring.telemetry_dataset import dataset_files

    if not dataset_files(str(lake)):   # a workspace without telemetry: nothing to summarise
        return 0
    return len(lake_rollup.rollup_dataset(location=str(lake)))


def print_migrate(result: dict) -> None:
    print(f"migrated {result['source']} -> {result['target']} (telemetry in {result['lake']}) in "
          f"{result['seconds']} s")
    print(f"  record: {result['rows']:,} rows in {len(result['tables'])} tables")
    print(f"  telemetry: {result['telemetry_rows']['telemetry']:,} rows, "
          f"{result['telemetry_rows']['telemetry_input']:,} inputs, in {result['lake_files']} files, "
          f"{result['rollups']} day partitions rolled up")
    _print_heads(result["heads_after"], "  chain heads (equal before and after):")
    print(f"  verify: {'intact' if result['verify_intact'] else 'BROKEN'}")


def backup(store, args) -> dict:
    from governance.record import workspace_copy

    return workspace_copy.backup(store=store, out=args.out).as_dict()


def print_backup(result: dict) -> None:
    print(f"backup of the {result['engine']} workspace (schema version {result['schema_version']}) in {result['out']}: "
          f"{len(result['files'])} files, {result['bytes']:,} bytes, in {result['seconds']} s")
    _print_heads(result["heads"], "  chain heads:")
    print("  the ledger key is not in it: keep the key separately, a restored workspace verifies only with it")


def restore(store, args) -> dict:
    from governance.record import workspace_copy

    lake = getattr(args, "lake", None)
    result = workspace_copy.restore(backup=args.backup_dir, to=args.to, lake=lake).as_dict()
    # a PostgreSQL workspace's lake comes back with new file times: its rollups are made again from its rows
    return result | {"rollups": roll_up_lake(lake) if result["engine"] == "postgresql" and lake else 0}


def print_restore(result: dict) -> None:
    print(f"restored {result['backup']} -> {result['target']} ({result['engine']}) in {result['seconds']} s: "
          f"{result['files_checked']} files matched the manifest")
    _print_heads(result["heads"], "  chain heads (equal to the backup's):")
    if result["rollups"]:
        print(f"  the lake's {result['rollups']} day partitions rolled up")
    print(f"  verify: {'intact' if result['verify_intact'] else 'BROKEN'}")


def _print_heads(heads: dict, title: str) -> None:
    print(title)
    for name, head in heads.items():
        print(f"    {name:<14} {head['seq']:>6}  {head['hash'][:16]}…")


COMMANDS = {"migrate": (migrate, print_migrate), "backup": (backup, print_backup),
            "restore": (restore, print_restore)}
