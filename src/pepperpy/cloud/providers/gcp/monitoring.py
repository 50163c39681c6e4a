"""Cloud Monitoring alert policies through the Monitoring API v3, as the Terraform renderer defines them.

``<stack>-<name>-cpu-high``: CPU above 80% for 15 minutes, 5-minute mean, severity
WARNING, labelled, notifying the given channels. Policies get server-chosen ids, so
the read lists the project's policies filtered by display name and picks ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pepperpy.cloud.providers.gcp.naming import GcpTarget, run_service, sql_instance
from pepperpy.cloud.providers.gcp.rest import GcpRequest, GcpResource

HOST = "monitoring.googleapis.com"


def cloudsql_cpu_filter(target: GcpTarget, name: str) -> str:
    """The Terraform's filter for a Cloud SQL instance's CPU utilization."""
    iid = sql_instance(target.stack, name, target.project)
    return ('metric.type="cloudsql.googleapis.com/database/cpu/utilization" AND '
            f'resource.type="cloudsql_database" AND resource.label."database_id"="{target.project}:{iid}"')


def cloudrun_cpu_filter(target: GcpTarget, name: str) -> str:
    return ('metric.type="run.googleapis.com/container/cpu/utilizations" AND resource.type="cloud_run_revision" '
            f'AND resource.label."service_name"="{run_service(target.stack, name)}"')


def cpu_alert(target: GcpTarget, name: str, metric_filter: str, channels: Sequence[str] = (),
              *, distribution: bool = False) -> GcpResource:
    """Create, find (list by display name), update and delete the CPU-high policy of ``name``."""
    display = f"{target.stack}-{name}-cpu-high"
    aligner = "ALIGN_PERCENTILE_95" if distribution else "ALIGN_MEAN"
    body: dict[str, Any] = {
        "displayName": display, "combiner": "OR", "severity": "WARNING", "userLabels": target.labels,
        "notificationChannels": list(channels),
        "conditions": [{"displayName": f"{name}: average CPU above 80% for 15 minutes", "conditionThreshold": {
            "filter": metric_filter, "comparison": "COMPARISON_GT", "thresholdValue": 0.8, "duration": "900s",
            "aggregations": [{"alignmentPeriod": "300s", "perSeriesAligner": aligner}]}}],
    }
    base = f"/v3/projects/{target.project}/alertPolicies"

    def pick(listing: dict[str, Any]) -> dict[str, Any] | None:
        return next((p for p in listing.get("alertPolicies") or [] if p.get("displayName") == display), None)

    return GcpResource(
        create=GcpRequest("POST", HOST, base, body, (), "create alert policy", display),
        read=GcpRequest("GET", HOST, base, None, (("filter", f'display_name="{display}"'),), "find alert policy",
                        display),
        delete=GcpRequest("DELETE", HOST, base, None, (), "delete alert policy", display),
        pick=pick, named_by_server=True,
    )
