"""`POST /api/v1/commands/<words>`: every CLI command, run by the server on its one workspace as the token's
account, answered with the same result the command gives at a terminal.

The body is `{"arguments": {field: value}, "secrets": {VARIABLE: value}}`, the fields being the command's own
options (the OpenAPI document lists them). They are checked by the command's own parser, so a bad value is
refused with the same words the CLI uses. A file the command reads comes as `{"upload": id}` from
`POST /api/v1/uploads`; a long command answers 202 with a job to follow at `GET /api/v1/jobs/<id>`, and a file
it writes is fetched from `GET /api/v1/jobs/<id>/file`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse

from api import auth
from api.http import ApiError, internal, refusal, status_for
from governance import errors, jobs
from governance.access import caller
from governance.cli import main as cli

KEEP_SECONDS = 3600   # finished jobs and unused uploads: long enough to fetch, not for the server's lifetime
MAX_UPLOAD_BYTES = int(os.environ.get("QUORUM_MAX_UPLOAD_MB", "1024")) << 20
UPLOAD_TOO_BIG = "the upload is over the server's limit of {limit:,} MB: nothing was kept (QUORUM_MAX_UPLOAD_MB)"
UNKNOWN_COMMAND = "there is no command {name!r}: the OpenAPI document at /api/v1/openapi.json lists them"
UNKNOWN_FIELD = "unknown field {field!r} for `{command}`; its fields are: {known}"
UNKNOWN_UPLOAD = "field {field!r} names upload {upload!r}, which this server does not hold for you: upload the file again"
NOT_SCALAR = "field {field!r} must be a string or a number, got {kind}"
NOT_BOOLEAN = "field {field!r} must be true or false"
NOT_LIST = "field {field!r} must be a list (it may be given more than once)"
NOT_OBJECT = "field {field!r} must be a JSON object"
BAD_JSON = "the request body is not JSON ({reason}): send {{\"arguments\": {{…}}}}"
DASH_VALUE = "field {field!r} cannot start with '-'"
UNKNOWN_JOB = "there is no job {job_id!r} of yours on this server"
NO_FILE = "job {job_id} has no file to fetch (it writes none, or it failed)"
# Worker threads for commands: enough to keep both cores busy and requests queued, not so many that 200 callers
# become 200 threads fighting over the one write lock.
_limiter = anyio.CapacityLimiter(16)


@dataclass
class _Upload:
    owner: str
    path: Path
    created: float = field(default_factory=time.monotonic)


@dataclass
class _JobRecord:
    owner: str
    command: cli.Command
    job: jobs.Job
    file: Path | None = None   # what the command wrote, for the caller to fetch


class Server:
    """What the API keeps while it runs: uploads, jobs, and a private folder for their files."""

    def __init__(self, store):
        self.store = store
        self.parser = cli.build_parser()
        self.folder = Path(tempfile.mkdtemp(prefix="quorum-api-"))
        self.jobs = jobs.Registry()
        self._uploads: dict[str, _Upload] = {}
        self._records: dict[str, _JobRecord] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- uploads -----------------------------------------------------------------------------------------------
    async def receive_upload(self, request: Request, user) -> str:
        """Streamed to a private file under its own name, never over the size limit: 413 keeps nothing."""
        declared = request.headers.get("content-length")
        limit_mb = MAX_UPLOAD_BYTES >> 20
        if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            raise ApiError(413, UPLOAD_TOO_BIG.format(limit=limit_mb))
        name = Path(request.query_params.get("name") or "upload").name or "upload"
        upload_id = f"UP-{uuid.uuid4().hex}"
        folder = self.folder / upload_id
        folder.mkdir()
        target = folder / name
        size = 0
        try:
            with target.open("wb") as handle:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise ApiError(413, UPLOAD_TOO_BIG.format(limit=limit_mb))
                    handle.write(chunk)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._uploads[upload_id] = _Upload(owner=user.user_name, path=target)
        return upload_id

    def _take_upload(self, field_name: str, value, user) -> Path:
        upload_id = value.get("upload") if isinstance(value, dict) else None
        with self._lock:
            found = self._uploads.pop(upload_id, None) if isinstance(upload_id, str) else None
        if found is None or found.owner != user.user_name:
            raise errors.InvalidInputError(UNKNOWN_UPLOAD.format(field=field_name, upload=upload_id))
        return found.path

    # --- the command line, from JSON ---------------------------------------------------------------------------
    def _subparser(self, words: list[str]) -> argparse.ArgumentParser | None:
        parser = self.parser
        for word in words:
            choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
            if not choices or word not in choices:
                return None
            parser = choices[word]
        has_more = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        return None if has_more else parser

    def parse(self, words: list[str], arguments: dict, user) -> tuple[argparse.Namespace, dict[str, str]]:
        """The command's own parser checks the fields; uploaded files stand in for the caller's paths.
        Returns the arguments and {path here: the caller's text}, to word the answer in the caller's terms."""
        name = " ".join(words)
        parser = self._subparser(words)
        if parser is None or name in cli.LOCAL_ONLY:
            raise ApiError(404, cli.LOCAL_ONLY.get(name) or UNKNOWN_COMMAND.format(name=name))
        shown: dict[str, str] = {}
        try:
            return self._parse(words, parser, arguments, user, shown), shown
        except errors.GovernanceError:
            _discard_uploads(shown)   # a refused request keeps none of its uploads
            raise

    def _parse(self, words, parser, arguments: dict, user, shown: dict[str, str]) -> argparse.Namespace:
        name = " ".join(words)
        actions = {a.dest: a for a in fields_of(parser)}
        remote = cli.REMOTE.get(name, cli.Remote())
        options, positionals = [], {}
        for field_name, value in arguments.items():
            action = actions.get(field_name)
            if action is None:
                raise errors.InvalidInputError(UNKNOWN_FIELD.format(field=field_name, command=name,
                                                                    known=", ".join(actions)))
            if value is None:
                continue
            if field_name in remote.uploads:
                path = self._take_upload(field_name, value, user)
                shown[str(path)] = str(value.get("path") or path.name)   # as the caller named it
                value = str(path)
            if isinstance(action, argparse._StoreTrueAction):
                if not isinstance(value, bool):
                    raise errors.InvalidInputError(NOT_BOOLEAN.format(field=field_name))
                options += [action.option_strings[0]] if value else []
            elif isinstance(action, argparse._AppendAction):
                if not isinstance(value, list):
                    raise errors.InvalidInputError(NOT_LIST.format(field=field_name))
                options += [f"{action.option_strings[0]}={_scalar(field_name, v)}" for v in value]
            elif action.option_strings:
                options.append(f"{action.option_strings[0]}={_scalar(field_name, value)}")
            else:
                text = _scalar(field_name, value)
                if text.startswith("-"):
                    raise errors.InvalidInputError(DASH_VALUE.format(field=field_name))
                positionals[field_name] = text
        ordered = [positionals[a.dest] for a in actions.values() if a.dest in positionals]
        args = self.parser.parse_args([*words, *options, *ordered])
        args.db = None
        return args

    # --- running -------------------------------------------------------------------------------------------------
    def _prune(self) -> None:
        cutoff = time.monotonic() - KEEP_SECONDS
        with self._lock:
            jobs_done = [k for k, r in self._records.items() if r.job.finished is not None and r.job.finished < cutoff]
            records = [self._records.pop(k) for k in jobs_done]
            uploads = [self._uploads.pop(k) for k, u in list(self._uploads.items()) if u.created < cutoff]
        for job_id, record in zip(jobs_done, records):
            self.jobs.forget(job_id)
            if record.file is not None:
                shutil.rmtree(record.file.parent, ignore_errors=True)
        for upload in uploads:
            shutil.rmtree(upload.path.parent, ignore_errors=True)

    def run(self, *, words: list[str], body: dict, user) -> tuple[int, dict]:
        self._prune()
        arguments, secrets = body.get("arguments", {}), body.get("secrets", {})
        for name, value in (("arguments", arguments), ("secrets", secrets)):
            if not isinstance(value, dict):
                raise errors.InvalidInputError(NOT_OBJECT.format(field=name))
        args, shown = self.parse(words, arguments, user)
        command = cli.command_for(args)
        remote = cli.REMOTE.get(command.name, cli.Remote())
        out = None
        if remote.download:
            folder = self.folder / f"out-{uuid.uuid4().hex}"
            folder.mkdir()
            original = getattr(args, remote.download)
            out = folder / (Path(original).name or "out")
            shown[str(out)] = original
            setattr(args, remote.download, str(out))
        acting = caller.ServerCaller(user=user, secrets={str(k): str(v) for k, v in secrets.items()})

        def execute(progress=None) -> dict:
            try:
                with caller.acting_through_server(acting):
                    result = cli.run_on_store(command, args, self.store)
            except errors.GovernanceError as exc:
                raise type(exc)(_in_callers_terms(str(exc), shown)) from None
            finally:
                _discard_uploads({k: v for k, v in shown.items() if Path(k) != out})   # an upload is used once
            return _in_callers_terms(result, shown)

        if not remote.job:
            result = execute()
            return 200, {"result": result, "exit_code": command.exit_code(result)}
        job_id = f"JB-{uuid.uuid4().hex[:12]}"
        with caller.acting_through_server(acting):   # the job's thread starts in this context
            job = self.jobs.start(job_id, execute, name=f"quorum-api-{command.name}")
        with self._lock:
            self._records[job_id] = _JobRecord(owner=user.user_name, command=command, job=job, file=out)
        return 202, {"job": self.describe(job_id, user)}

    def describe(self, job_id: str, user) -> dict:
        with self._lock:
            record = self._records.get(job_id)
        if record is None or record.owner != user.user_name:
            raise ApiError(404, UNKNOWN_JOB.format(job_id=job_id))
        job = record.job
        state = "running" if job.running else ("failed" if job.failed else "succeeded")
        answer = {"id": job_id, "command": record.command.name, "state": state, "fraction": job.fraction,
                  "message": job.message, "elapsed_s": round(job.elapsed, 3)}
        if job.succeeded:
            answer["result"] = job.result
            answer["exit_code"] = record.command.exit_code(job.result)
            if record.file is not None:
                answer["file"] = f"/api/v1/jobs/{job_id}/file"
        elif job.failed:
            answer["error"] = job.failure(f"`{record.command.name}` on the server")
            answer["internal"] = not isinstance(job.error, errors.GovernanceError)
        return answer

    def job_file(self, job_id: str, user) -> Path:
        with self._lock:
            record = self._records.get(job_id)
        if record is None or record.owner != user.user_name:
            raise ApiError(404, UNKNOWN_JOB.format(job_id=job_id))
        if record.file is None or not record.job.succeeded:
            raise ApiError(404, NO_FILE.format(job_id=job_id))
        if record.file.is_dir():   # a folder travels as one zip
            archive = record.file.with_suffix(".zip")
            if not archive.exists():
                with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
                    for path in sorted(record.file.rglob("*")):
                        bundle.write(path, path.relative_to(record.file))
            return archive
        return record.file


def fields_of(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """A command's fields: its own options and positionals, without help and the workspace options."""
    return [a for a in parser._actions
            if a.dest not in ("help", "db", "server", "command", "subcommand", "json")
            and not isinstance(a, argparse._SubParsersAction)]


def _discard_uploads(shown: dict[str, str]) -> None:
    for path in shown:
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def _scalar(field_name: str, value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise errors.InvalidInputError(NOT_SCALAR.format(field=field_name, kind=type(value).__name__))
    return str(value)


def _in_callers_terms(value, shown: dict[str, str]):
    """Paths on the server read as the caller wrote them, so the answer is the one the command gives there."""
    if isinstance(value, str):
        for here, theirs in shown.items():
            value = value.replace(here, theirs)
        return value
    if isinstance(value, dict):
        return {k: _in_callers_terms(v, shown) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_callers_terms(v, shown) for v in value]
    return value


# --- routes ------------------------------------------------------------------------------------------------------
_server_in_process: Server | None = None


def open_server(store) -> Server:
    """The API's state for this process (the lifespan opens it once)."""
    global _server_in_process
    _server_in_process = Server(store)
    return _server_in_process


def close_server() -> None:
    global _server_in_process
    if _server_in_process is not None:
        _server_in_process.close()
        _server_in_process = None


def current() -> Server:
    if _server_in_process is None:
        raise errors.WorkspaceError("the server is starting or stopping: try again in a moment")
    return _server_in_process


def _server(request: Request) -> Server:
    return current()


async def _authenticated(request: Request):
    server = _server(request)
    return await anyio.to_thread.run_sync(auth.caller, request, server.store, limiter=_limiter)


def answering(endpoint):
    """Every API answer is JSON: a domain error as its status with the message, anything else as a reference."""
    async def wrapped(request: Request):
        try:
            return await endpoint(request)
        except ApiError as exc:
            return refusal(exc.status, str(exc), headers=exc.headers)
        except errors.GovernanceError as exc:
            return refusal(status_for(exc), str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback to the caller
            return JSONResponse(internal(exc, f"{request.method} {request.url.path}"), status_code=500)
    wrapped.__name__ = endpoint.__name__
    return wrapped


@answering
async def run_command(request: Request):
    user = await _authenticated(request)
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, BAD_JSON.format(reason=str(exc)[:120])) from None
    if not isinstance(body, dict):
        raise ApiError(400, BAD_JSON.format(reason="not an object"))
    words = [w for w in request.path_params["words"].split("/") if w]
    server = _server(request)
    account = f"account {user.user_name}"
    if body.get("secrets"):   # a request carrying a password waits while its account's password is being guessed
        auth.throttle.check(account)
    try:
        status, answer = await anyio.to_thread.run_sync(
            lambda: server.run(words=words, body=body, user=user), limiter=_limiter)
    except errors.GovernanceError as exc:
        if _wrong_password(exc):   # a wrong signing password counts against the client and the account
            auth.throttle.failed(auth.client_key(request), account)
        raise
    return JSONResponse(answer, status_code=status)


def _wrong_password(exc: errors.GovernanceError) -> bool:
    """A password the request carried was wrong: a sign-in's, or a signature's re-authentication, which
    `voting.vote` reports as PermissionDeniedError(REAUTH_PASSWORD)."""
    from governance.access.identity import PermissionDeniedError, SignInError
    from governance.decisions.voting import REAUTH_PASSWORD

    return isinstance(exc, SignInError) or (isinstance(exc, PermissionDeniedError) and str(exc) == REAUTH_PASSWORD)


@answering
async def upload(request: Request):
    user = await _authenticated(request)
    return JSONResponse({"upload": await _server(request).receive_upload(request, user)}, status_code=201)


@answering
async def job(request: Request):
    user = await _authenticated(request)
    return JSONResponse(_server(request).describe(request.path_params["job_id"], user))


@answering
async def job_file(request: Request):
    user = await _authenticated(request)
    path = await anyio.to_thread.run_sync(_server(request).job_file, request.path_params["job_id"], user)
    return FileResponse(path, filename=path.name)


@answering
async def whoami(request: Request):
    user = await _authenticated(request)
    return JSONResponse({"user_name": user.user_name, "display_name": user.display_name, "role": user.role})


@answering
async def not_found(request: Request):
    raise ApiError(404, f"there is no {request.method} {request.url.path}: the OpenAPI document at "
                        "/api/v1/openapi.json lists the routes")
