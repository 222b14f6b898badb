"""`python -m governance verify`: recheck the whole record (exit 0 intact, 1 broken, 3 signatures not checked);
`python -m governance rotate-key`: replace the ledger key, on the record."""

from __future__ import annotations

import argparse

INTACT, BROKEN, UNCHECKED = 0, 1, 3


def add_parser(commands, *, workspace: argparse.ArgumentParser) -> None:
    verify = commands.add_parser(
        "verify", parents=[workspace],
        help="recheck the ledger, the risk register, their anchor and key, and the tables derived from the ledger "
             "(exit 0 intact, 1 broken, 3 intact hashes but no key to check the signatures)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    rotate = commands.add_parser(
        "rotate-key", parents=[workspace],
        help="replace the ledger key (an admin, on the workspace's machine, with the server stopped): a rotation "
             "entry signed with both keys; the key file keeps the old key after the new one")
    rotate.add_argument("--new-key-file", required=True, metavar="PATH",
                        help="a file holding the new key (e.g. made with `openssl rand -hex 32 > PATH`)")
    rotate.add_argument("--by", metavar="ADMIN", help="the admin rotating it (default: your login name); a local "
                                                      "account's password is prompted for, or read from QUORUM_PASSWORD")
    rotate.add_argument("--json", action="store_true", help="print the result as JSON")


def _print_verify(result: dict) -> None:
    chains = ", ".join(f"{name} {chain['rows']:,}" for name, chain in result["chains"].items())
    if result["ok"]:
        print(f"record intact: {chains}; ledger head {result['head_hash'] or '-'}")
        return
    if result["problems"]:
        print(f"record BROKEN ({len(result['problems'])} problem{'s' * (len(result['problems']) != 1)}):")
        for problem in result["problems"]:
            print(f"  - {problem}")
    if result["key_problem"]:
        print(f"signatures NOT CHECKED: {result['key_problem']}")


def _verify(store, args) -> dict:
    from governance.record import verification

    return verification.verify(store)


def _exit_code(result: dict) -> int:
    return INTACT if result["ok"] else BROKEN if result["problems"] else UNCHECKED


def _rotate(store, args) -> dict:
    from pathlib import Path

    from governance.access import identity
    from governance.cli.users import acting_user
    from governance.errors import InvalidInputError

    try:
        secret = Path(args.new_key_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the new key from {args.new_key_file} ({exc}): give a text file "
                                "holding the key") from None
    return identity.rotate_ledger_key(store, new_secret=secret, actor=acting_user(store, args.by))


def _print_rotate(result: dict) -> None:
    print(f"ledger key rotated at entry {result['seq']}: {result['old_fingerprint']} -> {result['new_fingerprint']}; "
          "the key file now holds the new key first and the old one after it (keep both: older entries verify "
          "with the old key). Delete the new-key file you gave.")


# (service, printer, exit code for a result), as the subcommands of cli.audit and cli.risks
COMMAND = (_verify, _print_verify, _exit_code)
ROTATE = (_rotate, _print_rotate)
