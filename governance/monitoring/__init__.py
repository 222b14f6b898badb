"""How deployed models behave: telemetry sources and ingest, KPIs, service levels, anomalies, drift, data quality, A/B comparison, Explore and the SQL console."""
