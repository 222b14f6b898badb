"""The Explanations page, headless: what it shows is what the SHAP service stored or computes, read independently of
the page (never hard-coded figures), and a version with no stored explanation is computed in the background.

The page writes (it stores the explanations it computes), so every test runs on its own copy of the demo workspace.
Expected figures are read before the app opens the file and the store is closed again: the app holds its own.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from components import jobs
from components.explanation_charts import label
from governance.errors import InvalidInputError
from governance.evidence import explanations as ex
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean as assert_page_clean
from tests.app.test_pages import open_page
from tests.conftest import LEADER, forget_explanations

PAGE = "pages/explanations.py"
MODEL, VERSION = "adult-income", "v1"      # the page's first choice: the linear explainer, about a second
ROW = 123
UNKNOWN_ROW = 999_999
COMPUTE_TIMEOUT = 60


def open_explanations(db, monkeypatch, *, tab: str | None = None, params: dict | None = None,
                      clean: bool = True) -> AppTest:
    app = open_page(PAGE, db, monkeypatch, session={"ex_tab": tab} if tab else None, params=params)
    if clean:
        assert_clean(app)
    return app


def assert_clean(app: AppTest) -> None:
    """As the shared check, and a failed background computation must not show either."""
    assert_page_clean(app)
    assert not any("failed (reference" in e.value for e in app.error), [e.value for e in app.error]


def charts(app: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in app.get("plotly_chart")]


def button(app: AppTest, label_text: str):
    return next(b for b in app.button if b.label == label_text)


@pytest.fixture
def explained(demo_copy) -> dict:
    """A private workspace with adult-income v1's explanation stored, and the service's answers to compare with."""
    with GovernanceStore(demo_copy) as store:
        stored = ex.explain_version(store, model=MODEL, version=VERSION, actor=LEADER)
        near = ex.near_threshold_rejection(store, model=MODEL, version=VERSION)
        rows = {r: ex.explain_row(store, model=MODEL, version=VERSION, row_id=r) for r in (ROW, near)}
        with pytest.raises(InvalidInputError) as unknown:
            ex.explain_row(store, model=MODEL, version=VERSION, row_id=UNKNOWN_ROW)
    return {"db": demo_copy, "stored": stored, "near": near, "rows": rows, "unknown": str(unknown.value)}


def test_global_tab_draws_the_stored_ranking_without_computing(explained, monkeypatch):
    monkeypatch.setattr(ex, "explain_version", lambda *a, **k: pytest.fail("a stored explanation was recomputed"))
    app = open_explanations(explained["db"], monkeypatch)
    stored = explained["stored"]
    assert not app.get("progress")
    badges = " ".join(m.value for m in app.markdown)
    assert f"{stored['explainer']} explainer" in badges and "contributions in log-odds" in badges
    assert any("How to read this" in c.value and "log-odds" in c.value for c in app.caption)
    importance, swarm, dependence = charts(app)
    assert importance["layout"]["title"]["text"].startswith("Which inputs matter most")
    assert importance["data"][0]["y"] == [label(g["feature"]) for g in stored["global"]]
    assert importance["layout"]["xaxis"]["title"]["text"] == "mean |SHAP| (log-odds)"
    assert swarm["layout"]["yaxis"]["ticktext"] == [label(g["feature"]) for g in stored["global"]]
    top = stored["global"][0]["feature"]
    assert app.selectbox(key="ex_feature").value == top
    assert dependence["layout"]["title"]["text"].startswith(f"{label(top)}: its value against its contribution")


def test_local_tab_tells_the_services_story_and_finds_a_declined_applicant(explained, monkeypatch):
    app = open_explanations(explained["db"], monkeypatch, tab="Local")
    app.number_input(key="ex_row").set_value(ROW).run()
    assert_clean(app)
    expected = explained["rows"][ROW]
    assert [i.value for i in app.info] == [expected["narrative"]]
    waterfall = charts(app)[0]
    assert waterfall["data"][0]["type"] == "waterfall"
    assert waterfall["data"][0]["y"][0] == "average applicant (base value)"
    table = app.dataframe[0].value
    assert list(table["input"]) == [label(c["feature"]) for c in expected["contributions"]]
    assert any(f"error of {expected['additivity_error']:.1e}" in c.value for c in app.caption)

    button(app, "Show a declined applicant near the threshold").click().run()
    assert_clean(app)
    near = explained["near"]
    assert app.number_input(key="ex_row").value == near
    assert [i.value for i in app.info] == [explained["rows"][near]["narrative"]]
    assert "decline" in app.info[0].value and "log-odds" in app.info[0].value


def test_cohorts_name_the_proxies_the_service_flags(explained, monkeypatch):
    app = open_explanations(explained["db"], monkeypatch, tab="Cohorts")
    assert app.selectbox(key="ex_attribute").value == "sex"
    by_attribute = {c["attribute"]: c for c in explained["stored"]["cohorts"]}
    flagged = [f["feature"] for f in by_attribute["sex"]["features"] if f["proxy"]]
    assert {"relationship", "marital_status"} <= set(flagged)  # the demo's known proxies for sex
    warning = next(w.value for w in app.warning if w.value.startswith("Possible proxies for sex"))
    assert warning.startswith(f"Possible proxies for sex: {', '.join(label(f) for f in flagged)} — strongly "
                              f"associated with sex (association ≥ {ex.PROXY_ASSOCIATION:g})")
    table = app.dataframe[0].value
    assert list(table["feature"]) == [label(f["feature"]) for f in by_attribute["sex"]["features"]]
    assert [bool(v) for v in table["possible proxy"]] == [f["proxy"] for f in by_attribute["sex"]["features"]]
    chart = charts(app)[0]
    assert {f"⚠ {label(f)}" for f in flagged} <= set(chart["data"][0]["y"])
    assert any("Cramér's V" in c.value and "correlation ratio" in c.value for c in app.caption)

    app.selectbox(key="ex_attribute").set_value("race").run()
    assert_clean(app)
    race_flags = [f["feature"] for f in by_attribute["race"]["features"] if f["proxy"]]
    if race_flags:
        assert any(w.value.startswith(f"Possible proxies for race: {', '.join(map(label, race_flags))}")
                   for w in app.warning)
    else:
        assert any(s.value.startswith("No possible proxy for race") for s in app.success)


def test_checks_show_additivity_the_explainer_and_stability(explained, monkeypatch):
    app = open_explanations(explained["db"], monkeypatch, tab="Checks")
    stored = explained["stored"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Additivity: max error"] == f"{stored['additivity_max_error']:.1e}"
    assert metrics["Ranking stability (min τ)"] == f"{stored['stability']['min_tau']:.2f}"
    assert metrics[f"Rows explained (of {stored['rows_available']:,})"] == f"{stored['rows_explained']:,}"
    text = " ".join(m.value for m in app.markdown)
    assert stored["explainer_settings"] in text and stored["model_sha256"][:12] in text
    assert any(s.value.startswith("Exact: the largest error is") for s in app.success)
    assert app.dataframe[0].value["Kendall's tau"].tolist() == pytest.approx(stored["stability"]["taus"])
    assert any(s.value.startswith("Stable") for s in app.success) != stored["stability"]["unstable"]
    magnitudes = stored["stability"]["magnitudes"]   # issue 21: the magnitudes, beside the ranking
    table = app.dataframe[1].value
    assert table["input"].tolist() == [f["feature"] for f in magnitudes["features"]]
    assert table["largest relative change"].tolist() == pytest.approx([f["max_relative_change"]
                                                                       for f in magnitudes["features"]])
    verdicts = [m.value for m in [*app.success, *app.warning] if m.value.startswith("Magnitudes")]
    assert len(verdicts) == 1 and verdicts[0].startswith("Magnitudes stable" if magnitudes["stable"]
                                                         else "Magnitudes approximate")
    assert f"{magnitudes['max_relative_change']:.1%}" in verdicts[0]


def test_without_a_stored_explanation_it_is_computed_in_the_background(demo_copy, monkeypatch):
    forget_explanations(demo_copy)   # the demo stores an explanation of each of its versions
    with GovernanceStore(demo_copy) as store:
        assert ex.stored_explanation(store, model=MODEL, version=VERSION) is None
    app = open_explanations(demo_copy, monkeypatch)
    assert any("being computed now" in i.value for i in app.info)
    assert app.get("progress"), "no progress bar while computing"
    assert not app.get("plotly_chart")
    deadline = time.monotonic() + COMPUTE_TIMEOUT
    while not app.get("plotly_chart"):
        assert time.monotonic() < deadline, "the background computation did not finish in time"
        time.sleep(0.5)
        app.run()
        assert_clean(app)
    assert not app.get("progress")
    with GovernanceStore(demo_copy) as store:  # the app's own connection to the file is shared in this process
        stored = ex.stored_explanation(store, model=MODEL, version=VERSION)
    assert stored is not None
    assert charts(app)[0]["data"][0]["y"] == [label(g["feature"]) for g in stored["global"]]
    assert jobs.get((str(demo_copy), MODEL, VERSION, ex.DEFAULT_ROWS, 0)) is None  # picked up, not kept


def test_a_failed_computation_shows_a_reference_or_the_services_message(demo_copy, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    forget_explanations(demo_copy)   # only a version with no stored explanation is computed
    monkeypatch.setattr(ex, "explain_version", broken)
    app = open_explanations(demo_copy, monkeypatch, clean=False)
    deadline = time.monotonic() + COMPUTE_TIMEOUT
    while not app.error:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        app.run()
    assert not app.exception
    assert app.error[0].value.startswith("Computing the explanation failed (reference ")
    assert "boom" not in app.error[0].value

    def refused(*args, **kwargs):
        raise InvalidInputError("model adult-income v1 has no stored model file")

    monkeypatch.setattr(ex, "explain_version", refused)
    button(app, "Try again").click().run()
    deadline = time.monotonic() + COMPUTE_TIMEOUT
    while not app.error or app.error[0].value.startswith("Computing"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
        app.run()
    assert not app.exception
    assert [e.value for e in app.error] == ["model adult-income v1 has no stored model file"]


def test_a_link_to_an_unknown_row_shows_the_services_message(explained, monkeypatch):
    app = open_explanations(explained["db"], monkeypatch,
                            params={"model": MODEL, "version": VERSION, "row": str(UNKNOWN_ROW)})
    assert app.session_state["ex_tab"] == "Local"
    assert [e.value for e in app.error] == [explained["unknown"]]
    assert f"rows 0 to {explained['stored']['rows_available'] - 1}" in explained["unknown"]
    assert app.number_input(key="ex_row").value == 0   # the page carries on with a row that exists
    assert app.info and app.info[0].value.startswith("The model scored this applicant")

    app.number_input(key="ex_row").set_value(ROW).run()  # the link is used once, then the controls rule
    assert_clean(app)
    assert not app.error
    assert [i.value for i in app.info] == [explained["rows"][ROW]["narrative"]]


@pytest.mark.parametrize("typed", [UNKNOWN_ROW, -3])
def test_an_unknown_or_negative_row_id_says_there_is_no_such_row(explained, monkeypatch, typed):
    app = open_explanations(explained["db"], monkeypatch, tab="Local")
    app.number_input(key="ex_row").set_value(ROW).run()
    assert [i.value for i in app.info] == [explained["rows"][ROW]["narrative"]]

    app.number_input(key="ex_row").set_value(typed).run()
    assert_clean(app)
    last = explained["stored"]["rows_available"] - 1
    assert [e.value for e in app.error] == [
        f"Row {typed:,} does not exist in the evaluation set of {MODEL} {VERSION}: its rows are 0 to {last:,}. "
        "Type a row id in that range, or show a declined applicant near the threshold."]
    assert not app.info, "the previous applicant is still shown under a row id that does not exist"
    assert not charts(app) and not app.dataframe

    app.number_input(key="ex_row").set_value(ROW).run()   # a valid row again: its applicant, no message
    assert not app.error and [i.value for i in app.info] == [explained["rows"][ROW]["narrative"]]


def test_the_beeswarm_and_dependence_dots_travel_as_pictures_with_a_hover_grid(explained, monkeypatch):
    """~20,000 dots as SVG elements kept the browser busy for seconds: they are one picture per chart now, and
    the hover cells account for every dot (each input's counts add up to the rows shown)."""
    app = open_explanations(explained["db"], monkeypatch)
    _, swarm, dependence = charts(app)
    specs = [c.proto.spec for c in app.get("plotly_chart")]
    assert len(specs[1]) < 150_000 and len(specs[2]) < 80_000, [len(s) for s in specs]
    for chart in (swarm, dependence):
        assert [i["source"][:22] for i in chart["layout"]["images"]] == ["data:image/png;base64,"]
        points = sum(len(t.get("x") or []) * (len(t["y"]) if t["type"] == "heatmap" else 1) for t in chart["data"])
        assert points < 2_000, "the dots are drawn by the browser one by one again"
    rows = int(re.search(r"Each dot is one applicant \(([\d,]+) of", " ".join(c.value for c in app.caption))[1]
               .replace(",", ""))
    grid = next(t for t in swarm["data"] if t["type"] == "heatmap")
    counts = [sum(int(re.search(r"([\d,]+) applicants?", cell)[1].replace(",", "")) for cell in band if cell)
              for band in grid["text"]]
    assert counts == [rows] * len(swarm["layout"]["yaxis"]["ticktext"])

    app.run()   # a rerun draws nothing again: the figures are cached with the explanation
    assert [c.proto.spec for c in app.get("plotly_chart")] == specs
