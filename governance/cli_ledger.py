"""`python -m governance verify`: recheck the ledger's chain, signatures and anchor (exit 1 if broken)."""

from __future__ import annotations

import argparse


def add_parser(commands, *, workspace: argparse.ArgumentParser) -> None:
    verify = commands.add_parser("verify", parents=[workspace],
                                 help="recheck the ledger of sign-offs and decisions (exit 1 if broken)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")


def _print_verify(result: dict) -> None:
    if result["ok"]:
        print(f"ledger intact: {result['entries']} entries, head {result['head_hash'] or '-'}")
    elif result["first_bad_seq"] is None:
        print(f"ledger BROKEN: {result['problem']}")
    else:
        print(f"ledger BROKEN at entry {result['first_bad_seq']}: {result['problem']}")


def _verify(store, args) -> dict:
    from governance import ledger

    return ledger.verify(store)


# (service, printer, exit code for a result), as the subcommands of cli_audit and cli_risks
COMMAND = (_verify, _print_verify, lambda result: 0 if result["ok"] else 1)
