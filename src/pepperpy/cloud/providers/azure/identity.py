"""ARM requests for a stack's user-assigned managed identity and its role assignments.

One identity ``<stack>-id`` per stack; the container apps run as it, pull from the
registry with it and read their Key Vault references with it. Its roles are granted
through ``Microsoft.Authorization/roleAssignments`` on the narrowest scope (the vault,
the registry, the storage account), each named by a ``uuid5`` of scope, role and
principal, so a re-run PUTs nothing new and a recreated identity gets new assignments.
Role assignments carry no tags: their ``description`` says they are ours, and destroy
checks it before deleting one.
"""

from __future__ import annotations

import uuid
from typing import Any

from pepperpy.cloud.providers.azure.arm import ArmRequest
from pepperpy.cloud.providers.azure.naming import AzureTarget, check_region

API_IDENTITY = "2023-01-31"
API_ROLES = "2022-04-01"
IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
ROLE_ASSIGNMENTS = "providers/Microsoft.Authorization/roleAssignments"
# Azure's built-in role definitions (the same ids in every tenant; ``az role definition list --name ...``).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_NAMES = {ACR_PULL: "AcrPull", KEY_VAULT_SECRETS_USER: "Key Vault Secrets User",
              STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor"}
# uuid5 namespace of our role-assignment names (a uuid5 of the tool's name, fixed forever).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "pepperpy-cloud.role-assignments")


def identity_name(stack: str) -> str:
    return f"{stack}-id"


def identity_path(target: AzureTarget) -> str:
    return target.provider_path(IDENTITY_TYPE, identity_name(target.stack))


def identity(target: AzureTarget) -> ArmRequest:
    """PUT the stack's user-assigned identity; ARM answers its ``principalId`` and ``clientId``."""
    check_region(target.location, "managed identity")
    return ArmRequest("PUT", identity_path(target), API_IDENTITY, {"location": target.location, "tags": target.tags},
                      "create managed identity", identity_name(target.stack))


def marker(stack: str) -> str:
    """The description every role assignment of ``stack`` carries (they take no tags)."""
    return f"managed-by pepperpy-cloud; stack {stack}"


def is_ours(found: dict[str, Any] | None, stack: str) -> bool:
    """True for a role assignment this tool made for ``stack``."""
    return bool(found) and str(((found or {}).get("properties") or {}).get("description")) == marker(stack)


def is_role_assignment(path: str) -> bool:
    return f"/{ROLE_ASSIGNMENTS}/" in path


def assignment_name(scope: str, role: str, principal_id: str) -> str:
    """A deterministic GUID: the same scope, role and principal always give the same name."""
    return str(uuid.uuid5(NAMESPACE, f"{scope.lower()}|{role}|{principal_id}"))


def role_assignment(target: AzureTarget, scope: str, role: str, principal_id: str) -> ArmRequest:
    """PUT ``role`` for ``principal_id`` on ``scope`` (an ARM resource path)."""
    name = assignment_name(scope, role, principal_id)
    body = {"properties": {
        "roleDefinitionId": f"/subscriptions/{target.subscription_id}/providers/Microsoft.Authorization/"
                            f"roleDefinitions/{role}",
        "principalId": principal_id, "principalType": "ServicePrincipal", "description": marker(target.stack),
    }}
    return ArmRequest("PUT", f"{scope}/{ROLE_ASSIGNMENTS}/{name}", API_ROLES, body,
                      "create role assignment", f"{ROLE_NAMES.get(role, role)} for {identity_name(target.stack)}")
