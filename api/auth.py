"""Who calls: an API token (`Authorization: Bearer …`), over TLS unless the caller is on this machine, with
failed authentications throttled per client and per account."""

from __future__ import annotations

import ipaddress
import os

from starlette.requests import Request

from api.http import ApiError
from governance.access import throttle as failure_throttle

NO_TOKEN = "no API token: send `Authorization: Bearer <token>` (an admin makes one with `tokens create`)"
PLAIN_HTTP = ("API calls over plain HTTP are accepted only from this machine: serve Quorum behind a TLS reverse "
              "proxy and set QUORUM_BEHIND_TLS=1 (see the README's 'Serving a team')")


def behind_tls() -> bool:
    return os.environ.get("QUORUM_BEHIND_TLS") == "1"


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def require_secure_transport(request: Request) -> None:
    """Tokens and passwords never cross a network in clear text."""
    if request.url.scheme == "https" or _loopback(request.client.host if request.client else None):
        if not behind_tls() or request.headers.get("x-forwarded-proto", "https") == "https":
            return
    elif behind_tls() and request.headers.get("x-forwarded-proto") == "https":
        return
    raise ApiError(403, PLAIN_HTTP)


class Throttle(failure_throttle.Throttle):
    """governance.access.throttle's rule, answered as HTTP 429 with Retry-After."""

    def check(self, *keys: str) -> None:
        try:
            super().check(*keys)
        except failure_throttle.ThrottledError as exc:
            raise ApiError(429, str(exc), headers={"Retry-After": str(exc.wait)}) from None


throttle = Throttle()


def client_key(request: Request) -> str:
    """The caller's address: behind the configured TLS proxy on this machine, the one the proxy forwards."""
    host = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
    if behind_tls() and forwarded and _loopback(host):   # the proxy appends the address it saw: the last one
        host = forwarded
    return f"client {host}"


def caller(request: Request, store):
    """The account the request's token belongs to, or a refusal (401, 403 or 429)."""
    from governance.access.tokens import TokenError, authenticate_token

    require_secure_transport(request)
    client = client_key(request)
    throttle.check(client)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, NO_TOKEN)
    try:
        return authenticate_token(store, token=token.strip())
    except TokenError as exc:
        throttle.failed(client)
        raise ApiError(401, str(exc)) from None
