-- Reference clauses of the frameworks risks map to, loaded from data/*.csv.
CREATE TABLE framework_clause (
    framework  VARCHAR NOT NULL CHECK (framework IN ('nist', 'euaia', 'iso42001')),
    ref_id     VARCHAR NOT NULL,
    title      VARCHAR NOT NULL,
    detail     VARCHAR,
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
