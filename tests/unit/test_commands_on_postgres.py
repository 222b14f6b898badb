"""Every read command of the CLI answers the same on a PostgreSQL workspace as on the DuckDB demo of the same rows.

Both demos are built from the same rows and seed (DEMO_ROWS, 42); each command runs with --json on both, and the
two answers must be equal once what is bound to differ is set aside:
- times of the build (the clock at `init`, not the demo's telemetry times): each workspace was built at its own
  moment, so a datetime within a build's window is replaced by a marker;
- values hashed over those times: the ledger's chain, and each review's evidence hash (its evidence names the
  build times of the audits, runs and explanation it froze; the test recomputes each side's hash from the
  evidence it shows, which must itself be equal);
- the workspace's location (a file against a URL and a lake) and the DuckDB-only hourly rollup;
- floats, to a relative 1e-9: the engines add in different orders.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone

import pytest

from governance.cli import main as governance_cli
from tests.conftest import DEMO_ROWS, copy_workspace

# The datetimes of the build: ISO text with a time of day (dates alone are the demo's telemetry days).
DATETIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")
BUILD_TIME = "<build time>"
# Keys whose values are hashes over build times, so they differ between any two builds of the demo.
HASHED_OVER_BUILD_TIMES = {
    "entry_hash", "prev_hash", "head", "chain_head", "anchor", "head_hash", "signature",  # ledger and register
}
# Keys about the workspace itself, not its content.
WORKSPACE_KEYS = {"workspace", "location", "path"}
REL_TOL = 1e-9

# (name, arguments): every command that reads, with the ids the demo makes.
COMMANDS = [
    ("status", ["status"]),
    ("verify", ["verify"]),
    ("risks list", ["risks", "list"]),
    ("risks list model", ["risks", "list", "--model", "adult-income"]),
    ("risks history", ["risks", "history", "R-001"]),
    ("risks coverage nist", ["risks", "coverage", "--framework", "nist"]),
    ("risks coverage euaia", ["risks", "coverage", "--framework", "euaia"]),
    ("risks coverage iso42001", ["risks", "coverage", "--framework", "iso42001"]),
    ("risks verify", ["risks", "verify"]),
    ("signoff list", ["signoff", "list"]),
    *[(f"signoff status RV-000{n}", ["signoff", "status", f"RV-000{n}"]) for n in range(1, 6)],
    ("signoff queue", ["signoff", "queue", "--by", "amara.okafor"]),
    ("signoff member list", ["signoff", "member", "list"]),
    ("signoff rules", ["signoff", "rules"]),
    ("audit list", ["audit", "list"]),
    *[(f"audit show FA-000{n}", ["audit", "show", f"FA-000{n}"]) for n in range(1, 4)],
    *[(f"audit verify FA-000{n}", ["audit", "verify", f"FA-000{n}"]) for n in range(1, 4)],
    ("audit compare", ["audit", "compare", "FA-0001", "FA-0002"]),
    ("audit policy", ["audit", "policy", "show", "--model", "adult-income"]),
    ("robustness list", ["robustness", "list"]),
    ("robustness show", ["robustness", "show", "RB-0001"]),
    ("kpis day", ["kpis", "--model", "adult-income"]),
    ("kpis hour", ["kpis", "--model", "adult-income", "--version", "v2", "--grain", "hour"]),
    ("kpis week", ["kpis", "--model", "german-credit", "--grain", "week"]),
    ("drift training", ["drift", "--model", "adult-income", "--version", "v1"]),
    ("drift german", ["drift", "--model", "german-credit", "--version", "v1", "--grain", "week"]),
    ("compare", ["compare", "--model", "adult-income", "--a", "v1", "--b", "v2"]),
    ("quality", ["quality", "--model", "adult-income"]),
    ("quality german", ["quality", "--model", "german-credit", "--grain", "week"]),
    ("anomalies", ["anomalies", "--model", "adult-income"]),
    ("anomalies levels", ["anomalies", "levels", "--model", "adult-income"]),
    ("alerts list", ["alerts", "list"]),
    ("users list", ["users", "list"]),
    ("tokens list", ["tokens", "list"]),
    ("telemetry show", ["telemetry", "show"]),
    ("retraining check", ["retraining", "check"]),
    ("checklist show", ["checklist", "show", "--model", "adult-income", "--version", "v2"]),
    ("explain", ["explain", "--model", "german-credit", "--version", "v1"]),
    ("gate production", ["gate", "--model", "adult-income", "--version", "v2", "--stage", "production",
                         "--by", "farid.haddad"]),
    ("gate staging", ["gate", "--model", "german-credit", "--version", "v1", "--stage", "staging",
                      "--by", "farid.haddad"]),
    ("risks propose", ["risks", "propose"]),
]
# Reports: the command's answer names the file it wrote; the files' contents are compared.
REPORTS = [
    ("report model", ["report", "--kind", "model", "--model", "adult-income", "--version", "v2", "--format", "json",
                      "--by", "farid.haddad"]),
    ("report german", ["report", "--kind", "model", "--model", "german-credit", "--version", "v1",
                       "--format", "json", "--by", "farid.haddad"]),
    ("report review", ["report", "--kind", "review", "--review", "RV-0002", "--format", "json",
                       "--by", "farid.haddad"]),
    ("report coverage", ["report", "--kind", "coverage", "--format", "json", "--by", "farid.haddad"]),
    ("report html", ["report", "--kind", "model", "--model", "adult-income", "--version", "v1", "--format", "html",
                     "--by", "farid.haddad"]),
    ("report pack", ["report", "--kind", "model", "--model", "adult-income", "--version", "v2", "--format", "pack",
                     "--by", "farid.haddad"]),
]
SUFFIX = {"html": ".html", "pack": ".zip"}
# In an audit pack's manifest, the files' sizes and digests and the manifest's HMAC are over texts that hold the
# build times; the files themselves are compared.
PACK_MANIFEST_BY_DESIGN = {"bytes", "sha256", "manifest_hmac"}
LEDGER_HEAD = re.compile(r"(Head hash: <span class=\"hash\">)[0-9a-f]{64}")
# What differs by design, per command: with PostgreSQL a model's telemetry is read from the lake as a Parquet
# dataset (telemetry_sources.source_for), with DuckDB from the workspace; a query's time and bytes are measured.
BY_DESIGN = {
    "telemetry show": {"kind", "engine", "bytes_opened", "seconds"},
    # the report's bytes and digest are over its text, which holds the build times: the contents are compared
    **{name: {"out", "bytes", "sha256", "seconds"} for name, _ in REPORTS},
}


def normalised(value, *, build_windows, places):
    """The answer with build times, the workspace's location and the hourly rollup set aside."""
    if isinstance(value, dict):
        return {k: ("<workspace>" if k in WORKSPACE_KEYS else "<hash>" if k in HASHED_OVER_BUILD_TIMES
                    else normalised(v, build_windows=build_windows, places=places))
                for k, v in value.items() if k != "telemetry_hourly"}
    if isinstance(value, list):
        return [normalised(v, build_windows=build_windows, places=places) for v in value]
    if isinstance(value, str):
        for place in places:
            value = value.replace(place, "<workspace>")
        return DATETIME.sub(lambda m: BUILD_TIME if _in_build(m.group(0), build_windows) else m.group(0), value)
    return value


def _in_build(text: str, windows) -> bool:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return False
    if moment.tzinfo is not None:   # the record keeps naive UTC
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return any(start <= moment <= end for start, end in windows)


def differences(a, b, path="") -> list[str]:
    """Where two normalised answers differ: floats compared to a relative REL_TOL, the rest exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{path}.{k}: only on {'DuckDB' if k in a else 'PostgreSQL'}" for k in set(a) ^ set(b)]
        for k in a.keys() & b.keys():
            found += differences(a[k], b[k], f"{path}.{k}")
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items on DuckDB, {len(b)} on PostgreSQL"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
                and not isinstance(b, bool) and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12):
            return []
        if a != a and b != b:   # NaN on both
            return []
    if isinstance(a, str) and isinstance(b, str) and a != b and max(len(a), len(b)) > 200:   # a document
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return [f"{path} from character {at}: {a[max(0, at - 80):at + 80]!r} on DuckDB, "
                f"{b[max(0, at - 80):at + 80]!r} on PostgreSQL"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} on DuckDB, {b!r} on PostgreSQL"]


def without(value, keys: set[str]):
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


def replaced(value, names: dict[str, str]):
    """Strings in `names` replaced by their names (a review's evidence hash by the review's id)."""
    if isinstance(value, dict):
        return {k: replaced(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [replaced(v, names) for v in value]
    if isinstance(value, str):
        for found, name in names.items():
            value = value.replace(found, name)
    return value


# before either demo is built (collection comes first), to the minute: some answers show times to the minute
_STARTED = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)


def _run(arguments: list[str]) -> tuple[int, str, str]:
    """`python -m governance …` in this process, as tests/conftest.py's `cli` fixture runs it."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = governance_cli.main([str(a) for a in arguments])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def both(demo_workspace, postgres_server, tmp_path_factory) -> dict:
    """The session's DuckDB demo (a private copy: `gate` and `risks propose` write) and a PostgreSQL demo of the
    same rows and seed; every command's answer on each."""
    import time

    from governance.demo import seed_demo
    from governance.record.postgres_store import PostgresStore

    folder = tmp_path_factory.mktemp("commands_on_postgres")
    duck = copy_workspace(demo_workspace, folder / "demo.duckdb")
    url = postgres_server.create_database("commands_on_postgres")
    lake = folder / "lake"
    started = time.perf_counter()
    with PostgresStore(url, lake=lake) as store:
        seed_demo(store, rows=DEMO_ROWS, seed=42)
    build_seconds = time.perf_counter() - started
    workspaces = {"duckdb": ["--db", duck], "postgresql": ["--db", url, "--lake", lake]}
    answers = {}
    for name, arguments in COMMANDS + REPORTS:
        for engine, db in workspaces.items():
            suffix = SUFFIX.get(arguments[arguments.index("--format") + 1], ".json") if "--format" in arguments else ""
            extra = ["--out", folder / f"{engine}-{name.replace(' ', '-')}{suffix}"] if suffix else []
            answers[name, engine] = _run([*db, *arguments, *extra, "--json"])
    for engine, db in workspaces.items():
        answers["verify-pack", engine] = _run(["verify-pack", folder / f"{engine}-report-pack.zip", "--json"])
        answers["init again", engine] = _run([*db, "init", "--demo", "--rows", DEMO_ROWS])
    # the full paths first; then the names a report gives the workspace (its file's, its database's)
    places = [str(duck), url, str(lake), str(folder), duck.name, "commands_on_postgres"]
    return {"answers": answers, "places": places, "build_seconds": build_seconds, "folder": folder, "url": url,
            "duck": duck, "lake": lake}


def _json(answer, engine: str, name: str):
    code, out, err = answer
    assert not err, f"{name} on {engine} wrote to stderr: {err[-2000:]}"
    try:
        return json.loads(out)
    except ValueError:
        pytest.fail(f"{name} on {engine} printed no JSON: {out[:500]!r}")


def _report(path: str):
    """A report's content: JSON as data, HTML as text, an audit pack as its files (CSV cells as numbers where
    they are numbers, so that floats compare to the tolerance)."""
    import csv
    import io
    import zipfile

    def cell(text: str):
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    def read(name: str, data: bytes):
        if name.endswith(".json"):
            found = json.loads(data)
            return without(found, PACK_MANIFEST_BY_DESIGN) if name == "manifest.json" else found
        if name.endswith(".csv"):
            return [[cell(v) for v in row] for row in csv.reader(io.StringIO(data.decode()))]
        if name.endswith(".html"):
            return LEDGER_HEAD.sub(r"\1<ledger head>", data.decode())   # a hash over build times
        return None   # the PDF: the same HTML, printed

    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as pack:
            return {name: read(name, pack.read(name)) for name in pack.namelist()}
    with open(path, "rb") as file:
        return read(path, file.read())


def _review_hashes(both) -> dict[str, str]:
    """Each review's evidence hash on either engine -> the review's id, once each side's hash is recomputed from
    the evidence that side shows (so a hash set aside is one that follows from evidence compared in full)."""
    from governance.decisions.review_evidence import evidence_hash

    names = {}
    for name, _ in COMMANDS:
        if name.startswith("signoff status"):
            for engine in ("duckdb", "postgresql"):
                shown = _json(both["answers"][name, engine], engine, name)
                assert evidence_hash(shown["evidence"]) == shown["evidence_hash"], (name, engine)
                names[shown["evidence_hash"]] = f"<evidence of {shown['review_id']}>"
    return names


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS + REPORTS])
def test_a_command_answers_alike_on_both_engines(both, name):
    duck, pg = both["answers"][name, "duckdb"], both["answers"][name, "postgresql"]
    assert duck[0] == pg[0], f"exit {duck[0]} on DuckDB, {pg[0]} on PostgreSQL: {pg[2][-2000:]}"
    assert duck[0] in (0, 1), f"{name} failed on DuckDB: {duck[2][-2000:]}"
    a, b = _json(duck, "duckdb", name), _json(pg, "postgresql", name)
    if name.startswith("report"):   # the report itself, beside the command's answer
        a, b = ({"answer": x, "report": _report(x["out"])} for x in (a, b))
    windows = [(_STARTED, datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=1))]
    reviews = _review_hashes(both)
    comparable = [replaced(without(normalised(x, build_windows=windows, places=both["places"]),
                                   BY_DESIGN.get(name, set())), reviews) for x in (a, b)]
    found = differences(*comparable)
    assert not found, "\n".join(found[:20])


def test_telemetry_is_read_from_the_lake_on_postgresql_and_from_the_workspace_on_duckdb(both):
    for engine, kind in (("duckdb", "workspace"), ("postgresql", "parquet")):
        shown = _json(both["answers"]["telemetry show", engine], engine, "telemetry show")
        assert [s["kind"] for s in shown["sources"]] == [kind, kind]
        assert {s["rows"] for s in shown["sources"]} and sum(s["rows"] for s in shown["sources"]) == DEMO_ROWS


def test_the_comparison_finds_a_difference():
    """The check itself: a changed count, a float beyond the tolerance and a missing key are each found; floats
    within it and build times are not."""
    window = [(datetime(2026, 12, 5, 4), datetime(2026, 12, 5, 5))]

    def norm(x):
        return normalised(x, build_windows=window, places=["/w.duckdb", "postgresql://h/db"])

    base = {"n": 3, "x": 0.1 + 0.2, "at": "2026-12-05T04:30:00Z", "day": "2026-09-14 12:00:00", "w": "/w.duckdb"}
    assert differences(norm(base), norm(base | {"x": 0.3, "at": "2026-12-05 04:31:07", "w": "postgresql://h/db"})) == []
    assert differences(norm(base), norm(base | {"n": 4}))
    assert differences(norm(base), norm(base | {"x": 0.3000001}))
    assert differences(norm(base), norm(base | {"day": "2026-09-14 13:00:00"}))   # a telemetry time, not the build's
    assert differences(norm(base), norm({k: v for k, v in base.items() if k != "n"}))


def test_both_workspaces_verify_intact(both):
    """The comparison would pass on two equally broken workspaces: both must verify (exit 0, key at hand)."""
    for engine in ("duckdb", "postgresql"):
        code, out, _ = both["answers"]["verify", engine]
        shown = json.loads(out)
        assert code == 0 and shown["ok"] is True and shown["signatures_checked"] is True, (engine, out[:500])
    print(f"PostgreSQL demo of {DEMO_ROWS:,} rows built in {both['build_seconds']:.1f} s")


def test_audit_packs_verify_on_both_engines(both):
    for engine in ("duckdb", "postgresql"):
        code, out, err = both["answers"]["verify-pack", engine]
        shown = json.loads(out)
        assert code == 0 and shown["ok"] is True and shown["manifest"] == "verified", (engine, out[:800], err)


def test_a_report_names_the_workspace_by_its_file_or_its_database(both):
    """Never by the lake's inner folder, which is the same for every shared workspace."""
    names = {engine: _json(both["answers"]["report model", engine], engine, "report model")["out"]
             for engine in ("duckdb", "postgresql")}
    assert _report(names["duckdb"])["workspace"] == "demo.duckdb"
    assert _report(names["postgresql"])["workspace"] == "commands_on_postgres"


def test_a_second_demo_is_refused_naming_the_workspace_as_its_users_know_it(both):
    """By its file, or its URL: never the lake's inner folder, which names no workspace."""
    from governance.record.postgres_store import shown_url

    for engine, name in (("duckdb", str(both["duck"])), ("postgresql", shown_url(both["url"]))):
        code, out, err = both["answers"]["init again", engine]
        assert code == 2 and err.startswith(f"error: workspace {name} already holds models"), (engine, err)


def test_the_sql_console_answers_alike_on_both_engines(both):
    """The Explore page's console (not a command): its example and an aggregate over both telemetry tables, on a
    snapshot of the workspace's telemetry or of the lake's."""
    from governance.monitoring.sql_sandbox import EXAMPLE, run_sandboxed_query
    from governance.record.shared_stores import open_store

    queries = [EXAMPLE, "SELECT count(*) AS n, sum(latency_ms) AS latency_ms, count(DISTINCT t.version) AS versions, "
                        "count(i.input_id) AS with_inputs FROM telemetry t "
                        "LEFT JOIN telemetry_input i USING (model, input_id)"]
    frames = {}
    for engine, location, lake in (("duckdb", both["duck"], None), ("postgresql", both["url"], both["lake"])):
        with open_store(location, lake=lake) as store:
            frames[engine] = [json.loads(run_sandboxed_query(store, sql=q).frame.to_json(
                orient="split", date_format="iso")) for q in queries]
    assert frames["duckdb"][1]["data"][0][0] == DEMO_ROWS
    found = differences(frames["duckdb"], frames["postgresql"])
    assert not found, "\n".join(found[:20])
