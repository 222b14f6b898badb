"""Where a model's telemetry is read from: the workspace's table, a Parquet dataset in place, or Apache Spark.

The KPI, A/B and drift SQL is written once, in DuckDB's dialect, in telemetry_sql. A source only changes where
the relations `telemetry` (and `telemetry_input`) come from:

- workspace: the tables in the workspace file, as always;
- parquet: a folder laid out as `telemetry/date=YYYY-MM-DD/*.parquet` (Hive partitions by day) and
  `telemetry_input.parquet`, as `telemetry_setup.export_parquet` writes it. The same SQL runs in the
  workspace's DuckDB over the files in place; only the partitions of the days a query's window touches are opened (the pruning is
  done here, from the folder names, so that it does not depend on an optimiser), and nothing is copied;
- spark: the same folder (local or remote storage), or a table in Spark's catalog, read by a Spark session
  (local mode, or a cluster given by its master URL) and filtered on `date` so that Spark prunes the
  partitions. The SQL is translated to Spark SQL by sqlglot with the bound values written in as literals, and
  only the aggregates come back. A statement that also reads the inputs (drift, data quality) has its parts
  over `telemetry` run in Spark and the rest in DuckDB over their results; a part Spark cannot run whole (data
  quality parses each row's inputs) is read by DuckDB from the same files, which must then be on this machine.

The governance records (audits, risks, sign-offs, the ledger) always stay in the workspace. Ingest writes to
the workspace only: a lake is filled by the systems that own it.

A location is read only from under the folders and storage URI prefixes an admin allows ($QUORUM_TELEMETRY_ROOTS;
by default the workspace's own folder and Quorum's data folder), so that a leader cannot point Quorum at any file
the server can read. Symbolic links and '..' are resolved before the check, a glob may not climb out with '..',
and every refused location gets the same message, whether or not it exists.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from governance.errors import InvalidInputError
from governance.monitoring import lake_rollup, spark_engine, telemetry_sql
from governance.monitoring.telemetry_dataset import (PARTITION, TELEMETRY_DIR, bytes_of,  # noqa: F401 (theirs too)
                                                     dataset_files, partition_day, partitions)
from governance.record import clock, lake
from governance.record.repositories import settings
from governance.vocabulary import DEFAULT_SPARK_MASTER as DEFAULT_MASTER
from governance.vocabulary import TELEMETRY_SOURCE_KINDS as KINDS  # noqa: F401 (for the pages)

if TYPE_CHECKING:   # pandas is imported where a frame is made: query_records on the workspace needs none
    import pandas as pd

    from governance.record.store import GovernanceStore

INPUTS_FILE = "telemetry_input.parquet"
SPARK_ONLY_AGGREGATES = ("this view needs row-level reads that run on DuckDB over the dataset's files, and "
                         "{location} is not a folder on this machine: point the model at a local or mounted copy")
NO_INPUTS = ("the dataset {location} has no {name} beside its partitions: drift and data quality need the inputs; "
             "`python -m governance telemetry export` writes them")
NO_SPARK = spark_engine.NO_SPARK
ROOTS_ENV = "QUORUM_TELEMETRY_ROOTS"
# One message for every refused location, naming neither the location's state nor the allowed roots: a refusal
# must not tell whether a path exists.
OUTSIDE_ROOTS = ("telemetry is read only from under the folders and storage prefixes an admin allows (${env}; by "
                 "default the workspace's folder and Quorum's data folder): choose a location under one of them, or "
                 "ask an admin to allow its folder").format(env=ROOTS_ENV)
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
# A table in Spark's catalog ([catalog.][database.]table): a name, never a path (Spark's `format.`path`` syntax has
# backticks, which this refuses). Anything else is a folder, a glob or a storage URI.
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")


@dataclass(frozen=True)
class Source:
    model: str
    kind: str = "workspace"
    location: str | None = None
    master: str | None = None
    set_by: str | None = None
    set_at: str | None = None

    @property
    def is_folder(self) -> bool:
        """A dataset's folder (or glob, or storage URI), not a table in Spark's catalog. Told from the text alone,
        without looking at the file system: a relative folder for Spark is written ./name."""
        return self.kind == "parquet" or (self.kind == "spark" and bool(self.location)
                                          and not _TABLE_NAME.fullmatch(self.location))


# --- where telemetry may be read from -------------------------------------------------------------------------------
def allowed_roots(store: GovernanceStore, environ=None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(folders, URI prefixes) under which locations are accepted: $QUORUM_TELEMETRY_ROOTS (separated by commas,
    folders also by the path separator), else the workspace's folder and Quorum's data folder. Folders resolved."""
    raw = str((os.environ if environ is None else environ).get(ROOTS_ENV) or "").strip()
    if not raw:
        folders = [store.path.resolve().parent, DATA_DIR]
        return tuple(dict.fromkeys(os.path.realpath(f) for f in folders)), ()
    folders, prefixes = [], []
    for item in (part.strip() for part in raw.split(",")):
        if "://" in item:
            prefixes.append(item.rstrip("/") + "/")
            continue
        folders += [os.path.realpath(os.path.expanduser(f.strip())) for f in item.split(os.pathsep) if f.strip()]
    return tuple(dict.fromkeys(folders)), tuple(dict.fromkeys(prefixes))


def check_location(store: GovernanceStore, source: Source) -> None:
    """Refuse, with OUTSIDE_ROOTS, a location that is not under an allowed folder or URI prefix. Nothing in the
    file system is opened or listed before this says yes."""
    if source.kind == "workspace" or not source.is_folder:
        return   # the workspace, or a table in Spark's catalog
    folders, prefixes = allowed_roots(store)
    location = source.location or ""
    if "://" in location:
        path = location.split("://", 1)[1]
        if not any(part in (".", "..") for part in path.split("/")) and \
                any((location.rstrip("/") + "/").startswith(prefix) for prefix in prefixes):
            return
        raise InvalidInputError(OUTSIDE_ROOTS)
    parts = Path(location).parts
    wild = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), len(parts))
    if ".." in parts[wild:]:   # a glob's part is not resolved: it may not climb out
        raise InvalidInputError(OUTSIDE_ROOTS)
    fixed = os.path.realpath(os.path.join(*parts[:wild])) if wild else os.path.realpath(".")
    if not any(fixed == folder or fixed.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders):
        raise InvalidInputError(OUTSIDE_ROOTS)


# --- the setting ---------------------------------------------------------------------------------------------------
def source_for(store: GovernanceStore, *, model: str) -> Source:
    """The source in force for a model: the newest recorded, or the workspace. A PostgreSQL workspace's own
    telemetry is its lake, read as a Parquet dataset in place."""
    row = settings.newest_telemetry_source(store, model=model)
    if store.engine == "postgresql" and (row is None or row.kind == "workspace"):
        return Source(model=model, kind="parquet", location=str(store.lake),
                      set_by=row.set_by if row else None,
                      set_at=row.set_at.isoformat(timespec="seconds") + "Z" if row else None)
    if row is None:
        return Source(model=model)
    return Source(model=model, kind=row.kind, location=row.location, master=row.master, set_by=row.set_by,
                  set_at=row.set_at.isoformat(timespec="seconds") + "Z")


def reads_own(store: GovernanceStore, *, model: str) -> bool:
    """Whether the model's telemetry is the workspace's own (its tables, or a PostgreSQL workspace's lake), which
    one query reads for every such model at once."""
    source = source_for(store, model=model)
    return source.kind == "workspace" or _is_own_lake(store, source)


def _is_own_lake(store: GovernanceStore, source: Source) -> bool:
    return store.engine == "postgresql" and source.kind == "parquet" and source.location == str(store.lake)


# --- partitions ----------------------------------------------------------------------------------------------------
def _inputs_file(location: str) -> str | list[str]:
    """telemetry_input.parquet beside the partitions' folder (or in the location), for drift and data quality; in
    a shared workspace's lake, the files of its telemetry_input/ folder."""
    appended = lake.files(location, table="telemetry_input")   # a lake that servers append to
    if appended:
        return appended
    files = dataset_files(location)
    candidates = [os.path.join(location, INPUTS_FILE)] + \
        ([str(Path(files[0]).parent.parent / INPUTS_FILE), str(Path(files[0]).parent.parent.parent / INPUTS_FILE)]
         if files else [])
    found = next((c for c in candidates if os.path.exists(c)), None)
    if found is None:
        raise InvalidInputError(NO_INPUTS.format(location=location, name=INPUTS_FILE))
    return found


# --- freshness, for caches ---------------------------------------------------------------------------------------
_FRESHNESS_SECONDS = 10.0
_freshness: dict[str, tuple[float, tuple]] = {}


def freshness(store: GovernanceStore) -> tuple:
    """What changes when telemetry outside the workspace changes: each dataset's file count and newest file time,
    and its rollups' (a rollup made or remade changes how a page reads, and what it says about it); for a Spark
    table, the current minute. Looked at no more than every 10 seconds. A cache keyed on the data version and this
    shows new partitions of a lake without a write to the workspace."""
    key = str(store.path)
    now = time.monotonic()
    if key in _freshness and now - _freshness[key][0] < _FRESHNESS_SECONDS:
        return _freshness[key][1]
    marks = []
    for setting in settings.telemetry_sources_in_force(store):
        if setting.kind == "workspace":
            continue
        model, location = setting.model, setting.location
        source = Source(model=model, kind=setting.kind, location=location)
        try:
            check_location(store, source)
        except InvalidInputError:   # refused when it is read; nothing to watch
            continue
        if source.is_folder and "://" not in (location or ""):
            files = dataset_files(location)
            marks.append((model, len(files), max((os.path.getmtime(f) for f in files), default=0.0),
                          lake_rollup.manifests_mark(files=files)))
        else:
            marks.append((model, int(time.time() // 60)))
    if store.engine == "postgresql":   # the shared workspace's own lake: its rows move the data version, not its rollups
        marks.append((None, lake_rollup.manifests_mark(files=dataset_files(str(store.lake)))))
    _freshness[key] = (now, tuple(marks))
    return _freshness[key][1]


# --- running a query -----------------------------------------------------------------------------------------------
_last: dict[str, dict] = {}
_last_lock = threading.Lock()


def last_query(model: str) -> dict | None:
    """When this process last read the model's telemetry, on which engine, how long it took, and the bytes of the
    partitions it opened (for a dataset)."""
    with _last_lock:
        return dict(_last[model]) if model in _last else None


def query(store: GovernanceStore, sql: str, params: dict) -> pd.DataFrame:
    """Run one telemetry query (DuckDB dialect, `$name` parameters, params["model"] naming the model) on the
    model's source."""
    return _query(store, source_for(store, model=params["model"]), sql, params)


def query_records(store: GovernanceStore, sql: str, params: dict) -> list[dict]:
    """query's rows as plain records (None for a missing value); without pandas when the model's telemetry is in
    the workspace."""
    source = source_for(store, model=params["model"])
    if source.kind != "workspace":
        frame = _query(store, source, sql, params)
        return frame.astype(object).where(frame.notna(), None).to_dict("records")
    started = time.perf_counter()
    records = store.analytics.query_records(sql, _used(params, sql))
    _note(source, started, opened=None)
    return records


def _query(store: GovernanceStore, source: Source, sql: str, params: dict) -> pd.DataFrame:
    started = time.perf_counter()
    opened, notes = None, []
    check_location(store, source)   # again at each read: the allowed roots may have changed since it was set
    if source.kind == "workspace":
        frame = store.analytics.query(sql, _used(params, sql))
    elif source.kind == "parquet" or (_names_rollups(sql) and _is_local_folder(source)):
        import duckdb

        try:
            frame, opened, notes = _dataset_query(store, source, sql, params)
        except (FileNotFoundError, duckdb.IOException):   # a rollup replaced twice while this read: plan again
            frame, opened, notes = _dataset_query(store, source, sql, params)
    else:
        frame, opened = _spark_query(store, source, sql, params)
    _note(source, started, opened=opened, notes=notes)
    return frame


def _dataset_query(store: GovernanceStore, source: Source, sql: str, params: dict
                   ) -> tuple[pd.DataFrame, int, list[str]]:
    """A statement over a dataset's files, in DuckDB: its rollup relations from the window's rollups (and the rows
    of partitions without one), `telemetry` from the window's usable files."""
    files = partitions(source.location, start=params.get("start"), end=params.get("end"))
    values = dict(params)
    if _names_rollups(sql):
        plan = lake_rollup.plan(files=files, model=source.model)
        named = [relation for relation in lake_rollup.RELATIONS if re.search(rf"\b{relation}\b", sql)]
        opened = bytes_of([f for relation in named for f in plan.rollup_files[relation]] + plan.row_files)
        values |= {f"{relation}_files": found for relation, found in plan.rollup_files.items()}
        values |= {"rollup_rows": plan.row_files, **lake_rollup.PARAMS}
        rollups, rows, notes = plan.has_rollups, bool(plan.row_files), plan.notes
    else:
        opened = bytes_of(files)
        files, left_out = lake_rollup.usable(files=files)
        rollups, rows = False, False
        notes = [f"left out for a wrong schema ({len(left_out)} files): " + "; ".join(left_out[:5])] if left_out \
            else []
    text = _on_files(sql, files=files, location=source.location, own=_is_own_lake(store, source),
                     rollups=rollups, rows=rows)
    values["telemetry_files"] = files or dataset_files(source.location)[:1]
    if "$input_file" in text:
        values["input_file"] = _inputs_file(source.location)
    return store.analytics.query(text, _used(values, text)), opened, notes


def _names_rollups(sql: str) -> bool:
    return any(re.search(rf"\b{relation}\b", sql) for relation in lake_rollup.RELATIONS)


def _is_local_folder(source: Source) -> bool:
    return source.is_folder and bool(source.location) and os.path.isdir(source.location)


def reads_rollups(store: GovernanceStore, *, model: str) -> bool:
    """Whether the model's telemetry is a dataset whose day partitions have rollups read in its place: a Parquet
    dataset (a shared workspace's lake included), or a Spark source's folder on this machine."""
    source = source_for(store, model=model)
    return source.kind == "parquet" or (source.kind == "spark" and _is_local_folder(source))


_notes: contextvars.ContextVar[list | None] = contextvars.ContextVar("telemetry_notes", default=None)


@contextlib.contextmanager
def noting():
    """Collect, in a list, what the telemetry reads inside the block have to say about how they read: partitions
    read from rows for want of a rollup, files left out for a wrong schema. Each note once; a block inside another
    passes its notes on to the outer one too."""
    notes: list[str] = []
    outer = _notes.get()
    token = _notes.set(notes)
    try:
        yield notes
    finally:
        _notes.reset(token)
        if outer is not None:
            outer += [n for n in notes if n not in outer]


def _note(source: Source, started: float, *, opened: int | None, notes: list[str] = ()) -> None:
    """What last_query reports, and the notes for noting()."""
    collected = _notes.get()
    if collected is not None:
        collected += [n for n in notes if n not in collected]
    with _last_lock:
        _last[source.model] = {"engine": source.kind, "at": clock.now().isoformat(timespec="seconds"),
                               "seconds": round(time.perf_counter() - started, 3), "bytes_opened": opened,
                               "notes": list(notes)}


def across_models(store: GovernanceStore, sql: str, params: dict | None = None) -> pd.DataFrame:
    """A statement grouped by model over every model's telemetry: the workspace's table once, and each model
    read elsewhere from its own source; each model's rows come from where it is read."""
    import pandas as pd

    external = [m for m in settings.models_read_elsewhere(store) if not reads_own(store, model=m)]
    frame = store.analytics.query(sql, params or {})
    frames = [frame[~frame["model"].isin(external)]]
    for model in external:
        found = query(store, sql, {**(params or {}), "model": model})
        frames.append(found[found["model"] == model])
    return pd.concat(frames, ignore_index=True)


def query_rows(store: GovernanceStore, sql: str, params: dict) -> list[tuple]:
    return list(query(store, sql, params).itertuples(index=False, name=None))


def _replace_relations(sql: str, relations: dict[str, str]):
    """The statement parsed as DuckDB, each table in `relations` replaced by the given subquery (same alias)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    for table in list(tree.find_all(exp.Table)):
        if table.name in relations and not table.db:
            replacement = sqlglot.parse_one(relations[table.name], read="duckdb")
            table.replace(exp.Subquery(this=replacement, alias=exp.TableAlias(
                this=exp.to_identifier(table.alias or table.name))))
    return tree


def _on_files(sql: str, *, files: list[str], location: str, own: bool = False, rollups: bool = False,
              rows: bool = False) -> str:
    """The DuckDB statement over the dataset's files: $telemetry_files (the window's partitions) and $input_file.
    A dataset with no file at all yet reads as no rows; so do the inputs of a shared workspace's own lake before
    any were written (an ingest of predictions alone writes none), as a DuckDB workspace's empty table would."""
    has_files = bool(files or dataset_files(location))
    has_inputs = not own or bool(lake.files(location, table="telemetry_input"))
    return _over_files(sql, in_window=bool(files), has_files=has_files, has_inputs=has_inputs, rollups=rollups,
                       rows=rows)


@functools.lru_cache(maxsize=1024)
def _over_files(sql: str, *, in_window: bool, has_files: bool, has_inputs: bool, rollups: bool = False,
                rows: bool = False) -> str:
    """_on_files's statement, parsed and rewritten once per text and case (sqlglot takes milliseconds a time)."""
    return _replace_relations(sql, {
        # no partition in the window: no rows, but the dataset's columns
        "telemetry": telemetry_sql.dataset_telemetry_sql(PARTITION, empty=not in_window) if has_files
        else telemetry_sql.NO_TELEMETRY_SQL,
        "telemetry_input": telemetry_sql.DATASET_INPUTS_SQL if has_files and has_inputs
        else telemetry_sql.NO_INPUTS_SQL,
        **{relation: _rollup_relation(relation, rollups=rollups, rows=rows) for relation in lake_rollup.RELATIONS},
    }).sql(dialect="duckdb")


def _rollup_relation(relation: str, *, rollups: bool, rows: bool) -> str:
    """A rollup relation over a dataset: the rollup files ($<relation>_files) UNION ALL the same statement over the
    rows of the partitions without a rollup ($rollup_rows); with neither, the statement over no rows."""
    over_rows = _replace_relations(telemetry_sql.ROLLUP_SQL[relation], {
        "telemetry": telemetry_sql.ROLLUP_ROWS_RELATION_SQL if rows else telemetry_sql.NO_TELEMETRY_SQL})
    parts = ([telemetry_sql.rollup_files_sql(relation)] if rollups else []) + \
        ([over_rows.sql(dialect="duckdb")] if rows or not rollups else [])
    return telemetry_sql.union_sql(parts)


# --- Spark -----------------------------------------------------------------------------------------------------------
# The session and the translation are spark_engine's, shared with the rollups that Spark computes.
_spark = spark_engine.session
spark_sql = spark_engine.spark_sql


def _reads(node) -> set[str]:
    from sqlglot import exp

    return {t.name for t in node.find_all(exp.Table)} - {c.alias for c in node.find_all(exp.CTE)}


_frames: dict[tuple, object] = {}
_frames_lock = threading.Lock()


def spark_frame(source: Source):
    """The source as a Spark DataFrame: a folder (Spark discovers its date=… partitions, on local or remote storage
    such as s3a:// or abfss://) or a table in Spark's catalog. Kept while a local folder's files are the same, so
    that Spark lists the partitions once, not on every query."""
    marker = None
    if source.is_folder and os.path.isdir(source.location):
        files = dataset_files(source.location)
        marker = (len(files), max((os.path.getmtime(f) for f in files), default=0.0))
    key = (source.master, source.location, marker)
    if marker is not None and key in _frames:
        return _frames[key]
    frame = _read_spark_frame(source)
    if marker is not None:
        with _frames_lock:
            if len(_frames) >= 16:   # folders that changed since: their old listings are of no use
                _frames.clear()
            _frames[key] = frame
    return frame


def _read_spark_frame(source: Source):
    spark = _spark(source.master)
    try:
        if source.is_folder:
            root = source.location.rstrip("/")
            exported = root + "/" + TELEMETRY_DIR   # as exported; or the partitions right in the folder
            local_flat = os.path.isdir(root) and not os.path.isdir(exported)
            return spark.read.parquet(root if local_flat else exported)
        return spark.table(source.location)
    except Exception as exc:  # noqa: BLE001 -- Spark's own errors (path or table not found): say what to fix
        raise InvalidInputError(f"Spark cannot read {source.location} ({type(exc).__name__}): give a folder holding "
                                "telemetry/date=YYYY-MM-DD/ or a table in Spark's catalog") from None


def _spark_query(store: GovernanceStore, source: Source, sql: str, params: dict) -> tuple[pd.DataFrame, int | None]:
    """A statement that reads only `telemetry` runs in Spark whole. One that also reads workspace tables (drift's
    inputs) has its parts over `telemetry` (its CTEs) run in Spark and the rest in DuckDB over their results."""
    import pandas as pd
    import sqlglot
    from sqlglot import exp

    spark = _spark(source.master)
    frame = spark_frame(source)
    opened = bytes_of(partitions(source.location, start=params.get("start"), end=params.get("end"))) \
        if source.is_folder and os.path.isdir(source.location) else None
    if PARTITION in frame.columns:
        if params.get("start") is not None and params.get("end") is not None:   # Spark prunes the partitions
            first = pd.Timestamp(params["start"]).date()
            last = (pd.Timestamp(params["end"]) - pd.Timedelta(microseconds=1)).date()
            frame = frame.where(frame[PARTITION].between(first, last))
        frame = frame.drop(PARTITION)
    view = f"quorum_telemetry_{abs(hash((source.model, source.location))) % 10**8}"
    frame.createOrReplaceTempView(view)
    tree = sqlglot.parse_one(sql, read="duckdb")
    if _reads(tree) <= {"telemetry"}:
        return spark.sql(spark_sql(tree, params, relation=view)).toPandas(), opened
    pushed = {}
    for cte in tree.find_all(exp.CTE):
        if _reads(cte.this) == {"telemetry"}:
            name = f"spark_{cte.alias}"
            pushed[name] = spark.sql(spark_sql(cte.this, params, relation=view)).toPandas()
            cte.set("this", sqlglot.parse_one(telemetry_sql.pushed_part_sql(name), read="duckdb"))
    files = []
    if "telemetry" in _reads(tree):   # read outside a CTE Spark can run whole (data quality's per-input parse):
        if not (source.is_folder and os.path.isdir(source.location)):   # DuckDB reads those rows in place
            raise InvalidInputError(SPARK_ONLY_AGGREGATES.format(location=source.location))
        files = partitions(source.location, start=params.get("start"), end=params.get("end"))
    text = _on_files(tree.sql(dialect="duckdb"), files=files, location=source.location) if source.is_folder \
        else tree.sql(dialect="duckdb")
    values = {**params, "telemetry_files": files or dataset_files(source.location or "")[:1]}
    if "$input_file" in text:
        values["input_file"] = _inputs_file(source.location)
    return store.analytics.query_over(text, _used(values, text), frames=pushed), opened


def _used(values: dict, text: str) -> dict:
    """Only the parameters the statement names: DuckDB refuses others."""
    return {k: v for k, v in values.items() if re.search(rf"\${k}\b", text)}


def row_count(store: GovernanceStore, *, model: str) -> int:
    return int(query(store, telemetry_sql.MODEL_ROW_COUNT_SQL, {"model": model})["n"].iloc[0])

