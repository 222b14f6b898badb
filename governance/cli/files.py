"""Reading a file the user named on the command line: one message for a file that cannot be read, and a size
limit checked before a byte is read, so a huge file is refused without filling memory."""

from __future__ import annotations

from pathlib import Path

from governance.errors import InvalidInputError

UNREADABLE_FILE = "cannot read {path}: {reason}"
TOO_BIG = "{path} is {size:,.0f} MB, over the {limit:,.0f} MB limit: nothing was read"


def read_input(path_text: str, *, limit: int | None = None, too_big: str = TOO_BIG) -> bytes:
    """The file's bytes; `too_big` is formatted with path, size and limit (in MB) when it exceeds `limit` bytes."""
    path = Path(path_text)
    try:
        if limit is not None and path.stat().st_size > limit:
            raise InvalidInputError(too_big.format(path=path, size=path.stat().st_size / 2**20, limit=limit / 2**20))
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(UNREADABLE_FILE.format(path=path, reason=exc.strerror or exc)) from None
