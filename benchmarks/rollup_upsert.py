"""The hourly rollup after a write: rebuilt whole from every telemetry row (before issue 23) against upserted for the
hours the write touched (one day of one model version: 24 hours), in the same run, on the same workspace. Each is
timed inside a write that is then rolled back, so the workspace is left as it was; the upsert's result is checked
against the full rebuild's before rolling back.

    python -m governance init --demo --db bench.duckdb --rows 10000000
    python benchmarks/rollup_upsert.py --db bench.duckdb [--model adult-income] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from governance.monitoring import rollup, telemetry_sql  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402

ROLLUP = "SELECT * FROM telemetry_hourly ORDER BY model, version, hour"


class _RollBack(Exception):
    """Raised at the end of a timed write: nothing it did is kept."""


def _timed_write(store: GovernanceStore, action) -> tuple[float, pd.DataFrame]:
    """Seconds `action(tx)` took inside a write, and the rollup it left, before the write is rolled back."""
    result = {}
    try:
        with store.write() as tx:
            started = time.perf_counter()
            action(tx)
            result["seconds"] = time.perf_counter() - started
            result["rollup"] = store.query(ROLLUP)
            raise _RollBack()
    except _RollBack:
        pass
    return result["seconds"], result["rollup"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--model", default="adult-income")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with GovernanceStore(args.db) as store:
        rows = store.query_value("SELECT count(*) FROM telemetry")
        version, newest = store.query_rows(
            "SELECT arg_max(version, ts), max(ts) FROM telemetry WHERE model = ?", [args.model])[0]
        day = pd.Timestamp(newest).floor("D")
        hours = {(args.model, version, (day + pd.Timedelta(hours=h)).to_pydatetime()) for h in range(24)}

        def rebuild(tx) -> None:
            for statement in telemetry_sql.REBUILD_SQL:
                tx.execute(statement)

        full = [_timed_write(store, rebuild) for _ in range(args.runs)]
        upsert = [_timed_write(store, lambda tx: rollup._keep_in_step(tx, hours)) for _ in range(args.runs)]
        pd.testing.assert_frame_equal(upsert[-1][1], full[-1][1])   # the same rollup either way
        best_full, best_upsert = min(s for s, _ in full), min(s for s, _ in upsert)
    print(f"telemetry rows: {rows:,}; rollup rows: {len(full[-1][1]):,}; "
          f"upserted: {args.model} {version}, 24 hours of {day.date()}")
    print(f"full rebuild   best of {args.runs}: {best_full * 1000:8.1f} ms")
    print(f"upsert (1 day) best of {args.runs}: {best_upsert * 1000:8.1f} ms   ({best_full / best_upsert:.0f}x faster)")


if __name__ == "__main__":
    main()
