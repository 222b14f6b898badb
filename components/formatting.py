"""How figures read on screen. A figure that cannot be computed says so instead of showing 0."""

from __future__ import annotations

NOT_COMPUTABLE = "not computable"


def percent(value: float | None, *, digits: int = 1) -> str:
    return NOT_COMPUTABLE if value is None else f"{value:.{digits}%}"


def milliseconds(value: float | None) -> str:
    return NOT_COMPUTABLE if value is None else f"{value:,.0f} ms"


def usd(value: float | None, *, digits: int = 0) -> str:
    if value is None:
        return NOT_COMPUTABLE
    return f"{'-' if value < 0 else ''}${abs(value):,.{digits}f}"


def usd_compact(value: float | None) -> str:
    """Large amounts in tiles: $1.60M, $96.8k."""
    if value is None:
        return NOT_COMPUTABLE
    for threshold, divisor, suffix, digits in ((1e9, 1e9, "B", 2), (1e6, 1e6, "M", 2), (1e4, 1e3, "k", 1)):
        if abs(value) >= threshold:
            return f"{'-' if value < 0 else ''}${abs(value) / divisor:,.{digits}f}{suffix}"
    return usd(value)


def count(value: int | None) -> str:
    return NOT_COMPUTABLE if value is None else f"{value:,}"


MARKDOWN_SPECIALS = "\\`*_[]$~<>#|"   # escaping [ and ] already defeats links and images


def plain(text) -> str:
    """Text from users or data inside markdown: every character markdown or HTML would act on is escaped,
    so a name like ![x](http://…) or <img …> shows literally and loads nothing."""
    return "".join(f"\\{c}" if c in MARKDOWN_SPECIALS else c for c in str(text))
