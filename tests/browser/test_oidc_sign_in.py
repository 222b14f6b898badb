"""Sign-in through a real OpenID Connect provider (oidc-provider-mock, served on loopback) and Streamlit's
st.login, in the real browser: a known identity gets its account's role, an unknown one is refused, and a
tampered identity cookie or a session that never signed in meets the sign-in screen."""

from __future__ import annotations

import pytest
from oidc_provider_mock import User, run_server_in_thread

from governance.access import identity
from governance.record.store import GovernanceStore
from tests.browser.conftest import assert_no_failure, free_port, settle, start_server, stop_server
from tests.conftest import copy_workspace

CHEN = "chen.wei@example.org"
STRANGER = "stranger@example.org"
IMPOSTOR = "impostor"   # a provider subject that claims Chen's address, which the provider has not verified


@pytest.fixture(scope="module")
def provider():
    """The identities it vouches for: Chen and a stranger with verified addresses, and an impostor whose claim to
    Chen's address the provider never verified (as at a provider where anyone may type any address)."""
    users = [User(sub=CHEN, claims={"email": CHEN, "email_verified": True}),
             User(sub=STRANGER, claims={"email": STRANGER, "email_verified": True}),
             User(sub=IMPOSTOR, claims={"email": CHEN, "email_verified": False})]
    with run_server_in_thread(port=0, user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def oidc_server(demo_workspace, provider, tmp_path_factory):
    """The app on a demo copy where an admin added Chen as an identity-provider account."""
    workdir = tmp_path_factory.mktemp("oidc")
    db = workdir / "oidc.duckdb"
    copy_workspace(demo_workspace, db)
    with GovernanceStore(db) as store:
        admin = next(u for u in identity.DEMO_USERS if u.role == "admin")
        identity.add_user(store, user_name=CHEN, display_name="Chen Wei (IdP)", role="committee member",
                          actor=admin, source="oidc")
    port = free_port()
    secrets = workdir / "secrets.toml"
    secrets.write_text(f"""[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-test-cookie-secret-that-is-long-enough-0123456789"
client_id = "quorum-tests"
client_secret = "quorum-tests-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
client_kwargs = {{ scope = "openid profile email" }}
""")
    server, process = start_server(db=db, workdir=workdir, port=port, extra_args=("--secrets.files", str(secrets)))
    try:
        yield server
    finally:
        stop_server(process)


def _sign_in_with_provider(page, url: str, subject: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Sign in to Quorum", level=1).wait_for(timeout=60_000)
    page.get_by_role("button", name="Sign in with your organisation's account").click()
    page.get_by_role("heading", name="Authorize Client").wait_for(timeout=30_000)
    page.locator("input[name='sub']").fill(subject)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=60_000)
    settle(page)


def test_a_known_identity_signs_in_with_its_role_and_stays_signed_in(browser, oidc_server):
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in_with_provider(page, oidc_server.url, CHEN)
        page.get_by_role("heading", name="Overview", level=1).wait_for(timeout=60_000)
        sidebar = page.get_by_test_id("stSidebar").inner_text()
        assert "Chen Wei (IdP)" in sidebar and "committee member" in sidebar and "Demo mode" not in sidebar
        assert_no_failure(page)
        # Streamlit's signed identity cookie carries the sign-in to a new page load; no second sign-in.
        page.goto(oidc_server.url + "/risks")
        page.get_by_role("heading", name="Risks", level=1).wait_for(timeout=60_000)

        cookie = next(c for c in context.cookies() if c["name"].startswith("_streamlit_user"))
        forged = cookie["value"][:-6] + ("AAAAAA" if not cookie["value"].endswith("AAAAAA") else "BBBBBB")
        context.add_cookies([{**cookie, "value": forged}])
        page.goto(oidc_server.url + "/risks")
        page.get_by_role("heading", name="Sign in to Quorum", level=1).wait_for(timeout=60_000)
        assert page.get_by_role("heading", name="Risks", level=1).count() == 0
    finally:
        context.close()


def test_an_identity_without_an_account_is_refused(browser, oidc_server):
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in_with_provider(page, oidc_server.url + "/signoffs", STRANGER)
        page.get_by_text("has no Quorum account").wait_for(timeout=60_000)
        assert page.get_by_role("heading", name="Sign-offs", level=1).count() == 0
        assert page.get_by_test_id("stSidebar").count() == 0 or "Signed in" not in page.get_by_test_id(
            "stSidebar").inner_text()
    finally:
        context.close()


def test_an_identity_whose_email_the_provider_has_not_verified_is_refused(browser, oidc_server):
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in_with_provider(page, oidc_server.url + "/signoffs", IMPOSTOR)
        page.get_by_text("the identity provider has not verified the e-mail address").wait_for(timeout=60_000)
        assert page.get_by_role("button", name="Sign out of the identity provider").count() == 1
        assert page.get_by_role("heading", name="Sign-offs", level=1).count() == 0
        assert page.get_by_test_id("stSidebar").count() == 0 or "Chen Wei" not in page.get_by_test_id(
            "stSidebar").inner_text()
        assert_no_failure(page)
    finally:
        context.close()
