"""The HTTP API and the CLI through it, against a real `python -m governance serve` on a free port: a private copy
of the demo workspace, accounts and API tokens made by the real CLI before the server starts, real HTTP requests.
Nothing is mocked.

A test module starts one server (module-scoped fixtures) and stops it when the module is done: starting one takes
about a second, building the demo it serves far longer, so every module copies the session's demo workspace.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_workspace
from tests.servers import start_server

ADMIN = "grace.lindqvist"
LEADER = "farid.haddad"
RISK_OWNER = "elif.kaya"
CHAIR = "amara.okafor"
VIEWER = "hugo.tanaka"
MEMBER_PASSWORD = "committee-password-{n}"   # 12+ characters, one per local account
# Set in the environment of the test run or a developer's shell: the CLI subprocesses must not inherit them.
_CALLER_VARIABLES = ("QUORUM_SERVER", "QUORUM_TOKEN", "QUORUM_PASSWORD", "QUORUM_NEW_PASSWORD", "QUORUM_DB")


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CALLER_VARIABLES}
    return {**env, **extra}


def cli(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m governance …` in its own process, as a person or a CI job runs it."""
    return subprocess.run([sys.executable, "-m", "governance", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=clean_environment(**(env or {})), timeout=timeout)


def cli_here(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """The same command line run by governance.cli.main in this process (no interpreter start): for setting a
    workspace up before its server starts. `env` applies to this one command."""
    from governance.cli import main as governance_cli

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (*_CALLER_VARIABLES, *(env or {}))}
    try:
        for name in _CALLER_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = governance_cli.main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def must(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def issue_token(db: Path, user: str, *, name: str | None = None, expires_days: int | None = None) -> str:
    """An API token for `user`, issued by the demo admin on the workspace file (before its server starts)."""
    extra = ["--expires", str(expires_days)] if expires_days else []
    result = must(cli_here("--db", db, "tokens", "create", name or f"test-{user}", "--user", user, *extra,
                           "--by", ADMIN, "--json"))
    return json.loads(result.stdout)["token"]


def add_committee_member(db: Path, user: str, password: str) -> None:
    """A local account (with a password, so it can sign through the server) put on the review committee."""
    must(cli_here("--db", db, "users", "add", user, "--role", "committee member", "--by", ADMIN,
                  env={"QUORUM_NEW_PASSWORD": password}))
    must(cli_here("--db", db, "signoff", "member", "add", user, "--by", CHAIR))


# --- HTTP -----------------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: Message   # case-insensitive, as HTTP headers are
    body: dict | None
    text: str = ""


def http(method: str, url: str, *, token: str | None = None, body=None, data: bytes | None = None,
         headers: dict | None = None, timeout: float = 120) -> Answer:
    """One request; every answer (2xx or not) as status, headers and parsed JSON (None when it is not JSON)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, answer_headers, raw = exc.code, exc.headers, exc.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return Answer(status, answer_headers, parsed, text)


@dataclass
class Served:
    """A workspace served by a real `python -m governance serve`, with API tokens by account name."""
    db: Path
    url: str
    process: subprocess.Popen
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def command(self, words: str, arguments: dict | None = None, *, token: str | None = None,
                as_user: str | None = None, secrets: dict | None = None, timeout: float = 120) -> Answer:
        """POST /api/v1/commands/<words> as the account `as_user` (its token) or with `token`."""
        body = {"arguments": arguments or {}}
        if secrets:
            body["secrets"] = secrets
        return http("POST", f"{self.url}/api/v1/commands/{words.replace(' ', '/')}",
                    token=token or self.tokens[as_user], body=body, timeout=timeout)

    def follow(self, job: dict, *, token: str, timeout: float = 120) -> dict:
        """Poll a job until it ends."""
        deadline = time.monotonic() + timeout
        while job["state"] == "running":
            assert time.monotonic() < deadline, f"job {job['id']} still running after {timeout} s: {job}"
            time.sleep(0.2)
            answer = http("GET", f"{self.url}/api/v1/jobs/{job['id']}", token=token)
            assert answer.status == 200, answer.text
            job = answer.body
        return job

    def result(self, words: str, arguments: dict | None = None, *, as_user: str) -> dict:
        """A command's result through the API (followed to completion for a job); it must succeed."""
        answer = self.command(words, arguments, as_user=as_user)
        assert answer.status in (200, 202), (words, answer.status, answer.text)
        if answer.status == 202:
            job = self.follow(answer.body["job"], token=self.tokens[as_user])
            assert job["state"] == "succeeded", job
            return {"result": job["result"], "exit_code": job["exit_code"]}
        return answer.body

    def through(self, user: str, **extra: str) -> dict:
        """The environment of a CLI run through this server as `user`."""
        return {"QUORUM_SERVER": self.url, "QUORUM_TOKEN": self.tokens[user], **extra}

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]


def serve(db: Path, workdir: Path, *, tokens: dict[str, str] | None = None, env: dict | None = None,
          port: int | None = None) -> Served:
    server, process = start_server(db=db, workdir=workdir, port=port, env=env)
    return Served(db=db, url=server.url, process=process, log_path=server.log_path, tokens=dict(tokens or {}))


def fresh_copy(demo_workspace: Path, folder: Path, name: str = "ws.duckdb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return copy_workspace(demo_workspace, folder / name)


def no_traceback(*results: subprocess.CompletedProcess) -> None:
    for result in results:
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory, request) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


def model_files(folder: Path, *, name: str = "model") -> tuple[Path, Path]:
    """A skops model on German credit's numeric inputs and its 300-row evaluation file (outcome, sex), as a
    training pipeline would hand them to `model register`."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from governance.demo.datasets import load_german

    features = ["duration_months", "credit_amount", "age", "installment_rate_pct"]
    frame = load_german()
    model = LogisticRegression(max_iter=1000).fit(frame[features].iloc[:700], frame["target"].iloc[:700])
    held_out = frame.iloc[700:]
    model_file, evaluation_file = folder / f"{name}.skops", folder / f"{name}-evaluation.csv"
    model_file.write_bytes(sio.dumps(model))
    held_out[features].assign(outcome=held_out["target"], sex=held_out["sex"]).to_csv(evaluation_file, index=False)
    return model_file, evaluation_file
