"""`--as-of YYYY-MM-DD`: the read commands show the record as it stood at the end of that day (UTC).

The record's read commands answer from the ledger and the risk register's events recorded by then
(governance.reports.as_of, governance.record.as_of); the telemetry read commands end their window on that day.
Every other command refuses the option: a change is made today, and a check such as `verify` is of the record as it
is now. The option travels through a server like any other argument, and the refusal is made where the command
runs (`refuse_unless_honoured`, called by main.run_on_store), so a request to the API is refused alike.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from governance.errors import InvalidInputError

WRITES_TODAY = "--as-of shows the record as it stood; changes are made today: drop --as-of"
NOT_AS_OF = ("`{command}` reads the record as it is now (it does not take --as-of): drop --as-of, or use a read "
             "command that does: {commands}")
# The record's read commands: they answer from the record as it stood.
RECORD_READS = ("status", "risks list", "risks history", "signoff status", "signoff list", "signoff member",
                "signoff rules", "users list", "tokens list", "audit list", "audit policy", "robustness list",
                "alerts rules")
# Telemetry's read commands: their window ends on the day.
TELEMETRY_READS = ("kpis", "compare", "drift", "estimate")
# Reads that are of the record as it is now, refused with that reason rather than as changes.
NOW_READS = ("verify", "risks verify", "risks coverage", "audit show", "audit verify", "audit compare",
             "robustness show", "signoff queue", "checklist show", "alerts list", "quality", "verify-pack",
             "telemetry sources", "telemetry list", "anomalies")
HONOURED = RECORD_READS + TELEMETRY_READS


DEST = "record_as_of"   # not "as_of": `signoff request --as-of` is the day its evidence is taken up to


def add_argument(parser: argparse.ArgumentParser, *, default=None) -> None:
    parser.add_argument("--as-of", metavar="YYYY-MM-DD", dest=DEST, default=default,
                        help=argparse.SUPPRESS if default is argparse.SUPPRESS else
                        "show the record as it stood at the end of that day (UTC), read-only: the read commands "
                        "(risks, signoffs, users, tokens, audits, status) and telemetry up to that day")


def without_option(parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A copy of a parent parser's options without --as-of, for a command with an --as-of of its own."""
    copy = argparse.ArgumentParser(add_help=False)
    for action in parent._actions:
        if action.dest != DEST:
            copy._add_action(action)
    return copy


def day_of(args: argparse.Namespace) -> date | None:
    """The --as-of day, or None (checked for shape here; the workspace checks it is within its record)."""
    text = getattr(args, DEST, None)
    if text in (None, ""):
        return None
    from governance.record.as_of import parse_day

    return parse_day(text)


def refuse_unless_honoured(name: str, args: argparse.Namespace) -> None:
    """A command that does not take --as-of refuses it, saying why."""
    if getattr(args, DEST, None) in (None, "") or name in HONOURED:
        return
    if name in NOW_READS:
        raise InvalidInputError(NOT_AS_OF.format(command=name, commands=", ".join(HONOURED)))
    raise InvalidInputError(WRITES_TODAY)


def refuse_change(args: argparse.Namespace) -> None:
    """For a command that reads or changes by its arguments (`signoff member add`, `signoff rules KEY VALUE`)."""
    if day_of(args) is not None:
        raise InvalidInputError(WRITES_TODAY)


def cutoff(store, args: argparse.Namespace):
    """The day's cut-off (governance.record.as_of.Cutoff), or None without --as-of; refuses a day after today or
    before the workspace's record."""
    day = day_of(args)
    if day is None:
        return None
    from governance.record import as_of

    return as_of.cutoff(store, day=day)


def stamped(result: dict, args: argparse.Namespace) -> dict:
    """The result with "as_of" (what --json prints), when --as-of was given. A result that has an "as_of" of its own
    (a review's: the day its evidence was taken up to) keeps it, and says the record's day as "record_as_of"."""
    day = day_of(args)
    if day is None:
        return result
    return {"record_as_of": str(day), **result} if "as_of" in result else {"as_of": str(day), **result}


def banner(args: argparse.Namespace) -> str | None:
    """The line text output starts with under --as-of."""
    day = day_of(args)
    return None if day is None else f"as of {day}: the record as it stood at the end of that day (UTC), read-only"


def last_day(until: str | None, args: argparse.Namespace) -> str | None:
    """A telemetry window's last day, no later than the --as-of day."""
    day = day_of(args)
    if day is None:
        return until
    return str(min(date.fromisoformat(until), day)) if until else str(day)


def after(day_text: str) -> str:
    return str(date.fromisoformat(day_text) + timedelta(days=1))
