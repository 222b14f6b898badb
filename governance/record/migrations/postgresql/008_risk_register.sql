-- Reference clauses of the frameworks risks map to, loaded from data/*.csv.
CREATE TABLE framework_clause (
    framework  VARCHAR NOT NULL CHECK (framework IN ('nist', 'euaia', 'iso42001')),
    ref_id     VARCHAR NOT NULL,
    title      VARCHAR NOT NULL,
    detail     VARCHAR,
    -- Stands for DuckDB's implicit rowid, so the same ORDER BY framework, rowid lists clauses in the order they
    -- were loaded on both engines. Last, so a positional INSERT ... VALUES of the other columns fills it by itself.
    rowid      BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (framework, ref_id)
);

-- The risk register as a log: every change is an appended event, the current state is derived from them.
-- Each event carries the hash of the one before it, so an edited or deleted event breaks the chain.
CREATE TABLE risk_event (
    seq         BIGINT PRIMARY KEY,
    risk_id     VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,       -- UTC
    actor       VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    field       VARCHAR,
    old_value   VARCHAR,          -- JSON
    new_value   VARCHAR,          -- JSON
    reason      VARCHAR,
    prev_hash   VARCHAR NOT NULL,
    event_hash  VARCHAR NOT NULL
);
