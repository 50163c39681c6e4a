"""CloudWatch behind :class:`~pepperpy.cloud.monitor.monitor.CloudMonitor` for AWS deployments.

Seed 000's monitor calls map to CloudWatch as follows:

- ``get_metrics`` → ``GetMetricData`` over the deployment's ECS service and load balancer,
  converted to our units (see :data:`CLOUDWATCH_METRICS`); only datapoints CloudWatch
  returns appear, so a period without data stays a gap.
- ``create_alert`` → ``PutMetricAlarm`` (tagged ``managed-by=pepperpy-cloud``); ``sns:ARN``
  channels become alarm actions as they are, ``email:`` and ``webhook:`` channels become
  subscriptions of one SNS topic per alert (``pepperpy-cloud-alert-<name>``), created or reused.
- ``create_dashboard`` → ``PutDashboard``: metric widgets read the same metrics, log widgets are
  CloudWatch Logs Insights queries on the deployment's log group.

Naming: an AWS deployment ``<name>`` is found by the names in :class:`AWSNames`, which asks the
modules that create those things (``ecs.py``, ``alb.py``): cluster ``<name>``, one ECS service per
stack service (``app`` for a seed 000 deployment, as ``CloudDeployment.to_stack`` names its one
service), load balancer ``<name[:28]>-alb``, target group ``<name[:16]>-<service[:15]>``, log group
``/pepperpy/<name>`` with one stream prefix per service. A resource is ``<name>`` or ``<name>/<service>``.

Everything a call says is validated before the first AWS request, and every existing thing it
needs (the load balancer behind a dimension, an ``sns:`` topic, an alarm or dashboard of the same
name that must be ours) is read before the first write; a failed write undoes the writes before it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.monitor import definitions
from pepperpy.cloud.monitor.series import MetricsResult, Series

if TYPE_CHECKING:
    from pepperpy.cloud.monitor.dashboards import LogQuery, LogWidget, MetricWidget
    from pepperpy.cloud.monitor.timerange import TimeRange
    from pepperpy.cloud.providers.aws import AWSProvider
    from pepperpy.cloud.providers.aws.session import AWSSession

MANAGED_BY = ("managed-by", "pepperpy-cloud")  # the tag keys of providers/aws/parts.py
NAME_TAG = "pepperpy-cloud:name"
TYPE_TAG = "pepperpy-cloud:type"
DEPLOYMENT_TAG = "pepperpy-cloud:deployment"
METRIC_TAG = "pepperpy-cloud:metric"
DEFAULT_SERVICE = "app"
MIB = 1024 * 1024
MAX_ALARM_WINDOW_S = 86_400  # CloudWatch: Period x EvaluationPeriods at most one day for sub-hour periods
MAX_POINTS = 1_440  # per series and call; keeps GetMetricData to one page for the usual ranges
DASHBOARD_MARKER = "Managed by pepperpy-cloud"
LOG_LIMIT = 200
SNS_ARN_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")
CHANNELS_HINT = "on AWS use sns:arn:aws:sns:REGION:ACCOUNT:TOPIC, email:ADDRESS or webhook:https://URL"
_COMPARISONS = {">": "GreaterThanThreshold", ">=": "GreaterThanOrEqualToThreshold",
                "<": "LessThanThreshold", "<=": "LessThanOrEqualToThreshold"}


# --------------------------------------------------------------------------- names and metrics


@dataclass(frozen=True)
class AWSNames:
    """The AWS names of service ``service`` of deployment ``deployment``, as the ECS deployment makes them."""

    deployment: str
    service: str = DEFAULT_SERVICE

    @property
    def cluster(self) -> str:
        return self.deployment

    @property
    def ecs_service(self) -> str:
        return self.service

    @property
    def load_balancer(self) -> str:
        from pepperpy.cloud.providers.aws.alb import lb_name

        return lb_name(self.deployment)

    @property
    def target_group(self) -> str:
        from pepperpy.cloud.providers.aws.alb import target_group_name

        return target_group_name(self.deployment, self.service)

    @property
    def log_group(self) -> str:
        from pepperpy.cloud.providers.aws.ecs import log_group_name

        return log_group_name(self.deployment)

    def ecs_dimensions(self) -> list[dict[str, str]]:
        return [{"Name": "ClusterName", "Value": self.cluster}, {"Name": "ServiceName", "Value": self.ecs_service}]


def alert_topic_name(alert: str) -> str:
    """The SNS topic that carries the email and webhook subscriptions of one alert."""
    return f"pepperpy-cloud-alert-{alert}"


@dataclass(frozen=True)
class CloudWatchMetric:
    """How one logical metric is read from CloudWatch: ``our value = CloudWatch value x scale``.

    ``per_second`` divides a per-period Sum by the period; ``parts`` marks a metric computed
    from two others (error rate = 100 x 5xx / requests, a period without 5xx datapoints counting 0,
    because the load balancer publishes HTTPCode counts only when there were some).
    """

    name: str
    namespace: str = ""
    metric: str = ""
    stat: str = "Average"
    target: Literal["ecs", "alb"] = "ecs"
    scale: float = 1.0
    per_second: bool = False
    parts: tuple[str, str] | None = None
    note: str = ""

    @property
    def unit(self) -> str:
        return definitions.METRICS[self.name].unit


_ALB = "AWS/ApplicationELB"
CLOUDWATCH_METRICS: dict[str, CloudWatchMetric] = {m.name: m for m in [
    CloudWatchMetric("cpu_usage", "AWS/ECS", "CPUUtilization", "Average",
                     note="ECS service CPUUtilization: % of the CPU reserved for the service's tasks"),
    CloudWatchMetric("memory_usage", "ECS/ContainerInsights", "MemoryUtilized", "Sum", scale=MIB,
                     note="Container Insights MemoryUtilized (MiB) summed over the tasks, in bytes; AWS/ECS "
                          "MemoryUtilization is a percentage of the reservation, not bytes"),
    CloudWatchMetric("replicas", "ECS/ContainerInsights", "RunningTaskCount", "Maximum",
                     note="Container Insights RunningTaskCount"),
    CloudWatchMetric("requests_count", _ALB, "RequestCount", "Sum", "alb",
                     note="requests per period to the service's target group"),
    CloudWatchMetric("requests_per_second", _ALB, "RequestCount", "Sum", "alb", per_second=True,
                     note="RequestCount per period / period"),
    CloudWatchMetric("response_time", _ALB, "TargetResponseTime", "Average", "alb",
                     note="mean TargetResponseTime (s)"),
    CloudWatchMetric("response_time_p95", _ALB, "TargetResponseTime", "p95", "alb",
                     note="95th percentile TargetResponseTime (s)"),
    CloudWatchMetric("errors_4xx", _ALB, "HTTPCode_Target_4XX_Count", "Sum", "alb"),
    CloudWatchMetric("errors_5xx", _ALB, "HTTPCode_Target_5XX_Count", "Sum", "alb"),
    CloudWatchMetric("error_rate", target="alb", parts=("requests_count", "errors_5xx"),
                     note="100 x HTTPCode_Target_5XX_Count / RequestCount, no 5xx datapoint counting 0"),
]}
UNAVAILABLE = {
    "in_flight": "CloudWatch has no in-flight request count for a load balancer (ActiveConnectionCount counts "
                 "TCP connections, not requests)",
}


def cloudwatch_metric(name: str, field: str) -> CloudWatchMetric:
    """The CloudWatch reading of a known metric; one CloudWatch cannot give is an InputError naming ``field``."""
    definitions.metric(name, field=field)
    found = CLOUDWATCH_METRICS.get(name)
    if found is None:
        raise InputError(field, f"{name!r} is not measured on AWS: {UNAVAILABLE.get(name, 'no CloudWatch metric')}",
                         hint="choose from " + ", ".join(CLOUDWATCH_METRICS))
    return found


def split_resource(resource: str, field: str) -> AWSNames:
    """``deployment`` or ``deployment/service`` → :class:`AWSNames`; anything else is an InputError."""
    if not isinstance(resource, str) or not resource:
        raise InputError(field, f"{resource!r} is not a deployment name")
    deployment, _, service = resource.partition("/")
    pattern = re.compile(r"^[a-z0-9]([a-z0-9-]{0,126}[a-z0-9])?$")
    if not pattern.match(deployment) or (service and not pattern.match(service)):
        raise InputError(field, f"{resource!r} is not a deployment name",
                         hint="use lowercase letters, digits and '-' (deployment or deployment/service)")
    return AWSNames(deployment, service or DEFAULT_SERVICE)


def choose_period(start: float, end: float, now: float | None = None) -> int:
    """A period (s) CloudWatch still keeps for ``start`` and that gives at most :data:`MAX_POINTS` points.

    One-minute data is kept 15 days, five-minute data 63 days, hourly data 455 days.
    """
    now = datetime.now(UTC).timestamp() if now is None else now
    period = max(60, math.ceil((end - start) / MAX_POINTS / 60) * 60)
    age = now - start
    if age > 63 * 86_400:
        period = max(period, 3_600)
    elif age > 15 * 86_400:
        period = max(period, 300)
    for step in (3_600, 300):
        if period > step:
            return math.ceil(period / step) * step
    return period


def alarm_period(duration_seconds: float) -> tuple[int, int]:
    """(Period, EvaluationPeriods): one-minute periods covering ``duration_seconds``, rounded up (at least one)."""
    if duration_seconds > MAX_ALARM_WINDOW_S:
        raise InputError("duration_seconds", f"{duration_seconds:g} s is longer than CloudWatch evaluates an alarm",
                         hint=f"use at most {MAX_ALARM_WINDOW_S} s (one day)")
    return 60, max(1, math.ceil(duration_seconds / 60))


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True)
class AWSChannel:
    """A notification target on AWS: an SNS topic ARN, an email address or an http(s) endpoint."""

    kind: Literal["sns", "email", "webhook"]
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    @property
    def protocol(self) -> str:
        """The SNS subscription protocol (email, http or https)."""
        return "email" if self.kind == "email" else self.target.split(":", 1)[0]


def parse_aws_channel(text: object, field: str, region: str) -> AWSChannel:
    """``sns:ARN`` (a topic in ``region``), ``email:ADDRESS`` or ``webhook:http(s)://URL``, else an InputError."""
    from pepperpy.cloud.monitor.alerts import email_address, webhook_url

    if not isinstance(text, str):
        raise InputError(field, f"{text!r} is not a channel", hint=CHANNELS_HINT)
    prefix, sep, value = text.strip().partition(":")
    kind, value = prefix.lower(), value.strip()
    if not sep or not value:
        raise InputError(field, f"{text!r} has no channel prefix or target", hint=CHANNELS_HINT)
    if kind == "sns":
        return AWSChannel("sns", sns_topic_arn(value, field, region))
    if kind == "email":
        return AWSChannel("email", email_address(value, field, hint=CHANNELS_HINT))
    if kind == "webhook":
        return AWSChannel("webhook", webhook_url(value, field))
    raise InputError(field, f"{text!r}: {kind!r} channels are not delivered through CloudWatch", hint=CHANNELS_HINT)


def sns_topic_arn(value: str, field: str, region: str) -> str:
    """``value`` when it is a standard SNS topic ARN in ``region`` (alarms notify topics of their own region)."""
    match = SNS_ARN_RE.match(value)
    if match is None:
        raise InputError(field, f"{value!r} is not an SNS topic ARN",
                         hint="write sns:arn:aws:sns:REGION:ACCOUNT:TOPIC (standard topics; FIFO ones are not "
                              "alarm actions)")
    if match.group(2) != region:
        raise InputError(field, f"topic {value!r} is in {match.group(2)}, the alarm in {region}",
                         hint="CloudWatch alarms notify topics of their own region; use a topic in " + region)
    return value


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CloudWatchAlarm:
    """An alarm made by :meth:`CloudWatchMonitor.create_alert` (or found by ``list_alerts``)."""

    name: str
    arn: str
    resource: str
    metric: str
    threshold: float
    comparison: str
    duration_seconds: float
    period: int
    evaluation_periods: int
    description: str = ""
    notification_channels: tuple[str, ...] = ()
    alarm_actions: tuple[str, ...] = ()
    topic_arn: str | None = None


@dataclass(frozen=True)
class CloudWatchDashboard:
    """A CloudWatch dashboard; ``url`` opens it in the AWS console."""

    name: str
    region: str
    body: dict[str, Any]
    widgets: tuple[Any, ...] = ()

    @property
    def url(self) -> str:
        return console_url(self.region, f"#dashboards/dashboard/{self.name}")


def console_url(region: str, fragment: str) -> str:
    """The CloudWatch console for ``region`` (China and GovCloud have their own console domains)."""
    if region.startswith("cn-"):
        host = "console.amazonaws.cn"
    elif region.startswith("us-gov-"):
        host = "console.amazonaws-us-gov.com"
    else:
        host = f"{region}.console.aws.amazon.com"
    return f"https://{host}/cloudwatch/home?region={region}{fragment}"


# --------------------------------------------------------------------------- undo


class _Undo:
    """Steps that reverse the writes made so far; run newest first when a later write fails."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def push(self, step: Callable[[], None]) -> None:
        self.steps.append(step)

    def run(self) -> None:
        for step in reversed(self.steps):
            try:
                step()
            except Exception:  # best effort: the original error is the one to report
                continue


# --------------------------------------------------------------------------- the monitor


class CloudWatchMonitor:
    """The AWS side of ``CloudMonitor``: metrics, alarms and dashboards of one provider's region."""

    def __init__(self, provider: AWSProvider) -> None:
        self.provider = provider
        self.region = str(provider.region)

    @property
    def session(self) -> AWSSession:
        return self.provider.session()

    def call(self, service: str, method: str, /, **params: Any) -> Any:
        return self.session.call(service, method, **params)

    # -- metrics

    def get_metrics(self, resource: str, metrics: Sequence[str], start: float, end: float) -> MetricsResult:
        """GetMetricData for ``metrics`` of ``resource`` between ``start`` and ``end`` (Unix seconds)."""
        names = split_resource(resource, "resource_name")
        specs = [cloudwatch_metric(name, f"metrics[{i}]") for i, name in enumerate(metrics)]
        self._require_service(names, resource)
        period = choose_period(start, end)
        aligned = math.floor(start / period) * period
        bases = self._base_metrics(specs)
        dims = self._dimensions(names, bases, "resource_name")
        queries = [self._query(f"m{i}", spec, dims[spec.target], period) for i, spec in enumerate(bases)]
        data = self._metric_data(queries, aligned, end)
        by_name = {spec.name: data.get(f"m{i}", {}) for i, spec in enumerate(bases)}
        series = [self._series(resource, spec, by_name, period) for spec in specs]
        return MetricsResult(resource, start, end, series, source="cloudwatch")

    @staticmethod
    def _base_metrics(specs: Iterable[CloudWatchMetric]) -> list[CloudWatchMetric]:
        """The CloudWatch reads behind ``specs``, each once (error_rate reads requests and 5xx)."""
        seen: dict[str, CloudWatchMetric] = {}
        for spec in specs:
            for name in spec.parts or (spec.name,):
                seen.setdefault(name, CLOUDWATCH_METRICS[name])
        return list(seen.values())

    def _require_service(self, names: AWSNames, resource: str) -> None:
        """A deployment whose ECS service never existed is a NotFoundError, as it is locally."""
        if self._cluster_exists(names.cluster):
            found = self.call("ecs", "describe_services", cluster=names.cluster, services=[names.ecs_service])
            if any(s.get("serviceName") == names.ecs_service for s in found.get("services", [])):
                return
        raise NotFoundError("resource_name", resource, "AWS deployment",
                            hint=f"no ECS service {names.ecs_service} in cluster {names.cluster} in {self.region}")

    def _cluster_exists(self, cluster: str) -> bool:
        answer = self.call("ecs", "describe_clusters", clusters=[cluster])
        return any(c.get("clusterName") == cluster for c in answer.get("clusters", []))

    def _dimensions(self, names: AWSNames, specs: Iterable[CloudWatchMetric], field: str
                    ) -> dict[str, list[dict[str, str]]]:
        dims = {"ecs": names.ecs_dimensions()}
        if any(spec.target == "alb" for spec in specs):
            dims["alb"] = self.alb_dimensions(names, field)
        return dims

    def alb_dimensions(self, names: AWSNames, field: str) -> list[dict[str, str]]:
        """LoadBalancer and TargetGroup dimensions: the ARN suffixes of the deployment's ALB and target group."""
        lbs = self.session.call("elbv2", "describe_load_balancers", Names=[names.load_balancer],
                                ignore=("LoadBalancerNotFound",))
        tgs = self.session.call("elbv2", "describe_target_groups", Names=[names.target_group],
                                ignore=("TargetGroupNotFound",))
        if not lbs or not lbs.get("LoadBalancers"):
            raise NotFoundError(field, names.load_balancer, "load balancer",
                                hint=f"request metrics need the deployment's ALB in {self.region}")
        if not tgs or not tgs.get("TargetGroups"):
            raise NotFoundError(field, names.target_group, "target group",
                                hint=f"request metrics need the service's target group in {self.region}")
        lb_arn = str(lbs["LoadBalancers"][0]["LoadBalancerArn"])
        tg_arn = str(tgs["TargetGroups"][0]["TargetGroupArn"])
        return [{"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/", 1)[1]},
                {"Name": "TargetGroup", "Value": tg_arn.split(":", 5)[5]}]

    @staticmethod
    def _query(query_id: str, spec: CloudWatchMetric, dims: list[dict[str, str]], period: int) -> dict[str, Any]:
        metric = {"Namespace": spec.namespace, "MetricName": spec.metric, "Dimensions": dims}
        return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": period, "Stat": spec.stat},
                "ReturnData": True}

    def _metric_data(self, queries: list[dict[str, Any]], start: float, end: float
                     ) -> dict[str, dict[float, float]]:
        """{query id: {timestamp: value}} over every page; datapoints without a value are left out."""
        out: dict[str, dict[float, float]] = {q["Id"]: {} for q in queries}
        params: dict[str, Any] = {"MetricDataQueries": queries, "ScanBy": "TimestampAscending",
                                  "StartTime": datetime.fromtimestamp(start, UTC),
                                  "EndTime": datetime.fromtimestamp(end, UTC)}
        while True:
            page = self.call("cloudwatch", "get_metric_data", **params)
            for result in page.get("MetricDataResults", []):
                points = out.setdefault(result["Id"], {})
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    if value is not None and math.isfinite(float(value)):
                        points[_epoch(stamp)] = float(value)
            token = page.get("NextToken")
            if not token:
                return out
            params["NextToken"] = token

    @staticmethod
    def _series(resource: str, spec: CloudWatchMetric, data: Mapping[str, Mapping[float, float]],
                period: int) -> Series:
        import numpy as np

        if spec.parts:
            total, errors = data[spec.parts[0]], data[spec.parts[1]]
            points = {t: 100.0 * errors.get(t, 0.0) / n for t, n in total.items() if n > 0}
        else:
            divide = period if spec.per_second else 1
            points = {t: v * spec.scale / divide for t, v in data[spec.name].items()}
        stamps = sorted(points)
        return Series(spec.name, resource, spec.unit, np.array(stamps, dtype=float),
                      np.array([points[t] for t in stamps], dtype=float),
                      labels={"source": "cloudwatch"}, description=spec.note)

    # -- alarms

    def create_alert(self, name: str, description: str, metric: str, resource: str, threshold: float,
                     duration_seconds: float, notification_channels: Sequence[str] = (),
                     **options: Any) -> CloudWatchAlarm:
        """A CloudWatch alarm on ``metric`` of ``resource``; see the module docstring for channels."""
        from pepperpy.cloud.monitor.alerts import AlertRule

        if isinstance(notification_channels, str):
            notification_channels = [notification_channels]
        rule = AlertRule(name=name, description=description, metric=metric, resource=resource, threshold=threshold,
                         duration_seconds=duration_seconds, notification_channels=[], **options)
        spec = cloudwatch_metric(rule.metric, "metric")
        period, evaluations = alarm_period(rule.duration_seconds)
        channels = [parse_aws_channel(text, f"notification_channels[{i}]", self.region)
                    for i, text in enumerate(notification_channels)]
        names = AWSNames(rule.resource)
        existing = self._own_alarm(rule.name, must_exist=False)
        dims = self._dimensions(names, [spec], "resource")
        self._require_topics([c for c in channels if c.kind == "sns"])
        topic_tags = self._own_topic_tags(rule.name)
        undo = _Undo()
        try:
            topic = self._alert_topic(rule.name, rule.resource, channels, topic_tags is not None, undo)
            actions = [c.target for c in channels if c.kind == "sns"] + ([topic] if topic else [])
            params = self._alarm_params(rule, spec, dims[spec.target], period, evaluations, actions)
            self.call("cloudwatch", "put_metric_alarm", **params)
            arn = self._alarm_arn(rule.name)
            if existing is not None:  # PutMetricAlarm ignores Tags when it updates an alarm
                self.call("cloudwatch", "tag_resource", ResourceARN=arn, Tags=params["Tags"])
        except BaseException:
            undo.run()
            raise
        if topic is None and topic_tags is not None:  # the alert no longer has email/webhook channels
            self._delete_topic(self._topic_arn(rule.name))
        return CloudWatchAlarm(rule.name, arn, rule.resource, rule.metric, rule.threshold, rule.comparison,
                               rule.duration_seconds, period, evaluations, rule.description,
                               tuple(str(c) for c in channels), tuple(actions), topic)

    def _alarm_params(self, rule: Any, spec: CloudWatchMetric, dims: list[dict[str, str]], period: int,
                      evaluations: int, actions: list[str]) -> dict[str, Any]:
        tags = {MANAGED_BY[0]: MANAGED_BY[1], NAME_TAG: rule.name, TYPE_TAG: "alarm",
                DEPLOYMENT_TAG: rule.resource, METRIC_TAG: rule.metric}
        params: dict[str, Any] = {
            "AlarmName": rule.name,
            "AlarmDescription": rule.description or f"{rule.metric} {rule.comparison} {rule.threshold:g} on "
                                                    f"{rule.resource} (pepperpy-cloud)",
            "ActionsEnabled": True, "AlarmActions": actions, "OKActions": actions,
            "EvaluationPeriods": evaluations, "DatapointsToAlarm": evaluations,
            "ComparisonOperator": _COMPARISONS[rule.comparison],
            "TreatMissingData": "notBreaching",  # as the local evaluator: no data never fires
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        if spec.parts:
            params["Threshold"] = rule.threshold
            params["Metrics"] = _error_rate_queries(dims, period)
            return params
        divide = 1 / period if spec.per_second else 1.0
        params["Threshold"] = rule.threshold / spec.scale / divide
        params.update({"Namespace": spec.namespace, "MetricName": spec.metric, "Dimensions": dims, "Period": period})
        params["ExtendedStatistic" if spec.stat.startswith("p") else "Statistic"] = spec.stat
        return params

    def _alarm_arn(self, name: str) -> str:
        found = self.call("cloudwatch", "describe_alarms", AlarmNames=[name])
        alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
        return str(alarms[0]["AlarmArn"])

    def _own_alarm(self, name: str, *, must_exist: bool) -> dict[str, Any] | None:
        """The alarm called ``name`` when it is ours; someone else's alarm of that name is never touched."""
        found = self.call("cloudwatch", "describe_alarms", AlarmNames=[name])
        alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
        if not alarms:
            if must_exist:
                raise NotFoundError("alert", name, "CloudWatch alarm made by pepperpy-cloud",
                                    suggestions=[a.name for a in self.list_alerts()][:5])
            return None
        tags = self._tags(str(alarms[0]["AlarmArn"]))
        if tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
            raise InputError("name", f"CloudWatch alarm {name!r} exists and was not made by pepperpy-cloud",
                             hint="choose another alert name; pepperpy-cloud never changes alarms it did not make")
        return dict(alarms[0])

    def _tags(self, arn: str) -> dict[str, str]:
        answer = self.call("cloudwatch", "list_tags_for_resource", ResourceARN=arn)
        return {t["Key"]: t["Value"] for t in answer.get("Tags", [])}

    def _require_topics(self, channels: Iterable[AWSChannel]) -> None:
        for channel in channels:
            found = self.session.call("sns", "get_topic_attributes", TopicArn=channel.target, ignore=("NotFound",))
            if found is None:
                raise NotFoundError("notification_channels", channel.target, "SNS topic",
                                    hint=f"create it first, or use email:/webhook: channels in {self.region}")

    def _own_topic_tags(self, alert: str) -> dict[str, str] | None:
        """The tags of the alert's topic (None when there is none); a topic of that name not ours is refused."""
        tags = self._topic_tags(self._topic_arn(alert))
        if tags is not None and tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
            raise InputError("name", f"SNS topic {alert_topic_name(alert)} exists and was not made by pepperpy-cloud",
                             hint="choose another alert name")
        return tags

    def _alert_topic(self, alert: str, resource: str, channels: Sequence[AWSChannel], exists: bool,
                     undo: _Undo) -> str | None:
        """The alert's own topic with exactly these email/webhook subscriptions; None when it has none."""
        wanted = {(c.protocol, c.target) for c in channels if c.kind != "sns"}
        if not wanted:
            return None
        arn = self._topic_arn(alert)
        if not exists:
            tags = {MANAGED_BY[0]: MANAGED_BY[1], NAME_TAG: alert, TYPE_TAG: "alert-topic", DEPLOYMENT_TAG: resource}
            arn = str(self.call("sns", "create_topic", Name=alert_topic_name(alert),
                                Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["TopicArn"])
            undo.push(lambda: self._delete_topic(arn))
        self._converge_subscriptions(arn, wanted, undo)
        return arn

    def _topic_arn(self, alert: str) -> str:
        partition = "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if self.region.startswith(
            "us-gov-") else "aws"
        return f"arn:{partition}:sns:{self.region}:{self.session.account_id()}:{alert_topic_name(alert)}"

    def _topic_tags(self, arn: str) -> dict[str, str] | None:
        """The topic's tags, or None when there is no such topic."""
        answer = self.session.call("sns", "list_tags_for_resource", ResourceArn=arn,
                                   ignore=("ResourceNotFound", "NotFound", "ResourceNotFoundException"))
        if answer is None:
            return None
        return {t["Key"]: t["Value"] for t in answer.get("Tags", [])}

    def _subscriptions(self, arn: str) -> list[dict[str, Any]]:
        return list(self.session.pages("sns", "list_subscriptions_by_topic", "Subscriptions", TopicArn=arn))

    def _converge_subscriptions(self, arn: str, wanted: set[tuple[str, str]], undo: _Undo) -> None:
        """Subscribe what is missing, unsubscribe confirmed subscriptions no longer asked for."""
        current = self._subscriptions(arn)
        have = {(s["Protocol"], s["Endpoint"]) for s in current}
        for protocol, endpoint in sorted(wanted - have):
            made = self.call("sns", "subscribe", TopicArn=arn, Protocol=protocol, Endpoint=endpoint,
                             ReturnSubscriptionArn=True)
            made_arn = str(made.get("SubscriptionArn", ""))
            if made_arn.startswith("arn:"):
                undo.push(functools.partial(self.call, "sns", "unsubscribe", SubscriptionArn=made_arn))
        for old in current:
            if (old["Protocol"], old["Endpoint"]) not in wanted and str(old["SubscriptionArn"]).startswith("arn:"):
                self.call("sns", "unsubscribe", SubscriptionArn=old["SubscriptionArn"])

    def _delete_topic(self, arn: str) -> None:
        for sub in self._subscriptions(arn):
            if str(sub["SubscriptionArn"]).startswith("arn:"):
                self.call("sns", "unsubscribe", SubscriptionArn=sub["SubscriptionArn"])
        self.call("sns", "delete_topic", TopicArn=arn)

    def list_alerts(self, resource: str | None = None) -> list[CloudWatchAlarm]:
        """The alarms tagged as ours (of ``resource`` when given), by name."""
        found: list[CloudWatchAlarm] = []
        for alarm in self.session.pages("cloudwatch", "describe_alarms", "MetricAlarms"):
            tags = self._tags(str(alarm["AlarmArn"]))
            if tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
                continue
            if resource is None or tags.get(DEPLOYMENT_TAG) == resource:
                found.append(_alarm_from(alarm, tags))
        return sorted(found, key=lambda a: a.name)

    def delete_alert(self, name: str) -> None:
        """Delete our alarm ``name`` and its topic; another's alarm or a missing one is an error."""
        self._own_alarm(name, must_exist=True)
        self.call("cloudwatch", "delete_alarms", AlarmNames=[name])
        arn = self._topic_arn(name)
        tags = self._topic_tags(arn)
        if tags is not None and tags.get(MANAGED_BY[0]) == MANAGED_BY[1]:
            self._delete_topic(arn)

    # -- dashboards

    def create_dashboard(self, name: str, widgets: Sequence[Mapping[str, Any]],
                         time_range: TimeRange | None = None) -> CloudWatchDashboard:
        """PutDashboard with one CloudWatch widget per seed 000 widget, plus a marker that it is ours."""
        from pepperpy.cloud.monitor.dashboards import MetricWidget, validate_name, validate_widgets

        validate_name(name)
        models = validate_widgets(widgets)
        for i, widget in enumerate(models):
            if isinstance(widget, MetricWidget):
                cloudwatch_metric(widget.metric, f"widgets[{i}].metric")
                split_resource(widget.resource, f"widgets[{i}].resource")
            else:
                _log_group(widget.log_query, f"widgets[{i}].query")
        dims = self._widget_dimensions(models)
        if self._dashboard_body(name) is not None and not self._is_ours(name):
            raise InputError("name", f"CloudWatch dashboard {name!r} exists and was not made by pepperpy-cloud",
                             hint="choose another dashboard name")
        body = dashboard_body(models, self.region, dims, time_range)
        answer = self.call("cloudwatch", "put_dashboard", DashboardName=name, DashboardBody=json.dumps(body))
        problems = [m.get("Message", "") for m in answer.get("DashboardValidationMessages", [])]
        if problems:
            raise InputError("widgets", f"CloudWatch accepted the dashboard with warnings: {'; '.join(problems)}")
        return CloudWatchDashboard(name, self.region, body, tuple(models))

    def _widget_dimensions(self, models: Sequence[MetricWidget | LogWidget]) -> dict[str, dict[str, Any]]:
        """{resource: {"ecs": dims, "alb": dims}} for the metric widgets, read before anything is written."""
        from pepperpy.cloud.monitor.dashboards import MetricWidget

        out: dict[str, dict[str, Any]] = {}
        for i, widget in enumerate(models):
            if not isinstance(widget, MetricWidget):
                continue
            spec = CLOUDWATCH_METRICS[widget.metric]
            dims = out.setdefault(widget.resource, {})
            names = split_resource(widget.resource, f"widgets[{i}].resource")
            dims.setdefault("ecs", names.ecs_dimensions())
            if spec.target == "alb" and "alb" not in dims:
                dims["alb"] = self.alb_dimensions(names, f"widgets[{i}].resource")
        return out

    def _dashboard_body(self, name: str) -> dict[str, Any] | None:
        answer = self.session.call("cloudwatch", "get_dashboard", DashboardName=name,
                                   ignore=("ResourceNotFound", "ResourceNotFoundException"))
        if answer is None:
            return None
        try:
            body = json.loads(answer.get("DashboardBody") or "{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _is_ours(self, name: str) -> bool:
        body = self._dashboard_body(name) or {}
        return any(w.get("type") == "text" and str(w.get("properties", {}).get("markdown", "")).startswith(
            DASHBOARD_MARKER) for w in body.get("widgets", []) if isinstance(w, dict))

    def list_dashboards(self) -> list[str]:
        """Names of the dashboards that carry our marker widget (CloudWatch dashboards take no tags)."""
        names = [str(d["DashboardName"]) for d in self.session.pages("cloudwatch", "list_dashboards",
                                                                     "DashboardEntries")]
        return sorted(n for n in names if self._is_ours(n))

    def delete_dashboard(self, name: str) -> None:
        """Delete our dashboard ``name``; another's or a missing one is an error."""
        if not self._is_ours(name):
            raise NotFoundError("name", name, "CloudWatch dashboard made by pepperpy-cloud",
                                suggestions=self.list_dashboards()[:5])
        self.call("cloudwatch", "delete_dashboards", DashboardNames=[name])


# --------------------------------------------------------------------------- dashboard bodies


def _error_rate_queries(dims: list[dict[str, str]], period: int) -> list[dict[str, Any]]:
    def stat(query_id: str, metric: str) -> dict[str, Any]:
        return {"Id": query_id, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": _ALB, "MetricName": metric, "Dimensions": dims}, "Period": period, "Stat": "Sum"}}

    return [stat("m1", "RequestCount"), stat("m2", "HTTPCode_Target_5XX_Count"),
            {"Id": "e1", "Expression": "100*FILL(m2,0)/m1", "Label": "error_rate", "ReturnData": True}]


def _dimension_args(dims: list[dict[str, str]]) -> list[str]:
    return [part for d in dims for part in (d["Name"], d["Value"])]


def metric_widget_rows(widget: MetricWidget, dims: Mapping[str, list[dict[str, str]]]) -> list[list[Any]]:
    """The ``metrics`` array of a CloudWatch metric widget, in our units (math expressions convert)."""
    spec = CLOUDWATCH_METRICS[widget.metric]
    target = dims[spec.target]
    if spec.parts:
        return [[{"expression": "100*FILL(m2,0)/m1", "label": widget.metric, "id": "e1"}],
                [_ALB, "RequestCount", *_dimension_args(target), {"id": "m1", "stat": "Sum", "visible": False}],
                [_ALB, "HTTPCode_Target_5XX_Count", *_dimension_args(target),
                 {"id": "m2", "stat": "Sum", "visible": False}]]
    row = [spec.namespace, spec.metric, *_dimension_args(target)]
    if spec.scale == 1 and not spec.per_second:
        return [[*row, {"stat": spec.stat, "label": widget.metric}]]
    scale = int(spec.scale) if spec.scale == int(spec.scale) else spec.scale  # exact: 1048576, never 1.04858e+06
    expression = "m1/PERIOD(m1)" if spec.per_second else f"m1*{scale!r}"
    return [[{"expression": expression, "label": widget.metric, "id": "e1"}],
            [*row, {"id": "m1", "stat": spec.stat, "visible": False}]]


def _metric_widget(widget: MetricWidget, region: str, dims: Mapping[str, list[dict[str, str]]]) -> dict[str, Any]:
    spec = CLOUDWATCH_METRICS[widget.metric]
    return {"type": "metric", "properties": {
        "title": widget.heading, "region": region, "view": "timeSeries", "stacked": False, "period": 60,
        "stat": spec.stat, "metrics": metric_widget_rows(widget, dims),
        "yAxis": {"left": {"label": spec.unit, "showUnits": False}}}}


def _log_group(query: LogQuery, field: str) -> str:
    """The log group a log widget reads: its ``deployment=`` term is required on AWS."""
    terms = [t for t in query.terms if t.kind == "deployment"]
    if len(terms) != 1 or terms[0].op != "=":
        raise InputError(field, "name exactly one deployment with deployment=NAME "
                                "(or resource.labels.deployment_name=NAME)",
                         hint="on AWS a log widget reads that deployment's log group /pepperpy/NAME")
    return split_resource(terms[0].value, field).log_group


def _insights_string(value: str) -> str:
    return json.dumps(value)


def _insights_field(key: str) -> str:
    return "`" + key.replace("`", "") + "`"


def logs_insights_query(query: LogQuery) -> str:
    """A CloudWatch Logs Insights query with the local query language's meaning (see monitor/dashboards.py).

    JSON log lines have their fields discovered by Insights; the level is ``level``, else ``severity``,
    else ``levelname``, else INFO, compared case-insensitively, WARN meaning WARNING and FATAL CRITICAL.
    """
    from pepperpy.cloud.monitor.dashboards import LEVEL_ALIASES, LEVEL_RANK, LEVELS

    level = 'toupper(coalesce(level, severity, levelname, "INFO"))'
    filters: list[str] = []
    for term in query.terms:
        if term.kind == "level":
            wanted = ([n for n in LEVELS if LEVEL_RANK[n] >= LEVEL_RANK[term.value]] if term.op == ">="
                      else [term.value])
            names = wanted + [alias for alias, target in LEVEL_ALIASES.items() if target in wanted]
            listed = ", ".join(_insights_string(n) for n in names)
            filters.append(f"{level} {'not in' if term.op == '!=' else 'in'} [{listed}]")
        elif term.kind == "field":
            key, value = _insights_field(term.key), _insights_string(term.value)
            filters.append(f"{key} = {value}" if term.op == "=" else f"(not ispresent({key}) or {key} != {value})")
    stages = ["fields @timestamp, @message, @logStream", *(f"filter {f}" for f in filters),
              "sort @timestamp desc", f"limit {LOG_LIMIT}"]
    return " | ".join(stages)


def _log_widget(widget: LogWidget, region: str) -> dict[str, Any]:
    group = _log_group(widget.log_query, "query")
    return {"type": "log", "properties": {
        "title": widget.heading, "region": region, "view": "table",
        "query": f"SOURCE '{group}' | {logs_insights_query(widget.log_query)}"}}  # group names hold no quotes


def _time_window(time_range: TimeRange | None) -> dict[str, str]:
    """The dashboard's default range: relative (``-PT3600S``) for rolling windows, fixed otherwise."""
    if time_range is None:
        return {"start": "-PT1H"}
    if time_range.start is None and time_range.duration is not None:
        return {"start": f"-PT{int(time_range.duration.total_seconds())}S"}
    start, end = time_range.bounds()
    iso = "%Y-%m-%dT%H:%M:%S.000Z"
    return {"start": datetime.fromtimestamp(start, UTC).strftime(iso),
            "end": datetime.fromtimestamp(end, UTC).strftime(iso)}


def dashboard_body(models: Sequence[MetricWidget | LogWidget], region: str,
                   dims: Mapping[str, Mapping[str, list[dict[str, str]]]],
                   time_range: TimeRange | None = None) -> dict[str, Any]:
    """A CloudWatch dashboard body: two widgets a row, then the one-line marker that says it is ours."""
    from pepperpy.cloud.monitor.dashboards import MetricWidget

    widgets: list[dict[str, Any]] = []
    for i, widget in enumerate(models):
        made = (_metric_widget(widget, region, dims[widget.resource]) if isinstance(widget, MetricWidget)
                else _log_widget(widget, region))
        widgets.append({**made, "x": (i % 2) * 12, "y": (i // 2) * 6, "width": 12, "height": 6})
    widgets.append({"type": "text", "x": 0, "y": ((len(models) + 1) // 2) * 6, "width": 24, "height": 1,
                    "properties": {"markdown": f"{DASHBOARD_MARKER}: edits here are overwritten by the next "
                                               "create_dashboard"}})
    return {**_time_window(time_range), "periodOverride": "auto", "widgets": widgets}


# --------------------------------------------------------------------------- helpers


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def _alarm_from(alarm: Mapping[str, Any], tags: Mapping[str, str]) -> CloudWatchAlarm:
    """Our view of a described alarm; the metric and deployment come from its tags."""
    inverse = {v: k for k, v in _COMPARISONS.items()}
    metric = tags.get(METRIC_TAG, "")
    spec = CLOUDWATCH_METRICS.get(metric)
    period = int(alarm.get("Period") or 60)
    evaluations = int(alarm.get("EvaluationPeriods") or 1)
    threshold = float(alarm.get("Threshold", 0.0))
    if spec is not None and not spec.parts:
        threshold = threshold * spec.scale / (period if spec.per_second else 1)
    actions = tuple(alarm.get("AlarmActions", []))
    topics = [a for a in actions if a.split(":")[-1].startswith("pepperpy-cloud-alert-")]
    return CloudWatchAlarm(str(alarm["AlarmName"]), str(alarm["AlarmArn"]), tags.get(DEPLOYMENT_TAG, ""), metric,
                           threshold, inverse.get(str(alarm.get("ComparisonOperator")), "?"),
                           float(period * evaluations), period, evaluations, str(alarm.get("AlarmDescription", "")),
                           (), actions, topics[0] if topics else None)


__all__ = ["CLOUDWATCH_METRICS", "AWSChannel", "AWSNames", "CloudWatchAlarm", "CloudWatchDashboard",
           "CloudWatchMetric", "CloudWatchMonitor", "alarm_period", "choose_period", "dashboard_body",
           "logs_insights_query", "parse_aws_channel"]
