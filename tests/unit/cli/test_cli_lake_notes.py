"""The `kpis` and `drift` commands say, as the pages do, which days of a dataset were read from rows for want of a
rollup: in --json as `notes`, and as `note:` lines for people."""

from __future__ import annotations

import json

from governance.monitoring import lake_rollup, telemetry_setup, telemetry_sources
from governance.record.store import GovernanceStore
from tests.conftest import LEADER


def test_kpis_and_drift_name_the_days_read_from_rows(demo_copy, cli, tmp_path):
    with GovernanceStore(demo_copy) as store:
        telemetry_setup.export_parquet(store, model="german-credit", out=tmp_path / "german")
        files = telemetry_sources.dataset_files(str(tmp_path / "german"))
        telemetry_setup.set_source(store, model="german-credit", kind="parquet", location=str(tmp_path / "german"),
                                   actor=LEADER)
    rolled = json.loads(cli("--db", demo_copy, "kpis", "--model", "german-credit", "--json").stdout)
    assert rolled["notes"] == []
    (lake_rollup.rollup_folder(files=[files[-1]]) / lake_rollup.MANIFEST).unlink()
    day = str(telemetry_sources.partition_day(files[-1]))
    for command in (["kpis", "--model", "german-credit"], ["drift", "--model", "german-credit", "--version", "v1"]):
        answer = json.loads(cli("--db", demo_copy, *command, "--json").stdout)
        [note] = answer["notes"]
        assert "have no rollup and were read from their rows" in note and day in note, command
        shown = cli("--db", demo_copy, *command)
        assert shown.returncode == 0 and f"note: {note}" in shown.stdout, command
    # the same figures either way: the missing day's counts come from its rows through the same summary SQL
    again = json.loads(cli("--db", demo_copy, "kpis", "--model", "german-credit", "--json").stdout)
    assert again["series"] == rolled["series"]
