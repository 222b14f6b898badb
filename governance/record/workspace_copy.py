"""Moving and keeping a workspace: `migrate` a DuckDB workspace to PostgreSQL and its lake, `backup` either engine
into a folder, `restore` such a folder into a new workspace.

Each one ends by proving what it made: `verify` on the result, and the chain heads and row counts compared with
the original. A check that fails raises; nothing here reports success it has not checked.

The ledger key is never part of a workspace, so it is never part of a backup either: keep it separately (a
secret store, or a copy of the key file), or the restored workspace's signatures cannot be checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from governance import errors
from governance.record import clock, durable_file, hash_chain, lake as lake_files, verification
from governance.record.postgres_store import UNREACHABLE, PostgresStore, shown_url
from governance.record.store import MIGRATIONS_DIR, GovernanceStore, load_migrations
from governance.record.workspace import is_database_url

# Tables every workspace makes for itself when it is opened: never copied, the target keeps its own.
OWN_TABLES = ("schema_version", "data_version")
DERIVED_TABLES = ("telemetry_hourly",)   # rebuilt from telemetry; with PostgreSQL, not kept at all
MANIFEST = "manifest.json"
DUCKDB_FILE = "workspace.duckdb"
PG_DUMP_FILE = "record.dump"
LAKE_FOLDER = "lake"
ANCHOR_FILE = "anchor.json"
PG_PROGRAM_TIMEOUT_S = 3600

NOT_DUCKDB = ("migrate moves a DuckDB workspace; {location} is already a {engine} workspace: back it up with "
              "`python -m governance backup --out DIR` instead")
NOT_A_URL = "migrate --to takes a PostgreSQL URL (postgresql://user@host:port/database), not {to!r}"
TARGET_HOLDS_WORKSPACE = ("the database {url} already holds {what}: nothing was written; migrate into a new, empty "
                          "database (createdb, or `make postgres` for a local one)")
LAKE_NOT_EMPTY = ("the lake {lake} already holds {files} telemetry file(s): nothing was written; give a new or empty "
                  "folder as --lake")
SCHEMA_BEHIND = ("the workspace {location} is at schema version {found}, but this code writes version {known}: open "
                 "it once with this version of Quorum (any command migrates it), then migrate")
CHECK_FAILED = ("the copy at {target} does not match {source}: {problems}. The copy is not to be used: drop that "
                "database (and empty the lake), then report this")
OUT_NOT_EMPTY = "{out} exists and is not empty: give a new or empty folder as --out, so no earlier backup is mixed in"
NO_MANIFEST = "{path} holds no {manifest}: it is not a Quorum backup folder (backup --out makes one)"
BAD_MANIFEST = "{path} is not a readable Quorum backup manifest ({reason}): the backup cannot be trusted"
FILE_MISSING = "the backup file {name} is missing from {path}: the backup is incomplete, nothing was restored"
FILE_CHANGED = ("the backup file {name} in {path} does not match the SHA-256 its manifest records: it was changed "
                "or damaged after the backup, nothing was restored")
FILE_EXTRA = ("{path} holds {name}, which its manifest does not list: a backup folder must hold only what backup "
              "wrote; nothing was restored")
ENGINE_MISMATCH = ("this is a backup of a {engine} workspace; restore it to {wanted}. To move a DuckDB workspace to "
                   "PostgreSQL, restore it to a DuckDB file and then run `python -m governance migrate`")
TARGET_FILE_EXISTS = "{path} already exists: restore into a new file, so no workspace is overwritten"
NO_PROGRAM = "{program} was not found beside PostgreSQL's server programs in {folder}: install postgresql-client"
PROGRAM_FAILED = "{program} failed (exit {code}): {output}"
PROGRAM_TIMED_OUT = "{program} did not finish within {seconds} s: see whether the database server is overloaded"
SOURCE_BROKEN = ("the workspace {location} does not verify ({problem}): a copy would carry that damage and could not "
                 "be proven whole, so nothing was written; run `python -m governance verify` and resolve it first")
COPY_FAILED = ("PostgreSQL refused the rows of {table} ({reason}): nothing was left in {url} or the lake; fix those "
               "rows in the DuckDB workspace, then migrate again")
CANNOT_WRITE = ("cannot write {path} ({reason}): nothing was left there; choose a place this user may write "
                "(--out, --to or --lake)")
RESTORE_MISMATCH = ("the restored workspace at {target} does not match its backup: {problems}. Do not use it; "
                    "report this")


@dataclass(frozen=True)
class MigrationResult:
    source: str
    target: str
    lake: str
    tables: dict[str, int]             # record table -> rows copied
    rows: int                          # record rows copied in all
    telemetry_rows: dict[str, int]     # telemetry, telemetry_input -> rows written into the lake
    lake_files: int
    heads_before: dict[str, dict]
    heads_after: dict[str, dict]
    verify_intact: bool
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BackupResult:
    out: str
    engine: str
    schema_version: int
    created_at: str
    heads: dict[str, dict]
    files: dict[str, str]              # path inside the backup -> SHA-256
    bytes: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RestoreResult:
    backup: str
    target: str
    engine: str
    files_checked: int
    heads: dict[str, dict]
    verify_intact: bool
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


# --- shared checks -----------------------------------------------------------------------------------------------
def _connect(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        parts = urlsplit(url)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rsplit(": ", 1)[-1].strip()[:300]
        raise errors.WorkspaceUnreachableError(UNREACHABLE.format(
            host=parts.hostname or "localhost", port=parts.port or 5432, reason=reason)) from None


def database_tables(url: str) -> list[str]:
    """The tables in the database's current schema (a workspace's, or anyone else's)."""
    with _connect(url) as connection:
        return [r[0] for r in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "ORDER BY table_name").fetchall()]


def _refuse_used_database(url: str) -> None:
    tables = database_tables(url)
    if tables:
        what = ("a Quorum workspace" if "schema_version" in tables
                else f"{len(tables)} table(s) ({', '.join(tables[:5])}{', …' if len(tables) > 5 else ''})")
        raise errors.WorkspaceNotEmptyError(TARGET_HOLDS_WORKSPACE.format(url=shown_url(url), what=what))


def _refuse_used_lake(lake: Path) -> None:
    found = sum(len(lake_files.files(lake, table=table)) for table in lake_files.TABLES)
    if found:
        raise errors.WorkspaceNotEmptyError(LAKE_NOT_EMPTY.format(lake=lake, files=found))


def _heads(store: GovernanceStore) -> dict[str, dict]:
    return hash_chain._heads(store)


def _record_tables(source: GovernanceStore) -> list[str]:
    """The source's record tables, a table before every table that refers to it (PostgreSQL checks each key as
    the row arrives)."""
    skip = set(OWN_TABLES) | set(DERIVED_TABLES) | set(lake_files.TABLES)
    tables = [r[0] for r in source.query_rows(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
        "ORDER BY table_name") if r[0] not in skip]
    refers = source.query_rows("SELECT table_name, referenced_table FROM duckdb_constraints() "
                               "WHERE constraint_type = 'FOREIGN KEY' AND database_name = current_database()")
    ordered, left = [], list(tables)
    while left:
        ready = [t for t in left if not any(f == t and r in left and r != t for f, r in refers)]
        if not ready:   # a cycle of keys: PostgreSQL would refuse any order, so say which
            raise RuntimeError(f"the tables {left} refer to each other in a cycle")
        ordered += ready
        left = [t for t in left if t not in ready]
    return ordered


def _telemetry_figures(store: GovernanceStore) -> dict:
    """Counts and sums of the telemetry tables, read by DuckDB from wherever they are (the file or the lake)."""
    engine = store.analytics
    figures = {}
    row = engine.query_rows("SELECT count(*), coalesce(sum(latency_ms), 0), coalesce(sum(cost_usd), 0), "
                            "count(label), count(DISTINCT input_id) FROM telemetry", {})[0]
    figures["telemetry"] = {"rows": row[0], "latency_ms_sum": round(float(row[1]), 3),
                            "cost_usd_sum": round(float(row[2]), 6), "labelled": row[3], "inputs": row[4]}
    row = engine.query_rows("SELECT count(*), coalesce(sum(input_id), 0) FROM telemetry_input", {})[0]
    figures["telemetry_input"] = {"rows": row[0], "input_id_sum": int(row[1])}
    return figures


def _record_counts(store: GovernanceStore, tables: list[str]) -> dict[str, int]:
    return {t: int(store.query_value(f'SELECT count(*) FROM "{t}"')) for t in tables}


# --- migrate -----------------------------------------------------------------------------------------------------
def migrate(*, source: GovernanceStore, to_url: str, lake: str | Path) -> MigrationResult:
    """Copy the DuckDB workspace `source` into the empty PostgreSQL database `to_url` (the record) and the empty
    folder `lake` (its telemetry, as Parquet), with its anchor; then prove the copy: verify intact, the same chain
    heads, the same rows in every table and the same telemetry figures. The source is only read."""
    started = time.perf_counter()
    if source.engine != "duckdb":
        raise errors.InvalidInputError(NOT_DUCKDB.format(location=source.location, engine=source.engine))
    if not is_database_url(to_url):
        raise errors.InvalidInputError(NOT_A_URL.format(to=to_url))
    lake = Path(lake)
    known = len(load_migrations(MIGRATIONS_DIR))
    if source.schema_version() != known:
        raise errors.InvalidInputError(SCHEMA_BEHIND.format(location=source.location,
                                                            found=source.schema_version(), known=known))
    # Every refusal before anything is created: the database, then the lake.
    _refuse_used_database(to_url)
    _refuse_used_lake(lake)
    lake_files.check_writable(lake)

    tables = _record_tables(source)
    with source._write_lock:   # the source stands still while it is copied, so heads and counts are one moment's
        source_check = verification.verify(source)
        if not source_check["ok"]:
            raise errors.InvalidInputError(SOURCE_BROKEN.format(
                location=source.location, problem=source_check["problem"] or source_check["key_problem"]))
        heads_before = _heads(source)
        counts_before = _record_counts(source, tables)
        telemetry_before = _telemetry_figures(source)
        target = PostgresStore(to_url, lake=lake)
        placed: list[Path] = []
        try:
            try:
                _copy_record(source, target, tables)
                cursor = source._cursor()
                for table in lake_files.TABLES:
                    if telemetry_before[table]["rows"]:
                        placed += lake_files.write(lake, table=table, cursor=cursor, relation=f"main.{table}")
                anchor = hash_chain.anchor_path(source)
                if anchor.exists():
                    shutil.copyfile(anchor, hash_chain.anchor_path(target))
            except BaseException:
                # The database and the lake were empty: leave them so, and the migration can simply be run again.
                target.close()
                _empty_database(to_url)
                lake_files.remove(placed)
                hash_chain.anchor_path(target).unlink(missing_ok=True)
                raise
            heads_after = _heads(target)
            counts_after = _record_counts(target, tables)
            telemetry_after = _telemetry_figures(target)
            checked = verification.verify(target)
        finally:
            target.close()
    problems = []
    if not checked["ok"]:
        problems.append(f"verify: {checked['problem']}")
    if heads_after != heads_before:
        problems.append(f"chain heads {heads_after} instead of {heads_before}")
    problems += [f"{t}: {counts_after[t]} rows instead of {n}" for t, n in counts_before.items()
                 if counts_after[t] != n]
    if telemetry_after != telemetry_before:
        problems.append(f"telemetry {telemetry_after} instead of {telemetry_before}")
    if problems:
        raise errors.GovernanceError(CHECK_FAILED.format(target=shown_url(to_url), source=source.location,
                                                         problems="; ".join(problems)))
    return MigrationResult(
        source=source.location, target=shown_url(to_url), lake=str(lake), tables=counts_after,
        rows=sum(counts_after.values()),
        telemetry_rows={t: telemetry_after[t]["rows"] for t in lake_files.TABLES}, lake_files=len(placed),
        heads_before=heads_before, heads_after=heads_after, verify_intact=checked["ok"],
        seconds=round(time.perf_counter() - started, 2))


def _copy_record(source: GovernanceStore, target: PostgresStore, tables: list[str]) -> None:
    import psycopg

    identity = {r[0] for r in target.query_rows(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_name = 'rowid'")}
    table = None
    try:
        with target.write() as tx:
            for table in tables:
                # DuckDB's rowid is the insertion order some reads break ties by; PostgreSQL's tables that stand in
                # for it number their rows as they arrive, so the rows arrive in that order.
                order = " ORDER BY rowid" if table in identity else ""
                frame = source.query(f'SELECT * FROM "{table}"{order}')
                if len(frame):
                    tx.insert_frame(table, frame)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())[:300]
        raise errors.InvalidInputError(COPY_FAILED.format(table=table, reason=reason,
                                                          url=target.location)) from None


def _empty_database(url: str) -> None:
    """Drop every table of the database's schema: only for a database that held none before migrate began."""
    with _connect(url) as connection:
        with connection.transaction():
            for table in database_tables(url):
                connection.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


# --- backup ------------------------------------------------------------------------------------------------------
def _without_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password): the password goes to the programs through PGPASSWORD, so it
    never shows in the process list."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}")), unquote(parts.password)   # %40 in a URL is @


def _run_pg_program(program: str, *arguments: str, url: str) -> None:
    from governance.record import postgres_server

    folder = postgres_server.find_binaries()
    path = folder / program
    if not os.access(path, os.X_OK):
        raise errors.GovernanceError(NO_PROGRAM.format(program=program, folder=folder))
    plain_url, password = _without_password(url)
    # PG* variables of the caller's shell must not point the program at another database.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    if password is not None:
        environment["PGPASSWORD"] = password
    try:
        result = subprocess.run([str(path), *arguments, f"--dbname={plain_url}"], capture_output=True, text=True,
                                env=environment, timeout=PG_PROGRAM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise errors.GovernanceError(PROGRAM_TIMED_OUT.format(program=program,
                                                              seconds=PG_PROGRAM_TIMEOUT_S)) from None
    if result.returncode != 0:
        output = " ".join(f"{result.stdout}\n{result.stderr}".split())[-1500:]
        raise errors.GovernanceError(PROGRAM_FAILED.format(program=program, code=result.returncode, output=output))


def backup(*, store: GovernanceStore, out: str | Path) -> BackupResult:
    """Copy the workspace into the new or empty folder `out`, with a manifest of what it holds.

    DuckDB: the file itself, checkpointed and copied while no write can start. PostgreSQL: `pg_dump` in custom
    format, and the lake's files, taken while holding the lock every write takes, so they are of one moment.
    Either way the anchor file goes with it; the ledger key never does (keep it separately)."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise errors.InvalidInputError(OUT_NOT_EMPTY.format(out=out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    anchor = hash_chain.anchor_path(store)
    try:
        if store.engine == "duckdb":
            with store._write_lock:
                cursor = store._cursor()
                cursor.execute("CHECKPOINT")   # every committed write into the file itself, none left in the WAL
                shutil.copyfile(store.path, out / DUCKDB_FILE)
                if anchor.exists():
                    shutil.copyfile(anchor, out / ANCHOR_FILE)
                heads = _heads(store)
        else:
            with store.write(shown=False):   # the advisory lock every server's writes take: no write in between
                heads = _heads(store)
                _run_pg_program("pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                                f"--file={out / PG_DUMP_FILE}", url=store.url)
                for table in lake_files.TABLES:
                    for found in lake_files.files(store.lake, table=table):
                        inside = Path(found).relative_to(store.lake)
                        (out / LAKE_FOLDER / inside).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(found, out / LAKE_FOLDER / inside)
                if anchor.exists():
                    shutil.copyfile(anchor, out / ANCHOR_FILE)
        files = {str(p.relative_to(out)): durable_file.sha256(p) for p in sorted(out.rglob("*")) if p.is_file()}
        created_at = clock.now_iso_seconds()
        manifest = {"quorum_backup": 1, "engine": store.engine, "schema_version": store.schema_version(),
                    "created_at": created_at, "source": store.location, "heads": heads, "files": files,
                    "ledger_key": "not included: keep the ledger key separately, a restore verifies only with it"}
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    except BaseException as exc:
        shutil.rmtree(out, ignore_errors=True)   # never leave half a backup that looks like one
        raise _unwritable(out, exc) from None
    return BackupResult(out=str(out), engine=store.engine, schema_version=manifest["schema_version"],
                        created_at=created_at, heads=heads, files=files,
                        bytes=sum((out / name).stat().st_size for name in files),
                        seconds=round(time.perf_counter() - started, 2))


def _unwritable(where: Path, exc: BaseException) -> BaseException:
    """An OSError as the error a user can act on; every other error as it is."""
    if isinstance(exc, OSError):
        return errors.WorkspaceUnwritableError(CANNOT_WRITE.format(path=where, reason=exc.strerror or exc))
    return exc


# --- restore -----------------------------------------------------------------------------------------------------
def read_checked_manifest(backup: str | Path) -> dict:
    """The backup's manifest, once every file it lists is there with the SHA-256 it records, and nothing else."""
    backup = Path(backup)
    path = backup / MANIFEST
    if not path.is_file():
        raise errors.InvalidInputError(NO_MANIFEST.format(path=backup, manifest=MANIFEST))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        engine = manifest["engine"]
        if not isinstance(files, dict) or engine not in ("duckdb", "postgresql") or not isinstance(
                manifest["heads"], dict) or not isinstance(manifest["schema_version"], int):
            raise TypeError("fields of the wrong kind")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise errors.InvalidInputError(BAD_MANIFEST.format(path=path, reason=exc)) from None
    for name, sha in files.items():
        file = backup / name
        if Path(name).is_absolute() or ".." in Path(name).parts or not file.is_file():
            raise errors.InvalidInputError(FILE_MISSING.format(name=name, path=backup))
        if durable_file.sha256(file) != sha:
            raise errors.InvalidInputError(FILE_CHANGED.format(name=name, path=backup))
    for extra in sorted(backup.rglob("*")):
        name = str(extra.relative_to(backup))
        if extra.is_file() and name != MANIFEST and name not in files:
            raise errors.InvalidInputError(FILE_EXTRA.format(name=name, path=backup))
    return manifest


def restore(*, backup: str | Path, to: str | Path, lake: str | Path | None = None) -> RestoreResult:
    """Restore the backup folder into a new workspace at `to` (a new DuckDB file, or an empty PostgreSQL database
    with the empty folder `lake`), after checking every file against the manifest; then verify it and compare its
    chain heads with the manifest's."""
    started = time.perf_counter()
    backup = Path(backup)
    manifest = read_checked_manifest(backup)
    engine = manifest["engine"]
    to_url = is_database_url(to)
    if engine == "duckdb" and to_url:
        raise errors.InvalidInputError(ENGINE_MISMATCH.format(engine=engine, wanted="a new DuckDB file (--to PATH)"))
    if engine == "postgresql" and not to_url:
        raise errors.InvalidInputError(ENGINE_MISMATCH.format(
            engine=engine, wanted="an empty PostgreSQL database (--to postgresql://…) with --lake"))
    if engine == "duckdb":
        target_path = Path(to)
        if target_path.exists() or Path(f"{target_path}.wal").exists():
            raise errors.InvalidInputError(TARGET_FILE_EXISTS.format(path=target_path))
        written = [target_path, Path(f"{target_path}.anchor")]
        try:
            target_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(backup / DUCKDB_FILE, target_path)
            if (backup / ANCHOR_FILE).exists():
                shutil.copyfile(backup / ANCHOR_FILE, written[1])
            store = GovernanceStore(target_path)
        except BaseException as exc:
            for path in written:   # the file did not exist before: no half-restored workspace is left behind
                try:
                    path.unlink(missing_ok=True)
                except OSError:   # it could not be made in the first place
                    pass
            raise _unwritable(target_path, exc) from None
    else:
        from governance.record.postgres_store import NO_LAKE
        from governance.record.workspace import lake_path

        lake = lake_path(lake=lake)
        if not lake:
            raise errors.InvalidInputError(NO_LAKE)
        lake = Path(lake)
        _refuse_used_database(str(to))
        _refuse_used_lake(lake)
        lake_files.check_writable(lake)
        _run_pg_program("pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                        str(backup / PG_DUMP_FILE), url=str(to))   # one transaction: all of it, or nothing
        written = [lake / "quorum.anchor"]
        try:
            for name in manifest["files"]:
                if Path(name).parts[0] == LAKE_FOLDER:
                    target = lake / Path(*Path(name).parts[1:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    written.append(target)
                    shutil.copyfile(backup / name, target)
            store = PostgresStore(str(to), lake=lake)
            if (backup / ANCHOR_FILE).exists():
                shutil.copyfile(backup / ANCHOR_FILE, hash_chain.anchor_path(store))
        except BaseException as exc:
            # The database and the lake were empty: leave them so, and the restore can simply be run again.
            _empty_database(str(to))
            lake_files.remove(written)
            raise _unwritable(lake, exc) from None
    try:
        checked = verification.verify(store)
        heads = _heads(store)
        tables = store.table_row_counts()
        schema = store.schema_version()
        location = store.location
    finally:
        store.close()
    problems = []
    if not checked["ok"]:
        problems.append(f"verify: {checked['problem']}")
    if heads != manifest["heads"]:
        problems.append(f"chain heads {heads} instead of {manifest['heads']}")
    if schema < manifest["schema_version"]:   # a newer one: an older backup, migrated forward when opened
        problems.append(f"schema version {schema} instead of {manifest.get('schema_version')}")
    if problems:
        raise errors.GovernanceError(RESTORE_MISMATCH.format(target=location, problems="; ".join(problems)))
    return RestoreResult(backup=str(backup), target=location, engine=engine, files_checked=len(manifest["files"]),
                         heads=heads, verify_intact=checked["ok"], tables=tables,
                         seconds=round(time.perf_counter() - started, 2))
