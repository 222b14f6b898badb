"""Quorum: page config, the workspace, and navigation. Everything else lives in app_pages/ and components/."""

import streamlit as st

from components.navigation import PAGES
from components.workspace import ensure_demo, get_store

st.set_page_config(page_title="Quorum: AI governance", page_icon=":material/gavel:", layout="wide")

ensure_demo(get_store())

sections: dict[str, list] = {}
for spec in PAGES:
    sections.setdefault(spec.section, []).append(
        st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec is PAGES[0]))
st.navigation(sections).run()
