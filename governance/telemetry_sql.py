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

import numpy as np

# --- the hourly rollup (telemetry_hourly) --------------------------------------------------------------
# The counts and sums behind every KPI, per model, version and hour. KPI views read their counts from it (a
# few thousand rows instead of millions) and scan the raw rows only for latency percentiles, which do not add
# up. GovernanceStore rebuilds it inside every transaction that writes `telemetry`, so it cannot disagree
# with the rows.

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

# Rebuilt whole: at 10 million rows that is about half a second, paid once per ingest, never per page view.
REBUILD_SQL = (
    "DELETE FROM telemetry_hourly",
    f"INSERT INTO telemetry_hourly SELECT model, version, date_trunc('hour', ts) AS hour, {COUNTS} "
    "FROM telemetry GROUP BY ALL",
)
# The same counts over any grain, summed from the rollup.
SUMS = ",\n".join(f"sum({name}) AS {name}" for name in COUNT_SQL)


# --- KPIs (kpis.py; service levels read them through kpi_series) --------------------------------------

HEADLINE_SQL = """
WITH bounds AS (SELECT model, max(ts) AS window_end FROM telemetry GROUP BY model)
SELECT t.model, b.window_end,
       count(*)                                                         AS predictions,
       avg(t.is_error::INTEGER)                                         AS error_rate,
       quantile_cont(t.latency_ms, 0.95)                                AS latency_p95_ms,
       avg((t.prediction = t.label)::INTEGER) FILTER (WHERE t.label IS NOT NULL AND NOT t.is_error) AS accuracy,
       count(t.label) / count(*)                                        AS label_coverage,
       1000 * avg(t.cost_usd)                                           AS cost_per_1k_usd,
       sum(t.expected_value_usd)                                        AS expected_value_usd
FROM telemetry t JOIN bounds b USING (model)
WHERE t.ts > b.window_end - to_days($window_days)
GROUP BY t.model, b.window_end
ORDER BY t.model
"""

DAILY_VOLUME_SQL = """
    SELECT model, version, date_trunc('day', ts) AS day, count(*) AS predictions
    FROM telemetry GROUP BY ALL ORDER BY model, version, day"""

DATA_WINDOW_SQL = "SELECT min(ts), max(ts) FROM telemetry WHERE model = $model"

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
    SELECT version, count(*) AS n, count(*) FILTER (WHERE is_error) AS errors,
           count(*) FILTER (WHERE label IS NOT NULL AND NOT is_error) AS labelled,
           count(*) FILTER (WHERE prediction = label) AS correct
    FROM telemetry WHERE {COMPARE_WHERE} GROUP BY version"""

# measure -> (SQL expression, bin width): fine enough for the figures shown, coarse enough to be fast
COMPARE_BINNED = {
    "latency_ms": ("latency_ms", 1.0),
    "cost_usd": ("cost_usd", 0.00001),
    "expected_value_usd": ("expected_value_usd", 0.5),
}


def compare_bins_sql(measure: str) -> str:
    """Per version, the measure (a key of COMPARE_BINNED) rounded to bins of width $width, and each bin's count."""
    expression, _ = COMPARE_BINNED[measure]
    ok = "" if measure != "latency_ms" else " AND NOT is_error"  # latency of successful requests only
    return f"""
        SELECT version, round({expression} / $width) * $width AS value, count(*) AS n
        FROM telemetry WHERE {COMPARE_WHERE}{ok} AND {expression} IS NOT NULL
        GROUP BY ALL ORDER BY version, value"""


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


def current_counts_sql(inputs, score_edges: np.ndarray, params: dict) -> tuple[str, dict[tuple, int]]:
    """Drift's one query over the current window, and the number of each part of its result.

    inputs are drift features (.kind, .index, .values, .by_value, .edges); score_edges the score's bin edges.
    params must hold $model, $version, $start, $end and $grain; the categories, bin edges and the
    json_transform $structure are bound into it here. The result is one long table (part, period, value, n,
    n_ok, n_labelled, n_scored); see drift._current_counts for what each part holds.

    Feature names reach the SQL only inside the bound json_transform structure; the SQL text holds
    positional column names (f0, f1 ...) and parameter names, nothing else.
    """
    binned = []
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
    sql = f"""
        WITH per_input AS (
            SELECT date_trunc($grain, ts) AS period, input_id, score, is_error,
                   count(*) AS n, count(label) AS n_label
            FROM telemetry
            WHERE model = $model AND version = $version AND ts >= $start AND ts < $end
            GROUP BY ALL
        ), joined AS MATERIALIZED ({joined}
        )
        {union}"""
    return sql, parts
