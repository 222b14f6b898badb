"""The server's own clockwork: it absorbs queued telemetry every few seconds and checks the alert rules on the
schedule recorded on the Admin page (hourly by default), so a team needs no cron job beside the server.

One daemon thread per server process. A failed round is logged and retried at the next tick: a bad round must
not stop monitoring for the server's lifetime.
"""

from __future__ import annotations

import logging
import threading
import time

from governance.alerts import SCHEDULER, check_and_send, schedule
from governance.monitoring.ingest import absorb_inbox
from governance.record.repositories import models

log = logging.getLogger("quorum.scheduler")
TICK_SECONDS = 15


class Scheduler:
    def __init__(self, store, *, tick_seconds: float = TICK_SECONDS):
        self.store = store
        self.tick_seconds = tick_seconds
        # Like an hourly cron job, the first check comes one period after the start (the demo checked once when it
        # was built; a restart must not re-send at once).
        self.last_check: float | None = time.monotonic()
        self.last_result: dict | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="quorum-scheduler", daemon=True)

    def start(self) -> "Scheduler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _due(self) -> bool:
        every = schedule(self.store)["every_minutes"] * 60
        return time.monotonic() - self.last_check >= every

    def tick(self) -> None:
        for outcome in absorb_inbox(self.store):
            log.info("inbox: %s %s (%s rows)", outcome.mode, outcome.file_name, outcome.rows_accepted)
        if models.model_count(self.store) and self._due():
            self.last_check = time.monotonic()
            # No person starts it: recorded under the scheduler's own name, never as an account that could be
            # mistaken for someone's act (and that could be disabled or renamed).
            self.last_result = check_and_send(self.store, actor=SCHEDULER)
            log.info("alert rules checked: %s open, %s opened", self.last_result["open"],
                     len(self.last_result["opened"]))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001
                log.exception("scheduled round failed; retrying in %s s", self.tick_seconds)
            self._stop.wait(self.tick_seconds)


_running: Scheduler | None = None


def running() -> Scheduler | None:
    """The server's scheduler in this process (None under `streamlit run app.py` or in tests of the pages)."""
    return _running


def start(store, *, tick_seconds: float = TICK_SECONDS) -> Scheduler:
    global _running
    _running = Scheduler(store, tick_seconds=tick_seconds).start()
    return _running


def stop() -> None:
    global _running
    if _running is not None:
        _running.stop()
        _running = None
