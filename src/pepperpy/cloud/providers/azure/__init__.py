"""Microsoft Azure: pricing from the catalog; object storage as Blob containers with the azure extra.

``AzureProvider(region="eastus", credentials={"tenant_id": ..., "client_id": ..., "client_secret": ...})``
is seed 000's constructor. Blob calls also take a connection string or account
key (in ``credentials`` or ``AZURE_STORAGE_CONNECTION_STRING``) or fall back to
``DefaultAzureCredential``; ``endpoint_url`` (or that connection string) sends
every call elsewhere, e.g. to Azurite. See :mod:`.auth` for the order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


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
        "resources": Capability(True, "object storage as Blob containers; databases and compute need Azure "
                                      "Resource Manager, not implemented yet"),
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

    def resources(self) -> Any:
        """The Blob-container resource backend used by ResourceManager."""
        from pepperpy.cloud.providers.azure.storage import AzureBlobResources

        return AzureBlobResources(self)
