-- The one append-only ledger of sign-offs, decisions, stage changes, condition updates and gate calls.
-- Each entry carries the hash of the one before it and an HMAC of its own hash made with the ledger key,
-- which lives outside the workspace: an entry edited, removed or forged without the key breaks the chain.
CREATE TABLE ledger (
    seq              BIGINT PRIMARY KEY,      -- 1, 2, 3 … without gaps
    recorded_at      TIMESTAMP NOT NULL,      -- UTC
    actor            VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL,        -- 'signature', 'decision', 'stage_change', 'condition_update', …
    subject          VARCHAR NOT NULL,        -- what it concerns: a review id, 'model version', …
    payload          VARCHAR NOT NULL,        -- canonical JSON
    idempotency_key  VARCHAR NOT NULL UNIQUE, -- a retried submit finds its entry instead of signing twice
    prev_hash        VARCHAR NOT NULL UNIQUE, -- two appends can never claim the same predecessor: no fork
    entry_hash       VARCHAR NOT NULL UNIQUE, -- SHA-256 of the canonical entry
    entry_mac        VARCHAR NOT NULL         -- HMAC-SHA256 of entry_hash with the ledger key
);
