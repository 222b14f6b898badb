"""Every page in the navigation runs headlessly without an exception (a new page is covered by being listed)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.navigation import PAGES
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


@pytest.fixture
def app(demo_workspace, monkeypatch) -> AppTest:
    monkeypatch.setenv("QUORUM_DB", str(demo_workspace))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "0")
    return AppTest.from_file(APP, default_timeout=60)


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_page_runs_without_exception(app, page):
    app.run()
    if page is not PAGES[0]:
        app.switch_page(page.path)
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert [t.value for t in app.title] == [page.title]
    assert not app.error, [e.value for e in app.error]


def test_overview_shows_the_real_inventory_and_figures(app):
    app.run()
    headers = [s.value for s in app.subheader]
    assert {"adult-income", "german-credit", "Model inventory"} <= set(headers)
    inventory = app.dataframe[0].value
    assert list(inventory["model"]) == ["adult-income", "adult-income", "german-credit"]
    assert list(inventory["stage"]) == ["production", "staging", "production"]
    labels = {m.label: m.value for m in app.metric}
    assert labels["Accuracy"].endswith("%") and labels["p95 latency"].endswith("ms")


def test_unbuilt_pages_say_so_and_show_no_numbers(app):
    app.run()
    app.switch_page("app_pages/fairness.py")
    app.run()
    assert "not built yet" in app.info[0].value
    assert not app.metric and not app.dataframe


def test_empty_workspace_explains_how_to_get_data(tmp_path, monkeypatch):
    monkeypatch.setenv("QUORUM_DB", str(tmp_path / "empty.duckdb"))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "0")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception
    assert "no models yet" in app.info[0].value


def test_first_start_builds_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("QUORUM_DB", str(tmp_path / "fresh.duckdb"))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "1")
    monkeypatch.setenv("QUORUM_DEMO_ROWS", "20000")
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception
    assert "Model inventory" in [s.value for s in app.subheader]


def test_a_broken_workspace_shows_a_message_not_a_traceback(tmp_path, monkeypatch):
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database\n" * 100)
    monkeypatch.setenv("QUORUM_DB", str(junk))
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception
    assert "not a readable Quorum workspace" in app.error[0].value
