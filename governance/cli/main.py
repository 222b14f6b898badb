"""python -m governance [--db PATH | --server URL] <command> [--json]: the same services as the pages, for scripts
and CI.

Every command is one handler `(store, args) -> dict` and one printer `(dict) -> None`, found in the command
registry below. Building the parser imports only the small command modules beside this one; a handler imports
the services it needs when it runs, so `--help` and `status` start at once.

A command runs here, on the workspace file, or through a Quorum server (`--server URL` or QUORUM_SERVER, with
QUORUM_TOKEN): the server runs the same handler as the token's account and returns the same result, which is
printed here by the same printer. Either way the result goes through JSON before it is printed, so both print
exactly the same thing.

Usage and input errors print one line starting with `error:` on stderr and exit with code 2; no traceback. The
result is printed and flushed inside that handling too: a full disk or an encoding that cannot hold it is such an
error, and a reader that stopped early (`| head`) ends the command quietly with code 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import uuid
from dataclasses import dataclass
from typing import Callable

from governance import errors
from governance.cli import as_of as cli_as_of
from governance.cli import (alerts, anomalies, audit, backup as cli_backup, estimate, ledger, models, monitoring,
                            quality, release, reports, risks, robustness, signoffs, telemetry, tokens, users,
                            workspace as cli_workspace)

EXIT_USAGE = 2
EXIT_INTERNAL = 3
log = logging.getLogger("quorum.cli")


class UsageError(errors.InvalidInputError):
    """The command line (or an API request's arguments) does not parse."""


class OutputError(errors.GovernanceError):
    """Standard output cannot be written (a full disk, a closed file): the command ran, its result was lost."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors, raised so the CLI and the API word them alike
        raise UsageError(message)


def _always_zero(result: dict) -> int:
    return 0


@dataclass(frozen=True)
class Command:
    """One command: its words (`signoff vote`), its handler, its printer and its exit code for a result."""
    name: str
    run: Callable[..., dict]
    show: Callable[[dict], None]
    exit_code: Callable[[dict], int] = _always_zero
    opens_workspace: bool = True   # False: it opens the workspace itself (ingest) or needs none (verify-pack)


@dataclass(frozen=True)
class Remote:
    """How a command runs through the server, where that differs from sending its arguments."""
    uploads: tuple[str, ...] = ()   # arguments naming a file on the caller's machine: the file is uploaded
    download: str | None = None     # the argument naming where the file it writes goes on the caller's machine
    folder: bool = False            # the download is a folder (sent as a zip, unpacked into a new folder)
    secrets: tuple[str, ...] = ()   # variables the request carries (passwords the command asks for)
    job: bool = False               # a long job: runs in the background, the caller follows its progress


REMOTE = {
    "ingest": Remote(uploads=("file",)),
    "quality": Remote(uploads=("file",)),
    "risks import": Remote(uploads=("file",)),
    "model register": Remote(uploads=("file", "eval")),
    "verify-pack": Remote(uploads=("pack",)),
    "audit run": Remote(uploads=("data",), job=True),
    "explain": Remote(job=True),
    "robustness run": Remote(job=True),
    "alerts check": Remote(job=True),
    "report": Remote(download="out", job=True),
    "telemetry export": Remote(download="out", folder=True, job=True),
    "telemetry rollup": Remote(job=True),   # minutes over a large lake: a job, not a held request
    "signoff vote": Remote(secrets=("QUORUM_PASSWORD",)),
    "users add": Remote(secrets=("QUORUM_NEW_PASSWORD",)),
}
LOCAL_ONLY = {
    "init": "init creates a workspace where it runs: run it without --server (or QUORUM_SERVER) on the server's machine",
    "serve": "serve starts a server: run it without --server (or QUORUM_SERVER)",
    # They read or write the workspace's own files (the DuckDB file, the lake, pg_dump's output) and prove the copy
    # there; a server would write them on its machine, not the caller's.
    "migrate": ("migrate copies the workspace's file and lake where they are: run it on the workspace's machine, "
                "without --server (or QUORUM_SERVER), with the server stopped for a DuckDB workspace"),
    "backup": ("backup copies the workspace's file (or runs pg_dump and copies the lake) where they are: run it on "
               "that machine without --server (or QUORUM_SERVER); stop the server first for a DuckDB workspace"),
    "restore": ("restore writes a new workspace on the machine that runs it: run it there without --server (or "
                "QUORUM_SERVER)"),
    "rotate-key": ("rotate-key rewrites the key file where the workspace is: stop the server and run it on its "
                   "machine without --server (or QUORUM_SERVER)"),
}
NO_TOKEN = ("a command through the server at {url} needs an API token: set QUORUM_TOKEN to one made by "
            "`python -m governance tokens create NAME --user USER` (ask an admin)")
DB_AND_SERVER = "give --db (a workspace file here) or --server (a Quorum server), not both"
CANNOT_WRITE = "cannot write the output ({reason}): free space where it goes, or send it to another file or pipe"
CANNOT_ENCODE = ("cannot print {text!r} in this output's encoding ({encoding}): set PYTHONIOENCODING=utf-8 "
                 "(or, for a result, add --json: JSON escapes it)")

# command -> the module holding its handlers; groups are keyed by subcommand inside the module's COMMANDS
_GROUPS = {"audit": audit, "risks": risks, "users": users, "signoff": signoffs,
           "robustness": robustness, "alerts": alerts, "telemetry": telemetry, "tokens": tokens,
           "model": models}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m governance", description="Quorum: AI governance workspace tools.")
    parser.add_argument("--db", metavar="PATH",
                        help="workspace: a DuckDB file, or postgresql://… for a shared deployment (default: "
                             "$QUORUM_DB, else data/quorum.duckdb)")
    parser.add_argument("--lake", metavar="DIR",
                        help="with a PostgreSQL workspace, the folder of its telemetry (default: $QUORUM_LAKE)")
    parser.add_argument("--server", metavar="URL",
                        help="run the command through a Quorum server (default: $QUORUM_SERVER), as the account of "
                             "the API token in $QUORUM_TOKEN")
    # --db and --server are accepted after the command too (`init --demo --db ws.duckdb`); SUPPRESS keeps the
    # global ones.
    workspace = _Parser(add_help=False)
    workspace.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    workspace.add_argument("--lake", metavar="DIR", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    workspace.add_argument("--server", metavar="URL", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    cli_as_of.add_argument(parser)   # the record as it stood on a day; read commands only (governance/cli/as_of.py)
    cli_as_of.add_argument(workspace, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (cli_workspace, cli_backup, monitoring, reports, robustness, alerts, release, audit,
                   models, risks, users, tokens, signoffs, quality, telemetry,
                   anomalies, estimate):
        adder = getattr(module, "add_parsers", None) or module.add_parser
        adder(commands, workspace=workspace, parser_class=_Parser)
    ledger.add_parser(commands, workspace=workspace)
    return parser


def command_name(args: argparse.Namespace) -> str:
    subcommand = getattr(args, "subcommand", None)
    return f"{args.command} {subcommand}" if subcommand else args.command


def _registry() -> dict[str, tuple]:
    """Every command by its full name ('audit run', 'checklist show', 'gate', 'verify'), as (service, printer[,
    exit code for a result]): the one table `command_for` reads, for the CLI and the API alike."""
    found = {f"{group} {sub}": spec for group, module in _GROUPS.items() for sub, spec in module.COMMANDS.items()}
    found.update({" ".join(key) if isinstance(key, tuple) else key: spec for key, spec in release.COMMANDS.items()})
    for module in (reports, cli_workspace, cli_backup, monitoring, anomalies, estimate):
        found.update(module.COMMANDS)
    found.update({"verify": ledger.COMMAND, "rotate-key": ledger.ROTATE, "quality": quality.COMMAND,
                  "explain": (models.explain, models.print_explanation)})
    return found


REGISTRY = _registry()
OPENS_ITS_OWN_WORKSPACE = ("ingest", "verify-pack", "restore")   # ingest opens it itself; verify-pack needs none;
# restore makes a new one


def command_for(args: argparse.Namespace) -> Command:
    name = command_name(args)
    return Command(name, *REGISTRY[name], opens_workspace=name not in OPENS_ITS_OWN_WORKSPACE)


def run_on_store(command: Command, args: argparse.Namespace, store) -> dict:
    """The command's result on a store this process holds (the server's), as JSON values; with --as-of, the
    record as it stood (a command that does not read it refuses the option, here and through the API alike)."""
    cli_as_of.refuse_unless_honoured(command.name, args)
    return as_json_values(cli_as_of.stamped(command.run(store, args), args))


def as_json_values(result: dict) -> dict:
    """What the result looks like after JSON: printed alike here and through a server; counts as integers."""
    return counts_as_integers(json.loads(json.dumps(result, default=str)))


# Fields that hold counts. A count read through pandas can arrive as a float (an integer column with a gap, a
# sum, a record of a frame with float columns) and would print as 10523.0. Every CLI and API result passes
# through as_json_values, so this is the one place that makes them integers again.
COUNT_FIELD = re.compile(r"^(n|rows|count|labelled|failures|votes|tests|requests|errors|sizes)$"
                         r"|^n_|_n$|^rows_|_rows$|_count$|_counts$|_requests$|_failures$|_errors$|_labelled$")


def counts_as_integers(value, *, count: bool = False):
    """The JSON value with every whole float under a count-named key made an int (and a count's list or map)."""
    if isinstance(value, dict):
        # a count's own map (sizes: {group: n}) holds counts too, one level down
        return {k: counts_as_integers(v, count=bool(COUNT_FIELD.search(str(k))) or (count and isinstance(v, float)))
                for k, v in value.items()}
    if isinstance(value, list):
        return [counts_as_integers(v, count=count) for v in value]
    if count and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _run_here(command: Command, args: argparse.Namespace) -> dict:
    from governance.record.workspace import workspace_path

    if not command.opens_workspace:
        cli_as_of.refuse_unless_honoured(command.name, args)
        return as_json_values(command.run(None, args))
    from governance.record.shared_stores import open_store

    try:
        store = open_store(workspace_path(db=args.db), lake=getattr(args, "lake", None))
    except errors.WorkspaceLockedError as exc:
        from governance.record import server_file

        raise server_file.served_elsewhere(workspace_path(db=args.db)) or exc from None
    with store:
        return run_on_store(command, args, store)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"error: {exc} (see `python -m governance --help`)", file=sys.stderr)
        return EXIT_USAGE
    except UnicodeEncodeError as exc:   # --help holds a character (… or ×) this output cannot
        print(f"error: {_unencodable(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit:   # --help printed and exits: flush its text here, where a closed pipe or full disk is handled
        try:
            _write_out(lambda: None)
        except BrokenPipeError:
            _discard_stdout()
        except OutputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
    if args.command == "serve":
        cli_workspace.serve(args)
    command = command_for(args)
    server = getattr(args, "server", None) or os.environ.get("QUORUM_SERVER")
    try:
        if server and command.name in LOCAL_ONLY:
            raise errors.InvalidInputError(LOCAL_ONLY[command.name])
        cli_as_of.refuse_unless_honoured(command.name, args)   # before anything is sent or opened
        if server:
            if getattr(args, "db", None):
                raise errors.InvalidInputError(DB_AND_SERVER)
            token = os.environ.get("QUORUM_TOKEN")
            if not token:
                raise errors.InvalidInputError(NO_TOKEN.format(url=server))
            from governance.cli import remote as cli_remote

            result = cli_remote.run(server=server, token=token, command=command, args=args,
                                    remote=REMOTE.get(command.name, Remote()))
        else:
            if sys.stderr.isatty() and not args.json:
                from governance.jobs import showing_progress, terminal_progress

                showing_progress(terminal_progress)
            result = _run_here(command, args)
        _write_out((lambda: print(json.dumps(result, indent=2))) if args.json else
                   (lambda: _show(command, result, args)))
        return command.exit_code(result)
    except errors.ServerInternalError as exc:   # told with the server's reference; exit 3 as an internal error here
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except errors.GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader stopped early (`| head`): nothing more to say
        _discard_stdout()
        return 0
    except Exception:  # never a traceback for the user; keep it in the log for whoever runs the tool
        reference = uuid.uuid4().hex[:8]
        log.exception("internal error, reference %s", reference)
        print(f"error: internal error (reference {reference}); rerun with QUORUM_LOG=debug to see details",
              file=sys.stderr)
        return EXIT_INTERNAL


def _show(command: Command, result: dict, args: argparse.Namespace) -> None:
    line = cli_as_of.banner(args)   # --as-of: say first that this is the record as it stood
    if line:
        print(line)
    command.show(result)


def _write_out(write: Callable[[], None]) -> None:
    """Print, then flush standard output here, inside main's error handling. Output to a pipe or file is buffered:
    unflushed, a reader that stopped early or a full disk would fail only at interpreter exit, with Python's own
    "Exception ignored … BrokenPipeError" message and exit code 120."""
    try:
        write()
        if sys.stdout is not None:   # None when the command was started with its stdout closed (`>&-`)
            sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _discard_stdout()
        raise OutputError(CANNOT_WRITE.format(reason=exc.strerror or exc)) from None
    except UnicodeEncodeError as exc:   # e.g. PYTHONIOENCODING=ascii and a name with an accent
        raise _unencodable(exc) from None


def _unencodable(exc: UnicodeEncodeError) -> OutputError:
    return OutputError(CANNOT_ENCODE.format(text=exc.object[exc.start:exc.end], encoding=exc.encoding))


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so what is still buffered is dropped at exit instead of failing again."""
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):   # no real file behind it: nothing will be flushed at exit
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), fileno)
