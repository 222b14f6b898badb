"""How deployed models behave: telemetry sources and ingest, KPIs, service levels, anomalies, drift, data quality, A/B
comparison, Explore and the SQL console."""

# Imported for what it does on import: it registers the hourly rollup's upkeep with the store, so any process that
# can write telemetry (every writer imports something of this package) keeps the rollup in step.
from governance.monitoring import rollup  # noqa: E402,F401
