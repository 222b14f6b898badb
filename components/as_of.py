"""The sidebar's "As of" date: every page then shows the record as it stood at the end of that day, read-only.

Empty (the default) is the live record. A day set here is kept in the session; each page asks `as_of_day()` and,
when it is set, reads the record from `record_then()` (governance.reports.as_of.record_as_of: derived from the
ledger and the risk register's events, not from copies) instead of today's services, hides or greys out what
would change the record (`read_only()`), and telemetry pages end their window on the day (`last_day()`).
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from governance.record import clock

AS_OF_KEY = "as_of_day"
WIDGET_KEY = "as_of_picker"
LABEL = "As of"
HELP = ("Show the record as it stood at the end of a day (UTC): stages, reviews and their validity, risks and "
        "their scores, policies, alert rules, accounts and roles, and the audits and explanations stored by then. "
        "Telemetry pages show data up to that day. Leave it empty for the live record.")
BANNER = ("The record as it stood at the end of {day} (UTC) — read-only. Clear the “As of” date for the live "
          "record.")
READ_ONLY_NOTE = ("Read-only: the record as it stood at the end of {day}. Changes are made today: clear the “As of” "
                  "date.")


def as_of_day() -> date | None:
    """The day the app shows the record as of, or None for the live record."""
    value = st.session_state.get(AS_OF_KEY)
    return value if isinstance(value, date) else None


def read_only() -> bool:
    """Whether the app shows a past record: nothing may be changed from it."""
    return as_of_day() is not None


def _keep() -> None:
    st.session_state[AS_OF_KEY] = st.session_state.get(WIDGET_KEY)


def as_of_picker() -> None:
    """The sidebar's date (no later than today, UTC); empty is the live record. The day is kept under its own key,
    apart from the widget's, so that it holds from page to page (each page draws the widget anew)."""
    if st.session_state.get(WIDGET_KEY) != as_of_day():   # a new page's widget, or a day set by a link or a test
        st.session_state[WIDGET_KEY] = as_of_day()
    with st.sidebar:
        st.date_input(LABEL, value=None, max_value=clock.today(), key=WIDGET_KEY, help=HELP, format="YYYY-MM-DD",
                      on_change=_keep)


def as_of_banner() -> None:
    day = as_of_day()
    if day is not None:
        st.warning(BANNER.format(day=day), icon=":material/history:")


def read_only_note() -> bool:
    """Say, where a form would be, that the past record is read-only; True when it is (the caller skips the form)."""
    day = as_of_day()
    if day is not None:
        st.caption(READ_ONLY_NOTE.format(day=day))
    return day is not None


def record_then():
    """The record as it stood at the end of the chosen day (cached per day and workspace version), or None live.
    A day before the workspace's record raises its message, which the page shows."""
    day = as_of_day()
    if day is None:
        return None
    from components.workspace import cached
    from governance.reports.as_of import record_as_of

    return cached(record_as_of, day=day)


def last_day(until: date | None = None) -> date | None:
    """A telemetry window's last day, no later than the "As of" day (None: no bound from here)."""
    day = as_of_day()
    if day is None:
        return until
    return day if until is None else min(until, day)


def open_episodes(episodes: list[dict], *, before) -> list[dict]:
    """Of the alert episodes (governance.alerts.episodes, times as ISO text), those open at `before` (naive UTC):
    opened before it and not closed by then. Episodes are append-only rows with their own times."""
    cut = before.isoformat()
    return [e for e in episodes if e["opened_at"][:26] < cut and (e["closed_at"] is None or e["closed_at"][:26] >= cut)]


def episodes_then(episodes: list[dict], *, before) -> list[dict]:
    """The alert episodes opened before `before`, each as it stood then: one closed later shows as open."""
    cut = before.isoformat()
    return [{**e, "closed_at": None if e["closed_at"] is None or e["closed_at"][:26] >= cut else e["closed_at"],
             "last_seen_at": min(e["last_seen_at"], cut) if e.get("last_seen_at") else e.get("last_seen_at")}
            for e in episodes if e["opened_at"][:26] < cut]


def deliveries_then(outbox: list[dict], *, before) -> list[dict]:
    """The messages queued before `before`, with the attempts made by then; one delivered later was pending then
    (a failure's later retries are not told apart: its status is the one it has now)."""
    cut = before.isoformat()
    found = []
    for d in outbox:
        if (d["created_at"] or "")[:26] >= cut:
            continue
        attempts = [a for a in d["attempts"] if (a["attempted_at"] or "")[:26] < cut]
        late = d.get("delivered_at") and d["delivered_at"][:26] >= cut
        found.append({**d, "attempts": attempts, **({"status": "pending", "delivered_at": None} if late else {})})
    return found


def versions_then(versions):
    """The inventory's versions frame (monitoring.inventory.list_versions), or (as of a day) the versions registered
    by then, each at the stage it was at."""
    then = record_then()
    if then is None:
        return versions
    kept = versions[[(m, v) in then.stages for m, v in zip(versions["model"], versions["version"])]].copy()
    kept["stage"] = [then.stages[(m, v)] for m, v in zip(kept["model"], kept["version"])]
    return kept
