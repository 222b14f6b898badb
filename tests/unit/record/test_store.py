"""GovernanceStore: migrations, concurrency, and refusing files it must not touch."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from governance import errors
from governance.record.store import MIGRATIONS_DIR, GovernanceStore, load_migrations

ROOT = Path(__file__).resolve().parents[3]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fresh_workspace_gets_every_migration_once(tmp_path):
    path = tmp_path / "ws.duckdb"
    with GovernanceStore(path) as store:
        assert store.schema_version() == len(load_migrations())
        first = store.query("SELECT version, name FROM schema_version ORDER BY version")
    with GovernanceStore(path) as store:  # reopening applies nothing again
        again = store.query("SELECT version, name FROM schema_version ORDER BY version")
    assert first.equals(again)
    assert list(first["name"])[0] == "001_init.sql"


def test_older_workspace_is_migrated_and_keeps_its_data(tmp_path):
    # The store writes with the schema it ships with (its data versions), so the older workspace is the current
    # schema and the newer one has one migration more.
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    shutil.copytree(MIGRATIONS_DIR, old_dir)
    shutil.copytree(MIGRATIONS_DIR, new_dir)
    current = len(load_migrations())
    (new_dir / f"{current + 1:03d}_add_note.sql").write_text("CREATE TABLE note (body VARCHAR NOT NULL);")
    path = tmp_path / "ws.duckdb"
    with GovernanceStore(path, migrations_dir=old_dir) as store:
        with store.write() as tx:
            tx.execute("INSERT INTO workspace_meta VALUES ('kept', 'yes')")
    with GovernanceStore(path, migrations_dir=new_dir) as store:
        assert store.schema_version() == current + 1
        assert store.query_value("SELECT value FROM workspace_meta WHERE key = 'kept'") == "yes"
        assert store.query_value("SELECT count(*) FROM note") == 0


def test_newer_workspace_is_refused_untouched(tmp_path):
    newer_dir = tmp_path / "newer"
    newer_dir.mkdir()
    shutil.copy(MIGRATIONS_DIR / "001_init.sql", newer_dir)
    for n in range(2, len(load_migrations()) + 2):
        (newer_dir / f"{n:03d}_future.sql").write_text(f"CREATE TABLE future_{n} (x INTEGER);")
    path = tmp_path / "ws.duckdb"
    GovernanceStore(path, migrations_dir=newer_dir).close()
    before = _sha256(path)
    with pytest.raises(errors.WorkspaceTooNewError, match="upgrade Quorum"):
        GovernanceStore(path)
    assert _sha256(path) == before


def test_failed_migration_leaves_the_workspace_at_its_old_version(tmp_path):
    bad_dir = tmp_path / "bad"
    shutil.copytree(MIGRATIONS_DIR, bad_dir)
    current = len(load_migrations())
    (bad_dir / f"{current + 1:03d}_broken.sql").write_text("CREATE TABLE half (x INTEGER); SELEC nonsense;")
    path = tmp_path / "ws.duckdb"
    GovernanceStore(path).close()
    with pytest.raises(Exception, match="syntax error"):
        GovernanceStore(path, migrations_dir=bad_dir)
    with GovernanceStore(path) as store:
        assert store.schema_version() == current
        assert "half" not in store.table_row_counts()


def test_migration_files_must_be_numbered_without_gaps(tmp_path):
    shutil.copy(MIGRATIONS_DIR / "001_init.sql", tmp_path)
    (tmp_path / "003_skip.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="without gaps"):
        load_migrations(tmp_path)


def test_twenty_threads_read_and_write_without_losing_a_row(tmp_path):
    store = GovernanceStore(tmp_path / "ws.duckdb")
    per_thread = 25
    failures: list[BaseException] = []
    start = threading.Barrier(20)

    def work(thread_no: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with store.write() as tx:
                    tx.execute("INSERT INTO workspace_meta VALUES (?, ?)", [f"t{thread_no}-{i}", str(i)])
                store.query_value("SELECT count(*) FROM workspace_meta")  # reads interleave with writes
        except BaseException as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert store.query_value("SELECT count(*) FROM workspace_meta") == 20 * per_thread
    assert store.data_version() == 20 * per_thread
    store.close()


def test_a_failed_write_commits_nothing_and_keeps_the_data_version(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as store:
        with pytest.raises(RuntimeError):
            with store.write() as tx:
                tx.execute("INSERT INTO workspace_meta VALUES ('half', 'written')")
                raise RuntimeError("crash in the middle of a write")
        assert store.query_value("SELECT count(*) FROM workspace_meta") == 0
        assert store.data_version() == 0


def _committed_meta(store) -> list[str]:
    """What another thread sees: only committed rows."""
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(
        r[0] for r in store.query_rows("SELECT key FROM workspace_meta ORDER BY key")))
    reader.start()
    reader.join()
    return seen


def test_a_write_inside_a_write_joins_it_as_one_unit_of_work(tmp_path):
    ran = []
    with GovernanceStore(tmp_path / "ws.duckdb") as store:
        with store.write() as outer:
            outer.execute("INSERT INTO workspace_meta VALUES ('a', 'by the entry point')")
            with store.write() as inner:   # what a service called by the entry point opens
                assert inner is outer
                inner.execute("INSERT INTO workspace_meta VALUES ('b', 'by a service')")
                inner.after_commit("probe", lambda: ran.append(_committed_meta(store)))
            assert _committed_meta(store) == [] and ran == []   # the service's write waits for the unit
        assert ran == [["a", "b"]]   # the hook ran once, after the one commit
        assert _committed_meta(store) == ["a", "b"] and store.data_version() == 1


def test_a_failed_inner_write_undoes_the_whole_unit_even_if_its_error_is_caught(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as store:
        with pytest.raises(errors.GovernanceError, match="none of it was committed"):
            with store.write() as outer:
                outer.execute("INSERT INTO workspace_meta VALUES ('a', 'by the entry point')")
                try:
                    with store.write() as inner:
                        inner.execute("INSERT INTO workspace_meta VALUES ('b', 'half of a service write')")
                        raise ValueError("the service's own check fails")
                except ValueError:
                    pass   # a caller that carries on must not commit the half-written part
        assert store.query_value("SELECT count(*) FROM workspace_meta") == 0 and store.data_version() == 0
        with store.write() as tx:   # and the next unit of work starts clean
            tx.execute("INSERT INTO workspace_meta VALUES ('c', 'later')")
        assert _committed_meta(store) == ["c"]


def test_values_are_bound_not_formatted(tmp_path):
    hostile = "x'); DROP TABLE model; --"
    with GovernanceStore(tmp_path / "ws.duckdb") as store:
        with store.write() as tx:
            tx.execute("INSERT INTO workspace_meta VALUES (?, ?)", [hostile, hostile])
        assert store.query_value("SELECT value FROM workspace_meta WHERE key = ?", [hostile]) == hostile
        assert "model" in store.table_row_counts()
        with pytest.raises(ValueError):
            with store.write() as tx:
                tx.insert_frame("model; DROP TABLE model", store.query("SELECT 1 AS x"))


def test_second_process_gets_a_clear_refusal(tmp_path):
    path = tmp_path / "ws.duckdb"
    GovernanceStore(path).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from governance.record.store import GovernanceStore
        store = GovernanceStore({str(path)!r})
        print("holding", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(errors.WorkspaceLockedError) as raised:
            GovernanceStore(path)
        assert "open in another process" in str(raised.value) and "a copy" not in str(raised.value)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("content", [b"", b"not a database at all\n" * 100, bytes(range(256)) * 64],
                         ids=["empty", "text", "binary"])
def test_a_file_that_is_not_a_workspace_is_refused_untouched(tmp_path, content):
    path = tmp_path / "ws.duckdb"
    path.write_bytes(content)
    with pytest.raises(errors.WorkspaceCorruptError, match="left untouched"):
        GovernanceStore(path)
    assert path.read_bytes() == content


@pytest.mark.parametrize("damage_from", [12288, "middle"], ids=["catalog", "data-block"])
def test_a_damaged_workspace_is_refused_untouched(demo_copy, damage_from):
    data = bytearray(demo_copy.read_bytes())
    start = len(data) // 3 if damage_from == "middle" else damage_from  # 12288: just past DuckDB's headers
    data[start:] = b"\xab" * (len(data) - start)
    demo_copy.write_bytes(bytes(data))
    before = _sha256(demo_copy)
    with pytest.raises(errors.WorkspaceCorruptError, match="left untouched"):
        with GovernanceStore(demo_copy) as store:  # damage past the catalog only shows when a block is read
            for table in ("telemetry", "evaluation_row", "model_artifact", "telemetry_input"):
                store.query(f"SELECT * FROM {table}")
    assert _sha256(demo_copy) == before


def test_unwritable_paths_get_a_clear_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(errors.WorkspaceUnwritableError, match="is a file, not a folder"):
        GovernanceStore(blocker / "ws.duckdb")
    with pytest.raises(errors.WorkspaceUnwritableError, match="directory"):
        GovernanceStore(tmp_path)
