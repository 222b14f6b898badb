"""Open every page in a real Chromium against a real server, as a user would."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from components.navigation import PAGES, url_path
from tests.browser.conftest import ARTIFACTS, open_and_settle
from tests.conftest import ROOT, copy_workspace

README_SCREENSHOT = ROOT / "docs" / "screenshots" / "overview.png"
REFRESH_README_PICTURE = "QUORUM_REFRESH_README_PICTURE"


def readme_picture() -> Path | None:
    """Where the Overview's screenshot goes besides artifacts/ (git-ignored): the README's tracked picture, only when
    asked for (`QUORUM_REFRESH_README_PICTURE=1 make test-browser`), so a test run leaves the tree as it was."""
    return README_SCREENSHOT if os.environ.get(REFRESH_README_PICTURE) == "1" else None


@pytest.mark.parametrize("spec", PAGES, ids=[p.title for p in PAGES])
def test_page_opens_without_exception(page, server, spec):
    address = server.url + ("/" if spec is PAGES[0] else f"/{url_path(spec)}")
    open_and_settle(page, address, spec.title)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_role("heading", name=spec.title, level=1).is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{url_path(spec)}.png"
    page.screenshot(path=str(shot), full_page=True)
    if spec is PAGES[0] and readme_picture() is not None:
        readme_picture().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, readme_picture())


def test_overview_shows_inventory_and_chart(page, server):
    open_and_settle(page, server.url + "/", "Overview")
    for text in ("adult-income", "german-credit", "Model inventory"):
        assert page.get_by_role("heading", name=text).is_visible()
    chart = page.locator("[data-testid='stPlotlyChart']")
    chart.locator(".main-svg").first.wait_for(timeout=60_000)  # plotly's renderer loads lazily
    assert chart.count() == 1
    assert "Predictions served per day" in chart.locator(".gtitle").text_content()
    assert chart.locator(".legendtext").count() == 3  # adult-income v1, v2 and german-credit v1
    assert page.locator("[data-testid='stMetric']").count() == 12


def test_navigation_lists_every_page_and_moves_between_them(page, server):
    open_and_settle(page, server.url + "/", "Overview")
    links = page.locator("[data-testid='stSidebarNav'] [data-testid='stSidebarNavLink']")
    assert [t.split("\n")[-1].strip() for t in links.all_inner_texts()] == [spec.title for spec in PAGES]  # after the icon
    links.get_by_text("Admin", exact=True).click()
    page.get_by_role("heading", name="Admin", level=1).wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    assert page.url.endswith("/admin")
    assert page.get_by_text("Schema version").is_visible()


def test_a_direct_link_as_first_request_still_goes_through_app_py(browser, demo_workspace, tmp_path):
    """Streamlit runs a page file directly, skipping app.py, when a `pages/` folder sits beside it and the
    first request of a fresh server is a direct link. Our pages live in pages/, so this must not happen."""
    from tests.browser.conftest import start_server, stop_server

    db = tmp_path / "direct.duckdb"
    copy_workspace(demo_workspace, db)
    server, process = start_server(db=db, workdir=tmp_path)
    context = browser.new_context(viewport={"width": 1440, "height": 1200})
    page = context.new_page()
    try:
        open_and_settle(page, server.url + "/admin", "Admin")
        links = page.locator("[data-testid='stSidebarNav'] [data-testid='stSidebarNavLink']")
        assert [t.split("\n")[-1].strip() for t in links.all_inner_texts()] == [spec.title for spec in PAGES], \
            server.output()
    finally:
        context.close()
        stop_server(process)


def test_kpis_chart_follows_the_grain_control(page, server):
    open_and_settle(page, server.url + "/kpis", "KPIs")
    points = "() => document.querySelector(\"[data-testid='stPlotlyChart'] .js-plotly-plot\").data[0].x.length"
    daily = page.evaluate(points)
    assert 85 <= daily <= 90  # one point per day of adult-income v1
    page.locator("[data-testid='stButtonGroup']").get_by_text("week", exact=True).click()
    page.wait_for_function(f"() => ({points[6:]}) < 20", timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    assert page.evaluate(points) in (13, 14)  # 90 days touch 14 ISO weeks
    assert page.locator("[data-testid='stException']").count() == 0


def test_explore_chart_follows_the_measure_and_the_link_keeps_it(page, server):
    open_and_settle(page, server.url + "/explore", "Explore")
    title = page.locator("[data-testid='stPlotlyChart'] .gtitle").first
    assert title.text_content() == "predictions"
    page.locator("[data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="error_rate", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector(\"[data-testid='stPlotlyChart'] .gtitle\")?.textContent === 'error rate'",
        timeout=60_000)
    assert "measure=error_rate" in page.url
    shared = page.url
    open_and_settle(page, shared, "Explore")  # a colleague opening the link sees the same view
    assert page.locator("[data-testid='stPlotlyChart'] .gtitle").first.text_content() == "error rate"
