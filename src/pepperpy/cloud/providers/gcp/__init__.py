"""Google Cloud: pricing from the catalog; object storage as GCS buckets with the gcp extra.

A credentials file is only read when an operation needs it, so pricing works
with a path that does not exist yet; against an emulator (``endpoint_url`` on
127.0.0.1 or ``STORAGE_EMULATOR_HOST``) it is not read at all. See :mod:`.auth`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


@register("gcp", "google")
class GCPProvider(CloudProvider):
    """``GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")``.

    Also ``credentials={...}`` (a service-account JSON as a dict, or
    ``{"project_id": ..., "credentials_file": ...}``), ``project=``, and options
    ``retry_backoff`` (seconds, default 1) / ``retry_deadline`` (seconds, default 60)
    for throttling and transient errors, ``connection_timeout`` / ``read_timeout``.
    """

    name = "gcp"
    display_name = "GCP"
    default_region = "us-central1"
    capabilities_map = {
        "price": Capability(True),
        "resources": Capability(True, "object storage as GCS buckets; Cloud SQL and Cloud Run are not "
                                      "implemented yet"),
    }

    def __init__(self, region: str | None = None, credentials_file: str | Path | None = None,
                 *, credentials: Mapping[str, Any] | None = None, project: str | None = None,
                 endpoint_url: str | None = None, **options: Any) -> None:
        super().__init__(region, credentials=credentials, endpoint_url=endpoint_url, **options)
        self.credentials_file = Path(credentials_file) if credentials_file else None
        self.project = project

    def describe(self) -> dict[str, Any]:
        data = super().describe()
        data["credentials_file"] = str(self.credentials_file) if self.credentials_file else None
        data["project"] = self.project
        return data

    def resources(self) -> Any:
        """The GCS-bucket resource backend used by ResourceManager."""
        from pepperpy.cloud.providers.gcp.storage import GcsResources

        return GcsResources(self)
