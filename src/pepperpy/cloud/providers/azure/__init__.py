"""Microsoft Azure: pricing from the catalog; SDK operations arrive with the azure extra."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


@register("azure", "az")
class AzureProvider(CloudProvider):
    """``AzureProvider(region="eastus", credentials={"tenant_id": ..., "client_id": ..., "client_secret": ...})``."""

    name = "azure"
    display_name = "Azure"
    default_region = "eastus"
    capabilities_map = {"price": Capability(True)}

    def __init__(self, region: str | None = None, credentials: Mapping[str, Any] | None = None,
                 *, subscription_id: str | None = None, endpoint_url: str | None = None,
                 **options: Any) -> None:
        super().__init__(region, credentials=credentials, endpoint_url=endpoint_url, **options)
        self.subscription_id = subscription_id
