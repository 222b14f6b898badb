"""The hourly rollup of telemetry: the counts and sums behind every KPI, per model, version and hour.

KPI views read their counts from it (a few thousand rows instead of millions) and scan the raw rows only
for latency percentiles, which do not add up. GovernanceStore rebuilds the affected models' rows in the
same transaction as any write to `telemetry`, so the rollup can never disagree with the rows.
"""

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
