"""Record repositories: one module per aggregate, the only place where record SQL lives. Reads take the store, writes
take the open write transaction; both speak in dataclasses."""
