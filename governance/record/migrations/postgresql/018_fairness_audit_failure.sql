-- A locked fairness audit whose run could not complete (its evaluation set changed or is gone, or the computation
-- broke), closed with the reason, so that no audit stays "not run yet" for good. A closed audit never runs:
-- a new audit is defined instead. Rows are only ever inserted; an audit has a run or a failure, never both.
CREATE TABLE fairness_audit_failure (
    audit_id   VARCHAR PRIMARY KEY REFERENCES fairness_audit (audit_id),
    failed_by  VARCHAR NOT NULL,
    failed_at  TIMESTAMP NOT NULL,     -- UTC
    reason     VARCHAR NOT NULL
);
