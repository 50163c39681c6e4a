"""Alert rules on a deployment's metrics: validation, storage, Prometheus rule files and evaluation.

A rule (seed 000's ``monitor.create_alert``) says "notify these channels when ``metric`` of
``resource`` has been ``comparison threshold`` for ``duration_seconds``". Everything a rule says
is checked when it is created, so a typo in a metric or a channel the local monitor cannot
deliver fails then, not silently at 3 a.m.

Evaluation follows Prometheus: inactive → pending when the condition first holds, pending →
firing once it has held for the whole duration, and back to inactive at the first evaluation
where it does not hold or there is no data (a "resolved" notification if it was firing). One
"firing" notification per episode, with a reminder every ``repeat_interval_seconds`` (4 h by
default, like Alertmanager's ``repeat_interval``).

Files, under ``<home>/monitor/``:

- ``alerts/<name>.json``: the rule; ``alerts/<resource>.rules.yml``: a Prometheus rule file with
  every rule of the resource, so a real Prometheus can take over evaluation unchanged.
- ``alerts.db`` (SQLite, WAL): the state of each rule and a log of every delivery attempt.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import logging
import math
import operator
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pepperpy.cloud.catalog.store import home_dir
from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.monitor import definitions
from pepperpy.cloud.monitor.notify import SmtpSettings, deliver, permanent

log = logging.getLogger(__name__)

Comparison = Literal[">", ">=", "<", "<="]
StateName = Literal["inactive", "pending", "firing"]
EventKind = Literal["firing", "reminder", "resolved"]
ChannelKind = Literal["email", "webhook"]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RESOURCE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,126}[a-z0-9])?$")
DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0
RETRY_DELAYS_S = (0.2, 0.5, 1.0)  # three retries after the first attempt
BUSY_TIMEOUT_S = 30.0
RULE_WINDOW = "1m"  # rate/increase range in rule files: four scrapes at Prometheus's default 15 s interval
DELIVERABLE = "the local monitor delivers email:ADDRESS and webhook:http(s)://URL"
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_BOUNDS = {"greater_than_equal": ("ge", ">="), "greater_than": ("gt", ">"),
           "less_than_equal": ("le", "<="), "less_than": ("lt", "<")}


# --- channels --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Channel:
    """A deliverable notification target: an email address or an http(s) webhook URL."""

    kind: ChannelKind
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_channel(text: str, field: str = "notification_channel") -> Channel:
    """``email:ADDRESS`` or ``webhook:http(s)://…``; anything else is an InputError naming ``field``."""
    if not isinstance(text, str):
        raise InputError(field, f"{text!r} is not a channel", hint=DELIVERABLE)
    prefix, sep, value = text.strip().partition(":")
    kind, value = prefix.lower(), value.strip()
    if not sep:
        guess = "email:" if "@" in text else "webhook:" if "." in text else "email: or webhook:"
        raise InputError(field, f"{text!r} has no channel prefix", hint=f"write {guess}{text.strip()}; {DELIVERABLE}")
    if kind in ("http", "https"):
        raise InputError(field, f"{text!r} has no channel prefix", hint=f"write webhook:{text.strip()}")
    if kind in ("email", "webhook") and not value:
        raise InputError(field, f"{text!r} has an empty {kind} target", hint=DELIVERABLE)
    if kind == "email":
        return Channel("email", email_address(value, field, hint=f"write email:user@example.com; {DELIVERABLE}"))
    if kind == "webhook":
        return Channel("webhook", webhook_url(value, field))
    reason = ("sns topics need the AWS provider, which is not available in this release" if kind == "sns"
              else f"{kind or 'empty'!r} channels are not delivered by the local monitor")
    raise InputError(field, f"{text!r}: {reason}", hint=DELIVERABLE)


def email_address(value: str, field: str, hint: str = "write it as user@example.com") -> str:
    """``value`` when it is one bare RFC 5322 address (``user@domain``), else an InputError."""
    from email.errors import HeaderParseError
    from email.headerregistry import Address

    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError):
        address = None
    if address is None or not address.username or not address.domain:
        raise InputError(field, f"{value!r} is not an email address", hint=hint)
    return address.addr_spec


def webhook_url(value: str, field: str) -> str:
    """``value`` when it is an absolute http(s) URL with a host, else an InputError."""
    import httpx

    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise InputError(field, f"webhook URL is invalid ({exc})", hint="write webhook:https://host/path") from None
    if url.scheme not in ("http", "https"):
        raise InputError(field, f"webhook URL scheme {url.scheme or 'missing'!r} is not http or https",
                         hint="write webhook:https://host/path")
    if not url.host:
        raise InputError(field, "webhook URL has no host", hint="write webhook:https://host/path")
    return str(url)


# --- rules -----------------------------------------------------------------------------------

class AlertRule(BaseModel):
    """One alert rule. Bad arguments raise :class:`InputError` naming the field, in one line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    metric: str
    resource: str
    threshold: float = Field(allow_inf_nan=False)
    comparison: Comparison = ">"
    duration_seconds: float = Field(0.0, ge=0, allow_inf_nan=False)
    notification_channels: list[str] = Field(default_factory=list)
    repeat_interval_seconds: float = Field(DEFAULT_REPEAT_INTERVAL_S, gt=0, allow_inf_nan=False)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise input_error(exc) from None

    @classmethod
    def from_json(cls, text: str | bytes, source: str) -> AlertRule:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            error = input_error(exc)
            raise InputError(source, f"not a valid alert rule ({error})",
                             hint="fix or delete the file") from None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"{value!r} is not an alert name; use lowercase letters, digits and '-', "
                             "starting with a letter or digit, at most 63 characters")
        return value

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: str) -> str:
        if not RESOURCE_RE.match(value):
            raise ValueError(f"{value!r} is not a deployment name; use lowercase letters, digits and '-'")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        return definitions.metric(value, field="metric").name

    @field_validator("notification_channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        return [str(parse_channel(text, f"notification_channels[{i}]")) for i, text in enumerate(value)]

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @property
    def channels(self) -> list[Channel]:
        return [parse_channel(text) for text in self.notification_channels]

    def holds(self, value: float | None) -> bool:
        """Whether the condition holds for a measured ``value``; no data (None, NaN) never holds."""
        return value is not None and not math.isnan(value) and _COMPARE[self.comparison](value, self.threshold)


def input_error(exc: ValidationError) -> InputError:
    """pydantic's first error as one clear line, e.g. ``duration_seconds: -5 must be >= 0``."""
    from pepperpy.cloud.spec.loader import field_path

    errors = exc.errors()
    err = errors[0]
    field = field_path(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
    ctx = err.get("ctx") or {}
    if err["type"] in _BOUNDS:
        key, sign = _BOUNDS[err["type"]]
        problem = f"{_shown(err['input'])} must be {sign} {_shown(ctx[key])}"
    elif err["type"] == "missing":
        problem = "is required"
    elif err["type"] == "extra_forbidden":
        problem = "is not a field of an alert rule"
    elif err["type"] == "value_error":
        problem = str(ctx.get("error", err["msg"]))
    else:
        problem = f"{err['input']!r}: {err['msg'][:1].lower()}{err['msg'][1:]}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InputError(field, problem + more)


def _shown(value: Any) -> str:
    return _number(value) if isinstance(value, int | float) and math.isfinite(value) else repr(value)


def make_rule(**fields: Any) -> tuple[AlertRule, builtins.list[str]]:
    """A validated rule and the warnings to show about its delivery (see :func:`delivery_warnings`)."""
    rule = AlertRule(**fields)
    return rule, delivery_warnings(rule)


def delivery_warnings(rule: AlertRule, settings: SmtpSettings | None = None) -> list[str]:
    """What the caller should warn about: email that will go to the outbox for want of an SMTP host.

    Reads the SMTP settings when the rule has email channels, so a bad ``PEPPERPY_SMTP_*`` value
    or a missing ``${SECRET:…}`` fails here, at creation.
    """
    emails = [c.target for c in rule.channels if c.kind == "email"]
    if not emails:
        return []
    settings = settings or SmtpSettings.from_env()
    if settings.host:
        return []
    return [f"alert {rule.name!r}: no SMTP server is configured (PEPPERPY_SMTP_HOST), so email to "
            f"{', '.join(emails)} will be written as .eml files to {settings.outbox} instead of being sent"]


def prometheus_rule_file(rules: Iterable[AlertRule]) -> str:
    """A Prometheus alerting-rules file: one group per resource, rules sorted by name."""
    import yaml

    by_resource: dict[str, list[AlertRule]] = {}
    for rule in rules:
        by_resource.setdefault(rule.resource, []).append(rule)
    groups = [{"name": f"pepperpy-{resource}",
               "rules": [_prometheus_rule(r) for r in sorted(by_resource[resource], key=lambda r: r.name)]}
              for resource in sorted(by_resource)]
    header = "# Generated by pepperpy-cloud from its alert rules; edits are overwritten.\n"
    return header + yaml.safe_dump({"groups": groups}, sort_keys=False, width=10_000, allow_unicode=True)


def _prometheus_rule(rule: AlertRule) -> dict[str, Any]:
    query = definitions.promql(rule.metric, rule.resource, window=RULE_WINDOW)
    condition = f"{rule.comparison} {_number(rule.threshold)}"
    return {
        "alert": rule.name,  # as in the local monitor's notifications, so receivers route both alike
        "expr": f"({query}) {condition}",
        "for": _duration(rule.duration_seconds),
        "labels": {"severity": "warning", "deployment": rule.resource, "metric": rule.metric},
        "annotations": {
            "summary": f"{rule.metric} is {{{{ $value }}}} ({condition}) on {rule.resource}",
            "description": _template_text(rule.description or f"{rule.metric} {condition} for "
                                          f"{_duration(rule.duration_seconds)} on {rule.resource}"),
        },
    }


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds, or milliseconds when fractional."""
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{round(seconds * 1000)}ms"


def _template_text(text: str) -> str:
    """Annotations are Go templates: make a literal ``{{`` print as itself."""
    return text.replace("{{", '{{ "{{" }}')


# --- evaluation: the pure core ---------------------------------------------------------------

@dataclass(frozen=True)
class AlertState:
    """Where one rule stands. Times are Unix seconds; ``notified_at`` paces reminders."""

    name: str
    state: StateName = "inactive"
    pending_since: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    last_value: float | None = None
    last_eval: float | None = None
    notified_at: float | None = None


@dataclass(frozen=True)
class AlertEvent:
    """A notification to send: the rule, what happened, the value, and when the episode started."""

    kind: EventKind
    rule: AlertRule
    value: float | None
    at: float
    started_at: float | None
    ended_at: float | None = None

    def __str__(self) -> str:
        """One line for logs and the collector's output; no channel targets (a URL may hold a token)."""
        from pepperpy.cloud.monitor.notify import subject

        return subject(self)


def step(rule: AlertRule, state: AlertState, value: float | None, now: float) -> tuple[AlertState, AlertEvent | None]:
    """One evaluation with Prometheus semantics; returns the new state and the event to send, if any."""
    seen = replace(state, last_value=value, last_eval=now)
    if not rule.holds(value):
        if state.state != "firing":
            return replace(seen, state="inactive", pending_since=None), None
        ended = replace(seen, state="inactive", pending_since=None, resolved_at=now, notified_at=None)
        return ended, AlertEvent("resolved", rule, value, now, state.pending_since, ended_at=now)
    if state.state == "inactive":
        seen = replace(seen, state="pending", pending_since=now)
    since = seen.pending_since if seen.pending_since is not None else now
    if seen.state == "pending" and now - since >= rule.duration_seconds:
        fired = replace(seen, state="firing", fired_at=now, notified_at=now)
        return fired, AlertEvent("firing", rule, value, now, since)
    last = seen.notified_at if seen.notified_at is not None else now
    if seen.state == "firing" and now - last >= rule.repeat_interval_seconds:
        return replace(seen, notified_at=now), AlertEvent("reminder", rule, value, now, since)
    return seen, None


# --- storage and the driver ------------------------------------------------------------------

@dataclass(frozen=True)
class Notification:
    """One delivery of one event to one channel, as recorded (errors already redacted)."""

    id: int
    alert: str
    event: str
    channel: str
    status: str
    error: str | None
    at: float
    attempts: int


_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, pending_since REAL, fired_at REAL,
    resolved_at REAL, last_value REAL, last_eval REAL, notified_at REAL);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert TEXT NOT NULL, event TEXT NOT NULL,
    channel TEXT NOT NULL, status TEXT NOT NULL, error TEXT, at REAL NOT NULL, attempts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS notifications_by_alert ON notifications (alert, id);
"""
_STATE_COLUMNS = ("name", "state", "pending_since", "fired_at", "resolved_at", "last_value", "last_eval",
                  "notified_at")


class AlertStore:
    """Rules as files, states and delivery history in SQLite; see the module docstring for the layout."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or home_dir() / "monitor"
        self.rules_dir = self.root / "alerts"
        self.db_path = self.root / "alerts.db"
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS_S

    def __repr__(self) -> str:
        return f"AlertStore({str(self.root)!r})"

    # -- rules --

    def save(self, rule: AlertRule) -> builtins.list[str]:
        """Write the rule and its resource's Prometheus file, all or nothing; returns warnings to show."""
        warnings = delivery_warnings(rule)
        with self._locked():
            previous = self._find(rule.name)
            rules = {r.name: r for r in self._load_all()} | {rule.name: rule}
            changes: dict[Path, str | None] = {self._rule_path(rule.name): rule.model_dump_json(indent=2) + "\n"}
            for resource in {rule.resource} | ({previous.resource} if previous else set()):
                changes.update(self._rule_file_change(resource, rules.values()))
            _apply(changes)
        return warnings

    def list(self, resource: str | None = None) -> builtins.list[AlertRule]:
        return [r for r in self._load_all() if resource is None or r.resource == resource]

    def get(self, name: str) -> AlertRule:
        found = self._find(name)
        if found is None:
            known = [p.stem for p in sorted(self.rules_dir.glob("*.json"))]
            raise NotFoundError("alert", name, "alert", suggestions=_closest(name, known),
                                hint="list them with AlertStore().list()")
        return found

    def delete(self, name: str) -> None:
        """Remove the rule, rewrite (or remove) its resource's Prometheus file and forget its state."""
        with self._locked():
            rule = self.get(name)
            rules = [r for r in self._load_all() if r.name != name]
            changes: dict[Path, str | None] = {self._rule_path(name): None}
            changes.update(self._rule_file_change(rule.resource, rules))
            _apply(changes)
        if self.db_path.exists():
            with self._db() as db:
                db.execute("DELETE FROM alert_state WHERE name = ?", (name,))

    def prometheus_path(self, resource: str) -> Path:
        return self.rules_dir / f"{resource}.rules.yml"

    # -- state and history --

    def state(self, name: str) -> AlertState:
        if not self.db_path.exists():
            return AlertState(name)
        with self._db() as db:
            return self._states(db, [name])[name]

    def history(self, name: str, limit: int | None = None) -> builtins.list[Notification]:
        """Delivery attempts for ``name``, oldest first (the last ``limit`` ones when given)."""
        if not self.db_path.exists():
            return []
        with self._db() as db:
            rows = db.execute("SELECT id, alert, event, channel, status, error, at, attempts FROM notifications "
                              "WHERE alert = ? ORDER BY id DESC LIMIT ?", (name, -1 if limit is None else limit))
            return [Notification(*row) for row in reversed(rows.fetchall())]

    def evaluate(self, resource: str, value_of: Callable[[str], float | None],
                 now: float | None = None) -> builtins.list[AlertEvent]:
        """Step every rule of ``resource``, persist the states, deliver and record the events.

        Never raises: the collector loop calling this must keep running. A rule whose value
        cannot be read keeps its state; a failed delivery is retried, then recorded as failed.
        """
        now = time.time() if now is None else now
        try:
            events = self._advance(resource, value_of, now)
        except Exception as exc:
            log.error("alert evaluation of %s failed: %s", resource, self._redactor(None)(repr(exc)))
            return []
        self._notify_all(events, now)
        return events

    # -- internals --

    def _advance(self, resource: str, value_of: Callable[[str], float | None], now: float) -> builtins.list[AlertEvent]:
        rules = self._load_all(resource=resource, strict=False)
        if not rules:
            return []
        values = _read_values({r.metric for r in rules}, value_of)
        events: builtins.list[AlertEvent] = []
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            states = self._states(db, [r.name for r in rules])
            for rule in rules:
                if rule.metric not in values:
                    continue
                new, event = step(rule, states[rule.name], values[rule.metric], now)
                db.execute(f"INSERT OR REPLACE INTO alert_state VALUES ({', '.join('?' * len(_STATE_COLUMNS))})",
                           tuple(getattr(new, c) for c in _STATE_COLUMNS))
                if event is not None:
                    events.append(event)
            db.execute("COMMIT")
        return events

    def _notify_all(self, events: Iterable[AlertEvent], now: float) -> None:
        settings: SmtpSettings | Exception | None = None
        records: builtins.list[tuple[str, str, str, str, str | None, float, int]] = []
        for event in events:
            log.info("alert %s %s on %s (value %s)", event.rule.name, event.kind, event.rule.resource, event.value)
            for channel in event.rule.channels:
                if channel.kind == "email" and settings is None:
                    settings = _settings_or_error()
                status, error, attempts = self._deliver(channel, event, settings)
                records.append((event.rule.name, event.kind, str(channel), status, error, now, attempts))
        if not records:
            return
        redact = self._redactor(settings if isinstance(settings, SmtpSettings) else None)
        for record in records:
            if record[4]:
                log.warning("alert %s: %s delivery to %s failed after %d attempts: %s",
                            record[0], record[1], redact(record[2]), record[6], redact(record[4]))
        try:
            with self._db() as db:
                db.executemany("INSERT INTO notifications (alert, event, channel, status, error, at, attempts) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)",
                               [(a, e, redact(c), s, redact(err) if err else None, at, n)
                                for a, e, c, s, err, at, n in records])
        except sqlite3.Error as exc:
            log.error("could not record alert notifications: %s", redact(str(exc)))

    def _deliver(self, channel: Channel, event: AlertEvent,
                 settings: SmtpSettings | Exception | None) -> tuple[str, str | None, int]:
        """(status, error, attempts): retried after each of ``retry_delays`` unless the failure is permanent."""
        if isinstance(settings, Exception):
            if channel.kind == "email":
                return "failed", str(settings), 0  # bad PEPPERPY_SMTP_* settings: retrying cannot help
            settings = None
        error = ""
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                return deliver(channel, event, settings or SmtpSettings()), None, attempt
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if permanent(exc):
                    return "failed", error, attempt
            if delay is None:
                return "failed", error, attempt
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _redactor(self, settings: SmtpSettings | None) -> Callable[[str], str]:
        """Masks the SMTP password and every secret-store value in text bound for logs or the DB."""
        from pepperpy.cloud.deploy.secrets import Redactor, SecretStore

        own = Redactor(settings.secrets if settings else [])
        store = Redactor([])
        try:
            if (home_dir() / "secrets" / "store.json").exists():
                store = SecretStore().redactor()
            if settings is None:
                own = Redactor(SmtpSettings.from_env().secrets)
        except Exception as exc:  # a broken store or env must not stop masking what is known
            log.debug("secret store unavailable for redaction: %s", type(exc).__name__)
        return lambda text: own(store(text))

    def _rule_path(self, name: str) -> Path:
        return self.rules_dir / f"{name}.json"

    def _rule_file_change(self, resource: str, rules: Iterable[AlertRule]) -> dict[Path, str | None]:
        mine = [r for r in rules if r.resource == resource]
        return {self.prometheus_path(resource): prometheus_rule_file(mine) if mine else None}

    def _find(self, name: str) -> AlertRule | None:
        if not NAME_RE.match(name):
            return None
        path = self._rule_path(name)
        try:
            return AlertRule.from_json(path.read_bytes(), str(path))
        except FileNotFoundError:
            return None

    def _load_all(self, resource: str | None = None, *, strict: bool = True) -> builtins.list[AlertRule]:
        """Every stored rule; a broken file raises (``strict``) or is logged and skipped (evaluation)."""
        rules = []
        for path in sorted(self.rules_dir.glob("*.json")):
            try:
                rule = AlertRule.from_json(path.read_bytes(), str(path))
            except (InputError, OSError) as exc:
                if strict:
                    raise
                log.warning("skipping alert rule %s", exc)
                continue
            if resource is None or rule.resource == resource:
                rules.append(rule)
        return rules

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise rule-file read-modify-write across processes."""
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.rules_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for one call: WAL, a busy timeout, autocommit unless a BEGIN is issued; always closed."""
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @staticmethod
    def _states(db: sqlite3.Connection, names: builtins.list[str]) -> dict[str, AlertState]:
        marks = ", ".join("?" * len(names))
        rows = db.execute(f"SELECT {', '.join(_STATE_COLUMNS)} FROM alert_state WHERE name IN ({marks})", names)
        found = {row[0]: AlertState(*row) for row in rows.fetchall()}
        return {name: found.get(name, AlertState(name)) for name in names}


def evaluate(resource: str, value_of: Callable[[str], float | None], now: float | None = None) -> list[AlertEvent]:
    """Evaluate ``resource``'s rules in the default store (see :meth:`AlertStore.evaluate`)."""
    return AlertStore().evaluate(resource, value_of, now)


def _read_values(metrics: Iterable[str], value_of: Callable[[str], float | None]) -> dict[str, float | None]:
    """The latest value of each metric; a metric whose read fails is left out (its rules keep their state)."""
    values: dict[str, float | None] = {}
    for name in sorted(metrics):
        try:
            raw = value_of(name)
            values[name] = None if raw is None else float(raw)
        except Exception as exc:
            log.warning("could not read %s for alerting: %s", name, type(exc).__name__)
    return values


def _settings_or_error() -> SmtpSettings | Exception:
    try:
        return SmtpSettings.from_env()
    except Exception as exc:
        return exc


def _apply(changes: dict[Path, str | None]) -> None:
    """Write every new text to a temp file first, then rename all into place (``None`` removes)."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in changes.items():
            if text is not None:
                tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
                tmp.write_text(text, encoding="utf-8")
                staged.append((tmp, path))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
    for path, text in changes.items():
        if text is None:
            path.unlink(missing_ok=True)


def _closest(name: str, known: Iterable[str]) -> builtins.list[str]:
    from pepperpy.cloud.catalog.store import closest

    return closest(name, known)

