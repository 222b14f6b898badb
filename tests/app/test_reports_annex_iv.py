"""The Reports page offers the EU AI Act technical documentation (Annex IV): chosen for a version, it is prepared in
the background like every report, its summary shows the points filled and the gaps the service counts, and every
format can be downloaded. The page only reads the workspace, so the shared demo workspace is enough."""

from __future__ import annotations

from tests.app.test_pages import assert_clean, open_page
from tests.app.test_reports_page import PAGE, downloads, prepared

LABEL = "EU AI Act technical documentation (Annex IV)"


def test_the_annex_iv_documentation_is_offered_and_prepared(demo_workspace, monkeypatch):
    app = open_page(PAGE, demo_workspace, monkeypatch, session={"rp_kind": LABEL, "rp_model": "german-credit",
                                                                "rp_version": "v1"}, user="hugo.tanaka")
    assert_clean(app)
    assert LABEL in app.radio(key="rp_kind").options
    assert "not legal advice" in " ".join(c.value for c in app.caption)
    app, _ = prepared(app)
    assert set(downloads(app)) == {"Download PDF", "Download HTML", "Download JSON", "Download Audit pack (zip)"}
    from components import jobs
    report = jobs.get(app.session_state["rp_job"]).result["report"]
    summary = report["summary"]
    assert report["kind"] == "annex-iv" and len(report["points"]) == summary["points"] == 23
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Points filled"] == f"{summary['filled']} of {summary['points']}"
    assert metrics["Gaps"] == str(summary["gaps"])
    assert metrics["Report"] == report["report_id"] and report["report_id"].startswith("annex-iv-german-credit-v1-")
