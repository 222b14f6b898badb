"""Demo mode in the real server and browser: `governance serve` on the demo workspace, bound to localhost,
offers the demo's people without a password only when QUORUM_DEMO_MODE=1 is set (as `make run` sets it);
without it the sign-in screen says demo mode is off and how to turn it on, and nobody signs in without a
password."""

from __future__ import annotations

from governance.access import identity
from tests.browser.conftest import assert_no_failure, sign_in_as_demo_user, start_server, stop_server
from tests.conftest import copy_workspace


def _sign_in_screen(page, url: str) -> str:
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=60_000)
    page.get_by_role("heading", name="Sign in to Quorum", level=1).wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    return page.get_by_test_id("stMain").inner_text()


def test_demo_mode_is_offered_only_when_the_server_was_started_with_the_setting(browser, demo_workspace, tmp_path):
    db = copy_workspace(demo_workspace, tmp_path / "demo-mode.duckdb")
    context = browser.new_context()
    page = context.new_page()
    off, process = start_server(db=db, workdir=tmp_path, env={identity.DEMO_MODE_SETTING: "0"})
    try:
        shown = _sign_in_screen(page, off.url + "/risks")
        assert "Demo mode (signing in as a demo person without a password) is off" in shown, off.output()
        assert "QUORUM_DEMO_MODE=1" in shown
        assert page.get_by_role("button", name="Enter demo mode").count() == 0
        assert page.get_by_text("Act as").count() == 0
        assert_no_failure(page)
    finally:
        stop_server(process)
    on, process = start_server(db=db, workdir=tmp_path, env={identity.DEMO_MODE_SETTING: "1"})
    try:
        page.goto(on.url + "/risks")
        sign_in_as_demo_user(page, "Hugo Tanaka")
        page.get_by_role("heading", name="Risks", level=1).wait_for(timeout=60_000)
        sidebar = page.get_by_test_id("stSidebar").inner_text()
        assert "Demo mode (QUORUM_DEMO_MODE=1)" in sidebar and "Hugo Tanaka" in sidebar
        assert_no_failure(page)
    finally:
        context.close()
        stop_server(process)
