"""Prediction telemetry from real systems: CSV, Parquet and JSON-lines files, for one model version.

A file is read in chunks (never whole) and each row is checked against the telemetry columns; the checked rows
go to a temporary Parquet file, which DuckDB then loads in one transaction: good rows into `telemetry`, rows
that failed into `ingest_quarantine` with the reason, and the `ingested_file` record. A crash or a malformed
file halfway leaves nothing written. The file's SHA-256 makes a repeat a no-op.

The running app holds the workspace file, and DuckDB allows one writing process. So `ingest_file` from
another process validates without the database and drops the checked rows as Parquet into the workspace's
inbox folder; the app calls `absorb_inbox` every few seconds, which ingests each inbox file exactly once.

Every ingest is recorded in the ledger (kind `telemetry_ingest`) with who acted, in the same transaction as the
rows: an account checked as for every other write (a password at the terminal, an API token through the server)
with the role to configure monitoring. An inbox file cannot carry a checked account (its writer could not open
the workspace to check one), so it is recorded as the file-system account that owns it: the operating system
vouches for that, and whoever may write the inbox may write the workspace file beside it anyway.

Row numbers in messages count data rows from 1 (a CSV header is not a row); in JSON lines they are the line
numbers. Timestamps without a UTC offset are taken as UTC.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pwd
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from governance import errors
from governance.access import identity
from governance.access.identity import User
from governance.monitoring import lake_rollup, rollup, telemetry_sql
from governance.monitoring.inventory import require_model
from governance.record import clock, ledger
from governance.record.repositories import ingests
from governance.record.shared_stores import open_store
from governance.record.store import GovernanceStore
from governance.record.workspace import is_database_url

log = logging.getLogger("quorum.ingest")

# --- what a file may carry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One telemetry column as a file may carry it."""
    name: str
    kind: Literal["timestamp", "text", "integer", "binary", "boolean", "number"]
    required: bool = False      # the file must have the column
    nullable: bool = True       # a row may leave it empty
    low: float | None = None
    high: float | None = None


COLUMNS = (
    _Column("ts", "timestamp", required=True, nullable=False),
    _Column("segment", "text"),
    _Column("input_id", "integer"),
    _Column("prediction", "binary", required=True),  # empty only when the request failed: checked with is_error
    _Column("score", "number", low=0, high=1),
    _Column("label", "binary"),
    _Column("latency_ms", "number", required=True, nullable=False, low=0),
    _Column("is_error", "boolean", required=True, nullable=False),
    _Column("cpu_pct", "number", low=0, high=100),
    _Column("memory_mb", "number", low=0),
    _Column("cost_usd", "number", low=0),
    _Column("approved_volume_usd", "number", low=0),
    _Column("expected_value_usd", "number"),
)
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)
IDENTITY_COLUMNS = ("model", "version")   # come from the arguments; a file may repeat them, not contradict them
KNOWN_COLUMNS = frozenset(c.name for c in COLUMNS) | set(IDENTITY_COLUMNS)
SEGMENT_WHEN_MISSING = "unknown"          # telemetry.segment is NOT NULL; many serving logs have no channel

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl"}
# Chunk sizes: Python-side memory stays at a few times one chunk, whatever the file's size.
CSV_BLOCK_BYTES = 1 << 20          # about 12,000 typical telemetry rows
PARQUET_BATCH_ROWS = 16_384
JSONL_CHUNK_ROWS = 10_000          # parsed JSON objects are heavy: a smaller chunk
JSONL_MAX_LINE_BYTES = 1 << 20     # a longer "line" is a binary or single-line file, not JSON lines
HASH_BLOCK_BYTES = 1 << 20
CSV_NULL_TEXTS = ["", "NA", "N/A", "NULL", "null", "None", "NaN", "nan"]
TRUE_TEXTS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TEXTS = ("false", "f", "no", "n", "0", "0.0")
MAX_PROBLEMS_LISTED = 20
SHOWN_VALUE_CHARS = 40
STALE_TEMP_SECONDS = 6 * 3600      # an inbox temp file this old was left by a writer that died
LAKE_ROLLUP_HOOK = "lake_rollup"    # after an ingest into a shared workspace's lake commits: its days rolled up

# --- messages ----------------------------------------------------------------------------------------
# File-level: the whole file is refused and nothing is written.
FILE_UNREADABLE = "cannot read {file} ({reason}): give the path of a CSV, Parquet or JSON-lines file"
FILE_EMPTY = "{file} is empty: nothing was ingested"
FILE_NO_ROWS = "{file} holds no telemetry rows: nothing was ingested"
UNSUPPORTED_FORMAT = ("{file}: unsupported file type {suffix!r}: nothing was ingested; "
                      "use .csv, .parquet or .jsonl (JSON lines, one object per line)")
NOT_CSV = ("{file} is not a readable CSV file ({detail}): nothing was ingested; "
           "expected UTF-8 text, comma-separated, with a header row")
NOT_PARQUET = "{file} is not a readable Parquet file ({detail}): nothing was ingested"
JSONL_BROKEN_LINE = ("line {line} of {file} is not valid JSON ({detail}): nothing was ingested; "
                     "expected JSON lines, one object per line")
JSONL_NOT_OBJECT = ("line {line} of {file} is not a JSON object: nothing was ingested; "
                    "expected JSON lines, one object per line")
JSONL_LINE_TOO_LONG = "line {line} of {file} is longer than {limit:,} bytes: not JSON lines; nothing was ingested"
MISSING_COLUMNS = ("{file} lacks the required column(s) {missing}: nothing was ingested; "
                   "required: {required}; the file has: {found}")
DUPLICATE_COLUMN = "{file} has the column {column!r} more than once: nothing was ingested"
FILE_CHANGED = "{file} changed while it was being read: nothing was ingested; try again once it is complete"
NO_WORKSPACE = "there is no workspace at {path}: create it first (python -m governance init --db {path})"
EMPTY_ARGUMENT = "the {what} to ingest for must not be empty"
ALREADY_INGESTED_ELSEWHERE = ("{file} was already ingested as telemetry of {other_model} {other_version} "
                              "(on {when:%Y-%m-%d %H:%M} UTC): the same file cannot also be {model} {version}")
ALREADY_QUEUED_ELSEWHERE = ("{file} is already waiting in {inbox} as telemetry of {other_model} {other_version}: "
                            "the same file cannot also be {model} {version}")
NOT_AN_INBOX_FILE = "{file} is not a Quorum inbox file ({detail})"
INBOX_HAS_NO_ACCOUNT = ("{path} is held by a running Quorum server, so the account {name!r} cannot be checked here "
                        "and nothing was queued: ingest through the server as that account (--server URL with its "
                        "API token in QUORUM_TOKEN), or leave --by out to queue the file in the inbox as the "
                        "file-system account {os_account!r}")

# Row-level: the row is quarantined. Shown as "row 17, column latency_ms: 'fast' is not a number".
NOT_A_NUMBER = "is not a number"
NOT_WHOLE = "is not a whole number (of at most 2^53)"
NOT_BINARY = "is not 0 or 1"
NOT_BOOLEAN = "is not true or false"
NOT_TIMESTAMP = "is not a timestamp (use ISO 8601, e.g. 2026-09-01T10:15:00Z)"
OUTSIDE = "is outside [{low:g}, {high:g}]"
BELOW = "is below {low:g}"
IS_EMPTY = "is empty"
NO_PREDICTION = "is empty although is_error is false: only a failed request may lack a prediction"
OTHER_IDENTITY = "does not match the {column} being ingested ({expected!r})"

# --- the inbox ----------------------------------------------------------------------------------------
# An inbox file holds every row of the source file after checking: good rows with reason NULL, quarantined
# rows with their reason and raw row. Its name is the source's SHA-256; the metadata says what it is.
INBOX_SCHEMA = pa.schema([
    ("row_number", pa.int64()),
    ("ts", pa.timestamp("us")),
    ("segment", pa.string()),
    ("input_id", pa.int64()),
    ("prediction", pa.int8()),
    ("score", pa.float64()),
    ("label", pa.int8()),
    ("latency_ms", pa.float64()),
    ("is_error", pa.bool_()),
    ("cpu_pct", pa.float64()),
    ("memory_mb", pa.float64()),
    ("cost_usd", pa.float64()),
    ("approved_volume_usd", pa.float64()),
    ("expected_value_usd", pa.float64()),
    ("problem_columns", pa.string()),
    ("reason", pa.string()),
    ("rules", pa.string()),
    ("raw_row", pa.string()),
])
INBOX_FORMAT = "quorum-inbox-1"
_INBOX_KEYS = ("format", "model", "version", "source_file", "source_sha256", "source_format", "rows_accepted",
               "rows_quarantined", "summary")
_BAD_COLUMNS = ["row_number", "problem_columns", "reason", "rules", "raw_row"]
_RULE_SEPARATOR = "\n"   # rule texts contain ':' and ';' but never a newline


def inbox_dir(workspace: Path) -> Path:
    """Where other processes leave telemetry for the app holding `workspace`: `<parent>/<stem>.inbox/`."""
    workspace = Path(workspace)
    return workspace.parent / f"{workspace.stem}.inbox"


# --- the outcome ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one file.

    mode: "ingested" (committed now), "queued" (workspace busy: waiting in the inbox), "already_ingested"
    (the same content was ingested before: nothing done; the counts are the earlier ones) or "rejected"
    (an inbox file that could not be absorbed: moved to rejected/, see `reason`).
    """
    mode: Literal["ingested", "queued", "already_ingested", "rejected"]
    file_name: str
    file_sha256: str
    model: str
    version: str
    rows_accepted: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)  # a row with two problems counts twice
    problems: tuple[str, ...] = ()          # the first MAX_PROBLEMS_LISTED, "row 17, column latency_ms: …"
    ignored_columns: tuple[str, ...] = ()   # file columns that are not telemetry columns
    inbox_file: Path | None = None          # queued: where it waits; absorbed or rejected: where it came from
    ingested_at: datetime | None = None     # UTC
    reason: str | None = None               # rejected: why
    ingested_by: str | None = None          # who acted, as the ledger records it (queued: as it will record it)

    @property
    def rows_read(self) -> int:
        return self.rows_accepted + self.rows_quarantined

    def to_dict(self) -> dict:
        """JSON-ready, for the CLI's --json."""
        return {
            "mode": self.mode, "file_name": self.file_name, "file_sha256": self.file_sha256,
            "model": self.model, "version": self.version, "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted, "rows_quarantined": self.rows_quarantined,
            "quarantined_by_reason": dict(self.quarantined_by_reason), "problems": list(self.problems),
            "ignored_columns": list(self.ignored_columns),
            "inbox_file": None if self.inbox_file is None else str(self.inbox_file),
            "ingested_at": None if self.ingested_at is None else self.ingested_at.isoformat(timespec="seconds"),
            "reason": self.reason, "ingested_by": self.ingested_by,
        }


# --- public entry points -------------------------------------------------------------------------------


def ingest_file(*, workspace: Path | str, file: Path, model: str, version: str,
                actor: Callable[[GovernanceStore], User], account: str | None = None,
                lake: str | None = None) -> IngestOutcome:
    """Ingest `file` into the workspace, or into its inbox when another process (the app) holds it open.

    actor    proves who acts once the workspace is open (at the terminal: the account's password)
    account  the account named on the command line (--by), if one was: the inbox cannot check it, so a named
             account is refused there rather than recorded as the file-system account instead
    lake     a PostgreSQL workspace's telemetry lake (default QUORUM_LAKE); any number of processes ingest into
             it at once, so there is no inbox
    """
    if is_database_url(workspace):
        with open_store(workspace, lake=lake) as store:
            return ingest_path_into_store(store, file=file, model=model, version=version, actor=actor(store))
    workspace = Path(workspace)
    if not workspace.is_file():  # opening would create an empty workspace: ingesting never should
        raise errors.InvalidInputError(NO_WORKSPACE.format(path=workspace))
    try:
        store = GovernanceStore(workspace)
    except errors.WorkspaceLockedError:
        if account:
            raise errors.InvalidInputError(INBOX_HAS_NO_ACCOUNT.format(path=workspace, name=account,
                                                                       os_account=_os_account(os.getuid())))
        # Only one process may write a DuckDB file. Check the rows now, so the caller hears about bad rows
        # at once, and leave them where the app absorbs them within seconds.
        return queue_file(workspace=workspace, file=file, model=model, version=version)
    with store:
        return ingest_path_into_store(store, file=file, model=model, version=version, actor=actor(store))


def ingest_path_into_store(store: GovernanceStore, *, file: Path, model: str, version: str,
                           actor: User) -> IngestOutcome:
    """Ingest `file` through a store this process already holds: all rows, records and the ledger entry naming
    `actor` (who needs the role to configure monitoring) in one transaction."""
    identity.require(actor, "configure monitoring")
    _require_arguments(model=model, version=version)
    require_model(store, model=model, version=version)
    source = _open_source(Path(file))
    repeat = _earlier_ingest(store, sha256=source.sha256, file_name=source.path.name, model=model,
                             version=version, inbox_file=None)
    if repeat is not None:  # known by its hash: answered before parsing a byte of it
        return repeat
    with _checked_file(source, inbox_dir(store.path), model=model, version=version) as (checked, meta):
        return _load(store, checked, meta, via="direct", inbox_file=None, actor=actor.recorded_as)


def queue_file(*, workspace: Path, file: Path, model: str, version: str) -> IngestOutcome:
    """Check `file` without the database and leave it as Parquet in the workspace's inbox.

    Whether the model version exists can only be checked when the inbox is absorbed.
    """
    _require_arguments(model=model, version=version)
    source = _open_source(Path(file))
    inbox = inbox_dir(Path(workspace))
    target = inbox / f"{source.sha256}.parquet"
    waiting = _waiting_metadata(target)
    if waiting is not None and (waiting["model"], waiting["version"]) != (model, version):
        raise errors.InvalidInputError(ALREADY_QUEUED_ELSEWHERE.format(
            file=source.path.name, inbox=inbox, other_model=waiting["model"], other_version=waiting["version"],
            model=model, version=version))
    with _checked_file(source, inbox, model=model, version=version) as (checked, meta):
        _fsync(checked)  # the rename must not outlive the bytes if the machine stops
        os.replace(checked, target)  # atomic: the absorber sees the whole file or none of it
    return _outcome(meta, mode="queued", inbox_file=target, ingested_by=_inbox_actor(target.stat().st_uid))


_absorbing = threading.Lock()


def absorb_inbox(store: GovernanceStore) -> list[IngestOutcome]:
    """Ingest every file waiting in the store's inbox exactly once, then delete it.

    The app calls this every ~15 s from each session; one call at a time does the work, the others return
    at once. A file that cannot be absorbed is moved to `rejected/` with a `.reason.txt` beside it, so it is
    never retried in a loop (move it back to retry).
    """
    inbox = inbox_dir(store.path)
    if not inbox.is_dir() or not _absorbing.acquire(blocking=False):
        return []
    try:
        _remove_stale_temporaries(inbox)
        outcomes = []
        for path in sorted(inbox.glob("*.parquet")):
            try:
                outcome = _absorb_one(store, path)
            except (errors.WorkspaceError, MemoryError, duckdb.IOException):
                raise  # the workspace or the machine is in trouble, not this file: keep it for the next round
            except Exception as exc:  # noqa: BLE001 (any other failure is this file's: never retry it forever)
                outcomes.append(_reject(inbox, path, exc))
                continue
            # Deleted only after the commit. Dying between the two leaves the file, and the next round
            # finds its hash in ingested_file and deletes it without ingesting again.
            path.unlink(missing_ok=True)
            outcomes.append(outcome)
        return outcomes
    finally:
        _absorbing.release()


# --- reading a file ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    path: Path
    format: str
    sha256: str
    stat: tuple[int, int]   # size and mtime when hashed: a file still being written shows up as a change


def _require_arguments(*, model: str, version: str) -> None:
    for what, value in (("model", model), ("version", version)):
        if not isinstance(value, str) or not value.strip():
            raise errors.InvalidInputError(EMPTY_ARGUMENT.format(what=what))


def _open_source(path: Path) -> _Source:
    try:
        stat = path.stat()
    except OSError as exc:
        raise errors.InvalidInputError(FILE_UNREADABLE.format(file=path, reason=exc.strerror or exc)) from None
    if not path.is_file():
        raise errors.InvalidInputError(FILE_UNREADABLE.format(file=path, reason="not a file"))
    file_format = FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise errors.InvalidInputError(UNSUPPORTED_FORMAT.format(file=path.name, suffix=path.suffix))
    if stat.st_size == 0:
        raise errors.InvalidInputError(FILE_EMPTY.format(file=path.name))
    # Hashed in its own streaming pass before parsing: Parquet is read by random access anyway, and a repeat
    # is then recognised without parsing it.
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(HASH_BLOCK_BYTES):
                digest.update(block)
    except OSError as exc:
        raise errors.InvalidInputError(FILE_UNREADABLE.format(file=path, reason=exc.strerror or exc)) from None
    return _Source(path, file_format, digest.hexdigest(), (stat.st_size, stat.st_mtime_ns))


def _raw_chunks(source: _Source) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """The file's rows as they are, a chunk at a time, with their row numbers."""
    readers = {"csv": _csv_chunks, "parquet": _parquet_chunks, "jsonl": _jsonl_chunks}
    return readers[source.format](source.path)


def _normalised_columns(path: Path, names: Iterable[str]) -> list[str]:
    columns = [str(name).strip().lower() for name in names]
    for column, count in Counter(columns).items():
        if count > 1:
            raise errors.InvalidInputError(DUPLICATE_COLUMN.format(file=path.name, column=column))
    return columns


def _csv_chunks(path: Path) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    read_options = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    try:
        with pacsv.open_csv(path, read_options=read_options) as peek:  # reads one block, for the header
            names = peek.schema.names
        columns = _normalised_columns(path, names)
        # Every column as text: a typed column would fail the whole file at the first 'fast' in it, where
        # that one row should be quarantined.
        convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in names},
                                       null_values=CSV_NULL_TEXTS, strings_can_be_null=True)
        with pacsv.open_csv(path, read_options=read_options, convert_options=convert) as reader:
            yield from _numbered(reader, columns)
    except pa.ArrowException as exc:
        raise errors.InvalidInputError(NOT_CSV.format(file=path.name, detail=_short(exc))) from None


def _numbered(batches, columns: list[str]) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Arrow record batches as DataFrames with our column names, each with its 1-based row numbers."""
    done = 0
    for batch in batches:
        frame = batch.to_pandas()
        frame.columns = columns
        yield frame, np.arange(done + 1, done + len(frame) + 1)
        done += len(frame)


def _parquet_chunks(path: Path) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    try:
        with pq.ParquetFile(path) as parquet:
            columns = _normalised_columns(path, parquet.schema_arrow.names)
            yield from _numbered(parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS), columns)
    except pa.ArrowException as exc:
        raise errors.InvalidInputError(NOT_PARQUET.format(file=path.name, detail=_short(exc))) from None


def _jsonl_chunks(path: Path) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    records, numbers = [], []
    with path.open("rb") as handle:
        line_number = 0
        # readline with a limit: a binary file without newlines must not be read into memory as one line.
        while line := handle.readline(JSONL_MAX_LINE_BYTES + 1):
            line_number += 1
            if len(line) > JSONL_MAX_LINE_BYTES:
                raise errors.InvalidInputError(JSONL_LINE_TOO_LONG.format(
                    line=line_number, file=path.name, limit=JSONL_MAX_LINE_BYTES))
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both
                raise errors.InvalidInputError(JSONL_BROKEN_LINE.format(
                    line=line_number, file=path.name, detail=_short(exc))) from None
            if not isinstance(record, dict):
                raise errors.InvalidInputError(JSONL_NOT_OBJECT.format(line=line_number, file=path.name))
            records.append(record)
            numbers.append(line_number)
            if len(records) == JSONL_CHUNK_ROWS:
                yield _records_frame(path, records), np.array(numbers)
                records, numbers = [], []
    if records:
        yield _records_frame(path, records), np.array(numbers)


def _records_frame(path: Path, records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    frame.columns = _normalised_columns(path, frame.columns)
    return frame


# --- checking rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """One chunk after checking: good rows typed like telemetry, bad rows with reasons and raw content."""
    good: pd.DataFrame      # row_number and the COLUMNS
    bad: pd.DataFrame       # _BAD_COLUMNS
    ignored_columns: frozenset[str]


class _Parsed(NamedTuple):
    values: np.ndarray
    present: np.ndarray     # the row gave a value
    bad: np.ndarray         # … that is not of the column's type
    rule: str


def _checked_chunks(source: _Source, *, model: str, version: str) -> Iterator[_Checked]:
    rows = 0
    for raw, row_numbers in _raw_chunks(source):
        if rows == 0:  # JSON lines can differ per row: a column missing from the whole first chunk is missing
            missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
            if missing:
                raise errors.InvalidInputError(MISSING_COLUMNS.format(
                    file=source.path.name, missing=", ".join(missing), required=", ".join(REQUIRED_COLUMNS),
                    found=", ".join(map(str, raw.columns)) or "no columns"))
        rows += len(raw)
        yield _check(raw, row_numbers, model=model, version=version)
    # Raised inside the caller's transaction or inbox write, so nothing from this file lands.
    if rows == 0:
        raise errors.InvalidInputError(FILE_NO_ROWS.format(file=source.path.name))
    stat = source.path.stat()
    if (stat.st_size, stat.st_mtime_ns) != source.stat:
        raise errors.InvalidInputError(FILE_CHANGED.format(file=source.path.name))


def _check(raw: pd.DataFrame, row_numbers: np.ndarray, *, model: str, version: str) -> _Checked:
    n = len(raw)
    problems: list[tuple[np.ndarray, str, str, bool]] = []   # (rows, column, rule, show the value)
    parsed: dict[str, _Parsed] = {}
    for column in COLUMNS:
        # A column the file lacks is a column of empty cells: optional ones stay NULL, required ones (in a
        # later JSON-lines chunk; the first chunk must have them) make each row "is empty".
        cells = raw[column.name] if column.name in raw.columns else pd.Series(None, index=raw.index, dtype=object)
        result = _PARSERS[column.kind](cells)
        parsed[column.name] = result
        problems.append((result.bad, column.name, result.rule, True))
        if column.low is not None:
            valid = result.present & ~result.bad
            beyond = result.values < column.low
            if column.high is not None:
                beyond |= result.values > column.high
            rule = (OUTSIDE if column.high is not None else BELOW).format(low=column.low, high=column.high)
            problems.append((valid & beyond, column.name, rule, True))
        if not column.nullable:
            problems.append((~result.present, column.name, IS_EMPTY, False))
    # As in the telemetry table: only a failed request may lack a prediction.
    is_error = parsed["is_error"]
    answered = is_error.present & ~is_error.bad & ~is_error.values.astype(bool)
    problems.append((~parsed["prediction"].present & answered, "prediction", NO_PREDICTION, False))
    for name, expected in (("model", model), ("version", version)):
        if name in raw.columns:
            text = _text(raw[name])
            differs = (text.notna() & (text != expected)).fillna(False).to_numpy(bool)
            problems.append((differs, name, OTHER_IDENTITY.format(column=name, expected=expected), True))

    bad_row = np.zeros(n, dtype=bool)
    for rows, *_ in problems:
        bad_row |= rows
    good = ~bad_row
    good_frame = pd.DataFrame({"row_number": row_numbers[good]} | {
        c.name: _typed(c, parsed[c.name].values[good]) for c in COLUMNS})
    return _Checked(good=good_frame, bad=_quarantine_frame(raw, row_numbers, bad_row, problems),
                    ignored_columns=frozenset(map(str, raw.columns)) - KNOWN_COLUMNS)


def _quarantine_frame(raw: pd.DataFrame, row_numbers: np.ndarray, bad_row: np.ndarray,
                      problems: list[tuple[np.ndarray, str, str, bool]]) -> pd.DataFrame:
    positions = np.flatnonzero(bad_row)
    if len(positions) == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row_number" else "str") for c in _BAD_COLUMNS})
    # Only the bad rows are touched one by one: a clean chunk costs nothing here.
    parts: dict[int, list[tuple[str, str, str]]] = {int(p): [] for p in positions}
    for rows, column, rule, show_value in problems:
        if not rows.any():
            continue
        values = raw[column].to_numpy(dtype=object) if show_value else None
        for position in np.flatnonzero(rows):
            shown = f": {_shown(values[position])} {rule}" if show_value else f" {rule}"
            parts[int(position)].append((column, f"column {column}{shown}", f"column {column} {rule}"))
    records = raw.iloc[positions].to_dict("records")
    found = [parts[int(p)] for p in positions]
    return pd.DataFrame({
        "row_number": row_numbers[positions].astype("int64"),
        "problem_columns": [", ".join(dict.fromkeys(column for column, _, _ in row)) for row in found],
        "reason": ["; ".join(text for _, text, _ in row) for row in found],
        "rules": [_RULE_SEPARATOR.join(dict.fromkeys(rule for _, _, rule in row)) for row in found],
        "raw_row": [_raw_json(record) for record in records],
    })


def _text(raw: pd.Series) -> pd.Series:
    """Each value as trimmed text, missing or blank as <NA>: CSV cells and JSON values then parse alike."""
    text = raw.astype("string").str.strip()
    return text.mask((text == "").fillna(False))


def _present(text: pd.Series) -> np.ndarray:
    return text.notna().to_numpy(bool)


def _number(raw: pd.Series, rule: str = NOT_A_NUMBER) -> _Parsed:
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype="float64", na_value=np.nan)   # a typed column (Parquet): NaN is missing
        present = ~np.isnan(values)
    else:
        text = _text(raw)
        present = _present(text)
        try:  # Arrow parses a clean column without a Python object per cell: the common case, and fast
            values = pc.cast(pa.array(text), pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # some cell is not a number: find which
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = present & ~np.isfinite(values)
    return _Parsed(np.where(bad, np.nan, values), present, bad, rule)  # a new array: Arrow's may be read-only


def _integer(raw: pd.Series) -> _Parsed:
    number = _number(raw, NOT_WHOLE)
    valid = number.present & ~number.bad
    # Beyond 2^53 a float no longer holds every whole number: such an id would be stored as another one.
    not_whole = valid & ((np.trunc(number.values) != number.values) | (np.abs(number.values) > 2**53))
    return number._replace(values=np.where(not_whole, np.nan, number.values), bad=number.bad | not_whole)


def _binary(raw: pd.Series) -> _Parsed:
    if pd.api.types.is_bool_dtype(raw.dtype):  # a Parquet true/false column is 1/0 already
        raw = raw.astype("Int8")
    elif not pd.api.types.is_numeric_dtype(raw.dtype):  # JSON true/false, or the words in a CSV
        text = _text(raw)
        word = text.str.lower()
        raw = text.mask((word == "true").fillna(False), "1").mask((word == "false").fillna(False), "0")
    number = _number(raw, NOT_BINARY)
    other = number.present & ~number.bad & ~np.isin(number.values, (0, 1))
    return number._replace(bad=number.bad | other)


def _boolean(raw: pd.Series) -> _Parsed:
    text = _text(raw).str.lower()
    true = text.isin(TRUE_TEXTS).to_numpy(bool)
    false = text.isin(FALSE_TEXTS).to_numpy(bool)
    present = _present(text)
    return _Parsed(true, present, present & ~true & ~false, NOT_BOOLEAN)


def _timestamp(raw: pd.Series) -> _Parsed:
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):  # typed (Parquet): convert to naive UTC
        stamps = raw.dt.tz_convert("UTC").dt.tz_localize(None) if raw.dt.tz is not None else raw
        present = stamps.notna().to_numpy(bool)
        bad = np.zeros(len(raw), dtype=bool)
    else:
        # Text only: a bare number could be seconds, milliseconds or nanoseconds since 1970; guessing is worse
        # than asking for ISO 8601.
        text = _text(raw)
        present = _present(text)
        stamps = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce").dt.tz_localize(None)
        bad = present & stamps.isna().to_numpy(bool)
    return _Parsed(stamps.astype("datetime64[us]").to_numpy(), present, bad, NOT_TIMESTAMP)


def _segment(raw: pd.Series) -> _Parsed:
    text = _text(raw)
    values = text.fillna(SEGMENT_WHEN_MISSING).array  # Arrow strings: no Python object per cell
    return _Parsed(values, _present(text), np.zeros(len(raw), dtype=bool), "")


_PARSERS: dict[str, Callable[[pd.Series], _Parsed]] = {
    "timestamp": _timestamp, "text": _segment, "integer": _integer, "binary": _binary,
    "boolean": _boolean, "number": _number,
}


def _typed(column: _Column, values: np.ndarray):
    if column.kind == "integer":
        return pd.array(values, dtype="Int64")
    if column.kind == "binary":
        return pd.array(values, dtype="Int8")
    return values


def _shown(value) -> str:
    """A value as the message shows it: numbers bare, anything else quoted and cut short."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        try:
            float(value)
            return value.strip()[:SHOWN_VALUE_CHARS]
        except ValueError:
            return repr(value if len(value) <= SHOWN_VALUE_CHARS else value[:SHOWN_VALUE_CHARS] + "…")
    if isinstance(value, (bool, int, float)):
        return repr(value)
    text = str(value)
    return repr(text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS] + "…")


def _plain(value):
    """A cell as JSON can hold it: missing as null, numpy and time values as Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _raw_json(record: dict) -> str:
    plain = {str(key): _plain(value) for key, value in record.items()}
    try:
        return json.dumps(plain, default=str, allow_nan=False)
    except ValueError:  # a NaN nested in a JSON value: keep the text rather than lose the row
        return json.dumps({key: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
                           for key, value in plain.items()}, default=str)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:160] + "…"


# --- the checked file, and loading it -------------------------------------------------------------------
# Every path writes the checked rows to one Parquet file first and DuckDB loads it with read_parquet. Rows
# passed from Python (a registered frame) would stay referenced until the commit, so a 1 GB file would sit
# in memory whole; and the write lock is held only for the load, not while Python checks the rows.


class _Tally:
    """Counts over all chunks of a file, for the outcome."""

    def __init__(self):
        self.accepted = 0
        self.quarantined = 0
        self.by_reason: Counter[str] = Counter()
        self.problems: list[str] = []
        self.ignored: set[str] = set()

    def add(self, checked: _Checked) -> None:
        self.accepted += len(checked.good)
        self.quarantined += len(checked.bad)
        for rules in checked.bad["rules"]:
            self.by_reason.update(rules.split(_RULE_SEPARATOR))
        room = MAX_PROBLEMS_LISTED - len(self.problems)
        if room > 0:
            self.problems += [f"row {row.row_number}, {row.reason}"
                              for row in checked.bad.head(room).itertuples(index=False)]
        self.ignored |= checked.ignored_columns

    def summary(self) -> str:
        return json.dumps({"by_reason": dict(self.by_reason.most_common()), "problems": self.problems,
                           "ignored_columns": sorted(self.ignored)})


@contextmanager
def _checked_file(source: _Source, folder: Path, *, model: str, version: str) -> Iterator[tuple[Path, dict]]:
    """Check every row of `source` into a temporary Parquet file in `folder`, removed afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    # A dot name ending .tmp: the absorber never picks it up, and clears it if its writer died.
    temporary = folder / f".{source.sha256}.{uuid.uuid4().hex}.tmp"
    tally = _Tally()
    try:
        with pq.ParquetWriter(temporary, INBOX_SCHEMA) as writer:
            for checked in _checked_chunks(source, model=model, version=version):
                tally.add(checked)
                for part in (checked.good, checked.bad):
                    if len(part):
                        writer.write_table(_arrow_table(part, INBOX_SCHEMA))
            meta = {"format": INBOX_FORMAT, "model": model, "version": version, "source_file": source.path.name,
                    "source_sha256": source.sha256, "source_format": source.format,
                    "rows_accepted": str(tally.accepted), "rows_quarantined": str(tally.quarantined),
                    "summary": tally.summary()}
            writer.add_key_value_metadata({f"quorum.{key}": value for key, value in meta.items()})
        yield temporary, meta
    finally:
        temporary.unlink(missing_ok=True)


def _arrow_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """`frame`'s columns in `schema`'s types; columns it lacks are all null."""
    arrays = [pa.Array.from_pandas(frame[f.name], type=f.type) if f.name in frame.columns
              else pa.nulls(len(frame), f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _outcome(meta: dict, *, mode: str, inbox_file: Path | None = None,
             ingested_at: datetime | None = None, ingested_by: str | None = None) -> IngestOutcome:
    summary = json.loads(meta["summary"])
    return IngestOutcome(
        mode=mode, file_name=meta["source_file"], file_sha256=meta["source_sha256"], model=meta["model"],
        version=meta["version"], rows_accepted=int(meta["rows_accepted"]),
        rows_quarantined=int(meta["rows_quarantined"]), quarantined_by_reason=summary["by_reason"],
        problems=tuple(summary["problems"]), ignored_columns=tuple(summary["ignored_columns"]),
        inbox_file=inbox_file, ingested_at=ingested_at, ingested_by=ingested_by)


class _AlreadyIngested(Exception):
    """Raised inside the write to roll it back (no data version bump) when the file turns out to be known."""

    def __init__(self, outcome: IngestOutcome):
        super().__init__(outcome.file_sha256)
        self.outcome = outcome


_TELEMETRY_COLUMNS = ", ".join(c.name for c in COLUMNS)


def _load(store: GovernanceStore, checked: Path, meta: dict, *, via: str, inbox_file: Path | None,
          actor: str) -> IngestOutcome:
    """Telemetry, quarantine, the ingested_file record and the ledger entry naming `actor`: one transaction."""
    sha256, model, version = meta["source_sha256"], meta["model"], meta["version"]
    now = clock.now_naive()
    try:
        with store.write() as tx:
            # Again under the write lock: two sessions loading the same file cannot both pass it.
            repeat = _earlier_ingest(store, sha256=sha256, file_name=meta["source_file"], model=model,
                                     version=version, inbox_file=inbox_file)
            if repeat is not None:
                raise _AlreadyIngested(repeat)
            hours = rollup.file_hours(store, path=str(checked), model=model, version=version)
            tx.execute(telemetry_sql.ingest_telemetry_sql(_TELEMETRY_COLUMNS), [model, version, str(checked)],
                       touched=hours)
            if store.engine == "postgresql":   # the rows land in the lake: its days' rollups follow the commit
                tx.after_commit(LAKE_ROLLUP_HOOK, lambda: _roll_up_lake_days(store, hours))
            tx.execute(telemetry_sql.INGEST_QUARANTINE_SQL, [sha256, model, version, str(checked)])
            ingests.add_ingested_file(tx, record=ingests.IngestedFile(
                sha256, meta["source_file"], meta["source_format"], model, version, int(meta["rows_accepted"]),
                int(meta["rows_quarantined"]), via, now))
            ledger.append(store, actor=actor, kind="telemetry_ingest", subject=f"{model} {version}",
                          payload={"file_sha256": sha256, "file_name": meta["source_file"], "model": model,
                                   "version": version, "rows_accepted": int(meta["rows_accepted"]),
                                   "rows_quarantined": int(meta["rows_quarantined"]), "via": via,
                                   "ingested_at": now.isoformat(timespec="microseconds")},
                          idempotency_key=f"telemetry_ingest:{sha256}")
    except _AlreadyIngested as repeat:
        return repeat.outcome
    return _outcome(meta, mode="ingested", inbox_file=inbox_file, ingested_at=now, ingested_by=actor)


def _roll_up_lake_days(store: GovernanceStore, hours: set) -> None:
    """Roll up again the lake's day partitions an ingest wrote to (the days of its hours), once it has committed.
    The rows are in and the ingest has succeeded whatever happens here: a day whose rollup could not be written is
    read from its rows (or rolled up again when first read, if its old rollup is stale now) and the page says so,
    so a failure is logged, not raised."""
    days = {hour.date() for _, _, hour in hours}
    try:
        lake_rollup.rollup_days(location=str(store.lake), days=days)
    except Exception:  # noqa: BLE001 -- see above: the ingest must not be reported as failed after its commit
        log.warning("the lake's rollups of %s were not rewritten after an ingest; `python -m governance telemetry "
                    "rollup` rebuilds them", ", ".join(sorted(d.isoformat() for d in days)), exc_info=True)


def _earlier_ingest(store: GovernanceStore, *, sha256: str, file_name: str, model: str, version: str,
                    inbox_file: Path | None) -> IngestOutcome | None:
    """The outcome of ingesting this content before, if it was; an error if it went to another version."""
    earlier = ingests.ingested_file(store, file_sha256=sha256)
    if earlier is None:
        return None
    if (earlier.model, earlier.version) != (model, version):
        raise errors.InvalidInputError(ALREADY_INGESTED_ELSEWHERE.format(
            file=file_name, other_model=earlier.model, other_version=earlier.version, when=earlier.ingested_at,
            model=model, version=version))
    return IngestOutcome(mode="already_ingested", file_name=file_name, file_sha256=sha256, model=model,
                         version=version, rows_accepted=earlier.rows_accepted,
                         rows_quarantined=earlier.rows_quarantined, inbox_file=inbox_file,
                         ingested_at=earlier.ingested_at)


# --- the inbox, from the app's side --------------------------------------------------------------------------


def _absorb_one(store: GovernanceStore, path: Path) -> IngestOutcome:
    try:
        with pq.ParquetFile(path) as parquet:
            meta = _inbox_metadata(path, parquet.metadata)
            schema = parquet.schema_arrow.remove_metadata()
    except pa.ArrowException as exc:
        raise errors.InvalidInputError(NOT_AN_INBOX_FILE.format(file=path.name, detail=_short(exc))) from None
    if not schema.equals(INBOX_SCHEMA):
        raise errors.InvalidInputError(NOT_AN_INBOX_FILE.format(file=path.name, detail="unexpected columns"))
    require_model(store, model=meta["model"], version=meta["version"])
    return _load(store, path, meta, via="inbox", inbox_file=path, actor=_inbox_actor(path.stat().st_uid))


def _os_account(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:   # a uid with no name on this machine (a container's)
        return f"uid {uid}"


def _inbox_actor(uid: int) -> str:
    """How an inbox file's ingest is recorded: the file-system account that owns it (the kernel's word)."""
    return f"{_os_account(uid)} (file-system account, through the inbox)"


def _inbox_metadata(path: Path, metadata: pq.FileMetaData) -> dict[str, str]:
    stored = {key.decode(): value.decode() for key, value in (metadata.metadata or {}).items()}
    meta = {key: stored.get(f"quorum.{key}") for key in _INBOX_KEYS}
    if meta["format"] != INBOX_FORMAT or not all(meta.values()):
        raise errors.InvalidInputError(NOT_AN_INBOX_FILE.format(file=path.name, detail="no Quorum metadata"))
    return meta


def _waiting_metadata(path: Path) -> dict[str, str] | None:
    """What an inbox file already waiting under this name holds, if it is readable."""
    try:
        return _inbox_metadata(path, pq.read_metadata(path))
    except (OSError, pa.ArrowException, errors.InvalidInputError):
        return None  # none, or a broken one that the new file may replace


def _reject(inbox: Path, path: Path, exc: BaseException) -> IngestOutcome:
    reason = str(exc) if isinstance(exc, errors.GovernanceError) else f"{type(exc).__name__}: {_short(exc)}"
    rejected = inbox / "rejected"
    rejected.mkdir(exist_ok=True)
    now = clock.now()
    (rejected / f"{path.name}.reason.txt").write_text(f"{now.isoformat(timespec='seconds')} {reason}\n",
                                                      encoding="utf-8")
    os.replace(path, rejected / path.name)
    return IngestOutcome(mode="rejected", file_name=path.name, file_sha256="", model="", version="",
                         inbox_file=path, reason=reason)


def _remove_stale_temporaries(inbox: Path) -> None:
    cutoff = time.time() - STALE_TEMP_SECONDS
    for path in inbox.glob(".*.tmp"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
