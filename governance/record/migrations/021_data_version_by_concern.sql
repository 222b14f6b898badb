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
INSERT INTO data_version_by_concern
SELECT concern, version FROM data_version, (VALUES ('workspace'), ('record'), ('telemetry')) AS c(concern);
DROP TABLE data_version;
ALTER TABLE data_version_by_concern RENAME TO data_version;
