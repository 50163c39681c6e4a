"""Google Cloud: pricing from the catalog; SDK operations arrive with the gcp extra.

A credentials file is only read when an operation needs it, so pricing works
with a path that does not exist yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


@register("gcp", "google")
class GCPProvider(CloudProvider):
    """``GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")``."""

    name = "gcp"
    display_name = "GCP"
    default_region = "us-central1"
    capabilities_map = {"price": Capability(True)}

    def __init__(self, region: str | None = None, credentials_file: str | Path | None = None,
                 *, project: str | None = None, endpoint_url: str | None = None,
                 **options: Any) -> None:
        super().__init__(region, endpoint_url=endpoint_url, **options)
        self.credentials_file = Path(credentials_file) if credentials_file else None
        self.project = project

    def describe(self) -> dict[str, Any]:
        data = super().describe()
        data["credentials_file"] = str(self.credentials_file) if self.credentials_file else None
        return data
