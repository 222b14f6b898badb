"""The 200 concurrent API writers that one server, or several servers sharing one PostgreSQL database, must take
without losing or duplicating anything: risks added by four accounts, four committee members signing five open
reviews with their passwords, fairness audits run as jobs, and telemetry ingested. Requests go to the servers in
turn, so with two servers every kind of write reaches both at once.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from tests.api.conftest import (ADMIN, CHAIR, LEADER, MEMBER_PASSWORD, RISK_OWNER, VIEWER, Served,
                                add_committee_member, cli, cli_here, issue_token, model_files, must)

WRITERS = (LEADER, RISK_OWNER, CHAIR, ADMIN)
RISKS_EACH = 43                                   # 172 risks added
MEMBERS = tuple(f"member{n}" for n in range(1, 5))
NEW_VERSIONS = ("v1", "v2", "v3", "v4")           # four new versions to review, with adult-income v2: 20 votes
AUDITS = 4
INGESTS = 4                                       # 172 + 20 + 4 + 4 = 200 requests
INGEST_ROWS = 53
DEADLINE_S = 120


def prepare(db: Path, folder: Path) -> tuple[list[str], dict[str, str]]:
    """On a copy of the demo, before any server starts: the versions to review, the committee members, the open
    reviews (their ids) and an API token per account."""
    model_file, _ = model_files(folder)
    for version in NEW_VERSIONS:
        must(cli_here("--db", db, "model", "register", "--model", "loan-screen", "--version", version,
                      "--file", model_file, "--by", LEADER))
    for n, member in enumerate(MEMBERS, 1):
        add_committee_member(db, member, MEMBER_PASSWORD.format(n=n))
    reviews = [("adult-income", "v2", "production")] + [("loan-screen", v, "validation") for v in NEW_VERSIONS]
    review_ids = []
    for model, version, gate in reviews:
        requested = must(cli_here("--db", db, "signoff", "request", "--model", model, "--version", version,
                                  "--gate", gate, "--by", LEADER, "--json"))
        review_ids.append(json.loads(requested.stdout)["review_id"])
    tokens = {user: issue_token(db, user) for user in (*WRITERS, *MEMBERS, VIEWER)}
    return review_ids, tokens


def _serving_log(folder: Path, n: int) -> Path:
    """A serving log of INGEST_ROWS rows, different for each n (ingest refuses a file it has seen)."""
    path = folder / f"serving-log-{n}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "segment", "prediction", "score", "label", "latency_ms", "is_error"])
        for i in range(INGEST_ROWS):
            writer.writerow([f"2026-09-{20 + n:02d}T{i % 24:02d}:{i:02d}:00Z", "web", i % 2,
                             f"{(i % 10) / 10:.1f}", (i + 1) % 2, 20 + i + n, "false"])
    return path


def two_hundred_writers(servers: list[Served], review_ids: list[str], folder: Path) -> float:
    """Send the 200 writes at once, the n-th to servers[n % len(servers)]; check that every acknowledged write is
    there exactly once, on every server, and that the hash chains verify. Returns the seconds it took."""
    first = servers[0]
    go = threading.Event()   # every request is sent at once, from its own thread
    risks_before = first.result("risks list", as_user=VIEWER)["result"]["risks"]
    audits_before = first.result("audit list", as_user=VIEWER)["result"]["audits"]
    telemetry_before = first.result("status", as_user=VIEWER)["result"]["tables"]["telemetry"]
    logs = [_serving_log(folder, n) for n in range(INGESTS)]

    def add_risk(served: Served, writer: str, n: int):
        answer = served.command("risks add", {"title": f"Concurrent risk {writer} #{n}", "category": "operational",
                                              "owner": RISK_OWNER, "likelihood": 1 + n % 5, "impact": 1 + n % 3,
                                              "model": ["adult-income"]}, as_user=writer, timeout=DEADLINE_S)
        return ("risk", writer, answer)

    def vote(served: Served, member: str, review_id: str):
        n = MEMBERS.index(member) + 1
        answer = served.command("signoff vote", {"review_id": review_id, "vote": "approve",
                                                 "reason": f"{member} read the evidence of {review_id}"},
                                as_user=member, secrets={"QUORUM_PASSWORD": MEMBER_PASSWORD.format(n=n)},
                                timeout=DEADLINE_S)
        return ("vote", (member, review_id), answer)

    def audit(served: Served, n: int):
        answer = served.command("audit run", {"model": "german-credit", "version": "v1", "sensitive": "sex",
                                              "bootstrap": 100, "seed": n}, as_user=LEADER, timeout=DEADLINE_S)
        job = served.follow(answer.body["job"], token=served.tokens[LEADER], timeout=DEADLINE_S) \
            if answer.status == 202 else None
        return ("audit", n, answer, job)

    def ingest(served: Served, n: int):
        done = cli("ingest", "telemetry", logs[n], "--model", "adult-income", "--version", "v2", "--json",
                   env=served.through(LEADER), timeout=DEADLINE_S)
        return ("ingest", n, done)

    calls = [(add_risk, writer, n) for n in range(RISKS_EACH) for writer in WRITERS]
    calls += [(vote, member, review_id) for review_id in review_ids for member in MEMBERS]
    calls += [(audit, n) for n in range(AUDITS)]
    calls += [(ingest, n) for n in range(INGESTS)]
    calls.sort(key=lambda call: hash(call[1:]) % 7)   # interleave the kinds of writes
    assert len(calls) == 200

    def run(numbered):
        n, call = numbered
        go.wait(timeout=30)
        return call[0](servers[n % len(servers)], *call[1:])

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, numbered) for numbered in enumerate(calls)]
        began = time.monotonic()
        go.set()
        done, pending = wait(futures, timeout=DEADLINE_S + 30)
        assert not pending, f"{len(pending)} requests still open after {DEADLINE_S + 30} s"
    elapsed = time.monotonic() - began
    outcomes = [f.result() for f in futures]

    # What the servers acknowledged. Every request must be answered in JSON, and nothing may fail on a server.
    added, votes, audits, ingested, refused = [], [], [], [], []
    for outcome in outcomes:
        kind, what, answer = outcome[:3]
        if kind == "ingest":
            if answer.returncode == 0:
                ingested.append(json.loads(answer.stdout))
            else:
                refused.append((kind, what, answer.returncode, answer.stderr[-500:]))
            continue
        assert answer.body is not None and answer.status < 500, (kind, what, answer.status, answer.text)
        if kind == "risk" and answer.status == 200:
            added.append(answer.body["result"])
        elif kind == "vote" and answer.status == 200:
            assert answer.body["result"]["retried"] is False
            votes.append(what)
        elif kind == "audit" and answer.status == 202:
            job = outcome[3]
            assert job["state"] == "succeeded", job
            audits.append(job["result"])
        else:
            refused.append((kind, what, answer.status, answer.body))
    assert not refused, refused[:5]
    assert (len(added), len(votes), len(audits), len(ingested)) == (RISKS_EACH * len(WRITERS), 20, AUDITS, INGESTS)

    for served in servers:   # every server sees every write
        # Risks: each acknowledged add is in the register once, under an id no other risk has.
        risks = served.result("risks list", as_user=VIEWER)["result"]["risks"]
        ids = [r["risk_id"] for r in risks]
        assert len(ids) == len(set(ids))
        assert len(risks) == len(risks_before) + len(added)
        assert len({r["risk_id"] for r in added}) == len(added)
        by_id = {r["risk_id"]: r for r in risks}
        assert all(by_id[r["risk_id"]]["title"] == r["title"] for r in added)
        assert Counter(r["created_by"].split(" ")[0] for r in added) == {w: RISKS_EACH for w in WRITERS}

        # Votes: every acknowledged signature is on its review, and only those.
        for review_id in review_ids:
            status = served.result("signoff status", {"review_id": review_id}, as_user=VIEWER)["result"]
            signed = sorted(v["user_name"] for v in status["votes"])
            assert signed == sorted(m for m, r in votes if r == review_id), (review_id, signed)
            assert status["decision"] is None and status["tally"]["quorum"] is False   # the chair has not voted

        # Audits: one id each, all on the list, none of the demo's reused.
        audit_ids = [a["audit_id"] for a in audits]
        assert len(set(audit_ids)) == AUDITS
        listed = [a["audit_id"] for a in served.result("audit list", as_user=VIEWER)["result"]["audits"]]
        assert len(listed) == len(set(listed)) == len(audits_before) + AUDITS
        assert set(audit_ids) <= set(listed) and not set(audit_ids) & {a["audit_id"] for a in audits_before}
        assert all(a["status"] == "completed" for a in audits)

        # Telemetry: every ingested row, once.
        assert all(i["rows_accepted"] == INGEST_ROWS for i in ingested), ingested
        telemetry = served.result("status", as_user=VIEWER)["result"]["tables"]["telemetry"]
        assert telemetry == telemetry_before + INGESTS * INGEST_ROWS

        # Both hash chains hold.
        for command in ("verify", "risks verify"):
            checked = served.result(command, as_user=VIEWER)
            assert checked["exit_code"] == 0 and checked["result"]["ok"] is True, (command, checked)
        for audit_id in audit_ids:
            assert served.result("audit verify", {"audit_id": audit_id}, as_user=VIEWER)["exit_code"] == 0
        assert "Traceback" not in served.log_path.read_text(errors="replace"), served.output()
    assert elapsed < DEADLINE_S, f"200 writes took {elapsed:.0f} s"
    return elapsed
