"""Who may do what: accounts, their one role each, and the permission check every service runs.

A service that changes anything takes the acting `User` and calls `require(user, action)` before it writes:
hiding a button on a page is not enforcement. Accounts are local (an argon2id password hash), from the
organisation's identity provider (OIDC: no password here, the provider vouches for the person), or demo users
(no password; offered only when the server was started with QUORUM_DEMO_MODE=1 on the demo workspace, see
`demo_mode`).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from governance.access.throttle import Throttle, ThrottledError
from governance.errors import GovernanceError, InvalidInputError
from governance.record import clock, ledger, ledger_keys
from governance.record.repositories import accounts as account_rows
from governance.vocabulary import PERMISSIONS, ROLES

if TYPE_CHECKING:   # the command line imports this module to build its parsers: no DuckDB, no argon2 for that
    from governance.record.store import GovernanceStore

SOURCES = ("local", "oidc", "demo")
MAX_NAME = 100
MIN_PASSWORD = 12

PERMISSION_DENIED = "{who} acts as {role!r}; {action} needs the role {roles}"
UNKNOWN_USER = "there is no user {name!r} in this workspace; an admin adds one with `python -m governance users add`"
DISABLED_USER = "the account {name!r} is disabled; ask an admin"
BAD_ROLE = "role must be one of {known}, got {value!r}"
BAD_USER_NAME = ("a user name is 1 to 100 characters of letters, digits and . _ @ + -, got {value!r}: "
                 "use e.g. 'ada.lovelace' or an e-mail address")
USER_EXISTS = "there already is a user {name!r}; pick another name"
LAST_ADMIN = ("{name!r} is the last enabled admin of this workspace: disabling it would leave nobody to manage "
              "accounts; make another account admin first")
WEAK_PASSWORD = "a password needs at least {n} characters; choose a longer one (a phrase works well)"
SIGN_IN_FAILED = "wrong user name or password"   # one message for both, so it does not reveal who has an account
BAD_EMAIL = "{value!r} is not an e-mail address: give one like name@example.org"
NO_PASSWORD = "{name!r} signs in through {source}, not with a password"
# The sign-in screen's one answer to every failure (unknown name, wrong password, an account that signs in another
# way, a disabled account, too many failures): it tells nobody which names exist or how they sign in.
SIGN_IN_REFUSED = ("Sign-in failed. Check the user name and password and try again; if your organisation signs "
                   "you in through its identity provider, use that button instead. After 10 failed tries, wait "
                   "5 minutes; if it still fails, ask an admin.")
EMAIL_NOT_VERIFIED = ("the identity provider has not verified the e-mail address {email!r}, so Quorum cannot "
                      "tell that it is yours: verify the address with your identity provider (or ask its "
                      "administrator to), then sign in again")

# Demo mode lets anyone who reaches the sign-in screen act as any demo person, admin included, with no password.
# So it is off unless the person starting the server turns it on (`make run` does, for the bundled demo), and no
# setting turns it on where people sign in through an identity provider.
DEMO_MODE_SETTING = "QUORUM_DEMO_MODE"
LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")
DEMO_MODE_OFF = ("Demo mode (signing in as a demo person without a password) is off: this is the demo workspace, "
                 "but the server was not started with QUORUM_DEMO_MODE=1. To try the demo on this machine, start "
                 "it with `make run` (which sets it) or `QUORUM_DEMO_MODE=1 python -m governance serve`.")
DEMO_MODE_NOT_WITH_IDENTITY_PROVIDER = (
    "Demo mode is off although QUORUM_DEMO_MODE=1: this server signs people in through an identity provider, and "
    "where it does nobody may act as another person without a password. Sign in with your organisation's account "
    "or a local account; for the demo, serve it without the identity provider's settings.")
DEMO_MODE_NOT_LOCAL = ("Demo mode is off although QUORUM_DEMO_MODE=1: the server is bound to {address!r}, so "
                       "other machines may reach it. Demo mode is for a server bound to this machine only "
                       "(--address localhost).")

_USER_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@functools.cache
def _hasher():
    """argon2id with the library's current recommended parameters; made on first use (hashing costs ~0.1 s)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("a password nobody has, to spend the same time on unknown names")


class PermissionDeniedError(GovernanceError):
    pass


class SignInError(GovernanceError):
    pass


@dataclass(frozen=True)
class User:
    user_name: str
    display_name: str
    role: str
    source: str = "local"

    @property
    def signature_name(self) -> str:
        """How the person appears on screens and signatures: printed name and role."""
        return f"{self.display_name} ({self.role})"

    @property
    def recorded_as(self) -> str:
        """How the account is written into records: its unique name and the role it acted in then."""
        return f"{self.user_name} ({self.role})"


# Monitoring proposes risks on its own; it is not an account and can do nothing else.
MONITORING = User(user_name="quorum-monitoring", display_name="Quorum monitoring", role="monitoring", source="system")

DEMO_USERS = (
    User("amara.okafor", "Amara Okafor", "committee chair", "demo"),
    User("ben.hartmann", "Ben Hartmann", "committee member", "demo"),
    User("chen.wei", "Chen Wei", "committee member", "demo"),
    User("dolores.ruiz", "Dolores Ruiz", "committee member", "demo"),
    User("elif.kaya", "Elif Kaya", "risk owner", "demo"),
    User("farid.haddad", "Farid Haddad", "engineering leader", "demo"),
    User("grace.lindqvist", "Grace Lindqvist", "admin", "demo"),
    User("hugo.tanaka", "Hugo Tanaka", "viewer", "demo"),
)


def allowed(user: User, action: str) -> bool:
    return user.role in PERMISSIONS[action]


def require(user: User, action: str) -> None:
    """Refuse, with who needs to do it instead, unless the user's role permits the action."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}")
    if not isinstance(user, User) or not allowed(user, action):
        role = getattr(user, "role", None)
        raise PermissionDeniedError(PERMISSION_DENIED.format(
            who=getattr(user, "display_name", "nobody signed in"), role=role, action=action,
            roles=" or ".join(PERMISSIONS[action])))


# --- accounts ----------------------------------------------------------------------------------------------------
def _checked_name(name: str) -> str:
    name = (name or "").strip()
    if not _USER_NAME.match(name):
        raise InvalidInputError(BAD_USER_NAME.format(value=name[:120]))
    return name


def checked_email(email: str | None) -> str | None:
    """An e-mail address (stripped), None for blank, or a clear error."""
    email = (email or "").strip()
    if not email:
        return None
    if not _EMAIL.match(email):
        raise InvalidInputError(BAD_EMAIL.format(value=email[:120]))
    return email


def add_user(store: GovernanceStore, *, user_name: str, display_name: str, role: str, actor: User | None,
             password: str | None = None, source: str = "local", email: str | None = None) -> User:
    """Add an account. `actor` is an admin, or None only when the workspace has no admin yet (the first one).
    An identity-provider account named by an e-mail address is reached there unless `email` says otherwise."""
    user_name = _checked_name(user_name)
    email = checked_email(email) or (user_name if source == "oidc" and _EMAIL.match(user_name) else None)
    display_name = (display_name or "").strip() or user_name
    if len(display_name) > MAX_NAME or re.search(r"[\x00-\x1f\x7f]", display_name):
        raise InvalidInputError(f"a display name is 1 to {MAX_NAME} printable characters")
    if role not in ROLES:
        raise InvalidInputError(BAD_ROLE.format(known=", ".join(ROLES), value=role))
    if source not in SOURCES:
        raise InvalidInputError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if actor is None:
        if account_rows.has_admin_besides_demo(store):
            raise PermissionDeniedError("this workspace has an admin: add users as an admin (--by ADMIN)")
        if role != "admin":
            raise InvalidInputError("the first account of a workspace must be an admin (--role admin)")
    else:
        require(actor, "manage users")
    password_hash = None
    if source == "local":
        if len(password or "") < MIN_PASSWORD:
            raise InvalidInputError(WEAK_PASSWORD.format(n=MIN_PASSWORD))
        password_hash = _hasher().hash(password)
    added = User(user_name, display_name, role, source)
    with store.write() as tx:
        if account_rows.name_taken(store, user_name=user_name):
            raise InvalidInputError(USER_EXISTS.format(name=user_name))
        account_rows.add_account(tx, user_name=user_name, display_name=display_name, role=role, source=source,
                                 password_hash=password_hash, created_at=clock.now_naive(),
                                 created_by=actor.user_name if actor else "(first admin)", email=email)
        _account_added(store, tx, added, password_hash=password_hash,
                       by=actor.recorded_as if actor else f"{user_name} (first admin)")
    return added


def _account_added(store: GovernanceStore, tx, user: User, *, password_hash: str | None, by: str) -> None:
    """The ledger entry of a new account, in the write that adds its row: `verify` compares the accounts with
    these entries (governance.record.record_state), so a role raised or a password hash swapped behind Quorum's back is
    named. The hash itself is not shown in the ledger: a keyed digest of it is."""
    key = ledger_keys.for_writing(store)
    n = ledger.count_of_kind(store, kind="account_change") + 1
    ledger.append(store, actor=by, kind="account_change", subject=user.user_name,
                  payload={"change": "add", "user_name": user.user_name, "display_name": user.display_name,
                           "role": user.role, "source": user.source,
                           "password_mac": None if password_hash is None else key.mac(ledger_keys.ACCOUNT_PASSWORD,
                                                                                      password_hash)},
                  idempotency_key=f"account_change:{n}")


def set_email(store: GovernanceStore, *, user_name: str, email: str | None, actor: User) -> None:
    """The address alerts for this account go to (None removes it); an admin's, or the person's own."""
    if actor.user_name != user_name:
        require(actor, "manage users")
    email = checked_email(email)
    if account_rows.account(store, user_name=user_name) is None:
        raise InvalidInputError(UNKNOWN_USER.format(name=user_name))
    with store.write() as tx:
        account_rows.set_email(tx, user_name=user_name, email=email)


def contacts(store: GovernanceStore) -> list[dict]:
    """Enabled accounts with their role and e-mail address (None where there is none): whom alerts can reach."""
    return [{"user_name": a.user_name, "display_name": a.display_name, "role": a.role, "email": a.email}
            for a in account_rows.accounts(store, enabled_only=True)]


def set_disabled(store: GovernanceStore, *, user_name: str, disabled: bool, actor: User) -> dict:
    """Accounts are disabled, never deleted: their names stay on the records they signed. A disabled account
    cannot sign in, act on the command line or through its API tokens. The change is recorded in the ledger with
    the admin who made it; the workspace's last enabled admin cannot be disabled (nobody could undo it)."""
    require(actor, "manage users")
    user_name = (user_name or "").strip()
    with store.write() as tx:   # decided inside the write: two admins disabling each other cannot both pass
        current = account_rows.account(store, user_name=user_name)
        if current is None:
            raise InvalidInputError(UNKNOWN_USER.format(name=user_name))
        role, was_disabled = current.role, current.disabled
        if disabled and role == "admin" and not was_disabled and not account_rows.other_enabled_admins(
                store, user_name=user_name):
            raise InvalidInputError(LAST_ADMIN.format(name=user_name))
        if bool(was_disabled) != bool(disabled):
            account_rows.set_disabled(tx, user_name=user_name, disabled=bool(disabled))
            n = ledger.count_of_kind(store, kind="account_change") + 1
            ledger.append(store, actor=actor.recorded_as, kind="account_change", subject=user_name,
                          payload={"change": "disabled" if disabled else "enabled", "user_name": user_name,
                                   "by": actor.signature_name, "at": clock.now_iso_micro()},
                          idempotency_key=f"account_change:{n}")
            changed = True
        else:
            changed = False
    return {"user_name": user_name, "disabled": bool(disabled), "changed": changed}


def rotate_ledger_key(store: GovernanceStore, *, new_secret: str, actor: User) -> dict:
    """Replace the workspace's ledger key (an admin's action; see governance.record.ledger.rotate_key)."""
    require(actor, "manage users")
    return ledger.rotate_key(store, new_secret=new_secret, recorded_as=actor.recorded_as)


def seed_demo_users(store: GovernanceStore, tx) -> None:
    """The demo's named people, one or more per role, inside the demo's own write."""
    account_rows.add_demo_accounts(tx, [account_rows.DemoAccount(u.user_name, u.display_name, u.role,
                                                                 f"{u.user_name}@example.org") for u in DEMO_USERS],
                                   created_at=clock.now_naive())
    for user in DEMO_USERS:
        _account_added(store, tx, user, password_hash=None, by="demo set-up")


def _user(record: account_rows.AccountRecord) -> User:
    return User(user_name=record.user_name, display_name=record.display_name, role=record.role, source=record.source)


def get_user(store: GovernanceStore, *, user_name: str) -> User:
    """The enabled account of that name, or a clear error."""
    record = account_rows.account(store, user_name=(user_name or "").strip())
    if record is None:
        raise InvalidInputError(UNKNOWN_USER.format(name=user_name))
    if record.disabled:
        raise PermissionDeniedError(DISABLED_USER.format(name=user_name))
    return _user(record)


def list_users(store: GovernanceStore) -> list[User]:
    return [_user(record) for record in account_rows.accounts(store, enabled_only=True)]


@dataclass(frozen=True)
class Account:
    """An account as an admin sees it: disabled ones too."""
    user: User
    email: str | None
    disabled: bool


def accounts(store: GovernanceStore) -> list[Account]:
    """Every account, enabled and disabled (list_users has the enabled ones only), by display name."""
    return [Account(user=_user(record), email=record.email, disabled=bool(record.disabled))
            for record in account_rows.accounts(store)]


def accounts_as_of(store: GovernanceStore, *, before: datetime) -> list[Account]:
    """Every account as it stood before `before` (naive UTC), by display name: folded from the ledger's account
    changes recorded before it (governance.record.record_state), not read from the table. The e-mail address is
    not in the ledger, so it is None here."""
    from governance.record import record_state   # here: it imports pandas; the CLI imports this module at start

    states = record_state.account_states(store, before=before).values()
    return [Account(user=User(user_name=a["user_name"], display_name=a["display_name"], role=a["role"],
                              source=a["source"]), email=None, disabled=a["disabled"])
            for a in sorted(states, key=lambda a: a["display_name"].lower())]


def authenticate(store: GovernanceStore, *, user_name: str, password: str) -> User:
    """A local account whose password matches; the same message and time for a wrong name or password."""
    from argon2.exceptions import InvalidHashError, VerificationError

    dummy = _dummy_hash()   # made before the lookup, so that even the first sign-in takes the same time either way
    record = account_rows.account(store, user_name=(user_name or "").strip())
    stored = record.password_hash if record and record.password_hash else dummy
    try:
        _hasher().verify(stored, password or "")
        matched = bool(record and record.password_hash)
    except (VerificationError, InvalidHashError):
        matched = False
    if not matched:
        if record and record.source != "local":
            raise SignInError(NO_PASSWORD.format(name=user_name, source="the identity provider"
                                                 if record.source == "oidc" else "demo mode"))
        raise SignInError(SIGN_IN_FAILED)
    if record.disabled:
        raise PermissionDeniedError(DISABLED_USER.format(name=user_name))
    return _user(record)


# Every local sign-in of this process counts here: one object, shared by all the Streamlit server's sessions.
PASSWORD_SIGN_IN_THROTTLE = Throttle()


def password_sign_in(store: GovernanceStore, *, user_name: str, password: str, client: str,
                     throttle: Throttle = PASSWORD_SIGN_IN_THROTTLE) -> User:
    """The sign-in screen's local sign-in: throttled per client and per account name (checked before the password
    is, so a throttled guess learns nothing even when right), and one message, SIGN_IN_REFUSED, for every failure.
    The name is counted whether or not it has an account, so the throttle does not reveal that either."""
    keys = (f"client {client}", f"account {(user_name or '').strip().lower()}")
    try:
        throttle.check(*keys)
    except ThrottledError:
        raise SignInError(SIGN_IN_REFUSED) from None
    try:
        return authenticate(store, user_name=user_name, password=password)
    except (SignInError, PermissionDeniedError):
        throttle.failed(*keys)
        raise SignInError(SIGN_IN_REFUSED) from None


def oidc_sign_in(store: GovernanceStore, *, claims: dict) -> User:
    """The account for the identity provider's claims (an ID token's). An address the provider has not verified
    (`email_verified` missing or anything but true) proves nothing: anyone may type any address at many
    providers, so such a sign-in is refused rather than matched to the account of that address."""
    email = claims.get("email")
    verified = claims.get("email_verified")
    if not (verified is True or verified == "true"):   # some providers send the JSON string "true"; 1 is not true
        raise SignInError(EMAIL_NOT_VERIFIED.format(email=email or claims.get("sub") or ""))
    return oidc_user(store, email=email, subject=claims.get("sub"))


def oidc_user(store: GovernanceStore, *, email: str | None, subject: str | None) -> User:
    """The account the identity provider's verified e-mail (or subject) belongs to; the provider proves who
    someone is, the workspace decides what they may do, so an unknown person is refused, not made a viewer."""
    for name in (email, subject):
        if name:
            record = account_rows.oidc_account(store, name=name)
            if record is not None:
                if record.disabled:
                    raise PermissionDeniedError(DISABLED_USER.format(name=name))
                return _user(record)
    raise SignInError(f"{email or subject} signed in with the identity provider but has no Quorum account: "
                      "ask an admin to run `python -m governance users add EMAIL --role ROLE --oidc`")


def has_accounts(store: GovernanceStore) -> bool:
    """Whether anyone can sign in yet: a new workspace has no account until its first admin is added."""
    return account_rows.has_accounts(store)


def is_demo_workspace(store: GovernanceStore) -> bool:
    return account_rows.has_demo_accounts(store)


@dataclass(frozen=True)
class DemoMode:
    """Whether the sign-in screen offers demo mode, and if not, why (None: nothing to say, not the demo)."""
    offered: bool
    reason: str | None = None


def demo_mode(store: GovernanceStore, *, server_address: str | None, identity_provider: bool,
              setting: str | None = None) -> DemoMode:
    """The one rule for password-less demo sign-in: the demo workspace, the setting QUORUM_DEMO_MODE=1 (`setting`
    overrides the environment), no identity provider configured, and a server bound to this machine only. The
    server's address stays a condition: the setting says someone meant to offer the demo, not to offer it to the
    network."""
    if not is_demo_workspace(store):
        return DemoMode(offered=False)
    setting = os.environ.get(DEMO_MODE_SETTING, "") if setting is None else setting
    if setting.strip() != "1":
        return DemoMode(offered=False, reason=DEMO_MODE_OFF)
    if identity_provider:
        return DemoMode(offered=False, reason=DEMO_MODE_NOT_WITH_IDENTITY_PROVIDER)
    if server_address not in LOCAL_ADDRESSES:
        return DemoMode(offered=False, reason=DEMO_MODE_NOT_LOCAL.format(address=server_address or ""))
    return DemoMode(offered=True)
