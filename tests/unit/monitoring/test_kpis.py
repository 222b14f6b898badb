"""KPI queries and service levels, checked against an independent numpy computation on a small table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance import errors
from governance.access.identity import PermissionDeniedError, User
from governance.monitoring.kpis import Window, headline_figures, kpi_records, kpi_series, kpi_summary, resolve_window
from governance.monitoring.service_levels import service_levels, set_service_level, slo_breaches, wilson_interval
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, VIEWER

ADA = User("ada", "Ada", "admin")


@pytest.fixture
def small(tmp_path):
    """Three days of 400 hand-made predictions for one model with two versions."""
    rng = np.random.default_rng(3)
    n = 1_200
    day = np.repeat([0, 1, 2], n // 3)
    frame = pd.DataFrame({
        "ts": pd.Timestamp("2026-01-05") + pd.to_timedelta(day * 86_400 + rng.integers(0, 86_400, n), unit="s"),
        "model": "m", "version": np.where(rng.random(n) < 0.5, "a", "b"), "segment": "web",
        "input_id": np.arange(n), "latency_ms": rng.gamma(2.0, 40.0, n).round(2),
        "is_error": rng.random(n) < np.where(day == 1, 0.2, 0.003),
        "cpu_pct": rng.uniform(10, 90, n), "memory_mb": rng.uniform(300, 500, n),
        "cost_usd": rng.uniform(0.0001, 0.001, n), "approved_volume_usd": 0.0, "expected_value_usd": 1.0,
    })
    prediction = (rng.random(n) < 0.4).astype(float)
    label = np.where(rng.random(n) < 0.8, (rng.random(n) < 0.35).astype(float), np.nan)
    frame["prediction"] = pd.array(np.where(frame["is_error"], np.nan, prediction), dtype="Int8")
    frame["score"] = np.where(frame["is_error"], np.nan, 0.5)
    frame["label"] = pd.array(np.where(frame["is_error"], np.nan, label), dtype="Int8")
    store = GovernanceStore(tmp_path / "small.duckdb")
    with store.write() as tx:
        tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', NULL, now())")
        tx.insert_frame("telemetry", frame)
    yield store, frame
    store.close()


def _expected(group: pd.DataFrame) -> dict:
    ok = group[~group["is_error"]]
    labelled = ok[ok["label"].notna()]
    pred, label = labelled["prediction"].astype(int).to_numpy(), labelled["label"].astype(int).to_numpy()
    tp = int(((pred == 1) & (label == 1)).sum())
    return {
        "n": len(group), "error_rate": group["is_error"].mean(), "accuracy": (pred == label).mean(),
        "precision": tp / (pred == 1).sum(), "recall": tp / (label == 1).sum(),
        "label_coverage": len(labelled) / len(ok),
        "latency_p50_ms": np.percentile(ok["latency_ms"], 50), "latency_p95_ms": np.percentile(ok["latency_ms"], 95),
        "latency_p99_ms": np.percentile(ok["latency_ms"], 99), "cost_per_1k_usd": 1000 * group["cost_usd"].mean(),
        "throughput_per_min": len(group) / 1440, "cpu_pct": group["cpu_pct"].mean(),
    }


def test_daily_series_matches_numpy(small):
    store, frame = small
    window = Window(pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-08"))
    series = kpi_series(store, model="m", window=window, grain="day")
    assert len(series) == 6
    frame = frame.assign(period=frame["ts"].dt.floor("D"))
    for row in series.itertuples(index=False):
        expected = _expected(frame[(frame["version"] == row.version) & (frame["period"] == row.period)])
        for name, value in expected.items():
            assert getattr(row, name) == pytest.approx(value, rel=1e-9), (row.version, row.period, name)


def test_window_summary_matches_numpy_and_filters_by_version(small):
    store, frame = small
    window = Window(pd.Timestamp("2026-01-06"), pd.Timestamp("2026-01-08"))
    summary = kpi_summary(store, model="m", window=window, version="b")
    assert list(summary["version"]) == ["b"]
    chosen = frame[(frame["version"] == "b") & (frame["ts"] >= window.start) & (frame["ts"] < window.end)]
    expected = _expected(chosen) | {"throughput_per_min": len(chosen) / (2 * 1440)}
    for name, value in expected.items():
        assert summary.iloc[0][name] == pytest.approx(value, rel=1e-9), name


def test_throughput_of_a_period_cut_short_divides_by_its_part_inside_the_window(small):
    # 2026-01-05 is a Monday: the window [Tue, Thu) holds 2 of the 7 days of that week. Dividing its requests by the
    # whole week understated throughput by 5/7 (-71%); the rate is per minute actually inside the window.
    store, frame = small
    window = Window(pd.Timestamp("2026-01-06"), pd.Timestamp("2026-01-08"))
    inside = frame[(frame["ts"] >= window.start) & (frame["ts"] < window.end)]
    expected = inside.groupby("version").size() / (2 * 1440)
    series = kpi_series(store, model="m", window=window, grain="week")
    assert list(series["period"]) == [pd.Timestamp("2026-01-05")] * 2
    records = kpi_records(store, model="m", window=window, grain="week")
    for row, record in zip(series.itertuples(index=False), records):
        assert row.throughput_per_min == pytest.approx(expected[row.version], rel=1e-12)
        assert record["throughput_per_min"] == pytest.approx(expected[record["version"]], rel=1e-12)
    # the same figure as the window's own summary (the whole window is that one partial week)
    summary = kpi_summary(store, model="m", window=window).set_index("version")
    assert np.allclose(series.set_index("version")["throughput_per_min"], summary["throughput_per_min"], rtol=1e-12)
    # a whole day inside the window is divided by the whole day
    daily = kpi_series(store, model="m", window=window, grain="day")
    per_day = inside.groupby(["version", inside["ts"].dt.floor("D")]).size() / 1440
    assert np.allclose(daily["throughput_per_min"], per_day.to_numpy(), rtol=1e-12)


def test_overview_figures_use_the_kpi_pages_definitions(small):
    # p95 over successful requests (a failed request's latency is a timeout), label coverage = labelled / successful
    store, frame = small
    frame = frame.assign(latency_ms=np.where(frame["is_error"], 30_000.0, frame["latency_ms"]))   # timeouts
    with store.write() as tx:
        tx.execute("UPDATE telemetry SET latency_ms = 30000 WHERE is_error")
    (headline,) = headline_figures(store, window_days=7)
    ok = frame[~frame["is_error"]]
    assert headline.predictions == len(frame)
    assert headline.latency_p95_ms == pytest.approx(np.percentile(ok["latency_ms"], 95), rel=1e-12)
    assert headline.label_coverage == pytest.approx(ok["label"].notna().mean(), rel=1e-12)
    assert headline.error_rate == pytest.approx(frame["is_error"].mean(), rel=1e-12)
    labelled = ok[ok["label"].notna()]
    assert headline.accuracy == pytest.approx((labelled["prediction"] == labelled["label"]).mean(), rel=1e-12)
    assert headline.cost_per_1k_usd == pytest.approx(1000 * frame["cost_usd"].mean(), rel=1e-12)
    # and the KPI page's counts over the same rows (its two versions pooled) give the same coverage
    summary = kpi_summary(store, model="m", window=resolve_window(store, model="m"))
    pooled = summary[["labelled", "n", "failures"]].sum()
    assert headline.label_coverage == pytest.approx(pooled["labelled"] / (pooled["n"] - pooled["failures"]), rel=1e-12)


def test_no_labels_means_no_accuracy_not_zero(small):
    store, _ = small
    with store.write() as tx:
        tx.execute("UPDATE telemetry SET label = NULL")
    window = Window(pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-08"))
    summary = kpi_summary(store, model="m", window=window)
    assert summary["accuracy"].isna().all() and summary["precision"].isna().all()
    assert (summary["label_coverage"] == 0).all()


def test_error_spike_day_is_a_breach_and_quiet_days_are_not(small):
    # ~8 requests an hour per version, 20% failed all day on 2026-01-06: one burn-rate breach per version inside
    # that day (its first hours fill the 6-hour window), none on the quiet days (service_levels; the rules
    # themselves are tested in test_service_levels)
    store, frame = small
    set_service_level(store, model="m", kpi="error_rate", target=0.01, actor=LEADER)
    window = Window(pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-08"))
    found = slo_breaches(store, model="m", window=window)
    assert sorted(b.version for b in found) == ["a", "b"]
    for b in found:
        assert pd.Timestamp("2026-01-06") <= b.start < pd.Timestamp("2026-01-06 06:00")
        # at ~8 requests an hour the window that holds a breach open spans ~4 hours (it widens to 30 requests), so
        # a chance failure in the first quiet hours can carry the end past midnight: a few hours at most
        assert pd.Timestamp("2026-01-06 18:00") < b.end <= pd.Timestamp("2026-01-07 06:00")
        failed = frame[(frame["version"] == b.version) & (frame["ts"] >= b.start) & (frame["ts"] < b.end)]
        assert b.worst == pytest.approx(failed.groupby(failed["ts"].dt.floor("h"))["is_error"].mean().max(),
                                        rel=1e-12)


def test_service_levels_are_append_only_and_validated(small):
    store, _ = small
    set_service_level(store, model="m", kpi="latency_p95_ms", target=250, actor=ADA)
    set_service_level(store, model="m", kpi="latency_p95_ms", target=300, actor=LEADER)
    level = service_levels(store, model="m")["latency_p95_ms"]
    assert (level.target, level.warning, level.set_by) == (300, 270, LEADER.recorded_as)
    assert store.query_value("SELECT count(*) FROM service_level_objective") == 2
    with pytest.raises(PermissionDeniedError, match="configure monitoring needs the role engineering leader"):
        set_service_level(store, model="m", kpi="accuracy", target=0.8, actor=VIEWER)
    for kpi, target, warning in (("accuracy", 1.5, None), ("accuracy", -0.1, None), ("error_rate", "lots", None),
                                 ("latency_p95_ms", 250, 300), ("accuracy", 0.8, 0.7), ("speed", 1, None)):
        with pytest.raises(errors.InvalidInputError):
            set_service_level(store, model="m", kpi=kpi, target=target, warning=warning, actor=LEADER)
    with pytest.raises(errors.InvalidInputError, match="no model named"):
        set_service_level(store, model="ghost", kpi="accuracy", target=0.8, actor=LEADER)
    assert store.query_value("SELECT count(*) FROM service_level_objective") == 2


def test_wilson_interval_holds_a_chance_miss():
    # the status is now judged on error budgets (test_service_levels); the interval stays for the A/B comparison
    low, high = wilson_interval(0.02, 50)
    assert low < 0.01 < high


def test_windows_are_whole_days_and_bad_dates_are_refused(small):
    store, _ = small
    window = resolve_window(store, model="m", since="2026-01-06", until="2026-01-06")
    assert (window.start, window.end) == (pd.Timestamp("2026-01-06"), pd.Timestamp("2026-01-07"))
    assert resolve_window(store, model="m").days == 3
    for since, until, message in (("2026-02-30", None, "must be a date"), ("2026-01-07", "2026-01-05", "swap"),
                                  ("2027-01-01", None, "spans 2026-01-05 to 2026-01-07")):
        with pytest.raises(errors.InvalidInputError, match=message):
            resolve_window(store, model="m", since=since, until=until)
    with pytest.raises(errors.InvalidInputError, match="grain must be one of"):
        kpi_series(store, model="m", window=window, grain="minute")


def test_hourly_rollup_stays_in_step_with_every_kind_of_write(small):
    store, _ = small
    direct = ("SELECT version, date_trunc('hour', ts) AS hour, count(*) AS n, "
              "count(*) FILTER (WHERE prediction = label AND NOT is_error) AS correct, sum(cost_usd) AS cost_sum "
              "FROM telemetry GROUP BY ALL ORDER BY ALL")
    rolled = "SELECT version, hour, n, correct, cost_sum FROM telemetry_hourly ORDER BY ALL"

    def same() -> bool:
        a, b = store.query(direct), store.query(rolled)
        return len(a) == len(b) and np.allclose(a[["n", "correct", "cost_sum"]].astype(float),
                                                b[["n", "correct", "cost_sum"]].astype(float))

    assert same()
    with store.write() as tx:
        tx.execute("UPDATE telemetry SET prediction = label WHERE label IS NOT NULL AND NOT is_error")
    assert same()
    with store.write() as tx:
        tx.execute("DELETE FROM telemetry WHERE version = 'b'")
    assert same() and set(store.query(rolled)["version"]) == {"a"}
    with pytest.raises(RuntimeError):
        with store.write() as tx:
            tx.execute("DELETE FROM telemetry")
            raise RuntimeError("crash before commit")
    assert same() and store.query_value("SELECT sum(n) FROM telemetry_hourly") > 0
