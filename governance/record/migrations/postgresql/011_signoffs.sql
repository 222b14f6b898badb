-- The review committee of sign-offs and its quorum settings. Everything else about a sign-off -- the review
-- request with its frozen evidence, each signature, the decision, condition updates and stage changes -- lives
-- in the ledger (010_ledger.sql), which is the record; membership changes are recorded there too.
CREATE TABLE committee_member (
    user_name  VARCHAR PRIMARY KEY,       -- an account (app_user) with role committee member or committee chair
    added_at   TIMESTAMP NOT NULL,        -- UTC
    added_by   VARCHAR NOT NULL
);

-- Quorum settings; a key that is absent takes its default from governance/signoffs.py (DEFAULT_RULES).
CREATE TABLE committee_rule (
    key    VARCHAR PRIMARY KEY,           -- 'quorum_fraction', 'chair_required', 'decision_validity_days'
    value  VARCHAR NOT NULL
);
