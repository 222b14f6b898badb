"""The Admin page's API tokens, headless, on a private copy of the demo: an admin issues a token and sees it once,
it acts as the chosen account, names are shown as text, and a viewer can neither issue nor revoke others' tokens."""

from __future__ import annotations

from components.formatting import plain
from governance.access import identity, tokens
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page

PAGE = "pages/admin.py"
ADMIN, VIEWER = "grace.lindqvist", "hugo.tanaka"
HOSTILE = "<img src=x onerror=alert(1)> [x](http://evil)"


def _shown(app) -> str:
    return "\n".join(e.value for e in (*app.markdown, *app.success, *app.caption, *app.error))


def _issue(app, *, account: str, name: str, days: int = 30):
    next(s for s in app.selectbox if s.label == "Account it acts as").set_value(account)
    next(t for t in app.text_input if t.label == "What it is for").set_value(name)
    next(n for n in app.number_input if n.label.startswith("Expires after")).set_value(days)
    return next(b for b in app.button if b.label == "Issue token").click().run()


def _token_codes(app) -> list[str]:
    return [c.value for c in app.code if c.value.startswith(tokens.MARKER)]


def test_an_admin_issues_a_token_sees_it_once_and_revokes_it(demo_copy, monkeypatch):
    app = open_page(PAGE, demo_copy, monkeypatch, user=ADMIN)
    assert_clean(app)
    assert "API tokens" in [s.value for s in app.subheader]
    app = _issue(app, account="farid.haddad", name=HOSTILE)
    assert_clean(app)
    [token] = _token_codes(app)
    assert any("it will not be shown again" in s.value for s in app.success)
    shown = _shown(app)
    assert plain(HOSTILE) in shown and HOSTILE not in shown   # the name is text, never markup
    with GovernanceStore(demo_copy) as store:
        user = tokens.authenticate_token(store, token=token)
        assert (user.user_name, user.role) == ("farid.haddad", "engineering leader")
        assert store.query_value("SELECT count(*) FROM api_token WHERE token_hash = ?",
                                 [tokens.token_hash(token)]) == 1
        [listed] = tokens.list_tokens(store)
    listing = app.dataframe[-1].value
    assert list(listing["id"]) == [listed.token_id] and list(listing["state"]) == ["active"]
    assert list(listing["account"]) == ["farid.haddad"]
    assert token not in listing.to_csv() and token[12:] not in listing.to_csv()

    app.run()   # any next interaction: the token is gone from the page and from the session
    assert not _token_codes(app) and "ad_token_issued" not in app.session_state
    assert token not in str([app.session_state[k] for k in app.session_state])

    app.button(key=f"ad_token_revoke_{listed.token_id}").click().run()
    assert_clean(app)
    assert any(f"Revoked {listed.token_id}" in s.value for s in app.success)
    assert list(app.dataframe[-1].value["state"]) == ["revoked"]
    assert not [b for b in app.button if b.label == "Revoke"]   # only active tokens are revoked


def test_a_viewer_sees_the_tokens_but_may_not_issue_or_revoke_others(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        admin = identity.get_user(store, user_name=ADMIN)
        theirs = tokens.create_token(store, name="pipeline", user_name="farid.haddad", actor=admin,
                                     expires_days=None)
        own = tokens.create_token(store, name="my reader", user_name=VIEWER, actor=admin, expires_days=7)
    app = open_page(PAGE, demo_copy, monkeypatch, user=VIEWER)
    assert_clean(app)
    assert next(b for b in app.button if b.label == "Issue token").disabled
    assert app.button(key=f"ad_token_revoke_{theirs.token_id}").disabled
    assert not app.button(key=f"ad_token_revoke_{own.token_id}").disabled   # their own token
    assert sorted(app.dataframe[-1].value["id"]) == sorted([theirs.token_id, own.token_id])
    assert not _token_codes(app)
    app.button(key=f"ad_token_revoke_{own.token_id}").click().run()
    assert_clean(app)
    with GovernanceStore(demo_copy) as store:
        states = {t.token_id: t.state for t in tokens.list_tokens(store)}
    assert states == {theirs.token_id: "active", own.token_id: "revoked"}
