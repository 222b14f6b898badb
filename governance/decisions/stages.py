"""The path a model version follows through its stages, and which stage it may be reviewed for or moved to next.

STAGES is the path; a *gate* is the stage a version would move to, and only the stage right after the version's
current one may be requested (a review) or entered (governance/decisions/stage_changes.py)."""

from __future__ import annotations

from governance.errors import InvalidInputError
from governance.record.repositories import reviews as review_record
from governance.record.store import GovernanceStore
from governance.vocabulary import SIGNOFF_STAGES as STAGES

UNKNOWN_VERSION = "model {model!r} has no version {version!r}; `python -m governance status` lists them"
BAD_GATE = "gate must be one of {known}, got {value!r}"
NOT_NEXT_STAGE = ("{model} {version} is in {stage!r}: only its next stage ({next}) can be {what}, not {gate!r}")
NO_NEXT_STAGE = "{model} {version} is in {stage!r}: there is no further stage it can be {what}"


def stage_of(store: GovernanceStore, *, model: str, version: str) -> str:
    """The stage the version is at; refuses a version that does not exist."""
    stage = review_record.stage_of(store, model=model, version=version)
    if stage is None:
        raise InvalidInputError(UNKNOWN_VERSION.format(model=model, version=version))
    return stage


def next_stage(stage: str) -> str | None:
    """The gate a version in `stage` may be reviewed for; None at the last stage."""
    if stage not in STAGES or stage == STAGES[-1]:
        return None
    return STAGES[STAGES.index(stage) + 1]


def check_gate(*, model: str, version: str, stage: str, gate: str, what: str) -> None:
    """Refuse any `gate` but the stage right after `stage`; `what` is "requested" (a review) or "entered"."""
    if gate not in STAGES[1:]:
        raise InvalidInputError(BAD_GATE.format(known=", ".join(STAGES[1:]), value=gate))
    following = next_stage(stage)
    if following is None:
        raise InvalidInputError(NO_NEXT_STAGE.format(model=model, version=version, stage=stage,
                                                     what="reviewed for" if what == "requested" else "moved to"))
    if gate != following:
        raise InvalidInputError(NOT_NEXT_STAGE.format(model=model, version=version, stage=stage, next=following,
                                                      gate=gate, what=what))
