"""The telemetry lake of a shared deployment: date-partitioned Parquet files that any number of servers append to.

Layout (the one `telemetry export` writes, so the Parquet telemetry source reads it as it is):

    <lake>/telemetry/date=YYYY-MM-DD/part-<uuid>.parquet   the predictions, one folder per day
    <lake>/telemetry_input/part-<uuid>.parquet             the inputs they were made on

Files are only ever added, each under a name no other server can choose (a random UUID), and each appears whole:
it is written into <lake>/.staging/ first and renamed into place, which is atomic on one file system. Readers
list the folders at each query, so they never see half a file, and two servers ingesting at once never touch
the same file.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from pathlib import Path

from governance import errors

TABLES = ("telemetry", "telemetry_input")
PARTITION = "date"
STAGING = ".staging"
LAKE_UNWRITABLE = ("cannot write telemetry into the lake at {lake} ({reason}): nothing was written; make the folder "
                   "writable for the server's user, or point QUORUM_LAKE at one that is")


def files(lake: str | os.PathLike, *, table: str) -> list[str]:
    """The table's Parquet files in the lake, in a stable order."""
    if table == "telemetry":
        return sorted(glob.glob(os.path.join(lake, table, f"{PARTITION}=*", "*.parquet")))
    return sorted(glob.glob(os.path.join(lake, table, "*.parquet")))


def check_writable(lake: str | os.PathLike) -> None:
    """Refuse, before anything is written, a lake this process cannot add files to."""
    staging = Path(lake) / STAGING
    try:
        staging.mkdir(parents=True, exist_ok=True)
        probe = staging / f"probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise errors.WorkspaceUnwritableError(
            LAKE_UNWRITABLE.format(lake=lake, reason=exc.strerror or exc)) from None


def write(lake: str | os.PathLike, *, table: str, cursor, relation: str) -> list[Path]:
    """Write the rows of `relation` (a table on the DuckDB `cursor`) into the lake as new files, and return them.

    Telemetry is split by day into its partitions. Nothing is visible to readers until every file is written:
    they are renamed into place only then, so a failure leaves the lake as it was."""
    check_writable(lake)
    staging = Path(lake) / STAGING / uuid.uuid4().hex
    name = f"part-{uuid.uuid4().hex}"
    try:
        if table == "telemetry":
            cursor.execute(f"COPY (SELECT *, ts::DATE AS {PARTITION} FROM {relation} ORDER BY ts) TO '{staging}' "
                           f"(FORMAT parquet, PARTITION_BY ({PARTITION}), FILENAME_PATTERN '{name}_{{i}}')")
        else:
            staging.mkdir(parents=True)
            cursor.execute(f"COPY {relation} TO '{staging / (name + '.parquet')}' (FORMAT parquet)")
        staged = sorted(staging.rglob("*.parquet"))
        placed = []
        for path in staged:
            target = Path(lake) / table / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            placed.append(target)
        return placed
    except OSError as exc:
        raise errors.WorkspaceUnwritableError(
            LAKE_UNWRITABLE.format(lake=lake, reason=exc.strerror or exc)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove(paths: list[Path]) -> None:
    """Take back files a write placed, when the record's transaction did not commit."""
    for path in paths:
        path.unlink(missing_ok=True)


def empty(lake: str | os.PathLike) -> None:
    """Remove every telemetry file of the lake: only for a demo whose build stopped halfway."""
    for table in TABLES:
        shutil.rmtree(Path(lake) / table, ignore_errors=True)


def relation_sql(table: str, *, placeholder: str) -> str:
    """A query over every file of the table (listed in the parameter `placeholder`), with the table's columns."""
    if table == "telemetry":
        return (f"SELECT * EXCLUDE ({PARTITION}) FROM read_parquet(${placeholder}, hive_partitioning = true, "
                "union_by_name = true)")
    return f"SELECT * FROM read_parquet(${placeholder}, union_by_name = true)"
