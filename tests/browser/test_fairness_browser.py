"""The Fairness page in a real Chromium: the verdicts and the per-group chart draw, and a bad upload says what to
change. Nothing here writes to the shared server's workspace (a refused upload never reaches the store)."""

from __future__ import annotations

import pytest

from governance.fairness_inputs import AuditError, read_csv_data
from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle, settle

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
    assert chart.locator(".annotation-text").filter(has_text="n = ").count() >= 2

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
