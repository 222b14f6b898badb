-- The alert outbox (governance/alert_delivery.py): one row per alert, channel and recipient, queued once and
-- never deleted. A delivery is 'pending' until a send succeeds ('delivered') or max_attempts sends in a row
-- fail ('failed', kept so that retry_failed can queue it again). Every send is one alert_attempt row.
CREATE TABLE alert_delivery (
    delivery_id       BIGINT PRIMARY KEY,       -- 1, 2, 3 …
    alert_key         VARCHAR NOT NULL,         -- the alert / open episode it belongs to
    channel           VARCHAR NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient         VARCHAR NOT NULL,         -- an e-mail address or the webhook URL
    subject           VARCHAR NOT NULL,
    body              VARCHAR NOT NULL,
    payload           VARCHAR NOT NULL,         -- canonical JSON: {"link": …, "evidence": {…}}
    created_at        TIMESTAMP NOT NULL,       -- UTC
    status            VARCHAR NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          INTEGER NOT NULL,         -- sends so far, = its alert_attempt rows
    attempts_at_requeue INTEGER NOT NULL,       -- `attempts` when retry_failed last queued it again (0 if never)
    next_attempt_at   TIMESTAMP,                -- UTC; NULL once delivered or failed
    delivered_at      TIMESTAMP,                -- UTC
    UNIQUE (alert_key, channel, recipient)      -- the same alert is never queued twice
);

-- Every send of a delivery, in order; only ever inserted.
CREATE TABLE alert_attempt (
    delivery_id  BIGINT NOT NULL REFERENCES alert_delivery (delivery_id),
    attempt      INTEGER NOT NULL,              -- 1, 2, 3 … per delivery
    attempted_at TIMESTAMP NOT NULL,            -- UTC (`at` is a reserved word in DuckDB)
    result       VARCHAR NOT NULL CHECK (result IN ('ok', 'error')),
    detail       VARCHAR NOT NULL,              -- the server's answer or the error; never a password
    PRIMARY KEY (delivery_id, attempt)
);
