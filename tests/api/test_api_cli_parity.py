"""A command prints the same thing, with the same exit code, whether it runs on the workspace file or through the
server: each command below runs in a real process on a stopped copy of a workspace ("here") and through a real
server on an identical copy ("there"), in both its human and its --json form. Writes too: a risk added, telemetry
ingested through an upload, a PDF report streamed back to --out.

The two copies are made from one workspace after the API tokens were issued, so both hold the same tokens, ledger
and tables. Whatever one copy is sent, the other is sent too, so they stay identical whatever order tests run in.
"""

from __future__ import annotations

import csv
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.api.conftest import ADMIN, LEADER, VIEWER, cli, fresh_copy, issue_token, no_traceback, serve
from tests.servers import stop_server

READS = [
    ["status"],
    ["kpis", "--model", "adult-income"],
    ["kpis", "--model", "adult-income", "--grain", "week"],
    ["compare", "--model", "adult-income", "--a", "v1", "--b", "v2"],
    ["drift", "--model", "adult-income", "--version", "v1"],
    ["risks", "list"],
    ["risks", "history", "R-001"],
    ["risks", "verify"],
    ["signoff", "list"],
    ["signoff", "status", "RV-0001"],
    ["audit", "list"],
    ["audit", "show", "FA-0001"],
    ["checklist", "show", "--model", "german-credit", "--version", "v1"],
    ["quality", "--model", "adult-income", "--version", "v2"],
    ["alerts", "list"],
    ["telemetry", "show"],
    ["verify"],
    ["users", "list"],
    ["tokens", "list"],
    ["risks", "history", "R-999"],   # an error: the same words and exit code both ways
]


@pytest.fixture(scope="module")
def pair(demo_workspace, module_dir):
    """("here": a stopped workspace, "there": the same workspace served), made from one copy."""
    source = fresh_copy(demo_workspace, module_dir / "source")
    tokens = {user: issue_token(source, user) for user in (ADMIN, LEADER, VIEWER)}
    here, there = fresh_copy(source, module_dir / "here"), fresh_copy(source, module_dir / "there")
    served = serve(there, module_dir, tokens=tokens)
    yield here, served
    stop_server(served.process)


def normalised(text: str, *, workspaces: tuple[Path, ...]) -> str:
    """What legitimately differs between the two copies, and nothing else:
    - the workspace's path (`status`): two copies cannot share one;
    - the data version (`status`): it counts the workspace's writes, and the server's copy records when each token
      was last used (a write that a command on the file, which uses no token, never makes);
    - a token's last use (`tokens list`), for the same reason;
    - the seconds the last telemetry count took (`telemetry show`): a timing of this process's own query.
    """
    for workspace in workspaces:
        text = text.replace(str(workspace), "<workspace>")
    text = re.sub(r"data version \d+", "data version <n>", text)
    text = re.sub(r'"data_version": \d+', '"data_version": <n>', text)
    text = re.sub(r"last used \S+", "last used <when>", text)
    text = re.sub(r'"last_used_at": ("[^"]*"|null)', '"last_used_at": <when>', text)
    text = re.sub(r"\(counted in [\d.e-]+ s\)", "(counted in <s> s)", text)
    return re.sub(r'"last_query": (\{[^}]*\}|null)', '"last_query": <timing>', text)


def test_read_commands_print_the_same_here_and_through_the_server(pair):
    here, served = pair
    runs = [[*argv, *form] for argv in READS for form in ([], ["--json"])]
    # Through the server, several at once (the client processes are light); on the file, one at a time (one
    # process holds a DuckDB file).
    with ThreadPoolExecutor(max_workers=3) as pool:
        through = pool.map(lambda argv: cli(*argv, env=served.through(VIEWER)), runs)
        local = [cli("--db", here, *argv) for argv in runs]
        through = list(through)
    mismatches = []
    for argv, mine, theirs in zip(runs, local, through):
        no_traceback(mine, theirs)
        assert mine.returncode in (0, 1, 2), (argv, mine.stderr)
        if mine.returncode == 2:
            assert argv[:3] == ["risks", "history", "R-999"] and mine.stderr.startswith("error: "), mine.stderr
        paths = (here, served.db)
        if (mine.returncode, normalised(mine.stdout, workspaces=paths), normalised(mine.stderr, workspaces=paths)) != \
                (theirs.returncode, normalised(theirs.stdout, workspaces=paths),
                 normalised(theirs.stderr, workspaces=paths)):
            mismatches.append(f"{' '.join(argv)}: exit {mine.returncode} here, {theirs.returncode} there\n"
                              f"--- here\n{mine.stdout[:3000]}{mine.stderr}\n--- there\n{theirs.stdout[:3000]}"
                              f"{theirs.stderr}")
        if "--json" in argv and mine.returncode != 2:
            json.loads(mine.stdout)
    assert not mismatches, "\n\n".join(mismatches)


def _without_moments(text: str) -> str:
    return re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?", "<moment>", text)


def test_a_risk_added_through_the_server_is_the_risk_added_here(pair):
    here, served = pair
    argv = ["risks", "add", "--title", "Scores leak through the API", "--category", "privacy", "--owner",
            "elif.kaya", "--likelihood", "2", "--impact", "4", "--model", "adult-income v2", "--clause",
            "Article 15", "--json"]
    mine = cli("--db", here, *argv, "--by", LEADER)
    theirs = cli(*argv, env=served.through(LEADER))
    no_traceback(mine, theirs)
    assert mine.returncode == theirs.returncode == 0, (mine.stderr, theirs.stderr)
    # The same id: both copies held the same register; only the moments it was written differ.
    assert _without_moments(mine.stdout) == _without_moments(theirs.stdout)
    added = json.loads(theirs.stdout)
    assert added["risk_id"].startswith("R-") and added["created_by"].startswith(LEADER)
    listed = json.loads(cli("risks", "list", "--json", env=served.through(VIEWER)).stdout)
    assert added["risk_id"] in {r["risk_id"] for r in listed["risks"]}


def _telemetry_rows(served) -> int:
    return served.result("status", as_user=VIEWER)["result"]["tables"]["telemetry"]


def test_telemetry_ingested_through_an_upload_adds_exactly_its_rows(pair, module_dir):
    here, served = pair
    path = module_dir / "serving-log.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "segment", "prediction", "score", "label", "latency_ms", "is_error"])
        for i in range(37):
            writer.writerow([f"2026-09-27T{i % 24:02d}:{i:02d}:00Z", "web", i % 2, f"{(i % 10) / 10:.1f}",
                             (i + 1) % 2, 20 + i, "false"])
    before = _telemetry_rows(served)
    argv = ["ingest", "telemetry", str(path), "--model", "adult-income", "--version", "v2"]
    theirs = cli(*argv, env=served.through(LEADER))
    mine = cli("--db", here, *argv, "--by", LEADER)   # here the account names itself; there its token does
    no_traceback(mine, theirs)
    assert theirs.returncode == 0, theirs.stderr
    assert theirs.stdout == mine.stdout   # the file is named as the caller named it, not as the server stored it
    assert theirs.stdout.startswith(f"{path.name}: ingested into the workspace\n  rows accepted 37, quarantined 0")
    assert _telemetry_rows(served) == before + 37
    again = cli(*argv, "--json", env=served.through(LEADER))
    assert again.returncode == 0 and json.loads(again.stdout)["mode"] == "already_ingested"
    cli("--db", here, *argv, "--by", LEADER)
    assert _telemetry_rows(served) == before + 37


def test_a_pdf_report_through_the_server_is_written_where_the_caller_said(pair, module_dir):
    here, served = pair
    out = module_dir / "out" / "german-credit-v1.pdf"
    out.parent.mkdir()
    theirs = cli("report", "--kind", "model", "--model", "german-credit", "--version", "v1", "--format", "pdf",
                 "--out", out, env=served.through(LEADER))
    no_traceback(theirs)
    assert theirs.returncode == 0, theirs.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert theirs.stdout.startswith(f"wrote {out}: {len(data):,} bytes, sha256 ")
    assert [p.name for p in out.parent.iterdir()] == [out.name]   # nothing half-written left beside it


def test_the_gate_refuses_alike_here_and_through_the_server(pair):
    """A check that exits 1: the same reasons, and the same ledger entry number, as both copies record it."""
    here, served = pair
    argv = ["gate", "--model", "adult-income", "--version", "v2", "--stage", "production", "--caller", "parity test"]
    mine = cli("--db", here, *argv, "--by", VIEWER)   # here the account names itself; there its token does
    theirs = cli(*argv, env=served.through(VIEWER))
    no_traceback(mine, theirs)
    assert mine.returncode == theirs.returncode == 1, (mine.stderr, theirs.stderr)
    assert mine.stdout == theirs.stdout and mine.stderr == theirs.stderr == ""
    assert theirs.stdout.startswith("gate production for adult-income v2: REFUSED (recorded as ledger entry ")
