-- Drift thresholds per model: the PSI levels at which a feature's drift is "watch" and "act", and the
-- significance level (alpha) the two-sample tests are reported against. Append-only: a change adds a row,
-- the newest row per model is in force, and the history says who set which levels when. A model without a
-- row uses the defaults in governance/drift.py (watch 0.1, act 0.25, alpha 0.01).
-- PostgreSQL has no isfinite() for DOUBLE PRECISION: the checks name the three non-finite values instead (NaN
-- must be named: PostgreSQL sorts it above every number, so "psi_watch > 0" alone would let it in).
CREATE TABLE drift_threshold (
    model      VARCHAR NOT NULL REFERENCES model (name),
    psi_watch  DOUBLE PRECISION NOT NULL,
    psi_act    DOUBLE PRECISION NOT NULL,
    alpha      DOUBLE PRECISION NOT NULL,
    set_by     VARCHAR NOT NULL,
    set_at     TIMESTAMP NOT NULL,
    -- Stands for DuckDB's implicit rowid, so the same ORDER BY set_at DESC, rowid DESC breaks ties in insertion
    -- order on both engines. Last, so a positional INSERT ... VALUES of the other columns fills it by itself.
    rowid      BIGINT GENERATED ALWAYS AS IDENTITY,
    CHECK (psi_watch <> 'Infinity' AND psi_watch <> '-Infinity' AND psi_watch <> 'NaN'
           AND psi_act <> 'Infinity' AND psi_act <> '-Infinity' AND psi_act <> 'NaN'
           AND psi_watch > 0 AND psi_act > psi_watch),
    CHECK (alpha <> 'Infinity' AND alpha <> '-Infinity' AND alpha <> 'NaN' AND alpha > 0 AND alpha < 1)
);
