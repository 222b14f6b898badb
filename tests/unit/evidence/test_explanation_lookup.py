"""Issue 22 §4: "the explanation of a version" is one lookup (explanations.current_explanation) that matches the
model file, the evaluation data and the settings; reports, sign-off evidence, the validation checklist and the
Explanations page all use it, so a newer explanation computed for anything else is never shown as the version's."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest

from governance import reports
from governance.decisions import release_gate, review_evidence
from governance.evidence import explanations
from governance.evidence.explanations import NO_EXPLANATION, STALE_EXPLANATION, current_explanation, explain_version
from governance.record.store import GovernanceStore
from tests.conftest import LEADER

MODEL, VERSION = "adult-income", "v2"
AS_OF = date(2026, 9, 28)


def _settings_sha256(**settings) -> str:
    """The settings hash computed here, independently of the module: SHA-256 of the settings' canonical JSON."""
    text = json.dumps(explanations.explanation_settings(**settings), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _shown(store) -> tuple:
    """What each reader takes as the version's explanation: the report, the sign-off evidence, the checklist."""
    report = reports.model_report(store, model=MODEL, version=VERSION)["explanation"]
    evidence = review_evidence.gather_evidence(store, model=MODEL, version=VERSION, as_of=AS_OF)["explanation"]
    item = next(i for i in release_gate.checklist(store, model=MODEL, version=VERSION)["items"]
                if i["item"] == "explanation reviewed")
    return report, evidence, item


@pytest.fixture
def with_other_settings(demo_copy):
    """The demo's copy with, besides the demo's explanation of v2 (default settings), a newer one computed with
    other settings (500 rows): the newest row, which the readers took before whatever its hashes."""
    with GovernanceStore(demo_copy) as store:
        default = store.query_rows("SELECT explanation_id, model_sha256, data_sha256, settings_hash FROM explanation "
                                   "WHERE model = ? AND version = ?", [MODEL, VERSION])
        other = explain_version(store, model=MODEL, version=VERSION, rows=500, actor=LEADER)
    assert len(default) == 1
    return demo_copy, default[0], other


def test_the_match_not_the_newest_row_is_the_versions_explanation(with_other_settings):
    path, (default_id, model_sha256, data_sha256, settings_hash), other = with_other_settings
    with GovernanceStore(path) as store:
        artifact = store.query_value("SELECT sha256 FROM model_artifact WHERE model = ? AND version = ?",
                                     [MODEL, VERSION])
        data = store.query_value("SELECT content_sha256 FROM evaluation_set WHERE model = ? AND version = ?",
                                 [MODEL, VERSION])
        newest = store.query_value("SELECT explanation_id FROM explanation WHERE model = ? AND version = ? "
                                   "ORDER BY computed_at DESC LIMIT 1", [MODEL, VERSION])
        found = current_explanation(store, model=MODEL, version=VERSION)
        report, evidence, item = _shown(store)
    # the demo's row matches the version as it is, by hashes computed here; the newer one does not
    assert (model_sha256, data_sha256, settings_hash) == (artifact, data, _settings_sha256())
    assert newest == other["explanation_id"] != default_id
    assert found.explanation["explanation_id"] == default_id and found.reason is None
    assert report["explanation_id"] == evidence["explanation_id"] == default_id
    assert report["rows_explained"] == evidence["rows"] == explanations.DEFAULT_ROWS
    assert item["detail"] != STALE_EXPLANATION.split(":")[0]
    # the lookup with the other settings finds the other one: the settings are part of the match
    with GovernanceStore(path) as store:
        assert current_explanation(store, model=MODEL, version=VERSION, rows=500).explanation["explanation_id"] \
            == other["explanation_id"]


def test_a_stale_explanation_is_not_picked_by_reports_or_sign_offs(with_other_settings):
    """Only the 500-row explanation is left: computed for other settings than the current ones, so stale."""
    path, (default_id, *_), other = with_other_settings
    with GovernanceStore(path) as store:
        with store.write() as tx:
            for table in ("explanation_value", "explanation_row", "explanation"):
                tx.execute(f"DELETE FROM {table} WHERE explanation_id = ?", [default_id])
        found = current_explanation(store, model=MODEL, version=VERSION)
        report, evidence, item = _shown(store)
    stale = STALE_EXPLANATION.format(model=MODEL, version=VERSION, newest=other["explanation_id"],
                                     why="it was computed with other settings than the current ones")
    assert (found.explanation, found.reason, found.stale) == (None, stale, (other["explanation_id"],))
    assert "explanation_id" not in report and report["note"] == stale[0].upper() + stale[1:] + "."
    assert evidence == {"note": stale}
    assert item == {"item": "explanation reviewed", "done": False, "detail": stale}


def test_a_changed_model_file_makes_the_explanation_stale(demo_copy):
    with GovernanceStore(demo_copy) as store:
        only = store.query_value("SELECT explanation_id FROM explanation WHERE model = ? AND version = ?",
                                 [MODEL, VERSION])
        with store.write() as tx:   # v1's model file registered as v2's: the stored explanation is of another model
            tx.execute("UPDATE model_artifact SET sha256 = (SELECT sha256 FROM model_artifact WHERE model = ? AND "
                       "version = 'v1') WHERE model = ? AND version = ?", [MODEL, MODEL, VERSION])
        found = current_explanation(store, model=MODEL, version=VERSION)
        report, evidence, _ = _shown(store)
    assert found.explanation is None and found.stale == (only,)
    assert found.reason == STALE_EXPLANATION.format(model=MODEL, version=VERSION, newest=only,
                                                    why="the model file changed since")
    assert "explanation_id" not in report and "explanation_id" not in evidence


def test_no_explanation_says_how_to_compute_one(demo_copy):
    from tests.conftest import forget_explanations

    with GovernanceStore(forget_explanations(demo_copy)) as store:
        found = current_explanation(store, model=MODEL, version=VERSION)
    assert found == explanations.CurrentExplanation(None, NO_EXPLANATION.format(model=MODEL, version=VERSION))
    assert f"python -m governance explain --model {MODEL} --version {VERSION}" in found.reason


def test_looking_an_explanation_up_imports_neither_shap_nor_scikit_learn(demo_copy):
    """A gate check reads the checklist, which looks the explanation up: that must not cost shap's and
    scikit-learn's imports (seconds on a busy host). Run in a fresh interpreter, which has imported nothing."""
    import subprocess
    import sys

    probe = ("import sys\n"
             "from governance.record.store import GovernanceStore\n"
             "from governance.evidence import explanations\n"
             "from governance.decisions import release_gate\n"
             f"with GovernanceStore({str(demo_copy)!r}) as store:\n"
             f"    found = explanations.current_explanation(store, model={MODEL!r}, version={VERSION!r})\n"
             f"    release_gate.checklist(store, model={MODEL!r}, version={VERSION!r})\n"
             "print(found.explanation['explanation_id'])\n"
             "print(sorted(m for m in ('shap', 'sklearn', 'skops') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parents[3]))
    assert done.returncode == 0, done.stderr
    found, imported = done.stdout.splitlines()
    assert found.startswith("EX-") and imported == "[]"
