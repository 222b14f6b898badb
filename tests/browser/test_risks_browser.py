"""The Risks page in a real Chromium: a risk whose title is HTML is stored and shown as the literal text, and no
script in it runs. It writes one risk, as the signed-in demo person, to the session server's own copy of the demo
workspace (which has the demo's register)."""

from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle, settle

HOSTILE = "<img src=x onerror=alert(1)>"


def test_a_risk_titled_with_html_shows_literally_and_runs_no_script(page, server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_viewport_size({"width": 1440, "height": 3000})
    open_and_settle(page, server.url + "/risks", "Risks")
    assert_no_failure(page)

    form = page.locator("[data-testid='stForm']").filter(has=page.get_by_role("button", name="Add risk"))
    form.get_by_label("Title").fill(HOSTILE)
    form.get_by_label("Description").fill(f"Description with {HOSTILE} and <script>alert(2)</script> too")
    form.get_by_test_id("stSelectbox").filter(has_text="Owner").click()
    page.get_by_role("option", name="Elif Kaya (risk owner)").click()
    form.get_by_role("button", name="Add risk").click()
    settle(page)
    page.get_by_text("recorded.", exact=False).first.wait_for(timeout=60_000)
    settle(page)
    assert_no_failure(page)

    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    shown = page.locator("[data-testid='stText']").filter(has_text=HOSTILE)
    assert shown.first.is_visible()
    assert shown.first.inner_text().strip() == HOSTILE
    assert page.get_by_text(HOSTILE, exact=False).locator("visible=true").count() >= 2  # detail and risk picker
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("[data-testid='stMain'] script").count() == 0
    assert page.locator("[data-testid='stPlotlyChart']").count() == 2  # the heat maps


    # a click on the inherent heat map's cell of this risk (likelihood 3 × impact 3, the form's defaults) lists it
    cell = page.locator("[data-testid='stPlotlyChart']").first.locator(".scatterlayer .point").nth(12)
    for attempt in range(6):   # plotly finds the point under a click from its hover: let it hover first
        settle(page)               # (on a loaded machine a late rerun can redraw the chart under the pointer)
        cell.scroll_into_view_if_needed()   # adding the risk scrolled the page down to its detail
        box = cell.bounding_box()  # plotly's drag layer lies on top: click where the cell is, as a user does;
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2   # read again: a redraw may move it
        page.mouse.move(1, 1)
        page.mouse.move(x, y)
        try:
            page.locator(".hoverlayer .hovertext").first.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 5:
                raise
    page.mouse.click(x, y)
    # the click's rerun may not have started when settle() first looks: wait for what it draws
    page.get_by_text("Showing the risks in the clicked cell (inherent 3 × 3", exact=False).wait_for(timeout=60_000)
    settle(page)
    assert_no_failure(page)

    page.mouse.move(1, 1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "risks.png"), full_page=True)
    assert dialogs == []  # no alert() ran
