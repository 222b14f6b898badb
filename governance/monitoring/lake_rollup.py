"""Rollups beside a telemetry dataset's day partitions, so that pages read summaries instead of every row.

Each day partition `<root>/date=D/` gets `<root>/_rollup/date=D/` (Spark and the dataset's listing skip folders
that start with `_`), holding one Parquet file per relation of telemetry_sql.ROLLUP_SQL, named by a generation, and
`manifest.json`. The manifest names the partition's data files as they were rolled up (name, size, modification
time in ns), the files left out for a wrong schema, and each rollup file's SHA-256. It is written last and renamed
into place, so a reader finds the old generation or the new one, never half of one.

A rollup is trusted only while its partition's files are still those the manifest names and each of its files
still has the hash the manifest gives: a partition rewritten since, or a damaged rollup file, is rolled up again
from the rows when it is next read (stale_or_missing tells which). A partition with no rollup at all is read from
its rows, and the reader says so; `python -m governance telemetry rollup` makes them.

The figures are the same either way: the relations read are the rollup files UNION ALL the same statements over the
rows of partitions without one (telemetry_sources). Counts and sums are exact; latency percentiles come from a
DDSketch-style sketch with at most LATENCY_ALPHA relative error; drift's per-input counts are exact.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_sql
from governance.monitoring.telemetry_dataset import PARTITION, dataset_files, partition_day
from governance.record import durable_file

ROLLUP_DIR = "_rollup"
MANIFEST = "manifest.json"
FORMAT = 2   # 2: the latency rollup keeps the objectives' steps
RELATIONS = tuple(telemetry_sql.ROLLUP_SQL)
# DDSketch's relative accuracy: every percentile read from the sketch is within 1% of the exact one (the value of
# each order statistic is within LATENCY_ALPHA of its bin's representative, and so is any interpolation of two).
LATENCY_ALPHA = 0.01
LATENCY_GAMMA = (1 + LATENCY_ALPHA) / (1 - LATENCY_ALPHA)
def latency_step(*, target: float) -> int | None:
    """The step (telemetry_sql.LATENCY_STEP_SQL) whose upper edge is this latency target, or None when the target
    is not an edge (10 ms apart up to 1 s, 100 ms apart up to 10 s): then the slow count needs the rows."""
    if 0 <= target <= 1000 and target % 10 == 0:
        return int(target // 10)
    if 1000 < target <= 10000 and target % 100 == 0:
        return 100 + int((target - 1000) // 100)
    return None


# The values the statements bind: the sketch's precision, and the A/B comparison's bins (compare_bins_sql's).
PARAMS = {"gamma": LATENCY_GAMMA,
          "compare_gamma": (1 + telemetry_sql.COMPARE_LATENCY_ALPHA) / (1 - telemetry_sql.COMPARE_LATENCY_ALPHA),
          **{f"{measure}_width": width for measure, (_, width) in telemetry_sql.COMPARE_BINNED.items()}}
# A read rolls up again at most this many stale or damaged partitions (about 2 s each at 1.1M rows): the rest are
# read from their rows this time, so that a page never waits minutes after a rollup format change or a bulk rewrite.
REBUILDS_PER_READ = 4
# A rollup keeps the generation before it (a reader that planned with the older manifest a moment ago still finds
# its files); files of no manifest (older generations, a crashed writer's) go once they are this old.
KEEP_OLD_SECONDS = 60.0
# The telemetry schema: each column and the DuckDB type families a file's column may have.
_NUMBER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
           "FLOAT", "DOUBLE", "DECIMAL")
SCHEMA = {"ts": ("TIMESTAMP",), "model": ("VARCHAR",), "version": ("VARCHAR",), "segment": ("VARCHAR",),
          "input_id": _NUMBER, "prediction": _NUMBER, "score": _NUMBER, "label": _NUMBER, "latency_ms": _NUMBER,
          "is_error": ("BOOLEAN",), "cpu_pct": _NUMBER, "memory_mb": _NUMBER, "cost_usd": _NUMBER,
          "approved_volume_usd": _NUMBER, "expected_value_usd": _NUMBER}
NOT_A_DATASET = ("{location} holds no telemetry partitions (telemetry/date=YYYY-MM-DD/*.parquet): rollups are made "
                 "for a dataset's day partitions")
NOT_WRITABLE = "cannot write the rollup of {partition} ({reason}): give Quorum write access to {folder}"


@dataclass(frozen=True)
class PartitionRollup:
    """One partition rolled up: its day, the rows summarised, how long it took, and the rollup's bytes."""
    day: date
    rows: int
    seconds: float
    bytes: int
    path: str
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadPlan:
    """How the window's partitions are read: the rollup files of those with a fresh rollup (per relation), the
    data files of those read from rows, and what to tell the reader about it."""
    rollup_files: dict[str, list[str]]
    row_files: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def has_rollups(self) -> bool:
        return bool(self.rollup_files[RELATIONS[0]])


# --- where things are ----------------------------------------------------------------------------------------------
def _by_day(files: Iterable[str]) -> dict[date, list[str]]:
    days: dict[date, list[str]] = {}
    for f in files:
        days.setdefault(partition_day(f), []).append(f)
    return days


def rollup_folder(*, files: list[str]) -> Path:
    """The rollup folder of a partition, from its files: `<root>/_rollup/date=D/` beside `<root>/date=D/`."""
    folder = Path(files[0]).parent
    return folder.parent / ROLLUP_DIR / folder.name


def _stat(files: list[str]) -> list[list]:
    marks = []
    for f in sorted(files):
        s = os.stat(f)
        marks.append([os.path.basename(f), s.st_size, s.st_mtime_ns])
    return marks


# --- the schema of a data file -----------------------------------------------------------------------------------------
_schemas: dict[tuple, str | None] = {}
_schemas_lock = threading.Lock()


def schema_problem(*, path: str) -> str | None:
    """What is wrong with a data file's columns for telemetry (None when nothing): a missing column, a column of
    the wrong type, or a file that is not Parquet. Remembered while the file's size and time are the same."""
    import duckdb

    s = os.stat(path)
    key = (path, s.st_size, s.st_mtime_ns)
    with _schemas_lock:
        if key in _schemas:
            return _schemas[key]
    try:
        columns = {name: kind for name, kind, *_ in duckdb.connect().execute(
            telemetry_sql.DATASET_COLUMNS_SQL, {"file": path}).fetchall()}
    except duckdb.Error as exc:
        problem = f"not readable as Parquet ({str(exc).splitlines()[0][:120]})"
    else:
        missing = [c for c in SCHEMA if c not in columns]
        wrong = [f"{c} is {columns[c]}" for c in SCHEMA if c in columns and not columns[c].startswith(SCHEMA[c])]
        problem = ("lacks " + ", ".join(missing) if missing else "") + \
            ("; " if missing and wrong else "") + ", ".join(wrong) or None
    with _schemas_lock:
        _schemas[key] = problem
    return problem


def usable(*, files: list[str]) -> tuple[list[str], list[str]]:
    """(files of the telemetry schema, a note per file left out and why)."""
    good, notes = [], []
    for f in files:
        problem = schema_problem(path=f)
        if problem is None:
            good.append(f)
        else:
            notes.append(f"{PARTITION}={partition_day(f)}/{os.path.basename(f)} {problem}")
    return good, notes


# --- making a rollup ---------------------------------------------------------------------------------------------------
_partition_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _lock(folder: Path) -> threading.Lock:
    with _locks_lock:
        return _partition_locks.setdefault(str(folder), threading.Lock())


def roll_up(*, files: list[str], engine: str = "duckdb", master: str | None = None) -> PartitionRollup:
    """Roll up one day partition, given its data files: write its rollup files and then its manifest."""
    import duckdb

    started = time.perf_counter()
    day, folder = partition_day(files[0]), rollup_folder(files=files)
    sources = _stat(files)
    good, left_out = usable(files=files)
    generation = uuid.uuid4().hex[:12]
    with _lock(folder):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect()
            results = _results(con, good, engine=engine, master=master)
            written, rows = {}, 0
            for relation in RELATIONS:
                results(relation)
                if relation == RELATIONS[0]:
                    rows = int(con.execute(telemetry_sql.ROLLUP_ROWS_SQL).fetchone()[0])
                target = folder / f"{generation}-{relation}.parquet"
                temporary = folder / f".{target.name}.tmp"
                con.execute(telemetry_sql.rollup_write_sql(str(temporary).replace("'", "''")))
                _fsync(temporary)
                os.replace(temporary, target)
                written[relation] = [target.name, durable_file.sha256(target)]
            previous = _manifest_files(folder)
            manifest = {"format": FORMAT, "partition": day.isoformat(), "sources": sources,
                        "left_out": left_out, "files": written, "rows": rows, "latency_alpha": LATENCY_ALPHA}
            durable_file.replace(folder / MANIFEST, json.dumps(manifest, indent=1))
        except OSError as exc:
            raise InvalidInputError(NOT_WRITABLE.format(partition=f"{PARTITION}={day}", folder=folder.parent,
                                                        reason=exc.strerror or type(exc).__name__)) from None
        _remove_old(folder, keep={name for name, _ in written.values()} | previous)
    size = sum((folder / name).stat().st_size for name, _ in written.values())
    return PartitionRollup(day=day, rows=rows, seconds=time.perf_counter() - started, bytes=size, path=str(folder),
                           left_out=tuple(left_out))


def _params(relation: str) -> dict:
    return {k: v for k, v in PARAMS.items() if f"${k}" in telemetry_sql.ROLLUP_SQL[relation]}


def _results(con, good: list[str], *, engine: str, master: str | None) -> Callable[[str], None]:
    """A function that leaves one relation's rollup of the partition's usable rows in the table rollup_result:
    computed by DuckDB over the rows loaded once, or computed by Spark and typed as DuckDB's statement types it
    (so the files are the same whichever engine made them)."""
    if good and engine != "spark":
        con.execute(telemetry_sql.ROLLUP_LOAD_SQL, {"files": good})
    else:   # no usable file (empty rollups of the schema), or Spark reads the rows (typed by an empty table)
        con.execute(telemetry_sql.ROLLUP_EMPTY_SQL)
    if engine != "spark":
        return lambda relation: con.execute(telemetry_sql.rollup_result_sql(relation), _params(relation))
    from governance.monitoring import rollup_spark

    frames = rollup_spark.aggregate_on_spark(files=good, statements=telemetry_sql.ROLLUP_SQL,
                                             params=PARAMS, master=master) if good else {}

    def from_spark(relation: str) -> None:
        con.execute(telemetry_sql.rollup_result_sql(relation) + " LIMIT 0", _params(relation))
        if relation in frames:
            con.register("spark_result", frames[relation])
            con.execute(telemetry_sql.ROLLUP_FROM_FRAME_SQL)
            con.unregister("spark_result")
    return from_spark


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _manifest_files(folder: Path) -> set[str]:
    try:
        return {name for name, _ in json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"].values()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()


def _remove_old(folder: Path, *, keep: set[str]) -> None:
    now = time.time()
    for path in folder.glob("*.parquet"):
        try:
            if path.name not in keep and now - path.stat().st_mtime > KEEP_OLD_SECONDS:
                path.unlink()
        except OSError:   # another server removed it first
            pass


# --- rolling up a dataset ----------------------------------------------------------------------------------------------
def rollup_partition(*, location: str, day: date, engine: str = "duckdb", master: str | None = None
                     ) -> PartitionRollup:
    files = _by_day(dataset_files(location)).get(day)
    if not files:
        raise InvalidInputError(f"{location} has no partition {PARTITION}={day}: choose a day the dataset holds")
    return roll_up(files=files, engine=engine, master=master)


def rollup_days(*, location: str, days: Iterable[date], engine: str = "duckdb", master: str | None = None
                ) -> list[PartitionRollup]:
    """Roll up the given days' partitions (days without one are skipped)."""
    by_day = _by_day(dataset_files(location))
    return [roll_up(files=by_day[d], engine=engine, master=master) for d in sorted(set(days)) if d in by_day]


def rollup_dataset(*, location: str, since: date | None = None, engine: str = "duckdb", master: str | None = None,
                   progress: Callable[[int, int, date], None] | None = None) -> list[PartitionRollup]:
    """Roll up every partition of a dataset (from `since` on): progress(done, total, day) after each."""
    by_day = _by_day(dataset_files(location))
    if not by_day:
        raise InvalidInputError(NOT_A_DATASET.format(location=location))
    days = [d for d in sorted(by_day) if since is None or d >= since]
    made = []
    for i, day in enumerate(days, start=1):
        made.append(roll_up(files=by_day[day], engine=engine, master=master))
        if progress:
            progress(i, len(days), day)
    return made


def rollup_bytes(*, location: str) -> int:
    """The bytes of a dataset's rollups (their folders' files)."""
    files = dataset_files(location)
    roots = {Path(f).parent.parent / ROLLUP_DIR for f in files}
    return sum(p.stat().st_size for root in roots if root.is_dir() for p in root.glob("*/*") if p.is_file())


def manifests_mark(*, files: list[str]) -> tuple[int, int]:
    """How many of these files' partitions have a manifest, and the newest one's time (ns): what changes when
    rollups are made or remade."""
    count, newest = 0, 0
    for folder in {rollup_folder(files=[f]) for f in files}:
        try:
            newest = max(newest, (folder / MANIFEST).stat().st_mtime_ns)
            count += 1
        except OSError:
            pass
    return count, newest


# --- reading -----------------------------------------------------------------------------------------------------------
_verified: dict[tuple, str] = {}


def _fresh_files(files: list[str]) -> tuple[dict[str, str] | None, list[str], str]:
    """(relation -> rollup file, the files left out for their schema, why not) for a partition whose rollup can
    be trusted; (None, [], reason) when it has none ("missing") or it is stale or damaged ("stale")."""
    folder = rollup_folder(files=files)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [], "missing"
    except (OSError, ValueError):
        return None, [], "stale"
    try:
        if manifest.get("format") != FORMAT or manifest.get("latency_alpha") != LATENCY_ALPHA or \
                manifest["sources"] != _stat(files):
            return None, [], "stale"
        found = {}
        for relation in RELATIONS:
            name, digest = manifest["files"][relation]
            path = folder / name
            s = path.stat()
            key = (str(path), s.st_size, s.st_mtime_ns)
            if _verified.get(key) != digest:
                if durable_file.sha256(path) != digest:
                    return None, [], "stale"
                _verified[key] = digest
            found[relation] = str(path)
        return found, list(manifest.get("left_out", [])), ""
    except (OSError, KeyError, TypeError, ValueError):
        return None, [], "stale"


def plan(*, files: list[str], rebuild: bool = True, model: str | None = None) -> ReadPlan:
    """How to read the partitions of these data files: from each partition's rollup when it can be trusted (a
    stale or damaged one is rolled up again first, when rebuild), else from its usable rows."""
    rollups: dict[str, list[str]] = {relation: [] for relation in RELATIONS}
    rows: list[str] = []
    without: list[date] = []
    stale: list[date] = []
    left_out: list[str] = []
    rebuilds = REBUILDS_PER_READ if rebuild else 0
    for day, day_files in sorted(_by_day(files).items(), reverse=True):   # the newest days first
        found, skipped, why = _fresh_files(day_files)
        if found is None and why == "stale" and rebuilds:
            rebuilds -= 1
            try:
                roll_up(files=day_files)
                found, skipped, why = _fresh_files(day_files)
            except InvalidInputError:   # a folder it cannot write: read its rows this time
                pass
        if found is None:
            good, skipped = usable(files=day_files)
            rows += good
            (stale if why == "stale" else without).append(day)
        else:
            for relation in RELATIONS:
                rollups[relation].append(found[relation])
        left_out += skipped
    notes = []
    fix = f"`python -m governance telemetry rollup{f' --model {model}' if model else ''}`"
    for days, what, does in ((without, "have no rollup", "makes them"), (stale, "have out-of-date rollups",
                                                                       "remakes them")):
        if days:
            days = sorted(days)
            listed = ", ".join(str(d) for d in days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
            notes.append(f"{len(days)} of {len(_by_day(files))} day partitions {what} and were read from their rows "
                         f"({listed}): {fix} {does}")
    if left_out:
        notes.append(f"left out for a wrong schema ({len(left_out)} files): " + "; ".join(left_out[:5])
                     + ("; …" if len(left_out) > 5 else ""))
    return ReadPlan(rollup_files={relation: sorted(found) for relation, found in rollups.items()},
                    row_files=sorted(rows), notes=notes)
