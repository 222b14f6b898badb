"""`model register` and `explain` as a script or CI would run them: real processes, real files, exit codes and JSON."""

from __future__ import annotations

import hashlib
import json
import pickle

import skops.io as sio
from sklearn.linear_model import LogisticRegression

from governance.access import identity
from governance.demo.datasets import load_german
from governance.evidence import explanations
from governance.evidence.explanations import UNKNOWN_ROW
from governance.evidence.model_artifacts import model_identity
from governance.evidence.model_registry import ALREADY_REGISTERED, EVALUATION_NOT_FINITE, PICKLE_REFUSED
from governance.record.store import GovernanceStore
from tests.unit.cli.test_cli import cli

FEATURES = ["duration_months", "credit_amount", "age", "installment_rate_pct"]
TABLES = ("model", "model_version", "model_artifact", "evaluation_row", "evaluation_set")


def _files(tmp_path):
    """A skops model on German credit's numeric inputs and a 300-row evaluation file for it."""
    frame = load_german()
    model = LogisticRegression(max_iter=1000).fit(frame[FEATURES].iloc[:700], frame["target"].iloc[:700])
    held_out = frame.iloc[700:]
    model_file, evaluation_file = tmp_path / "credit.skops", tmp_path / "eval.csv"
    model_file.write_bytes(sio.dumps(model))
    held_out[FEATURES].assign(outcome=held_out["target"], sex=held_out["sex"]).to_csv(evaluation_file, index=False)
    return model, model_file, evaluation_file


PASSWORD = "correct horse battery"
AS_ADMIN = {"QUORUM_PASSWORD": PASSWORD}


def _workspace(tmp_path):
    """A new workspace whose first admin, ada, registers models (with her password, as a pipeline would)."""
    db = tmp_path / "ws.duckdb"
    with GovernanceStore(db) as store:
        identity.add_user(store, user_name="ada", display_name="Ada", role="admin", actor=None, password=PASSWORD)
    return db


def _counts(db) -> dict[str, int]:
    with GovernanceStore(db) as store:
        return {t: store.query_value(f"SELECT count(*) FROM {t}") for t in TABLES}


def test_register_then_explain_a_skops_model(tmp_path):
    model, model_file, evaluation_file = _files(tmp_path)
    db = _workspace(tmp_path)
    registered = cli("--db", str(db), "model", "register", "--model", "credit", "--version", "v1",
                     "--file", str(model_file), "--eval", str(evaluation_file), "--y-true", "outcome",
                     "--sensitive", "sex", "--by", "ada", "--json", env=AS_ADMIN)
    assert registered.returncode == 0, registered.stderr
    result = json.loads(registered.stdout)
    assert result["artifact_sha256"] == model_identity(model_file.read_bytes())   # the canonical file's sha256
    assert result["file_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert (result["features"], result["evaluation_rows"], result["algorithm"]) == \
        (FEATURES, 300, "LogisticRegression")
    assert _counts(db) == {"model": 1, "model_version": 1, "model_artifact": 1, "evaluation_row": 300,
                           "evaluation_set": 1}

    explained = cli("--db", str(db), "explain", "--model", "credit", "--version", "v1", "--row", "3", "--by", "ada",
                    "--json", env=AS_ADMIN)
    assert explained.returncode == 0, explained.stderr
    report = json.loads(explained.stdout)
    assert (report["explainer"], report["output_units"], report["rows_explained"]) == ("linear", "log_odds", 300)
    assert report["additivity_max_error"] < 1e-6
    assert report["local"]["row_id"] == 3
    probability = model.predict_proba(load_german()[FEATURES].iloc[[703]])[0, 1]
    assert abs(report["local"]["probability"] - probability) < 1e-9
    assert [c["attribute"] for c in report["cohorts"]] == ["sex"]

    again = cli("--db", str(db), "model", "register", "--model", "credit", "--version", "v1",
                "--file", str(model_file), "--by", "ada", env=AS_ADMIN)
    assert again.returncode == 2
    assert again.stderr == f"error: {ALREADY_REGISTERED.format(model='credit', version='v1')}\n"


def test_refused_registrations_exit_2_with_one_line_and_write_nothing(tmp_path):
    model, model_file, evaluation_file = _files(tmp_path)
    disguised = tmp_path / "model.skops"
    disguised.write_bytes(pickle.dumps(model))
    broken = tmp_path / "broken.csv"
    lines = evaluation_file.read_text().splitlines()
    first = lines[1].split(",")
    first[FEATURES.index("credit_amount")] = "inf"
    broken.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    db = _workspace(tmp_path)
    for args, message in (
            (["--file", str(disguised)], PICKLE_REFUSED.format(name="model.skops")),
            (["--file", str(tmp_path / "nowhere.skops")], f"cannot read {tmp_path / 'nowhere.skops'}: "),
            (["--file", str(model_file), "--eval", str(broken), "--y-true", "outcome"],
             EVALUATION_NOT_FINITE.format(column="credit_amount", name="broken.csv", count=1, first=1))):
        result = cli("--db", str(db), "model", "register", "--model", "credit", "--version", "v1", "--by", "ada",
                     *args, env=AS_ADMIN)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert _counts(db) == dict.fromkeys(TABLES, 0)


def test_explain_json_on_the_demo_and_an_unknown_row(demo_copy):
    result = cli("--db", str(demo_copy), "explain", "--model", "adult-income", "--version", "v1", "--rows", "500",
                 "--by", "farid.haddad", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"explainer", "base_value", "output_units", "global", "local", "additivity_max_error",
            "stability_kendall_tau"} <= set(report)
    assert (report["explainer"], report["output_units"], report["rows_explained"]) == ("linear", "log_odds", 500)
    assert all(set(g) == {"feature", "mean_abs_shap"} for g in report["global"])
    assert [g["mean_abs_shap"] for g in report["global"]] == sorted((g["mean_abs_shap"] for g in report["global"]),
                                                                    reverse=True)
    local = report["local"]
    assert {"row_id", "prediction", "contributions", "narrative"} <= set(local)
    assert all(set(c) == {"feature", "value", "shap"} for c in local["contributions"])
    assert report["additivity_max_error"] < 1e-6 and -1 <= report["stability_kendall_tau"] <= 1
    assert isinstance(report["base_value"], float) and "log-odds" in local["narrative"]

    with GovernanceStore(demo_copy) as store:   # the CLI stored what it printed; the row is the nearest decline
        stored = explanations.stored_explanation(store, model="adult-income", version="v1", rows=500)
        scores = store.query("SELECT row_id, score FROM evaluation_row WHERE model = 'adult-income' "
                             "AND version = 'v1' ORDER BY row_id")
    assert stored["explanation_id"] == report["explanation_id"] and stored["global"] == report["global"]
    declined = scores[scores["score"] < 0.5]
    assert local["row_id"] == int(declined.loc[declined["score"].idxmax(), "row_id"]) and local["prediction"] == 0

    unknown = cli("--db", str(demo_copy), "explain", "--model", "adult-income", "--version", "v1", "--rows", "500",
                  "--row", "999999")
    assert unknown.returncode == 2
    assert unknown.stderr == "error: " + UNKNOWN_ROW.format(row_id=999999, model="adult-income", version="v1",
                                                            last=15059) + "\n"


def test_explain_is_stored_as_the_checked_account_never_as_free_text(tmp_path):
    """Issue 22 §5: computing an explanation writes it, so it is recorded as the account that proved who it is."""
    _, model_file, evaluation_file = _files(tmp_path)
    db = _workspace(tmp_path)
    registered = cli("--db", str(db), "model", "register", "--model", "credit", "--version", "v1", "--file",
                     str(model_file), "--eval", str(evaluation_file), "--y-true", "outcome", "--by", "ada",
                     env=AS_ADMIN)
    assert registered.returncode == 0, registered.stderr
    explain = ("--db", str(db), "explain", "--model", "credit", "--version", "v1", "--row", "3", "--json")
    for by, env in ((["--by", "release pipeline #42"], AS_ADMIN),     # words, not an account
                    (["--by", "ada"], {"QUORUM_PASSWORD": "not her password"}),
                    ([], AS_ADMIN)):                                  # the login name, which has no account here
        refused = cli(*explain, *by, env=env)
        assert refused.returncode == 2 and refused.stderr.startswith("error:"), (by, refused.stderr)
        assert "Traceback" not in refused.stderr
    with GovernanceStore(db) as store:
        assert store.query_value("SELECT count(*) FROM explanation") == 0

    done = cli(*explain, "--by", "ada", env=AS_ADMIN)
    assert done.returncode == 0, done.stderr
    with GovernanceStore(db) as store:
        summary = json.loads(store.query_value("SELECT summary FROM explanation"))
    assert summary["computed_by"] == json.loads(done.stdout)["computed_by"] == "ada (admin)"
    again = cli(*explain, env={"QUORUM_PASSWORD": ""})   # reading the stored one back writes nothing: no account
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["explanation_id"] == json.loads(done.stdout)["explanation_id"]
