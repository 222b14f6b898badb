-- One data version per concern, so a cache throws away only what a write changed (issue 23):
--   telemetry  the telemetry tables and their hourly rollup (an ingest, a file absorbed from the inbox, the demo)
--   record     everything else a page shows
--   workspace  one step per committed write that changed either: what `governance status` reports as its
--              data_version, with the meaning it always had
-- Bookkeeping that no page or cached figure shows (a delivery's claim, a token's last use) bumps none of them.
-- All three start at the old single version, so no version a cache has seen comes round again.
CREATE TABLE data_version_by_concern (
    concern  VARCHAR PRIMARY KEY CHECK (concern IN ('workspace', 'record', 'telemetry')),
    version  BIGINT NOT NULL
);
INSERT INTO data_version_by_concern (concern, version)
SELECT c.concern, d.version
FROM data_version AS d CROSS JOIN (VALUES ('workspace'), ('record'), ('telemetry')) AS c (concern);
DROP TABLE data_version;
ALTER TABLE data_version_by_concern RENAME TO data_version;
-- PostgreSQL keeps the constraint names the table was created with: give them the names a table created as
-- data_version has, so nothing that names them later needs to know about this rename.
ALTER TABLE data_version RENAME CONSTRAINT data_version_by_concern_pkey TO data_version_pkey;
ALTER TABLE data_version RENAME CONSTRAINT data_version_by_concern_concern_check TO data_version_concern_check;
