-- The content hash of each stored evaluation set, taken when it was written, so evidence can name the data
-- it was computed on without rehashing a million rows for every audit (verification rehashes).
CREATE TABLE evaluation_set (
    model           VARCHAR NOT NULL,
    version         VARCHAR NOT NULL,
    rows            BIGINT NOT NULL,
    attributes      VARCHAR NOT NULL,      -- JSON list of the sensitive attributes recorded per row
    content_sha256  VARCHAR NOT NULL,
    recorded_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (model, version)
);

-- A fairness audit's definition, locked before any result exists. Rows are only ever inserted.
CREATE TABLE fairness_audit (
    audit_id         VARCHAR PRIMARY KEY,
    model            VARCHAR,              -- NULL when the audit reads an uploaded file
    version          VARCHAR,
    source_name      VARCHAR NOT NULL,
    definition       VARCHAR NOT NULL,     -- canonical JSON
    definition_hash  VARCHAR NOT NULL,
    defined_by       VARCHAR NOT NULL,
    defined_at       TIMESTAMP NOT NULL
);

-- The one run of an audit: its results and the evidence hash over definition, data hash and results.
CREATE TABLE fairness_audit_run (
    audit_id       VARCHAR PRIMARY KEY REFERENCES fairness_audit (audit_id),
    ran_by         VARCHAR NOT NULL,
    ran_at         TIMESTAMP NOT NULL,
    n_rows         BIGINT NOT NULL,
    data_sha256    VARCHAR NOT NULL,
    results        VARCHAR NOT NULL,       -- canonical JSON
    verdict        VARCHAR NOT NULL CHECK (verdict IN ('pass', 'fail', 'inconclusive')),
    evidence_hash  VARCHAR NOT NULL
);
