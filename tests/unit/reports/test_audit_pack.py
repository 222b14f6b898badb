"""The audit pack: `report --format pack` writes a zip whose manifest lists every file with its SHA-256, the library
versions, seeds and the ledger's state; `verify-pack` names any file changed, missing or added, and a manifest
rewritten to match an altered file fails its seal. The pack is built once, through the CLI; each tampering test
rewrites a copy of its bytes with zipfile."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile
from importlib import metadata
from types import SimpleNamespace

import duckdb
import pytest

from governance.cli import main as governance_cli
from governance.evidence import fairness
from governance.record import verification
from governance.record.store import GovernanceStore
from tests.conftest import copy_workspace

MODEL, VERSION = "german-credit", "v1"


@pytest.fixture(scope="module")
def pack(demo_workspace, tmp_path_factory) -> SimpleNamespace:
    """The pack of german-credit v1's model report, written by the CLI (in this process) once for the module."""
    folder = tmp_path_factory.mktemp("pack")
    db = copy_workspace(demo_workspace, folder / "pack.duckdb")
    out = folder / "pack.zip"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = governance_cli.main(["--db", str(db), "report", "--kind", "model", "--model", MODEL, "--version",
                                    VERSION, "--format", "pack", "--out", str(out), "--by", "farid.haddad",
                                    "--json"])
    assert code == 0, printed.getvalue()
    content = out.read_bytes()
    assert json.loads(printed.getvalue())["sha256"] == hashlib.sha256(content).hexdigest()
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        members = {name: z.read(name) for name in z.namelist()}
    return SimpleNamespace(db=db, path=out, content=content, members=members,
                           manifest=json.loads(members["manifest.json"]))


def rewritten(members: dict[str, bytes], tmp_path, *, name: str = "tampered.zip"):
    """A new zip holding `members`, as someone editing the pack would write it."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for member, data in members.items():
            z.writestr(member, data)
    return path


def verify(cli, path) -> tuple[int, dict]:
    result = cli("verify-pack", path, "--json")
    assert "Traceback" not in result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def test_an_intact_pack_verifies(pack, cli):
    code, result = verify(cli, pack.path)
    assert code == 0 and result["ok"], result
    assert (result["changed"], result["missing"], result["added"]) == ([], [], [])
    assert result["manifest"] == "verified"   # this run's ledger key is at hand
    assert result["checked"] == len(pack.members) - 1
    assert result["report_id"] == pack.manifest["report_id"] and result["report_id"].startswith(f"{MODEL}-{VERSION}-")
    text = cli("verify-pack", pack.path)
    assert text.returncode == 0 and text.stdout.startswith("pack intact:")


def test_the_manifest_lists_every_file_with_its_hash_libraries_seeds_and_ledger(pack):
    manifest = pack.manifest
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(pack.members) - {"manifest.json"}
    assert {"report.pdf", "report.html", "report.json", "tables/fairness_groups.csv"} <= set(listed)
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(pack.members[path]).hexdigest(), path
        assert entry["bytes"] == len(pack.members[path])
    assert manifest["libraries"]["weasyprint"] == metadata.version("weasyprint")
    assert manifest["libraries"]["duckdb"] == duckdb.__version__
    with GovernanceStore(pack.db) as store:
        audits = list(fairness.list_audits(store, model=MODEL, version=VERSION)["audit_id"])
        seeds = {a: fairness.get_audit(store, audit_id=a)["definition"].get("seed") for a in audits}
        state = verification.verify(store)
    assert audits and manifest["seeds"]["fairness_bootstrap"] == seeds
    assert all(isinstance(s, int) for s in seeds.values())
    assert manifest["ledger"]["head_hash"] == state["head_hash"] and state["head_hash"]
    assert manifest["ledger"]["verified"] is True and manifest["ledger"]["entries"] == state["entries"]
    assert json.loads(pack.members["report.json"])["report_id"] == manifest["report_id"]


def test_one_changed_byte_names_the_file(pack, cli, tmp_path):
    members = dict(pack.members)
    pdf = bytearray(members["report.pdf"])
    middle = len(pdf) // 2
    pdf[middle] ^= 0x01
    members["report.pdf"] = bytes(pdf)
    code, result = verify(cli, rewritten(members, tmp_path))
    assert code == 1 and not result["ok"]
    assert result["changed"] == ["report.pdf"] and result["missing"] == [] and result["added"] == []
    text = cli("verify-pack", rewritten(members, tmp_path, name="again.zip"))
    assert text.returncode == 1 and "changed: report.pdf" in text.stdout


def test_a_removed_file_is_missing(pack, cli, tmp_path):
    members = {k: v for k, v in pack.members.items() if k != "tables/fairness_groups.csv"}
    code, result = verify(cli, rewritten(members, tmp_path))
    assert code == 1 and not result["ok"]
    assert result["missing"] == ["tables/fairness_groups.csv"] and result["changed"] == [] and result["added"] == []


def test_an_added_file_is_named(pack, cli, tmp_path):
    members = {**pack.members, "tables/extra.csv": b"a,b\r\n1,2\r\n"}
    code, result = verify(cli, rewritten(members, tmp_path))
    assert code == 1 and not result["ok"]
    assert result["added"] == ["tables/extra.csv"] and result["changed"] == [] and result["missing"] == []


def test_a_manifest_rewritten_to_match_a_changed_file_fails_its_seal(pack, cli, tmp_path):
    members = dict(pack.members)
    altered = members["report.json"].replace(b'"schema_version": 1', b'"schema_version": 1 ', 1)
    assert altered != members["report.json"]
    members["report.json"] = altered
    manifest = json.loads(members["manifest.json"])
    for entry in manifest["files"]:
        if entry["path"] == "report.json":
            entry["sha256"], entry["bytes"] = hashlib.sha256(altered).hexdigest(), len(altered)
    members["manifest.json"] = json.dumps(manifest, indent=2).encode("utf-8")
    code, result = verify(cli, rewritten(members, tmp_path))
    assert (result["changed"], result["missing"], result["added"]) == ([], [], [])   # every hash matches now
    assert result["manifest"] == "INVALID" and not result["ok"] and code == 1
    text = cli("verify-pack", rewritten(members, tmp_path, name="again.zip"))
    assert text.returncode == 1 and "manifest was rewritten" in text.stdout


@pytest.mark.parametrize("content", [b"not a zip at all\n" * 20, b""], ids=["text", "empty"])
def test_a_file_that_is_not_a_pack_is_refused_without_a_traceback(cli, tmp_path, content):
    path = tmp_path / "notes.zip"
    path.write_bytes(content)
    result = cli("verify-pack", path)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "not an audit pack" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_zip_without_a_manifest_is_not_a_pack(pack, cli, tmp_path):
    members = {k: v for k, v in pack.members.items() if k != "manifest.json"}
    result = cli("verify-pack", rewritten(members, tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error:") and "no manifest.json" in result.stderr
