"""`python -m governance verify`: recheck the whole record (exit 0 intact, 1 broken, 3 signatures not checked)."""

from __future__ import annotations

import argparse

INTACT, BROKEN, UNCHECKED = 0, 1, 3


def add_parser(commands, *, workspace: argparse.ArgumentParser) -> None:
    verify = commands.add_parser(
        "verify", parents=[workspace],
        help="recheck the ledger, the risk register, their anchor and key, and the tables derived from the ledger "
             "(exit 0 intact, 1 broken, 3 intact hashes but no key to check the signatures)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")


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
    from governance import verification

    return verification.verify(store)


def _exit_code(result: dict) -> int:
    return INTACT if result["ok"] else BROKEN if result["problems"] else UNCHECKED


# (service, printer, exit code for a result), as the subcommands of cli_audit and cli_risks
COMMAND = (_verify, _print_verify, _exit_code)
