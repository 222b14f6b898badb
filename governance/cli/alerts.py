"""`python -m governance alerts check [--dry-run]` (for cron or a CI schedule) and `alerts list [--open]`."""

from __future__ import annotations

import argparse


def add_parser(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    group = commands.add_parser("alerts", parents=[workspace], help="evaluate the alert rules; list alert episodes")
    sub = group.add_subparsers(dest="subcommand", required=True, parser_class=parser_class)
    check = sub.add_parser("check", parents=[workspace],
                           help="open, escalate and close alert episodes now, and send what is due")
    check.add_argument("--dry-run", action="store_true", help="say what would happen; write and send nothing")
    check.add_argument("--by", metavar="USER", help="the account that runs the check, recorded on the episodes it "
                       "opens and closes (default: your login name); a local account's password is prompted for, or "
                       "read from QUORUM_PASSWORD; not needed with --dry-run")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    listing = sub.add_parser("list", parents=[workspace], help="alert episodes, newest first")
    listing.add_argument("--open", action="store_true", help="only the open ones")
    listing.add_argument("--json", action="store_true", help="print the result as JSON")
    rules = sub.add_parser("rules", parents=[workspace], help="a model's alert rules in force, and the schedule")
    rules.add_argument("--model", required=True)
    rules.add_argument("--json", action="store_true", help="print the result as JSON")


def _check(store, args) -> dict:
    from governance import alerts
    from governance.cli.users import acting_user

    # A dry run writes nothing, so it needs no account; a check that writes is recorded as its checked account's.
    return alerts.check_and_send(store, actor=None if args.dry_run else acting_user(store, args.by),
                                 dry_run=args.dry_run)


def _print_check(result: dict) -> None:
    print(f"{'would open' if result['dry_run'] else 'opened'} {len(result['opened'])}, escalated "
          f"{len(result['escalated'])}, closed {len(result['closed'])}; {result['open']} open now; "
          f"{result['queued']} messages queued")
    for a in result["alerts"]:
        print(f"  [{a['severity']}] {a['title']}")
    for u in result.get("unreachable", []):
        print(f"  not reached: {u['recipient']} for {u['alert_key']}")
    if "delivery" in result:
        d = result["delivery"]
        print(f"delivery: {d['delivered']} delivered, {d['retrying']} to retry, {d['failed']} failed")


def _list(store, args) -> dict:
    from governance import alerts

    return {"episodes": alerts.episodes(store, open_only=args.open)}


def _print_list(result: dict) -> None:
    for e in result["episodes"]:
        state = "open" if e["closed_at"] is None else f"closed {e['closed_at'][:16]}"
        print(f"[{e['severity']}] {e['title']} (opened {e['opened_at'][:16]}, {state})")


def _rules(store, args) -> dict:
    from governance.cli import as_of
    from governance.monitoring.inventory import require_model

    require_model(store, model=args.model)
    from governance import alerts

    before = getattr(as_of.cutoff(store, args), "before", None)   # --as-of: the rules as they stood then
    return {"model": args.model, "rules": alerts.rules(store, model=args.model, before=before),
            "schedule": alerts.schedule(store, before=before)}


def _print_rules(result: dict) -> None:
    print(f"{result['model']}: checked every {result['schedule']['every_minutes']} minutes")
    for what, rule in result["rules"].items():
        extra = {k: v for k, v in rule.items() if k not in ("enabled", "severity", "recipients")}
        print(f"  {what:<20} {'on ' if rule.get('enabled') else 'off'} {rule.get('severity', '-'):<9} "
              f"{', '.join(rule.get('recipients') or []) or '-'}" + "".join(f"  {k} {v}" for k, v in extra.items()))


COMMANDS = {"check": (_check, _print_check, lambda result: 0), "list": (_list, _print_list, lambda result: 0),
            "rules": (_rules, _print_rules, lambda result: 0)}
