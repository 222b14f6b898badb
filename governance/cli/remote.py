"""A command through a Quorum server: its arguments go to `/api/v1/commands/…`, files named on this machine are
uploaded first, long jobs are followed with their progress, and files the command writes stream back to `--out`.

The server answers with the same result the command gives here, so the caller prints it with the same printer.
Standard library only (urllib): a command through the server starts as fast as `--help`.
"""

from __future__ import annotations

import getpass
import http.client
import io
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from governance import errors
from governance.errors import GovernanceError, InvalidInputError
from governance.jobs import terminal_progress

API = "/api/v1"
POLL_SECONDS = 0.5
CHUNK = 1 << 20
UNREACHABLE = ("cannot reach the Quorum server at {url} ({reason}): check --server or QUORUM_SERVER, and that "
               "`python -m governance serve` runs there")
NOT_QUORUM = "{url} answered {status} without a Quorum error ({detail}): is it a Quorum server?"
OUT_EXISTS = "{path} already exists: choose a new folder for --out"
SECRET_PROMPTS = {"QUORUM_PASSWORD": "Your password (to sign): ",
                  "QUORUM_NEW_PASSWORD": "Password for the new account: "}
_NOT_SENT = {"command", "subcommand", "db", "server", "json"}


class _Client:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self._token = token

    def request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
                stream_to=None) -> dict | None:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                if stream_to is not None:
                    shutil.copyfileobj(response, stream_to, CHUNK)
                    return None
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise _refusal(self.url, exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InvalidInputError(UNREACHABLE.format(url=self.url, reason=reason)) from None

    def upload(self, path_text: str) -> str:
        path = Path(path_text)
        try:
            size = path.stat().st_size
            handle = path.open("rb")
        except OSError as exc:
            raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
        # http.client rather than urllib: a server refusing the file (over its size limit) answers at once and
        # closes the connection while the file is still being sent. Sending then fails (broken pipe, reset), but
        # the answer has arrived and is read below; urllib would drop it and report an unreachable server.
        parts = urllib.parse.urlsplit(self.url)
        connection = (http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)(
            parts.hostname, parts.port, timeout=600)
        query = urllib.parse.urlencode({"name": path.name})
        try:
            with handle:
                try:
                    connection.request("POST", f"{parts.path}{API}/uploads?{query}", body=handle,
                                       headers={"Authorization": f"Bearer {self._token}",
                                                "Content-Type": "application/octet-stream",
                                                "Content-Length": str(size), "Connection": "close"})
                except (BrokenPipeError, ConnectionResetError):
                    pass   # refused before the whole file was sent: the server's answer says why
            response = connection.getresponse()
            status, reason, body = response.status, response.reason, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise InvalidInputError(UNREACHABLE.format(url=self.url, reason=exc)) from None
        finally:
            connection.close()
        if status >= 400:
            raise _refusal(self.url, urllib.error.HTTPError(self.url, status, reason, None, io.BytesIO(body)))
        return json.loads(body)["upload"]


def _refusal(url: str, exc: urllib.error.HTTPError) -> GovernanceError:
    try:
        body = json.loads(exc.read() or b"{}")
        message = body["error"]
    except (ValueError, KeyError, TypeError):
        return InvalidInputError(NOT_QUORUM.format(url=url, status=exc.code, detail=exc.reason))
    return (errors.ServerInternalError if exc.code >= 500 else InvalidInputError)(message)


def _secrets(names: tuple[str, ...], args) -> dict[str, str]:
    """The passwords a command asks for: from the environment, or asked for here at a terminal."""
    found = {}
    for variable in names:
        if os.environ.get(variable) is not None:
            found[variable] = os.environ[variable]
        elif sys.stdin.isatty() and not getattr(args, "oidc", False):
            found[variable] = getpass.getpass(SECRET_PROMPTS[variable])
    return found


def _show_progress(job: dict) -> None:
    if sys.stderr.isatty():
        terminal_progress(min(job["fraction"], 0.99), job["message"])


def run(*, server: str, token: str, command, args, remote) -> dict:
    client = _Client(server, token)
    arguments = {k: v for k, v in vars(args).items() if k not in _NOT_SENT}
    if remote.download:
        target = Path(arguments[remote.download])
        if remote.folder and target.exists():
            raise InvalidInputError(OUT_EXISTS.format(path=target))
    for name in remote.uploads:
        if arguments.get(name):
            arguments[name] = {"upload": client.upload(arguments[name]), "path": arguments[name]}
    body = json.dumps({"arguments": arguments, "secrets": _secrets(remote.secrets, args)}).encode()
    answer = client.request("POST", f"{API}/commands/{command.name.replace(' ', '/')}", body=body,
                            content_type="application/json")
    if "job" in answer:
        answer = _follow(client, answer["job"])
    if remote.download:
        _fetch(client, answer["file"], target=Path(arguments[remote.download]), folder=remote.folder)
    return answer["result"]


def _follow(client: _Client, job: dict) -> dict:
    """Poll a server job until it ends, showing its progress at a terminal."""
    while job["state"] == "running":
        _show_progress(job)
        time.sleep(POLL_SECONDS)
        job = client.request("GET", f"{API}/jobs/{job['id']}")
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if job["state"] == "failed":
        raise (errors.ServerInternalError if job.get("internal") else InvalidInputError)(job["error"])
    return job


def _fetch(client: _Client, path: str, *, target: Path, folder: bool) -> None:
    """Stream the job's file into place: written whole under a temporary name, then renamed."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".",
                                                 prefix=f".{target.name}.")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {target} ({exc.strerror}): choose a writable path") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            client.request("GET", path, stream_to=handle)
        if folder:
            with zipfile.ZipFile(temporary) as archive:
                archive.extractall(target)
        else:
            os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
