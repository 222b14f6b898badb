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
    content  BLOB NOT NULL,
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
    y_true     TINYINT NOT NULL,
    y_pred     TINYINT NOT NULL,
    score      DOUBLE NOT NULL,
    PRIMARY KEY (model, version, row_id)
);

-- Distinct inputs that production traffic carried; telemetry rows point at them by input_id,
-- so 10 million predictions do not repeat the same feature JSON.
CREATE TABLE telemetry_input (
    model     VARCHAR NOT NULL,
    input_id  BIGINT NOT NULL,
    source    VARCHAR NOT NULL,
    features  JSON NOT NULL,
    PRIMARY KEY (model, input_id)
);

-- One row per prediction served. Units live in the column names.
CREATE TABLE telemetry (
    ts                   TIMESTAMP NOT NULL,
    model                VARCHAR NOT NULL,
    version              VARCHAR NOT NULL,
    segment              VARCHAR NOT NULL,
    input_id             BIGINT,
    prediction           TINYINT,          -- NULL when the request failed
    score                DOUBLE,           -- NULL when the request failed
    label                TINYINT,          -- NULL until the true outcome arrives
    latency_ms           DOUBLE NOT NULL,
    is_error             BOOLEAN NOT NULL,
    cpu_pct              DOUBLE,
    memory_mb            DOUBLE,
    cost_usd             DOUBLE,
    approved_volume_usd  DOUBLE,
    expected_value_usd   DOUBLE
);

CREATE TABLE workspace_meta (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR NOT NULL
);

-- Bumped by every committed write, so caches can key on it.
CREATE TABLE data_version (
    version  BIGINT NOT NULL
);
INSERT INTO data_version VALUES (0);
