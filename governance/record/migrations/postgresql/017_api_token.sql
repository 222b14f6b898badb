-- API tokens (governance/tokens.py): what a program sends as `Authorization: Bearer qrm_…` to act as one account,
-- with that account's role and never more. The token itself is shown once, when it is issued, and never stored:
-- only its SHA-256 is (a token is 256 random bits, so a fast hash is enough). Tokens are revoked, never deleted;
-- issuing and revoking are recorded in the ledger too.
CREATE TABLE api_token (
    token_id      VARCHAR PRIMARY KEY,         -- TK-0001, TK-0002 … issued inside the write that adds the row
    name          VARCHAR NOT NULL,            -- what it is for, e.g. 'ci-release-gate'
    user_name     VARCHAR NOT NULL,            -- the account (app_user) it acts as
    token_hash    VARCHAR NOT NULL UNIQUE,     -- SHA-256 hex of the token text
    prefix        VARCHAR,                     -- the first 8 characters after 'qrm_', to recognise it in lists
    created_at    TIMESTAMP NOT NULL,          -- UTC
    created_by    VARCHAR NOT NULL,            -- the admin's account
    expires_at    TIMESTAMP,                   -- UTC; NULL: never
    last_used_at  TIMESTAMP,                   -- UTC, to the minute or so (written at most once a minute)
    revoked_at    TIMESTAMP,                   -- UTC; NULL: not revoked
    revoked_by    VARCHAR                      -- the account that revoked it
);
