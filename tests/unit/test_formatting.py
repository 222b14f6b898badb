"""Figures that cannot be computed read 'not computable', never 0."""

from components.formatting import NOT_COMPUTABLE, count, milliseconds, percent, usd, usd_compact


def test_missing_figures_are_not_shown_as_zero():
    for formatter in (percent, milliseconds, usd, usd_compact, count):
        assert formatter(None) == NOT_COMPUTABLE


def test_amounts_and_rates_read_naturally():
    assert percent(0.8472) == "84.7%"
    assert percent(0.0) == "0.0%"
    assert milliseconds(141.67) == "142 ms"
    assert usd_compact(1_599_878.31) == "$1.60M"
    assert usd_compact(96_828.4) == "$96.8k"
    assert usd_compact(-12_648) == "-$12.6k"
    assert usd_compact(950.2) == "$950"
