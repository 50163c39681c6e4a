"""ARM requests for Azure Container Apps: the managed environment and one container app per service.

Replicas and scaling come from the service (seed 000's ``DeploymentConfig`` min/max
replicas and ``ScalingConfig`` through ``CloudDeployment.to_stack()``): an HTTP
scale rule always (concurrent requests per replica: the target when the metric is
``requests_per_second``, else 100), plus a CPU or memory rule when that is the
metric. Ingress goes to the service's port; liveness and startup probes hit
``health_path``, readiness ``readiness_path``. ``${SECRET:name}`` variables become
Key Vault references read by the app's identity: nothing secret is in the request.

The Terraform renderer runs services on VM scale sets or AKS; Container Apps is the
API path's serverless container target, so its sizing is Container Apps' own
(consumption profile: 0.25-4 vCPU, 2 GiB per vCPU).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.azure.arm import ArmRequest
from pepperpy.cloud.providers.azure.keyvault import secret_url
from pepperpy.cloud.providers.azure.naming import AzureTarget, check_region, container_app, managed_environment
from pepperpy.cloud.render.terraform_common import cpu_of, memory_gb
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service

API_APPS = "2024-03-01"
ENV_TYPE = "Microsoft.App/managedEnvironments"
APP_TYPE = "Microsoft.App/containerApps"
# Consumption profile sizes: (vCPU, GiB), each vCPU with 2 GiB.
SIZES = [(Decimal(q) / 4, Decimal(q) / 2) for q in range(1, 17)]
MAX_REPLICAS = 300
DEFAULT_CONCURRENCY = 100


def environment_path(target: AzureTarget) -> str:
    return target.provider_path(ENV_TYPE, managed_environment(target.stack))


def environment(target: AzureTarget) -> ArmRequest:
    """PUT the stack's Container Apps environment (consumption workload profile, logs to Azure Monitor)."""
    check_region(target.location, "Container Apps")
    body = {"location": target.location, "tags": target.tags, "properties": {
        "workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}],
        "zoneRedundant": False, "appLogsConfiguration": {"destination": "azure-monitor"},
    }}
    return ArmRequest("PUT", environment_path(target), API_APPS, body, "create Container Apps environment",
                      managed_environment(target.stack))


def size(name: str, service: Service) -> tuple[float, str]:
    """The smallest consumption size holding the service's CPU and memory: (vCPU, "<n>Gi")."""
    cpu, mem = cpu_of(service), memory_gb(service)
    for vcpu, gib in SIZES:
        if vcpu >= cpu and gib >= mem:
            return float(vcpu), f"{gib.normalize():f}Gi"
    raise InputError(f"services.{name}", f"Azure Container Apps: {cpu} vCPU / {mem} GiB is more than the "
                     "consumption profile's 4 vCPU / 8 GiB", hint="fix: lower cpu/memory, or use hosting: kubernetes")


def scale(name: str, service: Service) -> dict[str, Any]:
    """minReplicas/maxReplicas and the scale rules from the service's replicas and scaling policy."""
    low, high = service.replicas.min, service.replicas.max
    if high > MAX_REPLICAS:
        raise InputError(f"services.{name}.replicas.max", f"Azure Container Apps scales to at most {MAX_REPLICAS} "
                         f"replicas, not {high}", hint=f"fix: set max to {MAX_REPLICAS} or less")
    policy = service.scaling
    concurrency = DEFAULT_CONCURRENCY
    if policy is not None and policy.metric == "requests_per_second":
        concurrency = max(1, math.ceil(policy.target))
    rules: list[dict[str, Any]] = [{"name": "http", "http": {"metadata": {"concurrentRequests": str(concurrency)}}}]
    if policy is not None and policy.metric in ("cpu_utilization", "memory_utilization"):
        kind = "cpu" if policy.metric == "cpu_utilization" else "memory"
        rules.append({"name": kind, "custom": {"type": kind, "metadata": {
            "type": "Utilization", "value": str(math.ceil(policy.target))}}})
    body: dict[str, Any] = {"minReplicas": low, "maxReplicas": high, "rules": rules}
    if policy is not None:
        body["cooldownPeriod"] = policy.cooldown_seconds
    return body


def probes(service: Service) -> list[dict[str, Any]]:
    port = service.port
    return [
        {"type": "Liveness", "httpGet": {"path": service.health_path, "port": port},
         "periodSeconds": 15, "timeoutSeconds": 5, "failureThreshold": 3},
        {"type": "Readiness", "httpGet": {"path": service.readiness_path, "port": port},
         "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        {"type": "Startup", "httpGet": {"path": service.health_path, "port": port},
         "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 30},
    ]


def secret_name(name: str) -> str:
    """A container-app secret name: lowercase letters, digits and '-'."""
    return name.lower().replace("_", "-").replace(".", "-")


def app(target: AzureTarget, name: str, service: Service, *, identity_id: str | None = None,
        registry: str | None = None, connection_env: Mapping[str, str] | None = None,
        connection_secrets: Mapping[str, str] | None = None) -> ArmRequest:
    """PUT the container app ``<stack>-<name>``.

    ``identity_id`` (a user-assigned identity with 'Key Vault Secrets User' on the vault) reads the Key Vault
    references; without it the app's system identity does, which must be granted that role after the first create.
    ``registry`` (``<acr>.azurecr.io``) is the registry the image is pulled from with the same identity.
    ``connection_env`` (plain) and ``connection_secrets`` (variable -> Key Vault secret name) are the stack's
    components' connection details; a variable the service sets itself wins.
    """
    check_region(target.location, "Container Apps")
    app_name = container_app(target.stack, name)
    if not service.image:
        raise InputError(f"services.{name}.image", "Azure Container Apps runs an image; this service is built "
                         "from source", hint="fix: build and push the image (pepperpy-cloud render -t docker), "
                                             "then set services.<name>.image")
    own_plain, own_secrets = split_env(service.env)
    plain = {k: v for k, v in (connection_env or {}).items() if k not in service.env} | own_plain
    secret_vars = {k: v for k, v in (connection_secrets or {}).items() if k not in service.env} | own_secrets
    identity_ref = identity_id or "system"
    cpu, memory = size(name, service)
    env = [{"name": k, "value": v} for k, v in plain.items()]
    env += [{"name": k, "secretRef": secret_name(s)} for k, s in secret_vars.items()]
    configuration: dict[str, Any] = {
        "activeRevisionsMode": "Single",
        "ingress": {"external": True, "targetPort": service.port, "transport": "auto", "allowInsecure": False},
    }
    if registry:
        configuration["registries"] = [{"server": registry, "identity": identity_ref}]
    names = sorted(set(secret_vars.values()))
    if names:
        configuration["secrets"] = [{"name": secret_name(s), "keyVaultUrl": secret_url(target.stack, s),
                                     "identity": identity_ref} for s in names]
    identity: dict[str, Any] = ({"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}}
                                if identity_id else {"type": "SystemAssigned"})
    body = {"location": target.location, "tags": target.tags, "identity": identity, "properties": {
        "environmentId": environment_path(target), "workloadProfileName": "Consumption",
        "configuration": configuration,
        "template": {
            "containers": [{"name": secret_name(name), "image": service.image,
                            "resources": {"cpu": cpu, "memory": memory}, "env": env, "probes": probes(service)}],
            "scale": scale(name, service),
        },
    }}
    return ArmRequest("PUT", target.provider_path(APP_TYPE, app_name), API_APPS, body, "create container app",
                      app_name)
