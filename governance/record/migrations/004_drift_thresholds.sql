-- Drift thresholds per model: the PSI levels at which a feature's drift is "watch" and "act", and the
-- significance level (alpha) the two-sample tests are reported against. Append-only: a change adds a row,
-- the newest row per model is in force, and the history says who set which levels when. A model without a
-- row uses the defaults in governance/drift.py (watch 0.1, act 0.25, alpha 0.01).
CREATE TABLE drift_threshold (
    model      VARCHAR NOT NULL REFERENCES model (name),
    psi_watch  DOUBLE NOT NULL,
    psi_act    DOUBLE NOT NULL,
    alpha      DOUBLE NOT NULL,
    set_by     VARCHAR NOT NULL,
    set_at     TIMESTAMP NOT NULL,
    CHECK (isfinite(psi_watch) AND isfinite(psi_act) AND psi_watch > 0 AND psi_act > psi_watch),
    CHECK (isfinite(alpha) AND alpha > 0 AND alpha < 1)
);
