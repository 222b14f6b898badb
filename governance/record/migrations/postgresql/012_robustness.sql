-- A robustness run's definition (model file, evaluation set, noise levels, criteria, seed), stored and locked
-- before any result exists. Rows are only ever inserted: running again is a new run (RB-0001, RB-0002, ...).
CREATE TABLE robustness_run (
    run_id           VARCHAR PRIMARY KEY,
    model            VARCHAR NOT NULL,
    version          VARCHAR NOT NULL,
    definition       VARCHAR NOT NULL,     -- canonical JSON
    definition_hash  VARCHAR NOT NULL,     -- SHA-256 of the canonical JSON
    defined_by       VARCHAR NOT NULL,
    defined_at       TIMESTAMP NOT NULL    -- UTC
);

-- The results of a run, once: the evidence hash is over the definition, the data's content hash and the results.
CREATE TABLE robustness_result (
    run_id         VARCHAR PRIMARY KEY REFERENCES robustness_run (run_id),
    ran_by         VARCHAR NOT NULL,
    ran_at         TIMESTAMP NOT NULL,     -- UTC
    n_rows         BIGINT NOT NULL,
    data_sha256    VARCHAR NOT NULL,
    results        VARCHAR NOT NULL,       -- canonical JSON
    verdict        VARCHAR NOT NULL CHECK (verdict IN ('pass', 'fail', 'inconclusive')),
    evidence_hash  VARCHAR NOT NULL
);
