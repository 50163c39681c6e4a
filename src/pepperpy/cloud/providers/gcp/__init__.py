"""Google Cloud: pricing; GCS, Cloud SQL, Memorystore, Secret Manager, Cloud Run, IAM and Monitoring (gcp extra).

A credentials file is only read when an operation needs it, so pricing works
with a path that does not exist yet; against an emulator (``endpoint_url`` on
127.0.0.1 or ``STORAGE_EMULATOR_HOST`` for GCS; ``api_endpoint=`` or
``PEPPERPY_GCP_API_ENDPOINT`` on 127.0.0.1 for the REST APIs) it is not read at all.
See :mod:`.auth` and :mod:`.rest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register

if TYPE_CHECKING:
    from pepperpy.cloud.providers.gcp.cloud_monitoring import CloudMonitoring
    from pepperpy.cloud.providers.gcp.resources import GcpResources
    from pepperpy.cloud.providers.gcp.secret_store import GCPSecretStore
    from pepperpy.cloud.providers.gcp.stack import GCPDeploymentResult


@register("gcp", "google")
class GCPProvider(CloudProvider):
    """``GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")``.

    Also ``credentials={...}`` (a service-account JSON as a dict, or
    ``{"project_id": ..., "credentials_file": ...}``), ``project=``, and options
    ``retry_backoff`` (seconds, default 1) / ``retry_deadline`` (seconds, default 60)
    for throttling and transient errors, ``connection_timeout`` / ``read_timeout``;
    ``api_endpoint`` (or ``PEPPERPY_GCP_API_ENDPOINT``) sends the REST calls (Cloud SQL, Memorystore,
    Secret Manager, Cloud Run, Artifact Registry, IAM, GCS JSON API, Cloud Monitoring) there instead of ``https://<api>.googleapis.com``,
    ``poll_interval`` (seconds between long-running-operation polls, default 5).
    """

    name = "gcp"
    display_name = "GCP"
    default_region = "us-central1"
    capabilities_map = {
        "price": Capability(True),
        "resources": Capability(True, "object_storage → GCS bucket; postgres → Cloud SQL instance with database "
                                      "and user (passwords in Secret Manager); serverless is not offered (Cloud Run "
                                      "runs images: deploy it as an app)"),
        "deploy": Capability(True, "Cloud Run v2 services (min/max instances, probes, ${SECRET:name} from Secret "
                                   "Manager) running as the stack's service account; managed postgres → Cloud SQL, "
                                   "redis → Memorystore, buckets → GCS, connection details as Secret Manager "
                                   "references; images are pushed by you to Artifact Registry (Docker)"),
        "scale": Capability(True, "Cloud Run minimum (and, if lower, maximum) instances"),
        "secrets": Capability(True, "${SECRET:name} read from Secret Manager (secret_store(): set/get/names/delete)"),
        "monitor": Capability(True, "Cloud Monitoring alert policies on Cloud Run metrics with email/webhook "
                                    "notification channels (create/list/delete); get_metrics and dashboards are "
                                    "not offered yet (NotSupportedError)"),
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

    def resources(self) -> GcpResources:
        """The resource backend used by ResourceManager: GCS buckets and Cloud SQL."""
        from pepperpy.cloud.providers.gcp.resources import GcpResources

        return GcpResources(self)

    def secret_store(self) -> GCPSecretStore:
        """Where ``${SECRET:name}`` references resolve for this provider: Secret Manager."""
        from pepperpy.cloud.providers.gcp.secret_store import GCPSecretStore

        return GCPSecretStore(self)

    def monitoring(self) -> CloudMonitoring:
        """Cloud Monitoring alert policies for ``CloudMonitor`` (see :mod:`.cloud_monitoring`)."""
        from pepperpy.cloud.providers.gcp.cloud_monitoring import CloudMonitoring

        return CloudMonitoring(self)

    def deploy_stack(self, stack: Any, *, stack_dir: Any, progress: Any = None) -> list[GCPDeploymentResult]:
        """Create or converge ``stack``'s services on Cloud Run (see :mod:`.stack`); one result per service.

        Re-running converges; a failure removes what that run created and says so.
        """
        from pepperpy.cloud.providers.gcp.stack import GcpStack

        return GcpStack(self, progress=progress).deploy(stack, Path(stack_dir))

    def destroy_stack(self, name: str, *, progress: Any = None) -> list[str]:
        """Delete every part labelled as part of deployment ``name`` (Cloud Run, Memorystore, Cloud SQL, buckets,
        repository, secrets, service account) and take out the bindings it added on what stays (the project)."""
        from pepperpy.cloud.providers.gcp.stack import GcpStack

        return GcpStack(self, progress=progress).destroy(name)

    def scale(self, name: str, replicas: int, *, service: str | None = None) -> GCPDeploymentResult:
        """Set a deployed service's minimum Cloud Run instances."""
        from pepperpy.cloud.providers.gcp.stack import GcpStack

        return GcpStack(self).scale(name, replicas, service)
