"""Every page in the navigation runs headlessly without an exception (a new page is covered by being listed)."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from components import workspace
from components.formatting import plain
from components.navigation import PAGES
from governance import demo
from governance.access import identity
from governance.monitoring.service_levels import service_levels
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, ROOT

APP = str(ROOT / "app.py")


@pytest.fixture
def app(demo_workspace, monkeypatch) -> AppTest:
    monkeypatch.setenv("QUORUM_DB", str(demo_workspace))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "0")
    return signed_in(AppTest.from_file(APP, default_timeout=60))


WRITING_PAGES = {"pages/explanations.py"}  # computes and stores explanations on first open


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_page_runs_without_exception(app, page, demo_copy, monkeypatch):
    if page.path in WRITING_PAGES:  # the shared demo workspace is read-only for tests: give it a copy
        monkeypatch.setenv("QUORUM_DB", str(demo_copy))
        app = signed_in(AppTest.from_file(APP, default_timeout=60))
    app.run()
    if page is not PAGES[0]:
        app.switch_page(page.path)
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert [t.value for t in app.title] == [page.title]
    failures = [e.value for e in app.error if e.icon != ":material/notifications_active:"]   # not a critical alert
    assert not failures, failures


def test_overview_shows_the_real_inventory_and_figures(app):
    app.run()
    headers = [s.value for s in app.subheader]
    assert {"adult-income", "german-credit", "Model inventory"} <= set(headers)
    inventory = app.dataframe[0].value
    assert list(inventory["model"]) == ["adult-income", "adult-income", "german-credit"]
    assert list(inventory["stage"]) == ["production", "staging", "production"]
    labels = {m.label: m.value for m in app.metric}
    assert labels["Accuracy"].endswith("%") and labels["p95 latency"].endswith("ms")


def test_overview_flags_each_version_serving_outside_its_gate(app, demo_workspace):
    from governance.decisions.release_gate import serving_outside_their_gate

    app.run()
    flags = [w.value for w in app.warning if w.icon == ":material/gpp_bad:"]
    with GovernanceStore(demo_workspace) as store:
        expected = serving_outside_their_gate(store)
    assert [f.split(" serves in ")[0] for f in flags] == ["adult-income v1", "adult-income v2"] == [
        f"{e.model} {e.version}" for e in expected]
    for flag, found in zip(flags, expected):
        assert f"no longer passes its {found.stage} gate" in flag
        assert all(reason.split(" (")[0] in flag for reason in found.reasons)   # every reason, escaped
    assert not any("german-credit v1 serves" in w.value for w in app.warning)


def test_empty_workspace_explains_how_to_get_data(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    monkeypatch.setenv("QUORUM_DB", str(path))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "0")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception
    assert "no accounts yet" in app.info[0].value and "users add NAME --role admin" in app.info[0].value
    assert not app.text_input   # nobody to sign in as, and no demo mode outside the demo
    with GovernanceStore(path) as store:
        identity.add_user(store, user_name="ada", display_name="Ada", role="admin", actor=None,
                          password="correct horse battery")
    app = signed_in(AppTest.from_file(APP, default_timeout=60), "ada")
    app.run()
    assert not app.exception
    assert "no models yet" in app.info[0].value


def _run_until_built(app: AppTest, *, timeout: float = 300) -> list[float]:
    """Rerun the app while the demo builds in the background; the progress bar's values seen meanwhile."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while app.get("progress"):
        assert not app.exception, [e.value for e in app.exception]
        seen.append(app.get("progress")[0].proto.value)
        assert time.monotonic() < deadline, "the demo build did not finish in time"
        time.sleep(0.5)
        app.run()
    return seen


def test_first_start_builds_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("QUORUM_DB", str(tmp_path / "fresh.duckdb"))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "1")
    monkeypatch.setenv("QUORUM_DEMO_ROWS", "20000")
    app = signed_in(AppTest.from_file(APP, default_timeout=120))
    app.run()
    assert not app.exception
    assert any("The build runs in the server: pressing Stop or closing this tab does not interrupt it" in i.value
               for i in app.info)
    seen = _run_until_built(app)
    assert len(set(seen)) >= 3 and seen == sorted(seen), seen   # the bar moves, forwards only
    assert not app.exception
    assert "Model inventory" in [s.value for s in app.subheader]


def test_a_demo_build_cut_short_is_emptied_and_built_again(tmp_path, monkeypatch):
    """The server stopped during the build (Ctrl-C on the first `make run`): the next start must not serve that
    half-built workspace as the demo."""
    path = tmp_path / "cut.duckdb"

    def stop_at_the_reviews(fraction, message):
        if message.startswith("Recording the committee's review history"):
            raise KeyboardInterrupt

    with GovernanceStore(path) as store:
        with pytest.raises(KeyboardInterrupt):
            demo.seed_demo(store, rows=demo.MIN_ROWS, progress=stop_at_the_reviews)
        assert demo.unfinished(store)
    monkeypatch.setenv("QUORUM_DB", str(path))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "1")
    monkeypatch.setenv("QUORUM_DEMO_ROWS", str(demo.MIN_ROWS))
    app = signed_in(AppTest.from_file(APP, default_timeout=120))
    app.run()
    assert [w.value for w in app.warning if "stopped halfway" in w.value] == [workspace.RESTARTED]
    _run_until_built(app)
    assert not app.exception and "Model inventory" in [s.value for s in app.subheader]
    with GovernanceStore(path) as store:
        assert not demo.unfinished(store)
        assert store.query_value("SELECT count(*) FROM committee_member") > 0   # the reviews stage ran


def test_a_broken_workspace_shows_a_message_not_a_traceback(tmp_path, monkeypatch):
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database\n" * 100)
    monkeypatch.setenv("QUORUM_DB", str(junk))
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception
    assert "not a readable Quorum workspace" in app.error[0].value


def signed_in(app: AppTest, user: str = "farid.haddad") -> AppTest:
    """The session of a demo user (an engineering leader by default) who signed in a moment ago."""
    app.session_state["quorum_auth"] = {"user_name": user, "method": "demo", "signed_in_at": time.time()}
    return app


def open_page(path: str, db, monkeypatch, *, session: dict | None = None, params: dict | None = None,
              user: str = "farid.haddad") -> AppTest:
    """The app on workspace `db` (no auto demo), signed in as `user`, switched to page `path` with `session`
    state set, run once more."""
    monkeypatch.setenv("QUORUM_DB", str(db))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "0")
    app = signed_in(AppTest.from_file(APP, default_timeout=60), user)
    for name, value in (params or {}).items():
        app.query_params[name] = value
    app.run()
    app.switch_page(path)
    for key, value in (session or {}).items():
        app.session_state[key] = value
    app.run()
    return app


def assert_clean(app: AppTest) -> None:
    """No exception and no 'something went wrong' reference: domain messages are allowed."""
    assert not app.exception, [e.value for e in app.exception]
    assert not any("Something went wrong" in e.value for e in app.error), [e.value for e in app.error]


def _open(path: str, db, monkeypatch) -> AppTest:
    """The app on workspace `db`, switched to the page file `path`, run without an exception."""
    app = open_page(path, db, monkeypatch)
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_kpis_page_shows_tiles_statuses_and_the_latency_breach(demo_copy, monkeypatch):
    app = _open("pages/kpis.py", demo_copy, monkeypatch)
    labels = [m.label for m in app.metric]
    assert labels.count("p95 latency") == 2  # adult-income v1 and v2
    breaches = app.dataframe[0].value
    latency = breaches[breaches["KPI"] == "p95 latency"]
    assert list(latency["version"]) == ["v2"]
    assert latency["first day"].iloc[0] == "2026-09-14"


def test_kpis_page_grain_and_version_controls_rerun_cleanly(demo_copy, monkeypatch):
    app = _open("pages/kpis.py", demo_copy, monkeypatch)
    app.multiselect[0].set_value(["v1"]).run()
    assert not app.exception
    assert [m.label for m in app.metric].count("p95 latency") == 1
    app.selectbox[0].set_value("german-credit").run()
    assert not app.exception
    assert "german-credit v1" in " ".join(md.value for md in app.markdown)


def test_service_level_form_refuses_impossible_values_and_saves_good_ones(demo_copy, monkeypatch):
    app = _open("pages/kpis.py", demo_copy, monkeypatch)
    form_inputs = app.number_input
    kpi_box = next(s for s in app.selectbox if s.label == "KPI")
    kpi_box.set_value("accuracy")
    target = next(n for n in form_inputs if n.label.startswith("Target"))
    target.set_value(1.7)
    next(b for b in app.button if b.label == "Save objective").click()
    app.run()
    assert not app.exception
    assert any("between 0 and 1" in e.value for e in app.error)
    target = next(n for n in app.number_input if n.label.startswith("Target"))
    target.set_value(0.83)
    next(b for b in app.button if b.label == "Save objective").click()
    app.run()
    assert not app.exception
    with GovernanceStore(demo_copy) as store:
        level = service_levels(store, model="adult-income")["accuracy"]
    assert (level.target, level.set_by) == (0.83, LEADER.recorded_as)


def test_ab_page_gives_verdicts_for_the_demo_split(app):
    app.run()
    app.switch_page("pages/compare.py")
    app.run()
    assert not app.exception
    table = app.dataframe[0].value.set_index("KPI")
    assert table.loc["p95 latency", "verdict"] == "worse"
    assert int(table.loc["accuracy", "n A"].replace(",", "")) > 0


def test_explore_view_comes_from_and_goes_to_the_page_address(app):
    app.query_params["measure"] = "error_rate"
    app.query_params["dims"] = "segment"
    app.query_params["grain"] = "week"
    app.query_params["model"] = "german-credit"
    app.run()
    app.switch_page("pages/explore.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    table = app.dataframe[0].value
    assert list(table.columns) == ["period", "segment", "error_rate"]
    assert set(table["segment"]) == {"branch", "web", "broker"}  # german-credit's segments only
    app.selectbox[0].set_value("latency_p95_ms").run()
    assert app.query_params["measure"] == "latency_p95_ms"
    assert app.query_params["model"] == "german-credit"


def test_explore_ignores_a_stale_or_hostile_link(app):
    app.query_params["measure"] = "predictions; DROP TABLE telemetry"
    app.query_params["dims"] = "model,nonsense"
    app.query_params["since"] = "not-a-date"
    app.run()
    app.switch_page("pages/explore.py")
    app.run()
    assert not app.exception
    assert list(app.dataframe[0].value.columns) == ["period", "model", "predictions"]


def test_sql_console_runs_selects_and_refuses_writes(app):
    app.run()
    app.switch_page("pages/explore.py")
    app.run()
    console = next(t for t in app.text_area if t.label == "SQL")
    console.set_value("SELECT count(*) AS n FROM telemetry")
    next(b for b in app.button if b.label == "Run").click()
    app.run()
    assert not app.exception
    assert app.dataframe[-1].value["n"].iloc[0] == 60_000
    console = next(t for t in app.text_area if t.label == "SQL")
    console.set_value("DROP TABLE telemetry")
    next(b for b in app.button if b.label == "Run").click()
    app.run()
    assert not app.exception
    assert any("SELECT" in e.value for e in app.error)


def test_drift_page_names_the_drifted_features_and_guards_its_thresholds(demo_copy, monkeypatch):
    app = _open("pages/drift.py", demo_copy, monkeypatch)
    summary = next(m.value for m in app.markdown if m.value.startswith("**Drifted in some"))
    # feature names come from the telemetry, so they reach markdown escaped (hours\_per\_week)
    assert "age" in summary and plain("hours_per_week") in summary and "occupation" not in summary
    next(n for n in app.number_input if n.label == "Watch from PSI").set_value(0.3)
    next(n for n in app.number_input if n.label == "Act from PSI").set_value(0.2)
    next(b for b in app.button if b.label == "Save thresholds").click()
    app.run()
    assert not app.exception
    assert any(plain("0 < watch < act") in e.value for e in app.error)   # the message, escaped


def test_drift_page_warns_when_labels_are_missing(demo_copy, monkeypatch):
    app = _open("pages/drift.py", demo_copy, monkeypatch)
    assert any("labels missing" in w.value for w in app.warning)  # the last days have no outcomes yet
