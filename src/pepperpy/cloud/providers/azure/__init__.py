"""Microsoft Azure: pricing from the catalog; object storage as Blob containers with the azure extra.

``AzureProvider(region="eastus", credentials={"tenant_id": ..., "client_id": ..., "client_secret": ...})``
is seed 000's constructor. Blob calls also take a connection string or account
key (in ``credentials`` or ``AZURE_STORAGE_CONNECTION_STRING``) or fall back to
``DefaultAzureCredential``; ``endpoint_url`` (or that connection string) sends
every call elsewhere, e.g. to Azurite. See :mod:`.auth` for the order.

Azure Resource Manager (PostgreSQL resources, ``deploy_stack``) needs a subscription
(``subscription_id=`` or ``AZURE_SUBSCRIPTION_ID``) and takes its token from the same
service principal, ``token_credential=`` or ``DefaultAzureCredential``; ``arm_endpoint=``
(or ``PEPPERPY_AZURE_ARM_ENDPOINT``) sends ARM and Key Vault calls elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register

if TYPE_CHECKING:
    from pepperpy.cloud.providers.azure.monitoring import AzureMonitor
    from pepperpy.cloud.providers.azure.resources import AzureResources
    from pepperpy.cloud.providers.azure.secrets import AzureSecretStore
    from pepperpy.cloud.providers.azure.stack import AzureDeploymentResult


@register("azure", "az")
class AzureProvider(CloudProvider):
    """``AzureProvider(region="eastus", credentials={"tenant_id": ..., "client_id": ..., "client_secret": ...})``.

    Options: ``storage_account`` (the account holding the containers),
    ``max_retries`` (default 4) and ``retry_backoff`` (seconds, default 1) for
    throttling and transient errors, ``connection_timeout`` / ``read_timeout``.
    """

    name = "azure"
    display_name = "Azure"
    default_region = "eastus"
    capabilities_map = {
        "price": Capability(True),
        "resources": Capability(True, "object_storage → Blob container; postgres → PostgreSQL flexible server "
                                      "(pgvector allowed, password only in Key Vault); serverless not yet"),
        "deploy": Capability(True, "Container Apps (scale rules from ScalingConfig, ingress, probes, Key Vault "
                                   "secret references) running as a user-assigned identity (AcrPull, Key Vault "
                                   "Secrets User), with Key Vault, a container registry, blob containers, PostgreSQL "
                                   "flexible servers and Azure Cache for Redis; images are pushed by you (Docker); "
                                   "managed MySQL/RabbitMQ and self-hosted components not yet"),
        "secrets": Capability(True, "Key Vault secrets (tagged managed-by; names/delete touch only ours; delete is "
                                    "Key Vault's soft delete, the vault having purge protection)"),
        "monitor": Capability(True, "Azure Monitor metric alerts on Container Apps (cpu_usage, memory_usage, "
                                    "requests_count, requests_per_second, errors_4xx, errors_5xx, replicas) with "
                                    "an action group for email:/webhook: channels; get_metrics and dashboards not "
                                    "yet (NotSupportedError)"),
        "scale": Capability(True, "Container Apps min/max replicas"),
    }

    def __init__(self, region: str | None = None, credentials: Mapping[str, Any] | None = None,
                 *, subscription_id: str | None = None, storage_account: str | None = None,
                 endpoint_url: str | None = None, **options: Any) -> None:
        super().__init__(region, credentials=credentials, endpoint_url=endpoint_url, **options)
        self.subscription_id = subscription_id or (credentials or {}).get("subscription_id")
        self.storage_account = storage_account

    def describe(self) -> dict[str, Any]:
        data = super().describe()
        data["subscription_id"] = self.subscription_id
        data["storage_account"] = self.storage_account
        return data

    def resources(self) -> AzureResources:
        """The resource backend used by ResourceManager: Blob containers and PostgreSQL flexible servers."""
        from pepperpy.cloud.providers.azure.resources import AzureResources

        return AzureResources(self)

    def secret_store(self) -> AzureSecretStore:
        """``${SECRET:name}`` in Key Vault (see :mod:`.secrets`): option ``key_vault`` names a vault, else the
        subscription's shared one (made on first ``set``)."""
        from pepperpy.cloud.providers.azure.secrets import AzureSecretStore

        return AzureSecretStore(self)

    def monitoring(self) -> AzureMonitor:
        """Azure Monitor behind ``CloudMonitor`` (see :mod:`.monitoring`)."""
        from pepperpy.cloud.providers.azure.monitoring import AzureMonitor

        return AzureMonitor(self)

    def deploy_stack(self, stack: Any, *, stack_dir: Any, progress: Any = None) -> list[AzureDeploymentResult]:
        """Create or converge ``stack`` on Container Apps (see :mod:`.stack`); one result per service."""
        from pepperpy.cloud.providers.azure.stack import AzureStack

        return AzureStack(self, progress=progress).deploy(stack, Path(stack_dir))

    def destroy_stack(self, name: str, *, progress: Any = None) -> list[str]:
        """Delete what deployment ``name`` created, newest first, then its resource group; what was removed."""
        from pepperpy.cloud.providers.azure.stack import AzureStack

        return AzureStack(self, progress=progress).destroy(name)

    def scale(self, name: str, replicas: int, *, service: str | None = None) -> AzureDeploymentResult:
        """Pin a deployed service's replicas (Container Apps minReplicas; maxReplicas raised if lower)."""
        from pepperpy.cloud.providers.azure.stack import AzureStack

        return AzureStack(self).scale(name, replicas, service)
