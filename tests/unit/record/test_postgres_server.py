"""The local PostgreSQL server (governance/record/postgres_server.py): Debian's real programs, started, used and
stopped; each bad input gets its own clear error."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from governance.record import postgres_server
from governance.record.postgres_server import PostgresServerError


@pytest.fixture
def data_dir():
    """A new folder for a server's data. Not under pytest's tmp_path: run as root, the server runs as quorum-pg,
    which may not enter pytest's private /tmp/pytest-of-root (0700)."""
    parent = Path(tempfile.mkdtemp(prefix="qpg-"))
    parent.chmod(0o755)
    yield parent / "data"
    postgres_server.stop(data_dir=parent / "data")
    shutil.rmtree(parent, ignore_errors=True)


def _port_is_free(port: int) -> bool:
    """Whether a new server could listen on the port. SO_REUSEADDR, as PostgreSQL sets it: the connections the
    stopped server closed linger in TIME_WAIT, which does not keep a new server off the port; a listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_server_serves_two_separate_databases_and_frees_its_port_when_stopped(data_dir):
    server = postgres_server.start(data_dir=data_dir, fast=True)
    assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    assert not _port_is_free(server.port)
    urls = {name: server.create_database(name) for name in ("first", "second")}
    assert urls["first"] == f"postgresql://postgres@127.0.0.1:{server.port}/first"
    for rows, url in zip((3, 5), urls.values()):
        with psycopg.connect(url) as connection:
            connection.execute("CREATE TABLE item (n integer)")
            connection.execute("INSERT INTO item SELECT generate_series(1, %s)", (rows,))
    for expected, url in zip((6, 15), urls.values()):   # 1+2+3 and 1+…+5: each database holds only its own rows
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT sum(n) FROM item").fetchone()[0] == expected
    with psycopg.connect(server.url) as connection:
        assert connection.execute("SHOW fsync").fetchone()[0] == "off"
        assert connection.execute("SHOW server_encoding").fetchone()[0] == "UTF8"
    assert (data_dir / f".s.PGSQL.{server.port}").is_socket()   # its socket lives in its own folder

    server.stop()
    assert _port_is_free(server.port)
    assert postgres_server.running(data_dir=data_dir) is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(urls["first"], connect_timeout=5)
    assert postgres_server.stop(data_dir=data_dir) is False   # stopping a stopped server is not an error


def test_an_operators_server_keeps_its_data_across_a_restart_and_stays_durable(data_dir):
    with postgres_server.start(data_dir=data_dir) as server:
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SHOW fsync").fetchone()[0] == "on"   # fast settings only when asked
            assert connection.execute("SHOW synchronous_commit").fetchone()[0] == "on"
            connection.execute("CREATE TABLE kept (word text)")
            connection.execute("INSERT INTO kept VALUES ('still here')")
        assert postgres_server.start(data_dir=data_dir) == server   # already running: the same server
        with pytest.raises(PostgresServerError) as other_port:
            postgres_server.start(data_dir=data_dir, port=server.port + 1)
        assert str(other_port.value) == postgres_server.OTHER_PORT.format(path=data_dir, running=server.port,
                                                                           port=server.port + 1)
    assert postgres_server.running(data_dir=data_dir) is None
    with postgres_server.start(data_dir=data_dir) as again:
        with psycopg.connect(again.url) as connection:
            assert connection.execute("SELECT word FROM kept").fetchall() == [("still here",)]


def test_only_this_machine_may_connect(data_dir):
    with postgres_server.start(data_dir=data_dir, fast=True) as server:
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
            rules = connection.execute("SELECT type, address FROM pg_hba_file_rules ORDER BY line_number").fetchall()
    assert rules == [("local", None), ("host", "127.0.0.1")]


def test_a_data_dir_that_is_a_file_gives_the_clear_error(tmp_path):
    a_file = tmp_path / "quorum.duckdb"
    a_file.write_bytes(b"not a folder")
    with pytest.raises(PostgresServerError) as error:
        postgres_server.start(data_dir=a_file)
    assert str(error.value) == postgres_server.DATA_DIR_NOT_A_FOLDER.format(path=a_file)
    assert a_file.read_bytes() == b"not a folder"


def test_a_folder_of_other_files_is_left_alone(data_dir):
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    with pytest.raises(PostgresServerError) as error:
        postgres_server.start(data_dir=data_dir)
    assert str(error.value) == postgres_server.DATA_DIR_NOT_EMPTY.format(path=data_dir)
    assert [path.name for path in data_dir.iterdir()] == ["notes.txt"]


def test_a_data_dir_too_long_for_a_socket_is_refused_before_anything_is_written(tmp_path):
    deep = tmp_path / ("d" * 100)
    with pytest.raises(PostgresServerError) as error:
        postgres_server.start(data_dir=deep)
    length = len(str(deep)) + len("/.s.PGSQL.65535")
    assert str(error.value) == postgres_server.SOCKET_PATH_TOO_LONG.format(path=deep, length=length, limit=107)
    assert not deep.exists()


def test_a_taken_port_fails_with_the_servers_own_words(data_dir):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PostgresServerError) as error:
            postgres_server.start(data_dir=data_dir, port=port, fast=True)
    message = str(error.value)
    assert message.startswith(f"PostgreSQL did not start in {data_dir} (")
    assert f"the last lines of {data_dir / 'server.log'}:" in message
    assert "could not bind IPv4 address \"127.0.0.1\": Address already in use" in message
    assert postgres_server.running(data_dir=data_dir) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as quorum-pg only when we are root")
def test_as_root_a_folder_the_server_user_cannot_enter_is_named(data_dir):
    private = data_dir.parent / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(PostgresServerError) as error:
        postgres_server.start(data_dir=private / "data")
    assert str(error.value) == postgres_server.FOLDER_UNREACHABLE.format(user="quorum-pg", folder=private)
    # As root, the cluster belongs to the server's user.
    with postgres_server.start(data_dir=data_dir, fast=True) as server:
        assert data_dir.owner() == server.os_user == "quorum-pg"
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_a_bad_database_name_is_refused(data_dir):
    with postgres_server.start(data_dir=data_dir, fast=True) as server:
        for name in ("Quorum", "x; DROP DATABASE postgres", "1st", "a" * 64, ""):
            with pytest.raises(PostgresServerError) as error:
                server.create_database(name)
            assert str(error.value) == postgres_server.BAD_DATABASE_NAME.format(name=name)
        server.create_database("twice")
        with pytest.raises(psycopg.errors.DuplicateDatabase):
            server.create_database("twice")
        assert server.create_database("twice", exist_ok=True).endswith(":%d/twice" % server.port)
        server.drop_database("twice")
        server.drop_database("twice")   # dropping a database that is gone is not an error
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT count(*) FROM pg_database WHERE datname = 'twice'").fetchone()[0] == 0


def _fake_bin(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for program in ("initdb", "pg_ctl", "postgres"):
        (folder / program).write_text("#!/bin/sh\n")
        (folder / program).chmod(0o755)
    return folder


def test_the_newest_major_version_is_found_by_number_and_quorum_pg_bin_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("QUORUM_PG_BIN", raising=False)
    for major in ("9.6", "10", "15"):
        _fake_bin(tmp_path / major / "bin")
    (tmp_path / "16" / "bin").mkdir(parents=True)   # a client-only install: no server programs
    monkeypatch.setattr(postgres_server, "DEBIAN_BIN_GLOB", f"{tmp_path}/*/bin")
    assert postgres_server.find_binaries() == tmp_path / "15" / "bin"
    monkeypatch.setenv("QUORUM_PG_BIN", str(tmp_path / "10" / "bin"))
    assert postgres_server.find_binaries() == tmp_path / "10" / "bin"
    monkeypatch.setenv("QUORUM_PG_BIN", str(tmp_path / "16" / "bin"))
    with pytest.raises(PostgresServerError) as error:
        postgres_server.find_binaries()
    assert str(error.value) == postgres_server.BAD_PG_BIN.format(path=tmp_path / "16" / "bin")


def test_no_postgresql_installed_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.delenv("QUORUM_PG_BIN", raising=False)
    monkeypatch.setattr(postgres_server, "DEBIAN_BIN_GLOB", f"{tmp_path}/*/bin")
    with pytest.raises(PostgresServerError) as error:
        postgres_server.start(data_dir=tmp_path / "data")
    assert str(error.value) == postgres_server.NO_BINARIES
    assert "apt-get install postgresql" in postgres_server.NO_BINARIES


def test_the_command_line_starts_a_server_with_a_workspace_database_and_stops_it(data_dir, capsys):
    assert postgres_server.main(["start", "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    url = next(line.split("QUORUM_DB=")[1] for line in printed.splitlines() if "QUORUM_DB=" in line)
    server = postgres_server.running(data_dir=data_dir)
    assert url == f"postgresql://postgres@127.0.0.1:{server.port}/quorum"
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT current_database()").fetchone()[0] == "quorum"
    assert postgres_server.main(["start", "--data-dir", str(data_dir)]) == 0   # again: the same server and URL
    assert f"QUORUM_DB={url}" in capsys.readouterr().out
    assert postgres_server.main(["stop", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out == f"stopped the server in {data_dir}\n"
    assert _port_is_free(server.port)

    a_file = data_dir.parent / "a-file"
    a_file.write_text("x")
    assert postgres_server.main(["start", "--data-dir", str(a_file)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {postgres_server.DATA_DIR_NOT_A_FOLDER.format(path=a_file)}\n"
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("run", [1, 2])
def test_the_fixtures_give_each_test_a_new_empty_database_on_the_workers_server(postgres_server, postgres_url, run):
    name = postgres_url.rsplit("/", 1)[1]
    assert postgres_url == postgres_server.database_url(name)
    assert name.startswith("t_test_the_fixtures_give_each_test_a_new")
    with psycopg.connect(postgres_url) as connection:
        # Both runs create the same table: the second would fail if it got the first run's database.
        assert connection.execute("SELECT count(*) FROM information_schema.tables "
                                  "WHERE table_schema = 'public'").fetchone()[0] == 0
        connection.execute("CREATE TABLE per_test (run integer)")
        assert connection.execute("SHOW fsync").fetchone()[0] == "off"
    with psycopg.connect(postgres_server.url) as connection:
        databases = [row[0] for row in connection.execute("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")]
    assert name in databases
