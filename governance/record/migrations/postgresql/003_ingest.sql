-- Telemetry ingested from files. A file is recorded by the SHA-256 of its bytes, so ingesting the same
-- content again (by hand, or from the inbox after a crash between commit and delete) finds it here and
-- does nothing. Its telemetry rows, quarantined rows and this record commit in one transaction.
CREATE TABLE ingested_file (
    file_sha256       VARCHAR PRIMARY KEY,
    file_name         VARCHAR NOT NULL,     -- the name it had when ingested (no folder: paths are local)
    file_format       VARCHAR NOT NULL CHECK (file_format IN ('csv', 'parquet', 'jsonl')),
    model             VARCHAR NOT NULL,
    version           VARCHAR NOT NULL,
    rows_accepted     BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    via               VARCHAR NOT NULL CHECK (via IN ('direct', 'inbox')),
    ingested_at       TIMESTAMP NOT NULL    -- UTC
);

-- Rows of an ingested file that failed validation: kept with why, where and what they said, so a data
-- owner can fix the source instead of the rows silently disappearing.
CREATE TABLE ingest_quarantine (
    file_sha256      VARCHAR NOT NULL,      -- the ingested_file it came from
    row_number       BIGINT NOT NULL,       -- 1 = first data row (CSV header not counted; JSON lines: the line)
    model            VARCHAR NOT NULL,
    version          VARCHAR NOT NULL,
    problem_columns  VARCHAR NOT NULL,      -- comma-separated, e.g. 'latency_ms, score'
    reason           VARCHAR NOT NULL,      -- e.g. "column latency_ms: 'fast' is not a number"
    raw_row          JSON NOT NULL          -- the row as the file had it
);
-- No primary key: a file of bad rows can put millions here, and ingested_file already stops a repeat.
