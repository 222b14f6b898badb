"""Quorum's governance domain: plain Python over one DuckDB workspace. Never imports streamlit."""
