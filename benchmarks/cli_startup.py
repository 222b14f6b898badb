"""The command line end to end, as a script or CI runs it: `--help`, `status` and `kpis` on a 5-million-row
workspace, each the best of 5 fresh processes, against a pandas script computing the same figures from the same
file, run in the same way in the same run (in rounds of all four, so that both sides see the same load).

    python benchmarks/cli_startup.py [--db artifacts/bench-5m.duckdb] [--rows 5000000] [--model adult-income]

The workspace is built once if missing (`python -m governance init --demo`, a minute or two) and kept.

The pandas script is what one would write without Quorum: import duckdb and pandas, read the model's ts, version,
latency_ms and is_error from the same DuckDB file into a DataFrame, and compute per version and day the error rate
(failed requests / all requests) and the p50, p95 and p99 latency of the successful requests (linear
interpolation between order statistics, as DuckDB's quantile_cont: the definitions of kpis.py and
telemetry_sql.py). Both sides' figures are compared before any timing is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5

PANDAS_SCRIPT = """
import json, sys
import duckdb
import pandas as pd

db, model = sys.argv[1], sys.argv[2]
with duckdb.connect(db, read_only=True) as con:
    frame = con.execute("SELECT ts, version, latency_ms, is_error FROM telemetry WHERE model = ?", [model]).df()
frame["period"] = frame["ts"].dt.floor("D")
keys = ["version", "period"]
error_rate = frame.groupby(keys)["is_error"].mean().rename("error_rate")
latency = frame[~frame["is_error"]].groupby(keys)["latency_ms"].quantile([0.5, 0.95, 0.99]).unstack()
latency.columns = ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]
figures = pd.concat([error_rate, latency], axis=1).reset_index()
figures["period"] = figures["period"].map(lambda p: p.isoformat())
figures = figures.astype(object).where(figures.notna(), None)
print(json.dumps(figures.to_dict("records")))
"""
FIGURES = ("error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


def run(command: list[str]) -> tuple[float, str]:
    """Wall-clock seconds of one fresh process, start to exit, and what it printed."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def best_of(runs: int, commands: dict[str, list[str]]) -> dict[str, tuple[float, list[float], str]]:
    """Each command's best time of `runs`, in rounds that run every command once: on a busy machine both sides of
    the comparison see the same load."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    outputs: dict[str, str] = {}
    for _ in range(runs):
        for name, command in commands.items():
            seconds, outputs[name] = run(command)
            times[name].append(seconds)
    return {name: (min(times[name]), times[name], outputs[name]) for name in commands}


def same_figures(cli_json: str, pandas_json: str) -> None:
    """The CLI's series and the pandas script's figures: the same days, versions and values (to rounding)."""
    mine = {(r["version"], r["period"]): r for r in json.loads(cli_json)["series"]}
    theirs = {(r["version"], r["period"]): r for r in json.loads(pandas_json)}
    if mine.keys() != theirs.keys():
        sys.exit(f"the two sides cover different days: {sorted(mine.keys() ^ theirs.keys())[:5]}")
    for key, row in theirs.items():
        for figure in FIGURES:
            a, b = mine[key][figure], row[figure]
            if (a is None) != (b is None) or (a is not None and not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)):
                sys.exit(f"{figure} of {key} differs: kpis {a}, pandas {b}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="artifacts/bench-5m.duckdb")
    parser.add_argument("--rows", type=int, default=5_000_000, help="telemetry rows, when the workspace is built")
    parser.add_argument("--model", default="adult-income")
    args = parser.parse_args()
    db = Path(args.db) if Path(args.db).is_absolute() else ROOT / args.db
    python = sys.executable
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {db} with {args.rows:,} telemetry rows (once; a minute or two) ...", flush=True)
        run([python, "-m", "governance", "init", "--demo", "--db", str(db), "--rows", str(args.rows), "--json"])

    cli = [python, "-m", "governance"]
    kpis = [*cli, "kpis", "--model", args.model, "--json", "--db", str(db)]
    baseline = [python, "-c", PANDAS_SCRIPT, str(db), args.model]
    run(kpis)   # a warm start for both sides: the file in the page cache, bytecode compiled
    run(baseline)
    rows = best_of(RUNS, {
        "--help": [*cli, "--help"],
        "status": [*cli, "status", "--db", str(db)],
        f"kpis --model {args.model} --json": kpis,
        "pandas script, same figures": baseline,
    })
    same_figures(rows[f"kpis --model {args.model} --json"][2], rows["pandas script, same figures"][2])

    status = json.loads(run([*cli, "status", "--json", "--db", str(db)])[1])
    model_rows = sum(v["telemetry_rows"] for m in status["models"] if m["name"] == args.model for v in m["versions"])
    print(f"workspace {db.name}: {status['tables']['telemetry']:,} telemetry rows, {model_rows:,} of {args.model}")
    print(f"{'command (fresh process, end to end)':<40}{'best of ' + str(RUNS):>12}   all runs")
    for name, (best, times, _) in rows.items():
        print(f"{name:<40}{best:>10.3f} s   {', '.join(f'{t:.2f}' for t in times)}")
    kpis_best, pandas_best = rows[f"kpis --model {args.model} --json"][0], rows["pandas script, same figures"][0]
    print(f"kpis is {pandas_best / kpis_best:.1f}x faster than the pandas script (same figures, checked)")


if __name__ == "__main__":
    main()
