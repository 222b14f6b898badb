"""Open every page in a real Chromium against a real server, as a user would."""

from __future__ import annotations

import shutil

import pytest

from components.navigation import PAGES, url_path
from tests.browser.conftest import ARTIFACTS
from tests.conftest import ROOT

README_SCREENSHOT = ROOT / "docs" / "screenshots" / "overview.png"


def open_and_settle(page, url: str, title: str) -> None:
    """Go to the page and wait until the script has finished running: never a sleep."""
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=60_000)
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_function(DRAWN_AND_STILL, polling=100, timeout=60_000)


# Charts and tables load their renderers lazily, after the script has finished: the page is settled when
# every chart and table has drawn and the main area has not changed for 750 ms.
DRAWN_AND_STILL = """() => {
    const drawn =
        [...document.querySelectorAll("[data-testid='stPlotlyChart']")].every(c => c.querySelector('.main-svg')) &&
        [...document.querySelectorAll("[data-testid='stDataFrame']")].every(
            t => t.querySelector("[data-testid^='glide-cell']"));
    const html = document.querySelector("[data-testid='stMain']").innerHTML;
    if (!drawn || window.__quorumHtml !== html) {
        window.__quorumHtml = html;
        window.__quorumSince = Date.now();
        return false;
    }
    return Date.now() - window.__quorumSince > 750;
}"""


@pytest.mark.parametrize("spec", PAGES, ids=[p.title for p in PAGES])
def test_page_opens_without_exception(page, server, spec):
    address = server.url + ("/" if spec is PAGES[0] else f"/{url_path(spec)}")
    open_and_settle(page, address, spec.title)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_role("heading", name=spec.title, level=1).is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{url_path(spec)}.png"
    page.screenshot(path=str(shot), full_page=True)
    if spec is PAGES[0]:
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)


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
