"""Azure's :class:`~pepperpy.cloud.resources.manager.ResourceBackend`: Blob containers and PostgreSQL servers.

``object_storage`` stays the Blob-container backend of :mod:`.storage`. ``postgres``
goes through Azure Resource Manager (:mod:`.arm`): a resource group and a Key
Vault shared by every resource of the subscription (``pepperpy-<subscription[:8]>-rg``,
option ``resource_stack`` renames it), then the flexible server
``pepperpy-<subscription[:8]>-<name>`` with ``azure.extensions`` (pgvector is
``VECTOR``), ``log_checkpoints`` and the database ``app``, each ensured (created or
converged, refused when a resource of that name is not ours). If a step fails,
what that run created is deleted again; the shared group and vault are kept.

The administrator password is generated into the vault while the server's
request is sent and read from there again each time a handle is made: the record
holds the secret's name, never its value; the handle's ``connection_string`` has it
and its ``repr`` redacts it. Delete removes the server, then the secret; the group
only when nothing is left in it (the vault has purge protection, so deleting it would
reserve its name for 90 days: it stays for the next resource).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.azure import foundation, keyvault, postgres
from pepperpy.cloud.providers.azure.arm import API_RESOURCES, ArmClient, ArmRequest, subscription_of
from pepperpy.cloud.providers.azure.keyvault import KeyVaultSecrets
from pepperpy.cloud.providers.azure.naming import AzureTarget, is_ours, key_vault, postgres_server
from pepperpy.cloud.providers.azure.storage import AzureBlobResources
from pepperpy.cloud.providers.base import CloudProvider, Secret
from pepperpy.cloud.resources.models import DatabaseResource, Resource, ResourceRecord, ResourceSpec

if TYPE_CHECKING:
    from pepperpy.cloud.providers.azure import AzureProvider

DATABASE = "app"


def tenant_of(provider: CloudProvider) -> str | None:
    """The directory the vault trusts: ``credentials["tenant_id"]``, option ``tenant_id``, ``AZURE_TENANT_ID``."""
    value = provider.credentials.get("tenant_id")
    if isinstance(value, Secret) and value.reveal():
        return value.reveal()
    return provider.options.get("tenant_id") or os.environ.get("AZURE_TENANT_ID")


def group_resources(arm: ArmClient, target: AzureTarget) -> list[dict[str, Any]] | None:
    """Every resource in the target's resource group (None when the group does not exist)."""
    listing = ArmRequest("GET", f"{target.group_path}/resources", API_RESOURCES, None,
                         "list resource group", target.resource_group)
    found = arm.send(listing)
    return None if found is None else list(found.get("value") or [])


def delete_group_if_empty(arm: ArmClient, target: AzureTarget) -> bool:
    """Delete the target's resource group when it is ours and holds nothing; whether it was deleted."""
    group = arm.send(foundation.resource_group(target).get())
    if group is None or not is_ours(group.get("tags"), target.stack):
        return False
    if group_resources(arm, target):
        return False
    arm.send(foundation.resource_group(target).delete())
    return True


class AzureResources:
    """``ResourceManager``'s backend on Azure: Blob for object storage, ARM for PostgreSQL."""

    def __init__(self, provider: AzureProvider) -> None:
        self.provider = provider
        self.blob = AzureBlobResources(provider)
        self._arm: ArmClient | None = None

    def arm(self) -> ArmClient:
        """The ARM client, made on first use; it resolves secret references from the shared vault."""
        if self._arm is None:
            self._arm = ArmClient.for_provider(self.provider)
            self._arm.resolve = KeyVaultSecrets(self._arm, self.target().stack)
        return self._arm

    def target(self) -> AzureTarget:
        sub = subscription_of(self.provider)
        stack = str(self.provider.options.get("resource_stack") or f"pepperpy-{sub[:8].lower()}")
        return AzureTarget(sub, self.provider.region, stack, tenant_id=tenant_of(self.provider))

    def managed_containers(self) -> list[str]:
        """Blob containers in the account tagged as ours (to find anything left unrecorded)."""
        return self.blob.managed_containers()

    # -- create

    def create(self, spec: ResourceSpec, previous: ResourceRecord | None) -> ResourceRecord:
        if isinstance(spec, DatabaseResource):
            return self._create_postgres(spec)
        return self.blob.create(spec, previous)  # object storage; refuses what has no Azure backend yet

    def _create_postgres(self, spec: DatabaseResource) -> ResourceRecord:
        target, arm = self.target(), self.arm()
        component = postgres.component_of(spec)
        requests = postgres.requests(target, spec.name, component)  # checked (names, SKU, version) before any call
        for shared in (foundation.resource_group(target), keyvault.vault(target)):
            arm.ensure(shared, target.stack)
        applied = arm.apply(requests, target.stack)
        server = arm.send(requests[0].get()) or {}
        details = {
            "server": postgres_server(target.stack, spec.name), "server_id": requests[0].path,
            "resource_group": target.resource_group, "vault": key_vault(target.stack),
            "password_secret": postgres.admin_secret(target, spec.name).name, "user": postgres.ADMIN_LOGIN,
            "database": DATABASE, "host": (server.get("properties") or {}).get("fullyQualifiedDomainName"),
            "port": 5432, "extensions": postgres.extensions(component), "region": target.location,
            "sku": postgres.sku(component)["name"], "created": [r.path for r in applied.created],
        }
        return ResourceRecord(name=spec.name, type=spec.type, provider=self.provider.name,
                              spec=spec.model_dump(mode="json"), details=details)

    # -- handle

    def handle(self, record: ResourceRecord) -> Resource:
        if record.type != "postgres":
            return self.blob.handle(record)
        details = dict(record.details)
        common = {"name": record.name, "type": record.type, "provider": record.provider}
        try:
            server = self.arm().send(self._server(record).get())
            if server is None:
                return Resource(status="missing", details=details, **common)
            props = server.get("properties") or {}
            details["host"] = props.get("fullyQualifiedDomainName") or details.get("host")
            found = self.arm().send(keyvault.read_secret(self.target().stack, details["password_secret"]))
        except PepperpyCloudError as exc:
            details["error"] = str(exc)
            return Resource(status="unreachable", details=details, **common)
        conn = None
        if found and found.get("value") and details.get("host"):
            password = quote(str(found["value"]), safe="")
            conn = (f"postgresql://{details['user']}:{password}@{details['host']}:{details.get('port', 5432)}/"
                    f"{details['database']}?sslmode=require")
        status = str(props.get("state") or props.get("provisioningState") or "unknown").lower()
        return Resource(status="available" if status in ("ready", "succeeded") else status, connection_string=conn,
                        details=details, **common)

    def _server(self, record: ResourceRecord) -> ArmRequest:
        target = self.target()
        return ArmRequest("GET", str(record.details.get("server_id") or postgres.server_path(target, record.name)),
                          postgres.API_POSTGRES, None, "read PostgreSQL flexible server",
                          postgres_server(target.stack, record.name))

    # -- delete

    def delete(self, record: ResourceRecord) -> None:
        if record.type != "postgres":
            self.blob.delete(record)
            return
        target, arm = self.target(), self.arm()
        server = self._server(record)
        found = arm.send(server)
        if found is not None:
            if not is_ours(found.get("tags"), target.stack):
                raise InputError("name", f"Azure PostgreSQL flexible server {server.target!r} is not managed by "
                                 "pepperpy-cloud; it was left alone", hint="fix: delete it yourself if it is yours")
            arm.send(server.delete())
        secret = record.details.get("password_secret") or postgres.admin_secret(target, record.name).name
        arm.send(keyvault.read_secret(target.stack, str(secret)).delete())
        delete_group_if_empty(arm, target)
