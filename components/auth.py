"""Who is using this browser session. The session holds only the account name and how and when it signed in;
the account is read back on every run, so a disabled account or a changed role takes effect at once."""

from __future__ import annotations

import time

import streamlit as st

from components import as_of
from components.formatting import plain
from components.workspace import get_store
from governance.access import identity
from governance.errors import GovernanceError

SESSION_KEY = "quorum_auth"
OIDC_REFUSED_KEY = "quorum_oidc_refused"
EXPIRED_KEY = "quorum_sign_in_expired"
# A sign-in lasts a working day: a tab left open overnight asks again (an OIDC sign-in counts from when the
# provider authenticated the person, so an old identity cookie does not outlive this either).
SESSION_MAX_AGE_SECONDS = 12 * 3600
DEMO_MODE_SIDEBAR = ("Demo mode (QUORUM_DEMO_MODE=1): the demo workspace and its people, no passwords: anyone "
                     "who opens this app on this machine can act as anyone, admin included. Not for real records.")
EXPIRED = "Your sign-in is more than 12 hours old and has expired: sign in again."


def sign_in(user: identity.User, *, method: str) -> None:
    """method: 'password', 'oidc' or 'demo'; recorded with every signature made in this session."""
    st.session_state[SESSION_KEY] = {"user_name": user.user_name, "method": method, "signed_in_at": time.time()}


def sign_out() -> None:
    st.session_state.pop(SESSION_KEY, None)


def session_auth() -> dict | None:
    return st.session_state.get(SESSION_KEY)


def _oidc_claims() -> dict:
    try:
        return st.user.to_dict() if st.user.is_logged_in else {}
    except Exception:  # auth not configured in this deployment
        return {}


def _from_identity_provider() -> dict | None:
    """A person the identity provider signed in (Streamlit keeps its signed cookie) mapped to their account."""
    claims = _oidc_claims()
    if not claims:
        return None
    try:
        user = identity.oidc_sign_in(get_store(), claims=claims)
    except GovernanceError as exc:
        st.session_state[OIDC_REFUSED_KEY] = str(exc)
        return None
    # When the provider authenticated the person, not when this browser tab opened: signing needs it recent.
    signed_in_at = float(claims.get("auth_time") or claims.get("iat") or time.time())
    if time.time() - signed_in_at > SESSION_MAX_AGE_SECONDS:
        st.session_state[OIDC_REFUSED_KEY] = EXPIRED
        return None
    st.session_state[SESSION_KEY] = {"user_name": user.user_name, "method": "oidc", "signed_in_at": signed_in_at}
    return st.session_state[SESSION_KEY]


def current_user() -> identity.User | None:
    """The signed-in account, or None (never signed in, or the account was removed or disabled since)."""
    auth = session_auth() or _from_identity_provider()
    if not auth:
        return None
    if time.time() - float(auth.get("signed_in_at", 0)) > SESSION_MAX_AGE_SECONDS:
        sign_out()
        st.session_state[EXPIRED_KEY] = True
        return None
    try:
        return identity.get_user(get_store(), user_name=auth["user_name"])
    except GovernanceError:
        sign_out()
        return None


def needs(action: str) -> str:
    """The help text of a control greyed out for the user's role."""
    return f"Needs the role {' or '.join(identity.PERMISSIONS[action])}."


def can(action: str) -> bool:
    """For greying out what the user may not do; the services enforce it regardless. Nothing may be changed from a
    past record (the sidebar's "As of" date): changes are made today."""
    user = current_user()
    return user is not None and not as_of.read_only() and identity.allowed(user, action)


def signed_in_identity_bar(user: identity.User) -> None:
    """Who is acting, in the sidebar, with the way out; demo mode is labelled so nobody mistakes it for real."""
    method = (session_auth() or {}).get("method")
    with st.sidebar:
        if method == "demo":
            st.warning(DEMO_MODE_SIDEBAR, icon=":material/science:")
        st.caption(f"Signed in as **{plain(user.display_name)}** · {user.role}")
        if st.button("Sign out", icon=":material/logout:", key="signout"):
            sign_out()
            if method == "oidc":
                st.logout()
            st.rerun()
