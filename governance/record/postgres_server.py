"""A local PostgreSQL server from Debian's packages, started and stopped by Quorum's own code.

The tests and the benchmarks start one per run (one per pytest-xdist worker), and operators start one with
`make postgres` to try a shared deployment by hand:

    python -m governance.record.postgres_server start --data-dir data/postgres [--port N] [--database quorum]
    python -m governance.record.postgres_server stop --data-dir data/postgres

It is a server for one machine, not a production set-up: it trusts every connection on its own socket and on
127.0.0.1 (no password), and nothing else may connect. A production deployment runs its own PostgreSQL.

PostgreSQL refuses to run as root. Run as root (CI, containers), the server runs as the system user `quorum-pg`,
created on first use, which owns the data folder.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from governance.errors import GovernanceError

PG_BIN_ENV = "QUORUM_PG_BIN"
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PROGRAMS = ("initdb", "pg_ctl", "postgres")
SERVER_USER = "quorum-pg"
# The database role initdb creates: one fixed name, whoever runs the server, so URLs do not depend on the login.
SUPERUSER = "postgres"
LOG_NAME = "server.log"
# A unix socket path holds at most 107 bytes (sun_path is 108 with its NUL); the socket is
# <data_dir>/.s.PGSQL.<port>, whose tail is at most 15 bytes.
SOCKET_PATH_MAX = 107
SOCKET_TAIL = len("/.s.PGSQL.65535")
START_TIMEOUT_S = 60
PORT_ATTEMPTS = 3
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Settings that trade durability for speed: a crash may lose or corrupt the data. Only for throwaway servers
# (tests, benchmarks), never for an operator's.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")

NO_BINARIES = ("no PostgreSQL server programs (initdb, pg_ctl, postgres) found in /usr/lib/postgresql/*/bin: "
               "install Debian's package with `apt-get install postgresql`, or point QUORUM_PG_BIN at the folder "
               "that holds them")
BAD_PG_BIN = ("QUORUM_PG_BIN={path} does not hold initdb, pg_ctl and postgres: point it at PostgreSQL's bin "
              "folder (e.g. /usr/lib/postgresql/15/bin), or unset it")
DATA_DIR_NOT_A_FOLDER = "{path} is a file, not a folder: choose a new or empty folder for the server's data"
DATA_DIR_NOT_EMPTY = ("{path} holds files but no PostgreSQL data (no PG_VERSION): choose a new or empty folder "
                      "for the server's data")
SOCKET_PATH_TOO_LONG = ("the data folder {path} is too long for the server's unix socket ({length} of at most "
                        "{limit} characters with its name): choose a shorter path")
FOLDER_UNREACHABLE = ("the server runs as the system user {user}, which may not enter {folder}: choose a data "
                      "folder others may enter, or allow it with `chmod o+x {folder}`")
NO_SERVER_USER = ("PostgreSQL refuses to run as root, and the system user {user} could not be created "
                  "({reason}): create it with `useradd --system {user}`, or run as another user")
INITDB_FAILED = "initdb could not create a database cluster in {path}: {output}"
START_FAILED = ("PostgreSQL did not start in {path} ({reason}); the last lines of {log}:\n{tail}\n"
                "fix what the log says, or start over with a new data folder")
OTHER_PORT = ("a server already runs in {path} on port {running}, not {port}: use it, or stop it first with "
              "`python -m governance.record.postgres_server stop --data-dir {path}`")
STOP_FAILED = "the server in {path} did not stop: {output}"
TIMED_OUT = ("{program} did not finish within {seconds} s: the machine may be overloaded; see {path}/server.log, "
             "and try again")
BAD_DATABASE_NAME = ("database name {name!r}: use lower-case letters, digits and underscores, starting with a "
                     "letter or underscore, at most 63 characters")


class PostgresServerError(GovernanceError):
    """The local PostgreSQL server could not be found, started or stopped as asked."""


@dataclass(frozen=True)
class Server:
    """A running local server. `url` is its maintenance database; `create_database` gives a URL per database."""

    data_dir: Path
    port: int
    bin: Path
    os_user: str | None   # the system user it runs as when we are root; None: as ourselves

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    @property
    def log(self) -> Path:
        return self.data_dir / LOG_NAME

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """CREATE DATABASE `name` and return its URL. With exist_ok, an existing one is kept as it is."""
        import psycopg
        from psycopg import sql

        _check_database_name(name)
        with psycopg.connect(self.url, autocommit=True) as connection:
            try:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                if not exist_ok:
                    raise
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name` if it exists, closing any connection a test left open to it (WITH FORCE)."""
        import psycopg
        from psycopg import sql

        _check_database_name(name)
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        stop(data_dir=self.data_dir)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def find_binaries() -> Path:
    """The folder that holds initdb, pg_ctl and postgres: $QUORUM_PG_BIN, else the newest of Debian's
    /usr/lib/postgresql/<major>/bin. pg_dump, pg_restore and psql sit beside them."""
    configured = os.environ.get(PG_BIN_ENV)
    if configured:
        folder = Path(configured)
        if not _holds_programs(folder):
            raise PostgresServerError(BAD_PG_BIN.format(path=folder))
        return folder
    found = [folder for folder in Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/")) if _holds_programs(folder)]
    if not found:
        raise PostgresServerError(NO_BINARIES)
    # By major version as a number: 9.6 < 10 < 15 (names sort 10 < 15 < 9.6).
    return max(found, key=lambda folder: tuple(int(part) for part in re.findall(r"\d+", folder.parent.name)))


def _holds_programs(folder: Path) -> bool:
    return all(os.access(folder / program, os.X_OK) for program in PROGRAMS)


def running(*, data_dir: Path) -> Server | None:
    """The server running in data_dir, or None. Its port comes from postmaster.pid, which the server writes."""
    data_dir = Path(data_dir).absolute()
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.is_file():
        return None
    binaries = find_binaries()
    os_user = _server_user() if os.geteuid() == 0 else None
    status = _run(binaries, os_user, "pg_ctl", "status", "-D", str(data_dir))
    if status.returncode != 0:   # 3: no server runs; the pid file is left over from a crash
        return None
    lines = pid_file.read_text(encoding="utf-8").splitlines()
    return Server(data_dir=data_dir, port=int(lines[3]), bin=binaries, os_user=os_user)


def start(*, data_dir: Path, port: int | None = None, fast: bool = False) -> Server:
    """Start a server with its data in data_dir, creating the cluster (initdb) when the folder is new or empty.

    It listens on 127.0.0.1 at `port` (a free one when None) and on a unix socket inside data_dir, and logs to
    data_dir/server.log. If a server already runs in data_dir, that one is returned. `fast` turns off fsync,
    synchronous commits and full-page writes: for throwaway servers only, since a crash may then lose the data.
    """
    data_dir = Path(data_dir).absolute()
    binaries = find_binaries()
    if data_dir.exists() and not data_dir.is_dir():
        raise PostgresServerError(DATA_DIR_NOT_A_FOLDER.format(path=data_dir))
    socket_length = len(str(data_dir)) + SOCKET_TAIL
    if socket_length > SOCKET_PATH_MAX:
        raise PostgresServerError(SOCKET_PATH_TOO_LONG.format(path=data_dir, length=socket_length,
                                                              limit=SOCKET_PATH_MAX))
    already = running(data_dir=data_dir)
    if already is not None:
        if port is not None and port != already.port:
            raise PostgresServerError(OTHER_PORT.format(path=data_dir, running=already.port, port=port))
        return already
    os_user = _server_user() if os.geteuid() == 0 else None
    if not (data_dir / "PG_VERSION").is_file():
        if data_dir.is_dir() and any(data_dir.iterdir()):
            raise PostgresServerError(DATA_DIR_NOT_EMPTY.format(path=data_dir))
        _initdb(binaries, os_user, data_dir=data_dir, fast=fast)
    options = [f"-c {setting}" for setting in FAST_SETTINGS] if fast else []
    # Binding port 0 finds a free port, but another process may take it before the server binds it: then we try
    # another one (only when the caller did not ask for a port).
    for _ in range(1 if port is not None else PORT_ATTEMPTS):
        chosen = port if port is not None else _free_port()
        log = data_dir / LOG_NAME
        log_size = log.stat().st_size if log.exists() else 0
        started = _run(binaries, os_user, "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(data_dir),
                       "-l", str(log), "-o", " ".join([f"-p {chosen}", *options]))
        if started.returncode == 0:
            return Server(data_dir=data_dir, port=chosen, bin=binaries, os_user=os_user)
        tail = _tail(log, since=log_size)
        if "could not bind" not in tail and "already in use" not in tail:
            break
    raise PostgresServerError(START_FAILED.format(path=data_dir, reason=_output(started) or "pg_ctl failed",
                                                  log=log, tail=tail or "(the log is empty)"))


def stop(*, data_dir: Path) -> bool:
    """Stop the server running in data_dir (fast shutdown: open connections are closed, transactions rolled
    back). False when none was running."""
    data_dir = Path(data_dir).absolute()
    server = running(data_dir=data_dir)
    if server is None:
        return False
    stopped = _run(server.bin, server.os_user, "pg_ctl", "stop", "-w", "-t", str(START_TIMEOUT_S), "-m", "fast",
                   "-D", str(data_dir))
    if stopped.returncode != 0:
        raise PostgresServerError(STOP_FAILED.format(path=data_dir, output=_output(stopped)))
    return True


def _initdb(binaries: Path, os_user: str | None, *, data_dir: Path, fast: bool) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if os_user is not None:
        record = pwd.getpwnam(os_user)
        _check_reachable(data_dir, user=record)
        os.chown(data_dir, record.pw_uid, record.pw_gid)
    data_dir.chmod(0o700)
    # The C locale sorts text byte by byte, as DuckDB does, so ORDER BY gives the same order on both engines.
    arguments = ["initdb", "-D", str(data_dir), f"--username={SUPERUSER}", "--encoding=UTF8", "--locale=C",
                 "--auth=trust", "--no-instructions"]
    if fast:
        arguments.append("--no-sync")   # a throwaway cluster need not reach the disk
    created = _run(binaries, os_user, *arguments)
    if created.returncode != 0:
        raise PostgresServerError(INITDB_FAILED.format(path=data_dir, output=_output(created)))
    # Trust only this machine: the server's own socket and 127.0.0.1, no IPv6, no replication from elsewhere.
    (data_dir / "pg_hba.conf").write_text(
        "# Quorum's local server (governance/record/postgres_server.py): trust the local socket and 127.0.0.1 only\n"
        "local all all trust\n"
        "host  all all 127.0.0.1/32 trust\n", encoding="utf-8")
    socket_dir = str(data_dir).replace("'", "''")
    # Written into the configuration, not passed on pg_ctl's command line, so that a server started by hand with
    # `pg_ctl start -D <data_dir>` behaves the same. max_connections: the benchmark runs 2 servers x 50 writers.
    with open(data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write("\n# Quorum's local server\n"
                   "listen_addresses = '127.0.0.1'\n"
                   f"unix_socket_directories = '{socket_dir}'\n"
                   "max_connections = 200\n")


def _check_reachable(data_dir: Path, *, user: pwd.struct_passwd) -> None:
    """The server's user must be able to enter every folder above its data: say which one it cannot, instead of
    initdb's bare 'Permission denied'."""
    groups = {user.pw_gid, *os.getgrouplist(user.pw_name, user.pw_gid)}
    for folder in reversed(data_dir.parents):
        info = folder.stat()
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid in groups:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            raise PostgresServerError(FOLDER_UNREACHABLE.format(user=user.pw_name, folder=folder))


def _server_user() -> str:
    """The system user the server runs as when we are root, created on first use. Parallel test workers may both
    try to create it: whoever loses the race finds it made."""
    reason = ""
    for attempt in range(5):
        try:
            pwd.getpwnam(SERVER_USER)
            return SERVER_USER
        except KeyError:
            pass
        created = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                                  "/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_USER],
                                 capture_output=True, text=True)
        if created.returncode == 0:
            return SERVER_USER
        reason = _output(created)
        time.sleep(0.2 * (attempt + 1))   # /etc/passwd locked by a parallel useradd
    try:
        pwd.getpwnam(SERVER_USER)
        return SERVER_USER
    except KeyError:
        raise PostgresServerError(NO_SERVER_USER.format(user=SERVER_USER, reason=reason)) from None


def _run(binaries: Path, os_user: str | None, program: str, *arguments: str) -> subprocess.CompletedProcess:
    command = [str(binaries / program), *arguments]
    if os_user is not None:
        command = ["runuser", "-u", os_user, "--", *command]
    # PG* variables (PGDATA, PGPORT …) from the caller's shell must not point the programs elsewhere.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    # pg_ctl waits at most START_TIMEOUT_S (-t) itself; this bound only catches a program that hangs.
    try:
        return subprocess.run(command, capture_output=True, text=True, env=environment,
                              timeout=START_TIMEOUT_S + 30, cwd="/")
    except subprocess.TimeoutExpired:
        folder = arguments[arguments.index("-D") + 1] if "-D" in arguments else "the data folder"
        raise PostgresServerError(TIMED_OUT.format(program=program, seconds=START_TIMEOUT_S + 30,
                                                   path=folder)) from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(log: Path, *, since: int = 0, lines: int = 20) -> str:
    """The last lines the server wrote to its log since byte `since` (the log is appended to at every start)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _output(result: subprocess.CompletedProcess) -> str:
    return " ".join(f"{result.stdout}\n{result.stderr}".split())


def _check_database_name(name: str) -> None:
    if not DATABASE_NAME.fullmatch(name):
        raise PostgresServerError(BAD_DATABASE_NAME.format(name=name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m governance.record.postgres_server",
                                     description="Start or stop a local PostgreSQL server for Quorum.")
    commands = parser.add_subparsers(dest="command", required=True)
    start_command = commands.add_parser("start", help="start a server (creating its data folder when new)")
    start_command.add_argument("--data-dir", type=Path, required=True)
    start_command.add_argument("--port", type=int, help="the port on 127.0.0.1 (default: a free one)")
    start_command.add_argument("--database", default="quorum",
                               help="the database to create for the workspace, if missing (default: quorum)")
    stop_command = commands.add_parser("stop", help="stop the server running in a data folder")
    stop_command.add_argument("--data-dir", type=Path, required=True)
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "start":
            server = start(data_dir=arguments.data_dir, port=arguments.port)
            url = server.create_database(arguments.database, exist_ok=True)
            print(f"PostgreSQL ({server.bin.parent.name}) runs in {server.data_dir} on 127.0.0.1:{server.port}; "
                  f"its log: {server.log}")
            print(f"use it with:  QUORUM_DB={url}")
            print(f"stop it with: python -m governance.record.postgres_server stop --data-dir {arguments.data_dir}")
        elif stop(data_dir=arguments.data_dir):
            print(f"stopped the server in {arguments.data_dir}")
        else:
            print(f"no server runs in {arguments.data_dir}")
    except GovernanceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
