"""`ingest` writes as a checked account, as every other write does: the account named with --by proves who it is
(a local account's password), needs the role to configure monitoring, and is recorded in the ledger entry the
ingest commits with its rows. A file queued in a served workspace's inbox cannot carry a checked account: it is
recorded as the file-system account that owns it, and naming an account there is refused, not silently dropped."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from governance.access import identity
from governance.monitoring import ingest
from governance.record import ledger
from governance.record.store import GovernanceStore
from tests.conftest import ROOT

MODEL, VERSION = "adult-income", "v2"
PASSWORD = "the ops engineer's password"
ROWS = 23


def governance(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("QUORUM_SERVER", "QUORUM_TOKEN", "QUORUM_PASSWORD",
                                                                 "QUORUM_DB")}
    return subprocess.run([sys.executable, "-m", "governance", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**clean, **(env or {})}, timeout=300)


def serving_log(path: Path, *, minute: int = 0) -> Path:
    pd.DataFrame({"ts": [f"2026-10-02T10:{minute + i % 10:02d}:{i:02d}Z" for i in range(ROWS)],
                  "prediction": [i % 2 for i in range(ROWS)], "latency_ms": [20.0 + i for i in range(ROWS)],
                  "is_error": ["false"] * ROWS}).to_csv(path, index=False)
    return path


def counts(db: Path) -> tuple[int, int]:
    with GovernanceStore(db) as store:
        return (store.query_value("SELECT count(*) FROM telemetry WHERE model = ? AND version = ?", [MODEL, VERSION]),
                len(ledger.entries(store, kind="telemetry_ingest")))


def test_ingest_is_recorded_as_the_checked_account_with_the_role_to_configure_monitoring(demo_copy, tmp_path):
    with GovernanceStore(demo_copy) as store:
        identity.add_user(store, user_name="ops", display_name="Ops", role="engineering leader",
                          actor=identity.get_user(store, user_name="grace.lindqvist"), password=PASSWORD)
    log = serving_log(tmp_path / "serving-log.csv")
    asked = ("--db", demo_copy, "ingest", "telemetry", log, "--model", MODEL, "--version", VERSION, "--json")
    before = counts(demo_copy)
    for extra, env, words in ((("--by", "hugo.tanaka"), {}, "configure monitoring needs the role"),
                              (("--by", "ops"), {"QUORUM_PASSWORD": "not the password"}, identity.SIGN_IN_FAILED),
                              ((), {"LOGNAME": "nobody-at-this-desk"}, "there is no user 'nobody-at-this-desk'")):
        refused = governance(*asked, *extra, env=env)
        assert refused.returncode == 2 and refused.stdout == "", (extra, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("error: ") and words in refused.stderr, (extra, refused.stderr)
        assert counts(demo_copy) == before   # no rows and no record

    done = governance(*asked, "--by", "ops", env={"QUORUM_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["mode"], result["rows_accepted"], result["ingested_by"]) == ("ingested", ROWS,
                                                                                "ops (engineering leader)")
    assert counts(demo_copy) == (before[0] + ROWS, before[1] + 1)
    with GovernanceStore(demo_copy) as store:
        entry = ledger.entries(store, kind="telemetry_ingest")[-1]
    assert entry["actor"] == "ops (engineering leader)" and entry["subject"] == f"{MODEL} {VERSION}"
    assert entry["payload"]["file_sha256"] == hashlib.sha256(log.read_bytes()).hexdigest() == result["file_sha256"]
    assert (entry["payload"]["rows_accepted"], entry["payload"]["via"]) == (ROWS, "direct")
    printed = governance(*asked[:-1], "--by", "ops", env={"QUORUM_PASSWORD": PASSWORD})   # a repeat
    assert printed.returncode == 0 and "already ingested earlier" in printed.stdout
    assert counts(demo_copy) == (before[0] + ROWS, before[1] + 1)


def _holder(workspace: Path) -> subprocess.Popen:
    """Another process holding the workspace open, as the running server does."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from governance.record.store import GovernanceStore
        store = GovernanceStore({str(workspace)!r})
        print("holding", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_a_file_queued_in_the_inbox_is_recorded_as_the_file_system_account_that_owns_it(demo_copy, tmp_path):
    log = serving_log(tmp_path / "queued-log.csv", minute=30)
    asked = ("--db", demo_copy, "ingest", "telemetry", log, "--model", MODEL, "--version", VERSION, "--json")
    me = f"{pwd.getpwuid(os.getuid()).pw_name} (file-system account, through the inbox)"
    holder = _holder(demo_copy)
    try:
        named = governance(*asked, "--by", "farid.haddad")
        assert named.returncode == 2 and "cannot be checked here and nothing was queued" in named.stderr, \
            named.stderr
        assert not list(ingest.inbox_dir(demo_copy).glob("*.parquet"))
        queued = governance(*asked)
        assert queued.returncode == 0, queued.stderr
        result = json.loads(queued.stdout)
        assert (result["mode"], result["ingested_by"]) == ("queued", me)
    finally:
        holder.kill()
        holder.wait()
    [waiting] = ingest.inbox_dir(demo_copy).glob("*.parquet")
    assert waiting.stat().st_uid == os.getuid()
    with GovernanceStore(demo_copy) as store:
        [absorbed] = ingest.absorb_inbox(store)
        entry = ledger.entries(store, kind="telemetry_ingest")[-1]
    assert (absorbed.mode, absorbed.rows_accepted, absorbed.ingested_by) == ("ingested", ROWS, me)
    assert (entry["actor"], entry["payload"]["via"]) == (me, "inbox")
    assert entry["payload"]["file_sha256"] == hashlib.sha256(log.read_bytes()).hexdigest()
