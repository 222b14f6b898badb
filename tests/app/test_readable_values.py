"""Issue 20, readability: the pages show values as people read them. The latency chart's axis fits the data and
its band stays possible; the A/B table names each KPI once, in words, with figures in their units; the risk
timeline says what changed in words, with the reason beside it; and no table on the monitoring and governance
pages shows None, NaN, an ISO timestamp with microseconds or raw JSON."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from governance.vocabulary import KPI_LABELS
from tests.app.test_pages import assert_clean, open_page

MINUTE_UTC = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
RAW = {
    "an absent value shown as a word": re.compile(r"^(None|nan|NaN|NaT|null|<NA>|—)$"),
    "an ISO timestamp": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d"),
    "microseconds": re.compile(r"\d\d:\d\d:\d\d\.\d{3,}"),
    "JSON": re.compile(r"[{\[]\s*\""),
    "an identifier with underscores": re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$"),
    "a raw float": re.compile(r"^-?\d+\.\d{5,}$"),
}


def _values(trace: dict) -> np.ndarray:
    y = trace.get("y")
    if isinstance(y, dict):   # plotly's typed array
        y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
    return np.array([np.nan if v is None else v for v in y], dtype=float)


def _chart(app, title: str) -> dict:
    specs = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    return next(s for s in specs if s["layout"].get("title", {}).get("text") == title)


def _shown(frame, proto) -> pd.DataFrame:
    """The columns a table shows: its column order when it has one."""
    order = [c for c in proto.column_order if c in frame.columns]
    return frame[order] if order else frame


@pytest.mark.parametrize("title, possible", [("Inference latency", (0.0, None)), ("Error rate", (0.0, 1.0))])
def test_the_kpi_chart_axis_fits_the_data_and_its_band_stays_possible(demo_workspace, monkeypatch, title, possible):
    """adult-income, day grain, the full window: v2's expected latency band widens to ~150,000 ms after the
    regression and the error-rate band dips below 0."""
    app = open_page("pages/kpis.py", demo_workspace, monkeypatch)
    assert_clean(app)
    spec = _chart(app, title)
    lines = [t for t in spec["data"] if t.get("mode") == "lines" and "band" not in (t.get("legendgroup") or "")]
    bands = [t for t in spec["data"] if "band" in (t.get("legendgroup") or "")]
    assert lines and bands
    data_max = max(np.nanmax(_values(t)) for t in lines)
    data_min = min(np.nanmin(_values(t)) for t in lines)
    band = np.concatenate([_values(t) for t in bands])
    bottom, top = spec["layout"]["yaxis"]["range"]
    assert top <= 1.5 * data_max, (top, data_max)        # the axis fits the lines (and the target), not the band
    assert bottom <= data_min and bottom >= possible[0]
    assert np.nanmin(band) >= possible[0] and np.nanmax(band) <= top
    if possible[1] is not None:
        assert np.nanmax(band) <= possible[1] and top <= possible[1]


def test_the_ab_table_names_each_kpi_once_in_words_with_figures_in_their_units(demo_workspace, monkeypatch):
    app = open_page("pages/compare.py", demo_workspace, monkeypatch)
    assert_clean(app)
    table = app.dataframe[0].value
    assert list(table.columns[:2]) == ["KPI", "verdict"]      # the verdict beside the KPI, never off-screen
    labels = set(KPI_LABELS.values())
    assert set(table["KPI"]) <= labels and "p95 latency" in set(table["KPI"])
    rows = table.set_index("KPI")
    assert rows.loc["p95 latency", "verdict"] == "worse"
    assert rows.loc["p95 latency", "A (v1)"].endswith(" ms") and rows.loc["accuracy", "A (v1)"].endswith("%")
    assert rows.loc["error rate", "B − A"].endswith(" pp") and rows.loc["cost per 1k predictions", "B (v2)"][0] == "$"
    assert re.fullmatch(r"[+-]\S+ to [+-]\S+ ms", rows.loc["p95 latency", "95% interval of B − A"])
    for column in table.columns:
        for value in table[column]:
            assert isinstance(value, str) and not any(p.search(value) for p in RAW.values()), (column, value)
    assert not [m.value for m in app.markdown if "_ms" in m.value or "_usd" in m.value]   # the verdict badges too


def test_the_kpi_tables_name_kpis_in_words_and_show_days_as_dates(demo_workspace, monkeypatch):
    app = open_page("pages/kpis.py", demo_workspace, monkeypatch)
    assert_clean(app)
    breaches = app.dataframe[0].value
    latency = breaches[breaches["KPI"] == "p95 latency"]
    assert list(latency["version"]) == ["v2"]
    assert DATE.match(latency["first day"].iloc[0]) and latency["first day"].iloc[0].startswith("2026-09-14")
    assert latency["worst hour"].iloc[0].endswith(" ms") and latency["target"].iloc[0] == "250 ms"
    assert MINUTE_UTC.match(latency["detected"].iloc[0])   # detection is an hour: a moment, not a day
    objectives = app.dataframe[1].value
    assert all(MINUTE_UTC.match(v) for v in objectives["set at"])          # not 2026-12-04 17:14:25.719965
    assert set(objectives["KPI"]) == {"accuracy", "p95 latency", "error rate"}


def test_the_risk_timeline_says_what_changed_in_words_with_the_reason_beside_it(demo_workspace, monkeypatch):
    app = open_page("pages/risks.py", demo_workspace, monkeypatch)
    assert_clean(app)
    timeline = next(d for d in app.dataframe if "what changed" in d.value.columns)
    frame = timeline.value
    assert list(frame.columns) == ["when", "who", "what changed", "reason"]
    assert not frame["what changed"].str.contains(r"[{}\[\]\"]").any()    # no JSON
    assert frame["when"].map(lambda v: bool(MINUTE_UTC.match(v))).all()
    assert "status: identified → assessed" in set(frame["what changed"])
    status = frame[frame["what changed"] == "status: identified → assessed"].iloc[0]
    assert status["reason"]                                              # the reason, beside what changed
    assert frame["what changed"].str.startswith("control C1 added: ").any()
    assert timeline.proto.row_height > 64                                 # long reasons wrap instead of hiding


PAGES = ["kpis", "compare", "overview", "risks", "alerts", "admin", "drift"]


@pytest.mark.parametrize("page", PAGES)
def test_no_table_shows_a_raw_value(demo_workspace, monkeypatch, page):
    app = open_page(f"pages/{page}.py", demo_workspace, monkeypatch, user="grace.lindqvist")
    assert_clean(app)
    assert app.dataframe, page
    for table in app.dataframe:
        frame = _shown(table.value, table.proto)
        nulls = frame.columns[frame.isna().any()].tolist()
        assert not nulls, f"{page}: empty cells shown as None in {nulls}"
        for column in frame.columns:
            for value in frame[column]:
                if not isinstance(value, str):
                    continue
                found = [name for name, pattern in RAW.items() if pattern.search(value)
                         and not (name == "an identifier with underscores" and column in IDENTIFIER_COLUMNS)]
                assert not found, f"{page}: {column} = {value!r} is {found}"
    texts = [e.value for kind in ("markdown", "caption", "success", "info") for e in getattr(app, kind)]
    assert not [t for t in texts if re.search(r"(?<![\d,])1 (rows|predictions|days|risks|messages)\b", t)], page


# Columns whose values are names people type and read as such: database tables, features, user names, models.
IDENTIFIER_COLUMNS = {"table", "feature", "model", "account", "owner", "to", "who", "linked_by", "location", "id",
                      "name", "ref", "control_id", "risk_id"}
