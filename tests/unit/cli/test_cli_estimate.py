"""`python -m governance estimate --model M [--version V] [--grain day|week] --json`: the rows with exactly their
fields, the calibration check and notes, the same figures as the service, and errors that say what to do."""

from __future__ import annotations

import json

from governance.monitoring.performance_estimate import estimate_performance
from governance.record.store import GovernanceStore

FIELDS = {"version", "period", "metric", "estimate", "ci_low", "ci_high", "realised"}


def test_estimate_json_gives_the_rows_the_check_and_the_services_figures(demo_copy, cli):
    done = cli("estimate", "--db", demo_copy, "--model", "german-credit", "--grain", "week", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] and all(set(row) == FIELDS for row in result["rows"])
    assert set(result["calibration"]) == {"v1"} and isinstance(result["calibration"]["v1"]["ok"], bool)
    assert "CBPE" in result["method"] and isinstance(result["notes"], list)
    with GovernanceStore(demo_copy) as store:
        expected = estimate_performance(store, model="german-credit", grain="week")
    assert [tuple(row[f] for f in sorted(FIELDS)) for row in result["rows"]] == \
        [tuple(row.as_dict()[f] for f in sorted(FIELDS)) for row in expected.rows]
    newest = [row for row in result["rows"] if row["period"] == "2026-09-28"]
    assert {row["metric"] for row in newest} == {"accuracy", "precision", "recall", "roc_auc"}
    assert all(row["realised"] is None and row["estimate"] is not None for row in newest)   # no label yet

    shown = cli("estimate", "--db", demo_copy, "--model", "german-credit", "--version", "v1", "--since",
                "2026-09-20", "--until", "2026-09-28")
    assert shown.returncode == 0 and "calibration check" in shown.stdout and "2026-09-28" in shown.stdout


def test_estimate_refuses_an_hourly_grain_and_an_unknown_version(demo_copy, cli):
    hourly = cli("estimate", "--db", demo_copy, "--model", "german-credit", "--grain", "hour", "--json")
    assert hourly.returncode == 2 and "invalid choice" in hourly.stderr
    unknown = cli("estimate", "--db", demo_copy, "--model", "german-credit", "--version", "v9", "--json")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error:") and "v9" in unknown.stderr
