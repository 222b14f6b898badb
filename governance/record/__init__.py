"""The record: the workspace store and its migrations, the clock, canonical JSON, the hash chains, the ledger and its
key, and the check that the record is intact."""
