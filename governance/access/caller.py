"""Who runs a command: the person at the terminal, or, through the server, the account its API token belongs to.

A command acts as an account (`--by`). At a terminal the person proves who they are as on the sign-in screen
(a password from the prompt or QUORUM_PASSWORD). Through the server the token already proved it: the token's
account acts, a `--by` must name that same account, and the secrets a command needs (the signer's password,
a new account's password) come in the request, never from the server's own environment or terminal.
"""

from __future__ import annotations

import contextvars
import getpass
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Mapping

from governance.errors import GovernanceError, InvalidInputError

if TYPE_CHECKING:
    from governance.access.identity import User

BY_IS_NOT_THE_TOKEN = ("--by names {by!r}, but the token acts for {user!r}: through the server a command acts as "
                       "the token's account; leave --by out or use that account's token")
SECRET_NOT_SENT = "{what} is needed: set {variable} where you run the command (it is sent with the request)"


class CallerMismatchError(GovernanceError):
    """--by names another account than the API token's."""


@dataclass(frozen=True)
class ServerCaller:
    user: "User"
    secrets: Mapping[str, str] = field(default_factory=dict)


_caller: contextvars.ContextVar[ServerCaller | None] = contextvars.ContextVar("quorum_caller", default=None)


@contextmanager
def acting_through_server(caller: ServerCaller) -> Iterator[None]:
    """Run a command as the token's account, with the secrets its request carried."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


def through_server() -> ServerCaller | None:
    return _caller.get()


def acting_name(by: str | None) -> str:
    """The account a command acts as: the token's through the server, else --by, else the login name."""
    remote = _caller.get()
    if remote is None:
        return by or getpass.getuser()
    if by and by != remote.user.user_name:
        raise CallerMismatchError(BY_IS_NOT_THE_TOKEN.format(by=by, user=remote.user.user_name))
    return remote.user.user_name


def secret_sent(*, variable: str, what: str) -> str:
    """A secret the request carried (through the server only)."""
    value = _caller.get().secrets.get(variable)
    if value is None:
        raise InvalidInputError(SECRET_NOT_SENT.format(what=what, variable=variable))
    return value
