"""A telemetry dataset's layout on disk: Parquet files in `date=YYYY-MM-DD` folders (Hive partitions by day), under
`<location>/telemetry/` as `telemetry export` and a shared workspace's lake write them, or right in the location.
Listed here once, for the sources that read a dataset and the rollups made beside its partitions."""

from __future__ import annotations

import glob
import os
from datetime import date
from pathlib import Path

TELEMETRY_DIR = "telemetry"
PARTITION = "date"


def dataset_files(location: str) -> list[str]:
    """The dataset's Parquet files, each in a date=YYYY-MM-DD folder: under location/telemetry/ (as exported) or
    location/ itself, or matched by a glob such as /lake/*/date=*/*.parquet."""
    if any(c in location for c in "*?["):
        return sorted(f for f in glob.glob(location, recursive=True)
                      if f.endswith(".parquet") and Path(f).parent.name.startswith(f"{PARTITION}="))
    for root in (os.path.join(location, TELEMETRY_DIR), location):
        files = sorted(glob.glob(os.path.join(root, f"{PARTITION}=*", "*.parquet")))
        if files:
            return files
    return []


def partition_day(path: str) -> date:
    return date.fromisoformat(Path(path).parent.name.split("=", 1)[1])


def partitions(location: str, *, start=None, end=None) -> list[str]:
    """The files of the days that [start, end) touches (all of them without a window)."""
    import pandas as pd

    files = dataset_files(location)
    if start is None or end is None:
        return files
    first, last = pd.Timestamp(start).date(), (pd.Timestamp(end) - pd.Timedelta(microseconds=1)).date()
    return [f for f in files if first <= partition_day(f) <= last]


def bytes_of(files: list[str]) -> int:
    return sum(os.path.getsize(f) for f in files)
