"""Fixtures shared by all three layers: real DuckDB workspaces built by the real demo code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# One ledger key for the whole run, set before any workspace is built: the demo signs its review history with it,
# subprocesses the tests start (the CLI, `streamlit run`) inherit it through os.environ, and nothing reads or
# creates ~/.config/quorum/ledger.key. Tests about the key itself override it with monkeypatch.
TEST_LEDGER_KEY = "quorum-test-ledger-key"
if not os.environ.get("QUORUM_LEDGER_KEY"):
    os.environ["QUORUM_LEDGER_KEY"] = TEST_LEDGER_KEY

from governance.demo import seed_demo  # noqa: E402
from governance.access.identity import User  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402

DEMO_ROWS = 60_000
PG_DEMO_TEMPLATE = "t_demo_template"
# Who acts in service-level tests: services check the role of the User they are given (pages and the CLI get it
# from a signed-in account); names and roles as in the demo.
LEADER = User("farid.haddad", "Farid Haddad", "engineering leader", "demo")
AUDITOR = User("amara.okafor", "Amara Okafor", "committee chair", "demo")
VIEWER = User("hugo.tanaka", "Hugo Tanaka", "viewer", "demo")


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory) -> Path:
    """A demo workspace at test size, built once per run. Tests must not write to it."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with GovernanceStore(path) as store:
        seed_demo(store, rows=DEMO_ROWS, seed=42)
    return path


def copy_workspace(source: Path, target: Path) -> Path:
    """Copy a workspace with its ledger anchor (`<db>.anchor`), so `verification.verify` holds on the copy."""
    shutil.copyfile(source, target)
    anchor = Path(f"{source}.anchor")
    if anchor.exists():
        shutil.copyfile(anchor, f"{target}.anchor")
    return target


def forget_explanations(path: Path) -> Path:
    """Delete every stored explanation (and its rows and values) from a workspace file, for tests that need a
    version with no stored explanation: the demo stores one for each of its versions. Only on a private copy."""
    with GovernanceStore(path) as store:
        with store.write() as tx:
            for table in ("explanation_value", "explanation_row", "explanation"):
                tx.execute(f"DELETE FROM {table}")
    return path


def forget_alerts(path: Path) -> Path:
    """Delete the alert episodes and outbox the demo's own check made, for tests of a workspace whose rules were
    never checked. Only on a private copy."""
    with GovernanceStore(path) as store:
        with store.write() as tx:
            for table in ("alert_attempt", "alert_delivery", "alert_episode"):
                tx.execute(f"DELETE FROM {table}")
    return path


@pytest.fixture
def demo_copy(demo_workspace, tmp_path) -> Path:
    """A private copy of the demo workspace (and its ledger anchor), for tests that write or hand it to another
    process."""
    return copy_workspace(demo_workspace, tmp_path / "copy.duckdb")


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL from Debian's packages (governance/record/postgres_server.py), one per test worker (a
    session is a worker under xdist), on a free port, without fsync. It fails, never skips, when PostgreSQL is
    missing: the message names the package. Its data is in a folder of its own under /tmp, not under tmp_path:
    run as root, the server runs as quorum-pg, which may not enter pytest's private /tmp/pytest-of-root (0700)."""
    import tempfile

    from governance.errors import GovernanceError
    from governance.record import postgres_server as local_postgres

    parent = Path(tempfile.mkdtemp(prefix="quorum-pg-"))
    parent.chmod(0o755)
    try:
        server = local_postgres.start(data_dir=parent / "data", fast=True)
    except GovernanceError as error:
        shutil.rmtree(parent, ignore_errors=True)
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """The URL of a new, empty database on the worker's server, named after the test, dropped afterwards."""
    import re
    import uuid

    import psycopg

    name = f"t_{re.sub(r'[^a-z0-9_]', '_', request.node.name.lower())[:40]}_{uuid.uuid4().hex[:8]}"
    yield postgres_server.create_database(name)
    try:
        postgres_server.drop_database(name)   # WITH (FORCE): closes what the test left open
    except psycopg.Error:
        pass


@dataclass(frozen=True)
class PgWorkspace:
    """A PostgreSQL workspace for a test: its database's URL and its lake folder (which holds its anchor)."""

    url: str
    lake: Path

    def open(self):
        from governance.record.postgres_store import PostgresStore

        return PostgresStore(self.url, lake=self.lake)

    @property
    def name(self) -> str:
        return urlsplit(self.url).path.lstrip("/")

    @property
    def path(self) -> Path:
        """What PostgresStore.path is: the name its files beside the record (anchor, server file) start with."""
        return self.lake / "quorum"

    @property
    def anchor(self) -> Path:
        return Path(f"{self.path}.anchor")

    @property
    def cli_args(self) -> tuple[str, ...]:
        return ("--db", self.url, "--lake", str(self.lake))


def migrate_to_postgres(postgres_server, *, source: Path, name: str, folder: Path) -> PgWorkspace:
    """The DuckDB workspace `source` moved by migrate into a new database `name` and the lake folder/lake, to
    serve as a template for copy_postgres_workspace. Migrated from a copy of the file: opening the file itself
    would lock it against other test workers. Nothing may keep a connection to the result (CREATE DATABASE …
    TEMPLATE refuses a template in use), so it is handed out as a URL and a folder, not as an open store."""
    from governance.cli.backup import roll_up_lake
    from governance.record import workspace_copy

    copied = copy_workspace(source, folder / "source.duckdb")
    url = postgres_server.create_database(name)
    with GovernanceStore(copied) as store:
        workspace_copy.migrate(source=store, to_url=url, lake=folder / "lake")
    roll_up_lake(folder / "lake")   # as the migrate command does after the copy
    copied.unlink()
    Path(f"{copied}.anchor").unlink(missing_ok=True)
    return PgWorkspace(url=url, lake=folder / "lake")


def copy_postgres_workspace(template: PgWorkspace, *, lake: Path) -> PgWorkspace:
    """A private copy of `template`: a new database made from it inside the server (a copy of its files: 0.4 to
    0.6 s for the test demo, where migrating it takes 3.5 s) and a copy of its lake folder, anchor included."""
    import uuid

    import psycopg
    from psycopg import sql

    name = f"t_copy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(urlunsplit(urlsplit(template.url)._replace(path="/postgres")), autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                      sql.Identifier(template.name)))
    shutil.copytree(template.lake, lake)
    return PgWorkspace(url=urlunsplit(urlsplit(template.url)._replace(path=f"/{name}")), lake=lake)


def drop_postgres_workspace(workspace: PgWorkspace) -> None:
    """Drop the copy's database, closing any connection a test left open to it (WITH FORCE)."""
    import psycopg
    from psycopg import sql

    maintenance = urlunsplit(urlsplit(workspace.url)._replace(path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(workspace.name)))
    except psycopg.Error:
        pass


@pytest.fixture(scope="session")
def pg_demo_template(demo_workspace, postgres_server, tmp_path_factory) -> PgWorkspace:
    """The session's demo moved once per worker into PostgreSQL and a lake: the template of every pg_demo_copy.
    Tests must not write to it."""
    return migrate_to_postgres(postgres_server, source=demo_workspace, name=PG_DEMO_TEMPLATE,
                               folder=tmp_path_factory.mktemp("pg_demo"))


@pytest.fixture
def pg_demo_copy(pg_demo_template, tmp_path) -> PgWorkspace:
    """A private PostgreSQL copy of the demo (a database and a lake folder), for tests that write. Dropped
    afterwards."""
    copied = copy_postgres_workspace(pg_demo_template, lake=tmp_path / "lake")
    yield copied
    drop_postgres_workspace(copied)


ENGINES = ("duckdb", "postgresql")


@pytest.fixture(params=ENGINES)
def demo_on_engine(request, tmp_path):
    """A private copy of the demo on each engine in turn: a DuckDB file path, or a PgWorkspace. Open it with
    open_workspace; give it to the CLI with workspace_args."""
    if request.param == "duckdb":
        return request.getfixturevalue("demo_copy")
    return request.getfixturevalue("pg_demo_copy")


def copy_on_engine(request, *, template: Path, tmp_path: Path):
    """For a fixture parametrised over ENGINES: a private copy of the DuckDB `template`, or of the module's own
    `pg_template` fixture (a PgWorkspace) on PostgreSQL, dropped afterwards."""
    if request.param == "duckdb":
        yield copy_workspace(template, tmp_path / "ws.duckdb")
        return
    copied = copy_postgres_workspace(request.getfixturevalue("pg_template"), lake=tmp_path / "lake")
    yield copied
    drop_postgres_workspace(copied)


def open_workspace(workspace):
    """An open store on a demo_on_engine workspace (a DuckDB path or a PgWorkspace)."""
    return workspace.open() if isinstance(workspace, PgWorkspace) else GovernanceStore(workspace)


def workspace_args(workspace) -> tuple[str, ...]:
    """The CLI's arguments that name the workspace: --db PATH, or --db URL --lake DIR."""
    return workspace.cli_args if isinstance(workspace, PgWorkspace) else ("--db", str(workspace))


@pytest.fixture
def cli(capsys, monkeypatch):
    """`python -m governance …` run by governance.cli.main in this process: the same parser, services, output and
    exit codes, without starting an interpreter for every command (tests/unit/cli/test_cli.py keeps real processes
    to prove the entry point itself). `env` applies to that one command only."""
    from governance.cli import main as governance_cli

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        with monkeypatch.context() as patched:
            for name, value in (env or {}).items():
                patched.setenv(name, value)
            try:
                code = governance_cli.main([str(a) for a in args])
            except SystemExit as exc:   # argparse's usage errors
                code = exc.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)
    return run
