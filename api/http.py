"""JSON answers and how domain errors map to HTTP: 400 invalid, 401 who are you, 403 not allowed, 404, 413, 429.

Anything unexpected is logged with a reference, and the caller sees only that reference.
"""

from __future__ import annotations

import logging
import uuid

from starlette.responses import JSONResponse

from governance import errors

log = logging.getLogger("quorum.api")


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers


def status_for(exc: errors.GovernanceError) -> int:
    from governance.access.caller import CallerMismatchError
    from governance.access.identity import PermissionDeniedError, SignInError
    from governance.access.tokens import TokenError

    if isinstance(exc, (TokenError, SignInError)):
        return 401
    if isinstance(exc, (PermissionDeniedError, CallerMismatchError)):
        return 403
    if isinstance(exc, errors.WorkspaceError):
        return 503
    return 400


def refusal(status: int, message: str, *, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def internal(exc: BaseException, what: str) -> dict:
    """What a caller may see of an unexpected failure: a reference to the server log."""
    reference = uuid.uuid4().hex[:8]
    log.error("%s failed, reference %s", what, reference, exc_info=exc)
    return {"error": f"internal error on the server (reference {reference}); the server's log has the details",
            "reference": reference}
