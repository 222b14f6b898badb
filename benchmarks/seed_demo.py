"""How fast the demo workspace is built, and what DuckDB's bulk load costs against writing the same rows
with pandas to Parquet (a common alternative), measured in the same run.

    python benchmarks/seed_demo.py [--rows N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from governance import demo  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=demo.DEFAULT_ROWS)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.duckdb"
        steps: list[tuple[float, str]] = []
        started = time.perf_counter()
        with GovernanceStore(path) as store:
            demo.seed_demo(store, rows=rows, progress=lambda f, m: steps.append((time.perf_counter(), m)))
        total = time.perf_counter() - started
        training = steps[1][0] - steps[0][0]
        size_mb = path.stat().st_size / 1e6

        # Baseline in the same run: generate the same telemetry and write it with pandas to Parquet.
        prepared = demo._prepare(demo.DEFAULT_SEED)
        rng = np.random.default_rng(demo.DEFAULT_SEED)
        generate_started = time.perf_counter()
        frames = [demo._telemetry(p, n=round(rows * p.model.traffic_share), rng=rng) for p in prepared]
        generate = time.perf_counter() - generate_started
        parquet_started = time.perf_counter()
        for i, frame in enumerate(frames):
            frame.to_parquet(Path(folder) / f"baseline-{i}.parquet")
        parquet = time.perf_counter() - parquet_started

    # The records after the load (explanations, risk register, reviews) are timed apart from the load itself.
    records_started = next(t for t, message in steps if message.startswith("Explaining"))
    records = started + total - records_started
    load = total - training - generate - records
    print(f"rows                         {rows:,}")
    print(f"seed_demo total              {total:.2f} s   ({rows / total:,.0f} rows/s end to end)")
    print(f"  training 3 models          {training:.2f} s")
    print(f"  generating telemetry       {generate:.2f} s   ({rows / generate:,.0f} rows/s)")
    print(f"  DuckDB load + inventory    {load:.2f} s   ({rows / load:,.0f} rows/s)")
    print(f"  explanations, risks, reviews {records:.2f} s")
    print(f"baseline: pandas to_parquet  {parquet:.2f} s   ({rows / parquet:,.0f} rows/s)")
    print(f"ratio DuckDB load / parquet  {load / parquet:.2f}x")
    print(f"workspace file               {size_mb:,.1f} MB ({size_mb * 1e6 / rows:.0f} bytes/row)")


if __name__ == "__main__":
    main()
