"""Free text that people type (titles, reasons, names): one check and one wording wherever it is stored."""

from __future__ import annotations

import re

from governance.errors import InvalidInputError

EMPTY = "{field} is empty: give a {field}"
TOO_LONG = "{field} is {length:,} characters; the limit is {limit:,}: shorten it"
CONTROL_CHARACTERS = "{field} contains control characters: remove them"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")   # tabs and line breaks are fine


def checked_text(value, field: str, *, limit: int, required: bool = True) -> str:
    """The text with outer spaces trimmed, or a clear error: empty when required, too long, control characters."""
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise InvalidInputError(EMPTY.format(field=field))
    if len(text) > limit:
        raise InvalidInputError(TOO_LONG.format(field=field, length=len(text), limit=limit))
    if _CONTROL.search(text):
        raise InvalidInputError(CONTROL_CHARACTERS.format(field=field))
    return text
