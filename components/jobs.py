"""The page side of governance.jobs: one registry per server process, and a progress bar that polls a job.

A page starts a job and polls it from an `st.fragment(run_every=…)`, so the rest of the app, other pages and
other sessions stay usable while it runs.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

import streamlit as st

from governance.jobs import Job, Progress, Registry

__all__ = ["Job", "Progress", "Registry", "registry", "start", "get", "forget", "progress_panel"]


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
