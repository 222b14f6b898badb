"""Quorum: page config, the workspace, and navigation. Everything else lives in app_pages/ and components/."""

import streamlit as st

from components.navigation import PAGES
from components.workspace import open_workspace

st.set_page_config(page_title="Quorum: AI governance", page_icon=":material/gavel:", layout="wide")

open_workspace()

sections: dict[str, list] = {}
for spec in PAGES:
    sections.setdefault(spec.section, []).append(
        st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec is PAGES[0]))
st.navigation(sections).run()
