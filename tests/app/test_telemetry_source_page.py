"""The Admin page's telemetry sources: a leader points a model at a Parquet dataset; the KPIs page then reads it."""

from __future__ import annotations

from pathlib import Path

from governance.monitoring import telemetry_setup, telemetry_sources
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page


def test_a_leader_points_a_model_at_its_parquet_export_and_the_pages_read_it(demo_copy, monkeypatch, tmp_path):
    with GovernanceStore(demo_copy) as store:
        exported = telemetry_setup.export_parquet(store, model="german-credit", out=tmp_path / "german")
    app = open_page("pages/admin.py", demo_copy, monkeypatch, session={"ad_source_model": "german-credit"})
    assert_clean(app)
    [location] = [t for t in app.text_input if t.label.startswith("Location")]
    location.set_value(str(tmp_path / "nowhere"))
    [kind] = [s for s in app.segmented_control if s.label == "Read telemetry from"]
    kind.set_value("parquet")
    next(b for b in app.button if b.label == "Use this source").click().run()
    assert any("holds no Parquet telemetry" in e.value for e in app.error)   # refused, nothing recorded

    [location] = [t for t in app.text_input if t.label.startswith("Location")]
    location.set_value(str(tmp_path / "german"))
    next(b for b in app.button if b.label == "Use this source").click().run()
    assert_clean(app)
    assert any("german-credit now reads its telemetry from parquet" in s.value for s in app.success)
    sources = app.dataframe[1].value.set_index("model")
    assert sources.loc["german-credit", "source"] == "parquet"
    assert sources.loc["german-credit", "rows"] == f"{exported['rows']:,}"   # as people read it
    assert sources.loc["adult-income", "source"] == "workspace"

    kpis = open_page("pages/kpis.py", demo_copy, monkeypatch, session={"kp_model": "german-credit"})
    assert_clean(kpis)
    assert telemetry_sources.last_query("german-credit")["engine"] == "parquet"

    viewer = open_page("pages/admin.py", demo_copy, monkeypatch, user="hugo.tanaka")
    assert next(b for b in viewer.button if b.label == "Use this source").disabled


def test_the_kpi_and_drift_pages_say_which_partitions_were_read_from_rows_and_which_files_were_left_out(
        demo_copy, monkeypatch, tmp_path):
    import pandas as pd

    from governance.monitoring import lake_rollup
    from tests.conftest import LEADER

    with GovernanceStore(demo_copy) as store:
        telemetry_setup.export_parquet(store, model="german-credit", out=tmp_path / "german")
        files = telemetry_sources.dataset_files(str(tmp_path / "german"))
        last = files[-1]
        # the newest day's rollup gone; a file of the wrong schema beside the day before's rows
        (lake_rollup.rollup_folder(files=[last]) / lake_rollup.MANIFEST).unlink()
        bad = Path(files[-2]).parent / "<b>x.parquet"
        pd.DataFrame({"ts": [pd.Timestamp("2026-09-01")], "model": ["german-credit"]}).to_parquet(bad)
        telemetry_setup.set_source(store, model="german-credit", kind="parquet", location=str(tmp_path / "german"),
                                   actor=LEADER)
    day = telemetry_sources.partition_day(last)
    for page, session in (("pages/kpis.py", {"kp_model": "german-credit"}),
                          ("pages/drift.py", {"dr_model": "german-credit"})):
        app = open_page(page, demo_copy, monkeypatch, session=session)
        assert_clean(app)
        shown = " ".join(c.value for c in app.caption) + " ".join(i.value for i in app.info)
        assert "1 of " in shown and "have no rollup and were read from their rows" in shown and str(day) in shown, page
        # the file is named literally: its markup escaped, never rendered
        assert "left out for a wrong schema" in shown and r"\<b\>x.parquet lacks version" in shown, page
