"""The risk register: state rebuilt from the event log, the hash chain, status rules, who may do what, owners
that are accounts, validation that writes nothing, clause coverage on a hand-built register, the all-or-nothing
import and formula-safe exports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, timedelta

import pytest

from governance.access import identity
from governance.access.identity import MONITORING, PermissionDeniedError
from governance.decisions import risks
from governance.decisions.risks import (BAD_CATEGORY, BAD_NEW_STATUS, BAD_SCORE, BAD_STATUS_MOVE, NEEDS_REASON,
                                        NO_OWNER, UNKNOWN_CLAUSE, UNKNOWN_MODEL, UNKNOWN_OWNER, NewRisk)
from governance.errors import InvalidInputError
from governance.record import ledger, verification
from governance.validation import CONTROL_CHARACTERS, EMPTY, TOO_LONG
from tests.conftest import ENGINES
from tests.unit.record.repositories.conftest import open_engine

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
ME = PEOPLE["elif.kaya"]            # a risk owner: may edit and accept
CHAIR, LEADER, VIEWER, ADMIN = (PEOPLE[n] for n in ("amara.okafor", "farid.haddad", "hugo.tanaka", "grace.lindqvist"))
OWNER, OTHER = "elif.kaya", "farid.haddad"


@pytest.fixture(params=ENGINES)
def store(request, tmp_path):
    """A new workspace on each engine, with the demo's accounts and one model."""
    with open_engine(request.param, tmp_path=tmp_path, request=request) as store:
        ledger.refresh_anchor(store)   # as `init` does: the empty chains are anchored before the first record
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', 'd', now())")
            identity.seed_demo_users(store, tx)
        yield store


def new(**overrides) -> NewRisk:
    fields = {"title": "Loan approvals drift for young applicants", "category": "fairness/bias", "owner": OWNER,
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
    risks.add_control(store, risk_id="R-001", title="Reweigh training data", owner=OTHER, due=None, actor=ME)
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
    risks.add_control(store, risk_id="R-001", title="Reweigh", owner=OTHER, due=None, actor=ME)
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


def test_status_transitions_and_who_may_accept(store):
    risks.add_risk(store, risk=new(), actor=ME)
    before = events(store)
    with pytest.raises(InvalidInputError) as raised:
        risks.update_risk(store, risk_id="R-001", changes={"status": "accepted"}, actor=ME, reason="fine")
    assert str(raised.value) == BAD_STATUS_MOVE.format(old="identified", new="accepted",
                                                       allowed="assessed, withdrawn")
    assert events(store) == before
    risks.update_risk(store, risk_id="R-001", changes={"status": "assessed"}, actor=LEADER, reason="scored")
    risks.add_risk(store, risk=new(title="Second"), actor=LEADER)
    risks.update_risk(store, risk_id="R-002", changes={"status": "assessed"}, actor=LEADER, reason="scored")
    before = events(store)
    for user in (VIEWER, LEADER):   # a viewer may not edit at all; an engineering leader edits but may not accept
        with pytest.raises(PermissionDeniedError) as raised:
            risks.update_risk(store, risk_id="R-001", changes={"status": "accepted"}, actor=user, reason="ok")
        assert str(raised.value) == identity.PERMISSION_DENIED.format(
            who=user.display_name, role=user.role, action="accept risk" if user is LEADER else "edit risks",
            roles=" or ".join(identity.PERMISSIONS["accept risk" if user is LEADER else "edit risks"]))
    assert events(store) == before
    accepted = risks.update_risk(store, risk_id="R-001", changes={"status": "accepted"}, actor=ME,
                                 reason="within appetite")
    assert accepted["status"] == "accepted" and accepted["status_reason"] == "within appetite"
    assert risks.history(store, risk_id="R-001")[-1]["actor"] == "elif.kaya (risk owner)"
    by_chair = risks.update_risk(store, risk_id="R-002", changes={"status": "accepted"}, actor=CHAIR,
                                 reason="the committee accepts it")
    assert by_chair["status"] == "accepted"
    assert risks.history(store, risk_id="R-002")[-1]["actor"] == "amara.okafor (committee chair)"
    closed = risks.update_risk(store, risk_id="R-001", changes={"status": "closed"}, actor=ME, reason="retired")
    assert closed["status"] == "closed"
    before = events(store)
    for status in ("identified", "mitigating", "accepted", "withdrawn"):
        with pytest.raises(InvalidInputError, match="not to"):
            risks.update_risk(store, risk_id="R-001", changes={"status": status}, actor=ADMIN, reason="reopen")
    assert events(store) == before


def test_a_viewer_can_change_nothing(store):
    risks.add_risk(store, risk=new(), actor=ME)
    risks.add_control(store, risk_id="R-001", title="Reweigh", owner=OTHER, due=None, actor=ME)
    before = events(store)
    attempts = (
        lambda: risks.add_risk(store, risk=new(), actor=VIEWER),
        lambda: risks.add_risk(store, risk=new(), actor=VIEWER, status="proposed"),
        lambda: risks.update_risk(store, risk_id="R-001", changes={"impact": 1}, actor=VIEWER, reason="why"),
        lambda: risks.add_control(store, risk_id="R-001", title="c", owner=OTHER, due=None, actor=VIEWER),
        lambda: risks.update_control(store, risk_id="R-001", control_id="C1", status="done", actor=VIEWER,
                                     reason="done"),
        lambda: risks.link_evidence(store, risk_id="R-001", kind="other", ref="memo", note="", actor=VIEWER),
        lambda: risks.import_csv(store, content=GOOD_CSV.encode(), name="r.csv", actor=VIEWER),
        lambda: risks.add_risk(store, risk=new(), actor="elif.kaya"),   # a name is not a user
    )
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError, match="edit risks needs the role"):
            attempt()
    assert events(store) == before


def test_monitoring_may_only_propose_and_link_evidence(store):
    proposal = risks.add_risk(store, risk=new(owner=None), actor=MONITORING, status="proposed",
                              reason="proposed by monitoring: FA-0001")
    assert (proposal["status"], proposal["owner"], proposal["created_by"]) == ("proposed", None, "Quorum monitoring")
    linked = risks.link_evidence(store, risk_id=proposal["risk_id"], kind="fairness_audit", ref="FA-0001", note="",
                                 actor=MONITORING)
    assert linked["evidence"][0]["linked_by"] == "Quorum monitoring"
    before = events(store)
    attempts = (
        lambda: risks.add_risk(store, risk=new(), actor=MONITORING),
        lambda: risks.update_risk(store, risk_id="R-001", changes={"status": "dismissed"}, actor=MONITORING,
                                  reason="noise"),
        lambda: risks.add_control(store, risk_id="R-001", title="c", owner=OTHER, due=None, actor=MONITORING),
        lambda: risks.import_csv(store, content=GOOD_CSV.encode(), name="r.csv", actor=MONITORING),
    )
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError, match="Quorum monitoring acts as 'monitoring'"):
            attempt()
    risks.add_control(store, risk_id="R-001", title="c", owner=OTHER, due=None, actor=ME)
    with pytest.raises(PermissionDeniedError):
        risks.update_control(store, risk_id="R-001", control_id="C1", status="done", actor=MONITORING, reason="x")
    assert events(store) == before + 1


def test_a_proposal_becomes_identified_only_with_an_owner(store):
    risks.add_risk(store, risk=new(owner=None), actor=MONITORING, status="proposed")
    before = events(store)
    with pytest.raises(InvalidInputError) as raised:
        risks.update_risk(store, risk_id="R-001", changes={"status": "identified"}, actor=ME, reason="real")
    assert str(raised.value) == NO_OWNER.format(status="identified")
    with pytest.raises(InvalidInputError, match="needs an owner"):   # nor can a person record one without
        risks.add_risk(store, risk=new(owner=""), actor=ME)
    with pytest.raises(InvalidInputError) as raised:   # only monitoring's proposals start anywhere but identified
        risks.add_risk(store, risk=new(), actor=ME, status="accepted")
    assert str(raised.value) == BAD_NEW_STATUS.format(value="accepted")
    assert events(store) == before
    accepted = risks.update_risk(store, risk_id="R-001", changes={"status": "identified", "owner": OTHER},
                                 actor=ME, reason="confirmed against the audit")
    assert (accepted["status"], accepted["owner"]) == ("identified", OTHER)
    with pytest.raises(InvalidInputError, match="needs an owner"):   # and it keeps one from now on
        risks.update_risk(store, risk_id="R-001", changes={"owner": ""}, actor=ME, reason="nobody")
    dismissed = risks.add_risk(store, risk=new(owner=None), actor=MONITORING, status="proposed")
    gone = risks.update_risk(store, risk_id=dismissed["risk_id"], changes={"status": "dismissed"}, actor=CHAIR,
                             reason="noise")
    assert (gone["status"], gone["owner"]) == ("dismissed", None)   # a dismissed proposal needs no owner


def test_owners_are_enabled_accounts(store):
    known = ", ".join(u.user_name for u in identity.list_users(store))
    unknown = UNKNOWN_OWNER.format(name="alice", known=known)
    risks.add_risk(store, risk=new(), actor=ME)
    before = events(store)
    with pytest.raises(InvalidInputError) as raised:
        risks.add_risk(store, risk=new(owner="alice"), actor=ME)
    assert str(raised.value) == unknown
    with pytest.raises(InvalidInputError) as raised:
        risks.update_risk(store, risk_id="R-001", changes={"owner": "alice"}, actor=ME, reason="handover")
    assert str(raised.value) == unknown
    with pytest.raises(InvalidInputError) as raised:
        risks.add_control(store, risk_id="R-001", title="c", owner="alice", due=None, actor=ME)
    assert str(raised.value) == unknown
    with pytest.raises(InvalidInputError, match="control owner is empty"):
        risks.add_control(store, risk_id="R-001", title="c", owner=" ", due=None, actor=ME)
    with pytest.raises(InvalidInputError) as raised:
        risks.import_csv(store, content=(GOOD_CSV + "Third,,privacy,,alice,1,1,,\n").encode(), name="r.csv",
                         actor=ME)
    assert f"row 4, column owner: {unknown}" in str(raised.value) and "row 2" not in str(raised.value)
    with store.write() as tx:   # a disabled account can no longer be given anything
        tx.execute("UPDATE app_user SET disabled = true WHERE user_name = ?", [OTHER])
    with pytest.raises(InvalidInputError, match=f"owner '{OTHER}' has no account"):
        risks.add_risk(store, risk=new(owner=OTHER), actor=ME)
    assert events(store) == before
    handed_over = risks.update_risk(store, risk_id="R-001", changes={"owner": "amara.okafor"}, actor=ME,
                                    reason="handover")
    assert handed_over["owner"] == "amara.okafor"


def subset(result: dict) -> dict:
    return {k: result[k] for k in ("ok", "events", "broken_at")}


def test_verify_chain_finds_an_edited_and_a_deleted_event(store):
    risks.add_risk(store, risk=new(), actor=ME)
    risks.update_risk(store, risk_id="R-001", changes={"likelihood": 2}, actor=ME, reason="first")
    risks.update_risk(store, risk_id="R-001", changes={"impact": 2}, actor=ME, reason="second")
    risks.add_risk(store, risk=new(title="Second risk"), actor=ME)
    intact = verification.verify_register(store)
    assert intact["ok"] and intact["events"] == 4 and intact["broken_at"] is None and len(intact["head"]) == 64

    with store.write() as tx:
        tx.execute("UPDATE risk_event SET reason = 'x' WHERE seq = 2")
    assert subset(verification.verify_register(store)) == {"ok": False, "events": 4, "broken_at": 2}
    with store.write() as tx:
        tx.execute("UPDATE risk_event SET reason = 'first' WHERE seq = 2")
    assert verification.verify_register(store)["ok"]

    with store.write() as tx:
        tx.execute("DELETE FROM risk_event WHERE seq = 3")
    assert subset(verification.verify_register(store)) == {"ok": False, "events": 3, "broken_at": 3}   # event 3 is missing


def test_the_newest_events_deleted_or_the_register_rewritten_without_the_key_are_found(store):
    """The register is signed and anchored like the ledger (issue 22): plain hashes alone let both pass."""
    for n in range(4):
        risks.add_risk(store, risk=new(title=f"risk {n}"), actor=ME)
    assert verification.verify_register(store)["ok"]
    saved = store.query_rows("SELECT * FROM risk_event ORDER BY seq")
    with store.write() as tx:
        tx.execute("DELETE FROM risk_event WHERE seq = 4")
    deleted = verification.verify_register(store)
    assert (deleted["ok"], deleted["events"], deleted["broken_at"]) == (False, 3, 4)
    assert deleted["problem"].startswith("the anchor records 4 events of the risk register but its newest is number 3")

    # every event re-hashed correctly by someone without the key, one owner changed: the signatures give it away
    with store.write() as tx:
        tx.execute("DELETE FROM risk_event")
    prev = "0" * 64
    for row in saved:
        seq, risk_id, at, actor, kind, field, old, new_value, reason = row[:9]
        if seq == 2:
            reason = "rewritten"
        content = {"seq": seq, "risk_id": risk_id, "at": at.isoformat(), "actor": actor, "kind": kind,
                   "field": field, "old_value": old, "new_value": new_value, "reason": reason, "prev_hash": prev}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False).encode()).hexdigest()
        with store.write() as tx:
            tx.execute("INSERT INTO risk_event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [seq, risk_id, at, actor, kind, field, old, new_value, reason, prev, digest, "0" * 64])
        prev = digest
    rewritten = verification.verify_register(store)
    assert (rewritten["ok"], rewritten["broken_at"]) == (False, 1)
    assert "risk register event 1 was not written by Quorum with this ledger key" in rewritten["problem"]


def test_overdue_reviews_and_controls(store):
    past = (date.today() - timedelta(days=3)).isoformat()
    future = (date.today() + timedelta(days=30)).isoformat()
    late = risks.add_risk(store, risk=new(next_review=past), actor=ME)
    assert late["review_overdue"] and late["overdue_controls"] == 0
    risks.add_control(store, risk_id="R-001", title="late", owner=OTHER, due=past, actor=ME)
    risks.add_control(store, risk_id="R-001", title="on time", owner=OTHER, due=future, actor=ME)
    risks.add_control(store, risk_id="R-001", title="late but done", owner=OTHER, due=past, actor=ME, status="done")
    assert risks.get_risk(store, risk_id="R-001")["overdue_controls"] == 1
    on_time = risks.add_risk(store, risk=new(next_review=future), actor=ME)
    assert not on_time["review_overdue"]
    withdrawn = risks.update_risk(store, risk_id="R-001", changes={"status": "withdrawn"}, actor=ME,
                                  reason="duplicate")
    assert not withdrawn["review_overdue"] and withdrawn["overdue_controls"] == 0


def test_coverage_on_a_small_hand_built_register(store):
    fresh = risks.add_risk(store, risk=new(title="fresh", clauses=["Article 10", "Article 9"]), actor=ME)
    risks.add_control(store, risk_id=fresh["risk_id"], title="c", owner=OTHER, due=None, actor=ME)
    risks.link_evidence(store, risk_id=fresh["risk_id"], kind="drift", ref="DR-1", note="", actor=ME)
    stale = risks.add_risk(store, risk=new(title="stale", clauses=["Article 9", "Article 15"]), actor=ME)
    risks.add_control(store, risk_id=stale["risk_id"], title="c", owner=OTHER, due=None, actor=ME)
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
    identity.add_user(store, user_name="@owner", display_name="=cmd", role="risk owner", actor=ADMIN,
                      password="correct horse battery")
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
            "Drift,,performance/drift,m,elif.kaya,2,3,MEASURE 2.11;Article 10,2027-01-31\n"
            "Leak,\"<b>pii</b>\",privacy,,farid.haddad,4,5,A.7,\n")


def test_import_is_all_or_nothing(store):
    bad = GOOD_CSV + "Bad,,vibes,ghost,carol,9,3,Article 999,someday\n"
    with pytest.raises(InvalidInputError) as raised:
        risks.import_csv(store, content=bad.encode(), name="risks.csv", actor=ME)
    message = str(raised.value)
    assert message.startswith("nothing was imported: 6 problem(s) in risks.csv:")
    for column in ("category", "models", "owner", "likelihood", "clauses", "next_review"):
        assert f"row 4, column {column}: " in message
    assert "row 2" not in message and "row 3" not in message
    assert events(store) == 0 and risks.list_risks(store) == []

    imported = risks.import_csv(store, content=GOOD_CSV.encode(), name="risks.csv", actor=ME)
    assert [r["risk_id"] for r in imported] == ["R-001", "R-002"]
    assert imported[0]["clauses"] == ["MEASURE 2.11", "Article 10"] and imported[0]["next_review"] == "2027-01-31"
    assert imported[1]["description"] == "<b>pii</b>" and imported[1]["models"] == []
    assert risks.history(store, risk_id="R-002")[0]["reason"] == "imported from risks.csv"
    assert verification.verify_register(store)["ok"]

    with pytest.raises(InvalidInputError, match="lacks the columns owner"):
        risks.import_csv(store, content=b"title,category,likelihood,impact\nx,privacy,1,1\n", name="f.csv", actor=ME)
    assert events(store) == 2
