"""ARM requests for Azure Database for PostgreSQL flexible server: the server, its extensions, its database.

Sized exactly like the Terraform renderer's ``azurerm_postgresql_flexible_server``
(its ``_db_sku`` and storage steps are reused, not copied): 35-day geo-redundant
backups, zone-redundant HA off the burstable tier, maintenance Sunday 03:00,
closed to public networks. ``azure.extensions`` allow-lists the stack's extensions
(pgvector is ``VECTOR``), so ``CREATE EXTENSION vector`` works on the server.

Departure from the Terraform, which signs in with Entra ID only: seed 000's
``DatabaseResource`` hands the app a connection string, so the server also has a
password administrator. The password is a :class:`~.arm.SecretRef` to a Key Vault
secret: it is generated into the vault and read back only while the request is sent.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.azure.arm import ArmRequest, SecretRef
from pepperpy.cloud.providers.azure.naming import AzureTarget, check_region, kv_secret, postgres_server
from pepperpy.cloud.render.terraform_azure import PG_STORAGE_MB, _db_sku
from pepperpy.cloud.render.terraform_common import ceil_to, storage_gb
from pepperpy.cloud.resources.models import DatabaseResource
from pepperpy.cloud.spec.stack import Component

API_POSTGRES = "2024-08-01"
SERVER_TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
VERSIONS = ("12", "13", "14", "15", "16", "17")
ADMIN_LOGIN = "pepperpy"
AZURE_SERVICES_RULE = "AllowAllAzureServicesAndResourcesWithinAzureIps"
TIERS = {"B": "Burstable", "GP": "GeneralPurpose", "MO": "MemoryOptimized"}
# Our extension names -> the names azure.extensions allow-lists.
EXTENSION_NAMES = {"pgvector": "VECTOR", "vector": "VECTOR"}


def component_of(resource: DatabaseResource) -> Component:
    """Seed 000's ``DatabaseResource`` as the stack component the builders size from."""
    return Component(kind="postgres", version=resource.version, size=resource.size, storage=resource.storage,
                     extensions=list(resource.extensions))


def sku(component: Component) -> dict[str, str]:
    """ARM's ``{"name", "tier"}`` from the Terraform's ``B_Standard_B2s``-style SKU."""
    prefix, _, name = _db_sku(component).partition("_")
    if prefix not in TIERS or not name:
        raise InputError("instance_type", f"Azure PostgreSQL: {_db_sku(component)!r} is not a flexible-server SKU",
                         hint="fix: use a name like 'GP_Standard_D2s_v3' or 'Standard_D4s_v3'")
    return {"name": name, "tier": TIERS[prefix]}


def major_version(component: Component) -> str:
    version = (component.version or "16").split(".")[0]
    if version not in VERSIONS:
        raise InputError("version", f"Azure PostgreSQL flexible server does not offer version {version!r}",
                         hint=f"fix: use one of {', '.join(VERSIONS)}")
    return version


def extensions(component: Component) -> list[str]:
    """The ``azure.extensions`` values: the component's extensions, VECTOR for pgvector and vector databases."""
    names = [EXTENSION_NAMES.get(e, e.upper()) for e in component.extensions]
    if component.kind == "vector_db":
        names.append("VECTOR")
    return list(dict.fromkeys(names))


def admin_secret(target: AzureTarget, name: str) -> SecretRef:
    """The Key Vault secret holding the administrator password (generated on first use)."""
    return SecretRef(kv_secret(f"{postgres_server(target.stack, name)}-admin"), generate=True)


def server_path(target: AzureTarget, name: str) -> str:
    return target.provider_path(SERVER_TYPE, postgres_server(target.stack, name))


def server(target: AzureTarget, name: str, component: Component, *, high_availability: bool = True,
           public_network: bool = False) -> ArmRequest:
    """PUT the flexible server ``<stack>-<name>``."""
    check_region(target.location, "PostgreSQL flexible server")
    server_name = postgres_server(target.stack, name)
    sku_ = sku(component)
    ha = high_availability and sku_["tier"] != "Burstable"
    auth: dict[str, Any] = {"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled"}
    if target.tenant_id:
        auth["tenantId"] = target.tenant_id
    body: dict[str, Any] = {
        "location": target.location, "tags": target.tags, "sku": sku_,
        "properties": {
            "createMode": "Default", "version": major_version(component),
            "administratorLogin": ADMIN_LOGIN, "administratorLoginPassword": admin_secret(target, name),
            "storage": {"storageSizeGB": ceil_to(storage_gb(component, 32) * 1024, PG_STORAGE_MB) // 1024,
                        "autoGrow": "Enabled"},
            "backup": {"backupRetentionDays": 35, "geoRedundantBackup": "Enabled"},
            "network": {"publicNetworkAccess": "Enabled" if public_network else "Disabled"},
            "highAvailability": {"mode": "ZoneRedundant", "standbyAvailabilityZone": "2"} if ha
            else {"mode": "Disabled"},
            "availabilityZone": "1",
            "authConfig": auth,
            "maintenanceWindow": {"customWindow": "Enabled", "dayOfWeek": 0, "startHour": 3, "startMinute": 0},
        },
    }
    return ArmRequest("PUT", server_path(target, name), API_POSTGRES, body, "create PostgreSQL flexible server",
                      server_name)


def configuration(target: AzureTarget, name: str, key: str, value: str) -> ArmRequest:
    """PUT one server parameter (``azure.extensions``, ``log_checkpoints``) as user-defined."""
    return ArmRequest("PUT", f"{server_path(target, name)}/configurations/{key}", API_POSTGRES,
                      {"properties": {"value": value, "source": "user-defined"}},
                      f"set {key} on PostgreSQL flexible server", postgres_server(target.stack, name))


def host(stack: str, name: str) -> str:
    """The server's host name (``<server>.postgres.database.azure.com``), known before it exists."""
    return f"{postgres_server(stack, name)}.postgres.database.azure.com"


def allow_azure_services(target: AzureTarget, name: str) -> ArmRequest:
    """PUT the firewall rule 0.0.0.0-0.0.0.0, Azure's "allow Azure services" (Container Apps without a VNet)."""
    return ArmRequest("PUT", f"{server_path(target, name)}/firewallRules/{AZURE_SERVICES_RULE}", API_POSTGRES,
                      {"properties": {"startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.0"}},
                      "set firewall rule on PostgreSQL flexible server", postgres_server(target.stack, name))


def database(target: AzureTarget, name: str, db: str = "app") -> ArmRequest:
    """PUT the application database (UTF8, en_US.utf8), as in the Terraform."""
    return ArmRequest("PUT", f"{server_path(target, name)}/databases/{db}", API_POSTGRES,
                      {"properties": {"charset": "UTF8", "collation": "en_US.utf8"}},
                      "create database on PostgreSQL flexible server", postgres_server(target.stack, name))


def requests(target: AzureTarget, name: str, component: Component, **options: Any) -> list[ArmRequest]:
    """Everything one managed PostgreSQL needs, in order: server, extensions, log settings, database."""
    out = [server(target, name, component, **options)]
    if extensions(component):
        out.append(configuration(target, name, "azure.extensions", ",".join(extensions(component))))
    out += [configuration(target, name, "log_checkpoints", "on"), database(target, name)]
    return out
