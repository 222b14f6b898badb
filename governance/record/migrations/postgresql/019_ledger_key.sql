-- The fingerprint of the ledger key a workspace was created with (an HMAC of a fixed label, never the key):
-- a different key is refused before it signs anything. A rotation adds the new key's row, from its entry on.
CREATE TABLE ledger_key (
    fingerprint  VARCHAR PRIMARY KEY,
    since_seq    BIGINT NOT NULL,         -- the first ledger entry this key signs (0: from the start)
    since_event  BIGINT NOT NULL,         -- the first risk register event it signs
    recorded_at  TIMESTAMP NOT NULL       -- UTC
);

-- The risk register's events are signed like the ledger's entries (HMAC of the event hash with the key's
-- risk-register sub-key) and anchored with them: a rewritten register or its newest events deleted are found.
-- Events written before this migration have none and verify as unsigned.
ALTER TABLE risk_event ADD COLUMN event_mac VARCHAR;
