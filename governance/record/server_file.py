"""The small file beside a workspace that names the Quorum server holding it (`quorum.duckdb.server.json`).

Only one process can hold a DuckDB workspace. While a server holds it, a command run on the file itself is told
which URL serves it and how to go through it. The server writes the file when it starts and removes it on a
clean shutdown; after a crash (`kill -9`) the file stays behind, and it is ignored once its process is gone.
"""

from __future__ import annotations

import hmac
import json
import os
import tempfile
from pathlib import Path

from governance.errors import GovernanceError, WorkspaceLockedError
from governance.record import ledger_keys
from governance.record.canonical import canonical_json

SERVED_BY = ("workspace {path} is served by the Quorum server at {url}: run the command through it with "
             "--server {url} (or QUORUM_SERVER={url}) and QUORUM_TOKEN set to an API token (an admin makes one "
             "with `python -m governance tokens create NAME --user USER`, or on the Admin page)")


SERVER_FILE = "server-file"
FORGED = ("the server file {path} was not written by Quorum with this workspace's ledger key: it names {url}, which "
          "may not be Quorum; do not send a token there. Stop whatever holds the workspace and delete the file")


def path_for(workspace: Path) -> Path:
    workspace = Path(workspace)
    return workspace.with_name(workspace.name + ".server.json")


def _key() -> ledger_keys.LedgerKey | None:
    try:
        return ledger_keys.load()
    except GovernanceError:   # an empty key file: the writes say so; the server file just goes unsigned
        return None


def _mac(key, found: dict) -> str:
    return key.mac(SERVER_FILE, canonical_json({k: found.get(k) for k in ("url", "pid", "workspace")}))


def write(*, workspace: Path, url: str) -> None:
    """Written whole, then renamed into place: a reader never sees half of it. Signed with a sub-key of the ledger
    key, so a file that sends commands (and their API tokens) to another address is told apart."""
    target = path_for(workspace)
    content = {"url": url, "pid": os.getpid(), "workspace": str(workspace)}
    key = _key()
    if key is not None:
        content["mac"] = _mac(key, content)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(content, handle)
    os.replace(temporary, target)


def problem(*, workspace: Path) -> str | None:
    """What is wrong with the server file beside the workspace, if there is one and the key is at hand."""
    found = read(workspace=workspace)
    key = _key()
    if found is None or key is None:
        return None
    if not hmac.compare_digest(str(found.get("mac", "")), _mac(key, found)):
        return FORGED.format(path=path_for(workspace), url=found["url"])
    return None


def remove(*, workspace: Path) -> None:
    """On clean shutdown: only this process's own file."""
    found = read(workspace=workspace)
    if found is not None and found.get("pid") == os.getpid():
        path_for(workspace).unlink(missing_ok=True)


def read(*, workspace: Path) -> dict | None:
    try:
        found = json.loads(path_for(workspace).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and isinstance(found.get("url"), str) else None


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def live_url(*, workspace: Path) -> str | None:
    """The URL of the server holding the workspace, or None when there is none (or only a stale file)."""
    found = read(workspace=workspace)
    return found["url"] if found is not None and _alive(found.get("pid")) else None


def served_elsewhere(workspace: Path) -> WorkspaceLockedError | None:
    """The error to show when a command finds the workspace held by a live server (None otherwise); a server
    file this machine's key shows was not written by Quorum is named as such, not followed."""
    url = live_url(workspace=workspace)
    if url is None:
        return None
    forged = problem(workspace=workspace)
    return WorkspaceLockedError(forged or SERVED_BY.format(path=workspace, url=url))
