"""SHAP explanations of the demo's gradient-boosted model (adult-income v2): a cold global explanation of 10,000 rows,
the model-agnostic path per 100 rows against shap's KernelExplainer, and the Explanations page opened from a stored
explanation against computing it cold.

    python benchmarks/explanations.py [--base artifacts/bench-explanations-base.duckdb] [--runs 3]

Targets (issue #6): a cold global explanation of 10,000 rows under 5 s on 2 cores; the page opens from the store in
under 0.5 s. The base workspace (a demo with 10,000 telemetry rows) is built on first use; every cold measurement
runs on a fresh copy of it, since an explanation is stored once computed.

The permutation explainer calls the model ~25 times per row on ~2,000 masked rows each, and HistGradientBoosting
predicts with OpenMP threads: on a busy 2-core machine those threads can spin against each other, so that path is
timed with OpenMP as installed (a few rows, scaled) and held to one thread (threadpoolctl).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import shap  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from governance.evidence import explanations as ex  # noqa: E402
from governance.demo import DEMO_EXPLAINER as EXPLAINER, seed_demo  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402
from timing import best_of  # noqa: E402  (benchmarks/ is this script's folder)

MODEL, VERSION = "adult-income", "v2"
ROWS = 10_000
AGNOSTIC_ROWS = 100
TARGET_COLD, TARGET_PAGE = 5.0, 0.5
PAGE = "pages/explanations.py"


def build(base: Path) -> float:
    started = time.perf_counter()
    if not base.exists():
        with GovernanceStore(base) as store:
            seed_demo(store, rows=10_000, records=False)
    return time.perf_counter() - started


def copies(base: Path) -> list[Path]:
    return sorted(base.parent.glob(f"{base.stem}-*.duckdb*"))


def fresh_copy(base: Path, name: str) -> Path:
    """A copy of the base workspace, without the write-ahead log a previous run may have left beside it."""
    target = base.with_name(f"{base.stem}-{name}.duckdb")
    for old in (target, target.with_name(target.name + ".wal")):
        old.unlink(missing_ok=True)
    shutil.copyfile(base, target)
    return target


def cold_explanation(path: Path) -> dict:
    """One cold explain_version, split into phases by the service's own progress reports."""
    marks: list[tuple[float, float, str]] = []
    with GovernanceStore(path) as store:
        started = time.perf_counter()
        summary = ex.explain_version(store, model=MODEL, version=VERSION, rows=ROWS, actor=EXPLAINER,
                                     progress=lambda f, m: marks.append((time.perf_counter(), f, m)))
        total = time.perf_counter() - started

    def at(test) -> float:
        return next(t for t, f, m in marks if test(f, m)) - started

    shap_start = at(lambda f, m: m.startswith("Explaining") and "explainer" in m)
    shap_end = max(t for t, f, m in marks if m.startswith("Explaining") and f <= 0.75) - started
    checks = at(lambda f, m: f == 0.8)
    storing = at(lambda f, m: f == 0.95)
    done = at(lambda f, m: f == 1.0)
    return {"total": total, "summary": summary, "phases": {
        "load model, read and encode rows": shap_start,
        "shap values (TreeExplainer, chunks of %d rows)" % ex.CHUNK_ROWS: shap_end - shap_start,
        "model output + additivity check": checks - shap_end,
        "stability (bootstrap) + cohorts": storing - checks,
        "store values (%s rows x inputs)" % f"{ROWS:,}": done - storing,
        "read the stored explanation back": total - done}}


def profile_cold(base: Path) -> str:
    path = fresh_copy(base, "profile")
    profiler = cProfile.Profile()
    profiler.enable()
    cold_explanation(path)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def agnostic(base: Path, *, rows: int, kernel_rows: int, as_installed_rows: int) -> dict:
    with GovernanceStore(base) as store:
        prepared, _ = ex.load_version(store, model=MODEL, version=VERSION)
        frame = ex.evaluation_frame(store, model=MODEL, version=VERSION, limit=ex.POOL_ROWS)
    rng = np.random.default_rng(0)
    background = prepared.encode(frame.iloc[rng.choice(len(frame), ex.BACKGROUND_ROWS, replace=False)])
    encoded = prepared.encode(frame.iloc[rng.choice(len(frame), rows, replace=False)])
    out = {}
    started = time.perf_counter()
    with threadpool_limits(1):
        ex.shap_values(prepared, encoded[:1], kind="permutation", background=background)
    out["first call (numba compiles shap's masking code)"] = time.perf_counter() - started
    with threadpool_limits(1):
        seconds, (values, base_value) = best_of(1, lambda: ex.shap_values(prepared, encoded, kind="permutation",
                                                                          background=background))
        out["permutation, OpenMP 1 thread"] = seconds * 100 / rows
        output = ex.model_output(prepared, encoded, units="probability")
        out["additivity"] = float(np.max(np.abs(base_value + values.sum(axis=1) - output)))
    seconds, _ = best_of(1, lambda: ex.shap_values(prepared, encoded[:as_installed_rows], kind="permutation",
                                                   background=background))
    out[f"permutation, OpenMP as installed ({as_installed_rows} rows, scaled)"] = seconds * 100 / as_installed_rows
    kernel = shap.KernelExplainer(lambda x: prepared.classifier.predict_proba(x)[:, 1], background)
    with threadpool_limits(1):
        seconds, _ = best_of(1, lambda: kernel.shap_values(encoded[:kernel_rows], silent=True))
    out[f"KernelExplainer, OpenMP 1 thread ({kernel_rows} rows, scaled)"] = seconds * 100 / kernel_rows
    return out


def page_from_store(path: Path, runs: int) -> tuple[float, float, int]:
    """What the page reads on opening a version with a stored explanation."""
    with GovernanceStore(path) as store:
        def open_page():
            stored = ex.stored_explanation(store, model=MODEL, version=VERSION, rows=ROWS)
            return ex.explanation_values(store, explanation_id=stored["explanation_id"], max_rows=2_000)
        seconds, values = best_of(runs, open_page)
        cached_call, _ = best_of(runs, lambda: ex.explain_version(store, model=MODEL, version=VERSION, rows=ROWS,
                                                                   actor=EXPLAINER))
    return seconds, cached_call, len(values)


def page_is_built() -> bool:
    text = (ROOT / PAGE).read_text()
    return "not_built_yet" not in text


def apptest_page(path: Path, *, runs: int, cold: bool) -> dict:
    """The Explanations page headless (streamlit AppTest), opened on adult-income v2."""
    from streamlit.testing.v1 import AppTest

    # The background job's thread has no script context, and says so on every poll; it is expected here.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(lambda record: False)
    os.environ["QUORUM_DB"], os.environ["QUORUM_AUTO_DEMO"] = str(path), "0"
    times, first = [], None
    for _ in range(1 if cold else runs):
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        app.query_params["model"], app.query_params["version"] = MODEL, VERSION
        app.run()
        started = time.perf_counter()
        app.switch_page(PAGE).run()
        opened = time.perf_counter() - started
        assert not app.exception, [e.value for e in app.exception]
        if cold:   # the page starts the computation in the background and polls it: wait for the explanation
            while not any("tree explainer" in getattr(m, "value", "") for m in app.markdown):
                time.sleep(0.25)
                app.run()
                assert not app.exception, [e.value for e in app.exception]
                if time.perf_counter() - started > 300:
                    raise RuntimeError("the page did not show the explanation within 300 s")
            return {"opened (progress shown)": opened, "explanation shown": time.perf_counter() - started}
        times.append(opened)
        first = opened if first is None else first
        rerun_started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - rerun_started)
    return {"first open in this process": first, "best of the later opens and reruns": min(times[1:])}


def measure(base: Path, args: argparse.Namespace, build_seconds: float) -> None:
    print(f"workspace            {base} (built or checked in {build_seconds:.1f} s); cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")

    # (a) a cold global explanation of 10,000 rows, each run on a fresh copy
    runs = [cold_explanation(fresh_copy(base, f"cold-{i}")) for i in range(args.runs)]
    median = statistics.median(r["total"] for r in runs)
    typical = min(runs, key=lambda r: abs(r["total"] - median))
    summary = typical["summary"]
    print(f"\n(a) cold explain_version, {MODEL} {VERSION}, {summary['rows_explained']:,} rows, "
          f"{summary['explainer']} explainer")
    each = ", ".join(f"{r['total']:.2f}" for r in runs)
    print(f"    total (median of {args.runs})         {median:.2f} s   runs: {each}   target < {TARGET_COLD:g} s: "
          f"{'met' if median < TARGET_COLD else 'MISSED'}")
    for phase, seconds in typical["phases"].items():
        print(f"      {phase:<50}{seconds:6.2f} s")
    print(f"    additivity max error                {summary['additivity_max_error']:.1e}")

    with GovernanceStore(base) as store:   # baseline: shap's TreeExplainer on the same rows in one call
        prepared, _ = ex.load_version(store, model=MODEL, version=VERSION)
        encoded = prepared.encode(ex.evaluation_frame(store, model=MODEL, version=VERSION, limit=ROWS))
    one_call, _ = best_of(2, lambda: shap.TreeExplainer(prepared.classifier).shap_values(encoded,
                                                                                       check_additivity=False))
    chunked, _ = best_of(2, lambda: ex.shap_values(prepared, encoded, kind="tree", background=encoded[:100]))
    with threadpool_limits(1):
        single, _ = best_of(2, lambda: ex.shap_values(prepared, encoded, kind="tree", background=encoded[:100]))
    print(f"    baseline: TreeExplainer, one call   {one_call:.2f} s;  service's chunked shap_values {chunked:.2f} s"
          f" (OpenMP 1 thread: {single:.2f} s)")
    if median >= TARGET_COLD:
        print("    over target: profile of one cold run (by own time)")
        print("\n".join("      " + line for line in profile_cold(base).splitlines()[:40]))

    # (b) the model-agnostic path
    agnostic_times = agnostic(base, rows=args.agnostic_rows, kernel_rows=args.kernel_rows,
                              as_installed_rows=args.as_installed_rows)
    print(f"\n(b) model-agnostic path on {MODEL} {VERSION}, {ex.BACKGROUND_ROWS}-row background, per 100 rows")
    for name, seconds in agnostic_times.items():
        if name == "additivity":
            print(f"    {'permutation additivity max error':<58}{seconds:.1e}")
        else:
            print(f"    {name:<58}{seconds:8.2f} s")
    per_row = agnostic_times["permutation, OpenMP 1 thread"] / 100
    default_rows = ex.AGNOSTIC_ROWS + ex.STABILITY_SAMPLES * ex.AGNOSTIC_STABILITY_ROWS
    print(f"    a default agnostic explanation ({ex.AGNOSTIC_ROWS} rows + {ex.STABILITY_SAMPLES} x "
          f"{ex.AGNOSTIC_STABILITY_ROWS} stability rows) at 1 thread: ~{per_row * default_rows:,.0f} s")

    # (c) the page: from the store against cold
    warm_path = fresh_copy(base, "page")
    cold_explanation(warm_path)
    page, cached_call, values = page_from_store(warm_path, runs=5)
    print(f"\n(c) page load, {MODEL} {VERSION}")
    print(f"    from the store: stored_explanation + explanation_values(max_rows=2000) "
          f"{page:.3f} s ({values:,} values)   target < {TARGET_PAGE:g} s: {'met' if page < TARGET_PAGE else 'MISSED'}")
    print(f"    explain_version on a stored explanation   {cached_call:.3f} s")
    print(f"    cold (computing it, (a))                   {median:.2f} s   -> {median / page:,.0f}x the stored read")
    if page_is_built():
        opened = apptest_page(warm_path, runs=3, cold=False)
        cold_page = apptest_page(fresh_copy(base, "page-cold"), runs=1, cold=True)
        print("    AppTest of the Explanations page (headless, includes Streamlit's script run):")
        for name, seconds in {**{f"stored: {k}": v for k, v in opened.items()},
                              **{f"cold: {k}": v for k, v in cold_page.items()}}.items():
            print(f"      {name:<46}{seconds:6.2f} s")
    else:
        print(f"    AppTest skipped: {PAGE} is still the placeholder")


def background_rule(path: Path, *, resamples: int = 200) -> None:
    """(d) Issue 21: adult-income v1 (linear) importances by background size, and their bootstrap relative error.

    For sizes 100, 1,000 and the whole evaluation set: each top input's mean |SHAP| over the explained rows,
    and the relative standard deviation of that figure over `resamples` backgrounds of the same size drawn
    with replacement from the evaluation set (linear SHAP = coef x (x - background mean), computed in numpy);
    then explain_version's time with the rule (the whole set) on a fresh copy."""
    with GovernanceStore(path) as store:
        prepared, _ = ex.load_version(store, model="adult-income", version="v1")
        frame = ex.evaluation_frame(store, model="adult-income", version="v1")
    encoded = prepared.encode(frame)
    coef, grouping = prepared.classifier.coef_[0], prepared.grouping()
    rows = encoded[np.random.default_rng(0).choice(len(encoded), size=min(ROWS, len(encoded)), replace=False)]
    full = np.abs(((rows - encoded.mean(axis=0)) * coef) @ grouping).mean(axis=0)
    top = np.argsort(-full)[:ex.MAGNITUDE_TOP]
    rng = np.random.default_rng(1)
    print(f"\n(d) background size, adult-income v1 (linear), {len(rows):,} rows explained, {resamples} resampled "
          "backgrounds per size: mean |SHAP| (relative s.d.)")
    print("    " + "".join(f"{prepared.features[i]:>22}" for i in top))
    for size in (100, 1_000, len(encoded)):
        draws = np.array([np.abs(((rows - encoded[rng.integers(0, len(encoded), size)].mean(axis=0)) * coef)
                                 @ grouping).mean(axis=0)[top] for _ in range(resamples)])
        cells = "".join(f"{m:>13.3f} ({s / m:5.1%})" for m, s in zip(draws.mean(axis=0), draws.std(axis=0)))
        print(f"    {size:>6,} rows{cells}")
    started = time.perf_counter()
    with GovernanceStore(path) as store:
        # seed 1: the demo build stored the seed-0 explanation, and this is to time a cold one
        summary = ex.explain_version(store, model="adult-income", version="v1", rows=ROWS, seed=1,
                                     actor=EXPLAINER)
    magnitudes = summary["stability"]["magnitudes"]
    print(f"    cold explain_version with the rule ({summary['background_rows']:,}-row background): "
          f"{time.perf_counter() - started:.2f} s; magnitudes: largest change {magnitudes['max_relative_change']:.1%}, "
          f"{'stable' if magnitudes['stable'] else 'approximate'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="artifacts/bench-explanations-base.duckdb")
    parser.add_argument("--runs", type=int, default=3, help="cold runs, each on a fresh copy (median reported)")
    parser.add_argument("--agnostic-rows", type=int, default=AGNOSTIC_ROWS)
    parser.add_argument("--kernel-rows", type=int, default=10)
    parser.add_argument("--as-installed-rows", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the workspace copies (default: removed at the end)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)
    base = ROOT / args.base if not Path(args.base).is_absolute() else Path(args.base)
    base.parent.mkdir(parents=True, exist_ok=True)
    build_seconds = build(base)
    try:
        measure(base, args, build_seconds)
        background_rule(fresh_copy(base, "background"))
    finally:
        if not args.keep:
            for path in copies(base):
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
