"""The ledger: appends and idempotent retries, tampering behind Quorum's back (each kind found at the right
entry), concurrent appends, SIGKILL mid-append, and `python -m governance verify` as CI would run it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from governance.errors import InvalidInputError
from governance.record import hash_chain, ledger, verification
from governance.record.repositories import ledger as ledger_rows
from governance.record.postgres_store import psycopg_sql
from governance.record.store import GovernanceStore
from tests.conftest import (ENGINES, PgWorkspace, copy_on_engine, drop_postgres_workspace, open_workspace,
                            workspace_args)
from tests.unit.record.repositories.conftest import open_engine

ROOT = Path(__file__).resolve().parents[3]
KEY = "test ledger key"
OTHER_KEY = b"not the ledger key"
ENTRIES = 20
LEDGER_WORDS = {"chain": "ledger", "noun": "entry", "nouns": "entries"}


@pytest.fixture(autouse=True)
def ledger_key(monkeypatch):
    monkeypatch.setenv("QUORUM_LEDGER_KEY", KEY)


def add(store, n: int, **overrides) -> dict:
    fields = {"actor": f"user{n % 3}", "kind": ("signature", "decision")[n % 2], "subject": f"review-{n % 4}",
              "payload": {"approved": n % 2 == 0, "n": n, "note": "ünïcode ✓"}, "idempotency_key": f"key-{n}"}
    return ledger.append(store, **{**fields, **overrides})


def documented_hash(seq, recorded_at, actor, kind, subject, payload, idempotency_key, prev_hash) -> str:
    """The entry hash as specified (SHA-256 of these fields as canonical JSON), written out independently."""
    return hashlib.sha256(json.dumps(
        {"seq": seq, "recorded_at": recorded_at.isoformat(), "actor": actor, "kind": kind, "subject": subject,
         "payload": payload, "idempotency_key": idempotency_key, "prev_hash": prev_hash},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def sub_key(key: bytes, purpose: str) -> bytes:
    """HKDF-SHA256 (RFC 5869) with no salt and one 32-byte block, written out independently of the library."""
    pseudo_random = hmac.new(b"\0" * 32, key, hashlib.sha256).digest()
    return hmac.new(pseudo_random, f"quorum/{purpose}".encode() + b"\x01", hashlib.sha256).digest()


def expected_mac(purpose: str, text: str) -> str:
    return hmac.new(sub_key(KEY.encode(), purpose), text.encode(), hashlib.sha256).hexdigest()


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def forged_mac(entry_hash: str) -> str:
    return hmac.new(OTHER_KEY, entry_hash.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(params=ENGINES)
def store(request, tmp_path):
    """A new workspace on each engine."""
    with open_engine(request.param, tmp_path=tmp_path, request=request) as store:
        yield store


# --- appending and reading back ----------------------------------------------------------------------------------
def test_append_read_back_and_verify(store):
    empty = verification.verify(store)
    assert {k: empty[k] for k in ("ok", "entries", "first_bad_seq", "problem", "problems", "head_hash")} == {
        "ok": True, "entries": 0, "first_bad_seq": None, "problem": None, "problems": [], "head_hash": None}
    first = add(store, 0)
    second = add(store, 1)
    assert (first["seq"], first["prev_hash"], second["prev_hash"]) == (1, hash_chain.GENESIS, first["entry_hash"])
    assert first["payload"] == {"approved": True, "n": 0, "note": "ünïcode ✓"}
    assert first["recorded_at"].endswith("Z")
    assert ledger.entries(store) == [first, second]
    assert ledger.entries(store, kind="decision") == [second]
    assert ledger.entries(store, subject="review-0", kind="signature") == [first]

    row = store.query_rows("SELECT * FROM ledger WHERE seq = 2")[0]
    assert row[8] == documented_hash(*row[:8])
    assert row[9] == expected_mac("chain-mac:ledger", row[8])
    anchor = json.loads(hash_chain.anchor_path(store).read_text())
    heads = {"ledger": {"seq": 2, "hash": second["entry_hash"]}, "risk register": {"seq": 0, "hash": "0" * 64}}
    assert anchor == {"chains": heads, "mac": expected_mac("anchor", canonical(heads))}
    result = verification.verify(store)
    assert {k: result[k] for k in ("ok", "entries", "first_bad_seq", "problem", "head_hash", "anchor_seq")} == {
        "ok": True, "entries": 2, "first_bad_seq": None, "problem": None, "head_hash": second["entry_hash"],
        "anchor_seq": 2}


def test_a_retry_returns_the_first_entry_and_adds_nothing(store):
    first = add(store, 0)
    add(store, 1)
    retried = add(store, 0, payload={"note": "ünïcode ✓", "n": 0, "approved": True})  # same content, any key order
    assert retried == first
    assert store.query_value("SELECT count(*) FROM ledger") == 2
    assert verification.verify(store)["ok"]


@pytest.mark.parametrize("change", [{"actor": "mallory"}, {"kind": "gate_call"}, {"subject": "review-9"},
                                    {"payload": {"approved": False, "n": 0, "note": "ünïcode ✓"}}])
def test_the_same_key_with_other_content_is_refused(store, change):
    add(store, 0)
    with pytest.raises(InvalidInputError, match="idempotency key 'key-0' was already used for a different entry"):
        add(store, 0, **change)
    assert store.query_value("SELECT count(*) FROM ledger") == 1


@pytest.mark.parametrize("bad, message", [
    ({"actor": " "}, "actor is empty"), ({"subject": ""}, "subject is empty"),
    ({"idempotency_key": None}, "idempotency key is empty"), ({"payload": ["a"]}, "the payload must be a dict"),
    ({"payload": {"x": float("nan")}}, "cannot be stored as JSON"), ({"payload": {"x": {1, 2}}}, "cannot be stored")])
def test_bad_input_writes_nothing(store, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        add(store, 0, **bad)
    assert store.query_value("SELECT count(*) FROM ledger") == 0


def test_inside_a_callers_write_the_entry_commits_or_rolls_back_with_its_rows(store):
    with pytest.raises(RuntimeError):
        with store.write() as tx:
            tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', 'd', now())")
            add(store, 0)
            raise RuntimeError("the caller fails after appending")
    assert store.query_value("SELECT count(*) FROM model") == store.query_value("SELECT count(*) FROM ledger") == 0

    with store.write() as tx:
        tx.execute("INSERT INTO model VALUES ('m', 'p', 'u', 'o', 'high', 'd', now())")
        first = add(store, 0)
        second = add(store, 1)  # sees the first, still uncommitted
        assert add(store, 0) == first
    assert second["prev_hash"] == first["entry_hash"]
    assert store.query_value("SELECT count(*) FROM model") == 1
    result = verification.verify(store)
    assert (result["ok"], result["entries"], result["anchor_seq"]) == (True, 2, 2)


# --- tampering behind Quorum's back ------------------------------------------------------------------------------
def _with_entries(store) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUORUM_LEDGER_KEY", KEY)
        with store:
            for n in range(ENTRIES):
                add(store, n)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A closed workspace with ENTRIES entries and its anchor, copied by each tampering test."""
    path = tmp_path_factory.mktemp("template") / "ws.duckdb"
    _with_entries(GovernanceStore(path))
    return path


@pytest.fixture(scope="module")
def pg_template(postgres_server, tmp_path_factory) -> PgWorkspace:
    """The same on PostgreSQL: a database of its own and its lake, closed before it is copied."""
    made = PgWorkspace(url=postgres_server.create_database("t_ledger_template"),
                       lake=tmp_path_factory.mktemp("template_pg") / "lake")
    _with_entries(made.open())
    yield made
    drop_postgres_workspace(made)


@pytest.fixture(params=ENGINES)
def workspace(request, template, tmp_path):
    """A private copy of the template on each engine: a DuckDB file, or a PostgreSQL database and its lake."""
    yield from copy_on_engine(request, template=template, tmp_path=tmp_path)


def anchor_of(workspace) -> Path:
    return workspace.anchor if isinstance(workspace, PgWorkspace) else Path(f"{workspace}.anchor")


@contextmanager
def behind_quorums_back(workspace):
    """A connection to the database itself, as someone with access to it would use: DuckDB on the file, or
    psycopg on the PostgreSQL database. Its execute takes DuckDB's `?` markers on either."""
    if not isinstance(workspace, PgWorkspace):
        with duckdb.connect(str(workspace)) as con:
            yield con
        return
    import psycopg

    class Connection:
        def __init__(self, con):
            self._con = con

        def execute(self, statement, params=None):
            return self._con.execute(psycopg_sql(statement), params)

    with psycopg.connect(workspace.url, autocommit=True) as con:
        yield Connection(con)


def verify_file(workspace) -> dict:
    with open_workspace(workspace) as store:
        return verification.verify(store)


def rows(con) -> list[tuple]:
    return con.execute(f"SELECT {', '.join(ledger_rows.COLUMNS)} FROM ledger ORDER BY seq").fetchall()


def insert(con, row) -> None:
    con.execute(f"INSERT INTO ledger ({', '.join(ledger_rows.COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(row))


def updating(column: str, value_sql: str):
    def tamper(con, anchor: Path, k: int) -> int:
        con.execute(f"UPDATE ledger SET {column} = {value_sql} WHERE seq = ?", [k])
        return k
    return tamper


def delete_last(con, anchor, k):
    con.execute("DELETE FROM ledger WHERE seq = ?", [ENTRIES])
    return ENTRIES  # the anchor still records it


def delete_middle(con, anchor, k):
    con.execute("DELETE FROM ledger WHERE seq = ?", [k])
    return k


def forge_at_end(con, anchor, k):
    last = rows(con)[-1]
    fields = (ENTRIES + 1, last[1], "mallory", "signature", "review-0", '{"approved":true}', "forged", last[8])
    entry_hash = documented_hash(*fields)
    insert(con, (*fields, entry_hash, forged_mac(entry_hash)))
    return ENTRIES + 1


def truncate(con, anchor, k):
    con.execute("DELETE FROM ledger")
    return 1


def swap_two(con, anchor, k):
    first, second = (con.execute("SELECT actor, kind, subject, payload FROM ledger WHERE seq = ?", [s]).fetchone()
                     for s in (k, k + 3))
    for seq, content in ((k, second), (k + 3, first)):
        con.execute("UPDATE ledger SET actor = ?, kind = ?, subject = ?, payload = ? WHERE seq = ?", [*content, seq])
    return k


def anchor_with_other_key(con, anchor: Path, k):
    written = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**written, "mac": forged_mac(canonical(written["chains"]))}))
    return None  # no entry is wrong: the anchor is


def rewrite_chain_without_key(con, anchor: Path, k):
    """A consistent chain (every hash right) with one decision reversed; only the key is missing."""
    originals, prev_hash = rows(con), hash_chain.GENESIS
    con.execute("DELETE FROM ledger")
    for seq, recorded_at, actor, kind, subject, payload, idempotency_key, *_ in originals:
        payload = payload.replace('"approved":true', '"approved":false') if seq == k else payload
        fields = (seq, recorded_at, actor, kind, subject, payload, idempotency_key, prev_hash)
        prev_hash = documented_hash(*fields)
        insert(con, (*fields, prev_hash, forged_mac(prev_hash)))
    heads = {"ledger": {"seq": ENTRIES, "hash": prev_hash}, "risk register": {"seq": 0, "hash": "0" * 64}}
    anchor.write_text(json.dumps({"chains": heads, "mac": forged_mac(canonical(heads))}))
    return 1


TAMPERING = {
    "update recorded_at": updating("recorded_at", "recorded_at + INTERVAL '1 second'"),
    "update actor": updating("actor", "'mallory'"),
    "update kind": updating("kind", "'gate_call'"),
    "update subject": updating("subject", "'review-9'"),
    "update payload": updating("payload", """'{"approved":true,"n":0}'"""),
    "update idempotency_key": updating("idempotency_key", "'forged-key'"),
    "update prev_hash": updating("prev_hash", "repeat('1', 64)"),
    "update entry_hash": updating("entry_hash", "repeat('f', 64)"),
    "update entry_mac": updating("entry_mac", "repeat('0', 64)"),
    "update seq": updating("seq", "seq + 1000"),
    "delete the last entry": delete_last,
    "delete a middle entry": delete_middle,
    "insert a forged entry at the end": forge_at_end,
    "truncate": truncate,
    "swap two entries' contents": swap_two,
    "anchor signed with another key": anchor_with_other_key,
    "rewrite the whole chain without the key": rewrite_chain_without_key,
}


@pytest.mark.parametrize("name", TAMPERING)
def test_tampering_is_found_at_the_right_entry(workspace, name):
    k = random.Random(name).randint(3, ENTRIES - 4)
    anchor = anchor_of(workspace)
    with behind_quorums_back(workspace) as con:
        expected = TAMPERING[name](con, anchor, k)
    result = verify_file(workspace)
    assert (result["ok"], result["first_bad_seq"]) == (False, expected), result
    assert result["problem"]


def test_the_problem_says_what_happened(workspace):
    with behind_quorums_back(workspace) as con:
        actor = con.execute("SELECT actor FROM ledger WHERE seq = 7").fetchone()[0]
        updating("actor", "'mallory'")(con, None, 7)
    assert verify_file(workspace)["problem"] == hash_chain.CHANGED.format(seq=7, **LEDGER_WORDS)
    with behind_quorums_back(workspace) as con:
        con.execute("UPDATE ledger SET actor = ? WHERE seq = 7", [actor])
        delete_last(con, None, None)
    assert verify_file(workspace)["problem"] == hash_chain.ANCHOR_AHEAD.format(anchored=ENTRIES, count=ENTRIES - 1,
                                                                                **LEDGER_WORDS)
    anchor_of(workspace).unlink()
    assert verify_file(workspace)["problem"] == hash_chain.ANCHOR_MISSING.format(path=anchor_of(workspace))


def test_an_anchor_behind_the_head_after_a_crash_is_still_ok(store):
    for n in range(ENTRIES - 1):
        add(store, n)
    before = hash_chain.anchor_path(store).read_text()
    add(store, ENTRIES - 1)
    hash_chain.anchor_path(store).write_text(before)  # as if killed between the commit and the anchor write
    result = verification.verify(store)
    assert (result["ok"], result["entries"], result["anchor_seq"]) == (True, ENTRIES, ENTRIES - 1)
    add(store, ENTRIES)
    assert verification.verify(store)["anchor_seq"] == ENTRIES + 1


def test_new_appends_do_not_cover_up_deleted_entries(workspace):
    with behind_quorums_back(workspace) as con:
        delete_last(con, None, None)
    with open_workspace(workspace) as store:
        add(store, 99)  # takes the deleted entry's number
        result = verification.verify(store)
    assert (result["ok"], result["first_bad_seq"]) == (False, ENTRIES)
    assert result["problem"] == hash_chain.ANCHOR_MISMATCH.format(seq=ENTRIES, **LEDGER_WORDS)


# --- concurrency and crashes -------------------------------------------------------------------------------------
def test_concurrent_appends_make_one_chain(store):
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: add(store, n), range(200)))
    assert [r[0] for r in store.query_rows("SELECT seq FROM ledger ORDER BY seq")] == list(range(1, 201))
    assert store.query_value("SELECT count(DISTINCT prev_hash) FROM ledger") == 200
    assert sorted(e["payload"]["n"] for e in ledger.entries(store)) == list(range(200))
    assert verification.verify(store)["ok"]


FORK_SERVER = """
import os
import sys

from governance.record import ledger
from governance.record.store import GovernanceStore


def write(path, prefix):
    with GovernanceStore(path) as store:
        for n in range(2_000):  # ends by itself within a minute should the test fail before killing it
            key = f"{prefix}-{n}"
            ledger.append(store, actor="writer", kind="signature", subject=prefix, payload={"n": n},
                          idempotency_key=key)
            print(key, flush=True)  # acknowledged only once append() has returned


for line in sys.stdin:  # one round a line: a fresh writer process, without importing pandas and DuckDB again
    pid = os.fork()
    if pid == 0:
        try:
            write(*line.split())
        finally:
            os._exit(1)
    print(f"pid {pid}", flush=True)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""


def test_acknowledged_entries_survive_sigkill(tmp_path):
    # DuckDB only: what a killed writer leaves in the file. On PostgreSQL a commit's durability is the server's.
    script, path, errors = tmp_path / "fork_server.py", tmp_path / "ws.duckdb", tmp_path / "errors.txt"
    script.write_text(FORK_SERVER)
    rng, acknowledged = random.Random(2026), []
    with open(errors, "w") as stderr:
        server = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=stderr, text=True, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT), "QUORUM_LEDGER_KEY": KEY})
    lines = iter(server.stdout.readline, "")
    try:
        for round_ in range(30):
            server.stdin.write(f"{path} r{round_}\n")
            server.stdin.flush()
            pid, keys = None, []
            while pid is None or not keys:  # the writer's pid and its first acknowledged key, in either order
                line = next(lines)
                assert line != "reaped\n", errors.read_text()
                if line.startswith("pid "):
                    pid = int(line.split()[1])
                else:
                    keys.append(line)
            time.sleep(rng.uniform(0.05, 0.4))   # appends take milliseconds: a kill lands mid-loop either way
            os.kill(pid, signal.SIGKILL)
            for line in lines:  # what it acknowledged before it died, until the server has reaped it
                if line == "reaped\n":
                    break
                keys.append(line)
            acknowledged += [key.rstrip("\n") for key in keys]
            with GovernanceStore(path) as store:  # the writer is gone: nobody else holds the file
                stored = {row[0] for row in store.query_rows("SELECT idempotency_key FROM ledger")}
                assert set(acknowledged) <= stored
                result = verification.verify(store)
                assert result["ok"], result
    finally:
        server.stdin.close()
        server.wait(timeout=120)
    assert len(acknowledged) >= 30


# --- the command line --------------------------------------------------------------------------------------------
def test_cli_verify_exit_codes(workspace, capsys):
    def verify_cli():
        done = subprocess.run([sys.executable, "-m", "governance", *workspace_args(workspace), "verify",
                               "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "QUORUM_LEDGER_KEY": KEY})
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout)

    code, result = verify_cli()
    assert (code, result["ok"], result["entries"], result["anchor_seq"]) == (0, True, ENTRIES, ENTRIES)
    with behind_quorums_back(workspace) as con:
        delete_middle(con, None, 5)
    code, result = verify_cli()
    assert (code, result["ok"], result["first_bad_seq"]) == (1, False, 5)
    from governance.cli import main as cli  # here, so the rest of the file does not depend on every command's imports

    assert cli.main([*workspace_args(workspace), "verify"]) == 1
    assert capsys.readouterr().out == (f"record BROKEN (1 problem):\n"
                                       f"  - {hash_chain.MISSING.format(seq=5, found=6, **LEDGER_WORDS)}\n")
