-- Where an account is reached when an alert rule names its person or its role (governance/alerts.py). Optional:
-- an account without one is listed as unreachable by `alerts check`, never silently skipped.
ALTER TABLE app_user ADD COLUMN email VARCHAR;
