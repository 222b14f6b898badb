-- Where each model's telemetry is read from (governance/telemetry_sources.py): the workspace's own table (no row:
-- the default), a date-partitioned Parquet dataset queried in place, or Apache Spark. Rows are only appended: the
-- newest per model is in force, and the older ones say who pointed it where, and when.
CREATE TABLE telemetry_source (
    model     VARCHAR NOT NULL,
    kind      VARCHAR NOT NULL CHECK (kind IN ('workspace', 'parquet', 'spark')),
    location  VARCHAR,                 -- parquet: a folder of date=YYYY-MM-DD/ partitions; spark: a table or folder
    master    VARCHAR,                 -- spark: the cluster URL (local[2] when empty)
    set_by    VARCHAR NOT NULL,
    set_at    TIMESTAMP NOT NULL       -- UTC
);
