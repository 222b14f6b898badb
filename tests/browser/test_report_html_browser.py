"""The exported HTML report opened from disk in headless Chromium: it asks for nothing but itself (no script, font,
image or style sheet fetched) and every chart draws as an inline SVG of a readable size."""

from __future__ import annotations

import pytest

from governance import reports
from governance.record.store import GovernanceStore
from governance.reports import charts, render


@pytest.fixture(scope="module")
def report_file(demo_workspace, tmp_path_factory):
    with GovernanceStore(demo_workspace) as store:
        report = reports.build(store, kind="model", model="adult-income", version="v2")
    path = tmp_path_factory.mktemp("report-html") / "report.html"
    path.write_text(render.render_html(report), encoding="utf-8")
    return path, report


def test_the_html_report_is_self_contained_and_draws_its_charts(browser, report_file):
    path, report = report_file
    document = path.as_uri()
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    try:
        page = context.new_page()
        routed, seen = [], []

        def handle(route):
            routed.append(route.request.url)
            if route.request.url == document:
                route.continue_()
            else:
                route.abort()

        page.on("request", lambda request: seen.append(request.url))
        page.route("**/*", handle)
        page.goto(document, wait_until="load")
        page.wait_for_load_state("networkidle")
        assert routed == [document]   # the handler saw the document itself (file:// is routed too), nothing else
        assert seen == [document]

        figures = page.locator("figure[data-chart]")
        expected = charts.charts_for(report)
        assert figures.count() == len(expected) >= 3
        names = [figures.nth(i).get_attribute("data-chart") for i in range(figures.count())]
        assert sorted(names) == sorted(expected)
        for i, name in enumerate(names):
            svg = figures.nth(i).locator("svg").first
            box = svg.bounding_box()
            assert box is not None, name
            assert box["width"] > 200 and box["height"] > 50, (name, box)
    finally:
        context.close()
