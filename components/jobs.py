"""Long computations off the page's thread: one daemon thread per key, shared by every session of the process.

A page starts a job and polls it (e.g. from an `st.fragment(run_every=…)`), so the rest of the app, other pages
and other sessions stay usable while it runs. Starting a key that is already running returns the running job;
a job that failed keeps its failure (and a reference id for the log) until the page forgets it, so a broken
computation is not retried on every rerun.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import streamlit as st

from governance.errors import GovernanceError

log = logging.getLogger("quorum.app")

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
        threading.Thread(target=self._run, args=(job, fn), name=name, daemon=True).start()
        return job

    def _run(self, job: Job, fn: Callable[[Progress], Any]) -> None:
        try:
            job.result = fn(job.report)
            job.report(1.0, "Done")
        except BaseException as exc:  # noqa: BLE001 - a thread's failure must reach the page, not vanish
            job.error = exc
            job.reference = uuid.uuid4().hex[:8]
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


@st.cache_resource(show_spinner=False)
def registry() -> Registry:
    """One registry per server process, shared by all sessions."""
    return Registry()


def start(key: Hashable, fn: Callable[[Progress], Any], *, name: str = "quorum-job") -> Job:
    """Run `fn(progress)` in a daemon thread once per key; while it runs, the same call returns the same job."""
    return registry().start(key, fn, name=name)


def get(key: Hashable) -> Job | None:
    return registry().get(key)


def forget(key: Hashable) -> None:
    registry().forget(key)


@st.fragment(run_every=1.0)
def progress_panel(key: Hashable) -> None:
    """A progress bar that polls the job each second; reruns the whole page once the job has finished."""
    job = get(key)
    if job is None or not job.running:
        st.rerun()
    st.progress(job.fraction, text=f"{job.message} … ({job.elapsed:.0f} s)")
