"""A fairness audit of 1 million stored evaluation rows (sex x race, intersectional, six metrics, 1,000 bootstrap
resamples), against fairlearn's MetricFrame computing the same point estimates from the same rows in memory.

    python benchmarks/fairness_audit.py [--db artifacts/bench-fairness-1m.duckdb] [--runs 5] [--loop 20]

The workspace is built on first use: a small demo plus adult-income version "bench-1m", whose evaluation set
is 1,000,000 rows drawn with replacement (seeded) from adult-income v1's real held-out rows.

MetricFrame's bootstrap is the naive one (resample the rows, recompute): a --loop of resamples, scaled to 1,000.
Most of MetricFrame's time on 1-D columns is fairlearn 0.15 passing every column through np.stack, which walks
the array element by element; that is what MetricFrame costs as installed, so it is what is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from fairlearn.metrics import (MetricFrame, false_negative_rate, false_positive_rate, selection_rate,  # noqa: E402
                               true_positive_rate)
from sklearn.metrics import accuracy_score, precision_score  # noqa: E402

from governance.evidence import fairness  # noqa: E402
from governance.access.identity import User  # noqa: E402
from governance.demo import seed_demo  # noqa: E402
from governance.record import clock  # noqa: E402
from governance.record.repositories import models  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402
from timing import best_of  # noqa: E402  (benchmarks/ is this script's folder)

MODEL, SOURCE_VERSION, VERSION = "adult-income", "v1", "bench-1m"
ROWS = 1_000_000
SENSITIVE = ["sex", "race"]
METRICS = ["selection_rate", "accuracy", "precision", "true_positive_rate", "false_positive_rate",
           "false_negative_rate"]
BOOTSTRAP = 1_000
LOOP_RESAMPLES = 20
TOLERANCE = 1e-12
FAIRLEARN_METRICS = {"selection_rate": selection_rate, "accuracy": accuracy_score,
                     "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
                     "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate,
                     "false_negative_rate": false_negative_rate}


def build(path: Path, *, seed: int = 0) -> None:
    """A small demo, then a copy of adult-income v1 whose evaluation set is 1M rows resampled from v1's."""
    with GovernanceStore(path) as store:
        if not store.query_value("SELECT count(*) FROM model"):
            seed_demo(store, rows=10_000, records=False)
        if store.query_value("SELECT count(*) FROM evaluation_set WHERE model = ? AND version = ?", [MODEL, VERSION]):
            return
        source_rows = store.query_value("SELECT count(*) FROM evaluation_row WHERE model = ? AND version = ?",
                                        [MODEL, SOURCE_VERSION])
        picks = pd.DataFrame({"row_id": np.arange(ROWS, dtype=np.int32),
                              "source_row": np.random.default_rng(seed).integers(0, source_rows, ROWS, dtype=np.int32)})
        with store.write() as tx:
            tx.execute("""
                INSERT INTO model_version
                SELECT model, ?, algorithm, training_data, now(), 'development', training_metrics
                FROM model_version WHERE model = ? AND version = ?""", [VERSION, MODEL, SOURCE_VERSION])
            tx.execute("CREATE TEMP TABLE bench_pick (row_id INTEGER, source_row INTEGER)")
            tx.insert_frame("bench_pick", picks)
            tx.execute("""
                INSERT INTO evaluation_row
                SELECT e.model, ?, p.row_id, e.features, e.sensitive, e.y_true, e.y_pred, e.score
                FROM bench_pick p JOIN evaluation_row e
                  ON e.model = ? AND e.version = ? AND e.row_id = p.source_row
                ORDER BY p.row_id""", [VERSION, MODEL, SOURCE_VERSION])
            tx.execute("DROP TABLE bench_pick")
            models.record_evaluation_set(store, tx, model=MODEL, version=VERSION, recorded_at=clock.now_naive())


def metric_frame(rows: pd.DataFrame) -> MetricFrame:
    return MetricFrame(metrics=FAIRLEARN_METRICS, y_true=rows["y_true"], y_pred=rows["y_pred"],
                       sensitive_features=rows[SENSITIVE])


AUDITOR = User("amara.okafor", "Amara Okafor", "committee chair", "demo")   # services check the caller's role


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="artifacts/bench-fairness-1m.duckdb")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loop", type=int, default=LOOP_RESAMPLES, help="MetricFrame resamples timed, then scaled")
    args = parser.parse_args()
    path = Path(args.db)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build(path)
    build_seconds = time.perf_counter() - started

    choices = dict(sensitive=SENSITIVE, intersectional=True, metrics=METRICS, bootstrap=BOOTSTRAP, seed=0)
    with GovernanceStore(path) as store:
        data = fairness.evaluation_set_data(store, model=MODEL, version=VERSION)
        assert data.rows == ROWS, data.rows
        times = []
        for _ in range(args.runs):   # each run defines and stores a new audit, as the CLI would
            started = time.perf_counter()
            audit = fairness.run_new_audit(store, data=fairness.evaluation_set_data(store, model=MODEL, version=VERSION),
                                           actor=AUDITOR, **choices)
            times.append(time.perf_counter() - started)
        audit_seconds = statistics.median(times)
        definition = fairness.make_definition(data=data, **choices)
        cells_seconds, cells = best_of(args.runs, lambda: fairness.finest_cells(store, data=data, definition=definition))
        results_seconds, _ = best_of(args.runs, lambda: fairness.compute_results(definition=definition, cells=cells))
        rows = store.query("SELECT y_true, y_pred, sensitive->>'sex' AS sex, sensitive->>'race' AS race "
                           "FROM evaluation_row WHERE model = ? AND version = ? ORDER BY row_id", [MODEL, VERSION])

    frame_seconds, frame = best_of(3, lambda: metric_frame(rows))
    rng = np.random.default_rng(0)

    def resample_loop():
        for _ in range(args.loop):
            metric_frame(rows.iloc[rng.integers(0, len(rows), len(rows))])

    loop_seconds, _ = best_of(1, resample_loop)
    loop_scaled = loop_seconds * BOOTSTRAP / args.loop

    by_group = frame.by_group
    worst = 0.0
    intersections = [g for g in audit["groups"] if g["sensitive"] == SENSITIVE]
    assert len(intersections) == len(by_group), (len(intersections), len(by_group))
    for g in intersections:
        expected = by_group.loc[tuple(g["group"][s] for s in SENSITIVE)]
        for metric in METRICS:
            worst = max(worst, abs(g["metrics"][metric]["value"] - expected[metric]))

    print(f"evaluation rows                       {ROWS:,} ({len(intersections)} sex x race groups, "
          f"{len(METRICS)} metrics, {BOOTSTRAP:,} bootstrap resamples)")
    print(f"workspace                             {path} (built or checked in {build_seconds:.1f} s)")
    print(f"audit, full call (median of {args.runs})       {audit_seconds:.3f} s   ({ROWS / audit_seconds:,.0f} rows/s)"
          f"   runs: {', '.join(f'{t:.3f}' for t in times)}")
    print(f"  finest_cells (DuckDB counts, best)  {cells_seconds:.3f} s   ({ROWS / cells_seconds:,.0f} rows/s)")
    print(f"  compute_results (best)              {results_seconds:.3f} s")
    print(f"MetricFrame, one call (best of 3)     {frame_seconds:.3f} s   ({ROWS / frame_seconds:,.0f} rows/s; "
          f"rows already in memory)")
    print(f"MetricFrame, {args.loop}-resample loop         {loop_seconds:.2f} s   -> x{BOOTSTRAP / args.loop:g} "
          f"= {loop_scaled:,.0f} s for {BOOTSTRAP:,} resamples")
    print(f"ratio MetricFrame-{BOOTSTRAP:,} / audit          {loop_scaled / audit_seconds:,.0f}x")
    print(f"max |difference| vs MetricFrame       {worst:.2e} (tolerance {TOLERANCE:.0e})")
    if not worst <= TOLERANCE:
        sys.exit(f"error: the audit's point estimates differ from MetricFrame's by {worst:.2e}")


if __name__ == "__main__":
    main()
