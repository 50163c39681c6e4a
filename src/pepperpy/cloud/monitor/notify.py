"""Delivering alert events: email over SMTP (or to a local outbox) and Alertmanager-style webhooks.

Each sender either returns how the event went out (``"sent"`` or ``"outbox"``) or raises; retrying
and recording are the evaluator's job (:meth:`pepperpy.cloud.monitor.alerts.AlertStore.evaluate`).

Email settings come from the environment (``PEPPERPY_SMTP_*``). Without ``PEPPERPY_SMTP_HOST``
messages are written as RFC 5322 ``.eml`` files to ``<home>/monitor/outbox/``: the exact bytes
that would have been sent, so nothing is silently dropped on a machine without a mail server.
The SMTP password may be a ``${SECRET:name}`` reference; it is never part of a ``repr``, a log
line or a message.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pepperpy.cloud.catalog.store import home_dir
from pepperpy.cloud.errors import InputError, PepperpyCloudError

if TYPE_CHECKING:
    from pepperpy.cloud.monitor.alerts import AlertEvent, Channel

DeliveryStatus = Literal["sent", "outbox"]

DEFAULT_SENDER = "pepperpy-cloud@localhost"
WEBHOOK_TIMEOUT_S = 5.0
SMTP_TIMEOUT_S = 10.0
RECEIVER = "pepperpy-cloud"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert that has not ended
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class DeliveryError(PepperpyCloudError):
    """A channel refused an event (e.g. a webhook answered with a non-2xx status)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


def default_outbox() -> Path:
    return home_dir() / "monitor" / "outbox"


@dataclass(frozen=True)
class SmtpSettings:
    """Where email goes. ``host=None`` means the local outbox; the password never shows in ``repr``."""

    host: str | None = None
    port: int = 25
    sender: str = DEFAULT_SENDER
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    outbox: Path = field(default_factory=default_outbox)
    timeout: float = SMTP_TIMEOUT_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read ``PEPPERPY_SMTP_*``; a bad value is an InputError naming the variable."""
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("PEPPERPY_SMTP_HOST", "").strip() or None,
            port=_port(env.get("PEPPERPY_SMTP_PORT", "").strip() or "25"),
            sender=_sender(env.get("PEPPERPY_SMTP_FROM", "").strip() or DEFAULT_SENDER),
            user=env.get("PEPPERPY_SMTP_USER", "").strip() or None,
            password=_password(env.get("PEPPERPY_SMTP_PASSWORD", "")),
            starttls=_flag("PEPPERPY_SMTP_STARTTLS", env.get("PEPPERPY_SMTP_STARTTLS", "")),
        )

    @property
    def secrets(self) -> list[str]:
        """Values a log line or a stored error must never show."""
        return [self.password] if self.password else []


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError("PEPPERPY_SMTP_PORT", f"{text!r} is not a TCP port", hint="use a number from 1 to 65535")
    return int(text)


def _sender(text: str) -> str:
    from pepperpy.cloud.monitor.alerts import email_address

    return email_address(text, "PEPPERPY_SMTP_FROM")


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in _TRUE | _FALSE:
        raise InputError(name, f"{text!r} is not a boolean", hint="use true or false")
    return value in _TRUE


def _password(text: str) -> str | None:
    """The password, with a ``${SECRET:name}`` reference resolved from the secret store."""
    if not text:
        return None
    from pepperpy.cloud.spec.secrets import secret_name

    if secret_name(text) is None:
        return text
    from pepperpy.cloud.deploy.secrets import SecretStore

    return SecretStore().resolve({"PEPPERPY_SMTP_PASSWORD": text})["PEPPERPY_SMTP_PASSWORD"]


# --- what an event says ----------------------------------------------------------------------

def number(value: float | None) -> str:
    """A measured value as people read it: ``80`` not ``80.0``, ``93.2``, ``no data`` for None."""
    if value is None:
        return "no data"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def rfc3339(timestamp: float | None) -> str:
    if timestamp is None:
        return ZERO_TIME
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status_of(event: AlertEvent) -> Literal["firing", "resolved"]:
    return "resolved" if event.kind == "resolved" else "firing"


def summary(event: AlertEvent) -> str:
    """One line: ``cpu_usage 93.2 > 80 on pepperpy-rag-service``."""
    rule = event.rule
    condition = f"{rule.comparison} {number(rule.threshold)}"
    if event.kind == "resolved":
        return f"{rule.metric} {number(event.value)}, no longer {condition}, on {rule.resource}"
    return f"{rule.metric} {number(event.value)} {condition} on {rule.resource}"


def subject(event: AlertEvent) -> str:
    return f"[{status_of(event).upper()}] {event.rule.name}: {summary(event)}"


def description(event: AlertEvent) -> str:
    rule = event.rule
    return rule.description or f"{rule.metric} {rule.comparison} {number(rule.threshold)} " \
                               f"for {number(rule.duration_seconds)}s on {rule.resource}"


def _body(event: AlertEvent) -> str:
    from pepperpy.cloud.monitor.definitions import METRICS

    rule = event.rule
    unit = METRICS[rule.metric].unit if rule.metric in METRICS else ""
    state = {"firing": "is FIRING", "reminder": "is still FIRING", "resolved": "is RESOLVED"}[event.kind]
    lines = [
        f"Alert {rule.name} {state} on {rule.resource}.",
        "",
        description(event),
        "",
        f"resource:   {rule.resource}",
        f"metric:     {rule.metric} ({unit})" if unit else f"metric:     {rule.metric}",
        f"value:      {number(event.value)}",
        f"threshold:  {rule.comparison} {number(rule.threshold)}",
        f"duration:   {number(rule.duration_seconds)}s",
        f"started:    {rfc3339(event.started_at)}",
    ]
    if event.ended_at is not None:
        lines.append(f"resolved:   {rfc3339(event.ended_at)}")
    lines.append(f"evaluated:  {rfc3339(event.at)}")
    return "\n".join(lines) + "\n"


# --- email -----------------------------------------------------------------------------------

def email_message(channel: Channel, event: AlertEvent, settings: SmtpSettings) -> EmailMessage:
    """The message for one recipient; the outbox stores exactly these bytes."""
    from email import policy
    from email.utils import format_datetime, make_msgid

    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = settings.sender
    msg["To"] = channel.target
    msg["Subject"] = subject(event)
    msg["Date"] = format_datetime(datetime.fromtimestamp(event.at, UTC))
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "localhost")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
    msg["X-PepperPy-Alert"] = event.rule.name
    msg["X-PepperPy-Event"] = event.kind
    msg.set_content(_body(event))
    return msg


def send_email(channel: Channel, event: AlertEvent, settings: SmtpSettings) -> DeliveryStatus:
    """Send over SMTP (STARTTLS and login when configured), or write to the outbox without a host."""
    msg = email_message(channel, event, settings)
    if not settings.host:
        write_outbox(msg, event, settings.outbox)
        return "outbox"
    smtp_send(msg, settings)
    return "sent"


def smtp_send(msg: EmailMessage, settings: SmtpSettings) -> None:
    """Hand ``msg`` to the configured SMTP server (STARTTLS and login when configured)."""
    import smtplib

    assert settings.host
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            import ssl

            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(msg)


def write_outbox(msg: EmailMessage, event: AlertEvent, outbox: Path) -> Path:
    """Write ``msg`` as ``<outbox>/<time>-<alert>-<event>-<id>.eml``; rename-into-place, never partial."""
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(event.at, UTC).strftime("%Y%m%dT%H%M%SZ")
    path = outbox / f"{stamp}-{event.rule.name}-{event.kind}-{uuid.uuid4().hex[:8]}.eml"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(msg.as_bytes())
    os.replace(tmp, path)
    return path


# --- webhook ---------------------------------------------------------------------------------

def labels(event: AlertEvent) -> dict[str, str]:
    rule = event.rule
    return {"alertname": rule.name, "deployment": rule.resource, "metric": rule.metric, "severity": "warning"}


def fingerprint(label_set: Mapping[str, str]) -> str:
    """A stable 16-hex-digit id of the label set (receivers treat Alertmanager's as opaque)."""
    text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(label_set.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def webhook_payload(event: AlertEvent) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for one alert, so existing receivers understand it."""
    status = status_of(event)
    label_set = labels(event)
    annotations = {"summary": summary(event), "description": description(event)}
    alert = {
        "status": status,
        "labels": label_set,
        "annotations": annotations,
        "startsAt": rfc3339(event.started_at),
        "endsAt": rfc3339(event.ended_at),
        "generatorURL": "",
        "fingerprint": fingerprint(label_set),
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{event.rule.name}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER,
        "groupLabels": {"alertname": event.rule.name},
        "commonLabels": label_set,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [alert],
    }


def send_webhook(channel: Channel, event: AlertEvent) -> DeliveryStatus:
    """POST the Alertmanager-compatible JSON; any non-2xx answer is a :class:`DeliveryError`."""
    import httpx

    from pepperpy.cloud import __version__

    response = httpx.post(channel.target, json=webhook_payload(event), timeout=WEBHOOK_TIMEOUT_S,
                          headers={"User-Agent": f"pepperpy-cloud/{__version__}"})
    if not response.is_success:
        raise DeliveryError(f"webhook answered HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                            status=response.status_code)
    return "sent"


def permanent(exc: Exception) -> bool:
    """Failures a retry cannot fix: SMTP 5xx answers (bad login, refused recipient) and webhook 4xx."""
    import smtplib

    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, DeliveryError) and exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


def deliver(channel: Channel, event: AlertEvent, settings: SmtpSettings) -> DeliveryStatus:
    """Send ``event`` to one channel by its kind."""
    if channel.kind == "email":
        return send_email(channel, event, settings)
    return send_webhook(channel, event)


# --- budget --------------------------------------------------------------------------------

def budget_message(address: str, forecast: Any, settings: SmtpSettings) -> EmailMessage:
    """The month-end forecast crossed ``CostOptimizationConfig.budget_alert_threshold``."""
    from email import policy
    from email.utils import format_datetime, make_msgid

    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = settings.sender
    msg["To"] = address
    msg["Subject"] = (f"[BUDGET] {forecast.deployment}: forecast ${forecast.forecast} for {forecast.month} "
                      f"is over the ${forecast.threshold} budget")
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "localhost")
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-PepperPy-Budget"] = forecast.deployment
    msg.set_content(
        f"The month-end cost forecast of {forecast.deployment} is over its budget.\n\n"
        f"month:       {forecast.month}\n"
        f"accrued:     ${forecast.accrued} so far (measured usage at catalog prices)\n"
        f"hourly now:  ${forecast.hourly_now} an hour\n"
        f"hours left:  {forecast.hours_left}\n"
        f"forecast:    ${forecast.forecast}\n"
        f"budget:      ${forecast.threshold}\n\n"
        f"See 'pepperpy-cloud costs {forecast.deployment}' for the lines and their catalog rows.\n")
    return msg


def send_budget_alert(address: str | None, forecast: Any, settings: SmtpSettings | None = None) -> str:
    """Email the budget owner (SMTP, or the outbox without a host); ``skipped`` with no address."""
    if not address:
        return "skipped"
    settings = settings or SmtpSettings.from_env()
    msg = budget_message(address, forecast, settings)
    if not settings.host:
        settings.outbox.mkdir(parents=True, exist_ok=True)
        path = settings.outbox / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-budget-{forecast.deployment}.eml"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(msg.as_bytes())
        os.replace(tmp, path)
        return "outbox"
    smtp_send(msg, settings)
    return "sent"
