"""The EU AI Act technical documentation (Annex IV): every point of the shipped structure is in every format,
filled or listed as a gap; filled points hold the workspace's own values (counted here apart from the report); a
bare model's unfillable points are gaps with what would fill them; user text prints literally; and the structure's
loader refuses a damaged file with a clear message.

Each PDF is printed once per module (the demo's and the bare model's)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import defaultdict
from types import SimpleNamespace

import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from governance import reports
from governance.access import identity
from governance.decisions import risks
from governance.evidence.model_registry import GIVEN_EMPTY, MAX_DESCRIPTION, NOT_GIVEN, register_model
from governance.record.store import GovernanceStore
from governance.reports import annex_iv, audit_pack, render as report_render
from tests.conftest import LEADER
from tests.unit.reports.test_report_documents import collapse, html_text, pdf_text, squash

MODEL, VERSION = "german-credit", "v1"
HOSTILE = '<b>Bold</b> <script>alert(1)</script> & *stars* [link](http://evil.example) "quotes"'


def shipped_points() -> list[dict]:
    """The Annex IV file read with the csv module, apart from the report's loader."""
    with open(annex_iv.ANNEX_IV_FILE, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def printed(report: dict, tmp_dir, *, workspace) -> SimpleNamespace:
    out, _ = report_render.render(report, formats=("pdf", "html", "json"))
    with GovernanceStore(workspace) as store:
        pack = audit_pack.build_pack(report, rendered=out, store=store)
    document = out["html"].decode("utf-8")
    raw = pdf_text(out["pdf"], tmp_dir, layout=False)
    return SimpleNamespace(report=report, json=json.loads(out["json"]), html=document, html_text=html_text(document),
                           pdf=raw, pack=pack, zip=zipfile.ZipFile(io.BytesIO(pack)))


@pytest.fixture(scope="module")
def demo(demo_workspace, tmp_path_factory) -> SimpleNamespace:
    """german-credit v1's Annex IV report on the demo (read only), printed once."""
    with GovernanceStore(demo_workspace) as store:
        report = reports.build(store, kind="annex-iv", model=MODEL, version=VERSION)
    return printed(report, tmp_path_factory.mktemp("annex-demo"), workspace=demo_workspace)


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> SimpleNamespace:
    """A new workspace with one model registered (no evaluation set, nothing else), its purpose hostile text."""
    path = tmp_path_factory.mktemp("annex-bare") / "bare.duckdb"
    frame = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "age": [30.0, 40.0, 35.0, 50.0, 45.0, 60.0]})
    model = LogisticRegression().fit(frame, [0, 0, 0, 1, 1, 1])
    with GovernanceStore(path) as store:
        register_model(store, model="bare", version="v1", content=sio.dumps(model), file_name="bare.skops",
                       actor=LEADER, purpose=HOSTILE)
        report = reports.build(store, kind="annex-iv", model="bare", version="v1")
    return printed(report, tmp_path_factory.mktemp("annex-bare-pdf"), workspace=path)


def by_ref(report: dict) -> dict[str, dict]:
    return {p["ref_id"]: p for p in report["points"]}


def facts(point: dict, source: str) -> dict:
    return {f["label"]: f["value"] for c in point["content"] if c["source"] == source for f in c["facts"]}


def table(point: dict, source: str, index: int = 0) -> list[dict]:
    found = next(c for c in point["content"] if c["source"] == source)["tables"][index]
    return [dict(zip(found["columns"], row)) for row in found["rows"]]


# --- a. every point, in every format ------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["demo", "bare"])
def test_every_point_is_in_every_format_filled_or_a_gap(which, request):
    document = request.getfixturevalue(which)
    shipped = shipped_points()
    report = document.report
    assert [p["ref_id"] for p in report["points"]] == [p["ref_id"] for p in shipped]
    assert len(shipped) == 23 and document.json == report
    for point in report["points"]:
        assert point["status"] in ("filled", "gap")
        assert (point["status"] == "filled") == bool(point["content"])
        if point["status"] == "gap":
            assert point["missing"] and all(m["what"] and m["remedy"] for m in point["missing"])
    summary = report["summary"]
    assert summary["filled"] + summary["gaps"] == summary["points"] == 23
    assert summary["gap_points"] == [p["ref_id"] for p in report["points"] if p["status"] == "gap"]
    assert summary["filled_partly"] == sum(1 for p in report["points"] if p["status"] == "filled" and any(
        m["source"] != annex_iv.PEOPLE for m in p["missing"]))
    pdf, text = squash(document.pdf), collapse(document.html_text)
    for row in shipped:
        point = by_ref(report)[row["ref_id"]]
        heading = f"{row['ref_id']} {row['title']} — {point['status']}"
        assert heading in text
        assert squash(heading) in pdf, heading
        assert squash(f"{row['point']}. {row['heading']}") in pdf
    rows = list(csv.DictReader(io.StringIO(document.zip.read("tables/annex_iv_points.csv").decode("utf-8"))))
    assert [(r["ref_id"], r["status"]) for r in rows] == [(p["ref_id"], p["status"]) for p in report["points"]]
    assert audit_pack.verify_pack(document.pack)["ok"]


# --- b. filled points hold the workspace's own values ---------------------------------------------------------------
def test_the_demos_filled_points_hold_the_workspaces_values(demo, demo_workspace):
    points = by_ref(demo.report)
    with GovernanceStore(demo_workspace) as store:
        purpose, intended = store.query_rows("SELECT purpose, intended_use FROM model WHERE name = ?", [MODEL])[0]
        described = store.query_value("SELECT training_data FROM model_version WHERE model = ? AND version = ?",
                                      [MODEL, VERSION])
        rows = store.query("SELECT sensitive, y_true, y_pred FROM evaluation_row WHERE model = ? AND version = ?",
                           [MODEL, VERSION])
        members = {r[0] for r in store.query_rows("SELECT user_name FROM committee_member")}
        names = {r[0]: r[1] for r in store.query_rows("SELECT user_name, display_name FROM app_user")}
        levels = dict(store.query_rows("SELECT kpi, target FROM service_level_objective WHERE model = ? AND active",
                                       [MODEL]))
        moves = store.query_value("SELECT count(*) FROM ledger WHERE kind = 'stage_change' AND subject LIKE ?",
                                  [f"{MODEL} %"])
        requested = {r[0] for r in store.query_rows("SELECT subject FROM ledger WHERE kind = 'review_request' AND "
                                                    "payload::JSON->>'model' = ?", [MODEL])}
    assert points["1(a)"]["status"] == "filled" and facts(points["1(a)"], "registration")["Intended purpose"] == purpose
    assert facts(points["1(h)"], "intended_use")["Intended use"] == intended
    assert facts(points["2(d)"], "training_data")["Training data, as described at registration"] == described

    # the evaluation set: its size and sensitive attributes, counted from its rows
    sensitive = [json.loads(s) for s in rows["sensitive"]]
    held_out = facts(points["2(d)"], "evaluation_set")
    assert held_out["Rows in the held-out evaluation set"] == len(rows)
    assert held_out["Sensitive attributes kept for audits"] == ", ".join(sorted({k for s in sensitive for k in s}))

    # accuracy by group in point 3: recomputed from the evaluation rows the audit ran on
    correct = defaultdict(lambda: [0, 0])
    for s, truth, predicted in zip(sensitive, rows["y_true"], rows["y_pred"]):
        for attribute, value in s.items():
            correct[f"{attribute} = {value}"][0] += int(truth == predicted)
            correct[f"{attribute} = {value}"][1] += 1
    groups = [g for g in table(points["3"], "group_accuracy") if g["Group"] in correct]
    assert len(groups) >= 4   # sex, foreign_worker, age_band: every group of one attribute
    for g in groups:
        hits, n = correct[g["Group"]]
        assert g["People"] == n and g["Accuracy"] == pytest.approx(hits / n)

    # human oversight: the committee as stored
    assert {m["Name"] for m in table(points["2(e)"], "oversight")} == {names[u] for u in members}
    # post-market monitoring: the service levels as stored
    assert {r["Indicator"] for r in table(points["9"], "service_levels")} == {
        report_render.kpi_label(k) for k in levels}
    # changes over the lifecycle: every stage change and review in the ledger
    assert len(table(points["6"], "stage_changes")) == moves >= 1
    assert {r["Review"] for r in table(points["6"], "decisions")} == requested
    # the risk register, and the clauses of the standards those risks treat
    with GovernanceStore(demo_workspace) as store:
        mapped = risks.list_risks(store, model=MODEL, version=VERSION)
    assert {r["Risk"] for r in table(points["5"], "risks")} == {r["risk_id"] for r in mapped}
    treated = {c for r in mapped if r["status"] not in ("withdrawn", "dismissed", "proposed") for c in r["clauses"]}
    assert {r["Clause"] for r in table(points["7"], "standards")} <= treated
    # the demo records no retraining policy or alert rules of its own: listed as still to complete, never filled
    assert {m["source"] for m in points["9"]["missing"]} >= {"retraining_policy", "alert_rules"}
    assert points["2(f)"]["status"] == "gap"
    assert points["8"]["status"] == "gap" and points["8"]["missing"][0]["source"] == annex_iv.PEOPLE


# --- c. a bare model: what cannot be filled is a gap with what would fill it --------------------------------------
def test_a_bare_models_unfillable_points_are_gaps_with_their_remedy(bare):
    points = by_ref(bare.report)
    expected_gaps = {"1(b)", "1(d)", "1(e)", "1(f)", "1(g)", "1(h)", "2(b)", "2(c)", "2(d)", "2(e)", "2(f)", "2(g)",
                     "2(h)", "3", "4", "5", "6", "7", "8", "9"}
    assert set(bare.report["summary"]["gap_points"]) == expected_gaps
    remedies = {ref: " ".join(m["remedy"] for m in points[ref]["missing"]) for ref in points}
    assert "python -m governance explain --model bare --version v1" in remedies["2(b)"]
    assert "python -m governance audit run --model bare --version v1" in remedies["2(g)"]
    assert "python -m governance robustness run --model bare --version v1" in remedies["2(g)"]
    assert "--eval FILE.csv" in remedies["2(d)"]
    assert "signoff member add" in remedies["2(e)"]
    assert "python -m governance risks add" in remedies["5"]
    assert "KPIs page" in remedies["9"] and "retraining policy --model bare" in remedies["9"]
    assert "signoff request --model bare --version v1" in remedies["6"]
    assert remedies["8"] == annex_iv.WRITE_IT
    # 1(a): the version is on record, the purpose given was not a placeholder; 2(a), 1(c): the registered file
    assert {points[r]["status"] for r in ("1(a)", "1(c)", "2(a)")} == {"filled"}
    assert facts(points["1(a)"], "registration")["Intended purpose"] == HOSTILE
    # the gaps and their remedies are in the documents too
    for document in (collapse(bare.html_text), bare.pdf):
        assert squash("python -m governance explain --model bare --version v1") in squash(document)


def test_user_text_is_escaped_in_html_and_literal_in_the_pdf(bare):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bare.html and "<script" not in bare.html.lower()
    assert "<b>Bold" not in bare.html
    assert HOSTILE in bare.html_text
    assert squash(HOSTILE) in squash(bare.pdf)


# --- c2. what registration is told fills 1(h) and 2(d) --------------------------------------------------------------
USE = 'Decision support <img src=x onerror=alert(2)> for officers & "never" automated rejection'
DATA = "<script>alert(3)</script> 2020 census extract, <i>deduplicated</i> & labelled by two reviewers"


def test_intended_use_and_training_data_given_at_registration_fill_their_points(tmp_path, cli):
    """`model register --intended-use --training-data` through the command line: 1(h) and 2(d) print exactly the
    texts stored, escaped in HTML; a later version keeps the model's intended use and describes only its own data."""
    frame = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "age": [30.0, 40.0, 35.0, 50.0, 45.0, 60.0]})
    model_file = tmp_path / "told.skops"
    model_file.write_bytes(sio.dumps(LogisticRegression().fit(frame, [0, 0, 0, 1, 1, 1])))
    db = tmp_path / "told.duckdb"
    with GovernanceStore(db) as store:
        identity.add_user(store, user_name="ada", display_name="Ada", role="admin", actor=None, password="correct horse battery")
    register = ("--db", db, "model", "register", "--model", "told", "--file", model_file, "--by", "ada")
    as_ada = {"QUORUM_PASSWORD": "correct horse battery"}

    for option, value, message in (
            ("--intended-use", "   ", GIVEN_EMPTY.format(what="intended use")),
            ("--training-data", "x" * (MAX_DESCRIPTION + 1), f"{MAX_DESCRIPTION + 1:,} characters")):
        refused = cli(*register, "--version", "v1", option, value, env=as_ada)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    with GovernanceStore(db) as store:
        assert store.query_value("SELECT count(*) FROM model_version") == 0

    done = cli(*register, "--version", "v1", "--intended-use", f"  {USE} ", "--training-data", DATA, env=as_ada)
    assert done.returncode == 0, done.stderr
    later = cli(*register, "--version", "v2", "--intended-use", "something else", env=as_ada)
    assert later.returncode == 0, later.stderr
    with GovernanceStore(db) as store:
        stored_use = store.query_value("SELECT intended_use FROM model WHERE name = 'told'")
        stored_data = dict(store.query_rows("SELECT version, training_data FROM model_version"))
        first = reports.build(store, kind="annex-iv", model="told", version="v1")
        second = reports.build(store, kind="annex-iv", model="told", version="v2")
    assert stored_use == USE and stored_data["v1"] == DATA and stored_data["v2"] != NOT_GIVEN

    points = by_ref(first)
    assert points["1(h)"]["status"] == points["2(d)"]["status"] == "filled"
    assert facts(points["1(h)"], "intended_use") == {"Intended use": stored_use}
    assert facts(points["2(d)"], "training_data") == {"Training data, as described at registration": stored_data["v1"]}
    assert "2(d)" not in first["summary"]["gap_points"] and "1(h)" not in first["summary"]["gap_points"]
    # v2: the model's intended use as first registered; its own data undescribed (and no evaluation set): a gap
    later_points = by_ref(second)
    assert facts(later_points["1(h)"], "intended_use") == {"Intended use": USE}
    assert later_points["2(d)"]["status"] == "gap"
    assert "--training-data TEXT" in " ".join(m["remedy"] for m in later_points["2(d)"]["missing"])

    out, _ = report_render.render(first, formats=("html",))
    document = out["html"].decode("utf-8")
    assert "<script" not in document.lower() and "<img" not in document.lower() and "<i>deduplicated" not in document
    assert "&lt;img src=x onerror=alert(2)&gt;" in document and "&lt;script&gt;alert(3)&lt;/script&gt;" in document
    text = collapse(html_text(document))
    assert USE in text and DATA in text


# --- d. the shipped structure is checked when it is loaded ----------------------------------------------------------
def test_the_loader_refuses_a_damaged_structure(tmp_path):
    good = annex_iv.ANNEX_IV_FILE.read_text(encoding="utf-8")
    assert len(annex_iv.load_points()) == 23
    cases = {
        "columns": (good.replace("written_by_people", "people", 1), "must have the columns"),
        "source": (good.replace("registration;versions", "registration;nonsense", 1), "unknown source 'nonsense'"),
        "fields": (good + '9(z),9,x,y,z,,a,extra\n', "exactly 7 fields"),
        "twice": (good + good.splitlines()[-1] + "\n", "is listed twice"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(annex_iv.AnnexDataError, match=message) as refused:
            annex_iv.load_points(path=path)
        assert "restore" in str(refused.value)


# --- e. the command line -------------------------------------------------------------------------------------------
def test_the_cli_lists_the_kind_and_writes_the_json(demo_copy, tmp_path, cli):
    out = tmp_path / "annex.json"
    result = cli("--db", demo_copy, "report", "--kind", "annex-iv", "--model", MODEL, "--version", VERSION,
                 "--format", "json", "--out", out, "--by", "farid.haddad", "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    document = json.loads(out.read_text())
    assert written["kind"] == document["kind"] == "annex-iv" and written["report_id"] == document["report_id"]
    assert written["summary"] == document["summary"]
    assert [p["ref_id"] for p in document["points"]] == [p["ref_id"] for p in shipped_points()]
    refused = cli("--db", demo_copy, "report", "--kind", "annex-iv", "--model", MODEL, "--out", out,
                  "--by", "farid.haddad")
    assert refused.returncode == 2 and reports.ANNEX_IV_NEEDS_VERSION in refused.stderr
    helped = cli("report", "--help")
    assert "annex-iv" in helped.stdout
