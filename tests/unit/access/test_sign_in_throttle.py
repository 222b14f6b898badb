"""The failed-authentication rule (10 per 5 minutes per client and per account) and the local sign-in's one
message for every failure; and the identity provider's unverified e-mail refused through the real claim handling."""

from __future__ import annotations

import pytest

from governance.access import identity
from governance.access.identity import SignInError
from governance.access.throttle import Throttle, ThrottledError
from tests.unit.conftest import PASSWORD


class Clock:
    """Seconds that the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rule_refuses_the_eleventh_within_five_minutes_until_the_oldest_failure_ages_out():
    clock = Clock()
    throttle = Throttle(clock=clock)
    assert (throttle.limit, throttle.window) == (10, 300)
    times = []
    for _ in range(10):
        throttle.check("client a")
        throttle.failed("client a")
        times.append(clock.now)
        clock.now += 7.0
    with pytest.raises(ThrottledError) as refused:
        throttle.check("client a")
    assert refused.value.who == "client a"
    assert refused.value.wait == int(times[0] + 300 - clock.now) + 1
    throttle.check("client b")                      # per key: another client is not affected
    clock.now = times[0] + 300 - 0.001              # the oldest failure is still inside the window
    with pytest.raises(ThrottledError):
        throttle.check("client a")
    clock.now = times[0] + 300                      # it has aged out: one more try is allowed, then refused again
    throttle.check("client a")
    throttle.failed("client a")
    with pytest.raises(ThrottledError):
        throttle.check("client a")


def test_either_key_over_the_limit_refuses():
    throttle = Throttle(clock=Clock())
    for i in range(10):   # ten clients guessing one account: the account is throttled for an eleventh client
        throttle.failed(f"client {i}", "account ada")
    with pytest.raises(ThrottledError, match="account ada"):
        throttle.check("client fresh", "account ada")
    throttle.check("client fresh", "account other")


@pytest.fixture
def accounts(store, admin):
    identity.add_user(store, user_name="val", display_name="Val", role="viewer", actor=admin, password=PASSWORD)
    identity.set_disabled(store, user_name="val", disabled=True, actor=admin)
    identity.add_user(store, user_name="chen@example.org", display_name="Chen", role="committee member",
                      actor=admin, source="oidc")
    with store.write() as tx:
        identity.seed_demo_users(store, tx)
    return store


@pytest.mark.parametrize("name, password", [
    ("nobody", PASSWORD),                 # unknown account
    ("ada", PASSWORD + "!"),              # wrong password
    ("ada", ""),                          # no password
    ("chen@example.org", PASSWORD),       # signs in through the identity provider
    ("chen.wei", ""),                     # a demo person
    ("val", PASSWORD),                    # disabled, with the right password
], ids=["unknown", "wrong", "empty", "oidc", "demo", "disabled"])
def test_every_failure_gets_the_one_message(accounts, name, password):
    with pytest.raises(SignInError) as refused:
        identity.password_sign_in(accounts, user_name=name, password=password, client="10.0.0.1",
                                  throttle=Throttle(clock=Clock()))
    assert str(refused.value) == identity.SIGN_IN_REFUSED


def test_after_ten_failures_the_right_password_is_refused_with_the_same_message(accounts):
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(10):
        with pytest.raises(SignInError, match="Sign-in failed"):
            identity.password_sign_in(accounts, user_name="ADA ", password="guess", client="10.0.0.1",
                                      throttle=throttle)
    for client in ("10.0.0.1", "10.0.0.2"):   # the account is throttled for every client (name case-blind)
        with pytest.raises(SignInError) as refused:
            identity.password_sign_in(accounts, user_name="ada", password=PASSWORD, client=client, throttle=throttle)
        assert str(refused.value) == identity.SIGN_IN_REFUSED
    with pytest.raises(SignInError):           # and the client for every account, even unknown names
        identity.password_sign_in(accounts, user_name="someone", password="x", client="10.0.0.1", throttle=throttle)
    clock.now += 300
    assert identity.password_sign_in(accounts, user_name="ada", password=PASSWORD, client="10.0.0.1",
                                     throttle=throttle).role == "admin"


def test_the_throttle_is_checked_before_the_password(accounts, monkeypatch):
    """A throttled attempt never reaches argon2: no hash is verified, so a right guess cannot be told apart."""
    from argon2 import PasswordHasher

    throttle = Throttle(clock=Clock())
    throttle.failed(*["client 10.0.0.9"] * 10)
    verified = []
    real_verify = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, *a: verified.append(a) or real_verify(self, *a))
    with pytest.raises(SignInError, match="Sign-in failed"):
        identity.password_sign_in(accounts, user_name="ada", password=PASSWORD, client="10.0.0.9", throttle=throttle)
    assert verified == []
    identity.password_sign_in(accounts, user_name="ada", password=PASSWORD, client="10.0.0.8", throttle=throttle)
    assert len(verified) == 1


@pytest.mark.parametrize("verified", [None, False, "false", "yes", 1])
def test_an_identity_whose_email_the_provider_has_not_verified_is_refused(accounts, verified):
    claims = {"sub": "chen@example.org", "email": "chen@example.org"}
    if verified is not None:
        claims["email_verified"] = verified
    with pytest.raises(SignInError) as refused:
        identity.oidc_sign_in(accounts, claims=claims)
    assert str(refused.value) == identity.EMAIL_NOT_VERIFIED.format(email="chen@example.org")
    assert "has not verified" in str(refused.value) and "verify the address" in str(refused.value)


def test_an_identity_with_a_verified_email_gets_its_account(accounts):
    for verified in (True, "true"):
        user = identity.oidc_sign_in(accounts, claims={"sub": "x", "email": "Chen@Example.org",
                                                       "email_verified": verified})
        assert user.user_name == "chen@example.org"
    with pytest.raises(SignInError, match="has no Quorum account"):
        identity.oidc_sign_in(accounts, claims={"sub": "y", "email": "ada", "email_verified": True})
