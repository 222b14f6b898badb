"""Alerts: their episodes (a condition that opens once, escalates and closes) and the delivery outbox (each alert
queued once per recipient, with every attempt to send it).

The rules themselves are ledger entries, not rows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore, WriteTransaction


@dataclass(frozen=True)
class Episode:
    """One alert episode, as stored (evidence as its JSON text; times naive UTC)."""
    alert_key: str
    model: str | None
    what: str
    severity: str
    title: str
    link: str
    evidence: str
    opened_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None
    notified_severity: str | None
    opened_by: str | None
    last_seen_by: str | None
    closed_by: str | None


@dataclass(frozen=True)
class OpenEpisode:
    alert_key: str
    severity: str
    notified_severity: str | None


@dataclass(frozen=True)
class Delivery:
    """One alert queued for one recipient (payload: canonical JSON; times naive UTC)."""
    delivery_id: int
    alert_key: str
    channel: str
    recipient: str
    subject: str
    body: str
    payload: str
    created_at: datetime
    status: str
    attempts: int
    attempts_at_requeue: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    attempt: int
    attempted_at: datetime
    result: str
    detail: str


_EPISODE_COLUMNS = ("alert_key", "model", "what", "severity", "title", "link", "evidence", "opened_at",
                    "last_seen_at", "closed_at", "notified_severity", "opened_by", "last_seen_by", "closed_by")
_DELIVERY_COLUMNS = ("delivery_id", "alert_key", "channel", "recipient", "subject", "body", "payload", "created_at",
                     "status", "attempts", "attempts_at_requeue", "next_attempt_at", "delivered_at")
_SELECT_DELIVERY = f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM alert_delivery"
_ATTEMPT_COLUMNS = ("delivery_id", "attempt", "attempted_at", "result", "detail")
# Failed deliveries: all, one delivery's or one alert's (parameters: delivery_id twice, then alert_key twice). A
# parameter tested for NULL is cast, so PostgreSQL knows its type when it is NULL.
_FAILED = ("status = 'failed' AND (CAST(? AS BIGINT) IS NULL OR delivery_id = ?) "
           "AND (CAST(? AS VARCHAR) IS NULL OR alert_key = ?)")


# --- episodes ----------------------------------------------------------------------------------------------------
def episodes(store: GovernanceStore, *, open_only: bool = False) -> list[Episode]:
    """Every episode (or the open ones), newest first."""
    rows = store.query_rows(f"SELECT {', '.join(_EPISODE_COLUMNS)} FROM alert_episode "
                            f"{'WHERE closed_at IS NULL' if open_only else ''} ORDER BY opened_at DESC, alert_key")
    return [Episode(*row) for row in rows]


def open_episodes(store: GovernanceStore) -> list[OpenEpisode]:
    return [OpenEpisode(*row) for row in store.query_rows(
        "SELECT alert_key, severity, notified_severity FROM alert_episode WHERE closed_at IS NULL")]


def episode_keys(store: GovernanceStore) -> set[str]:
    """The keys of every episode ever opened: a key opens once."""
    return {r[0] for r in store.query_rows("SELECT alert_key FROM alert_episode")}


def open_episode(tx: WriteTransaction, *, alert_key: str, model: str | None, what: str, severity: str, title: str,
                 link: str, evidence: str, at: datetime, by: str | None) -> None:
    tx.execute("INSERT INTO alert_episode (alert_key, model, what, severity, title, link, evidence, opened_at, "
               "last_seen_at, opened_by, last_seen_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [alert_key, model, what, severity, title, link, evidence, at, at, by, by])


def see_episode(tx: WriteTransaction, *, alert_key: str, at: datetime, by: str | None, severity: str) -> None:
    """An open episode found still holding, at its severity now."""
    tx.execute("UPDATE alert_episode SET last_seen_at = ?, last_seen_by = ?, severity = ? "
               "WHERE alert_key = ?", [at, by, severity, alert_key])


def close_episode(tx: WriteTransaction, *, alert_key: str, at: datetime, by: str | None) -> None:
    tx.execute("UPDATE alert_episode SET closed_at = ?, closed_by = ? WHERE alert_key = ?", [at, by, alert_key])


def mark_notified(tx: WriteTransaction, *, alert_key: str, severity: str) -> None:
    tx.execute("UPDATE alert_episode SET notified_severity = ? WHERE alert_key = ?", [severity, alert_key])


# --- the delivery outbox -----------------------------------------------------------------------------------------
def delivery_for(store: GovernanceStore, *, alert_key: str, channel: str, recipient: str) -> Delivery | None:
    rows = store.query_rows(f"{_SELECT_DELIVERY} WHERE alert_key = ? AND channel = ? AND recipient = ?",
                            [alert_key, channel, recipient])
    return Delivery(*rows[0]) if rows else None


def next_delivery_id(store: GovernanceStore) -> int:
    return store.query_value("SELECT coalesce(max(delivery_id), 0) + 1 FROM alert_delivery")


def add_delivery(tx: WriteTransaction, *, delivery: Delivery) -> None:
    tx.execute(f"INSERT INTO alert_delivery ({', '.join(_DELIVERY_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(_DELIVERY_COLUMNS))})",
               [getattr(delivery, name) for name in _DELIVERY_COLUMNS])


def due_deliveries(store: GovernanceStore, *, at: datetime) -> list[Delivery]:
    """The pending deliveries due at `at`, soonest first."""
    return [Delivery(*row) for row in store.query_rows(
        f"{_SELECT_DELIVERY} WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, delivery_id",
        [at])]


def claim_delivery(tx: WriteTransaction, *, delivery_id: int, until: datetime) -> None:
    """Hold a delivery for its sender until `until`: no other round picks it up meanwhile."""
    tx.execute("UPDATE alert_delivery SET next_attempt_at = ? WHERE delivery_id = ?", [until, delivery_id])


def attempt_counts(store: GovernanceStore, *, delivery_id: int) -> tuple[int, int]:
    """(attempts, attempts_at_requeue) of a delivery."""
    attempts, at_requeue = store.query_rows(
        "SELECT attempts, attempts_at_requeue FROM alert_delivery WHERE delivery_id = ?", [delivery_id])[0]
    return attempts, at_requeue


def add_attempt(tx: WriteTransaction, *, attempt: Attempt) -> None:
    tx.execute(f"INSERT INTO alert_attempt ({', '.join(_ATTEMPT_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
               [getattr(attempt, name) for name in _ATTEMPT_COLUMNS])


def set_delivery_state(tx: WriteTransaction, *, delivery_id: int, attempts: int, status: str,
                       next_attempt_at: datetime | None, delivered_at: datetime | None) -> None:
    tx.execute("UPDATE alert_delivery SET attempts = ?, status = ?, next_attempt_at = ?, delivered_at = ? "
               "WHERE delivery_id = ?", [attempts, status, next_attempt_at, delivered_at, delivery_id])


def failed_delivery_ids(store: GovernanceStore, *, delivery_id: int | None, alert_key: str | None) -> list[int]:
    return [r[0] for r in store.query_rows(f"SELECT delivery_id FROM alert_delivery WHERE {_FAILED} "
                                           "ORDER BY delivery_id", [delivery_id, delivery_id, alert_key, alert_key])]


def requeue_failed(tx: WriteTransaction, *, delivery_id: int | None, alert_key: str | None, at: datetime) -> None:
    """Failed deliveries pending again at `at`, with a fresh round of attempts."""
    tx.execute(f"UPDATE alert_delivery SET status = 'pending', next_attempt_at = ?, "
               f"attempts_at_requeue = attempts WHERE {_FAILED}", [at, delivery_id, delivery_id, alert_key, alert_key])


def deliveries(store: GovernanceStore, *, alert_key: str | None = None) -> list[Delivery]:
    """Every delivery (of one alert, or all), oldest first."""
    return [Delivery(*row) for row in store.query_rows(
        f"{_SELECT_DELIVERY} WHERE (CAST(? AS VARCHAR) IS NULL OR alert_key = ?) ORDER BY delivery_id",
        [alert_key, alert_key])]


def attempts(store: GovernanceStore, *, alert_key: str | None = None) -> list[Attempt]:
    """Every attempt (at one alert's deliveries, or all), by delivery and in order."""
    return [Attempt(*row) for row in store.query_rows(
        f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM alert_attempt a WHERE (CAST(? AS VARCHAR) IS NULL OR EXISTS ("
        "SELECT 1 FROM alert_delivery d WHERE d.delivery_id = a.delivery_id AND d.alert_key = ?)) "
        "ORDER BY delivery_id, attempt", [alert_key, alert_key])]
