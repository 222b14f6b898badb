"""The CLI as a script or CI would run it: real processes, real files, exit codes and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from governance.record.store import GovernanceStore

ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "governance", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_init_demo_then_status_json(tmp_path):
    db = tmp_path / "ws.duckdb"
    built = cli("init", "--demo", "--db", str(db), "--rows", "20000", "--json")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["demo"]["rows"] == 20_000
    status = cli("--db", str(db), "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["schema_version"] >= 1
    assert report["tables"]["telemetry"] == 20_000
    versions = {(m["name"], v["version"]): v for m in report["models"] for v in m["versions"]}
    assert set(versions) == {("adult-income", "v1"), ("adult-income", "v2"), ("german-credit", "v1")}
    assert versions[("adult-income", "v1")]["stage"] == "production"
    assert sum(v["telemetry_rows"] for v in versions.values()) == 20_000


def test_db_comes_from_the_environment_when_not_given(tmp_path):
    db = tmp_path / "env.duckdb"
    result = cli("status", env={"QUORUM_DB": str(db)})
    assert result.returncode == 0, result.stderr
    assert str(db) in result.stdout and db.exists()


def test_usage_errors_are_one_line_with_exit_code_2(tmp_path):
    for args in (["stat"], ["status", "--rows", "3"], ["init", "--rows", "lots"], []):
        result = cli(*args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("error:"), result.stderr
        assert "Traceback" not in result.stderr


def test_bad_workspaces_give_clear_errors_and_stay_untouched(tmp_path):
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database\n" * 50)
    before = junk.read_bytes()
    for db, expected in ((junk, "not a readable Quorum workspace"),
                         (junk / "inside.duckdb", "is a file, not a folder")):
        result = cli("--db", str(db), "status")
        assert result.returncode == 2
        assert result.stderr.startswith("error:") and expected in result.stderr
        assert "Traceback" not in result.stderr
    assert junk.read_bytes() == before


def test_demo_into_a_populated_workspace_is_refused(demo_copy):
    result = cli("--db", str(demo_copy), "init", "--demo", "--rows", "20000")
    assert result.returncode == 2
    assert "already holds models" in result.stderr


def test_workspace_held_by_another_process_is_refused_with_advice(demo_copy):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from governance.record.store import GovernanceStore; s = GovernanceStore(sys.argv[2]);"
         "print('holding', flush=True); time.sleep(60)", str(ROOT), str(demo_copy)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = cli("--db", str(demo_copy), "status", "--json")
        assert result.returncode == 2
        assert "open in another process" in result.stderr and "governance serve" in result.stderr
        assert "a copy" not in result.stderr   # writes made to a copy would be lost
    finally:
        holder.kill()
        holder.wait()


def test_kpis_json_shows_the_demo_breaches(demo_copy):
    result = cli("--db", str(demo_copy), "kpis", "--model", "adult-income", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "adult-income"
    first = report["series"][0]
    assert set(first) == {"version", "period", "n", "accuracy", "label_coverage", "latency_p50_ms",
                          "latency_p95_ms", "latency_p99_ms", "error_rate", "throughput_per_min", "cost_per_1k_usd"}
    # breaches are judged on hourly counts by burn rate (service_levels): the scripted episodes and nothing else
    assert [(b["version"], b["kpi"], b["start"][:10], b["end"][:10]) for b in report["slo_breaches"]] == \
        [("v2", "latency_p95_ms", "2026-09-14", "2026-09-20")]
    assert all(isinstance(b[k], int) for b in report["slo_budgets"] for k in ("events", "bad"))

    # At test size German credit serves ~12 requests an hour; the 6-hour window still finds the spike's hours.
    spike = cli("--db", str(demo_copy), "kpis", "--model", "german-credit", "--json")
    found = json.loads(spike.stdout)["slo_breaches"]
    assert [(b["kpi"], b["start"], b["end"]) for b in found] == \
        [("error_rate", "2026-08-10T10:00:00", "2026-08-10T13:00:00")]


def test_kpis_bad_input_is_one_clear_line(demo_copy, cli):
    for args, message in ((["--model", "nope"], "no model named 'nope'"),
                          (["--model", "adult-income", "--version", "v9"], "has no version 'v9'"),
                          (["--model", "adult-income", "--since", "yesterday"], "must be a date"),
                          (["--model", "adult-income", "--grain", "minute"], "invalid choice")):
        result = cli("--db", str(demo_copy), "kpis", *args)
        assert result.returncode == 2 and result.stderr.startswith("error:") and message in result.stderr, args


def test_compare_json_for_the_demo_ab_split(demo_copy):
    result = cli("--db", str(demo_copy), "compare", "--model", "adult-income", "--a", "v1", "--b", "v2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["window"]["start"][:10], report["window"]["end"][:10]) == ("2026-08-30", "2026-09-29")
    by_kpi = {k["kpi"]: k for k in report["kpis"]}
    assert by_kpi["latency_p95_ms"]["verdict"] == "worse"
    assert by_kpi["accuracy"]["ci_low"] <= by_kpi["accuracy"]["difference"] <= by_kpi["accuracy"]["ci_high"]
    refused = cli("--db", str(demo_copy), "compare", "--model", "german-credit", "--a", "v1", "--b", "v2")
    assert refused.returncode == 2 and "has no version 'v2'" in refused.stderr


def test_drift_json_flags_age_and_hours_after_day_60_only(demo_copy):
    result = cli("--db", str(demo_copy), "drift", "--model", "adult-income", "--version", "v1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"feature", "psi", "status", "window_psi", "test", "window_p_value"} <= set(report["features"][0])
    assert report["judged_period"] == "2026-09-21T00:00:00"   # the latest complete week; 09-28 is partial
    late = [p for p in report["periods"] if p["period"] >= "2026-09-07" and p["status"] in ("watch", "act")]
    early = [p for p in report["periods"] if p["period"] < "2026-08-24" and p["status"] in ("watch", "act")]
    assert {p["feature"] for p in late} == {"age", "hours_per_week"}
    assert early == []


def test_drift_and_ingest_bad_input_is_one_clear_line(demo_copy, tmp_path, cli):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 20)
    for args, message in (
            (["drift", "--model", "adult-income", "--version", "v1", "--reference", "last week"], "must look like"),
            (["drift", "--model", "adult-income", "--version", "v7"], "has no version 'v7'"),
            (["ingest", "telemetry", str(garbage), "--model", "adult-income", "--version", "v1", "--by",
              "farid.haddad"], "nothing was ingested"),
            (["ingest", "telemetry", str(tmp_path / "missing.csv"), "--model", "adult-income", "--version", "v1",
              "--by", "farid.haddad"], "cannot read")):
        if args[1] == "run" and "--by" not in args:
            args = [*args, "--by", "farid.haddad"]
        result = cli("--db", str(demo_copy), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error:") and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_audit_run_on_a_csv_matches_the_documented_json(demo_copy, tmp_path):
    table = tmp_path / "decisions.csv"
    rows = ["outcome,decision,p,sex"]
    # 40 women: 10 approved; 40 men: 30 approved; outcome equals decision except 4 rows per group
    for sex, approved in (("F", 10), ("M", 30)):
        for i in range(40):
            decision = "approve" if i < approved else "decline"
            outcome = decision if i % 10 else ("decline" if decision == "approve" else "approve")
            rows.append(f"{outcome},{decision},{0.9 if decision == 'approve' else 0.1},{sex}")
    table.write_text("\n".join(rows) + "\n")
    result = cli("--db", str(demo_copy), "audit", "run", "--data", str(table), "--y-true", "outcome",
                 "--y-pred", "decision", "--score", "p", "--pos-label", "approve", "--sensitive", "sex",
                 "--bootstrap", "200", "--seed", "7", "--by", "farid.haddad", "--json")
    assert result.returncode == 0, result.stderr
    audit = json.loads(result.stdout)
    assert {"audit_id", "evidence_hash", "n", "groups", "criteria"} <= set(audit)
    assert audit["n"] == 80 and len(audit["evidence_hash"]) == 64
    women = next(g for g in audit["groups"] if g["group"] == {"sex": "F"})
    assert women["status"] == "ok" and women["metrics"]["selection_rate"]["value"] == 10 / 40
    low, high = women["metrics"]["selection_rate"]["ci_low"], women["metrics"]["selection_rate"]["ci_high"]
    assert low < 10 / 40 < high
    parity = next(c for c in audit["criteria"] if c["name"] == "demographic_parity_ratio")
    assert parity["value"] == (10 / 40) / (30 / 40) and parity["threshold"] == 0.8
    assert parity["verdict"] == "fail"
    assert {"name", "value", "ci_low", "ci_high", "threshold", "verdict"} <= set(parity)

    shown = cli("--db", str(demo_copy), "audit", "show", audit["audit_id"], "--json")
    assert json.loads(shown.stdout)["evidence_hash"] == audit["evidence_hash"]
    listed = json.loads(cli("--db", str(demo_copy), "audit", "list", "--json").stdout)["audits"]
    assert [a["audit_id"] for a in listed][:1] == [audit["audit_id"]]
    verified = cli("--db", str(demo_copy), "audit", "verify", audit["audit_id"])
    assert verified.returncode == 0 and "verified" in verified.stdout


def test_audit_of_a_stored_evaluation_set_and_a_failed_verification_exits_1(demo_copy):
    result = cli("--db", str(demo_copy), "audit", "run", "--model", "adult-income", "--version", "v2",
                 "--sensitive", "sex,race", "--intersectional", "--bootstrap", "200", "--by", "amara.okafor",
                 "--json")
    assert result.returncode == 0, result.stderr
    audit = json.loads(result.stdout)
    assert {tuple(c["sensitive"]) for c in audit["criteria"]} == {("sex",), ("race",), ("sex", "race")}
    assert audit["correction"]["method"] == "Holm" and audit["correction"]["tests"] == 9
    with GovernanceStore(demo_copy) as store, store.write() as tx:  # tamper with one stored figure
        tx.execute("UPDATE fairness_audit_run SET results = replace(results, '\"n\":15060', '\"n\":15061') "
                   "WHERE audit_id = ?", [audit["audit_id"]])
    verified = cli("--db", str(demo_copy), "audit", "verify", audit["audit_id"], "--json")
    assert verified.returncode == 1
    checks = {c["check"]: c["ok"] for c in json.loads(verified.stdout)["checks"]}
    assert checks["evidence hash"] is False and checks["definition hash"] is True


def test_audit_run_on_a_header_only_csv_is_refused_and_stores_nothing(demo_copy, tmp_path, cli):
    from governance.evidence.fairness_inputs import NO_ROWS

    header = tmp_path / "header.csv"
    header.write_text("outcome,decision,sex\n")
    result = cli("--db", str(demo_copy), "audit", "run", "--data", str(header), "--y-true", "outcome",
                 "--y-pred", "decision", "--sensitive", "sex", "--by", "farid.haddad")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {NO_ROWS.format(source='header.csv')}"
    with GovernanceStore(demo_copy) as store:
        assert store.query_value("SELECT count(*) FROM fairness_audit") == 3   # the demo's, nothing locked


def test_audit_bad_input_is_one_clear_line(demo_copy, tmp_path, cli):
    probabilities = tmp_path / "p.csv"
    probabilities.write_text("y,p,sex\n1,0.83,F\n0,0.12,M\n1,0.55,M\n")
    for args, message in (
            (["audit", "run", "--model", "adult-income", "--sensitive", "sex"], "say what to audit"),
            (["audit", "run", "--model", "adult-income", "--version", "v1", "--sensitive", "religion"],
             "no column 'religion'"),
            (["audit", "run", "--model", "adult-income", "--version", "v1", "--sensitive", "sex",
              "--criteria", "demographic_parity_ratio<=0.8"], "must be '>='"),
            (["audit", "run", "--data", str(probabilities), "--y-true", "y", "--y-pred", "p", "--sensitive", "sex"],
             "look like probabilities"),
            (["audit", "show", "FA-9999"], "no fairness audit 'FA-9999'"),
            (["audit", "run", "--model", "adult-income", "--version", "v1", "--sensitive", "sex", "--by", "hugo.tanaka"],
             "Hugo Tanaka acts as 'viewer'; run audit needs the role"),
            (["audit", "run", "--model", "adult-income", "--version", "v1", "--sensitive", "sex", "--by", "nobody"],
             "there is no user 'nobody'")):
        if args[1] == "run" and "--by" not in args:
            args = [*args, "--by", "farid.haddad"]
        result = cli("--db", str(demo_copy), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error:") and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_every_command_the_parser_offers_is_in_the_one_registry_and_nothing_else_is():
    """`command_for` reads one table (issue 23: a registry instead of an if/elif chain): a command added to a parser
    but not to the registry, or left in the registry after its parser went, fails here, not at a user's terminal."""
    import argparse

    from governance.cli import main as cli

    def paths(parser, prefix=()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from paths(sub, prefix + (name,))
                return
        yield " ".join(prefix)

    offered = set(paths(cli.build_parser())) - {"serve"}   # serve starts the server before any command runs
    assert offered == set(cli.REGISTRY)
    for name, spec in cli.REGISTRY.items():
        assert 2 <= len(spec) <= 3 and all(callable(part) for part in spec), name
