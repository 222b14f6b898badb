"""The sign-in gate: no page runs for a session nobody signed in to, whichever page address is asked for."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.formatting import plain
from components.navigation import PAGES
from governance.access import identity
from governance.record.store import GovernanceStore
from tests.app.test_pages import APP, signed_in

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def no_failed_sign_ins():
    """The process's one sign-in throttle (shared by every session, as in a server) starts and ends empty."""
    identity.PASSWORD_SIGN_IN_THROTTLE.clear()
    yield
    identity.PASSWORD_SIGN_IN_THROTTLE.clear()


@pytest.fixture
def workspace(demo_copy, monkeypatch):
    """The demo plus one local account, served as on localhost with demo mode turned on (as `make run` does)."""
    with GovernanceStore(demo_copy) as store:
        admin = next(u for u in identity.DEMO_USERS if u.role == "admin")
        identity.add_user(store, user_name="lin", display_name="Lin <b>Local</b>", role="committee member",
                          actor=admin, password=PASSWORD)
    monkeypatch.setenv("QUORUM_DB", str(demo_copy))
    monkeypatch.setenv("QUORUM_AUTO_DEMO", "0")
    monkeypatch.setenv(identity.DEMO_MODE_SETTING, "1")
    return demo_copy


def _fresh() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def _titles(app: AppTest) -> list[str]:
    return [t.value for t in app.title]


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_every_page_address_without_a_session_gets_the_sign_in_screen(workspace, page):
    app = _fresh()
    app.run()
    app.switch_page(page.path)
    app.run()
    assert not app.exception
    assert _titles(app) == ["Sign in to Quorum"]
    assert not app.metric and not app.dataframe


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_a_page_file_run_without_app_py_still_gets_the_sign_in_screen(workspace, page):
    """Streamlit can run a file in pages/ on its own (its older multipage layout, for `streamlit run app.py`):
    the page's own gate holds there too."""
    app = AppTest.from_file(str(Path(APP).parent / page.path), default_timeout=60)
    app.run()
    assert not app.exception
    assert _titles(app) == ["Sign in to Quorum"]
    assert not app.metric and not app.dataframe


def test_demo_mode_signs_in_a_named_demo_person_without_a_password(workspace):
    app = _fresh()
    app.run()
    people = app.selectbox(key="signin_demo_user")
    assert [o.split(" — ")[0] for o in people.options] == sorted(u.display_name for u in identity.DEMO_USERS)
    people.select_index(people.options.index("Elif Kaya — risk owner")).run()
    app.button(key="signin_demo").click().run()
    assert not app.exception
    assert _titles(app) == ["Overview"]
    assert app.session_state["quorum_auth"]["user_name"] == "elif.kaya"
    sidebar = " ".join(w.value for w in app.sidebar.caption) + " ".join(w.value for w in app.sidebar.warning)
    assert "Elif Kaya" in sidebar and "risk owner" in sidebar and "Demo mode" in sidebar


def test_demo_mode_is_off_without_the_setting_and_the_screen_says_how_to_turn_it_on(workspace, monkeypatch):
    """The demo workspace on localhost used to offer demo mode by itself; now it needs QUORUM_DEMO_MODE=1."""
    monkeypatch.delenv(identity.DEMO_MODE_SETTING)
    app = _fresh()
    app.run()
    assert not app.exception
    assert _titles(app) == ["Sign in to Quorum"]
    assert not app.selectbox and not [b for b in app.button if b.key == "signin_demo"]
    assert [i.value for i in app.info] == [plain(identity.DEMO_MODE_OFF)]
    assert len(app.text_input) == 2   # the local sign-in still works


OIDC_SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 40,
                         "client_id": "quorum", "client_secret": "secret",
                         "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}


def test_demo_mode_is_never_offered_where_an_identity_provider_is_configured(workspace):
    app = _fresh()
    app.secrets = OIDC_SECRETS
    app.run()
    assert not app.exception
    assert "signin_oidc" in [b.key for b in app.button] and "signin_demo" not in [b.key for b in app.button]
    assert not app.selectbox
    assert [i.value for i in app.info] == [plain(identity.DEMO_MODE_NOT_WITH_IDENTITY_PROVIDER)]
    # the same workspace without the identity provider's settings offers it (the setting is on in `workspace`)
    plain_app = _fresh()
    plain_app.run()
    assert plain_app.selectbox(key="signin_demo_user") and not plain_app.info


def _submit_password(app: AppTest, name: str, password: str) -> AppTest:
    app.text_input[0].input(name)
    app.text_input[1].input(password)
    return app.button(key="FormSubmitter:signin_password-Sign in").click().run()


def test_a_local_account_signs_in_with_its_password_only(workspace):
    app = _fresh()
    app.run()
    for name, password in (("lin", "not the password"), ("nobody", PASSWORD), ("chen.wei", "")):
        _submit_password(app, name, password)
        assert _titles(app) == ["Sign in to Quorum"], name
        assert "quorum_auth" not in app.session_state
        # One message whatever failed: it does not reveal who has an account, or how an account signs in.
        assert [e.value for e in app.error] == [plain(identity.SIGN_IN_REFUSED)], name
    _submit_password(app, "lin", PASSWORD)
    assert not app.exception
    assert _titles(app) == ["Overview"]
    assert app.session_state["quorum_auth"]["method"] == "password"
    assert plain("Lin <b>Local</b>") in " ".join(c.value for c in app.sidebar.caption)  # escaped: text, not HTML
    assert not any("Demo mode" in w.value for w in app.sidebar.warning)


def test_signing_out_and_a_disabled_account_end_the_session(workspace):
    app = signed_in(_fresh(), "lin")
    app.run()
    assert _titles(app) == ["Overview"]
    app.button(key="signout").click().run()
    assert _titles(app) == ["Sign in to Quorum"] and "quorum_auth" not in app.session_state

    app = signed_in(_fresh(), "lin")
    app.run()
    with GovernanceStore(workspace) as store:
        admin = identity.get_user(store, user_name="grace.lindqvist")
        identity.set_disabled(store, user_name="lin", disabled=True, actor=admin)
    app.run()
    assert _titles(app) == ["Sign in to Quorum"] and "quorum_auth" not in app.session_state


def test_a_session_naming_an_unknown_account_is_refused(workspace):
    app = signed_in(_fresh(), "mallory")
    app.run()
    assert _titles(app) == ["Sign in to Quorum"]


def test_a_sign_in_older_than_a_working_day_has_expired(workspace):
    app = signed_in(_fresh(), "lin")
    app.session_state["quorum_auth"] = {**app.session_state["quorum_auth"], "signed_in_at": time.time() - 13 * 3600}
    app.run()
    assert _titles(app) == ["Sign in to Quorum"] and "quorum_auth" not in app.session_state
    assert any("has expired" in w.value for w in app.warning)


def test_after_ten_failures_the_right_password_is_refused_in_every_session(workspace):
    """The throttle is the server process's, checked before the password: ten wrong guesses at lin's password
    (spread over two sessions) and the eleventh try is refused even with the right one, in a third session,
    with the same message as every other failure."""
    first, second = _fresh(), _fresh()
    first.run()
    second.run()
    for attempt in range(10):
        _submit_password(first if attempt % 2 else second, "lin", f"guess number {attempt}")
    assert [e.value for e in first.error] == [plain(identity.SIGN_IN_REFUSED)]
    third = _fresh()
    third.run()
    _submit_password(third, "lin", PASSWORD)
    assert not third.exception
    assert _titles(third) == ["Sign in to Quorum"] and "quorum_auth" not in third.session_state
    assert [e.value for e in third.error] == [plain(identity.SIGN_IN_REFUSED)]
    assert "wait" in identity.SIGN_IN_REFUSED and "5 minutes" in identity.SIGN_IN_REFUSED

    identity.PASSWORD_SIGN_IN_THROTTLE.clear()   # the window over: the right password signs in again
    _submit_password(third, "lin", PASSWORD)
    assert _titles(third) == ["Overview"]
