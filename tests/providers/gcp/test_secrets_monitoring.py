"""GCPProvider.secret_store() on Secret Manager and monitoring() on Cloud Monitoring, against the fake Google APIs.

Seed 000's ``create_alert`` call (its "Exemplo Completo", on a GCP provider) runs as written.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from pepperpy.cloud import CloudMonitor, GCPProvider
from pepperpy.cloud.errors import InputError, NotFoundError, NotSupportedError
from tests.providers.gcp.fake_gcp import FakeGcpServer

pytestmark = pytest.mark.usefixtures("no_gcp_env")

P = "/v1/projects/pepperpy-emulator"
SECRETS = f"{P}/secrets"
POLICIES = "/v3/projects/pepperpy-emulator/alertPolicies"
CHANNELS = "/v3/projects/pepperpy-emulator/notificationChannels"
OURS = {"managed-by": "pepperpy-cloud", "pepperpy-role": "secret-store"}

# Seed 000, "Exemplo Completo", step 5 (the monitor is made from a GCP provider here).
SEED_ALERT = '''
monitor.create_alert(
    name="high-cpu-alert",
    description="Alert when CPU usage is high",
    metric="cpu_usage",
    resource=deployment.name,
    threshold=80,
    duration_seconds=300,
    notification_channels=["email:admin@example.com"]
)
'''


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcpServer]:
    server = FakeGcpServer()
    monkeypatch.setenv("PEPPERPY_GCP_API_ENDPOINT", server.url)
    yield server
    server.close()


def provider() -> GCPProvider:
    return GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")


# --------------------------------------------------------------------------- secret store


def test_secret_store_sets_gets_lists_and_deletes_only_its_own(fake: FakeGcpServer) -> None:
    fake.api.store[f"{SECRETS}/theirs"] = {"name": "projects/pepperpy-emulator/secrets/theirs",
                                           "labels": {"team": "x", "pepperpy-role": "secret-store"}}
    fake.api.versions[f"{SECRETS}/theirs"] = [base64.b64encode(b"their-value").decode()]
    fake.api.store[f"{SECRETS}/stack-thing"] = {"name": "projects/pepperpy-emulator/secrets/stack-thing",
                                                "labels": {"managed-by": "pepperpy-cloud", "stack": "s"}}
    store = provider().secret_store()
    assert provider().capabilities()["secrets"].supported
    store.set("openai-api-key", "sk-test-123")
    store.set("openai-api-key", "sk-test-456")  # a second version, no second secret
    assert fake.api.log()[:5] == [
        ("GET", f"{SECRETS}/openai-api-key"), ("POST", SECRETS), ("POST", f"{SECRETS}/openai-api-key:addVersion"),
        ("GET", f"{SECRETS}/openai-api-key"), ("POST", f"{SECRETS}/openai-api-key:addVersion")]
    create = next(c for c in fake.api.calls if c.method == "POST" and c.path == SECRETS)
    assert create.query == {"secretId": "openai-api-key"}
    assert create.body == {"replication": {"automatic": {}}, "labels": OURS}
    assert store.get("openai-api-key") == "sk-test-456" and store.get("theirs") == "their-value"
    assert "openai-api-key" in store and "nope" not in store
    assert store.names() == ["openai-api-key"]  # neither the stranger's nor a stack's secret
    assert store.resolve({"K": "${SECRET:openai-api-key}", "L": "x"}) == {"K": "sk-test-456", "L": "x"}
    assert store.redactor().redact("key=sk-test-456") == "key=***"
    for call in fake.api.calls:  # values only in version adds
        if not call.path.endswith(":addVersion"):
            assert "sk-test" not in str(call.body)
            assert base64.b64encode(b"sk-test-456").decode() not in str(call.body)
    assert "sk-test" not in repr(store)
    with pytest.raises(InputError, match="was not set by pepperpy-cloud"):
        store.delete("theirs")
    with pytest.raises(InputError, match="exists and was not set by pepperpy-cloud"):
        store.set("theirs", "v")
    with pytest.raises(NotFoundError):
        store.get("openai-api-kye")
    with pytest.raises(InputError, match="not a Secret Manager id"):
        store.set("a.b", "v")
    store.delete("openai-api-key")
    assert f"{SECRETS}/openai-api-key" not in fake.api.store and store.names() == []
    assert sorted(fake.api.store) == [f"{SECRETS}/stack-thing", f"{SECRETS}/theirs"]


# --------------------------------------------------------------------------- monitoring


def seed_alert(monitor: CloudMonitor) -> Any:
    class Deployment:
        name = "pepperpy-rag-app"

    ns: dict[str, Any] = {"monitor": monitor, "deployment": Deployment()}
    exec(SEED_ALERT, ns)
    return ns


def test_seed_create_alert_makes_a_policy_and_an_email_channel(fake: FakeGcpServer) -> None:
    gcp = provider()
    assert gcp.capabilities()["monitor"].supported
    monitor = CloudMonitor(provider=gcp)
    seed_alert(monitor)
    assert fake.api.log(queries=True) == [
        ("GET", CHANNELS, ""), ("GET", POLICIES, 'filter=display_name="high-cpu-alert"'),
        ("POST", CHANNELS, ""), ("POST", POLICIES, "")]
    channel = fake.api.calls[2].body
    assert channel == {"type": "email", "displayName": "high-cpu-alert: admin@example.com",
                       "labels": {"email_address": "admin@example.com"}, "enabled": True,
                       "userLabels": {"managed-by": "pepperpy-cloud", "pepperpy-alert": "high-cpu-alert"}}
    [channel_name] = [k[len("/v3/"):] for k in fake.api.store if k.startswith(CHANNELS)]
    policy = fake.api.calls[3].body
    assert policy == {
        "displayName": "high-cpu-alert", "combiner": "OR", "enabled": True, "severity": "WARNING",
        "documentation": {"content": "Alert when CPU usage is high", "mimeType": "text/markdown"},
        "userLabels": {"managed-by": "pepperpy-cloud", "pepperpy-alert": "high-cpu-alert",
                       "deployment": "pepperpy-rag-app", "service": "app", "metric": "cpu_usage"},
        "conditions": [{"displayName": "cpu_usage > 80 on pepperpy-rag-app", "conditionThreshold": {
            "filter": 'metric.type="run.googleapis.com/container/cpu/utilizations" AND '
                      'resource.type="cloud_run_revision" AND resource.label."service_name"="pepperpy-rag-app-app"',
            "aggregations": [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_MEAN",
                              "crossSeriesReducer": "REDUCE_MEAN",
                              "groupByFields": ['resource.label."service_name"']}],
            "comparison": "COMPARISON_GT", "thresholdValue": 0.8, "duration": "300s", "trigger": {"count": 1}}}],
        "notificationChannels": [channel_name]}

    start = len(fake.api.calls)
    seed_alert(monitor)  # again: the policy is updated in place, the channel reused
    assert [(c.method, c.path.rsplit("/", 1)[0]) for c in fake.api.calls[start:] if c.method != "GET"] == [
        ("PATCH", POLICIES)]
    [alert] = monitor.list_alerts("pepperpy-rag-app")
    assert (alert.name, alert.metric, alert.threshold, alert.comparison, alert.duration_seconds) == (
        "high-cpu-alert", "cpu_usage", 80.0, ">", 300.0)
    assert monitor.list_alerts("other") == []

    monitor.create_alert("slow", "", "response_time_p95", "shop", 0.5, 61,
                         ["webhook:https://hooks.example.com/x"])
    slow = next(c for c in fake.api.calls if c.method == "POST" and c.path == POLICIES and
                c.body["displayName"] == "slow").body
    condition = slow["conditions"][0]["conditionThreshold"]
    assert condition["thresholdValue"] == 500.0 and condition["duration"] == "120s"
    assert 'resource.label."service_name"="shop-app"' in condition["filter"]
    assert fake.api.calls[-2].body["type"] == "webhook_tokenauth"
    assert fake.api.calls[-2].body["labels"] == {"url": "https://hooks.example.com/x"}

    monitor.delete_alert("high-cpu-alert")
    monitor.delete_alert("slow")
    assert fake.api.resources() == []
    with pytest.raises(NotFoundError):
        monitor.delete_alert("slow")


def test_error_rate_is_a_ratio_condition(fake: FakeGcpServer) -> None:
    CloudMonitor(provider=provider()).create_alert("errors", "", "error_rate", "shop", 5, 120)
    condition = fake.api.calls[-1].body["conditions"][0]["conditionThreshold"]
    assert condition["thresholdValue"] == 0.05
    assert condition["filter"].endswith('metric.label."response_code_class"="5xx"')
    assert "response_code_class" not in condition["denominatorFilter"]
    assert condition["denominatorAggregations"] == condition["aggregations"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metric": "memory_usage"}, "'memory_usage' is not measured on GCP: Cloud Run reports memory only as a share"),
    ({"metric": "in_flight"}, "no in-flight request metric"),
    ({"notification_channels": ["sns:arn:aws:sns:us-east-1:123456789012:t"]}, "not delivered by Cloud Monitoring"),
    ({"notification_channels": ["email:not-an-address"]}, "notification_channels"),
    ({"duration_seconds": 100_000}, "longer than Cloud Monitoring evaluates"),
    ({"name": "Bad Name"}, "not an alert name"),
])
def test_alerts_are_validated_before_any_call(fake: FakeGcpServer, kwargs: dict[str, Any], message: str) -> None:
    args = {"name": "a", "description": "", "metric": "cpu_usage", "resource": "shop", "threshold": 1.0,
            "duration_seconds": 60, "notification_channels": []} | kwargs
    with pytest.raises(InputError, match=message):
        CloudMonitor(provider=provider()).create_alert(**args)
    assert fake.api.calls == []


def test_metrics_and_dashboards_say_why_they_are_not_offered(fake: FakeGcpServer) -> None:
    monitor = CloudMonitor(provider=provider())
    with pytest.raises(NotSupportedError, match="get_metrics is not offered yet"):
        monitor.get_metrics("shop", ["cpu_usage"])
    with pytest.raises(NotSupportedError, match="create_dashboard is not offered yet"):
        monitor.create_dashboard("d", [{"type": "metric", "title": "CPU", "metric": "cpu_usage", "resource": "shop"}])
    assert fake.api.calls == []
