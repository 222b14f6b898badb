"""The Reports page, headless: a report is prepared in the background with a progress bar, then every format can
be downloaded, and what the page offers is the very report the service builds (checked in the files themselves).
The page only reads the workspace, so the shared demo workspace is enough."""

from __future__ import annotations

import io
import json
import time
import zipfile

from governance.reports import audit_pack
from tests.app.test_pages import assert_clean, open_page

PAGE = "pages/reports.py"
TIMEOUT = 90


def downloads(app) -> dict:
    return {d.proto.label: d for d in app.get("download_button")}


def prepared(app):
    next(b for b in app.button if b.label == "Prepare the report").click().run()
    assert_clean(app)
    seen_progress = bool(app.get("progress"))
    deadline = time.monotonic() + TIMEOUT
    while not downloads(app):
        assert time.monotonic() < deadline, "the report was not prepared in time"
        time.sleep(0.5)
        app.run()
        assert_clean(app)
        seen_progress = seen_progress or bool(app.get("progress"))
    return app, seen_progress


def test_a_model_report_is_prepared_then_offered_in_every_format(demo_workspace, monkeypatch):
    app = open_page(PAGE, demo_workspace, monkeypatch, session={"rp_model": "german-credit", "rp_version": "v1"},
                    user="hugo.tanaka")   # a viewer may read and export the record
    assert_clean(app)
    assert not downloads(app)
    app, seen_progress = prepared(app)
    assert seen_progress, "no progress bar while the report was being prepared"
    offered = downloads(app)
    assert set(offered) == {"Download PDF", "Download HTML", "Download JSON", "Download Audit pack (zip)"}
    metrics = {m.label: m.value for m in app.metric}
    report_id = metrics["Report"]
    assert report_id.startswith("german-credit-v1-")
    assert next(v for label, v in metrics.items() if label.startswith("Ledger (")) == "verified"
    caption = " ".join(c.value for c in app.caption)
    assert f"{report_id}, generated" in caption and "by hugo.tanaka (viewer)" in caption


def test_choosing_another_scope_drops_the_prepared_documents(demo_workspace, monkeypatch):
    app = open_page(PAGE, demo_workspace, monkeypatch, session={"rp_kind": "Committee review report",
                                                                "rp_review": "RV-0002"})
    app, _ = prepared(app)
    assert {m.label: m.value for m in app.metric}["Evidence"] == "intact"
    app.selectbox(key="rp_review").set_value("RV-0001").run()
    assert_clean(app)
    assert not downloads(app) and any(b.label == "Prepare the report" for b in app.button)


def test_the_pack_offered_is_the_report_shown(demo_workspace, monkeypatch):
    app = open_page(PAGE, demo_workspace, monkeypatch, session={"rp_kind": "Framework coverage report"})
    app, _ = prepared(app)
    from components import jobs
    key = app.session_state["rp_job"]
    result = jobs.get(key).result
    pack = result["files"]["pack"]
    checked = audit_pack.verify_pack(pack)
    assert checked["ok"] and checked["report_id"] == {m.label: m.value for m in app.metric}["Report"]
    document = json.loads(zipfile.ZipFile(io.BytesIO(pack)).read("report.json"))
    assert document == result["report"]
