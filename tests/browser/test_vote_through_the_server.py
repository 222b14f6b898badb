"""A vote signed through the server from the command line appears in a browser session that has the review open
on the Sign-offs page, at that session's next rerun: one server owns the workspace, and the CLI, the API and the
pages all act on it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from governance.cli import main as cli
from tests.browser.conftest import assert_no_failure, open_and_settle, settle, start_server, stop_server
from tests.conftest import ROOT, copy_workspace
from tests.servers import ledger_key_in_environment

MEMBER, PASSWORD = "carla.mendes", "a long committee passphrase"


def _cli(*argv: str, env: dict | None = None) -> str:
    """A command in this process (before the server holds the file), as a script would run it."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            assert cli.main(list(argv)) == 0
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return out.getvalue()


@pytest.fixture(scope="module")
def served(demo_workspace, tmp_path_factory):
    """A copy of the demo with a local committee member, her API token and an open review, then served."""
    with ledger_key_in_environment():
        workdir = tmp_path_factory.mktemp("vote-through-server")
        db = str(copy_workspace(demo_workspace, workdir / "vote.duckdb"))
        _cli("--db", db, "users", "add", MEMBER, "--role", "committee member", "--display-name", "Carla Mendes",
             "--by", "grace.lindqvist", env={"QUORUM_NEW_PASSWORD": PASSWORD})
        _cli("--db", db, "signoff", "member", "add", MEMBER, "--by", "amara.okafor")
        token = json.loads(_cli("--db", db, "tokens", "create", "carla-laptop", "--user", MEMBER,
                                "--by", "grace.lindqvist", "--json"))["token"]
        review = json.loads(_cli("--db", db, "signoff", "request", "--model", "adult-income", "--version", "v2",
                                 "--gate", "production", "--by", "farid.haddad", "--json"))["review_id"]
        started, process = start_server(db=workdir / "vote.duckdb", workdir=workdir)
        try:
            yield started, token, review
        finally:
            stop_server(process)


def test_a_vote_signed_on_the_command_line_shows_in_the_open_page(page, served):
    server, token, review = served
    page.set_viewport_size({"width": 1440, "height": 3000})
    open_and_settle(page, server.url + "/signoffs", "Sign-offs", person="Amara Okafor")
    page.get_by_text(f"{review} · adult-income v2 → production", exact=False).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Open").first.click()
    settle(page)
    main = page.locator("[data-testid='stMain']")
    assert "Carla Mendes" not in main.inner_text()

    voted = subprocess.run(
        [sys.executable, "-m", "governance", "signoff", "vote", review, "--vote", "approve",
         "--reason", "Read the frozen evidence; the latency root cause is documented."],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "QUORUM_SERVER": server.url, "QUORUM_TOKEN": token, "QUORUM_PASSWORD": PASSWORD})
    assert voted.returncode == 0, voted.stderr
    assert voted.stdout.startswith("signed: Carla Mendes (committee member) approve"), voted.stdout

    voted_line = page.get_by_text("Carla Mendes (committee member) — approved", exact=False).first
    for _ in range(4):   # Streamlit ignores its rerun key while a run is still going (a loaded machine): press again
        page.mouse.click(5, 5)      # focus the page, off any input, then Streamlit's rerun key
        page.keyboard.press("r")
        settle(page)
        try:
            voted_line.wait_for(timeout=20_000)
            break
        except PlaywrightTimeout:
            continue
    voted_line.wait_for(timeout=20_000)
    assert "Read the frozen evidence; the latency root cause is documented." in main.inner_text()
    assert_no_failure(page)
