"""The ledger key (issue 22 §1): made only at `init`, its fingerprint kept in the workspace, a missing or foreign
key refused before anything is written or sealed, `verify` without the key checks the hashes and says the
signatures could not be, and never makes a key. Fingerprints and sub-keys are recomputed here independently
(HMAC and RFC 5869 HKDF written out with hashlib)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import duckdb
import pytest

from governance.errors import GovernanceError
from governance.record import ledger, ledger_keys, server_file, verification
from governance.record.store import GovernanceStore
from governance.reports import audit_pack

ADMIN = "grace.lindqvist"   # the demo's admin
SESSION_KEY = os.environ["QUORUM_LEDGER_KEY"]   # the key the test session's demo was built with (tests/conftest.py)


def fingerprint(key: str) -> str:
    return hmac.new(key.encode(), b"quorum ledger key fingerprint v1", hashlib.sha256).hexdigest()[:32]


def sub_key(key: str, purpose: str) -> bytes:
    pseudo_random = hmac.new(b"\0" * 32, key.encode(), hashlib.sha256).digest()
    return hmac.new(pseudo_random, f"quorum/{purpose}".encode() + b"\x01", hashlib.sha256).digest()


@pytest.fixture
def no_key(monkeypatch, tmp_path) -> Path:
    """No key in the environment, and a key file path that does not exist yet."""
    monkeypatch.delenv("QUORUM_LEDGER_KEY", raising=False)
    path = tmp_path / "home" / ".config" / "quorum" / "ledger.key"
    monkeypatch.setenv("QUORUM_LEDGER_KEY_FILE", str(path))
    return path


def counts(path: Path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as con:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("ledger", "risk_event", "api_token", "ledger_key"))


def test_init_makes_the_key_once_and_records_its_fingerprint(no_key, tmp_path, cli):
    path = tmp_path / "ws.duckdb"
    done = cli("init", "--db", path, "--json")
    made = json.loads(done.stdout)["ledger_key"]
    key = no_key.read_text().strip()
    assert made == {"source": str(no_key), "fingerprint": fingerprint(key), "made": True}
    assert len(key) == 64 and no_key.stat().st_mode & 0o777 == 0o600
    assert list(no_key.parent.iterdir()) == [no_key]   # no temporary file left behind
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT fingerprint, since_seq FROM ledger_key").fetchall() == [(fingerprint(key), 0)]
    again = json.loads(cli("init", "--db", tmp_path / "other.duckdb", "--json").stdout)["ledger_key"]
    assert (again["made"], no_key.read_text().strip()) == (False, key)   # an existing key is never replaced


def test_verify_without_a_key_checks_the_hashes_and_makes_no_key(demo_copy, no_key, cli):
    result = cli("--db", demo_copy, "verify", "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 3 and not no_key.exists()
    assert (verdict["ok"], verdict["signatures_checked"], verdict["problems"]) == (False, False, [])
    assert "the hashes, links and anchor of every chain were checked, but not their signatures" in verdict["problem"]
    with duckdb.connect(str(demo_copy)) as con:   # a hash broken behind Quorum's back is still found without the key
        con.execute("UPDATE risk_event SET reason = 'edited' WHERE seq = 2")
    broken = cli("--db", demo_copy, "verify", "--json")
    assert broken.returncode == 1 and json.loads(broken.stdout)["problems"][0].startswith("risk register event 2 was changed")
    assert not no_key.exists()


def test_a_missing_key_refuses_every_write_and_writes_nothing(demo_copy, no_key, cli):
    before = counts(demo_copy)
    done = cli("--db", demo_copy, "tokens", "create", "ci", "--user", ADMIN, "--by", ADMIN, "--json")
    assert done.returncode != 0 and "no ledger key on this machine" in (done.stderr + done.stdout)
    assert "Traceback" not in done.stderr and counts(demo_copy) == before and not no_key.exists()


def test_a_foreign_key_is_refused_before_it_signs(demo_copy, cli):
    anchor = Path(f"{demo_copy}.anchor").read_text()
    before = counts(demo_copy)
    done = cli("--db", demo_copy, "tokens", "create", "ci", "--user", ADMIN, "--by", ADMIN, env={"QUORUM_LEDGER_KEY": "another key"})
    assert done.returncode != 0 and "is not the key this workspace was created with" in (done.stderr + done.stdout)
    assert (counts(demo_copy), Path(f"{demo_copy}.anchor").read_text()) == (before, anchor)
    with GovernanceStore(demo_copy) as store, pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUORUM_LEDGER_KEY", "another key")
        with pytest.raises(GovernanceError, match="is not the key this workspace was created with"):
            audit_pack.build_pack({}, rendered={}, store=store)   # nothing sealed with it either
        verdict = verification.verify(store)
        assert (verdict["ok"], verdict["signatures_checked"], verdict["problems"]) == (False, False, [])
        assert "is not this workspace's key" in verdict["key_problem"]
    ok = cli("--db", demo_copy, "tokens", "create", "ci", "--user", ADMIN, "--by", ADMIN)   # the workspace's own key works
    assert ok.returncode == 0 and counts(demo_copy)[0] == before[0] + 1


def test_sub_keys_per_purpose(demo_copy):
    """Chain MACs, the anchor and the pack seal each use their own HKDF sub-key of the one key."""
    key = ledger_keys.load().secret.decode()
    with GovernanceStore(demo_copy) as store:
        entry_hash, entry_mac = store.query_rows("SELECT entry_hash, entry_mac FROM ledger WHERE seq = 1")[0]
        event_hash, event_mac = store.query_rows("SELECT event_hash, event_mac FROM risk_event WHERE seq = 1")[0]
        assert entry_mac == hmac.new(sub_key(key, "chain-mac:ledger"), entry_hash.encode(), hashlib.sha256).hexdigest()
        assert event_mac == hmac.new(sub_key(key, "chain-mac:risk register"), event_hash.encode(),
                                     hashlib.sha256).hexdigest()
        assert entry_mac != hmac.new(key.encode(), entry_hash.encode(), hashlib.sha256).hexdigest()
        anchor = json.loads(Path(f"{demo_copy}.anchor").read_text())
        canonical = json.dumps(anchor["chains"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert anchor["mac"] == hmac.new(sub_key(key, "anchor"), canonical.encode(), hashlib.sha256).hexdigest()
        report = {"report_id": "r", "kind": "coverage", "schema_version": 1, "workspace": "w", "generator": "g",
                  "generated_at": "t", "generated_by": "b", "ledger": verification.verify(store), "frameworks": [],
                  "portfolio": [], "risks": []}
        rendered = {"pdf": b"%PDF", "html": b"<html>", "json": b"{}"}
        pack = audit_pack.build_pack(report, rendered=rendered, store=store)
    import io
    import zipfile

    manifest = json.loads(zipfile.ZipFile(io.BytesIO(pack)).read("manifest.json"))
    unsealed = json.dumps({k: v for k, v in manifest.items() if k != "manifest_hmac"}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False)
    assert manifest["manifest_hmac"] == hmac.new(sub_key(key, "audit-pack-seal"), unsealed.encode(),
                                                 hashlib.sha256).hexdigest()
    assert audit_pack.verify_pack(pack, key=ledger_keys.load())["manifest"] == "verified"


def test_a_replaced_fingerprint_is_found(demo_copy):
    with duckdb.connect(str(demo_copy)) as con:
        con.execute("UPDATE ledger_key SET fingerprint = repeat('a', 32)")
    with GovernanceStore(demo_copy) as store:
        verdict = verification.verify(store)
    assert not verdict["ok"] and verdict["problems"][0].startswith("the workspace's ledger key fingerprint was replaced")


def test_rotation_is_an_entry_signed_with_both_keys_and_older_entries_still_verify(demo_copy, no_key, tmp_path, cli):
    """With the key in a key file (a rotation keeps the old key after the new one there)."""
    old = SESSION_KEY
    no_key.parent.mkdir(parents=True)
    no_key.write_text(old + "\n")
    new_file = tmp_path / "new.key"
    new_file.write_text("a brand new key\n")
    before = counts(demo_copy)
    done = cli("--db", demo_copy, "rotate-key", "--new-key-file", new_file, "--by", ADMIN, "--json")
    assert done.returncode == 0, done.stderr
    rotated = json.loads(done.stdout)
    assert (rotated["old_fingerprint"], rotated["new_fingerprint"]) == (fingerprint(old), fingerprint("a brand new key"))
    old_mac = hmac.new(sub_key(old, "key-rotation"), fingerprint("a brand new key").encode(), hashlib.sha256)
    assert rotated["old_key_mac"] == old_mac.hexdigest()
    assert no_key.read_text().splitlines() == ["a brand new key", old]
    with duckdb.connect(str(demo_copy), read_only=True) as con:
        entry_hash, entry_mac, kind = con.execute("SELECT entry_hash, entry_mac, kind FROM ledger WHERE seq = ?",
                                                  [rotated["seq"]]).fetchone()
    assert kind == "ledger_key_rotated"
    assert entry_mac == hmac.new(sub_key("a brand new key", "chain-mac:ledger"), entry_hash.encode(),
                                 hashlib.sha256).hexdigest()
    after = cli("--db", demo_copy, "tokens", "create", "ci", "--user", ADMIN, "--by", ADMIN)
    assert after.returncode == 0 and counts(demo_copy)[0] == before[0] + 2
    verified = cli("--db", demo_copy, "verify")
    assert verified.returncode == 0, verified.stdout

    no_key.write_text("a brand new key\n")   # the old key lost: the entries it signed can no longer be checked
    assert cli("--db", demo_copy, "verify").returncode == 3


def test_a_server_on_a_new_workspace_makes_its_key_before_it_signs_its_server_file(no_key, tmp_path, cli):
    """`serve` on a new workspace is its `init`: the key is made first, so the server file it writes is signed and
    `verify` (through the same key) finds nothing wrong with it."""
    from tests.servers import start_server, stop_server

    path = tmp_path / "served.duckdb"
    server, process = start_server(db=path, workdir=tmp_path, env={"QUORUM_LEDGER_KEY_FILE": str(no_key)})
    try:
        assert no_key.exists()
        found = json.loads(server_file.path_for(path).read_text())
        key = no_key.read_text().strip()
        content = json.dumps({k: found[k] for k in ("pid", "url", "workspace")}, sort_keys=True, separators=(",", ":"))
        assert found["mac"] == hmac.new(sub_key(key, "server-file"), content.encode(), hashlib.sha256).hexdigest()
        assert server_file.problem(workspace=path) is None
    finally:
        stop_server(process)
