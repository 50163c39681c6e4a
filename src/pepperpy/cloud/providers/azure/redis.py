"""ARM request for Azure Cache for Redis, sized like the Terraform renderer's ``azurerm_redis_cache``.

Its ``_redis_sku`` is reused: Premium when the component is replicated, else
Standard, the smallest capacity that holds the memory asked for. TLS 1.2 only, no
non-TLS port, Entra ID authentication with access keys off, no public network.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.azure.arm import ArmRequest
from pepperpy.cloud.providers.azure.naming import AzureTarget, check_region, redis_cache
from pepperpy.cloud.render.terraform_azure import _redis_sku
from pepperpy.cloud.spec.stack import Component

API_REDIS = "2024-11-01"
REDIS_TYPE = "Microsoft.Cache/redis"
SSL_PORT = 6380
DATA_CONTRIBUTOR = "Data Contributor"


def cache_path(target: AzureTarget, name: str) -> str:
    return target.provider_path(REDIS_TYPE, redis_cache(target.stack, name))


def host(stack: str, name: str) -> str:
    """The cache's TLS host name (``<cache>.redis.cache.windows.net``), known before it exists."""
    return f"{redis_cache(stack, name)}.redis.cache.windows.net"


def access_policy_assignment(target: AzureTarget, name: str, principal_id: str, alias: str,
                             policy: str = DATA_CONTRIBUTOR) -> ArmRequest:
    """PUT an Entra ID data-access assignment: ``principal_id`` may use the cache as ``policy`` (its username is
    the principal id; its password an Entra token)."""
    body = {"properties": {"accessPolicyName": policy, "objectId": principal_id, "objectIdAlias": alias}}
    return ArmRequest("PUT", f"{cache_path(target, name)}/accessPolicyAssignments/{alias}", API_REDIS, body,
                      "grant access to Azure Cache for Redis", redis_cache(target.stack, name))


def cache(target: AzureTarget, name: str, component: Component, *, public_network: bool = False) -> ArmRequest:
    """PUT the cache ``<stack>-<name>-<suffix>``."""
    check_region(target.location, "Azure Cache for Redis")
    cache_name = redis_cache(target.stack, name)
    tier, family, capacity = _redis_sku(component)
    props: dict[str, Any] = {
        "sku": {"name": tier, "family": family, "capacity": capacity},
        "enableNonSslPort": False, "minimumTlsVersion": "1.2",
        "publicNetworkAccess": "Enabled" if public_network else "Disabled",
        "disableAccessKeyAuthentication": True, "redisVersion": "6",
        "redisConfiguration": {"aad-enabled": "true"},
    }
    body: dict[str, Any] = {"location": target.location, "tags": target.tags,
                            "identity": {"type": "SystemAssigned"}, "properties": props}
    if tier == "Premium":
        props["replicasPerPrimary"] = component.replicas - 1
        body["zones"] = ["1", "2", "3"]
    return ArmRequest("PUT", cache_path(target, name), API_REDIS, body,
                      "create Azure Cache for Redis", cache_name)
