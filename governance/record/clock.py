"""The one clock of the workspace: every "now" and every "today" in governance comes from here, in UTC.

Why one clock: sign-offs, ledger entries and tokens are stamped in UTC, so a rule that compares them with "today"
must use the UTC date too. `date.today` is the server's local date, which is a different day for up to 14 hours
of every day in some zones (a review due "today" would be overdue in Kiritimati and not yet due in UTC).

The stored text formats differ between tables that existed before this module; each is kept as a named function of
the one clock so that nothing already stored, hashed or signed changes shape.
"""

from __future__ import annotations

from datetime import date, datetime, timezone


def now() -> datetime:
    """The current moment, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def today() -> date:
    """Today's date in UTC (never the server's local date)."""
    return now().date()


def now_naive() -> datetime:
    """UTC without a time zone, as every timestamp column in the workspace is stored."""
    return now().replace(tzinfo=None)


def now_naive_seconds() -> datetime:
    """`now_naive()` to the whole second (audit and robustness run times)."""
    return now_naive().replace(microsecond=0)


def now_iso_seconds() -> str:
    """ISO 8601 text to the second with a trailing Z, e.g. 2026-12-04T21:30:00Z (reports, anomaly stamps)."""
    return now().isoformat(timespec="seconds").replace("+00:00", "Z")


def now_iso_micro() -> str:
    """ISO 8601 text to the microsecond with a trailing Z (gate decisions, fairness policies)."""
    return now().isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_date(value) -> date:
    """A day from a date, a datetime (its date) or ISO text (YYYY-MM-DD); ValueError for anything else, which each
    caller words for its own input."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())
