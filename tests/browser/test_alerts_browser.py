"""The Alerts page in a real Chromium: an alert's link opens the page that shows its evidence, with it chosen."""

from __future__ import annotations

from governance import alerts
from governance.alerts import delivery
from governance.record.store import GovernanceStore
from tests.browser.conftest import (ARTIFACTS, assert_no_failure, free_port, open_and_settle, settle, start_server,
                                    stop_server)
from tests.conftest import copy_workspace, forget_alerts


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


def test_alert_links_point_at_the_server_that_sent_them(browser, demo_workspace, tmp_path):
    """Served on a port other than 8501 with no base_url setting: every link the check queues is on that port."""
    db = forget_alerts(copy_workspace(demo_workspace, tmp_path / "links.duckdb"))   # never checked: all alerts new
    port = free_port()
    while port == 8501:
        port = free_port()
    server, process = start_server(db=db, workdir=tmp_path, port=port)
    context = browser.new_context(viewport={"width": 1440, "height": 2200})
    page = context.new_page()
    try:
        open_and_settle(page, server.url + "/alerts", "Alerts")
        page.get_by_role("button", name="Check the rules now").click()
        page.get_by_text("open now.").wait_for(timeout=60_000)
        settle(page)
        assert_no_failure(page)
    finally:
        context.close()
        stop_server(process)
    with GovernanceStore(db) as store:
        links = [d["payload"]["link"] for d in delivery.history(store)]
    assert links and all(link.startswith(f"http://127.0.0.1:{port}/") for link in links), links[:3]
