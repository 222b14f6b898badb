"""GovernanceStore: the one object that runs SQL against a workspace's DuckDB file.

One read-write connection per process, a cursor per thread (DuckDB connections are not shared across
threads, cursors are cheap), every write behind one lock and inside one transaction, values always bound
as parameters. Schema changes only through the numbered files in migrations/.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import duckdb

from governance import errors
from governance.record import clock

if TYPE_CHECKING:   # DuckDB imports pandas itself when a query returns a DataFrame (or reads one): opening a
    import pandas as pd   # workspace and query_rows/query_value do not pay for it

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# The table a statement writes to ("DO UPDATE SET" of an upsert is not a second target).
_WRITE_TARGET = re.compile(r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|(?<!DO\s)UPDATE|DELETE\s+FROM|COPY|"
                           r"TRUNCATE(?:\s+TABLE)?|MERGE\s+INTO)\s+(?:main\.)?\"?([a-z_][a-z0-9_]*)", re.IGNORECASE)
_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|FROM|VALUES|DESCRIBE|SHOW|EXPLAIN)\b", re.IGNORECASE)

# The concerns a cache can key on (data_version(concern=...)); WORKSPACE steps once for any committed write that
# changed either, and is what `governance status` reports.
RECORD, TELEMETRY, WORKSPACE = "record", "telemetry", "workspace"
CONCERNS = (RECORD, TELEMETRY)
# Tables of the telemetry concern; a write to any other table changes the record. Where a model's telemetry is
# read from is both: the Admin page shows the setting, and every telemetry figure changes with it.
_CONCERNS_OF_TABLE = {"telemetry": {TELEMETRY}, "telemetry_input": {TELEMETRY}, "telemetry_hourly": {TELEMETRY},
                      "telemetry_source": {RECORD, TELEMETRY}}

# Derived tables kept in step with their source inside the very transaction that changes the source: the hourly
# rollup of telemetry. The layer that owns the derived table registers its upkeep (maintain_derived); the record
# layer only knows that the table has one, so a write cannot commit rows its rollup disagrees with.
_DERIVED = {"telemetry": "telemetry_hourly"}
Upkeep = Callable[["WriteTransaction", "frozenset | None"], None]
_upkeep: dict[str, Upkeep] = {}

DERIVED_UNMAINTAINED = ("this write changed {source} but nothing keeps {derived} in step with it, so it was rolled "
                        "back: import governance.monitoring (it registers the rollup's upkeep) before writing "
                        "telemetry")
PART_FAILED = ("a write inside this unit of work failed, so none of it was committed: fix what that error said "
               "and run the whole action again")


def maintain_derived(*, source: str, upkeep: Upkeep) -> None:
    """Run `upkeep(tx, touched)` before every commit of a write that changed `source`. `touched` is the union of
    what that write's statements said they touched (execute(..., touched=...)), or None when one of them did
    not say: then the derived table must be rebuilt whole."""
    if source not in _DERIVED:
        raise ValueError(f"{source} has no derived table")
    _upkeep[source] = upkeep


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The numbered migrations in order; numbering must run 1, 2, 3 … with no gap."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} must be named NNN_description.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations in {directory} must be numbered 001, 002, … without gaps: {numbers}")
    return found


def _translate_open_error(path: Path, exc: Exception) -> errors.WorkspaceError:
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        return errors.WorkspaceLockedError(errors.WORKSPACE_LOCKED.format(path=path))
    if any(s in text for s in ("Permission denied", "No such file", "Not a directory", "Read-only file system",
                                "Is a directory")):
        reason = text.split("\n")[0].split(": ", 1)[-1][:200]
        return errors.WorkspaceUnwritableError(errors.WORKSPACE_UNWRITABLE.format(path=path, reason=reason))
    return errors.WorkspaceCorruptError(errors.WORKSPACE_CORRUPT.format(path=path))


class GovernanceStore:
    """A workspace: one DuckDB file, migrated to the newest schema when opened."""

    engine = "duckdb"
    # Derived tables (the hourly rollup) are kept in this database; with PostgreSQL telemetry is in the lake.
    keeps_derived = True

    def __init__(self, path: str | Path, *, migrations_dir: Path = MIGRATIONS_DIR):
        self.path = Path(path)
        self._migrations = load_migrations(migrations_dir)
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._con = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._con.close()
            raise

    # --- opening -------------------------------------------------------------------------------------
    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path.is_dir():
            raise errors.WorkspaceUnwritableError(
                errors.WORKSPACE_UNWRITABLE.format(path=self.path, reason="it is a directory"))
        blocking_file = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if blocking_file is not None:
            raise errors.WorkspaceUnwritableError(errors.WORKSPACE_UNWRITABLE.format(
                path=self.path, reason=f"{blocking_file} is a file, not a folder"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.WorkspaceUnwritableError(
                errors.WORKSPACE_UNWRITABLE.format(path=self.path, reason=exc.strerror or exc)) from None
        try:
            return duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise _translate_open_error(self.path, exc) from None

    def _migrate(self) -> None:
        con = self._con
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
            # fetchall, not fetchone: a result left unread keeps its transaction open for the store's whole life,
            # and DuckDB then keeps every row deleted later (no checkpoint; a key deleted and inserted again clashes).
            current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
        except duckdb.Error as exc:
            raise _translate_open_error(self.path, exc) from None
        known = len(self._migrations)
        if current > known:
            raise errors.WorkspaceTooNewError(
                errors.WORKSPACE_TOO_NEW.format(path=self.path, found=current, known=known))
        for migration in self._migrations[current:]:
            con.begin()
            try:
                con.execute(migration.sql)
                con.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                            [migration.version, migration.name, clock.now_naive()])
                con.commit()
            except BaseException:
                con.rollback()
                raise

    def close(self) -> None:
        self._con.close()

    @property
    def location(self) -> str:
        """Where the workspace is, as shown to people: the DuckDB file."""
        return str(self.path)

    @property
    def analytics(self) -> "GovernanceStore":
        """Where telemetry SQL and DuckDB-only analytics run: this same database (PostgresStore: DuckDB over the
        lake and a read copy of the record)."""
        return self

    def __enter__(self) -> "GovernanceStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._con.cursor()
            self._local.cursor = cursor
        return cursor

    def _execute(self, sql: str, params: Sequence | dict | None) -> duckdb.DuckDBPyConnection:
        try:
            return self._cursor().execute(sql, params or [])
        except duckdb.Error as exc:
            if "Corrupt database file" in str(exc):  # damage in a block that opening did not read
                raise errors.WorkspaceCorruptError(errors.WORKSPACE_CORRUPT.format(path=self.path)) from None
            raise

    def query(self, sql: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        """Run one read query on this thread's cursor and return its result as a DataFrame."""
        return self._execute(sql, params).df()

    def query_over(self, sql: str, params: dict, *, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """Run one read query that also reads the given DataFrames by name (aggregates computed elsewhere)."""
        cursor = self._cursor()
        for name, frame in frames.items():
            cursor.register(name, frame)
        try:
            return self._execute(sql, params).df()
        finally:
            for name in frames:
                cursor.unregister(name)

    def query_rows(self, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
        return self._execute(sql, params).fetchall()

    def query_records(self, sql: str, params: Sequence | dict | None = None) -> list[dict]:
        """The rows as dicts keyed by column name: for callers that want names but not pandas."""
        cursor = self._execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def query_value(self, sql: str, params: Sequence | dict | None = None):
        row = self._execute(sql, params).fetchone()
        return None if row is None else row[0]

    def committed_value(self, sql: str, params: Sequence | dict | None = None):
        """query_value on a fresh cursor: it sees only committed rows, not those of a write open on this thread."""
        cursor = self._con.cursor()
        try:
            row = cursor.execute(sql, params or []).fetchone()
        finally:
            cursor.close()
        return None if row is None else row[0]

    # --- writing -------------------------------------------------------------------------------------
    @contextmanager
    def write(self, *, shown: bool = True) -> Iterator["WriteTransaction"]:
        """One all-or-nothing write, the unit of work: commits and bumps the data version of each concern it
        changed on success, rolls back on any error.

        The entry point owns it: a write opened while this thread already holds one joins it, so the services an
        entry point calls inside its own `store.write()` commit together with it, or not at all, and their
        after-commit hooks (the anchor) run once, after that one commit.

        `shown=False` is for bookkeeping no page or cached figure shows (when an API token was last used): its
        record rows bump no version, so it throws away no cached result. Telemetry it writes still counts."""
        joined = getattr(self._local, "tx", None)
        if joined is not None:
            joined.shown |= shown
            try:
                yield joined
            except BaseException:
                joined.failed = True   # even if the caller carries on, the unit it belonged to must not commit
                raise
            return
        with self._write_lock:
            tx = self._begin(shown=shown)
            self._local.tx = tx
            try:
                yield tx
                finish_write(tx, keeps_derived=self.keeps_derived)
                self._commit(tx)
            except BaseException:
                self._rollback(tx)
                raise
            finally:
                self._local.tx = None
            # After the commit, still under the write lock: what must follow a committed write (the anchor over
            # the chains' new heads) follows it before the next write can begin. A hook that fails leaves the
            # committed write as it is; the anchor check names what the hook did not do.
            for hook in tx.after_commit_hooks.values():
                hook()

    def _begin(self, *, shown: bool) -> "WriteTransaction":
        cursor = self._cursor()
        cursor.begin()
        return WriteTransaction(cursor, shown=shown)

    def _commit(self, tx: "WriteTransaction") -> None:
        tx._cursor.commit()

    def _rollback(self, tx: "WriteTransaction") -> None:
        tx._cursor.rollback()

    # --- facts about the workspace -------------------------------------------------------------------
    def schema_version(self) -> int:
        return self.query_value("SELECT max(version) FROM schema_version")

    def data_version(self, *, concern: str = WORKSPACE) -> int:
        """Changes whenever committed data of that concern (RECORD, TELEMETRY) changes; caches key on the
        concerns they read. The default, WORKSPACE, changes with either."""
        if concern not in (WORKSPACE, *CONCERNS):
            raise ValueError(f"no data version for {concern!r}: one of {WORKSPACE}, {', '.join(CONCERNS)}")
        return self.query_value("SELECT version FROM data_version WHERE concern = ?", [concern])

    def table_row_counts(self) -> dict[str, int]:
        tables = [r[0] for r in self.query_rows(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' ORDER BY table_name")]
        return {t: self.query_value(f'SELECT count(*) FROM "{t}"') for t in tables}

    def export_snapshot(self, *, path: str | Path, tables: Sequence[str]) -> None:
        """Copy the named tables into a new DuckDB file at `path`, for readers that must not share our handle.

        Runs on this process's own database (a second connection could not open the file while we hold it
        read-write); the write lock keeps a write from landing halfway through the copy.
        """
        for table in tables:
            if not _IDENTIFIER.match(table):
                raise ValueError(f"not a table name: {table!r}")
        with self._write_lock:
            cursor = self._cursor()
            cursor.execute("ATTACH ? AS quorum_snapshot_export", [str(path)])
            try:
                for table in tables:
                    cursor.execute(f"CREATE OR REPLACE TABLE quorum_snapshot_export.{table} AS "
                                   f"SELECT * FROM main.{table}")
            finally:
                cursor.execute("DETACH quorum_snapshot_export")


def finish_write(tx: "WriteTransaction", *, keeps_derived: bool) -> None:
    """What every engine does before committing a write: refuse a unit a part of which failed, bring derived
    tables in step, and bump the data version of each concern the write changed."""
    if tx.failed:
        raise errors.GovernanceError(PART_FAILED)
    for source, touched in list(tx.touched.items()) if keeps_derived else ():   # derived tables in step
        if source not in _upkeep:
            raise RuntimeError(DERIVED_UNMAINTAINED.format(source=source, derived=_DERIVED[source]))
        _upkeep[source](tx, touched)
    changed = sorted(tx.concerns_changed(shown=tx.shown))
    if changed:
        tx.execute(f"UPDATE data_version SET version = version + 1 "
                   f"WHERE concern IN ({', '.join('?' * (len(changed) + 1))})", [WORKSPACE, *changed])


def written_tables(sql: str) -> set[str]:
    """The tables a statement writes to, read from its text."""
    return {match.lower() for match in _WRITE_TARGET.findall(sql)} - {"set"}


class WriteTransaction:
    """The cursor of an open write, with a bulk insert that keeps table names out of user input.

    It notes the tables each statement writes: which concerns' data versions the commit bumps, and which derived
    tables must be brought in step (with what each statement said it `touched`, in the upkeep's own terms)."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, *, shown: bool = True):
        self._cursor = cursor
        self.shown = shown
        self.failed = False   # a write joined to this one raised: the whole unit rolls back
        self.tables_written: set[str] = set()
        self.unknown_statement = False   # a statement we could not read the target of: counted as a record change
        self.touched: dict[str, set | None] = {}
        self.after_commit_hooks: dict[str, Callable[[], None]] = {}

    def _note(self, tables: set[str], touched) -> None:
        self.tables_written |= tables
        for source in tables & _DERIVED.keys():
            if touched is None or self.touched.get(source, set()) is None:
                self.touched[source] = None
            else:
                self.touched.setdefault(source, set()).update(touched)

    def _note_sql(self, sql: str, touched) -> None:
        tables = written_tables(sql)
        if not tables and not _READ_ONLY.match(sql):
            self.unknown_statement = True
        self._note(tables, touched)

    def concerns_changed(self, *, shown: bool = True) -> set[str]:
        """The concerns whose data this write changed so far; record rows count only if `shown`."""
        found = set().union(*(_CONCERNS_OF_TABLE.get(t, {RECORD}) for t in self.tables_written))
        if self.unknown_statement:
            found.add(RECORD)
        return found if shown else found - {RECORD}

    def after_commit(self, name: str, hook: Callable[[], None]) -> None:
        """Run `hook` once this write has committed, never if it rolls back. Hooks are kept by name, so a write
        that appends ten chain entries refreshes the anchor once."""
        self.after_commit_hooks.setdefault(name, hook)

    def execute(self, sql: str, params: Sequence | dict | None = None, *, touched: Iterable | None = None) -> None:
        """Run one statement. `touched`: what it changed in the terms of its table's derived upkeep (telemetry:
        (model, version, hour) triples); without it a derived table is rebuilt whole."""
        self._note_sql(sql, touched)
        self._cursor.execute(sql, params or [])

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        self._note_sql(sql, None)
        self._cursor.executemany(sql, rows)

    def insert_frame(self, table: str, frame: pd.DataFrame, *, touched: Iterable | None = None) -> int:
        """Append a DataFrame to a table, matching columns by name (`touched` as for execute)."""
        if not _IDENTIFIER.match(table):
            raise ValueError(f"not a table name: {table!r}")
        # Found by DuckDB's replacement scan of this function's locals. register() would keep every frame
        # alive until the transaction commits, so a chunked load would hold the whole file in memory.
        self._note({table}, touched)
        _quorum_frame = frame  # noqa: F841
        self._cursor.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _quorum_frame")
        return len(frame)
