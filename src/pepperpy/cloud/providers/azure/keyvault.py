"""Key Vault: the vault (ARM) and its secrets (data plane), and the resolver that reads them at send time.

The vault is the Terraform renderer's ``azurerm_key_vault``: premium SKU, RBAC only,
purge protection, 90-day soft delete, firewall closed but to Azure services and
``admin_ip_ranges``. A secret is PUT with ``https://<vault>.vault.azure.net/secrets/<name>``
(api-version 7.5) and its value is a :class:`~.arm.SecretRef`, resolved only while sent.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Callable, Sequence
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.azure.arm import ArmClient, ArmRequest, SecretRef
from pepperpy.cloud.providers.azure.naming import AzureTarget, check_region, key_vault, kv_secret, tags

API_VAULT = "2023-07-01"
API_SECRETS = "7.5"
VAULT_TYPE = "Microsoft.KeyVault/vaults"


def vault_host(stack: str) -> str:
    return f"{key_vault(stack)}.vault.azure.net"


def secret_url(stack: str, name: str) -> str:
    """The versionless secret URL Container Apps and apps reference (``keyVaultUrl``)."""
    return f"https://{vault_host(stack)}/secrets/{kv_secret(name)}"


def vault(target: AzureTarget, *, admin_ip_ranges: Sequence[str] = ()) -> ArmRequest:
    """PUT the stack's Key Vault (its tenant is required: the vault trusts that directory)."""
    check_region(target.location, "Key Vault")
    if not target.tenant_id:
        raise InputError("credentials", "Azure create Key Vault: the tenant is unknown",
                         hint="fix: pass credentials={'tenant_id': ...} or set AZURE_TENANT_ID")
    name = key_vault(target.stack)
    body = {"location": target.location, "tags": target.tags, "properties": {
        "tenantId": target.tenant_id, "sku": {"family": "A", "name": "premium"},
        "enableRbacAuthorization": True, "enablePurgeProtection": True, "softDeleteRetentionInDays": 90,
        "publicNetworkAccess": "Enabled",
        "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices",
                        "ipRules": [{"value": ip} for ip in admin_ip_ranges]},
    }}
    return ArmRequest("PUT", target.provider_path(VAULT_TYPE, name), API_VAULT, body, "create Key Vault", name)


def secret(stack: str, ref: SecretRef) -> ArmRequest:
    """PUT a secret's value (data plane); the body holds the reference, the client puts the value in."""
    name = kv_secret(ref.name)
    body: dict[str, Any] = {"value": ref, "contentType": "text/plain", "attributes": {"enabled": True},
                            "tags": tags(stack)}
    return ArmRequest("PUT", f"/secrets/{name}", API_SECRETS, body, "set Key Vault secret", name,
                      host=vault_host(stack))


def read_secret(stack: str, name: str) -> ArmRequest:
    name = kv_secret(name)
    return ArmRequest("GET", f"/secrets/{name}", API_SECRETS, None, "read Key Vault secret", name,
                      host=vault_host(stack))


class KeyVaultSecrets:
    """Resolves :class:`SecretRef` from the stack's vault while a request is sent; makes generated ones once."""

    def __init__(self, client: ArmClient, stack: str,
                 source: Callable[[str], str | None] | None = None) -> None:
        self.client = client
        self.stack = stack
        self.source = source  # the user's values for secrets not in the vault yet (e.g. the local secret store)

    def __call__(self, ref: SecretRef) -> str:
        found = self.client.send(read_secret(self.stack, ref.name))
        if found is not None and found.get("value"):
            return str(found["value"])
        value = _secrets.token_urlsafe(32) if ref.generate else (self.source(ref.name) if self.source else None)
        if not value:
            raise InputError("secrets", f"Azure Key Vault {key_vault(self.stack)!r} has no secret "
                             f"{kv_secret(ref.name)!r}",
                             hint=f"fix: az keyvault secret set --vault-name {key_vault(self.stack)} "
                                  f"--name {kv_secret(ref.name)} --file VALUE_FILE")
        self.client.send(secret(self.stack, ref), resolve=lambda _ref: value)
        return value
