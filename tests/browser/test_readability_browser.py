"""Figures are never cut off (issue 20): the KPI page's tiles and controls, the Overview's tiles and the A/B table
with its verdict column, in a real Chromium at 1280 px and 1920 px."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle

# Every visible element matched by the selector, and everything inside it, whose content is wider than its box:
# text that the browser ellipsises ("4.5/…") or clips.
CUT_OFF = """selector => [...document.querySelectorAll(selector)]
    .filter(e => e.offsetParent !== null)
    .flatMap(e => [e, ...e.querySelectorAll('*')])
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => `${e.closest(selector).innerText.replace(/\\s+/g, ' ')}: ${e.scrollWidth}px in ${e.clientWidth}px`)"""
# A table wider than its frame scrolls sideways: its last columns (the A/B verdict) start off-screen.
TABLES_SCROLLING = """() => [...document.querySelectorAll("[data-testid='stDataFrame'] .dvn-scroller")]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => `${e.scrollWidth}px in ${e.clientWidth}px`)"""
TILES = ("[data-testid='stMetricValue']", "[data-testid='stMetricLabel']")
WIDTHS = (1280, 1920)


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def sized_page(browser, server, request):
    context = browser.new_context(viewport={"width": request.param, "height": 1600})
    page = context.new_page()
    yield page, request.param
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print(f"\n--- streamlit output ---\n{server.output()}")
    context.close()


def _nothing_cut_off(page, *selectors: str) -> None:
    for selector in selectors:
        assert page.locator(selector).count() > 0, selector
        cut = page.evaluate(CUT_OFF, selector)
        assert not cut, f"{selector}: {cut}"


def _shot(page, name: str, width: int) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"readable-{name}-{width}.png"), full_page=True)


def test_kpi_tiles_and_controls_show_their_whole_figures(sized_page, server):
    page, width = sized_page
    open_and_settle(page, server.url + "/kpis", "KPIs")
    assert_no_failure(page)
    _shot(page, "kpis", width)
    assert page.locator("[data-testid='stMetricValue']").count() == 12   # adult-income v1 and v2, six tiles each
    _nothing_cut_off(page, *TILES, "[data-testid='stButtonGroup'] button")
    values = page.locator("[data-testid='stMetricValue']").all_inner_texts()
    assert any(v.endswith("/min") for v in values) and any(v.startswith("$") for v in values)
    grain = page.locator("[data-testid='stButtonGroup']").first
    assert grain.get_by_text("week", exact=True).is_visible()
    box, main = grain.bounding_box(), page.locator("[data-testid='stMain']").bounding_box()
    assert box["x"] + box["width"] <= main["x"] + main["width"]


def test_overview_tiles_show_their_whole_figures(sized_page, server):
    page, width = sized_page
    open_and_settle(page, server.url + "/", "Overview")
    assert_no_failure(page)
    _shot(page, "overview", width)
    assert page.locator("[data-testid='stMetricValue']").count() == 12
    _nothing_cut_off(page, *TILES)


def test_the_ab_table_shows_every_column_and_whole_verdicts(sized_page, server):
    page, width = sized_page
    open_and_settle(page, server.url + "/compare", "A/B comparison")
    assert_no_failure(page)
    _shot(page, "compare", width)
    assert page.evaluate(TABLES_SCROLLING) == []
    verdicts = page.locator("[data-testid='stDataFrame'] [data-testid^='glide-cell-1-']").all_text_contents()
    assert "worse" in verdicts and set(verdicts) <= {"better", "worse", "no significant difference",
                                                     "not computable"}
    header = page.locator("[data-testid='stDataFrame'] th").all_text_contents()
    assert header[:2] == ["KPI", "verdict"]
