"""The SQL console's copy of the telemetry (issue 20): it lived beside the workspace and stayed there after the app
stopped (33 MB for the demo). It is in a temporary folder of the server's own now, removed when the server stops."""

from __future__ import annotations

from tests.browser.conftest import assert_no_failure, open_and_settle, settle, start_server, stop_server
from tests.conftest import copy_workspace


def test_a_console_query_leaves_nothing_once_the_server_stops(browser, demo_workspace, tmp_path):
    folder = tmp_path / "workspace"
    temporary = tmp_path / "tmp"
    folder.mkdir()
    temporary.mkdir()
    db = copy_workspace(demo_workspace, folder / "quorum.duckdb")
    server, process = start_server(db=db, workdir=tmp_path, env={"TMPDIR": str(temporary)})
    context = browser.new_context(viewport={"width": 1440, "height": 1600})
    page = context.new_page()
    try:
        open_and_settle(page, server.url + "/explore", "Explore")
        page.get_by_role("tab", name="SQL console").click()
        settle(page)
        page.get_by_role("button", name="Run").click()
        settle(page)
        assert_no_failure(page)
        assert page.get_by_text("rows in").count() >= 1   # "34 rows in 0.08 s": the query ran
        snapshots = sorted(p.name for p in temporary.glob("quorum-sandbox-*/*"))
        assert snapshots and all(".sandbox-" in name for name in snapshots)
        assert not [p.name for p in folder.iterdir() if ".sandbox-" in p.name]
    finally:
        context.close()
        stop_server(process)
    assert list(temporary.glob("quorum-sandbox-*")) == [], "the console's snapshot outlived the server"
    workspace_files = {"quorum.duckdb", "quorum.duckdb.wal", "quorum.duckdb.anchor"}
    assert {p.name for p in folder.iterdir()} <= workspace_files   # no snapshot, no server file
