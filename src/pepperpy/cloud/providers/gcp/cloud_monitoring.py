"""Cloud Monitoring behind :class:`~pepperpy.cloud.monitor.monitor.CloudMonitor` for GCP deployments.

- ``create_alert`` → an alert policy (Monitoring API v3, ``alertPolicies``) with one threshold
  condition on the deployment's Cloud Run service (``resource.type="cloud_run_revision"``,
  ``service_name`` ``<deployment>-<service>``), 60 s alignment, the duration rounded up to whole
  minutes; ``email:`` and ``webhook:`` channels become notification channels of type ``email`` /
  ``webhook_tokenauth`` (one per alert and target, labelled, created or reused, the ones no longer
  asked for deleted). ``userLabels`` mark what is ours (``managed-by``, ``pepperpy-alert``).
- ``list_alerts`` / ``delete_alert``: only policies (and channels) labelled ours.
- ``get_metrics`` and ``create_dashboard`` are not offered yet (NotSupportedError with the reason).

Everything a call says is validated before the first request. What maps (:data:`RUN_METRICS`):

=====================  =========================================================  ===========================
ours                   Cloud Run metric                                           aligner / reducer, scale
=====================  =========================================================  ===========================
cpu_usage (%)          run.googleapis.com/container/cpu/utilizations              mean / mean, fraction x 100
requests_count         run.googleapis.com/request_count                           delta per minute / sum
requests_per_second    run.googleapis.com/request_count                           rate / sum
response_time (s)      run.googleapis.com/request_latencies (ms)                  mean / mean, / 1000
response_time_p95 (s)  run.googleapis.com/request_latencies (ms)                  p95 / max, / 1000
errors_4xx, errors_5xx request_count, response_code_class 4xx / 5xx               delta / sum
error_rate (%)         request_count 5xx / request_count (ratio condition)        delta / sum, x 100
replicas               run.googleapis.com/container/instance_count                max / sum
=====================  =========================================================  ===========================

Refused: ``memory_usage`` (Cloud Run reports memory only as a share of the limit, not bytes) and
``in_flight`` (no such Cloud Run metric).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pepperpy.cloud.errors import InputError, NotFoundError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.monitor import definitions
from pepperpy.cloud.providers.gcp.naming import run_service
from pepperpy.cloud.providers.gcp.rest import GcpClient, GcpRequest
from pepperpy.cloud.providers.gcp.storage import label_value
from pepperpy.cloud.render.terraform_common import MANAGED_BY

if TYPE_CHECKING:
    from pepperpy.cloud.monitor.series import MetricsResult
    from pepperpy.cloud.providers.gcp import GCPProvider

HOST = "monitoring.googleapis.com"
ALERT_LABEL = "pepperpy-alert"
DEFAULT_SERVICE = "app"
MAX_DURATION_S = 86_400
CHANNELS_HINT = "on GCP use email:ADDRESS or webhook:https://URL"
_COMPARISONS = {">": "COMPARISON_GT", ">=": "COMPARISON_GE", "<": "COMPARISON_LT", "<=": "COMPARISON_LE"}
_RUN = 'resource.type="cloud_run_revision"'


@dataclass(frozen=True)
class RunMetric:
    """How one logical metric is read from Cloud Run: ``our value = Cloud Monitoring value x scale``."""

    name: str
    metric_type: str
    aligner: str
    reducer: str
    scale: float = 1.0
    label_filter: str = ""
    ratio: bool = False  # error_rate: 5xx request_count over all request_count


_REQUESTS = "run.googleapis.com/request_count"
_LATENCY = "run.googleapis.com/request_latencies"
_4XX = 'metric.label."response_code_class"="4xx"'
_5XX = 'metric.label."response_code_class"="5xx"'
RUN_METRICS: dict[str, RunMetric] = {m.name: m for m in [
    RunMetric("cpu_usage", "run.googleapis.com/container/cpu/utilizations", "ALIGN_MEAN", "REDUCE_MEAN", 100.0),
    RunMetric("requests_count", _REQUESTS, "ALIGN_DELTA", "REDUCE_SUM"),
    RunMetric("requests_per_second", _REQUESTS, "ALIGN_RATE", "REDUCE_SUM"),
    RunMetric("response_time", _LATENCY, "ALIGN_MEAN", "REDUCE_MEAN", 0.001),
    RunMetric("response_time_p95", _LATENCY, "ALIGN_PERCENTILE_95", "REDUCE_MAX", 0.001),
    RunMetric("errors_4xx", _REQUESTS, "ALIGN_DELTA", "REDUCE_SUM", label_filter=_4XX),
    RunMetric("errors_5xx", _REQUESTS, "ALIGN_DELTA", "REDUCE_SUM", label_filter=_5XX),
    RunMetric("error_rate", _REQUESTS, "ALIGN_DELTA", "REDUCE_SUM", 100.0, _5XX, ratio=True),
    RunMetric("replicas", "run.googleapis.com/container/instance_count", "ALIGN_MAX", "REDUCE_SUM"),
]}
UNAVAILABLE = {
    "memory_usage": "Cloud Run reports memory only as a share of the limit (container/memory/utilizations), not "
                    "bytes",
    "in_flight": "Cloud Run has no in-flight request metric",
}


def run_metric(name: str, field: str) -> RunMetric:
    """The Cloud Run reading of a known metric; one Cloud Run cannot give is an InputError naming ``field``."""
    definitions.metric(name, field=field)
    found = RUN_METRICS.get(name)
    if found is None:
        raise InputError(field, f"{name!r} is not measured on GCP: {UNAVAILABLE.get(name, 'no Cloud Run metric')}",
                         hint="choose from " + ", ".join(RUN_METRICS))
    return found


def split_resource(resource: str) -> tuple[str, str]:
    """``deployment`` or ``deployment/service`` → (deployment, service); the service defaults to ``app``."""
    deployment, _, service = resource.partition("/")
    return deployment, service or DEFAULT_SERVICE


@dataclass(frozen=True)
class GcpChannel:
    kind: Literal["email", "webhook"]
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    def body(self, alert: str) -> dict[str, Any]:
        kind, labels = (("email", {"email_address": self.target}) if self.kind == "email"
                        else ("webhook_tokenauth", {"url": self.target}))
        return {"type": kind, "displayName": f"{alert}: {self.target}"[:512], "labels": labels, "enabled": True,
                "userLabels": {"managed-by": MANAGED_BY, ALERT_LABEL: alert}}

    def matches(self, found: dict[str, Any]) -> bool:
        return found.get("type") == self.body("")["type"] and found.get("labels") == self.body("")["labels"]


def parse_channel(text: object, field: str) -> GcpChannel:
    """``email:ADDRESS`` or ``webhook:http(s)://URL``; anything else is an InputError."""
    from pepperpy.cloud.monitor.alerts import email_address, webhook_url

    if not isinstance(text, str):
        raise InputError(field, f"{text!r} is not a channel", hint=CHANNELS_HINT)
    prefix, sep, value = text.strip().partition(":")
    kind, value = prefix.lower(), value.strip()
    if not sep or not value:
        raise InputError(field, f"{text!r} has no channel prefix or target", hint=CHANNELS_HINT)
    if kind == "email":
        return GcpChannel("email", email_address(value, field, hint=CHANNELS_HINT))
    if kind == "webhook":
        return GcpChannel("webhook", webhook_url(value, field))
    raise InputError(field, f"{text!r}: {kind!r} channels are not delivered by Cloud Monitoring", hint=CHANNELS_HINT)


def condition_duration(duration_seconds: float) -> str:
    if duration_seconds > MAX_DURATION_S:
        raise InputError("duration_seconds", f"{duration_seconds:g} s is longer than Cloud Monitoring evaluates",
                         hint=f"use at most {MAX_DURATION_S} s (one day)")
    return f"{math.ceil(duration_seconds / 60) * 60}s"


def _filter(spec: RunMetric, service_name: str, *, numerator: bool = True) -> str:
    parts = [f'metric.type="{spec.metric_type}"', _RUN, f'resource.label."service_name"="{service_name}"']
    if spec.label_filter and numerator:
        parts.append(spec.label_filter)
    return " AND ".join(parts)


def policy_body(rule: Any, spec: RunMetric, service_name: str, channels: Sequence[str]) -> dict[str, Any]:
    """The alert policy for ``rule`` (an :class:`~pepperpy.cloud.monitor.alerts.AlertRule`) on ``service_name``."""
    deployment, service = split_resource(rule.resource)
    aggregation = {"alignmentPeriod": "60s", "perSeriesAligner": spec.aligner, "crossSeriesReducer": spec.reducer,
                   "groupByFields": ['resource.label."service_name"']}
    condition: dict[str, Any] = {
        "filter": _filter(spec, service_name), "aggregations": [aggregation],
        "comparison": _COMPARISONS[rule.comparison], "thresholdValue": rule.threshold / spec.scale,
        "duration": condition_duration(rule.duration_seconds), "trigger": {"count": 1}}
    if spec.ratio:
        condition |= {"denominatorFilter": _filter(spec, service_name, numerator=False),
                      "denominatorAggregations": [aggregation]}
    text = rule.description or f"{rule.metric} {rule.comparison} {rule.threshold:g} on {rule.resource} (pepperpy-cloud)"
    return {
        "displayName": rule.name, "combiner": "OR", "enabled": True, "severity": "WARNING",
        "documentation": {"content": text, "mimeType": "text/markdown"},
        "userLabels": {"managed-by": MANAGED_BY, ALERT_LABEL: rule.name, "deployment": label_value(deployment),
                       "service": label_value(service), "metric": rule.metric},
        "conditions": [{"displayName": f"{rule.metric} {rule.comparison} {rule.threshold:g} on {rule.resource}",
                        "conditionThreshold": condition}],
        "notificationChannels": list(channels),
    }


@dataclass(frozen=True)
class GcpAlertPolicy:
    """An alert policy made by :meth:`CloudMonitoring.create_alert` (or found by ``list_alerts``)."""

    name: str
    policy: str  # projects/<p>/alertPolicies/<id>
    resource: str
    metric: str
    threshold: float
    comparison: str
    duration_seconds: float
    description: str = ""
    notification_channels: tuple[str, ...] = ()
    channel_names: tuple[str, ...] = ()


def _ours(found: dict[str, Any], alert: str | None = None) -> bool:
    labels = found.get("userLabels") or {}
    return labels.get("managed-by") == MANAGED_BY and (alert is None or labels.get(ALERT_LABEL) == alert)


class CloudMonitoring:
    """The GCP side of ``CloudMonitor``: alert policies and notification channels of the provider's project."""

    def __init__(self, provider: GCPProvider) -> None:
        self.provider = provider
        self._rest: tuple[GcpClient, str] | None = None

    def rest(self) -> tuple[GcpClient, str]:
        if self._rest is None:
            self._rest = GcpClient.for_provider(self.provider)
        return self._rest

    def _base(self, collection: str) -> str:
        return f"/v3/projects/{self.rest()[1]}/{collection}"

    def _list(self, collection: str, query: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
        from pepperpy.cloud.providers.gcp.stack import list_all

        client, _ = self.rest()
        listing = GcpRequest("GET", HOST, self._base(collection), None, query, f"list {collection}", collection)
        return list(list_all(client, listing, collection))

    def _send(self, method: str, path: str, body: dict[str, Any] | None, what: str, target: str) -> dict[str, Any]:
        return self.rest()[0].send(GcpRequest(method, HOST, path, body, (), what, target)) or {}

    # -- alerts

    def create_alert(self, name: str, description: str, metric: str, resource: str, threshold: float,
                     duration_seconds: float, notification_channels: Sequence[str] = (),
                     **options: Any) -> GcpAlertPolicy:
        """An alert policy on ``metric`` of ``resource``'s Cloud Run service; see the module docstring."""
        from pepperpy.cloud.monitor.alerts import AlertRule

        if isinstance(notification_channels, str):
            notification_channels = [notification_channels]
        rule = AlertRule(name=name, description=description, metric=metric, resource=resource, threshold=threshold,
                         duration_seconds=duration_seconds, notification_channels=[], **options)
        spec = run_metric(rule.metric, "metric")
        condition_duration(rule.duration_seconds)
        channels = [parse_channel(text, f"notification_channels[{i}]") for i, text in enumerate(notification_channels)]
        deployment, service = split_resource(rule.resource)
        service_name = run_service(deployment, service)
        existing_channels = [c for c in self._list("notificationChannels") if _ours(c, rule.name)]
        existing = self._find(rule.name)
        made: list[str] = []
        try:
            names = []
            for channel in channels:
                found = next((c for c in existing_channels if channel.matches(c)), None)
                if found is None:
                    found = self._send("POST", self._base("notificationChannels"), channel.body(rule.name),
                                       "create notification channel", str(channel))
                    made.append(str(found["name"]))
                names.append(str(found["name"]))
            body = policy_body(rule, spec, service_name, names)
            if existing is None:
                policy = self._send("POST", self._base("alertPolicies"), body, "create alert policy", rule.name)
            else:
                policy = self._send("PATCH", f"/v3/{existing['name']}", body, "update alert policy", rule.name)
        except PepperpyCloudError:
            for channel_name in reversed(made):
                try:
                    self._send("DELETE", f"/v3/{channel_name}", None, "delete notification channel", channel_name)
                except PepperpyCloudError:
                    continue
            raise
        for old in existing_channels:
            if old["name"] not in names:
                self._send("DELETE", f"/v3/{old['name']}", None, "delete notification channel", str(old["name"]))
        return GcpAlertPolicy(rule.name, str(policy.get("name", "")), rule.resource, rule.metric, rule.threshold,
                              rule.comparison, rule.duration_seconds, rule.description,
                              tuple(str(c) for c in channels), tuple(names))

    def _find(self, name: str) -> dict[str, Any] | None:
        found = self._list("alertPolicies", (("filter", f'display_name="{name}"'),))
        return next((p for p in found if _ours(p, name)), None)

    def list_alerts(self, resource: str | None = None) -> list[GcpAlertPolicy]:
        """The alert policies labelled ours (of ``resource`` when given), by name."""
        out = []
        for policy in self._list("alertPolicies"):
            if not _ours(policy):
                continue
            labels = policy.get("userLabels") or {}
            where = labels.get("deployment", "") + (f"/{labels['service']}" if labels.get("service") not in
                                                     (None, DEFAULT_SERVICE) else "")
            if resource is not None and split_resource(resource) != split_resource(where):
                continue
            condition = ((policy.get("conditions") or [{}])[0]).get("conditionThreshold") or {}
            spec = RUN_METRICS.get(labels.get("metric", ""))
            scale = spec.scale if spec else 1.0
            comparison = {v: k for k, v in _COMPARISONS.items()}.get(condition.get("comparison", ""), ">")
            out.append(GcpAlertPolicy(
                str(labels.get(ALERT_LABEL) or policy.get("displayName")), str(policy.get("name")), where,
                str(labels.get("metric", "")), float(condition.get("thresholdValue", 0)) * scale, comparison,
                float(str(condition.get("duration", "0s")).rstrip("s") or 0),
                str((policy.get("documentation") or {}).get("content", "")),
                channel_names=tuple(policy.get("notificationChannels") or ())))
        return sorted(out, key=lambda a: a.name)

    def delete_alert(self, name: str) -> None:
        """Delete our policy ``name`` and its channels; another's policy or a missing one is an error."""
        policy = self._find(name)
        if policy is None:
            raise NotFoundError("alert", name, "Cloud Monitoring alert policy made by pepperpy-cloud",
                                suggestions=[a.name for a in self.list_alerts()][:5])
        self._send("DELETE", f"/v3/{policy['name']}", None, "delete alert policy", name)
        for channel in self._list("notificationChannels"):
            if _ours(channel, name):
                self._send("DELETE", f"/v3/{channel['name']}", None, "delete notification channel", name)

    # -- not offered yet

    def get_metrics(self, resource: str, metrics: Sequence[str], start: float, end: float) -> MetricsResult:
        raise NotSupportedError("GCP get_metrics is not offered yet: reading Cloud Monitoring timeSeries into our "
                                "units is not implemented; use the Cloud Console (Cloud Run > Metrics), or "
                                "CloudMonitor(prometheus_url=...) with Managed Service for Prometheus")

    def create_dashboard(self, name: str, widgets: Sequence[dict[str, Any]], time_range: Any = None) -> Any:
        raise NotSupportedError("GCP create_dashboard is not offered yet: Cloud Monitoring dashboards are not built "
                                "by pepperpy-cloud; render the stack with 'pepperpy-cloud render -t terraform' "
                                "(it defines the monitoring) or use the Cloud Console")
