"""Azure Monitor: the stack's action group and metric alerts, as the Terraform renderer defines them.

One action group ``<stack>-alerts`` (email and webhook receivers from
``monitoring.alert_notifications``) and, per watched resource, a metric alert
``<stack>-<name>-cpu-high``: average CPU above 80% over 15 minutes, checked every 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pepperpy.cloud.providers.azure.arm import ArmRequest
from pepperpy.cloud.providers.azure.naming import AzureTarget

API_ACTION_GROUPS = "2023-01-01"
API_METRIC_ALERTS = "2018-03-01"
# Resource type -> its CPU metric (namespace, name), as the Terraform alerts use them.
CPU_METRICS = {
    "Microsoft.DBforPostgreSQL/flexibleServers": "cpu_percent",
    "Microsoft.Compute/virtualMachineScaleSets": "Percentage CPU",
    "Microsoft.ContainerService/managedClusters": "node_cpu_usage_percentage",
    "Microsoft.Cache/redis": "percentProcessorTime",
}


def action_group_path(target: AzureTarget, name: str | None = None) -> str:
    return target.provider_path("Microsoft.Insights/actionGroups", name or f"{target.stack}-alerts")


def action_group(target: AzureTarget, emails: Sequence[str] = (), webhooks: Sequence[str] = (), *,
                 name: str | None = None, short_name: str = "alerts") -> ArmRequest:
    """PUT the action group ``name`` (default: the stack's ``<stack>-alerts``) an alert notifies (common alert
    schema); ``short_name`` (at most 12 characters) is what SMS and e-mail subjects show."""
    body = {"location": "Global", "tags": target.tags, "properties": {
        "groupShortName": short_name[:12], "enabled": True,
        "emailReceivers": [{"name": f"email-{i}", "emailAddress": e, "useCommonAlertSchema": True}
                           for i, e in enumerate(emails, start=1)],
        "webhookReceivers": [{"name": f"webhook-{i}", "serviceUri": u, "useCommonAlertSchema": True}
                             for i, u in enumerate(webhooks, start=1)],
    }}
    return ArmRequest("PUT", action_group_path(target, name), API_ACTION_GROUPS, body, "create action group",
                      name or f"{target.stack}-alerts")


def resource_type(resource_id: str) -> str:
    """``Microsoft.X/type`` of an ARM resource id."""
    parts = resource_id.split("/providers/")[-1].split("/")
    return "/".join(parts[:2])


def cpu_alert(target: AzureTarget, name: str, resource_id: str, *, threshold: float = 80) -> ArmRequest:
    """PUT ``<stack>-<name>-cpu-high`` on ``resource_id`` (a server, scale set, cluster or cache)."""
    namespace = resource_type(resource_id)
    metric = CPU_METRICS[namespace]
    alert = f"{target.stack}-{name}-cpu-high"
    criteria: dict[str, Any] = {
        "odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
        "allOf": [{"criterionType": "StaticThresholdCriterion", "name": "cpu-high", "metricNamespace": namespace,
                   "metricName": metric, "operator": "GreaterThan", "threshold": threshold,
                   "timeAggregation": "Average"}],
    }
    body = {"location": "global", "tags": target.tags, "properties": {
        "description": f"{name}: average CPU above {threshold:g}% for 15 minutes", "severity": 2, "enabled": True,
        "scopes": [resource_id], "evaluationFrequency": "PT5M", "windowSize": "PT15M", "criteria": criteria,
        "autoMitigate": True, "actions": [{"actionGroupId": action_group_path(target)}],
    }}
    return ArmRequest("PUT", target.provider_path("Microsoft.Insights/metricAlerts", alert), API_METRIC_ALERTS, body,
                      "create metric alert", alert)
