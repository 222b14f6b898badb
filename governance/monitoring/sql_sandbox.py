"""A read-only SQL console over the workspace's telemetry, for analysts.

The user's statement never runs on the workspace's connection. It runs on a fresh in-memory DuckDB that sees
a snapshot of `telemetry` and `telemetry_input` only, attached READ_ONLY, with file, network and extension
access off and its configuration locked. The snapshot is needed because DuckDB will not attach the workspace
file a second time while this process holds it read-write ("Unique file handle conflict"); one snapshot is
kept per data version, in a temporary folder of this process's own (under TMPDIR, not beside the workspace),
removed with the store or when the process ends; a folder left by a process that was killed is removed by the
next one that makes a folder.

Layers, each enough on its own for most attacks: DuckDB's parser admits one SELECT only; the sandbox has no
tables but the snapshot's two; the snapshot is read-only; external access is off and cannot be turned back
on. A time limit, a memory limit and a row cap keep one query from starving the app.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from governance.errors import GovernanceError
from governance.monitoring import telemetry_sql
from governance.record.store import TELEMETRY, GovernanceStore

SANDBOX_TABLES = ("telemetry", "telemetry_input")  # never model artifacts, sign-offs or settings
MAX_SQL_CHARS = 20_000
EXAMPLE = telemetry_sql.CONSOLE_EXAMPLE   # what the console starts with
MEMORY_LIMIT = "2GB"

# Harmless to the data, but they reveal server paths and settings (the snapshot's path, the home directory)
# that an analyst has no need for. `query` and `query_table` run SQL from a string this check cannot see.
_UNDISCLOSED = frozenset({
    "current_setting", "duckdb_settings", "duckdb_databases", "pragma_database_list", "duckdb_extensions",
    "duckdb_secrets", "which_secret", "duckdb_temporary_files", "getenv", "query", "query_table",
})

EMPTY_QUERY = "the query is empty: write one SELECT (or WITH … SELECT) over telemetry or telemetry_input"
TOO_LONG = "the query is {length:,} characters long, more than the {limit:,} allowed: shorten it"
ONE_STATEMENT = "the console runs one statement at a time, not {count}: keep a single SELECT and remove the rest"
ONLY_SELECT = ("the console only reads data, so {kind} statements are refused: write a single SELECT "
               "(or WITH … SELECT)")
NO_EXTERNAL_ACCESS = ("the console reads only the tables telemetry and telemetry_input: files, URLs, "
                      "databases and extensions are not available from it")
NOT_DISCLOSED = ("{name} is not available in the console (it shows server settings and paths): "
                 "query telemetry or telemetry_input")
SYNTAX_ERROR = "the SQL could not be read: {detail}; correct it and run it again"
TIMED_OUT = ("the query ran longer than {seconds:g} s and was stopped: filter it (a time window on ts, "
             "one model) or aggregate before returning rows")
OUT_OF_MEMORY = ("the query needed more than the console's {limit} of memory and was stopped: "
                 "filter or aggregate before returning rows")
QUERY_FAILED = "the query failed: {detail}; the console has the tables telemetry and telemetry_input"
TRUNCATED = "showing the first {rows:,} rows only: aggregate or filter the query to see everything"
SNAPSHOT_FAILED = ("could not prepare the console's copy of the telemetry of {workspace} in the temporary folder "
                   "{folder} ({reason}): make sure that folder is writable and has free space (TMPDIR says where "
                   "temporary folders go)")
FOLDER_PREFIX = "quorum-sandbox-"   # then the process id, a dash and mkdtemp's random part


class SandboxRefusal(GovernanceError):
    """The console refused the query or could not run it; the message says why and what to do."""


@dataclass(frozen=True)
class SandboxResult:
    frame: pd.DataFrame
    truncated: bool  # the query returned more rows than the cap; `frame` holds the first row_cap of them
    elapsed_s: float

    @property
    def notice(self) -> str | None:
        return TRUNCATED.format(rows=len(self.frame)) if self.truncated else None


def run_sandboxed_query(store: GovernanceStore, *, sql: str, timeout_s: float = 10.0,
                        row_cap: int = 10_000) -> SandboxResult:
    """Run one analyst SELECT over a read-only snapshot of the telemetry; refusals raise SandboxRefusal."""
    if timeout_s <= 0 or row_cap < 1:
        raise ValueError("timeout_s must be positive and row_cap at least 1")
    _require_single_select(sql)
    con, snapshot = _open_sandbox(store)
    # Absolute paths only: a relative parent such as "data" would blank out ordinary words.
    redact = [str(snapshot.resolve()), str(snapshot.parent.resolve()), str(store.path.resolve().parent),
              str(Path.home())]
    try:
        _refuse_undisclosed(con, sql)
        timer = threading.Timer(timeout_s, _interrupt, args=(con,))
        timer.daemon = True
        started = time.perf_counter()
        timer.start()
        try:
            # limit() on the relation streams only row_cap + 1 rows out of DuckDB and keeps ORDER BY order.
            frame = con.sql(sql).limit(row_cap + 1).df()
        except duckdb.InterruptException:
            raise SandboxRefusal(TIMED_OUT.format(seconds=timeout_s)) from None
        except duckdb.Error as exc:
            raise _translate(exc, redact) from None
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - started
    finally:
        con.close()
    truncated = len(frame) > row_cap
    if truncated:
        frame = frame.iloc[:row_cap].copy()
    return SandboxResult(frame=frame, truncated=truncated, elapsed_s=elapsed)


# --- checking the statement ------------------------------------------------------------------------------
def _require_single_select(sql: str) -> None:
    if len(sql) > MAX_SQL_CHARS:
        raise SandboxRefusal(TOO_LONG.format(length=len(sql), limit=MAX_SQL_CHARS))
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.ParserException as exc:
        raise SandboxRefusal(SYNTAX_ERROR.format(detail=_first_line(exc))) from None
    if not statements:
        raise SandboxRefusal(EMPTY_QUERY)
    if len(statements) > 1:
        raise SandboxRefusal(ONE_STATEMENT.format(count=len(statements)))
    try:
        kind = statements[0].type
    except ValueError:  # a type the Python client has no name for (UPDATE EXTENSIONS): certainly not a SELECT
        raise SandboxRefusal(ONLY_SELECT.format(kind="such")) from None
    if kind != duckdb.StatementType.SELECT:  # WITH … SELECT, FROM …, DESCRIBE and SHOW parse as SELECT too
        raise SandboxRefusal(ONLY_SELECT.format(kind=kind.name.replace("_", " ")))


def _refuse_undisclosed(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse references to _UNDISCLOSED, found in DuckDB's own parse tree so quoting or schemas do not hide them."""
    # fetchall, not fetchone: con.sql() later refuses to start while a result is left unread.
    tree = json.loads(con.execute(telemetry_sql.SANDBOX_PARSE_SQL, [sql]).fetchall()[0][0])
    names: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("function_name", "table_name") and isinstance(value, str):
                    names.add(value.strip('"').lower())
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    hidden = sorted(names & _UNDISCLOSED)
    if hidden:
        raise SandboxRefusal(NOT_DISCLOSED.format(name=hidden[0]))


def _interrupt(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.interrupt()
    except duckdb.Error:  # the timer fired just as the query finished and the connection closed
        pass


# --- the sandbox connection and its snapshot ---------------------------------------------------------------
_snapshot_lock = threading.Lock()
# Which data version each open store has exported, and the folder its snapshot is in.
_exported: "weakref.WeakKeyDictionary[GovernanceStore, int]" = weakref.WeakKeyDictionary()
_folders: "weakref.WeakKeyDictionary[GovernanceStore, Path]" = weakref.WeakKeyDictionary()


def _snapshot_pattern(workspace: Path) -> re.Pattern:
    return re.compile(re.escape(workspace.name) + r"\.sandbox-\d+(\.tmp)?\.duckdb(\.wal)?$")


def snapshot_folder(store: GovernanceStore) -> Path:
    """The temporary folder that holds this store's snapshot, its own: made on first use, and removed with what it
    holds when the store is garbage-collected or this process ends."""
    folder = _folders.get(store)
    if folder is None or not folder.is_dir():
        _remove_abandoned_folders()
        folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
        _folders[store] = folder
        weakref.finalize(store, shutil.rmtree, str(folder), ignore_errors=True)
    return folder


def remove_snapshot_folder(store: GovernanceStore) -> None:
    """Remove the store's snapshot folder now: the server does it as it stops (a signal ends the process before
    interpreter exit would). A later query makes a new one."""
    with _snapshot_lock:
        folder = _folders.pop(store, None)
        _exported.pop(store, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_abandoned_folders() -> None:
    """Folders of processes that no longer run (killed before they could remove theirs)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: running, and not ours to clean up after
        return True
    return True


def _remove_beside_workspace(workspace: Path) -> None:
    """Snapshots that Quorum before issue 20 kept beside the workspace (33 MB for the demo), left when it stopped."""
    pattern = _snapshot_pattern(workspace)
    for old in workspace.parent.glob(f"{workspace.name}.sandbox-*"):
        if pattern.match(old.name):
            old.unlink(missing_ok=True)


def _current_snapshot(store: GovernanceStore) -> Path:
    """The snapshot for the store's telemetry data version, written first if needed; older ones are removed."""
    version = store.data_version(concern=TELEMETRY)   # it copies telemetry only: a record write keeps it
    folder = snapshot_folder(store)
    target = folder / f"{store.path.name}.sandbox-{version}.duckdb"
    if _exported.get(store) == version and target.exists():
        return target
    temp = target.with_name(f"{store.path.name}.sandbox-{version}.tmp.duckdb")
    try:
        if store not in _exported:
            _remove_beside_workspace(store.path)
        for leftover in (temp, Path(f"{temp}.wal")):  # from a run that stopped halfway
            leftover.unlink(missing_ok=True)
        # A write that lands between data_version() and the export only makes this copy newer than its
        # name; the next query sees the higher version and exports again.
        store.export_snapshot(path=temp, tables=SANDBOX_TABLES)
        os.replace(temp, target)  # readers never see a half-written file
        pattern = _snapshot_pattern(store.path)
        for old in folder.iterdir():
            if old != target and pattern.match(old.name):
                old.unlink(missing_ok=True)  # a sandbox still reading it keeps its open handle (POSIX)
    except (OSError, duckdb.Error) as exc:
        reason = getattr(exc, "strerror", None) or _first_line(exc)
        raise SandboxRefusal(SNAPSHOT_FAILED.format(workspace=store.location, folder=folder, reason=reason)) from None
    _exported[store] = version
    return target


def _open_sandbox(store: GovernanceStore) -> tuple[duckdb.DuckDBPyConnection, Path]:
    # Attaching under the lock: another thread may replace and remove the snapshot as soon as we let go.
    with _snapshot_lock:
        snapshot = _current_snapshot(store)
        con = duckdb.connect(":memory:")
        try:
            con.execute(telemetry_sql.SANDBOX_ATTACH_SQL, [str(snapshot)])
        except duckdb.Error as exc:  # removed or damaged behind our back: export afresh next time
            con.close()
            _exported.pop(store, None)
            raise SandboxRefusal(SNAPSHOT_FAILED.format(workspace=store.location, folder=snapshot.parent,
                                                        reason=_first_line(exc))) from None
        except BaseException:
            con.close()
            raise
    try:
        for table in SANDBOX_TABLES:
            con.execute(telemetry_sql.sandbox_view_sql(table))
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET temp_directory = ''")  # nowhere to spill: a query too big for memory fails instead
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")  # last: from here on no SET can undo the lines above
    except BaseException:
        con.close()
        raise
    return con, snapshot


# --- messages ------------------------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    """DuckDB's message without its 'Xxx Error: ' prefix, the echoed SQL and the caret lines."""
    line = str(exc).strip().split("\n")[0]
    return re.sub(r"^[A-Za-z ]+ Error: ", "", line)[:300]


def _translate(exc: duckdb.Error, redact: list[str]) -> SandboxRefusal:
    if isinstance(exc, duckdb.PermissionException):
        return SandboxRefusal(NO_EXTERNAL_ACCESS)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return SandboxRefusal(OUT_OF_MEMORY.format(limit=MEMORY_LIMIT))
    detail = _first_line(exc)
    if isinstance(exc, duckdb.ParserException):
        return SandboxRefusal(SYNTAX_ERROR.format(detail=detail))
    if isinstance(exc, duckdb.CatalogException) and "exists in the" in detail and "extension" in detail:
        return SandboxRefusal(NO_EXTERNAL_ACCESS)  # "… is not in the catalog, but it exists in the x extension"
    for path in sorted(filter(None, redact), key=len, reverse=True):
        if len(path) > 1:  # never redact "/" or "."
            detail = detail.replace(path, "…")
    return SandboxRefusal(QUERY_FAILED.format(detail=detail.rstrip(".!")))
