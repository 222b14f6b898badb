-- Hourly rollup of telemetry (see governance/telemetry_sql.py): every KPI count and sum per model,
-- version and hour. Rebuilt by GovernanceStore inside every transaction that writes telemetry.
CREATE TABLE telemetry_hourly (
    model                VARCHAR NOT NULL,
    version              VARCHAR NOT NULL,
    hour                 TIMESTAMP NOT NULL,
    n                    BIGINT NOT NULL,
    failures             BIGINT NOT NULL,
    labelled             BIGINT NOT NULL,
    correct              BIGINT NOT NULL,
    true_positives       BIGINT NOT NULL,
    predicted_positives  BIGINT NOT NULL,
    actual_positives     BIGINT NOT NULL,
    cpu_n                BIGINT NOT NULL,
    cpu_sum              DOUBLE,
    memory_n             BIGINT NOT NULL,
    memory_sum           DOUBLE,
    cost_n               BIGINT NOT NULL,
    cost_sum             DOUBLE,
    approved_volume_usd  DOUBLE,
    expected_value_usd   DOUBLE
);
-- Workspaces made before this migration: build the rollup of what they hold.
INSERT INTO telemetry_hourly
SELECT model, version, date_trunc('hour', ts) AS hour,
       count(*), count(*) FILTER (WHERE is_error), count(label) FILTER (WHERE NOT is_error),
       count(*) FILTER (WHERE prediction = label AND NOT is_error),
       count(*) FILTER (WHERE prediction = 1 AND label = 1 AND NOT is_error),
       count(*) FILTER (WHERE prediction = 1 AND label IS NOT NULL AND NOT is_error),
       count(*) FILTER (WHERE label = 1 AND prediction IS NOT NULL AND NOT is_error),
       count(cpu_pct), sum(cpu_pct), count(memory_mb), sum(memory_mb), count(cost_usd), sum(cost_usd),
       sum(approved_volume_usd), sum(expected_value_usd)
FROM telemetry GROUP BY ALL;
