"""`python -m governance users add|list|email|disable|enable`: accounts for teams without an identity provider.

Passwords are never taken from the command line (shell history, process lists): they are prompted for, or
read from QUORUM_NEW_PASSWORD (the new account's) and QUORUM_PASSWORD (the acting admin's) in scripts.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from governance.access import caller, identity
from governance.errors import InvalidInputError

PASSWORDS_DIFFER = "the two passwords differ: nothing was saved; run the command again"
NO_TERMINAL = "no terminal to ask for {what}: set {variable} in the environment"


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    parser = commands.add_parser("users", parents=[workspace], help="accounts and their roles")
    sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)
    add = sub.add_parser("add", parents=[workspace], help="add an account (the password is prompted for)")
    add.add_argument("user_name", metavar="NAME", help="sign-in name, or the e-mail the identity provider asserts")
    add.add_argument("--role", required=True, choices=identity.ROLES)
    add.add_argument("--display-name", help="the printed name on signatures (default: NAME)")
    add.add_argument("--oidc", action="store_true",
                     help="the person signs in through the identity provider: no password is stored")
    add.add_argument("--email", help="where alerts for this person go (an identity-provider account named by its "
                                     "e-mail address gets that one)")
    add.add_argument("--by", metavar="ADMIN", help="the admin adding the account (not needed for the first admin)")
    add.add_argument("--json", action="store_true", help="print the result as JSON")
    email = sub.add_parser("email", parents=[workspace], help="set (or with no ADDRESS remove) where alerts reach "
                                                              "an account")
    email.add_argument("user_name", metavar="NAME")
    email.add_argument("address", metavar="ADDRESS", nargs="?")
    add_by_argument(email, what="sets it (an admin, or the person)")
    email.add_argument("--json", action="store_true", help="print the result as JSON")
    for action, words in (("disable", "stop an account: it can no longer sign in, act or use its API tokens; its "
                                      "name stays on what it signed"),
                          ("enable", "let a disabled account sign in and act again")):
        change = sub.add_parser(action, parents=[workspace], help=words)
        change.add_argument("user_name", metavar="NAME")
        add_by_argument(change, what=f"{action}s it (an admin)")
        change.add_argument("--json", action="store_true", help="print the result as JSON")
    listing = sub.add_parser("list", parents=[workspace], help="enabled accounts")
    listing.add_argument("--json", action="store_true", help="print the result as JSON")


def read_password(*, prompt: str, variable: str) -> str:
    """From the environment (scripts) or the terminal, never from argv; through the server, from the request."""
    if caller.through_server():
        return caller.secret_sent(variable=variable, what=prompt.rstrip(": ").lower())
    if os.environ.get(variable) is not None:
        return os.environ[variable]
    if not sys.stdin.isatty():
        raise InvalidInputError(NO_TERMINAL.format(what=prompt.rstrip(": ").lower(), variable=variable))
    return getpass.getpass(prompt)


def add_by_argument(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument("--by", metavar="USER", help=f"the account that {what} (default: your login name); "
                        "a local account's password is prompted for, or read from QUORUM_PASSWORD")


def acting_user(store, user_name: str | None) -> identity.User:
    """An account acting on the command line proves who it is, as on the sign-in screen; through the server its
    API token proved it already."""
    user_name = caller.acting_name(user_name)
    user = identity.get_user(store, user_name=user_name)
    if caller.through_server():
        return user
    if user.source == "local":
        return identity.authenticate(store, user_name=user_name, password=read_password(
            prompt=f"Password of {user_name}: ", variable="QUORUM_PASSWORD"))
    if user.source == "demo" and identity.is_demo_workspace(store):
        return user
    raise InvalidInputError(f"{user_name} signs in through the identity provider and cannot act on the command line")


def _new_password() -> str:
    """Asked twice at a terminal; read once from QUORUM_NEW_PASSWORD in scripts or from the server's request."""
    if caller.through_server() or os.environ.get("QUORUM_NEW_PASSWORD") is not None:
        return read_password(prompt="Password for the new account: ", variable="QUORUM_NEW_PASSWORD")
    first = read_password(prompt="Password for the new account: ", variable="QUORUM_NEW_PASSWORD")
    if getpass.getpass("The same password again: ") != first:
        raise InvalidInputError(PASSWORDS_DIFFER)
    return first


def _as_dict(user: identity.User) -> dict:
    return {"user_name": user.user_name, "display_name": user.display_name, "role": user.role, "source": user.source}


def _email(store, user_name: str) -> str | None:
    return next((c["email"] for c in identity.contacts(store) if c["user_name"] == user_name), None)


def add(store, args) -> dict:
    actor = acting_user(store, args.by) if args.by else None
    password = None if args.oidc else _new_password()
    return _as_dict(identity.add_user(store, user_name=args.user_name, display_name=args.display_name or "",
                                      role=args.role, actor=actor, password=password,
                                      source="oidc" if args.oidc else "local", email=args.email))


def print_added(result: dict) -> None:
    print(f"added {result['user_name']} ({result['display_name']}) as {result['role']}, signs in "
          + ("through the identity provider" if result["source"] == "oidc" else "with a password"))


def list_(store, args) -> dict:
    from governance.cli import as_of

    cut = as_of.cutoff(store, args)
    if cut is not None:   # the ledger holds no e-mail addresses: shown as None then
        return {"users": [{**_as_dict(a.user), "email": None} for a in identity.accounts_as_of(store, before=cut.before)
                          if not a.disabled]}
    return {"users": [{**_as_dict(u), "email": _email(store, u.user_name)} for u in identity.list_users(store)]}


def print_list(result: dict) -> None:
    for u in result["users"]:
        print(f"{u['user_name']:<28} {u['role']:<20} {u['source']:<6} {u['display_name']:<24} {u['email'] or '-'}")


def email(store, args) -> dict:
    identity.set_email(store, user_name=args.user_name, email=args.address, actor=acting_user(store, args.by))
    return {"user_name": args.user_name, "email": _email(store, args.user_name)}


def print_email(result: dict) -> None:
    print(f"alerts for {result['user_name']} go to {result['email']}" if result["email"]
          else f"{result['user_name']} has no e-mail address: alerts for them are listed as not reached")


def disable(store, args) -> dict:
    return identity.set_disabled(store, user_name=args.user_name, disabled=True, actor=acting_user(store, args.by))


def enable(store, args) -> dict:
    return identity.set_disabled(store, user_name=args.user_name, disabled=False, actor=acting_user(store, args.by))


def print_disabled(result: dict) -> None:
    state = "disabled" if result["disabled"] else "enabled"
    print(f"{result['user_name']} is {state}" + ("" if result["changed"] else " already: nothing changed"))


COMMANDS = {"add": (add, print_added, lambda result: 0), "list": (list_, print_list, lambda result: 0),
            "email": (email, print_email, lambda result: 0), "disable": (disable, print_disabled, lambda result: 0),
            "enable": (enable, print_disabled, lambda result: 0)}
