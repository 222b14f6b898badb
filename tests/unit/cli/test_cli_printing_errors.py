"""The CLI's output is written inside its error handling (issue 22): a reader that stops early, a full disk, a
closed stdout or an encoding that cannot show the result end in the usual one `error:` line (or quietly, for a
closed pipe) and the usual exit code, never a traceback or Python's "Exception ignored" message at exit.

Each case runs the real CLI in a subprocess, as a user's shell would: with stdout a pipe or a file, so it is
block-buffered (PYTHONUNBUFFERED is removed, as on a user's machine; the unbuffered case is checked too)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = [["status"], ["status", "--json"], ["--help"], ["risks", "--help"]]


def _env(*, buffered: bool, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "QUORUM_SERVER", "QUORUM_LOG")}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


def _cli(db: Path, argv: list[str], *, stdout, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "governance", "--db", str(db), *argv], cwd=ROOT, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("cli-out") / "café.duckdb"    # a non-ASCII path, printed by `status`
    done = _cli(db, ["init"], stdout=subprocess.PIPE, env=_env(buffered=True))
    assert done.returncode == 0, done.stderr
    return db


def _no_python_noise(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize("argv", COMMANDS)
def test_a_reader_that_stopped_early_ends_quietly(workspace, argv, buffered):
    read_end, write_end = os.pipe()
    os.close(read_end)                                   # `| head -0`: nobody reads, every write gets EPIPE
    try:
        done = _cli(workspace, argv, stdout=write_end, env=_env(buffered=buffered))
    finally:
        os.close(write_end)
    _no_python_noise(done.stderr)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize("argv", COMMANDS)
def test_a_full_disk_gives_one_error_line(workspace, argv, buffered):
    with open("/dev/full", "w") as full:                 # every write fails with ENOSPC
        done = _cli(workspace, argv, stdout=full, env=_env(buffered=buffered))
    _no_python_noise(done.stderr)
    if argv[-1] == "--help" and not buffered:
        # unbuffered, argparse's own write of the help fails at once, and argparse ignores that: nothing to say
        assert done.returncode == 0
        return
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: cannot write the output (No space left on device)")


def test_a_result_the_output_encoding_cannot_hold_gives_one_error_line(workspace):
    done = _cli(workspace, ["status"], stdout=subprocess.PIPE, env=_env(buffered=True, PYTHONIOENCODING="ascii"))
    _no_python_noise(done.stderr)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: cannot print '\\xe9' in this output's encoding (ascii): set "
                                        "PYTHONIOENCODING=utf-8 (or, for a result, add --json: JSON escapes it)"]
    as_json = _cli(workspace, ["status", "--json"], stdout=subprocess.PIPE,
                   env=_env(buffered=True, PYTHONIOENCODING="ascii"))
    assert as_json.returncode == 0 and "caf\\u00e9.duckdb" in as_json.stdout


def test_help_the_output_encoding_cannot_hold_gives_one_error_line(workspace):
    done = _cli(workspace, ["audit", "run", "--help"], stdout=subprocess.PIPE,   # its help holds … and ×
                env=_env(buffered=True, PYTHONIOENCODING="ascii"))
    _no_python_noise(done.stderr)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: cannot print '\\u2026' in this output's encoding (ascii)")


def test_a_closed_stdout_ends_quietly(workspace):
    done = subprocess.run(["sh", "-c", '"$0" -m governance --db "$1" status >&-', sys.executable, str(workspace)],
                          cwd=ROOT, stderr=subprocess.PIPE, text=True, env=_env(buffered=True), timeout=60)
    _no_python_noise(done.stderr)
    assert (done.returncode, done.stderr) == (0, "")
