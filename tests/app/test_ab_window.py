"""Issue 22 §4: the A/B comparison's default window is written once (compare.default_window): the A/B page and
`python -m governance compare` take the same window, the one computed here from the telemetry itself."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pandas as pd

from governance.monitoring import compare
from governance.record.store import GovernanceStore
from tests.app.test_pages import assert_clean, open_page
from tests.unit.cli.test_cli import cli

MODEL, A, B = "adult-income", "v1", "v2"


def served_days(db) -> dict[str, tuple[date, date]]:
    """Each version's first and last day of telemetry, read straight from the table (not through Quorum)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT version, min(ts)::DATE, max(ts)::DATE FROM telemetry WHERE model = ? "
                           "GROUP BY version", [MODEL]).fetchall()
    return {version: (first, last) for version, first, last in rows}


def expected_window(db) -> tuple[date, date]:
    """The days both versions served; if they never served on the same day, every day of the model's telemetry."""
    days = served_days(db)
    first, last = max(days[A][0], days[B][0]), min(days[A][1], days[B][1])
    if last < first:
        first, last = min(d[0] for d in days.values()), max(d[1] for d in days.values())
    return first, last


def page_window(db, monkeypatch) -> tuple[date, date]:
    app = open_page("pages/compare.py", db, monkeypatch)
    assert_clean(app)
    picked = next(d for d in app.date_input if d.label.startswith("Window"))
    return tuple(picked.value)


def cli_window(db, *extra: str) -> tuple[date, date]:
    done = cli("--db", str(db), "compare", "--model", MODEL, "--a", A, "--b", B, *extra, "--json")
    assert done.returncode == 0, done.stderr
    window = json.loads(done.stdout)["window"]
    return (date.fromisoformat(window["start"][:10]),
            date.fromisoformat(window["end"][:10]) - timedelta(days=1))   # the end is exclusive


def service_window(db) -> tuple[date, date]:
    with GovernanceStore(db) as store:
        window = compare.default_window(store, model=MODEL, a=A, b=B)
    return window.start.date(), (window.end - pd.Timedelta(days=1)).date()


def test_the_page_and_the_cli_take_the_days_both_versions_served(demo_copy, monkeypatch):
    expected = expected_window(demo_copy)
    assert expected == (date(2026, 8, 30), date(2026, 9, 28))   # the demo's A/B split
    # the CLI (another process) first: the page keeps the workspace open until the test ends
    assert cli_window(demo_copy) == service_window(demo_copy) == page_window(demo_copy, monkeypatch) == expected


def test_one_given_end_keeps_the_other_where_both_served(demo_copy):
    """`--until` alone: the first day stays the first day both served (it was the model's first day of telemetry,
    two months before v2 existed); `--since` alone: the last day both served."""
    first, last = expected_window(demo_copy)
    assert served_days(demo_copy)[A][0] < first
    assert cli_window(demo_copy, "--until", "2026-09-20") == (first, date(2026, 9, 20))
    assert cli_window(demo_copy, "--since", "2026-09-01") == (date(2026, 9, 1), last)


def test_versions_that_never_served_together_take_the_whole_span_on_both(demo_copy, monkeypatch):
    with GovernanceStore(demo_copy) as store:
        with store.write() as tx:   # v1 retired the day before v2 started: no day in common
            tx.execute("DELETE FROM telemetry WHERE model = ? AND version = ? AND ts >= TIMESTAMP '2026-08-30'",
                       [MODEL, A])
    days = served_days(demo_copy)
    assert days[A][1] < days[B][0]
    expected = expected_window(demo_copy)
    assert expected == (date(2026, 7, 1), date(2026, 9, 28))
    # the CLI (another process) first: the page keeps the workspace open until the test ends
    assert cli_window(demo_copy) == service_window(demo_copy) == page_window(demo_copy, monkeypatch) == expected
