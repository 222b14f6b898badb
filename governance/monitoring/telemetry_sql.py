"""The one place where the SQL over telemetry lives: KPIs, service levels, A/B comparison, Explore and drift.

Every query that reads the relations below is written here, as constant text or as a small function that
builds the text; the modules that use them (store, kpis, compare, explore, drift) keep only the
logic around them (validation, statistics, numpy). Keeping the SQL in one module over plain relations is
what lets it later be pushed down to a distributed engine.

Relations read
    telemetry          one row per prediction (model, version, ts, input_id, prediction, score, label,
                       is_error, latency_ms, cpu_pct, memory_mb, cost_usd, segment, ...)
    telemetry_input    the distinct feature JSON of each (model, input_id)
    telemetry_hourly   the hourly rollup of telemetry: COUNT_SQL per model, version and hour
    evaluation_row     a version's held-out evaluation set (drift's "training" reference)

Parameters
    Every statement takes its values as bound parameters ($name), never formatted into the text. The only
    things the builders put into SQL text are names from the fixed lists in this module (measures,
    dimensions, grains checked by the caller), positional column names (f0, w0 ...) and parameter names.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # only in annotations: numpy is not free
    import numpy as np

# --- the hourly rollup (telemetry_hourly) --------------------------------------------------------------
# The counts and sums behind every KPI, per model, version and hour. KPI views read their counts from it (a
# few thousand rows instead of millions) and scan the raw rows only for latency percentiles, which do not add
# up. It is brought in step inside every transaction that writes `telemetry` (monitoring/rollup.py), so it
# cannot disagree with the rows.

COUNT_SQL = {
    "n": "count(*)",
    "failures": "count(*) FILTER (WHERE is_error)",
    "labelled": "count(label) FILTER (WHERE NOT is_error)",
    "correct": "count(*) FILTER (WHERE prediction = label AND NOT is_error)",
    "true_positives": "count(*) FILTER (WHERE prediction = 1 AND label = 1 AND NOT is_error)",
    "predicted_positives": "count(*) FILTER (WHERE prediction = 1 AND label IS NOT NULL AND NOT is_error)",
    "actual_positives": "count(*) FILTER (WHERE label = 1 AND prediction IS NOT NULL AND NOT is_error)",
    "cpu_n": "count(cpu_pct)", "cpu_sum": "sum(cpu_pct)",
    "memory_n": "count(memory_mb)", "memory_sum": "sum(memory_mb)",
    "cost_n": "count(cost_usd)", "cost_sum": "sum(cost_usd)",
    "approved_volume_usd": "sum(approved_volume_usd)",
    "expected_value_usd": "sum(expected_value_usd)",
}
COUNTS = ",\n".join(f"{sql} AS {name}" for name, sql in COUNT_SQL.items())

# Rebuilt whole (about half a second at 10 million rows) only after a write that did not say which hours it
# touched; monitoring/rollup.py keeps it in step.
REBUILD_SQL = (
    "DELETE FROM telemetry_hourly",
    f"INSERT INTO telemetry_hourly SELECT model, version, date_trunc('hour', ts) AS hour, {COUNTS} "
    "FROM telemetry GROUP BY ALL",
)
# Only the hours a write touched, every other row left as it is: $model, $version and $hour are lists of one
# length, read as rows; $first and $last (the earliest and latest of those hours) let the scan skip the row
# groups outside them.
_CHANGED_HOURS = "(SELECT unnest($model) AS model, unnest($version) AS version, unnest($hour) AS hour) AS changed"
UPSERT_HOURS_SQL = (
    f"DELETE FROM telemetry_hourly USING {_CHANGED_HOURS} WHERE telemetry_hourly.model = changed.model "
    "AND telemetry_hourly.version = changed.version AND telemetry_hourly.hour = changed.hour",
    f"INSERT INTO telemetry_hourly SELECT t.model, t.version, date_trunc('hour', t.ts) AS hour, {COUNTS} "
    f"FROM telemetry AS t JOIN {_CHANGED_HOURS} ON t.model = changed.model AND t.version = changed.version "
    "AND date_trunc('hour', t.ts) = changed.hour "
    "WHERE t.ts >= $first AND t.ts < $last + INTERVAL 1 HOUR GROUP BY ALL",
)
# The hours of the rows an ingest is about to load (its checked Parquet file, the accepted rows).
INGEST_HOURS_SQL = "SELECT DISTINCT date_trunc('hour', ts::TIMESTAMP) FROM read_parquet(?) WHERE reason IS NULL"
# The same counts over any grain, summed from the rollup.
SUMS = ",\n".join(f"sum({name}) AS {name}" for name in COUNT_SQL)


# --- KPIs (kpis.py; service levels read them through kpi_series) --------------------------------------

# The Overview's figures: COUNT_SQL's counts (kpis.derive_ratios turns them into the KPI page's ratios) and the
# p95 of successful requests, over each model's last $window_days days.
HEADLINE_SQL = f"""
WITH bounds AS (SELECT model, max(ts) AS window_end FROM telemetry GROUP BY model)
SELECT model, window_end, count(*) AS predictions, {COUNTS},
       quantile_cont(latency_ms, 0.95) FILTER (WHERE NOT is_error) AS latency_p95_ms
FROM telemetry JOIN bounds USING (model)
WHERE ts > window_end - to_days($window_days)
GROUP BY model, window_end
ORDER BY model
"""

DAILY_VOLUME_SQL = """
    SELECT model, version, date_trunc('day', ts) AS day, count(*) AS predictions
    FROM telemetry GROUP BY ALL ORDER BY model, version, day"""

DATA_WINDOW_SQL = "SELECT min(ts), max(ts) FROM telemetry WHERE model = $model"

# Per version of every model: how many predictions and the first and last (the inventory).
VERSION_TELEMETRY_SQL = """
    SELECT model, version, count(*) AS rows, min(ts) AS first_ts, max(ts) AS last_ts FROM telemetry GROUP BY ALL"""
# One version's newest prediction, and its labelled share in [$start, $end) (sign-offs, retraining, robustness).
VERSION_NEWEST_SQL = "SELECT max(ts) AS newest FROM telemetry WHERE model = $model AND version = $version"
VERSION_SPAN_SQL = "SELECT min(ts), max(ts) FROM telemetry WHERE model = $model AND version = $version"   # drift
VERSION_BEFORE_SQL = "SELECT count(*) AS n FROM telemetry WHERE model = $model AND version = $version AND ts < $end"
VERSION_LABELLED_SQL = f"""
    SELECT {COUNT_SQL['n']} AS n, {COUNT_SQL['failures']} AS failures, {COUNT_SQL['labelled']} AS labelled
    FROM telemetry WHERE model = $model AND version = $version AND ts >= $start AND ts < $end"""
# Robustness's weekly slices of labelled telemetry up to $until.
WEEKLY_ACCURACY_SQL = """
    SELECT date_trunc('week', ts)::DATE AS week, count(*) AS n, sum((prediction = label)::INTEGER) AS correct
    FROM telemetry
    WHERE model = $model AND version = $version AND ts <= $until AND label IS NOT NULL AND prediction IS NOT NULL
    GROUP BY 1 ORDER BY 1"""

# Latency percentiles are over successful requests only (a failed request's latency is a timeout, counted in
# the error rate instead) and read from the raw rows: they do not add up.
LATENCY_QUANTILES = "quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FILTER (WHERE NOT is_error) AS latency_q"

# One model's rows (of one version, or of all with $version NULL) in [$start, $end).
KPI_WHERE = "model = $model AND ($version IS NULL OR version = $version) AND ts >= $start AND ts < $end"

# Per version and period ($grain): counts from the hourly rollup; only the percentiles read the raw rows.
KPI_SERIES_SQL = f"""
    WITH counts AS (
        SELECT version, date_trunc($grain, hour) AS period, {SUMS}
        FROM telemetry_hourly
        WHERE model = $model AND ($version IS NULL OR version = $version) AND hour >= $start AND hour < $end
        GROUP BY ALL),
    latency AS (
        SELECT version, date_trunc($grain, ts) AS period, {LATENCY_QUANTILES}
        FROM telemetry WHERE {KPI_WHERE}
        GROUP BY ALL)
    SELECT * FROM counts LEFT JOIN latency USING (version, period) ORDER BY version, period"""

# The same series from the raw rows in one scan, for sources that keep no rollup (a Parquet dataset, Spark).
KPI_SERIES_RAW_SQL = f"""
    SELECT version, date_trunc($grain, ts) AS period, {COUNTS}, {LATENCY_QUANTILES}
    FROM telemetry WHERE {KPI_WHERE}
    GROUP BY ALL ORDER BY version, period"""

# Exact latency values of successful requests and how often each occurs, per version: a histogram.
LATENCY_HISTOGRAM_SQL = f"""
    SELECT version, latency_ms, count(*) AS n FROM telemetry WHERE {KPI_WHERE} AND NOT is_error
    GROUP BY ALL ORDER BY version, latency_ms"""

# The KPI figures as single SQL expressions, for views grouped by any dimension (Explore).
MEASURE_SQL = {
    "n": COUNT_SQL["n"],
    "failures": COUNT_SQL["failures"],
    "error_rate": f"{COUNT_SQL['failures']} / count(*)",
    "labelled": COUNT_SQL["labelled"],
    "label_coverage": f"{COUNT_SQL['labelled']} / nullif(count(*) FILTER (WHERE NOT is_error), 0)",
    "accuracy": f"{COUNT_SQL['correct']} / nullif({COUNT_SQL['labelled']}, 0)",
    "precision": f"{COUNT_SQL['true_positives']} / nullif({COUNT_SQL['predicted_positives']}, 0)",
    "recall": f"{COUNT_SQL['true_positives']} / nullif({COUNT_SQL['actual_positives']}, 0)",
    "cpu_pct": "avg(cpu_pct)",
    "memory_mb": "avg(memory_mb)",
    "cost_per_1k_usd": "1000 * avg(cost_usd)",
    "approved_volume_usd": COUNT_SQL["approved_volume_usd"],
    "expected_value_usd": COUNT_SQL["expected_value_usd"],
}


# --- A/B comparison (compare.py) ----------------------------------------------------------------------

COMPARE_WHERE = "model = $model AND version IN ($a, $b) AND ts >= $start AND ts < $end"

COMPARE_COUNTS_SQL = f"""
    SELECT version, {COUNT_SQL['n']} AS n, {COUNT_SQL['failures']} AS errors, {COUNT_SQL['labelled']} AS labelled,
           {COUNT_SQL['correct']} AS correct
    FROM telemetry WHERE {COMPARE_WHERE} GROUP BY version"""

# measure -> (SQL expression, bin width) of the measures binned at an absolute width: means, for which rounding to
# the nearest bin is unbiased. Latency is binned at a relative precision instead (compare_bins_sql).
COMPARE_BINNED = {
    "cost_usd": ("cost_usd", 0.00001),
    "expected_value_usd": ("expected_value_usd", 0.5),
}
# The A/B latency bins' relative precision (DDSketch's alpha): 0.1%, a tenth of the 1% allowed, so that at the
# demo's and a fast service's volumes the bins' error stays well below the sampling error.
COMPARE_LATENCY_ALPHA = 0.001


def latency_bin_sql(gamma: str) -> str:
    """DDSketch's bin of a latency at the relative precision bound as ${gamma} (NULL for a latency <= 0)."""
    return f"CASE WHEN latency_ms > 0 THEN ceil(ln(latency_ms) / ln(${gamma})) END"


def bin_value_sql(gamma: str) -> str:
    """A latency bin's representative value (0 ms for bin NULL), from the column `bin`."""
    return f"coalesce(2 * pow(${gamma}, bin) / (${gamma} + 1), 0.0)"


def rounded_sql(expression: str, width: str) -> str:
    return f"round({expression} / ${width}) * ${width}"


def compare_bins_sql(measure: str) -> str:
    """Per version, the measure's bins and each bin's count, as (version, value, n).

    latency_ms (of successful requests only): logarithmic bins of relative precision, as DDSketch's
    (Masson et al., VLDB 2019): with $gamma = (1 + a) / (1 - a), bin i holds (gamma^(i-1), gamma^i] and stands
    for 2 gamma^i / (gamma + 1), which is within a relative a of every value in it; a latency <= 0 is bin 0 ms.
    Any other measure (a key of COMPARE_BINNED): rounded to the nearest multiple of $width.
    """
    if measure == "latency_ms":
        return f"""
            WITH binned AS (
                SELECT version, {latency_bin_sql('gamma')} AS bin
                FROM telemetry WHERE {COMPARE_WHERE} AND NOT is_error AND latency_ms IS NOT NULL)
            SELECT version, {bin_value_sql('gamma')} AS value, count(*) AS n
            FROM binned GROUP BY version, bin ORDER BY version, value"""
    expression, _ = COMPARE_BINNED[measure]
    return f"""
        SELECT version, {rounded_sql(expression, 'width')} AS value, count(*) AS n
        FROM telemetry WHERE {COMPARE_WHERE} AND {expression} IS NOT NULL
        GROUP BY ALL ORDER BY version, value"""


# The same counts and bins from a dataset's rollups (telemetry_hourly, telemetry_daily_values) over whole days.
COMPARE_ROLLUP_WHERE = "model = $model AND version IN ($a, $b) AND {time} >= $start AND {time} < $end"
COMPARE_COUNTS_ROLLUP_SQL = f"""
    SELECT version, sum(n) AS n, sum(failures) AS errors, sum(labelled) AS labelled, sum(correct) AS correct
    FROM telemetry_hourly WHERE {COMPARE_ROLLUP_WHERE.format(time="hour")} GROUP BY version"""
COMPARE_BINS_ROLLUP_SQL = f"""
    SELECT version, value, sum(n) AS n FROM telemetry_daily_values
    WHERE {COMPARE_ROLLUP_WHERE.format(time="day")} AND measure = $measure
    GROUP BY ALL ORDER BY version, value"""
OVERLAP_WINDOW_ROLLUP_SQL = """
    SELECT max(first_day), min(last_day), count(*) FROM (
        SELECT min(first_ts)::DATE AS first_day, max(last_ts)::DATE AS last_day
        FROM telemetry_hourly WHERE model = $model AND version IN ($a, $b) GROUP BY version)"""


# The first and last day each of versions $a and $b served predictions, reduced to their overlap.
OVERLAP_WINDOW_SQL = """
    SELECT max(first_day), min(last_day), count(*) FROM (
        SELECT min(ts)::DATE AS first_day, max(ts)::DATE AS last_day
        FROM telemetry WHERE model = $model AND version IN ($a, $b) GROUP BY version)"""


# --- Explore (explore.py) -------------------------------------------------------------------------------

EXPLORE_MEASURES = {
    "predictions": MEASURE_SQL["n"],
    "accuracy": MEASURE_SQL["accuracy"],
    "precision": MEASURE_SQL["precision"],
    "recall": MEASURE_SQL["recall"],
    "label_coverage": MEASURE_SQL["label_coverage"],
    "error_rate": MEASURE_SQL["error_rate"],
    "failures": MEASURE_SQL["failures"],
    "latency_p50_ms": "quantile_cont(latency_ms, 0.5) FILTER (WHERE NOT is_error)",
    "latency_p95_ms": "quantile_cont(latency_ms, 0.95) FILTER (WHERE NOT is_error)",
    "latency_p99_ms": "quantile_cont(latency_ms, 0.99) FILTER (WHERE NOT is_error)",
    "mean_score": "avg(score)",
    "approval_rate": "avg(prediction)",
    "cpu_pct": MEASURE_SQL["cpu_pct"],
    "memory_mb": MEASURE_SQL["memory_mb"],
    "cost_per_1k_usd": MEASURE_SQL["cost_per_1k_usd"],
    "cost_usd": "sum(cost_usd)",
    "approved_volume_usd": MEASURE_SQL["approved_volume_usd"],
    "expected_value_usd": MEASURE_SQL["expected_value_usd"],
}
EXPLORE_DIMENSIONS = {  # name -> SQL expression over telemetry
    "model": "model", "version": "version", "segment": "segment", "prediction": "prediction",
    "label": "label", "is_error": "is_error", "hour_of_day": "hour(ts)", "weekday": "dayname(ts)",
}


def explore_sql(*, measure: str, dimensions, grain: str | None, filters) -> str:
    """One aggregate of `measure` per group of `dimensions` (and period of `grain`) over [$start, $end).

    measure and dimensions are keys of EXPLORE_MEASURES and EXPLORE_DIMENSIONS and grain one of the KPI
    grains or None, all checked by the caller. filters are (parameter, column) pairs: the column's value must
    be in the list bound as $parameter. At most $cap rows.
    """
    keys = ([f"date_trunc('{grain}', ts) AS period"] if grain else []) + \
        [f"{EXPLORE_DIMENSIONS[d]} AS {d}" for d in dimensions]
    where = ["ts >= $start", "ts < $end"] + \
        [f"list_contains(${parameter}, {column})" for parameter, column in filters]
    select = ", ".join(keys + [f"{EXPLORE_MEASURES[measure]} AS {measure}"])
    group = "GROUP BY ALL" if keys else ""
    order = "ORDER BY ALL" if keys else ""
    return f"SELECT {select} FROM telemetry WHERE {' AND '.join(where)} {group} {order} LIMIT $cap"


# --- drift (drift.py) -----------------------------------------------------------------------------------

# Reference value counts per feature key: (feature, json_type, value), n, and the key's first position.
DRIFT_VALUE_COLUMNS = "j.key AS feature, j.type AS json_type, j.value::VARCHAR AS value"

# Reference "training": a version's held-out evaluation set.
EVALUATION_TOTAL_SQL = "SELECT count(*) FROM evaluation_row WHERE model = $model AND version = $version"
EVALUATION_VALUES_SQL = f"""
    SELECT {DRIFT_VALUE_COLUMNS}, count(*) AS n, min(j.id) AS position
    FROM evaluation_row e, json_each(e.features) j
    WHERE e.model = $model AND e.version = $version
    GROUP BY ALL"""
EVALUATION_SCORES_SQL = """
    SELECT score, count(*) AS n FROM evaluation_row
    WHERE model = $model AND version = $version AND score IS NOT NULL AND isfinite(score)
    GROUP BY score ORDER BY score"""

# Reference period: a version's own telemetry in [$start, $end).
REFERENCE_WHERE = "model = $model AND version = $version AND ts >= $start AND ts < $end"
REFERENCE_TOTAL_SQL = f"SELECT count(*) FROM telemetry WHERE {REFERENCE_WHERE}"
REFERENCE_VALUES_SQL = f"""
    WITH r AS (SELECT input_id, count(*) AS n FROM telemetry WHERE {REFERENCE_WHERE} GROUP BY input_id)
    SELECT {DRIFT_VALUE_COLUMNS}, sum(r.n)::BIGINT AS n, min(j.id) AS position
    FROM r JOIN telemetry_input ti ON ti.model = $model AND ti.input_id = r.input_id,
         json_each(ti.features) j
    GROUP BY ALL"""
REFERENCE_SCORES_SQL = f"""
    SELECT score, count(*) AS n FROM telemetry
    WHERE {REFERENCE_WHERE} AND NOT is_error AND score IS NOT NULL AND isfinite(score)
    GROUP BY score ORDER BY score"""

# The same counts from a dataset's rollups (telemetry_daily_inputs: rows n and labels n_label per model, version,
# day, input, score and is_error; telemetry_hourly: first_ts and last_ts per hour), for a period of whole days: sums
# of the very counts the row queries make, so every figure drift derives from them is identical.
ROLLUP_WHERE = "model = $model AND version = $version AND day >= $start AND day < $end"
REFERENCE_TOTAL_ROLLUP_SQL = f"SELECT coalesce(sum(n), 0)::BIGINT FROM telemetry_daily_inputs WHERE {ROLLUP_WHERE}"
REFERENCE_VALUES_ROLLUP_SQL = f"""
    WITH r AS (SELECT input_id, sum(n) AS n FROM telemetry_daily_inputs WHERE {ROLLUP_WHERE} GROUP BY input_id)
    SELECT {DRIFT_VALUE_COLUMNS}, sum(r.n)::BIGINT AS n, min(j.id) AS position
    FROM r JOIN telemetry_input ti ON ti.model = $model AND ti.input_id = r.input_id,
         json_each(ti.features) j
    GROUP BY ALL"""
REFERENCE_SCORES_ROLLUP_SQL = f"""
    SELECT score, sum(n)::BIGINT AS n FROM telemetry_daily_inputs
    WHERE {ROLLUP_WHERE} AND NOT is_error AND score IS NOT NULL AND isfinite(score)
    GROUP BY score ORDER BY score"""
VERSION_SPAN_ROLLUP_SQL = ("SELECT min(first_ts), max(last_ts) FROM telemetry_hourly "
                           "WHERE model = $model AND version = $version")
# drift.py picks one set of statements per read: rows, or (for a dataset that keeps rollups) rollups.
DRIFT_READS = {
    False: {"total": REFERENCE_TOTAL_SQL, "values": REFERENCE_VALUES_SQL, "scores": REFERENCE_SCORES_SQL,
            "span": VERSION_SPAN_SQL},
    True: {"total": REFERENCE_TOTAL_ROLLUP_SQL, "values": REFERENCE_VALUES_ROLLUP_SQL,
           "scores": REFERENCE_SCORES_ROLLUP_SQL, "span": VERSION_SPAN_ROLLUP_SQL},
}


def json_structure(inputs) -> str:
    """The json_transform structure of the inputs, bound as a parameter: each feature parsed once per input.

    inputs are drift features (.name, .kind). json_transform is lenient: a number given as a string ("12")
    counts as the number, any other non-number in a numeric feature as missing, and a categorical feature's
    numbers, booleans and nested values as their JSON text (as the reference's are).
    """
    return json.dumps({f.name: ("DOUBLE" if f.kind == "numeric" else "VARCHAR") for f in inputs})


def bin_case(value: str, prefix: str, edges: np.ndarray, params: dict) -> str:
    """Right-closed bin of `value` against bound edges: 0 for x <= e1, ..., len(edges) for x > e_last; -1 missing.

    Binds each edge into params as ${prefix}_{k}.
    """
    parts = [f"CASE WHEN {value} IS NULL OR NOT isfinite({value}) THEN -1"]
    for k, edge in enumerate(edges):
        params[f"{prefix}_{k}"] = float(edge)
        parts.append(f"WHEN {value} <= ${prefix}_{k} THEN {k}")
    parts.append(f"ELSE {len(edges)} END")
    return " ".join(parts)


def distinct_values_sql(positions) -> str:
    """How many distinct values the features at these 0-based positions of $structure take among $model's inputs."""
    columns = ", ".join(f"count(DISTINCT struct_extract_at(v, {i + 1}))" for i in positions)
    return f"""
        SELECT {columns} FROM (
            SELECT json_transform(features, $structure) AS v FROM telemetry_input WHERE model = $model)"""


# Drift's rows per (period, input, score, is_error) in the current window, and labels among them: from the rows, and
# from the daily rollup. The rollup's rows are taken as they are, not grouped again per period: every part of the
# statement sums n and n_label per period and coarser keys, filtered on is_error and score alone, so the sums are the
# same, and regrouping millions of nearly unique keys cost most of the 3.3 s of a 90-day page of 100M rows.
PER_INPUT_SQL = """
            SELECT date_trunc($grain, ts) AS period, input_id, score, is_error,
                   count(*) AS n, count(label) AS n_label
            FROM telemetry
            WHERE model = $model AND version = $version AND ts >= $start AND ts < $end
            GROUP BY ALL"""
PER_INPUT_ROLLUP_SQL = f"""
            SELECT date_trunc($grain, day)::TIMESTAMP AS period, input_id, score, is_error, n, n_label
            FROM telemetry_daily_inputs
            WHERE {ROLLUP_WHERE}"""

# Over the daily rollup drift counts the features in numpy (drift._feature_counts) from the rollup's rows per (period's
# day number, input) and the inputs' bins (input_codes_sql): a hash aggregate per (period, input) over millions of
# rollup rows is slow where numpy's bincount over dense positions is not. The rows with no input are the rest of each
# period's rows (and leaving them out keeps input_id a plain integer column, quicker to hand over than a nullable one).
PER_INPUT_DAY_ROLLUP_SQL = f"""
    SELECT (date_trunc($grain, day)::DATE - DATE '1970-01-01')::INTEGER AS period_day, input_id, n
    FROM telemetry_daily_inputs
    WHERE {ROLLUP_WHERE} AND input_id IS NOT NULL"""


def current_counts_sql(inputs, score_edges: np.ndarray, params: dict, *,
                       rollups: bool = False) -> tuple[str, dict[tuple, int]]:
    """Drift's one query over the current window, and the number of each part of its result.

    inputs are drift features (.kind, .index, .values, .by_value, .edges); score_edges the score's bin edges.
    params must hold $model, $version, $start, $end and $grain; the categories, bin edges and the
    json_transform $structure are bound into it here. The result is one long table (part, period, value, n,
    n_ok, n_labelled, n_scored); see drift._current_counts for what each part holds.

    rollups: count per input from the daily rollup (telemetry_daily_inputs) instead of the rows, for a dataset that
    keeps rollups and a window of whole days; periods are days or weeks, so summing whole days gives the same counts.

    Feature names reach the SQL only inside the bound json_transform structure; the SQL text holds
    positional column names (f0, f1 ...) and parameter names, nothing else.
    """
    parts: dict[tuple, int] = {("totals",): 0}
    branches = ["SELECT 0 AS part, period, NULL::DOUBLE AS value, sum(n)::BIGINT AS n, "
                "(sum(n) FILTER (WHERE NOT is_error))::BIGINT AS n_ok, "
                "(sum(n_label) FILTER (WHERE NOT is_error))::BIGINT AS n_labelled, "
                "(sum(n) FILTER (WHERE NOT is_error AND sbin >= 0))::BIGINT AS n_scored "
                "FROM joined GROUP BY period"]

    def branch(key: tuple, select: str, group: str, where: str = "") -> None:
        parts[key] = len(parts)
        branches.append(f"SELECT {parts[key]}, {select}, sum(n), NULL, NULL, NULL FROM joined {where} "
                        f"GROUP BY {group}")

    binned = _binned_columns(inputs, params)
    for f in inputs:
        i = f.index
        if f.kind == "numeric" and not f.by_value:
            branch(("w", i), f"NULL, w{i}", f"w{i}", f"WHERE w{i} IS NOT NULL")
        branch(("f", i), f"period, f{i}::DOUBLE", f"period, f{i}")
    branch(("sbin",), "period, sbin::DOUBLE", "period, sbin", "WHERE NOT is_error AND sbin >= 0")
    branch(("score",), "NULL, score", "score", "WHERE NOT is_error AND sbin >= 0")
    score_bin = bin_case("per_input.score", "s", score_edges, params)
    if inputs:
        params["structure"] = json_structure(inputs)
        joined = f"""
            SELECT per_input.* EXCLUDE (input_id), inputs.* EXCLUDE (input_id), {score_bin} AS sbin
            FROM per_input LEFT JOIN (
                SELECT input_id, {', '.join(binned)} FROM (
                    SELECT input_id, json_transform(features, $structure) AS v
                    FROM telemetry_input WHERE model = $model)
            ) AS inputs USING (input_id)"""
    else:
        joined = f"SELECT per_input.* EXCLUDE (input_id), {score_bin} AS sbin FROM per_input"
    union = "\n        UNION ALL ".join(branches)
    per_input = PER_INPUT_ROLLUP_SQL if rollups else PER_INPUT_SQL
    sql = f"""
        WITH per_input AS ({per_input}
        ), joined AS MATERIALIZED ({joined}
        )
        {union}"""
    return sql, parts


def _binned_columns(inputs, params: dict) -> list[str]:
    """Each input's features over `v` (json_transform's struct) as drift counts them: f<i> the category's code (1..
    reference categories, 0 unseen, -1 missing), the number itself (counted per value) or its bin (-1 missing);
    w<i> the number of a feature counted per bin. Binds the categories and bin edges into params."""
    binned = []
    for f in inputs:
        i = f.index
        value = f"struct_extract_at(v, {i + 1})"
        if f.kind == "categorical":
            params[f"c{i}"] = [str(v) for v in f.values]
            binned.append(f"CASE WHEN {value} IS NULL THEN -1 "
                          f"ELSE coalesce(list_position($c{i}, {value}), 0) END AS f{i}")
        elif f.by_value:
            binned.append(f"{value} AS f{i}")
        else:
            binned.append(f"{bin_case(value, f'e{i}', f.edges, params)} AS f{i}")
            binned.append(f"{value} AS w{i}")
    return binned


def input_codes_sql(inputs, params: dict) -> str:
    """The model's inputs as drift bins them: input_id, then f<i> and w<i> as current_counts_sql joins them to its
    rows. Binds $structure, the categories and the bin edges into params."""
    params["structure"] = json_structure(inputs)
    columns = ", ".join(_binned_columns(inputs, params))
    return f"""
        SELECT input_id, {columns}
        FROM (SELECT input_id, json_transform(features, $structure) AS v FROM telemetry_input WHERE model = $model)"""


# --- data quality (data_quality.py) --------------------------------------------------------------------

# Rows of one version in [$start, $end): one hash over every column, so that exact duplicate rows (the same
# prediction logged or ingested twice) are counted as count(*) - count(DISTINCT hash). A 64-bit hash collides
# by chance with probability about rows^2 / 2^65 (3e-6 at 10 million rows): negligible for a share judged in
# tenths of a percent. Duplicates share their ts, hence their period, so per-period counts add up.
# Label coverage counts successful requests served before $due_before (older ones' labels are due).
QUALITY_ROWS_SQL = """
    SELECT date_trunc($grain, ts) AS period, count(*) AS n,
           count(DISTINCT hash(ts, model, version, segment, input_id, prediction, score, label, latency_ms,
                               is_error, cpu_pct, memory_mb, cost_usd, approved_volume_usd, expected_value_usd))
               AS n_distinct,
           count(*) FILTER (WHERE NOT is_error AND ts < $due_before) AS n_due,
           count(label) FILTER (WHERE NOT is_error AND ts < $due_before) AS n_due_labelled,
           count(*) FILTER (WHERE NOT is_error) AS n_ok,
           min(ts) AS oldest, max(ts) AS newest,
           max(ts) FILTER (WHERE label IS NOT NULL AND NOT is_error) AS newest_labelled
    FROM telemetry
    WHERE model = $model AND version = $version AND ts >= $start AND ts < $end
    GROUP BY ALL ORDER BY period"""

# The newest prediction of a model (any version): labels arrive by calendar time, whichever version served.
QUALITY_NEWEST_SQL = "SELECT max(ts) FROM telemetry WHERE model = $model"

# Input codes of data_quality (one small integer per row and feature).
QUALITY_OK, QUALITY_OUTSIDE, QUALITY_NULL, QUALITY_WRONG_KIND, QUALITY_ABSENT, QUALITY_NO_INPUT = range(6)


def quality_counts_sql(inputs, params: dict) -> str:
    """Data quality's one query over a version's inputs in a window: rows per (feature, period, code), and rows
    per input key.

    inputs are (index, kind, minimum, maximum, categories) per expected feature, in the order of the bound
    $paths (JSON paths '$.name', bound here from the caller's names in params["paths"]). Each distinct
    telemetry_input is parsed once (json_type and json_extract_string over all the paths at once) and coded
    per feature: QUALITY_OK (a usable value inside the reference range / a reference category),
    QUALITY_OUTSIDE (outside the reference min..max / a category the reference never saw), QUALITY_NULL (JSON
    null), QUALITY_WRONG_KIND (numeric: not a number, nor a number in a string; categorical: an object or
    array), QUALITY_ABSENT (the key is not in the record); a row without a recorded input gets
    QUALITY_NO_INPUT. Then rows are counted per (period, input) and joined, so millions of rows never leave
    DuckDB: the result has at most features x periods x 6 rows, plus one per input key (part 1).

    params must hold $model, $version, $start, $end, $grain and $paths; the bounds and categories are bound
    into it here as $lo{i}, $hi{i}, $c{i}. The SQL text holds positional names (q0, q1 ...) and parameter
    names, nothing else.
    """
    codes = []
    for i, kind, minimum, maximum, categories in inputs:
        t, s = f"t[{i + 1}]", f"s[{i + 1}]"
        head = (f"CASE WHEN {t} IS NULL THEN {QUALITY_ABSENT} WHEN {t} = 'NULL' THEN {QUALITY_NULL} ")
        if kind == "numeric":
            params[f"lo{i}"], params[f"hi{i}"] = float(minimum), float(maximum)
            value = f"TRY_CAST({s} AS DOUBLE)"
            codes.append(head + f"WHEN {t} IN ('OBJECT', 'ARRAY') OR {value} IS NULL OR NOT isfinite({value}) "
                         f"THEN {QUALITY_WRONG_KIND} "
                         f"WHEN {value} < $lo{i} OR {value} > $hi{i} THEN {QUALITY_OUTSIDE} "
                         f"ELSE {QUALITY_OK} END AS q{i}")
        else:
            params[f"c{i}"] = [str(c) for c in categories]
            codes.append(head + f"WHEN {t} IN ('OBJECT', 'ARRAY') THEN {QUALITY_WRONG_KIND} "
                         f"WHEN list_contains($c{i}, {s}) THEN {QUALITY_OK} ELSE {QUALITY_OUTSIDE} END AS q{i}")
    branches = [f"SELECT 0 AS part, {i} AS feature, NULL::VARCHAR AS key, period, "
                f"coalesce(q{i}, {QUALITY_NO_INPUT}) AS code, sum(n)::BIGINT AS n FROM joined GROUP BY ALL"
                for i, *_ in inputs]
    branches.append("SELECT 1, NULL, k.key, NULL, NULL, sum(r.n)::BIGINT "
                    "FROM (SELECT input_id, sum(n) AS n FROM per_input GROUP BY input_id) AS r "
                    "JOIN parsed USING (input_id), unnest(parsed.keys) AS k(key) GROUP BY ALL")
    coded = ", ".join(codes)
    union = "\n        UNION ALL ".join(branches)
    return f"""
        WITH per_input AS MATERIALIZED (
            SELECT date_trunc($grain, ts) AS period, input_id, count(*) AS n
            FROM telemetry
            WHERE model = $model AND version = $version AND ts >= $start AND ts < $end
            GROUP BY ALL
        ), parsed AS MATERIALIZED (
            SELECT input_id, json_type(features, $paths) AS t, json_extract_string(features, $paths) AS s,
                   CASE WHEN json_type(features) = 'OBJECT' THEN json_keys(features) ELSE [] END AS keys
            FROM telemetry_input
            WHERE model = $model AND input_id IN (SELECT DISTINCT input_id FROM per_input)
        ), joined AS MATERIALIZED (
            SELECT per_input.period, per_input.n, coded.*
            FROM per_input LEFT JOIN (SELECT input_id, {coded} FROM parsed) AS coded USING (input_id)
        )
        {union}"""


# --- service levels (service_levels.py) -----------------------------------------------------------------

# Per version and hour, the events and bad events of each objective's error budget: requests and failed requests
# (error rate), labelled and correct predictions (accuracy; the KPIs' own definitions), and successful requests and
# those slower than $latency_target_ms (latency: the objective "95% of successful requests within T ms"; a NULL
# target counts none). The hour's p95 is the worst value a breach reports. Read from the raw rows: the slow count
# depends on the target, which the hourly rollup cannot know.
SLO_HOURLY_SQL = f"""
    SELECT version, date_trunc('hour', ts) AS hour, {COUNT_SQL['n']} AS n, {COUNT_SQL['failures']} AS failures,
           {COUNT_SQL['labelled']} AS labelled, {COUNT_SQL['correct']} AS correct,
           count(*) FILTER (WHERE NOT is_error) AS n_ok,
           count(*) FILTER (WHERE NOT is_error AND latency_ms > $latency_target_ms) AS slow,
           quantile_cont(latency_ms, 0.95) FILTER (WHERE NOT is_error) AS latency_p95_ms
    FROM telemetry WHERE {KPI_WHERE}
    GROUP BY ALL ORDER BY version, hour"""


# --- data quality's reference (data_quality.py) ------------------------------------------------------------------

# How many distinct inputs a version's evaluation set has, and its sensitive attributes' names.
QUALITY_EVALUATION_SQL = """
        SELECT count(DISTINCT features),
               list_sort(list_distinct(flatten(list(json_keys(sensitive)))))
        FROM evaluation_row WHERE model = $model AND version = $version"""


# --- telemetry sources: a Parquet dataset read in place, and written (telemetry_sources.py) -------------------

# The columns of a dataset's first file.
DATASET_COLUMNS_SQL = "DESCRIBE SELECT * FROM read_parquet($file, hive_partitioning = true)"
# What the relations read become over a dataset's files: the partitions of the window ($telemetry_files; with
# none, no rows but the dataset's columns) and the inputs' file ($input_file).
DATASET_INPUTS_SQL = "SELECT * FROM read_parquet($input_file)"
# A dataset without a single file yet: no rows, with the columns of the workspace's own (empty-shaped) tables.
NO_TELEMETRY_SQL = "SELECT * FROM main.telemetry WHERE false"
NO_INPUTS_SQL = "SELECT * FROM main.telemetry_input WHERE false"


def dataset_telemetry_sql(partition: str, *, empty: bool) -> str:
    return (f"SELECT * EXCLUDE ({partition}) FROM read_parquet($telemetry_files, hive_partitioning = true)"
            f"{' WHERE false' if empty else ''}")


def pushed_part_sql(name: str) -> str:
    """A part of a statement computed by Spark, read back by DuckDB from the frame registered as `name`."""
    return f"SELECT * FROM {name}"


# --- the lake's rollups (lake_rollup.py): one partition's summaries, and the relations read from them -------------

# The latency objectives' steps: a latency's step is k when it lies in (edge(k - 1), edge(k)], the edges every 10 ms
# up to 1 s and every 100 ms up to 10 s (lake_rollup.latency_step). Kept beside the sketch's bins, so that the
# successful requests slower than an objective's target on an edge (250 ms, 1 s) are counted exactly from rollups.
LATENCY_STEP_SQL = ("CASE WHEN latency_ms <= 1000 THEN ceil(latency_ms / 10) "
                    "WHEN latency_ms <= 10000 THEN 100 + ceil((latency_ms - 1000) / 100) ELSE 191 END")

# Built once per day partition, each over the relation `telemetry` (that partition's rows), and written beside it.
# Pages read the relations of the same names: the rollup files of the partitions that have one, UNION ALL the same
# statement over the rows of those that have none, so a figure is the same either way.
#   telemetry_hourly        COUNT_SQL's counts and the first and last prediction, per model, version, hour, segment
#   telemetry_latency       the latency sketch of successful requests: DDSketch's logarithmic bins of relative
#                           precision $gamma = (1 + a) / (1 - a), each bin's representative value and count
#                           (compare_bins_sql's latency branch, per hour and segment)
#   telemetry_daily_inputs  drift's per-input counts at the day grain (current_counts_sql's per_input)
#   telemetry_daily_values  the A/B comparison's bins per day (compare_bins_sql's, every measure: `measure`)
ROLLUP_SQL = {
    "telemetry_hourly": f"""
        SELECT model, version, date_trunc('hour', ts) AS hour, segment, min(ts) AS first_ts, max(ts) AS last_ts,
               {COUNTS}
        FROM telemetry GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
    "telemetry_latency": f"""
        SELECT model, version, hour, segment, {bin_value_sql('gamma')} AS value, step, count(*) AS n
        FROM (SELECT model, version, date_trunc('hour', ts) AS hour, segment, {latency_bin_sql('gamma')} AS bin,
                     {LATENCY_STEP_SQL} AS step
              FROM telemetry WHERE NOT is_error AND latency_ms IS NOT NULL) AS binned
        GROUP BY model, version, hour, segment, bin, step ORDER BY 1, 2, 3, 4, 5, 6""",
    "telemetry_daily_inputs": """
        SELECT model, version, CAST(ts AS DATE) AS day, input_id, score, is_error, count(*) AS n,
               count(label) AS n_label
        FROM telemetry GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6""",
    "telemetry_daily_values": f"""
        SELECT model, version, day, measure, value, count(*) AS n FROM (
            SELECT model, version, CAST(ts AS DATE) AS day, 'latency_ms' AS measure,
                   {bin_value_sql('compare_gamma')} AS value
            FROM (SELECT *, {latency_bin_sql('compare_gamma')} AS bin FROM telemetry) AS binned
            WHERE NOT is_error AND latency_ms IS NOT NULL
            """ + "".join(f"""
            UNION ALL
            SELECT model, version, CAST(ts AS DATE), '{measure}', {rounded_sql(expression, f'{measure}_width')}
            FROM telemetry WHERE {expression} IS NOT NULL""" for measure, (expression, _) in COMPARE_BINNED.items())
    + ") AS valued GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
}
# One partition's rows, read once into the table `telemetry` the statements above read ($files: its usable files;
# the partition column is the folder's, not the rows').
ROLLUP_LOAD_SQL = ("CREATE TEMP TABLE telemetry AS SELECT * EXCLUDE (date) FROM read_parquet($files, "
                   "union_by_name = true, hive_partitioning = true)")
# A partition without one usable file (or rolled up by Spark): the telemetry columns, no rows.
ROLLUP_EMPTY_SQL = """CREATE TEMP TABLE telemetry (
    ts TIMESTAMP, model VARCHAR, version VARCHAR, segment VARCHAR, input_id BIGINT, prediction TINYINT, score DOUBLE,
    label TINYINT, latency_ms DOUBLE, is_error BOOLEAN, cpu_pct DOUBLE, memory_mb DOUBLE, cost_usd DOUBLE,
    approved_volume_usd DOUBLE, expected_value_usd DOUBLE)"""
# Spark's result of a statement (the frame spark_result), typed as DuckDB's statement types it.
ROLLUP_FROM_FRAME_SQL = "INSERT INTO rollup_result BY NAME SELECT * FROM spark_result"
ROLLUP_ROWS_SQL = "SELECT coalesce(sum(n), 0) FROM rollup_result"


def rollup_result_sql(relation: str) -> str:
    """One relation's rollup as the table rollup_result (`relation` a key of ROLLUP_SQL)."""
    return f"CREATE OR REPLACE TEMP TABLE rollup_result AS {ROLLUP_SQL[relation]}"


def rollup_write_sql(target: str) -> str:
    return f"COPY rollup_result TO '{target}' (FORMAT parquet, COMPRESSION zstd)"


# A rollup relation over its files ($<relation>_files), and the rows of the partitions without one ($rollup_rows).
def rollup_files_sql(relation: str) -> str:
    return f"SELECT * FROM read_parquet(${relation}_files)"


def union_sql(parts: list[str]) -> str:
    """Statements of the same columns, in any order, as one relation."""
    return " UNION ALL BY NAME ".join(f"SELECT * FROM ({part})" for part in parts)


ROLLUP_ROWS_RELATION_SQL = ("SELECT * EXCLUDE (date) FROM read_parquet($rollup_rows, union_by_name = true, "
                            "hive_partitioning = true)")


# The KPI page over a lake: the counts per version and period from telemetry_hourly (the latency percentiles come
# from telemetry_latency, merged per period by kpis), the latency histogram of a window, and the data's span.
KPI_SERIES_ROLLUP_SQL = f"""
    SELECT version, date_trunc($grain, hour) AS period, {SUMS}
    FROM telemetry_hourly
    WHERE model = $model AND ($version IS NULL OR version = $version) AND hour >= $start AND hour < $end
    GROUP BY ALL ORDER BY version, period"""
LATENCY_SKETCH_SQL = """
    SELECT version, date_trunc($grain, hour) AS period, value AS latency_ms, sum(n) AS n
    FROM telemetry_latency
    WHERE model = $model AND ($version IS NULL OR version = $version) AND hour >= $start AND hour < $end
    GROUP BY ALL ORDER BY version, period, latency_ms"""
LATENCY_SKETCH_WINDOW_SQL = """
    SELECT version, value AS latency_ms, sum(n) AS n
    FROM telemetry_latency
    WHERE model = $model AND ($version IS NULL OR version = $version) AND hour >= $start AND hour < $end
    GROUP BY ALL ORDER BY version, latency_ms"""
# Service levels' hourly counts from the rollups (SLO_HOURLY_SQL's columns but the p95, which kpis merges from
# the sketches): slow = successful requests in steps above $latency_step (the target's; NULL: no objective).
ROLLUP_HOURLY_WHERE = "model = $model AND ($version IS NULL OR version = $version) AND hour >= $start AND hour < $end"
SLO_HOURLY_ROLLUP_SQL = f"""
    WITH counts AS (
        SELECT version, hour, sum(n)::BIGINT AS n, sum(failures)::BIGINT AS failures,
               sum(labelled)::BIGINT AS labelled, sum(correct)::BIGINT AS correct
        FROM telemetry_hourly WHERE {ROLLUP_HOURLY_WHERE} GROUP BY version, hour),
    slow AS (
        SELECT version, hour, coalesce(sum(n) FILTER (WHERE step > $latency_step), 0)::BIGINT AS slow
        FROM telemetry_latency WHERE {ROLLUP_HOURLY_WHERE} GROUP BY version, hour)
    SELECT version, hour, n, failures, labelled, correct, n - failures AS n_ok, coalesce(slow, 0) AS slow
    FROM counts LEFT JOIN slow USING (version, hour) ORDER BY version, hour"""
LATENCY_HOURLY_SKETCH_SQL = f"""
    SELECT version, hour, value AS latency_ms, sum(n) AS n FROM telemetry_latency WHERE {ROLLUP_HOURLY_WHERE}
    GROUP BY ALL ORDER BY version, hour, latency_ms"""
DATA_WINDOW_ROLLUP_SQL = "SELECT min(first_ts), max(last_ts) FROM telemetry_hourly WHERE model = $model"


# A model's rows, exported as a dataset into the folders `target` (quoted by the caller) and `inputs`.
def export_telemetry_sql(partition: str, target: str) -> str:
    return (f"COPY (SELECT *, ts::DATE AS {partition} FROM telemetry WHERE model = $model ORDER BY ts) "
            f"TO '{target}' (FORMAT parquet, PARTITION_BY ({partition}))")


def export_inputs_sql(target: str) -> str:
    return f"COPY (SELECT * FROM telemetry_input WHERE model = $model) TO '{target}' (FORMAT parquet)"


MODEL_ROWS_SQL = "SELECT count(*) FROM telemetry WHERE model = $model"
MODEL_ROW_COUNT_SQL = "SELECT count(*) AS n FROM telemetry WHERE model = $model"


# --- ingest (ingest.py): a checked file's rows and its quarantined rows (its own record: repositories.ingests) -

def ingest_telemetry_sql(columns: str) -> str:
    return (f"INSERT INTO telemetry BY NAME SELECT {columns}, ? AS model, ? AS version "
            "FROM read_parquet(?) WHERE reason IS NULL")


INGEST_QUARANTINE_SQL = ("INSERT INTO ingest_quarantine BY NAME SELECT ? AS file_sha256, ? AS model, ? AS version, "
                         "row_number, problem_columns, reason, raw_row FROM read_parquet(?) WHERE reason IS NOT NULL")


# --- the SQL console's sandbox (sql_sandbox.py) -------------------------------------------------------------------

SANDBOX_PARSE_SQL = "SELECT json_serialize_sql(?)"
SANDBOX_ATTACH_SQL = "ATTACH ? AS snapshot (READ_ONLY)"


def sandbox_view_sql(table: str) -> str:
    """A read-only view of one snapshot table, under its own name (`table` from the sandbox's fixed list)."""
    return f"CREATE VIEW {table} AS SELECT * FROM snapshot.{table}"


# The SQL console's starting query, shown in its editor for the analyst to change.
CONSOLE_EXAMPLE = ("SELECT model, version, date_trunc('week', ts) AS week, count(*) AS predictions,\n"
                   "       avg(is_error::INT) AS error_rate\nFROM telemetry\nGROUP BY ALL\nORDER BY ALL")


# --- performance estimated from scores (performance_estimate.py) ---------------------------------------------------

# The reference: a version's held-out evaluation set, each row's score, outcome and prediction (a few thousand rows).
ESTIMATE_REFERENCE_SQL = """
    SELECT score, y_true, y_pred FROM evaluation_row
    WHERE model = $model AND version = $version AND score IS NOT NULL AND isfinite(score) AND y_true IS NOT NULL"""
# How many successful predictions each distinct score had, per version and period ($grain: day or week): the scores
# are all an estimate needs. From the rows, and from a dataset's daily rollup (the same counts, summed per period).
ESTIMATE_SCORES_SQL = f"""
    SELECT version, date_trunc($grain, ts) AS period, score, count(*) AS n, count(label) AS n_label
    FROM telemetry WHERE {KPI_WHERE} AND NOT is_error AND score IS NOT NULL AND isfinite(score)
    GROUP BY ALL ORDER BY version, period, score"""
ESTIMATE_SCORES_ROLLUP_SQL = """
    SELECT version, date_trunc($grain, day)::TIMESTAMP AS period, score, sum(n)::BIGINT AS n,
           sum(n_label)::BIGINT AS n_label
    FROM telemetry_daily_inputs
    WHERE model = $model AND ($version IS NULL OR version = $version) AND day >= $start AND day < $end
      AND NOT is_error AND score IS NOT NULL AND isfinite(score)
    GROUP BY ALL ORDER BY version, period, score"""
# The outcomes that did arrive, per version, period, score, prediction and outcome: the realised figures (with
# COUNT_SQL's filters: successful requests with a label) and the calibration check on recent labels.
ESTIMATE_REALISED_SQL = f"""
    SELECT version, date_trunc($grain, ts) AS period, score, prediction, label, count(*) AS n
    FROM telemetry WHERE {KPI_WHERE} AND NOT is_error AND label IS NOT NULL
    GROUP BY ALL ORDER BY version, period, score"""
