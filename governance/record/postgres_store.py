"""PostgresStore: a shared workspace, its record in PostgreSQL and its telemetry in a Parquet lake.

It answers to everything GovernanceStore does, so every repository, service, page and command runs on it
unchanged. What differs, and why:

- **Statements.** Record SQL is written once, in SQL both engines accept; only the parameter markers differ
  (`?` and `$name` here, `%s` and `%(name)s` for psycopg), and they are rewritten outside quoted text.
- **Several servers.** Every write takes one transaction-level advisory lock before its first statement, so
  writes from all servers queue as the writes of one process do: an id read as max + 1 is never issued twice,
  and a chain's head is read and extended by one writer at a time (UNIQUE(prev_hash) stays as the backstop).
  Reads never wait. Data versions live in the database, so a cache keyed on them on one server sees another
  server's write at its next read.
- **Telemetry.** The tables `telemetry` and `telemetry_input` are files in the lake (record/lake.py). A write
  stages their rows in DuckDB and places the files just before the record's commit; if the commit fails, the
  files are taken back.
- **Analytics.** `store.analytics` is an in-memory DuckDB with the workspace's own schema: the telemetry SQL, and
  the evidence SQL that uses DuckDB's functions, run there unchanged. Record tables a statement reads are copied
  in when the record's data version has moved since they were last copied; inside a write, the tables that write
  changed are read through its own transaction, so a write sees its own rows.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from governance import errors
from governance.record import clock, lake
from governance.record.store import (MIGRATIONS_DIR, RECORD, GovernanceStore, WriteTransaction, load_migrations,
                                     written_tables)

if TYPE_CHECKING:
    import pandas as pd

POSTGRES_MIGRATIONS_DIR = MIGRATIONS_DIR / "postgresql"
# Any constant shared by every Quorum server: the key of the advisory lock every write holds.
WRITE_LOCK_KEY = 0x51_55_4F_52   # "QUOR"
LAKE_TABLES = set(lake.TABLES)
_INSERT_BY_NAME = re.compile(r"\s*INSERT\s+INTO\s+([a-z_][a-z0-9_]*)\s+BY\s+NAME\s+(SELECT\b.*)\Z",
                             re.IGNORECASE | re.DOTALL)

UNREACHABLE = ("cannot reach the PostgreSQL database at {host}:{port} ({reason}): check that the server runs and "
               "accepts connections there, and the address in QUORUM_DB or --db")
NO_LAKE = ("a PostgreSQL workspace keeps its telemetry in a lake: set QUORUM_LAKE (or --lake) to a folder every "
           "server can write, such as a shared mount")
LAKE_APPEND_ONLY = ("telemetry in the lake is only ever added to, a file per write: it cannot be changed or deleted "
                    "in place; ingest corrected rows as a new file")
LAKE_NOT_A_FOLDER = ("the lake {lake} is not a folder on this machine: every server of a shared workspace writes its "
                     "telemetry there, so give a folder they all mount (NFS, a cloud file share), as a path or a "
                     "file:// URI; datasets in object stores are read as a model's telemetry source instead")
NOT_BYTE_ORDER = ("the PostgreSQL database {database} sorts text by the rules of {collation}, so lists would come in "
                  "another order than Quorum's own: create the workspace's database with byte-order sorting "
                  "(CREATE DATABASE {database} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C.UTF-8') and point "
                  "QUORUM_DB at it")
NOT_IN_LAKE = ("{table} is kept only in a DuckDB workspace; with PostgreSQL, read telemetry through its source "
               "(the lake)")


def lake_folder(lake: str | Path | None) -> Path:
    """The lake's folder, from a path or a file:// URI. Every server writes into it, so it is a folder they all
    mount (NFS, a cloud file share); an object store (s3://…) is refused with what to use instead."""
    if not lake:
        raise errors.InvalidInputError(NO_LAKE)
    text = str(lake)
    if text.startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise errors.InvalidInputError(LAKE_NOT_A_FOLDER.format(lake=text))
        return Path(unquote(parts.path))
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        raise errors.InvalidInputError(LAKE_NOT_A_FOLDER.format(lake=text))
    return Path(text)


def shown_url(url: str) -> str:
    """The URL without its password, for pages, logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc[1]}"))


@functools.lru_cache(maxsize=4096)
def psycopg_sql(sql: str) -> str:
    """The statement with DuckDB's parameter markers as psycopg's: `?` -> %s, `$name` -> %(name)s, and every
    other % doubled. Quoted text and comments are copied as they are (with % doubled, as psycopg wants)."""
    out, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = i + 1
            while end < n and not (sql[end] == c and not (end + 1 < n and sql[end + 1] == c)):
                end += 2 if sql[end] == c else 1
            out.append(sql[i:end + 1].replace("%", "%%"))
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "$" and (match := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql[i:])):
            out.append(f"%({match.group(1)})s")
            i += match.end()
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _adapted(connection) -> None:
    """numpy scalars as parameters (DuckDB takes them), numeric results as int or float (DuckDB's types), and JSON
    as its text (DuckDB returns JSON as text; the record hashes that text)."""
    import numpy as np
    from psycopg.types.bool import BoolDumper
    from psycopg.types.numeric import FloatDumper, Int8Dumper
    from psycopg.types.string import TextLoader

    adapters = connection.adapters
    for kind in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32):
        adapters.register_dumper(kind, Int8Dumper)
    adapters.register_dumper(np.float32, FloatDumper)
    adapters.register_dumper(np.bool_, BoolDumper)
    adapters.register_loader("json", TextLoader)
    adapters.register_loader("numeric", _numeric_loader())


@functools.cache
def _numeric_loader():
    """Made on the first connection: opening a DuckDB workspace never imports psycopg."""
    from psycopg.adapt import Loader

    class NumericLoader(Loader):
        """NUMERIC (what PostgreSQL's sum() and avg() of integers return) as int when whole, else float."""

        def load(self, data):
            text = bytes(data).decode()
            return int(text) if text.lstrip("-").isdigit() else float(text)

    return NumericLoader


class PostgresStore(GovernanceStore):
    """A workspace whose record is in PostgreSQL (`url`) and whose telemetry is in the lake folder `lake`."""

    engine = "postgresql"
    keeps_derived = False   # the hourly rollup is a DuckDB workspace's; the lake is read by its partitions

    def __init__(self, url: str, *, lake: str | Path | None, migrations_dir: Path = POSTGRES_MIGRATIONS_DIR):
        self.url = url
        self.lake = lake_folder(lake)
        # Files kept beside a workspace (the anchor, the inbox, the SQL console's snapshots) live in the lake,
        # which every server shares.
        self.path = self.lake / "quorum"
        self._migrations = load_migrations(migrations_dir)
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._owners: dict = {}   # every open connection -> the thread it belongs to
        self._connections_lock = threading.Lock()
        self._analytics_lock = threading.Lock()
        self._analytics: LakeEngine | None = None
        try:
            self.lake.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.WorkspaceUnwritableError(
                lake.LAKE_UNWRITABLE.format(lake=self.lake, reason=exc.strerror or exc)) from None
        connection = self._connection()
        try:
            self._migrate_postgres(connection)
        except BaseException:
            self.close()
            raise

    # --- connections -------------------------------------------------------------------------------------------
    def _connect(self):
        import psycopg

        try:
            connection = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            parts = urlsplit(self.url)
            # psycopg's first line ends with the cause ("… failed: Connection refused"); the rest is advice
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rsplit(": ", 1)[-1].strip()[:300]
            raise errors.WorkspaceUnreachableError(UNREACHABLE.format(
                host=parts.hostname or "localhost", port=parts.port or 5432, reason=reason)) from None
        _adapted(connection)
        return connection

    def _connection(self, *, purpose: str = "work"):
        """This thread's connection (autocommit: a read sees every committed write; a write opens its own
        transaction). "committed" is a second one, outside any write this thread holds open.

        A server runs each page's script on a thread of its own, and threads come and go: the connections of
        threads that have ended are closed whenever a new one is made, so they never pile up on the database."""
        connection = getattr(self._local, purpose, None)
        if connection is None or connection.closed:
            connection = self._connect()
            setattr(self._local, purpose, connection)
            with self._connections_lock:
                self._owners[connection] = threading.current_thread()
                ended = [c for c, thread in self._owners.items() if not thread.is_alive()]
                for old in ended:
                    del self._owners[old]
            for old in ended:
                old.close()
        return connection

    def _migrate_postgres(self, connection) -> None:
        # Text must sort by its bytes, as DuckDB sorts it: the pages, the reports and every list hashed into
        # evidence come in the same order on either engine.
        database, provider, collation = connection.execute(
            "SELECT datname, datlocprovider, CASE WHEN datlocprovider = 'i' THEN daticulocale ELSE datcollate END "
            "FROM pg_database WHERE datname = current_database()").fetchone()
        if provider != "c" or collation not in ("C", "POSIX", "C.UTF-8", "C.utf8"):
            raise errors.WorkspaceError(NOT_BYTE_ORDER.format(database=database, collation=collation))
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])   # one server migrates
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                               " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
            current = connection.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            known = len(self._migrations)
            if current > known:
                raise errors.WorkspaceTooNewError(
                    errors.WORKSPACE_TOO_NEW.format(path=self.location, found=current, known=known))
            for migration in self._migrations[current:]:
                if _without_comments(migration.sql):
                    connection.execute(migration.sql)
                connection.execute("INSERT INTO schema_version VALUES (%s, %s, %s)",
                                   [migration.version, migration.name, clock.now_naive()])

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._owners:
                connection.close()
            self._owners.clear()
        if getattr(self, "_analytics", None) is not None:
            self._analytics.close()

    @property
    def location(self) -> str:
        return shown_url(self.url)

    @property
    def analytics(self) -> "LakeEngine":
        with self._analytics_lock:
            if self._analytics is None:
                self._analytics = LakeEngine(self)
            return self._analytics

    # --- reading -----------------------------------------------------------------------------------------------
    def _execute(self, sql: str, params, connection=None):
        connection = connection or self._connection()
        return connection.execute(psycopg_sql(sql), _params(params))

    def query(self, sql: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        import pandas as pd

        cursor = self._execute(sql, params)
        names = [column.name for column in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=names)

    def query_over(self, sql: str, params: dict, *, frames: dict) -> pd.DataFrame:
        return self.analytics.query_over(sql, params, frames=frames)

    def query_rows(self, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
        return self._execute(sql, params).fetchall()

    def query_records(self, sql: str, params: Sequence | dict | None = None) -> list[dict]:
        cursor = self._execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def query_value(self, sql: str, params: Sequence | dict | None = None):
        row = self._execute(sql, params).fetchone()
        return None if row is None else row[0]

    def committed_value(self, sql: str, params: Sequence | dict | None = None):
        row = self._execute(sql, params, self._connection(purpose="committed")).fetchone()
        return None if row is None else row[0]

    # --- writing -----------------------------------------------------------------------------------------------
    def _begin(self, *, shown: bool) -> WriteTransaction:
        connection = self._connection()
        connection.execute("BEGIN")
        try:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return PostgresWriteTransaction(self, connection, shown=shown)

    def _commit(self, tx: "PostgresWriteTransaction") -> None:
        # The files first, then the commit: if the commit fails, _rollback takes the files back. The other order
        # could acknowledge an ingest whose files then failed to appear.
        tx.place_lake_files()
        tx._connection.execute("COMMIT")
        tx.drop_staging()

    def _rollback(self, tx: "PostgresWriteTransaction") -> None:
        try:
            if not tx._connection.closed:
                tx._connection.execute("ROLLBACK")
        finally:
            lake.remove(tx.placed)
            tx.drop_staging()

    # --- facts about the workspace -----------------------------------------------------------------------------
    def tables(self) -> list[str]:
        return [r[0] for r in self.query_rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]

    def table_row_counts(self) -> dict[str, int]:
        counts = {t: self.query_value(f'SELECT count(*) FROM "{t}"') for t in self.tables()}
        for table in lake.TABLES:
            counts[table] = self.analytics.query_value(f"SELECT count(*) FROM {table}")
        return dict(sorted(counts.items()))

    def export_snapshot(self, *, path: str | Path, tables: Sequence[str]) -> None:
        self.analytics.export_snapshot(path=path, tables=tables)


def _params(params):
    if params is None:
        return []
    return params


def _without_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--")).strip()


class PostgresWriteTransaction(WriteTransaction):
    """A write on PostgreSQL; rows for the lake's tables are staged in DuckDB (on this thread's analytic cursor,
    as temporary tables) and placed as files just before the commit."""

    def __init__(self, store: PostgresStore, connection, *, shown: bool):
        super().__init__(_PsycopgCursor(connection), shown=shown)
        self._store = store
        self._connection = connection
        self.staged: set[str] = set()
        self.placed: list[Path] = []

    def _staging(self, table: str):
        cursor = self._store.analytics.cursor()
        if table not in self.staged:
            cursor.execute(f"CREATE OR REPLACE TEMP TABLE staged_{table} AS SELECT * FROM main.{table} LIMIT 0")
            self.staged.add(table)
        return cursor

    def execute(self, sql: str, params: Sequence | dict | None = None, *, touched: Iterable | None = None) -> None:
        targets = written_tables(sql)
        if targets & LAKE_TABLES:
            if len(targets) > 1 or not re.match(r"\s*INSERT\b", sql, re.IGNORECASE):
                raise errors.InvalidInputError(LAKE_APPEND_ONLY)
            (table,) = targets
            self._note_sql(sql, touched)
            cursor = self._staging(table)
            cursor.execute(re.sub(rf"\b{table}\b", f"staged_{table}", sql, count=1), params or [])
            return
        if self._insert_computed(sql, params):
            return
        super().execute(sql, params, touched=touched)

    def _insert_computed(self, sql: str, params) -> bool:
        """A record insert computed by DuckDB from a file (an ingest's quarantined rows): the SELECT runs in
        DuckDB, and its rows are copied into PostgreSQL."""
        match = _INSERT_BY_NAME.match(sql)
        if match is None or "read_parquet" not in sql:
            return False
        frame = self._store.analytics.query(match.group(2), params)
        self.insert_frame(match.group(1).lower(), frame)
        return True

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        if written_tables(sql) & LAKE_TABLES:   # a caller's mistake, not a user's: rows for the lake come as frames
            raise ValueError("rows for the lake's tables go through insert_frame")
        super().executemany(sql, rows)

    def insert_frame(self, table: str, frame: pd.DataFrame, *, touched: Iterable | None = None) -> int:
        if table in LAKE_TABLES:
            self._note({table}, touched)
            cursor = self._staging(table)
            _quorum_frame = frame  # noqa: F841 -- read by DuckDB's replacement scan
            cursor.execute(f"INSERT INTO staged_{table} BY NAME SELECT * FROM _quorum_frame")
            return len(frame)
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
            raise ValueError(f"not a table name: {table!r}")
        self._note({table}, touched)
        columns = list(frame.columns)
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        with self._connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return len(frame)

    def place_lake_files(self) -> None:
        if not self.staged:
            return
        cursor = self._store.analytics.cursor()
        for table in sorted(self.staged):
            if cursor.execute(f"SELECT count(*) FROM staged_{table}").fetchone()[0]:
                self.placed += lake.write(self._store.lake, table=table, cursor=cursor, relation=f"staged_{table}")

    def drop_staging(self) -> None:
        """Drop this thread's temporary tables: the staged rows and the copies of what this write changed."""
        if self._store._analytics is not None:
            self._store._analytics.drop_temporary()
        self.staged.clear()


class _PsycopgCursor:
    """What WriteTransaction calls on a cursor, on a psycopg connection."""

    def __init__(self, connection):
        self._connection = connection

    def execute(self, sql: str, params=None):
        return self._connection.execute(psycopg_sql(sql), _params(params))

    def executemany(self, sql: str, rows):
        with self._connection.cursor() as cursor:
            cursor.executemany(psycopg_sql(sql), rows)


@functools.lru_cache(maxsize=2048)
def _tables_read(sql: str) -> frozenset[str]:
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return frozenset()
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    return frozenset(t.name for t in tree.find_all(exp.Table) if not t.db and t.name and t.name not in ctes)


@functools.lru_cache(maxsize=1024)
def _over_lake(sql: str, tables: frozenset[str]) -> str:
    """The statement with each of `tables` read from the lake's files ($quorum_lake_<table>), same alias."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    for table in list(tree.find_all(exp.Table)):
        if table.name in tables and not table.db:
            replacement = sqlglot.parse_one(lake.relation_sql(table.name, placeholder=f"quorum_lake_{table.name}"),
                                            read="duckdb")
            table.replace(exp.Subquery(this=replacement, alias=exp.TableAlias(
                this=exp.to_identifier(table.alias or table.name))))
    return tree.sql(dialect="duckdb")


def _without_constraints(duck: GovernanceStore) -> None:
    """The in-memory schema's tables as plain columns: copies are taken a table at a time, from a database that has
    already checked every key, so DuckDB must not check a copy against a table not copied yet."""
    cursor = duck._cursor()
    tables = [r[0] for r in cursor.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                                           "AND table_name NOT IN ('schema_version', 'data_version')").fetchall()]
    referenced = cursor.execute("SELECT table_name, referenced_table FROM duckdb_constraints() "
                                "WHERE constraint_type = 'FOREIGN KEY'").fetchall()
    for table in tables:
        cursor.execute(f"CREATE TABLE plain_{table} AS SELECT * FROM main.{table} LIMIT 0")
    left = set(tables)
    while left:   # a table other tables refer to is dropped after them
        for table in sorted(t for t in left if not any(r == t and f in left for f, r in referenced)):
            cursor.execute(f"DROP TABLE main.{table}")
            left.discard(table)
    for table in tables:
        cursor.execute(f"ALTER TABLE plain_{table} RENAME TO {table}")


class LakeEngine:
    """DuckDB, in memory, with the workspace's DuckDB schema: the lake's files stand in for the telemetry tables,
    and the record tables a statement reads are copied in from PostgreSQL (see the module's docstring)."""

    def __init__(self, store: PostgresStore):
        self._store = store
        self._duck = GovernanceStore(":memory:")
        _without_constraints(self._duck)
        self._record_tables = set(store.tables())
        self._copied: dict[str, tuple] = {}   # table -> (record version, _marks) when copied
        self._copy_lock = threading.Lock()
        self.path = store.path
        self.engine = "duckdb"

    def close(self) -> None:
        self._duck.close()

    def cursor(self):
        return self._duck._cursor()

    def _prepare(self, sql: str, params):
        tables = _tables_read(sql)
        if "telemetry_hourly" in tables:
            raise errors.InvalidInputError(NOT_IN_LAKE.format(table="telemetry_hourly"))
        record = tables & self._record_tables
        if record:
            self._copy(record)
        found = {t: lake.files(self._store.lake, table=t) for t in tables & LAKE_TABLES}
        present = frozenset(t for t, files in found.items() if files)   # no file yet: the empty table of that name
        if not present:
            return sql, params
        if isinstance(params, (list, tuple)):
            raise ValueError("a statement over the lake takes named ($name) parameters")
        return _over_lake(sql, present), {**(params or {}), **{f"quorum_lake_{t}": found[t] for t in present}}

    def _copy(self, tables: set[str]) -> None:
        """Bring the copies of these record tables up to date: from the open write's transaction for tables it
        changed (as temporary tables, seen by this thread only), else from committed rows when the record has
        moved on since the last copy."""
        tx = getattr(self._store._local, "tx", None)
        own = tables & tx.tables_written if tx is not None else set()
        cursor = self.cursor()
        for table in own:
            _quorum_rows = self._store_frame(table)  # noqa: F841
            cursor.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM main.{table} LIMIT 0")
            cursor.execute(f"INSERT INTO temp.{table} BY NAME SELECT * FROM _quorum_rows")
        rest = tables - own
        if not rest:
            return
        with self._copy_lock:
            version = self._store.data_version(concern=RECORD)
            stale = [t for t in sorted(rest) if self._copied.get(t, (None, None))[0] != version]
            if not stale:
                return
            # The record moved on, but most writes leave most tables alone: copy only the tables whose rows
            # changed (their count, or the newest transaction that wrote one of them), not every table read.
            marks = self._marks(stale)
            changed = [t for t in stale if self._copied.get(t, (None, None))[1] != marks[t]]
            copier = self._duck._con.cursor()
            copier.begin()
            try:
                for table in changed:
                    _quorum_rows = self._store_frame(table, committed=True)  # noqa: F841
                    copier.execute(f"DELETE FROM main.{table}")
                    copier.execute(f"INSERT INTO main.{table} BY NAME SELECT * FROM _quorum_rows")
                copier.commit()
            except BaseException:
                copier.rollback()
                raise
            finally:
                copier.close()
            for table in stale:
                self._copied[table] = (version, marks[table])

    def _marks(self, tables: list[str]) -> dict[str, tuple]:
        """Per table, (rows, the newest writing transaction's id): it changes with every insert, update or delete."""
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*), coalesce(max(xmin::text::BIGINT), 0) FROM \"{t}\""
                                 for t in tables)
        rows = self._store._execute(sql, None, self._store._connection(purpose="committed")).fetchall()
        return {table: (n, newest) for table, n, newest in rows}

    def _store_frame(self, table: str, *, committed: bool = False):
        connection = self._store._connection(purpose="committed") if committed else None
        import pandas as pd

        cursor = self._store._execute(f'SELECT * FROM "{table}"', None, connection)
        names = [column.name for column in cursor.description]
        frame = pd.DataFrame.from_records(cursor.fetchall(), columns=names)
        return frame.drop(columns=["rowid"], errors="ignore")

    def drop_temporary(self) -> None:
        cursor = self.cursor()
        for (table,) in cursor.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall():
            cursor.execute(f"DROP TABLE temp.{table}")

    # The read interface of a store, run in DuckDB.
    def query(self, sql: str, params=None) -> pd.DataFrame:
        return self._duck.query(*self._prepare(sql, params))

    def query_over(self, sql: str, params: dict, *, frames: dict) -> pd.DataFrame:
        return self._duck.query_over(*self._prepare(sql, params), frames=frames)

    def query_rows(self, sql: str, params=None) -> list[tuple]:
        return self._duck.query_rows(*self._prepare(sql, params))

    def query_records(self, sql: str, params=None) -> list[dict]:
        return self._duck.query_records(*self._prepare(sql, params))

    def query_value(self, sql: str, params=None):
        return self._duck.query_value(*self._prepare(sql, params))

    def export_snapshot(self, *, path: str | Path, tables: Sequence[str]) -> None:
        """The SQL console's snapshot: the lake's rows and the record's, copied into a new DuckDB file."""
        self._copy(set(tables) & self._record_tables)
        cursor = self.cursor()
        cursor.execute("ATTACH ? AS quorum_snapshot_export", [str(path)])
        try:
            for table in tables:
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
                    raise ValueError(f"not a table name: {table!r}")
                sql, params = self._prepare(f"SELECT * FROM {table}", {})
                cursor.execute(f"CREATE OR REPLACE TABLE quorum_snapshot_export.{table} AS {sql}", params)
        finally:
            cursor.execute("DETACH quorum_snapshot_export")
