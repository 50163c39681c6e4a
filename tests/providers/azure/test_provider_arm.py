"""Seed 000's Azure snippets against a stateful fake ARM on 127.0.0.1: ``ResourceManager`` PostgreSQL and
``CloudDeployment`` on Container Apps, exact write sequence, idempotent re-runs, undo on failure, destroy."""

from __future__ import annotations

import uuid
import warnings

import pytest

from pepperpy.cloud import (
    AzureProvider,
    CloudDeployment,
    DatabaseResource,
    DeploymentConfig,
    ResourceManager,
    ScalingConfig,
)
from pepperpy.cloud.deploy.secrets import SecretStore
from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError
from pepperpy.cloud.resources.models import ResourceError
from tests.providers.azure.fake_arm import FakeArm

SUB = "00000000-0000-0000-0000-000000000001"
RES_GROUP = f"/subscriptions/{SUB}/resourceGroups/pepperpy-00000000-rg"
SERVER = f"{RES_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pepperpy-00000000-pepperpy-vectors"
VAULT = f"{RES_GROUP}/providers/Microsoft.KeyVault/vaults/pepperpy000000kv0eab80"
ADMIN = "/secrets/pepperpy-00000000-pepperpy-vectors-admin"
APP_GROUP = f"/subscriptions/{SUB}/resourceGroups/pepperpy-rag-app-rg"
APP_PATH = f"{APP_GROUP}/providers/Microsoft.App/containerApps/pepperpy-rag-app-app"
IDENTITY = f"{APP_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pepperpy-rag-app-id"
# Azure's built-in role definition ids (public constants), written out here, not imported.
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def role_path(scope: str, role: str, principal: str) -> str:
    """A role assignment's path; its name is the uuid5 of scope, role and principal (deterministic)."""
    name = uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_DNS, "pepperpy-cloud.role-assignments"),
                      f"{scope.lower()}|{role}|{principal}")
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"


def seed_provider() -> AzureProvider:
    # Seed 000, as written.
    azure_provider = AzureProvider(
        region="eastus",
        credentials={
            "tenant_id": "YOUR_TENANT_ID",
            "client_id": "YOUR_CLIENT_ID",
            "client_secret": "YOUR_CLIENT_SECRET"
        }
    )
    return azure_provider


def seed_deployment(provider: AzureProvider) -> CloudDeployment:
    deployment = CloudDeployment(
        provider=provider,
        name="pepperpy-rag-app",
        config=DeploymentConfig(
            instance_type="Standard_D2s_v3",
            memory="4Gi",
            cpu="2",
            min_replicas=1,
            max_replicas=5,
            environment_variables={
                "OPENAI_API_KEY": "${SECRET:openai-api-key}",
                "LOG_LEVEL": "INFO"
            }
        )
    )
    deployment.set_scaling_config(ScalingConfig(metric="cpu_utilization", target_value=70, cooldown_seconds=300))
    return deployment


def vectors() -> DatabaseResource:
    return DatabaseResource(name="pepperpy-vectors", type="postgres", version="14", extensions=["pgvector"],
                            size="small")


def test_database_resource_is_a_flexible_server_with_its_password_only_in_key_vault(fake: FakeArm) -> None:
    manager = ResourceManager(provider=seed_provider())
    database = manager.create_resource(vectors())
    assert fake.writes() == [
        ("PUT", RES_GROUP), ("PUT", VAULT),
        ("PUT", ADMIN),  # generated while the server's request was sent
        ("PUT", SERVER), ("GET", "/operations/1"), ("GET", "/operations/1"),  # Azure-AsyncOperation polled
        ("PUT", f"{SERVER}/configurations/azure.extensions"), ("PUT", f"{SERVER}/configurations/log_checkpoints"),
        ("PUT", f"{SERVER}/databases/app"),
    ]
    sent = next(b for m, p, b in fake.bodies if (m, p) == ("PUT", SERVER))
    password = fake.store[ADMIN]["value"]
    assert sent["properties"]["administratorLoginPassword"] == password and len(password) >= 32
    assert sent["properties"]["version"] == "14" and sent["sku"]["tier"] == "Burstable"
    assert fake.store[f"{SERVER}/configurations/azure.extensions"]["properties"]["value"] == "VECTOR"
    assert database.status == "available"
    assert database.connection_string == (f"postgresql://pepperpy:{password}@pepperpy-00000000-pepperpy-vectors."
                                          "postgres.database.azure.com:5432/app?sslmode=require")
    assert password not in repr(database) and password not in str(database.to_dict())
    record = StateStore.open().get_resource("pepperpy-vectors")
    assert record is not None and password not in str(record.connection)
    assert record.connection["password_secret"] == "pepperpy-00000000-pepperpy-vectors-admin"

    fake.log.clear()
    again = manager.create_resource(vectors())  # converges: the same PUTs, no new secret, no new resource
    assert [w for w in fake.writes() if not w[1].startswith("/operations/")] == [
        ("PUT", RES_GROUP), ("PUT", VAULT), ("PUT", SERVER), ("PUT", f"{SERVER}/configurations/azure.extensions"),
        ("PUT", f"{SERVER}/configurations/log_checkpoints"), ("PUT", f"{SERVER}/databases/app")]
    assert fake.store[ADMIN]["value"] == password and again.connection_string == database.connection_string

    fake.log.clear()
    manager.delete_resource("pepperpy-vectors")
    assert fake.writes() == [("DELETE", SERVER), ("DELETE", ADMIN)]
    assert sorted(fake.store) == [RES_GROUP, VAULT]  # shared group and vault stay (purge protection)
    assert manager.list_resources() == []


def test_a_failed_database_create_removes_the_server_it_made(fake: FakeArm) -> None:
    fake.fail("PUT", "/databases/app", 409, "QuotaExceeded")
    manager = ResourceManager(provider=seed_provider())
    with pytest.raises(ResourceError, match=r"^Azure create database on PostgreSQL flexible server "
                                            r"'pepperpy-00000000-pepperpy-vectors': refused by a quota"):
        manager.create_resource(vectors())
    assert ("DELETE", SERVER) in fake.writes()
    assert SERVER not in fake.store and not any(p.startswith(SERVER) for p in fake.store)
    assert manager.list_resources() == []


def test_seed_deployment_runs_on_container_apps_converges_scales_and_is_destroyed(fake: FakeArm) -> None:
    SecretStore.open().set("openai-api-key", "sk-local-value")
    provider = seed_provider()
    deployment = seed_deployment(provider)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = deployment.deploy(source_dir="./my-pepperpy-app", entry_point="app.py")
    acr = "pepperpyragappacr452920"
    vault = f"{APP_GROUP}/providers/Microsoft.KeyVault/vaults/pepperpyragappkv452920"
    registry = f"{APP_GROUP}/providers/Microsoft.ContainerRegistry/registries/{acr}"
    principal = fake.store[IDENTITY]["properties"]["principalId"]
    kv_role = role_path(vault, KEY_VAULT_SECRETS_USER, principal)
    acr_role = role_path(registry, ACR_PULL, principal)
    assert fake.writes() == [
        ("PUT", APP_GROUP), ("PUT", vault), ("PUT", "/secrets/openai-api-key"),
        ("PUT", IDENTITY), ("PUT", kv_role), ("PUT", registry), ("PUT", acr_role),
        ("PUT", f"{APP_GROUP}/providers/Microsoft.App/managedEnvironments/pepperpy-rag-app-env"),
        ("PUT", APP_PATH), ("GET", "/operations/1"), ("GET", "/operations/1"),
    ]
    assert fake.store[kv_role]["properties"]["roleDefinitionId"] == (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{KEY_VAULT_SECRETS_USER}")
    assert fake.store[kv_role]["properties"]["principalId"] == principal
    assert fake.store[kv_role]["properties"]["principalType"] == "ServicePrincipal"
    assert fake.store["/secrets/openai-api-key"]["value"] == "sk-local-value"
    assert result.url == "https://pepperpy-rag-app-app.happy-sky-1234.eastus.azurecontainerapps.io"
    image = f"{acr}.azurecr.io/pepperpy-rag-app/app:0.1.0"
    assert result.image == image and result.image_pushed is False
    assert result.push_commands[0] == f"az acr login --name {acr}"
    assert result.push_commands[2] == f"docker push {image}"
    assert any("not pushed yet" in str(w.message) for w in caught)
    app = fake.store[APP_PATH]["properties"]
    scale = app["template"]["scale"]
    assert (scale["minReplicas"], scale["maxReplicas"], scale["cooldownPeriod"]) == (1, 5, 300)
    assert scale["rules"][1] == {"name": "cpu", "custom": {"type": "cpu", "metadata": {"type": "Utilization",
                                                                                        "value": "70"}}}
    container = app["template"]["containers"][0]
    assert container["image"] == image and {p["type"] for p in container["probes"]} == {"Liveness", "Readiness",
                                                                                        "Startup"}
    assert {"name": "OPENAI_API_KEY", "secretRef": "openai-api-key"} in container["env"]
    assert app["configuration"]["registries"] == [{"server": f"{acr}.azurecr.io", "identity": IDENTITY}]
    assert app["configuration"]["secrets"] == [{"name": "openai-api-key", "identity": IDENTITY, "keyVaultUrl":
                                                "https://pepperpyragappkv452920.vault.azure.net/secrets/openai-api-key"}]
    assert fake.store[APP_PATH]["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}
    client_id = fake.store[IDENTITY]["properties"]["clientId"]
    assert {"name": "AZURE_CLIENT_ID", "value": client_id} in container["env"]
    assert "sk-local-value" not in str(fake.store[APP_PATH])
    record = StateStore.open().get_deployment("pepperpy-rag-app")
    assert record is not None and record.status == "deployed" and len(record.spec["parts"]) == 8
    assert "sk-local-value" not in str(record.spec)

    fake.log.clear()
    before = sorted(fake.store)
    seed_deployment(provider).deploy(source_dir="./my-pepperpy-app", entry_point="app.py")
    assert sorted(fake.store) == before  # converged: nothing new, the secret not written again
    assert ("PUT", "/secrets/openai-api-key") not in fake.writes()

    scaled = provider.scale("pepperpy-rag-app", 3)
    assert fake.store[APP_PATH]["properties"]["template"]["scale"]["minReplicas"] == 3
    assert scaled.replicas == 3 and scaled.autoscaling["maxReplicas"] == 5

    fake.log.clear()
    gone = provider.destroy_stack("pepperpy-rag-app")
    assert [w for w in fake.writes() if w[0] == "DELETE"] == [
        ("DELETE", APP_PATH), ("DELETE", f"{APP_GROUP}/providers/Microsoft.App/managedEnvironments/pepperpy-rag-app-env"),
        ("DELETE", acr_role), ("DELETE", registry), ("DELETE", kv_role), ("DELETE", IDENTITY), ("DELETE", vault),
        ("DELETE", APP_GROUP)]
    assert gone[-1] == "resource group:pepperpy-rag-app-rg"
    assert fake.store == {} and fake.ours("pepperpy-rag-app") == []
    assert StateStore.open().get_deployment("pepperpy-rag-app") is None


def test_a_secret_in_neither_store_nor_vault_is_refused_before_anything_is_created(fake: FakeArm) -> None:
    with pytest.raises(InputError, match=r"no value for openai-api-key in the local secret store or Key Vault "
                                         r"'pepperpyragappkv452920'"):
        seed_deployment(seed_provider()).deploy(source_dir="./my-pepperpy-app")
    assert fake.writes() == [] and fake.store == {}


def test_a_failure_mid_deploy_removes_what_that_run_created_and_records_it(fake: FakeArm) -> None:
    SecretStore.open().set("openai-api-key", "sk-local-value")
    fake.fail("PUT", "/containerApps/pepperpy-rag-app-app", 403, "AuthorizationFailed")
    with pytest.raises(DeployError, match=r"deploying 'pepperpy-rag-app' to Azure failed: Azure create container "
                                          r"app 'pepperpy-rag-app-app': the service principal is not allowed"):
        seed_deployment(seed_provider()).deploy(source_dir="./my-pepperpy-app")
    deletes = [p for m, p in fake.writes() if m == "DELETE"]
    assert deletes[0].endswith("/managedEnvironments/pepperpy-rag-app-env") and deletes[-1] == APP_GROUP
    assert fake.store == {}
    state = StateStore.open()
    record = state.get_deployment("pepperpy-rag-app")
    assert record is not None and record.status == "failed" and record.spec["parts"] == {}


def test_capabilities_say_what_azure_does_now() -> None:
    caps = AzureProvider(region="eastus").capabilities()
    assert caps["deploy"].supported and "Container Apps" in caps["deploy"].reason
    assert caps["resources"].supported and "PostgreSQL flexible server" in caps["resources"].reason
