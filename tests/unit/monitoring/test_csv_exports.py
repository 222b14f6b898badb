"""Every CSV that leaves Quorum is safe to open in a spreadsheet: text that a spreadsheet would run as a formula is
neutralised, numbers stay numbers. Checked on a real Explore result read back with the standard csv module."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from governance import csv_safety
from governance.decisions import risks
from governance.monitoring.explore import View, explore
from governance.monitoring.kpis import Window
from governance.record.store import GovernanceStore
from governance.reports import audit_pack
from tests.conftest import copy_workspace

WINDOW = Window(pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-29"))
PAYLOADS = {"web": "=HYPERLINK(\"http://x\",\"y\")", "mobile": "+1+cmd|' /C calc'!A0", "branch": "-2+3",
            "broker": "@SUM(A1)"}


def read(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.fixture(scope="module")
def hostile_result(demo_workspace, tmp_path_factory):
    """An Explore result whose segment values are formulas, as a telemetry source could carry them."""
    path = copy_workspace(demo_workspace, tmp_path_factory.mktemp("csv") / "w.duckdb")
    with GovernanceStore(path) as store:
        with store.write() as tx:
            for segment, payload in PAYLOADS.items():
                tx.execute("UPDATE telemetry SET segment = ? WHERE segment = ?", [payload, segment])
        return explore(store, view=View("accuracy", ("segment", "model"), "week"), window=WINDOW).frame


def test_explore_download_neutralises_formulas_and_keeps_numbers(hostile_result):
    frame = hostile_result.copy()
    assert set(frame["segment"]) == set(PAYLOADS.values())
    frame.loc[frame.index[0], "accuracy"] = -0.03          # a negative figure must stay a number
    rows = read(csv_safety.frame_csv(frame))
    assert len(rows) == len(frame)
    assert {r["segment"] for r in rows} == {"'" + p for p in PAYLOADS.values()}
    assert rows[0]["accuracy"] == "-0.03"
    for row, expected in zip(rows, frame.itertuples(index=False)):
        assert row["model"] == expected.model                          # plain text untouched
        if pd.isna(expected.accuracy):
            assert row["accuracy"] == ""
        else:
            assert float(row["accuracy"]) == pytest.approx(expected.accuracy, rel=1e-12)
        assert pd.Timestamp(row["period"]) == expected.period


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised_in_text_columns(start):
    frame = pd.DataFrame({"name": [start + "1+1", "plain", None], "n": [-5, 3, 4], "x": [-1.5, 0.25, float("nan")]})
    rows = read(csv_safety.frame_csv(frame))
    assert [r["name"] for r in rows] == ["'" + start + "1+1", "plain", ""]
    assert [int(r["n"]) for r in rows] == [-5, 3, 4]
    assert [r["x"] for r in rows] == ["-1.5", "0.25", ""]


def test_column_names_are_neutralised_too():
    assert read(csv_safety.frame_csv(pd.DataFrame({"=cmd": ["a"]})))[0] == {"'=cmd": "a"}


def test_there_is_one_neutralising_function():
    # the risk register and the audit pack use the shared rule, not copies of it
    assert risks.neutralise is csv_safety.neutralise
    assert audit_pack._cell is csv_safety.safe_cell


def test_explore_page_downloads_the_neutralised_csv():
    from pathlib import Path
    source = (Path(__file__).parents[3] / "pages" / "explore.py").read_text()
    assert "frame_csv(result.frame)" in source and ".to_csv(" not in source
