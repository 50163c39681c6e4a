"""CloudMonitor on AWS: seed 000's monitor calls against CloudWatch, SNS, ECS and ELBv2 on a moto server."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pepperpy.cloud import CloudMonitor, TimeRange
from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.providers.aws import AWSProvider
from pepperpy.cloud.providers.aws.cloudwatch import CloudWatchMonitor, choose_period, logs_insights_query
from tests.providers.aws.conftest import REGION

APP = "rag-app"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
ECS_DIMS = [{"Name": "ClusterName", "Value": APP}, {"Name": "ServiceName", "Value": "app"}]

# Seed 000, "Exemplo Completo", step 4 (deployment.name is the deployment's name).
SEED_WIDGETS = [
    {"type": "metric", "title": "CPU Usage", "metric": "cpu_usage", "resource": APP},
    {"type": "metric", "title": "Memory Usage", "metric": "memory_usage", "resource": APP},
    {"type": "metric", "title": "Request Count", "metric": "requests_count", "resource": APP},
    {"type": "metric", "title": "Response Time", "metric": "response_time", "resource": APP},
    {"type": "log", "title": "Error Logs", "query": f"resource.labels.deployment_name={APP} severity>=ERROR"},
]


@pytest.fixture
def provider(aws: str) -> AWSProvider:
    return AWSProvider(region=REGION, credentials=CREDENTIALS)


@pytest.fixture
def monitor(provider: AWSProvider) -> CloudMonitor:
    return CloudMonitor(provider=provider)


@pytest.fixture
def ecs_service(raw: Callable[[str], Any]) -> None:
    """The ECS cluster and service an AWS deployment named rag-app has (see providers/aws/ecs.py)."""
    ecs = raw("ecs")
    ecs.create_cluster(clusterName=APP)
    ecs.register_task_definition(family=APP, containerDefinitions=[
        {"name": "app", "image": "public.ecr.aws/docker/library/python:3.12-slim", "memory": 512}])
    ecs.create_service(cluster=APP, serviceName="app", taskDefinition=APP, desiredCount=1)


@pytest.fixture
def alb(raw: Callable[[str], Any]) -> list[dict[str, str]]:
    """The deployment's ALB and target group; returns their CloudWatch dimensions."""
    ec2 = raw("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")
               ["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    elb = raw("elbv2")
    lb = elb.create_load_balancer(Name=f"{APP}-alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name=f"{APP}-app", Protocol="HTTP", Port=8000, VpcId=vpc,
                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    return [{"Name": "LoadBalancer", "Value": lb.split(":loadbalancer/")[1]},
            {"Name": "TargetGroup", "Value": tg.split(":", 5)[5]}]


def minute(offset: int) -> float:
    """A whole minute ``offset`` minutes from ten minutes ago."""
    return (math.floor(time.time() / 60) - 10 + offset) * 60.0


def put(raw: Callable[[str], Any], namespace: str, name: str, dims: list[dict[str, str]],
        points: dict[float, float], unit: str) -> None:
    raw("cloudwatch").put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": dims, "Timestamp": datetime.fromtimestamp(t, UTC), "Value": v, "Unit": unit}
        for t, v in points.items()])


def nothing_written(raw: Callable[[str], Any]) -> None:
    assert raw("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert raw("sns").list_topics()["Topics"] == []
    assert raw("cloudwatch").list_dashboards()["DashboardEntries"] == []


# --------------------------------------------------------------------------- metrics


def test_seed_get_metrics_returns_the_values_cloudwatch_holds_in_our_units(
        monitor: CloudMonitor, raw: Any, ecs_service: None, alb: list[dict[str, str]]) -> None:
    cpu = {minute(0): 12.5, minute(1): 40.0, minute(3): 85.25}  # minute 2 has no datapoint: a gap
    put(raw, "AWS/ECS", "CPUUtilization", ECS_DIMS, cpu, "Percent")
    put(raw, "ECS/ContainerInsights", "MemoryUtilized", ECS_DIMS, {minute(0): 256.0, minute(1): 300.5}, "Megabytes")
    put(raw, "AWS/ApplicationELB", "RequestCount", alb, {minute(0): 120.0, minute(1): 30.0}, "Count")

    # Seed 000, "Monitoramento e Custos", as written (resource name ours).
    metrics = monitor.get_metrics(
        resource_name=APP,
        metrics=["cpu_usage", "memory_usage", "requests_count"],
        time_range=TimeRange.LAST_24_HOURS
    )

    assert metrics.source == "cloudwatch"
    assert metrics["cpu_usage"].points() == sorted(cpu.items())
    assert metrics["cpu_usage"].unit == "percent"
    assert metrics["memory_usage"].points() == [(minute(0), 256.0 * 2**20), (minute(1), 300.5 * 2**20)]
    assert metrics["memory_usage"].unit == "bytes"
    assert metrics["requests_count"].points() == [(minute(0), 120.0), (minute(1), 30.0)]


def test_derived_request_metrics(monitor: CloudMonitor, raw: Any, ecs_service: None,
                                 alb: list[dict[str, str]]) -> None:
    put(raw, "AWS/ApplicationELB", "RequestCount", alb, {minute(0): 120.0, minute(1): 60.0}, "Count")
    put(raw, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb, {minute(0): 6.0}, "Count")
    put(raw, "AWS/ApplicationELB", "TargetResponseTime", alb, {minute(0): 0.25, minute(1): 0.5}, "Seconds")

    window = TimeRange(start=minute(0), end=minute(5))
    got = monitor.get_metrics(APP, ["requests_per_second", "errors_5xx", "error_rate", "response_time"], window)

    assert got["requests_per_second"].points() == [(minute(0), 2.0), (minute(1), 1.0)]
    assert got["errors_5xx"].points() == [(minute(0), 6.0)]  # ALB publishes 5xx counts only when there are some
    assert got["error_rate"].points() == [(minute(0), 5.0), (minute(1), 0.0)]
    assert got["response_time"].points() == [(minute(0), 0.25), (minute(1), 0.5)]
    assert got["response_time"].unit == "seconds"


def test_get_metrics_refuses_what_cloudwatch_cannot_measure_and_unknown_deployments(
        monitor: CloudMonitor, ecs_service: None) -> None:
    with pytest.raises(InputError) as err:
        monitor.get_metrics(APP, ["cpu_usage", "in_flight"])
    assert err.value.field == "metrics[1]" and "not measured on AWS" in str(err.value)
    with pytest.raises(NotFoundError) as missing:
        monitor.get_metrics("no-such-app", ["cpu_usage"])
    assert missing.value.field == "resource_name"
    with pytest.raises(NotFoundError) as no_alb:  # the service exists, its load balancer does not
        monitor.get_metrics(APP, ["requests_count"])
    assert f"{APP}-alb" in str(no_alb.value)
    with pytest.raises(NotFoundError):
        monitor.get_metrics(APP, ["cpu_usge"])


def test_prometheus_still_wins_for_metrics(provider: AWSProvider) -> None:
    monitor = CloudMonitor(provider=provider, prometheus_url="http://127.0.0.1:9")
    seen: list[tuple[str, list[str]]] = []

    class Reader:
        def get_metrics(self, resource: str, metrics: list[str], start: float, end: float) -> str:
            seen.append((resource, metrics))
            return "from prometheus"

    monitor.prometheus = Reader()  # type: ignore[assignment]
    assert monitor.get_metrics(APP, ["cpu_usage"]) == "from prometheus"
    assert seen == [(APP, ["cpu_usage"])]


def test_period_follows_cloudwatch_retention() -> None:
    now = 1_700_000_000.0
    assert choose_period(now - 3600, now, now) == 60
    assert choose_period(now - 30 * 86400, now, now) == 1800  # 30 days in at most 1,440 points, 5-minute data
    assert choose_period(now - 90 * 86400, now - 80 * 86400, now) == 3600  # older than 63 days: hourly only


# --------------------------------------------------------------------------- alarms


def test_seed_create_alert_makes_an_alarm_with_an_email_topic(monitor: CloudMonitor, raw: Any) -> None:
    # Seed 000, "Exemplo Completo", step 5, as written (resource = deployment.name).
    alarm = monitor.create_alert(
        name="high-cpu-alert",
        description="Alert when CPU usage is high",
        metric="cpu_usage",
        resource=APP,
        threshold=80,
        duration_seconds=300,
        notification_channels=["email:admin@example.com"]
    )

    cw, sns = raw("cloudwatch"), raw("sns")
    [found] = cw.describe_alarms(AlarmNames=["high-cpu-alert"])["MetricAlarms"]
    assert (found["Namespace"], found["MetricName"], found["Statistic"]) == ("AWS/ECS", "CPUUtilization", "Average")
    assert sorted(found["Dimensions"], key=lambda d: d["Name"]) == ECS_DIMS
    assert (found["Threshold"], found["Period"], found["EvaluationPeriods"]) == (80.0, 60, 5)
    assert found["ComparisonOperator"] == "GreaterThanThreshold"
    assert found["AlarmDescription"] == "Alert when CPU usage is high"
    assert found["AlarmActions"] == [alarm.topic_arn] and found["OKActions"] == [alarm.topic_arn]
    assert found["TreatMissingData"] == "notBreaching"
    tags = {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=found["AlarmArn"])["Tags"]}
    assert tags["managed-by"] == "pepperpy-cloud" and tags["pepperpy-cloud:deployment"] == APP
    topic_tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=alarm.topic_arn)["Tags"]}
    assert topic_tags["managed-by"] == "pepperpy-cloud"
    subs = sns.list_subscriptions_by_topic(TopicArn=alarm.topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "admin@example.com")]


def test_sns_and_webhook_channels_and_unit_conversion(monitor: CloudMonitor, raw: Any,
                                                      alb: list[dict[str, str]]) -> None:
    topic = raw("sns").create_topic(Name="ops-alerts")["TopicArn"]
    alarm = monitor.create_alert(name="busy", description="", metric="requests_per_second", resource=APP,
                                 threshold=5, duration_seconds=90, comparison=">=",
                                 notification_channels=[f"sns:{topic}", "webhook:https://hooks.example/x"])
    [found] = raw("cloudwatch").describe_alarms(AlarmNames=["busy"])["MetricAlarms"]
    assert found["Threshold"] == 300.0  # 5 requests/s over a 60 s period's Sum
    assert (found["Statistic"], found["EvaluationPeriods"]) == ("Sum", 2)
    assert found["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert sorted(found["Dimensions"], key=lambda d: d["Name"]) == alb
    assert found["AlarmActions"] == [topic, alarm.topic_arn]
    subs = raw("sns").list_subscriptions_by_topic(TopicArn=alarm.topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("https", "https://hooks.example/x")]


def test_memory_threshold_is_converted_to_mib_and_error_rate_uses_metric_math(
        monitor: CloudMonitor, raw: Any, alb: list[dict[str, str]]) -> None:
    monitor.create_alert(name="mem", description="", metric="memory_usage", resource=APP,
                         threshold=512 * 2**20, duration_seconds=60)
    monitor.create_alert(name="errors", description="", metric="error_rate", resource=APP,
                         threshold=5, duration_seconds=120)
    alarms = {a["AlarmName"]: a for a in raw("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert (alarms["mem"]["MetricName"], alarms["mem"]["Threshold"]) == ("MemoryUtilized", 512.0)
    assert alarms["mem"]["AlarmActions"] == []
    math_alarm = alarms["errors"]
    assert math_alarm["Threshold"] == 5.0
    expressions = [m.get("Expression") for m in math_alarm["Metrics"]]
    assert "100*FILL(m2,0)/m1" in expressions


@pytest.mark.parametrize(("change", "field"), [
    ({"metric": "cpu_usge"}, "metric"),
    ({"metric": "in_flight"}, "metric"),
    ({"duration_seconds": -5}, "duration_seconds"),
    ({"duration_seconds": 2 * 86400}, "duration_seconds"),
    ({"threshold": float("nan")}, "threshold"),
    ({"resource": "Bad_Name"}, "resource"),
    ({"notification_channels": ["email:ok@example.com", "pager:ops"]}, "notification_channels[1]"),
    ({"notification_channels": ["ops@example.com"]}, "notification_channels[0]"),
    ({"notification_channels": ["sns:arn:aws:sns:eu-west-1:123456789012:x"]}, "notification_channels[0]"),
    ({"notification_channels": ["sns:not-an-arn"]}, "notification_channels[0]"),
    ({"notification_channels": ["sns:arn:aws:sns:us-west-2:123456789012:missing"]}, "notification_channels"),
    ({"notification_channels": ["webhook:ftp://x"]}, "notification_channels[0]"),
])
def test_bad_alert_input_names_the_field_and_writes_nothing(monitor: CloudMonitor, raw: Any,
                                                            change: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"name": "high-cpu-alert", "description": "", "metric": "cpu_usage", "resource": APP,
                            "threshold": 80, "duration_seconds": 300,
                            "notification_channels": ["email:admin@example.com"], **change}
    with pytest.raises(InputError) as err:
        monitor.create_alert(**args)
    assert err.value.field == field
    nothing_written(raw)


def test_a_failed_alarm_write_removes_the_topic_it_made(monitor: CloudMonitor, raw: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = CloudWatchMonitor.call

    def failing(self: CloudWatchMonitor, service: str, method: str, /, **params: Any) -> Any:
        if method == "put_metric_alarm":
            raise RuntimeError("boom")
        return real(self, service, method, **params)

    monkeypatch.setattr(CloudWatchMonitor, "call", failing)
    with pytest.raises(RuntimeError):
        monitor.create_alert(name="x", description="", metric="cpu_usage", resource=APP, threshold=1,
                             duration_seconds=60, notification_channels=["email:a@example.com"])
    nothing_written(raw)


def test_alarms_of_others_are_never_touched_and_ours_list_and_delete(monitor: CloudMonitor, raw: Any) -> None:
    cw = raw("cloudwatch")
    cw.put_metric_alarm(AlarmName="theirs", MetricName="CPUUtilization", Namespace="AWS/EC2", Statistic="Average",
                        Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    with pytest.raises(InputError) as err:
        monitor.create_alert(name="theirs", description="", metric="cpu_usage", resource=APP, threshold=1,
                             duration_seconds=0)
    assert err.value.field == "name"
    assert cw.describe_alarms(AlarmNames=["theirs"])["MetricAlarms"][0]["Namespace"] == "AWS/EC2"

    first = monitor.create_alert(name="a1", description="", metric="cpu_usage", resource=APP, threshold=70,
                                 duration_seconds=0, notification_channels=["email:a@example.com"])
    monitor.create_alert(name="a2", description="", metric="replicas", resource="other-app", threshold=1,
                         duration_seconds=600, comparison="<")
    listed = monitor.list_alerts()
    assert [(a.name, a.resource, a.metric, a.threshold, a.duration_seconds) for a in listed] == [
        ("a1", APP, "cpu_usage", 70.0, 60.0), ("a2", "other-app", "replicas", 1.0, 600.0)]
    assert [a.name for a in monitor.list_alerts(APP)] == ["a1"]

    monitor.delete_alert("a1")
    assert sorted(a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]) == ["a2", "theirs"]
    assert first.topic_arn not in [t["TopicArn"] for t in raw("sns").list_topics()["Topics"]]
    with pytest.raises(InputError):
        monitor.delete_alert("theirs")
    with pytest.raises(NotFoundError):
        monitor.delete_alert("a1")


def test_recreating_an_alert_updates_it_and_its_subscriptions(monitor: CloudMonitor, raw: Any) -> None:
    args: dict[str, Any] = {"name": "cpu", "description": "", "metric": "cpu_usage", "resource": APP,
                            "duration_seconds": 60}
    first = monitor.create_alert(threshold=70, notification_channels=["email:a@example.com"], **args)
    again = monitor.create_alert(threshold=90, notification_channels=["email:b@example.com"], **args)
    assert again.topic_arn == first.topic_arn
    [found] = raw("cloudwatch").describe_alarms(AlarmNames=["cpu"])["MetricAlarms"]
    assert found["Threshold"] == 90.0
    subs = raw("sns").list_subscriptions_by_topic(TopicArn=again.topic_arn)["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == ["b@example.com"]
    monitor.create_alert(threshold=90, notification_channels=[], **args)
    assert raw("sns").list_topics()["Topics"] == []


# --------------------------------------------------------------------------- dashboards


def test_seed_create_dashboard_puts_a_cloudwatch_dashboard(monitor: CloudMonitor, raw: Any, ecs_service: None,
                                                           alb: list[dict[str, str]]) -> None:
    dashboard = monitor.create_dashboard(name="pepperpy-rag-dashboard", widgets=SEED_WIDGETS)

    assert dashboard.url == ("https://us-west-2.console.aws.amazon.com/cloudwatch/home?region=us-west-2"
                             "#dashboards/dashboard/pepperpy-rag-dashboard")
    body = json.loads(raw("cloudwatch").get_dashboard(DashboardName="pepperpy-rag-dashboard")["DashboardBody"])
    widgets = body["widgets"]
    assert [w["type"] for w in widgets] == ["metric", "metric", "metric", "metric", "log", "text"]
    assert [w["properties"].get("title") for w in widgets[:5]] == [w["title"] for w in SEED_WIDGETS]
    cpu = widgets[0]["properties"]["metrics"]
    assert cpu == [["AWS/ECS", "CPUUtilization", "ClusterName", APP, "ServiceName", "app",
                    {"stat": "Average", "label": "cpu_usage"}]]
    memory = widgets[1]["properties"]["metrics"]
    assert memory[0][0]["expression"] == "m1*1048576"
    requests = widgets[2]["properties"]["metrics"][0]
    assert requests[:2] == ["AWS/ApplicationELB", "RequestCount"]
    assert requests[2:6] == [alb[0]["Name"], alb[0]["Value"], alb[1]["Name"], alb[1]["Value"]]
    query = widgets[4]["properties"]["query"]
    assert query.startswith(f"SOURCE '/pepperpy/{APP}' | fields @timestamp")
    assert '"ERROR", "CRITICAL", "FATAL"' in query and '"INFO"' in query.split("in [")[0]
    assert all(w["properties"]["region"] == REGION for w in widgets[:5])
    assert body["start"] == "-PT3600S"


def test_bad_dashboards_write_nothing_and_others_dashboards_are_kept(monitor: CloudMonitor, raw: Any,
                                                                    ecs_service: None) -> None:
    bad = [
        ([{"type": "metric", "metric": "in_flight", "resource": APP}], "widgets[0].metric"),
        ([SEED_WIDGETS[0], {"type": "log", "query": "severity>=ERROR"}], "widgets[1].query"),
        ([SEED_WIDGETS[0], {"type": "gauge"}], "widgets[1].type"),
        ([{"type": "metric", "metric": "requests_count", "resource": APP}], "widgets[0].resource"),  # no ALB
    ]
    for widgets, field in bad:
        with pytest.raises(InputError) as err:
            monitor.create_dashboard("d", widgets)
        assert err.value.field == field
    nothing_written(raw)

    cw = raw("cloudwatch")
    theirs = json.dumps({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2,
                                      "properties": {"markdown": "hand made"}}]})
    cw.put_dashboard(DashboardName="ops", DashboardBody=theirs)
    with pytest.raises(InputError):
        monitor.create_dashboard("ops", SEED_WIDGETS[:1])
    assert cw.get_dashboard(DashboardName="ops")["DashboardBody"] == theirs

    aws_monitor = CloudWatchMonitor(monitor.provider)  # type: ignore[arg-type]
    monitor.create_dashboard("mine", SEED_WIDGETS[:1])
    monitor.create_dashboard("mine", SEED_WIDGETS[:1], time_range="15m")  # ours: replaced
    assert aws_monitor.list_dashboards() == ["mine"]
    with pytest.raises(NotFoundError):
        aws_monitor.delete_dashboard("ops")
    aws_monitor.delete_dashboard("mine")
    assert [d["DashboardName"] for d in cw.list_dashboards()["DashboardEntries"]] == ["ops"]


def test_log_query_translation_keeps_the_local_meaning() -> None:
    from pepperpy.cloud.monitor.dashboards import parse_log_query

    query = logs_insights_query(parse_log_query('deployment=x severity!=DEBUG route="/ask" user!=bot'))
    assert 'not in ["DEBUG"]' in query
    assert 'filter `route` = "/ask"' in query
    assert 'filter (not ispresent(`user`) or `user` != "bot")' in query
    assert query.endswith("sort @timestamp desc | limit 200")
