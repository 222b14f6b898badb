"""The sidebar's "As of" date in a real Chromium: typed into the date field, it holds from page to page, every page
says it shows the record as it stood, read-only, and the Risks page draws no form that would change the record.
The demo's record was made when its workspace was built (today, UTC), so today is the day it can be shown as of."""

from __future__ import annotations

from governance.record import clock
from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle, settle


def test_an_as_of_day_typed_in_the_sidebar_shows_the_record_read_only_on_every_page(page, server):
    page.set_viewport_size({"width": 1440, "height": 2400})
    open_and_settle(page, server.url + "/risks", "Risks")
    assert page.get_by_role("button", name="Add risk").count() == 1   # live: the form is there

    day = clock.today().isoformat()
    field = page.locator("[data-testid='stSidebar'] [data-testid='stDateInput'] input")
    field.fill(day)
    # the typed day is selected in the calendar that opens; choosing it there is what commits it, as a user does
    page.locator("[role='button'][data-selected='true']").first.click()
    page.get_by_text(f"The record as it stood at the end of {day} (UTC)", exact=False).first.wait_for(timeout=60_000)
    settle(page)
    assert_no_failure(page)
    assert page.get_by_role("button", name="Add risk").count() == 0   # nothing may be changed from a past record
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "as-of-risks.png"), full_page=True)

    page.locator("[data-testid='stSidebar']").get_by_role("link", name="Sign-offs").click()
    page.get_by_role("heading", name="Sign-offs", level=1).wait_for(timeout=60_000)
    page.get_by_text(f"The record as it stood at the end of {day} (UTC)", exact=False).first.wait_for(timeout=60_000)
    settle(page)
    assert_no_failure(page)
    assert field.input_value() == day   # the day held from page to page
