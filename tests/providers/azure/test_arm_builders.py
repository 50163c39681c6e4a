"""The exact ARM requests the Azure builders make (method, path, api-version, body), checked before any call,
and their names and sizes against what the Terraform renderer gives the same stack."""

from __future__ import annotations

import re

import pytest

from pepperpy.cloud import DeploymentConfig, ScalingConfig
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.azure import container_apps, foundation, keyvault, monitor, naming, postgres, redis
from pepperpy.cloud.providers.azure.arm import SecretRef, secret_refs
from pepperpy.cloud.providers.azure.naming import AzureTarget
from pepperpy.cloud.render.terraform_azure import render
from pepperpy.cloud.resources.models import DatabaseResource
from pepperpy.cloud.spec.stack import Component, Service, Stack

SUB = "00000000-0000-0000-0000-000000000001"
GROUP = f"/subscriptions/{SUB}/resourceGroups/bsc-rag-rg"
TAGS = {"managed-by": "pepperpy-cloud", "stack": "bsc-rag"}


@pytest.fixture
def stack() -> Stack:
    return Stack(name="bsc-rag", provider="azure", region="eastus",
                 services={"app": {"image": "ghcr.io/acme/app:1.0", "port": 8501, "health_path": "/healthz",
                                   "readiness_path": "/readyz", "replicas": {"min": 2, "max": 6},
                                   "scaling": {"metric": "requests_per_second", "target": 50},
                                   "env": {"LOG_LEVEL": "info", "DB_PASSWORD": "${SECRET:db_password}"}}},
                 components={"db": {"kind": "postgres", "extensions": ["pgvector"], "storage": "50Gi",
                                    "size": "medium"},
                             "cache": {"kind": "redis", "memory": "6Gi"}},
                 buckets={"docs": {}})


@pytest.fixture
def target() -> AzureTarget:
    return AzureTarget(SUB, "eastus", "bsc-rag", tenant_id="tenant-1")


def _tf_default(stack: Stack, variable: str) -> str:
    text = render(stack)["variables.tf"]
    match = re.search(rf'variable "{variable}" \{{.*?default\s*=\s*"?([^"\n]+)"?', text, re.S)
    assert match, variable
    return match.group(1)


def test_names_match_the_terraform_renderer(stack: Stack) -> None:
    assert naming.storage_account("bsc-rag") == _tf_default(stack, "storage_account_name")
    assert naming.key_vault("bsc-rag") == _tf_default(stack, "key_vault_name")
    assert naming.suffix("bsc-rag") == _tf_default(stack, "name_suffix")
    main = render(stack)["main.tf"]
    assert '"${var.name}-rg"' in main and naming.resource_group("bsc-rag") == "bsc-rag-rg"
    assert '"${var.name}-db"' in main and naming.postgres_server("bsc-rag", "db") == "bsc-rag-db"


def test_resource_group_put(target: AzureTarget) -> None:
    req = foundation.resource_group(target)
    assert (req.method, req.path, req.api_version) == ("PUT", GROUP, "2024-03-01")
    assert req.url == f"https://management.azure.com{GROUP}?api-version=2024-03-01"
    assert req.payload() == {"location": "eastus", "tags": TAGS}


def test_storage_account_put(target: AzureTarget) -> None:
    req = foundation.storage_account_request(target)
    assert req.method == "PUT"
    assert req.path == f"{GROUP}/providers/Microsoft.Storage/storageAccounts/bscrag370637"
    assert req.api_version == "2023-05-01"
    body = req.payload()
    assert body["kind"] == "StorageV2" and body["sku"] == {"name": "Standard_GZRS"} and body["tags"] == TAGS
    props = body["properties"]
    assert props["minimumTlsVersion"] == "TLS1_2" and props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False and props["allowSharedKeyAccess"] is False
    assert props["publicNetworkAccess"] == "Disabled"
    container = foundation.blob_container(target, "docs")
    assert container.path.endswith("/storageAccounts/bscrag370637/blobServices/default/containers/docs")
    assert container.payload() == {"properties": {"publicAccess": "None", "metadata": {
        "managed_by": "pepperpy-cloud", "pepperpy_resource": "docs"}}}


def test_postgres_flexible_server_put_sized_like_terraform(stack: Stack, target: AzureTarget) -> None:
    comp = stack.components["db"]
    req = postgres.server(target, "db", comp)
    assert req.method == "PUT" and req.api_version == "2024-08-01"
    assert req.path == f"{GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/bsc-rag-db"
    body = req.payload()
    tf_sku = _tf_default(stack, "db_sku")  # GP_Standard_D2s_v3
    assert body["sku"] == {"name": tf_sku.split("_", 1)[1], "tier": "GeneralPurpose"}
    props = body["properties"]
    assert props["storage"] == {"storageSizeGB": int(_tf_default(stack, "db_storage_mb")) // 1024, "autoGrow": "Enabled"}
    assert props["version"] == "16" and props["administratorLogin"] == "pepperpy"
    assert props["backup"] == {"backupRetentionDays": 35, "geoRedundantBackup": "Enabled"}
    assert props["highAvailability"] == {"mode": "ZoneRedundant", "standbyAvailabilityZone": "2"}
    assert props["network"] == {"publicNetworkAccess": "Disabled"}
    assert props["authConfig"] == {"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled", "tenantId": "tenant-1"}
    assert body["tags"] == TAGS


def test_postgres_password_is_a_reference_resolved_only_when_sent(target: AzureTarget) -> None:
    req = postgres.server(target, "db", Component(kind="postgres"))
    assert req.payload()["properties"]["administratorLoginPassword"] == "${SECRET:bsc-rag-db-admin}"
    assert secret_refs(req.body) == [SecretRef("bsc-rag-db-admin", generate=True)]
    sent = req.payload(lambda ref: "s3cr3t-value")
    assert sent["properties"]["administratorLoginPassword"] == "s3cr3t-value"
    assert "s3cr3t" not in repr(req)


def test_postgres_extensions_allow_vector(stack: Stack, target: AzureTarget) -> None:
    reqs = postgres.requests(target, "db", stack.components["db"])
    ext = reqs[1]
    assert ext.path.endswith("/flexibleServers/bsc-rag-db/configurations/azure.extensions")
    assert ext.payload() == {"properties": {"value": "VECTOR", "source": "user-defined"}}
    assert [r.path.rsplit("/", 2)[-2:] for r in reqs[2:]] == [["configurations", "log_checkpoints"], ["databases", "app"]]
    seed = postgres.component_of(DatabaseResource(name="pepperpy-vectors", version="14", extensions=["pgvector"],
                                                  size="small", storage="50Gi"))
    body = postgres.server(target, "vectors", seed).payload()
    assert body["sku"] == {"name": "Standard_B2s", "tier": "Burstable"}
    assert body["properties"]["highAvailability"] == {"mode": "Disabled"}  # no HA on the burstable tier
    assert body["properties"]["version"] == "14"


def test_redis_put(stack: Stack, target: AzureTarget) -> None:
    req = redis.cache(target, "cache", stack.components["cache"])
    assert req.path == f"{GROUP}/providers/Microsoft.Cache/redis/bsc-rag-cache-370637"
    assert req.api_version == "2024-11-01"
    props = req.payload()["properties"]
    assert props["sku"] == {"name": "Standard", "family": "C", "capacity": 3}  # as the Terraform sizes 6 GiB
    assert props["enableNonSslPort"] is False and props["minimumTlsVersion"] == "1.2"
    assert props["disableAccessKeyAuthentication"] is True


def test_container_app_from_seed_scaling_config(target: AzureTarget) -> None:
    from pepperpy.cloud import CloudDeployment, LocalProvider

    dep = CloudDeployment(name="bsc-rag", provider=LocalProvider(), config=DeploymentConfig(
        image="ghcr.io/acme/app:1.0", cpu="1", memory="2Gi", min_replicas=1, max_replicas=5, port=8000,
        environment_variables={"OPENAI_API_KEY": "${SECRET:openai_key}"}))
    dep.set_scaling_config(ScalingConfig(metric="cpu_utilization", target_value=70, cooldown_seconds=300))
    svc = dep.to_stack().services["app"]
    req = container_apps.app(target, "app", svc)
    assert req.method == "PUT" and req.api_version == "2024-03-01"
    assert req.path == f"{GROUP}/providers/Microsoft.App/containerApps/bsc-rag-app"
    props = req.payload()["properties"]
    assert props["environmentId"] == f"{GROUP}/providers/Microsoft.App/managedEnvironments/bsc-rag-env"
    assert props["configuration"]["ingress"]["targetPort"] == 8000
    assert props["configuration"]["secrets"] == [{"name": "openai-key", "identity": "system",
                                                   "keyVaultUrl": "https://bscragkv370637.vault.azure.net/secrets/openai-key"}]
    container = props["template"]["containers"][0]
    assert container["env"] == [{"name": "OPENAI_API_KEY", "secretRef": "openai-key"}]
    assert container["resources"] == {"cpu": 1.0, "memory": "2Gi"}
    assert props["template"]["scale"] == {
        "minReplicas": 1, "maxReplicas": 5, "cooldownPeriod": 300,
        "rules": [{"name": "http", "http": {"metadata": {"concurrentRequests": "100"}}},
                  {"name": "cpu", "custom": {"type": "cpu", "metadata": {"type": "Utilization", "value": "70"}}}]}


def test_container_app_probes_and_http_rule(stack: Stack, target: AzureTarget) -> None:
    props = container_apps.app(target, "app", stack.services["app"]).payload()["properties"]
    probes = {p["type"]: p["httpGet"] for p in props["template"]["containers"][0]["probes"]}
    assert probes == {"Liveness": {"path": "/healthz", "port": 8501}, "Readiness": {"path": "/readyz", "port": 8501},
                      "Startup": {"path": "/healthz", "port": 8501}}
    assert props["template"]["scale"]["rules"] == [{"name": "http", "http": {"metadata": {"concurrentRequests": "50"}}}]
    assert {"name": "LOG_LEVEL", "value": "info"} in props["template"]["containers"][0]["env"]
    env = container_apps.environment(target)
    assert env.path.endswith("/managedEnvironments/bsc-rag-env") and env.payload()["tags"] == TAGS


def test_key_vault_and_secret_put(target: AzureTarget) -> None:
    vault = keyvault.vault(target)
    assert vault.path == f"{GROUP}/providers/Microsoft.KeyVault/vaults/bscragkv370637"
    assert vault.payload()["properties"]["enableRbacAuthorization"] is True
    put = keyvault.secret("bsc-rag", SecretRef("db_password"))
    assert (put.method, put.host, put.path, put.api_version) == ("PUT", "bscragkv370637.vault.azure.net",
                                                                 "/secrets/db-password", "7.5")
    assert put.url == "https://bscragkv370637.vault.azure.net/secrets/db-password?api-version=7.5"
    assert put.scope == "https://vault.azure.net/.default"
    assert put.payload()["value"] == "${SECRET:db_password}"


def test_metric_alert_put(target: AzureTarget) -> None:
    server_id = postgres.server_path(target, "db")
    req = monitor.cpu_alert(target, "db", server_id)
    assert req.path == f"{GROUP}/providers/Microsoft.Insights/metricAlerts/bsc-rag-db-cpu-high"
    assert req.api_version == "2018-03-01"
    props = req.payload()["properties"]
    crit = props["criteria"]["allOf"][0]
    assert (crit["metricNamespace"], crit["metricName"], crit["threshold"]) == (
        "Microsoft.DBforPostgreSQL/flexibleServers", "cpu_percent", 80)
    assert (props["windowSize"], props["evaluationFrequency"]) == ("PT15M", "PT5M")
    assert props["actions"] == [{"actionGroupId": monitor.action_group_path(target)}]


@pytest.mark.parametrize(("stack_name", "component", "fn"), [
    ("a" * 42, "database-primary-replica-x", naming.postgres_server),  # 69 characters: over 63
    ("bsc-rag", "Db", naming.postgres_server),                  # uppercase
    ("bsc-rag", "a-very-long-service-name-x", naming.container_app),  # 34 characters: over 32
])
def test_names_azure_rejects_are_refused_before_any_call(stack_name: str, component: str, fn) -> None:
    with pytest.raises(InputError) as info:
        fn(stack_name, component)
    line = str(info.value)
    assert "\n" not in line and line.startswith("name: Azure") and "fix:" in line


def test_regions_are_checked_before_any_call(stack: Stack) -> None:
    with pytest.raises(InputError, match=r"region: Azure PostgreSQL flexible server: 'us-east-1' is not an Azure "
                                         r"region \(that is a AWS region\).*fix:"):
        postgres.server(AzureTarget(SUB, "us-east-1", "bsc-rag"), "db", stack.components["db"])
    with pytest.raises(InputError, match="closest: eastus"):
        redis.cache(AzureTarget(SUB, "East US", "bsc-rag"), "cache", stack.components["cache"])


def test_bad_sizes_and_versions_are_one_line(stack: Stack, target: AzureTarget) -> None:
    with pytest.raises(InputError, match="does not offer version '9'"):
        postgres.server(target, "db", Component(kind="postgres", version="9.6"))
    big = Service(image="x:1", cpu="8", memory="32Gi")
    with pytest.raises(InputError, match="more than the consumption profile"):
        container_apps.app(target, "app", big)
    with pytest.raises(InputError, match="runs an image"):
        container_apps.app(target, "app", Service(source=".", entry_point="app.py"))
    with pytest.raises(InputError, match="tenant is unknown"):
        keyvault.vault(AzureTarget(SUB, "eastus", "bsc-rag"))
