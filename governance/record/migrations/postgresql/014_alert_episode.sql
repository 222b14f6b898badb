-- Alert episodes: one row per condition while it lasts (an SLO breach, drift at 'act', an anomaly, an overdue
-- action, ...). The key names the condition and when it began, so repeated checks find the same episode instead
-- of alerting again; an episode is re-sent only when its severity rises, and closed when the condition clears.
-- What was sent, to whom and when is in alert_delivery / alert_attempt (013).
CREATE TABLE alert_episode (
    alert_key          VARCHAR PRIMARY KEY,
    model              VARCHAR,
    what               VARCHAR NOT NULL,
    severity           VARCHAR NOT NULL,
    title              VARCHAR NOT NULL,
    link               VARCHAR NOT NULL,          -- the page in Quorum, relative to the app's address
    evidence           JSON NOT NULL,
    opened_at          TIMESTAMP NOT NULL,        -- UTC
    last_seen_at       TIMESTAMP NOT NULL,
    closed_at          TIMESTAMP,
    notified_severity  VARCHAR                    -- the severity last sent; a higher one is sent again
);
