"""The weekly drift history of one model version: the evidence a review freezes, and what its validity, the
release gate's retraining trigger, the alerts and a robustness run read.

It lives with the evidence, below the decisions, so that evidence (robustness) and decisions (reviews, the release
gate) read the same periods without the evidence importing the decisions."""

from __future__ import annotations

import threading
from datetime import date

import pandas as pd

from governance.monitoring import telemetry_sources
from governance.monitoring.drift import drift_report
from governance.monitoring.kpis import Window, data_window
from governance.record.store import GovernanceStore

_DRIFT_MEMO: dict[tuple, pd.DataFrame] = {}
_DRIFT_MEMO_SIZE = 64
_DRIFT_MEMO_LOCK = threading.Lock()


def drift_periods(store: GovernanceStore, *, model: str, version: str, until: date | None = None) -> pd.DataFrame:
    """Weekly drift periods of the version's telemetry (up to and including `until`), or an empty frame.

    Kept while the data is the same (the workspace's data version and the telemetry sources' freshness): every
    review's validity, the gate, the alerts and the retraining policy ask for the same few versions."""
    key = (str(store.path), store.data_version(), telemetry_sources.freshness(store), model, version, until)
    with _DRIFT_MEMO_LOCK:
        found = _DRIFT_MEMO.get(key)
    if found is None:
        found = _drift_periods(store, model=model, version=version, until=until)
        with _DRIFT_MEMO_LOCK:
            while len(_DRIFT_MEMO) >= _DRIFT_MEMO_SIZE:
                _DRIFT_MEMO.pop(next(iter(_DRIFT_MEMO)))
            _DRIFT_MEMO[key] = found
    return found.copy()


def _drift_periods(store: GovernanceStore, *, model: str, version: str, until: date | None) -> pd.DataFrame:
    span = data_window(store, model=model)
    if span is None:
        return pd.DataFrame(columns=["period", "feature", "status", "psi"])
    end = span.end if until is None else min(span.end, pd.Timestamp(until) + pd.Timedelta(days=1))
    if end <= span.start:
        return pd.DataFrame(columns=["period", "feature", "status", "psi"])
    report = drift_report(store, model=model, version=version, grain="week", current=Window(span.start, end))
    return report.periods
