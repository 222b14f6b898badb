"""Alert delivery over real loopback servers: an aiosmtpd SMTP server and an http.server webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from governance.alerts import delivery as alert_delivery
from governance.alerts.delivery import DeliverySettings, deliver_pending, enqueue, history, retry_failed
from governance.errors import InvalidInputError
from governance.record.repositories import alerts as alert_records
from governance.record.store import GovernanceStore

T0 = datetime(2026, 12, 1, 9, 0, 0)
EVIDENCE = {"metric": "error rate", "value": 0.173, "threshold": 0.1, "window": {"from": "08:00", "to": "09:00"}}


@pytest.fixture
def store(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as opened:
        yield opened


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queue(store, channel="email", recipient="oncall@example.org", **extra):
    return enqueue(store, alert_key=extra.pop("alert_key", "EP-0001"), channel=channel, recipient=recipient,
                   subject="Error rate above 10% for churn v3", body="The error rate was 17.3% in the last hour.",
                   link="/kpis?model=churn&version=v3", evidence=EVIDENCE, now=T0, **extra)


def attempt_results(store, alert_key="EP-0001"):
    return [[a["result"] for a in d["attempts"]] for d in history(store, alert_key=alert_key)]


# --- (1) SMTP: refused twice, accepted the third time -------------------------------------------------------------
class RefuseTwice:
    def __init__(self):
        self.calls, self.received = 0, []

    async def handle_DATA(self, server, session, envelope):
        self.calls += 1
        if self.calls <= 2:
            return "451 4.3.0 mailbox busy, try again later"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_smtp_refused_twice_then_delivered_with_link_and_evidence(store):
    handler = RefuseTwice()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = DeliverySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                                    mail_from="quorum@example.org", backoff_seconds=30, timeout_seconds=5)
        queued = queue(store)
        assert queued["created"] and queued["status"] == "pending"

        first = deliver_pending(store, settings=settings, now=T0)
        assert (first["tried"], first["retrying"]) == (1, 1)
        assert "451" in first["results"][0]["detail"]
        assert first["results"][0]["next_attempt_at"] == (T0 + timedelta(seconds=30)).isoformat() + "Z"
        # not due yet: nothing is tried
        assert deliver_pending(store, settings=settings, now=T0 + timedelta(seconds=29))["tried"] == 0

        second = deliver_pending(store, settings=settings, now=T0 + timedelta(seconds=31))
        assert second["results"][0]["next_attempt_at"] == (T0 + timedelta(seconds=31 + 60)).isoformat() + "Z"
        third = deliver_pending(store, settings=settings, now=T0 + timedelta(seconds=31 + 61))
        assert third["delivered"] == 1
    finally:
        controller.stop()

    [delivery] = history(store, alert_key="EP-0001")
    assert delivery["status"] == "delivered" and delivery["attempts"][-1]["attempt"] == 3
    assert [a["result"] for a in delivery["attempts"]] == ["error", "error", "ok"]
    assert delivery["delivered_at"] == (T0 + timedelta(seconds=92)).isoformat() + "Z"
    assert delivery["next_attempt_at"] is None

    [(mail_from, rcpt_tos, content)] = handler.received
    assert mail_from == "quorum@example.org" and rcpt_tos == ["oncall@example.org"]
    message = message_from_bytes(content, policy=default_policy)
    assert message["Subject"] == "Error rate above 10% for churn v3"
    text = message.get_content()
    assert "http://localhost:8501/kpis?model=churn&version=v3" in text
    assert "metric: error rate" in text and "value: 0.173" in text and "window.from: 08:00" in text
    assert "The error rate was 17.3% in the last hour." in text


# --- (2) webhook: receiver down, then up --------------------------------------------------------------------------
class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        Receiver.received.append((self.path, self.headers["Content-Type"], json.loads(self.rfile.read(length))))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_webhook_down_stays_pending_then_delivered_when_receiver_is_up(store, monkeypatch):
    monkeypatch.setenv("QUORUM_WEBHOOK_ALLOW", "127.0.0.1")   # the test's receiver is on loopback
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/quorum"
    settings = DeliverySettings(base_url="https://quorum.example.org", backoff_seconds=5, timeout_seconds=5)
    queue(store, channel="webhook", recipient=url, base_url=settings.base_url)

    down = deliver_pending(store, settings=settings, now=T0)
    assert (down["tried"], down["retrying"], down["delivered"]) == (1, 1, 0)
    [delivery] = history(store)
    assert delivery["status"] == "pending" and [a["result"] for a in delivery["attempts"]] == ["error"]
    assert "ConnectionRefusedError" in delivery["attempts"][0]["detail"]

    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        up = deliver_pending(store, settings=settings, now=T0 + timedelta(seconds=6))
    finally:
        server.shutdown()
        server.server_close()
    assert up["delivered"] == 1 and up["results"][0]["detail"] == "HTTP 200"
    [(path, content_type, payload)] = Receiver.received
    assert path == "/hooks/quorum" and content_type == "application/json"
    link = "https://quorum.example.org/kpis?model=churn&version=v3"
    assert payload["text"] == f"Error rate above 10% for churn v3\nThe error rate was 17.3% in the last hour.\n{link}"
    assert payload["link"] == link and payload["evidence"] == EVIDENCE and payload["alert_key"] == "EP-0001"
    assert attempt_results(store) == [["error", "ok"]]


def test_webhook_non_2xx_is_a_failure_with_its_status_code_only(store, monkeypatch):
    monkeypatch.setenv("QUORUM_WEBHOOK_ALLOW", "127.0.0.1")
    class Unavailable(Receiver):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"down for maintenance")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        queue(store, channel="webhook", recipient=f"http://127.0.0.1:{server.server_address[1]}/")
        result = deliver_pending(store, settings=DeliverySettings(timeout_seconds=5), now=T0)
    finally:
        server.shutdown()
        server.server_close()
    assert result["results"][0]["result"] == "error"
    # the status code only: what a receiver answers is never stored or shown
    assert result["results"][0]["detail"] == "RuntimeError: HTTP 503"
    assert "maintenance" not in json.dumps(history(store))


# --- (3) idempotent enqueue ---------------------------------------------------------------------------------------
def test_enqueue_twice_keeps_one_row_unchanged(store):
    first = queue(store)
    again = enqueue(store, alert_key="EP-0001", channel="email", recipient="oncall@example.org",
                    subject="a different subject", body="other", link="/other", evidence={}, now=T0 + timedelta(1))
    assert again["created"] is False
    assert {**again, "created": True} == first
    assert store.query_value("SELECT count(*) FROM alert_delivery") == 1
    other = queue(store, channel="webhook", recipient="https://hooks.example.org/x")   # another channel: its own row
    assert other["created"] and other["delivery_id"] == 2


def test_enqueue_rejects_bad_input(store):
    with pytest.raises(InvalidInputError, match="channel"):
        queue(store, channel="sms")
    with pytest.raises(InvalidInputError, match="not an e-mail address"):
        queue(store, recipient="not-an-address")
    with pytest.raises(InvalidInputError, match="http"):
        queue(store, channel="webhook", recipient="ftp://example.org")
    with pytest.raises(InvalidInputError, match="one line"):
        enqueue(store, alert_key="EP-1", channel="email", recipient="a@example.org", subject="a\r\nBcc: x@evil.org",
                body="", link="/", evidence={})
    with pytest.raises(InvalidInputError, match="JSON"):
        enqueue(store, alert_key="EP-1", channel="email", recipient="a@example.org", subject="s", body="",
                link="/", evidence={"x": float("nan")})
    assert store.query_value("SELECT count(*) FROM alert_delivery") == 0


# --- (4) max attempts, kept, retry_failed ---------------------------------------------------------------------------
def failing(delivery, *, settings):
    raise ConnectionRefusedError("nobody home")


def test_max_attempts_marks_failed_keeps_row_and_retry_failed_requeues(store):
    settings = DeliverySettings(backoff_seconds=1, backoff_max_seconds=4, max_attempts=4)
    queue(store)
    now, waits = T0, []
    for _ in range(4):
        result = deliver_pending(store, settings=settings, now=now, send_email=failing)["results"][0]
        if result["next_attempt_at"]:
            waits.append(datetime.fromisoformat(result["next_attempt_at"][:-1]) - now)
            now = datetime.fromisoformat(result["next_attempt_at"][:-1])
    assert waits == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=4)]   # doubling, capped at 4
    assert result["status"] == "failed"
    [delivery] = history(store)
    assert delivery["status"] == "failed" and delivery["attempts"][-1]["attempt"] == 4
    assert delivery["next_attempt_at"] is None
    assert deliver_pending(store, settings=settings, now=now + timedelta(days=1), send_email=failing)["tried"] == 0

    assert retry_failed(store, now=now + timedelta(days=1)) == [delivery["delivery_id"]]
    sent = []
    result = deliver_pending(store, settings=settings, now=now + timedelta(days=1),
                             send_email=lambda d, *, settings: sent.append(d) or "250 OK")
    assert result["delivered"] == 1 and len(sent) == 1
    assert attempt_results(store) == [["error"] * 4 + ["ok"]]
    assert retry_failed(store) == []


def test_requeued_delivery_gets_a_fresh_round_of_attempts(store):
    settings = DeliverySettings(backoff_seconds=0, max_attempts=2)
    queue(store)
    for _ in range(2):
        deliver_pending(store, settings=settings, now=T0, send_email=failing)
    assert history(store)[0]["status"] == "failed"
    retry_failed(store, alert_key="EP-0001", now=T0)
    assert deliver_pending(store, settings=settings, now=T0, send_email=failing)["retrying"] == 1
    assert deliver_pending(store, settings=settings, now=T0, send_email=failing)["failed"] == 1
    assert attempt_results(store) == [["error"] * 4]


# --- (5) a crash between sending and recording; append-only -------------------------------------------------------
class Crash(BaseException):
    """Stands for the process dying: not an Exception, so the send is not recorded as a failed attempt."""


def test_crash_after_send_leaves_delivery_pending_and_it_is_sent_again(store):
    settings = DeliverySettings(backoff_seconds=1, claim_seconds=60)
    queue(store)
    deliver_pending(store, settings=settings, now=T0, send_email=failing)
    before = history(store)[0]["attempts"]

    sent = []

    def send_then_crash(delivery, *, settings):
        sent.append(delivery["delivery_id"])
        raise Crash()

    with pytest.raises(Crash):
        deliver_pending(store, settings=settings, now=T0 + timedelta(seconds=2), send_email=send_then_crash)
    [delivery] = history(store)
    assert delivery["status"] == "pending" and delivery["attempts"] == before     # not lost, nothing rewritten
    # claimed: another sender does not pick it up again until the claim runs out …
    assert deliver_pending(store, settings=settings, now=T0 + timedelta(seconds=30), send_email=failing)["tried"] == 0
    # … then it is sent again (at least once: this receiver sees it twice)
    done = deliver_pending(store, settings=settings, now=T0 + timedelta(seconds=63),
                           send_email=lambda d, *, settings: sent.append(d["delivery_id"]) or "250 OK")
    assert done["delivered"] == 1 and sent == [1, 1]
    after = history(store)[0]["attempts"]
    assert after[:len(before)] == before and [a["result"] for a in after] == ["error", "ok"]
    for source in (alert_delivery, alert_records):   # the outbox's service and the repository that holds its SQL
        assert "DELETE" not in Path(source.__file__).read_text().upper().replace("NEVER DELETED", "")


def test_a_failed_recording_rolls_back_attempt_and_state_together(store, monkeypatch):
    queue(store)
    settings = DeliverySettings()
    real_backoff = DeliverySettings.backoff

    def broken(self, failures):   # raised inside _record's transaction, after the attempt row was inserted
        raise RuntimeError("disk full")

    monkeypatch.setattr(DeliverySettings, "backoff", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        deliver_pending(store, settings=settings, now=T0, send_email=failing)
    [delivery] = history(store)
    assert delivery["attempts"] == [] and delivery["status"] == "pending" and delivery["attempts"] == []
    assert store.query_value("SELECT attempts FROM alert_delivery") == 0
    monkeypatch.setattr(DeliverySettings, "backoff", real_backoff)
    later = T0 + timedelta(seconds=settings.claim_seconds + 1)
    assert deliver_pending(store, settings=settings, now=later, send_email=failing)["retrying"] == 1


# --- settings and secrets -----------------------------------------------------------------------------------------
def test_settings_from_secrets_and_environment():
    secrets = {"alerts": {"smtp_host": "smtp.example.org", "smtp_port": 2525, "smtp_starttls": False,
                          "smtp_user": "quorum", "smtp_password": "s3cret-pw", "mail_from": "quorum@example.org",
                          "base_url": "https://quorum.example.org", "backoff_seconds": 10, "max_attempts": 5,
                          "recipients": ["someone@example.org"]}}   # other layers' keys are left alone
    settings = DeliverySettings.from_secrets(secrets)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("smtp.example.org", 2525, False)
    assert (settings.backoff_seconds, settings.max_attempts, settings.backoff_max_seconds) == (10.0, 5, 3600.0)
    assert "s3cret-pw" not in repr(settings)

    env = {"QUORUM_SMTP_HOST": "mail.internal", "QUORUM_SMTP_PORT": "25", "QUORUM_SMTP_STARTTLS": "no",
           "QUORUM_SMTP_PASSWORD": "env-pw", "QUORUM_ALERT_MAX_ATTEMPTS": "3", "QUORUM_MAIL_FROM": ""}
    from_env = DeliverySettings.from_env(env)
    assert (from_env.smtp_host, from_env.smtp_port, from_env.smtp_starttls, from_env.max_attempts) == (
        "mail.internal", 25, False, 3)
    assert from_env.mail_from is None and from_env.base_url == "http://localhost:8501"
    both = DeliverySettings.load(secrets, env)
    assert (both.smtp_host, both.smtp_password, both.mail_from) == ("mail.internal", "env-pw", "quorum@example.org")
    with pytest.raises(InvalidInputError, match="smtp_port must be a whole number") as raised:
        DeliverySettings.from_secrets({"smtp_port": "twenty-five", "smtp_password": "s3cret-pw"})
    assert "s3cret-pw" not in str(raised.value)
    with pytest.raises(InvalidInputError, match="smtp_starttls must be true or false.*QUORUM_SMTP_STARTTLS"):
        DeliverySettings.from_env({"QUORUM_SMTP_STARTTLS": "maybe"})
    assert DeliverySettings().backoff(1) == timedelta(seconds=30)
    assert DeliverySettings().backoff(20) == timedelta(hours=1)


def test_smtp_password_never_reaches_the_store(store, caplog):
    settings = DeliverySettings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False,
                                smtp_user="quorum", smtp_password="hunter2-very-secret", mail_from="q@example.org",
                                timeout_seconds=2)
    queue(store)

    def leaky(delivery, *, settings):
        raise RuntimeError(f"auth failed for quorum/{settings.smtp_password}")

    deliver_pending(store, settings=settings, now=T0, send_email=leaky)
    deliver_pending(store, settings=settings, now=T0 + timedelta(hours=1))   # the real sender: nobody listening
    dump = json.dumps(history(store), default=str)
    assert "hunter2-very-secret" not in dump and "***" in dump
    assert "hunter2-very-secret" not in caplog.text
    assert attempt_results(store) == [["error", "error"]]


def test_unconfigured_smtp_is_a_recorded_failure_not_a_loss(store):
    queue(store)
    result = deliver_pending(store, settings=DeliverySettings(), now=T0)
    assert result["retrying"] == 1 and "SMTP is not configured" in result["results"][0]["detail"]


def test_the_documented_secrets_example_reads_back_and_names_every_setting():
    import tomllib
    path = Path(__file__).resolve().parents[3] / ".streamlit" / "secrets.example.toml"
    section = tomllib.loads(path.read_text(encoding="utf-8"))["alerts"]
    assert set(section) == set(alert_delivery.SETTING_ENV)
    settings = DeliverySettings.from_secrets({"alerts": section})
    assert (settings.smtp_host, settings.smtp_port, settings.max_attempts) == ("smtp.example.org", 587, 10)
    text = path.read_text(encoding="utf-8")
    assert all(f"[{env}]" in text for env in alert_delivery.SETTING_ENV.values())


def test_the_base_url_follows_the_server_unless_a_setting_names_one():
    served = {"QUORUM_SERVED_AT": "http://127.0.0.1:8600"}   # what `governance serve --port 8600` sets for itself
    assert DeliverySettings.load(None, served).base_url == "http://127.0.0.1:8600"
    assert DeliverySettings.load({"alerts": {"base_url": ""}}, served).base_url == "http://127.0.0.1:8600"
    secrets = {"alerts": {"base_url": "https://quorum.example.org"}}
    assert DeliverySettings.load(secrets, served).base_url == "https://quorum.example.org"
    assert DeliverySettings.load(secrets, {**served, "QUORUM_BASE_URL": "https://q.internal"}).base_url == \
        "https://q.internal"
    assert DeliverySettings.load(None, {}).base_url == alert_delivery.DEFAULT_BASE_URL   # no server, no setting
