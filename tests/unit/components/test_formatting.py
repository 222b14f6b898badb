"""Values read the same way on every page: figures that cannot be computed say so, absent values are blank, KPIs
have one name each, moments are UTC to the minute, and tiles get compact figures."""

import re
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd
import pytest

from components.formatting import (ABSENT, NOT_COMPUTABLE, cell, compact, count, count_compact, day, heading,
                                   is_absent, kpi_change, kpi_interval, kpi_label, kpi_value, milliseconds, number,
                                   per_minute, percent, period, plural, timestamp, usd, usd_compact)
from governance.monitoring.service_levels import KPIS
from governance.vocabulary import KPI_LABELS


def test_missing_figures_are_not_shown_as_zero():
    for formatter in (percent, milliseconds, usd, usd_compact, count, count_compact, per_minute, compact):
        assert formatter(None) == NOT_COMPUTABLE
        assert formatter(float("nan")) == NOT_COMPUTABLE
    assert kpi_value("accuracy", None) == kpi_change("latency_p95_ms", np.nan) == NOT_COMPUTABLE
    assert kpi_interval("error_rate", None, 0.1) == NOT_COMPUTABLE


def test_amounts_and_rates_read_naturally():
    assert percent(0.8472) == "84.7%"
    assert percent(0.0) == "0.0%"
    assert milliseconds(141.67) == "142 ms"
    assert (milliseconds(3.04), milliseconds(0.6), milliseconds(99.94)) == ("3.04 ms", "0.6 ms", "99.9 ms")
    assert usd_compact(1_599_878.31) == "$1.60M"
    assert usd_compact(96_828.4) == "$96.8k"
    assert usd_compact(-12_648) == "-$12.6k"
    assert usd_compact(950.2) == "$950"


def test_tile_figures_are_compact_with_three_significant_digits():
    assert usd_compact(14_890_000) == "$14.9M"          # was "$14.89M", cut off in a tile
    assert usd_compact(426_100) == "$426k"              # was "$426.1k"
    assert usd_compact(14_300) == "$14.3k"
    assert usd_compact(2_500_000_000) == "$2.50B"
    assert usd_compact(999_960) == "$1.00M"             # rounds up into the next unit, never "$1000k"
    assert per_minute(4.5) == "4.5/min"
    assert per_minute(12_345.0) == "12.3k/min"
    assert count_compact(54_201) == "54,201"
    assert count_compact(1_234_567) == "1.23M"
    assert compact(-0.5, digits=1) == "-0.5"
    for value in (4.5, 950, 14_890_000, 426_100, 1_234_567, 999_960):   # at most 7 characters in a tile
        assert len(usd_compact(value)) <= 7 and len(per_minute(value)) <= 9


def test_every_kpi_has_one_label_used_by_the_service_levels_too():
    assert kpi_label("latency_p95_ms") == "p95 latency"
    assert kpi_label("cost_per_1k_usd") == "cost per 1k predictions"
    assert kpi_label("value_per_prediction_usd") == "value per prediction"
    assert kpi_label("some_new_kpi") == "some new kpi"                    # never an identifier with underscores
    assert all(definition.label == KPI_LABELS[kpi] for kpi, definition in KPIS.items())
    assert all("_" not in label for label in KPI_LABELS.values())
    assert heading("error rate") == "Error rate"
    assert heading("p95 latency") == "p95 latency" and heading("CPU") == "CPU"


def test_kpi_figures_carry_their_unit_and_changes_their_sign():
    assert kpi_value("accuracy", 0.8437) == "84.4%"
    assert kpi_value("error_rate", 0.003974) == "0.40%"
    assert kpi_value("latency_p95_ms", 362.0) == "362 ms"
    assert kpi_value("cost_per_1k_usd", 0.344705) == "$0.345"
    assert kpi_value("value_per_prediction_usd", 28.843207) == "$28.84"
    assert kpi_value("expected_value_usd", 14_890_000) == "$14.9M"
    assert kpi_value("throughput_per_min", 4.5) == "4.5/min"
    assert kpi_change("error_rate", 0.0002959) == "+0.03 pp"             # not 0.0002959
    assert kpi_change("accuracy", -0.022) == "-2.20 pp"
    assert kpi_change("latency_p95_ms", 276.0) == "+276 ms"
    assert kpi_change("cost_per_1k_usd", 0.347635) == "+$0.348"
    assert kpi_change("value_per_prediction_usd", -0.24) == "-$0.240"
    assert kpi_interval("error_rate", -0.0002266, 0.0008191) == "-0.02 to +0.08 pp"
    assert kpi_interval("latency_p95_ms", 274.0, 279.0) == "+274 to +279 ms"
    assert kpi_interval("latency_p50_ms", 0.55, 0.65) == "+0.55 to +0.65 ms"   # a fast service's shift


def test_moments_are_utc_to_the_minute_and_days_are_dates():
    expected = "2026-09-14 10:03 UTC"
    for value in ("2026-09-14T10:03:27.123456", "2026-09-14T10:03:27.123456Z", "2026-09-14 10:03:27",
                  datetime(2026, 9, 14, 10, 3, 27, 123456), pd.Timestamp("2026-09-14 10:03:27.5"),
                  datetime(2026, 9, 14, 12, 3, tzinfo=timezone(pd.Timedelta(hours=2)))):
        assert timestamp(value) == expected, value
    assert day("2026-09-14T00:00:00") == "2026-09-14"
    assert day(pd.Timestamp("2026-09-14")) == day(date(2026, 9, 14)) == "2026-09-14"
    assert period("2026-09-14T00:00:00", grain="day") == "2026-09-14"
    assert period("2026-09-14T10:00:00", grain="hour") == "2026-09-14 10:00 UTC"


def test_absent_values_are_blank_never_none_or_a_dash():
    for value in (None, float("nan"), pd.NaT, pd.NA, np.nan, "", "  "):
        assert is_absent(value)
        assert cell(value) == timestamp(value) == day(value) == number(value) == ABSENT == ""
    assert not is_absent(0) and not is_absent(False)
    assert cell(12.0) == "12" and cell("R-001") == "R-001"
    assert number(0.49839722708034856) == "0.498" and number(30_420) == "30,420" and number(True) == "yes"


def test_counts_of_things_agree_with_their_number():
    assert plural(1, "row") == "1 row"
    assert plural(0, "row") == "0 rows"
    assert plural(1_234, "row") == "1,234 rows"
    assert plural(2, "query", "queries") == "2 queries"


@pytest.mark.parametrize("value", [0.0, 1e-9, -3.2, 7_777_777.7])
def test_no_formatter_shows_a_raw_float(value):
    for kpi in ("accuracy", "error_rate", "latency_p95_ms", "cost_per_1k_usd", "throughput_per_min"):
        for text in (kpi_value(kpi, value), kpi_change(kpi, value)):
            assert "e-" not in text and not re.search(r"\.\d{4,}", text), text
