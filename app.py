"""Quorum: page config, the workspace, sign-in and navigation. Everything else lives in pages/ and components/."""

import streamlit as st

from components.auth import current_user, signed_in_identity_bar
from components.navigation import PAGES
from components.sign_in import sign_in_screen
from components.workspace import open_workspace

st.set_page_config(page_title="Quorum: AI governance", page_icon=":material/gavel:", layout="wide")

open_workspace()
user = current_user()

sections: dict[str, list] = {}
for spec in PAGES:
    sections.setdefault(spec.section, []).append(
        st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec is PAGES[0]))
# Every page is registered, so the address asked for (and its query) survives signing in; only a signed-in
# session runs it. Anyone else gets the sign-in screen whatever page address they call.
page = st.navigation(sections, position="sidebar" if user else "hidden")
if user is None:
    sign_in_screen()
else:
    signed_in_identity_bar(user)
    page.run()
