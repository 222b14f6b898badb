-- Service-level objectives per model and KPI. Append-only: an edit adds a row, the newest row per
-- (model, kpi) is in force, and the history says who set which level when.
CREATE TABLE service_level_objective (
    model    VARCHAR NOT NULL REFERENCES model (name),
    kpi      VARCHAR NOT NULL,
    target   DOUBLE NOT NULL,      -- breach (red) beyond this
    warning  DOUBLE NOT NULL,      -- at risk (amber) beyond this, on the passing side of the target
    set_by   VARCHAR NOT NULL,
    set_at   TIMESTAMP NOT NULL,
    active   BOOLEAN NOT NULL      -- false: the objective was removed
);
