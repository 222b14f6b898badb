"""`python -m governance tokens create|list|revoke`: API tokens, for programs that call Quorum's HTTP API.

A token acts as the one account it is bound to, with that account's role and never more; a program sends it as
`Authorization: Bearer qrm_…`. It is printed once, when it is issued: the workspace keeps only its SHA-256.
Issuing needs an admin (`--by ADMIN`); an admin or the token's own account revokes it. `--by` proves who acts as on
the sign-in screen: a local account's password is prompted for, or read from QUORUM_PASSWORD in scripts.

Only argparse is imported here: the services (and DuckDB behind them) are imported when a command runs.
"""

from __future__ import annotations

import argparse

NOT_SHOWN_AGAIN = ("This token will not be shown again: store it now (e.g. in your CI's secret store). "
                   "Send it as `Authorization: Bearer <token>`.")


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    from governance.cli.users import add_by_argument

    parser = commands.add_parser("tokens", parents=[workspace], help="API tokens: programs acting as an account")
    sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)

    create = sub.add_parser("create", parents=[workspace],
                            help="issue a token that acts as an account (printed once, never stored)")
    create.add_argument("name", metavar="NAME", help="what the token is for, e.g. ci-release-gate")
    create.add_argument("--user", required=True, metavar="USER",
                        help="the account the token acts as: it gets that account's role, never more")
    create.add_argument("--expires", type=int, metavar="DAYS", help="days until it stops working (default: never)")
    add_by_argument(create, what="issues it (an admin)")
    create.add_argument("--json", action="store_true", help="print the result as JSON")

    listing = sub.add_parser("list", parents=[workspace], help="every token issued, newest first, with its state")
    listing.add_argument("--json", action="store_true", help="print the result as JSON")

    revoke = sub.add_parser("revoke", parents=[workspace], help="stop a token working at once (cannot be undone)")
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="e.g. TK-0001 (`tokens list` shows them)")
    add_by_argument(revoke, what="revokes it (an admin, or the token's own account)")
    revoke.add_argument("--json", action="store_true", help="print the result as JSON")


def _iso(moment) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def _as_dict(info) -> dict:
    return {"token_id": info.token_id, "name": info.name, "user_name": info.user_name, "prefix": info.prefix,
            "state": info.state, "created_at": _iso(info.created_at), "created_by": info.created_by,
            "expires_at": _iso(info.expires_at), "last_used_at": _iso(info.last_used_at),
            "revoked_at": _iso(info.revoked_at), "revoked_by": info.revoked_by}


def create(store, args) -> dict:
    from governance.access import tokens
    from governance.cli.users import acting_user

    issued = tokens.create_token(store, name=args.name, user_name=args.user, actor=acting_user(store, args.by),
                                 expires_days=args.expires)
    return {"token": issued.token, "token_id": issued.token_id, "name": issued.name, "user_name": issued.user_name,
            "prefix": issued.prefix, "created_at": _iso(issued.created_at), "expires_at": _iso(issued.expires_at)}


def print_created(result: dict) -> None:
    expiry = f"expires {result['expires_at']}" if result["expires_at"] else "does not expire"
    print(f"issued {result['token_id']} ({result['name']}), acting as {result['user_name']}; it {expiry}")
    print(result["token"])
    print(NOT_SHOWN_AGAIN)


def list_(store, args) -> dict:
    from governance.access import tokens

    from governance.cli import as_of

    cut = as_of.cutoff(store, args)
    listed = tokens.list_tokens(store) if cut is None else tokens.tokens_as_of(store, before=cut.before)
    return {"tokens": [_as_dict(info) for info in listed]}


def print_list(result: dict) -> None:
    if not result["tokens"]:
        print("no API tokens yet: an admin issues one with `tokens create NAME --user USER --by ADMIN`")
    for t in result["tokens"]:
        print(f"{t['token_id']:<9} {t['state']:<8} qrm_{t['prefix']}…  {t['user_name']:<24} {t['name']:<24} "
              f"expires {t['expires_at'] or 'never':<21} last used {t['last_used_at'] or 'never'}")


def revoke(store, args) -> dict:
    from governance.access import tokens
    from governance.cli.users import acting_user

    return _as_dict(tokens.revoke_token(store, token_id=args.token_id, actor=acting_user(store, args.by)))


def print_revoked(result: dict) -> None:
    print(f"revoked {result['token_id']} ({result['name']}, acting as {result['user_name']}) at "
          f"{result['revoked_at']}: it is refused from now on")


COMMANDS = {"create": (create, print_created, lambda result: 0), "list": (list_, print_list, lambda result: 0),
            "revoke": (revoke, print_revoked, lambda result: 0)}
