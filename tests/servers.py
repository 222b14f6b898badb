"""A real Quorum server (`python -m governance serve`: the pages and the API) on a free port, for the browser
and API tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_LEDGER_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, log_path: Path):
        self.url = url
        self.log_path = log_path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]


def start_server(*, db: Path, workdir: Path, port: int | None = None, extra_args: tuple[str, ...] = (),
                 env: dict | None = None) -> tuple[Server, subprocess.Popen]:
    """`python -m governance serve` (the pages and the API) on a free port, waited on until /_stcore/health
    answers. With Streamlit flags in `extra_args`, the same server.py through `streamlit run`."""
    port = port or free_port()
    log_path = workdir / f"server-{port}.log"
    # Demo mode on, as `make run` serves the demo: the browser tests sign in as the demo's people (a server that
    # must not offer it passes env={"QUORUM_DEMO_MODE": "0"}).
    env = {**os.environ, "QUORUM_DB": str(db), "QUORUM_AUTO_DEMO": "0", "QUORUM_DEMO_MODE": "1", **(env or {})}
    if extra_args:
        command = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
                   "--server.headless", "true", "--server.address", "127.0.0.1", *extra_args]
    else:
        command = [sys.executable, "-m", "governance", "serve", "--db", str(db), "--port", str(port),
                   "--address", "127.0.0.1"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    server = Server(url, log_path)
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return server, process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the server did not become healthy; its output:\n{server.output()}")
        time.sleep(0.3)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def ledger_key_in_environment():
    """The ledger key the demo signed with, in os.environ for the servers a module starts; restored afterwards."""
    before = os.environ.get("QUORUM_LEDGER_KEY")
    os.environ["QUORUM_LEDGER_KEY"] = before or TEST_LEDGER_KEY
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("QUORUM_LEDGER_KEY", None)
        else:
            os.environ["QUORUM_LEDGER_KEY"] = before
