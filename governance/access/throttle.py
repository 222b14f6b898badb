"""The one rule for failed authentications, used by the HTTP API (tokens, signing passwords) and the app's local
sign-in alike: at most 10 failures per 5 minutes per key (a client address, an account); a key over the limit is
refused, before any password is checked, until its oldest failure ages out of the window.

One `Throttle` object is shared by every thread of the process that holds it (a lock guards it), so the
Streamlit server's sessions all count against the same failures."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from governance.errors import GovernanceError

MAX_FAILURES = 10          # failed authentications allowed per window, per client address and per account
WINDOW_SECONDS = 300
THROTTLED = "too many failed authentications from {who}: try again in {seconds} s"


class ThrottledError(GovernanceError):
    """A key is over the limit; `who` names it and `wait` is the whole seconds until it may try again."""

    def __init__(self, *, who: str, wait: int):
        super().__init__(THROTTLED.format(who=who, seconds=wait))
        self.who, self.wait = who, wait


class Throttle:
    """Failures per key in a sliding window. `clock` is monotonic seconds (wall-clock jumps must not unlock)."""

    def __init__(self, *, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self._clock = limit, window, clock
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, *keys: str) -> None:
        """Raise ThrottledError for the first key with `limit` failures inside the window."""
        now = self._clock()
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.limit:
                    raise ThrottledError(who=key, wait=int(failures[0] + self.window - now) + 1)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def clear(self) -> None:
        """Forget every failure (tests that share one process's throttle start from none)."""
        with self._lock:
            self._failures.clear()
