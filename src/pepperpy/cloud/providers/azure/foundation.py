"""ARM requests for a stack's foundations: the resource group, the storage account and its blob containers.

The same shapes as the Terraform renderer's ``azurerm_resource_group`` and
``azurerm_storage_account`` (StorageV2, geo-zone-redundant, TLS 1.2, HTTPS only, no
shared keys, no public blob access unless a bucket is public-read, versioning and
soft delete). Departure: the Terraform adds a customer-managed key and a private
endpoint, which need the stack's VNet and Key Vault key; here the account is
closed to public networks unless ``public_network=True``.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.azure.arm import API_RESOURCES, ArmRequest
from pepperpy.cloud.providers.azure.naming import AzureTarget, check_region, storage_account
from pepperpy.cloud.providers.azure.storage import container_name, managed_metadata

API_STORAGE = "2023-05-01"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"


def resource_group(target: AzureTarget) -> ArmRequest:
    """PUT the stack's resource group ``<stack>-rg`` in its region, tagged."""
    check_region(target.location, "resource group")
    return ArmRequest("PUT", target.group_path, API_RESOURCES,
                      {"location": target.location, "tags": target.tags},
                      "create resource group", target.resource_group)


def account_path(target: AzureTarget) -> str:
    return target.provider_path(STORAGE_TYPE, storage_account(target.stack))


def storage_account_request(target: AzureTarget, *, public_read: bool = False,
                            public_network: bool = False) -> ArmRequest:
    """PUT the stack's storage account: StorageV2, TLS1_2, Entra ID only, public blob access only if asked."""
    check_region(target.location, "storage account")
    name = storage_account(target.stack)
    body: dict[str, Any] = {
        "location": target.location, "tags": target.tags, "kind": "StorageV2",
        "sku": {"name": "Standard_GZRS"},
        "properties": {
            "minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True,
            "allowBlobPublicAccess": public_read, "allowSharedKeyAccess": False,
            "defaultToOAuthAuthentication": True, "isLocalUserEnabled": False,
            "allowCrossTenantReplication": False,
            "publicNetworkAccess": "Enabled" if public_network else "Disabled",
            "networkAcls": {"defaultAction": "Allow" if public_network else "Deny", "bypass": "AzureServices"},
            "encryption": {"keySource": "Microsoft.Storage", "requireInfrastructureEncryption": True,
                           "services": {"blob": {"enabled": True, "keyType": "Account"}}},
        },
    }
    return ArmRequest("PUT", account_path(target), API_STORAGE, body, "create storage account", name)


def blob_service(target: AzureTarget, *, versioning: bool = False) -> ArmRequest:
    """PUT the account's blob service settings: versioning (if any bucket asks), change feed, 30-day soft delete."""
    body = {"properties": {
        "isVersioningEnabled": versioning, "changeFeed": {"enabled": True},
        "deleteRetentionPolicy": {"enabled": True, "days": 30},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 30},
    }}
    return ArmRequest("PUT", f"{account_path(target)}/blobServices/default", API_STORAGE, body,
                      "configure blob service", storage_account(target.stack))


def blob_container(target: AzureTarget, name: str, *, public_read: bool = False) -> ArmRequest:
    """PUT a blob container with the same metadata :mod:`.storage` gives containers it creates."""
    container = container_name(name)
    body = {"properties": {"publicAccess": "Blob" if public_read else "None", "metadata": managed_metadata(name)}}
    return ArmRequest("PUT", f"{account_path(target)}/blobServices/default/containers/{container}", API_STORAGE,
                      body, "create blob container", container)
