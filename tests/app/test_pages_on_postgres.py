"""Every page of the app on a PostgreSQL workspace: no exception, and the same content as on the DuckDB demo.

The session's DuckDB demo, and the same demo moved to PostgreSQL and its lake; each page runs under AppTest on both
(QUORUM_DB and QUORUM_LAKE as a server of a shared deployment has them). What the page shows must be equal:
titles, headings, metrics, messages, captions, markdown and every table's cells, once the build times and the
workspace's location are set aside (tests/unit/test_commands_on_postgres.py says how), with floats to 1e-9 but
latency percentiles, which on PostgreSQL come from the lake's sketches: those by that module's LATENCY rule.
What differs by design is listed in BY_DESIGN and checked for what it must be.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from components.navigation import PAGES
from tests.app.test_pages import APP, signed_in
from tests.conftest import copy_postgres_workspace, copy_workspace
from tests.unit.test_commands_on_postgres import _run, differences, normalised, replaced

# before either demo is built; a minute earlier, as pages show times to the minute
_STARTED = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
# Admin only: the hourly rollup is a DuckDB workspace's table; with PostgreSQL a model's telemetry is read from
# the lake as a Parquet dataset, so its source, its location and the last query's engine and time differ.
ROLLUP = "telemetry_hourly"
SOURCE_COLUMNS = ("source", "location", "seconds", "engine", "last query")


@pytest.fixture(scope="module")
def workspaces(demo_workspace, pg_demo_template, tmp_path_factory) -> dict:
    """The environment of each: a private copy of the session's DuckDB demo (the Explanations page may store
    one), and a private copy of the same demo moved to PostgreSQL and its lake (the worker's template: built once,
    copied inside the server). That the demo also builds straight into PostgreSQL, and answers alike, is
    test_commands_on_postgres.py's."""
    folder = tmp_path_factory.mktemp("pages_on_postgres")
    duck = copy_workspace(demo_workspace, folder / "demo.duckdb")
    pg = copy_postgres_workspace(pg_demo_template, lake=folder / "lake")
    url, lake = pg.url, pg.lake
    return {"duckdb": {"QUORUM_DB": str(duck)}, "postgresql": {"QUORUM_DB": url, "QUORUM_LAKE": str(lake)},
            "places": [str(duck), url, str(lake)],
            "reviews": _review_hashes([["--db", duck], ["--db", url, "--lake", lake]])}


def _review_hashes(workspaces: list[list]) -> dict[str, str]:
    """Each review's evidence hash on either workspace -> the review's id, once the hash is recomputed from the
    evidence `signoff status` shows: the evidence names build times, so its hash differs between builds."""
    from governance.decisions.review_evidence import evidence_hash

    names = {}
    for db in workspaces:
        for review in ("RV-0001", "RV-0002", "RV-0003", "RV-0004", "RV-0005"):
            code, out, err = _run([*db, "signoff", "status", review, "--json"])
            found = json.loads(out)
            assert code == 0 and evidence_hash(found["evidence"]) == found["evidence_hash"], (db, review, err)
            names[found["evidence_hash"]] = f"<evidence of {review}>"
    return names


def _frame(frame) -> dict:
    return json.loads(frame.to_json(orient="split", date_format="iso", default_handler=str))


# Views reached by a link (an alert's, a report's, a colleague's): other models, filters, grains and measures.
LINKED_VIEWS = [
    ("pages/kpis.py", {"model": "german-credit"}),
    ("pages/drift.py", {"model": "german-credit"}),
    ("pages/fairness.py", {"audit": "FA-0001"}),
    ("pages/risks.py", {"risk": "R-003"}),
    ("pages/signoffs.py", {"review": "RV-0004"}),
    ("pages/explanations.py", {"model": "german-credit", "version": "v1"}),
    ("pages/explore.py", {"measure": "latency_p95_ms", "dims": "segment,hour_of_day", "grain": "week",
                          "model": "adult-income", "version": "v2", "since": "2026-09-01", "until": "2026-09-20"}),
    ("pages/explore.py", {"measure": "expected_value_usd", "dims": "weekday,label", "grain": "none",
                          "segment": "web,branch"}),
]


def shown(page, environment: dict, monkeypatch, params: dict | None = None) -> dict:
    """What `page` shows on the workspace of `environment`, signed in as the demo's engineering leader, reached
    by a link with `params`."""
    with monkeypatch.context() as patched:
        patched.delenv("QUORUM_LAKE", raising=False)
        patched.setenv("QUORUM_AUTO_DEMO", "0")
        for name, value in environment.items():
            patched.setenv(name, value)
        app = signed_in(AppTest.from_file(APP, default_timeout=120))
        for name, value in (params or {}).items():
            app.query_params[name] = value
        app.run()
        if page is not PAGES[0]:
            app.switch_page(page.path)
            app.run()
    assert not app.exception, [e.value for e in app.exception]
    return {"title": [t.value for t in app.title], "header": [h.value for h in app.header],
            "subheader": [s.value for s in app.subheader], "metric": [(m.label, m.value) for m in app.metric],
            "error": [e.value for e in app.error], "warning": [w.value for w in app.warning],
            "info": [i.value for i in app.info], "success": [s.value for s in app.success],
            "caption": [c.value for c in app.caption], "markdown": [m.value for m in app.markdown],
            "dataframe": [_frame(d.value) for d in app.dataframe], "table": [_frame(t.value) for t in app.table]}


def _by_design(duck: dict, pg: dict) -> None:
    """Admin: take out (after checking it) what differs by design between the engines."""
    tables = [frame for frame in (duck["dataframe"][0], pg["dataframe"][0])]
    assert [ROLLUP in (row[0] for row in frame["data"]) for frame in tables] == [True, False]
    duck["dataframe"][0]["data"] = [row for row in tables[0]["data"] if row[0] != ROLLUP]
    duck["dataframe"][0]["index"] = pg["dataframe"][0]["index"]
    for shown_on, kind in ((duck, "workspace"), (pg, "parquet")):
        sources = shown_on["dataframe"][1]
        at = [sources["columns"].index(c) for c in SOURCE_COLUMNS]
        assert {row[at[0]] for row in sources["data"]} == {kind}
        sources["data"] = [[v for i, v in enumerate(row) if i not in at] for row in sources["data"]]
    # Data versions count one workspace's own commits: the moved copy starts its count with the move.
    for shown_on in (duck, pg):
        version = [value for label, value in shown_on["metric"] if label == "Data version"]
        assert len(version) == 1 and int(version[0]) > 0
        shown_on["metric"] = [(label, value) for label, value in shown_on["metric"] if label != "Data version"]
    duck["markdown"] = [m for m in duck["markdown"] if not m.startswith("Workspace file: ")]
    assert sum(m.startswith("Workspace: `postgresql://") for m in pg["markdown"]) == 1
    pg["markdown"] = [m for m in pg["markdown"] if not m.startswith("Workspace: ")]


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_a_page_shows_the_same_on_postgresql(workspaces, page, monkeypatch):
    duck = shown(page, workspaces["duckdb"], monkeypatch)
    pg = shown(page, workspaces["postgresql"], monkeypatch)
    assert pg["title"] == [page.title]
    failures = [e for e in pg["error"] if "critical" not in e]   # the demo's critical alerts show on both
    assert not failures, failures
    if page.path == "pages/admin.py":
        _by_design(duck, pg)
    windows = [(_STARTED, datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=1))]
    found = differences(*(replaced(normalised(json.loads(json.dumps(x)), build_windows=windows,
                                              places=workspaces["places"]), workspaces["reviews"]) for x in (duck, pg)))
    assert not found, "\n".join(found[:20])


@pytest.mark.parametrize("path, params", LINKED_VIEWS,
                         ids=[f"{p.split('/')[-1][:-3]}?{'&'.join(f'{k}={v}' for k, v in q.items())}"
                              for p, q in LINKED_VIEWS])
def test_a_linked_view_shows_the_same_on_postgresql(workspaces, path, params, monkeypatch):
    page = next(p for p in PAGES if p.path == path)
    duck = shown(page, workspaces["duckdb"], monkeypatch, params)
    pg = shown(page, workspaces["postgresql"], monkeypatch, params)
    failures = [e for shown_on in (duck, pg) for e in shown_on["error"] if "critical" not in e]
    assert not failures, failures
    assert differences(shown(page, workspaces["duckdb"], monkeypatch), duck), "the link changed nothing"
    windows = [(_STARTED, datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=1))]
    found = differences(*(replaced(normalised(json.loads(json.dumps(x)), build_windows=windows,
                                              places=workspaces["places"]), workspaces["reviews"]) for x in (duck, pg)))
    assert not found, "\n".join(found[:20])
