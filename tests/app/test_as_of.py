"""The sidebar's "As of" date, headless: with a day set, every page says it shows the record as it stood then,
read-only, and the record pages show that day's state; a risk re-scored the next day shows its old score.

The workspace is written through the services over two days with the clock moved; the expected figures are the
ones the register's events recorded on each day, read back with plain SQL apart from the page."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone

import pytest

from components.as_of import AS_OF_KEY, BANNER, READ_ONLY_NOTE, WIDGET_KEY
from components.navigation import PAGES
from governance.access import identity
from governance.decisions import risks
from governance.record import clock
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page
from tests.unit.record.test_as_of import first_day

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
GRACE, FARID = PEOPLE["grace.lindqvist"], PEOPLE["farid.haddad"]
D1, D2 = date(2026, 10, 5), date(2026, 10, 6)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Day 1: the demo's people, model m v1, the committee, R-001 scored 3 × 3. Day 2: R-001 re-scored 5 × 5, an
    account added."""
    path = tmp_path_factory.mktemp("app_as_of") / "ws.duckdb"
    patch = pytest.MonkeyPatch()
    moment = [datetime.combine(D1, time(9), tzinfo=timezone.utc)]
    patch.setattr(clock, "now", lambda: moment[0])
    try:
        with GovernanceStore(path) as store:
            first_day(store, risk_owner="elif.kaya")
            moment[0] = datetime.combine(D2, time(9), tzinfo=timezone.utc)
            risks.update_risk(store, risk_id="R-001", changes={"likelihood": 5, "impact": 5}, actor=FARID,
                              reason="seen in production")
            identity.add_user(store, user_name="zoe", display_name="Zoe Newcomer", role="viewer", source="demo",
                              actor=GRACE)
    finally:
        patch.undo()
    return path


def score_recorded_by(path, day: date) -> int:
    """R-001's likelihood × impact at the end of `day`, from risk_event with plain SQL."""
    with GovernanceStore(path) as store:
        rows = store.query_rows("SELECT kind, field, new_value FROM risk_event WHERE risk_id = 'R-001' AND "
                                "recorded_at < ? ORDER BY seq", [datetime.combine(day + timedelta(days=1), time())])
    state = {}
    for kind, field, new in rows:
        state.update(json.loads(new) if kind == "created" else {field: json.loads(new)})
    return state["likelihood"] * state["impact"]


def register_scores(app) -> list[int]:
    table = next(d.value for d in app.dataframe if "inherent_score" in d.value.columns)
    return [int(s) for s in table["inherent_score"]]


def test_the_risks_page_shows_the_score_of_the_day_read_only(db, monkeypatch):
    app = open_page("pages/risks.py", db, monkeypatch)
    assert_clean(app)
    assert register_scores(app) == [score_recorded_by(db, D2)] == [25]
    assert any(b.label == "Add risk" and not b.disabled for b in app.button)
    assert not any(BANNER.format(day=D1) == w.value for w in app.warning)

    app.date_input(key=WIDGET_KEY).set_value(D1).run()
    assert_clean(app)
    assert register_scores(app) == [score_recorded_by(db, D1)] == [9]
    assert [w.value for w in app.warning if w.value == BANNER.format(day=D1)]
    assert READ_ONLY_NOTE.format(day=D1) in [c.value for c in app.caption]
    assert not any(b.label == "Add risk" for b in app.button)   # the forms that write are not drawn

    app.switch_page("pages/admin.py").run()   # the day holds from page to page
    assert_clean(app)
    assert app.session_state[AS_OF_KEY] == D1
    assert [w.value for w in app.warning if w.value == BANNER.format(day=D1)]
    accounts = next(d.value for d in app.dataframe if "account" in d.value.columns)
    assert "zoe" not in set(accounts["account"])   # added on day 2

    # cleared: the live record again (AppTest's set_value(None) keeps a date input's value, so the day is cleared
    # where the widget's callback keeps it)
    app.session_state[AS_OF_KEY] = None
    app.run()
    assert_clean(app)
    assert app.date_input(key=WIDGET_KEY).value is None
    assert not [w.value for w in app.warning if w.value == BANNER.format(day=D1)]
    accounts = next(d.value for d in app.dataframe if "account" in d.value.columns)
    assert "zoe" in set(accounts["account"])


@pytest.mark.parametrize("page", [p.path for p in PAGES], ids=lambda p: p.split("/")[-1])
def test_every_page_runs_as_of_a_day_with_the_banner(db, monkeypatch, page):
    app = open_page(page, db, monkeypatch, session={AS_OF_KEY: D1})
    assert_clean(app)
    assert [w.value for w in app.warning if w.value == BANNER.format(day=D1)], page
