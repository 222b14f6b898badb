"""The Fairness page, headless: what it shows is what the audit service stored, and its forms reach the service.

Expected figures come from the service itself (get_audit, compare_audits, read_csv_data, mitigation_preview), read
independently of the page, never from hard-coded numbers.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from components.formatting import plain
from governance.evidence import fairness
from governance.evidence.fairness_inputs import AuditError, read_csv_data
from governance.evidence.fairness_mitigation import mitigation_preview
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page
from tests.conftest import LEADER

PAGE = "pages/fairness.py"
DEMO_AUDITS = ("FA-0001", "FA-0002", "FA-0003")


def open_fairness(db, monkeypatch, tab: str | None = None, user: str = "farid.haddad") -> AppTest:
    app = open_page(PAGE, db, monkeypatch, session={"fa_tab": tab} if tab else None, user=user)
    assert_clean(app)
    return app


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


@pytest.fixture(scope="module")
def stored(demo_workspace) -> dict:
    """The demo's audits as the service returns them, read before and apart from the page."""
    with GovernanceStore(demo_workspace) as store:
        return {audit_id: fairness.get_audit(store, audit_id=audit_id) for audit_id in DEMO_AUDITS}


def verdict_table(app: AppTest):
    table = next(t.value for t in app.table if "explanation" in t.value.columns)
    return table.reset_index(drop=True)


def test_history_lists_the_demo_audits_with_their_stored_verdicts(demo_workspace, monkeypatch, stored):
    app = open_fairness(demo_workspace, monkeypatch)
    history = app.dataframe[0].value.set_index("audit_id")
    assert set(DEMO_AUDITS) <= set(history.index)
    for audit_id, audit in stored.items():
        assert history.loc[audit_id, "verdict"] == audit["verdict"]
        counts = audit["verdict_counts"]
        assert [history.loc[audit_id, v] for v in ("pass", "fail", "inconclusive")] == \
               [counts["pass"], counts["fail"], counts["inconclusive"]]
    assert list(history.index[:3]) == ["FA-0003", "FA-0002", "FA-0001"]  # newest first
    assert app.selectbox(key="fa_audit").value == "FA-0003"


def test_an_audit_shows_its_stored_verdicts_explanations_check_and_what_if(demo_workspace, monkeypatch, stored):
    app = open_fairness(demo_workspace, monkeypatch)
    app.selectbox(key="fa_audit").set_value("FA-0001").run()
    assert_clean(app)
    audit = stored["FA-0001"]
    assert audit["verdict"] == "fail"
    assert any(m.value.startswith(":red-badge[") and "Verdict: fail" in m.value for m in app.markdown)
    table = verdict_table(app)
    # st.table renders markdown: the explanations (group values from the data) arrive escaped
    assert list(table["explanation"]) == [plain(c["explanation"]) for c in audit["criteria"]]
    assert list(table["verdict"]) == [c["verdict"] for c in audit["criteria"]]
    assert "fail" in set(table["verdict"])
    assert list(table["value"]) == [f"{c['value']:.3f}" for c in audit["criteria"]]
    assert list(table["95% CI"]) == [f"{c['ci_low']:.3f}–{c['ci_high']:.3f}" for c in audit["criteria"]]
    header = " ".join(m.value for m in app.markdown)
    assert audit["definition_hash"][:12] in header and audit["evidence_hash"][:12] in header
    assert any(audit["correction"]["note"] in c.value for c in app.caption)

    button(app, "Verify this audit").click().run()
    assert_clean(app)
    assert any("every check matches" in s.value and "results recomputed from the data" in s.value
               for s in app.success)

    assert any("What-if only" in i.value and "changes no deployed model" in i.value for i in app.info)
    first_failing = next(c for c in audit["criteria"] if c["verdict"] == "fail")
    button(app, "Preview mitigation").click().run()
    assert_clean(app)
    with GovernanceStore(demo_workspace) as store:
        rows = fairness.audit_rows(store, audit_id="FA-0001")
    expected = mitigation_preview(rows=rows, sensitive=first_failing["sensitive"], seed=audit["definition"]["seed"],
                                  criterion=f"{first_failing['name']}{first_failing['operator']}"
                                            f"{first_failing['threshold']:g}")
    preview = app.table[-1].value.set_index("")
    name = first_failing["name"]
    assert preview.loc[name, "model as deployed"] == f"{expected['before'][name]:.3f}"
    assert preview.loc[name, "what-if thresholds"] == f"{expected['after'][name]:.3f}"
    assert preview.loc["accuracy", "what-if thresholds"] == f"{expected['after']['accuracy']:.1%}"


def test_too_small_groups_and_not_computable_criteria_are_said_not_drawn_as_zero(demo_workspace, monkeypatch,
                                                                                 stored):
    app = open_fairness(demo_workspace, monkeypatch)
    app.selectbox(key="fa_audit").set_value("FA-0003").run()
    assert_clean(app)
    audit = stored["FA-0003"]
    small = [g for g in audit["groups"] if g["status"] == "too_small"]
    assert [g["group"] for g in small] == [{"foreign_worker": "no"}]
    markdown = [m.value for m in app.markdown]
    heading = markdown.index("**Too small to assess**")
    # labels come from the data, so markdown characters in them arrive escaped (foreign\_worker)
    assert markdown[heading + 1].startswith(f"- foreign\\_worker = no: {small[0]['n']} people")

    table = verdict_table(app)
    uncomputable = [i for i, c in enumerate(audit["criteria"]) if c["verdict"] == "not computable"]
    assert uncomputable and {audit["criteria"][i]["sensitive"][0] for i in uncomputable} >= {"foreign_worker"}
    for i in uncomputable:
        row = table.iloc[i]
        assert (row["value"], row["95% CI"], row["verdict"]) == ("not computable",) * 3
        assert row["explanation"] == plain(audit["criteria"][i]["explanation"])
        assert not any(cell.strip() in ("0", "0.0", "0.000") for cell in row.astype(str))

    app.selectbox(key="fa_set").set_value("foreign_worker").run()
    assert_clean(app)
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    bars = {t["name"]: t for t in spec["data"] if t["type"] == "bar"}
    hatched = next(t for name, t in bars.items() if name.startswith("too small"))
    assert hatched["y"] == ["foreign_worker = no"] and hatched["marker"]["pattern"]["shape"] == "/"
    # the size and status sit under the group's name (Plotly makes room for axis labels); beside the bar, the figure
    ticks = dict(zip(spec["layout"]["yaxis"]["tickvals"], spec["layout"]["yaxis"]["ticktext"]))
    assert ticks["foreign_worker = no"].endswith(f"n = {small[0]['n']} · too small</span>")
    value = small[0]["metrics"]["selection_rate"]["value"]
    assert [a["text"] for a in spec["layout"]["annotations"] if a.get("y") == "foreign_worker = no"] == [f"{value:.3f}"]


def test_defining_and_running_an_audit_through_the_form_stores_what_was_chosen(demo_copy, monkeypatch):
    ran = []
    real_run = fairness.run_audit

    def recording_run(store, **kwargs):
        progress = kwargs.pop("progress")
        return real_run(store, progress=lambda f: (ran.append(f), progress(f)), **kwargs)

    monkeypatch.setattr(fairness, "run_audit", recording_run)
    app = open_fairness(demo_copy, monkeypatch, tab="New audit")
    app.selectbox(key="fa_new_model").set_value("adult-income")
    app.selectbox(key="fa_new_version").set_value("v2").run()
    app.multiselect(key="fa_new_sensitive").set_value(["sex"]).run()
    assert_clean(app)
    button(app, "Lock definition").click().run()   # as the signed-in engineering leader
    assert_clean(app)
    assert any("FA-0004 is locked" in s.value for s in app.success)
    with GovernanceStore(demo_copy) as store:
        locked = fairness.get_audit(store, audit_id="FA-0004")
    assert locked["status"] == "defined" and locked["defined_by"] == LEADER.recorded_as
    assert any(locked["definition_hash"] in s.value for s in app.success)

    button(app, "Run audit").click().run()
    assert_clean(app)
    assert ran and ran[-1] == 1.0 and ran == sorted(ran)  # the bootstrap fed the page's progress bar
    with GovernanceStore(demo_copy) as store:
        audit = fairness.get_audit(store, audit_id="FA-0004")
        data = fairness.evaluation_set_data(store, model="adult-income", version="v2")
    expected = fairness.make_definition(data=data, sensitive=["sex"]).as_dict()
    assert audit["definition"] == json.loads(fairness.canonical_json(expected))
    assert audit["definition"]["criteria"] == [
        {"name": c.name, "operator": c.operator, "threshold": c.threshold}
        for c in fairness.parse_criteria(fairness.DEFAULT_CRITERIA)]
    assert (audit["status"], audit["ran_by"]) == ("completed", LEADER.recorded_as)
    assert app.session_state["fa_tab"] == "Audits" and app.selectbox(key="fa_audit").value == "FA-0004"
    assert any(f"FA-0004 ran on {audit['n']:,} rows: verdict {audit['verdict']}" in s.value for s in app.success)
    assert list(verdict_table(app)["explanation"]) == [plain(c["explanation"]) for c in audit["criteria"]]


def test_a_viewer_can_read_audits_but_not_define_or_run_one(demo_copy, monkeypatch):
    app = open_fairness(demo_copy, monkeypatch, tab="New audit", user="hugo.tanaka")
    app.selectbox(key="fa_new_model").set_value("adult-income")
    app.selectbox(key="fa_new_version").set_value("v2").run()
    app.multiselect(key="fa_new_sensitive").set_value(["sex"]).run()
    lock = button(app, "Lock definition")
    assert lock.disabled and "Needs the role engineering leader" in lock.help
    with GovernanceStore(demo_copy) as store:
        assert len(fairness.list_audits(store)) == 3


def _csv(rows: int, row) -> bytes:
    return ("outcome,prediction,gender\n" + "".join(row(i) for i in range(rows))).encode()


PROBABILITIES = _csv(80, lambda i: f"{i % 2},0.{i % 9 + 1},{'F' if i % 3 else 'M'}\n")
TEXT_LABELS = _csv(80, lambda i: f"{'good' if i % 2 else 'bad'},{'good' if i % 5 else 'bad'},{'F' if i % 3 else 'M'}\n")


def service_message(content: bytes, **choices) -> str:
    with pytest.raises(AuditError) as raised:
        read_csv_data(content=content, name="upload.csv", y_true="outcome", y_pred="prediction",
                      sensitive=["gender"], **choices)
    return str(raised.value)


def upload(app: AppTest, content: bytes) -> None:
    app.file_uploader(key="fa_upload").set_value(("upload.csv", content, "text/csv")).run()
    assert_clean(app)
    next(m for m in app.multiselect if m.label == "Sensitive features").set_value(["gender"]).run()
    assert_clean(app)


def test_a_bad_upload_shows_the_services_message(demo_workspace, monkeypatch):
    app = open_fairness(demo_workspace, monkeypatch, tab="New audit")
    app.radio(key="fa_source").set_value("An uploaded CSV file").run()
    upload(app, PROBABILITIES)
    assert [e.value for e in app.error] == [service_message(PROBABILITIES)]
    assert "look like probabilities" in app.error[0].value
    assert not [b for b in app.button if b.label == "Lock definition"]

    upload(app, TEXT_LABELS)
    assert [e.value for e in app.error] == [service_message(TEXT_LABELS)]
    next(t for t in app.text_input if t.label == "Positive label").set_value("good").run()
    assert_clean(app)
    assert not app.error
    assert [b for b in app.button if b.label == "Lock definition"]


def test_a_file_audit_keeps_its_rows_between_locking_and_running(demo_copy, monkeypatch):
    app = open_fairness(demo_copy, monkeypatch, tab="New audit")
    app.radio(key="fa_source").set_value("An uploaded CSV file").run()
    upload(app, TEXT_LABELS)
    next(t for t in app.text_input if t.label == "Positive label").set_value("good").run()
    assert_clean(app)
    app.number_input(key="fa_new_bootstrap").set_value(200)
    app.run()
    button(app, "Lock definition").click().run()
    assert_clean(app)
    button(app, "Run audit").click().run()
    assert_clean(app)
    with GovernanceStore(demo_copy) as store:
        audit = fairness.get_audit(store, audit_id="FA-0004")
    expected = read_csv_data(content=TEXT_LABELS, name="upload.csv", y_true="outcome", y_pred="prediction",
                             sensitive=["gender"], pos_label="good")
    assert audit["status"] == "completed" and audit["data_sha256"] == expected.data_sha256
    assert audit["definition"]["source"]["kind"] == "file" and audit["definition"]["pos_label"] == "good"
    assert audit["definition"]["bootstrap"] == 200
    assert list(verdict_table(app)["verdict"]) == [c["verdict"] for c in audit["criteria"]]


def test_compare_shows_both_audits_verdicts_side_by_side(demo_workspace, monkeypatch):
    app = open_fairness(demo_workspace, monkeypatch, tab="Compare")
    assert (app.selectbox(key="fa_cmp_a").value, app.selectbox(key="fa_cmp_b").value) == ("FA-0001", "FA-0002")
    with GovernanceStore(demo_workspace) as store:
        expected = fairness.compare_audits(store, a="FA-0001", b="FA-0002")
        verdicts = {a: fairness.get_audit(store, audit_id=a)["verdict"] for a in ("FA-0001", "FA-0002")}
    table = app.dataframe[0].value
    assert list(table["A verdict"]) == list(expected["verdict_a"])
    assert list(table["B verdict"]) == list(expected["verdict_b"])
    assert list(table["A value (FA-0001)"]) == [f"{v:.3f}" for v in expected["value_a"]]
    badges = " ".join(m.value for m in app.markdown)
    assert f"A · FA-0001: {verdicts['FA-0001']}" in badges and f"B · FA-0002: {verdicts['FA-0002']}" in badges


HEADER_ONLY = b"outcome,prediction,gender\n"


def test_a_header_only_file_is_refused_before_it_can_be_locked(demo_copy, monkeypatch):
    app = open_fairness(demo_copy, monkeypatch, tab="New audit")
    app.radio(key="fa_source").set_value("An uploaded CSV file").run()
    upload(app, HEADER_ONLY)
    assert [e.value for e in app.error] == [service_message(HEADER_ONLY)]
    assert "has no rows" in app.error[0].value
    assert not any("0 rows" in c.value for c in app.caption)
    assert not [b for b in app.button if b.label == "Lock definition"]
    with GovernanceStore(demo_copy) as store:
        assert len(fairness.list_audits(store)) == 3


def test_an_audit_whose_run_broke_says_so_and_offers_no_run(demo_copy, monkeypatch):
    app = open_fairness(demo_copy, monkeypatch, tab="New audit")
    app.radio(key="fa_source").set_value("An uploaded CSV file").run()
    upload(app, TEXT_LABELS)
    next(t for t in app.text_input if t.label == "Positive label").set_value("good").run()
    button(app, "Lock definition").click().run()
    assert_clean(app)

    def broken(*args, **kwargs):
        raise IndexError("index 0 is out of bounds for axis 0 with size 0")

    with monkeypatch.context() as patched:
        patched.setattr(fairness, "finest_cells", broken)
        button(app, "Run audit").click().run()
    assert any("Something went wrong" in e.value for e in app.error)   # unexpected: a reference, logged
    app = open_fairness(demo_copy, monkeypatch)
    with GovernanceStore(demo_copy) as store:
        closed = fairness.get_audit(store, audit_id="FA-0004")
    assert closed["status"] == "failed"
    assert app.dataframe[0].value.set_index("audit_id").loc["FA-0004", "verdict"] == "could not run"
    app.selectbox(key="fa_audit").set_value("FA-0004").run()
    assert_clean(app)
    assert not any("has not run yet" in i.value for i in app.info)
    assert any("FA-0004 could not run" in e.value and closed["failure"]["reason"] in e.value for e in app.error)
    assert not [b for b in app.button if b.label == "Run audit"]
