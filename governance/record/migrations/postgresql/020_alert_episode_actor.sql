-- Who acted on an alert episode: the account that ran the check (on the Alerts page, or `alerts check` as its
-- checked --by account), or the server's scheduler under its system name. Rows from before this migration have
-- none recorded (NULL).
ALTER TABLE alert_episode ADD COLUMN opened_by VARCHAR;     -- the check that opened it
ALTER TABLE alert_episode ADD COLUMN last_seen_by VARCHAR;  -- the newest check that found it still holding
ALTER TABLE alert_episode ADD COLUMN closed_by VARCHAR;     -- the check that found it cleared
