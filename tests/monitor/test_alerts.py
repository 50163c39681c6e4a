"""Alert rules: validation, the Prometheus state machine, the store, its rule file and the outbox."""

from __future__ import annotations

import email
import email.policy
import logging
import math
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.monitor.alerts import (
    AlertRule,
    AlertState,
    AlertStore,
    delivery_warnings,
    make_rule,
    parse_channel,
    prometheus_rule_file,
    step,
)

RESOURCE = "pepperpy-rag-service"
BASE: dict[str, Any] = {
    "name": "high-cpu-alert", "description": "CPU above 80% for 5 minutes", "metric": "cpu_usage",
    "resource": RESOURCE, "threshold": 80, "duration_seconds": 300,
}
T0 = 1_750_000_000.0


@pytest.fixture(autouse=True)
def _no_smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own mail settings must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("PEPPERPY_SMTP_"):
            monkeypatch.delenv(name)


def rule(**changes: Any) -> AlertRule:
    return AlertRule(**{**BASE, **changes})


def run(r: AlertRule, points: list[tuple[float, float | None]],
        state: AlertState | None = None) -> tuple[AlertState, list[tuple[float, str]]]:
    """Step ``r`` through (time, value) points; the (time, kind) of every event."""
    state = state or AlertState(r.name)
    events = []
    for now, value in points:
        state, event = step(r, state, value, now)
        if event is not None:
            events.append((now, event.kind))
    return state, events


# --- the state machine -------------------------------------------------------------------------

def test_pending_then_fires_only_after_the_duration_held() -> None:
    r = rule()
    state, events = run(r, [(T0, 90), (T0 + 60, 91)])
    assert (state.state, state.pending_since, events) == ("pending", T0, [])
    state, events = run(r, [(T0 + 299, 95)], state)
    assert (state.state, events) == ("pending", [])
    state, event = step(r, state, 93.2, T0 + 300)
    assert state.state == "firing" and state.fired_at == T0 + 300
    assert event is not None and (event.kind, event.value, event.started_at, event.ended_at) == (
        "firing", 93.2, T0, None)


def test_pending_resets_when_the_condition_breaks_before_the_duration() -> None:
    state, events = run(rule(), [(T0, 90), (T0 + 200, 79.9)])
    assert (state.state, state.pending_since, events) == ("inactive", None, [])
    state, events = run(rule(), [(T0 + 260, 90), (T0 + 500, 90)], state)
    assert (state.state, state.pending_since, events) == ("pending", T0 + 260, [])
    _, events = run(rule(), [(T0 + 560, 90)], state)
    assert events == [(T0 + 560, "firing")]


def test_one_firing_event_while_it_stays_firing_then_resolved() -> None:
    points: list[tuple[float, float | None]] = [(T0 + 60 * i, 95) for i in range(20)]
    state, events = run(rule(), [*points, (T0 + 1200, 50)])
    assert events == [(T0 + 300, "firing"), (T0 + 1200, "resolved")]
    assert (state.state, state.resolved_at, state.pending_since) == ("inactive", T0 + 1200, None)


def test_resolved_event_carries_the_episode_times() -> None:
    state, _ = run(rule(duration_seconds=0), [(T0, 95)])
    _, event = step(rule(duration_seconds=0), state, 10, T0 + 30)
    assert event is not None and (event.kind, event.started_at, event.ended_at, event.value) == (
        "resolved", T0, T0 + 30, 10)


def test_zero_duration_fires_at_once() -> None:
    _, events = run(rule(duration_seconds=0), [(T0, 81)])
    assert events == [(T0, "firing")]


@pytest.mark.parametrize("missing", [None, math.nan])
def test_no_data_resolves_a_firing_alert_and_resets_a_pending_one(missing: float | None) -> None:
    state, events = run(rule(duration_seconds=0), [(T0, 95), (T0 + 15, missing)])
    assert events == [(T0, "firing"), (T0 + 15, "resolved")]
    state, events = run(rule(), [(T0, 95), (T0 + 15, missing)])
    assert (state.state, events) == ("inactive", [])


def test_reminder_after_the_repeat_interval() -> None:
    r = rule(duration_seconds=0, repeat_interval_seconds=3600)
    _, events = run(r, [(T0, 95), (T0 + 3599, 95), (T0 + 3600, 95), (T0 + 3700, 95), (T0 + 7200, 95)])
    assert events == [(T0, "firing"), (T0 + 3600, "reminder"), (T0 + 7200, "reminder")]


def test_default_repeat_interval_is_four_hours() -> None:
    assert rule().repeat_interval_seconds == 4 * 3600


@pytest.mark.parametrize(("comparison", "value", "fires"), [
    (">", 80, False), (">", 80.1, True), (">=", 80, True), ("<", 79, True), ("<", 80, False), ("<=", 80, True),
])
def test_comparisons(comparison: str, value: float, fires: bool) -> None:
    _, events = run(rule(comparison=comparison, duration_seconds=0), [(T0, value)])
    assert bool(events) is fires


# --- validation -----------------------------------------------------------------------------

def test_negative_duration_is_one_clear_line(home: Path) -> None:
    with pytest.raises(InputError) as info:
        AlertStore().save(rule(duration_seconds=-5))
    assert info.value.field == "duration_seconds"
    assert str(info.value) == "duration_seconds: -5 must be >= 0"
    assert not (home / "monitor").exists()


def test_unknown_metric_names_the_field_and_the_closest(home: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        rule(metric="cpu")
    assert info.value.field == "metric" and "cpu_usage" in str(info.value)
    assert not (home / "monitor").exists()


@pytest.mark.parametrize(("channel", "says"), [
    ("sns:arn:aws:sns:us-east-1:123456789012:alerts", "AWS provider"),
    ("webhook:ftp://x", "'ftp' is not http or https"),
    ("email:not-an-address", "not an email address"),
    ("pagerduty:x", "not delivered by the local monitor"),
    ("slack:https://hooks.slack.com/services/T/B/X", "not delivered by the local monitor"),
    ("ops@example.com", "no channel prefix"),
    ("email:", "empty email target"),
    ("webhook:https://", "no host"),
])
def test_undeliverable_channels_fail_at_creation(home: Path, channel: str, says: str) -> None:
    with pytest.raises(InputError) as info:
        AlertStore().save(rule(notification_channels=["email:ops@example.com", channel]))
    assert info.value.field == "notification_channels[1]"
    assert says in str(info.value)
    assert "email:ADDRESS" in str(info.value) or "webhook:" in str(info.value)
    assert not (home / "monitor").exists()


def test_channels_are_normalised() -> None:
    assert parse_channel("Email: ops@example.com").target == "ops@example.com"
    channel = parse_channel("webhook:https://hooks.example.com/alerts?x=1", "c")
    assert (channel.kind, str(channel)) == ("webhook", "webhook:https://hooks.example.com/alerts?x=1")


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": "High CPU"}, "name"),
    ({"resource": "../etc"}, "resource"),
    ({"threshold": "lots"}, "threshold"),
    ({"threshold": math.inf}, "threshold"),
    ({"comparison": "=="}, "comparison"),
    ({"repeat_interval_seconds": 0}, "repeat_interval_seconds"),
    ({"severity": "page"}, "severity"),
])
def test_bad_fields_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        rule(**changes)
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_bad_smtp_settings_fail_at_save_and_write_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEPPERPY_SMTP_PORT", "smtp")
    with pytest.raises(InputError) as info:
        AlertStore().save(rule(notification_channels=["email:ops@example.com"]))
    assert info.value.field == "PEPPERPY_SMTP_PORT"
    assert not (home / "monitor").exists()


# --- the store ------------------------------------------------------------------------------

def test_save_writes_the_rule_and_the_prometheus_file(home: Path) -> None:
    store = AlertStore()
    saved = rule(notification_channels=["webhook:https://hooks.example.com/a"])
    assert store.save(saved) == []
    folder = home / "monitor" / "alerts"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "high-cpu-alert.json", f"{RESOURCE}.rules.yml"]
    assert store.get("high-cpu-alert") == saved
    assert store.list() == [saved] and store.list(RESOURCE) == [saved] and store.list("other") == []
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*.tmp"))


def test_email_without_smtp_host_warns_about_the_outbox(home: Path) -> None:
    warnings = AlertStore().save(rule(notification_channels=["email:ops@example.com"]))
    assert len(warnings) == 1
    assert "PEPPERPY_SMTP_HOST" in warnings[0] and str(home / "monitor" / "outbox") in warnings[0]


def test_prometheus_file_holds_every_rule_of_the_resource(home: Path) -> None:
    store = AlertStore()
    store.save(rule())
    store.save(rule(name="slow", metric="response_time_p95", threshold=0.5, comparison=">=", duration_seconds=90.5))
    store.save(rule(name="elsewhere", resource="other-app"))
    doc = yaml.safe_load(store.prometheus_path(RESOURCE).read_text())
    [group] = doc["groups"]
    assert group["name"] == f"pepperpy-{RESOURCE}"
    high, slow = group["rules"]
    assert high == {
        "alert": "high-cpu-alert",
        "expr": f'(avg(pepperpy_replica_cpu_percent{{deployment="{RESOURCE}"}})) > 80',
        "for": "300s",
        "labels": {"severity": "warning", "deployment": RESOURCE, "metric": "cpu_usage"},
        "annotations": {"summary": f"cpu_usage is {{{{ $value }}}} (> 80) on {RESOURCE}",
                        "description": "CPU above 80% for 5 minutes"},
    }
    assert slow["alert"] == "slow" and slow["for"] == "90500ms" and slow["expr"].endswith(") >= 0.5")
    assert [r["alert"] for r in yaml.safe_load(store.prometheus_path("other-app").read_text())["groups"][0]["rules"]] \
        == ["elsewhere"]


def test_moving_a_rule_to_another_resource_rewrites_both_files() -> None:
    store = AlertStore()
    store.save(rule())
    store.save(rule(resource="other-app"))
    assert not store.prometheus_path(RESOURCE).exists()
    assert "high-cpu-alert" in store.prometheus_path("other-app").read_text()


def test_delete_removes_the_rule_its_state_and_rewrites_the_file(home: Path) -> None:
    store = AlertStore()
    store.save(rule(duration_seconds=0))
    store.save(rule(name="second"))
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    assert store.state("high-cpu-alert").state == "firing"
    store.delete("high-cpu-alert")
    assert store.state("high-cpu-alert") == AlertState("high-cpu-alert")
    assert [r.name for r in store.list()] == ["second"]
    assert "high-cpu-alert" not in store.prometheus_path(RESOURCE).read_text()
    store.delete("second")
    assert not store.prometheus_path(RESOURCE).exists()
    with pytest.raises(NotFoundError) as info:
        store.get("second")
    assert info.value.field == "alert"


def test_get_refuses_path_like_names() -> None:
    with pytest.raises(NotFoundError):
        AlertStore().get("../../etc/passwd")


def test_state_tables_match_the_documented_schema(home: Path) -> None:
    store = AlertStore()
    store.save(rule(duration_seconds=0))
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    db = sqlite3.connect(home / "monitor" / "alerts.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        state_columns = [row[1] for row in db.execute("PRAGMA table_info(alert_state)")]
        note_columns = [row[1] for row in db.execute("PRAGMA table_info(notifications)")]
    finally:
        db.close()
    assert state_columns[:7] == ["name", "state", "pending_since", "fired_at", "resolved_at", "last_value", "last_eval"]
    assert note_columns[:7] == ["id", "alert", "event", "channel", "status", "error", "at"]


# --- Prometheus ----------------------------------------------------------------------------

def test_rule_file_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is not on PATH; CI must install the Debian 'prometheus' package")
        pytest.skip("promtool is not on PATH; install the Debian 'prometheus' package to run this check")
    from pepperpy.cloud.monitor.definitions import METRICS

    comparisons = [">", ">=", "<", "<="]
    rules = [rule(name=f"r{i}-{metric.replace('_', '-')}", metric=metric, comparison=comparisons[i % 4],
                  threshold=[80, 0.25, 1e20, -3][i % 4], duration_seconds=[0, 300, 1.5, 3600][i % 4],
                  description='a {{ literal }} "quoted" description: with colons')
             for i, metric in enumerate(METRICS)]
    path = tmp_path / "pepperpy.rules.yml"
    path.write_text(prometheus_rule_file([*rules, rule(resource="second-app")]))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules) + 1} rules found" in result.stdout


# --- evaluate() with the local outbox --------------------------------------------------------

def outbox(home: Path) -> list[email.message.EmailMessage]:
    folder = home / "monitor" / "outbox"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]  # type: ignore[misc]


def test_evaluate_writes_email_to_the_outbox_without_smtp_host(home: Path) -> None:
    store = AlertStore()
    store.save(rule(notification_channels=["email:ops@example.com"]))
    assert store.evaluate(RESOURCE, lambda metric: 93.2, now=T0) == []
    [event] = store.evaluate(RESOURCE, lambda metric: 93.2, now=T0 + 300)
    assert event.kind == "firing"
    assert store.evaluate(RESOURCE, lambda metric: 95.0, now=T0 + 360) == []
    [message] = outbox(home)
    assert message["Subject"] == f"[FIRING] high-cpu-alert: cpu_usage 93.2 > 80 on {RESOURCE}"
    assert message["To"] == "ops@example.com" and message["From"] == "pepperpy-cloud@localhost"
    body = message.get_content()
    for text in ("CPU above 80% for 5 minutes", "93.2", "> 80", "300s", RESOURCE, "2025-06-15T15:06:40Z"):
        assert text in body
    [note] = store.history("high-cpu-alert")
    assert (note.event, note.channel, note.status, note.error) == ("firing", "email:ops@example.com", "outbox", None)

    [resolved] = store.evaluate(RESOURCE, lambda metric: None, now=T0 + 420)
    assert resolved.kind == "resolved"
    assert outbox(home)[-1]["Subject"] == f"[RESOLVED] high-cpu-alert: cpu_usage no data, no longer > 80, on {RESOURCE}"
    assert [n.event for n in store.history("high-cpu-alert")] == ["firing", "resolved"]


def test_evaluate_keeps_the_state_when_a_value_cannot_be_read(caplog: pytest.LogCaptureFixture) -> None:
    store = AlertStore()
    store.save(rule())
    store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)

    def broken(metric: str) -> float:
        raise ConnectionError("collector down")

    with caplog.at_level(logging.WARNING):
        assert store.evaluate(RESOURCE, broken, now=T0 + 60) == []
    assert store.state("high-cpu-alert").state == "pending"
    assert store.state("high-cpu-alert").pending_since == T0
    assert "cpu_usage" in caplog.text


def test_evaluate_skips_a_broken_rule_file_and_evaluates_the_rest(home: Path) -> None:
    store = AlertStore()
    store.save(rule(duration_seconds=0))
    (home / "monitor" / "alerts" / "broken.json").write_text("{not json")
    [event] = store.evaluate(RESOURCE, lambda metric: 95.0, now=T0)
    assert event.rule.name == "high-cpu-alert"
    with pytest.raises(InputError):
        store.list()


def test_evaluate_without_rules_creates_nothing(home: Path) -> None:
    assert AlertStore().evaluate(RESOURCE, lambda metric: 1.0) == []
    assert AlertStore().history("anything") == []
    assert not (home / "monitor").exists()


def test_delivery_warnings_need_email_channels() -> None:
    assert delivery_warnings(rule(notification_channels=["webhook:http://127.0.0.1:9/x"])) == []


def test_make_rule_returns_the_rule_and_its_warnings() -> None:
    made, notes = make_rule(**BASE, notification_channels=["email:ops@example.com"])
    assert made == rule(notification_channels=["email:ops@example.com"], created_at=made.created_at)
    assert len(notes) == 1 and "outbox" in notes[0]


def test_an_event_prints_as_its_subject() -> None:
    _, event = step(rule(duration_seconds=0), AlertState("high-cpu-alert"), 93.2, T0)
    assert str(event) == f"[FIRING] high-cpu-alert: cpu_usage 93.2 > 80 on {RESOURCE}"
