"""The KPI builder: results against pandas on the raw rows, and only whitelisted SQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance import errors
from governance.monitoring.explore import MEASURES, View, explore
from governance.monitoring.kpis import Window
from governance.record.store import GovernanceStore

WINDOW = Window(pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-29"))


@pytest.fixture(scope="module")
def store_and_rows(demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        yield store, store.query("SELECT * FROM telemetry")


def test_counts_by_segment_and_model_match_pandas(store_and_rows):
    store, rows = store_and_rows
    result = explore(store, view=View("predictions", ("segment", "model"), None), window=WINDOW)
    expected = rows.groupby(["segment", "model"]).size().reset_index(name="predictions")
    pd.testing.assert_frame_equal(result.frame, expected, check_dtype=False)
    assert not result.truncated


def test_weekly_p95_with_filters_matches_numpy(store_and_rows):
    store, rows = store_and_rows
    view = View("latency_p95_ms", ("version",), "week", (("model", ("adult-income",)), ("segment", ("web",))))
    result = explore(store, view=view, window=WINDOW).frame
    chosen = rows[(rows["model"] == "adult-income") & (rows["segment"] == "web") & ~rows["is_error"]]
    chosen = chosen.assign(period=chosen["ts"].dt.to_period("W-SUN").dt.start_time)
    for row in result.itertuples(index=False):
        values = chosen[(chosen["period"] == row.period) & (chosen["version"] == row.version)]["latency_ms"]
        assert row.latency_p95_ms == pytest.approx(np.percentile(values, 95))


def test_every_measure_runs(store_and_rows):
    store, _ = store_and_rows
    for measure in MEASURES:
        assert not explore(store, view=View(measure, ("version",), "week"), window=WINDOW).frame.empty


@pytest.mark.parametrize("view, message", [
    (View("predictions; DROP TABLE telemetry"), "unknown measure"),
    (View("predictions", ("model) FROM telemetry; --",)), "unknown dimension"),
    (View("predictions", grain="minute'); --"), "time grain"),
    (View("predictions", filters=(("ts", ("x",)),)), "cannot filter"),
    (View("predictions", ("model", "version", "segment", "label")), "at most 3"),
])
def test_anything_outside_the_lists_is_refused(store_and_rows, view, message):
    store, _ = store_and_rows
    with pytest.raises(errors.InvalidInputError, match=message):
        explore(store, view=view, window=WINDOW)


def test_filter_values_are_bound_not_formatted(store_and_rows):
    store, _ = store_and_rows
    hostile = View("predictions", ("model",), None, (("model", ("x') OR 1=1 --",)),))
    assert explore(store, view=hostile, window=WINDOW).frame.empty
