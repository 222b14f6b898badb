"""The stage gate that CI/CD pipelines call: it refuses while any condition is missing, naming each, and passes
when all hold; the checklist, the retraining policy and every gate check are recorded in the ledger."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from governance.access import identity
from governance.access.identity import PermissionDeniedError
from governance.cli.main import build_parser
from governance.decisions import release_gate, risks
from governance.errors import InvalidInputError
from governance.evidence import robustness
from governance.record import ledger, verification
from governance.record.store import GovernanceStore
from tests.conftest import AUDITOR, LEADER, ROOT, VIEWER, PgWorkspace, open_workspace, workspace_args

MODEL, VERSION, STAGE = "german-credit", "v1", "production"   # approved for production in the demo (RV-0002)
LENIENT = "flip_rate<=0.5@0.01"


def reasons_about(result: dict, needle: str) -> list[str]:
    return [r for r in result["reasons"] if needle in r]


def test_the_gate_passes_the_demos_validated_version_and_refuses_each_condition_undone_in_turn(demo_on_engine, cli):
    with open_workspace(demo_on_engine) as store:
        first = release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=LEADER,
                                  caller="test pipeline")
        assert first["ok"] and first["reasons"] == [] and first["decision"]["review_id"] == "RV-0002"

        # a newer robustness run that cannot tell pass from fail (the default criteria on 300 rows) undoes the item
        run = robustness.run_robustness(store, model=MODEL, version=VERSION, actor=LEADER)
        assert run["verdict"] == "inconclusive"
        after = release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=VIEWER)
        assert after["reasons"] == reasons_about(after, "robustness not done") != []
        assert robustness.run_robustness(store, model=MODEL, version=VERSION, actor=LEADER,
                                         criteria=LENIENT)["verdict"] == "pass"
        assert release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=VIEWER)["ok"]

        # the fairness risk taken back from accepted: the inconclusive audit no longer stands, and the risk review
        # is older than the change; at a high residual level the risk blocks again
        risks.update_risk(store, risk_id="R-003", changes={"status": "mitigating"}, actor=AUDITOR,
                          reason="the supplementary sample is late")
        after = release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=VIEWER)
        for needle in ("fairness not done", "risks reviewed not done"):
            assert reasons_about(after, needle), (needle, after["reasons"])
        assert "the risks changed since" in reasons_about(after, "risks reviewed not done")[0]
        assert len(after["reasons"]) == 2
        risks.update_risk(store, risk_id="R-003", changes={"residual_likelihood": 4}, actor=AUDITOR,
                          reason="declines of the group are no longer reviewed by hand")
        after = release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=VIEWER)
        assert reasons_about(after, "blocking risk R-003") and len(after["reasons"]) == 3

        risks.update_risk(store, risk_id="R-003", changes={"status": "accepted"}, actor=AUDITOR,
                          reason="accepted until a larger evaluation set exists")
        after = release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=VIEWER)
        assert after["reasons"] == reasons_about(after, "risks reviewed not done") != []
        release_gate.attest(store, model=MODEL, version=VERSION, item="risks reviewed", actor=AUDITOR,
                            note="R-003 accepted again, reviewed with the owner")
        assert release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=VIEWER)["ok"]

        # no decision for another stage; a rejection for adult-income v2
        assert reasons_about(release_gate.gate(store, model=MODEL, version=VERSION, stage="staging",
                                               actor=VIEWER), "no committee decision for the gate 'staging'")
        assert reasons_about(release_gate.gate(store, model="adult-income", version="v2", stage="production",
                                               actor=VIEWER),
                             "RV-0005, rejected it")
        checks = ledger.entries(store, kind="gate_check", subject=f"{MODEL} {VERSION}")
        assert verification.verify(store)["ok"]
    assert [c["payload"]["ok"] for c in checks][:7] == [True, False, True, False, False, False, True]
    # the checked account is who asked; the pipeline's own words are kept beside it
    assert checks[0]["actor"] == checks[0]["payload"]["checked_by"] == "farid.haddad (engineering leader)"
    assert checks[0]["payload"]["caller"] == "test pipeline"
    assert checks[1]["actor"] == "hugo.tanaka (viewer)" and checks[1]["payload"]["caller"] is None

    passed = cli(*workspace_args(demo_on_engine), "gate", "--model", MODEL, "--version", VERSION, "--stage", STAGE,
                 "--caller", "ci run 7", "--by", "hugo.tanaka", "--json")
    assert passed.returncode == 0, passed.stderr
    assert json.loads(passed.stdout)["ok"] is True
    refused = cli(*workspace_args(demo_on_engine), "gate", "--model", "adult-income", "--version", "v2",
                  "--stage", STAGE, "--by", "hugo.tanaka")
    assert refused.returncode == 1 and "REFUSED" in refused.stdout and "RV-0005" in refused.stdout


def test_attestations_need_their_role_and_a_known_item(demo_on_engine):
    with open_workspace(demo_on_engine) as store:
        before = verification.verify(store)["entries"]
        with pytest.raises(PermissionDeniedError):
            release_gate.attest(store, model=MODEL, version=VERSION, item="risks reviewed", actor=VIEWER, note="x")
        with pytest.raises(InvalidInputError, match="explanation reviewed, risks reviewed"):
            release_gate.attest(store, model=MODEL, version=VERSION, item="looked at it", actor=AUDITOR, note="x")
        with pytest.raises(InvalidInputError):
            release_gate.attest(store, model=MODEL, version=VERSION, item="risks reviewed", actor=AUDITOR, note="  ")
        assert verification.verify(store)["entries"] == before


def telemetry_reader(workspace) -> duckdb.DuckDBPyConnection:
    """The test's own read of the telemetry, not Quorum's: the DuckDB file's table, or the lake's Parquet files
    read with DuckDB directly."""
    if not isinstance(workspace, PgWorkspace):
        return duckdb.connect(str(workspace))   # the store's own configuration: DuckDB shares the open file
    con = duckdb.connect()
    con.execute(f"CREATE VIEW telemetry AS SELECT * FROM read_parquet('{workspace.lake}/telemetry/*/*.parquet', "
                "hive_partitioning = true)")
    return con


def test_retraining_triggers_follow_the_recorded_policy(demo_on_engine):
    with open_workspace(demo_on_engine) as store:
        found = release_gate.retraining_triggers(store, model="adult-income")
        met = {t["trigger"] for t in found["triggers"] if t["met"]}
        # the demo's adult-income drifts to 'act' in hours_per_week; v1 is the production version
        assert found["version"] == "v1" and found["retrain"] and "drift at 'act'" in met
        assert release_gate.policy(store, model="adult-income")["set_by"] is None   # the defaults
        with pytest.raises(PermissionDeniedError):
            release_gate.set_policy(store, model="adult-income", policy={"drift_act": False}, actor=VIEWER)
        with pytest.raises(InvalidInputError, match="min_label_coverage must be a share from 0 to 1"):
            release_gate.set_policy(store, model="adult-income", policy={"min_label_coverage": 2}, actor=LEADER)
        release_gate.set_policy(store, model="adult-income", actor=LEADER, policy={
            "drift_act": False, "accuracy_below_slo_days": 30, "min_label_coverage": 0.95, "max_model_age_days": 30,
            "text": "Retrain when fewer than 95% of outcomes arrive or the model is a month old."})
        again = release_gate.retraining_triggers(store, model="adult-income")
        met = {t["trigger"] for t in again["triggers"] if t["met"]}
        assert met == {"label coverage below 95%", "model older than 30 days"}
        # the coverage it reports equals an independent count over the same days
        detail = next(t["detail"] for t in again["triggers"] if t["trigger"].startswith("label coverage"))
        with telemetry_reader(demo_on_engine) as telemetry:
            last = telemetry.execute(
                "SELECT max(ts) FROM telemetry WHERE model = 'adult-income' AND version = 'v1'").fetchone()[0]
            n, labelled = telemetry.execute(   # the KPI page's definition: labelled / successful requests
                "SELECT count(*) FILTER (WHERE NOT is_error), count(label) FILTER (WHERE NOT is_error) "
                "FROM telemetry WHERE model = 'adult-income' AND version = 'v1' "
                "AND ts >= ?::TIMESTAMP - INTERVAL 33 DAY AND ts < ?::TIMESTAMP - INTERVAL 3 DAY",
                [last, last]).fetchone()
        assert f"{labelled / n:.1%} of {n:,} successful predictions" in detail
        assert release_gate.policy(store, model="adult-income")["set_by"] == LEADER.signature_name


def test_every_quorum_command_in_the_example_pipelines_parses():
    parser = build_parser()
    commands = []
    for path in sorted((ROOT / "examples").glob("*.yml")):
        # YAML folded blocks (">-") and continued lines are joined into one command line
        text = re.sub(r">-\n\s+", " ", Path(path).read_text())
        text = re.sub(r"\n\s+(--)", r" \1", text)
        for line in text.splitlines():
            found = not line.lstrip().startswith("#") and re.search(r"python -m governance (.*)", line)
            if found:
                command = re.sub(r"\$\{\{[^}]*\}\}|\$\w+|\"\$\w+\"", "X", found.group(1)).split(">")[0]
                commands.append(shlex.split(command))
    assert len(commands) >= 10
    for args in commands:
        parser.parse_args(args)   # argparse exits on an unknown command or option


CI_PASSWORD = "a-ci-bot-password-for-the-gate"


def _cli_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m governance …` in its own process, as a pipeline runs it (no caller variables inherited)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("QUORUM_SERVER", "QUORUM_TOKEN", "QUORUM_PASSWORD",
                                                                 "QUORUM_DB")}
    return subprocess.run([sys.executable, "-m", "governance", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**clean, **(env or {})}, timeout=300)


def test_a_gate_check_is_recorded_as_the_checked_account_not_a_name_the_caller_types(demo_copy):
    """`--caller` used to be the only record of who asked, in the asker's own words. Now the account acts, checked
    like every other writer (a local account's password); the words are kept beside it."""
    # DuckDB only: it starts pipeline processes, seconds each; the gate's record on PostgreSQL is the first test's.
    with GovernanceStore(demo_copy) as store:
        admin = identity.get_user(store, user_name="grace.lindqvist")
        identity.add_user(store, user_name="ci-bot", display_name="CI bot", role="engineering leader", actor=admin,
                          password=CI_PASSWORD)
        with pytest.raises(PermissionDeniedError, match="recorded with the account that asked"):
            release_gate.gate(store, model=MODEL, version=VERSION, stage=STAGE, actor=None, caller="the CFO")
        before = verification.verify(store)["entries"]
    asked = ("--db", demo_copy, "gate", "--model", MODEL, "--version", VERSION, "--stage", STAGE, "--json")

    for argv, env, error in (((*asked, "--by", "ci-bot"), {"QUORUM_PASSWORD": "not the password"},
                              identity.SIGN_IN_FAILED),
                             ((*asked, "--by", "mallory", "--caller", "ci-bot"), {}, "there is no user 'mallory'")):
        refused = _cli_process(*argv, env=env)
        assert refused.returncode == 2 and refused.stdout == "", (refused.stdout, refused.stderr)
        assert refused.stderr.startswith("error: ") and error in refused.stderr, refused.stderr
    with GovernanceStore(demo_copy) as store:
        assert verification.verify(store)["entries"] == before   # a refused asker leaves no record

    passed = _cli_process(*asked, "--by", "ci-bot", "--caller", "github-actions run 7",
                          env={"QUORUM_PASSWORD": CI_PASSWORD})
    assert passed.returncode == 0, passed.stderr
    result = json.loads(passed.stdout)
    assert result["ok"] is True
    assert (result["checked_by"], result["caller"]) == ("ci-bot (engineering leader)", "github-actions run 7")
    with GovernanceStore(demo_copy) as store:
        check = ledger.entries(store, kind="gate_check")[-1]
        assert verification.verify(store)["entries"] == before + 1 == check["seq"] == result["ledger_seq"]
        assert check["actor"] == "ci-bot (engineering leader)"
        assert (check["payload"]["checked_by"], check["payload"]["caller"]) == (result["checked_by"],
                                                                                 "github-actions run 7")
        identity.set_disabled(store, user_name="ci-bot", disabled=True, actor=admin)
    disabled = _cli_process(*asked, "--by", "ci-bot", env={"QUORUM_PASSWORD": CI_PASSWORD})
    assert disabled.returncode == 2 and "disabled" in disabled.stderr, disabled.stderr
