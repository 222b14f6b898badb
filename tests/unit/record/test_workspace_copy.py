"""migrate, backup and restore on the demo workspace and a real PostgreSQL: what each makes verifies intact, with the
same chain heads, rows and telemetry figures as the original, computed here independently of the module."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest

from governance import errors
from governance.record import hash_chain, lake, ledger, verification, workspace_copy
from governance.record.postgres_store import PostgresStore
from governance.record.store import GovernanceStore

SKIPPED = {"schema_version", "data_version", "telemetry_hourly"}


def _tables(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as connection:
        return [r[0] for r in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1").fetchall()]


def _duck_counts(path: Path) -> dict[str, int]:
    """Every table's rows, read with a plain DuckDB connection (not the store)."""
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = [r[0] for r in connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()]
        return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _pg_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as connection:
        return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _tables(url)}


def _latency_by_model_in_file(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as connection:
        return {m: (n, round(mean, 9)) for m, n, mean in connection.execute(
            "SELECT model, count(*), avg(latency_ms) FROM telemetry GROUP BY model").fetchall()}


def _latency_by_model_in_lake(folder: Path) -> dict:
    files = sorted(str(p) for p in (folder / "telemetry").rglob("*.parquet"))
    with duckdb.connect() as connection:
        return {m: (n, round(mean, 9)) for m, n, mean in connection.execute(
            "SELECT model, count(*), avg(latency_ms) FROM read_parquet(?) GROUP BY model", [files]).fetchall()}


def _anchor_heads(path: Path) -> dict:
    return json.loads(path.read_text())["chains"]


@pytest.fixture
def second_database(postgres_server):
    name = f"t_restore_{uuid.uuid4().hex[:10]}"
    yield postgres_server.create_database(name)
    try:
        postgres_server.drop_database(name)
    except psycopg.Error:
        pass


@pytest.fixture
def migrated(demo_copy, postgres_url, tmp_path):
    """The demo copy moved into PostgreSQL and a lake: (result, source path, url, lake)."""
    folder = tmp_path / "lake"
    with GovernanceStore(demo_copy) as source:
        result = workspace_copy.migrate(source=source, to_url=postgres_url, lake=folder)
    return result, demo_copy, postgres_url, folder


def test_migrate_moves_every_row_and_keeps_the_chains_heads_and_verify_intact(migrated):
    result, source, url, folder = migrated
    expected = {t: n for t, n in _duck_counts(source).items() if t not in SKIPPED | set(lake.TABLES)}
    copied = {t: n for t, n in _pg_counts(url).items() if t not in SKIPPED}
    assert copied == expected
    assert result.tables == expected and result.rows == sum(expected.values()) > 1000
    assert "telemetry" not in _tables(url)   # telemetry is in the lake, not in PostgreSQL
    source_counts = _duck_counts(source)
    assert result.telemetry_rows == {t: source_counts[t] for t in lake.TABLES}
    # The chain heads: the anchor the source wrote equals the heads the copy holds.
    source_heads = _anchor_heads(Path(f"{source}.anchor"))
    assert result.heads_before == result.heads_after == source_heads
    assert source_heads["ledger"]["seq"] > 0 and source_heads["risk register"]["seq"] > 0
    with PostgresStore(url, lake=folder) as target:
        checked = verification.verify(target)
        assert checked["ok"], checked["problems"]
        assert checked["signatures_checked"]
        assert hash_chain._heads(target) == source_heads
        # and it carries on: a new entry follows the copied head, its anchor moves with it, verify stays intact
        ledger.append(target, actor="farid.haddad", kind="note", subject="after the move", payload={"n": 1},
                      idempotency_key="after-migrate")
        heads = hash_chain._heads(target)
        assert heads["ledger"]["seq"] == source_heads["ledger"]["seq"] + 1
        assert _anchor_heads(folder / "quorum.anchor") == heads
        assert verification.verify(target)["ok"]
    assert result.verify_intact


def test_migrated_telemetry_gives_the_same_rows_and_mean_latency_per_model(migrated):
    result, source, url, folder = migrated
    in_file = _latency_by_model_in_file(source)
    assert len(in_file) >= 2
    assert _latency_by_model_in_lake(folder) == in_file
    with PostgresStore(url, lake=folder) as target:   # and through the store's own reading of the lake
        rows = target.analytics.query_rows(
            "SELECT model, count(*), avg(latency_ms) FROM telemetry GROUP BY model", {})
    assert {m: (n, round(mean, 9)) for m, n, mean in rows} == in_file


def test_migrate_into_a_database_that_holds_a_workspace_is_refused_and_writes_nothing(demo_copy, postgres_url,
                                                                                        tmp_path):
    PostgresStore(postgres_url, lake=tmp_path / "other-lake").close()
    before = _pg_counts(postgres_url)
    with GovernanceStore(demo_copy) as source:
        with pytest.raises(errors.WorkspaceNotEmptyError, match="already holds a Quorum workspace"):
            workspace_copy.migrate(source=source, to_url=postgres_url, lake=tmp_path / "lake")
    assert _pg_counts(postgres_url) == before
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))


def test_migrate_into_a_database_with_any_table_or_a_used_lake_is_refused(demo_copy, postgres_url, tmp_path):
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE someone_elses (x INTEGER)")
    with GovernanceStore(demo_copy) as source:
        with pytest.raises(errors.WorkspaceNotEmptyError, match=r"1 table\(s\) \(someone_elses\)"):
            workspace_copy.migrate(source=source, to_url=postgres_url, lake=tmp_path / "lake")
        assert _tables(postgres_url) == ["someone_elses"]
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute("DROP TABLE someone_elses")
        used = tmp_path / "used"
        (used / "telemetry_input").mkdir(parents=True)
        (used / "telemetry_input" / "part-x.parquet").write_bytes(b"PAR1")
        with pytest.raises(errors.WorkspaceNotEmptyError, match="already holds 1 telemetry file"):
            workspace_copy.migrate(source=source, to_url=postgres_url, lake=used)
    assert _tables(postgres_url) == []


def test_a_duckdb_backup_restores_to_a_workspace_identical_in_rows_heads_and_verify(demo_copy, tmp_path):
    with GovernanceStore(demo_copy) as store:
        made = workspace_copy.backup(store=store, out=tmp_path / "backup")
        heads = hash_chain._heads(store)
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["engine"] == "duckdb" and manifest["heads"] == heads == made.heads
    assert set(manifest["files"]) == {"workspace.duckdb", "anchor.json"}
    assert not any("key" in name for name in manifest["files"])
    restored = workspace_copy.restore(backup=tmp_path / "backup", to=tmp_path / "restored.duckdb")
    assert restored.verify_intact and restored.heads == heads
    assert _duck_counts(tmp_path / "restored.duckdb") == _duck_counts(demo_copy)
    with GovernanceStore(tmp_path / "restored.duckdb") as again:
        assert verification.verify(again)["ok"]


def test_a_postgresql_backup_restores_into_an_empty_database_and_lake(migrated, second_database, tmp_path):
    result, source, url, folder = migrated
    with PostgresStore(url, lake=folder) as store:
        made = workspace_copy.backup(store=store, out=tmp_path / "pg-backup")
    assert made.engine == "postgresql" and made.heads == result.heads_after
    assert "record.dump" in made.files and any(name.startswith("lake/telemetry/date=") for name in made.files)
    restored = workspace_copy.restore(backup=tmp_path / "pg-backup", to=second_database, lake=tmp_path / "lake2")
    assert restored.verify_intact and restored.heads == result.heads_after
    assert _pg_counts(second_database) == _pg_counts(url)
    assert _latency_by_model_in_lake(tmp_path / "lake2") == _latency_by_model_in_file(source)
    # into a database that now holds a workspace: refused
    with pytest.raises(errors.WorkspaceNotEmptyError):
        workspace_copy.restore(backup=tmp_path / "pg-backup", to=second_database, lake=tmp_path / "lake3")
    with pytest.raises(errors.InvalidInputError, match="restore it to an empty PostgreSQL database"):
        workspace_copy.restore(backup=tmp_path / "pg-backup", to=tmp_path / "x.duckdb")


def test_a_changed_missing_or_extra_backup_file_is_refused_and_nothing_is_restored(demo_copy, tmp_path):
    with GovernanceStore(demo_copy) as store:
        workspace_copy.backup(store=store, out=tmp_path / "backup")
        with pytest.raises(errors.InvalidInputError, match="exists and is not empty"):
            workspace_copy.backup(store=store, out=tmp_path / "backup")
    anchor = tmp_path / "backup" / "anchor.json"
    original = anchor.read_bytes()
    anchor.write_bytes(original.replace(b'"seq": ', b'"seq":  ', 1))
    target = tmp_path / "restored.duckdb"
    with pytest.raises(errors.InvalidInputError, match=re.escape("anchor.json") + ".*does not match the SHA-256"):
        workspace_copy.restore(backup=tmp_path / "backup", to=target)
    assert not target.exists()
    anchor.unlink()
    with pytest.raises(errors.InvalidInputError, match="anchor.json is missing"):
        workspace_copy.restore(backup=tmp_path / "backup", to=target)
    anchor.write_bytes(original)
    (tmp_path / "backup" / "notes.txt").write_text("x")
    with pytest.raises(errors.InvalidInputError, match="notes.txt, which its manifest does not list"):
        workspace_copy.restore(backup=tmp_path / "backup", to=target)
    assert not target.exists()
    (tmp_path / "backup" / "notes.txt").unlink()
    with pytest.raises(errors.InvalidInputError, match="restore it to a new DuckDB file"):
        workspace_copy.restore(backup=tmp_path / "backup", to="postgresql://nobody@127.0.0.1:1/x")
    target.write_bytes(b"")
    with pytest.raises(errors.InvalidInputError, match="already exists"):
        workspace_copy.restore(backup=tmp_path / "backup", to=target)


def test_a_source_that_does_not_verify_is_refused_before_anything_is_written(demo_copy, postgres_url, tmp_path):
    Path(f"{demo_copy}.anchor").unlink()
    with GovernanceStore(demo_copy) as source:
        with pytest.raises(errors.InvalidInputError, match="does not verify .*anchor file .* is missing"):
            workspace_copy.migrate(source=source, to_url=postgres_url, lake=tmp_path / "lake")
    assert _tables(postgres_url) == []


def test_rows_postgresql_refuses_leave_the_database_and_lake_empty(demo_copy, postgres_url, tmp_path):
    with GovernanceStore(demo_copy) as source:   # PostgreSQL's text cannot hold a NUL character; DuckDB's can
        with source.write() as tx:
            tx.execute("UPDATE model SET intended_use = 'before' || chr(0) || 'after' WHERE name = "
                       "(SELECT min(name) FROM model)")
        assert verification.verify(source)["ok"]
        with pytest.raises(errors.InvalidInputError, match="PostgreSQL refused the rows of model .*nothing was left"):
            workspace_copy.migrate(source=source, to_url=postgres_url, lake=tmp_path / "lake")
    assert _tables(postgres_url) == []
    assert not list((tmp_path / "lake").rglob("*.parquet")) and not list((tmp_path / "lake").glob("*.anchor"))


def test_the_password_goes_to_pg_dump_through_the_environment_never_the_command_line():
    url, password = workspace_copy._without_password(
        "postgresql://quorum:s%40cr3t@db.example:5433/quorum?sslmode=require")
    assert url == "postgresql://quorum@db.example:5433/quorum?sslmode=require" and "cr3t" not in url
    assert password == "s@cr3t"
    assert workspace_copy._without_password("postgresql://quorum@db/q") == ("postgresql://quorum@db/q", None)
