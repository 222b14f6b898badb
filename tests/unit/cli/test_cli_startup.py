"""The command line starts at once: `--help`, `status` and `kpis` import none of the heavy libraries.

Checked on the import log of a real process (`python -X importtime`), not on a clock: which modules a command
imports does not depend on the machine's speed or load, so these tests cannot be flaky. The timings themselves
are in benchmarks/cli_startup.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from governance.monitoring import telemetry_setup
from governance.monitoring.kpis import kpi_records, kpi_series, resolve_window
from governance.monitoring.service_levels import service_levels, slo_judgment
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, copy_workspace

ROOT = Path(__file__).resolve().parents[3]

# Seconds to import each, and none of them is needed to parse a command line or read a few rows.
HEAVY = ("sklearn", "shap", "skops", "matplotlib", "weasyprint", "scipy", "pyspark", "plotly", "streamlit")
# Nor are these, for commands that only read a few rows from the workspace.
DATA_FRAMES = ("pandas", "numpy", "pyarrow")


def imported(*args: str) -> set[str]:
    """The top-level packages a `python -m governance ARGS` process imported (it must succeed)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "governance", *args], cwd=ROOT,
                            capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    names = set()
    for line in result.stderr.splitlines():   # "import time:   self [us] |  cumulative | imported package"
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    assert "governance" in names, "the import log is empty: was -X importtime honoured?"
    return names


def test_help_imports_no_heavy_library_nor_pandas_nor_duckdb():
    found = imported("--help")
    assert not found & {*HEAVY, *DATA_FRAMES, "duckdb"}, sorted(found & {*HEAVY, *DATA_FRAMES, "duckdb"})


@pytest.mark.parametrize("command", ["report", "audit", "explain", "model", "robustness", "quality", "kpis",
                                     "drift", "signoff", "risks", "telemetry", "alerts", "users"])
def test_each_command_s_help_is_as_light(command):
    found = imported(command, "--help")
    assert not found & {*HEAVY, *DATA_FRAMES}, (command, sorted(found & {*HEAVY, *DATA_FRAMES}))


def test_status_of_a_fresh_workspace_imports_no_heavy_library_nor_pandas(tmp_path):
    db = tmp_path / "fresh.duckdb"
    created = subprocess.run([sys.executable, "-m", "governance", "init", "--db", str(db)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert created.returncode == 0, created.stderr
    found = imported("status", "--db", str(db))
    assert not found & {*HEAVY, *DATA_FRAMES}, sorted(found & {*HEAVY, *DATA_FRAMES})


@pytest.fixture(scope="module")
def demo_copy(demo_workspace, tmp_path_factory) -> Path:
    return copy_workspace(demo_workspace, tmp_path_factory.mktemp("startup") / "demo.duckdb")


def test_status_and_kpis_of_the_demo_import_no_heavy_library_nor_pandas(demo_copy):
    for args in (["status", "--json"], ["kpis", "--model", "adult-income", "--json"],
                 ["kpis", "--model", "german-credit", "--grain", "hour", "--json"]):
        found = imported(*args, "--db", str(demo_copy))
        assert not found & {*HEAVY, *DATA_FRAMES}, (args, sorted(found & {*HEAVY, *DATA_FRAMES}))


def test_kpis_of_a_model_read_from_parquet_works_and_imports_no_heavy_library(lake_copy):
    found = imported("kpis", "--model", "german-credit", "--json", "--db", str(lake_copy))
    assert not found & set(HEAVY), sorted(found & set(HEAVY))


@pytest.fixture(scope="module")
def lake_copy(demo_workspace, tmp_path_factory) -> Path:
    """The demo with german-credit's telemetry read from a Parquet dataset: records come through pandas there."""
    folder = tmp_path_factory.mktemp("lake")
    path = copy_workspace(demo_workspace, folder / "demo.duckdb")
    with GovernanceStore(path) as store:
        telemetry_setup.export_parquet(store, model="german-credit", out=folder / "german")
        telemetry_setup.set_source(store, model="german-credit", kind="parquet", location=str(folder / "german"),
                                     actor=LEADER)
    return path


@pytest.mark.parametrize("grain", ["hour", "day", "week"])
@pytest.mark.parametrize("workspace", ["demo_copy", "lake_copy"])
def test_kpi_records_and_their_breaches_equal_the_frame_s(workspace, grain, request):
    """The command line's plain records hold exactly the figures of the pages' kpi_series, breaches included."""
    with GovernanceStore(request.getfixturevalue(workspace)) as store:
        for model in ("adult-income", "german-credit"):
            window = resolve_window(store, model=model)
            plain = resolve_window(store, model=model, pandas=False)
            assert (plain.start, plain.end) == (window.start, window.end)
            assert type(plain.start) is not type(window.start)   # datetimes, not pandas Timestamps
            frame = kpi_series(store, model=model, window=window, grain=grain)
            records = kpi_records(store, model=model, window=plain, grain=grain)
            assert len(records) == len(frame)
            expected = frame.drop(columns=["accuracy_rolling_std", "latency_p95_rolling_std_ms"])
            for mine, theirs in zip(records, expected.astype(object).where(expected.notna(), None).to_dict("records")):
                assert mine.keys() == theirs.keys()
                # sums of doubles over a dataset's files are added up in a different order on each scan
                assert mine == {k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v
                                for k, v in theirs.items()}
            levels = service_levels(store, model=model)
            assert levels
            # breaches are judged on hourly counts whatever the grain: the plain window (the command line's) and
            # the pandas one (the pages') give the same judgment
            by_plain, by_frame = (slo_judgment(store, model=model, window=w) for w in (plain, window))
            assert [b.as_dict() for b in by_plain.breaches] == [b.as_dict() for b in by_frame.breaches]
            assert by_plain.breaches and {k: b.as_dict() for k, b in by_plain.budgets.items()} == \
                {k: b.as_dict() for k, b in by_frame.budgets.items()}


def test_kpis_json_prints_whole_counts(demo_copy):
    result = subprocess.run([sys.executable, "-m", "governance", "kpis", "--model", "adult-income", "--json",
                             "--db", str(demo_copy)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    series = json.loads(result.stdout)["series"]
    assert series and all(isinstance(row["n"], int) for row in series)
