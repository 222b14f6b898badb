import pandas as pd
import streamlit as st

from components.page import render_page
from components.workspace import cached, get_store
from governance.inventory import workspace_status


def body() -> None:
    status = cached(workspace_status)
    left, right, _ = st.columns([1, 1, 2])
    left.metric("Schema version", status["schema_version"], border=True)
    right.metric("Data version", status["data_version"], border=True,
                 help="Bumped by every committed write; cached figures are keyed on it.")
    st.markdown(f"Workspace file: `{get_store().path}`")
    st.subheader("Tables")
    st.dataframe(pd.DataFrame(list(status["tables"].items()), columns=["table", "rows"]), hide_index=True,
                 column_config={"rows": st.column_config.NumberColumn(format="localized")})


render_page("Admin", body, caption="The workspace behind this app: its schema, its tables, its size.")
