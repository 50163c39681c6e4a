"""deploy_stack's managed parts on Azure against the fake ARM: PostgreSQL flexible server, Azure Cache for Redis,
blob containers, the stack's managed identity and its role assignments; the Key Vault secret store; Azure Monitor
metric alerts through seed 000's ``CloudMonitor.create_alert``."""

from __future__ import annotations

import json
import logging

import pytest

from pepperpy.cloud import AzureProvider, CloudMonitor
from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError, NotFoundError, NotSupportedError
from pepperpy.cloud.spec.stack import Stack
from tests.providers.azure.fake_arm import FakeArm
from tests.providers.azure.test_provider_arm import (
    APP_GROUP,
    APP_PATH,
    KEY_VAULT_SECRETS_USER,
    SUB,
    role_path,
    seed_provider,
)

GROUP = f"/subscriptions/{SUB}/resourceGroups/rag-rg"
P = f"{GROUP}/providers"
VAULT = f"{P}/Microsoft.KeyVault/vaults/ragkva3e690"
IDENTITY = f"{P}/Microsoft.ManagedIdentity/userAssignedIdentities/rag-id"
ACCOUNT = f"{P}/Microsoft.Storage/storageAccounts/raga3e690"
SERVER = f"{P}/Microsoft.DBforPostgreSQL/flexibleServers/rag-db"
CACHE = f"{P}/Microsoft.Cache/redis/rag-cache-a3e690"
ENV = f"{P}/Microsoft.App/managedEnvironments/rag-env"
APP = f"{P}/Microsoft.App/containerApps/rag-api"
ADMIN = "/secrets/rag-db-admin"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def rag_stack(**extra: object) -> Stack:
    return Stack.model_validate({
        "name": "rag", "provider": "azure",
        "services": {"api": {"image": "ghcr.io/acme/api:1", "env": {"LOG_LEVEL": "INFO"}}},
        "components": {"db": {"kind": "postgres", "version": "16", "extensions": ["pgvector"]},
                       "cache": {"kind": "redis"}},
        "buckets": {"docs": {}}, **extra})


def test_stack_components_buckets_identity_and_roles_are_made_converged_and_destroyed(
        fake: FakeArm, tmp_path, home, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = seed_provider()
    [result] = provider.deploy_stack(rag_stack(), stack_dir=tmp_path)
    principal = fake.store[IDENTITY]["properties"]["principalId"]
    client_id = fake.store[IDENTITY]["properties"]["clientId"]
    kv_role = role_path(VAULT, KEY_VAULT_SECRETS_USER, principal)
    blob_role = role_path(ACCOUNT, BLOB_CONTRIBUTOR, principal)
    assert fake.writes() == [
        ("PUT", GROUP), ("PUT", VAULT), ("PUT", IDENTITY), ("PUT", kv_role),
        ("PUT", ACCOUNT), ("PUT", f"{ACCOUNT}/blobServices/default"),
        ("PUT", f"{ACCOUNT}/blobServices/default/containers/docs"), ("PUT", blob_role),
        ("PUT", ADMIN), ("PUT", SERVER), ("GET", "/operations/1"), ("GET", "/operations/1"),
        ("PUT", f"{SERVER}/configurations/azure.extensions"), ("PUT", f"{SERVER}/configurations/log_checkpoints"),
        ("PUT", f"{SERVER}/databases/app"),
        ("PUT", f"{SERVER}/firewallRules/AllowAllAzureServicesAndResourcesWithinAzureIps"),
        ("PUT", CACHE), ("PUT", f"{CACHE}/accessPolicyAssignments/pepperpy-apps"),
        ("PUT", ENV), ("PUT", APP), ("GET", "/operations/2"), ("GET", "/operations/2"),
    ]
    assert result.url == "https://rag-api.happy-sky-1234.eastus.azurecontainerapps.io"
    assert fake.store[blob_role]["properties"]["roleDefinitionId"].endswith(f"/roleDefinitions/{BLOB_CONTRIBUTOR}")
    assert fake.store[f"{CACHE}/accessPolicyAssignments/pepperpy-apps"]["properties"] == {
        "accessPolicyName": "Data Contributor", "objectId": principal, "objectIdAlias": "pepperpy-apps",
        "provisioningState": "Succeeded"}
    cache = fake.store[CACHE]["properties"]
    assert cache["disableAccessKeyAuthentication"] is True and cache["enableNonSslPort"] is False

    app = fake.store[APP]
    env = {e["name"]: e.get("value", e.get("secretRef")) for e in app["properties"]["template"]["containers"][0]["env"]}
    assert env == {
        "LOG_LEVEL": "INFO", "AZURE_CLIENT_ID": client_id,
        "AZURE_STORAGE_ACCOUNT_URL": "https://raga3e690.blob.core.windows.net", "DOCS_BUCKET": "docs",
        "DB_HOST": "rag-db.postgres.database.azure.com", "DB_PORT": "5432", "DB_USER": "pepperpy", "DB_DB": "app",
        "DB_SSLMODE": "require", "DB_PASSWORD": "rag-db-admin",  # a secretRef: the Key Vault reference below
        "CACHE_HOST": "rag-cache-a3e690.redis.cache.windows.net", "CACHE_PORT": "6380", "CACHE_TLS": "true",
        "CACHE_USERNAME": principal}
    assert app["properties"]["configuration"]["secrets"] == [
        {"name": "rag-db-admin", "keyVaultUrl": "https://ragkva3e690.vault.azure.net/secrets/rag-db-admin",
         "identity": IDENTITY}]
    assert app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}

    # The password is sent only in its secret PUT and the server's create (ARM needs it there); never elsewhere.
    password = fake.store[ADMIN]["value"]
    carrying = [(m, p) for m, p, b in fake.bodies if password in json.dumps(b)]
    assert carrying == [("PUT", ADMIN), ("PUT", SERVER)]
    state = StateStore.open()
    record = state.get_deployment("rag")
    assert record is not None and password not in json.dumps(record.spec)
    assert password not in repr(list(state.events("rag"))) and password not in caplog.text
    assert password.encode() not in b"".join(f.read_bytes() for f in home.rglob("*") if f.is_file())

    fake.log.clear()
    fake.bodies.clear()
    before = json.dumps(fake.store, sort_keys=True)
    provider.deploy_stack(rag_stack(), stack_dir=tmp_path)  # converges: nothing new, no secret or role written
    assert json.dumps(fake.store, sort_keys=True) == before
    puts = [p for m, p in fake.writes() if m == "PUT"]
    assert ADMIN not in puts and kv_role not in puts and blob_role not in puts
    assert not [p for m, p, b in fake.bodies if password in json.dumps(b) and p != SERVER]

    fake.log.clear()
    gone = provider.destroy_stack("rag")
    deletes = [p for m, p in fake.writes() if m == "DELETE"]
    assert deletes == [APP, ENV, CACHE, SERVER, blob_role, ACCOUNT, kv_role, IDENTITY, VAULT, GROUP]
    assert gone[-1] == "resource group:rag-rg" and fake.store == {}


def test_a_failed_component_undoes_the_run_including_role_assignments(fake: FakeArm, tmp_path) -> None:
    fake.fail("PUT", "/redis/rag-cache-a3e690", 409, "QuotaExceeded")
    with pytest.raises(DeployError, match=r"Azure create Azure Cache for Redis 'rag-cache-a3e690': refused by a "
                                          r"quota"):
        seed_provider().deploy_stack(rag_stack(), stack_dir=tmp_path)
    deletes = [p for m, p in fake.writes() if m == "DELETE"]
    assert any("/roleAssignments/" in p for p in deletes) and deletes[-1] == GROUP
    assert fake.store == {}


@pytest.mark.parametrize(("component", "why"), [
    ({"kind": "mysql"}, r"components.x: managed mysql is not made on Azure yet"),
    ({"kind": "rabbitmq"}, r"components.x: managed rabbitmq is not made on Azure yet"),
    ({"kind": "redis", "managed": False}, r"components.x: a self-hosted redis"),
])
def test_components_azure_does_not_make_are_refused_before_any_call(fake: FakeArm, tmp_path, component: dict,
                                                                    why: str) -> None:
    stack = rag_stack(components={"x": component})
    with pytest.raises(NotSupportedError, match=why):
        seed_provider().deploy_stack(stack, stack_dir=tmp_path)
    assert fake.log == []


# ----------------------------------------------------------------------------- secret store


def test_key_vault_secret_store_sets_reads_lists_and_deletes_only_its_own(fake: FakeArm) -> None:
    provider = seed_provider()
    store = provider.secret_store()
    assert store.names() == [] and "openai-api-key" not in store
    store.set("openai-api-key", "sk-very-secret")
    store.set("db_url", "postgresql://u:p4ss@h/db")
    vault = f"/subscriptions/{SUB}/resourceGroups/pepperpy-00000000-rg"
    assert [w for w in fake.writes() if not w[1].startswith("/secrets/")] == [
        ("PUT", vault), ("PUT", f"{vault}/providers/Microsoft.KeyVault/vaults/pepperpy000000kv0eab80"),
        ("PUT", vault), ("PUT", f"{vault}/providers/Microsoft.KeyVault/vaults/pepperpy000000kv0eab80")]
    assert fake.store["/secrets/openai-api-key"]["tags"] == {"managed-by": "pepperpy-cloud",
                                                             "pepperpy-cloud-secret": "openai-api-key"}
    assert [p for m, p, b in fake.bodies if "sk-very-secret" in json.dumps(b)] == ["/secrets/openai-api-key"]
    assert "sk-very-secret" not in repr(store)

    # A secret someone else put in the vault: readable, never listed, deleted or overwritten.
    fake.store["/secrets/team-key"] = {"value": "theirs", "tags": {"owner": "team"}}
    assert store.get("team-key") == "theirs"
    assert store.names() == ["db_url", "openai-api-key"]
    assert store.get("db_url") == "postgresql://u:p4ss@h/db"
    assert store.resolve({"A": "${SECRET:openai-api-key}", "B": "plain"}) == {"A": "sk-very-secret", "B": "plain"}
    assert store.redactor().redact("key sk-very-secret") == "key ***"
    with pytest.raises(InputError, match="was not set by pepperpy-cloud"):
        store.delete("team-key")
    with pytest.raises(InputError, match="not set by pepperpy-cloud; it was left alone"):
        store.set("team-key", "mine")
    with pytest.raises(NotFoundError, match="openai-api-kye"):
        store.get("openai-api-kye")

    store.set("openai-api-key", "sk-rotated")  # update: a new value, still ours
    assert store.get("openai-api-key") == "sk-rotated"
    store.delete("openai-api-key")
    store.delete("db_url")
    assert store.names() == [] and fake.store["/secrets/team-key"]["value"] == "theirs"


def test_secret_store_on_a_named_vault_uses_its_data_plane_only(fake: FakeArm) -> None:
    provider = AzureProvider(region="eastus", credentials={"tenant_id": "t", "client_id": "c", "client_secret": "s"},
                             key_vault="teamvault")
    store = provider.secret_store()
    store.set("k", "v1")
    assert fake.writes() == [("PUT", "/secrets/k")] and store.vault == "teamvault"


# ----------------------------------------------------------------------------- monitoring


def _deployed_app(fake: FakeArm) -> None:
    fake.store[APP_PATH] = {"location": "eastus", "tags": {"managed-by": "pepperpy-cloud",
                                                           "stack": "pepperpy-rag-app"}, "properties": {}}


def seed_alert(monitor: CloudMonitor) -> object:
    # Seed 000's call, as written (deployment.name is "pepperpy-rag-app").
    return monitor.create_alert(
        name="high-cpu-alert",
        description="Alert when CPU usage is high",
        metric="cpu_usage",
        resource="pepperpy-rag-app",
        threshold=80,
        duration_seconds=300,
        notification_channels=["email:admin@example.com"]
    )


def test_seed_create_alert_is_an_azure_monitor_metric_alert(fake: FakeArm) -> None:
    _deployed_app(fake)
    monitor = CloudMonitor(provider=seed_provider())
    alert = seed_alert(monitor)
    group = f"{APP_GROUP}/providers/Microsoft.Insights/actionGroups/high-cpu-alert-ag"
    path = f"{APP_GROUP}/providers/Microsoft.Insights/metricAlerts/high-cpu-alert"
    assert fake.writes() == [("PUT", group), ("PUT", path)]
    body = fake.store[path]
    assert body["properties"]["scopes"] == [APP_PATH]
    assert body["properties"]["windowSize"] == "PT5M" and body["properties"]["evaluationFrequency"] == "PT1M"
    assert body["properties"]["criteria"]["allOf"] == [{
        "criterionType": "StaticThresholdCriterion", "name": "cpu_usage", "metricNamespace": "Microsoft.App/containerApps",
        "metricName": "UsageNanoCores", "operator": "GreaterThan", "threshold": 8e8, "timeAggregation": "Average"}]
    assert body["properties"]["actions"] == [{"actionGroupId": group}]
    assert fake.store[group]["properties"]["emailReceivers"] == [
        {"name": "email-1", "emailAddress": "admin@example.com", "useCommonAlertSchema": True}]
    assert alert.metric == "cpu_usage" and alert.threshold == 80 and alert.azure_metric == "UsageNanoCores"

    before = json.dumps(fake.store, sort_keys=True)
    seed_alert(monitor)  # converges
    assert json.dumps(fake.store, sort_keys=True) == before
    [listed] = monitor.list_alerts("pepperpy-rag-app")
    assert (listed.name, listed.metric, listed.threshold, listed.comparison, listed.window) == (
        "high-cpu-alert", "cpu_usage", 80.0, ">", "PT5M")
    assert monitor.list_alerts("other") == []

    monitor.delete_alert("high-cpu-alert")
    assert path not in fake.store and group not in fake.store and list(fake.store) == [APP_PATH]
    with pytest.raises(NotFoundError):
        monitor.delete_alert("high-cpu-alert")


def test_5xx_alert_uses_the_status_dimension_and_webhooks(fake: FakeArm) -> None:
    _deployed_app(fake)
    CloudMonitor(provider=seed_provider()).create_alert(
        "errors", "5xx", "errors_5xx", "pepperpy-rag-app", 10, 600, ["webhook:https://hooks.example.com/x"],
        comparison=">=")
    crit = fake.store[f"{APP_GROUP}/providers/Microsoft.Insights/metricAlerts/errors"]["properties"]
    assert crit["windowSize"] == "PT15M"
    assert crit["criteria"]["allOf"][0]["dimensions"] == [
        {"name": "statusCodeCategory", "operator": "Include", "values": ["5xx"]}]
    assert crit["criteria"]["allOf"][0]["operator"] == "GreaterThanOrEqual"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metric": "response_time"}, r"'response_time' cannot be alerted on in Azure Monitor for Container Apps: "
                                  r"Container Apps publishes no response-time metric"),
    ({"metric": "error_rate"}, r"a ratio of two metrics"),
    ({"duration_seconds": 2 * 86400}, r"longer than an Azure metric alert's window"),
    ({"notification_channels": ["slack:#ops"]}, r"'slack' channels are not delivered by Azure Monitor"),
    ({"notification_channels": ["email:not-an-address"]}, r"email"),
])
def test_what_azure_cannot_alert_on_is_refused_before_any_call(fake: FakeArm, kwargs: dict, message: str) -> None:
    args = {"name": "a", "description": "", "metric": "cpu_usage", "resource": "pepperpy-rag-app", "threshold": 1,
            "duration_seconds": 60, "notification_channels": [], **kwargs}
    with pytest.raises(InputError, match=message):
        CloudMonitor(provider=seed_provider()).create_alert(**args)
    assert fake.log == []


def test_an_alert_on_a_missing_app_is_not_found_and_writes_nothing(fake: FakeArm) -> None:
    with pytest.raises(NotFoundError, match="pepperpy-rag-app"):
        seed_alert(CloudMonitor(provider=seed_provider()))
    assert fake.writes() == []


def test_metrics_and_dashboards_say_why_not_and_capabilities_are_honest(fake: FakeArm) -> None:
    monitor = CloudMonitor(provider=seed_provider())
    with pytest.raises(NotSupportedError, match="Azure get_metrics is not written yet"):
        monitor.get_metrics("pepperpy-rag-app", ["cpu_usage"])
    with pytest.raises(NotSupportedError, match="Azure dashboards are not made yet"):
        monitor.create_dashboard("d", [{"type": "metric", "title": "CPU", "metric": "cpu_usage",
                                        "resource": "pepperpy-rag-app"}])
    caps = AzureProvider(region="eastus").capabilities()
    assert caps["secrets"].supported and "Key Vault" in caps["secrets"].reason
    assert caps["monitor"].supported and "get_metrics and dashboards not yet" in caps["monitor"].reason
