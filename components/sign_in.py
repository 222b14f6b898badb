"""The sign-in screen: the organisation's identity provider (OIDC, when configured), a local account, or, for
the bundled demo served to this machine with QUORUM_DEMO_MODE=1 and no identity provider, a named demo user
without a password (the rule is `identity.demo_mode`). Nothing else of the app runs until one of them succeeds."""

from __future__ import annotations

import os

import streamlit as st

from components.auth import EXPIRED, EXPIRED_KEY, OIDC_REFUSED_KEY, sign_in
from components.formatting import plain
from components.workspace import get_store
from governance.access import identity
from governance.errors import GovernanceError


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises instead of returning False
        return False


def sign_in_screen() -> None:
    st.title("Sign in to Quorum")
    store = get_store()
    if st.session_state.pop(EXPIRED_KEY, False):
        st.warning(EXPIRED, icon=":material/timer_off:")
    refused = st.session_state.get(OIDC_REFUSED_KEY)
    if refused:
        st.error(plain(refused))
        st.button("Sign out of the identity provider", on_click=st.logout, key="signin_oidc_out")
        return
    if oidc_configured():
        st.button("Sign in with your organisation's account", icon=":material/login:", on_click=st.login,
                  type="primary", key="signin_oidc")
    if not identity.has_accounts(store):
        st.info("This workspace has no accounts yet. Create the first admin on the server:\n\n"
                "`python -m governance users add NAME --role admin`", icon=":material/person_add:")
        return
    demo = identity.demo_mode(store, server_address=st.get_option("server.address"),
                              identity_provider=oidc_configured())
    if demo.offered:
        _demo_sign_in(store)
    elif demo.reason:
        st.info(plain(demo.reason), icon=":material/info:")
    _password_sign_in(store)


def _password_sign_in(store) -> None:
    with st.form("signin_password"):
        st.markdown("**Local account**")
        name = st.text_input("User name", max_chars=identity.MAX_NAME, autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        if st.form_submit_button("Sign in", icon=":material/key:"):
            try:
                user = identity.password_sign_in(store, user_name=name, password=password, client=_client())
            except GovernanceError as exc:
                st.error(plain(exc))
                return
            sign_in(user, method="password")
            st.rerun()


def _client() -> str:
    """The browser's address as the server saw it; behind the TLS proxy on this machine, the address the proxy
    appended to X-Forwarded-For (the last one), as the API does. Streamlit gives None for loopback."""
    host = st.context.ip_address
    if host is None and os.environ.get("QUORUM_BEHIND_TLS") == "1":
        host = (st.context.headers.get("X-Forwarded-For") or "").split(",")[-1].strip() or None
    return host or "this machine"


def _demo_sign_in(store) -> None:
    with st.container(border=True):
        st.markdown("**Demo mode** — the bundled demo workspace, served to this machine only "
                    "(QUORUM_DEMO_MODE=1): pick a person to act as; no password.")
        demo_users = [u for u in identity.list_users(store) if u.source == "demo"]
        chosen = st.selectbox("Act as", demo_users, format_func=lambda u: f"{u.display_name} — {u.role}",
                              key="signin_demo_user")
        if st.button("Enter demo mode", icon=":material/play_arrow:", key="signin_demo"):
            sign_in(chosen, method="demo")
            st.rerun()
