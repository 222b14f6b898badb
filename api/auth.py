"""Who calls: an API token (`Authorization: Bearer …`), over TLS unless the caller is on this machine, with
failed authentications throttled per client and per account."""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections import defaultdict, deque

from starlette.requests import Request

from api.http import ApiError

MAX_FAILURES = 10          # failed authentications allowed per window, per client address and per account
WINDOW_SECONDS = 300
NO_TOKEN = "no API token: send `Authorization: Bearer <token>` (an admin makes one with `tokens create`)"
PLAIN_HTTP = ("API calls over plain HTTP are accepted only from this machine: serve Quorum behind a TLS reverse "
              "proxy and set QUORUM_BEHIND_TLS=1 (see the README's 'Serving a team')")
THROTTLED = "too many failed authentications from {who}: try again in {seconds} s"


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


class Throttle:
    """Failures per key in a sliding window; a key over the limit is refused until its oldest failure ages out."""

    def __init__(self, *, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.limit:
                    wait = int(failures[0] + self.window - now) + 1
                    raise ApiError(429, THROTTLED.format(who=key, seconds=wait),
                                   headers={"Retry-After": str(wait)})

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)


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
    from governance.tokens import TokenError, authenticate_token

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
