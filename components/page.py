"""What every page shares: the sign-in gate, its header, and the rule that users see messages, never tracebacks."""

from __future__ import annotations

import logging
import uuid
from typing import Callable

import streamlit as st

from components.as_of import as_of_banner, as_of_picker
from components.auth import current_user
from components.formatting import plain
from components.sign_in import sign_in_screen
from governance.errors import GovernanceError

log = logging.getLogger("quorum.app")


def render_page(title: str, body: Callable[[], None], *, caption: str | None = None) -> None:
    """Show the title, then run the page body; a domain error becomes its message, anything else a reference.

    Without a signed-in account the page shows the sign-in screen instead. app.py asks first, for every page it
    runs; the page asks again because Streamlit can run a file in pages/ without app.py (its older multipage
    layout, which Streamlit's AppTest still uses), and the gate must hold there too."""
    if current_user() is None:
        sign_in_screen()
        return
    st.title(title)
    if caption:
        st.caption(caption)
    as_of_picker()   # the sidebar's "As of" date, on every page: empty is the live record
    as_of_banner()   # a day set: every page says it shows the record as it stood then, read-only
    try:
        body()
    except GovernanceError as exc:  # messages quote user input (names, columns): shown literally
        st.error(plain(exc))
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("page %s failed, reference %s", title, reference)
        st.error(f"Something went wrong on this page (reference {reference}). "
                 "The details are in the server log; please report the reference.")


def lazy_tabs(key: str, tabs: dict[str, Callable[[], None]]) -> None:
    """Tabs that run only the open one's body; the open tab is kept in session state under `key`."""
    for tab, draw in zip(st.tabs(list(tabs), key=key, on_change="rerun"), tabs.values()):
        if tab.open:
            with tab:
                draw()


def keep_valid(key: str, options, default) -> None:
    """A kept widget value that is no longer an option (another model, audit or file) falls back to `default`;
    a kept multiselect keeps only the values still offered."""
    current = st.session_state.get(key)
    if isinstance(current, list):
        if not set(current) <= set(options):
            st.session_state[key] = [v for v in current if v in options]
    elif key not in st.session_state or current not in options:
        st.session_state[key] = default


def arrive_from_link(fields: dict[str, str], *, also: dict | None = None) -> bool:
    """A link such as ?model=churn (from an alert, a report or a colleague) sets the widgets named in `fields`
    (query name -> session key) once; from then on the page's own controls hold the choice. `also` sets further
    session values (a tab, a filter) when the link asked for anything. A value that is not an option is dropped
    by the page's keep_valid."""
    asked = {name: st.query_params.get(name) for name in fields}
    if not any(asked.values()):
        return False
    for name, value in asked.items():
        st.query_params.pop(name, None)
        if value is not None:
            st.session_state[fields[name]] = value
    st.session_state.update(also or {})
    return True


def read_notes(notes) -> None:
    """What a service said about how it read a dataset (partitions read from their rows for want of a rollup, files
    left out for a wrong schema), shown literally: the notes quote file names."""
    for note in notes:
        st.caption(plain(note))
