"""The Explanations page in a real Chromium: the explanation is computed in the background on first opening
(a progress bar, and other pages stay usable meanwhile), then the charts and a local narrative draw.

The page writes (it stores the explanation it computes), so it runs against its own server on a fresh copy of the
demo workspace with its stored explanations forgotten: the demo stores one of each version, and the shared server
may already hold more stored by the every-page test.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import (ARTIFACTS, assert_no_failure, open_and_settle, serve_copy, settle,
                                    sign_in_as_demo_user)
from tests.conftest import copy_workspace, forget_explanations

# adult-income v2: the tree explainer on 10,000 rows, long enough (several seconds) to open another page meanwhile
ADDRESS = "/explanations?model=adult-income&version=v2"
COMPUTED = 90_000


@pytest.fixture(scope="module")
def fresh_server(demo_workspace, tmp_path_factory):
    """Its own server, on a copy of the demo with no explanation stored: the demo stores one of each version, and
    the shared server may hold more."""
    unexplained = copy_workspace(demo_workspace, tmp_path_factory.mktemp("unexplained") / "demo.duckdb")
    yield from serve_copy(forget_explanations(unexplained), tmp_path_factory, "explanations")


@pytest.fixture
def context(browser, fresh_server, request):
    opened = browser.new_context(viewport={"width": 1440, "height": 2200})
    yield opened
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"\n--- streamlit output ---\n{fresh_server.output()}")
    opened.close()


def assert_explained(page) -> None:
    assert_no_failure(page)
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "None" not in text.split() and "failed (reference" not in text


def test_explanation_computes_in_background_then_draws_global_and_local(context, fresh_server):
    page = context.new_page()
    page.goto(fresh_server.url + ADDRESS)
    sign_in_as_demo_user(page)
    page.get_by_role("heading", name="Explanations", level=1).wait_for(timeout=60_000)
    progress = page.locator("[data-testid='stProgress']")
    progress.first.wait_for(timeout=60_000)
    assert "being computed now" in page.locator("[data-testid='stMain']").inner_text()

    other = context.new_page()  # a second tab: another page opens while the computation runs
    started = time.monotonic()
    other.goto(fresh_server.url + "/kpis")
    sign_in_as_demo_user(other)
    other.get_by_role("heading", name="KPIs", level=1).wait_for(timeout=60_000)
    other.locator("[data-testid='stMetric']").first.wait_for(timeout=60_000)
    kpis_opened = time.monotonic() - started
    # Whether the explanation is still running at this moment depends on how loaded the machine is, so it is
    # reported, not asserted: what must hold is that the other page opened and drew its figures meanwhile.
    print(f"/kpis drew its figures after {kpis_opened:.1f} s; explanation still computing: {progress.count() > 0}")
    open_and_settle(other, fresh_server.url + "/kpis", "KPIs")   # and it finishes drawing, without a failure
    assert other.locator("[data-testid='stException']").count() == 0
    assert other.locator("[data-testid='stMetric']").count() >= 2
    other.close()

    chart = page.locator("[data-testid='stPlotlyChart']").first
    chart.locator(".main-svg").first.wait_for(timeout=COMPUTED)
    settle(page)
    assert progress.count() == 0
    assert_explained(page)
    assert page.get_by_role("tab", name="Global").get_attribute("aria-selected") == "true"
    titles = page.locator("[data-testid='stPlotlyChart'] .gtitle").all_text_contents()
    assert titles[0].startswith("Which inputs matter most") and len(titles) == 3
    importance = page.locator("[data-testid='stPlotlyChart']").first
    assert importance.locator(".barlayer .point").count() >= 10  # one bar per input of adult-income
    assert importance.locator(".xtitle").text_content() == "mean |SHAP| (log-odds)"
    swarm = page.locator("[data-testid='stPlotlyChart']").nth(1)
    assert swarm.locator(".imagelayer image").count() == 1   # the dots: one picture under the axes
    assert "log-odds" in page.locator("[data-testid='stCaptionContainer']").filter(
        has_text="How to read this").inner_text()

    page.mouse.move(1, 1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 2600})
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "explanations-global.png"), full_page=True)

    page.get_by_role("tab", name="Local").click()
    settle(page)
    page.get_by_role("button", name="Show a declined applicant near the threshold").click()
    settle(page)
    assert_explained(page)
    narrative = page.locator("[data-testid='stAlertContentInfo']").filter(has_text="The model scored this applicant")
    assert narrative.is_visible()
    assert "decline" in narrative.inner_text() and "log-odds" in narrative.inner_text()
    waterfall = page.locator("[data-testid='stPlotlyChart']").first
    assert waterfall.locator(".gtitle").text_content().startswith("From an average applicant")
    assert waterfall.locator(".waterfalllayer .point").count() >= 10
    page.mouse.move(1, 1)
    page.screenshot(path=str(ARTIFACTS / "explanations-local.png"), full_page=True)


# The Plotly charts' SVG elements, and a sentence of the beeswarm's hover grid with the screen point where it shows.
SVG_ELEMENTS = """() => document.querySelectorAll("[data-testid='stPlotlyChart'] svg *").length"""
A_HOVER_CELL = """chart => {
    const plot = chart.querySelector('.js-plotly-plot');
    const grid = plot._fullData.find(t => t.type === 'heatmap');
    const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis, box = plot.getBoundingClientRect();
    for (const [i, band] of grid.text.entries())
        for (const [j, text] of band.entries())
            if (text && text.startsWith('age: ')) return {text: text.split('<br>')[0],
                x: box.left + xa._offset + xa.l2p(grid.x[j]), y: box.top + ya._offset + ya.l2p(grid.y[i])};
}"""


def test_a_stored_explanation_settles_fast_with_its_dots_as_pictures(browser, server):
    """Issue 20: 8 to 10 s to settle on every visit, the beeswarm's ~20,000 dots and the dependence plot's 2,000
    being SVG elements (about 0.5 MB of websocket frames). Their dots are pictures now, with a hover grid."""
    context = browser.new_context(viewport={"width": 1440, "height": 2200})
    page = context.new_page()
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
    try:
        open_and_settle(page, server.url + "/explanations", "Explanations")
        assert_explained(page)
        assert page.locator("[data-testid='stPlotlyChart']").count() == 3
        assert page.evaluate(SVG_ELEMENTS) < 3_000       # ~24,000 when every dot was an element
        assert sum(received) < 300_000, sum(received)    # ~500,000 bytes before

        swarm = page.locator("[data-testid='stPlotlyChart']").nth(1)
        cell = swarm.evaluate(A_HOVER_CELL)
        page.mouse.move(cell["x"], cell["y"])
        hover = page.locator(".hoverlayer .hovertext").first
        hover.wait_for(timeout=10_000)
        assert cell["text"] in hover.text_content()
        assert re.match(r"age: [\d,]+ applicants? with SHAP", cell["text"])

        nav = page.get_by_test_id("stSidebarNav")   # a visit from the sidebar, timed as the benchmark does
        nav.get_by_role("link", name="Reports").click()
        settle(page)
        started = time.time()
        nav.get_by_role("link", name="Explanations").click()
        page.get_by_role("heading", name="Explanations", level=1).wait_for(timeout=60_000)
        settle(page)
        print(f"Explanations settled {page.evaluate('window.__quorumSince') / 1000 - started:.2f} s after the click "
              "(benchmarks/explanations_page_browser.py measures it)")
    finally:
        context.close()


# The metric labels Streamlit cuts with an ellipsis when they do not fit their column.
CUT_LABELS = """() => [...document.querySelectorAll("[data-testid='stMetricLabel'] .stMarkdownEllipsis")]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


@pytest.mark.parametrize("width", [1280, 1400, 1920])
def test_the_checks_figures_are_whole_at_common_widths(browser, server, width):
    """Issue 20: "Ranking stability (min Kendall's …" was cut off at 1400 px."""
    context = browser.new_context(viewport={"width": width, "height": 1400})
    page = context.new_page()
    try:
        open_and_settle(page, server.url + "/explanations", "Explanations")
        page.get_by_role("tab", name="Checks").click()
        settle(page)
        labels = page.locator("[data-testid='stMetricLabel']").all_inner_texts()
        assert any(label.startswith("Ranking stability") for label in labels), labels
        assert page.evaluate(CUT_LABELS) == []
    finally:
        context.close()
