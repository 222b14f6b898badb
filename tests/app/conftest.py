"""The pages under Streamlit's AppTest, run the way the real server runs them."""

from __future__ import annotations

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import app_test


class _PagesDeclaredByAppPy(PagesManager):
    """server.py tells Streamlit that app.py declares its pages with st.navigation, so a folder named pages/
    beside it is not taken for Streamlit's older multipage layout. AppTest resets that before every run and would
    then run a page's file without app.py; this says it again after the reset, as the server does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@pytest.fixture(autouse=True)
def pages_declared_by_app_py(monkeypatch):
    monkeypatch.setattr(app_test, "PagesManager", _PagesDeclaredByAppPy)
