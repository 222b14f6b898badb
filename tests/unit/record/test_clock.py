"""One UTC clock and one canonical JSON: every "today" in governance is the UTC date whatever the server's time zone,
and no module keeps a clock or a serialisation of its own."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from governance.record import canonical, clock

ROOT = Path(__file__).resolve().parents[3]
GOVERNANCE = ROOT / "governance"

# Printed by a fresh interpreter: "today" as the rules that depend on it see it (the demo's relative review and
# due dates), the clock's own date, and the time a new workspace stamps on its schema (written through SQL).
PROBE = """
import json, sys
from governance.demo import risks as demo_risks, signoffs as demo_signoffs
from governance.record import clock
from governance.record.store import GovernanceStore
with GovernanceStore(sys.argv[1]) as store:
    stamped = store.query_value("SELECT max(applied_at) FROM schema_version")
print(json.dumps({"today": clock.today().isoformat(), "review_in_0_days": demo_risks._day(0),
                  "due_in_0_days": demo_signoffs._due(0), "seconds": clock.now_iso_seconds(),
                  "schema_stamped": stamped.isoformat()}))
"""


def _probe(zone: str, workspace: Path) -> dict:
    env = {**os.environ, "TZ": zone}
    done = subprocess.run([sys.executable, "-c", PROBE, str(workspace)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_today_is_the_utc_date_in_any_server_time_zone(tmp_path):
    # UTC+14 and UTC-12: at every hour of the day one of them is on a different local date from UTC, so a rule
    # that used the local date would give a different answer here at any time the test runs.
    start = datetime.now(timezone.utc).replace(tzinfo=None)
    seen = {zone: _probe(zone, tmp_path / f"{i}.duckdb")
            for i, zone in enumerate(("UTC", "Pacific/Kiritimati", "Etc/GMT+12"))}
    end = datetime.now(timezone.utc).replace(tzinfo=None)
    before, after = start.date(), end.date()
    for zone, got in seen.items():
        assert got["today"] in (before.isoformat(), after.isoformat()), zone
        assert got["review_in_0_days"] == got["due_in_0_days"] == got["today"], zone
        assert got["seconds"].endswith("Z") and got["seconds"][:10] == got["today"], zone
        # stored naive timestamps are UTC, not the server's wall clock (SQL now() would give local time)
        assert start - timedelta(seconds=1) <= datetime.fromisoformat(got["schema_stamped"]) <= end, zone
    if before == after:    # not straddling UTC midnight: every zone gives the very same answer
        assert len({json.dumps({k: v for k, v in g.items() if k not in ("seconds", "schema_stamped")}) for g in seen.values()}) == 1


def test_the_clock_formats_are_those_already_stored():
    aware = clock.now()
    assert aware.tzinfo is not None and aware.utcoffset() == timedelta(0)
    assert clock.now_naive().tzinfo is None
    assert abs(clock.now_naive() - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(seconds=5)
    assert clock.now_naive_seconds().microsecond == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", clock.now_iso_seconds())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", clock.now_iso_micro())


def test_canonical_json_is_the_serialisation_every_stored_hash_was_taken_over():
    value = {"b": [1, 2.5, None, True], "a": "größe ✓", "c": {"z": 1, "y": "x"}}
    assert canonical.canonical_json(value) == '{"a":"größe ✓","b":[1,2.5,null,true],"c":{"y":"x","z":1}}'
    # byte-identical to what the ledger, fairness, sign-offs, alert delivery and the risk chain wrote before
    assert canonical.canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"),
                                                         ensure_ascii=False, allow_nan=False)
    with pytest.raises(ValueError):
        canonical.canonical_json({"x": math.nan})


def _sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in GOVERNANCE.rglob("*.py")}


def test_there_is_one_clock():
    # SQL's now() / current_timestamp is the database session's time zone, which is the server's local one
    local = re.compile(r"date\.today\(\)|datetime\.now\(|datetime\.today\(\)|utcnow\(|time\.localtime\(|"
                       r"(?<![\w.])now\(\)|current_timestamp|current_date", re.I)
    offenders = {name for name, text in _sources().items() if name != "clock.py" and local.search(text)}
    assert offenders == set()
    assert {name for name, text in _sources().items() if re.search(r"^def _now\(", text, re.M)} == set()


def test_there_is_one_canonical_json():
    inline = re.compile(r"json\.dumps\([^)]*sort_keys=True", re.S)
    offenders = {name for name, text in _sources().items() if name != "canonical.py" and inline.search(text)}
    assert offenders == set()
    defined = {name for name, text in _sources().items() if re.search(r"^def (canonical_json|_canonical)\(", text, re.M)}
    assert defined <= {"canonical.py", "audit_pack.py"}    # audit_pack's wraps the one, for a tampered manifest
