"""A figure in an exported report is the figure the app shows: the Fairness page's criterion values and interval
for the audit of adult-income v2 equal those in that version's model report (formatted here from its JSON)."""

from __future__ import annotations

from governance import reports
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page


def test_the_fairness_page_shows_the_reports_criterion_values(demo_workspace, monkeypatch):
    with GovernanceStore(demo_workspace) as store:
        report = reports.build(store, kind="model", model="adult-income", version="v2")
    [audit] = report["fairness_audits"]
    app = open_page("pages/fairness.py", demo_workspace, monkeypatch, session={"fa_audit": audit["audit_id"]})
    assert_clean(app)
    assert app.selectbox(key="fa_audit").value == audit["audit_id"]
    table = next(t.value for t in app.table if "explanation" in t.value.columns).reset_index(drop=True)
    assert list(table["value"]) == [f"{c['value']:.3f}" for c in audit["criteria"]]
    assert list(table["95% CI"]) == [f"{c['ci_low']:.3f}–{c['ci_high']:.3f}" for c in audit["criteria"]]
    assert list(table["verdict"]) == [c["verdict"] for c in audit["criteria"]]
    header = " ".join(m.value for m in app.markdown)
    assert audit["evidence_hash"][:12] in header
