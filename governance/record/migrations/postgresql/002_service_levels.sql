-- Service-level objectives per model and KPI. Append-only: an edit adds a row, the newest row per
-- (model, kpi) is in force, and the history says who set which level when.
CREATE TABLE service_level_objective (
    model    VARCHAR NOT NULL REFERENCES model (name),
    kpi      VARCHAR NOT NULL,
    target   DOUBLE PRECISION NOT NULL,      -- breach (red) beyond this
    warning  DOUBLE PRECISION NOT NULL,      -- at risk (amber) beyond this, on the passing side of the target
    set_by   VARCHAR NOT NULL,
    set_at   TIMESTAMP NOT NULL,
    active   BOOLEAN NOT NULL,               -- false: the objective was removed
    -- Stands for DuckDB's implicit rowid, so the same ORDER BY set_at DESC, rowid DESC breaks ties in insertion
    -- order on both engines. Last, so a positional INSERT ... VALUES of the other columns fills it by itself.
    rowid    BIGINT GENERATED ALWAYS AS IDENTITY
);
