-- PostgreSQL dialect of migrations/001_init.sql: the same record tables, columns, keys and checks
-- (DOUBLE -> DOUBLE PRECISION, BLOB -> BYTEA, TINYINT -> SMALLINT). The telemetry tables (telemetry_input,
-- telemetry) are not created: with PostgreSQL, telemetry lives in the lake.

-- Model inventory: the model card core that every other page links to.
CREATE TABLE model (
    name          VARCHAR PRIMARY KEY,
    purpose       VARCHAR NOT NULL,
    intended_use  VARCHAR NOT NULL,
    owner         VARCHAR NOT NULL,
    risk_tier     VARCHAR NOT NULL CHECK (risk_tier IN ('minimal', 'limited', 'high', 'unacceptable')),
    dataset       VARCHAR,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE model_version (
    model             VARCHAR NOT NULL REFERENCES model (name),
    version           VARCHAR NOT NULL,
    algorithm         VARCHAR NOT NULL,
    training_data     VARCHAR NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    stage             VARCHAR NOT NULL
                      CHECK (stage IN ('development', 'validation', 'staging', 'production', 'retired')),
    training_metrics  JSON NOT NULL,
    PRIMARY KEY (model, version)
);

-- The trained estimator, serialised with skops (never pickle), with its hash so evidence can name it.
CREATE TABLE model_artifact (
    model    VARCHAR NOT NULL,
    version  VARCHAR NOT NULL,
    format   VARCHAR NOT NULL CHECK (format = 'skops'),
    sha256   VARCHAR NOT NULL,
    content  BYTEA NOT NULL,
    PRIMARY KEY (model, version),
    FOREIGN KEY (model, version) REFERENCES model_version (model, version)
);

-- Held-out evaluation set of each version: the inputs, the truth, and what the version predicted.
CREATE TABLE evaluation_row (
    model      VARCHAR NOT NULL,
    version    VARCHAR NOT NULL,
    row_id     INTEGER NOT NULL,
    features   JSON NOT NULL,
    sensitive  JSON NOT NULL,
    y_true     SMALLINT NOT NULL,      -- TINYINT in DuckDB: PostgreSQL's smallest integer
    y_pred     SMALLINT NOT NULL,
    score      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (model, version, row_id)
);

-- telemetry_input and telemetry: telemetry lives in the lake with PostgreSQL, not in the database.

CREATE TABLE workspace_meta (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR NOT NULL
);

-- Bumped by every committed write, so caches can key on it.
CREATE TABLE data_version (
    version  BIGINT NOT NULL
);
INSERT INTO data_version VALUES (0);
