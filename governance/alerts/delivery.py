"""Alert delivery: an outbox of alerts to send by e-mail (SMTP) or to a JSON webhook (Slack, Microsoft Teams).

`enqueue` queues an alert once per (alert_key, channel, recipient); `deliver_pending` sends what is due, records
every attempt (alert_attempt, only ever inserted), marks a success delivered and schedules a failure again with
exponential backoff; after `max_attempts` failures in a row the delivery is marked failed and kept, and
`retry_failed` queues it again. Rows are never deleted.

Delivery is at-least-once: a delivery is claimed (its next attempt moved `claim_seconds` ahead) before it is
sent and its outcome is recorded, with its attempt, in one transaction after the send. A crash between the two
leaves it pending, so it is sent again once the claim runs out: never lost, at worst sent twice.

Settings come from Streamlit secrets `[alerts]` and/or environment variables (SETTING_ENV below). The SMTP
password is kept in memory only: it is never written to the store, to an attempt's detail or to the log.

A webhook goes only to public addresses (a server-side request must not reach the server's own network: cloud
metadata, admin ports, the database): loopback, private, link-local, shared (CGNAT), multicast, reserved and
unspecified addresses, and IPv6 addresses that embed one, are refused unless an admin lists the host or its
network in $QUORUM_WEBHOOK_ALLOW. The URL is checked when a rule is saved and again before every send: the host
name is resolved once, every address it resolves to is checked, and the request goes to a checked address (with
the name in the Host header and, over HTTPS, in SNI and the certificate check), so a name that changes its answer
between the check and the connection cannot redirect it. Redirects are not followed, and only the status code of
the answer is kept: the receiver's body is never stored or shown.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import re
import smtplib
import socket
import ssl
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from governance.errors import InvalidInputError
from governance.record import clock
from governance.record.canonical import canonical_json
from governance.record.repositories import alerts as alert_records
from governance.record.store import GovernanceStore, WriteTransaction
from governance.validation import checked_text

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://localhost:8501"
# Where this process's server serves the pages: `governance serve` sets it for itself when it starts, so that with
# no base_url setting an alert's link follows the server's address and port (a setting still wins).
SERVED_AT_ENV = "QUORUM_SERVED_AT"
CHANNELS = ("email", "webhook")
# Settings key (as in secrets.toml [alerts]) -> environment variable.
SETTING_ENV = {
    "smtp_host": "QUORUM_SMTP_HOST",
    "smtp_port": "QUORUM_SMTP_PORT",
    "smtp_starttls": "QUORUM_SMTP_STARTTLS",
    "smtp_user": "QUORUM_SMTP_USER",
    "smtp_password": "QUORUM_SMTP_PASSWORD",
    "mail_from": "QUORUM_MAIL_FROM",
    "base_url": "QUORUM_BASE_URL",
    "backoff_seconds": "QUORUM_ALERT_BACKOFF_SECONDS",
    "backoff_max_seconds": "QUORUM_ALERT_BACKOFF_MAX_SECONDS",
    "max_attempts": "QUORUM_ALERT_MAX_ATTEMPTS",
    "timeout_seconds": "QUORUM_ALERT_TIMEOUT_SECONDS",
    "claim_seconds": "QUORUM_ALERT_CLAIM_SECONDS",
}

# Where a check run outside the pages (the CLI, the server's schedule) reads its delivery settings from.
SECRETS_FILE = Path(".streamlit/secrets.toml")

BAD_SETTING = "alert setting {key} must be {kind}, got {value!r}: fix it in secrets.toml [alerts] or ${env}"
BAD_CHANNEL = "channel must be one of {channels}, got {channel!r}"
BAD_ADDRESS = "{recipient!r} is not an e-mail address: give one like name@example.org"
BAD_URL = "the webhook URL must start with http:// or https://, got {recipient!r}"
LINE_BREAK = "{field} must be one line: remove the line breaks"
NOT_JSON = "the evidence cannot be stored as JSON ({reason}): use strings, numbers, booleans, lists and dicts"
NO_SMTP = "SMTP is not configured: set smtp_host and mail_from in secrets.toml [alerts] or $QUORUM_SMTP_HOST"
WEBHOOK_ALLOW_ENV = "QUORUM_WEBHOOK_ALLOW"
WEBHOOK_NOT_PUBLIC = ("the webhook host {host} {why}, and webhooks go only to public addresses: to send to it, an "
                      "admin adds the host or its network to ${env} where Quorum runs (a comma list, such as "
                      "hooks.internal,10.20.0.0/16)")
BAD_WEBHOOK_URL = "{recipient!r} is not a webhook URL: give one like https://hooks.example.org/quorum"
BAD_ALLOW = "${env} must be a comma list of host names and networks (such as hooks.internal,10.20.0.0/16), got {item!r}"


# --- settings ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliverySettings:
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)   # never in repr, the store or the log
    mail_from: str | None = None
    base_url: str = DEFAULT_BASE_URL
    backoff_seconds: float = 30.0         # wait after the first failure; doubles after each further one …
    backoff_max_seconds: float = 3600.0   # … up to this
    max_attempts: int = 10                # failures in a row before a delivery is marked failed
    timeout_seconds: float = 10.0         # per SMTP connection / webhook request
    claim_seconds: float = 300.0          # how long a delivery being sent is held back from another sender

    @classmethod
    def from_secrets(cls, mapping: Mapping | None) -> "DeliverySettings":
        """From Streamlit secrets: the `[alerts]` section, or the whole secrets mapping that contains it."""
        return cls()._with(_alerts_section(mapping), source="secrets")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "DeliverySettings":
        return cls()._with(_env_values(os.environ if environ is None else environ), source="env")

    @classmethod
    def load(cls, secrets: Mapping | None = None, environ: Mapping[str, str] | None = None) -> "DeliverySettings":
        """Secrets first, then any QUORUM_* environment variable that is set overrides its key. A base_url set in
        neither is where the server in this process serves the pages ($QUORUM_SERVED_AT), else DEFAULT_BASE_URL."""
        environ = os.environ if environ is None else environ
        served_at = str(environ.get(SERVED_AT_ENV) or "").strip()
        start = cls(base_url=served_at or DEFAULT_BASE_URL)
        return start._with(_alerts_section(secrets), source="secrets")._with(_env_values(environ), source="env")

    def _with(self, values: dict, *, source: str) -> "DeliverySettings":
        known = {f.name: f for f in fields(self)}
        changes = {}
        for key, raw in values.items():
            if key not in known:  # [alerts] may also hold the rules layer's keys (recipients, …)
                continue
            if key == "base_url" and not str(raw).strip():   # left empty: the default (the server's own address)
                continue
            changes[key] = _convert(key, raw)
        return replace(self, **changes)

    def backoff(self, failures: int) -> timedelta:
        """The wait after the `failures`-th failure in a row (1, 2, …)."""
        seconds = min(self.backoff_seconds * 2 ** max(failures - 1, 0), self.backoff_max_seconds)
        return timedelta(seconds=seconds)


def settings_from_files() -> DeliverySettings:
    """The [alerts] section of .streamlit/secrets.toml (if present), overridden by QUORUM_* variables."""
    secrets = tomllib.loads(SECRETS_FILE.read_text()) if SECRETS_FILE.exists() else None
    return DeliverySettings.load(secrets)


def _alerts_section(mapping: Mapping | None) -> dict:
    """The `[alerts]` section of Streamlit secrets, or the whole mapping when it is that section already."""
    mapping = mapping or {}
    if "alerts" in mapping and isinstance(mapping["alerts"], Mapping):
        mapping = mapping["alerts"]
    return dict(mapping)


def _env_values(environ: Mapping[str, str]) -> dict:
    return {key: environ[name] for key, name in SETTING_ENV.items() if environ.get(name) not in (None, "")}


def _convert(key: str, raw):
    def bad(kind: str):
        shown = "***" if key == "smtp_password" else raw
        return InvalidInputError(BAD_SETTING.format(key=key, kind=kind, value=shown, env=SETTING_ENV[key]))

    if key == "smtp_starttls":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise bad("true or false")
    if key in ("smtp_port", "max_attempts"):
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise bad("a whole number") from None
        if value < 1 or isinstance(raw, bool):
            raise bad("a whole number of at least 1")
        return value
    if key in ("backoff_seconds", "backoff_max_seconds", "timeout_seconds", "claim_seconds"):
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise bad("a number of seconds") from None
        if value < 0 or isinstance(raw, bool):
            raise bad("a number of seconds, 0 or more")
        return value
    return str(raw).strip() or None


# --- the outbox --------------------------------------------------------------------------------------------------


def _utc(now: datetime | None) -> datetime:
    """Naive UTC, as stored."""
    if now is None:
        return clock.now_naive()
    return now.astimezone(timezone.utc).replace(tzinfo=None) if now.tzinfo else now


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def _delivery(delivery: alert_records.Delivery) -> dict:
    row = asdict(delivery)
    for key in ("created_at", "next_attempt_at", "delivered_at"):
        row[key] = _iso(row[key])
    row["payload"] = json.loads(row["payload"])
    return row


def build_link(link: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """An absolute URL for a Quorum page: `link` as given if it is absolute, else joined to `base_url`."""
    if link.startswith(("http://", "https://")):
        return link
    return base_url.rstrip("/") + "/" + link.lstrip("/")


def enqueue(store: GovernanceStore, *, alert_key: str, channel: str, recipient: str, subject: str, body: str,
            link: str, evidence: dict, base_url: str = DEFAULT_BASE_URL, now: datetime | None = None) -> dict:
    """Queue an alert for one recipient and return its delivery (with `created`: whether this call queued it).

    Idempotent on (alert_key, channel, recipient): queuing the same again returns the existing delivery unchanged.
    `link` is the Quorum page (a path such as "/kpis?model=churn", joined to `base_url`, or an absolute URL).
    Inside a caller's open `store.write()` the delivery commits or rolls back with the caller's rows.
    """
    alert_key = checked_text(alert_key, "alert key", limit=500)
    if channel not in CHANNELS:
        raise InvalidInputError(BAD_CHANNEL.format(channels=", ".join(CHANNELS), channel=channel))
    recipient = _one_line(checked_text(recipient, "recipient", limit=2000), "recipient")
    if channel == "email" and (recipient.count("@") != 1 or " " in recipient or recipient.startswith("@")
                               or recipient.endswith("@")):
        raise InvalidInputError(BAD_ADDRESS.format(recipient=recipient))
    if channel == "webhook" and not recipient.lower().startswith(("http://", "https://")):
        raise InvalidInputError(BAD_URL.format(recipient=recipient))
    subject = _one_line(checked_text(subject, "subject", limit=500), "subject")
    body = checked_text(body, "body", limit=20_000, required=False)
    link = build_link(_one_line(checked_text(link, "link", limit=2000), "link"), base_url=base_url)
    if not isinstance(evidence, dict):
        raise InvalidInputError(NOT_JSON.format(reason=f"got {type(evidence).__name__}, not a dict"))
    try:
        payload = canonical_json({"link": link, "evidence": evidence})
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(NOT_JSON.format(reason=exc)) from None
    at = _utc(now)
    with store.write() as tx:
        return _enqueue(store, tx, alert_key=alert_key, channel=channel, recipient=recipient, subject=subject,
                        body=body, payload=payload, at=at)


def _enqueue(store: GovernanceStore, tx: WriteTransaction, *, alert_key: str, channel: str, recipient: str,
             subject: str, body: str, payload: str, at: datetime) -> dict:
    """Inside the write: the existing delivery, or a new one (reads on this thread's cursor see the write's rows)."""
    existing = alert_records.delivery_for(store, alert_key=alert_key, channel=channel, recipient=recipient)
    if existing is not None:
        return {**_delivery(existing), "created": False}
    delivery = alert_records.Delivery(alert_records.next_delivery_id(store), alert_key, channel, recipient, subject,
                                      body, payload, at, "pending", 0, 0, at, None)
    alert_records.add_delivery(tx, delivery=delivery)
    return {**_delivery(delivery), "created": True}


def _one_line(text: str, field_name: str) -> str:
    if "\n" in text or "\r" in text:
        raise InvalidInputError(LINE_BREAK.format(field=field_name))
    return text


# --- messages and senders ----------------------------------------------------------------------------------------
def evidence_lines(evidence: dict, prefix: str = "") -> list[str]:
    """The evidence as readable `name: value` lines (nested dicts as dotted names)."""
    lines = []
    for key, value in evidence.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            lines.extend(evidence_lines(value, prefix=f"{name}."))
        else:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"{name}: {shown}")
    return lines


def email_message(delivery: dict, *, settings: DeliverySettings) -> EmailMessage:
    link, evidence = delivery["payload"]["link"], delivery["payload"]["evidence"]
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = delivery["recipient"]
    message["Subject"] = delivery["subject"]
    message["Message-ID"] = make_msgid(domain="quorum.local")
    parts = [delivery["body"], "", f"Open in Quorum: {link}"]
    if evidence:
        parts += ["", "Evidence:"] + [f"  {line}" for line in evidence_lines(evidence)]
    parts += ["", f"Alert: {delivery['alert_key']}"]
    message.set_content("\n".join(parts) + "\n")
    return message


def webhook_payload(delivery: dict) -> dict:
    """`text` is what Slack and Teams incoming webhooks show; the other fields are for receivers that read JSON."""
    link, evidence = delivery["payload"]["link"], delivery["payload"]["evidence"]
    text = "\n".join(part for part in (delivery["subject"], delivery["body"], link) if part)
    return {"text": text, "alert_key": delivery["alert_key"], "subject": delivery["subject"],
            "body": delivery["body"], "link": link, "evidence": evidence}


def smtp_send(delivery: dict, *, settings: DeliverySettings) -> str:
    """Send one plain-text e-mail; return the server's answer, or raise."""
    if not settings.smtp_host or not settings.mail_from:
        raise RuntimeError(NO_SMTP)
    message = email_message(delivery, settings=settings)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds) as smtp:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        refused = smtp.send_message(message, from_addr=settings.mail_from, to_addrs=[delivery["recipient"]])
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    return f"accepted by {settings.smtp_host}:{settings.smtp_port}"


# --- webhook targets ---------------------------------------------------------------------------------------------
# Not public although Python's is_global says so (3.11): the IETF protocol assignments' block.
_ALSO_NOT_PUBLIC = (ipaddress.ip_network("192.0.0.0/24"),)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")   # the well-known NAT64 prefix: the IPv4 address is its last 32 bits
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9])?\.?")


class WebhookRefusedError(InvalidInputError):
    """The webhook's host is, or resolves to, an address that is not public, and no admin setting allows it."""


@dataclass(frozen=True)
class WebhookTarget:
    scheme: str
    host: str          # the name (or literal address) as in the URL: the Host header, SNI and the certificate
    port: int
    path: str          # with its query
    addresses: tuple[str, ...]   # every address the host resolved to, all checked


def webhook_allowed(environ: Mapping[str, str] | None = None) -> tuple[frozenset[str], tuple]:
    """The admin's exceptions ($QUORUM_WEBHOOK_ALLOW): host names, and networks (a bare address is a /32 or /128)."""
    raw = (os.environ if environ is None else environ).get(WEBHOOK_ALLOW_ENV) or ""
    hosts, networks = set(), []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            if not _HOST_NAME.fullmatch(item):
                raise InvalidInputError(BAD_ALLOW.format(env=WEBHOOK_ALLOW_ENV, item=item)) from None
            hosts.add(item.lower().rstrip("."))
    return frozenset(hosts), tuple(networks)


def is_public(address: str) -> bool:
    """Whether an address is reachable on the public internet: not loopback, private, link-local, shared (CGNAT,
    100.64/10), multicast, reserved, documentation or unspecified, nor an IPv6 address that embeds such an IPv4
    address (IPv4-mapped, 6to4, NAT64)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return is_public(str(ip.ipv4_mapped))
        if ip in _NAT64:
            return is_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        if ip.sixtofour is not None:
            return is_public(str(ip.sixtofour))
        if ip.teredo is not None:
            return False
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in _ALSO_NOT_PUBLIC)


def _url_parts(recipient: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(recipient)
        port = parts.port
    except ValueError:
        raise InvalidInputError(BAD_WEBHOOK_URL.format(recipient=recipient)) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(BAD_WEBHOOK_URL.format(recipient=recipient))
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname.rstrip(".").lower(), port or (443 if scheme == "https" else 80), path


def _refused(host: str, addresses: list[str], environ: Mapping[str, str] | None) -> str | None:
    """Why the addresses may not be sent to (None: they may)."""
    hosts, networks = webhook_allowed(environ)
    if host in hosts:
        return None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not is_public(address) and not any(ip.version == net.version and ip in net for net in networks):
            return "is a non-public address" if address == host else "resolves to a non-public address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    """Every address the name has now (once: the send uses these, not a second lookup)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_webhook_url(recipient: str, *, environ: Mapping[str, str] | None = None) -> str:
    """When a rule is saved: refuse a webhook whose host is, or now resolves to, a non-public address (unless an
    admin allows it). A name that cannot be resolved now is accepted: it is checked again before every send."""
    scheme, host, port, _ = _url_parts(recipient)
    try:
        addresses = _resolve(host, port)
    except (socket.gaierror, UnicodeError):
        return recipient
    why = _refused(host, addresses, environ)
    if why:
        raise WebhookRefusedError(WEBHOOK_NOT_PUBLIC.format(host=host, why=why, env=WEBHOOK_ALLOW_ENV))
    return recipient


def webhook_target(recipient: str, *, environ: Mapping[str, str] | None = None) -> WebhookTarget:
    """Before a send: the URL's parts and its host's addresses, every one of them checked."""
    scheme, host, port, path = _url_parts(recipient)
    addresses = _resolve(host, port)
    why = _refused(host, addresses, environ)
    if why:
        raise WebhookRefusedError(WEBHOOK_NOT_PUBLIC.format(host=host, why=why, env=WEBHOOK_ALLOW_ENV))
    return WebhookTarget(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the URL's host name in SNI and in the certificate check."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float):
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_hostname = server_hostname

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_hostname)


def webhook_send(delivery: dict, *, settings: DeliverySettings) -> str:
    """POST the JSON payload to a checked address of the webhook's host; any answer but 2xx (a redirect included:
    none is followed) is a failure. Only the status code is kept, never the answer's body."""
    target = webhook_target(delivery["recipient"])
    body = json.dumps(webhook_payload(delivery)).encode("utf-8")
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    headers = {"Host": host_header if target.port == default_port else f"{host_header}:{target.port}",
               "Content-Type": "application/json", "Content-Length": str(len(body)), "User-Agent": "Quorum alerts"}
    failure: OSError | None = None
    for address in target.addresses:   # each was checked; the next is tried only if one cannot be reached
        if target.scheme == "https":
            connection = _CheckedHTTPSConnection(address, target.port, server_hostname=target.host,
                                                 timeout=settings.timeout_seconds)
        else:
            connection = http.client.HTTPConnection(address, target.port, timeout=settings.timeout_seconds)
        try:
            connection.connect()
        except ssl.SSLError:
            connection.close()
            raise
        except OSError as exc:
            connection.close()
            failure = exc
            continue
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            status = connection.getresponse().status
        finally:
            connection.close()
        if not 200 <= status < 300:
            raise RuntimeError(f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else ""))
        return f"HTTP {status}"
    raise failure or OSError(f"{target.host} has no address")


Sender = Callable[..., str]


# --- delivering --------------------------------------------------------------------------------------------------
def deliver_pending(store: GovernanceStore, *, settings: DeliverySettings, now: datetime | None = None,
                    send_email: Sender = smtp_send, send_webhook: Sender = webhook_send) -> dict:
    """Send every pending delivery that is due at `now`, once each; record every attempt.

    A sender is called as `send(delivery, settings=settings)` and returns a short detail or raises; an Exception
    is a failed attempt, anything else (KeyboardInterrupt, a crash) leaves the delivery pending and claimed.
    """
    at = _utc(now)
    senders = {"email": send_email, "webhook": send_webhook}
    results, tried = [], set()
    while True:
        delivery = _claim_next(store, at=at, exclude=tried, settings=settings)
        if delivery is None:
            break
        tried.add(delivery["delivery_id"])
        try:
            detail, result = senders[delivery["channel"]](delivery, settings=settings), "ok"
        except Exception as exc:  # noqa: BLE001 -- every failure is recorded, whatever its kind
            detail, result = f"{type(exc).__name__}: {exc}", "error"
        detail = _scrub(str(detail), settings)[:1000]
        if result == "error":
            log.warning("alert delivery %s (%s) failed: %s", delivery["delivery_id"], delivery["channel"], detail)
        results.append(_record(store, delivery_id=delivery["delivery_id"], at=at, result=result, detail=detail,
                               settings=settings))
    counts = {status: sum(r["status"] == status for r in results) for status in ("delivered", "pending", "failed")}
    return {"tried": len(results), "delivered": counts["delivered"], "retrying": counts["pending"],
            "failed": counts["failed"], "results": results}


def _claim_next(store: GovernanceStore, *, at: datetime, exclude: set, settings: DeliverySettings) -> dict | None:
    # Bookkeeping (shown=False): the claim only moves next_attempt_at out of other senders' way for the length of
    # one send, and the attempt's record that follows (_record) is a shown write; throwing away every cached page
    # for the claim as well would only double the work.
    with store.write(shown=False) as tx:
        rows = [row for row in alert_records.due_deliveries(store, at=at) if row.delivery_id not in exclude]
        if not rows:
            return None
        alert_records.claim_delivery(tx, delivery_id=rows[0].delivery_id,
                                     until=at + timedelta(seconds=settings.claim_seconds))
    return _delivery(rows[0])


def _record(store: GovernanceStore, *, delivery_id: int, at: datetime, result: str, detail: str,
            settings: DeliverySettings) -> dict:
    """The attempt and the delivery's new state, in one transaction."""
    with store.write() as tx:
        attempts, at_requeue = alert_records.attempt_counts(store, delivery_id=delivery_id)
        attempt = attempts + 1
        alert_records.add_attempt(tx, attempt=alert_records.Attempt(delivery_id, attempt, at, result, detail))
        failures = attempt - at_requeue
        if result == "ok":
            status, next_at, delivered_at = "delivered", None, at
        elif failures >= settings.max_attempts:
            status, next_at, delivered_at = "failed", None, None
        else:
            status, next_at, delivered_at = "pending", at + settings.backoff(failures), None
        alert_records.set_delivery_state(tx, delivery_id=delivery_id, attempts=attempt, status=status,
                                         next_attempt_at=next_at, delivered_at=delivered_at)
    return {"delivery_id": delivery_id, "attempt": attempt, "result": result, "detail": detail, "status": status,
            "next_attempt_at": _iso(next_at)}


def _scrub(text: str, settings: DeliverySettings) -> str:
    if settings.smtp_password:
        text = text.replace(settings.smtp_password, "***")
    return text


def retry_failed(store: GovernanceStore, *, delivery_id: int | None = None, alert_key: str | None = None,
                 now: datetime | None = None) -> list[int]:
    """Queue failed deliveries (all, or one delivery, or one alert's) again with a fresh round of attempts."""
    at = _utc(now)
    with store.write() as tx:
        ids = alert_records.failed_delivery_ids(store, delivery_id=delivery_id, alert_key=alert_key)
        alert_records.requeue_failed(tx, delivery_id=delivery_id, alert_key=alert_key, at=at)
    return ids


def history(store: GovernanceStore, *, alert_key: str | None = None) -> list[dict]:
    """Every delivery (of one alert, or all), oldest first, each with its attempts in order."""
    deliveries = [_delivery(row) for row in alert_records.deliveries(store, alert_key=alert_key)]
    attempts: dict[int, list[dict]] = {d["delivery_id"]: [] for d in deliveries}
    for row in alert_records.attempts(store, alert_key=alert_key):
        attempt = asdict(row)
        attempt["attempted_at"] = _iso(attempt["attempted_at"])
        attempts[attempt["delivery_id"]].append(attempt)
    return [{**d, "attempts": attempts[d["delivery_id"]]} for d in deliveries]
