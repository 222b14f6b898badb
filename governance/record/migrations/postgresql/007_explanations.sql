-- Global SHAP explanations, computed once per (model file, evaluation data, settings) and reused.
CREATE TABLE explanation (
    explanation_id  VARCHAR PRIMARY KEY,
    model           VARCHAR NOT NULL,
    version         VARCHAR NOT NULL,
    model_sha256    VARCHAR NOT NULL,
    data_sha256     VARCHAR NOT NULL,
    settings        VARCHAR NOT NULL,      -- canonical JSON
    settings_hash   VARCHAR NOT NULL,
    computed_at     TIMESTAMP NOT NULL,
    seconds         DOUBLE PRECISION NOT NULL,
    summary         VARCHAR NOT NULL,      -- JSON: explainer, units, global, cohorts, checks
    UNIQUE (model, version, model_sha256, data_sha256, settings_hash)
);

-- SHAP value of each explained row and input (encoded columns already summed back to their input).
CREATE TABLE explanation_value (
    explanation_id  VARCHAR NOT NULL,
    row_id          INTEGER NOT NULL,
    feature         VARCHAR NOT NULL,
    shap            DOUBLE PRECISION NOT NULL,
    value           VARCHAR,
    value_number    DOUBLE PRECISION
);

CREATE TABLE explanation_row (
    explanation_id  VARCHAR NOT NULL,
    row_id          INTEGER NOT NULL,
    output          DOUBLE PRECISION NOT NULL,       -- the model output the SHAP values add up to
    score           DOUBLE PRECISION NOT NULL
);
