"""Azure Monitor behind :class:`~pepperpy.cloud.monitor.monitor.CloudMonitor` for Azure deployments.

- ``create_alert`` → a metric alert (``Microsoft.Insights/metricAlerts``, built like
  :func:`.monitor.cpu_alert`) on the deployment's container app ``<deployment>-<service>``
  (service ``app``, as ``CloudDeployment`` names its one service, or the deployment's only
  service, or ``service=``), in the deployment's resource group, tagged ``managed-by`` and
  the deployment; ``email:`` and ``webhook:`` channels become the receivers of one action
  group per alert, ``<alert>-ag`` (:func:`.monitor.action_group`).
- ``list_alerts`` / ``delete_alert`` → our metric alerts of the subscription (by tag); delete
  removes the alert's action group too.
- ``get_metrics`` and ``create_dashboard`` → :class:`NotSupportedError` for now (the metrics
  REST API and Azure Workbooks are the way; not written yet).

Our metrics on Container Apps (``Microsoft.App/containerApps``), see :data:`AZURE_METRICS`:
``cpu_usage`` is ``UsageNanoCores`` (Average; 1% of one core is 10^7 nanocores),
``memory_usage`` ``WorkingSetBytes`` (Maximum: the largest replica, not the sum),
``requests_count`` ``Requests`` (Total over the window), ``requests_per_second`` ``Requests``
(Total; the threshold times the window's seconds), ``errors_4xx`` / ``errors_5xx`` ``Requests``
split by ``statusCodeCategory``, ``replicas`` ``Replicas`` (Maximum). Refused, with the reason:
``response_time``, ``response_time_p95``, ``in_flight`` (Container Apps publishes no such
metric) and ``error_rate`` (a ratio of two metrics; a metric alert compares one).

The window is the smallest Azure allows that covers ``duration_seconds`` (1, 5, 15, 30 min,
1, 6, 12, 24 h). Everything is validated before the first call; the app must exist; an alert
or action group of that name not ours is refused; a failed write undoes the writes before it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.errors import InputError, NotFoundError, NotSupportedError
from pepperpy.cloud.providers.azure import container_apps, monitor
from pepperpy.cloud.providers.azure.arm import ArmClient, ArmRequest, subscription_of
from pepperpy.cloud.providers.azure.naming import (
    MANAGED_BY,
    MANAGED_BY_TAG,
    STACK_TAG,
    AzureTarget,
    container_app,
    is_ours,
)

if TYPE_CHECKING:
    from pepperpy.cloud.providers.azure import AzureProvider

ALERTS_TYPE = "Microsoft.Insights/metricAlerts"
ACTION_GROUPS_TYPE = "Microsoft.Insights/actionGroups"
METRIC_TAG = "pepperpy-cloud-metric"
COMPARISON_TAG = "pepperpy-cloud-comparison"
THRESHOLD_TAG = "pepperpy-cloud-threshold"
SERVICE_TAG = "pepperpy-cloud-service"
DEFAULT_SERVICE = "app"
CHANNELS_HINT = "on Azure use email:ADDRESS or webhook:https://URL (receivers of the alert's action group)"
_OPERATORS = {">": "GreaterThan", ">=": "GreaterThanOrEqual", "<": "LessThan", "<=": "LessThanOrEqual"}
# Azure's metric-alert windows (ISO 8601, seconds) and the evaluation frequency used with each.
WINDOWS = [("PT1M", 60, "PT1M"), ("PT5M", 300, "PT1M"), ("PT15M", 900, "PT1M"), ("PT30M", 1800, "PT1M"),
           ("PT1H", 3600, "PT1M"), ("PT6H", 21600, "PT5M"), ("PT12H", 43200, "PT15M"), ("PT24H", 86400, "PT1H")]


@dataclass(frozen=True)
class AzureMetric:
    """How one of our metrics is read on Container Apps: ``Azure value = our value x scale``."""

    name: str
    metric: str
    aggregation: str
    scale: float = 1.0
    per_window: bool = False  # a per-second rate compared as the window's total
    status: str | None = None  # statusCodeCategory dimension value
    note: str = ""


AZURE_METRICS: dict[str, AzureMetric] = {m.name: m for m in [
    AzureMetric("cpu_usage", "UsageNanoCores", "Average", 1e7,
                note="UsageNanoCores averaged over replicas; 1% of one core = 10^7 nanocores"),
    AzureMetric("memory_usage", "WorkingSetBytes", "Maximum",
                note="WorkingSetBytes of the largest replica (Azure does not sum replicas in an alert)"),
    AzureMetric("requests_count", "Requests", "Total", note="requests over the alert window"),
    AzureMetric("requests_per_second", "Requests", "Total", per_window=True,
                note="Requests over the window compared with threshold x window seconds"),
    AzureMetric("errors_4xx", "Requests", "Total", status="4xx", note="Requests with statusCodeCategory 4xx"),
    AzureMetric("errors_5xx", "Requests", "Total", status="5xx", note="Requests with statusCodeCategory 5xx"),
    AzureMetric("replicas", "Replicas", "Maximum", note="Replicas (maximum over the window)"),
]}
UNAVAILABLE = {
    "response_time": "Container Apps publishes no response-time metric",
    "response_time_p95": "Container Apps publishes no response-time metric",
    "in_flight": "Container Apps publishes no in-flight request metric",
    "error_rate": "a ratio of two metrics; an Azure metric alert compares one metric (alert on errors_5xx instead)",
}


def azure_metric(name: str, field: str = "metric") -> AzureMetric:
    """The Container Apps reading of a known metric; one Azure cannot alert on is an InputError naming why."""
    from pepperpy.cloud.monitor import definitions

    definitions.metric(name, field=field)
    found = AZURE_METRICS.get(name)
    if found is None:
        raise InputError(field, f"{name!r} cannot be alerted on in Azure Monitor for Container Apps: "
                         f"{UNAVAILABLE.get(name, 'no Container Apps metric')}",
                         hint="choose from " + ", ".join(AZURE_METRICS))
    return found


def window(duration_seconds: float) -> tuple[str, int, str]:
    """(windowSize, its seconds, evaluationFrequency): the smallest Azure window covering the duration."""
    for size, seconds, frequency in WINDOWS:
        if duration_seconds <= seconds:
            return size, seconds, frequency
    raise InputError("duration_seconds", f"{duration_seconds:g} s is longer than an Azure metric alert's window",
                     hint="use at most 86400 s (24 hours)")


def parse_channels(channels: Sequence[str]) -> tuple[list[str], list[str]]:
    """(emails, webhooks) from ``email:`` / ``webhook:`` channels; anything else is an InputError."""
    from pepperpy.cloud.monitor.alerts import email_address, webhook_url

    emails: list[str] = []
    hooks: list[str] = []
    for i, text in enumerate(channels):
        field = f"notification_channels[{i}]"
        if not isinstance(text, str):
            raise InputError(field, f"{text!r} is not a channel", hint=CHANNELS_HINT)
        prefix, sep, value = text.strip().partition(":")
        kind, value = prefix.lower(), value.strip()
        if not sep or not value:
            raise InputError(field, f"{text!r} has no channel prefix or target", hint=CHANNELS_HINT)
        if kind == "email":
            emails.append(email_address(value, field, hint=CHANNELS_HINT))
        elif kind == "webhook":
            hooks.append(webhook_url(value, field))
        else:
            raise InputError(field, f"{text!r}: {kind!r} channels are not delivered by Azure Monitor here",
                             hint=CHANNELS_HINT)
    return emails, hooks


@dataclass(frozen=True)
class AzureMetricAlert:
    """A metric alert made by :meth:`AzureMonitor.create_alert` (or found by ``list_alerts``)."""

    name: str
    id: str
    resource: str
    service: str
    metric: str
    threshold: float
    comparison: str
    window: str
    frequency: str
    azure_metric: str
    azure_threshold: float
    description: str = ""
    action_group: str | None = None
    enabled: bool = True


class AzureMonitor:
    """The Azure side of ``CloudMonitor``: metric alerts on the deployments' container apps."""

    def __init__(self, provider: AzureProvider) -> None:
        self.provider = provider
        self._arm: ArmClient | None = None

    def arm(self) -> ArmClient:
        if self._arm is None:
            self._arm = ArmClient.for_provider(self.provider)
        return self._arm

    def target(self, deployment: str) -> AzureTarget:
        from pepperpy.cloud.providers.azure.resources import tenant_of

        return AzureTarget(subscription_of(self.provider), self.provider.region, deployment,
                           tenant_id=tenant_of(self.provider))

    # -- not yet

    def get_metrics(self, resource: str, metrics: Sequence[str], start: float, end: float) -> Any:
        raise NotSupportedError("Azure get_metrics is not written yet (Azure Monitor's metrics REST API would "
                                "read UsageNanoCores, WorkingSetBytes, Requests of the container app)",
                                hint="read them in the portal (container app > Metrics) or with az monitor metrics "
                                     "list --resource <container app id> --metric UsageNanoCores")

    def create_dashboard(self, name: str, widgets: Sequence[Mapping[str, Any]], time_range: Any = None) -> Any:
        raise NotSupportedError("Azure dashboards are not made yet (an Azure Workbook or portal dashboard would be)",
                                hint="use the container app's Metrics blade, or CloudMonitor without a provider "
                                     "for a local Grafana/HTML dashboard")

    # -- alerts

    def _service(self, deployment: str, given: str | None) -> str:
        """The service an alert on ``deployment`` watches: ``given``, the deployment's only service, else ``app``."""
        if given:
            return given
        from pepperpy.cloud.deploy.state import StateStore

        record = StateStore.open().get_deployment(deployment)
        if record is not None and record.provider == "azure":
            services = [str(r.get("service")) for r in record.spec.get("results") or []]
            if len(services) == 1:
                return services[0]
            if services and DEFAULT_SERVICE not in services:
                raise InputError("service", f"{deployment!r} has the services {', '.join(services)}",
                                 hint="pass service=<name> to create_alert")
        return DEFAULT_SERVICE

    def create_alert(self, name: str, description: str, metric: str, resource: str, threshold: float,
                     duration_seconds: float, notification_channels: Sequence[str] = (),
                     **options: Any) -> AzureMetricAlert:
        """A metric alert on ``metric`` of ``resource``'s container app; see the module docstring."""
        from pepperpy.cloud.monitor.alerts import AlertRule

        if isinstance(notification_channels, str):
            notification_channels = [notification_channels]
        service_option = options.pop("service", None)
        severity = int(options.pop("severity", 2))
        if severity not in range(5):
            raise InputError("severity", f"{severity} is not an Azure alert severity", hint="use 0 (critical) to 4")
        rule = AlertRule(name=name, description=description, metric=metric, resource=resource, threshold=threshold,
                         duration_seconds=duration_seconds, notification_channels=[], **options)
        spec = azure_metric(rule.metric)
        size, seconds, frequency = window(rule.duration_seconds)
        emails, hooks = parse_channels(notification_channels)
        service = self._service(rule.resource, service_option)
        target = self.target(rule.resource)
        app_name = container_app(rule.resource, service)
        app_path = target.provider_path(container_apps.APP_TYPE, app_name)
        azure_threshold = rule.threshold * spec.scale * (seconds if spec.per_window else 1)
        tags = {**target.tags, METRIC_TAG: rule.metric, COMPARISON_TAG: rule.comparison,
                THRESHOLD_TAG: repr(float(rule.threshold)), SERVICE_TAG: service}
        group = (monitor.action_group(target, emails, hooks, name=f"{rule.name}-ag", short_name=rule.name[:12])
                 if emails or hooks else None)
        criterion: dict[str, Any] = {
            "criterionType": "StaticThresholdCriterion", "name": rule.metric,
            "metricNamespace": container_apps.APP_TYPE, "metricName": spec.metric,
            "operator": _OPERATORS[rule.comparison], "threshold": azure_threshold,
            "timeAggregation": spec.aggregation}
        if spec.status:
            criterion["dimensions"] = [{"name": "statusCodeCategory", "operator": "Include", "values": [spec.status]}]
        body = {"location": "global", "tags": tags, "properties": {
            "description": rule.description or f"{rule.metric} {rule.comparison} {rule.threshold:g}",
            "severity": severity, "enabled": True, "scopes": [app_path], "evaluationFrequency": frequency,
            "windowSize": size, "autoMitigate": True,
            "criteria": {"odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                         "allOf": [criterion]},
            "actions": [{"actionGroupId": group.path}] if group else [],
        }}
        alert = ArmRequest("PUT", target.provider_path(ALERTS_TYPE, rule.name), monitor.API_METRIC_ALERTS, body,
                           "create metric alert", rule.name)
        # Everything above is checked; now the reads, then the writes.
        arm = self.arm()
        if arm.send(ArmRequest("GET", app_path, container_apps.API_APPS, None, "read container app",
                               app_name)) is None:
            raise NotFoundError("resource", rule.resource, "Azure deployment",
                                hint=f"no container app {app_name} in {target.resource_group}; deploy it first, "
                                     "or pass service=<name>")
        old_group = self._our_group(arm, target, f"{rule.name}-ag") if group is None else None
        arm.apply([r for r in (group, alert) if r is not None], rule.resource)
        if old_group is not None:  # the channels were removed: the old action group goes
            arm.send(old_group.delete())
        return _alert_from({**body, "id": alert.path, "name": rule.name})

    @staticmethod
    def _our_group(arm: ArmClient, target: AzureTarget, name: str) -> ArmRequest | None:
        request = ArmRequest("GET", target.provider_path(ACTION_GROUPS_TYPE, name), monitor.API_ACTION_GROUPS, None,
                             "read action group", name)
        found = arm.send(request)
        return request if found is not None and is_ours(found.get("tags"), target.stack) else None

    def _ours(self) -> list[dict[str, Any]]:
        listing = ArmRequest("GET", f"/subscriptions/{subscription_of(self.provider)}/providers/{ALERTS_TYPE}",
                             monitor.API_METRIC_ALERTS, None, "list metric alerts", "subscription")
        return [a for a in self.arm().list_all(listing) or []
                if (a.get("tags") or {}).get(MANAGED_BY_TAG) == MANAGED_BY and METRIC_TAG in (a.get("tags") or {})]

    def list_alerts(self, resource: str | None = None) -> list[AzureMetricAlert]:
        """Our metric alerts (of deployment ``resource`` when given), by name."""
        found = [_alert_from(a) for a in self._ours()]
        return sorted((a for a in found if resource is None or a.resource == resource), key=lambda a: a.name)

    def delete_alert(self, name: str) -> None:
        """Delete our metric alert ``name`` and its action group; another's or a missing one is an error."""
        ours = [a for a in self._ours() if a.get("name") == name]
        if not ours:
            from pepperpy.cloud.catalog.store import closest

            raise NotFoundError("name", name, "Azure metric alert made by pepperpy-cloud",
                                suggestions=closest(name, [str(a.get("name")) for a in self._ours()]))
        arm = self.arm()
        alert = ours[0]
        arm.send(ArmRequest("DELETE", str(alert["id"]), monitor.API_METRIC_ALERTS, None, "delete metric alert", name))
        stack = str((alert.get("tags") or {}).get(STACK_TAG))
        for action in (alert.get("properties") or {}).get("actions") or []:
            group_id = str(action.get("actionGroupId") or "")
            request = ArmRequest("GET", group_id, monitor.API_ACTION_GROUPS, None, "read action group",
                                 group_id.rsplit("/", 1)[-1])
            found = arm.send(request)
            if found is not None and is_ours(found.get("tags"), stack) and group_id.endswith(f"/{name}-ag"):
                arm.send(request.delete())


def _alert_from(alert: Mapping[str, Any]) -> AzureMetricAlert:
    """Our view of a metric alert's ARM document; our metric and threshold come from its tags."""
    tags = alert.get("tags") or {}
    props = alert.get("properties") or {}
    criteria = ((props.get("criteria") or {}).get("allOf") or [{}])[0]
    actions = props.get("actions") or []
    threshold = float(tags.get(THRESHOLD_TAG) or "nan")
    return AzureMetricAlert(
        name=str(alert.get("name")), id=str(alert.get("id")), resource=str(tags.get(STACK_TAG, "")),
        service=str(tags.get(SERVICE_TAG, DEFAULT_SERVICE)), metric=str(tags.get(METRIC_TAG, "")),
        threshold=threshold if math.isfinite(threshold) else float(criteria.get("threshold", 0.0)),
        comparison=str(tags.get(COMPARISON_TAG, "?")), window=str(props.get("windowSize", "")),
        frequency=str(props.get("evaluationFrequency", "")), azure_metric=str(criteria.get("metricName", "")),
        azure_threshold=float(criteria.get("threshold", 0.0)), description=str(props.get("description", "")),
        action_group=str(actions[0].get("actionGroupId")) if actions else None, enabled=bool(props.get("enabled")))


__all__ = ["AZURE_METRICS", "AzureMetric", "AzureMetricAlert", "AzureMonitor", "azure_metric", "parse_channels",
           "window"]
