"""API tokens: how a program (a CI job, a pipeline) calls Quorum's HTTP API as one account.

A request carries `Authorization: Bearer qrm_…`. Each token is bound to one account and acts with that account's
role as stored now, never more: `authenticate_token` returns `identity.get_user` of the account, so a disabled
account or a changed role takes effect at once, and every service still runs its own `identity.require`.

- Only an admin ("manage users") issues a token, for an enabled account. The token is `qrm_` and 256 random bits
  (`secrets.token_urlsafe(32)`); it is returned once and never stored. The workspace keeps its SHA-256 (a fast
  hash is right for 256 random bits: there is nothing to guess) and the 8 characters after `qrm_`, to recognise
  it in lists.
- A token stops working when it expires or is revoked (by an admin or by its own account). Rows are never
  deleted; issuing and revoking are also entries in the ledger, whose payloads hold no secret.
- Using a token records when it was last used, at most once a minute per token, so a busy client does not cost
  a write per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from typing import TYPE_CHECKING

from governance.access import identity
from governance.errors import GovernanceError, InvalidInputError
from governance.record import clock, ledger, ledger_keys
from governance.record.repositories import accounts as account_rows
from governance.validation import checked_text

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore

MARKER = "qrm_"
PREFIX_LENGTH = 8
MAX_NAME = 100
MAX_EXPIRES_DAYS = 3650
LAST_USED_EVERY = timedelta(minutes=1)
STATES = ("active", "expired", "revoked")
_MAX_TOKEN_LENGTH = 200   # ours are 47 characters; anything far longer is not one, and is not hashed

TOKEN_REFUSED = ("this API token is not accepted: it is unknown, expired or revoked. Ask an admin for a new one "
                 "(`python -m governance tokens create NAME --user USER --by ADMIN`) and send it as "
                 "`Authorization: Bearer qrm_…`")
ACCOUNT_DISABLED = ("the account this API token acts as is disabled, so the token is refused: ask an admin to "
                    "enable the account, or to issue a token for another one")
UNKNOWN_TOKEN = "there is no API token {token_id!r}; `python -m governance tokens list` lists them"
ALREADY_REVOKED = "API token {token_id} was already revoked (at {at} UTC by {by}): nothing to revoke"
MAY_NOT_REVOKE = ("{who} may not revoke {token_id}: an admin, or the account the token acts as "
                  "({user_name}), revokes it")
BAD_EXPIRES = ("the expiry is a whole number of days from 1 to {most:,}, got {value!r}: "
               "or leave it out for a token that does not expire")
NAME_ONE_LINE = "the token name is one line: say what the token is for, e.g. 'ci-release-gate'"


class TokenError(GovernanceError):
    """A request's API token is refused (the HTTP API answers 401)."""


@dataclass(frozen=True)
class IssuedToken:
    """A newly issued token: the only time its text exists outside the program that holds it."""
    token_id: str
    name: str
    user_name: str
    token: str = field(repr=False)   # never in logs or tracebacks by way of repr()
    prefix: str
    created_at: datetime             # UTC, naive
    expires_at: datetime | None      # UTC, naive; None: never


@dataclass(frozen=True)
class TokenInfo:
    """A token as lists show it: no text, no hash."""
    token_id: str
    name: str
    user_name: str
    prefix: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    state: str                       # 'active', 'expired' or 'revoked', as of when it was read


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def token_hash(token: str) -> str:
    """The SHA-256 hex the workspace keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _state(*, expires_at: datetime | None, revoked_at: datetime | None, now: datetime) -> str:
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


def _fresh(store: GovernanceStore, actor: identity.User, action: str | None) -> identity.User:
    """The acting account as stored now (its role may have changed since it signed in), permitted `action`."""
    if action:
        identity.require(actor, action)
    if not isinstance(actor, identity.User):
        raise identity.PermissionDeniedError("nobody is signed in: sign in first")
    actor = identity.get_user(store, user_name=actor.user_name)
    if action:
        identity.require(actor, action)
    return actor


def _checked_days(expires_days) -> int | None:
    if expires_days is None:
        return None
    if isinstance(expires_days, bool) or not isinstance(expires_days, int) or not 1 <= expires_days <= \
            MAX_EXPIRES_DAYS:
        raise InvalidInputError(BAD_EXPIRES.format(most=MAX_EXPIRES_DAYS, value=expires_days))
    return expires_days


def _info(record: account_rows.TokenRecord, now: datetime) -> TokenInfo:
    return TokenInfo(token_id=record.token_id, name=record.name, user_name=record.user_name, prefix=record.prefix,
                     created_at=record.created_at, created_by=record.created_by, expires_at=record.expires_at,
                     last_used_at=record.last_used_at, revoked_at=record.revoked_at, revoked_by=record.revoked_by,
                     state=_state(expires_at=record.expires_at, revoked_at=record.revoked_at, now=now))


# --- issuing and revoking ------------------------------------------------------------------------------------------
def create_token(store: GovernanceStore, *, name: str, user_name: str, actor: identity.User,
                 expires_days: int | None) -> IssuedToken:
    """Issue a token that acts as `user_name` (an enabled account); an admin's action. The returned token text is
    the only copy: the workspace keeps its SHA-256."""
    actor = _fresh(store, actor, "manage users")
    name = checked_text(name, "the token name", limit=MAX_NAME)
    if any(c in name for c in "\r\n\t"):
        raise InvalidInputError(NAME_ONE_LINE)
    expires_days = _checked_days(expires_days)
    token = MARKER + secrets.token_urlsafe(32)
    prefix = token[len(MARKER):len(MARKER) + PREFIX_LENGTH]
    with store.write() as tx:   # the account is checked and the id taken inside the write: no id is issued twice
        bound = identity.get_user(store, user_name=user_name)
        token_id = f"TK-{account_rows.next_token_number(store):04d}"
        created_at = clock.now_naive()
        expires_at = None if expires_days is None else created_at + timedelta(days=expires_days)
        account_rows.add_token(tx, token_id=token_id, name=name, user_name=bound.user_name, prefix=prefix,
                               created_at=created_at, created_by=actor.user_name, expires_at=expires_at,
                               token_hash=token_hash(token))
        ledger.append(store, actor=actor.recorded_as, kind="token_created", subject=token_id,
                      payload={"token_id": token_id, "name": name, "user_name": bound.user_name,
                               "role": bound.role, "prefix": prefix, "expires_at": _iso(expires_at),
                               # not the hash itself, which is not shown, but a keyed digest of it: verify finds
                               # a row whose hash was swapped, and the ledger gives nothing to test guesses against
                               "token_hash_mac": ledger_keys.for_writing(store).mac(ledger_keys.TOKEN_HASH,
                                                                                       token_hash(token)),
                               "created_by": actor.signature_name, "created_at": _iso(created_at)},
                      idempotency_key=f"token_created:{token_id}")
    return IssuedToken(token_id=token_id, name=name, user_name=bound.user_name, token=token, prefix=prefix,
                       created_at=created_at, expires_at=expires_at)


def list_tokens(store: GovernanceStore) -> list[TokenInfo]:
    """Every token ever issued, newest first, with its state now; never its text or hash."""
    now = clock.now_naive()
    return [_info(record, now) for record in account_rows.tokens(store)]


def _moment(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.rstrip("Z"))


def tokens_as_of(store: GovernanceStore, *, before: datetime) -> list[TokenInfo]:
    """Every token issued before `before` (naive UTC), newest first, with its state then: folded from the ledger's
    token entries recorded before it (governance.record.record_state), not read from the table. created_by and
    revoked_by are the names the entries give; when a token was last used is not in the ledger (None here)."""
    from governance.record import record_state   # here: it imports pandas; the CLI imports this module at start

    issued, revoked = record_state.token_states(store, before=before)
    found = []
    for token_id, entry in issued.items():
        p, gone = entry["payload"], revoked.get(token_id, {}).get("payload", {})
        created_at = _moment(p.get("created_at")) or datetime.fromisoformat(entry["recorded_at"].rstrip("Z"))
        expires_at, revoked_at = _moment(p.get("expires_at")), _moment(gone.get("revoked_at"))
        found.append(TokenInfo(token_id=token_id, name=p["name"], user_name=p["user_name"], prefix=p["prefix"],
                               created_at=created_at, created_by=p.get("created_by", entry["actor"]),
                               expires_at=expires_at, last_used_at=None, revoked_at=revoked_at,
                               revoked_by=gone.get("revoked_by"),
                               state=_state(expires_at=expires_at, revoked_at=revoked_at, now=before)))
    return sorted(found, key=lambda t: (t.created_at, t.token_id), reverse=True)


def _token(store: GovernanceStore, token_id: str) -> TokenInfo:
    record = account_rows.token(store, token_id=(token_id or "").strip())
    if record is None:
        raise InvalidInputError(UNKNOWN_TOKEN.format(token_id=token_id))
    return _info(record, clock.now_naive())


def revoke_token(store: GovernanceStore, *, token_id: str, actor: identity.User) -> TokenInfo:
    """Stop a token working at once; an admin's action, or the account the token acts as. Cannot be undone."""
    actor = _fresh(store, actor, None)
    with store.write() as tx:
        current = _token(store, token_id)
        if not (identity.allowed(actor, "manage users") or actor.user_name == current.user_name):
            raise identity.PermissionDeniedError(MAY_NOT_REVOKE.format(
                who=actor.display_name, token_id=current.token_id, user_name=current.user_name))
        if current.revoked_at is not None:
            raise InvalidInputError(ALREADY_REVOKED.format(token_id=current.token_id,
                                                           at=_iso(current.revoked_at)[:-1], by=current.revoked_by))
        revoked_at = clock.now_naive()
        account_rows.revoke_token(tx, token_id=current.token_id, revoked_at=revoked_at, revoked_by=actor.user_name)
        ledger.append(store, actor=actor.recorded_as, kind="token_revoked", subject=current.token_id,
                      payload={"token_id": current.token_id, "name": current.name, "user_name": current.user_name,
                               "prefix": current.prefix, "revoked_by": actor.signature_name,
                               "revoked_at": _iso(revoked_at)},
                      idempotency_key=f"token_revoked:{current.token_id}")
    return _token(store, current.token_id)


# --- using -------------------------------------------------------------------------------------------------------
def authenticate_token(store: GovernanceStore, *, token: str) -> identity.User:
    """The account a request's token acts as, with its role as stored now; TokenError for a token that is unknown,
    expired or revoked, or whose account is disabled. Records the use, at most once a minute per token."""
    if not isinstance(token, str) or not token.startswith(MARKER) or len(token) > _MAX_TOKEN_LENGTH:
        raise TokenError(TOKEN_REFUSED)
    digest = token_hash(token)
    record = account_rows.token_by_hash(store, token_hash=digest)
    if record is None or not hmac.compare_digest(record.token_hash, digest):
        raise TokenError(TOKEN_REFUSED)
    token_id, user_name = record.token_id, record.user_name
    expires_at, revoked_at, last_used_at = record.expires_at, record.revoked_at, record.last_used_at
    now = clock.now_naive()
    if _state(expires_at=expires_at, revoked_at=revoked_at, now=now) != "active":
        raise TokenError(TOKEN_REFUSED)
    try:
        user = identity.get_user(store, user_name=user_name)
    except identity.PermissionDeniedError:
        raise TokenError(ACCOUNT_DISABLED) from None
    except InvalidInputError:   # accounts are never deleted; if one were, its tokens die with it
        raise TokenError(TOKEN_REFUSED) from None
    if last_used_at is None or now - last_used_at >= LAST_USED_EVERY:
        # The condition again, so concurrent requests record one use, not many. Bookkeeping (shown=False, bumps no
        # data version): the Admin page reads a token's last use uncached, and no cached figure depends on it.
        with store.write(shown=False) as tx:
            account_rows.record_use(tx, token_id=token_id, now=now, every=LAST_USED_EVERY)
    return user
