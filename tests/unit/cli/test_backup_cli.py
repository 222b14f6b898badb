"""`python -m governance migrate|backup|restore`: their JSON, their printouts and their errors (one line, exit 2)."""

from __future__ import annotations

import json

import duckdb
import psycopg

from governance.record.workspace_copy import OUT_NOT_EMPTY


def _counts(path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = [r[0] for r in connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()]
        return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_backup_then_restore_a_duckdb_workspace(demo_copy, tmp_path, cli):
    made = cli("--db", demo_copy, "backup", "--out", tmp_path / "b", "--json")
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert result["engine"] == "duckdb" and set(result["files"]) == {"workspace.duckdb", "anchor.json"}
    again = cli("--db", demo_copy, "backup", "--out", tmp_path / "b")
    assert again.returncode == 2 and again.stderr.strip() == f"error: {OUT_NOT_EMPTY.format(out=tmp_path / 'b')}"
    restored = cli("restore", "--from", tmp_path / "b", "--to", tmp_path / "r.duckdb")
    assert restored.returncode == 0, restored.stderr
    assert "verify: intact" in restored.stdout and "2 files matched the manifest" in restored.stdout
    assert _counts(tmp_path / "r.duckdb") == _counts(demo_copy)
    verified = cli("--db", tmp_path / "r.duckdb", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["head_hash"] == result["heads"]["ledger"]["hash"]


def test_restore_of_a_tampered_or_missing_backup_says_what_is_wrong(demo_copy, tmp_path, cli):
    assert cli("--db", demo_copy, "backup", "--out", tmp_path / "b").returncode == 0
    with open(tmp_path / "b" / "workspace.duckdb", "r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    refused = cli("restore", "--from", tmp_path / "b", "--to", tmp_path / "r.duckdb", "--json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "workspace.duckdb" in refused.stderr and "does not match the SHA-256" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "r.duckdb").exists()
    missing = cli("restore", "--from", tmp_path / "nowhere", "--to", tmp_path / "r.duckdb")
    assert missing.returncode == 2 and "is not a Quorum backup folder" in missing.stderr


def test_migrate_prints_rows_and_heads_and_refuses_a_used_database(demo_copy, postgres_url, tmp_path, cli):
    moved = cli("--db", demo_copy, "migrate", "--to", postgres_url, "--lake", tmp_path / "lake", "--json")
    assert moved.returncode == 0, moved.stderr
    result = json.loads(moved.stdout)
    assert result["verify_intact"] and result["heads_before"] == result["heads_after"]
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        versions = connection.execute("SELECT count(*) FROM model_version").fetchone()[0]
    assert versions == result["tables"]["model_version"] == _counts(demo_copy)["model_version"]
    assert result["telemetry_rows"]["telemetry"] == _counts(demo_copy)["telemetry"]
    again = cli("--db", demo_copy, "migrate", "--to", postgres_url, "--lake", tmp_path / "lake2")
    assert again.returncode == 2 and "already holds a Quorum workspace" in again.stderr
    no_lake = cli("--db", demo_copy, "migrate", "--to", postgres_url, env={"QUORUM_LAKE": ""})
    assert no_lake.returncode == 2 and "QUORUM_LAKE" in no_lake.stderr
    not_url = cli("--db", demo_copy, "migrate", "--to", tmp_path / "x.duckdb", "--lake", tmp_path / "lake3")
    assert not_url.returncode == 2 and "takes a PostgreSQL URL" in not_url.stderr
    # the PostgreSQL workspace backs up through pg_dump, and its printout names the key to keep apart
    shown = cli("--db", postgres_url, "--lake", tmp_path / "lake", "backup", "--out", tmp_path / "pg")
    assert shown.returncode == 0, shown.stderr
    assert "backup of the postgresql workspace" in shown.stdout and "ledger key is not in it" in shown.stdout
    assert (tmp_path / "pg" / "record.dump").stat().st_size > 0


def test_the_commands_refuse_to_run_through_a_server(tmp_path, cli):
    for words in (["migrate", "--to", "postgresql://x@h/db"], ["backup", "--out", str(tmp_path / "b")],
                  ["restore", "--from", str(tmp_path), "--to", str(tmp_path / "r.duckdb")]):
        refused = cli("--server", "http://127.0.0.1:9", *words)
        assert refused.returncode == 2 and "without --server" in refused.stderr


def test_a_backup_or_restore_where_nothing_can_be_written_says_so_and_leaves_nothing(demo_copy, tmp_path, cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    refused = cli("--db", demo_copy, "backup", "--out", blocker / "b")
    assert refused.returncode == 2 and refused.stderr.startswith(f"error: cannot write {blocker / 'b'}")
    assert cli("--db", demo_copy, "backup", "--out", tmp_path / "b").returncode == 0
    refused = cli("restore", "--from", tmp_path / "b", "--to", blocker / "r.duckdb")
    assert refused.returncode == 2 and "cannot write" in refused.stderr and "Traceback" not in refused.stderr
    assert blocker.read_text() == "x"
