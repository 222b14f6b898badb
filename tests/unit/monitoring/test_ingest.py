"""Telemetry ingest: CSV, Parquet and JSON lines into a real demo workspace, quarantine, idempotence,
malformed files, and the inbox used while the app holds the workspace."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from governance import errors
from governance.monitoring import ingest
from governance.record.store import GovernanceStore
from tests.conftest import LEADER

ROOT = Path(__file__).resolve().parents[3]
MODEL, VERSION = "adult-income", "v2"
AS_LEADER = lambda store: LEADER   # noqa: E731 (who acts, once the workspace is open: the demo's engineering leader)


def _good_rows(n: int, *, seed: int = 7, start: str = "2026-10-01", every: str = "s",
               inputs: int = 10_000) -> pd.DataFrame:
    """n valid telemetry rows, `every` apart from `start`, about 2% of them failed requests."""
    rng = np.random.default_rng(seed)
    is_error = rng.random(n) < 0.02
    score = rng.random(n).round(4)
    prediction = (score >= 0.5).astype(int)
    return pd.DataFrame({
        "ts": pd.date_range(start, periods=n, freq=every),
        "segment": rng.choice(["web", "mobile", "branch"], size=n),
        "input_id": rng.integers(0, inputs, size=n),
        "prediction": pd.array(np.where(is_error, None, prediction), dtype="Int8"),
        "score": np.where(is_error, np.nan, score),
        "label": pd.array(np.where(rng.random(n) < 0.3, None, rng.integers(0, 2, size=n)), dtype="Int8"),
        "latency_ms": rng.uniform(5, 80, size=n).round(2),
        "is_error": is_error,
        "cpu_pct": rng.uniform(10, 90, size=n).round(1),
        "memory_mb": rng.uniform(500, 900, size=n).round(1),
        "cost_usd": rng.uniform(0.0001, 0.001, size=n).round(6),
        "approved_volume_usd": np.where(prediction == 1, 5000.0, 0.0),
        "expected_value_usd": rng.normal(0, 50, size=n).round(2),
    })


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        records = frame.astype(object).where(frame.notna(), None)
        with path.open("w") as handle:
            for record in records.to_dict("records"):
                record["ts"] = record["ts"].isoformat() + "Z" if isinstance(record["ts"], pd.Timestamp) \
                    else record["ts"]
                handle.write(json.dumps(record, default=lambda v: v.item()) + "\n")
    return path


def _snapshot(workspace: Path) -> tuple[dict, int]:
    with GovernanceStore(workspace) as store:
        return store.table_row_counts(), store.data_version()


def _telemetry_rows(store: GovernanceStore, model: str = MODEL, version: str = VERSION) -> int:
    return store.query_value("SELECT count(*) FROM telemetry WHERE model = ? AND version = ?", [model, version])


def _holder(workspace: Path) -> subprocess.Popen:
    """Another process holding the workspace open, as the running app does."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from governance.record.store import GovernanceStore
        store = GovernanceStore({str(workspace)!r})
        print("holding", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    return holder


# --- good files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_good_files_ingest_with_exact_row_counts(demo_copy, tmp_path, suffix):
    rows = _good_rows(500)
    file = _write(rows, tmp_path / f"telemetry{suffix}")
    with GovernanceStore(demo_copy) as store:
        before, version_before = _telemetry_rows(store), store.data_version()

    outcome = ingest.ingest_file(workspace=demo_copy, file=file, model=MODEL, version=VERSION, actor=AS_LEADER)

    assert (outcome.mode, outcome.rows_accepted, outcome.rows_quarantined) == ("ingested", 500, 0)
    assert outcome.problems == () and outcome.quarantined_by_reason == {}
    with GovernanceStore(demo_copy) as store:
        assert _telemetry_rows(store) == before + 500
        assert store.data_version() == version_before + 1
        landed = store.query("SELECT * FROM telemetry WHERE ts >= '2026-10-01' ORDER BY ts")
        recorded = store.query_rows("SELECT file_name, file_format, model, version, rows_accepted, "
                                    "rows_quarantined, via, file_sha256 FROM ingested_file")
    assert recorded == [(file.name, suffix.lstrip("."), MODEL, VERSION, 500, 0, "direct", outcome.file_sha256)]
    assert len(landed) == 500
    assert landed["ts"].iloc[0] == pd.Timestamp("2026-10-01") and landed["ts"].iloc[-1] == rows["ts"].iloc[-1]
    assert landed["latency_ms"].sum() == pytest.approx(rows["latency_ms"].sum())
    assert int(landed["is_error"].sum()) == int(rows["is_error"].sum())
    assert int(landed["prediction"].isna().sum()) == int(rows["is_error"].sum())  # failed requests: no prediction
    assert int(landed["label"].sum()) == int(rows["label"].sum())
    assert sorted(landed["segment"].unique()) == ["branch", "mobile", "web"]


def test_timestamps_with_offsets_are_stored_as_utc_and_missing_segment_defaults(demo_copy, tmp_path):
    file = tmp_path / "offsets.csv"
    file.write_text("TS,Prediction,Latency_ms,Is_Error\n"          # header case and spaces do not matter
                    "2026-10-01T12:00:00+02:00,1,10,false\n"
                    "2026-10-01 11:00:00,0,11,0\n")
    with GovernanceStore(demo_copy) as store:
        outcome = ingest.ingest_path_into_store(store, file=file, model=MODEL, version=VERSION, actor=LEADER)
        landed = store.query_rows("SELECT ts, segment FROM telemetry WHERE ts >= '2026-10-01' ORDER BY ts")
    assert outcome.rows_accepted == 2
    assert [str(ts) for ts, _ in landed] == ["2026-10-01 10:00:00", "2026-10-01 11:00:00"]
    assert {segment for _, segment in landed} == {ingest.SEGMENT_WHEN_MISSING}


def test_typed_parquet_columns_are_taken_as_typed(demo_copy, tmp_path):
    table = pa.table({
        "ts": pa.array([pd.Timestamp("2026-10-01 12:00", tz="Europe/Paris")] * 2, pa.timestamp("ms", "Europe/Paris")),
        "segment": pa.array(["web", "web"]).dictionary_encode(),
        "prediction": pa.array([True, None]),
        "latency_ms": pa.array([4, 5], pa.int32()),
        "is_error": pa.array([False, True]),
        "score": pa.array([0.8, float("nan")]),
    })
    file = tmp_path / "typed.parquet"
    pq.write_table(table, file)
    with GovernanceStore(demo_copy) as store:
        outcome = ingest.ingest_path_into_store(store, file=file, model=MODEL, version=VERSION, actor=LEADER)
        landed = store.query_rows("SELECT ts, segment, prediction, score, is_error FROM telemetry "
                                  "WHERE ts >= '2026-10-01' ORDER BY is_error")
    assert outcome.rows_accepted == 2
    assert [(str(ts), seg, pred, score, err) for ts, seg, pred, score, err in landed] == [
        ("2026-10-01 10:00:00", "web", 1, 0.8, False), ("2026-10-01 10:00:00", "web", None, None, True)]


def test_a_required_key_missing_from_later_json_lines_quarantines_those_rows(demo_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "JSONL_CHUNK_ROWS", 2)   # line 3 starts a chunk that has no latency_ms at all
    file = tmp_path / "drift.jsonl"
    file.write_text(
        '{"ts": "2026-10-01T00:00:00Z", "prediction": 1, "latency_ms": 3, "is_error": false}\n'
        '{"ts": "2026-10-01T00:00:01Z", "prediction": 0, "latency_ms": 4, "is_error": false}\n'
        '{"ts": "2026-10-01T00:00:02Z", "prediction": 0, "is_error": false}\n')
    with GovernanceStore(demo_copy) as store:
        outcome = ingest.ingest_path_into_store(store, file=file, model=MODEL, version=VERSION, actor=LEADER)
    assert (outcome.rows_accepted, outcome.rows_quarantined) == (2, 1)
    assert outcome.problems == ("row 3, column latency_ms is empty",)


# --- bad rows ------------------------------------------------------------------------------------------------


def test_bad_rows_are_quarantined_with_row_and_column_and_the_good_ones_commit(demo_copy, tmp_path):
    rows = _good_rows(40).astype({"latency_ms": object, "score": object, "cpu_pct": object, "ts": object,
                                  "prediction": object, "label": object, "is_error": object})
    rows["is_error"] = pd.Series(False, index=rows.index, dtype=object)
    rows["prediction"] = (rows["score"].astype(float) >= 0.5).astype(int).astype(object)
    rows["score"] = rows["score"].astype(float).fillna(0.3)
    rows["model"] = MODEL
    rows.loc[16, "latency_ms"] = "fast"            # row 17
    rows.loc[2, "score"] = 1.5                     # row 3
    rows.loc[4, "prediction"] = 2                  # row 5
    rows.loc[7, "cpu_pct"] = 140                   # row 8
    rows.loc[8, "ts"] = "yesterday"                # row 9
    rows.loc[9, "latency_ms"] = -1                 # row 10
    rows.loc[10, "model"] = "german-credit"        # row 11
    rows.loc[11, ["prediction", "is_error"]] = [None, False]   # row 12: an answered request without a prediction
    rows.loc[12, ["prediction", "is_error"]] = [None, True]    # row 13: a failed request: fine
    rows.loc[13, "is_error"] = "maybe"             # row 14
    rows.loc[14, "latency_ms"] = None              # row 15
    file = _write(rows, tmp_path / "mixed.csv")
    with GovernanceStore(demo_copy) as store:
        before = _telemetry_rows(store)
        outcome = ingest.ingest_path_into_store(store, file=file, model=MODEL, version=VERSION, actor=LEADER)
        quarantined = store.query("SELECT * FROM ingest_quarantine ORDER BY row_number")
        assert _telemetry_rows(store) == before + 30

    assert (outcome.rows_accepted, outcome.rows_quarantined) == (30, 10)
    assert outcome.problems == (
        "row 3, column score: 1.5 is outside [0, 1]",
        "row 5, column prediction: 2 is not 0 or 1",
        "row 8, column cpu_pct: 140 is outside [0, 100]",
        f"row 9, column ts: 'yesterday' {ingest.NOT_TIMESTAMP}",
        "row 10, column latency_ms: -1 is below 0",
        "row 11, column model: 'german-credit' does not match the model being ingested ('adult-income')",
        f"row 12, column prediction {ingest.NO_PREDICTION}",
        "row 14, column is_error: 'maybe' is not true or false",
        "row 15, column latency_ms is empty",
        "row 17, column latency_ms: 'fast' is not a number",
    )
    assert outcome.quarantined_by_reason["column latency_ms is not a number"] == 1
    assert sum(outcome.quarantined_by_reason.values()) == 10
    assert list(quarantined["row_number"]) == [3, 5, 8, 9, 10, 11, 12, 14, 15, 17]
    assert set(quarantined["file_sha256"]) == {outcome.file_sha256}
    assert set(quarantined[["model", "version"]].itertuples(index=False, name=None)) == {(MODEL, VERSION)}
    fast = quarantined[quarantined["row_number"] == 17].iloc[0]
    assert fast["problem_columns"] == "latency_ms"
    assert fast["reason"] == "column latency_ms: 'fast' is not a number"
    assert json.loads(fast["raw_row"])["latency_ms"] == "fast"


def test_json_lines_rows_are_numbered_by_line_and_keep_their_raw_values(demo_copy, tmp_path):
    file = tmp_path / "lines.jsonl"
    file.write_text(
        '{"ts": "2026-10-01T00:00:00Z", "prediction": 1, "latency_ms": 3.5, "is_error": false, "score": 0.7}\n'
        '\n'
        '{"ts": "2026-10-01T00:00:01Z", "prediction": 1, "latency_ms": "fast", "is_error": false, '
        '"extra": {"nested": [1, 2]}}\n'
        '{"ts": 1790000000, "prediction": true, "latency_ms": 4, "is_error": 0}\n')
    with GovernanceStore(demo_copy) as store:
        outcome = ingest.ingest_path_into_store(store, file=file, model=MODEL, version=VERSION, actor=LEADER)
        raw = json.loads(store.query_value("SELECT raw_row FROM ingest_quarantine WHERE row_number = 3"))
    assert (outcome.rows_accepted, outcome.rows_quarantined) == (1, 2)
    assert outcome.problems == ("row 3, column latency_ms: 'fast' is not a number",
                                f"row 4, column ts: 1790000000 {ingest.NOT_TIMESTAMP}")
    assert raw["extra"] == {"nested": [1, 2]} and raw["latency_ms"] == "fast"
    assert outcome.ignored_columns == ("extra",)


# --- repeats ---------------------------------------------------------------------------------------------------


def test_the_same_file_twice_ingests_once(demo_copy, tmp_path):
    file = _write(_good_rows(200), tmp_path / "once.parquet")
    first = ingest.ingest_file(workspace=demo_copy, file=file, model=MODEL, version=VERSION, actor=AS_LEADER)
    counts, data_version = _snapshot(demo_copy)

    again = ingest.ingest_file(workspace=demo_copy, file=file, model=MODEL, version=VERSION, actor=AS_LEADER)
    renamed = file.rename(tmp_path / "same-content-other-name.parquet")
    by_content = ingest.ingest_file(workspace=demo_copy, file=renamed, model=MODEL, version=VERSION, actor=AS_LEADER)

    assert first.mode == "ingested" and first.rows_accepted == 200
    assert again.mode == by_content.mode == "already_ingested"
    assert again.rows_accepted == 200 and again.ingested_at == first.ingested_at
    assert _snapshot(demo_copy) == (counts, data_version)   # nothing written, not even the data version
    with pytest.raises(errors.InvalidInputError, match="already ingested as telemetry of adult-income v2"):
        ingest.ingest_file(workspace=demo_copy, file=renamed, model=MODEL, version="v1", actor=AS_LEADER)
    assert _snapshot(demo_copy) == (counts, data_version)


# --- malformed files ------------------------------------------------------------------------------------------

_HEADER = "ts,prediction,latency_ms,is_error\n"
MALFORMED = {
    "empty": ("empty.csv", b"", "is empty"),
    "binary-garbage": ("garbage.csv", bytes(range(256)) * 64, "is not a readable CSV file"),
    "not-csv-text": ("prose.csv", b"Dear team,\nplease find attached, the numbers; as discussed\nRegards\n",
                     "is not a readable CSV file"),
    "ragged-csv": ("ragged.csv", (_HEADER + "2026-10-01T00:00:00Z,1,3,false\n2026-10-01,1,3,false,extra\n").encode(),
                   "is not a readable CSV file"),
    "header-only": ("header.csv", _HEADER.encode(), "holds no telemetry rows"),
    "no-required-columns": ("other.csv", b"name,age\nann,31\nbob,42\n", "lacks the required column(s)"),
    "some-required-columns": ("some.csv", b"ts,prediction\n2026-10-01,1\n", "lacks the required column(s) latency_ms, is_error"),
    "duplicate-columns": ("dup.csv", (_HEADER.strip() + ",TS\n2026-10-01,1,3,false,x\n").encode(), "more than once"),
    "parquet-garbage": ("fake.parquet", b"PAR1 this is not parquet at all", "is not a readable Parquet file"),
    "jsonl-broken-line": ("broken.jsonl",
                          b'{"ts": "2026-10-01", "prediction": 1, "latency_ms": 3, "is_error": false}\n{"ts": "2026-',
                          "line 2 of broken.jsonl is not valid JSON"),
    "jsonl-array": ("array.json", b'[{"ts": "2026-10-01"}]', "line 1 of array.json is not a JSON object"),
    "jsonl-binary": ("bin.jsonl", bytes(range(256)) * 64, "is not valid JSON"),
    "jsonl-whitespace": ("blank.jsonl", b"\n\n  \n", "holds no telemetry rows"),
    "unsupported": ("book.xlsx", b"PK\x03\x04 spreadsheet", "unsupported file type '.xlsx'"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_files_are_refused_clearly_and_change_nothing(demo_copy, tmp_path, name):
    file_name, content, message = MALFORMED[name]
    file = tmp_path / file_name
    file.write_bytes(content)
    before = _snapshot(demo_copy)
    with pytest.raises(errors.InvalidInputError) as raised:
        ingest.ingest_file(workspace=demo_copy, file=file, model=MODEL, version=VERSION, actor=AS_LEADER)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert _snapshot(demo_copy) == before


def test_a_missing_file_and_a_missing_workspace_are_refused(demo_copy, tmp_path):
    with pytest.raises(errors.InvalidInputError, match="no such file|No such file"):
        ingest.ingest_file(workspace=demo_copy, file=tmp_path / "absent.csv", model=MODEL, version=VERSION,
                           actor=AS_LEADER)
    file = _write(_good_rows(3), tmp_path / "fine.csv")
    with pytest.raises(errors.InvalidInputError, match="there is no workspace at"):
        ingest.ingest_file(workspace=tmp_path / "nowhere.duckdb", file=file, model=MODEL, version=VERSION,
                           actor=AS_LEADER)
    assert not (tmp_path / "nowhere.duckdb").exists()


@pytest.mark.parametrize(("model", "version", "message"), [
    ("no-such-model", "v1", "there is no model named 'no-such-model'"),
    ("german-credit", "v9", "model 'german-credit' has no version 'v9'; versions: v1"),
    ("", "v1", "the model to ingest for must not be empty"),
])
def test_unknown_model_or_version_is_refused(demo_copy, tmp_path, model, version, message):
    file = _write(_good_rows(10), tmp_path / "fine.csv")
    before = _snapshot(demo_copy)
    with pytest.raises(errors.InvalidInputError, match=message):
        ingest.ingest_file(workspace=demo_copy, file=file, model=model, version=version, actor=AS_LEADER)
    assert _snapshot(demo_copy) == before


def test_a_failure_halfway_through_leaves_nothing_written(demo_copy, tmp_path, monkeypatch):
    file = _write(_good_rows(5_000), tmp_path / "big.csv")
    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", 32 << 10)   # many chunks from a small file
    real_check, chunks = ingest._check, []

    def crash_on_the_third_chunk(*args, **kwargs):
        chunks.append(1)
        if len(chunks) == 3:
            raise OSError("disk vanished")
        return real_check(*args, **kwargs)

    monkeypatch.setattr(ingest, "_check", crash_on_the_third_chunk)
    before = _snapshot(demo_copy)
    with pytest.raises(OSError, match="disk vanished"):
        ingest.ingest_file(workspace=demo_copy, file=file, model=MODEL, version=VERSION, actor=AS_LEADER)
    assert len(chunks) == 3
    assert _snapshot(demo_copy) == before


# --- the inbox, while the app holds the workspace -----------------------------------------------------------


def test_queued_while_the_workspace_is_held_then_absorbed_exactly_once(demo_copy, tmp_path):
    rows = _good_rows(300).astype({"latency_ms": object})
    rows.loc[[4, 99], "latency_ms"] = "fast"
    file = _write(rows, tmp_path / "while-busy.csv")
    inbox = ingest.inbox_dir(demo_copy)
    with GovernanceStore(demo_copy) as store:
        before = _telemetry_rows(store)

    holder = _holder(demo_copy)
    try:
        queued = ingest.ingest_file(workspace=demo_copy, file=file, model=MODEL, version=VERSION, actor=AS_LEADER)
    finally:
        holder.kill()
        holder.wait()

    assert inbox == demo_copy.parent / "copy.inbox"
    assert (queued.mode, queued.rows_accepted, queued.rows_quarantined) == ("queued", 298, 2)
    assert queued.problems == ("row 5, column latency_ms: 'fast' is not a number",
                               "row 100, column latency_ms: 'fast' is not a number")
    assert queued.inbox_file == inbox / f"{queued.file_sha256}.parquet"
    assert [p.name for p in inbox.iterdir()] == [queued.inbox_file.name]   # no temporary left behind
    metadata = pq.read_metadata(queued.inbox_file).metadata
    assert metadata[b"quorum.model"] == MODEL.encode() and metadata[b"quorum.version"] == VERSION.encode()
    assert metadata[b"quorum.source_file"] == b"while-busy.csv"
    assert metadata[b"quorum.source_sha256"] == queued.file_sha256.encode()

    with GovernanceStore(demo_copy) as store:
        assert _telemetry_rows(store) == before   # nothing landed while the app held the workspace
        absorbed = ingest.absorb_inbox(store)
        assert [(o.mode, o.rows_accepted, o.rows_quarantined, o.file_name) for o in absorbed] == [
            ("ingested", 298, 2, "while-busy.csv")]
        assert _telemetry_rows(store) == before + 298
        assert store.query_value("SELECT count(*) FROM ingest_quarantine") == 2
        assert store.query_rows("SELECT via, file_sha256 FROM ingested_file") == [("inbox", queued.file_sha256)]
        assert not queued.inbox_file.exists()

        data_version = store.data_version()
        assert ingest.absorb_inbox(store) == []
        assert ingest.ingest_path_into_store(store, file=file, model=MODEL, version=VERSION, actor=LEADER).mode == \
            "already_ingested"
        assert _telemetry_rows(store) == before + 298 and store.data_version() == data_version


def test_a_crash_between_commit_and_delete_does_not_ingest_twice(demo_copy, tmp_path):
    file = _write(_good_rows(100), tmp_path / "t.parquet")
    queued = ingest.queue_file(workspace=demo_copy, file=file, model=MODEL, version=VERSION)
    kept = queued.inbox_file.read_bytes()
    with GovernanceStore(demo_copy) as store:
        before = _telemetry_rows(store)
        assert [o.mode for o in ingest.absorb_inbox(store)] == ["ingested"]
        queued.inbox_file.write_bytes(kept)        # as if the process died after the commit, before the delete
        again = ingest.absorb_inbox(store)
        assert [o.mode for o in again] == ["already_ingested"]
        assert _telemetry_rows(store) == before + 100
        assert not queued.inbox_file.exists()


def test_bad_inbox_files_are_rejected_once_with_a_reason(demo_copy, tmp_path):
    inbox = ingest.inbox_dir(demo_copy)
    file = _write(_good_rows(20), tmp_path / "t.csv")
    unknown = ingest.queue_file(workspace=demo_copy, file=file, model="no-such-model", version="v1")
    (inbox / "garbage.parquet").write_bytes(b"not parquet")
    foreign = inbox / "foreign.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), foreign)
    before = _snapshot(demo_copy)

    with GovernanceStore(demo_copy) as store:
        outcomes = ingest.absorb_inbox(store)
        assert ingest.absorb_inbox(store) == []   # never retried in a loop

    reasons = {o.file_name: o.reason for o in outcomes}
    assert [o.mode for o in outcomes] == ["rejected"] * 3
    assert "there is no model named 'no-such-model'" in reasons[unknown.inbox_file.name]
    assert "is not a Quorum inbox file" in reasons["garbage.parquet"]
    assert "is not a Quorum inbox file" in reasons["foreign.parquet"]
    rejected = inbox / "rejected"
    for name in reasons:
        assert (rejected / name).exists() and not (inbox / name).exists()
        assert reasons[name] in (rejected / f"{name}.reason.txt").read_text()
    counts, data_version = _snapshot(demo_copy)
    assert counts == before[0] and data_version == before[1]


def test_queueing_checks_rows_without_the_database(tmp_path):
    workspace = tmp_path / "never-opened.duckdb"
    file = tmp_path / "t.csv"
    file.write_text(_HEADER + "2026-10-01T00:00:00Z,1,fast,false\n")
    queued = ingest.queue_file(workspace=workspace, file=file, model=MODEL, version=VERSION)
    assert (queued.mode, queued.rows_accepted, queued.rows_quarantined) == ("queued", 0, 1)
    assert not workspace.exists()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(errors.InvalidInputError, match="is not valid JSON"):
        ingest.queue_file(workspace=workspace, file=broken, model=MODEL, version=VERSION)
    assert sorted(p.name for p in ingest.inbox_dir(workspace).iterdir()) == [queued.inbox_file.name]
    with pytest.raises(errors.InvalidInputError, match="is already waiting in .* as telemetry of adult-income v2"):
        ingest.queue_file(workspace=workspace, file=file, model=MODEL, version="v1")


# --- streaming ---------------------------------------------------------------------------------------------------


def test_a_large_csv_streams_in_chunks_within_bounded_memory(demo_copy, tmp_path, monkeypatch):
    n = 200_000
    file = tmp_path / "large.csv"
    pacsv.write_csv(pa.Table.from_pandas(_good_rows(n, seed=11), preserve_index=False), file)  # fast to write
    real_check, chunk_rows = ingest._check, []

    def counting_check(raw, *args, **kwargs):
        chunk_rows.append(len(raw))
        return real_check(raw, *args, **kwargs)

    monkeypatch.setattr(ingest, "_check", counting_check)
    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", 1 << 20)
    with GovernanceStore(demo_copy) as store:
        before = _telemetry_rows(store)
        started = time.perf_counter()
        tracemalloc.start()
        try:
            outcome = ingest.ingest_path_into_store(store, file=file, model=MODEL, version=VERSION, actor=LEADER)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        seconds = time.perf_counter() - started
        assert _telemetry_rows(store) == before + n

    assert outcome.rows_accepted == n
    assert sum(chunk_rows) == n and len(chunk_rows) >= 10 and max(chunk_rows) <= n // 10
    # Python-side memory stays at a few chunks' worth (1 MB of CSV each); the whole file in pandas would
    # take more than its own 18 MB in numeric columns alone.
    assert peak < file.stat().st_size / 3, f"peak {peak:,} bytes for a {file.stat().st_size:,}-byte file"
    assert seconds < 30  # about 1 s without tracemalloc, which slows every allocation
