"""The Alerts page in a real Chromium: an alert's link opens the page that shows its evidence, with it chosen."""

from __future__ import annotations

from governance import alerts
from governance.store import GovernanceStore
from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle, settle


def test_an_alerts_link_opens_the_page_with_its_evidence(page, server, demo_workspace):
    with GovernanceStore(demo_workspace) as store:   # the server's copy holds the same alerts: no test checks them
        opened = alerts.episodes(store, open_only=True)
    first = sorted(opened, key=lambda e: -alerts.SEVERITIES.index(e["severity"]))[0]   # the worst, newest first
    page.set_viewport_size({"width": 1440, "height": 2400})
    open_and_settle(page, server.url + "/alerts", "Alerts")
    assert_no_failure(page)
    assert page.get_by_role("heading", name=first["title"]).is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alerts-detail.png"), full_page=True)

    target, query = first["link"].split("?")
    name, value = query.split("=")
    page.get_by_role("link", name="Open the evidence in Quorum").click()
    page.wait_for_url(f"**/{target}**", timeout=60_000)
    settle(page)
    assert_no_failure(page)
    chosen = {"risk": "Risk", "review": "Review", "audit": "Audit", "model": "Model"}[name]
    page.screenshot(path=str(ARTIFACTS / "alerts-followed.png"), full_page=True)
    # the page's picker holds what the alert is about
    assert page.get_by_role("combobox", name=chosen, exact=True).input_value().startswith(value)
