"""A real `streamlit run` server on a free port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import ROOT
from tests.servers import Server, free_port, start_server, stop_server  # noqa: F401 (used by the browser tests)

DEMO_PERSON = "Farid Haddad"   # an engineering leader: may run audits and edit risks, not vote
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def sign_in_as_demo_user(page, person: str = DEMO_PERSON) -> None:
    """A new browser session meets the sign-in screen; the demo workspace served on localhost with
    QUORUM_DEMO_MODE=1 (tests.servers sets it) offers demo mode."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=60_000)
    page.get_by_role("heading", name="Sign in to Quorum", level=1).wait_for(timeout=60_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Act as").click()
    page.get_by_role("option", name=re.compile(re.escape(person))).click()
    page.get_by_role("button", name="Enter demo mode").click()


def open_and_settle(page, url: str, title: str, *, person: str = DEMO_PERSON) -> None:
    """Go to the page, sign in as a demo person, and wait until the script has finished running: never a sleep."""
    page.goto(url)
    sign_in_as_demo_user(page, person)
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_function(DRAWN_AND_STILL, polling=100, timeout=60_000)


# Charts and tables load their renderers lazily, after the script has finished: the page is settled when
# no placeholder skeleton is left, every visible chart and table has drawn (hidden tabs and closed expanders draw when opened) and the main area has not changed for 750 ms.
DRAWN_AND_STILL = """() => {
    const shown = selector => [...document.querySelectorAll(selector)].filter(
        e => e.offsetParent !== null && !e.closest("details:not([open])"));
    const drawn = !document.querySelector("[data-testid='stSkeleton']") &&
        shown("[data-testid='stPlotlyChart']").every(c => c.querySelector('.main-svg')) &&
        shown("[data-testid='stDataFrame']").every(
            t => t.querySelector("[data-testid^='glide-cell']") && t.getBoundingClientRect().width > 200);
    const html = document.querySelector("[data-testid='stMain']").innerHTML;
    if (!drawn || window.__quorumHtml !== html) {
        window.__quorumHtml = html;
        window.__quorumSince = Date.now();
        return false;
    }
    return Date.now() - window.__quorumSince > 750;
}"""


def serve_copy(demo_workspace: Path, tmp_path_factory, name: str):
    """Start the app on a private copy of the demo workspace (the server holds the file); yields the server."""
    workdir = tmp_path_factory.mktemp(name)
    db = workdir / f"{name}.duckdb"
    shutil.copyfile(demo_workspace, db)
    anchor = Path(f"{demo_workspace}.anchor")  # the ledger's anchor goes with it, or `verification.verify` fails on the copy
    if anchor.exists():
        shutil.copyfile(anchor, f"{db}.anchor")
    server, process = start_server(db=db, workdir=workdir)
    try:
        yield server
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def server(demo_workspace, tmp_path_factory):
    """The app as a user meets it, on its own copy of the demo workspace."""
    yield from serve_copy(demo_workspace, tmp_path_factory, "browser")


def settle(page) -> None:
    """After a click: the rerun has finished, lazily loaded widgets are in, charts and tables are drawn."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_function(DRAWN_AND_STILL, polling=100, timeout=60_000)


def assert_no_failure(page) -> None:
    """No exception box, no traceback, no 'something went wrong' in the main area."""
    assert page.locator("[data-testid='stException']").count() == 0
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "Something went wrong" not in text and "Traceback" not in text


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server, request):
    context = browser.new_context(viewport={"width": 1440, "height": 2200})
    opened = context.new_page()
    yield opened
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"\n--- streamlit output ---\n{server.output()}")
    context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
