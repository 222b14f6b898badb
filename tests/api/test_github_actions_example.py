"""examples/github-actions-release-gate.yml, run as a runner would run it against a real Quorum server: its
`python -m governance …` steps in a shell, in a runner's workspace folder, with the workflow's environment and
the API token of the service account its comments tell an admin to make. Each step must end as the pipeline
expects: the evidence steps succeed, and the gate refuses the new version (exit 1, every missing condition
listed), which stops the pipeline before the deploy job.

The workflow is read with a small reader for the shapes it uses (PyYAML is not a dependency): the top-level
`env:` mapping, and each step's `name:` and `run:` (one line, or a `>-`/`|` block).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.api.conftest import ADMIN, cli_here, fresh_copy, must, serve
from tests.conftest import ROOT
from tests.servers import stop_server

WORKFLOW = ROOT / "examples" / "github-actions-release-gate.yml"
TAG = "model-v9.1"                                  # the pushed tag: github.ref_name
REPOSITORY, RUN_ID = "your-org/credit-models", "4242"
CI_PASSWORD = "ci-bot-password-for-tests"
EXIT_CODES = {"gate": 1}                            # "exit 1 lists every missing condition and fails the pipeline"
# "Through a server the command line needs only Python's standard library: the runner ... installs nothing." The
# runner's Python here has Quorum's dependencies (it is this venv's), so they are hidden from the steps: any import
# of one fails the step with ModuleNotFoundError.
NOT_INSTALLED = ("duckdb", "pandas", "numpy", "pyarrow", "sklearn", "scipy", "skops", "shap", "streamlit", "jinja2",
                 "weasyprint", "plotly", "matplotlib", "starlette", "uvicorn", "pyspark", "sqlglot")
HIDE_DEPENDENCIES = '''
import importlib.abc
import sys


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {not_installed!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (the runner installs nothing)", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''


def workflow_env(text: str) -> dict[str, str]:
    """The top-level `env:` mapping, values as written."""
    block = re.search(r"^env:\n((?:[ \t]+.*\n|[ \t]*#.*\n|\n)+)", text, re.MULTILINE)
    assert block, "the workflow has no top-level env:"
    found = {}
    for line in block.group(1).splitlines():
        match = re.match(r"^\s+([A-Z_][A-Z0-9_]*):\s*(.*?)\s*$", line)
        if match:
            found[match.group(1)] = match.group(2).strip("\"'")
    return found


def run_steps(text: str) -> list[tuple[str, str, str]]:
    """(job, step name, command) of every step whose `run:` calls `python -m governance`, in order."""
    steps, job, name = [], None, None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if (match := re.match(r"^  ([\w-]+):\s*$", line)) and "jobs:" in text[:text.find(line)]:
            job = match.group(1)
        if match := re.match(r"^\s*-?\s*name:\s*(.+?)\s*$", line):
            name = match.group(1)
        if match := re.match(r"^(\s*)-?\s*run:\s*(.*?)\s*$", line):
            command = match.group(2)
            if command in (">-", ">", "|", "|-"):
                indent = len(match.group(1)) + 2
                block = []
                while i + 1 < len(lines) and (not lines[i + 1].strip() or
                                              len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent):
                    i += 1
                    block.append(lines[i].strip())
                command = (" " if command.startswith(">") else "\n").join(b for b in block if b)
            if "python -m governance" in command:
                steps.append((job, name, command))
            name = None
        i += 1
    return steps


def expand(text: str, values: dict[str, str]) -> str:
    """GitHub's `${{ … }}` expressions, from the values the test plays the runner with; any other is an error."""
    def value(match: re.Match) -> str:
        expression = match.group(1).strip()
        assert expression in values, f"the workflow uses ${{{{ {expression} }}}}, which this test does not supply"
        return values[expression]
    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def training_output(folder, *, model_file: str, evaluation_file: str) -> None:
    """What the workflow's own training step (`python train.py …`) leaves in the runner's workspace: a skops model
    of adult income and its held-out evaluation set, with the columns the workflow's register step names
    (--y-true income_over_50k --sensitive sex,race)."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from governance.demo.datasets import ADULT_NUMERIC, load_adult

    train, test = load_adult()
    model = LogisticRegression(max_iter=2000).fit(train[ADULT_NUMERIC], train["target"])
    (folder / model_file).write_bytes(sio.dumps(model))
    held_out = test.sample(n=800, random_state=7)
    held_out[ADULT_NUMERIC].assign(income_over_50k=held_out["target"], sex=held_out["sex"],
                                   race=held_out["race"]).to_csv(folder / evaluation_file, index=False)


def service_account_token(db, text: str) -> str:
    """The service account and its token, made the way the workflow's comments tell an admin to (on the workspace,
    before it is served): `users add ci-bot …` and `tokens create ci-release-gate --user ci-bot …`."""
    commands = re.findall(r"^#\s+((?:users add|tokens create) .+?)\s*$", text, re.MULTILINE)
    assert [c.split()[:2] for c in commands] == [["users", "add"], ["tokens", "create"]], commands
    token = None
    for command in commands:
        argv = [ADMIN if word == "ADMIN" else word for word in shlex.split(command)]
        result = must(cli_here("--db", db, *argv, env={"QUORUM_NEW_PASSWORD": CI_PASSWORD}))
        token = re.search(r"qrm_\S+", result.stdout)
    assert token, "`tokens create` printed no token"
    return token.group(0)


@pytest.fixture(scope="module")
def pipeline(demo_workspace, module_dir):
    text = WORKFLOW.read_text()
    db = fresh_copy(demo_workspace, module_dir / "quorum")
    token = service_account_token(db, text)
    served = serve(db, module_dir)
    yield text, served, token
    stop_server(served.process)


def test_the_example_s_steps_run_through_a_server_and_end_as_the_pipeline_expects(pipeline, tmp_path):
    text, served, token = pipeline
    runner = tmp_path / "runner-workspace"        # ${{ github.workspace }}: the model repository's checkout
    runner.mkdir()
    expressions = {"github.ref_name": TAG, "github.workspace": str(runner), "github.repository": REPOSITORY,
                   "github.run_id": RUN_ID, "vars.QUORUM_SERVER": served.url, "secrets.QUORUM_SERVER": served.url,
                   "secrets.QUORUM_TOKEN": token}
    env = {name: expand(value, expressions) for name, value in workflow_env(text).items()}
    assert env.get("QUORUM_SERVER") == served.url and env.get("QUORUM_TOKEN") == token, \
        "the workflow must reach Quorum through QUORUM_SERVER and QUORUM_TOKEN"
    assert "QUORUM_DB" not in env and "QUORUM_LEDGER_KEY" not in env and "QUORUM_PASSWORD" not in env, \
        "through the server the pipeline holds no workspace, ledger key or password"
    expressions.update({f"env.{name}": value for name, value in env.items()})
    env = {name: expand(value, expressions) for name, value in env.items()}
    training_output(runner, model_file=env.get("MODEL_FILE", "model.skops"),
                    evaluation_file=env.get("EVAL_FILE", "evaluation.csv"))
    # The runner's shell: the workflow's env, GitHub's own variables, and `python` meaning this interpreter without
    # Quorum's dependencies. The Quorum checkout is this repository (the workflow checks it out at ./quorum and
    # puts it on PYTHONPATH).
    bare = tmp_path / "bare-python"
    (bare / "bin").mkdir(parents=True)
    (bare / "sitecustomize.py").write_text(HIDE_DEPENDENCIES.format(not_installed=set(NOT_INSTALLED)))
    (bare / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bare / "bin" / "python").chmod(0o755)
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    shell_env.update(env)
    shell_env.update({"GITHUB_REPOSITORY": REPOSITORY, "GITHUB_RUN_ID": RUN_ID, "GITHUB_REF_NAME": TAG,
                      "GITHUB_WORKSPACE": str(runner), "PYTHONPATH": f"{bare}{os.pathsep}{ROOT}",
                      "PATH": f"{bare / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    hidden = subprocess.run(["python", "-c", "import pandas"], env=shell_env, capture_output=True, text=True)
    assert hidden.returncode == 1 and "the runner installs nothing" in hidden.stderr, hidden.stderr

    steps = run_steps(text)
    commands = [re.search(r"python -m governance\s+(?:--\S+\s+\S+\s+)*(\w+(?: \w+)?)", command).group(1)
                for _, _, command in steps]
    assert commands[-1] == "gate" and {"model register", "audit run", "robustness run"} <= set(commands), commands
    outcomes = []
    for (job, name, command), words in zip(steps, commands):
        script = expand(command, expressions)
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=runner, env=shell_env,
                                capture_output=True, text=True, timeout=600)
        expected = EXIT_CODES.get(words, 0)
        outcomes.append((job, name, words, result))
        assert "Traceback" not in result.stdout + result.stderr, (name, result.stderr)
        assert result.returncode == expected, \
            f"step {name!r} ({script}) exited {result.returncode}, the pipeline expects {expected}\n" \
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"

    results = {words: result for _, _, words, result in outcomes}
    if "model register" in results and "--json" in steps[commands.index("model register")][2]:
        registered = json.loads(results["model register"].stdout)
        assert (registered["model"], registered["version"], registered["evaluation_rows"]) == \
            ("adult-income", TAG, 800)
    if "report" in results:
        report = runner / env.get("REPORT_FILE", "report.pdf")
        assert report.read_bytes().startswith(b"%PDF-"), "the report did not stream back to --out"
    gate = json.loads(results["gate"].stdout)
    assert gate["ok"] is False and gate["reasons"], gate
    assert any("committee" in reason for reason in gate["reasons"]), gate["reasons"]
    # Recorded as the token's account (checked), with where the pipeline says it runs (its own words) beside it.
    assert gate["checked_by"] == "ci-bot (engineering leader)"
    assert gate["caller"] == f"github-actions {REPOSITORY} run {RUN_ID}"

    # The evidence is on the server, recorded as the service account's: it acts with its own role, not more.
    whoami = json.loads(subprocess.run(["python", "-c", (
        "import json, os, urllib.request;"
        "r = urllib.request.Request(os.environ['QUORUM_SERVER'] + '/api/v1/whoami',"
        " headers={'Authorization': 'Bearer ' + os.environ['QUORUM_TOKEN']});"
        "print(urllib.request.urlopen(r).read().decode())")], env=shell_env, capture_output=True, text=True,
        check=True).stdout)
    assert (whoami["user_name"], whoami["role"]) == ("ci-bot", "engineering leader")
    listed = subprocess.run(["python", "-m", "governance", "audit", "list", "--model", "adult-income",
                             "--version", TAG, "--json"], cwd=runner, env=shell_env, capture_output=True, text=True,
                            check=True)
    audits = json.loads(listed.stdout)["audits"]
    assert len(audits) == 1 and audits[0]["defined_by"] == "ci-bot (engineering leader)", audits
