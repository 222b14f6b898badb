"""Every read command of the CLI answers the same on a PostgreSQL workspace as on the DuckDB demo of the same rows.

Both demos are built from the same rows and seed (DEMO_ROWS, 42); each command runs with --json on both, and the
two answers must be equal once what is bound to differ is set aside:
- times of the build (the clock at `init`, not the demo's telemetry times): each workspace was built at its own
  moment, so a datetime within a build's window is replaced by a marker;
- values hashed over those times: the ledger's chain, and each review's evidence hash (its evidence names the
  build times of the audits, runs and explanation it froze; the test recomputes each side's hash from the
  evidence it shows, which must itself be equal);
- the workspace's location (a file against a URL and a lake) and the DuckDB-only hourly rollup;
- floats, to a relative 1e-9: the engines add in different orders;
- latency percentiles, to the lake's sketch error (the LATENCY rule below): on PostgreSQL they come from the
  rollups' latency sketches, on DuckDB from the rows.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone

import pytest

from governance.cli import main as governance_cli
from governance.monitoring.lake_rollup import LATENCY_ALPHA
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
# The LATENCY rule. With PostgreSQL a model's telemetry is the lake, read from its rollups, whose latency
# percentiles come from a DDSketch within LATENCY_ALPHA relative error; the DuckDB workspace computes them exactly
# from its rows. Everything else (counts, sums, rates, PSI, KS...) the rollups keep exactly, and stays at REL_TOL.
# (a) A latency percentile compares to LATENCY_ALPHA relative: under one of these keys, or under one of
#     LATENCY_RECORD_VALUES in a record whose `kpi` is one (a service level's value, an anomaly's, a breach's worst
#     hourly p95; a CSV row of either once keyed by its header).
LATENCY_PERCENTILES = {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"}
LATENCY_RECORD_VALUES = {"value", "worst"}
# (a) A spread of percentiles each within LATENCY_ALPHA of its own is within LATENCY_ALPHA x the largest of them:
#     absolute, that share of the answer's largest p95 (as tests/unit/monitoring/test_telemetry_sources.py does).
LATENCY_SPREADS = {"latency_p95_rolling_std_ms"}
# (b) What the 1% moves further, by name. An anomaly of a latency KPI: its expected band and score come from a
#     fit over the period's neighbours and its sampling noise, which turn 1% on each point into several % on the
#     band (seen: 2%) and on the score (10%). Which anomalies fire (version, KPI, period) and the value flagged still
#     compare: only these are set aside.
LATENCY_ANOMALY_FIT = {"expected", "expected_low", "expected_high", "score"}
# (b) A latency figure in a text ("p95 latency 85 ms"): the text without its figures must be equal, and each pair
#     of figures within LATENCY_ALPHA plus one unit of the last digit shown (each side rounded its own way).
LATENCY_FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?= ?ms\b)")
# (b) The same for a breach's worst figure, written without its unit ("worst 803.2 against target 250"), in the
#     texts of a record that names a latency KPI (a proposed risk's title, its evidence's ref) and only there: an
#     accuracy's worst is held exactly.
BREACH_FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?= ?ms\b)|(?<=worst )(\d[\d,]*(?:\.\d+)?)(?= against\b)")

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
# (b) of the LATENCY rule: a report's chart of the daily KPIs draws p95 latency, so its SVG's coordinates and axis
# ticks move with the sketch's 1%. It is drawn from the report's kpis.daily, compared by the rule in the JSON
# reports (and in a pack's report.json and kpis_daily.csv), so the chart itself is set aside.
KPI_CHART = re.compile(r'(<figure data-chart="kpis">).*?(</figure>)', re.S)
# (b) an HTML table's latency columns ("p95 ms"): their cells are latency figures written without the unit, given
# it so that they compare as figures in a text do.
LATENCY_COLUMN = re.compile(r"\s*p\d\d ms\s*")


def _latency_cells_with_unit(html: str) -> str:
    def table(found) -> str:
        text = found.group(0)
        head = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<th\b[^>]*>.*?</th>", text, re.S)]
        at = {i for i, name in enumerate(head) if LATENCY_COLUMN.fullmatch(name)}

        def row(cells) -> str:
            index = iter(range(len(head) + 1000))
            return re.sub(r"(<td\b[^>]*>)(.*?)(</td>)", lambda c: c.group(1) + c.group(2)
                          + (" ms" if next(index) in at else "") + c.group(3), cells.group(0), flags=re.S)
        return re.sub(r"<tr\b[^>]*>.*?</tr>", row, text, flags=re.S) if at else text
    return re.sub(r"<table\b.*?</table>", table, html, flags=re.S)
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


def differences(a, b, path="", *, key: str = "", scale: float | None = None) -> list[str]:
    """Where two normalised answers differ: latency percentiles by the LATENCY rule, other floats to a relative
    REL_TOL, the rest exactly. `key` is the name the values are under; `scale`, the answer's largest p95 latency."""
    if scale is None:
        scale = max(_latency_p95s(a), default=0.0)
    if _is_frame(a) and _is_frame(b):   # a table (split orient): each cell under its column's name
        if a["columns"] != b["columns"]:
            return [f"{path}.columns: {a['columns']!r} on DuckDB, {b['columns']!r} on PostgreSQL"]
        a, b = ({**x, "data": _records(x)} for x in (a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{path}.{k}: only on {'DuckDB' if k in a else 'PostgreSQL'}" for k in set(a) ^ set(b)]
        latency_record = a.get("kpi") in LATENCY_PERCENTILES and a.get("kpi") == b.get("kpi")
        names_latency = any(isinstance(v, str) and any(kpi in v for kpi in LATENCY_PERCENTILES) for v in a.values())
        for k in a.keys() & b.keys():
            if latency_record and k in LATENCY_ANOMALY_FIT:
                continue
            if names_latency and isinstance(a[k], str) and isinstance(b[k], str) \
                    and _latency_figures_alike(a[k], b[k], figure=BREACH_FIGURE):
                continue
            named = "latency_p95_ms" if latency_record and k in LATENCY_RECORD_VALUES else str(k)
            found += differences(a[k], b[k], f"{path}.{k}", key=named, scale=scale)
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items on DuckDB, {len(b)} on PostgreSQL"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]", key=key,
                                                                            scale=scale)]
    if _number(a) and _number(b) and (isinstance(a, float) or isinstance(b, float)):
        if key in LATENCY_PERCENTILES and math.isclose(a, b, rel_tol=LATENCY_ALPHA, abs_tol=1e-12):
            return []
        if key in LATENCY_SPREADS and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=LATENCY_ALPHA * scale + 1e-12):
            return []
        if math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12):
            return []
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:   # NaN on both
        return []
    if isinstance(a, str) and isinstance(b, str) and a != b and _latency_figures_alike(a, b):
        return []
    if isinstance(a, str) and isinstance(b, str) and a != b and max(len(a), len(b)) > 200:   # a document
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return [f"{path} from character {at}: {a[max(0, at - 80):at + 80]!r} on DuckDB, "
                f"{b[max(0, at - 80):at + 80]!r} on PostgreSQL"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} on DuckDB, {b!r} on PostgreSQL"]


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_frame(x) -> bool:
    return isinstance(x, dict) and isinstance(x.get("columns"), list) and isinstance(x.get("data"), list) \
        and all(isinstance(row, list) and len(row) == len(x["columns"]) for row in x["data"])


def _records(frame: dict) -> list[dict]:
    return [dict(zip(map(str, frame["columns"]), row)) for row in frame["data"]]


def _latency_p95s(value):
    """Every p95 latency in an answer (under its key, or as a latency record's value)."""
    if isinstance(value, dict):
        if _is_frame(value):
            value = _records(value)
        else:
            for k, v in value.items():
                if _number(v) and (k == "latency_p95_ms" or k == "value" and value.get("kpi") == "latency_p95_ms"):
                    yield float(v)
                else:
                    yield from _latency_p95s(v)
            return
    if isinstance(value, list):
        for v in value:
            yield from _latency_p95s(v)


def _latency_figures_alike(a: str, b: str, *, figure: re.Pattern = LATENCY_FIGURE) -> bool:
    """Two texts equal but for their latency figures ("85 ms"), each pair within LATENCY_ALPHA plus one unit of
    the last digit shown (the LATENCY rule, b)."""
    figures = [["".join(groups) for groups in figure.findall(x)] if figure.groups > 1 else figure.findall(x)
               for x in (a, b)]
    if not figures[0] or len(figures[0]) != len(figures[1]) or figure.sub("#", a) != figure.sub("#", b):
        return False
    for x, y in zip(*figures):
        unit = max(10.0 ** -len(f.partition(".")[2]) for f in (x, y))
        x, y = (float(f.replace(",", "")) for f in (x, y))
        if abs(x - y) > LATENCY_ALPHA * max(abs(x), abs(y)) + unit:
            return False
    return True


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
        if name.endswith(".csv"):   # as a table: each cell under its column's name (the LATENCY rule needs it)
            header, *rows = csv.reader(io.StringIO(data.decode()))
            return {"columns": header, "data": [[cell(v) for v in row] for row in rows]}
        if name.endswith(".html"):
            html = LEDGER_HEAD.sub(r"\1<ledger head>", data.decode())   # a hash over build times
            return _latency_cells_with_unit(KPI_CHART.sub(r"\1<the KPI chart>\2", html))
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


def test_the_postgresql_demo_leaves_every_partition_of_its_lake_rolled_up(both):
    """So its pages read summaries, and none says a partition was read from its rows (as drift's notes would)."""
    from governance.monitoring import lake_rollup
    from governance.monitoring.telemetry_dataset import dataset_files

    files = dataset_files(str(both["lake"]))
    plan = lake_rollup.plan(files=files, rebuild=False)   # a missing or stale rollup shows as rows to read
    assert files and plan.row_files == [] and plan.notes == []
    assert len(plan.rollup_files["telemetry_hourly"]) == len({f.split("date=")[1][:10] for f in files})


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


def test_the_comparison_holds_latency_percentiles_to_the_sketch_error_only():
    """The LATENCY rule: a latency percentile within LATENCY_ALPHA passes and one 2% off is found, under its key,
    as a latency record's value, in a table's column and in a text; everything else beside them stays exact."""
    day = {"date": "2026-09-14", "predictions": 144, "accuracy": 0.88, "latency_p95_ms": 100.0,
           "latency_p95_rolling_std_ms": 4.0}
    assert differences(day, day | {"latency_p95_ms": 100.9}) == []
    assert differences(day, day | {"latency_p95_ms": 102.0})
    assert differences(day, day | {"accuracy": 0.88 * 1.005})   # 0.5%: within the sketch's error, not an accuracy's
    assert differences(day, day | {"latency_p95_rolling_std_ms": 4.9}) == []   # 1% of the largest p95: 1 ms
    assert differences(day, day | {"latency_p95_rolling_std_ms": 5.1})
    level = {"kpi": "latency_p95_ms", "value": 368.99, "status": "red", "target": 250.0}
    assert differences(level, level | {"value": 368.76}) == []
    assert differences(level, level | {"value": 368.99 * 1.02})
    assert differences(level, level | {"target": 250.5})
    assert differences(level | {"kpi": "error_rate"}, level | {"kpi": "error_rate", "value": 368.76})
    anomaly = {"kpi": "latency_p95_ms", "period": "2026-09-14T00:00:00", "value": 489.2, "expected": 154.2,
               "expected_low": 127.8, "expected_high": 186.0, "score": 24.59}
    assert differences(anomaly, anomaly | {"value": 487.9, "expected_low": 125.2, "score": 22.26}) == []
    assert differences(anomaly, anomaly | {"value": 489.2 * 1.02})
    assert differences(anomaly, anomaly | {"period": "2026-09-15T00:00:00"})
    table = {"columns": ["date", "latency_p95_ms"], "data": [["2026-09-14", 161.6]]}
    assert differences(table, table | {"data": [["2026-09-14", 162.1]]}) == []
    assert differences(table, table | {"data": [["2026-09-14", 161.6 * 1.02]]})
    assert differences(table, {"columns": ["date", "accuracy"], "data": [["2026-09-14", 161.6]]})
    text = "p95 latency 85 ms against the 250 ms objective, error rate 0.45%"
    assert differences(text, text.replace("85 ms", "86 ms")) == []   # 85.5 shown rounded either way
    assert differences(text, text.replace("85 ms", "88 ms"))
    assert differences(text, text.replace("0.45%", "0.46%"))
    assert differences(text, text.replace("250 ms", "260 ms"))
    breach = {"kpi": "latency_p95_ms", "worst": 803.24, "target": 250.0, "peak_burn": 20.0}
    assert differences(breach, breach | {"worst": 802.37}) == []
    assert differences(breach, breach | {"worst": 803.24 * 1.02})
    assert differences(breach, breach | {"peak_burn": 20.1})
    risk = {"title": "adult-income v2: latency_p95_ms breached its service level",
            "description": "141 hour(s) from 2026-09-14 03:00, worst 803.2 against target 250, peak burn 20.0x"}
    assert differences(risk, risk | {"description": risk["description"].replace("803.2", "802.4")}) == []
    assert differences(risk, risk | {"description": risk["description"].replace("803.2", "819.3")})
    assert differences(risk, risk | {"description": risk["description"].replace("20.0x", "20.1x")})
    accuracy = risk | {"title": "adult-income v2: accuracy breached its service level"}
    assert differences(accuracy, accuracy | {"description": accuracy["description"].replace("803.2", "802.4")})
    html = ('<table><tr><th>Day</th><th class="num">p95 ms</th><th>Predictions</th></tr>'
            '<tr><td>2026-09-14</td><td class="num">{p95}</td><td class="num">{n}</td></tr></table>')
    cells = _latency_cells_with_unit(html.format(p95=162, n=144))
    assert differences(cells, _latency_cells_with_unit(html.format(p95=163, n=144))) == []
    assert differences(cells, _latency_cells_with_unit(html.format(p95=166, n=144)))
    assert differences(cells, _latency_cells_with_unit(html.format(p95=162, n=145)))


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
