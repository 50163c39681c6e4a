"""Alert delivery against real servers: aiosmtpd for email, a local HTTP server for webhooks."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import logging
import os
import socket
import sqlite3
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.monitor import alerts
from pepperpy.cloud.monitor.alerts import AlertEvent, AlertRule, AlertStore, parse_channel
from pepperpy.cloud.monitor.notify import SmtpSettings, send_email, webhook_payload

RESOURCE = "pepperpy-rag-service"
T0 = 1_750_000_000.0
PASSWORD = "Sm7p-Pa55word-never-shown"
USER = "alerts"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture(autouse=True)
def _no_smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PEPPERPY_SMTP_"):
            monkeypatch.delenv(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """aiosmtpd handler keeping every accepted envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.original_content or b"", policy=email.policy.default)  # type: ignore[misc]
                for e in self.envelopes]


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def start_smtp(**kwargs: Any) -> tuple[Controller, Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller, mailbox


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A plain SMTP server, configured through PEPPERPY_SMTP_* like a user would."""
    controller, mailbox = start_smtp()
    monkeypatch.setenv("PEPPERPY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PEPPERPY_SMTP_PORT", str(controller.port))
    yield mailbox
    controller.stop()


@pytest.fixture
def smtp_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """An SMTP server that requires AUTH (over plain TCP, which aiosmtpd allows only when told)."""
    controller, mailbox = start_smtp(authenticator=authenticate, auth_required=True, auth_require_tls=False)
    monkeypatch.setenv("PEPPERPY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PEPPERPY_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("PEPPERPY_SMTP_USER", USER)
    yield mailbox
    controller.stop()


class Hook:
    """A local webhook receiver recording (headers, JSON body) of every POST."""

    def __init__(self) -> None:
        self.status = 200
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append((dict(self.headers), json.loads(body)))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def rule(*channels: str, **changes: Any) -> AlertRule:
    return AlertRule(**{"name": "high-cpu-alert", "description": "CPU above 80% for 5 minutes",
                        "metric": "cpu_usage", "resource": RESOURCE, "threshold": 80, "duration_seconds": 300,
                        "notification_channels": list(channels), **changes})


def fast_store() -> AlertStore:
    store = AlertStore()
    store.retry_delays = (0.01, 0.01, 0.01)
    return store


def our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """What PepperPy logged (the test SMTP server's own debug lines are not ours)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("pepperpy"))


def stored_text(home: Path) -> str:
    """Everything in alerts.db and under monitor/, as text, to search for leaks."""
    db = sqlite3.connect(home / "monitor" / "alerts.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    files = [p.read_bytes().decode("utf-8", "replace") for p in (home / "monitor").rglob("*")
             if p.is_file() and not p.name.startswith("alerts.db")]
    return dump + "\n".join(files)


# --- end to end -----------------------------------------------------------------------------

def test_evaluate_delivers_a_real_email_and_webhook(smtp: Mailbox, hook: Hook) -> None:
    store = fast_store()
    assert store.save(rule("email:ops@example.com", f"webhook:{hook.url}")) == []
    assert store.evaluate(RESOURCE, lambda metric: 93.2, now=T0) == []
    assert (smtp.envelopes, hook.posts) == ([], [])

    [event] = store.evaluate(RESOURCE, lambda metric: 93.2, now=T0 + 300)
    assert event.kind == "firing"
    [envelope] = smtp.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == ("pepperpy-cloud@localhost", ["ops@example.com"])
    [message] = smtp.messages()
    assert message["Subject"] == f"[FIRING] high-cpu-alert: cpu_usage 93.2 > 80 on {RESOURCE}"
    body = message.get_content()
    for text in ("CPU above 80% for 5 minutes", "value:      93.2", "threshold:  > 80", "duration:   300s",
                 "started:    2025-06-15T15:06:40Z", f"resource:   {RESOURCE}"):
        assert text in body

    [(headers, payload)] = hook.posts
    assert headers["Content-Type"] == "application/json"
    labels = {"alertname": "high-cpu-alert", "deployment": RESOURCE, "metric": "cpu_usage", "severity": "warning"}
    annotations = {"summary": f"cpu_usage 93.2 > 80 on {RESOURCE}", "description": "CPU above 80% for 5 minutes"}
    assert payload["version"] == "4" and payload["status"] == "firing" and payload["receiver"] == "pepperpy-cloud"
    assert payload["groupLabels"] == {"alertname": "high-cpu-alert"}
    assert payload["commonLabels"] == labels and payload["commonAnnotations"] == annotations
    [alert] = payload["alerts"]
    assert {k: alert[k] for k in ("status", "labels", "annotations", "startsAt", "endsAt")} == {
        "status": "firing", "labels": labels, "annotations": annotations,
        "startsAt": "2025-06-15T15:06:40Z", "endsAt": "0001-01-01T00:00:00Z"}
    assert len(alert["fingerprint"]) == 16 and int(alert["fingerprint"], 16) >= 0
    assert [(n.event, n.status, n.attempts) for n in store.history("high-cpu-alert")] == [
        ("firing", "sent", 1), ("firing", "sent", 1)]

    # still firing: no repeat; then the value drops and both channels hear "resolved"
    assert store.evaluate(RESOURCE, lambda metric: 97.0, now=T0 + 360) == []
    assert (len(smtp.envelopes), len(hook.posts)) == (1, 1)
    [resolved] = store.evaluate(RESOURCE, lambda metric: 42.5, now=T0 + 420)
    assert resolved.kind == "resolved"
    assert smtp.messages()[-1]["Subject"] == f"[RESOLVED] high-cpu-alert: cpu_usage 42.5, no longer > 80, on {RESOURCE}"
    payload = hook.posts[-1][1]
    assert payload["status"] == "resolved" and payload["alerts"][0]["status"] == "resolved"
    assert payload["alerts"][0]["startsAt"] == "2025-06-15T15:06:40Z"
    assert payload["alerts"][0]["endsAt"] == "2025-06-15T15:13:40Z"
    assert payload["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert len(store.history("high-cpu-alert")) == 4


def test_webhook_500_is_recorded_as_failed_and_evaluate_does_not_raise(hook: Hook) -> None:
    hook.status = 500
    store = fast_store()
    store.save(rule(f"webhook:{hook.url}", duration_seconds=0))
    [event] = store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    assert event.kind == "firing"
    assert len(hook.posts) == 4  # the first attempt and three retries
    [note] = store.history("high-cpu-alert")
    assert (note.status, note.attempts) == ("failed", 4)
    assert note.error is not None and "HTTP 500" in note.error
    assert store.state("high-cpu-alert").state == "firing"


def test_webhook_4xx_is_not_retried(hook: Hook) -> None:
    hook.status = 404
    store = fast_store()
    store.save(rule(f"webhook:{hook.url}", duration_seconds=0))
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    [note] = store.history("high-cpu-alert")
    assert (note.status, note.attempts, len(hook.posts)) == ("failed", 1, 1)
    assert note.error == "DeliveryError: webhook answered HTTP 404 Not Found"


def test_unreachable_smtp_server_is_recorded_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEPPERPY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PEPPERPY_SMTP_PORT", str(free_port()))
    store = fast_store()
    store.save(rule("email:ops@example.com", duration_seconds=0))
    assert len(store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)) == 1
    [note] = store.history("high-cpu-alert")
    assert note.status == "failed" and note.error is not None and "Connection" in note.error


def test_bad_smtp_settings_at_evaluation_are_recorded_not_raised(hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    store = fast_store()
    store.save(rule("email:ops@example.com", f"webhook:{hook.url}", duration_seconds=0))
    monkeypatch.setenv("PEPPERPY_SMTP_STARTTLS", "maybe")
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    notes = {n.channel.split(":")[0]: n for n in store.history("high-cpu-alert")}
    assert notes["email"].status == "failed" and "PEPPERPY_SMTP_STARTTLS" in (notes["email"].error or "")
    assert notes["webhook"].status == "sent"


# --- secrets --------------------------------------------------------------------------------

def test_smtp_login_with_a_secret_reference(smtp_auth: Mailbox, home: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    from pepperpy.cloud.deploy.secrets import SecretStore

    SecretStore().set("smtp-password", PASSWORD)
    monkeypatch.setenv("PEPPERPY_SMTP_PASSWORD", "${SECRET:smtp-password}")
    settings = SmtpSettings.from_env()
    assert settings.password == PASSWORD and PASSWORD not in repr(settings)
    caplog.set_level(logging.DEBUG)
    store = fast_store()
    store.save(rule("email:ops@example.com", duration_seconds=0))
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    assert [n.status for n in store.history("high-cpu-alert")] == ["sent"]
    assert len(smtp_auth.envelopes) == 1
    assert PASSWORD not in smtp_auth.envelopes[0].original_content.decode()  # type: ignore[union-attr]
    assert PASSWORD not in our_logs(caplog) and PASSWORD not in stored_text(home)


def test_rejected_login_is_failed_and_the_password_never_shows(smtp_auth: Mailbox, home: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wr0ng-" + PASSWORD
    monkeypatch.setenv("PEPPERPY_SMTP_PASSWORD", wrong)
    caplog.set_level(logging.DEBUG)
    store = fast_store()
    store.save(rule("email:ops@example.com", duration_seconds=0))
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    [note] = store.history("high-cpu-alert")
    assert note.status == "failed" and "SMTPAuthenticationError" in (note.error or "")
    assert note.attempts == 1  # a 535 answer is permanent: no retry
    assert smtp_auth.envelopes == []
    assert wrong not in our_logs(caplog) and wrong not in stored_text(home)
    assert "SMTPAuthenticationError" in our_logs(caplog)


def test_error_text_is_redacted_before_it_is_stored_or_logged(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PEPPERPY_SMTP_PASSWORD", PASSWORD)

    def leaky(*args: Any) -> str:
        raise RuntimeError(f"server said: bad credentials {PASSWORD}")

    monkeypatch.setattr(alerts, "deliver", leaky)
    store = fast_store()
    store.save(rule("email:ops@example.com", duration_seconds=0))
    with caplog.at_level(logging.WARNING):
        store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    [note] = store.history("high-cpu-alert")
    assert note.error == "RuntimeError: server said: bad credentials ***"
    assert PASSWORD not in our_logs(caplog) and PASSWORD not in stored_text(home)
    assert "***" in our_logs(caplog)


def test_outbox_never_holds_the_password(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEPPERPY_SMTP_USER", USER)
    monkeypatch.setenv("PEPPERPY_SMTP_PASSWORD", PASSWORD)
    store = AlertStore()
    [warning] = store.save(rule("email:ops@example.com", duration_seconds=0))
    assert "outbox" in warning and PASSWORD not in warning
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    [eml] = (home / "monitor" / "outbox").glob("*.eml")
    assert b"[FIRING] high-cpu-alert" in eml.read_bytes()
    assert PASSWORD not in stored_text(home)


# --- the senders directly -------------------------------------------------------------------

def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, so STARTTLS can be verified for real."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_send_email_with_starttls_and_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = make_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller, mailbox = start_smtp(tls_context=context, require_starttls=True, authenticator=authenticate,
                                     auth_required=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our self-signed certificate
    try:
        settings = SmtpSettings(host="127.0.0.1", port=controller.port, starttls=True, user=USER, password=PASSWORD,
                                sender="alerts@example.com")
        assert send_email(parse_channel("email:ops@example.com"), firing_event(), settings) == "sent"
    finally:
        controller.stop()
    [message] = mailbox.messages()
    assert message["From"] == "alerts@example.com"
    assert message["Subject"] == f"[FIRING] high-cpu-alert: cpu_usage 93.2 > 80 on {RESOURCE}"


def firing_event() -> AlertEvent:
    return AlertEvent("firing", rule("email:ops@example.com"), 93.2, T0 + 300, T0)


def test_outbox_holds_the_bytes_that_would_be_sent(tmp_path: Path) -> None:
    settings = SmtpSettings(outbox=tmp_path / "out")
    assert send_email(parse_channel("email:ops@example.com"), firing_event(), settings) == "outbox"
    [eml] = (tmp_path / "out").glob("*.eml")
    raw = eml.read_bytes()
    assert b"\r\n" in raw  # RFC 5322 line endings, as on the wire
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "ops@example.com" and message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] == "Sun, 15 Jun 2025 15:11:40 +0000"


def test_webhook_payload_for_a_reminder_is_still_firing() -> None:
    event = AlertEvent("reminder", rule(), 91.0, T0 + 14_700, T0)
    payload = webhook_payload(event)
    assert payload["status"] == "firing" and payload["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert payload["groupKey"] == '{}:{alertname="high-cpu-alert"}'


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    default = SmtpSettings.from_env()
    assert (default.host, default.port, default.sender, default.starttls) == (None, 25, "pepperpy-cloud@localhost",
                                                                              False)
    assert default.outbox == home / "monitor" / "outbox"
    for name, value in [("PEPPERPY_SMTP_PORT", "70000"), ("PEPPERPY_SMTP_STARTTLS", "sometimes"),
                        ("PEPPERPY_SMTP_FROM", "not an address")]:
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            with pytest.raises(InputError) as info:
                SmtpSettings.from_env()
            assert info.value.field == name
    monkeypatch.setenv("PEPPERPY_SMTP_STARTTLS", "yes")
    monkeypatch.setenv("PEPPERPY_SMTP_PORT", "587")
    assert (SmtpSettings.from_env().starttls, SmtpSettings.from_env().port) == (True, 587)


def test_missing_secret_reference_fails_at_creation(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("PEPPERPY_SMTP_PASSWORD", "${SECRET:nope}")
    with pytest.raises(InputError) as info:
        AlertStore().save(rule("email:ops@example.com"))
    assert "PEPPERPY_SMTP_PASSWORD" in str(info.value)
    assert not (home / "monitor").exists()
