"""`audit verify` recomputes what it can: an evaluation-set audit from the stored rows, a file audit from the file
when it is given (and says plainly that it could not recompute without it); a changed file or figure exits 1 with
what differs."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from governance.demo.datasets import load_german
from governance.evidence import fairness
from governance.record.store import GovernanceStore


def _csv(tmp_path):
    frame = load_german().iloc[:600]
    decision = (frame["duration_months"] < 24).astype(int)   # a stand-in model's decisions
    path = tmp_path / "decisions.csv"
    pd.DataFrame({"outcome": frame["target"], "decision": decision, "sex": frame["sex"]}).to_csv(path, index=False)
    return path


def test_a_file_audit_is_recomputed_from_the_file_and_a_changed_file_exits_1(demo_copy, tmp_path, cli):
    path = _csv(tmp_path)
    ran = cli("--db", demo_copy, "audit", "run", "--data", path, "--y-true", "outcome", "--y-pred", "decision",
              "--sensitive", "sex", "--bootstrap", "200", "--by", "amara.okafor", "--json")
    assert ran.returncode == 0, ran.stderr
    audit_id = json.loads(ran.stdout)["audit_id"]

    hashes_only = cli("--db", demo_copy, "audit", "verify", audit_id, "--json")
    result = json.loads(hashes_only.stdout)
    assert hashes_only.returncode == 0 and result["ok"] and result["recomputed"] is False
    assert [c["check"] for c in result["checks"]] == ["definition hash", "evidence hash"]
    assert result["not_recomputed"] == [{"what": "the file's content hash and the results",
                                         "why": fairness.VERIFY_NEEDS_FILE.format(name="decisions.csv")}]
    printed = cli("--db", demo_copy, "audit", "verify", audit_id)
    assert "verified (in part" in printed.stdout and "NOT RECOMPUTED" in printed.stdout and "--file" in printed.stdout

    full = cli("--db", demo_copy, "audit", "verify", audit_id, "--file", path, "--json")
    result = json.loads(full.stdout)
    assert full.returncode == 0 and result["ok"] and result["recomputed"] and result["not_recomputed"] == []
    assert [c["check"] for c in result["checks"]] == ["definition hash", "evidence hash", "file content hash",
                                                      "results recomputed from the file"]

    # one decision changed: the hash differs and so does a recomputed group figure, named with both values
    frame = pd.read_csv(path)
    row = int(frame.index[frame["decision"] == 0][0])
    frame.loc[row, "decision"] = 1
    tampered = tmp_path / "tampered.csv"
    frame.to_csv(tampered, index=False)
    failed = cli("--db", demo_copy, "audit", "verify", audit_id, "--file", tampered, "--json")
    assert failed.returncode == 1
    checks = {c["check"]: c for c in json.loads(failed.stdout)["checks"]}
    assert checks["definition hash"]["ok"] and checks["evidence hash"]["ok"]
    recorded = json.loads(ran.stdout)["definition"]["source"]["data_sha256"]
    assert checks["file content hash"]["detail"] == (f"recorded {recorded}, recomputed "
                                                     f"{hashlib.sha256(tampered.read_bytes()).hexdigest()}")
    assert checks["results recomputed from the file"]["ok"] is False
    group = frame.loc[row, "sex"]
    rate_before = (pd.read_csv(path).query("sex == @group")["decision"]).mean()
    rate_after = frame.query("sex == @group")["decision"].mean()
    detail = checks["results recomputed from the file"]["detail"]
    assert f"recorded {json.dumps(rate_before)}" in detail and f"recomputed {json.dumps(rate_after)}" in detail
    shown = cli("--db", demo_copy, "audit", "verify", audit_id, "--file", tampered)
    assert shown.returncode == 1 and "FAIL file content hash" in shown.stdout


def test_a_workspace_audit_is_recomputed_from_the_stored_rows_and_says_what_differs(demo_copy, cli):
    with GovernanceStore(demo_copy) as store:
        ran = fairness.run_new_audit(store, data=fairness.evaluation_set_data(store, model="german-credit",
                                                                              version="v1"),
                                     actor=fairness_actor(store), sensitive=["sex"], bootstrap=200)
    audit_id = ran["audit_id"]
    clean = cli("--db", demo_copy, "audit", "verify", audit_id, "--json")
    result = json.loads(clean.stdout)
    assert clean.returncode == 0 and result["ok"] and result["recomputed"] and result["not_recomputed"] == []

    with GovernanceStore(demo_copy) as store:
        rows = store.query("SELECT row_id, sensitive FROM evaluation_row WHERE model = 'german-credit' AND "
                           "version = 'v1' ORDER BY row_id")
        sexes = pd.Series([json.loads(s)["sex"] for s in rows["sensitive"]])
        group = next(g for g in ran["groups"] if g["sensitive"] == ["sex"])
        name = group["group"]["sex"]
        assert group["n"] == int((sexes == name).sum())          # an independent count of the stored rows
        stored = store.query_value("SELECT results FROM fairness_audit_run WHERE audit_id = ?", [audit_id])
        old = fairness.canonical_json(group)
        new = fairness.canonical_json({**group, "n": group["n"] + 7})
        assert stored.count(old) == 1
        with store.write() as tx:
            tx.execute("UPDATE fairness_audit_run SET results = replace(results, ?, ?) WHERE audit_id = ?",
                       [old, new, audit_id])
    failed = cli("--db", demo_copy, "audit", "verify", audit_id, "--json")
    assert failed.returncode == 1
    checks = {c["check"]: c for c in json.loads(failed.stdout)["checks"]}
    assert checks["evidence hash"]["ok"] is False and checks["evaluation set content hash"]["ok"]
    detail = checks["results recomputed from the data"]["detail"]
    assert f".n: recorded {group['n'] + 7}, recomputed {int((sexes == name).sum())}" in detail


def fairness_actor(store):
    from governance.access import identity

    return identity.get_user(store, user_name="amara.okafor")


def _store_as_an_earlier_method(store: GovernanceStore, audit_id: str, change) -> None:
    """Rewrite an audit's stored results as an earlier Quorum would have stored them (method version 1), with the
    evidence hash made over them as that Quorum did, so that only the method differs."""
    results = json.loads(store.query_value("SELECT results FROM fairness_audit_run WHERE audit_id = ?", [audit_id]))
    results = change({**results, "schema_version": 1})
    audit = fairness.get_audit(store, audit_id=audit_id)
    evidence = fairness.evidence_hash_of(definition=fairness.AuditDefinition.from_dict(audit["definition"]),
                                         data_sha256=audit["data_sha256"], results=results)
    with store.write() as tx:
        tx.execute("UPDATE fairness_audit_run SET results = ?, evidence_hash = ? WHERE audit_id = ?",
                   [fairness.canonical_json(results), evidence, audit_id])


def test_an_audit_of_an_earlier_method_has_its_figures_recomputed_and_its_intervals_named(demo_copy):
    def older_intervals(results):   # the percentile bootstrap's narrower interval and its verdict
        criteria = [{**c, "ci_low": c["value"], "ci_high": c["value"], "verdict": "fail", "p_value": 0.002}
                    for c in results["criteria"]]
        return {**results, "criteria": criteria}

    def changed_figure(results):
        results = older_intervals(results)
        first = results["groups"][0]
        return {**results, "groups": [{**first, "n": first["n"] + 1}] + results["groups"][1:]}

    with GovernanceStore(demo_copy) as store:
        _store_as_an_earlier_method(store, "FA-0003", older_intervals)
        result = fairness.verify_audit(store, audit_id="FA-0003")
        assert result["ok"] and result["recomputed"] is False
        assert result["not_recomputed"] == [{"what": "the intervals, p-values and verdicts", "why": (
            fairness.VERIFY_EARLIER_METHOD.format(recorded=1, current=fairness.SCHEMA_VERSION))}]
        assert "results recomputed from the data" in [c["check"] for c in result["checks"]]

        _store_as_an_earlier_method(store, "FA-0003", changed_figure)   # a figure, not a method, differs
        failed = {c["check"]: c for c in fairness.verify_audit(store, audit_id="FA-0003")["checks"]}
        assert failed["evidence hash"]["ok"] and not failed["results recomputed from the data"]["ok"]
        assert "results.groups[0].n: recorded" in failed["results recomputed from the data"]["detail"]
