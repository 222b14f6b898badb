"""Quorum as a team service: the pages (app.py) and the HTTP API (/api/v1/) on one port, in one process that owns
the workspace. Started by `python -m governance serve` (or `make run`)."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

import api

# app.py declares every page with st.navigation. Until st.navigation first runs, Streamlit (1.67) takes a folder
# named pages/ beside the main script for its older multipage layout, and a fresh server's first request, a direct
# link to a page, would run that page without app.py and its sign-in gate. Say up front what st.navigation says
# on its first call. tests/browser/test_pages_in_browser.py proves the gate holds for that first request.
PagesManager.uses_pages_directory = False

app = st.App("app.py", routes=api.routes(), lifespan=api.lifespan)
