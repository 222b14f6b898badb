"""The risk register: state rebuilt from the event log, the hash chain, status rules, validation that writes
nothing, clause coverage on a hand-built register, the all-or-nothing import and formula-safe exports."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from governance import risks
from governance.errors import InvalidInputError
from governance.risks import (BAD_CATEGORY, BAD_SCORE, BAD_STATUS_MOVE, CONTROL_CHARACTERS, EMPTY, NEEDS_REASON,
                              ROLE_CANNOT_ACCEPT, TOO_LONG, UNKNOWN_CLAUSE, UNKNOWN_MODEL, NewRisk)
from governance.store import GovernanceStore

ME = "tester"


@pytest.fixture
def store(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as store:
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', 'd', now())")
        yield store


def new(**overrides) -> NewRisk:
    fields = {"title": "Loan approvals drift for young applicants", "category": "fairness/bias", "owner": "alice",
              "likelihood": 3, "impact": 4, "models": ["m"], "clauses": ["Article 10"]}
    return NewRisk(**{**fields, **overrides})


def events(store) -> int:
    return store.query_value("SELECT count(*) FROM risk_event")


def message_of(template: str) -> str:
    """The fixed opening of a message constant, up to its first placeholder."""
    return template.split("{")[0]


def test_history_reproduces_the_current_state(store):
    risk = risks.add_risk(store, risk=new(), actor=ME)
    assert risk["risk_id"] == "R-001" and risk["status"] == "identified"
    assert (risk["inherent_score"], risk["inherent_level"]) == (12, "high")
    risks.update_risk(store, risk_id="R-001", changes={"likelihood": 2, "status": "assessed"}, actor=ME,
                      reason="reviewed the data")
    risks.add_control(store, risk_id="R-001", title="Reweigh training data", owner="bob", due=None, actor=ME)
    risks.update_control(store, risk_id="R-001", control_id="C1", status="done", actor=ME, reason="shipped")
    risks.link_evidence(store, risk_id="R-001", kind="fairness_audit", ref="FA-0001", note="", actor=ME)
    risks.update_risk(store, risk_id="R-001", changes={"residual_likelihood": 1, "residual_impact": 2},
                      actor=ME, reason="after the control")
    current = risks.get_risk(store, risk_id="R-001")

    log = risks.history(store, risk_id="R-001")
    assert [e["seq"] for e in log] == list(range(1, 9))
    assert [e["kind"] for e in log] == ["created", "changed", "changed", "control_added", "control_changed",
                                        "evidence_linked", "changed", "changed"]
    # replay the public history by hand: it must arrive at the same state get_risk derives
    state = {}
    for e in log:
        if e["kind"] == "created":
            state = {**e["new_value"], "controls": [], "evidence": []}
        elif e["kind"] == "changed":
            assert e["old_value"] == state.get(e["field"]) and e["reason"]
            state[e["field"]] = e["new_value"]
        elif e["kind"] == "control_added":
            state["controls"].append(dict(e["new_value"]))
        elif e["kind"] == "control_changed":
            next(c for c in state["controls"] if c["control_id"] == e["new_value"]["control_id"])[e["field"]] = \
                e["new_value"]["value"]
        elif e["kind"] == "evidence_linked":
            state["evidence"].append(e["new_value"])
    for field in risks.EDITABLE:
        assert state[field] == current[field], field
    assert state["controls"] == current["controls"] and current["controls"][0]["status"] == "done"
    assert [{k: v for k, v in ev.items() if k in ("kind", "ref", "note")} for ev in current["evidence"]] == \
        state["evidence"]
    assert (current["likelihood"], current["residual_score"], current["residual_level"]) == (2, 2, "low")
    assert [r["risk_id"] for r in risks.list_risks(store)] == ["R-001"]
    assert risks.list_risks(store)[0] == current


@pytest.mark.parametrize("overrides, template", [
    ({"likelihood": 0}, BAD_SCORE), ({"likelihood": 6}, BAD_SCORE), ({"impact": "3.5"}, BAD_SCORE),
    ({"impact": "x"}, BAD_SCORE), ({"category": "vibes"}, BAD_CATEGORY),
    ({"clauses": ["Article 999"]}, UNKNOWN_CLAUSE), ({"models": ["no-such-model"]}, UNKNOWN_MODEL),
    ({"title": "t" * 10_000}, TOO_LONG), ({"title": "bad\x00title"}, CONTROL_CHARACTERS),
    ({"owner": "al\x1bice"}, CONTROL_CHARACTERS), ({"title": "   "}, EMPTY),
])
def test_bad_input_is_refused_with_its_message_and_nothing_written(store, overrides, template):
    risks.add_risk(store, risk=new(), actor=ME)
    before = events(store)
    with pytest.raises(InvalidInputError) as raised:
        risks.add_risk(store, risk=new(**overrides), actor=ME)
    assert message_of(template) in str(raised.value)
    # the same value as an update is refused too
    field, value = next(iter(overrides.items()))
    with pytest.raises(InvalidInputError) as raised:
        risks.update_risk(store, risk_id="R-001", changes={field: value}, actor=ME, reason="testing")
    assert message_of(template) in str(raised.value)
    assert events(store) == before


def test_exact_messages_and_a_missing_reason(store):
    risks.add_risk(store, risk=new(), actor=ME)
    risks.add_control(store, risk_id="R-001", title="Reweigh", owner="bob", due=None, actor=ME)
    before = events(store)
    with pytest.raises(InvalidInputError) as raised:
        risks.add_risk(store, risk=new(title="t" * 10_000), actor=ME)
    assert str(raised.value) == TOO_LONG.format(field="title", length=10_000, limit=risks.MAX_TITLE)
    with pytest.raises(InvalidInputError) as raised:
        risks.add_risk(store, risk=new(likelihood="3.5"), actor=ME)
    assert str(raised.value) == BAD_SCORE.format(field="likelihood", value="3.5")
    for reason in ("", "   ", None):
        with pytest.raises(InvalidInputError) as raised:
            risks.update_risk(store, risk_id="R-001", changes={"likelihood": 2}, actor=ME, reason=reason)
        assert str(raised.value) == NEEDS_REASON.format(what="every change to a risk")
    with pytest.raises(InvalidInputError, match="a reason is recorded"):
        risks.update_control(store, risk_id="R-001", control_id="C1", status="done", actor=ME, reason=" ")
    assert events(store) == before


def test_html_is_stored_and_returned_literally(store):
    html = "<img src=x onerror=alert(1)>"
    risk = risks.add_risk(store, risk=new(title=html, description=f"<script>{html}</script> & more"), actor=ME)
    assert risk["title"] == html
    again = risks.get_risk(store, risk_id=risk["risk_id"])
    assert again["title"] == html and again["description"] == f"<script>{html}</script> & more"
    assert risks.history(store, risk_id=risk["risk_id"])[0]["new_value"]["title"] == html
    assert html in risks.export_csv([again])


def test_status_transitions_and_the_accepting_role(store):
    risks.add_risk(store, risk=new(), actor=ME)
    before = events(store)
    with pytest.raises(InvalidInputError) as raised:
        risks.update_risk(store, risk_id="R-001", changes={"status": "accepted"}, actor=ME, reason="fine",
                          role="admin")
    assert str(raised.value) == BAD_STATUS_MOVE.format(old="identified", new="accepted",
                                                       allowed="assessed, withdrawn")
    assert events(store) == before
    risks.update_risk(store, risk_id="R-001", changes={"status": "assessed"}, actor=ME, reason="scored")
    before = events(store)
    for role in (None, "analyst"):
        with pytest.raises(InvalidInputError) as raised:
            risks.update_risk(store, risk_id="R-001", changes={"status": "accepted"}, actor=ME, reason="ok",
                              role=role)
        assert str(raised.value) == ROLE_CANNOT_ACCEPT.format(roles=" or ".join(risks.ACCEPTING_ROLES), role=role)
    for role, template in (("x" * 101, TOO_LONG), ("admin\x1b[2J", CONTROL_CHARACTERS)):
        with pytest.raises(InvalidInputError) as raised:   # the role is recorded with the actor: checked like it
            risks.update_risk(store, risk_id="R-001", changes={"status": "mitigating"}, actor=ME, reason="ok",
                              role=role)
        assert message_of(template) in str(raised.value)
    assert events(store) == before
    accepted = risks.update_risk(store, risk_id="R-001", changes={"status": "accepted"}, actor=ME,
                                 reason="within appetite", role="risk owner")
    assert accepted["status"] == "accepted" and accepted["status_reason"] == "within appetite"
    assert risks.history(store, risk_id="R-001")[-1]["actor"] == f"{ME} (risk owner)"
    closed = risks.update_risk(store, risk_id="R-001", changes={"status": "closed"}, actor=ME, reason="retired")
    assert closed["status"] == "closed"
    before = events(store)
    for status in ("identified", "mitigating", "accepted", "withdrawn"):
        with pytest.raises(InvalidInputError, match="not to"):
            risks.update_risk(store, risk_id="R-001", changes={"status": status}, actor=ME, reason="reopen",
                              role="admin")
    assert events(store) == before


def test_verify_chain_finds_an_edited_and_a_deleted_event(store):
    risks.add_risk(store, risk=new(), actor=ME)
    risks.update_risk(store, risk_id="R-001", changes={"likelihood": 2}, actor=ME, reason="first")
    risks.update_risk(store, risk_id="R-001", changes={"impact": 2}, actor=ME, reason="second")
    risks.add_risk(store, risk=new(title="Second risk"), actor=ME)
    intact = risks.verify_chain(store)
    assert intact["ok"] and intact["events"] == 4 and intact["broken_at"] is None and len(intact["head"]) == 64

    with store.write() as tx:
        tx.execute("UPDATE risk_event SET reason = 'x' WHERE seq = 2")
    assert risks.verify_chain(store) == {"ok": False, "events": 4, "broken_at": 2}
    with store.write() as tx:
        tx.execute("UPDATE risk_event SET reason = 'first' WHERE seq = 2")
    assert risks.verify_chain(store)["ok"]

    with store.write() as tx:
        tx.execute("DELETE FROM risk_event WHERE seq = 3")
    assert risks.verify_chain(store) == {"ok": False, "events": 3, "broken_at": 4}


def test_overdue_reviews_and_controls(store):
    past = (date.today() - timedelta(days=3)).isoformat()
    future = (date.today() + timedelta(days=30)).isoformat()
    late = risks.add_risk(store, risk=new(next_review=past), actor=ME)
    assert late["review_overdue"] and late["overdue_controls"] == 0
    risks.add_control(store, risk_id="R-001", title="late", owner="bob", due=past, actor=ME)
    risks.add_control(store, risk_id="R-001", title="on time", owner="bob", due=future, actor=ME)
    risks.add_control(store, risk_id="R-001", title="late but done", owner="bob", due=past, actor=ME, status="done")
    assert risks.get_risk(store, risk_id="R-001")["overdue_controls"] == 1
    on_time = risks.add_risk(store, risk=new(next_review=future), actor=ME)
    assert not on_time["review_overdue"]
    withdrawn = risks.update_risk(store, risk_id="R-001", changes={"status": "withdrawn"}, actor=ME,
                                  reason="duplicate")
    assert not withdrawn["review_overdue"] and withdrawn["overdue_controls"] == 0


def test_coverage_on_a_small_hand_built_register(store):
    fresh = risks.add_risk(store, risk=new(title="fresh", clauses=["Article 10", "Article 9"]), actor=ME)
    risks.add_control(store, risk_id=fresh["risk_id"], title="c", owner="bob", due=None, actor=ME)
    risks.link_evidence(store, risk_id=fresh["risk_id"], kind="drift", ref="DR-1", note="", actor=ME)
    stale = risks.add_risk(store, risk=new(title="stale", clauses=["Article 9", "Article 15"]), actor=ME)
    risks.add_control(store, risk_id=stale["risk_id"], title="c", owner="bob", due=None, actor=ME)
    risks.link_evidence(store, risk_id=stale["risk_id"], kind="other", ref="memo", note="", actor=ME)
    gone = risks.add_risk(store, risk=new(title="gone", clauses=["Article 13"]), actor=ME)
    risks.update_risk(store, risk_id=gone["risk_id"], changes={"status": "withdrawn"}, actor=ME, reason="dup")
    total = len(risks.clauses(store, framework="euaia"))

    now = risks.coverage(store, framework="euaia")
    rows = {r["ref_id"]: r for r in now["clauses"]}
    assert {k: rows[k]["status"] for k in ("Article 9", "Article 10", "Article 13", "Article 15")} == \
        {"Article 9": "covered", "Article 10": "covered", "Article 13": "gap", "Article 15": "covered"}
    assert rows["Article 9"]["risks"] == ["R-001", "R-002"] and rows["Article 13"]["risks"] == []
    assert now["counts"] == {"covered": 3, "partial": 0, "gap": total - 3}

    # a year on, all evidence is stale: what has controls is only partial
    later = risks.coverage(store, framework="euaia", today=date.today() + timedelta(days=365))
    rows = {r["ref_id"]: r for r in later["clauses"]}
    assert {k: rows[k]["status"] for k in ("Article 9", "Article 10", "Article 13", "Article 15")} == \
        {"Article 9": "partial", "Article 10": "partial", "Article 13": "gap", "Article 15": "partial"}
    assert rows["Article 10"]["has_control"] and not rows["Article 10"]["has_fresh_evidence"]
    assert later["counts"] == {"covered": 0, "partial": 3, "gap": total - 3}

    # fresh evidence for one risk only, stale for the other: pushing `today` to between the two
    risks.link_evidence(store, risk_id=fresh["risk_id"], kind="drift", ref="DR-2", note="", actor=ME)
    mixed = {r["ref_id"]: r["status"] for r in
             risks.coverage(store, framework="euaia", stale_after_days=0, today=date.today())["clauses"]}
    assert mixed["Article 10"] == "covered"
    with pytest.raises(InvalidInputError, match="framework must be one of"):
        risks.coverage(store, framework="gdpr")
    assert set(risks.coverage(store, framework="nist")["counts"]) == {"covered", "partial", "gap"}


def test_export_neutralises_formula_cells_and_round_trips(store):
    for title in ("=HYPERLINK(\"http://x\")", "+1+1", "-2-3", "@SUM(A1)", "plain title"):
        risks.add_risk(store, risk=new(title=title, description="=cmd|' /C calc'!A0", owner="@owner"), actor=ME)
    exported = risks.export_csv(risks.list_risks(store))
    rows = list(csv.reader(io.StringIO(exported)))
    header, body = rows[0], rows[1:]
    assert len(body) == 5 and header[:2] == ["risk_id", "title"]
    assert [r[1] for r in body] == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2-3", "'@SUM(A1)", "plain title"]
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        assert row[header.index("owner")] == "'@owner"
        assert row[header.index("description")] == "'=cmd|' /C calc'!A0"
        assert row[header.index("models")] == "m"
    assert risks.neutralise("\tx") == "'\tx" and risks.neutralise(None) == "" and risks.neutralise(3) == "3"


GOOD_CSV = ("title,description,category,models,owner,likelihood,impact,clauses,next_review\n"
            "Drift,,performance/drift,m,alice,2,3,MEASURE 2.11;Article 10,2027-01-31\n"
            "Leak,\"<b>pii</b>\",privacy,,bob,4,5,A.7,\n")


def test_import_is_all_or_nothing(store):
    bad = GOOD_CSV + "Bad,,vibes,ghost,carol,9,3,Article 999,someday\n"
    with pytest.raises(InvalidInputError) as raised:
        risks.import_csv(store, content=bad.encode(), name="risks.csv", actor=ME)
    message = str(raised.value)
    assert message.startswith("nothing was imported: 5 problem(s) in risks.csv:")
    for column in ("category", "models", "likelihood", "clauses", "next_review"):
        assert f"row 4, column {column}: " in message
    assert "row 2" not in message and "row 3" not in message
    assert events(store) == 0 and risks.list_risks(store) == []

    imported = risks.import_csv(store, content=GOOD_CSV.encode(), name="risks.csv", actor=ME)
    assert [r["risk_id"] for r in imported] == ["R-001", "R-002"]
    assert imported[0]["clauses"] == ["MEASURE 2.11", "Article 10"] and imported[0]["next_review"] == "2027-01-31"
    assert imported[1]["description"] == "<b>pii</b>" and imported[1]["models"] == []
    assert risks.history(store, risk_id="R-002")[0]["reason"] == "imported from risks.csv"
    assert risks.verify_chain(store)["ok"]

    with pytest.raises(InvalidInputError, match="lacks the columns owner"):
        risks.import_csv(store, content=b"title,category,likelihood,impact\nx,privacy,1,1\n", name="f.csv", actor=ME)
    assert events(store) == 2
