"""Long computations off the caller's thread: one daemon thread per key, shared by every caller of the process.

A page or an API request starts a job and polls it, so the rest of the app stays usable while it runs. Starting
a key that is already running returns the running job; a job that failed keeps its failure (and a reference id
for the log) until it is forgotten, so a broken computation is not retried on every poll.

While a job runs, `report(fraction, message)` anywhere below it reaches the job's progress: services that
take a `progress=` argument get it from `current_progress()`, so a command reports the same way whether it
runs at a terminal or as a server job.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from governance.errors import GovernanceError

log = logging.getLogger("quorum.jobs")

Progress = Callable[[float, str], None]


@dataclass
class Job:
    """One computation: its progress while it runs, then its result or its failure."""
    key: Hashable
    fraction: float = 0.0
    message: str = "Starting"
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: Any = None
    error: BaseException | None = None
    reference: str | None = None

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def failed(self) -> bool:
        return self.finished is not None and self.error is not None

    @property
    def succeeded(self) -> bool:
        return self.finished is not None and self.error is None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def report(self, fraction: float, message: str) -> None:
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = message

    def failure(self, what: str) -> str:
        """What a user reads: a domain error's own message, or a reference to the server log."""
        if isinstance(self.error, GovernanceError):
            return str(self.error)
        return (f"{what} failed (reference {self.reference}). The details are in the server log; "
                "please report the reference.")


class Registry:
    """The process's jobs by key, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[Hashable, Job] = {}

    def start(self, key: Hashable, fn: Callable[[Progress], Any], *, name: str = "quorum-job") -> Job:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.succeeded:   # running: share it; failed: keep the failure on show
                return job
            job = Job(key)
            self._jobs[key] = job
        # The thread starts in a copy of the caller's context: who acts (an API request's account) goes with it.
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._run, job, fn), name=name, daemon=True).start()
        return job

    def _run(self, job: Job, fn: Callable[[Progress], Any]) -> None:
        _progress.set(job.report)
        try:
            job.result = fn(job.report)
            job.report(1.0, "Done")
        except BaseException as exc:  # noqa: BLE001 - a thread's failure must reach the page, not vanish
            job.error = exc
            job.reference = uuid.uuid4().hex[:8]
            if not isinstance(exc, GovernanceError):   # a domain error is the user's to read, not the log's
                log.exception("background job %r failed, reference %s", job.key, job.reference)
        finally:
            job.finished = time.monotonic()

    def get(self, key: Hashable) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def forget(self, key: Hashable) -> None:
        """Drop a finished job (its result picked up, or its failure to be retried); a running one stays."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.running:
                del self._jobs[key]




_progress: contextvars.ContextVar[Progress | None] = contextvars.ContextVar("quorum_progress", default=None)


def current_progress() -> Progress | None:
    """The progress callback of the job this code runs in (None outside a job or a progress-showing caller)."""
    return _progress.get()


def showing_progress(progress: Progress | None) -> contextvars.Token:
    """Route `current_progress()` to `progress` in this context (e.g. the terminal's progress lines)."""
    return _progress.set(progress)


def terminal_progress(fraction: float, message: str) -> None:
    """One progress line on a terminal's stderr, rewritten in place; a new line once done."""
    print(f"\r[{fraction:4.0%}] {message[:100]:<100}", end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)
