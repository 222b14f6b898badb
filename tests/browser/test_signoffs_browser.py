"""The Sign-offs page in a real Chromium: an engineering leader requests a review, a committee member opens it
from their queue and signs it with the demo sign-off; the signature is manifested with the printed name, role,
meaning and the evidence hash it is bound to. Runs on its own server over a private copy of the demo workspace."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle, settle, start_server, stop_server
from tests.conftest import copy_workspace
from tests.servers import ledger_key_in_environment


@pytest.fixture(scope="module")
def server(demo_workspace, tmp_path_factory):
    """This module's own app server (the session's one is shared); it inherits the ledger key the demo signed
    with through os.environ, restored afterwards."""
    with ledger_key_in_environment():
        workdir = tmp_path_factory.mktemp("signoffs")
        db = copy_workspace(demo_workspace, workdir / "signoffs.duckdb")
        started, process = start_server(db=db, workdir=workdir)
        try:
            yield started
        finally:
            stop_server(process)


def test_a_review_is_requested_then_signed_by_a_committee_member(page, server):
    page.set_viewport_size({"width": 1440, "height": 3000})
    open_and_settle(page, server.url + "/signoffs", "Sign-offs", person="Farid Haddad")
    assert_no_failure(page)
    page.get_by_role("tab", name="Request a review").click()
    settle(page)
    page.get_by_role("button", name="Request review").click()
    settle(page)
    flash = page.get_by_text(re.compile(r"RV-\d{4} requested: adult-income v2")).first
    flash.wait_for(timeout=60_000)
    found = re.search(r"(RV-\d{4}) requested: .* SHA-256 ([0-9a-f]{64})", flash.inner_text())
    review_id, digest = found.group(1), found.group(2)
    assert_no_failure(page)

    open_and_settle(page, server.url + "/signoffs", "Sign-offs", person="Ben Hartmann")
    page.get_by_role("button", name="Open").first.wait_for(timeout=60_000)
    assert page.get_by_text(f"{review_id} · adult-income v2 → production", exact=False).first.is_visible()
    page.get_by_role("button", name="Open").first.click()
    settle(page)
    form = page.locator("[data-testid='stForm']").filter(has=page.get_by_role("button", name="Sign"))
    assert form.get_by_text("Demo mode signs without a password", exact=False).is_visible()
    form.get_by_label("Reason (required)").fill("Evidence reviewed: latency back within target, audit understood.")
    form.get_by_role("button", name="Sign").click()
    settle(page)
    page.get_by_text("Signed: Ben Hartmann (committee member) approved", exact=False).wait_for(timeout=60_000)
    settle(page)
    assert_no_failure(page)
    assert page.locator("[data-testid='stAlertContentError']").count() == 0

    main = page.locator("[data-testid='stMain']").inner_text()
    assert "Ben Hartmann (committee member) — approved" in main
    assert f"Signed over evidence SHA-256 {digest}" in main
    assert "Reason: Evidence reviewed: latency back within target, audit understood." in main
    assert "You have signed this review." in main
    page.mouse.move(1, 1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "signoffs.png"), full_page=True)
