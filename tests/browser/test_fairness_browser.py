"""The Fairness page in a real Chromium: the verdicts and the per-group chart draw, and a bad upload says what to
change. Nothing here writes to the shared server's workspace (a refused upload never reaches the store)."""

from __future__ import annotations

import pytest

from governance.evidence import fairness
from governance.evidence.fairness_inputs import AuditError, read_csv_data
from governance.record.store import GovernanceStore
from tests.browser.conftest import (ARTIFACTS, assert_no_failure, open_and_settle, settle,
                                    start_server, stop_server)
from tests.conftest import LEADER, copy_workspace

PROBABILITIES = "outcome,prediction,gender\n" + "".join(
    f"{i % 2},0.{i % 9 + 1},{'F' if i % 3 else 'M'}\n" for i in range(80))


def test_fairness_page_draws_the_verdicts_and_the_group_chart(page, server):
    page.set_viewport_size({"width": 1440, "height": 3000})  # a long page: the screenshot shows it whole
    open_and_settle(page, server.url + "/fairness", "Fairness")
    settle(page)
    assert_no_failure(page)
    assert page.get_by_role("tab", name="Audits").get_attribute("aria-selected") == "true"

    verdicts = page.locator("[data-testid='stTable']").filter(has_text="explanation").first
    assert verdicts.is_visible()
    cells = verdicts.locator("td").all_inner_texts()
    assert "not computable" in cells  # FA-0003, the newest: foreign_worker has one assessable group
    assert any(text.startswith("The selection rate for") for text in cells)
    bullets = page.locator("[data-testid='stMarkdownContainer'] li").all_inner_texts()
    assert any(b.startswith("foreign_worker = no:") for b in bullets)  # under "Too small to assess"

    chart = page.locator("[data-testid='stPlotlyChart']").first
    chart.locator(".main-svg").first.wait_for(timeout=60_000)
    assert chart.locator(".gtitle").text_content().startswith("selection rate by sex")
    assert chart.locator(".barlayer .point").count() >= 2  # one bar per group
    assert chart.locator(".ytick text").filter(has_text="n = ").count() >= 2   # each group's size, under its name

    page.mouse.move(1, 1)  # no hover tooltip in the picture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # fairness.png is the every-page test's picture (it runs later and would overwrite this one)
    page.screenshot(path=str(ARTIFACTS / "fairness-audit.png"), full_page=True)


def test_a_csv_with_probabilities_as_predictions_gets_the_services_message(page, server, tmp_path):
    source = tmp_path / "scores-as-predictions.csv"
    source.write_text(PROBABILITIES)
    with pytest.raises(AuditError) as raised:
        read_csv_data(content=source.read_bytes(), name=source.name, y_true="outcome", y_pred="prediction",
                      sensitive=["gender"])
    expected = str(raised.value)

    open_and_settle(page, server.url + "/fairness", "Fairness")
    page.get_by_role("tab", name="New audit").click()
    settle(page)
    page.get_by_text("An uploaded CSV file", exact=True).click()
    settle(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(source))
    page.locator("[data-testid='stMultiSelect']").filter(has_text="Sensitive features").wait_for(timeout=60_000)
    settle(page)
    page.locator("[data-testid='stMultiSelect']").filter(has_text="Sensitive features").click()
    page.get_by_role("option", name="gender", exact=True).click()
    page.keyboard.press("Escape")  # close the list, so the message shows in the picture
    error = page.locator("[data-testid='stAlertContentError']")
    error.first.wait_for(timeout=60_000)
    settle(page)
    assert error.count() == 1
    assert error.first.inner_text().strip() == expected
    assert "look like probabilities" in expected
    assert page.get_by_role("button", name="Lock definition").count() == 0
    assert_no_failure(page)
    page.mouse.move(1, 1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "fairness-bad-upload.png"), full_page=True)


@pytest.fixture(scope="module")
def intersections_server(demo_workspace, tmp_path_factory):
    """A private copy with one more audit: german-credit by age band × foreign worker × sex, where the groups have
    long names and many are too small (n = 1 … 24), the case whose figures were cut off at 1400 px."""
    workdir = tmp_path_factory.mktemp("fairness-widths")
    db = copy_workspace(demo_workspace, workdir / "widths.duckdb")
    with GovernanceStore(db) as store:
        data = fairness.evaluation_set_data(store, model="german-credit", version="v1")
        audit = fairness.run_new_audit(store, data=data, actor=LEADER, sensitive=["age_band", "foreign_worker", "sex"],
                                       intersectional=True, bootstrap=200)
    server, process = start_server(db=db, workdir=workdir)
    try:
        yield server, audit["audit_id"]
    finally:
        stop_server(process)


# Each text of the chart (the figures beside the bars, the group labels) inside the chart's own box.
CUT_OFF = """chart => {
    const box = chart.querySelector('.main-svg').getBoundingClientRect();
    return [...chart.querySelectorAll('.annotation-text, .ytick text')]
        .filter(t => { const r = t.getBoundingClientRect();
                       return r.right > box.right + 0.5 || r.left < box.left - 0.5; })
        .map(t => t.textContent);
}"""


@pytest.mark.parametrize("width", [1280, 1400, 1920])
def test_the_group_chart_shows_every_figure_whole(browser, intersections_server, width):
    server, audit_id = intersections_server
    context = browser.new_context(viewport={"width": width, "height": 1600})
    page = context.new_page()
    try:
        open_and_settle(page, f"{server.url}/fairness?audit={audit_id}", "Fairness")
        assert_no_failure(page)
        chosen = page.locator("[data-testid='stSelectbox']").filter(has_text="Feature set")
        for feature_set, metric in (("age_band × foreign_worker × sex", "selection rate"),
                                    ("age_band × foreign_worker × sex", "false-positive rate")):
            chosen.click()
            page.keyboard.type(feature_set)   # the list is long: filter it to the one option
            page.get_by_role("option", name=feature_set, exact=True).click()
            settle(page)
            page.locator("[data-testid='stSelectbox']").filter(has_text="Metric").click()
            page.get_by_role("option", name=metric, exact=True).click()
            settle(page)
            chart = page.locator("[data-testid='stPlotlyChart']").first
            assert chart.locator(".gtitle").text_content().startswith(f"{metric} by {feature_set}")
            assert chart.evaluate(CUT_OFF) == [], (width, metric)
            assert chart.locator(".ytick text").filter(has_text="too small").count() >= 3
        page.mouse.move(1, 1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        chart.screenshot(path=str(ARTIFACTS / f"fairness-groups-{width}.png"))
    finally:
        context.close()
