"""The numbered migrations make the same record schema on both engines (issue 24): every DuckDB migration has a
PostgreSQL file of the same name, and the tables, columns (order, types, nullability, defaults), primary keys,
UNIQUEs, foreign keys and CHECKs that come out match, except the telemetry tables, which live in the lake with
PostgreSQL. Each side is read from its own catalogue (DuckDB: information_schema and duckdb_constraints();
PostgreSQL: information_schema and pg_catalog), so neither is compared with itself."""

from __future__ import annotations

import ast
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
import pytest

from governance.record import clock
from governance.record.postgres_store import POSTGRES_MIGRATIONS_DIR, PostgresStore
from governance.record.store import MIGRATIONS_DIR, GovernanceStore, load_migrations

GOVERNANCE_DIR = Path(__file__).resolve().parents[3] / "governance"
# With PostgreSQL, telemetry lives in a Parquet lake read by DuckDB: these tables exist only in a DuckDB workspace.
TELEMETRY_TABLES = {"telemetry", "telemetry_input", "telemetry_hourly"}
# The PostgreSQL type that stands for each DuckDB type, as information_schema.columns spells it. PostgreSQL has no
# one-byte integer, so TINYINT becomes SMALLINT; every other type keeps its meaning and range.
POSTGRES_TYPE_OF = {
    "VARCHAR": "character varying", "TIMESTAMP": "timestamp without time zone", "DOUBLE": "double precision",
    "BLOB": "bytea", "JSON": "json", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer",
    "BIGINT": "bigint", "BOOLEAN": "boolean",
}
# PostgreSQL spells DuckDB's isfinite(x) on a DOUBLE as x <> 'Infinity' AND x <> '-Infinity' AND x <> 'NaN':
# those literals are the spelling of one function, not values a column is restricted to.
NON_FINITE_LITERALS = {"Infinity", "-Infinity", "NaN"}
ROWID = "rowid"   # PostgreSQL's stand-in for DuckDB's implicit rowid (an identity column, last)
_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_FROM_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)")   # the SQL keywords as the code writes them
_ROWID_WORD = re.compile(r"ORDER\s+BY\b[^;]*?\browid\b", re.IGNORECASE | re.DOTALL)   # ordered by it, not merely named


@dataclass(frozen=True)
class Column:
    name: str
    type: str             # PostgreSQL's spelling (DuckDB's mapped through POSTGRES_TYPE_OF)
    nullable: bool
    default: str | None   # lower case, without PostgreSQL's ::type casts


@dataclass(frozen=True, order=True)
class Check:
    columns: tuple[str, ...]    # the columns it mentions, sorted
    literals: tuple[str, ...]   # the string constants it names (allowed values), sorted


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    uniques: frozenset[tuple[str, ...]]
    foreign_keys: frozenset[tuple[tuple[str, ...], str, tuple[str, ...]]]   # (columns, table, its columns)
    checks: tuple[Check, ...]   # sorted: compared as a multiset, so their number counts too


# --- reading each engine's catalogue ---------------------------------------------------------------------------
def _default(text: str | None) -> str | None:
    if text is None:
        return None
    return re.sub(r"::[a-z ]+", "", text).strip().lower()


def _check(text: str, columns: set[str]) -> Check:
    literals = {value.replace("''", "'") for value in _LITERAL.findall(text)} - NON_FINITE_LITERALS
    return Check(tuple(sorted(columns)), tuple(sorted(literals)))


def duckdb_schema(path: Path) -> dict[str, TableSchema]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns: dict[str, list[Column]] = {}
        for table, name, data_type, nullable, default in con.execute("""
                SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
                WHERE table_schema = 'main' ORDER BY table_name, ordinal_position""").fetchall():
            assert data_type in POSTGRES_TYPE_OF, f"{table}.{name}: DuckDB type {data_type} has no PostgreSQL type here"
            columns.setdefault(table, []).append(
                Column(name, POSTGRES_TYPE_OF[data_type], nullable == "YES", _default(default)))
        constraints = con.execute("""
            SELECT table_name, constraint_type, constraint_text, constraint_column_names, referenced_table,
                   referenced_column_names
            FROM duckdb_constraints() WHERE schema_name = 'main' ORDER BY table_name, constraint_index""").fetchall()
    finally:
        con.close()
    tables = {}
    for table, table_columns in columns.items():
        mine = [c for c in constraints if c[0] == table]
        primary = [tuple(c[3]) for c in mine if c[1] == "PRIMARY KEY"]
        tables[table] = TableSchema(
            columns=tuple(table_columns),
            primary_key=primary[0] if primary else (),
            uniques=frozenset(tuple(c[3]) for c in mine if c[1] == "UNIQUE"),
            foreign_keys=frozenset((tuple(c[3]), c[4], tuple(c[5])) for c in mine if c[1] == "FOREIGN KEY"),
            checks=tuple(sorted(_check(c[2], set(c[3])) for c in mine if c[1] == "CHECK")))
    return tables


def postgres_schema(url: str) -> tuple[dict[str, TableSchema], dict[str, dict]]:
    """The tables, and per table the identity columns with where they sit and how they are generated."""
    with psycopg.connect(url) as con:
        rows = con.execute("""
            SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity, identity_generation,
                   ordinal_position
            FROM information_schema.columns WHERE table_schema = 'public'
            ORDER BY table_name, ordinal_position""").fetchall()
        constraints = con.execute("""
            SELECT cl.relname, co.contype, pg_get_constraintdef(co.oid),
                   ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY AS k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum ORDER BY k.n),
                   ref.relname,
                   ARRAY(SELECT a.attname FROM unnest(co.confkey) WITH ORDINALITY AS k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.attnum ORDER BY k.n)
            FROM pg_constraint co
            JOIN pg_class cl ON cl.oid = co.conrelid
            JOIN pg_namespace ns ON ns.oid = cl.relnamespace
            LEFT JOIN pg_class ref ON ref.oid = co.confrelid
            WHERE ns.nspname = 'public' ORDER BY cl.relname, co.conname""").fetchall()
    columns: dict[str, list[Column]] = {}
    identities: dict[str, dict] = {}
    for table, name, data_type, nullable, default, is_identity, generation, position in rows:
        if is_identity == "YES":
            identities.setdefault(table, {})[name] = {"position": position, "type": data_type,
                                                      "generation": generation}
            continue   # compared on its own: DuckDB's rowid is implicit, not a column
        columns.setdefault(table, []).append(Column(name, data_type, nullable == "YES", _default(default)))
    tables = {}
    for table, table_columns in columns.items():
        mine = [c for c in constraints if c[0] == table]
        primary = [tuple(c[3]) for c in mine if c[1] == "p"]
        tables[table] = TableSchema(
            columns=tuple(table_columns),
            primary_key=primary[0] if primary else (),
            uniques=frozenset(tuple(c[3]) for c in mine if c[1] == "u"),
            foreign_keys=frozenset((tuple(c[3]), c[4], tuple(c[5])) for c in mine if c[1] == "f"),
            checks=tuple(sorted(_check(c[2], set(c[3])) for c in mine if c[1] == "c")))
    return tables, identities


def schema_differences(duck: dict[str, TableSchema], postgres: dict[str, TableSchema]) -> list[str]:
    """What differs, one line per table and aspect; empty when the schemas are the same."""
    record = set(duck) - TELEMETRY_TABLES
    found = []
    if set(postgres) != record:
        found.append(f"tables only in DuckDB: {sorted(record - set(postgres))}; "
                     f"only in PostgreSQL: {sorted(set(postgres) - record)}")
    for table in sorted(record & set(postgres)):
        ours, theirs = duck[table], postgres[table]
        if [c.name for c in ours.columns] != [c.name for c in theirs.columns]:
            found.append(f"{table} columns: DuckDB {[c.name for c in ours.columns]}, "
                         f"PostgreSQL {[c.name for c in theirs.columns]}")
        for a, b in zip(ours.columns, theirs.columns):
            if a.name == b.name and a != b:
                found.append(f"{table}.{a.name}: DuckDB {a}, PostgreSQL {b}")
        for aspect in ("primary_key", "uniques", "foreign_keys", "checks"):
            if getattr(ours, aspect) != getattr(theirs, aspect):
                found.append(f"{table} {aspect}: DuckDB {getattr(ours, aspect)}, "
                             f"PostgreSQL {getattr(theirs, aspect)}")
    return found


# --- applying the migrations -------------------------------------------------------------------------------------
def apply_postgres_migrations(url: str, *, lake: Path, directory: Path = POSTGRES_MIGRATIONS_DIR) -> None:
    """Open the database as the application does, which applies the numbered files it has not applied yet."""
    PostgresStore(url, lake=lake, migrations_dir=directory).close()


def _first_migrations(directory: Path, *, into: Path, before: str) -> Path:
    """A copy of the migrations in `directory` that ends just before the file named `before`."""
    into.mkdir()
    for migration in load_migrations(directory):
        if migration.name == before:
            return into
        (into / migration.name).write_text(migration.sql, encoding="utf-8")
    raise AssertionError(f"{before} is not among the migrations in {directory}")


@pytest.fixture(scope="module")
def duckdb_tables(tmp_path_factory) -> dict[str, TableSchema]:
    path = tmp_path_factory.mktemp("schema") / "w.duckdb"
    GovernanceStore(path).close()
    return duckdb_schema(path)


def _edited_copy(tmp_path: Path, file_name: str, old: str, new: str) -> Path:
    copy = tmp_path / "postgresql"
    shutil.copytree(POSTGRES_MIGRATIONS_DIR, copy)
    text = (copy / file_name).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {file_name} for this edit"
    (copy / file_name).write_text(text.replace(old, new), encoding="utf-8")
    return copy


def _tables_ordered_by_rowid() -> set[str]:
    """The tables that record SQL under governance/ orders by DuckDB's implicit rowid: every string constant (or
    f-string part) that names rowid, with the tables it reads FROM or JOINs."""
    found = set()
    for path in GOVERNANCE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ROWID_WORD.search(node.value):
                found |= set(_FROM_TABLE.findall(node.value))
    return found


# --- the tests ---------------------------------------------------------------------------------------------------
def test_every_migration_has_a_postgresql_file_of_the_same_name_and_no_other():
    duck = [m.name for m in load_migrations(MIGRATIONS_DIR)]
    postgres = [m.name for m in load_migrations(POSTGRES_MIGRATIONS_DIR)]   # numbered without gaps, too
    assert postgres == duck
    assert len(duck) >= 21


def test_both_engines_make_the_same_record_schema(duckdb_tables, tmp_path, postgres_url):
    apply_postgres_migrations(postgres_url, lake=tmp_path / "lake")
    postgres_tables, _ = postgres_schema(postgres_url)
    assert schema_differences(duckdb_tables, postgres_tables) == []
    # The comparison saw the whole record: every table but telemetry's, with their keys and checks.
    assert set(postgres_tables) == set(duckdb_tables) - TELEMETRY_TABLES
    assert TELEMETRY_TABLES <= set(duckdb_tables)
    assert {"model", "ledger", "risk_event", "app_user", "api_token", "data_version", "schema_version"} \
        <= set(postgres_tables)
    assert sum(len(t.checks) for t in postgres_tables.values()) >= 15
    assert postgres_tables["ledger"].uniques == {("idempotency_key",), ("prev_hash",), ("entry_hash",)}
    assert postgres_tables["model_artifact"].foreign_keys == {
        (("model", "version"), "model_version", ("model", "version"))}


def test_rowid_stands_in_last_on_exactly_the_tables_record_sql_orders_by_rowid(tmp_path, postgres_url):
    apply_postgres_migrations(postgres_url, lake=tmp_path / "lake")
    postgres_tables, identities = postgres_schema(postgres_url)
    ordered_by_rowid = _tables_ordered_by_rowid()
    assert {"service_level_objective", "drift_threshold", "framework_clause"} <= ordered_by_rowid
    assert set(identities) == ordered_by_rowid - TELEMETRY_TABLES
    for table, columns in identities.items():
        # Last, so a positional INSERT ... VALUES of the DuckDB columns leaves it to fill itself in.
        assert columns == {ROWID: {"position": len(postgres_tables[table].columns) + 1, "type": "bigint",
                                   "generation": "ALWAYS"}}, table


def test_the_seed_rows_come_out_the_same(tmp_path, postgres_url):
    apply_postgres_migrations(postgres_url, lake=tmp_path / "lake")
    with GovernanceStore(tmp_path / "w.duckdb") as store:
        duck = store.query_rows("SELECT concern, version FROM data_version ORDER BY concern")
        duck_versions = store.query_rows("SELECT version, name FROM schema_version ORDER BY version")
    with psycopg.connect(postgres_url) as con:
        postgres = con.execute("SELECT concern, version FROM data_version ORDER BY concern").fetchall()
        postgres_versions = con.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert [tuple(r) for r in duck] == postgres == [("record", 0), ("telemetry", 0), ("workspace", 0)]
    assert [tuple(r) for r in duck_versions] == postgres_versions
    assert len(postgres_versions) == len(load_migrations(POSTGRES_MIGRATIONS_DIR))


def test_the_split_data_version_starts_at_the_old_single_version_on_both_engines(tmp_path, postgres_url):
    """Migration 021 copies the old version into all three concerns (DuckDB's cross join and rename, PostgreSQL's
    spelling of them): a workspace at version 7 before it is at 7 in each concern after it."""
    split = "021_data_version_by_concern.sql"
    duck_old = _first_migrations(MIGRATIONS_DIR, into=tmp_path / "duckdb_old", before=split)
    GovernanceStore(tmp_path / "w.duckdb", migrations_dir=duck_old).close()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))   # the store's writes already bump versions by concern
    con.execute("UPDATE data_version SET version = 7")
    con.close()
    with GovernanceStore(tmp_path / "w.duckdb") as store:
        duck = store.query_rows("SELECT concern, version FROM data_version ORDER BY concern")
    postgres_old = _first_migrations(POSTGRES_MIGRATIONS_DIR, into=tmp_path / "postgresql_old", before=split)
    apply_postgres_migrations(postgres_url, lake=tmp_path / "lake", directory=postgres_old)
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT version FROM data_version").fetchall() == [(0,)]   # one row, before the split
        con.execute("UPDATE data_version SET version = 7")
    apply_postgres_migrations(postgres_url, lake=tmp_path / "lake")
    with psycopg.connect(postgres_url) as con:
        postgres = con.execute("SELECT concern, version FROM data_version ORDER BY concern").fetchall()
    assert [tuple(r) for r in duck] == postgres == [("record", 7), ("telemetry", 7), ("workspace", 7)]


def test_the_drift_threshold_checks_refuse_the_same_values_on_both_engines(tmp_path, postgres_url):
    """DuckDB's isfinite() and PostgreSQL's spelled-out non-finite values refuse the same rows: NaN, +-infinity and
    out-of-range levels, and nothing else."""
    nan, inf = math.nan, math.inf
    candidates = [(0.1, 0.25, 0.01), (nan, 0.25, 0.01), (0.1, nan, 0.01), (0.1, 0.25, nan), (inf, inf, 0.01),
                  (0.1, inf, 0.01), (-inf, 0.25, 0.01), (0.1, 0.25, inf), (0.1, 0.25, -inf), (0.0, 0.25, 0.01),
                  (0.3, 0.25, 0.01), (0.1, 0.25, 1.0), (0.1, 0.25, 0.0), (1e-9, 5.0, 0.999)]
    expected = [all(math.isfinite(x) for x in c) and 0 < c[0] < c[1] and 0 < c[2] < 1 for c in candidates]
    model = ("m", "p", "u", "o", "high", None, clock.now_naive())
    set_at = clock.now_naive()

    def accepted(execute, placeholder: str, error: type[Exception]) -> list[bool]:
        execute(f"INSERT INTO model VALUES ({', '.join([placeholder] * 7)})", model)
        result = []
        for watch, act, alpha in candidates:
            try:
                execute("INSERT INTO drift_threshold (model, psi_watch, psi_act, alpha, set_by, set_at) "
                        f"VALUES ({', '.join([placeholder] * 6)})", ("m", watch, act, alpha, "u", set_at))
                result.append(True)
            except error:
                result.append(False)
        return result

    with GovernanceStore(tmp_path / "w.duckdb") as store:
        con = store._con.cursor()   # autocommit statements: one refused row must not roll back the others
        duck = accepted(con.execute, "?", duckdb.ConstraintException)
        con.close()
    apply_postgres_migrations(postgres_url, lake=tmp_path / "lake")
    with psycopg.connect(postgres_url, autocommit=True) as con:
        postgres = accepted(con.execute, "%s", psycopg.errors.CheckViolation)
    assert duck == postgres == expected
    assert expected.count(True) == 2


# --- the comparison can fail ----------------------------------------------------------------------------------
@pytest.mark.parametrize("file_name, old, new, difference", [
    # a missing column
    ("001_init.sql", "    dataset       VARCHAR,\n", "", "model columns"),
    # a wrong type
    ("007_explanations.sql", "seconds         DOUBLE PRECISION NOT NULL", "seconds         REAL NOT NULL",
     "explanation.seconds"),
    # a missing UNIQUE
    ("010_ledger.sql", "prev_hash        VARCHAR NOT NULL UNIQUE,", "prev_hash        VARCHAR NOT NULL,",
     "ledger uniques"),
    # a lost NOT NULL
    ("017_api_token.sql", "name          VARCHAR NOT NULL,", "name          VARCHAR,", "api_token.name"),
    # a check that allows another value
    ("003_ingest.sql", "IN ('direct', 'inbox')", "IN ('direct', 'inbox', 'ftp')", "ingested_file checks"),
    # a foreign key that is gone
    ("018_fairness_audit_failure.sql", "VARCHAR PRIMARY KEY REFERENCES fairness_audit (audit_id)",
     "VARCHAR PRIMARY KEY", "fairness_audit_failure foreign_keys"),
])
def test_the_comparison_finds_a_schema_that_differs(duckdb_tables, tmp_path, postgres_url, file_name, old, new,
                                                     difference):
    apply_postgres_migrations(postgres_url, lake=tmp_path / "lake",
                              directory=_edited_copy(tmp_path, file_name, old, new))
    found = schema_differences(duckdb_tables, postgres_schema(postgres_url)[0])
    assert len(found) == 1 and found[0].startswith(difference), found

