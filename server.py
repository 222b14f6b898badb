"""Quorum as a team service: the pages (app.py) and the HTTP API (/api/v1/) on one port, in one process that owns
the workspace. Started by `python -m governance serve` (or `make run`)."""

import streamlit as st

import api

app = st.App("app.py", routes=api.routes(), lifespan=api.lifespan)
